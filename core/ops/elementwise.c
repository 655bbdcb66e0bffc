/* Elementwise arithmetic with broadcasting, and activations: float32. */
#include <math.h>
#include <string.h>

#include "../base/strbuf.h"

#include "../lower/lower.h"
#include "op_util.h"
#include "registry.h"

typedef enum binary_kind { BINARY_ADD, BINARY_SUB, BINARY_MUL, BINARY_DIV } binary_kind;

/* Broadcast shape of two tensors, right-aligned as in PyTorch. */
static pt2_status broadcast_shape(const pt2_tensor *a, const pt2_tensor *b, int *rank, int64_t *shape, pt2_error *err) {
    *rank = a->rank > b->rank ? a->rank : b->rank;
    for (int i = 0; i < *rank; i++) {
        int ia = i - (*rank - a->rank), ib = i - (*rank - b->rank);
        int64_t sa = ia >= 0 ? a->shape[ia] : 1, sb = ib >= 0 ? b->shape[ib] : 1;
        if (sa != sb && sa != 1 && sb != 1)
            return pt2_fail(err, PT2_ERR_INPUT, "shapes cannot broadcast: size %lld against %lld at axis %d",
                            (long long)sa, (long long)sb, i);
        shape[i] = sa == 1 ? sb : sa;
    }
    return PT2_OK;
}

/* Element strides of `t` viewed at the broadcast shape (0 where broadcast). */
static void broadcast_strides(const pt2_tensor *t, int rank, const int64_t *shape, int64_t *strides) {
    for (int i = 0; i < rank; i++) {
        int it = i - (rank - t->rank);
        strides[i] = (it >= 0 && t->shape[it] == shape[i]) ? t->strides[it] : 0;
    }
}

static inline float apply(binary_kind kind, float x, float y) {
    switch (kind) {
    case BINARY_ADD: return x + y;
    case BINARY_SUB: return x - y;
    case BINARY_MUL: return x * y;
    case BINARY_DIV: return x / y;
    }
    return 0;
}

static pt2_status binary(pt2_run_context *ctx, const pt2_node *node, binary_kind kind, pt2_error *err) {
    pt2_tensor a, b;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &a, err);
    if (st) return st;
    const pt2_arg *other = pt2_node_arg(node, "other");
    double scalar = 0, alpha = 1;
    int other_is_tensor = other && other->kind == PT2_ARG_TENSOR;
    if (other_is_tensor) {
        if ((st = pt2_op_tensor(ctx, node, "other", &b, err))) return st;
    } else if ((st = pt2_op_scalar(ctx, node, "other", &scalar, err))) {
        return st;
    }
    if (pt2_node_arg(node, "alpha") && (st = pt2_op_scalar(ctx, node, "alpha", &alpha, err))) return st;
    if (pt2_node_arg(node, "rounding_mode")) {
        const char *mode;
        if ((st = pt2_op_string(ctx, node, "rounding_mode", &mode, err))) return st;
        if (mode) return pt2_fail(err, PT2_ERR_UNSUPPORTED, "div with rounding_mode '%s' is not supported yet", mode);
    }
    if (a.dtype != PT2_DTYPE_FLOAT32 || (other_is_tensor && b.dtype != PT2_DTYPE_FLOAT32))
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "elementwise %s runs on float32 tensors only (got %s)", node->target,
                        pt2_dtype_name(a.dtype != PT2_DTYPE_FLOAT32 ? a.dtype : b.dtype));
    if (!other_is_tensor) {
        /* A Python scalar: a 0-d tensor broadcasts to anything. */
        memset(&b, 0, sizeof b);
        b.dtype = PT2_DTYPE_FLOAT32;
        float *value = pt2_arena_alloc(ctx->arena, sizeof(float), err);
        if (!value) return err->status;
        *value = (float)scalar;
        b.storage = value;
        b.storage_bytes = sizeof(float);
    }
    int rank;
    int64_t shape[PT2_MAX_RANK], sa[PT2_MAX_RANK], sb[PT2_MAX_RANK], index[PT2_MAX_RANK] = {0};
    if ((st = broadcast_shape(&a, &b, &rank, shape, err))) return st;
    broadcast_strides(&a, rank, shape, sa);
    broadcast_strides(&b, rank, shape, sb);
    pt2_tensor out;
    if ((st = pt2_op_new_float(ctx, rank, shape, &out, err))) return st;
    const float *pa = pt2_f32(&a), *pb = pt2_f32(&b);
    float *po = pt2_f32(&out);
    float alpha_f = (float)alpha;
    int64_t inner = rank ? shape[rank - 1] : 1, outer = pt2_tensor_numel(&out) / (inner ? inner : 1);
    int64_t step_a = rank ? sa[rank - 1] : 0, step_b = rank ? sb[rank - 1] : 0;
    for (int64_t o = 0; o < outer && inner; o++) {
        int64_t offset_a = 0, offset_b = 0;
        for (int i = 0; i < rank - 1; i++) {
            offset_a += index[i] * sa[i];
            offset_b += index[i] * sb[i];
        }
        const float *ra = pa + offset_a, *rb = pb + offset_b;
        float *ro = po + o * inner;
        if (alpha_f != 1.0f)
            for (int64_t k = 0; k < inner; k++) ro[k] = apply(kind, ra[k * step_a], alpha_f * rb[k * step_b]);
        else if (step_a == 1 && step_b == 1)
            for (int64_t k = 0; k < inner; k++) ro[k] = apply(kind, ra[k], rb[k]);
        else
            for (int64_t k = 0; k < inner; k++) ro[k] = apply(kind, ra[k * step_a], rb[k * step_b]);
        for (int i = rank - 2; i >= 0; i--) {
            if (++index[i] < shape[i]) break;
            index[i] = 0;
        }
    }
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

static pt2_status run_add(pt2_run_context *c, const pt2_node *n, pt2_error *e) { return binary(c, n, BINARY_ADD, e); }
static pt2_status run_sub(pt2_run_context *c, const pt2_node *n, pt2_error *e) { return binary(c, n, BINARY_SUB, e); }
static pt2_status run_mul(pt2_run_context *c, const pt2_node *n, pt2_error *e) { return binary(c, n, BINARY_MUL, e); }
static pt2_status run_div(pt2_run_context *c, const pt2_node *n, pt2_error *e) { return binary(c, n, BINARY_DIV, e); }

typedef enum unary_kind { UNARY_TANH, UNARY_RELU, UNARY_SIGMOID, UNARY_LEAKY_RELU, UNARY_GELU, UNARY_GELU_TANH, UNARY_NEG, UNARY_EXP, UNARY_SILU } unary_kind;

static pt2_status unary(pt2_run_context *ctx, const pt2_node *node, unary_kind kind, pt2_error *err) {
    pt2_tensor x, out;
    pt2_status st = pt2_op_float_tensor(ctx, node, "self", &x, err);
    if (st) return st;
    float slope = 0.01f;
    if (kind == UNARY_LEAKY_RELU) {
        double s;
        if ((st = pt2_op_scalar(ctx, node, "negative_slope", &s, err))) return st;
        slope = (float)s;
    }
    if (kind == UNARY_GELU) {
        const char *approximate;
        if ((st = pt2_op_string(ctx, node, "approximate", &approximate, err))) return st;
        if (approximate && !strcmp(approximate, "tanh")) kind = UNARY_GELU_TANH;
    }
    if ((st = pt2_op_new_float(ctx, x.rank, x.shape, &out, err))) return st;
    const float *restrict px = pt2_f32(&x);
    float *restrict po = pt2_f32(&out);
    int64_t n = pt2_tensor_numel(&x);
    switch (kind) {
    case UNARY_TANH: for (int64_t i = 0; i < n; i++) po[i] = tanhf(px[i]); break;
    case UNARY_RELU: for (int64_t i = 0; i < n; i++) po[i] = px[i] > 0 ? px[i] : 0; break;
    case UNARY_SIGMOID: for (int64_t i = 0; i < n; i++) po[i] = 1.0f / (1.0f + expf(-px[i])); break;
    case UNARY_SILU: for (int64_t i = 0; i < n; i++) po[i] = px[i] / (1.0f + expf(-px[i])); break;
    case UNARY_LEAKY_RELU: for (int64_t i = 0; i < n; i++) po[i] = px[i] > 0 ? px[i] : px[i] * slope; break;
    case UNARY_GELU:
        for (int64_t i = 0; i < n; i++) po[i] = (float)(0.5 * px[i] * (1.0 + erf(px[i] * 0.70710678118654752440)));
        break;
    case UNARY_GELU_TANH:
        for (int64_t i = 0; i < n; i++) {
            double v = px[i];
            po[i] = (float)(0.5 * v * (1.0 + tanh(0.79788456080286535588 * (v + 0.044715 * v * v * v))));
        }
        break;
    case UNARY_NEG: for (int64_t i = 0; i < n; i++) po[i] = -px[i]; break;
    case UNARY_EXP: for (int64_t i = 0; i < n; i++) po[i] = expf(px[i]); break;
    }
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

#define UNARY_OP(fn, kind) \
    static pt2_status fn(pt2_run_context *c, const pt2_node *n, pt2_error *e) { return unary(c, n, kind, e); }
UNARY_OP(run_tanh, UNARY_TANH)
UNARY_OP(run_relu, UNARY_RELU)
UNARY_OP(run_sigmoid, UNARY_SIGMOID)
UNARY_OP(run_silu, UNARY_SILU)
UNARY_OP(run_leaky_relu, UNARY_LEAKY_RELU)
UNARY_OP(run_gelu, UNARY_GELU)
UNARY_OP(run_neg, UNARY_NEG)
UNARY_OP(run_exp, UNARY_EXP)

const pt2_op_def pt2_ops_elementwise[] = {
    {"aten.add.Tensor", run_add},         {"aten.add.Scalar", run_add},       {"aten.sub.Tensor", run_sub},
    {"aten.sub.Scalar", run_sub},         {"aten.mul.Tensor", run_mul},       {"aten.mul.Scalar", run_mul},
    {"aten.div.Tensor", run_div},         {"aten.div.Scalar", run_div},       {"aten.div.Tensor_mode", run_div},
    {"aten.tanh.default", run_tanh},      {"aten.relu.default", run_relu},    {"aten.sigmoid.default", run_sigmoid},
    {"aten.silu.default", run_silu},      {"aten.leaky_relu.default", run_leaky_relu},
    {"aten.gelu.default", run_gelu},      {"aten.neg.default", run_neg},      {"aten.exp.default", run_exp},
    {NULL, NULL}};

/* Activations keep the dims of their input. tf.nn.leaky_relu's default slope (0.2) differs
 * from PyTorch's (0.01), so the slope is always written out. */
static pt2_status lower_activation(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    pt2_status st = pt2_lower_input(ctx, node, "self", &in, err);
    if (st) return st;
    pt2_rt_layer *layer;
    if (!strcmp(node->target, "aten.leaky_relu.default")) {
        double slope;
        if ((st = pt2_op_scalar((pt2_run_context *)ctx->run, node, "negative_slope", &slope, err))) return st;
        char number[40];
        pt2_format_double(number, sizeof number, slope);
        if ((st = pt2_lower_new_layer(ctx, node, "eval", in, &layer, err))) return st;
        const char *code = pt2_arena_printf(ctx->arena, err, "tf.nn.leaky_relu(source(0), alpha=%s)", number);
        if (!code) return err->status;
        pt2_rt_set_string(layer, "eval", code);
    } else {
        const char *dot = strchr(node->target, '.');
        const char *name = pt2_arena_strndup(ctx->arena, dot + 1, strcspn(dot + 1, "."), err);
        if (!name) return err->status;
        if ((st = pt2_lower_new_layer(ctx, node, "activation", in, &layer, err))) return st;
        pt2_rt_set_string(layer, "activation", name);
    }
    return pt2_lower_set_output(ctx, node, layer, in->rank, in->dims, err);
}

const pt2_op_lowering pt2_lowerings_elementwise[] = {
    {"aten.leaky_relu.default", lower_activation}, {"aten.tanh.default", lower_activation},
    {"aten.relu.default", lower_activation},       {"aten.sigmoid.default", lower_activation},
    {NULL, NULL}};
