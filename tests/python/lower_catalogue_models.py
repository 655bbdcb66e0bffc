"""The lowering catalogue: small ordinary models, one per layout or shape pattern, each touching
the dynamic time axis. Shared by test_lower_catalogue.py (export in one PyTorch process, convert
each with the native CLI, run all in one RETURNN process)."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class TransposeConv1d(nn.Module):
    """[B, T, F] -> transpose -> Conv1d -> transpose -> Linear."""
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(8, 12, 3, padding=1)
        self.out = nn.Linear(12, 5)

    def forward(self, x):
        return self.out(self.conv(x.transpose(1, 2)).transpose(1, 2))


class FrameStacking(nn.Module):
    """(B, T, F) -> (B, T/2, 2F) on an even dynamic T, then Linear."""
    def __init__(self):
        super().__init__()
        self.out = nn.Linear(16, 6)

    def forward(self, x):
        b, t, f = x.shape
        return self.out(x.reshape(b, t // 2, 2 * f))


class Conv2dFrontEnd(nn.Module):
    """unsqueeze(1) -> Conv2d -> merge channels with frequency -> Linear."""
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.out = nn.Linear(4 * 8, 6)

    def forward(self, x):
        y = torch.relu(self.conv(x.unsqueeze(1)))  # [B, C, T, F]
        b, c, t, f = y.shape
        return self.out(y.permute(0, 2, 1, 3).reshape(b, t, c * f))


class ChunkGLU(nn.Module):
    """A GLU written with chunk."""
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 12)

    def forward(self, x):
        a, g = self.proj(x).chunk(2, dim=-1)
        return a * torch.sigmoid(g)


class StridedSlice(nn.Module):
    """x[:, 2:, ::2], then Linear."""
    def __init__(self):
        super().__init__()
        self.out = nn.Linear(4, 3)

    def forward(self, x):
        return self.out(x[:, 2:, ::2])


class OpByOpAttention(nn.Module):
    """Attention written op by op: view into heads, transpose, matmul, softmax, matmul, back."""
    def __init__(self, d=16, heads=2):
        super().__init__()
        self.heads, self.d = heads, d
        self.q, self.k, self.v = nn.Linear(8, d), nn.Linear(8, d), nn.Linear(8, d)
        self.out = nn.Linear(d, 8)

    def forward(self, x):
        b, t, _ = x.shape
        h, dh = self.heads, self.d // self.heads
        q = self.q(x).view(b, t, h, dh).transpose(1, 2)
        k = self.k(x).view(b, t, h, dh).transpose(1, 2)
        v = self.v(x).view(b, t, h, dh).transpose(1, 2)
        scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(dh)
        y = torch.matmul(torch.softmax(scores, dim=-1), v)
        return self.out(y.transpose(1, 2).reshape(b, t, self.d))


class TimeMajorMultiheadAttention(nn.Module):
    """nn.MultiheadAttention with batch_first=False on a time-major view of [B, T, F] data."""
    def __init__(self):
        super().__init__()
        self.attention = nn.MultiheadAttention(8, 2, batch_first=False)
        self.out = nn.Linear(8, 4)

    def forward(self, x):
        y = x.transpose(0, 1)
        y, _ = self.attention(y, y, y, need_weights=False)
        return self.out(y.transpose(0, 1))


# name -> (model class, input features, the export's time length, time multiple)
CATALOGUE = {
    "transpose_conv1d": (TransposeConv1d, 8, 20, 1),
    "frame_stacking": (FrameStacking, 8, 20, 2),
    "conv2d_front_end": (Conv2dFrontEnd, 8, 20, 1),
    "chunk_glu": (ChunkGLU, 8, 20, 1),
    "strided_slice": (StridedSlice, 8, 20, 1),
    "op_by_op_attention": (OpByOpAttention, 8, 20, 1),
    "time_major_mha": (TimeMajorMultiheadAttention, 8, 20, 1),
}


def export(name, path):
    """Exports one catalogue model with a dynamic time axis (a multiple of `multiple`)."""
    cls, features, length, multiple = CATALOGUE[name]
    torch.manual_seed(0)
    model = cls().eval()
    x = torch.randn(2, length, features)
    time = torch.export.Dim("time", min=4, max=256)
    dynamic = ({1: multiple * time if multiple > 1 else time},)
    program = torch.export.export(model, (x,), dynamic_shapes=dynamic)
    torch.export.save(program, path)
    return model
