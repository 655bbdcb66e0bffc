"""2-D CNNs and encoder pieces (lower_encoder_models.py): each model is exported in this one
PyTorch process and converted with the native CLI; every layer passes its check; then all of them
run in ONE real RETURNN process, with the Python and the JSON config, at the export's length and
another (the batch size for fixed-size images), and match PyTorch; the models with a dynamic time
axis also on a padded batch (three lengths, with their sequence lengths), where each sequence must
be what PyTorch gives for it alone."""
import json
import re
import subprocess

import numpy as np
import pytest
import torch

import lower_encoder_models as models
from conftest import (check_padded_outputs, check_returnn_outputs, expected_results, interpreter_padded_figure,
                      padded_batch_jobs, record_padded_figures, run_returnn_jobs)


@pytest.fixture(scope="module")
def converted(pt2returnn, tmp_path_factory):
    """name -> (report, exported op targets, [(RETURNN output path, PyTorch output)], padded-batch
    checks (none without a time axis))."""
    root = tmp_path_factory.mktemp("encoders")
    results, jobs = {}, []
    for name, (_, make_input, dynamic_shapes, length, other, _) in models.MODELS.items():
        path = str(root / f"{name}.pt2")
        model = models.export(name, path)
        targets = {str(n.target) for n in torch.export.load(path).graph.nodes if n.op == "call_function"}
        out = root / name
        run = subprocess.run([pt2returnn, "convert", path, "-o", str(out), "--json"], capture_output=True, text=True)
        written = run.returncode == 0 or (run.returncode == 1 and name in PADDED_BATCH_KNOWN_WRONG)
        report = json.loads(run.stdout) if written else {"error": run.stderr, "returncode": run.returncode}
        expected, padded = [], []
        time_axes = [axis for axis in dynamic_shapes()[0] if axis != 0]
        if written and time_axes:
            torch.manual_seed(length + 1)
            padded_jobs, padded = padded_batch_jobs(root, out, model, make_input(length).numpy(), time_axes[0],
                                                    prefix=f"{name}.padded", shortest=4,
                                                    multiple=models.LENGTH_MULTIPLES.get(name, 1))
            jobs += padded_jobs
        if written:
            for n in (length, other):
                torch.manual_seed(n)
                x = make_input(n)
                np.save(root / f"{name}.x{n}.npy", x.numpy())
                with torch.no_grad():
                    y = model(x)
                for form in ("py", "json"):
                    output = str(root / f"{name}.y{n}.{form}.npy")
                    jobs.append({"out_dir": str(out), "input": str(root / f"{name}.x{n}.npy"), "output": output,
                                 "config": form})
                    expected += expected_results(output, y)  # every output of the model
        results[name] = (report, targets, expected, padded)
    run_returnn_jobs(root, jobs)
    return results


# Lowerings that are right on full-length batches but not on padded ones, which the padded-batch
# step must catch (convert exits 1, files kept): RETURNN's norm layer takes its statistics over the
# whole padded tensor, so a group norm over the time axis counts each shorter sequence's padding.
# The test fails once this is fixed (e.g. statistics from masked reduce layers), so that the
# entries go.
PADDED_BATCH_KNOWN_WRONG = set()


@pytest.mark.parametrize("name", list(models.MODELS))
def test_encoder_model(converted, name):
    report, targets, expected, padded = converted[name]
    assert models.MODELS[name][5] <= targets, targets
    assert "error" not in report, report.get("error")
    failed = {step["step"] for step in report["steps"] if not step["passed"]}
    assert failed == ({"padded-batch"} if name in PADDED_BATCH_KNOWN_WRONG else set()), report["steps"]
    assert report["layers"] and all(layer["passed"] for layer in report["layers"])
    print(name, "worst per-layer max abs", max(layer["max_abs"] for layer in report["layers"]))
    check_returnn_outputs(expected)
    for output, y in expected:
        print(name, output.rsplit("/", 1)[-1], "RETURNN max abs diff", float(np.abs(np.load(output) - y).max()))
    if padded:
        interpreter = interpreter_padded_figure(report)
        assert interpreter is not None, "a model with a dynamic time axis gets the padded-batch step"
        record_padded_figures("encoders", name, interpreter, check_padded_outputs(padded))


def test_wav2vec2_keeps_both_outputs(converted):
    """Wav2Vec2Model's two outputs, as torch.export flattens its BaseModelOutput: the first is
    RETURNN's "output", the second a layer marked is_output_layer named from the output spec, both
    listed in both configs with their axes; each output has its own figures in the report, and real
    RETURNN gave both (at two lengths, two configs) and both on the padded batch."""
    report, _, expected, padded = converted["wav2vec2"]
    names = models.OUTPUT_NAMES["wav2vec2"]
    assert [o["name"] for o in report["outputs"]] == names
    assert [o["layer"] for o in report["outputs"]] == ["output", "output_extract_features"]
    for o in report["outputs"]:
        assert {s["step"] for s in o["steps"]} == {"reload", "padded-batch"} and all(s["passed"] for s in o["steps"]), o
    out_dir = expected[0][0].rsplit("/", 1)[0] + "/wav2vec2"
    config = json.load(open(out_dir + "/returnn.config.json"))
    assert config["network"]["output_extract_features"]["is_output_layer"] is True
    assert [(o["layer"], o["name"]) for o in config["pt2returnn_outputs"]] == list(zip(
        ["output", "output_extract_features"], names))
    assert config["pt2returnn_outputs"][0]["axes"] == config["pt2returnn_output_axes"]
    python_config = open(out_dir + "/returnn.config.py").read()
    assert "pt2returnn_outputs = [" in python_config and '"is_output_layer": True' in python_config
    # Both outputs came back from RETURNN: [B, T, 32] and [B, T, 16] at each length in each config.
    assert len(expected) == 2 * 2 * 2 and {y.shape[-1] for _, y in expected} == {32, 16}
    assert len(padded) == 2 * 2 and {alone[0].shape[-1] for _, alone, *_ in padded} == {32, 16}


def test_mnist_pool_is_one_returnn_pool_over_two_dims(converted):
    """The CNN's pooling is RETURNN's own 2-D pool (mode max over the two image axes), the batch is
    RETURNN's batch."""
    report, _, expected, _ = converted["mnist_cnn"]
    assert expected
    out_dir = expected[0][0].rsplit("/", 1)[0] + "/mnist_cnn"
    config = json.load(open(out_dir + "/returnn.config.json"))
    pools = [layer for layer in config["network"].values() if layer["class"] == "pool"]
    assert len(pools) == 2 and all(p["mode"] == "max" and len(p["in_spatial_dims"]) == 2 for p in pools)
    # The image axes only: RETURNN's batch axis is implicit, not one of the declared ones.
    assert config["extern_data"]["data"]["shape"] == [1, 28, 28]


def test_input_size_of_an_expression_is_solved_or_refused(converted, pt2returnn, tmp_path):
    """hubert_frames takes 20 * Dim("frames", min=40, max=400) samples: 20 * 70 of them run (the
    symbol solved as 70) and give PyTorch's output; a size that no whole number of frames gives,
    and a multiple of 20 below the range, are refused (exit 2), naming the input, its axis, the
    expression and what it allows."""
    report, *_ = converted["hubert_frames"]
    assert "error" not in report, report.get("error")
    path = str(tmp_path / "hubert_frames.pt2")
    model = models.export("hubert_frames", path)
    torch.manual_seed(3)
    x = models.samples_input(20 * 70)
    np.save(tmp_path / "x.npy", x.numpy())
    run = subprocess.run([pt2returnn, "run", path, "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy")],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    with torch.no_grad():
        y = model(x).last_hidden_state.numpy()
    ours = np.load(tmp_path / "y.npy")
    assert ours.shape == y.shape and np.abs(ours - y).max() < 1e-4
    refusals = {20 * 70 + 7: r"axis 1 has size 1407 but the export makes it 20\*(s\d+): no whole '\1' gives that size "
                              r"\(it gives 800, 820, 840, \.\.\. for '\1' = 40, 41, 42, \.\.\.\)",
                20 * 20: r"axis 1 has size 400, 20\*(s\d+) with '\1' = 20, but the export allows '\1' 40\.\.400"}
    for size, expected in refusals.items():
        np.save(tmp_path / "bad.npy", models.samples_input(size).numpy())
        run = subprocess.run([pt2returnn, "run", path, "--input", str(tmp_path / "bad.npy")], capture_output=True, text=True)
        assert run.returncode == 2 and re.search(r"input '\w+' " + expected, run.stderr), run.stderr

