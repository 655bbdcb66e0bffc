"""Naming (docs/naming.md): the module-call tree becomes nested subnetworks named after module
attributes (Sequential indices read "layerN"), single-op calls become layers named after their
attribute, the root module's own ops are named after the op; a module called twice gets a second
name and shares the first call's parameters with reuse_params (the checkpoint holds them once).
The nested config runs in real RETURNN (Python and JSON forms) and gives PyTorch's output, on a
padded batch too (each sequence as PyTorch gives it alone)."""
import json
import os
import subprocess

import numpy as np
import torch
import torch.nn as nn

from conftest import (check_padded_outputs, check_returnn_outputs, interpreter_padded_figure, padded_batch_jobs,
                      record_padded_figures, run_returnn_jobs)


class CalledTwice(nn.Module):
    """block is called twice; so is head, whose result (its last layer) holds weights: the
    second call's reuse_params must name that layer, not the subnetwork around it."""

    def __init__(self):
        super().__init__()
        self.block = nn.Sequential(nn.Conv1d(4, 4, 3, padding=1), nn.Tanh())
        self.head = nn.Sequential(nn.Tanh(), nn.Conv1d(4, 3, 1))

    def forward(self, x):
        y = self.block(self.block(x)) + x
        return self.head(y) - self.head(y * 0.5)


def test_names_nesting_and_shared_parameters(pt2returnn, tmp_path):
    torch.manual_seed(0)
    model = CalledTwice().eval()
    x = torch.randn(2, 4, 17)
    program = torch.export.export(model, (x,), dynamic_shapes=({2: torch.export.Dim("time", min=2, max=200)},))
    torch.export.save(program, str(tmp_path / "twice.pt2"))
    out = tmp_path / "out"
    result = subprocess.run([pt2returnn, "convert", str(tmp_path / "twice.pt2"), "-o", str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    network = json.loads((out / "returnn.config.json").read_text())["network"]
    assert list(network)[:2] == ["block", "block_1"] and {"head", "head_1", "add"} <= set(network)
    assert network["block"]["class"] == "subnetwork"
    assert set(network["block"]["subnetwork"]) >= {"layer0", "layer1", "output"}
    assert network["block_1"]["from"] == "block"
    assert network["block_1"]["subnetwork"]["layer0"]["reuse_params"] == "base:block/layer0"
    assert network["head_1"]["subnetwork"]["layer1"]["reuse_params"] == "base:head/layer1"
    report = json.loads((out / "report.json").read_text())
    names = [layer["layer"] for layer in report["layers"]]
    assert names == ["block/layer0", "block/layer1", "block_1/layer0", "block_1/layer1", "add", "head/layer0",
                     "head/layer1", "mul", "head_1/layer0", "head_1/layer1", "sub"], names
    # The shared conv's variables are in the checkpoint once, under the first call's name.
    index = (out / "model.001.index").read_bytes()
    assert b"block/layer0/W" in index and b"block_1/layer0" not in index
    assert b"head/layer1/W" in index and b"head_1" not in index
    # Stable: a second conversion names everything the same.
    again = subprocess.run([pt2returnn, "convert", str(tmp_path / "twice.pt2"), "-o", str(tmp_path / "again")],
                           capture_output=True, text=True)
    assert (tmp_path / "again" / "returnn.config.py").read_text() == (out / "returnn.config.py").read_text(), again.stderr
    # Real RETURNN, both forms, two lengths.
    jobs, expected = [], []
    for length in (17, 40):
        xi = torch.randn(2, 4, length)
        np.save(tmp_path / f"x{length}.npy", xi.numpy())
        with torch.no_grad():
            y = model(xi).numpy()
        for form in ("py", "json"):
            output = str(tmp_path / f"y{length}.{form}.npy")
            jobs.append({"out_dir": str(out), "input": str(tmp_path / f"x{length}.npy"), "output": output, "config": form})
            expected.append((output, y))
    # And a padded batch with its sequence lengths: each sequence as PyTorch gives it alone.
    padded_jobs, padded = padded_batch_jobs(tmp_path, out, model, x.numpy(), 2, shortest=2)
    run_returnn_jobs(tmp_path, jobs + padded_jobs)
    check_returnn_outputs(expected)
    record_padded_figures("naming", "called_twice", interpreter_padded_figure(report), check_padded_outputs(padded))
