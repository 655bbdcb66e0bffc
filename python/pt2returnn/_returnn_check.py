"""returnn=True: the written configs and checkpoint loaded in real RETURNN (TensorFlow) in this
process, run at each length PyTorch ran, compared with PyTorch's outputs. The loading is the CLI's
own cli/run_in_returnn.py, installed into the package as pt2returnn.run_in_returnn."""
import contextlib
import io
import time

import numpy as np

from . import run_in_returnn


def _compare(ours, expected, atol, rtol):
    """core/verify's rule: |ours - torch| <= atol + rtol * |torch| elementwise; (passed, max abs,
    max rel, the worst |ours - torch| / (atol + rtol * |torch|))."""
    if ours.shape != expected.shape:
        return False, float("inf"), float("inf"), float("inf")
    diff = np.abs(ours.astype(np.float64) - expected.astype(np.float64))
    scale = np.abs(expected.astype(np.float64))
    max_abs = float(diff.max()) if diff.size else 0.0
    rel = diff[scale > 0] / scale[scale > 0]
    max_rel = float(rel.max()) if rel.size else 0.0
    tolerance = atol + rtol * scale
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(diff == 0, 0.0, diff / tolerance)
    worst_ratio = float(ratios.max()) if ratios.size else 0.0
    return bool(np.all(diff <= tolerance)), max_abs, max_rel, worst_ratio


def check_in_returnn(result, runs, atol, rtol, progress):
    """runs: [(args, PyTorch's outputs, "frames=37" or None for the example length)]."""
    for kind in ("py", "json"):
        for args, outputs, described in runs:
            name = f"returnn-{kind}" + (f"@{described}" if described else "")
            if progress:
                progress(name, f"returnn.config.{kind} in real RETURNN")
            start = time.perf_counter()
            what = f"returnn.config.{kind} + checkpoint run in real RETURNN, against PyTorch's outputs"
            if described:
                what += f" (at {described})"
            log = io.StringIO()  # RETURNN's construction log: kept out of the user's output
            try:
                with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                    ours, _ = run_in_returnn.run_outputs(result.out_dir, args[0].detach().cpu().numpy(), kind)
            except Exception as e:  # reported as a failed step, as the CLI does, with RETURNN's message
                message = str(e).strip().splitlines()
                result.add_step(name, f"returnn.config.{kind} could not be run in RETURNN: "
                                f"{type(e).__name__}: {message[-1] if message else ''}",
                                time.perf_counter() - start, True, False, float("inf"), float("inf"), float("inf"))
                continue
            # Every output of the program; the step holds the worst, its text each one's figure.
            figures = [_compare(y, expected.detach().cpu().numpy(), atol, rtol) for y, expected in zip(ours, outputs)]
            if len(ours) != len(outputs):
                figures.append((False, float("inf"), float("inf"), float("inf")))
                what += f": RETURNN gave {len(ours)} outputs, PyTorch {len(outputs)}"
            elif len(ours) > 1:
                what += "; max abs per output " + ", ".join(f"{f[1]:.3g}" for f in figures)
            passed = all(f[0] for f in figures)
            max_abs, max_rel, worst_ratio = (max(f[i] for f in figures) for i in (1, 2, 3))
            result.add_step(name, what, time.perf_counter() - start, True, passed, max_abs, max_rel, worst_ratio)
