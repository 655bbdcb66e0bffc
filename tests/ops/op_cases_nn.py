"""Op-by-op cases of the neural-network families (conv, linear/matmul, norms, pools and
resampling, attention, LSTM) for tests/python/test_ops_nn_vs_pytorch.py.

Each case: a tiny module, its example inputs, the dynamic shapes torch.export takes (or None),
optional inputs at another length of the dynamic axis, and the tolerance with its reason.
Tolerances: float32 products summed in another order (blocked GEMM / XNNPACK vs MKL/oneDNN):
about 1e-5 relative for sums of a few hundred terms; index arithmetic (pools, nearest
resampling, embedding) is exact or to one rounding.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

GEMM = dict(rtol=1e-5, atol=1e-5, reason="float32 sums of products in another order")
LONG_GEMM = dict(rtol=1e-4, atol=3e-5, reason="float32 sums of several hundred products, and an activation after")
STATS = dict(rtol=1e-5, atol=1e-5, reason="mean/variance summed in double by us, in float by PyTorch")
EXACT = dict(rtol=0, atol=0, reason="selection only: max, nearest neighbour, gather")
ROUNDING = dict(rtol=1e-6, atol=1e-6, reason="a handful of float32 additions/multiplications in another order")
RNN = dict(rtol=1e-5, atol=2e-6, reason="recurrence of float32 GEMMs, sigmoid/tanh from libm")


def T(name, min=4):
    return torch.export.Dim(name, min=min, max=2048)


class Lambda(nn.Module):
    def __init__(self, fn, **modules):
        super().__init__()
        self.fn = fn
        for key, module in modules.items():
            setattr(self, key, module)

    # Named parameters, not *args: torch.export matches dynamic shapes to them by name.
    def forward(self, a, b=None, c=None, d=None):
        return self.fn(self, *[x for x in (a, b, c, d) if x is not None])


def conv1d(**kw):
    return Lambda(lambda m, x: m.conv(x), conv=nn.Conv1d(**kw))


def cases():
    torch.manual_seed(0)
    r = torch.randn
    out = []

    def add(name, module, inputs, dynamic=None, alt=None, tol=GEMM):
        if dynamic is not None and isinstance(module, Lambda):
            dynamic = {key: value for key, value in zip("abcd", dynamic)}
        out.append(dict(name=name, module=module, inputs=inputs, dynamic=dynamic, alt=alt, **tol))

    # ---- convolutions
    add("conv1d_basic", conv1d(in_channels=4, out_channels=6, kernel_size=3, padding=1), [r(2, 4, 20)],
        ({2: T("t")},), [r(2, 4, 33)])
    add("conv1d_stride_dilation", conv1d(in_channels=5, out_channels=7, kernel_size=5, stride=2, dilation=3, padding=4),
        [r(1, 5, 40)], ({2: T("t", 16)},), [r(1, 5, 57)])
    add("conv1d_depthwise", conv1d(in_channels=8, out_channels=8, kernel_size=7, groups=8, padding=3), [r(2, 8, 30)],
        ({2: T("t")},), [r(2, 8, 19)])
    add("conv1d_groups", conv1d(in_channels=6, out_channels=9, kernel_size=3, groups=3, bias=False), [r(1, 6, 25)])
    add("conv1d_same_even_kernel", conv1d(in_channels=3, out_channels=4, kernel_size=4, padding="same", dilation=2),
        [r(1, 3, 21)], ({2: T("t")},), [r(1, 3, 30)])
    add("conv1d_valid", conv1d(in_channels=3, out_channels=4, kernel_size=3, padding="valid"), [r(1, 3, 12)])
    add("conv1d_non_contiguous_input", Lambda(lambda m, x: m.conv(x.transpose(1, 2)), conv=nn.Conv1d(16, 8, 3)),
        [r(2, 30, 16)], ({1: T("t")},), [r(2, 45, 16)])
    add("conv1d_big_channels", conv1d(in_channels=80, out_channels=384, kernel_size=7, padding=3), [r(1, 80, 50)],
        ({2: T("t")},), [r(1, 80, 73)], LONG_GEMM)
    add("conv1d_unbatched", conv1d(in_channels=3, out_channels=5, kernel_size=3), [r(3, 16)])
    add("conv2d_basic", Lambda(lambda m, x: m.conv(x), conv=nn.Conv2d(3, 8, 3, padding=1)), [r(2, 3, 12, 10)])
    add("conv2d_stride_dilation_groups",
        Lambda(lambda m, x: m.conv(x), conv=nn.Conv2d(4, 6, (3, 2), stride=(2, 1), dilation=(1, 2), padding=(1, 0), groups=2)),
        [r(1, 4, 15, 11)])
    add("conv2d_same", Lambda(lambda m, x: m.conv(x), conv=nn.Conv2d(2, 3, (4, 3), padding="same")), [r(1, 2, 9, 8)])
    add("conv2d_depthwise", Lambda(lambda m, x: m.conv(x), conv=nn.Conv2d(6, 12, 3, groups=6, stride=2)), [r(1, 6, 13, 13)])
    add("conv_transpose1d_output_padding",
        Lambda(lambda m, x: m.conv(x), conv=nn.ConvTranspose1d(6, 4, 5, stride=3, padding=2, output_padding=1)),
        [r(2, 6, 10)], ({2: T("t")},), [r(2, 6, 17)])
    add("conv_transpose1d_melgan_upsample",
        Lambda(lambda m, x: m.conv(x), conv=nn.ConvTranspose1d(32, 16, 16, stride=8, padding=4)), [r(1, 32, 12)],
        ({2: T("t")},), [r(1, 32, 21)])
    add("conv_transpose1d_groups_dilation",
        Lambda(lambda m, x: m.conv(x), conv=nn.ConvTranspose1d(4, 6, 3, stride=2, groups=2, dilation=2, output_padding=1)),
        [r(1, 4, 9)])
    add("conv_transpose2d", Lambda(lambda m, x: m.conv(x), conv=nn.ConvTranspose2d(4, 3, (3, 4), stride=(2, 3),
                                                                               padding=(1, 1), output_padding=(1, 2))),
        [r(1, 4, 5, 6)])

    # ---- linear and matrix products
    add("linear_gelu", Lambda(lambda m, x: F.gelu(m.fc(x)), fc=nn.Linear(32, 48)), [r(2, 10, 32)], ({1: T("t")},),
        [r(2, 23, 32)])
    # An activation that alone reads a linear layer's output runs in the product's epilogue, on each
    # block once its last slice of k (128 terms) is summed: k of 200 and 300 rows put several slices
    # and blocks of rows in play; a NaN row shows relu keeping NaN; 3 rows take the transposed
    # product; a second reader of the product (y + relu(y)) must see the product itself.
    with_nan = r(1, 300, 200)
    with_nan[0, 7, 3] = float("nan")
    add("linear_relu_epilogue", Lambda(lambda m, x: F.relu(m.fc(x)), fc=nn.Linear(200, 300)), [with_nan],
        ({1: T("t")},), [r(1, 77, 200)], LONG_GEMM)
    add("linear_no_bias_leaky_relu", Lambda(lambda m, x: F.leaky_relu(m.fc(x), 0.1), fc=nn.Linear(140, 70, bias=False)),
        [r(2, 90, 140)], tol=LONG_GEMM)
    add("linear_few_rows_hardtanh", Lambda(lambda m, x: F.hardtanh(m.fc(x), -0.5, 0.7), fc=nn.Linear(32, 48)),
        [r(1, 3, 32)])
    add("linear_relu6_silu", Lambda(lambda m, x: F.silu(m.b(F.relu6(m.a(x)))), a=nn.Linear(16, 24), b=nn.Linear(24, 8)),
        [r(2, 9, 16) * 4])
    add("linear_output_read_twice", Lambda(lambda m, x: (lambda y: y + F.relu(y))(m.fc(x)), fc=nn.Linear(20, 30)),
        [r(2, 11, 20)])
    add("linear_no_bias_1d", Lambda(lambda m, x: m.fc(x), fc=nn.Linear(7, 5, bias=False)), [r(7)])
    add("linear_non_contiguous", Lambda(lambda m, x: m.fc(x.transpose(1, 2)), fc=nn.Linear(12, 9)), [r(2, 12, 20)])
    add("matmul_1d_1d", Lambda(lambda m, a, b: torch.matmul(a, b)), [r(9), r(9)])
    add("matmul_1d_3d", Lambda(lambda m, a, b: torch.matmul(a, b)), [r(6), r(2, 6, 5)])
    add("matmul_3d_1d", Lambda(lambda m, a, b: torch.matmul(a, b)), [r(2, 4, 6), r(6)])
    add("matmul_broadcast", Lambda(lambda m, a, b: torch.matmul(a, b)), [r(3, 1, 5, 7), r(2, 7, 4)])
    add("matmul_transposed", Lambda(lambda m, a, b: a @ b.transpose(-1, -2)), [r(2, 3, 17, 8), r(2, 3, 19, 8)])
    add("mm", Lambda(lambda m, a, b: torch.mm(a, b)), [r(33, 65), r(65, 17)])
    add("bmm", Lambda(lambda m, a, b: torch.bmm(a, b)), [r(3, 20, 30), r(3, 30, 11)])
    add("addmm_beta_alpha", Lambda(lambda m, c, a, b: torch.addmm(c, a, b, beta=0.5, alpha=2.0)),
        [r(4, 6), r(4, 5), r(5, 6)])
    add("addmm_broadcast_bias", Lambda(lambda m, c, a, b: torch.addmm(c, a, b)), [r(6), r(4, 5), r(5, 6)])
    add("baddbmm", Lambda(lambda m, c, a, b: torch.baddbmm(c, a, b, beta=-1.0, alpha=0.25)),
        [r(2, 3, 4), r(2, 3, 5), r(2, 5, 4)])
    add("embedding", Lambda(lambda m, i: m.emb(i), emb=nn.Embedding(11, 6)), [torch.randint(0, 11, (2, 7))],
        tol=EXACT)

    # ---- norms
    add("layer_norm", Lambda(lambda m, x: m.ln(x), ln=nn.LayerNorm(24)), [r(2, 9, 24) * 3 + 1], ({1: T("t")},),
        [r(2, 14, 24)], STATS)
    add("layer_norm_2d_no_affine", Lambda(lambda m, x: F.layer_norm(x, (5, 6))), [r(3, 5, 6)], tol=STATS)
    add("group_norm", Lambda(lambda m, x: m.gn(x), gn=nn.GroupNorm(3, 12)), [r(2, 12, 10)], ({2: T("t")},),
        [r(2, 12, 17)], STATS)
    add("group_norm_2d", Lambda(lambda m, x: m.gn(x), gn=nn.GroupNorm(2, 4, affine=False)), [r(1, 4, 5, 6)], tol=STATS)
    bn = nn.BatchNorm1d(8)
    bn.running_mean.copy_(torch.randn(8))
    bn.running_var.copy_(torch.rand(8) + 0.5)
    bn.weight.data.copy_(torch.randn(8))
    add("batch_norm_eval", Lambda(lambda m, x: m.bn(x), bn=bn.eval()), [r(2, 8, 15)], ({2: T("t")},), [r(2, 8, 9)],
        ROUNDING)
    bn2 = nn.BatchNorm2d(3).eval()
    bn2.running_var.fill_(2.0)
    add("batch_norm2d_eval", Lambda(lambda m, x: m.bn(x), bn=bn2), [r(2, 3, 4, 5)], tol=ROUNDING)
    add("instance_norm", Lambda(lambda m, x: m.norm(x), norm=nn.InstanceNorm1d(5, affine=True)), [r(2, 5, 20)],
        tol=STATS)
    add("weight_norm_conv", Lambda(lambda m, x: m.conv(x),
                                   conv=nn.utils.parametrizations.weight_norm(nn.Conv1d(4, 6, 3))), [r(1, 4, 16)])
    add("weight_norm_legacy", Lambda(lambda m, x: m.conv(x), conv=nn.utils.weight_norm(nn.Conv1d(4, 6, 3))),
        [r(1, 4, 16)])

    # ---- pools and resampling
    # torch.export specialises max_pool1d's and the LSTM's time axis to the example: no dynamic length there
    add("max_pool1d", Lambda(lambda m, x: F.max_pool1d(x, 3, 2, 1)), [r(2, 3, 17)], tol=EXACT)
    add("max_pool1d_ceil_dilation", Lambda(lambda m, x: F.max_pool1d(x, 3, 2, 1, dilation=2, ceil_mode=True)),
        [r(1, 2, 20)], tol=EXACT)
    add("max_pool2d", Lambda(lambda m, x: F.max_pool2d(x, (3, 2), (2, 2), (1, 1), ceil_mode=True)), [r(1, 3, 11, 9)],
        tol=EXACT)
    add("max_pool2d_indices", Lambda(lambda m, x: F.max_pool2d(x, 2, return_indices=True)[1]), [r(1, 2, 8, 6)],
        tol=EXACT)
    add("avg_pool1d", Lambda(lambda m, x: F.avg_pool1d(x, 4, 3, 2, ceil_mode=True, count_include_pad=False)),
        [r(2, 3, 19)], tol=ROUNDING)
    add("avg_pool2d_include_pad", Lambda(lambda m, x: F.avg_pool2d(x, 3, 2, 1)), [r(1, 2, 9, 10)], tol=ROUNDING)
    add("avg_pool2d_divisor", Lambda(lambda m, x: F.avg_pool2d(x, 2, divisor_override=3)), [r(1, 2, 6, 6)],
        tol=ROUNDING)
    add("adaptive_avg_pool1d", Lambda(lambda m, x: F.adaptive_avg_pool1d(x, 5)), [r(2, 3, 13)], tol=ROUNDING)
    add("adaptive_avg_pool2d", Lambda(lambda m, x: F.adaptive_avg_pool2d(x, (3, 4))), [r(1, 2, 10, 7)], tol=ROUNDING)
    add("upsample_nearest1d_scale", Lambda(lambda m, x: F.interpolate(x, scale_factor=3, mode="nearest")),
        [r(1, 2, 7)], ({2: T("t")},), [r(1, 2, 11)], EXACT)
    add("upsample_nearest1d_size", Lambda(lambda m, x: F.interpolate(x, size=17, mode="nearest")), [r(1, 2, 7)],
        tol=EXACT)
    add("upsample_nearest2d", Lambda(lambda m, x: F.interpolate(x, scale_factor=(2, 1.5), mode="nearest")),
        [r(1, 2, 5, 6)], tol=EXACT)
    add("upsample_linear1d", Lambda(lambda m, x: F.interpolate(x, scale_factor=2.5, mode="linear")), [r(1, 3, 8)],
        tol=ROUNDING)
    add("upsample_linear1d_align", Lambda(lambda m, x: F.interpolate(x, size=19, mode="linear", align_corners=True)),
        [r(1, 3, 8)], tol=ROUNDING)
    add("upsample_bilinear2d", Lambda(lambda m, x: F.interpolate(x, size=(7, 9), mode="bilinear")), [r(1, 2, 4, 5)],
        tol=ROUNDING)
    add("upsample_bilinear2d_align", Lambda(lambda m, x: F.interpolate(x, scale_factor=2, mode="bilinear",
                                                                       align_corners=True)), [r(1, 2, 4, 5)],
        tol=ROUNDING)

    # ---- attention
    sdpa = F.scaled_dot_product_attention
    add("sdpa", Lambda(lambda m, q, k, v: sdpa(q, k, v)), [r(2, 4, 10, 8), r(2, 4, 12, 8), r(2, 4, 12, 8)])
    add("sdpa_causal_scale", Lambda(lambda m, q, k, v: sdpa(q, k, v, is_causal=True, scale=0.3)),
        [r(1, 2, 9, 8), r(1, 2, 9, 8), r(1, 2, 9, 8)])
    add("sdpa_bool_mask", Lambda(lambda m, q, k, v, mask: sdpa(q, k, v, attn_mask=mask)),
        [r(2, 3, 6, 4), r(2, 3, 7, 4), r(2, 3, 7, 5), torch.rand(6, 7) > 0.3])
    add("sdpa_float_mask", Lambda(lambda m, q, k, v, mask: sdpa(q, k, v, attn_mask=mask)),
        [r(2, 3, 6, 4), r(2, 3, 7, 4), r(2, 3, 7, 5), r(2, 1, 6, 7)])
    # one key/value head shared by four query heads (a batch axis of size 1 that PyTorch broadcasts)
    add("sdpa_shared_key_value", Lambda(lambda m, q, k, v: sdpa(q, k, v, is_causal=True)),
        [r(2, 4, 9, 8), r(2, 1, 9, 8), r(1, 1, 9, 6)])
    add("transformer_encoder_layer", nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True).eval(),
        [r(2, 12, 32)], ({1: T("t")},), [r(2, 21, 32)], LONG_GEMM)

    # ---- LSTM
    add("lstm", Lambda(lambda m, x, h, c: m.lstm(x, (h, c))[0], lstm=nn.LSTM(6, 8)),
        [r(11, 2, 6), r(1, 2, 8), r(1, 2, 8)], tol=RNN)
    add("lstm_bidirectional_2_layers_batch_first",
        Lambda(lambda m, x, h, c: m.lstm(x, (h, c))[0],
               lstm=nn.LSTM(5, 7, num_layers=2, bidirectional=True, batch_first=True)),
        [r(3, 9, 5), r(4, 3, 7), r(4, 3, 7)], tol=RNN)
    add("lstm_final_cell_state_no_bias", Lambda(lambda m, x, h, c: m.lstm(x, (h, c))[1][1], lstm=nn.LSTM(4, 6, bias=False)),
        [r(8, 1, 4), r(1, 1, 6), r(1, 1, 6)], tol=RNN)
    add("lstm_unbatched_final_hidden", Lambda(lambda m, x, h, c: m.lstm(x, (h, c))[1][0], lstm=nn.LSTM(4, 5)),
        [r(8, 4), r(1, 5), r(1, 5)], tol=RNN)
    # the default zero state comes from aten.zeros (the shape family)
    add("lstm_default_state", Lambda(lambda m, x: m.lstm(x)[0], lstm=nn.LSTM(6, 8, batch_first=True)), [r(2, 11, 6)],
        tol=RNN)

    # ---- einsum (gather branch): explicit and implicit outputs, ellipsis, diagonal, broadcast
    es = torch.einsum
    add("einsum_attention_scores", Lambda(lambda m, q, k: es("bthd,bshd->bhts", q, k)), [r(2, 7, 3, 5), r(2, 9, 3, 5)],
        ({1: T("t")}, {1: T("s")}), [r(2, 12, 3, 5), r(2, 6, 3, 5)])
    add("einsum_attention_values", Lambda(lambda m, w, v: es("bhts,bshd->bthd", w, v)), [r(2, 3, 7, 9), r(2, 9, 3, 5)])
    add("einsum_constant_weight", Lambda(lambda m, x: es("btf,fg->btg", x, m.w), w=nn.Parameter(r(6, 4))), [r(2, 8, 6)],
        ({1: T("t")},), [r(2, 13, 6)])
    add("einsum_bmm", Lambda(lambda m, a, b: es("bij,bjk->bik", a, b)), [r(3, 4, 6), r(3, 6, 5)])
    add("einsum_ellipsis_vector", Lambda(lambda m, x, v: es("...d,d->...", x, v)), [r(2, 3, 4, 6), r(6)])
    add("einsum_implicit_output", Lambda(lambda m, a, b: es("ij,jk", a, b)), [r(4, 5), r(5, 3)])
    add("einsum_trace_and_sum", Lambda(lambda m, a: es("ii->", a) + es("ij->j", a).sum()), [r(5, 5)])
    add("einsum_outer_spaces", Lambda(lambda m, a, b: es("i, j -> ji", a, b)), [r(4), r(3)])
    add("einsum_ellipsis_broadcast", Lambda(lambda m, a, b: es("...ij,...jk->...ik", a, b)), [r(2, 1, 3, 4), r(5, 4, 2)])
    add("einsum_three_operands", Lambda(lambda m, a, b, c: es("ab,bc,cd->ad", a, b, c)), [r(3, 4), r(4, 5), r(5, 2)])
    return out
