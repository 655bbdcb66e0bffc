"""The op-by-op matrix of the reference run's elementwise, activation, reduction, shape, pad,
creation and symbolic ops: each case is a tiny module calling one op (with the shapes, dims,
dtypes and attributes named in its id), exported with torch.export and compared with eager
PyTorch by tests/python/test_ops_vs_pytorch.py through tests/ops/harness.py.

A case with `dyn` exports a dynamic axis and is run again at another size within its range
(`alt`). Tolerances are per case, with the reason:
"""
from dataclasses import dataclass, field
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch.export import Dim

# (rtol, atol, reason)
EXACT = (0.0, 0.0, "data only moves or is compared, or integer/bool arithmetic: bit-identical")
ROUNDED = (0.0, 0.0, "one correctly rounded float op per element (+ - * /): IEEE gives one answer")
LIBM = (2e-6, 1e-6, "transcendental functions: glibc and PyTorch's SLEEF kernels each err by ~1 ulp")
REDUCE = (1e-5, 1e-6, "sums over many elements: we accumulate in double, PyTorch in float32 pairwise")
SOFTMAX = (1e-5, 1e-7, "exp plus a sum per row: libm ulps and summation order")


@dataclass
class OpCase:
    id: str
    fn: Callable
    inputs: Callable  # () -> list of tensors
    tol: tuple = EXACT
    dyn: Optional[Callable] = None  # () -> dynamic_shapes for torch.export
    alt: Optional[Callable] = None  # () -> inputs at another size of the dynamic axis
    notes: str = field(default="")


class CaseModule(torch.nn.Module):
    """One op as a module."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *xs):
        return self.fn(*xs)


def make_module(c):
    """A case's fn is a function of the inputs, or an nn.Module class (for ops with parameters)."""
    if isinstance(c.fn, type) and issubclass(c.fn, torch.nn.Module):
        return c.fn().eval()
    return CaseModule(c.fn).eval()


def g(seed):
    gen = torch.Generator().manual_seed(seed)
    return gen


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=g(seed))


def randint(low, high, *shape, seed=0):
    return torch.randint(low, high, shape, generator=g(seed))


def T(name="t", lo=2, hi=64):
    return Dim(name, min=lo, max=hi)


CASES = []


def case(id, fn, inputs, tol=EXACT, dyn=None, alt=None):
    CASES.append(OpCase(id, fn, inputs, tol, dyn, alt))


def time_case(id, fn, make, tol=EXACT, axis=1, n_inputs=1, lengths=(7, 11), lo=2, hi=64):
    """A case whose inputs share a dynamic axis `axis`: made by make(length) -> list of tensors."""
    t = T("t", lo, hi)
    total = len(make(lengths[0]))  # inputs after the first n_inputs have no dynamic axis (e.g. a bias)
    case(id, fn, lambda: make(lengths[0]), tol,
         dyn=lambda: tuple({axis: t} if i < n_inputs else None for i in range(total)),
         alt=lambda: make(lengths[1]))


# ---------------------------------------------------------------- elementwise arithmetic

time_case("add_broadcast_bias_dynamic", lambda x, y: x + y, lambda n: [randn(2, n, 4), randn(4, seed=1)], ROUNDED)
case("add_alpha", lambda x, y: torch.add(x, y, alpha=2.5), lambda: [randn(3, 4), randn(3, 4, seed=1)], LIBM)
case("add_rank_broadcast_both", lambda x, y: x + y, lambda: [randn(3, 1, 5), randn(4, 1, seed=1)], ROUNDED)
case("sub_scalar", lambda x: x - 1.5, lambda: [randn(3, 4)], ROUNDED)
case("rsub_scalar", lambda x: 2 - x, lambda: [randn(3, 4)], ROUNDED)
case("mul_noncontiguous_transpose", lambda x, y: x.transpose(1, 2) * y, lambda: [randn(2, 5, 3), randn(3, 5, seed=1)], ROUNDED)
case("mul_permuted_both", lambda x, y: x.permute(2, 0, 1) * y.permute(2, 0, 1), lambda: [randn(2, 3, 4), randn(2, 3, 4, seed=1)], ROUNDED)
case("div_tensor", lambda x, y: x / y, lambda: [randn(3, 4), randn(3, 4, seed=1) + 3], ROUNDED)
case("div_int_int_true_division", lambda x, y: x / y, lambda: [randint(-20, 20, 3, 4), randint(1, 5, 3, 4, seed=1)], ROUNDED)
case("div_floor_float_negative", lambda x, y: torch.div(x, y, rounding_mode="floor"), lambda: [randn(4, 5) * 5, randn(4, 5, seed=1)], ROUNDED)
case("div_trunc_float", lambda x, y: torch.div(x, y, rounding_mode="trunc"), lambda: [randn(4, 5) * 5, randn(4, 5, seed=1)], ROUNDED)
case("div_floor_int", lambda x: torch.div(x, 3, rounding_mode="floor"), lambda: [randint(-20, 20, 4, 5)])
case("div_trunc_int", lambda x: torch.div(x, -3, rounding_mode="trunc"), lambda: [randint(-20, 20, 4, 5)])
case("floor_divide_int_tensor", lambda x, y: x // y, lambda: [randint(-20, 20, 4, 5), randint(1, 4, 4, 5, seed=1) * (2 * randint(0, 2, 4, 5, seed=2) - 1)])
case("remainder_float_signs", lambda x: torch.remainder(x, -1.5), lambda: [randn(4, 5) * 4], ROUNDED)
case("remainder_int", lambda x: x % 3, lambda: [randint(-20, 20, 4, 5)])
case("fmod_float", lambda x: torch.fmod(x, 1.5), lambda: [randn(4, 5) * 4], ROUNDED)
case("pow_tensor_scalar_square", lambda x: x ** 2, lambda: [randn(3, 4)], ROUNDED)
case("pow_tensor_scalar_half", lambda x: x.abs() ** 0.5, lambda: [randn(3, 4)], LIBM)
case("pow_scalar_tensor", lambda x: 2 ** x, lambda: [randn(3, 4)], LIBM)
case("pow_tensor_tensor", lambda x, y: x.abs() ** y, lambda: [randn(3, 4), randn(4, seed=1)], LIBM)
case("pow_int_int", lambda x: x ** 3, lambda: [randint(-5, 5, 3, 4)])
case("maximum_broadcast", lambda x, y: torch.maximum(x, y), lambda: [randn(3, 4), randn(4, seed=1)])
case("minimum_int", lambda x, y: torch.minimum(x, y), lambda: [randint(-9, 9, 3, 4), randint(-9, 9, 3, 4, seed=1)])

# ---------------------------------------------------------------- type promotion

case("promote_int64_plus_float_scalar", lambda x: x * 1.5, lambda: [randint(-9, 9, 3, 4)])
case("promote_int64_plus_float32_tensor", lambda x, y: x + y, lambda: [randint(-9, 9, 3, 4), randn(3, 4, seed=1)], ROUNDED)
case("promote_int32_plus_int64", lambda x, y: x + y, lambda: [randint(-9, 9, 3, 4).int(), randint(-9, 9, 4, seed=1)])
case("promote_float64_plus_float32", lambda x, y: x + y, lambda: [randn(3, 4).double(), randn(3, 4, seed=1)], ROUNDED)
case("promote_float32_plus_float64_zero_dim", lambda x, y: x + y, lambda: [randn(3, 4), torch.tensor(0.25, dtype=torch.float64)], ROUNDED)
case("promote_bool_plus_int_scalar", lambda m: m + 2, lambda: [randn(3, 4) > 0])
case("promote_bool_plus_bool", lambda a, b: a + b, lambda: [randn(3, 4) > 0, randn(3, 4, seed=1) > 0])
case("promote_int_times_bool", lambda x, m: x * m, lambda: [randint(-9, 9, 3, 4), randn(3, 4, seed=1) > 0])
case("int_add_int_scalar", lambda x: x + 7, lambda: [randint(-9, 9, 3, 4)])

# ---------------------------------------------------------------- unary math

for name, fn, make, tol in [
    ("neg", torch.neg, lambda: [randn(3, 5)], EXACT),
    ("abs", torch.abs, lambda: [randn(3, 5)], EXACT),
    ("abs_int", torch.abs, lambda: [randint(-9, 9, 3, 5)], EXACT),
    ("exp", torch.exp, lambda: [randn(3, 5)], LIBM),
    ("exp_int_to_float", torch.exp, lambda: [randint(-5, 5, 3, 5)], LIBM),
    ("log", torch.log, lambda: [randn(3, 5).abs() + 0.1], LIBM),
    ("sqrt", torch.sqrt, lambda: [randn(3, 5).abs()], LIBM),  # PyTorch's vector sqrt is SLEEF's 0.5001-ulp one
    ("rsqrt", torch.rsqrt, lambda: [randn(3, 5).abs() + 0.1], LIBM),
    ("reciprocal", torch.reciprocal, lambda: [randn(3, 5) + 3], ROUNDED),
    ("floor", torch.floor, lambda: [randn(3, 5) * 3], EXACT),
    ("ceil", torch.ceil, lambda: [randn(3, 5) * 3], EXACT),
    ("round_half_even", torch.round, lambda: [torch.tensor([[0.5, 1.5, 2.5, -0.5, -1.5, 2.4, -2.6]])], EXACT),
    ("trunc", torch.trunc, lambda: [randn(3, 5) * 3], EXACT),
    ("sign", torch.sign, lambda: [torch.tensor([[-2.0, 0.0, 3.0, -0.0]])], EXACT),
    ("sin", torch.sin, lambda: [randn(3, 5) * 3], LIBM),
    ("cos", torch.cos, lambda: [randn(3, 5) * 3], LIBM),
    ("erf", torch.erf, lambda: [randn(3, 5)], LIBM),
    ("log1p", torch.log1p, lambda: [randn(3, 5).abs()], LIBM),
    ("expm1", torch.expm1, lambda: [randn(3, 5)], LIBM),
]:
    case(f"unary_{name}", fn, make, tol)

# ---------------------------------------------------------------- clamp, where, masked_fill

case("clamp_scalars", lambda x: torch.clamp(x, -0.5, 0.7), lambda: [randn(3, 5)])
case("clamp_min_only", lambda x: torch.clamp(x, min=0.1), lambda: [randn(3, 5)])
case("clamp_max_method", lambda x: x.clamp_max(0.2), lambda: [randn(3, 5)])
case("clamp_tensor_bounds", lambda x, lo, hi: torch.clamp(x, lo, hi), lambda: [randn(3, 5), randn(5, seed=1) - 1, randn(3, 1, seed=2) + 1])
case("clamp_int", lambda x: torch.clamp(x, -3, 4), lambda: [randint(-9, 9, 3, 5)])
case("where_tensors", lambda c, x, y: torch.where(c, x, y), lambda: [randn(3, 5) > 0, randn(3, 5, seed=1), randn(5, seed=2)])
case("where_scalar_other", lambda x: torch.where(x > 0, x, 0.0), lambda: [randn(3, 5)])
case("where_scalar_self", lambda x: torch.where(x > 0, -1.0, x), lambda: [randn(3, 5)])
case("where_scalars", lambda x: torch.where(x > 0, 1.0, 0.0), lambda: [randn(3, 5)])
case("where_int_tensors", lambda x, y: torch.where(x > y, x, y), lambda: [randint(-9, 9, 3, 5), randint(-9, 9, 3, 5, seed=1)])
case("masked_fill_scalar", lambda x, m: x.masked_fill(m, -1e4), lambda: [randn(2, 3, 5), randn(5, seed=1) > 0])
time_case("masked_fill_padding_mask_dynamic", lambda x: x.masked_fill(x[:, :, :1] > 0, 0.0), lambda n: [randn(2, n, 5)])

# ---------------------------------------------------------------- comparisons and logic

for name, fn in [("eq", torch.eq), ("ne", torch.ne), ("lt", torch.lt), ("le", torch.le), ("gt", torch.gt), ("ge", torch.ge)]:
    case(f"compare_{name}_tensor", fn, lambda: [randint(-3, 3, 3, 5).float(), randint(-3, 3, 5, seed=1).float()])
    case(f"compare_{name}_scalar_int", lambda x, fn=fn: fn(x, 1), lambda: [randint(-3, 3, 3, 5)])
case("compare_int_with_float_scalar", lambda x: x > 0.5, lambda: [randint(-3, 3, 3, 5)])
case("logical_and", torch.logical_and, lambda: [randn(3, 5) > 0, randn(3, 5, seed=1) > 0])
case("logical_or_float_inputs", torch.logical_or, lambda: [randint(0, 2, 3, 5).float(), randint(0, 2, 3, 5, seed=1).float()])
case("logical_xor", torch.logical_xor, lambda: [randn(3, 5) > 0, randn(3, 5, seed=1) > 0])
case("logical_not", torch.logical_not, lambda: [randn(3, 5) > 0])
case("bitwise_not_bool", lambda m: ~m, lambda: [randn(3, 5) > 0])
case("bitwise_and_masks", lambda a, b: a & b, lambda: [randn(3, 5) > 0, randn(3, 5, seed=1) > 0])

# ---------------------------------------------------------------- activations

class PReLUCase(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.act = torch.nn.PReLU(4)
        with torch.no_grad():
            self.act.weight.copy_(torch.tensor([0.1, -0.2, 0.3, 0.05]))

    def forward(self, x):
        return self.act(x)


for name, fn, tol in [
    ("relu", F.relu, EXACT),
    ("leaky_relu_0.2", lambda x: F.leaky_relu(x, 0.2), ROUNDED),
    ("gelu", F.gelu, LIBM),
    ("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), LIBM),
    ("silu", F.silu, LIBM),
    ("sigmoid", torch.sigmoid, LIBM),
    ("tanh", torch.tanh, LIBM),
    ("elu", lambda x: F.elu(x, 0.7), LIBM),
    ("selu", F.selu, LIBM),
    ("celu", lambda x: F.celu(x, 1.3), LIBM),
    ("hardtanh", lambda x: F.hardtanh(x, -0.5, 0.8), EXACT),
    ("relu6", F.relu6, EXACT),
    ("softplus_beta_threshold", lambda x: F.softplus(x * 4, beta=2, threshold=5), LIBM),
    ("hardswish", F.hardswish, ROUNDED),
    ("hardsigmoid", F.hardsigmoid, ROUNDED),
    ("mish", F.mish, LIBM),
    ("glu_dim1", lambda x: F.glu(x, dim=1), LIBM),
]:
    time_case(f"act_{name}", fn, lambda n: [randn(2, 4, n) * 3], tol, axis=2)
# glu halves its axis, which must then stay static: the time axis is another one.
time_case("act_glu_last_time_dynamic", lambda x: F.glu(x, dim=-1), lambda n: [randn(2, n, 6) * 3], LIBM)
case("act_prelu_channels", None, lambda: [randn(2, 4, 6)])
CASES[-1].fn = PReLUCase
case("act_dropout_eval", lambda x: F.dropout(x, 0.5, training=False) + 1, lambda: [randn(2, 4)], ROUNDED)
time_case("softmax_last", lambda x: torch.softmax(x, -1), lambda n: [randn(2, 3, n) * 4], SOFTMAX, axis=2)
time_case("softmax_dim1_over_time", lambda x: torch.softmax(x, 1), lambda n: [randn(2, n, 5) * 4], SOFTMAX)
case("softmax_noncontiguous", lambda x: torch.softmax(x.transpose(0, 2), dim=0), lambda: [randn(3, 4, 5) * 4], SOFTMAX)
case("log_softmax_dim0", lambda x: torch.log_softmax(x, 0), lambda: [randn(6, 5) * 4], SOFTMAX)
time_case("log_softmax_last_dynamic", lambda x: F.log_softmax(x, dim=-1), lambda n: [randn(2, n) * 10], SOFTMAX)
case("softmax_with_neg_inf_mask", lambda x: torch.softmax(x.masked_fill(x < -1, float("-inf")), -1), lambda: [randn(3, 6)], SOFTMAX)

# ---------------------------------------------------------------- reductions

time_case("sum_all", lambda x: x.sum(), lambda n: [randn(3, n)], REDUCE)
time_case("sum_dim_time", lambda x: x.sum(1), lambda n: [randn(2, n, 4)], REDUCE)
case("sum_dims_keepdim_negative", lambda x: x.sum((-1, 0), keepdim=True), lambda: [randn(3, 4, 5)], REDUCE)
case("sum_int_to_int64", lambda x: x.sum(1), lambda: [randint(-9, 9, 3, 4).int()])
case("sum_bool_counts", lambda m: m.sum(-1), lambda: [randn(3, 7) > 0])
case("sum_dtype_float64", lambda x: x.sum(0, dtype=torch.float64), lambda: [randn(5, 3)], REDUCE)
time_case("mean_dim_keepdim", lambda x: x.mean(-1, keepdim=True), lambda n: [randn(2, 3, n)], REDUCE, axis=2)
case("mean_all_noncontiguous", lambda x: x.transpose(0, 1).mean(), lambda: [randn(4, 6)], REDUCE)
case("max_dim_values", lambda x: x.max(dim=1).values, lambda: [randn(3, 6, 2)])
case("max_dim_indices", lambda x: x.max(dim=1).indices, lambda: [randn(3, 6, 2)])
case("min_dim_keepdim_values", lambda x: x.min(dim=-1, keepdim=True)[0], lambda: [randn(3, 6)])
case("max_all", lambda x: x.max(), lambda: [randn(3, 6)])
case("min_all_int", lambda x: x.min(), lambda: [randint(-50, 50, 3, 6)])
case("amax_dims", lambda x: x.amax(dim=(0, 2)), lambda: [randn(3, 4, 5)])
case("amin_keepdim", lambda x: x.amin(dim=-1, keepdim=True), lambda: [randn(3, 4)])
case("argmax_dim", lambda x: x.argmax(dim=1), lambda: [randn(3, 6)])
case("argmax_flat", lambda x: x.argmax(), lambda: [randn(3, 6)])
case("argmin_keepdim", lambda x: x.argmin(dim=0, keepdim=True), lambda: [randn(4, 6)])
case("var_default_unbiased", lambda x: x.var(dim=1), lambda: [randn(3, 8)], REDUCE)
case("var_correction0_keepdim", lambda x: torch.var(x, dim=-1, correction=0, keepdim=True), lambda: [randn(3, 8)], REDUCE)
case("std_unbiased_false", lambda x: x.std(dim=0, unbiased=False), lambda: [randn(6, 3)], REDUCE)
case("std_all", lambda x: x.std(), lambda: [randn(6, 3)], REDUCE)
case("var_mean_sum_of_both", lambda x: sum(torch.var_mean(x, dim=1)), lambda: [randn(3, 8)], REDUCE)
case("logsumexp_dim", lambda x: torch.logsumexp(x * 5, dim=-1), lambda: [randn(3, 8)], SOFTMAX)
time_case("cumsum_time", lambda x: torch.cumsum(x, dim=1), lambda n: [randn(2, n, 3)], REDUCE)
case("cumsum_int", lambda x: torch.cumsum(x, dim=-1), lambda: [randint(-9, 9, 3, 6)])
case("cumsum_bool_to_int64", lambda m: torch.cumsum(m, dim=0), lambda: [randn(6, 2) > 0])
case("prod_dim", lambda x: x.prod(1), lambda: [randn(3, 4)], REDUCE)
case("any_dim", lambda m: m.any(1), lambda: [randn(3, 4) > 1])
case("all_full", lambda m: m.all(), lambda: [randn(3, 4) > -3])
case("vector_norm_last", lambda x: torch.linalg.vector_norm(x, dim=-1), lambda: [randn(3, 4)], REDUCE)
time_case("cosine_similarity_channels_dynamic", lambda x, y: F.cosine_similarity(x, y, dim=1),
          lambda n: [randn(2, 6, n), randn(2, 6, n, seed=1)], REDUCE, axis=2, n_inputs=2)
case("cosine_similarity_last_broadcast", lambda x, y: F.cosine_similarity(x, y, dim=-1), lambda: [randn(3, 5, 4), randn(5, 4, seed=1)], REDUCE)
case("cosine_similarity_eps_zero_rows", lambda x, y: F.cosine_similarity(x, y, dim=0, eps=0.5),
     lambda: [torch.cat([randn(3, 2), torch.zeros(3, 1)], dim=1), randn(3, 3, seed=1) * 0.1], REDUCE)

# ---------------------------------------------------------------- shape ops

time_case("view_merge_dynamic", lambda x: x.view(x.shape[0], -1), lambda n: [randn(2, n, 3)])
case("reshape_noncontiguous", lambda x: x.transpose(0, 1).reshape(-1, 2), lambda: [randn(3, 4)])
time_case("permute_then_add", lambda x: x.permute(2, 0, 1) + 1, lambda n: [randn(2, n, 3)], ROUNDED)
case("transpose_negative_dims", lambda x: x.transpose(-1, -3).contiguous(), lambda: [randn(2, 3, 4)])
case("t_2d", lambda x: x.t() * 2, lambda: [randn(3, 4)], ROUNDED)
case("numpy_T_3d", lambda x: x.T * 2, lambda: [randn(2, 3, 4)], ROUNDED)
case("unfold_strided", lambda x: x.unfold(1, 5, 3) * 2, lambda: [randn(2, 17, 3)], ROUNDED)
case("unfold_last_overlapping", lambda x: x.unfold(-1, 3, 1).contiguous(), lambda: [randn(2, 3, 7)])
case("unfold_whole_axis", lambda x: x.unfold(0, 4, 2) + 0, lambda: [randn(4, 3)])
case("unsqueeze_negative", lambda x: x.unsqueeze(-1) * 1, lambda: [randn(3, 4)])
case("squeeze_dim", lambda x: x.squeeze(1) + 0, lambda: [randn(3, 1, 4)])
case("squeeze_all", lambda x: x.squeeze() + 0, lambda: [randn(1, 3, 1, 4)])
case("squeeze_non_one_is_noop", lambda x: x.squeeze(0) + 0, lambda: [randn(3, 4)])
case("flatten_middle", lambda x: torch.flatten(x, 1, 2), lambda: [randn(2, 3, 4, 5)])
case("unflatten_last", lambda x: x.unflatten(-1, (2, -1)), lambda: [randn(3, 8)])
case("expand_leading", lambda x: x.expand(3, 2, 4) + 0, lambda: [randn(2, 1)])
case("expand_as", lambda x, y: x.expand_as(y) + y, lambda: [randn(1, 4), randn(3, 4, seed=1)], ROUNDED)
time_case("cat_time_dynamic", lambda x, y: torch.cat([x, y], dim=1), lambda n: [randn(2, n, 3), randn(2, n, 3, seed=1)], n_inputs=2)
case("cat_negative_dim_promotes", lambda x, y: torch.cat([x, y], dim=-1), lambda: [randn(2, 3), randint(0, 5, 2, 2)])
case("stack_dim1", lambda x, y: torch.stack([x, y], dim=1), lambda: [randn(2, 3), randn(2, 3, seed=1)])
case("split_reverse_cat", lambda x: torch.cat(torch.split(x, 2, dim=1)[::-1], 1), lambda: [randn(2, 7)])
case("split_with_sizes", lambda x: torch.cat(torch.split(x, [1, 4, 2], dim=-1)[::-1], -1), lambda: [randn(2, 7)])
case("chunk_last", lambda x: x.chunk(3, dim=-1)[1] + 0, lambda: [randn(2, 8)])
case("unbind_sum", lambda x: sum(torch.unbind(x, dim=1)), lambda: [randn(2, 3, 4)], ROUNDED)
case("slice_step_2", lambda x: x[:, 1::2] + 0, lambda: [randn(3, 9)])
case("slice_negative_start", lambda x: x[..., -3:] + 0, lambda: [randn(3, 9)])
case("slice_out_of_range_end", lambda x: x[:, 2:100] + 0, lambda: [randn(3, 9)])
time_case("slice_dynamic_drop_edges", lambda x: x[:, 1:-1] + 0, lambda n: [randn(2, n)], lo=4)
case("narrow", lambda x: x.narrow(1, 2, 3) + 0, lambda: [randn(3, 9)])
case("select_negative_index", lambda x: x[:, -1] + 0, lambda: [randn(3, 9)])
case("index_select", lambda x, i: torch.index_select(x, 1, i), lambda: [randn(3, 6), torch.tensor([5, 0, 2, 2])])
case("index_tensor_dim1", lambda x, i: x[:, i], lambda: [randn(3, 6, 2), torch.tensor([[5, 0], [-1, 2]])])
# several index tensors (advanced indexing): broadcast together; adjacent ones keep their place,
# separated ones go first (transformers' masks index mask[batch_idx, kv_idx] over aranges)
# diff: the n-th forward difference along dim of prepend, self and append joined (transformers'
# mask helpers: position_ids.diff(prepend=...)); of bools, logical_xor; of int64, exact
case("diff_prepend", lambda x, p: torch.diff(x, dim=1, prepend=p), lambda: [randn(2, 7, 3), randn(2, 1, 3)])
case("diff_twice_append_dim0", lambda x, a: torch.diff(x, n=2, dim=0, append=a), lambda: [randn(5, 4), randn(2, 4)])
case("diff_int_positions", lambda x: torch.diff(torch.arange(x.shape[1]).unsqueeze(0) * 3, prepend=torch.zeros(1, 1, dtype=torch.long)) + 0,
     lambda: [randn(2, 6)])
case("diff_bool", lambda x: torch.diff(x > 0, dim=-1).float(), lambda: [randn(3, 8)])
case("multiply_broadcast", lambda x, y: torch.multiply(x, y), lambda: [randn(2, 5, 3), randn(5, 1)])
case("reshape_as", lambda x, y: x.reshape_as(y) + 0, lambda: [randn(2, 6, 4), randn(2, 6, 2, 2)])
case("repeat_interleave_dim", lambda x: torch.repeat_interleave(x, 3, dim=1), lambda: [randn(2, 5, 4)])
case("repeat_interleave_flat", lambda x: x.repeat_interleave(2), lambda: [randn(3, 4)])
case("index_two_tensors_adjacent", lambda x, i, j: x[:, i, j], lambda: [randn(3, 6, 5, 2), torch.tensor([[5], [0], [-1]]), torch.tensor([1, 4, -2, 0])])
case("index_two_tensors_apart", lambda x, i, j: x[i, :, j], lambda: [randn(3, 6, 5), torch.tensor([2, 0, -1]), torch.tensor([[4], [1]])])
case("index_mask_over_aranges", lambda m, x: m[torch.arange(m.shape[0])[:, None, None, None], torch.arange(x.shape[1])[None, None, None, :]] + 0,
     lambda: [randn(2, 7), randn(2, 7, 3)])
case("gather_dim1", lambda x, i: torch.gather(x, 1, i), lambda: [randn(3, 6), randint(0, 6, 3, 4, seed=1)])
case("repeat", lambda x: x.repeat(2, 1, 3), lambda: [randn(2, 3)])
case("flip_two_dims", lambda x: torch.flip(x, [0, -1]), lambda: [randn(3, 4, 5)])
case("clone_contiguous_of_transpose", lambda x: x.t().clone().contiguous() + 0, lambda: [randn(3, 4)])
case("to_int64_truncates", lambda x: (x * 3).to(torch.int64), lambda: [randn(3, 4)])
case("to_float_from_int", lambda x: x.float() / 2, lambda: [randint(-9, 9, 3, 4)], ROUNDED)
case("to_bool", lambda x: x.to(torch.bool), lambda: [randint(-1, 2, 3, 4).float()])
case("to_float64", lambda x: x.double() * 2, lambda: [randn(3, 4)], ROUNDED)
case("type_as", lambda x, y: x.type_as(y), lambda: [randn(3, 4) * 3, randint(0, 2, 1, seed=1)])
case("tril", lambda x: torch.tril(x), lambda: [randn(2, 4, 5)])
case("triu_diagonal_1", lambda x: torch.triu(x, diagonal=1), lambda: [randn(4, 5)])

# ---------------------------------------------------------------- pads

time_case("pad_constant_value", lambda x: F.pad(x, (2, 3), value=0.5), lambda n: [randn(2, 3, n)], axis=2)
case("pad_constant_2d_negative_crop", lambda x: F.pad(x, (1, -1, -1, 2)), lambda: [randn(2, 3, 4)])
time_case("pad_reflect_1d", lambda x: F.pad(x, (3, 2), mode="reflect"), lambda n: [randn(2, 3, n)], axis=2, lo=4)
time_case("pad_replicate_1d", lambda x: F.pad(x, (3, 2), mode="replicate"), lambda n: [randn(2, 3, n)], axis=2)
case("pad_circular_1d", lambda x: F.pad(x, (2, 3), mode="circular"), lambda: [randn(2, 3, 5)])
case("pad_reflect_2d", lambda x: F.pad(x, (1, 2, 2, 1), mode="reflect"), lambda: [randn(1, 2, 4, 5)])
case("pad_replicate_2d", lambda x: F.pad(x, (1, 2, 2, 1), mode="replicate"), lambda: [randn(1, 2, 4, 5)])
case("pad_circular_2d", lambda x: F.pad(x, (1, 2, 2, 1), mode="circular"), lambda: [randn(1, 2, 4, 5)])
case("pad_int_constant", lambda x: F.pad(x, (1, 1), value=7), lambda: [randint(0, 5, 2, 3)])

# ---------------------------------------------------------------- creation

time_case("arange_length_of_time", lambda x: torch.arange(x.shape[1]) * 2, lambda n: [randn(2, n)])
case("arange_float_step", lambda x: torch.arange(0.0, 1.0, 0.1) + x, lambda: [randn(1)], ROUNDED)
case("arange_start_step_int", lambda x: torch.arange(2, 20, 3) + x, lambda: [randint(0, 3, 1)])
time_case("full_dynamic_shape", lambda x: torch.full((2, x.shape[1]), 3.5) + x, lambda n: [randn(2, n)], ROUNDED)
case("full_int_fill", lambda x: torch.full((2, 3), 4) + x, lambda: [randint(0, 3, 2, 3)])
case("zeros_like_plus", lambda x: torch.zeros_like(x) + 1, lambda: [randn(2, 3)])
case("ones_like_int", lambda x: torch.ones_like(x) * x, lambda: [randint(0, 3, 2, 3)])
case("full_like", lambda x: torch.full_like(x, 2.5) * x, lambda: [randn(2, 3)], ROUNDED)
time_case("zeros_int64_dynamic", lambda x: torch.zeros(x.shape[0], x.shape[1], dtype=torch.int64) + 3, lambda n: [randn(2, n)])
case("ones_default_float", lambda x: torch.ones(3) + x, lambda: [randn(2, 3)], ROUNDED)
case("new_zeros", lambda x: x.new_zeros(2, 4) + 1, lambda: [randn(2, 3)])
case("scalar_tensor_add", lambda x: x + torch.scalar_tensor(2.5), lambda: [randn(2, 3)], ROUNDED)

# ---------------------------------------------------------------- symbolic sizes

_half = Dim("half", min=2, max=32)
case("sym_view_halves_time", lambda x: x.view(x.shape[0], x.shape[1] // 2, 2).sum(-1),
     lambda: [randn(2, 10)], ROUNDED, dyn=lambda: ({1: 2 * _half},), alt=lambda: [randn(2, 14)])
time_case("sym_float_fill_truediv", lambda x: torch.full((2, 3), x.shape[1] / 4) + 0 * x[:, :3], lambda n: [randn(2, n)], ROUNDED, lo=4)
time_case("sym_arithmetic_in_add", lambda x: x + (x.shape[1] * 2 - 1) + x.shape[1] % 3, lambda n: [randn(2, n)], ROUNDED)
time_case("sym_max_min", lambda x: torch.zeros(torch.sym_max(x.shape[1], 9), torch.sym_min(x.shape[1], 4)) + 1, lambda n: [randn(2, n)])
time_case("sym_numel_mean_by_hand", lambda x: x.sum() / x.numel(), lambda n: [randn(3, n)], REDUCE)

# ---------------------------------------------------------------- more layouts, negative dims, dtypes

case("masked_fill_tensor_value", lambda x, m: x.masked_fill(m, torch.tensor(2.5)), lambda: [randn(3, 4), randn(3, 4, seed=1) > 0])
case("squeeze_dims_tuple", lambda x: x.squeeze((0, 2)) + 0, lambda: [randn(1, 3, 1, 4)])
case("lift_fresh_copy_constant", lambda x: x + torch.tensor([1.0, 2.0, 3.0]), lambda: [randn(2, 3)], ROUNDED)
case("empty_then_fill", lambda x: torch.empty(2, 3).fill_(1.5) + x, lambda: [randn(2, 3)], ROUNDED)
case("stack_negative_dim", lambda x, y: torch.stack([x, y], dim=-1), lambda: [randn(2, 3), randn(2, 3, seed=1)])
case("cumsum_negative_dim_noncontiguous", lambda x: torch.cumsum(x.transpose(0, 1), dim=-2), lambda: [randn(3, 5)], REDUCE)
case("gather_negative_dim", lambda x, i: torch.gather(x, -1, i), lambda: [randn(3, 6), randint(0, 6, 3, 2, seed=1)])
case("index_select_negative_dim", lambda x, i: torch.index_select(x, -2, i), lambda: [randn(4, 3), torch.tensor([3, 3, 0])])
case("max_dim_noncontiguous", lambda x: x.permute(2, 0, 1).max(dim=0).values, lambda: [randn(3, 4, 5)])
case("where_bool_broadcast_3d", lambda c, x: torch.where(c, x, -x), lambda: [randn(1, 4, 1) > 0, randn(2, 4, 3, seed=1)])
case("mul_rank5_broadcast", lambda x, y: x * y, lambda: [randn(2, 1, 3, 1, 2), randn(4, 1, 5, 1, seed=1)], ROUNDED)
case("softmax_float64", lambda x: torch.softmax(x.double(), -1), lambda: [randn(3, 5) * 4], SOFTMAX)
case("sum_int32_keepdim", lambda x: x.sum(0, keepdim=True), lambda: [randint(-9, 9, 4, 3).int()])
case("mean_float64_dims", lambda x: x.double().mean((0, -1)), lambda: [randn(3, 4, 5)], REDUCE)
case("sub_int_wraps_like_pytorch", lambda x: x - 9223372036854775807, lambda: [torch.tensor([-5, 0, 5])])
case("clamp_float_bounds_on_int", lambda x: torch.clamp(x, min=-2.5), lambda: [randint(-9, 9, 3, 4)])
case("div_scalar_by_int_tensor", lambda x: 1.0 / x, lambda: [randint(1, 9, 3, 4)], ROUNDED)
case("transpose_then_view_copies", lambda x: x.transpose(1, 2).reshape(2, -1), lambda: [randn(2, 3, 4)])
case("expand_then_contiguous_add", lambda x, y: x.expand(3, 4) + y.t(), lambda: [randn(1, 4), randn(4, 3, seed=1)], ROUNDED)
# Kernel paths of the reference run (bench/ speed work): a 1-D pad that crops one side (only the
# margins are filled), and a transposing copy whose sizes are not multiples of its 4 x 4 blocks.
case("pad_1d_crop_left", lambda x: F.pad(x, (-2, 3), value=0.25), lambda: [randn(2, 3, 9)])
case("pad_1d_crop_right", lambda x: F.pad(x, (3, -2), mode="constant"), lambda: [randn(2, 3, 9)])
case("transpose_odd_sizes_copies", lambda x: x.transpose(1, 2).reshape(2, -1), lambda: [randn(2, 7, 19)])
