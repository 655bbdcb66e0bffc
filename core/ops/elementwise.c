/* Elementwise ops with PyTorch's broadcasting and type promotion: arithmetic, comparisons,
 * logical ops, where/clamp/masked_fill and unary math. Kernels run on three compute types
 * (float32, float64, int64) plus bool for logical ops; other integer dtypes are widened to
 * int64 and narrowed back, which keeps PyTorch's wrap-around results. */
#include "elementwise.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "../base/python_int.h"
#include "../base/strbuf.h"
#include "exp_f32.h"
#include "op_util.h"
#include "parallel.h"
#include "registry.h"

/* ---------------------------------------------------------------- dtype rules */

int pt2_dtype_is_integral(pt2_dtype d) {
    return d == PT2_DTYPE_INT64 || d == PT2_DTYPE_INT32 || d == PT2_DTYPE_INT16 || d == PT2_DTYPE_INT8 ||
           d == PT2_DTYPE_UINT8;
}

static int float_rank(pt2_dtype d) {
    switch (d) {
    case PT2_DTYPE_FLOAT16: return 1;
    case PT2_DTYPE_BFLOAT16: return 1;
    case PT2_DTYPE_FLOAT32: return 2;
    case PT2_DTYPE_FLOAT64: return 3;
    default: return 0;
    }
}

static int int_rank(pt2_dtype d) {
    switch (d) {
    case PT2_DTYPE_UINT8: return 1;
    case PT2_DTYPE_INT8: return 1;
    case PT2_DTYPE_INT16: return 2;
    case PT2_DTYPE_INT32: return 3;
    case PT2_DTYPE_INT64: return 4;
    default: return 0;
    }
}

pt2_dtype pt2_promote_types(pt2_dtype a, pt2_dtype b) {
    if (a == PT2_DTYPE_INVALID) return b;
    if (b == PT2_DTYPE_INVALID || a == b) return a;
    if (a == PT2_DTYPE_BOOL) return b;
    if (b == PT2_DTYPE_BOOL) return a;
    int fa = float_rank(a), fb = float_rank(b);
    if (fa || fb) {
        if (fa == 1 && fb == 1) return PT2_DTYPE_FLOAT32; /* float16 with bfloat16 */
        return fa >= fb ? a : b;
    }
    /* uint8 with int8 needs a sign and a ninth bit. */
    if ((a == PT2_DTYPE_UINT8 && b == PT2_DTYPE_INT8) || (a == PT2_DTYPE_INT8 && b == PT2_DTYPE_UINT8))
        return PT2_DTYPE_INT16;
    return int_rank(a) >= int_rank(b) ? a : b;
}

void pt2_result_type_add_tensor(pt2_result_type_state *s, const pt2_tensor *t) {
    if (t->rank == 0) s->zero_dim_result = pt2_promote_types(s->zero_dim_result, t->dtype);
    else s->dim_result = pt2_promote_types(s->dim_result, t->dtype);
}

void pt2_result_type_add_number(pt2_result_type_state *s, int kind) {
    pt2_dtype d = kind == 2 ? PT2_DTYPE_FLOAT32 : kind == 1 ? PT2_DTYPE_INT64 : PT2_DTYPE_BOOL;
    s->wrapped_result = pt2_promote_types(s->wrapped_result, d);
}

/* A lower-priority operand only matters when it is of a higher category (bool < int < float). */
static pt2_dtype combine_categories(pt2_dtype higher, pt2_dtype lower) {
    if (pt2_dtype_is_floating(higher)) return higher;
    if (higher == PT2_DTYPE_BOOL || pt2_dtype_is_floating(lower)) return pt2_promote_types(higher, lower);
    return higher != PT2_DTYPE_INVALID ? higher : lower;
}

pt2_dtype pt2_result_type(const pt2_result_type_state *s) {
    return combine_categories(s->dim_result, combine_categories(s->zero_dim_result, s->wrapped_result));
}

/* ---------------------------------------------------------------- element access and casts */

static double load_double(const void *data, pt2_dtype d, int64_t i) {
    switch (d) {
    case PT2_DTYPE_FLOAT32: return ((const float *)data)[i];
    case PT2_DTYPE_FLOAT64: return ((const double *)data)[i];
    case PT2_DTYPE_INT64: return (double)((const int64_t *)data)[i];
    case PT2_DTYPE_INT32: return ((const int32_t *)data)[i];
    case PT2_DTYPE_INT16: return ((const int16_t *)data)[i];
    case PT2_DTYPE_INT8: return ((const int8_t *)data)[i];
    case PT2_DTYPE_UINT8: return ((const uint8_t *)data)[i];
    case PT2_DTYPE_BOOL: return ((const uint8_t *)data)[i] != 0;
    default: return 0;
    }
}

static int64_t double_to_int(double v) {
    /* Out of range and NaN give INT64_MIN, as x86's conversion does, without C's undefined behaviour. */
    if (!(v >= -9223372036854775808.0 && v < 9223372036854775808.0)) return INT64_MIN;
    return (int64_t)v;
}

static int64_t load_int(const void *data, pt2_dtype d, int64_t i) {
    switch (d) {
    case PT2_DTYPE_INT64: return ((const int64_t *)data)[i];
    case PT2_DTYPE_INT32: return ((const int32_t *)data)[i];
    case PT2_DTYPE_INT16: return ((const int16_t *)data)[i];
    case PT2_DTYPE_INT8: return ((const int8_t *)data)[i];
    case PT2_DTYPE_UINT8: return ((const uint8_t *)data)[i];
    case PT2_DTYPE_BOOL: return ((const uint8_t *)data)[i] != 0;
    default: return double_to_int(load_double(data, d, i));
    }
}

static void store_double(void *data, pt2_dtype d, int64_t i, double v) {
    switch (d) {
    case PT2_DTYPE_FLOAT32: ((float *)data)[i] = (float)v; break;
    case PT2_DTYPE_FLOAT64: ((double *)data)[i] = v; break;
    case PT2_DTYPE_BOOL: ((uint8_t *)data)[i] = v != 0; break;
    case PT2_DTYPE_INT64: ((int64_t *)data)[i] = double_to_int(v); break;
    case PT2_DTYPE_INT32: ((int32_t *)data)[i] = (int32_t)(uint32_t)(uint64_t)double_to_int(v); break;
    case PT2_DTYPE_INT16: ((int16_t *)data)[i] = (int16_t)(uint16_t)(uint64_t)double_to_int(v); break;
    case PT2_DTYPE_INT8: ((int8_t *)data)[i] = (int8_t)(uint8_t)(uint64_t)double_to_int(v); break;
    case PT2_DTYPE_UINT8: ((uint8_t *)data)[i] = (uint8_t)(uint64_t)double_to_int(v); break;
    default: break;
    }
}

static void store_int(void *data, pt2_dtype d, int64_t i, int64_t v) {
    switch (d) {
    case PT2_DTYPE_INT64: ((int64_t *)data)[i] = v; break;
    case PT2_DTYPE_INT32: ((int32_t *)data)[i] = (int32_t)(uint32_t)(uint64_t)v; break;
    case PT2_DTYPE_INT16: ((int16_t *)data)[i] = (int16_t)(uint16_t)(uint64_t)v; break;
    case PT2_DTYPE_INT8: ((int8_t *)data)[i] = (int8_t)(uint8_t)(uint64_t)v; break;
    case PT2_DTYPE_UINT8: ((uint8_t *)data)[i] = (uint8_t)(uint64_t)v; break;
    case PT2_DTYPE_BOOL: ((uint8_t *)data)[i] = v != 0; break;
    default: store_double(data, d, i, (double)v); break;
    }
}

static int is_supported_dtype(pt2_dtype d) {
    return d == PT2_DTYPE_FLOAT32 || d == PT2_DTYPE_FLOAT64 || d == PT2_DTYPE_BOOL || pt2_dtype_is_integral(d);
}

double pt2_tensor_get_double(const pt2_tensor *t, int64_t i) { return load_double(pt2_tensor_data(t), t->dtype, i); }
int64_t pt2_tensor_get_int(const pt2_tensor *t, int64_t i) { return load_int(pt2_tensor_data(t), t->dtype, i); }

pt2_status pt2_tensor_cast(pt2_arena *arena, const pt2_tensor *in_arg, pt2_dtype dtype, pt2_tensor *out, pt2_error *err) {
    const pt2_tensor source = *in_arg, *in = &source; /* `out` may be the same tensor as `in_arg` */
    if (!is_supported_dtype(in->dtype) || !is_supported_dtype(dtype))
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "conversion from %s to %s is not supported", pt2_dtype_name(in->dtype),
                        pt2_dtype_name(dtype));
    pt2_tensor c;
    pt2_status st = pt2_tensor_contiguous(arena, in, 0, &c, err);
    if (st || in->dtype == dtype) {
        *out = c;
        return st;
    }
    if ((st = pt2_tensor_alloc(arena, dtype, in->rank, in->shape, out, err))) return st;
    int64_t n = pt2_tensor_numel(in);
    const void *src = pt2_tensor_data(&c);
    void *dst = pt2_tensor_data(out);
    if (in->dtype == PT2_DTYPE_FLOAT32 && dtype == PT2_DTYPE_FLOAT64) {
        const float *restrict s = src;
        double *restrict o = dst;
        for (int64_t i = 0; i < n; i++) o[i] = s[i];
    } else if (in->dtype == PT2_DTYPE_FLOAT64 && dtype == PT2_DTYPE_FLOAT32) {
        const double *restrict s = src;
        float *restrict o = dst;
        for (int64_t i = 0; i < n; i++) o[i] = (float)s[i];
    } else if (pt2_dtype_is_floating(in->dtype) || pt2_dtype_is_floating(dtype)) {
        for (int64_t i = 0; i < n; i++) store_double(dst, dtype, i, load_double(src, in->dtype, i));
    } else {
        for (int64_t i = 0; i < n; i++) store_int(dst, dtype, i, load_int(src, in->dtype, i));
    }
    return PT2_OK;
}

void pt2_tensor_fill(pt2_tensor *t, double value) {
    int64_t n = pt2_tensor_numel(t);
    void *data = pt2_tensor_data(t);
    if (t->dtype == PT2_DTYPE_FLOAT32) {
        float v = (float)value, *restrict o = data;
        for (int64_t i = 0; i < n; i++) o[i] = v;
        return;
    }
    for (int64_t i = 0; i < n; i++) store_double(data, t->dtype, i, value);
}

pt2_status pt2_scalar_to_tensor(pt2_arena *arena, pt2_dtype dtype, double value, pt2_tensor *out, pt2_error *err) {
    int64_t no_shape[1] = {1}; /* rank 0: never read, but memcpy wants a real pointer */
    pt2_status st = pt2_tensor_alloc(arena, dtype, 0, no_shape, out, err);
    if (!st) pt2_tensor_fill(out, value);
    return st;
}

/* ---------------------------------------------------------------- broadcasting */

pt2_status pt2_broadcast_shapes(int rank_a, const int64_t *a, int rank_b, const int64_t *b, int *rank, int64_t *shape,
                                pt2_error *err) {
    *rank = rank_a > rank_b ? rank_a : rank_b;
    for (int i = 0; i < *rank; i++) {
        int ia = i - (*rank - rank_a), ib = i - (*rank - rank_b);
        int64_t sa = ia >= 0 ? a[ia] : 1, sb = ib >= 0 ? b[ib] : 1;
        if (sa != sb && sa != 1 && sb != 1)
            return pt2_fail(err, PT2_ERR_INPUT, "shapes cannot broadcast: size %lld against %lld at axis %d",
                            (long long)sa, (long long)sb, i);
        shape[i] = sa == 1 ? sb : sa;
    }
    return PT2_OK;
}

void pt2_broadcast_view(const pt2_tensor *t, int rank, const int64_t *shape, pt2_tensor *out) {
    pt2_tensor v = *t;
    v.rank = rank;
    for (int i = 0; i < rank; i++) {
        int it = i - (rank - t->rank);
        v.shape[i] = shape[i];
        v.strides[i] = (it >= 0 && t->shape[it] == shape[i]) ? t->strides[it] : 0;
    }
    *out = v;
}

/* Up to three operands iterated together over one shape, with adjacent axes merged where every
 * operand steps through them as one, so the inner rows are as long as possible. */
typedef struct strided_loop {
    int rank;
    int64_t shape[PT2_MAX_RANK];
    int64_t strides[3][PT2_MAX_RANK];
} strided_loop;

static void loop_init(strided_loop *loop, int rank, const int64_t *shape, const pt2_tensor *const *views, int count) {
    int r = 0;
    for (int i = 0; i < rank; i++) {
        if (shape[i] == 1) continue;
        int merge = r > 0;
        for (int k = 0; k < count && merge; k++)
            if (loop->strides[k][r - 1] != views[k]->strides[i] * shape[i]) merge = 0;
        if (merge) {
            loop->shape[r - 1] *= shape[i];
            for (int k = 0; k < count; k++) loop->strides[k][r - 1] = views[k]->strides[i];
        } else {
            loop->shape[r] = shape[i];
            for (int k = 0; k < count; k++) loop->strides[k][r] = views[k]->strides[i];
            r++;
        }
    }
    if (r == 0) {
        loop->shape[0] = 1;
        for (int k = 0; k < count; k++) loop->strides[k][0] = 1;
        r = 1;
    }
    loop->rank = r;
}

/* ---------------------------------------------------------------- binary kernels */

typedef enum binary_op {
    OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_FLOOR_DIV, OP_TRUNC_DIV, OP_POW, OP_MAXIMUM, OP_MINIMUM, OP_REMAINDER, OP_FMOD,
    OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_LOGICAL_AND, OP_LOGICAL_OR, OP_LOGICAL_XOR, OP_BIT_AND, OP_BIT_OR,
    OP_BIT_XOR, OP_COUNT
} binary_op;

static int is_comparison(binary_op op) { return op >= OP_EQ && op <= OP_LOGICAL_XOR; }

typedef void (*row_fn)(void *o, const void *a, int64_t sa, const void *b, int64_t sb, int64_t n);

#define ROW_KERNEL(name, TI, TO, EXPR)                                                                     \
    static void name(void *vo, const void *va, int64_t sa, const void *vb, int64_t sb, int64_t n) {        \
        TO *restrict o = vo;                                                                               \
        const TI *restrict a = va, *restrict b = vb;                                                       \
        if (sa == 1 && sb == 1) {                                                                          \
            for (int64_t i = 0; i < n; i++) { TI x = a[i], y = b[i]; o[i] = (TO)(EXPR); }                  \
        } else if (sa == 1 && sb == 0) {                                                                   \
            TI y = b[0];                                                                                   \
            for (int64_t i = 0; i < n; i++) { TI x = a[i]; o[i] = (TO)(EXPR); }                            \
        } else if (sa == 0 && sb == 1) {                                                                   \
            TI x = a[0];                                                                                   \
            for (int64_t i = 0; i < n; i++) { TI y = b[i]; o[i] = (TO)(EXPR); }                            \
        } else {                                                                                           \
            for (int64_t i = 0; i < n; i++) { TI x = a[i * sa], y = b[i * sb]; o[i] = (TO)(EXPR); }        \
        }                                                                                                  \
    }

/* Python's floor division on floats, as PyTorch computes it (exact for representable quotients). */
static inline double floor_div_double(double a, double b) {
    if (b == 0) return a / b;
    double mod = fmod(a, b), div = (a - mod) / b;
    if (mod != 0 && ((b < 0) != (mod < 0))) div -= 1;
    if (div == 0) return copysign(0.0, a / b);
    double floored = floor(div);
    return div - floored > 0.5 ? floored + 1 : floored;
}
static inline float floor_div_float(float a, float b) {
    if (b == 0) return a / b;
    float mod = fmodf(a, b), div = (a - mod) / b;
    if (mod != 0 && ((b < 0) != (mod < 0))) div -= 1;
    if (div == 0) return copysignf(0.0f, a / b);
    float floored = floorf(div);
    return div - floored > 0.5f ? floored + 1 : floored;
}
static inline double remainder_double(double a, double b) {
    double m = fmod(a, b);
    return (m != 0 && ((b < 0) != (m < 0))) ? m + b : m;
}
static inline float remainder_float(float a, float b) {
    float m = fmodf(a, b);
    return (m != 0 && ((b < 0) != (m < 0))) ? m + b : m;
}
/* Integer ops wrap like PyTorch's (two's complement) without C's signed-overflow traps. */
static inline int64_t wrap_add(int64_t a, int64_t b) { return (int64_t)((uint64_t)a + (uint64_t)b); }
static inline int64_t wrap_sub(int64_t a, int64_t b) { return (int64_t)((uint64_t)a - (uint64_t)b); }
static inline int64_t wrap_mul(int64_t a, int64_t b) { return (int64_t)((uint64_t)a * (uint64_t)b); }
static inline int64_t int_trunc_div(int64_t a, int64_t b) { return b == -1 ? wrap_sub(0, a) : a / b; }
static inline int64_t int_fmod(int64_t a, int64_t b) { return b == -1 ? 0 : a % b; }
static inline int64_t int_pow(int64_t base, int64_t exponent) {
    if (exponent < 0) return base == 1 ? 1 : base == -1 ? ((exponent & 1) ? -1 : 1) : 0;
    uint64_t result = 1, b = (uint64_t)base;
    while (exponent) {
        if (exponent & 1) result *= b;
        b *= b;
        exponent >>= 1;
    }
    return (int64_t)result;
}

ROW_KERNEL(add_f32, float, float, x + y)
ROW_KERNEL(add_f64, double, double, x + y)
ROW_KERNEL(add_i64, int64_t, int64_t, wrap_add(x, y))
ROW_KERNEL(sub_f32, float, float, x - y)
ROW_KERNEL(sub_f64, double, double, x - y)
ROW_KERNEL(sub_i64, int64_t, int64_t, wrap_sub(x, y))
ROW_KERNEL(mul_f32, float, float, x *y)
ROW_KERNEL(mul_f64, double, double, x *y)
ROW_KERNEL(mul_i64, int64_t, int64_t, wrap_mul(x, y))
ROW_KERNEL(div_f32, float, float, x / y)
ROW_KERNEL(div_f64, double, double, x / y)
ROW_KERNEL(floor_div_f32, float, float, floor_div_float(x, y))
ROW_KERNEL(floor_div_f64, double, double, floor_div_double(x, y))
ROW_KERNEL(floor_div_i64, int64_t, int64_t, pt2_floor_div(x, y))
ROW_KERNEL(trunc_div_f32, float, float, truncf(x / y))
ROW_KERNEL(trunc_div_f64, double, double, trunc(x / y))
ROW_KERNEL(trunc_div_i64, int64_t, int64_t, int_trunc_div(x, y))
ROW_KERNEL(pow_f32, float, float, powf(x, y))
ROW_KERNEL(pow_f64, double, double, pow(x, y))
ROW_KERNEL(pow_i64, int64_t, int64_t, int_pow(x, y))
ROW_KERNEL(maximum_f32, float, float, (x > y || x != x) ? x : y)
ROW_KERNEL(maximum_f64, double, double, (x > y || x != x) ? x : y)
ROW_KERNEL(maximum_i64, int64_t, int64_t, x > y ? x : y)
ROW_KERNEL(maximum_u8, uint8_t, uint8_t, x > y ? x : y)
ROW_KERNEL(minimum_f32, float, float, (x < y || x != x) ? x : y)
ROW_KERNEL(minimum_f64, double, double, (x < y || x != x) ? x : y)
ROW_KERNEL(minimum_i64, int64_t, int64_t, x < y ? x : y)
ROW_KERNEL(minimum_u8, uint8_t, uint8_t, x < y ? x : y)
ROW_KERNEL(remainder_f32, float, float, remainder_float(x, y))
ROW_KERNEL(remainder_f64, double, double, remainder_double(x, y))
ROW_KERNEL(remainder_i64, int64_t, int64_t, pt2_floor_mod(x, y))
ROW_KERNEL(fmod_f32, float, float, fmodf(x, y))
ROW_KERNEL(fmod_f64, double, double, fmod(x, y))
ROW_KERNEL(fmod_i64, int64_t, int64_t, int_fmod(x, y))
#define COMPARISON_KERNELS(name, OPERATOR)                              \
    ROW_KERNEL(name##_f32, float, uint8_t, x OPERATOR y)                 \
    ROW_KERNEL(name##_f64, double, uint8_t, x OPERATOR y)                \
    ROW_KERNEL(name##_i64, int64_t, uint8_t, x OPERATOR y)               \
    ROW_KERNEL(name##_u8, uint8_t, uint8_t, x OPERATOR y)
COMPARISON_KERNELS(eq, ==)
COMPARISON_KERNELS(ne, !=)
COMPARISON_KERNELS(lt, <)
COMPARISON_KERNELS(le, <=)
COMPARISON_KERNELS(gt, >)
COMPARISON_KERNELS(ge, >=)
ROW_KERNEL(logical_and_u8, uint8_t, uint8_t, x && y)
ROW_KERNEL(logical_or_u8, uint8_t, uint8_t, x || y)
ROW_KERNEL(logical_xor_u8, uint8_t, uint8_t, (x != 0) != (y != 0))
ROW_KERNEL(bit_and_i64, int64_t, int64_t, x &y)
ROW_KERNEL(bit_and_u8, uint8_t, uint8_t, x &y)
ROW_KERNEL(bit_or_i64, int64_t, int64_t, x | y)
ROW_KERNEL(bit_or_u8, uint8_t, uint8_t, x | y)
ROW_KERNEL(bit_xor_i64, int64_t, int64_t, x ^ y)
ROW_KERNEL(bit_xor_u8, uint8_t, uint8_t, x ^ y)

/* Compute types: 0 float32, 1 float64, 2 int64, 3 bool. */
static const row_fn row_kernels[OP_COUNT][4] = {
    [OP_ADD] = {add_f32, add_f64, add_i64, NULL},
    [OP_SUB] = {sub_f32, sub_f64, sub_i64, NULL},
    [OP_MUL] = {mul_f32, mul_f64, mul_i64, NULL},
    [OP_DIV] = {div_f32, div_f64, NULL, NULL},
    [OP_FLOOR_DIV] = {floor_div_f32, floor_div_f64, floor_div_i64, NULL},
    [OP_TRUNC_DIV] = {trunc_div_f32, trunc_div_f64, trunc_div_i64, NULL},
    [OP_POW] = {pow_f32, pow_f64, pow_i64, NULL},
    [OP_MAXIMUM] = {maximum_f32, maximum_f64, maximum_i64, maximum_u8},
    [OP_MINIMUM] = {minimum_f32, minimum_f64, minimum_i64, minimum_u8},
    [OP_REMAINDER] = {remainder_f32, remainder_f64, remainder_i64, NULL},
    [OP_FMOD] = {fmod_f32, fmod_f64, fmod_i64, NULL},
    [OP_EQ] = {eq_f32, eq_f64, eq_i64, eq_u8},
    [OP_NE] = {ne_f32, ne_f64, ne_i64, ne_u8},
    [OP_LT] = {lt_f32, lt_f64, lt_i64, lt_u8},
    [OP_LE] = {le_f32, le_f64, le_i64, le_u8},
    [OP_GT] = {gt_f32, gt_f64, gt_i64, gt_u8},
    [OP_GE] = {ge_f32, ge_f64, ge_i64, ge_u8},
    [OP_LOGICAL_AND] = {NULL, NULL, NULL, logical_and_u8},
    [OP_LOGICAL_OR] = {NULL, NULL, NULL, logical_or_u8},
    [OP_LOGICAL_XOR] = {NULL, NULL, NULL, logical_xor_u8},
    [OP_BIT_AND] = {NULL, NULL, bit_and_i64, bit_and_u8},
    [OP_BIT_OR] = {NULL, NULL, bit_or_i64, bit_or_u8},
    [OP_BIT_XOR] = {NULL, NULL, bit_xor_i64, bit_xor_u8},
};

static int compute_index(pt2_dtype d) {
    return d == PT2_DTYPE_FLOAT32 ? 0 : d == PT2_DTYPE_FLOAT64 ? 1 : d == PT2_DTYPE_BOOL ? 3 : 2;
}

/* The dtype a kernel runs in for a result dtype: integers widen to int64. */
static pt2_dtype compute_dtype(pt2_dtype d) {
    if (d == PT2_DTYPE_FLOAT32 || d == PT2_DTYPE_FLOAT64 || d == PT2_DTYPE_BOOL) return d;
    return PT2_DTYPE_INT64;
}

static int has_integer_divisor_zero(binary_op op, const pt2_tensor *b) {
    if (b->dtype != PT2_DTYPE_INT64 || !(op == OP_FLOOR_DIV || op == OP_TRUNC_DIV || op == OP_REMAINDER || op == OP_FMOD))
        return 0;
    int64_t n = pt2_tensor_numel(b);
    const int64_t *p = pt2_tensor_data(b);
    for (int64_t i = 0; i < n; i++)
        if (!p[i]) return 1;
    return 0;
}

/* out = op(a, b) with both operands converted to `compute`; the result is `compute` (bool for
 * comparisons), then converted to `result` when that differs. */
/* The output's rows (the loop's last axis) in pieces over the run's threads; one long row (a
 * contiguous add) in pieces of itself. Each element is computed alone, so the bits do not depend
 * on the split. */
typedef struct binary_job {
    row_fn fn;
    strided_loop loop;
    char *po;
    const char *pa, *pb;
    int64_t es_o, es, rows, inner, chunk; /* chunk: rows per piece, or elements of the one row */
} binary_job;

static void binary_piece(void *context, size_t piece) {
    const binary_job *job = context;
    const strided_loop *loop = &job->loop;
    int last = loop->rank - 1;
    int64_t sa = loop->strides[1][last], sb = loop->strides[2][last];
    if (job->rows == 1) {
        int64_t start = (int64_t)piece * job->chunk, n = job->inner - start < job->chunk ? job->inner - start : job->chunk;
        if (n > 0) job->fn(job->po + start * job->es_o, job->pa + start * sa * job->es, sa, job->pb + start * sb * job->es, sb, n);
        return;
    }
    int64_t r0 = (int64_t)piece * job->chunk, r1 = r0 + job->chunk < job->rows ? r0 + job->chunk : job->rows;
    int64_t index[PT2_MAX_RANK] = {0};
    for (int64_t i = last - 1, rest = r0; i >= 0; i--) { /* r0's position over the outer axes */
        index[i] = rest % loop->shape[i];
        rest /= loop->shape[i];
    }
    for (int64_t r = r0; r < r1; r++) {
        int64_t off[3] = {0, 0, 0};
        for (int i = 0; i < last; i++)
            for (int k = 0; k < 3; k++) off[k] += index[i] * loop->strides[k][i];
        job->fn(job->po + off[0] * job->es_o, job->pa + off[1] * job->es, sa, job->pb + off[2] * job->es, sb, job->inner);
        for (int i = last - 1; i >= 0; i--) {
            if (++index[i] < loop->shape[i]) break;
            index[i] = 0;
        }
    }
}

static pt2_status binary_tensors(pt2_run_context *ctx, binary_op op, const pt2_tensor *a_in, const pt2_tensor *b_in,
                                 pt2_dtype compute, pt2_dtype result, pt2_tensor *out, pt2_error *err) {
    pt2_arena *arena = ctx->arena;
    pt2_tensor a, b;
    pt2_status st = PT2_OK;
    row_fn fn = row_kernels[op][compute_index(compute)];
    if (!fn)
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "this elementwise op does not run on %s", pt2_dtype_name(compute));
    /* Operands that already have the compute dtype keep their strides (views, broadcasts). */
    if (a_in->dtype == compute) a = *a_in;
    else if ((st = pt2_tensor_cast(arena, a_in, compute, &a, err))) return st;
    if (b_in->dtype == compute) b = *b_in;
    else if ((st = pt2_tensor_cast(arena, b_in, compute, &b, err))) return st;
    if (compute == PT2_DTYPE_INT64 && (op == OP_FLOOR_DIV || op == OP_TRUNC_DIV || op == OP_REMAINDER || op == OP_FMOD)) {
        pt2_tensor cb;
        if ((st = pt2_tensor_contiguous(arena, &b, 0, &cb, err))) return st;
        if (has_integer_divisor_zero(op, &cb)) return pt2_fail(err, PT2_ERR_INPUT, "integer division by zero");
    }
    int rank;
    int64_t shape[PT2_MAX_RANK];
    if ((st = pt2_broadcast_shapes(a.rank, a.shape, b.rank, b.shape, &rank, shape, err))) return st;
    pt2_tensor va, vb, o;
    pt2_broadcast_view(&a, rank, shape, &va);
    pt2_broadcast_view(&b, rank, shape, &vb);
    pt2_dtype out_dtype = is_comparison(op) ? PT2_DTYPE_BOOL : compute;
    /* Every element is written by the row loop below: not zeroed first. */
    if ((st = pt2_tensor_alloc_uninit(arena, out_dtype, rank, shape, &o, err))) return st;
    int64_t numel = pt2_tensor_numel(&o);
    if (numel > 0) {
        const pt2_tensor *views[3] = {&o, &va, &vb};
        binary_job job = {fn, {0}, pt2_tensor_data(&o), pt2_tensor_data(&va), pt2_tensor_data(&vb),
                          (int64_t)pt2_dtype_size(out_dtype), (int64_t)pt2_dtype_size(compute), 0, 0, 0};
        loop_init(&job.loop, rank, shape, views, 3);
        job.inner = job.loop.shape[job.loop.rank - 1];
        job.rows = numel / job.inner;
        enum { PIECE_MIN = 1 << 15 }; /* elements: smaller work is not worth waking a thread for */
        size_t pieces = pt2_parallel_pieces(ctx, (size_t)(numel / PIECE_MIN > 0 ? numel / PIECE_MIN : 1));
        if (job.rows == 1) job.chunk = (job.inner + (int64_t)pieces - 1) / (int64_t)pieces;
        else {
            if ((int64_t)pieces > job.rows) pieces = (size_t)job.rows;
            job.chunk = (job.rows + (int64_t)pieces - 1) / (int64_t)pieces;
        }
        pt2_parallel_for(ctx, pieces, binary_piece, &job);
    }
    if (out_dtype != result && !is_comparison(op)) return pt2_tensor_cast(arena, &o, result, out, err);
    *out = o;
    return PT2_OK;
}

/* ---------------------------------------------------------------- operands of node arguments */

typedef struct operand {
    pt2_tensor tensor;
    int is_number;
    int number_kind; /* 0 bool, 1 int, 2 float */
    double number;
    int64_t integer; /* exact value of an int number (doubles lose precision above 2^53) */
} operand;

static pt2_status read_operand(pt2_run_context *ctx, const pt2_node *node, const char *name, operand *out,
                               pt2_error *err) {
    const pt2_arg *a = pt2_node_arg(node, name);
    memset(out, 0, sizeof *out);
    if (a && a->kind == PT2_ARG_TENSOR) {
        pt2_status st = pt2_op_tensor(ctx, node, name, &out->tensor, err);
        if (!st && !is_supported_dtype(out->tensor.dtype))
            return pt2_fail(err, PT2_ERR_UNSUPPORTED, "argument '%s' is %s; elementwise ops support float32, float64, "
                            "integer and bool tensors", name, pt2_dtype_name(out->tensor.dtype));
        return st;
    }
    out->is_number = 1;
    pt2_status st = pt2_op_scalar(ctx, node, name, &out->number, err);
    if (st) return st;
    if (a->kind == PT2_ARG_BOOL || a->kind == PT2_ARG_SYM_BOOL) out->number_kind = 0;
    else if (pt2_op_scalar_is_integral(node, name)) out->number_kind = 1;
    else out->number_kind = 2;
    if (out->number_kind < 2) return pt2_op_int(ctx, node, name, &out->integer, err);
    return PT2_OK;
}

static void add_operand(pt2_result_type_state *s, const operand *o) {
    if (o->is_number) pt2_result_type_add_number(s, o->number_kind);
    else pt2_result_type_add_tensor(s, &o->tensor);
}

/* The operand as a tensor of `dtype` (numbers become 0-d tensors, which broadcast to anything). */
static pt2_status operand_tensor(pt2_arena *arena, const operand *o, pt2_dtype dtype, pt2_tensor *out, pt2_error *err) {
    if (o->is_number) {
        pt2_status st = pt2_scalar_to_tensor(arena, dtype, o->number, out, err);
        if (!st && o->number_kind < 2 && !pt2_dtype_is_floating(dtype)) store_int(pt2_tensor_data(out), dtype, 0, o->integer);
        return st;
    }
    if (o->tensor.dtype == dtype) {
        *out = o->tensor;
        return PT2_OK;
    }
    return pt2_tensor_cast(arena, &o->tensor, dtype, out, err);
}

/* ---------------------------------------------------------------- binary ops on nodes */

static const char *first_arg(const pt2_node *node, const char *a, const char *b) { return pt2_node_arg(node, a) ? a : b; }

static pt2_status run_binary(pt2_run_context *ctx, const pt2_node *node, binary_op op, pt2_error *err) {
    operand a, b;
    const char *a_name = first_arg(node, "self", "input");
    const char *b_name = pt2_node_arg(node, "other") ? "other" : "exponent";
    pt2_status st = read_operand(ctx, node, a_name, &a, err);
    if (!st) st = read_operand(ctx, node, b_name, &b, err);
    if (st) return st;
    double alpha = 1;
    if (pt2_node_arg(node, "alpha") && (st = pt2_op_scalar(ctx, node, "alpha", &alpha, err))) return st;
    if (pt2_node_arg(node, "rounding_mode")) {
        const char *mode;
        if ((st = pt2_op_string(ctx, node, "rounding_mode", &mode, err))) return st;
        if (mode && !strcmp(mode, "floor")) op = OP_FLOOR_DIV;
        else if (mode && !strcmp(mode, "trunc")) op = OP_TRUNC_DIV;
        else if (mode) return pt2_fail(err, PT2_ERR_INPUT, "div rounding_mode must be 'floor', 'trunc' or None, got '%s'", mode);
    }
    pt2_result_type_state state = {0, 0, 0};
    add_operand(&state, &a);
    add_operand(&state, &b);
    pt2_dtype promoted = pt2_result_type(&state), result = promoted, compute;
    if (op == OP_DIV && !pt2_dtype_is_floating(promoted)) result = PT2_DTYPE_FLOAT32; /* true division */
    if (op >= OP_LOGICAL_AND && op <= OP_LOGICAL_XOR) {
        compute = PT2_DTYPE_BOOL;
        result = PT2_DTYPE_BOOL;
    } else if (is_comparison(op)) {
        compute = compute_dtype(promoted);
        result = PT2_DTYPE_BOOL;
    } else if (op == OP_BIT_AND || op == OP_BIT_OR || op == OP_BIT_XOR) {
        if (pt2_dtype_is_floating(result))
            return pt2_fail(err, PT2_ERR_INPUT, "bitwise ops need integer or bool operands, got %s", pt2_dtype_name(result));
        compute = compute_dtype(result);
    } else if (op == OP_MAXIMUM || op == OP_MINIMUM) {
        compute = compute_dtype(result);
    } else {
        /* Arithmetic on bool runs in int64 and turns back into bool (True + True is True). */
        compute = result == PT2_DTYPE_BOOL ? PT2_DTYPE_INT64 : compute_dtype(result);
    }
    pt2_tensor ta, tb, out;
    if ((st = operand_tensor(ctx->arena, &a, compute, &ta, err))) return st;
    if ((st = operand_tensor(ctx->arena, &b, compute, &tb, err))) return st;
    if (alpha != 1) {
        pt2_tensor scale;
        if ((st = pt2_scalar_to_tensor(ctx->arena, compute, alpha, &scale, err))) return st;
        if ((st = binary_tensors(ctx, OP_MUL, &tb, &scale, compute, compute, &tb, err))) return st;
    }
    if ((st = binary_tensors(ctx, op, &ta, &tb, compute, result, &out, err))) return st;
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

#define BINARY_OP(fn, op) \
    static pt2_status fn(pt2_run_context *c, const pt2_node *n, pt2_error *e) { return run_binary(c, n, op, e); }
BINARY_OP(run_add, OP_ADD)
BINARY_OP(run_sub, OP_SUB)
BINARY_OP(run_mul, OP_MUL)
BINARY_OP(run_div, OP_DIV)
BINARY_OP(run_floor_divide, OP_FLOOR_DIV)
BINARY_OP(run_pow, OP_POW)
BINARY_OP(run_maximum, OP_MAXIMUM)
BINARY_OP(run_minimum, OP_MINIMUM)
BINARY_OP(run_remainder, OP_REMAINDER)
BINARY_OP(run_fmod, OP_FMOD)
BINARY_OP(run_eq, OP_EQ)
BINARY_OP(run_ne, OP_NE)
BINARY_OP(run_lt, OP_LT)
BINARY_OP(run_le, OP_LE)
BINARY_OP(run_gt, OP_GT)
BINARY_OP(run_ge, OP_GE)
BINARY_OP(run_logical_and, OP_LOGICAL_AND)
BINARY_OP(run_logical_or, OP_LOGICAL_OR)
BINARY_OP(run_logical_xor, OP_LOGICAL_XOR)
BINARY_OP(run_bitwise_and, OP_BIT_AND)
BINARY_OP(run_bitwise_or, OP_BIT_OR)
BINARY_OP(run_bitwise_xor, OP_BIT_XOR)

/* rsub(self, other, alpha) = other - alpha * self */
static pt2_status run_rsub(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    operand a, b;
    pt2_status st = read_operand(ctx, node, "self", &a, err);
    if (!st) st = read_operand(ctx, node, "other", &b, err);
    if (st) return st;
    double alpha = 1;
    if (pt2_node_arg(node, "alpha") && (st = pt2_op_scalar(ctx, node, "alpha", &alpha, err))) return st;
    pt2_result_type_state state = {0, 0, 0};
    add_operand(&state, &a);
    add_operand(&state, &b);
    pt2_dtype result = pt2_result_type(&state), compute = compute_dtype(result == PT2_DTYPE_BOOL ? PT2_DTYPE_INT64 : result);
    pt2_tensor ta, tb, out, scale;
    if ((st = operand_tensor(ctx->arena, &a, compute, &ta, err))) return st;
    if ((st = operand_tensor(ctx->arena, &b, compute, &tb, err))) return st;
    if (alpha != 1) {
        if ((st = pt2_scalar_to_tensor(ctx->arena, compute, alpha, &scale, err))) return st;
        if ((st = binary_tensors(ctx, OP_MUL, &ta, &scale, compute, compute, &ta, err))) return st;
    }
    if ((st = binary_tensors(ctx, OP_SUB, &tb, &ta, compute, result, &out, err))) return st;
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

/* ---------------------------------------------------------------- where, masked_fill, clamp */

static pt2_status select_tensors(pt2_arena *arena, const pt2_tensor *condition_in, const pt2_tensor *a_in,
                                 const pt2_tensor *b_in, pt2_dtype dtype, pt2_tensor *out, pt2_error *err) {
    pt2_tensor condition = *condition_in, a, b;
    pt2_status st = PT2_OK;
    if (condition.dtype != PT2_DTYPE_BOOL && condition.dtype != PT2_DTYPE_UINT8 &&
        (st = pt2_tensor_cast(arena, condition_in, PT2_DTYPE_BOOL, &condition, err)))
        return st;
    if (a_in->dtype == dtype) a = *a_in;
    else if ((st = pt2_tensor_cast(arena, a_in, dtype, &a, err))) return st;
    if (b_in->dtype == dtype) b = *b_in;
    else if ((st = pt2_tensor_cast(arena, b_in, dtype, &b, err))) return st;
    int rank;
    int64_t shape[PT2_MAX_RANK];
    if ((st = pt2_broadcast_shapes(a.rank, a.shape, b.rank, b.shape, &rank, shape, err))) return st;
    if ((st = pt2_broadcast_shapes(condition.rank, condition.shape, rank, shape, &rank, shape, err))) return st;
    pt2_tensor vc, va, vb, o;
    pt2_broadcast_view(&condition, rank, shape, &vc);
    pt2_broadcast_view(&a, rank, shape, &va);
    pt2_broadcast_view(&b, rank, shape, &vb);
    if ((st = pt2_tensor_alloc(arena, dtype, rank, shape, &o, err))) return st;
    int64_t total = pt2_tensor_numel(&o);
    if (!total) {
        *out = o;
        return PT2_OK;
    }
    const pt2_tensor *views[3] = {&vc, &va, &vb};
    strided_loop loop;
    loop_init(&loop, rank, shape, views, 3);
    size_t es = pt2_dtype_size(dtype);
    char *po = pt2_tensor_data(&o);
    const uint8_t *pc = pt2_tensor_data(&vc);
    const char *pa = pt2_tensor_data(&va), *pb = pt2_tensor_data(&vb);
    int last = loop.rank - 1;
    int64_t inner = loop.shape[last], rows = total / inner, index[PT2_MAX_RANK] = {0};
    int64_t sc = loop.strides[0][last], sa = loop.strides[1][last], sb = loop.strides[2][last];
    for (int64_t r = 0; r < rows; r++) {
        int64_t off[3] = {0, 0, 0};
        for (int i = 0; i < last; i++)
            for (int k = 0; k < 3; k++) off[k] += index[i] * loop.strides[k][i];
        const uint8_t *c = pc + off[0];
        char *row = po + r * inner * (int64_t)es;
#define SELECT_ROW(T)                                                                                   \
    {                                                                                                   \
        T *restrict o_ = (T *)(void *)row;                                                              \
        const T *a_ = (const T *)(const void *)(pa + off[1] * (int64_t)es);                             \
        const T *b_ = (const T *)(const void *)(pb + off[2] * (int64_t)es);                             \
        for (int64_t i = 0; i < inner; i++) o_[i] = c[i * sc] ? a_[i * sa] : b_[i * sb];                \
    }
        if (es == 8) SELECT_ROW(uint64_t)
        else if (es == 4) SELECT_ROW(uint32_t)
        else if (es == 2) SELECT_ROW(uint16_t)
        else SELECT_ROW(uint8_t)
#undef SELECT_ROW
        for (int i = last - 1; i >= 0; i--) {
            if (++index[i] < loop.shape[i]) break;
            index[i] = 0;
        }
    }
    *out = o;
    return PT2_OK;
}

static pt2_status run_where(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor condition, ta, tb, out;
    operand a, b;
    pt2_status st = pt2_op_tensor(ctx, node, "condition", &condition, err);
    if (!st) st = read_operand(ctx, node, "self", &a, err);
    if (!st) st = read_operand(ctx, node, "other", &b, err);
    if (st) return st;
    pt2_result_type_state state = {0, 0, 0};
    add_operand(&state, &a);
    add_operand(&state, &b);
    pt2_dtype result = pt2_result_type(&state);
    if ((st = operand_tensor(ctx->arena, &a, result, &ta, err))) return st;
    if ((st = operand_tensor(ctx->arena, &b, result, &tb, err))) return st;
    if ((st = select_tensors(ctx->arena, &condition, &ta, &tb, result, &out, err))) return st;
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

/* masked_fill keeps self's dtype and shape: the mask only broadcasts into it. */
static pt2_status run_masked_fill(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor self, mask, value, out;
    operand v;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &self, err);
    if (!st) st = pt2_op_tensor(ctx, node, "mask", &mask, err);
    if (!st) st = read_operand(ctx, node, "value", &v, err);
    if (st) return st;
    if (!v.is_number && v.tensor.rank != 0)
        return pt2_fail(err, PT2_ERR_INPUT, "masked_fill's value must be a 0-d tensor, got rank %d", v.tensor.rank);
    if ((st = operand_tensor(ctx->arena, &v, self.dtype, &value, err))) return st;
    if ((st = select_tensors(ctx->arena, &mask, &value, &self, self.dtype, &out, err))) return st;
    if (out.rank != self.rank)
        return pt2_fail(err, PT2_ERR_INPUT, "masked_fill: the mask has more dimensions than the tensor");
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

static pt2_status clamp_common(pt2_run_context *ctx, const pt2_node *node, const char *min_name, const char *max_name,
                               pt2_error *err) {
    operand x, lo, hi;
    int has_lo = min_name && pt2_node_arg(node, min_name) && pt2_node_arg(node, min_name)->kind != PT2_ARG_NONE;
    int has_hi = max_name && pt2_node_arg(node, max_name) && pt2_node_arg(node, max_name)->kind != PT2_ARG_NONE;
    pt2_status st = read_operand(ctx, node, "self", &x, err);
    if (!st && has_lo) st = read_operand(ctx, node, min_name, &lo, err);
    if (!st && has_hi) st = read_operand(ctx, node, max_name, &hi, err);
    if (st) return st;
    if (!has_lo && !has_hi) return pt2_fail(err, PT2_ERR_INPUT, "clamp needs a min or a max");
    pt2_result_type_state state = {0, 0, 0};
    add_operand(&state, &x);
    if (has_lo) add_operand(&state, &lo);
    if (has_hi) add_operand(&state, &hi);
    pt2_dtype result = pt2_result_type(&state), compute = compute_dtype(result);
    pt2_tensor t, bound;
    if ((st = operand_tensor(ctx->arena, &x, compute, &t, err))) return st;
    if (has_lo) {
        if ((st = operand_tensor(ctx->arena, &lo, compute, &bound, err))) return st;
        if ((st = binary_tensors(ctx, OP_MAXIMUM, &t, &bound, compute, compute, &t, err))) return st;
    }
    if (has_hi) {
        if ((st = operand_tensor(ctx->arena, &hi, compute, &bound, err))) return st;
        if ((st = binary_tensors(ctx, OP_MINIMUM, &t, &bound, compute, compute, &t, err))) return st;
    }
    if (t.dtype != result && (st = pt2_tensor_cast(ctx->arena, &t, result, &t, err))) return st;
    return pt2_op_set_output(ctx, node, 0, &t, err);
}

static pt2_status run_clamp(pt2_run_context *c, const pt2_node *n, pt2_error *e) { return clamp_common(c, n, "min", "max", e); }
static pt2_status run_clamp_min(pt2_run_context *c, const pt2_node *n, pt2_error *e) { return clamp_common(c, n, "min", NULL, e); }
static pt2_status run_clamp_max(pt2_run_context *c, const pt2_node *n, pt2_error *e) { return clamp_common(c, n, NULL, "max", e); }

/* ---------------------------------------------------------------- unary ops */

typedef enum unary_op {
    U_EXP, U_LOG, U_LOG2, U_LOG10, U_SQRT, U_RSQRT, U_RECIPROCAL, U_SIN, U_COS, U_TAN, U_ERF, U_LOG1P, U_EXPM1,
    U_ATAN, U_ASIN, U_ACOS, U_SINH, U_COSH, U_SQUARE, /* float results (integers become float32) */
    U_NEG, U_ABS, U_SIGN, U_FLOOR, U_CEIL, U_ROUND, U_TRUNC, /* keep the dtype */
    U_LOGICAL_NOT, U_BITWISE_NOT
} unary_op;

#define UNARY_FLOAT_LOOP(T, EXPR)                                        \
    {                                                                    \
        const T *restrict in = pt2_tensor_data(&x);                      \
        T *restrict o = pt2_tensor_data(&out);                           \
        for (int64_t i = 0; i < n; i++) { T v = in[i]; o[i] = (EXPR); } \
    }
#define UNARY_CASE(OP, EXPR_F, EXPR_D)                                                  \
    case OP:                                                                            \
        if (x.dtype == PT2_DTYPE_FLOAT32) UNARY_FLOAT_LOOP(float, EXPR_F)               \
        else UNARY_FLOAT_LOOP(double, EXPR_D)                                           \
        break;

static pt2_status run_unary(pt2_run_context *ctx, const pt2_node *node, unary_op op, pt2_error *err) {
    pt2_tensor in, x, out;
    pt2_status st = pt2_op_tensor(ctx, node, first_arg(node, "self", "input"), &in, err);
    if (st) return st;
    if (!is_supported_dtype(in.dtype))
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "%s does not run on %s", node->target, pt2_dtype_name(in.dtype));
    pt2_dtype result = in.dtype;
    if (op <= U_SQUARE && !pt2_dtype_is_floating(in.dtype) && op != U_SQUARE) result = PT2_DTYPE_FLOAT32;
    if (op == U_SQUARE && in.dtype == PT2_DTYPE_BOOL) result = PT2_DTYPE_INT64;
    if (op == U_LOGICAL_NOT) result = PT2_DTYPE_BOOL;
    if (op == U_BITWISE_NOT && pt2_dtype_is_floating(in.dtype))
        return pt2_fail(err, PT2_ERR_INPUT, "bitwise_not needs an integer or bool tensor, got %s", pt2_dtype_name(in.dtype));
    if (op == U_NEG && in.dtype == PT2_DTYPE_BOOL)
        return pt2_fail(err, PT2_ERR_INPUT, "negation of a bool tensor is not allowed; use logical_not");
    pt2_dtype compute = (op == U_LOGICAL_NOT) ? PT2_DTYPE_BOOL
                      : (op == U_BITWISE_NOT && in.dtype == PT2_DTYPE_BOOL) ? PT2_DTYPE_BOOL
                      : pt2_dtype_is_floating(result) ? result : PT2_DTYPE_INT64;
    if ((st = pt2_tensor_cast(ctx->arena, &in, compute, &x, err))) return st;
    if ((st = pt2_tensor_alloc(ctx->arena, compute, x.rank, x.shape, &out, err))) return st;
    int64_t n = pt2_tensor_numel(&x);
    if (compute == PT2_DTYPE_BOOL) {
        const uint8_t *restrict p = pt2_tensor_data(&x);
        uint8_t *restrict o = pt2_tensor_data(&out);
        for (int64_t i = 0; i < n; i++) o[i] = !p[i];
    } else if (compute == PT2_DTYPE_INT64) {
        const int64_t *restrict p = pt2_tensor_data(&x);
        int64_t *restrict o = pt2_tensor_data(&out);
        switch (op) {
        case U_NEG: for (int64_t i = 0; i < n; i++) o[i] = wrap_sub(0, p[i]); break;
        case U_ABS: for (int64_t i = 0; i < n; i++) o[i] = p[i] < 0 ? wrap_sub(0, p[i]) : p[i]; break;
        case U_SIGN: for (int64_t i = 0; i < n; i++) o[i] = (p[i] > 0) - (p[i] < 0); break;
        case U_SQUARE: for (int64_t i = 0; i < n; i++) o[i] = wrap_mul(p[i], p[i]); break;
        case U_BITWISE_NOT: for (int64_t i = 0; i < n; i++) o[i] = ~p[i]; break;
        default: memcpy(o, p, sizeof(int64_t) * (size_t)n); break; /* floor/ceil/round/trunc of integers */
        }
    } else {
        switch (op) {
            UNARY_CASE(U_EXP, pt2_exp_f32(v), exp(v))
            UNARY_CASE(U_LOG, logf(v), log(v))
            UNARY_CASE(U_LOG2, log2f(v), log2(v))
            UNARY_CASE(U_LOG10, log10f(v), log10(v))
            UNARY_CASE(U_SQRT, sqrtf(v), sqrt(v))
            UNARY_CASE(U_RSQRT, 1.0f / sqrtf(v), 1.0 / sqrt(v))
            UNARY_CASE(U_RECIPROCAL, 1.0f / v, 1.0 / v)
            UNARY_CASE(U_SIN, sinf(v), sin(v))
            UNARY_CASE(U_COS, cosf(v), cos(v))
            UNARY_CASE(U_TAN, tanf(v), tan(v))
            UNARY_CASE(U_ERF, erff(v), erf(v))
            UNARY_CASE(U_LOG1P, log1pf(v), log1p(v))
            UNARY_CASE(U_EXPM1, expm1f(v), expm1(v))
            UNARY_CASE(U_ATAN, atanf(v), atan(v))
            UNARY_CASE(U_ASIN, asinf(v), asin(v))
            UNARY_CASE(U_ACOS, acosf(v), acos(v))
            UNARY_CASE(U_SINH, sinhf(v), sinh(v))
            UNARY_CASE(U_COSH, coshf(v), cosh(v))
            UNARY_CASE(U_SQUARE, v *v, v *v)
            UNARY_CASE(U_NEG, -v, -v)
            UNARY_CASE(U_ABS, fabsf(v), fabs(v))
            UNARY_CASE(U_SIGN, (float)((v > 0) - (v < 0)) + (v - v), (double)((v > 0) - (v < 0)) + (v - v))
            UNARY_CASE(U_FLOOR, floorf(v), floor(v))
            UNARY_CASE(U_CEIL, ceilf(v), ceil(v))
            UNARY_CASE(U_ROUND, nearbyintf(v), nearbyint(v))
            UNARY_CASE(U_TRUNC, truncf(v), trunc(v))
        default: break;
        }
    }
    if (out.dtype != result && (st = pt2_tensor_cast(ctx->arena, &out, result, &out, err))) return st;
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

#define UNARY_OP(fn, op) \
    static pt2_status fn(pt2_run_context *c, const pt2_node *n, pt2_error *e) { return run_unary(c, n, op, e); }
UNARY_OP(run_exp, U_EXP)
UNARY_OP(run_log, U_LOG)
UNARY_OP(run_log2, U_LOG2)
UNARY_OP(run_log10, U_LOG10)
UNARY_OP(run_sqrt, U_SQRT)
UNARY_OP(run_rsqrt, U_RSQRT)
UNARY_OP(run_reciprocal, U_RECIPROCAL)
UNARY_OP(run_sin, U_SIN)
UNARY_OP(run_cos, U_COS)
UNARY_OP(run_tan, U_TAN)
UNARY_OP(run_erf, U_ERF)
UNARY_OP(run_log1p, U_LOG1P)
UNARY_OP(run_expm1, U_EXPM1)
UNARY_OP(run_atan, U_ATAN)
UNARY_OP(run_asin, U_ASIN)
UNARY_OP(run_acos, U_ACOS)
UNARY_OP(run_sinh, U_SINH)
UNARY_OP(run_cosh, U_COSH)
UNARY_OP(run_square, U_SQUARE)
UNARY_OP(run_neg, U_NEG)
UNARY_OP(run_abs, U_ABS)
UNARY_OP(run_sign, U_SIGN)
UNARY_OP(run_floor, U_FLOOR)
UNARY_OP(run_ceil, U_CEIL)
UNARY_OP(run_round, U_ROUND)
UNARY_OP(run_trunc, U_TRUNC)
UNARY_OP(run_logical_not, U_LOGICAL_NOT)
UNARY_OP(run_bitwise_not, U_BITWISE_NOT)

const pt2_op_def pt2_ops_elementwise[] = {
    {"aten.add.Tensor", run_add},
    {"aten.add.Scalar", run_add},
    {"aten.sub.Tensor", run_sub},
    {"aten.sub.Scalar", run_sub},
    {"aten.rsub.Tensor", run_rsub},
    {"aten.rsub.Scalar", run_rsub},
    {"aten.mul.Tensor", run_mul},
    {"aten.multiply.Tensor", run_mul}, /* torch.multiply: mul by another name */
    {"aten.mul.Scalar", run_mul},
    {"aten.div.Tensor", run_div},
    {"aten.div.Scalar", run_div},
    {"aten.div.Tensor_mode", run_div},
    {"aten.div.Scalar_mode", run_div},
    {"aten.true_divide.Tensor", run_div},
    {"aten.floor_divide.default", run_floor_divide},
    {"aten.floor_divide.Scalar", run_floor_divide},
    {"aten.pow.Tensor_Scalar", run_pow},
    {"aten.pow.Tensor_Tensor", run_pow},
    {"aten.pow.Scalar", run_pow},
    {"aten.maximum.default", run_maximum},
    {"aten.minimum.default", run_minimum},
    {"aten.max.other", run_maximum},
    {"aten.min.other", run_minimum},
    {"aten.remainder.Tensor", run_remainder},
    {"aten.remainder.Scalar", run_remainder},
    {"aten.fmod.Tensor", run_fmod},
    {"aten.fmod.Scalar", run_fmod},
    {"aten.eq.Tensor", run_eq},
    {"aten.eq.Scalar", run_eq},
    {"aten.ne.Tensor", run_ne},
    {"aten.ne.Scalar", run_ne},
    {"aten.lt.Tensor", run_lt},
    {"aten.lt.Scalar", run_lt},
    {"aten.le.Tensor", run_le},
    {"aten.le.Scalar", run_le},
    {"aten.gt.Tensor", run_gt},
    {"aten.gt.Scalar", run_gt},
    {"aten.ge.Tensor", run_ge},
    {"aten.ge.Scalar", run_ge},
    {"aten.logical_and.default", run_logical_and},
    {"aten.logical_or.default", run_logical_or},
    {"aten.logical_xor.default", run_logical_xor},
    {"aten.logical_not.default", run_logical_not},
    {"aten.bitwise_and.Tensor", run_bitwise_and},
    {"aten.bitwise_and.Scalar", run_bitwise_and},
    {"aten.bitwise_or.Tensor", run_bitwise_or},
    {"aten.bitwise_or.Scalar", run_bitwise_or},
    {"aten.bitwise_xor.Tensor", run_bitwise_xor},
    {"aten.bitwise_xor.Scalar", run_bitwise_xor},
    {"aten.bitwise_not.default", run_bitwise_not},
    {"aten.__and__.Tensor", run_bitwise_and},
    {"aten.__and__.Scalar", run_bitwise_and},
    {"aten.__or__.Tensor", run_bitwise_or},
    {"aten.__or__.Scalar", run_bitwise_or},
    {"aten.__xor__.Tensor", run_bitwise_xor},
    {"aten.__xor__.Scalar", run_bitwise_xor},
    {"aten.where.self", run_where},
    {"aten.where.ScalarOther", run_where},
    {"aten.where.ScalarSelf", run_where},
    {"aten.where.Scalar", run_where},
    {"aten.masked_fill.Scalar", run_masked_fill},
    {"aten.masked_fill.Tensor", run_masked_fill},
    {"aten.clamp.default", run_clamp},
    {"aten.clamp.Tensor", run_clamp},
    {"aten.clip.default", run_clamp},
    {"aten.clamp_min.default", run_clamp_min},
    {"aten.clamp_min.Tensor", run_clamp_min},
    {"aten.clamp_max.default", run_clamp_max},
    {"aten.clamp_max.Tensor", run_clamp_max},
    {"aten.exp.default", run_exp},
    {"aten.log.default", run_log},
    {"aten.log2.default", run_log2},
    {"aten.log10.default", run_log10},
    {"aten.sqrt.default", run_sqrt},
    {"aten.rsqrt.default", run_rsqrt},
    {"aten.reciprocal.default", run_reciprocal},
    {"aten.sin.default", run_sin},
    {"aten.cos.default", run_cos},
    {"aten.tan.default", run_tan},
    {"aten.erf.default", run_erf},
    {"aten.log1p.default", run_log1p},
    {"aten.expm1.default", run_expm1},
    {"aten.atan.default", run_atan},
    {"aten.asin.default", run_asin},
    {"aten.acos.default", run_acos},
    {"aten.sinh.default", run_sinh},
    {"aten.cosh.default", run_cosh},
    {"aten.square.default", run_square},
    {"aten.neg.default", run_neg},
    {"aten.abs.default", run_abs},
    {"aten.sign.default", run_sign},
    {"aten.floor.default", run_floor},
    {"aten.ceil.default", run_ceil},
    {"aten.round.default", run_round},
    {"aten.trunc.default", run_trunc},
    {NULL, NULL}};
