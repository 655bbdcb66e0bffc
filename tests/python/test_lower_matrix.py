"""The lowering's op-by-op matrix for elementwise math, comparisons, selection and casts: for each
op a small model with a dynamic time axis (input [batch, 8 channels, time]) is exported (all in
this one PyTorch process), converted by the native CLI (every per-layer check must pass, and the
layers must be the RETURNN classes docs/ops.md gives for the op), then run in real RETURNN with
both configs at two lengths and on a padded batch (three lengths with their sequence lengths; each
sequence against PyTorch on it alone) (all runs in one RETURNN process) and compared with PyTorch."""
import json
import os
import re
import subprocess

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from conftest import (ROOT, check_padded_outputs, check_returnn_outputs, interpreter_padded_figure, padded_batch_jobs,
                      record_padded_figures, run_returnn_jobs)

# The installed package (setup.sh installs this tree's python/ into .venv, with its binding): putting
# python/ on sys.path here would shadow it for every later test of the process.
import pt2returnn.ops  # noqa: E402,F401  (registers pt2returnn::max_pool1d, which keeps the time dynamic)

CHANNELS = 8


class Case(nn.Module):
    """forward(x) = fn(self, x); a conv gives a second layer where an op needs two."""

    def __init__(self, fn, buffers=None, prelu=None):
        super().__init__()
        self.fn = fn
        self.conv = nn.Conv1d(CHANNELS, CHANNELS, 1)
        for name, value in (buffers or {}).items():
            self.register_buffer(name, value)
        self.prelu = prelu

    def forward(self, x):
        return self.fn(self, x)


def per_channel(low, high):
    return torch.linspace(low, high, CHANNELS).reshape(CHANNELS, 1)


def attention(m, x, **options):
    """Two heads of 4 over [batch, channels, time]: queries and values from x, keys from the conv."""
    b, c, t = x.shape
    heads = lambda y: y.transpose(1, 2).reshape(b, t, 2, c // 2).transpose(1, 2)
    y = F.scaled_dot_product_attention(heads(x), heads(m.conv(x)), heads(x), **options)
    return y.transpose(1, 2).reshape(b, t, c).transpose(1, 2)


# (name, ops the exported graph must contain, model); the weights are the same in every run
torch.manual_seed(0)
CASES = [
    # elementwise arithmetic
    ("clamp", ["aten.clamp.default"], Case(lambda m, x: torch.clamp(x, -0.5, 0.7))),
    ("clamp_min_only", ["aten.clamp.default"], Case(lambda m, x: torch.clamp(x, min=-0.2))),
    ("clamp_min", ["aten.clamp_min.default"], Case(lambda m, x: torch.clamp_min(x, -0.2))),
    ("clamp_max", ["aten.clamp_max.default"], Case(lambda m, x: torch.clamp_max(x, 0.3))),
    ("clip", ["aten.clip.default"], Case(lambda m, x: x.clip(-1.0, 0.25))),
    ("clamp_tensor", ["aten.clamp.Tensor"],
     Case(lambda m, x: torch.clamp(x, min=m.low, max=m.high), {"low": per_channel(-1, -0.1), "high": per_channel(0.1, 1)})),
    ("clamp_min_tensor", ["aten.clamp_min.Tensor"], Case(lambda m, x: torch.clamp_min(x, m.conv(x)))),
    ("clamp_max_tensor", ["aten.clamp_max.Tensor"], Case(lambda m, x: torch.clamp_max(x, m.high), {"high": per_channel(-0.5, 1)})),
    ("hardtanh", ["aten.hardtanh.default"], Case(lambda m, x: F.hardtanh(x, -0.5, 0.6))),
    ("relu6", ["aten.relu6.default"], Case(lambda m, x: F.relu6(4 * x))),
    ("pow_scalar", ["aten.pow.Tensor_Scalar"], Case(lambda m, x: (x.abs() + 0.1).pow(1.5))),
    ("pow_square", ["aten.pow.Tensor_Scalar"], Case(lambda m, x: x.pow(2))),
    ("pow_tensor", ["aten.pow.Tensor_Tensor"], Case(lambda m, x: (x.abs() + 0.1).pow(torch.sigmoid(m.conv(x))))),
    ("pow_constant_exponent", ["aten.pow.Tensor_Tensor"], Case(lambda m, x: (x.abs() + 0.1).pow(m.e), {"e": per_channel(0.5, 2)})),
    ("pow_base", ["aten.pow.Scalar"], Case(lambda m, x: torch.pow(2.0, x))),
    ("reciprocal", ["aten.reciprocal.default"], Case(lambda m, x: torch.reciprocal(x.abs() + 0.5))),
    ("sign", ["aten.sign.default"], Case(lambda m, x: torch.sign(x))),
    ("floor", ["aten.floor.default"], Case(lambda m, x: torch.floor(3 * x))),
    ("ceil", ["aten.ceil.default"], Case(lambda m, x: torch.ceil(3 * x))),
    ("round", ["aten.round.default"], Case(lambda m, x: torch.round(3 * x))),
    ("trunc", ["aten.trunc.default"], Case(lambda m, x: torch.trunc(3 * x))),
    ("remainder_scalar", ["aten.remainder.Scalar"], Case(lambda m, x: torch.remainder(3 * x, 0.7))),
    ("remainder_tensor", ["aten.remainder.Tensor"], Case(lambda m, x: torch.remainder(3 * x, torch.sigmoid(m.conv(x)) + 0.5))),
    ("fmod_scalar", ["aten.fmod.Scalar"], Case(lambda m, x: torch.fmod(3 * x, 0.7))),
    ("fmod_tensor", ["aten.fmod.Tensor"], Case(lambda m, x: torch.fmod(3 * x, torch.sigmoid(m.conv(x)) + 0.5))),
    ("floor_divide", ["aten.floor_divide.default"], Case(lambda m, x: torch.floor_divide(3 * x, torch.sigmoid(m.conv(x)) + 0.5))),
    ("div_floor", ["aten.div.Tensor_mode"], Case(lambda m, x: torch.div(3 * x, torch.sigmoid(m.conv(x)) + 0.5, rounding_mode="floor"))),
    ("rsub_scalar", ["aten.rsub.Scalar"], Case(lambda m, x: torch.rsub(x, 1.5))),
    ("rsub_tensor", ["aten.rsub.Tensor"], Case(lambda m, x: torch.rsub(x, m.conv(x)))),
    ("square", ["aten.square.default"], Case(lambda m, x: torch.square(x))),
    # trigonometric and other functions
    ("sin", ["aten.sin.default"], Case(lambda m, x: torch.sin(3 * x))),
    ("cos", ["aten.cos.default"], Case(lambda m, x: torch.cos(3 * x))),
    ("tan", ["aten.tan.default"], Case(lambda m, x: torch.tan(torch.tanh(x)))),
    ("asin", ["aten.asin.default"], Case(lambda m, x: torch.asin(0.9 * torch.tanh(x)))),
    ("acos", ["aten.acos.default"], Case(lambda m, x: torch.acos(0.9 * torch.tanh(x)))),
    ("atan", ["aten.atan.default"], Case(lambda m, x: torch.atan(3 * x))),
    ("sinh", ["aten.sinh.default"], Case(lambda m, x: torch.sinh(x))),
    ("cosh", ["aten.cosh.default"], Case(lambda m, x: torch.cosh(x))),
    ("log10", ["aten.log10.default"], Case(lambda m, x: torch.log10(x.abs() + 0.1))),
    ("log2", ["aten.log2.default"], Case(lambda m, x: torch.log2(x.abs() + 0.1))),
    ("log1p", ["aten.log1p.default"], Case(lambda m, x: torch.log1p(x.abs()))),
    ("expm1", ["aten.expm1.default"], Case(lambda m, x: torch.expm1(x))),
    # activations
    ("erf", ["aten.erf.default"], Case(lambda m, x: torch.erf(x))),
    ("softplus", ["aten.softplus.default"], Case(lambda m, x: F.softplus(4 * x))),
    ("mish", ["aten.mish.default"], Case(lambda m, x: F.mish(2 * x))),
    ("elu", ["aten.elu.default"], Case(lambda m, x: F.elu(2 * x))),
    ("elu_alpha", ["aten.elu.default"], Case(lambda m, x: F.elu(2 * x, alpha=0.4))),
    ("selu", ["aten.selu.default"], Case(lambda m, x: F.selu(2 * x))),
    ("celu", ["aten.celu.default"], Case(lambda m, x: F.celu(2 * x))),
    ("celu_alpha", ["aten.celu.default"], Case(lambda m, x: F.celu(2 * x, alpha=0.6))),
    ("prelu", ["aten.prelu.default"], Case(lambda m, x: m.prelu(x), prelu=nn.PReLU(init=0.3))),
    ("prelu_per_channel", ["aten.prelu.default"],
     Case(lambda m, x: m.prelu(x), prelu=nn.PReLU(CHANNELS, init=0.3))),
    ("hardswish", ["aten.hardswish.default"], Case(lambda m, x: F.hardswish(4 * x))),
    ("hardsigmoid", ["aten.hardsigmoid.default"], Case(lambda m, x: F.hardsigmoid(4 * x))),
    ("log_sigmoid", ["aten.log_sigmoid.default"], Case(lambda m, x: F.logsigmoid(2 * x))),
    ("glu", ["aten.glu.default"], Case(lambda m, x: F.glu(m.conv(x), dim=1))),
    # comparisons (as where, so that the output is float)
    ("eq", ["aten.eq.Scalar"], Case(lambda m, x: torch.where(torch.round(2 * x) == 1.0, x, -x))),
    ("ne", ["aten.ne.Scalar"], Case(lambda m, x: torch.where(torch.round(2 * x) != 0.0, x, -x))),
    ("lt", ["aten.lt.Scalar"], Case(lambda m, x: torch.where(x < 0.2, x, -x))),
    ("le", ["aten.le.Scalar"], Case(lambda m, x: torch.where(x <= 0.2, x, -x))),
    ("gt", ["aten.gt.Scalar"], Case(lambda m, x: torch.where(x > 0.2, x, -x))),
    ("ge", ["aten.ge.Scalar"], Case(lambda m, x: torch.where(x >= 0.2, x, -x))),
    ("gt_tensor", ["aten.gt.Tensor"], Case(lambda m, x: torch.where(x > m.conv(x), x, -x))),
    ("lt_constant", ["aten.lt.Tensor"], Case(lambda m, x: torch.where(x < m.t, x, -x), {"t": per_channel(-0.5, 0.5)})),
    ("eq_tensor", ["aten.eq.Tensor"], Case(lambda m, x: torch.where(torch.round(x) == torch.round(m.conv(x)), x, -x))),
    ("ge_tensor", ["aten.ge.Tensor"], Case(lambda m, x: torch.where(x >= m.conv(x), x, -x))),
    # logical and bitwise ops on bools
    ("logical_and", ["aten.logical_and.default"], Case(lambda m, x: torch.where(torch.logical_and(x > -0.5, x < 0.5), x, -x))),
    ("logical_or", ["aten.logical_or.default"], Case(lambda m, x: torch.where(torch.logical_or(x < -0.5, x > 0.5), x, -x))),
    ("logical_xor", ["aten.logical_xor.default"], Case(lambda m, x: torch.where(torch.logical_xor(x > 0, m.conv(x) > 0), x, -x))),
    ("logical_not", ["aten.logical_not.default"], Case(lambda m, x: torch.where(torch.logical_not(x > 0.1), x, -x))),
    ("bitwise_and", ["aten.bitwise_and.Tensor"], Case(lambda m, x: torch.where(torch.bitwise_and(x > -0.5, x < 0.5), x, -x))),
    ("bitwise_or", ["aten.bitwise_or.Tensor"], Case(lambda m, x: torch.where(torch.bitwise_or(x < -0.5, x > 0.5), x, -x))),
    ("bitwise_xor", ["aten.bitwise_xor.Tensor"], Case(lambda m, x: torch.where(torch.bitwise_xor(x > 0, m.conv(x) > 0), x, -x))),
    ("and_operator", ["aten.__and__.Tensor"], Case(lambda m, x: torch.where((x > -0.5) & (x < 0.5), x, -x))),
    ("or_operator", ["aten.__or__.Tensor"], Case(lambda m, x: torch.where((x < -0.5) | (x > 0.5), x, -x))),
    ("xor_operator", ["aten.__xor__.Tensor"], Case(lambda m, x: torch.where((x > 0) ^ (m.conv(x) > 0), x, -x))),
    ("bitwise_not", ["aten.bitwise_not.default"], Case(lambda m, x: torch.where(~(x > 0.1), x, -x))),
    # selection
    ("where", ["aten.where.self"], Case(lambda m, x: torch.where(x > 0, x, m.conv(x)))),
    ("where_scalar_other", ["aten.where.ScalarOther"], Case(lambda m, x: torch.where(x > 0, x, 0.25))),
    ("where_scalar_self", ["aten.where.ScalarSelf"], Case(lambda m, x: torch.where(x > 0, -0.75, x))),
    ("where_constant", ["aten.where.self"], Case(lambda m, x: torch.where(x > 0, x, m.c), {"c": per_channel(-1, 1)})),
    ("masked_fill", ["aten.masked_fill.Scalar"], Case(lambda m, x: x.masked_fill(x < 0, 0.25))),
    ("masked_fill_tensor", ["aten.masked_fill.Tensor"], Case(lambda m, x: x.masked_fill(m.conv(x) > x, m.v), {"v": torch.tensor(-0.5)})),
    # dtype casts
    ("cast_bool_float", ["aten.to.dtype"], Case(lambda m, x: (x > 0.1).float() * x)),
    ("cast_int", ["aten.to.dtype"], Case(lambda m, x: (3 * x).to(torch.int64).float())),
    ("type_as", ["aten.type_as.default"], Case(lambda m, x: (x > 0).type_as(x) + x)),
    # cosine similarity over channels: [batch, time]
    ("cosine_similarity", ["aten.cosine_similarity.default"], Case(lambda m, x: F.cosine_similarity(x, m.conv(x), dim=1))),
    # gather branch: flip, argmax/argmin, var/std, indexing with tensors, einsum
    ("flip_time", ["aten.flip.default"], Case(lambda m, x: torch.flip(m.conv(x), [2]))),
    ("flip_channels", ["aten.flip.default"], Case(lambda m, x: torch.flip(x, [1]))),
    ("flip_both", ["aten.flip.default"], Case(lambda m, x: torch.flip(x, [-1, 1]) + x)),
    ("argmax_channels", ["aten.argmax.default"], Case(lambda m, x: torch.argmax(x, dim=1))),
    ("argmin_time", ["aten.argmin.default"], Case(lambda m, x: torch.argmin(x, 2))),
    ("argmax_as_float", ["aten.argmax.default"], Case(lambda m, x: torch.argmax(x, dim=1).float() * x[:, 0])),
    ("var_channels", ["aten.var.dim"], Case(lambda m, x: torch.var(x, dim=1))),
    ("var_time", ["aten.var.dim"], Case(lambda m, x: torch.var(m.conv(x), dim=2))),
    ("std_time_channels", ["aten.std.correction"], Case(lambda m, x: torch.std(x, dim=(1, 2), correction=0))),
    ("var_mean_time", ["aten.var_mean.correction"],
     Case(lambda m, x: torch.stack(torch.var_mean(x, dim=-1, correction=2), -1))),
    ("std_mean_channels", ["aten.std_mean.dim"], Case(lambda m, x: torch.std_mean(x, dim=1)[0] * torch.std_mean(x, dim=1)[1])),
    ("std_unbiased_false", ["aten.std.dim"], Case(lambda m, x: x.std(2, unbiased=False))),
    ("index_select_channels", ["aten.index_select.default"],
     Case(lambda m, x: torch.index_select(x, 1, m.idx), {"idx": torch.tensor([5, 0, 2, 2])})),
    ("index_select_time", ["aten.index_select.default"],
     Case(lambda m, x: torch.index_select(m.conv(x), 2, m.idx), {"idx": torch.tensor([3, 0, 1])})),
    ("index_constant", ["aten.index.Tensor"], Case(lambda m, x: x[:, m.idx], {"idx": torch.tensor([[1, -1, 2], [0, 3, 7]])})),
    ("gather_channels", ["aten.gather.default"], Case(lambda m, x: torch.gather(x, 1, (m.conv(x) > 0).long()))),
    ("einsum_constant_weight", ["aten.einsum.default"],
     Case(lambda m, x: torch.einsum("bct,cg->bgt", x, m.w), {"w": torch.randn(8, 5) * 0.3})),
    ("einsum_gram_over_time", ["aten.einsum.default"],
     Case(lambda m, x: torch.einsum("bct,bdt->bcd", x, torch.einsum("bct,cg->bgt", x, m.w)), {"w": torch.randn(8, 5) * 0.3})),
    ("einsum_attention", ["aten.einsum.default"],
     Case(lambda m, x: torch.einsum("bts,bcs->bct", F.softmax(torch.einsum("bct,bcs->bts", x, m.conv(x)), -1), x))),
    ("einsum_ellipsis_vector", ["aten.einsum.default"],
     Case(lambda m, x: torch.einsum("...c,c->...", x.transpose(1, 2), m.w), {"w": torch.randn(8) * 0.3})),
    ("einsum_implicit", ["aten.einsum.default"], Case(lambda m, x: torch.einsum("bct,cd", x, m.w), {"w": torch.randn(8, 3) * 0.3})),
    ("einsum_one_operand", ["aten.einsum.default"],
     Case(lambda m, x: torch.einsum("bct->bt", x) + torch.einsum("bct->btc", x).sum(-1))),
    ("prod_channels", ["aten.prod.dim_int"], Case(lambda m, x: torch.prod(1 + 0.2 * x, 1))),
    ("prod_time", ["aten.prod.dim_int"], Case(lambda m, x: torch.prod(1 + 0.05 * m.conv(x), dim=-1))),
    ("prod_static_not_feature", ["aten.prod.dim_int"], Case(lambda m, x: torch.prod(1 + 0.2 * x.view(2, 2, 4, -1), 1))),
    # ---- creation ops on the input's dims, attention masks (encoders) ----
    ("arange_time_float", ["aten.arange.default"], Case(lambda m, x: x + torch.arange(x.shape[2], dtype=torch.float32) * 0.1)),
    ("arange_time_int", ["aten.arange.default"], Case(lambda m, x: torch.where(torch.arange(x.shape[-1]) >= 3, x, -x))),
    ("arange_start", ["aten.arange.start"], Case(lambda m, x: torch.where(torch.arange(1, x.shape[2] + 1) % 3 == 0, x, -x))),
    ("arange_start_step", ["aten.arange.start_step"],
     Case(lambda m, x: x * torch.arange(2, 2 * x.shape[2] + 2, 2, dtype=torch.float32) * 0.05)),
    ("ones_like", ["aten.ones_like.default"], Case(lambda m, x: m.conv(x) - torch.ones_like(x) * 0.5)),
    ("zeros_like", ["aten.zeros_like.default"], Case(lambda m, x: torch.where(x > 0, x, torch.zeros_like(x)))),
    ("full_like", ["aten.full_like.default"], Case(lambda m, x: x * torch.full_like(m.conv(x), 1.5))),
    ("sdpa_bool_mask", ["aten.scaled_dot_product_attention.default"],
     Case(lambda m, x: attention(m, x, attn_mask=(x[:, 0] > -1.0)[:, None, None, :]))),
    ("sdpa_float_mask", ["aten.scaled_dot_product_attention.default"],
     Case(lambda m, x: attention(m, x, attn_mask=(x[:, 0] * 0.5)[:, None, None, :]))),
    ("sdpa_causal", ["aten.scaled_dot_product_attention.default"], Case(lambda m, x: attention(m, x, is_causal=True))),
    # 1-D nearest upsampling over the time (issue 13): T * factor frames
    ("upsample_nearest1d", ["aten.upsample_nearest1d.vec"], Case(lambda m, x: F.interpolate(m.conv(x), scale_factor=3, mode="nearest"))),
    ("upsample_nearest1d_module", ["aten.upsample_nearest1d.vec"], Case(lambda m, x: nn.Upsample(scale_factor=2)(torch.tanh(x)) * 2)),
    # 1-D linear upsampling over the time (align_corners=False: half-pixel centres, the ends repeated)
    ("upsample_linear1d", ["aten.upsample_linear1d.vec"], Case(lambda m, x: F.interpolate(m.conv(x), scale_factor=2, mode="linear"))),
    ("upsample_linear1d_x3", ["aten.upsample_linear1d.vec"], Case(lambda m, x: torch.tanh(F.interpolate(x, scale_factor=3, mode="linear")))),
    # max_pool1d over the time (pt2returnn::max_pool1d, as pt2returnn.export writes F.max_pool1d):
    # padded with -inf, and on a padded batch masked with -inf after each sequence's end
    ("max_pool1d_time_padded", ["pt2returnn.max_pool1d.default"],
     Case(lambda m, x: torch.ops.pt2returnn.max_pool1d(m.conv(x) - 3, [3], [2], [1], [1], False))),
    ("max_pool1d_time_dilated", ["pt2returnn.max_pool1d.default"],
     Case(lambda m, x: torch.ops.pt2returnn.max_pool1d(torch.tanh(x), [2], [1], [1], [3], False))),
    # transposed 1-D convs with groups and dilation (the plain filter they equal)
    ("conv_transpose1d_groups_dilation", ["aten.conv_transpose1d.default"],
     Case(lambda m, x: F.conv_transpose1d(m.conv(x), m.w, m.b, stride=2, padding=1, groups=2, dilation=2),
          {"w": torch.randn(CHANNELS, 3, 3) * 0.3, "b": torch.randn(6)})),
    ("conv_transpose1d_depthwise", ["aten.conv_transpose1d.default"],
     Case(lambda m, x: F.conv_transpose1d(torch.tanh(x), m.w, stride=3, groups=CHANNELS, dilation=3),
          {"w": torch.randn(CHANNELS, 1, 2)})),
    # avg_pool1d over the time through the same pool lowering (overlapping windows)
    ("avg_pool1d_overlapping", ["aten.avg_pool1d.default"], Case(lambda m, x: F.avg_pool1d(m.conv(x), 2, stride=1))),
    # the functional _copy variants lower as their views; concat as cat; copies and dropout
    # variants in eval mode are the identity (the ops that add no layer are listed by the op
    # consuming them: the case fails if they do not lower)
    ("view_copy", ["aten.view_copy.default"], Case(lambda m, x: torch.view_copy(x, (x.shape[0], 2, 4, x.shape[2])).sum(1))),
    ("permute_copy", ["aten.softmax.int"], Case(lambda m, x: torch.permute_copy(x, (0, 2, 1)).softmax(-1).transpose(1, 2))),
    ("transpose_copy", ["aten.softmax.int"], Case(lambda m, x: torch.transpose_copy(x, 1, 2).softmax(1).transpose(1, 2))),
    ("unsqueeze_squeeze_copy", ["aten.mul.Tensor"],
     Case(lambda m, x: torch.squeeze_copy(torch.unsqueeze_copy(x, 1) * 2, 1))),
    ("slice_copy_time", ["aten.slice_copy.Tensor"], Case(lambda m, x: torch.slice_copy(m.conv(x), 2, 1, None, 2))),
    ("select_copy", ["aten.select_copy.int"], Case(lambda m, x: torch.select_copy(x, 1, 3))),
    ("expand_copy", ["aten.expand_copy.default"], Case(lambda m, x: x + torch.expand_copy(x[:, :1], (-1, CHANNELS, -1)))),
    ("split_copy", ["aten.split_copy.Tensor"], Case(lambda m, x: torch.split_copy(x, 4, 1)[0] * torch.split_copy(x, 4, 1)[1])),
    ("split_with_sizes_copy", ["aten.split_with_sizes_copy.default"],
     Case(lambda m, x: torch.split_with_sizes_copy(x, [3, 5], 1)[1].sum(1))),
    ("unbind_copy", ["aten.unbind_copy.int"], Case(lambda m, x: torch.unbind_copy(x, 1)[2] * 2)),
    ("concat_channels", ["aten.concat.default"], Case(lambda m, x: torch.concat([x, m.conv(x)], 1))),
    ("alpha_dropout_eval", ["aten.conv1d.default"], Case(lambda m, x: torch.alpha_dropout(m.conv(x), 0.2, False))),
    ("feature_dropout_eval", ["aten.conv1d.default"], Case(lambda m, x: torch.feature_dropout(m.conv(x), 0.2, False))),
    ("addmm_linear", ["aten.addmm.default"],
     Case(lambda m, x: torch.addmm(m.b, x.mean(2), m.w), {"w": torch.randn(CHANNELS, 5) * 0.3, "b": torch.randn(5)})),
    ("alias_detach_copy", ["aten.add.Tensor"],
     Case(lambda m, x: torch.alias_copy(m.conv(x)) + torch.detach_copy(x))),
    # ---- ops13: creation ops of new sizes made of the input's sizes (a scalar constant layer,
    # every axis broadcast): the batch, the time, a derived T*2, a static size; int64; fill ----
    ("zeros_batch_time", ["aten.zeros.default"], Case(lambda m, x: torch.where(x > 0, x, torch.zeros(x.shape[0], CHANNELS, x.shape[2])))),
    ("ones_time", ["aten.ones.default"], Case(lambda m, x: x * torch.ones(x.shape[2]) * 0.5)),
    ("full_time", ["aten.full.default"], Case(lambda m, x: x + torch.full((x.shape[2],), 0.5))),
    ("full_derived_time", ["aten.full.default"],
     Case(lambda m, x: F.interpolate(x, scale_factor=2) * torch.full((x.shape[0], 1, x.shape[2] * 2), 1.5))),
    ("new_zeros", ["aten.new_zeros.default"], Case(lambda m, x: m.conv(x) + x.new_zeros(x.shape))),
    ("new_ones", ["aten.new_ones.default"], Case(lambda m, x: x * x.new_ones(x.shape[2]) * 2)),
    ("new_full", ["aten.new_full.default"], Case(lambda m, x: x - x.new_full((x.shape[0], 1, x.shape[2]), 0.25))),
    ("ones_int64", ["aten.ones.default"], Case(lambda m, x: ((x > 0).long() + torch.ones(x.shape[2], dtype=torch.long)).float())),
    ("fill_scalar", ["aten.fill.Scalar"], Case(lambda m, x: x * torch.ops.aten.fill.Scalar(m.conv(x), 0.3))),
    ("fill_tensor", ["aten.fill.Tensor"], Case(lambda m, x: x * torch.ops.aten.fill.Tensor(m.conv(x), m.v), {"v": torch.tensor(-0.4)})),
    # ---- ops13: where with two numbers (switch; int64 through int32 and a cast), bitwise ops with a number ----
    ("where_two_floats", ["aten.where.Scalar"], Case(lambda m, x: torch.where(x > 0, 1.0, -0.5) * m.conv(x))),
    ("where_two_ints", ["aten.where.Scalar"], Case(lambda m, x: torch.where(x > 0.3, 2, -1).float() * x)),
    ("bitwise_and_number", ["aten.bitwise_and.Scalar"], Case(lambda m, x: torch.bitwise_and((3 * x).long(), 1).float() * x)),
    ("bitwise_or_number", ["aten.bitwise_or.Scalar"], Case(lambda m, x: torch.bitwise_or((3 * x).long(), 2).float())),
    ("bitwise_xor_number", ["aten.bitwise_xor.Scalar"], Case(lambda m, x: torch.bitwise_xor((3 * x).long(), 5).float())),
    ("and_number", ["aten.__and__.Scalar"], Case(lambda m, x: ((3 * x).long() & 6).float())),
    ("or_number", ["aten.__or__.Scalar"], Case(lambda m, x: ((3 * x).long() | 1).float())),
    ("xor_bool_true", ["aten.__xor__.Scalar"], Case(lambda m, x: torch.where((x > 0) ^ True, x, -x))),
    # ---- ops13: baddbmm (bmm's dot, alpha and beta by evals, the input broadcast by a combine) ----
    ("baddbmm_gram_bias", ["aten.baddbmm.default"],
     Case(lambda m, x: torch.baddbmm(x.mean(2, keepdim=True), x, torch.einsum("bct,cg->btg", x, m.w)).sum(2, keepdim=True) * x,
          {"w": torch.randn(CHANNELS, 5) * 0.3})),
    ("baddbmm_scaled", ["aten.baddbmm.default"],
     Case(lambda m, x: torch.baddbmm(m.conv(x), x, F.softmax(torch.bmm(x.transpose(1, 2), m.conv(x)), -1), beta=0.5, alpha=2.0))),
    ("baddbmm_beta_zero", ["aten.baddbmm.default"],
     Case(lambda m, x: torch.baddbmm(x, x, F.softmax(torch.bmm(x.transpose(1, 2), m.conv(x)), -1), beta=0.0))),
    # ---- ops13: copy (src's values in self's shape and dtype; no layer when only the map changes:
    # listed by the op consuming it) ----
    ("copy_same_shape", ["aten.mul.Tensor"], Case(lambda m, x: torch.ops.aten.copy(x, m.conv(x)) * x)),
    ("copy_broadcast", ["aten.add.Tensor"], Case(lambda m, x: torch.ops.aten.copy(x, m.conv(x).mean(1, keepdim=True)) + x)),
    ("copy_to_float", ["aten.copy.default"], Case(lambda m, x: torch.ops.aten.copy(x, m.conv(x) > 0) * x)),
    ("copy_number", ["aten.copy.default"], Case(lambda m, x: torch.ops.aten.copy(m.conv(x), m.v) * x, {"v": torch.tensor(0.5)})),
    # ---- ops13: circular pads of static axes (a gather at wrapped positions), one axis and two ----
    ("pad_circular_channels", ["aten.pad.default"],
     Case(lambda m, x: F.pad(m.conv(x).transpose(1, 2), (2, 1), mode="circular").sum(-1)[:, None] * x)),
    ("pad_circular_2d", ["aten.pad.default"],
     Case(lambda m, x: F.pad(x.reshape(x.shape[0], 2, 4, x.shape[2]).transpose(2, 3), (1, 3, 0, 0), mode="circular")
          .sum(-1).sum(1)[:, None] + x)),
    ("pad_circular_op", ["aten._pad_circular.default"],
     Case(lambda m, x: torch.ops.aten._pad_circular(x.transpose(1, 2), [3, 2])[..., 1:9].transpose(1, 2) + x)),
    # ---- ops13: avg pools with padding on the time (explicit pads after each sequence's end, a
    # valid pool, PyTorch's count by a pool of ones), count_include_pad both ways, 1-D and 2-D
    # (ceil_mode on a dynamic time does not export: torch.export cannot decide its last window) ----
    ("avg_pool1d_time_padded", ["aten.avg_pool1d.default"], Case(lambda m, x: F.avg_pool1d(m.conv(x), 3, stride=2, padding=1))),
    ("avg_pool1d_time_padded_excluded", ["aten.avg_pool1d.default"],
     Case(lambda m, x: F.avg_pool1d(m.conv(x), 3, stride=2, padding=1, count_include_pad=False))),
    ("avg_pool1d_time_even_kernel_excluded", ["aten.avg_pool1d.default"],
     Case(lambda m, x: F.avg_pool1d(m.conv(x), 4, stride=2, padding=2, count_include_pad=False))),
    ("avg_pool2d_time_padded", ["aten.avg_pool2d.default"],
     Case(lambda m, x: F.avg_pool2d(m.conv(x).reshape(x.shape[0], 2, 4, x.shape[2]), 3, stride=(2, 1), padding=1).flatten(1, 2))),
    # ---- ops13: linear upsampling with align_corners=True over the time (a nearest resize, then an
    # eval interpolating each sequence from its own length) ----
    ("upsample_linear1d_align_corners", ["aten.upsample_linear1d.vec"],
     Case(lambda m, x: F.interpolate(m.conv(x), scale_factor=2, mode="linear", align_corners=True))),
    ("upsample_linear1d_align_corners_x3", ["aten.upsample_linear1d.vec"],
     Case(lambda m, x: torch.tanh(F.interpolate(x, scale_factor=3, mode="linear", align_corners=True)))),
    # ---- ops13: tril/triu of computed values (positions by range_in_axis, the side by compare,
    # a switch): attention scores over the time and its keys' copy, channels against the time ----
    ("triu_scores", ["aten.triu.default"],
     Case(lambda m, x: torch.triu(torch.einsum("bct,bcs->bts", x, m.conv(x)), 1).sum(-1))),
    ("tril_scores", ["aten.tril.default"],
     Case(lambda m, x: torch.einsum("bts,bcs->bct", torch.tril(torch.einsum("bct,bcs->bts", x, m.conv(x)) * 0.1), x))),
    ("tril_channels_time", ["aten.tril.default"], Case(lambda m, x: torch.tril(m.conv(x), -2))),
]


def documented_layers():
    """{op target: set of RETURNN layer classes} from docs/ops.md's lowered rows."""
    layers = {}
    with open(os.path.join(ROOT, "docs", "ops.md")) as f:
        for line in f:
            match = re.match(r"\| `([^`]+)` \| yes \| ([^|]*) \|", line)
            if match:
                layers[match.group(1)] = set(re.findall(r"`([a-z_]+)`", match.group(2)))
    return layers


def test_lower_matrix(pt2returnn, tmp_path):
    torch.manual_seed(0)
    documented = documented_layers()
    jobs, expected, failures, padded = [], [], [], {}
    for name, ops, model in CASES:
        model = model.eval()
        program = torch.export.export(model, (torch.randn(2, CHANNELS, 30),),
                                      dynamic_shapes=({2: torch.export.Dim("time", min=4, max=300)},))
        targets = {str(n.target) for n in program.graph.nodes if n.op == "call_function"}
        assert set(ops) <= targets, (name, ops, sorted(targets))
        path = tmp_path / f"{name}.pt2"
        torch.export.save(program, str(path))
        out = tmp_path / name
        result = subprocess.run([pt2returnn, "convert", str(path), "-o", str(out), "--json"], capture_output=True, text=True)
        if result.returncode != 0:
            failures.append(f"{name}: exit {result.returncode}: {result.stderr.strip()[-800:]}")
            continue
        report = json.loads(result.stdout)
        failed = [(layer["layer"], layer["class"], layer["max_abs"]) for layer in report["layers"] if not layer["passed"]]
        if failed:
            failures.append(f"{name}: per-layer checks failed: {failed}")
        for op in ops:
            assert op in documented, f"{op} is not listed as lowered in docs/ops.md"
            used = {layer["class"] for layer in report["layers"] if layer["op"] == op}
            assert used and used <= documented[op], (name, op, used, documented[op])
        interpreter = interpreter_padded_figure(report)
        if interpreter is not None:  # the output has a batch axis: each sequence compared
            padded_jobs, checks = padded_batch_jobs(tmp_path, out, model, torch.randn(2, CHANNELS, 30).numpy(), 2,
                                                    prefix=f"{name}.padded", shortest=4)
            jobs += padded_jobs
            padded[name] = (interpreter, checks)
        for length in (30, 41):
            x = torch.randn(2, CHANNELS, length)
            np.save(tmp_path / f"{name}_x{length}.npy", x.numpy())
            with torch.no_grad():
                y = model(x).numpy()
            for form in ("py", "json"):
                output = str(tmp_path / f"{name}_y{length}.{form}.npy")
                jobs.append({"out_dir": str(out), "input": str(tmp_path / f"{name}_x{length}.npy"), "output": output, "config": form})
                expected.append((output, y))
    assert not failures, "\n".join(failures)
    run_returnn_jobs(tmp_path, jobs)
    check_returnn_outputs(expected)
    for name, (interpreter, checks) in padded.items():
        try:
            record_padded_figures("matrix", name, interpreter, check_padded_outputs(checks))
        except AssertionError as error:
            failures.append(f"{name}: padded batch in RETURNN: {str(error)[:800]}")
    assert not failures, "\n".join(failures)
