"""Programs with several outputs through the native CLI (no RETURNN here: the catalogue's
three_outputs and the encoders' Wav2Vec2Model run in real RETURNN with the other models): the names
the output spec gives, an output that is another output again or the input itself, an output that
does not depend on the input (refused by name), and PyTorch's references for every output."""
import json
import subprocess

import numpy as np
import pytest
import torch
import torch.nn as nn

from conftest import flat_outputs


class DictOutputs(nn.Module):
    """A dict of two outputs of different shapes: frames [B, T, 6] and their mean over time [B, 6]."""
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 6)

    def forward(self, x):
        h = torch.tanh(self.proj(x))
        return {"frames": h, "summary": h.mean(dim=1)}


class NestedOutputs(nn.Module):
    """Nested containers: a dict holding a tuple, then a tuple of two dicts with the same key."""
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 6)

    def forward(self, x):
        h = self.proj(x)
        return {"frames": h, "states": (h.mean(dim=1), h.amax(dim=1))}, ({"x": h * 2}, {"x": h * 3})


class RepeatedAndInput(nn.Module):
    """The same value twice, then the input itself."""
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 6)

    def forward(self, x):
        h = self.proj(x)
        return h, h, x


class ConstantOutput(nn.Module):
    """A second output that does not depend on the input (a parameter)."""
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 6)

    def forward(self, x):
        return self.proj(x), self.proj.weight


def export(model, path):
    torch.manual_seed(0)
    model = model.eval()
    x = torch.randn(2, 20, 8)
    program = torch.export.export(model, (x,), dynamic_shapes=({1: torch.export.Dim("time", min=4, max=256)},))
    torch.export.save(program, str(path))
    with torch.no_grad():
        return model, x, model(x)


def convert(pt2returnn, path, out, *extra):
    return subprocess.run([pt2returnn, "convert", str(path), "-o", str(out), "--json", *map(str, extra)],
                          capture_output=True, text=True)


def test_dict_outputs_are_named_by_their_keys(pt2returnn, tmp_path):
    _, _, y = export(DictOutputs(), tmp_path / "dict.pt2")
    run = convert(pt2returnn, tmp_path / "dict.pt2", tmp_path / "out")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert [(o["name"], o["layer"], o["shape"]) for o in report["outputs"]] == [
        ("frames", "output", list(y["frames"].shape)), ("summary", "output_summary", list(y["summary"].shape))]
    for o in report["outputs"]:
        assert {s["step"] for s in o["steps"]} == {"reload", "padded-batch"} and all(s["passed"] for s in o["steps"])
    config = json.loads((tmp_path / "out" / "returnn.config.json").read_text())
    assert config["network"]["output_summary"]["is_output_layer"] is True
    assert "is_output_layer" not in config["network"]["output"]
    assert config["pt2returnn_outputs"] == [
        {"layer": "output", "name": "frames", "axes": ["B", "T", "F"]},
        {"layer": "output_summary", "name": "summary", "axes": ["B", "F"]}]
    assert config["pt2returnn_output_axes"] == ["B", "T", "F"]  # the first output's, as before
    text = (tmp_path / "out" / "report.txt").read_text()
    assert "2 outputs" in text and "summary" in text and "output_summary" in text


def test_nested_outputs_get_unique_names_from_their_keys(pt2returnn, tmp_path):
    """A tuple inside a key takes its positions (states_0, states_1); a key repeated across the
    outputs takes its flat position (x_3, x_4); every output converts and checks."""
    export(NestedOutputs(), tmp_path / "nested.pt2")
    run = convert(pt2returnn, tmp_path / "nested.pt2", tmp_path / "out")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert [o["name"] for o in report["outputs"]] == ["frames", "states_0", "states_1", "x_3", "x_4"]
    assert [o["layer"] for o in report["outputs"]] == ["output", "output_states_0", "output_states_1", "output_x_3",
                                                       "output_x_4"]
    assert all(s["passed"] for o in report["outputs"] for s in o["steps"])


def test_one_output_config_has_no_output_list(pt2returnn, fixtures_dir, tmp_path):
    """A program of one output is written as before: no pt2returnn_outputs, no is_output_layer."""
    import os
    run = convert(pt2returnn, os.path.join(fixtures_dir, "conv_stack.pt2"), tmp_path / "out")
    assert run.returncode == 0, run.stderr
    config = (tmp_path / "out" / "returnn.config.json").read_text()
    assert "pt2returnn_outputs" not in config and "is_output_layer" not in config
    assert [o["layer"] for o in json.loads(run.stdout)["outputs"]] == ["output"]


def test_an_output_repeated_and_the_input_as_an_output(pt2returnn, tmp_path):
    """A tuple has no names: output, output_1, output_2. The repeated value and the input itself are
    copies like any other output, checked in every step."""
    _, x, y = export(RepeatedAndInput(), tmp_path / "rep.pt2")
    run = convert(pt2returnn, tmp_path / "rep.pt2", tmp_path / "out")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert [o["layer"] for o in report["outputs"]] == ["output", "output_1", "output_2"]
    assert report["outputs"][2]["shape"] == list(x.shape)
    config = json.loads((tmp_path / "out" / "returnn.config.json").read_text())
    assert config["network"]["output_2"]["from"] == "data"
    assert config["network"]["output_1"]["from"] == config["network"]["output"]["from"]
    assert all(s["passed"] for o in report["outputs"] for s in o["steps"])


def test_an_output_that_does_not_depend_on_the_input_is_refused_by_name(pt2returnn, tmp_path):
    export(ConstantOutput(), tmp_path / "const.pt2")
    run = convert(pt2returnn, tmp_path / "const.pt2", tmp_path / "out")
    assert run.returncode == 2, run.stderr
    assert "output 1 of the program does not depend on the input" in run.stderr, run.stderr
    assert not (tmp_path / "out" / "returnn.config.json").exists()


def test_references_for_every_output(pt2returnn, tmp_path):
    """--reference once per output (or one torch.save'd dict) compares every output's values; a count
    that is not the model's is a clear error; a wrong value for the second output fails the step."""
    _, x, y = export(DictOutputs(), tmp_path / "dict.pt2")
    np.save(tmp_path / "x.npy", x.numpy())
    values = flat_outputs(y)
    for k, value in enumerate(values):
        np.save(tmp_path / f"ref{k}.npy", value)
    run = convert(pt2returnn, tmp_path / "dict.pt2", tmp_path / "a", "--input", tmp_path / "x.npy",
                  "--reference", tmp_path / "ref0.npy", "--reference", tmp_path / "ref1.npy")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["steps"][1]["step"] == "reference" and report["steps"][1]["checked"] == "values"
    assert all(o["steps"][0]["step"] == "reference" and o["steps"][0]["max_abs"] <= 1e-5 for o in report["outputs"])

    torch.save({"frames": y["frames"], "summary": y["summary"]}, tmp_path / "ref.pt")
    run = convert(pt2returnn, tmp_path / "dict.pt2", tmp_path / "b", "--input", tmp_path / "x.npy",
                  "--reference", tmp_path / "ref.pt")
    assert run.returncode == 0, run.stderr

    run = convert(pt2returnn, tmp_path / "dict.pt2", tmp_path / "c", "--input", tmp_path / "x.npy",
                  "--reference", tmp_path / "ref0.npy")
    assert run.returncode == 2
    assert "1 reference output is given, but the model has 2 outputs" in run.stderr, run.stderr

    np.save(tmp_path / "wrong1.npy", values[1] + 1.0)
    run = convert(pt2returnn, tmp_path / "dict.pt2", tmp_path / "d", "--input", tmp_path / "x.npy",
                  "--reference", tmp_path / "ref0.npy", "--reference", tmp_path / "wrong1.npy")
    assert run.returncode == 1
    report = json.loads(run.stdout)
    assert report["failed_step"] == "reference"
    first, second = (o["steps"][0] for o in report["outputs"])
    assert first["passed"] and not second["passed"] and second["max_abs"] == pytest.approx(1.0, abs=1e-5)


def test_convert_returnn_compares_every_output_also_as_a_layer(pt2returnn, tmp_path):
    """convert --returnn with --as-layer: real RETURNN gives both outputs (the second inside the
    subnetwork, as enc/output_summary) in one session.run, full-length and on the padded batch, and
    every layer's table row is found inside the subnetwork."""
    import sys
    export(DictOutputs(), tmp_path / "dict.pt2")
    run = convert(pt2returnn, tmp_path / "dict.pt2", tmp_path / "out", "--as-layer", "enc", "--returnn", "--python",
                  sys.executable)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    config = json.loads((tmp_path / "out" / "returnn.config.json").read_text())
    assert [o["layer"] for o in config["pt2returnn_outputs"]] == ["output", "enc/output_summary"]
    steps = {"reload", "padded-batch", "returnn-py", "returnn-json", "returnn-py-padded", "returnn-json-padded"}
    for o in report["outputs"]:
        assert {s["step"] for s in o["steps"]} == steps and all(s["passed"] for s in o["steps"]), o
        assert all(s["max_abs"] <= 1e-5 for s in o["steps"]), o
    rows = [row for table in report["returnn_layers"].values() for row in table]
    assert rows and all(row["passed"] for row in rows), rows


def test_the_npm_cli_writes_the_same_files_for_several_outputs(pt2returnn, tmp_path):
    """The WebAssembly build (node/bin/pt2returnn.js) keeps every output as the native CLI does:
    byte-identical configs and checkpoint, the same outputs in the report."""
    import os
    from conftest import ROOT
    export(DictOutputs(), tmp_path / "dict.pt2")
    native = convert(pt2returnn, tmp_path / "dict.pt2", tmp_path / "native")
    npm = subprocess.run(["node", os.path.join(ROOT, "node", "bin", "pt2returnn.js"), "convert", str(tmp_path / "dict.pt2"),
                          "-o", str(tmp_path / "npm"), "--json"], capture_output=True, text=True)
    assert native.returncode == 0 and npm.returncode == 0, (native.stderr, npm.stderr)
    for name in ("returnn.config.py", "returnn.config.json", "model.001.index", "model.001.data-00000-of-00001"):
        assert (tmp_path / "native" / name).read_bytes() == (tmp_path / "npm" / name).read_bytes(), name
    ours, theirs = json.loads(native.stdout)["outputs"], json.loads(npm.stdout)["outputs"]
    assert [(o["name"], o["layer"], o["shape"]) for o in ours] == [(o["name"], o["layer"], o["shape"]) for o in theirs]
    assert len(theirs) == 2 and all(s["passed"] for o in theirs for s in o["steps"])
