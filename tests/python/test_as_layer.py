"""--as-layer NAME: the model as one subnetwork layer, embedded after a layer of the user's own in
a network of their own (docs/as-layer.md), loaded in real RETURNN with the emitted checkpoint,
computes what PyTorch computes on that layer's output. Every model's network runs in one RETURNN
process."""
import json
import os
import shutil
import subprocess

import numpy as np
import pytest
import torch

from conftest import ROOT, run_returnn_jobs

EMBEDDING = '''#!rnn.py
from returnn.tensor import Dim, batch_dim
backend = "tensorflow-net-dict"
behavior_version = 21
feature_dim = Dim({features}, name="feature")
time_dim = Dim(None, name="time")
extern_data = {{"data": {{"dim_tags": [batch_dim, feature_dim, time_dim], "dtype": "float32"}}}}
layer = eval(open({layer_file!r}).read())
layer["from"] = "scaled"
network = {{
    "scaled": {{"class": "eval", "from": "data", "eval": "source(0) * 0.5"}},
    "generator": layer,
    "output": {{"class": "copy", "from": "generator"}},
}}
pt2returnn_output_axes = {axes!r}
'''


MODELS = ["conv_stack", "tiny_melgan"]


def model_path(fixtures_dir, model):
    return os.path.join(fixtures_dir, f"{model}.pt2") if model != "tiny_melgan" else os.path.join(ROOT, "examples", "tiny_melgan.pt2")


@pytest.fixture(scope="module")
def embedded(pt2returnn, fixtures_dir, tmp_path_factory):
    """model -> (convert's result, its out dir, RETURNN's output path, the example input): every
    model converted --as-layer and embedded in a network of the user's own, then all of them run in
    one RETURNN process."""
    root = tmp_path_factory.mktemp("as_layer")
    results, jobs = {}, []
    for model in MODELS:
        tmp_path = root / model
        tmp_path.mkdir()
        out = tmp_path / "out"
        result = subprocess.run([pt2returnn, "convert", model_path(fixtures_dir, model), "-o", str(out),
                                 "--as-layer", "generator"], capture_output=True, text=True)
        x = torch.export.load(model_path(fixtures_dir, model)).example_inputs[0][0]
        results[model] = (result, out, tmp_path / "y.npy", x)
        if result.returncode != 0:
            continue
        with open(out / "returnn.config.json") as f:
            axes = json.load(f)["pt2returnn_output_axes"]
        embedding = tmp_path / "embedded"
        embedding.mkdir()
        for name in os.listdir(out):
            if name.startswith("model.001"):
                shutil.copy(out / name, embedding / name)
        (embedding / "returnn.config.py").write_text(
            EMBEDDING.format(features=x.shape[1], layer_file=str(out / "generator.layer.py"), axes=axes))
        np.save(tmp_path / "x.npy", x.numpy())
        jobs.append({"out_dir": str(embedding), "input": str(tmp_path / "x.npy"), "output": str(tmp_path / "y.npy"),
                     "config": "py"})
    run_returnn_jobs(root, jobs)
    return results


@pytest.mark.parametrize("model", MODELS)
def test_embedded_layer_in_real_returnn(embedded, fixtures_dir, model):
    result, out, y_path, x = embedded[model]
    assert result.returncode == 0, result.stderr
    with open(out / "report.json") as f:
        assert json.load(f)["passed"]
    layer = json.loads((out / "generator.layer.json").read_text())
    assert layer["class"] == "subnetwork" and "output" in layer["subnetwork"]
    error = y_path.with_name(y_path.name + ".error")
    assert not error.exists(), error.read_text()
    with torch.no_grad():
        expected = torch.export.load(model_path(fixtures_dir, model)).module()(x * 0.5).numpy()
    np.testing.assert_allclose(np.load(y_path), expected, atol=1e-4, rtol=0)


def test_as_layer_rejects_reserved_names(pt2returnn, fixtures_dir, tmp_path):
    result = subprocess.run([pt2returnn, "convert", os.path.join(fixtures_dir, "conv_stack.pt2"), "-o", str(tmp_path / "o"),
                             "--as-layer", "output"], capture_output=True, text=True)
    assert result.returncode == 2 and "--as-layer 'output'" in result.stderr
    assert not (tmp_path / "o").exists()
