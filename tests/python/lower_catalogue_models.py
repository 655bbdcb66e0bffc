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


class MultiheadAttentionWithWeights(nn.Module):
    """nn.MultiheadAttention called with its defaults (need_weights=True), the weights unused: it
    computes them itself (bmm, softmax, bmm, and their mean over the heads, which nothing reads)
    instead of calling scaled_dot_product_attention; still RETURNN's self_attention."""
    def __init__(self):
        super().__init__()
        self.attention = nn.MultiheadAttention(8, 2, batch_first=True)
        self.out = nn.Linear(8, 4)

    def forward(self, x):
        y, _ = self.attention(x, x, x)
        return self.out(y)


class CausalTransformerLayer(nn.Module):
    """nn.TransformerEncoderLayer as a causal (decoder-only) model uses it: the square subsequent
    mask with is_causal=True, which nn.MultiheadAttention hands to scaled_dot_product_attention
    as is_causal; RETURNN's self_attention with attention_left_only (frame t sees frames 0..t)."""
    def __init__(self):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)

    def forward(self, x):
        mask = nn.Transformer.generate_square_subsequent_mask(x.shape[1])
        return self.layer(x, src_mask=mask, is_causal=True)


class Permutes(nn.Module):
    """movedim, swapaxes and t on data with the time axis; a size-1 axis made the feature of a Linear."""
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(8, 12, 3, padding=1)
        self.out = nn.Linear(12, 5)
        self.gate = nn.Linear(1, 5)

    def forward(self, x):
        y = self.conv(x.movedim(1, 2)).swapaxes(1, 2)  # [B, T, 12]
        m = y.mean(-1).t().t()  # [B, T]
        return self.out(y) * torch.sigmoid(self.gate(m.unsqueeze(-1)))


class ViewsAndSqueezes(nn.Module):
    """unflatten/flatten across the time axis (even T), unsqueeze and every form of squeeze."""
    def __init__(self):
        super().__init__()
        self.out = nn.Linear(16, 6)

    def forward(self, x):
        y = x.unflatten(1, (-1, 2)).flatten(2, 3)  # [B, T/2, 16]
        y = y.unsqueeze(1).squeeze(1)  # squeeze.dim
        y = y.unsqueeze(2).squeeze()  # squeeze.default
        y = y.unsqueeze(-1).squeeze((3,))  # squeeze.dims
        return self.out(y)


class SlicesAndSplits(nn.Module):
    """narrow of the time axis by a length computed from T, select, split_with_sizes and unbind on
    data with the time axis."""
    def __init__(self):
        super().__init__()
        self.l1, self.l2, self.l3, self.l4 = nn.Linear(3, 4), nn.Linear(5, 4), nn.Linear(4, 4), nn.Linear(1, 4)

    def forward(self, x):
        a = x.narrow(1, 1, x.shape[1] - 2)  # [B, T-2, 8]
        s = a.select(2, 3)  # [B, T-2]
        p1, p2 = a.split_with_sizes([3, 5], dim=2)
        u0, u1 = a.unflatten(2, (2, 4)).unbind(2)
        return self.l1(p1) + self.l2(p2) + self.l3(u0 * u1) + self.l4(s.unsqueeze(-1))


class PadsAndNoOps(nn.Module):
    """pad of the feature axis and of the time axis; ops that compute nothing."""
    def __init__(self):
        super().__init__()
        self.out = nn.Linear(11, 4)

    def forward(self, x):
        y = F.pad(F.pad(x, (1, 2)), (0, 0, 2, 1))  # [B, T+3, 11]
        y = y.contiguous().clone().to(torch.float32).type_as(y).detach()
        return self.out(y)


class CatAndStack(nn.Module):
    """cat along a non-feature axis, and stack, on data with the time axis."""
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(8, 6), nn.Linear(8, 6)
        self.out = nn.Linear(6, 4)

    def forward(self, x):
        a, b = self.a(x), self.b(x)  # [B, T, 6] each
        s = torch.stack([a, b], dim=2).sum(2)  # stack on a new axis: [B, T, 2, 6]
        u = torch.cat([a.unsqueeze(2), s.unsqueeze(2)], dim=2).amax(2)  # cat along a non-feature axis
        return self.out(u * b)


class CatAlongTime(nn.Module):
    """cat along the time axis: [B, T, 6] twice -> [B, 2T, 4]."""
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(8, 6), nn.Linear(8, 6)
        self.out = nn.Linear(6, 4)

    def forward(self, x):
        return self.out(torch.cat([self.a(x), self.b(x)], dim=1))


class ExpandAndRepeat(nn.Module):
    """expand, expand_as, broadcast_to and repeat of static axes of data with the time axis."""
    def __init__(self):
        super().__init__()
        self.gate, self.value = nn.Linear(8, 1), nn.Linear(8, 6)
        self.out = nn.Linear(12, 4)

    def forward(self, x):
        g = torch.sigmoid(self.gate(x))  # [B, T, 1]
        v = self.value(x)  # [B, T, 6]
        y = g.expand(-1, -1, 6) * v + g.expand_as(v) - torch.broadcast_to(g, v.shape) * 0.5
        return self.out(y.repeat(1, 1, 2))


class CatOfThreeAlongTime(nn.Module):
    """cat along the time of three parts of different lengths: T frames, one frame (the mean over
    the time, as a summary token) and T - 1 frames (in a padded batch each sequence's parts must
    follow each other without the padding between them), then a conv over the joined time that
    sees the joins."""
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(8, 6), nn.Linear(8, 6)
        self.conv = nn.Conv1d(6, 4, 3, padding=1)

    def forward(self, x):
        a, b = self.a(x), self.b(x)
        y = torch.cat([a, a.mean(1).unsqueeze(1), b[:, 1:]], dim=1)
        return self.conv(y.transpose(1, 2)).transpose(1, 2)


class CatOfTheInputAlongTime(nn.Module):
    """cat along the time of the input itself and a shorter part (T + T - 2 frames), then Linear."""
    def __init__(self):
        super().__init__()
        self.a, self.out = nn.Linear(8, 8), nn.Linear(8, 3)

    def forward(self, x):
        return self.out(torch.cat([x, self.a(x)[:, 2:]], dim=1))
# ---- gather branch: einsum, flip, indexing and statistics on the dynamic time


class EinsumAttention(nn.Module):
    """Attention written with einsum: projections by a weight ("btf,fg->btg"), scores over the
    time twice ("bthd,bshd->bhts"), softmax over the keys' time, values ("bhts,bshd->bthd")."""
    def __init__(self, d=16, heads=2):
        super().__init__()
        self.heads, self.d = heads, d
        self.wq, self.wk, self.wv = (nn.Parameter(torch.randn(8, d) * 0.3) for _ in range(3))
        self.out = nn.Linear(d, 8)

    def forward(self, x):
        b, t, _ = x.shape
        h, dh = self.heads, self.d // self.heads
        q = torch.einsum("btf,fg->btg", x, self.wq).view(b, t, h, dh)
        k = torch.einsum("btf,fg->btg", x, self.wk).view(b, t, h, dh)
        v = torch.einsum("btf,fg->btg", x, self.wv).view(b, t, h, dh)
        w = torch.softmax(torch.einsum("bthd,bshd->bhts", q, k) / math.sqrt(dh), dim=-1)
        return self.out(torch.einsum("bhts,bshd->bthd", w, v).reshape(b, t, self.d))


class FlipAndSelectFrames(nn.Module):
    """A bidirectional-style sum with the time flipped (each sequence within its own length), the
    features flipped, then a fixed set of frames picked with index_select and a Linear."""
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 8)
        self.out = nn.Linear(8, 5)
        self.register_buffer("frames", torch.tensor([0, 3, 1, 2]))

    def forward(self, x):
        y = torch.tanh(self.proj(x))
        y = y + torch.flip(y, [1]) + torch.flip(x, [2])
        return self.out(torch.index_select(y, 1, self.frames))


class StatisticsPooling(nn.Module):
    """x-vector statistics pooling: the mean and the unbiased std over the time (padded frames
    excluded), and the variance over the time and a group of features, concatenated, then a Linear."""
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 6)
        self.out = nn.Linear(14, 4)

    def forward(self, x):
        h = torch.relu(self.proj(x))
        b, t, f = h.shape
        std, mean = torch.std_mean(h, dim=1)
        grouped = torch.var(h.view(b, t, 2, 3), dim=(1, 3))
        return self.out(torch.cat([mean, std, grouped], dim=-1))
# ---- the axis map's broadcast axes (size-1 axes RETURNN does not have) ----

class KeepdimBroadcast(nn.Module):
    """Reductions with keepdim=True broadcasting back against the data they came from: a softmax
    written by hand over the features, centring over the dynamic time, a vector-norm scaling,
    max.dim/min.dim/logsumexp/amin/any/all kept; the result ends on a kept axis (the network's
    output needs it as a real axis)."""
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 6)
        self.out = nn.Linear(6, 4)

    def forward(self, x):
        h = self.proj(x)  # [B, T, 6]
        e = torch.exp(h - h.amax(-1, keepdim=True))
        p = e / e.sum(-1, keepdim=True)
        c = p - p.mean(1, keepdim=True)  # over the time
        n = c / (torch.linalg.vector_norm(c, dim=-1, keepdim=True) + 1e-3)
        m = n + h.max(dim=-1, keepdim=True).values - h.min(-1, keepdim=True).values + h.amin(1, keepdim=True)
        m = m * torch.logsumexp(h, -1, keepdim=True) + (h > 0.5).any(-1, keepdim=True).float()
        m = m - (h > -2.0).all(-1, keepdim=True).float() * h.sum((1, 2), keepdim=True)
        return self.out(m).sum(-1, keepdim=True)  # [B, T, 1]


class UnsqueezeBroadcast(nn.Module):
    """unsqueeze'd size-1 axes broadcasting: a per-sequence vector over the time, a per-frame
    scalar over the features, and a gate with an unsqueeze at both ends."""
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 6)
        self.out = nn.Linear(6, 4)

    def forward(self, x):
        h = self.proj(x)  # [B, T, 6]
        g = h.mean(1).unsqueeze(1)  # [B, 1, 6]
        s = torch.sigmoid(h.sum(-1)).unsqueeze(-1)  # [B, T, 1]
        y = h * g + s - torch.tanh(g.unsqueeze(0)).squeeze(0) * s
        return self.out(y)


class ExpandBroadcast(nn.Module):
    """expand of broadcast axes with no layer, to the batch and the dynamic time too: a learned
    [1, 1, F] vector expand_as'd and expanded to x's [B, T, F], a per-sequence mean unsqueezed and
    expanded over the time, a per-frame gate (keepdim) expanded over the features; one that a
    Linear needs as its real feature axis (materialised by expand_dims and tile); and groups of
    features each repeated 3 times, merged with the expanded axis (transformers' repeat_kv of
    grouped-query attention: made real, then merged)."""
    def __init__(self):
        super().__init__()
        self.vec = nn.Parameter(torch.randn(1, 1, 8))
        self.out = nn.Linear(8, 4)
        self.gate_out = nn.Linear(6, 4)
        self.repeated_out = nn.Linear(24, 4)

    def forward(self, x):
        b, t, f = x.shape
        m = x.mean(1).unsqueeze(1).expand(-1, t, -1)  # [B, T, F], constant over the time
        g = torch.sigmoid(x.sum(-1, keepdim=True))  # [B, T, 1]
        y = x * g.expand(-1, -1, f) + m + self.vec.expand_as(x) - self.vec.expand(b, t, -1) * 0.5
        repeated = x.unflatten(-1, (2, 4)).unsqueeze(3).expand(-1, -1, -1, 3, -1).flatten(2)  # [B, T, 2*3*4]
        return self.out(y) + self.gate_out(g.expand(-1, -1, 6)) + self.repeated_out(repeated)


class SelectOnTime(nn.Module):
    """x[:, 0], x.select(1, 2) and x[:, 1:2] on the dynamic time (frames every sequence has: a slice
    of the time with an end, then a squeeze; the last keeps its size-1 axis, a broadcast axis),
    broadcast back over the time."""
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 6)
        self.out = nn.Linear(6, 4)

    def forward(self, x):
        h = self.proj(x)  # [B, T, 6]
        first, third = h[:, 0], h.select(1, 2)  # [B, 6]
        return self.out(h - first.unsqueeze(1) + torch.tanh(third).unsqueeze(1) * 0.5 + h[:, 1:2] * 0.25)


# name -> (model class, input features, the export's time length, time multiple)
class RotaryOuterProduct(nn.Module):
    """Rotary embeddings as research code writes them: positions from arange over the time, their
    outer product with the inverse frequencies by broadcasting (t[:, None] * inv_freq), cos/sin,
    and the rotated halves of the features."""
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 8)
        self.register_buffer("inv_freq", 1.0 / (10000 ** (torch.arange(0, 8, 2).float() / 8)))

    def forward(self, x):
        angles = torch.arange(x.shape[1], dtype=torch.float32)[:, None] * self.inv_freq
        a, b = self.proj(x).chunk(2, -1)
        return torch.cat((a * angles.cos() - b * angles.sin(), a * angles.sin() + b * angles.cos()), -1)


class FramesFromTheEnd(nn.Module):
    """x[:, -1] and x[:, -3] on the dynamic time: each sequence's own last and third-last frame (a
    gather at its length - 1 and - 3), as a summary of an utterance."""
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 6)
        self.out = nn.Linear(12, 4)

    def forward(self, x):
        h = torch.tanh(self.proj(x))
        return self.out(torch.cat([h[:, -1], h[:, -3]], dim=-1))


class ThreeOutputs(nn.Module):
    """A program with three outputs of different shapes, returned as a tuple: the frames [B, T, 6],
    a per-utterance summary without the time axis (the mean over time) [B, 4], and a strided conv's
    channels-first frames [B, 5, T'] on a time of its own."""
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 6)
        self.summary = nn.Linear(6, 4)
        self.conv = nn.Conv1d(6, 5, 3, stride=2, padding=1)

    def forward(self, x):
        h = torch.tanh(self.proj(x))
        return h, self.summary(h.mean(dim=1)), self.conv(h.transpose(1, 2))


class PositionsAdded(nn.Module):
    """An int64 arange over the time added to float features, multiplied with them, compared with
    them, and divided and scaled by numbers (PyTorch computes in float32; RETURNN's combine and
    compare take one dtype and TF's ops no float number with an integer tensor, so the positions
    are cast first)."""
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 6)

    def forward(self, x):
        positions = torch.arange(x.shape[1])[None, :, None]
        h = self.proj(x)
        decay = torch.exp(-positions / 10) * (positions * 0.5)
        return torch.where(positions < h * 10, (h + positions) * torch.tanh(h), -positions * h) + decay


class PositionsFromOnes(nn.Module):
    """OPT's and RoBERTa's positions from a mask of ones made by torch.ones: its running count
    along the time (cumsum over a broadcast axis, which alone is made real; the batch stays
    broadcast and meets the features' batch), looked up in a table."""
    def __init__(self):
        super().__init__()
        self.positions = nn.Embedding(300, 8)

    def forward(self, x):
        mask = torch.ones(x.shape[0], x.shape[1], dtype=torch.long)
        positions = (torch.cumsum(mask, dim=1) * mask).long() - 1
        return x + self.positions(positions + 2)


class WindowsOfFrames(nn.Module):
    """unfold along the time, windows of 3 frames every frame merged with the features (a derived
    time T - 2), and along the features of those frames (a static axis: windows of 4 every 2)."""
    def __init__(self):
        super().__init__()
        self.frames, self.features = nn.Linear(3 * 8, 6), nn.Linear(3 * 4, 6)

    def forward(self, x):
        b, t, f = x.shape
        w = x.unfold(1, 3, 1)  # [B, T - 2, F, 3]
        v = x[:, 2:].unfold(2, 4, 2)  # [B, T - 2, 3, 4]
        return self.frames(w.reshape(b, t - 2, f * 3)) + self.features(v.reshape(b, t - 2, 12))


class StridedWindows(nn.Module):
    """unfold along the time of [B, F, T], windows of 2 frames every 2 (a derived time
    ceil((T - 1) / 2)): frame stacking written with unfold."""
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(2 * 8, 6)

    def forward(self, x):
        s = x.transpose(1, 2).unfold(2, 2, 2)  # [B, F, T // 2, 2]
        return self.proj(s.permute(0, 2, 3, 1).reshape(x.shape[0], s.shape[2], 16))


class BoolBuffers(nn.Module):
    """Bool buffers, as models keep masks: one over the features in masked_fill, one per frame
    sliced to the input's length in where (GPT-Neo slices its causal mask buffer so); each is a
    float32 variable of its 0/1 compared != 0 (the checkpoint holds float32 variables)."""
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 6)
        self.register_buffer("features_kept", torch.tensor([True, False, True, True, False, True]))
        self.register_buffer("frames_kept", torch.arange(300) % 3 != 1)

    def forward(self, x):
        h = self.proj(x).masked_fill(self.features_kept, -1.0)
        return torch.where(self.frames_kept[:x.shape[1], None], h, h * 0.5)


class Gpt2Conv1dAndEmptyCache(nn.Module):
    """transformers' Conv1D, the projection of GPT-2 (addmm(bias, x.view(-1, nx), weight) with the
    weight [nx, nf] as it is, and the view back), and a cache that starts empty joined with the
    new frames (DynamicCache's first cat, of torch.tensor([]) and the keys)."""
    def __init__(self):
        super().__init__()
        from transformers.pytorch_utils import Conv1D
        self.proj = Conv1D(12, 8)
        self.out = Conv1D(5, 12)
        self.register_buffer("cache", torch.zeros(0))

    def forward(self, x):
        return self.out(torch.cat([self.cache, torch.relu(self.proj(x))], dim=1))


class PositionMasks(nn.Module):
    """Masks over the time twice, made from positions as transformers' mask helpers and WavLM write
    them: a causal mask kv_idx <= q_idx into scaled_dot_product_attention, and a relative-position
    bias |key position - query position| taken from attention scores written op by op."""
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(8, 24)
        self.out = nn.Linear(8, 6)

    def heads(self, x):
        b, t, _ = x.shape
        return (z.view(b, t, 2, 4).transpose(1, 2) for z in self.qkv(x).chunk(3, dim=-1))

    def forward(self, x):
        b, t, _ = x.shape
        q, k, v = self.heads(x)
        positions = torch.arange(t)
        causal = positions[None, :] <= positions[:, None]
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=causal)
        relative = (positions[None, :] - positions[:, None]).float()
        scores = torch.matmul(q, k.transpose(-2, -1)) * 0.5 - 0.1 * relative.abs()
        z = torch.matmul(torch.softmax(scores, dim=-1), v)
        return self.out((y + z).transpose(1, 2).reshape(b, t, 8))


class SlicedMaskPositions(PositionMasks):
    """A causal mask as transformers' create_causal_mask writes it for OPT and others: query and key
    positions unsqueezed to [1, 1, T, 1] and [1, 1, 1, T] and sliced over their whole length
    (a slice of a value along whose other axes it is constant), compared, into attention scores."""
    def forward(self, x):
        b, t, _ = x.shape
        q, k, v = self.heads(x)
        queries = torch.arange(t)[None, None, :, None][:, :, :t]
        keys = torch.arange(t)[None, None, None, :][:, :, :, :t]
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=keys <= queries)
        return self.out(y.transpose(1, 2).reshape(b, t, 8))


class RepeatedFrames(nn.Module):
    """Frames repeated in a row along the time (repeat_interleave: Funnel's and Canine's upsampling
    of pooled frames): halved by a pool, projected, each frame twice, added to the input (even T)."""
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 8)
        self.out = nn.Linear(8, 6)

    def forward(self, x):
        pooled = F.avg_pool1d(x.transpose(1, 2), 2).transpose(1, 2)
        return self.out(torch.repeat_interleave(self.proj(pooled), 2, dim=1) + x)


class NestedEinsumAttention(nn.Module):
    """EinsumAttention inside a submodule, so its constant operands (the projection weights) are
    variable layers of a subnetwork: RETURNN names a layer's variable by its local name."""
    def __init__(self):
        super().__init__()
        self.block = EinsumAttention()

    def forward(self, x):
        return self.block(x) + x


class ExpandedToTheTime(nn.Module):
    """Values constant along the dynamic time that an op needs along it as a real axis (cumsum):
    positions counted from a mask of zeros made of the input's length, as transformers'
    create_position_ids_from_input_ids counts them (Speech2Text's sinusoidal positions), looked up
    in a table; and a float running sum of a constant, a ramp over the frames."""
    def __init__(self):
        super().__init__()
        self.table = nn.Embedding(300, 8)
        self.out = nn.Linear(8, 6)

    def forward(self, x):
        t = x.shape[1]
        positions = torch.zeros(t, dtype=torch.long).ne(1).long().cumsum(0)  # 1, 2, ..., T
        ramp = torch.full((t,), 0.25).cumsum(0)
        return self.out(x * ramp[:, None] + self.table(positions))


class FlattenedLookup(nn.Module):
    """A table looked up at ids flattened and viewed back, as transformers' sinusoidal position
    embeddings write it (M2M100, Speech2Text): weights.index_select(0, ids.view(-1)).view(b, t, -1),
    the ids counted from the input as create_position_ids_from_input_ids counts them."""
    def __init__(self):
        super().__init__()
        self.register_buffer("weights", torch.randn(300, 8))
        self.out = nn.Linear(8, 6)

    def forward(self, x):
        b, t, _ = x.shape
        mask = (x[..., 0] > 0).int()
        ids = torch.cumsum(mask, dim=1).type_as(mask) * mask + 1
        return self.out(x + self.weights.index_select(0, ids.view(-1)).view(b, t, -1))


CATALOGUE = {
    "transpose_conv1d": (TransposeConv1d, 8, 20, 1),
    "frame_stacking": (FrameStacking, 8, 20, 2),
    "conv2d_front_end": (Conv2dFrontEnd, 8, 20, 1),
    "chunk_glu": (ChunkGLU, 8, 20, 1),
    "strided_slice": (StridedSlice, 8, 20, 1),
    "op_by_op_attention": (OpByOpAttention, 8, 20, 1),
    "time_major_mha": (TimeMajorMultiheadAttention, 8, 20, 1),
    "causal_transformer_layer": (CausalTransformerLayer, 8, 20, 1),
    "mha_need_weights": (MultiheadAttentionWithWeights, 8, 20, 1),
    "permutes": (Permutes, 8, 20, 1),
    "views_and_squeezes": (ViewsAndSqueezes, 8, 20, 2),
    "slices_and_splits": (SlicesAndSplits, 8, 20, 1),
    "pads_and_no_ops": (PadsAndNoOps, 8, 20, 1),
    "cat_and_stack": (CatAndStack, 8, 20, 1),
    "cat_along_time": (CatAlongTime, 8, 20, 1),
    "expand_and_repeat": (ExpandAndRepeat, 8, 20, 1),
    "cat_of_three_along_time": (CatOfThreeAlongTime, 8, 20, 1),
    "cat_of_the_input_along_time": (CatOfTheInputAlongTime, 8, 20, 1),
    # gather branch
    "einsum_attention": (EinsumAttention, 8, 20, 1),
    "flip_and_select_frames": (FlipAndSelectFrames, 8, 20, 1),
    "statistics_pooling": (StatisticsPooling, 8, 20, 1),
    # the axis map's broadcast axes
    "keepdim_broadcast": (KeepdimBroadcast, 8, 20, 1),
    "unsqueeze_broadcast": (UnsqueezeBroadcast, 8, 20, 1),
    "expand_broadcast": (ExpandBroadcast, 8, 20, 1),
    "bool_buffers": (BoolBuffers, 8, 20, 1),
    "select_on_time": (SelectOnTime, 8, 20, 1),
    "rotary_outer_product": (RotaryOuterProduct, 8, 20, 1),
    "frames_from_the_end": (FramesFromTheEnd, 8, 20, 1),
    "positions_added": (PositionsAdded, 8, 20, 1),
    "positions_from_ones": (PositionsFromOnes, 8, 20, 1),
    "windows_of_frames": (WindowsOfFrames, 8, 20, 1),
    "strided_windows": (StridedWindows, 8, 20, 2),
    "gpt2_conv1d_and_empty_cache": (Gpt2Conv1dAndEmptyCache, 8, 20, 1),
    "position_masks": (PositionMasks, 8, 20, 1),
    "sliced_mask_positions": (SlicedMaskPositions, 8, 20, 1),
    "repeated_frames": (RepeatedFrames, 8, 20, 2),
    "nested_einsum_attention": (NestedEinsumAttention, 8, 20, 1),
    "expanded_to_the_time": (ExpandedToTheTime, 8, 20, 1),
    "flattened_lookup": (FlattenedLookup, 8, 20, 1),
    # programs with several outputs
    "three_outputs": (ThreeOutputs, 8, 20, 1),
}

# How many outputs a model's program has (1 unless listed).
NUM_OUTPUTS = {"three_outputs": 3}


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
