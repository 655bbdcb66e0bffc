"""The native CLI tells the truth (issue 19, and strict checkpoints / the honest reference step of
issue 15): each test here failed before its fix. Expected values come from PyTorch and numpy, not
from the code under test."""
import json
import os
import subprocess

import numpy as np
import pytest
import torch


def cli(pt2returnn, *args):
    return subprocess.run([pt2returnn, *map(str, args)], capture_output=True, text=True)


def error_line(stderr):
    """The one error line (progress lines start with '[step]')."""
    lines = [line for line in stderr.splitlines() if line.startswith("pt2returnn")]
    assert len(lines) == 1, stderr
    return lines[0]


def fixture(fixtures_dir, name):
    return os.path.join(fixtures_dir, name)


def summary_numbers(line):
    """'output 'x': float32 [1, 1, 50]  min A  max B  mean C' -> (name, dtype, shape, A, B, C)."""
    import re
    m = re.match(r"output '([^']+)': (\w+) \[([\d, ]*)\]  min (\S+)  max (\S+)  mean (\S+)$", line)
    assert m, line
    shape = [int(s) for s in m.group(3).split(",") if s.strip()]
    return m.group(1), m.group(2), shape, float(m.group(4)), float(m.group(5)), float(m.group(6))


# ---------------------------------------------------------------- run

def test_run_without_output_prints_a_summary_per_output(pt2returnn, fixtures_dir):
    # PyTorch's output for the archive's example input, made by tests/fixtures/make_fixtures.py.
    expected = np.load(fixture(fixtures_dir, "conv_stack.output.npy"))
    r = cli(pt2returnn, "run", fixture(fixtures_dir, "conv_stack.pt2"))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1, r.stdout
    name, dtype, shape, low, high, mean = summary_numbers(lines[0])
    assert dtype == "float32" and shape == list(expected.shape)
    np.testing.assert_allclose([low, high, mean], [expected.min(), expected.max(), expected.mean()], rtol=1e-4, atol=1e-6)


def test_run_casts_a_float64_input_and_says_so(pt2returnn, fixtures_dir, tmp_path):
    x = np.load(fixture(fixtures_dir, "conv_stack.input_alt.npy"))
    np.save(tmp_path / "x64.npy", x.astype(np.float64))  # numpy's default dtype
    r = cli(pt2returnn, "run", fixture(fixtures_dir, "conv_stack.pt2"), "--input", tmp_path / "x64.npy",
            "--output", tmp_path / "out.npy")
    assert r.returncode == 0, r.stderr
    assert "float64 cast to float32, lossless" in r.stderr and "x64.npy" in r.stderr
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), np.load(fixture(fixtures_dir, "conv_stack.output_alt.npy")),
                               atol=1e-5, rtol=1e-4)
    # A float64 value that is not exact in float32 is still numpy's default meant as float32: rounded, said.
    np.save(tmp_path / "x64r.npy", x.astype(np.float64) + 1e-12)
    r = cli(pt2returnn, "run", fixture(fixtures_dir, "conv_stack.pt2"), "--input", tmp_path / "x64r.npy")
    assert r.returncode == 0 and "float64 cast to float32, rounded" in r.stderr, r.stderr
    # One that overflows float32 is refused, naming the file.
    big = x.astype(np.float64)
    big.flat[3] = 1e300
    np.save(tmp_path / "huge.npy", big)
    r = cli(pt2returnn, "run", fixture(fixtures_dir, "conv_stack.pt2"), "--input", tmp_path / "huge.npy")
    assert r.returncode == 2 and "huge.npy" in r.stderr and "overflows float32" in r.stderr, r.stderr


def test_convert_casts_a_float64_input_in_the_report(pt2returnn, fixtures_dir, tmp_path):
    x = np.load(fixture(fixtures_dir, "conv_stack.input_alt.npy"))
    np.save(tmp_path / "x64.npy", x.astype(np.float64))
    r = cli(pt2returnn, "convert", fixture(fixtures_dir, "conv_stack.pt2"), "--input", tmp_path / "x64.npy",
            "--reference", fixture(fixtures_dir, "conv_stack.output_alt.npy"), "-o", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert "float64 cast to float32" in (tmp_path / "out" / "report.txt").read_text()


# ---------------------------------------------------------------- reference

def test_reference_of_another_shape_names_both_shapes(pt2returnn, fixtures_dir, tmp_path):
    np.save(tmp_path / "ref.npy", np.zeros((1, 1, 7), np.float32))
    r = cli(pt2returnn, "convert", fixture(fixtures_dir, "conv_stack.pt2"), "--reference", tmp_path / "ref.npy",
            "-o", tmp_path / "out")
    expected = np.load(fixture(fixtures_dir, "conv_stack.output.npy")).shape
    assert r.returncode == 2, r.stderr
    assert error_line(r.stderr).startswith(f"pt2returnn: {tmp_path / 'ref.npy'}:")
    assert "[1, 1, 7]" in r.stderr and str(list(expected)) in r.stderr, r.stderr
    assert "inf" not in r.stderr and not (tmp_path / "out").exists()


def test_reference_step_says_shapes_only_without_pytorch_outputs(pt2returnn, fixtures_dir, tmp_path):
    r = cli(pt2returnn, "convert", fixture(fixtures_dir, "conv_stack.pt2"), "-o", tmp_path / "a")
    assert r.returncode == 0, r.stderr
    step = json.loads((tmp_path / "a" / "report.json").read_text())["steps"][1]
    assert step["step"] == "reference" and step["checked"] == "shapes" and "shapes only" in step["what"]
    assert "max_abs" not in step
    assert "shapes only" in (tmp_path / "a" / "report.txt").read_text()
    assert "shapes only" in r.stderr  # the progress line
    r = cli(pt2returnn, "convert", fixture(fixtures_dir, "conv_stack.pt2"), "-o", tmp_path / "b",
            "--reference", fixture(fixtures_dir, "conv_stack.output.npy"))
    step = json.loads((tmp_path / "b" / "report.json").read_text())["steps"][1]
    assert step["checked"] == "values" and "shapes only" not in step["what"] and step["passed"]


def test_worst_ratio_is_the_margin_of_the_tolerance(pt2returnn, fixtures_dir, tmp_path):
    """The reference step's ratio, recomputed with numpy from our run's output and PyTorch's."""
    atol, rtol = 1e-6, 1e-5
    ref = fixture(fixtures_dir, "conv_stack.output.npy")
    assert cli(pt2returnn, "run", fixture(fixtures_dir, "conv_stack.pt2"), "--output", tmp_path / "ours.npy").returncode == 0
    r = cli(pt2returnn, "convert", fixture(fixtures_dir, "conv_stack.pt2"), "--reference", ref, "-o", tmp_path / "out",
            "--atol", atol, "--rtol", rtol)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    ours, torch_out = np.load(tmp_path / "ours.npy").astype(np.float64), np.load(ref).astype(np.float64)
    ratio = np.max(np.abs(ours - torch_out) / (atol + rtol * np.abs(torch_out)))
    step = report["steps"][1]
    assert step["worst_ratio"] == pytest.approx(ratio, rel=1e-6)
    assert step["passed"] == (ratio <= 1)
    for layer in report["layers"]:
        assert layer["passed"] == (layer["worst_ratio"] <= 1), layer
    text = (tmp_path / "out" / "report.txt").read_text()
    assert "ratio" in text.splitlines()[text.splitlines().index(next(l for l in text.splitlines() if "max abs" in l and "layer" in l))]


# ---------------------------------------------------------------- checkpoints

def checkpoint_without(fixtures_dir, tmp_path, drop, extra=None, reshape=()):
    sd = torch.load(fixture(fixtures_dir, "conv_stack.ckpt.pt"))["model"]["generator"]
    for key in drop:
        del sd[key]
    for key in reshape:
        sd[key] = torch.zeros(3, 2)
    if extra:
        sd[extra] = torch.zeros(2)
    path = tmp_path / "partial.pt"
    torch.save({"model": {"generator": sd}}, path)
    return path, list(sd)


def test_strict_checkpoint_names_every_missing_and_unexpected_key(pt2returnn, fixtures_dir, tmp_path):
    keys = list(torch.load(fixture(fixtures_dir, "conv_stack.ckpt.pt"))["model"]["generator"])
    dropped = [keys[1], keys[-1]]
    path, _ = checkpoint_without(fixtures_dir, tmp_path, dropped, extra="extra.weight")
    out = tmp_path / "out"
    for command in (["convert", "-o", out], ["run"]):
        r = cli(pt2returnn, command[0], fixture(fixtures_dir, "conv_stack.pt2"), "--checkpoint", path,
                "--checkpoint-key", "model.generator", *command[1:])
        assert r.returncode == 2, r.stderr
        assert error_line(r.stderr).startswith(f"pt2returnn: {path}:"), r.stderr  # the checkpoint, not the .pt2
        for key in dropped + ["extra.weight"]:
            assert f"'{key}'" in r.stderr, (key, r.stderr)
        assert "--no-strict" in r.stderr
    assert not out.exists()
    r = cli(pt2returnn, "convert", fixture(fixtures_dir, "conv_stack.pt2"), "--checkpoint", path,
            "--checkpoint-key", "model.generator", "--no-strict", "-o", out)
    assert r.returncode == 0, r.stderr
    keys_report = json.loads((out / "report.json").read_text())["checkpoint_keys"]
    assert keys_report["strict"] is False
    assert sorted(keys_report["missing"]) == sorted(dropped) and keys_report["unexpected"] == ["extra.weight"]
    r = cli(pt2returnn, "run", fixture(fixtures_dir, "conv_stack.pt2"), "--checkpoint", path,
            "--checkpoint-key", "model.generator", "--no-strict")
    assert r.returncode == 0, r.stderr


def test_strict_checkpoint_that_fits_is_recorded(pt2returnn, fixtures_dir, tmp_path):
    r = cli(pt2returnn, "convert", fixture(fixtures_dir, "conv_stack.pt2"), "--checkpoint",
            fixture(fixtures_dir, "conv_stack.safetensors"), "-o", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    keys = json.loads((tmp_path / "out" / "report.json").read_text())["checkpoint_keys"]
    from safetensors import safe_open
    with safe_open(fixture(fixtures_dir, "conv_stack.safetensors"), "pt") as f:
        count = len(list(f.keys()))
    assert keys == {"strict": True, "loaded": count, "missing": [], "unexpected": []}


def test_every_shape_mismatch_is_named(pt2returnn, fixtures_dir, tmp_path):
    keys = list(torch.load(fixture(fixtures_dir, "conv_stack.ckpt.pt"))["model"]["generator"])
    path, _ = checkpoint_without(fixtures_dir, tmp_path, [], reshape=[keys[0], keys[2]])
    r = cli(pt2returnn, "convert", fixture(fixtures_dir, "conv_stack.pt2"), "--checkpoint", path,
            "--checkpoint-key", "model.generator", "-o", tmp_path / "out")
    assert r.returncode == 2
    assert f"'{keys[0]}' is float32 [3, 2]" in r.stderr and f"'{keys[2]}' is float32 [3, 2]" in r.stderr, r.stderr


def test_checkpoint_errors_name_the_checkpoint_and_the_flag_to_use(pt2returnn, fixtures_dir, tmp_path):
    ckpt = fixture(fixtures_dir, "conv_stack.ckpt.pt")
    r = cli(pt2returnn, "convert", fixture(fixtures_dir, "conv_stack.pt2"), "--checkpoint", ckpt,
            "--checkpoint-key", "model.nope", "-o", tmp_path / "out")
    assert r.returncode == 2 and error_line(r.stderr).startswith(f"pt2returnn: {ckpt}:"), r.stderr
    r = cli(pt2returnn, "convert", fixture(fixtures_dir, "conv_stack.pt2"), "--checkpoint", ckpt, "-o", tmp_path / "out")
    assert r.returncode == 2 and error_line(r.stderr).startswith(f"pt2returnn: {ckpt}:"), r.stderr
    assert "--checkpoint-key model.generator)" in r.stderr, r.stderr


# ---------------------------------------------------------------- messages

def test_one_unsupported_op_in_the_root_module_reads_well(pt2returnn, tmp_path):
    script = tmp_path / "make.py"
    model = tmp_path / "one_op.pt2"
    script.write_text(f"""
import torch
class OneOp(torch.nn.Module):
    def forward(self, x):
        return torch.sum(x)
torch.export.save(torch.export.export(OneOp(), (torch.randn(2, 5, 8),)), {str(model)!r})
""")
    subprocess.run([os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                 ".venv", "bin", "python"), str(script)], check=True, capture_output=True)
    r = cli(pt2returnn, "convert", model, "-o", tmp_path / "out")
    assert r.returncode == 2
    assert "1 node uses ops" in r.stderr and "in the root module" in r.stderr, r.stderr
    assert "in ''" not in r.stderr and "node use ops" not in r.stderr


def test_inspect_lists_a_dim_used_through_an_expression(pt2returnn, tmp_path):
    class Double(torch.nn.Module):
        def forward(self, x):
            return x * 2
    t = torch.export.Dim("t", min=2, max=100)
    ep = torch.export.export(Double(), (torch.randn(1, 10, 3),), dynamic_shapes=({1: 2 * t},))
    path = tmp_path / "double.pt2"
    torch.export.save(ep, path)
    text = cli(pt2returnn, "inspect", path).stdout
    assert "(none: every size is static)" not in text
    section = text.split("Dynamic dims:")[1].split("\n\n")[0]
    assert "range 2..100, example 5" in section and "x[1] = 2*" in section, section
    dims = json.loads(cli(pt2returnn, "inspect", path, "--json").stdout)["dynamic_dims"]
    assert len(dims) == 1 and dims[0]["min"] == 2 and dims[0]["max"] == 100 and dims[0]["hint"] == 5, dims
    assert dims[0]["used_by"][0].startswith("x[1] = 2*")
    assert "Ops (1 node, 1 kind)" in text


def test_a_long_key_list_is_counted_not_cut(pt2returnn, fixtures_dir, tmp_path):
    """The error line has room for about a thousand characters: the keys that do not fit are counted."""
    sd = torch.load(fixture(fixtures_dir, "conv_stack.ckpt.pt"))["model"]["generator"]
    extra = [f"some.rather.long.module.path.number_{i}.weight" for i in range(60)]
    for key in extra:
        sd[key] = torch.zeros(1)
    torch.save(sd, tmp_path / "many.pt")
    r = cli(pt2returnn, "convert", fixture(fixtures_dir, "conv_stack.pt2"), "--checkpoint", tmp_path / "many.pt",
            "-o", tmp_path / "out")
    line = error_line(r.stderr)
    assert r.returncode == 2 and "60 unexpected" in line, line
    import re
    listed = [key for key in extra if f"'{key}'" in line]
    more = int(re.search(r"and (\d+) more", line).group(1))
    assert listed == extra[:len(listed)] and len(listed) + more == 60, line
    r = cli(pt2returnn, "convert", fixture(fixtures_dir, "conv_stack.pt2"), "--checkpoint", tmp_path / "many.pt",
            "--no-strict", "-o", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "out" / "report.json").read_text())["checkpoint_keys"]["unexpected"] == extra
