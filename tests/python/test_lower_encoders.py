"""2-D CNNs and encoder pieces (lower_encoder_models.py): each model is exported in this one
PyTorch process and converted with the native CLI; every layer passes its check; then all of them
run in ONE real RETURNN process, with the Python and the JSON config, at the export's length and
another (the batch size for fixed-size images), and match PyTorch."""
import json
import subprocess

import numpy as np
import pytest
import torch

import lower_encoder_models as models
from conftest import check_returnn_outputs, run_returnn_jobs


@pytest.fixture(scope="module")
def converted(pt2returnn, tmp_path_factory):
    """name -> (report, exported op targets, [(RETURNN output path, PyTorch output)])."""
    root = tmp_path_factory.mktemp("encoders")
    results, jobs = {}, []
    for name, (_, make_input, _, length, other, _) in models.MODELS.items():
        path = str(root / f"{name}.pt2")
        model = models.export(name, path)
        targets = {str(n.target) for n in torch.export.load(path).graph.nodes if n.op == "call_function"}
        out = root / name
        run = subprocess.run([pt2returnn, "convert", path, "-o", str(out), "--json"], capture_output=True, text=True)
        written = run.returncode == 0 or (run.returncode == 1 and name in PADDED_BATCH_KNOWN_WRONG)
        report = json.loads(run.stdout) if written else {"error": run.stderr, "returncode": run.returncode}
        expected = []
        if written:
            for n in (length, other):
                torch.manual_seed(n)
                x = make_input(n)
                np.save(root / f"{name}.x{n}.npy", x.numpy())
                with torch.no_grad():
                    y = model(x).numpy()
                for form in ("py", "json"):
                    output = str(root / f"{name}.y{n}.{form}.npy")
                    jobs.append({"out_dir": str(out), "input": str(root / f"{name}.x{n}.npy"), "output": output,
                                 "config": form})
                    expected.append((output, y))
        results[name] = (report, targets, expected)
    run_returnn_jobs(root, jobs)
    return results


# Lowerings that are right on full-length batches but not on padded ones, which the padded-batch
# step must catch (convert exits 1, files kept): RETURNN's norm layer takes its statistics over the
# whole padded tensor, so a group norm over the time axis counts each shorter sequence's padding.
# The test fails once this is fixed (e.g. statistics from masked reduce layers), so that the
# entries go.
PADDED_BATCH_KNOWN_WRONG = {"group_norms", "group_norm_2d"}


@pytest.mark.parametrize("name", list(models.MODELS))
def test_encoder_model(converted, name):
    report, targets, expected = converted[name]
    assert models.MODELS[name][5] <= targets, targets
    assert "error" not in report, report.get("error")
    failed = {step["step"] for step in report["steps"] if not step["passed"]}
    assert failed == ({"padded-batch"} if name in PADDED_BATCH_KNOWN_WRONG else set()), report["steps"]
    assert report["layers"] and all(layer["passed"] for layer in report["layers"])
    print(name, "worst per-layer max abs", max(layer["max_abs"] for layer in report["layers"]))
    check_returnn_outputs(expected)
    for output, y in expected:
        print(name, output.rsplit("/", 1)[-1], "RETURNN max abs diff", float(np.abs(np.load(output) - y).max()))


def test_mnist_pool_is_one_returnn_pool_over_two_dims(converted):
    """The CNN's pooling is RETURNN's own 2-D pool (mode max over the two image axes), the batch is
    RETURNN's batch."""
    report, _, expected = converted["mnist_cnn"]
    assert expected
    out_dir = expected[0][0].rsplit("/", 1)[0] + "/mnist_cnn"
    config = json.load(open(out_dir + "/returnn.config.json"))
    pools = [layer for layer in config["network"].values() if layer["class"] == "pool"]
    assert len(pools) == 2 and all(p["mode"] == "max" and len(p["in_spatial_dims"]) == 2 for p in pools)
    # The image axes only: RETURNN's batch axis is implicit, not one of the declared ones.
    assert config["extern_data"]["data"]["shape"] == [1, 28, 28]
