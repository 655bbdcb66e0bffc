"""Exports whose sizes are fixed. A program exported with every input size fixed
(torch.export.export(model, (x,)) without dynamic_shapes, the first thing a user tries) has no time
axis for RETURNN: ops that need one are refused, and the refusal says how to export with a time
axis; the same model exported with one converts; a static program whose ops need no time axis
(linear layers) still converts. A program torch.export specialised on a length (the model's code
branched on it: a guard in model.json's guards_code) refuses other lengths as PyTorch's does, and
its conversion says the padded batch of other lengths does not apply, instead of claiming them."""
import json
import subprocess

import numpy as np
import pytest
import torch
import torch.nn as nn


class ConvThenLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.linear = nn.Conv1d(8, 16, 3, padding=1), nn.Linear(16, 4)

    def forward(self, x):
        return self.linear(torch.relu(self.conv(x)).transpose(1, 2))


class LinearOnly(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(8, 4)

    def forward(self, x):
        return torch.tanh(self.linear(x))


def convert(pt2returnn, tmp_path, name, model, x, dynamic_shapes=None):
    torch.export.save(torch.export.export(model, (x,), dynamic_shapes=dynamic_shapes), str(tmp_path / f"{name}.pt2"))
    np.save(tmp_path / f"{name}.x.npy", x.numpy())
    out = tmp_path / name
    run = subprocess.run([pt2returnn, "convert", str(tmp_path / f"{name}.pt2"), "--input", str(tmp_path / f"{name}.x.npy"),
                          "-o", str(out), "--json"], capture_output=True, text=True)
    return run, out


def test_static_export_is_refused_with_how_to_export(pt2returnn, tmp_path):
    torch.manual_seed(0)
    model, x = ConvThenLinear().eval(), torch.randn(1, 8, 20)
    run, out = convert(pt2returnn, tmp_path, "static", model, x)
    assert run.returncode == 2, run.stderr
    assert "node 'conv1d' (aten.conv1d.default)" in run.stderr
    assert ("the export fixed every input size, so RETURNN's data has no time axis: export with dynamic_shapes naming "
            "the time axis of the input, e.g. ({2: torch.export.Dim(\"time\")},)") in run.stderr
    assert not out.exists() or not any(out.iterdir())
    run, _ = convert(pt2returnn, tmp_path, "dynamic", model, x, ({2: torch.export.Dim("time", min=4, max=100)},))
    assert run.returncode == 0, run.stderr
    assert all(step["passed"] for step in json.loads(run.stdout)["steps"])


def test_static_export_without_time_ops_converts(pt2returnn, tmp_path):
    torch.manual_seed(0)
    run, _ = convert(pt2returnn, tmp_path, "linear", LinearOnly().eval(), torch.randn(1, 20, 8))
    assert run.returncode == 0, run.stderr
    assert "no time axis" not in run.stderr


class BranchOnLength(nn.Module):
    """Takes another branch unless the strided length is 100: torch.export (Dim.AUTO) keeps the
    input dynamic and guards ((7 + T) // 8) == 100."""
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 4, 3, padding=1)

    def forward(self, x):
        y = self.conv(x)[..., ::8]
        if y.shape[-1] == 100:
            return torch.tanh(y)
        return y


def test_guarded_length_is_refused_as_pytorch_refuses_it(pt2returnn, tmp_path):
    torch.manual_seed(0)
    model = BranchOnLength().eval()
    program = torch.export.export(model, (torch.randn(1, 4, 800),), dynamic_shapes=({2: torch.export.Dim.AUTO},))
    with pytest.raises(Exception, match="Guard failed"):  # PyTorch's own program
        program.module()(torch.randn(1, 4, 24))
    torch.export.save(program, str(tmp_path / "guarded.pt2"))
    np.save(tmp_path / "ok.npy", torch.randn(1, 4, 795).numpy())  # (7 + 795) // 8 is 100 too
    np.save(tmp_path / "short.npy", torch.randn(1, 4, 24).numpy())
    run = subprocess.run([pt2returnn, "run", str(tmp_path / "guarded.pt2"), "--input", str(tmp_path / "ok.npy"), "--output",
                          str(tmp_path / "y.npy")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    with torch.no_grad():
        want = model(torch.from_numpy(np.load(tmp_path / "ok.npy"))).numpy()
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), want, atol=1e-5)
    run = subprocess.run([pt2returnn, "run", str(tmp_path / "guarded.pt2"), "--input", str(tmp_path / "short.npy")],
                         capture_output=True, text=True)
    assert run.returncode == 2, run.stderr
    assert "the export's guard ((7 + L['x'].size()[2]) // 8) == 100 does not hold for the input ('x' [1, 4, 24])" in run.stderr
    run = subprocess.run([pt2returnn, "convert", str(tmp_path / "guarded.pt2"), "--input", str(tmp_path / "ok.npy"), "-o",
                          str(tmp_path / "out"), "--json"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    padded = [step for step in json.loads(run.stdout)["steps"] if step["step"] == "padded-batch"][0]
    assert padded["what"].startswith("not applicable: the program refuses the batch's other lengths: the export's guard"), padded
