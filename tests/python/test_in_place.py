"""In-place arithmetic that torch.export keeps (`acc += block(x)`): lowered as its functional op
where no other op sees the write (core/graph/functionalize.c), refused with its reason where one
does. The real model that needs it is parallel_wavegan's HiFiGANGenerator, whose residual blocks
sum into an accumulator in place; it converts and matches PyTorch in real RETURNN at two lengths
with both configs, and on a padded batch."""
import json
import subprocess

import numpy as np

import scipy.signal
import torch
import torch.nn as nn

from conftest import (check_padded_outputs, check_returnn_outputs, input_jobs, interpreter_padded_figure,
                      padded_batch_jobs, record_padded_figures, run_returnn_jobs)

# parallel_wavegan 0.6.1 imports scipy.signal.kaiser, which SciPy moved to scipy.signal.windows.
if not hasattr(scipy.signal, "kaiser"):
    scipy.signal.kaiser = scipy.signal.windows.kaiser


class PrivateAccumulator(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv1d(4, 4, 3, padding=1), nn.Conv1d(4, 4, 1)

    def forward(self, x):
        acc = self.a(x)
        acc += self.b(x)
        acc *= 0.5
        return acc


class InPlaceActivations(nn.Module):
    """The activations modules build with inplace=True (torch.export keeps relu_, leaky_relu_,
    hardtanh_ for ReLU6, ...), each on a conv's fresh output, clamp_ written by hand, and a mask
    written over a softmax's result (transformers' SEW-D and DeBERTa-v2: output.masked_fill_(rmask, 0))."""
    def __init__(self):
        super().__init__()
        self.acts = nn.ModuleList([nn.ReLU(inplace=True), nn.LeakyReLU(0.2, inplace=True), nn.SiLU(inplace=True),
                                   nn.Hardtanh(-0.5, 0.5, inplace=True), nn.ELU(inplace=True), nn.ReLU6(inplace=True),
                                   nn.Hardswish(inplace=True), nn.Hardsigmoid(inplace=True), nn.Mish(inplace=True),
                                   nn.SELU(inplace=True), nn.CELU(0.7, inplace=True)])
        self.convs = nn.ModuleList([nn.Conv1d(4, 4, 3, padding=1) for _ in range(len(self.acts) + 2)])

    def forward(self, x):
        for act, conv in zip(self.acts, self.convs):
            x = act(conv(x))
        x = torch.sigmoid_(self.convs[-2](x)) + torch.tanh_(self.convs[-1](x))
        x = x.clamp_(-0.9, 0.9)
        y = torch.softmax(x, dim=1)
        y.masked_fill_(x < 0.2, 0.0)
        return y


class SeenActivation(nn.Module):
    """relu_ writes through a slice into y, which is read afterwards: PyTorch's in-place semantics."""
    def __init__(self):
        super().__init__()
        self.a = nn.Conv1d(4, 4, 3, padding=1)

    def forward(self, x):
        y = self.a(x)
        torch.relu_(y[:, :2])
        return y * 2


class WriteThroughView(nn.Module):
    """The write goes through a slice into y, which is read afterwards: in-place semantics."""
    def __init__(self):
        super().__init__()
        self.a = nn.Conv1d(4, 4, 3, padding=1)

    def forward(self, x):
        y = self.a(x)
        head = y[:, :2]
        head += 1.0
        return y * 2


def export(model, example, path):
    program = torch.export.export(model, (example,), dynamic_shapes=({2: torch.export.Dim("frames", min=8, max=200)},))
    torch.export.save(program, str(path))
    return {str(n.target) for n in program.graph.nodes if n.op == "call_function"}


def hifigan():
    from parallel_wavegan.models import HiFiGANGenerator
    torch.manual_seed(0)
    model = HiFiGANGenerator(in_channels=16, out_channels=1, channels=32, upsample_scales=(4, 2),
                             upsample_kernel_sizes=(8, 4), resblock_kernel_sizes=(3, 7),
                             resblock_dilations=[(1, 3), (1, 3)]).eval()
    model.remove_weight_norm()
    return model


def test_in_place_models(pt2returnn, tmp_path):
    torch.manual_seed(0)
    cases = {"accumulator": (PrivateAccumulator().eval(), 4, {"aten.add_.Tensor", "aten.mul_.Tensor"}),
             "hifigan": (hifigan(), 16, {"aten.add_.Tensor"}),
             "activations": (InPlaceActivations().eval(), 4,
                             {"aten.relu_.default", "aten.leaky_relu_.default", "aten.silu_.default",
                              "aten.hardtanh_.default", "aten.elu_.default", "aten.hardswish_.default",
                              "aten.hardsigmoid_.default", "aten.mish_.default", "aten.selu_.default",
                              "aten.celu_.default", "aten.sigmoid_.default", "aten.tanh_.default",
                              "aten.clamp_.default", "aten.masked_fill_.Scalar"})}
    jobs, expected, padded, interpreter = [], [], {}, {}
    for name, (model, channels, in_place) in cases.items():
        example = torch.randn(1, channels, 30)
        targets = export(model, example, tmp_path / f"{name}.pt2")
        assert in_place <= targets, targets  # the export keeps the in-place ops
        out = tmp_path / name
        run = subprocess.run([pt2returnn, "convert", str(tmp_path / f"{name}.pt2"), "-o", str(out), "--json"],
                             capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        report = json.loads(run.stdout)
        interpreter[name] = interpreter_padded_figure(report)
        assert all(step["passed"] for step in report["steps"]), report["steps"]
        assert not any("_." in layer["op"] for layer in report["layers"]), "in-place ops left in the lowering"
        more, more_expected = input_jobs(tmp_path, out, model,
                                         {length: torch.randn(1, channels, length) for length in (30, 11)}, f"{name}.")
        jobs += more
        expected += more_expected
        (tmp_path / f"{name}_padded").mkdir()
        more, checks = padded_batch_jobs(tmp_path / f"{name}_padded", out, model, example.numpy(), 2)
        jobs += more
        padded[name] = checks
    run_returnn_jobs(tmp_path, jobs)
    check_returnn_outputs(expected)
    for name, checks in padded.items():
        record_padded_figures("in_place", name, interpreter[name], check_padded_outputs(checks))


def test_a_write_another_op_sees_is_refused(pt2returnn, tmp_path):
    torch.manual_seed(0)
    export(WriteThroughView().eval(), torch.randn(1, 4, 20), tmp_path / "seen.pt2")
    out = tmp_path / "out"
    run = subprocess.run([pt2returnn, "convert", str(tmp_path / "seen.pt2"), "-o", str(out)], capture_output=True, text=True)
    assert run.returncode == 2, run.stderr
    assert "aten.add_.Tensor (node 'add_'" in run.stderr and "head += 1.0" in run.stderr
    assert "only where no other op sees the write" in run.stderr
    assert not out.exists() or not any(out.iterdir())


def test_an_activation_whose_write_is_seen_runs_in_place_and_is_refused(pt2returnn, tmp_path):
    """relu_ through a view of a value read afterwards: the reference run computes it in place, as
    PyTorch (the first two channels rectified, the others not), and the lowering refuses it with
    the reason."""
    torch.manual_seed(0)
    model = SeenActivation().eval()
    x = torch.randn(1, 4, 20)
    assert "aten.relu_.default" in export(model, x, tmp_path / "seen.pt2")
    np.save(tmp_path / "x.npy", x.numpy())
    run = subprocess.run([pt2returnn, "run", str(tmp_path / "seen.pt2"), "--input", str(tmp_path / "x.npy"), "--output",
                          str(tmp_path / "y.npy")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    with torch.no_grad():
        want = model(x.clone()).numpy()
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), want, atol=1e-6)
    conv = model.a(x).detach().numpy()
    assert np.abs(want[:, :2] - 2 * np.maximum(conv[:, :2], 0)).max() < 1e-6 and (conv[:, :2] < 0).any()
    assert np.abs(want[:, 2:] - 2 * conv[:, 2:]).max() < 1e-6
    run = subprocess.run([pt2returnn, "convert", str(tmp_path / "seen.pt2"), "-o", str(tmp_path / "out")],
                         capture_output=True, text=True)
    assert run.returncode == 2 and "aten.relu_.default (node 'relu_'" in run.stderr, run.stderr
    assert "only where no other op sees the write" in run.stderr
