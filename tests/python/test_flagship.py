"""The flagship (issue 8): Parallel WaveGAN's MB-MelGAN generator + PQMF from the real
parallel_wavegan package, a checkpoint saved with weight norm in the package's layout, converted
with --checkpoint-key model.generator; every step passes, real RETURNN's output (both configs)
equals PyTorch's within 1e-4 at 100 and at 37 mel frames, on a padded batch too."""
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, record_padded_figures

@pytest.mark.parametrize("frames", [100, 37])
def test_flagship_converts_and_matches_pytorch_in_real_returnn(pt2returnn, flagship_files, tmp_path, frames):
    flagship = str(flagship_files)  # made once (conftest.flagship_files), read only
    out_dir = str(tmp_path / f"out{frames}")
    result = subprocess.run(
        [pt2returnn, "convert", os.path.join(flagship, "mb_melgan.pt2"), "-o", out_dir,
         "--checkpoint", os.path.join(flagship, "mb_melgan.checkpoint.pkl"), "--checkpoint-key", "model.generator",
         "--input", os.path.join(flagship, f"mel{frames}.npy"), "--reference", os.path.join(flagship, f"out{frames}.npy"),
         "--returnn", "--python", sys.executable, "--json"], capture_output=True, text=True)
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    steps = {s["step"]: s for s in report["steps"]}
    # The weight-norm checkpoint applies to the generator submodule, every weight folded.
    with open(os.path.join(out_dir, "report.txt")) as f:
        text = f.read()
    assert "into the submodule generator (41 weights folded from weight norm's g and v)" in text
    for name in ("load", "reference", "layers", "emit", "reload", "padded-batch", "returnn-py", "returnn-py-padded",
                 "returnn-json", "returnn-json-padded"):
        assert steps[name]["passed"], steps[name]
    for name in ("reference", "reload", "returnn-py", "returnn-json"):  # returnn-*: against PyTorch's own output
        assert steps[name]["max_abs"] <= 1e-4, steps[name]
    # A padded batch of three lengths, in the interpreter and in real RETURNN (sequence lengths
    # fed): each sequence within its length is the reference run of it alone.
    for name in ("padded-batch", "returnn-py-padded", "returnn-json-padded"):
        assert steps[name]["max_abs"] <= 1e-4 and "lengths" in steps[name]["what"], steps[name]
    record_padded_figures("flagship", f"mb_melgan_{frames}_frames", steps["padded-batch"]["max_abs"],
                          {form: steps[f"returnn-{form}-padded"]["max_abs"] for form in ("py", "json")})
    # Every layer also ran in real RETURNN (one session.run per config) against the reference
    # run's value of its op.
    for form in ("py", "json"):
        returnn_layers = report["returnn_layers"][form]
        assert len(returnn_layers) == len(report["layers"]) and all(layer["passed"] for layer in returnn_layers)
    assert "against PyTorch's outputs" in steps["returnn-py"]["what"]
    # Every op became a layer that passed its check; the PQMF's constant filters are variables.
    assert all(layer["passed"] for layer in report["layers"])
    ops = {layer["op"] for layer in report["layers"]}
    assert {"aten.conv1d.default", "aten.conv_transpose1d.default", "aten.pad.default", "aten.leaky_relu.default",
            "aten.add.Tensor", "aten.tanh.default"} <= ops, ops
    # The same files through the npm package's CLI (WebAssembly): the same configs and checkpoint.
    node_out = str(tmp_path / f"node{frames}")
    node = subprocess.run(
        ["node", os.path.join(ROOT, "node", "bin", "pt2returnn.js"), "convert", os.path.join(flagship, "mb_melgan.pt2"),
         "-o", node_out, "--checkpoint", os.path.join(flagship, "mb_melgan.checkpoint.pkl"),
         "--checkpoint-key", "model.generator", "--input", os.path.join(flagship, f"mel{frames}.npy"),
         "--reference", os.path.join(flagship, f"out{frames}.npy")], capture_output=True, text=True)
    assert node.returncode == 0, node.stderr
    for name in ("returnn.config.py", "returnn.config.json", "model.001.index", "model.001.data-00000-of-00001"):
        with open(os.path.join(node_out, name), "rb") as a, open(os.path.join(out_dir, name), "rb") as b:
            assert a.read() == b.read(), name
