"""The reference run split over threads (core/ops/parallel.c: the GEMM's columns or rows, the
attention heads, each convolution group's output channels): `pt2returnn run --threads N` gives the
same bytes at every thread count and every time, and what PyTorch computes. The models are
exported here by real PyTorch with sizes that do not split evenly (odd channels, 3 threads), so
the last piece of each split is a partial one. Tolerance as tests/python/test_reference_run.py."""
import subprocess

import numpy as np
import pytest
import torch
import torch.nn as nn

ATOL, RTOL = 1e-5, 1e-4


class ConvStack(nn.Module):
    """Transposed and plain 1-D convolutions, as a vocoder stacks them."""

    def __init__(self):
        super().__init__()
        self.up = nn.ConvTranspose1d(37, 61, 8, stride=4, padding=2)
        self.conv = nn.Conv1d(61, 61, 5, padding=2)
        self.mix = nn.Conv1d(61, 47, 3, dilation=3, padding=3, )

    def forward(self, x):
        x = torch.nn.functional.leaky_relu(self.up(x), 0.2)
        return torch.tanh(self.mix(torch.nn.functional.leaky_relu(self.conv(x), 0.2)))


def encoder_layer():
    return nn.TransformerEncoderLayer(d_model=64, nhead=4, dim_feedforward=130, dropout=0.0, batch_first=True)


class Elementwise(nn.Module):
    """Binary elementwise ops large enough to be split (core/ops/elementwise.c: pieces of at least
    2^15 elements): a contiguous add (one long row, split within it), a per-channel scale and shift
    broadcast over the time (rows), a transposed operand (strided rows) and a comparison."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.randn(97, 1))
        self.shift = nn.Parameter(torch.randn(1, 97, 1))

    def forward(self, x):
        y = x * self.scale + self.shift
        z = y + x
        w = z - y.transpose(1, 2).transpose(1, 2).contiguous().transpose(1, 2).transpose(1, 2)
        return torch.where(w > 0.1, w * z, -z) + (x.transpose(1, 2) * 2).transpose(1, 2)


MODELS = {
    "conv_stack": (ConvStack, (1, 37, 53)),
    "encoder_layer": (encoder_layer, (2, 61, 64)),
    "elementwise": (Elementwise, (3, 97, 701)),
}


def export(tmp_path, name):
    make, shape = MODELS[name]
    torch.manual_seed(3)
    model = make().eval()
    x = torch.randn(*shape)
    path = str(tmp_path / f"{name}.pt2")
    torch.export.save(torch.export.export(model, (x,)), path)
    np.save(tmp_path / "x.npy", x.numpy())
    with torch.no_grad():
        return path, str(tmp_path / "x.npy"), model(x).numpy()


def run(binary, model, x, out, *extra):
    result = subprocess.run([binary, "run", model, "--input", x, "--output", out, *extra], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    with open(out, "rb") as f:
        return f.read()


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("portable", [False, True])
def test_same_bytes_at_every_thread_count(pt2returnn, tmp_path, name, portable):
    model, x, want = export(tmp_path, name)
    extra = ["--portable"] if portable else []
    one = run(pt2returnn, model, x, str(tmp_path / "t1.npy"), "--threads", "1", *extra)
    np.testing.assert_allclose(np.load(tmp_path / "t1.npy"), want, atol=ATOL, rtol=RTOL)
    for threads in ("2", "3", "2"):
        assert run(pt2returnn, model, x, str(tmp_path / f"t{threads}.npy"), "--threads", threads, *extra) == one, \
            f"{name} at {threads} threads differs from 1 thread"


class HeadsByHand(nn.Module):
    """Attention written out, as transformers' models do: per-head products (RETURNN dot layers
    over a shared heads axis) and linear layers, which the per-layer checks' interpreter splits over
    the threads too (core/returnn: linear, dot, self_attention)."""

    def __init__(self, d=48, heads=3):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, 37)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        weights = torch.softmax(q @ k.transpose(-1, -2) / 4.0, dim=-1)
        return self.out((weights @ v).transpose(1, 2).reshape(b, t, d))


class Conv2dStack(nn.Module):
    """2-D convolutions and a transposed one over [batch, channels, mels, time], as a front end."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(1, 29, 3, stride=(2, 1), padding=1)
        self.b = nn.Conv2d(29, 31, 3, padding=1)
        self.up = nn.ConvTranspose2d(31, 13, (2, 1), stride=(2, 1))

    def forward(self, x):
        return self.up(torch.relu(self.b(torch.relu(self.a(x)))))


CONVERTED = {"encoder_layer": (encoder_layer, (1, 61, 64)), "heads_by_hand": (HeadsByHand, (1, 53, 48)),
             # long enough that the checks split their comparisons too (2^17 values and more)
             "conv_stack": (ConvStack, (1, 37, 2300)), "conv2d_stack": (Conv2dStack, (1, 1, 24, 45))}


@pytest.mark.parametrize("name", sorted(CONVERTED))
def test_convert_writes_the_same_at_every_thread_count(pt2returnn, tmp_path, name):
    """convert --threads N: the reference run and the per-layer checks' products split over the
    threads; the files are byte-identical to one thread's and every check's figures the same."""
    import json
    make, shape = CONVERTED[name]
    torch.manual_seed(5)
    x = torch.randn(*shape)
    model = str(tmp_path / f"{name}.pt2")
    time_axis = {"conv_stack": 2, "conv2d_stack": 3}.get(name, 1)
    torch.export.save(torch.export.export(make().eval(), (x,), dynamic_shapes=(
        {time_axis: torch.export.Dim("time", min=4, max=4096)},)), model)
    np.save(tmp_path / "x.npy", x.numpy())

    def convert(threads):
        out = tmp_path / f"out{threads}"
        result = subprocess.run([pt2returnn, "convert", model, "--input", str(tmp_path / "x.npy"), "-o", str(out),
                                 "--threads", threads, "--json"], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        report = json.loads((out / "report.json").read_text())
        files = {p.name: p.read_bytes() for p in out.iterdir() if not p.name.startswith("report")}
        return files, report

    files, report = convert("1")
    assert {s["step"] for s in report["steps"]} >= {"layers", "reload", "padded-batch"}
    assert all(s["passed"] for s in report["steps"]), report["steps"]

    def figures(report):
        return ([{k: v for k, v in s.items() if "seconds" not in k} for s in report["steps"]],
                [{k: v for k, v in layer.items() if "seconds" not in k} for layer in report["layers"]])

    for threads in ("3", "2"):
        other_files, other = convert(threads)
        assert other_files == files, f"{name}: files at {threads} threads differ from 1 thread's"
        assert figures(other) == figures(report), f"{name}: check figures at {threads} threads differ"
