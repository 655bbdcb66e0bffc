"""convert releases each value after its last reader (the reference run, the per-layer checks run
during a second run, the padded batch's runs): on a model whose activations are much larger
than its weights, the peak it reports stays far below the sum of the activations PyTorch makes,
and report.json's peak_values_bytes (the largest set of values alive at once) lies between one
activation and all of them. The activation sizes come from PyTorch's forward hooks."""
import json
import os
import subprocess

import numpy as np
import torch
import torch.nn as nn

LAYERS, CHANNELS, FRAMES = 16, 16, 20000


def test_peak_is_far_below_all_activations(pt2returnn, tmp_path):
    torch.manual_seed(0)
    blocks = []
    for _ in range(LAYERS):
        blocks += [nn.Conv1d(CHANNELS, CHANNELS, 3, padding=1), nn.ReLU()]
    model = nn.Sequential(*blocks).eval()
    x = torch.randn(1, CHANNELS, FRAMES)
    sizes = []
    for module in model:
        module.register_forward_hook(lambda m, i, o: sizes.append(o.numel() * o.element_size()))
    with torch.no_grad():
        model(x)
    activations = sum(sizes)
    program = torch.export.export(model, (x,), dynamic_shapes=({2: torch.export.Dim("time", min=4, max=40000)},))
    path = str(tmp_path / "convs.pt2")
    torch.export.save(program, path)
    np.save(tmp_path / "x.npy", x.numpy())
    subprocess.run([pt2returnn, "convert", path, "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "out")],
                   check=True, capture_output=True)
    report = json.load(open(tmp_path / "out" / "report.json"))
    assert report["passed"]
    one = max(sizes)
    # The input and the output of one op are alive at once; never all of them.
    assert 2 * one <= report["peak_values_bytes"] < activations / 4
    # The model file, the checkpoint, a few values and one check's scratch: not every activation.
    assert report["peak_memory_bytes"] < activations / 2, (report["peak_memory_bytes"], activations)
    text = open(tmp_path / "out" / "report.txt").read()
    assert f"largest set of values alive at once {report['peak_values_bytes'] / 1048576:.1f} MiB" in text
