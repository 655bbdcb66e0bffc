"""convert reports its memory: report.json's weight_bytes is what PyTorch counts for the exported
program's parameters, buffers and constants, and peak_memory_bytes covers at least the model file
(held while converting) and the checkpoint written; the figures are the same run after run (the
report files are deterministic; the thread count may change which kernels run, and so the peak)."""
import json
import os
import subprocess

import pytest
import torch

MODELS = ["conv_stack", "linear_ln_gelu", "with_buffers", "tied_weights"]


def convert(binary, model, out, *extra):
    subprocess.run([binary, "convert", model, "-o", str(out), *extra], check=True, capture_output=True)
    return json.load(open(os.path.join(out, "report.json")))


def torch_weight_bytes(path):
    program = torch.export.load(path)
    tensors = {}
    for name, t in list(program.state_dict.items()) + list(program.constants.items()):
        if isinstance(t, torch.Tensor):
            tensors[name] = t
    return sum(t.numel() * t.element_size() for t in tensors.values())


@pytest.mark.parametrize("name", MODELS)
def test_report_carries_weight_and_peak_bytes(pt2returnn, fixtures_dir, tmp_path, name):
    model = os.path.join(fixtures_dir, f"{name}.pt2")
    report = convert(pt2returnn, model, tmp_path / "a")
    assert report["passed"]
    assert report["weight_bytes"] == torch_weight_bytes(model)
    checkpoint = os.path.getsize(tmp_path / "a" / "model.001.data-00000-of-00001")
    assert report["peak_memory_bytes"] >= os.path.getsize(model) + checkpoint
    again = convert(pt2returnn, model, tmp_path / "b")
    assert (again["weight_bytes"], again["peak_memory_bytes"]) == (report["weight_bytes"], report["peak_memory_bytes"])
    text = open(tmp_path / "a" / "report.txt").read()
    assert f"weights {report['weight_bytes'] / 1048576:.1f} MiB" in text
