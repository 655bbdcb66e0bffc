"""The first slice through the whole pipeline: `pt2returnn convert` on the conv fixture writes a
RETURNN config and TF checkpoint that real RETURNN (TensorFlow backend) loads and runs, giving
PyTorch's outputs within atol=1e-4: on the example length, on another length, and with a
trained checkpoint applied."""
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT

RUNNER = os.path.join(ROOT, "tests", "returnn", "run_in_returnn.py")


def convert(binary, fixtures_dir, out_dir, *extra):
    result = subprocess.run([binary, "convert", os.path.join(fixtures_dir, "conv_stack.pt2"), "-o", str(out_dir), *extra],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result


def returnn_forward(out_dir, input_path, tmp_path, config_kind="py"):
    out = tmp_path / "returnn_out.npy"
    subprocess.run([sys.executable, RUNNER, str(out_dir), input_path, str(out), config_kind], check=True,
                   capture_output=True)
    return np.load(out)


@pytest.mark.parametrize("weights", ["archive", "checkpoint"])
def test_conv_stack_in_real_returnn(pt2returnn, fixtures_dir, tmp_path, weights):
    extra = [] if weights == "archive" else ["--checkpoint", os.path.join(fixtures_dir, "conv_stack.ckpt.pt"),
                                             "--checkpoint-key", "model.generator"]
    out_dir = tmp_path / "out"
    convert(pt2returnn, fixtures_dir, out_dir, *extra)
    assert sorted(os.listdir(out_dir)) == ["model.001.data-00000-of-00001", "model.001.index", "returnn.config.json",
                                           "returnn.config.py"]
    report = convert(pt2returnn, fixtures_dir, tmp_path / "again", *extra).stdout
    assert "5 of 5 layers pass" in report, report
    suffix = "" if weights == "archive" else "_ckpt"
    ours = returnn_forward(out_dir, os.path.join(fixtures_dir, "conv_stack.input.npy"), tmp_path)
    np.testing.assert_allclose(ours, np.load(os.path.join(fixtures_dir, f"conv_stack.output{suffix}.npy")), atol=1e-4, rtol=0)
    if weights == "archive":
        for config_kind in ("py", "json"):
            ours = returnn_forward(out_dir, os.path.join(fixtures_dir, "conv_stack.input_alt.npy"), tmp_path, config_kind)
            np.testing.assert_allclose(ours, np.load(os.path.join(fixtures_dir, "conv_stack.output_alt.npy")), atol=1e-4,
                                       rtol=0)


def test_convert_is_deterministic(pt2returnn, fixtures_dir, tmp_path):
    convert(pt2returnn, fixtures_dir, tmp_path / "a")
    convert(pt2returnn, fixtures_dir, tmp_path / "b")
    for name in os.listdir(tmp_path / "a"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_unlowerable_ops_are_listed_and_nothing_is_written(pt2returnn, fixtures_dir, tmp_path):
    out_dir = tmp_path / "out"
    result = subprocess.run([pt2returnn, "convert", os.path.join(fixtures_dir, "linear_ln_gelu.pt2"), "-o", str(out_dir)],
                            capture_output=True, text=True)
    assert result.returncode == 2
    line = result.stderr.strip().splitlines()[-1]
    for op in ("aten.linear.default", "aten.layer_norm.default", "aten.gelu.default"):
        assert op in line
    assert "proj" in line and "norm" in line, "module paths are named"
    assert not out_dir.exists()
