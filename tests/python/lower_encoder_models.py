"""Models for test_lower_encoders.py: 2-D CNNs and encoder pieces. Each entry says how to make
its input at a given length (the dynamic axis: the time, or the batch for fixed-size images) and
how it is exported."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class MnistCnn(nn.Module):
    """An MNIST-style CNN: conv2d, max_pool2d (the second with ceil_mode on an odd size), flatten,
    linear, log_softmax."""
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 4)
        self.fc1 = nn.Linear(16 * 6 * 6, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = F.max_pool2d(torch.relu(self.conv1(x)), 2)  # 28 -> 14
        x = F.max_pool2d(torch.relu(self.conv2(x)), 2, ceil_mode=True)  # 11 -> 6
        x = torch.flatten(x, 1)
        return F.log_softmax(self.fc2(torch.relu(self.fc1(x))), dim=1)


class Pools2d(nn.Module):
    """Pooling on a fixed-size image (torch.export specialises a dynamic axis under max_pool2d and
    avg_pool2d, so the batch is the dynamic axis here): max_pool2d with ceil_mode on odd sizes
    (13 x 11 -> 7 x 6), avg_pool2d with padding (count_include_pad), avg_pool2d with a strided
    2 x 3 kernel, adaptive_avg_pool2d and adaptive_avg_pool1d."""
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.out = nn.Linear(4 * 4 * 3 + 4 * 2 + 4 * 4, 5)

    def forward(self, x):
        y = F.max_pool2d(torch.relu(self.conv(x)), 2, ceil_mode=True)  # [B, 4, 7, 6]
        y = F.avg_pool2d(y, 3, stride=1, padding=1)  # [B, 4, 7, 6]
        y = F.avg_pool2d(y, (2, 3), stride=(2, 3))  # [B, 4, 3, 2]
        y = F.max_pool2d(y, 2, stride=1, padding=1)  # [B, 4, 4, 3], padded with -inf
        pooled = [y.flatten(1), F.adaptive_avg_pool2d(y, (2, 1)).flatten(1), F.adaptive_avg_pool1d(y.flatten(2), 4).flatten(1)]
        return self.out(torch.cat(pooled, dim=1))


class GroupNorms(nn.Module):
    """[B, T, F] -> transpose -> GroupNorm with one group, with one group per channel (as the
    wav2vec2 feature encoder), InstanceNorm1d with affine parameters, and F.group_norm without
    them -> transpose back -> Linear."""
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(8, 6, 3)
        self.one_group = nn.GroupNorm(1, 6)
        self.per_channel = nn.GroupNorm(6, 6, affine=True)
        self.instance = nn.InstanceNorm1d(6, affine=True)
        self.out = nn.Linear(6, 4)
        with torch.no_grad():  # not the identity affine parameters of a fresh module
            for norm in (self.one_group, self.per_channel, self.instance):
                norm.weight.uniform_(0.5, 1.5)
                norm.bias.uniform_(-0.5, 0.5)

    def forward(self, x):
        y = self.conv(x.transpose(1, 2))
        y = self.instance(self.per_channel(self.one_group(y)))
        y = F.group_norm(y * 2.0, 6, eps=1e-3)
        return self.out(y.transpose(1, 2))


class GroupNorm2d(nn.Module):
    """GroupNorm(1) and GroupNorm(per channel) on a [B, C, T, F] conv output."""
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.one_group = nn.GroupNorm(1, 4)
        self.per_channel = nn.GroupNorm(4, 4)
        self.out = nn.Linear(4 * 6, 3)

    def forward(self, x):
        y = self.per_channel(self.one_group(self.conv(x.unsqueeze(1))))
        b, c, t, f = y.shape
        return self.out(y.permute(0, 2, 1, 3).reshape(b, t, c * f))


class ReductionsOverTime(nn.Module):
    """Reductions over the dynamic time axis (masked by RETURNN): amax, amin, max.dim and min.dim
    values, mean, logsumexp, any/all of a comparison; then Linear."""
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 4)

    def forward(self, x):
        y = x.amax(dim=1) + x.max(dim=1).values + x.mean(dim=1) + x.amin(dim=1) * 0.5 + x.min(dim=1).values
        y = y + torch.logsumexp(x, dim=1) + (x > 1.0).any(dim=1).float() + (x > -1.0).all(dim=1).float()
        return self.lin(y)


class ReductionsOverFeatures(nn.Module):
    """Per-frame reductions over the features (amax, amin, logsumexp, any), stacked, then Linear."""
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 3)

    def forward(self, x):
        parts = [x.amax(dim=-1), x.amin(dim=2), torch.logsumexp(x, dim=2), (x > 1.0).any(dim=2).float()]
        return self.lin(torch.stack(parts, dim=-1))


class ReductionOverTwoAxes(nn.Module):
    """amin and sum over the time and the features together: one value per sequence."""
    def forward(self, x):
        return x.amin(dim=(1, 2)) + x.sum(dim=(1, 2)) * 0.01


class CumsumAndNorms(nn.Module):
    """cumsum along the time and along the features, then linalg_vector_norm (2 and 1) over the
    features, stacked per frame, then Linear."""
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 3)

    def forward(self, x):
        y = torch.cumsum(x, dim=1) * 0.1 + torch.cumsum(x, dim=-1)
        per_frame = [torch.linalg.vector_norm(y, dim=-1), torch.linalg.vector_norm(x, ord=1, dim=2)]  # [B, T]
        return self.lin(torch.stack(per_frame, dim=-1))


class NormsOverTime(nn.Module):
    """linalg_vector_norm over the dynamic time axis (ord 3 and 2) and over time and features."""
    def forward(self, x):
        return torch.linalg.vector_norm(x, ord=3, dim=1) + torch.linalg.vector_norm(x, dim=1)


class SoftmaxOverTime(nn.Module):
    """softmax and log_softmax over the dynamic time axis (masked by RETURNN), then Linear."""
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 3)

    def forward(self, x):
        return self.lin(F.log_softmax(x, dim=1) + F.softmax(x * 2.0, dim=1))


class SdpaAttention(nn.Module):
    """Self-attention with F.scaled_dot_product_attention (no mask), heads by view/transpose,
    once with the default scale and once with scale=0.2."""
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(8, 24)
        self.out = nn.Linear(8, 8)

    def forward(self, x):
        b, t, _ = x.shape
        q, k, v = (z.view(b, t, 2, 4).transpose(1, 2) for z in self.qkv(x).chunk(3, dim=-1))
        y = F.scaled_dot_product_attention(q, k, v) + F.scaled_dot_product_attention(q, k, v, scale=0.2)
        return self.out(y.transpose(1, 2).reshape(b, t, 8))


class LayerNormOverTwoAxes(nn.Module):
    """[B, T, F] -> [B, T, 2, 4] -> LayerNorm over the last two axes (with affine parameters, and
    F.layer_norm without) -> [B, T, 8] -> Linear."""
    def __init__(self):
        super().__init__()
        self.norm = nn.LayerNorm((2, 4))
        self.lin = nn.Linear(8, 3)
        with torch.no_grad():
            self.norm.weight.uniform_(0.5, 1.5)
            self.norm.bias.uniform_(-0.5, 0.5)

    def forward(self, x):
        b, t, _ = x.shape
        y = self.norm(x.view(b, t, 2, 4))
        y = F.layer_norm(y * 3.0, (2, 4), eps=1e-3)
        return self.lin(y.reshape(b, t, 8))


# ---- 2-D convolutions (issue 13): over (time, features) with a dynamic time axis ----
class Convs2dOverTime(nn.Module):
    """[B, T, 8] -> unsqueeze(1) -> conv2d padding="same" with an even kernel on the time (TF's SAME
    pads the odd frame after, as PyTorch does) -> depthwise conv2d (channel multiplier 2) dilated on the time -> grouped
    conv2d with stride 2 on the time and unequal padding -> aten.convolution dilated on the time ->
    conv_transpose2d
    with stride, padding and output_padding (back to T frames) -> [B, T, channels * features]."""
    def __init__(self):
        super().__init__()
        self.same = nn.Conv2d(1, 4, (2, 3), padding="same")
        self.depthwise = nn.Conv2d(4, 8, 3, padding=(2, 1), dilation=(2, 1), groups=4)
        self.grouped = nn.Conv2d(8, 6, (3, 3), stride=(2, 1), padding=(1, 0), groups=2)
        self.plain = nn.Conv2d(6, 6, 3)
        self.up = nn.ConvTranspose2d(6, 3, (4, 3), stride=(2, 2), padding=(1, 1), output_padding=(0, 1))

    def forward(self, x):
        y = torch.relu(self.same(x.unsqueeze(1)))  # [B, 4, T, 8]
        y = torch.tanh(self.depthwise(y))  # [B, 8, T, 8]
        y = self.grouped(y)  # [B, 6, ceil(T / 2), 6]
        y = torch.ops.aten.convolution(y, self.plain.weight, self.plain.bias, [1, 1], [2, 1], [2, 1], False, [0, 0], 1)
        y = self.up(torch.relu(y))  # [B, 3, 2 * ceil(T / 2), 12]
        return y.permute(0, 2, 1, 3).flatten(2)


class ConvTranspose2dImage(nn.Module):
    """conv_transpose2d on a fixed-size image (the batch dynamic): stride 3 > kernel 2 (gaps),
    no padding; a grouped one dilated on one axis; then a strided one with padding and
    output_padding on both axes."""
    def __init__(self):
        super().__init__()
        self.gaps = nn.ConvTranspose2d(1, 3, 2, stride=3)
        self.grouped = nn.ConvTranspose2d(3, 6, 2, dilation=(2, 1), groups=3)
        self.up = nn.ConvTranspose2d(6, 2, 3, stride=2, padding=1, output_padding=1, bias=False)

    def forward(self, x):
        return self.up(torch.tanh(self.grouped(torch.sigmoid(self.gaps(x))))).flatten(1)


# ---- 1-D max pools and pools with indices (issue 13): torch.export specialises a dynamic length
# under them, so the batch is the dynamic axis ----
class MaxPools1d(nn.Module):
    """[B, 4, 15]: max_pool1d with padding (-inf) and stride, with ceil_mode, with dilation; the
    values of max_pool1d_with_indices and of max_pool2d_with_indices (on a view as [B, 4, 3, 5])."""
    def __init__(self):
        super().__init__()
        self.outs = nn.ModuleList(nn.Linear(n, 6) for n in (4 * 8, 4 * 8, 4 * 11, 4 * 4, 4 * 4 * 5))

    def forward(self, x):
        y = torch.tanh(x)
        a = F.max_pool1d(y, 3, stride=2, padding=1)  # [B, 4, 8]
        b = F.max_pool1d(y, 2, ceil_mode=True)  # [B, 4, 8]
        c = F.max_pool1d(y, 3, stride=1, dilation=2)  # [B, 4, 11]
        d, _ = F.max_pool1d(y, 4, stride=3, return_indices=True)  # [B, 4, 4]
        e, _ = F.max_pool2d(y.view(-1, 4, 3, 5), (2, 3), stride=1, padding=(1, 1), return_indices=True)  # [B, 4, 4, 5]
        return sum(out(p.flatten(1)) for out, p in zip(self.outs, (a, b, c, d, e)))


# ---- 2-D pads (issue 13): over (time, features), each axis padded in turn ----
class Pads2dOverTime(nn.Module):
    """[B, T, 8] -> [B, 3, T, 8] by a conv2d, then 2-D reflect, replicate and constant pads (the
    time padded at both ends: on a padded batch each sequence's own end) and the named
    reflection_pad2d / replication_pad2d ops."""
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, (3, 1), padding=(1, 0))

    def forward(self, x):
        y = self.conv(x.unsqueeze(1))
        y = F.pad(y, (1, 2, 2, 1), mode="reflect")  # [B, 3, T + 3, 11]
        y = F.pad(torch.tanh(y), (2, 0, 1, 3), mode="replicate")  # [B, 3, T + 7, 13]
        y = F.pad(y, (1, 1, 0, 2), value=0.5)  # [B, 3, T + 9, 15]
        y = torch.ops.aten.reflection_pad2d(y, [0, 1, 1, 1])  # [B, 3, T + 11, 16]
        y = torch.ops.aten.replication_pad2d(torch.sigmoid(y), [1, 0, 2, 1])  # [B, 3, T + 14, 17]
        return y.permute(0, 2, 1, 3).flatten(2)


# ---- nearest upsampling in 2-D (issue 13) ----
class Upsample2dOverTime(nn.Module):
    """[B, T, 8] -> [B, 2, T, 8] -> nearest by (2, 3) (the time doubles) -> a conv2d that mixes
    neighbouring frames (so that a wrong source frame shows) -> nearest by (1, 2)."""
    def __init__(self):
        super().__init__()
        self.conv_in = nn.Conv2d(1, 2, 1)
        self.conv = nn.Conv2d(2, 2, 3, padding=1)

    def forward(self, x):
        y = F.interpolate(self.conv_in(x.unsqueeze(1)), scale_factor=(2, 3), mode="nearest")  # [B, 2, 2T, 24]
        y = F.interpolate(self.conv(y), scale_factor=(1, 2), mode="nearest")  # [B, 2, 2T, 48]
        return y.permute(0, 2, 1, 3).flatten(2)


class Upsample2dImage(nn.Module):
    """nearest upsampling of a fixed-size image to an output size (integer ratios 3 and 2)."""
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, padding=1)

    def forward(self, x):
        return F.interpolate(self.conv(x), size=(15, 8), mode="nearest").flatten(1)


# ---- bilinear upsampling (issue 13) ----
class Bilinear2dOverTime(nn.Module):
    """[B, T, 8] -> [B, 2, T, 8] -> bilinear by (2, 3) (align_corners=False; the time doubles) ->
    a conv2d -> bilinear by (3, 1)."""
    def __init__(self):
        super().__init__()
        self.conv_in = nn.Conv2d(1, 2, 1)
        self.conv = nn.Conv2d(2, 3, 3, padding=1)

    def forward(self, x):
        y = F.interpolate(self.conv_in(x.unsqueeze(1)), scale_factor=(2, 3), mode="bilinear")  # [B, 2, 2T, 24]
        y = F.interpolate(torch.tanh(self.conv(y)), scale_factor=(3, 1), mode="bilinear")  # [B, 3, 6T, 24]
        return y.permute(0, 2, 1, 3).flatten(2)


class Bilinear2dImage(nn.Module):
    """bilinear upsampling of a fixed-size image to an output size (integer ratios 2 and 4)."""
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, padding=1)

    def forward(self, x):
        return F.interpolate(self.conv(x), size=(10, 16), mode="bilinear").flatten(1)


class ResizeImageAnyRatio(nn.Module):
    """On static axes any ratio and align_corners=True (one linear map per axis): bilinear with
    align_corners=True (as UNets upsample), nearest and bilinear to non-integer output sizes, and
    1-D linear with align_corners=True, with a non-integer scale factor and by 2."""
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, padding=1)

    def forward(self, x):
        y = self.conv(x)  # [B, 3, 5, 4]
        a = F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=True)  # [B, 3, 10, 8]
        b = F.interpolate(torch.tanh(y), size=(7, 6), mode="nearest")
        c = F.interpolate(y, size=(8, 10), mode="bilinear")
        d = F.interpolate(y.flatten(2), size=11, mode="linear", align_corners=True)  # [B, 3, 11]
        e = F.interpolate(y.flatten(2), scale_factor=1.5, mode="linear")  # [B, 3, 30]
        f = F.interpolate(y.flatten(2), scale_factor=2, mode="linear")  # [B, 3, 40]: an integer factor on a static axis
        return torch.cat([a.flatten(1), b.flatten(1), c.flatten(1), d.flatten(1), e.flatten(1), f.flatten(1)], dim=1)
class BertEncoderBlock(nn.Module):
    """transformers' BertEncoder (2 layers, hidden 32, 2 heads, intermediate 64, eval mode, eager
    attention, no mask): its self-attention views the hidden states into heads with sizes taken
    from x.size() (x.view(*x.size()[:-1], heads, head_dim)) and back
    (context.view(*context.size()[:-2], all_head_size))."""
    def __init__(self):
        super().__init__()
        from transformers import BertConfig
        from transformers.models.bert.modeling_bert import BertEncoder
        config = BertConfig(hidden_size=32, num_attention_heads=2, intermediate_size=64, num_hidden_layers=2,
                            hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
        config._attn_implementation = "eager"
        self.encoder = BertEncoder(config)

    def forward(self, x):
        return self.encoder(x)[0]


def time_input(features):
    return lambda length: torch.randn(2, length, features)


def image_input(height, width):
    return lambda batch: torch.randn(batch, 1, height, width)


# name -> (model class, input maker(length), dynamic shapes maker(), the export's length, the
# other length, ops the export must show)
MODELS = {
    "mnist_cnn": (MnistCnn, image_input(28, 28), lambda: ({0: torch.export.Dim.DYNAMIC},), 2, 3,
                  {"aten.conv2d.default", "aten.max_pool2d.default", "aten.flatten.using_ints", "aten.linear.default",
                   "aten.log_softmax.int"}),
    "pools_2d": (Pools2d, image_input(13, 11), lambda: ({0: torch.export.Dim.DYNAMIC},), 2, 3,
                 {"aten.max_pool2d.default", "aten.avg_pool2d.default", "aten.adaptive_avg_pool2d.default",
                  "aten.adaptive_avg_pool1d.default"}),
    "group_norms": (GroupNorms, time_input(8), lambda: ({1: torch.export.Dim("time", min=4, max=256)},), 20, 33,
                    {"aten.group_norm.default", "aten.instance_norm.default"}),
    "group_norm_2d": (GroupNorm2d, time_input(6), lambda: ({1: torch.export.Dim("time", min=4, max=256)},), 20, 33,
                      {"aten.group_norm.default"}),
    "reductions_over_time": (ReductionsOverTime, time_input(8), lambda: ({1: torch.export.Dim("time", min=4, max=256)},),
                             20, 33, {"aten.amax.default", "aten.amin.default", "aten.max.dim", "aten.min.dim",
                                      "aten.logsumexp.default", "aten.any.dim", "aten.all.dim", "aten.mean.dim"}),
    "reductions_over_features": (ReductionsOverFeatures, time_input(8),
                                 lambda: ({1: torch.export.Dim("time", min=4, max=256)},), 20, 33,
                                 {"aten.amax.default", "aten.amin.default", "aten.logsumexp.default", "aten.any.dim"}),
    "reduction_over_two_axes": (ReductionOverTwoAxes, time_input(8),
                                lambda: ({1: torch.export.Dim("time", min=4, max=256)},), 20, 33,
                                {"aten.amin.default", "aten.sum.dim_IntList"}),
    "cumsum_and_norms": (CumsumAndNorms, time_input(8), lambda: ({1: torch.export.Dim("time", min=4, max=256)},), 20, 33,
                         {"aten.cumsum.default", "aten.linalg_vector_norm.default"}),
    "norms_over_time": (NormsOverTime, time_input(8), lambda: ({1: torch.export.Dim("time", min=4, max=256)},), 20, 33,
                        {"aten.linalg_vector_norm.default"}),
    "softmax_over_time": (SoftmaxOverTime, time_input(8), lambda: ({1: torch.export.Dim("time", min=4, max=256)},), 20, 33,
                          {"aten.log_softmax.int", "aten.softmax.int"}),
    "sdpa_attention": (SdpaAttention, time_input(8), lambda: ({1: torch.export.Dim("time", min=4, max=256)},), 20, 33,
                       {"aten.scaled_dot_product_attention.default"}),
    "layer_norm_over_two_axes": (LayerNormOverTwoAxes, time_input(8),
                                 lambda: ({1: torch.export.Dim("time", min=4, max=256)},), 20, 33,
                                 {"aten.layer_norm.default"}),
    # 2-D convolutions (issue 13)
    "convs_2d_over_time": (Convs2dOverTime, time_input(8), lambda: ({1: torch.export.Dim("time", min=4, max=256)},), 20, 33,
                           {"aten.conv2d.padding", "aten.conv2d.default", "aten.convolution.default",
                            "aten.conv_transpose2d.input"}),
    "conv_transpose_2d_image": (ConvTranspose2dImage, image_input(5, 4), lambda: ({0: torch.export.Dim.DYNAMIC},), 2, 3,
                                {"aten.conv_transpose2d.input"}),
    # 1-D max pools, pools with indices (issue 13)
    "max_pools_1d": (MaxPools1d, lambda batch: torch.randn(batch, 4, 15), lambda: ({0: torch.export.Dim.DYNAMIC},), 2, 3,
                     {"aten.max_pool1d.default", "aten.max_pool1d_with_indices.default",
                      "aten.max_pool2d_with_indices.default"}),
    # 2-D pads (issue 13)
    "pads_2d_over_time": (Pads2dOverTime, time_input(8), lambda: ({1: torch.export.Dim("time", min=4, max=256)},), 20, 33,
                          {"aten.pad.default", "aten.reflection_pad2d.default", "aten.replication_pad2d.default"}),
    # nearest upsampling in 2-D (issue 13)
    "upsample_2d_over_time": (Upsample2dOverTime, time_input(8), lambda: ({1: torch.export.Dim("time", min=4, max=256)},),
                              20, 33, {"aten.upsample_nearest2d.vec"}),
    "upsample_2d_image": (Upsample2dImage, image_input(5, 4), lambda: ({0: torch.export.Dim.DYNAMIC},), 2, 3,
                          {"aten.upsample_nearest2d.vec"}),
    # bilinear upsampling (issue 13)
    "bilinear_2d_over_time": (Bilinear2dOverTime, time_input(8), lambda: ({1: torch.export.Dim("time", min=4, max=256)},),
                              20, 33, {"aten.upsample_bilinear2d.vec"}),
    "bilinear_2d_image": (Bilinear2dImage, image_input(5, 4), lambda: ({0: torch.export.Dim.DYNAMIC},), 2, 3,
                          {"aten.upsample_bilinear2d.vec"}),
    "resize_image_any_ratio": (ResizeImageAnyRatio, image_input(5, 4), lambda: ({0: torch.export.Dim.DYNAMIC},), 2, 3,
                               {"aten.upsample_bilinear2d.vec", "aten.upsample_nearest2d.vec", "aten.upsample_linear1d.vec"}),
    # the axis map: views whose sizes come from x.size(), on a batch of 2 and of 1 (where the
    # batch's size is 1 like a new axis's, and stays the batch)
    "bert_encoder": (BertEncoderBlock, time_input(32), lambda: ({1: torch.export.Dim("time", min=4, max=256)},), 20, 33,
                     {"aten.view.default", "aten.transpose.int", "aten.matmul.default", "aten.softmax.int"}),
    "bert_encoder_batch_one": (BertEncoderBlock, lambda length: torch.randn(1, length, 32),
                               lambda: ({1: torch.export.Dim("time", min=4, max=256)},), 20, 33,
                               {"aten.view.default", "aten.transpose.int", "aten.matmul.default", "aten.softmax.int"}),
}


def export(name, path):
    cls, make_input, dynamic, length, _, _ = MODELS[name]
    torch.manual_seed(0)
    model = cls().eval()
    program = torch.export.export(model, (make_input(length),), dynamic_shapes=dynamic())
    torch.export.save(program, path)
    return model


# ---- encoders end to end (arange over the time, sdpa masks, derived dims after a conv front end) ----

def wav2vec2_model():
    """transformers' Wav2Vec2Model itself, small and random: a conv feature encoder with group norm,
    the positional conv embedding with weight norm, 2 transformer layers; [B, samples] -> its
    BaseModelOutput, which torch.export flattens to two outputs, last_hidden_state [B, T, 32] and
    extract_features [B, T, 16]. No wrapper: exported as users export it."""
    from transformers import Wav2Vec2Config, Wav2Vec2Model
    config = Wav2Vec2Config(conv_dim=(16, 16, 16), conv_kernel=(10, 3, 3), conv_stride=(5, 2, 2),
                            feat_extract_norm="group", num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
                            hidden_size=32, num_attention_heads=2, intermediate_size=64, num_hidden_layers=2,
                            hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, feat_proj_dropout=0.0,
                            layerdrop=0.0, mask_time_prob=0.0)
    return Wav2Vec2Model(config)


class ConformerBlock(nn.Module):
    """A Conformer block in plain PyTorch: half-step feed-forward, rotary self-attention written op
    by op (positions from torch.arange over the time, outer product with the inverse frequencies,
    sin/cos, the rotated halves by chunk and cat), a conv module (pointwise conv, GLU, depthwise
    conv1d, batch norm, SiLU, pointwise conv), a second half-step feed-forward, final layer norm."""
    def __init__(self, dim=16, heads=2, kernel=7):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.ff1 = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 2 * dim), nn.SiLU(), nn.Linear(2 * dim, dim))
        self.ff2 = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 2 * dim), nn.SiLU(), nn.Linear(2 * dim, dim))
        self.att_norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.att_out = nn.Linear(dim, dim)
        self.conv_norm = nn.LayerNorm(dim)
        self.pointwise1 = nn.Conv1d(dim, 2 * dim, 1)
        self.depthwise = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        self.batch_norm = nn.BatchNorm1d(dim)
        self.pointwise2 = nn.Conv1d(dim, dim, 1)
        self.final_norm = nn.LayerNorm(dim)
        self.register_buffer("inv_freq", 1.0 / (10000 ** (torch.arange(0, self.head_dim, 2).float() / self.head_dim)))
        with torch.no_grad():  # running statistics that are not the identity
            self.batch_norm.running_mean.uniform_(-0.5, 0.5)
            self.batch_norm.running_var.uniform_(0.5, 1.5)

    @staticmethod
    def rotate(x, cos, sin):
        """Each pair (first[i], second[i]) turned by angle i: the rotated halves, chunked and cat."""
        first, second = x.chunk(2, dim=-1)
        return torch.cat((first * cos - second * sin, first * sin + second * cos), dim=-1)

    def attention(self, x):
        b, t, d = x.shape
        q, k, v = (z.view(b, t, self.heads, self.head_dim).transpose(1, 2) for z in self.qkv(x).chunk(3, dim=-1))
        positions = torch.arange(x.shape[1], dtype=torch.float32)
        # The outer product [T, head_dim / 2]. (positions[:, None] * inv_freq, a size-1 axis broadcast
        # against a constant's, waits for the axis map's size-1 broadcasting.)
        angles = positions[:, None].expand(-1, self.inv_freq.shape[0]) * self.inv_freq
        cos, sin = angles.cos(), angles.sin()
        q, k = self.rotate(q, cos, sin), self.rotate(k, cos, sin)
        scores = torch.matmul(q, k.transpose(-2, -1)) / self.head_dim ** 0.5
        y = torch.matmul(torch.softmax(scores, dim=-1), v)
        return self.att_out(y.transpose(1, 2).reshape(b, t, d))

    def conv_module(self, x):
        y = self.pointwise1(self.conv_norm(x).transpose(1, 2))
        y = F.glu(y, dim=1)
        y = F.silu(self.batch_norm(self.depthwise(y)))
        return self.pointwise2(y).transpose(1, 2)

    def forward(self, x):
        x = x + 0.5 * self.ff1(x)
        x = x + self.attention(self.att_norm(x))
        x = x + self.conv_module(x)
        x = x + 0.5 * self.ff2(x)
        return self.final_norm(x)


def hubert_frames_model():
    """transformers' HubertModel itself, small and random, exported as its users export a waveform
    model whose convolutions' strides multiply to 20: the samples axis as 20 * Dim("frames"), so the
    program's input size is the expression 20*s (solved for s from the input's size when it runs).
    Its last_hidden_state alone (HubertModel returns one tensor in its BaseModelOutput)."""
    from transformers import HubertConfig, HubertModel
    config = HubertConfig(conv_dim=(16, 16, 16), conv_kernel=(10, 3, 3), conv_stride=(5, 2, 2),
                          num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, hidden_size=32,
                          num_attention_heads=2, intermediate_size=64, num_hidden_layers=2, hidden_dropout=0.0,
                          attention_dropout=0.0, activation_dropout=0.0, feat_proj_dropout=0.0, layerdrop=0.0,
                          mask_time_prob=0.0)
    return HubertModel(config)


def sew_model():
    """transformers' SEWModel, small and random, on 20 * Dim("frames") samples: its squeeze pools
    the frames by 2 and its positional conv strides by 2, giving lengths the export writes as
    ((s - 3)//2) + 1 and (s - 1)//2, which the residual add joins; equal for every s, so one time
    dim in RETURNN (core/lower/axes.c)."""
    from transformers import SEWConfig, SEWModel
    config = SEWConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                       conv_dim=(16, 16, 16), conv_stride=(5, 2, 2), conv_kernel=(10, 3, 3), squeeze_factor=2,
                       num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, hidden_dropout=0.0,
                       attention_dropout=0.0, activation_dropout=0.0, feat_proj_dropout=0.0, layerdrop=0.0,
                       mask_time_prob=0.0)
    return SEWModel(config)


class StyleMelGAN(nn.Module):
    """parallel_wavegan's StyleMelGANGenerator, its noise the 4-frame average of the first 32 mel
    channels (one input): the TADE blocks upsample the noise path and the mel separately to one
    length, 4*s in the export on both, so one time dim in RETURNN."""
    def __init__(self):
        super().__init__()
        import scipy.signal
        if not hasattr(scipy.signal, "kaiser"):  # parallel_wavegan 0.6.1 imports it from there
            scipy.signal.kaiser = scipy.signal.windows.kaiser
        from parallel_wavegan.models import StyleMelGANGenerator
        self.generator = StyleMelGANGenerator(in_channels=32, aux_channels=80, channels=32, out_channels=1,
                                              kernel_size=9, dilation=2, noise_upsample_scales=[2, 2],
                                              upsample_scales=[2, 2, 2, 1])
        self.generator.remove_weight_norm()

    def forward(self, mel):
        return self.generator(mel, F.avg_pool1d(mel[:, :32], 4))


class UnivNet(nn.Module):
    """transformers' UnivNetModel (a vocoder), small and random, its noise the first 8 mel channels
    (one input): its location-variable convolutions unfold the upsampled signal into one window of
    hop + 2 * pad samples per mel frame (RETURNN's window on the time: (4T + 2 - 6) / 4 + 1 frames)
    and those into the kernel's taps (gathers at constant positions on static axes), then an einsum
    with the kernels its kernel predictor makes per mel frame: the windows' frames and the mel's
    frames, one length reached along two paths, are one time dim; each kernel, a full slice of
    the predictor's view read by one block, is fed its PyTorch value in the check."""
    def __init__(self):
        super().__init__()
        from transformers import UnivNetConfig, UnivNetModel
        config = UnivNetConfig(model_in_channels=8, model_hidden_channels=8, num_mel_bins=16, resblock_kernel_sizes=[3],
                               resblock_stride_sizes=[4], resblock_dilation_sizes=[[1, 3]],
                               kernel_predictor_hidden_channels=8, kernel_predictor_num_blocks=1)
        self.model = UnivNetModel(config)

    def forward(self, mel):
        return self.model(mel, noise_sequence=mel[..., :8]).waveforms


def resnet_model():
    """transformers' ResNetModel, small and random (basic blocks, one per stage): each stage's
    first block adds its stride-2 3x3 conv branch to a stride-2 1x1 conv shortcut, two static
    heights of one size made by two layers, which RETURNN adds as one dim (allow_same_spatial_dim;
    core/returnn/layers_elementwise.c); the width is the dynamic axis, 32 * Dim. Its
    last_hidden_state and pooler_output."""
    from transformers import ResNetConfig, ResNetModel
    config = ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 16, 16, 32], depths=[1, 1, 1, 1],
                          layer_type="basic")
    return ResNetModel(config)


def convnext_model():
    """transformers' ConvNextModel, small and random: patchify conv, depthwise 7x7 convs, channels
    last layer norms and linears, layer scale, residual adds of each block (height fixed at 32,
    the width 32 * Dim). Its last_hidden_state and pooler_output."""
    from transformers import ConvNextConfig, ConvNextModel
    config = ConvNextConfig(num_channels=3, hidden_sizes=[8, 16, 16, 32], depths=[1, 1, 1, 1], drop_path_rate=0.0)
    return ConvNextModel(config)


def regnet_model():
    """transformers' RegNetModel (Y blocks), small and random: grouped 3x3 convs and a
    squeeze-and-excitation in each block, a global average pool to [B, C, 1, 1], two 1x1 convs
    over those size-1 axes and the gate times the features [B, C, H, W]: PyTorch broadcasts the
    gate's size-1 axes, which RETURNN's combine would keep beside H and W (the gate drops them,
    a squeeze: core/lower/lower_operands.c), and a 1x1 conv over a static axis keeps that axis's
    dim in RETURNN (calc_out_dim), which the interpreter must do too for the next conv to name it."""
    from transformers import RegNetConfig, RegNetModel
    config = RegNetConfig(embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1], groups_width=8, layer_type="y")
    return RegNetModel(config)


def image_of_width(length):
    return torch.randn(1, 3, 32, length)


def samples_input(length):
    return torch.randn(2, length)


# The program's output names (from its output spec), for models with several outputs.
OUTPUT_NAMES = {"wav2vec2": ["last_hidden_state", "extract_features"]}
# The time axis's sizes are multiples of this (the export's 20 * Dim), for the padded batch's lengths.
LENGTH_MULTIPLES = {"hubert_frames": 20, "sew": 20, "style_melgan": 4, "resnet": 32, "convnext": 32, "regnet": 32}

MODELS.update({
    "wav2vec2": (wav2vec2_model, samples_input, lambda: ({1: torch.export.Dim.DYNAMIC},), 1600, 2213,
                 {"aten.arange.default", "aten.scaled_dot_product_attention.default", "aten.group_norm.default",
                  "aten._weight_norm.default", "aten.conv1d.default", "aten.expand.default"}),
    "hubert_frames": (hubert_frames_model, samples_input,
                      lambda: ({1: 20 * torch.export.Dim("frames", min=40, max=400)},), 1600, 2200,
                      {"aten.scaled_dot_product_attention.default", "aten.group_norm.default",
                       "aten._weight_norm.default", "aten.conv1d.default"}),
    "sew": (sew_model, samples_input, lambda: ({1: 20 * torch.export.Dim("frames", min=8, max=400)},), 1600, 2200,
            {"aten.avg_pool1d.default", "aten.conv1d.default", "aten.add.Tensor"}),
    "style_melgan": (StyleMelGAN, lambda length: torch.randn(1, 80, length),
                     lambda: ({2: 4 * torch.export.Dim("frames", min=4, max=100)},), 40, 56,
                     {"aten.upsample_nearest1d.vec", "aten.conv1d.default", "aten.softmax.int"}),
    "univnet": (UnivNet, lambda length: torch.randn(1, length, 16), lambda: ({1: torch.export.Dim("frames", min=4, max=256)},),
                20, 33, {"aten.unfold.default", "aten.einsum.default", "aten.conv_transpose1d.default"}),
    "resnet": (resnet_model, image_of_width, lambda: ({3: 32 * torch.export.Dim("w", min=2, max=20)},), 128, 96,
               {"aten.conv2d.default", "aten.max_pool2d.default", "aten.add_.Tensor", "aten.adaptive_avg_pool2d.default"}),
    "convnext": (convnext_model, image_of_width, lambda: ({3: 32 * torch.export.Dim("w", min=2, max=20)},), 128, 96,
                 {"aten.conv2d.default", "aten.layer_norm.default", "aten.permute.default", "aten.add.Tensor"}),
    "regnet": (regnet_model, image_of_width, lambda: ({3: 32 * torch.export.Dim("w", min=2, max=20)},), 128, 96,
               {"aten.conv2d.default", "aten.adaptive_avg_pool2d.default", "aten.sigmoid.default", "aten.mul.Tensor"}),
    "conformer_block": (ConformerBlock, time_input(16), lambda: ({1: torch.export.Dim.DYNAMIC},), 20, 33,
                        {"aten.arange.default", "aten.sin.default", "aten.cos.default",
                         "aten.glu.default", "aten.conv1d.default", "aten.layer_norm.default"}),
})
