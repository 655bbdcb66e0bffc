"""Ops along the time axis and over one axis lower to RETURNN's own layers: cat along channels
(copy from several sources), softmax over channels (activation), nearest upsampling (resize),
avg_pool1d (pool), mean and sum over time (reduce). Every layer passes its check, and both
configs in real RETURNN give PyTorch's output at two lengths."""
import json
import subprocess

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from conftest import (check_padded_outputs, check_returnn_outputs, interpreter_padded_figure, padded_batch_jobs,
                      record_padded_figures, run_returnn_jobs)


class TimeOps(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv1d(8, 8, 3, padding=1)
        self.b = nn.Conv1d(16, 6, 1)

    def forward(self, x):
        z = torch.cat([x, self.a(x)], dim=1)
        z = torch.softmax(self.b(z), dim=1)
        u = F.avg_pool1d(F.interpolate(z, scale_factor=2, mode="nearest"), 2)
        m = F.avg_pool1d(u, 3, stride=3)
        return z.mean(dim=-1) + m.sum(dim=-1)


def test_time_ops(pt2returnn, tmp_path):
    torch.manual_seed(0)
    model = TimeOps().eval()
    program = torch.export.export(model, (torch.randn(2, 8, 30),),
                                  dynamic_shapes=({2: torch.export.Dim("time", min=6, max=300)},))
    torch.export.save(program, str(tmp_path / "ops.pt2"))
    out = tmp_path / "out"
    result = subprocess.run([pt2returnn, "convert", str(tmp_path / "ops.pt2"), "-o", str(out), "--json"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    classes = {layer["class"] for layer in report["layers"]}
    assert {"copy", "activation", "resize", "pool", "reduce"} <= classes, classes
    assert all(layer["passed"] for layer in report["layers"])
    jobs, expected = [], []
    for length in (30, 41):
        x = torch.randn(2, 8, length)
        np.save(tmp_path / f"x{length}.npy", x.numpy())
        with torch.no_grad():
            y = model(x).numpy()
        for form in ("py", "json"):
            output = str(tmp_path / f"y{length}.{form}.npy")
            jobs.append({"out_dir": str(out), "input": str(tmp_path / f"x{length}.npy"), "output": output, "config": form})
            expected.append((output, y))
    # A padded batch with its sequence lengths: each sequence as PyTorch gives it alone.
    padded_jobs, padded = padded_batch_jobs(tmp_path, out, model, program.example_inputs[0][0].numpy(), 2)
    run_returnn_jobs(tmp_path, jobs + padded_jobs)
    check_returnn_outputs(expected)
    record_padded_figures("time_ops", "time_ops", interpreter_padded_figure(report), check_padded_outputs(padded))
