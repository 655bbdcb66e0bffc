"""Shared helper of the op-by-op matrices (tests/ops/op_cases*.py): export one tiny module with
torch.export, save it as .pt2 with its inputs and PyTorch's reference output as .npy, run our CLI
on it (`pt2returnn run case.pt2 --input in0.npy ... --output out.npy`) and compare.

Environment:
  PT2_BUILD_DIR     where the native build is (default <repo>/build)
  PT2_USE_TOOL_RUN  1: run tests/c/tool_run_graph.c's binary instead of the CLI (same arguments)
"""
import os
import subprocess

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build_dir():
    return os.environ.get("PT2_BUILD_DIR", os.path.join(ROOT, "build"))


def runner_command():
    """The program that runs a .pt2: the CLI's `run`, or the test driver."""
    if os.environ.get("PT2_USE_TOOL_RUN") == "1":
        return [os.path.join(build_dir(), "tool_run_graph")]
    return [os.path.join(build_dir(), "pt2returnn"), "run"]


def _to_numpy(value):
    if isinstance(value, torch.Tensor):
        return value.detach().contiguous().numpy()
    return np.asarray(value)


def reference_output(module, inputs):
    """What PyTorch computes (eager, no grad): the truth we compare against."""
    with torch.no_grad():
        out = module(*inputs)
    if isinstance(out, (tuple, list)):
        raise AssertionError("op cases must return one tensor (wrap multi-output ops and pick one)")
    return _to_numpy(out)


def export_case(module, inputs, dynamic_shapes, path):
    module = module.eval()
    ep = torch.export.export(module, tuple(inputs), dynamic_shapes=dynamic_shapes)
    torch.export.save(ep, path)
    return ep


def run_ours(model_path, inputs, tmpdir, tag):
    """Writes the inputs as .npy, runs our runner, returns (output array, completed process)."""
    args = runner_command() + [str(model_path)]
    for i, x in enumerate(inputs):
        path = os.path.join(str(tmpdir), f"{tag}.in{i}.npy")
        np.save(path, _to_numpy(x))
        args += ["--input", path]
    out_path = os.path.join(str(tmpdir), f"{tag}.out.npy")
    args += ["--output", out_path]
    result = subprocess.run(args, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {result.returncode}: {result.stderr.strip()}")
    return np.load(out_path), result


def compare(ours, expected, rtol, atol, what):
    """Same dtype and shape; values exact when rtol == atol == 0, else within the tolerance
    (NaN equal to NaN, infinities equal to themselves)."""
    assert ours.dtype == expected.dtype, f"{what}: dtype {ours.dtype}, PyTorch gives {expected.dtype}"
    assert ours.shape == expected.shape, f"{what}: shape {ours.shape}, PyTorch gives {expected.shape}"
    if rtol == 0 and atol == 0:
        np.testing.assert_array_equal(ours, expected, err_msg=what)
    else:
        np.testing.assert_allclose(ours, expected, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


def run_case(case_module, inputs, dynamic_shapes, tmpdir, rtol, atol, alt_inputs=None):
    """Exports `case_module` on `inputs` (with `dynamic_shapes` as torch.export takes them, or None),
    saves tmpdir/case.pt2 and the reference, runs our CLI on the same inputs and, when given, on
    `alt_inputs` (another size of a dynamic axis, within its range), and compares each run with
    eager PyTorch. Returns our outputs (list)."""
    os.makedirs(str(tmpdir), exist_ok=True)
    model_path = os.path.join(str(tmpdir), "case.pt2")
    export_case(case_module, inputs, dynamic_shapes, model_path)
    results = []
    runs = [("sample", inputs)] + ([("alt", alt_inputs)] if alt_inputs is not None else [])
    for tag, xs in runs:
        expected = reference_output(case_module, xs)
        np.save(os.path.join(str(tmpdir), f"{tag}.expected.npy"), expected)
        ours, _ = run_ours(model_path, xs, tmpdir, tag)
        compare(ours, expected, rtol, atol, f"{type(case_module).__name__} ({tag} inputs)")
        results.append(ours)
    return results
