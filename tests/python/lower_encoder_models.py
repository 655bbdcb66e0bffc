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
