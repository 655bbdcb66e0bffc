/* Activations, softmax / log_softmax on any axis, and dropout at inference (the identity).
 * Formulas follow PyTorch's CPU kernels (e.g. softplus's threshold, hardsigmoid's clamp), in
 * float32 or float64 as the input is. */
#include <math.h>
#include <string.h>

#include "activation.h"
#include "elementwise.h"
#include "exp_f32.h"
#include "op_util.h"
#include "parallel.h"
#include "registry.h"

typedef enum activation_kind {
    A_RELU, A_LEAKY_RELU, A_GELU, A_GELU_TANH, A_SILU, A_SIGMOID, A_TANH, A_ELU, A_HARDTANH, A_SOFTPLUS,
    A_HARDSWISH, A_HARDSIGMOID, A_MISH, A_SELU, A_CELU, A_LOG_SIGMOID
} activation_kind;

typedef struct activation_params {
    double a, b, c; /* slope / alpha / min / beta ..., per kind */
} activation_params;

#define SQRT_HALF 0.70710678118654752440
#define SQRT_2_OVER_PI 0.79788456080286535588
#define SELU_ALPHA 1.6732632423543772848170429916717
#define SELU_SCALE 1.0507009873554804934193349852946

/* One function per kind and float type (T is float or double; EXP, ... pick the library's variant),
 * each its own loop, in a table by kind: V8 compiles a WebAssembly function that runs hot again,
 * whole, and one function of every kind's loop kept a conversion's first call waiting on that
 * compile (see core/returnn/layers_elementwise.c's unary_loop). */
#define ACTIVATION_LOOP(T, S, ATTR, NAME, ...)                                                               \
    ATTR static void NAME##_##T##S(const T *restrict x, T *restrict o, int64_t n, activation_params p) {      \
        const T pa = (T)p.a, pb = (T)p.b, pc = (T)p.c;                                                      \
        (void)pa, (void)pb, (void)pc;                                                                        \
        for (int64_t i = 0; i < n; i++) {                                                                    \
            __VA_ARGS__                                                                                      \
        }                                                                                                    \
    }                                                                                                        \
    /* the same in place (a GEMM's epilogue): x and o both the one restrict buffer */                        \
    ATTR static void NAME##_in_place_##T##S(T *restrict buffer, int64_t n, activation_params p) {            \
        const T *x = buffer, pa = (T)p.a, pb = (T)p.b, pc = (T)p.c;                                          \
        T *o = buffer;                                                                                       \
        (void)pa, (void)pb, (void)pc;                                                                        \
        for (int64_t i = 0; i < n; i++) {                                                                    \
            __VA_ARGS__                                                                                      \
        }                                                                                                    \
    }
#define ACTIVATION_LOOPS(T, S, ATTR, EXP, LOG1P, ERF, TANH, LOG)                                                      \
    ACTIVATION_LOOP(T, S, ATTR, relu, o[i] = !(x[i] <= 0) ? x[i] : 0;)                             \
    /* the product for every element, then a select: a loop gcc vectorises */                                \
    ACTIVATION_LOOP(T, S, ATTR, leaky_relu, T v = x[i], scaled = v * pa; o[i] = v > 0 ? v : scaled;)                   \
    ACTIVATION_LOOP(T, S, ATTR, gelu, o[i] = (T)0.5 * x[i] * ((T)1 + ERF(x[i] * (T)SQRT_HALF));)                       \
    ACTIVATION_LOOP(T, S, ATTR, gelu_tanh, T v = x[i], inner = (T)SQRT_2_OVER_PI * (v + (T)0.044715 * v * v * v);      \
                    o[i] = (T)0.5 * v * ((T)1 + TANH(inner));)                                               \
    ACTIVATION_LOOP(T, S, ATTR, silu, o[i] = x[i] / ((T)1 + EXP(-x[i]));)                                              \
    ACTIVATION_LOOP(T, S, ATTR, sigmoid, o[i] = (T)1 / ((T)1 + EXP(-x[i]));)                                           \
    ACTIVATION_LOOP(T, S, ATTR, tanh, o[i] = TANH(x[i]);)                                                              \
    /* a = alpha, b = scale, c = input_scale */                                                              \
    ACTIVATION_LOOP(T, S, ATTR, elu, o[i] = x[i] <= 0 ? (EXP(x[i] * pc) - (T)1) * pa * pb : x[i] * pb;)                 \
    /* a = min, b = max */                                                                                   \
    ACTIVATION_LOOP(T, S, ATTR, hardtanh, o[i] = x[i] < pa ? pa : (x[i] > pb ? pb : x[i]);)                            \
    /* a = beta, b = threshold */                                                                            \
    ACTIVATION_LOOP(T, S, ATTR, softplus, o[i] = x[i] * pa > pb ? x[i] : LOG1P(EXP(x[i] * pa)) / pa;)                  \
    ACTIVATION_LOOP(T, S, ATTR, hardswish, T r = x[i] + (T)3; r = r < 0 ? 0 : (r > 6 ? 6 : r); o[i] = x[i] * r / (T)6;) \
    ACTIVATION_LOOP(T, S, ATTR, hardsigmoid, T r = x[i] + (T)3; r = r < 0 ? 0 : (r > 6 ? 6 : r); o[i] = r / (T)6;)     \
    ACTIVATION_LOOP(T, S, ATTR, mish, o[i] = x[i] * TANH(LOG1P(EXP(x[i])));)                                           \
    ACTIVATION_LOOP(T, S, ATTR, selu, o[i] = x[i] <= 0 ? (EXP(x[i]) - (T)1) * (T)(SELU_ALPHA * SELU_SCALE) : x[i] * (T)SELU_SCALE;) \
    /* a = alpha */                                                                                          \
    ACTIVATION_LOOP(T, S, ATTR, celu, o[i] = x[i] <= 0 ? (EXP(x[i] / pa) - (T)1) * pa : x[i];)                          \
    /* -softplus(-x), stable for large |x| */                                                                \
    ACTIVATION_LOOP(T, S, ATTR, log_sigmoid, T v = x[i], m = v < 0 ? v : 0; o[i] = m - LOG1P(EXP(-(v < 0 ? -v : v)));) \
    /* In the order of activation_kind. */                                                                   \
    static void (*const activation_loops_##T##S[])(const T *restrict, T *restrict, int64_t, activation_params) = { \
        relu_##T##S, leaky_relu_##T##S, gelu_##T##S, gelu_tanh_##T##S, silu_##T##S, sigmoid_##T##S, tanh_##T##S, \
        elu_##T##S, hardtanh_##T##S, softplus_##T##S, hardswish_##T##S, hardsigmoid_##T##S, mish_##T##S,        \
        selu_##T##S, celu_##T##S, log_sigmoid_##T##S};                                                          \
    __attribute__((unused)) static void (*const activation_in_place_##T##S[])(T *restrict, int64_t,         \
                                                                              activation_params) = {        \
        relu_in_place_##T##S, leaky_relu_in_place_##T##S, gelu_in_place_##T##S, gelu_tanh_in_place_##T##S,     \
        silu_in_place_##T##S, sigmoid_in_place_##T##S, tanh_in_place_##T##S, elu_in_place_##T##S,              \
        hardtanh_in_place_##T##S, softplus_in_place_##T##S, hardswish_in_place_##T##S,                         \
        hardsigmoid_in_place_##T##S, mish_in_place_##T##S, selu_in_place_##T##S, celu_in_place_##T##S,         \
        log_sigmoid_in_place_##T##S};
ACTIVATION_LOOPS(float, , , pt2_exp_f32, log1pf, erff, tanhf, logf)
ACTIVATION_LOOPS(double, , , exp, log1p, erf, tanh, log)
#ifdef PT2_KERNELS_AVX2_COPIES
/* Sixteen lanes where the CPU has AVX-512, with the default copy's bits (the same operations,
 * no contraction; the library's functions are the same calls). The feed-forward relu of a
 * Transformer layer (d=256, ff=2048, T=500), applied in place in the linear layer's epilogue
 * (pt2_activation_epilogue), took 2.2% of the forward with four lanes and 0.6% with sixteen; as a
 * pass of its own over the 4 MiB product it took 2.6% either way (memory, not lanes). */
ACTIVATION_LOOPS(float, _avx512, PT2_AVX512_SEPARATE, pt2_exp_f32, log1pf, erff, tanhf, logf)
#endif

/* The float32 loops of this CPU, from x to o and in place. */
typedef void (*float_loop)(const float *restrict, float *restrict, int64_t, activation_params);
typedef void (*float_in_place_loop)(float *restrict, int64_t, activation_params);
static float_loop float_loop_of(activation_kind kind) {
#ifdef PT2_KERNELS_AVX2_COPIES
    if (pt2_cpu_has_avx512()) return activation_loops_float_avx512[kind];
#endif
    return activation_loops_float[kind];
}
static float_in_place_loop float_in_place_of(activation_kind kind) {
#ifdef PT2_KERNELS_AVX2_COPIES
    if (pt2_cpu_has_avx512()) return activation_in_place_float_avx512[kind];
#endif
    return activation_in_place_float[kind];
}
_Static_assert(sizeof activation_loops_float / sizeof activation_loops_float[0] == A_LOG_SIGMOID + 1,
               "one loop per activation_kind");
_Static_assert(sizeof activation_in_place_float / sizeof activation_in_place_float[0] == A_LOG_SIGMOID + 1,
               "one loop per activation_kind");

static pt2_status read_params(pt2_run_context *ctx, const pt2_node *node, activation_kind *kind, activation_params *p,
                              pt2_error *err) {
    pt2_status st = PT2_OK;
    memset(p, 0, sizeof *p);
    switch (*kind) {
    case A_LEAKY_RELU: st = pt2_op_scalar(ctx, node, "negative_slope", &p->a, err); break;
    case A_GELU: {
        const char *approximate = NULL;
        if (pt2_node_arg(node, "approximate")) st = pt2_op_string(ctx, node, "approximate", &approximate, err);
        if (!st && approximate && !strcmp(approximate, "tanh")) *kind = A_GELU_TANH;
        else if (!st && approximate && strcmp(approximate, "none"))
            st = pt2_fail(err, PT2_ERR_INPUT, "gelu approximate must be 'none' or 'tanh', got '%s'", approximate);
        break;
    }
    case A_ELU:
        st = pt2_op_scalar(ctx, node, "alpha", &p->a, err);
        if (!st) st = pt2_op_scalar(ctx, node, "scale", &p->b, err);
        if (!st) st = pt2_op_scalar(ctx, node, "input_scale", &p->c, err);
        break;
    case A_CELU: st = pt2_op_scalar(ctx, node, "alpha", &p->a, err); break;
    case A_HARDTANH:
        st = pt2_op_scalar(ctx, node, "min_val", &p->a, err);
        if (!st) st = pt2_op_scalar(ctx, node, "max_val", &p->b, err);
        break;
    case A_SOFTPLUS:
        st = pt2_op_scalar(ctx, node, "beta", &p->a, err);
        if (!st) st = pt2_op_scalar(ctx, node, "threshold", &p->b, err);
        break;
    default: break;
    }
    return st;
}

typedef struct activation_job {
    activation_kind kind;
    activation_params params;
    int single; /* float32, else float64 */
    const void *x;
    void *out;
    int64_t n, per_piece;
} activation_job;

static void activation_piece(void *context, size_t piece) {
    const activation_job *job = context;
    int64_t start = (int64_t)piece * job->per_piece, count = job->n - start < job->per_piece ? job->n - start : job->per_piece;
    if (count <= 0) return;
    if (job->single)
        float_loop_of(job->kind)((const float *)job->x + start, (float *)job->out + start, count, job->params);
    else activation_loops_double[job->kind]((const double *)job->x + start, (double *)job->out + start, count, job->params);
}

static pt2_status run_activation(pt2_run_context *ctx, const pt2_node *node, activation_kind kind, pt2_error *err) {
    pt2_tensor in, x, out;
    activation_params p;
    pt2_status st = pt2_op_tensor(ctx, node, pt2_node_arg(node, "self") ? "self" : "input", &in, err);
    if (!st) st = read_params(ctx, node, &kind, &p, err);
    if (st) return st;
    if (kind == A_RELU && !pt2_dtype_is_floating(in.dtype) && in.dtype != PT2_DTYPE_BOOL) {
        /* relu is the one activation PyTorch also runs on integer tensors. */
        if ((st = pt2_tensor_cast(ctx->arena, &in, PT2_DTYPE_INT64, &x, err))) return st;
        if ((st = pt2_tensor_alloc(ctx->arena, PT2_DTYPE_INT64, x.rank, x.shape, &out, err))) return st;
        const int64_t *restrict px = pt2_tensor_data(&x);
        int64_t *restrict po = pt2_tensor_data(&out), n = pt2_tensor_numel(&x);
        for (int64_t i = 0; i < n; i++) po[i] = px[i] > 0 ? px[i] : 0;
        if ((st = pt2_tensor_cast(ctx->arena, &out, in.dtype, &out, err))) return st;
        return pt2_op_set_output(ctx, node, 0, &out, err);
    }
    if (in.dtype != PT2_DTYPE_FLOAT32 && in.dtype != PT2_DTYPE_FLOAT64)
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "%s runs on float32 and float64 tensors, got %s", node->target,
                        pt2_dtype_name(in.dtype));
    if ((st = pt2_tensor_contiguous(ctx->arena, &in, 0, &x, err))) return st;
    /* Written in full by the activation loop: not zeroed first. */
    if ((st = pt2_tensor_alloc_uninit(ctx->arena, x.dtype, x.rank, x.shape, &out, err))) return st;
    activation_job job = {kind, p, x.dtype == PT2_DTYPE_FLOAT32, pt2_tensor_data(&x), pt2_tensor_data(&out),
                          pt2_tensor_numel(&x), 0};
    /* pieces of at least PIECE_MIN elements over the run's threads (each element on its own) */
    enum { PIECE_MIN = 1 << 15 };
    size_t pieces = pt2_parallel_pieces(ctx, (size_t)(job.n / PIECE_MIN > 0 ? job.n / PIECE_MIN : 1));
    job.per_piece = (job.n + (int64_t)pieces - 1) / (int64_t)pieces;
    pt2_parallel_for(ctx, pieces, activation_piece, &job);
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

#define ACTIVATION_OP(fn, kind) \
    static pt2_status fn(pt2_run_context *c, const pt2_node *n, pt2_error *e) { return run_activation(c, n, kind, e); }
ACTIVATION_OP(run_relu, A_RELU)
ACTIVATION_OP(run_leaky_relu, A_LEAKY_RELU)
ACTIVATION_OP(run_gelu, A_GELU)
ACTIVATION_OP(run_silu, A_SILU)
ACTIVATION_OP(run_sigmoid, A_SIGMOID)
ACTIVATION_OP(run_tanh, A_TANH)
ACTIVATION_OP(run_elu, A_ELU)
ACTIVATION_OP(run_selu, A_SELU)
ACTIVATION_OP(run_celu, A_CELU)
ACTIVATION_OP(run_hardtanh, A_HARDTANH)
ACTIVATION_OP(run_softplus, A_SOFTPLUS)
ACTIVATION_OP(run_hardswish, A_HARDSWISH)
ACTIVATION_OP(run_hardsigmoid, A_HARDSIGMOID)
ACTIVATION_OP(run_mish, A_MISH)
ACTIVATION_OP(run_log_sigmoid, A_LOG_SIGMOID)

/* relu6 is hardtanh(0, 6) without arguments in the graph. */
static pt2_status run_relu6(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor in, x, out;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &in, err);
    if (st) return st;
    if (in.dtype != PT2_DTYPE_FLOAT32 && in.dtype != PT2_DTYPE_FLOAT64)
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "relu6 runs on float tensors, got %s", pt2_dtype_name(in.dtype));
    if ((st = pt2_tensor_contiguous(ctx->arena, &in, 0, &x, err))) return st;
    if ((st = pt2_tensor_alloc(ctx->arena, x.dtype, x.rank, x.shape, &out, err))) return st;
    activation_params p = {0, 6, 0};
    if (x.dtype == PT2_DTYPE_FLOAT32) hardtanh_float(pt2_tensor_data(&x), pt2_tensor_data(&out), pt2_tensor_numel(&x), p);
    else hardtanh_double(pt2_tensor_data(&x), pt2_tensor_data(&out), pt2_tensor_numel(&x), p);
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

/* ---------------------------------------------------------------- as a GEMM's epilogue */

/* The activations a producer may apply to its own float32 output (pt2_activation_epilogue). */
static const struct {
    const char *target;
    activation_kind kind;
} epilogue_targets[] = {
    {"aten.relu.default", A_RELU},       {"aten.leaky_relu.default", A_LEAKY_RELU}, {"aten.gelu.default", A_GELU},
    {"aten.silu.default", A_SILU},       {"aten.sigmoid.default", A_SIGMOID},       {"aten.tanh.default", A_TANH},
    {"aten.elu.default", A_ELU},         {"aten.selu.default", A_SELU},             {"aten.celu.default", A_CELU},
    {"aten.hardtanh.default", A_HARDTANH}, {"aten.relu6.default", A_HARDTANH},      {"aten.softplus.default", A_SOFTPLUS},
    {"aten.hardswish.default", A_HARDSWISH}, {"aten.hardsigmoid.default", A_HARDSIGMOID}, {"aten.mish.default", A_MISH},
    {"aten.log_sigmoid.default", A_LOG_SIGMOID},
};

static void apply_in_place(const pt2_gemm_epilogue *self, float *values, int64_t count) {
    activation_params p = {self->a, self->b, self->c};
    float_in_place_of((activation_kind)self->kind)(values, count, p);
}

int pt2_activation_epilogue(pt2_run_context *ctx, const pt2_node *node, pt2_gemm_epilogue *out) {
    for (size_t i = 0; i < sizeof epilogue_targets / sizeof epilogue_targets[0]; i++) {
        if (strcmp(node->target, epilogue_targets[i].target)) continue;
        activation_kind kind = epilogue_targets[i].kind;
        activation_params p = {0, 6, 0}; /* relu6: hardtanh(0, 6), no arguments in the graph */
        pt2_error ignored;
        pt2_error_clear(&ignored); /* a bad argument fails in the node's own run instead */
        if (strcmp(node->target, "aten.relu6.default") && read_params(ctx, node, &kind, &p, &ignored)) return 0;
        *out = (pt2_gemm_epilogue){apply_in_place, (int)kind, p.a, p.b, p.c};
        return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------- glu and prelu */

#define GLU_LOOP(T, EXP)                                                                        \
    for (int64_t o = 0; o < outer; o++) {                                                        \
        const T *a = (const T *)pt2_tensor_data(&x) + o * 2 * half * inner, *b = a + half * inner; \
        T *restrict r = (T *)pt2_tensor_data(&out) + o * half * inner;                           \
        for (int64_t i = 0; i < half * inner; i++) r[i] = a[i] * ((T)1 / ((T)1 + EXP(-b[i])));   \
    }

static void outer_inner(const pt2_tensor *t, int d, int64_t *outer, int64_t *inner) {
    *outer = 1;
    *inner = 1;
    for (int i = 0; i < d; i++) *outer *= t->shape[i];
    for (int i = d + 1; i < t->rank; i++) *inner *= t->shape[i];
}

static pt2_status run_glu(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor in, x, out;
    int64_t dim;
    int d;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &in, err);
    if (!st) st = pt2_op_int(ctx, node, "dim", &dim, err);
    if (!st) st = pt2_op_wrap_dim(dim, in.rank, &d, err);
    if (st) return st;
    if (in.dtype != PT2_DTYPE_FLOAT32 && in.dtype != PT2_DTYPE_FLOAT64)
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "glu runs on float tensors, got %s", pt2_dtype_name(in.dtype));
    if (in.rank == 0 || in.shape[d] % 2)
        return pt2_fail(err, PT2_ERR_INPUT, "glu halves dimension %d, whose size %lld is not even", d,
                        (long long)(in.rank ? in.shape[d] : 0));
    if ((st = pt2_tensor_contiguous(ctx->arena, &in, 0, &x, err))) return st;
    int64_t shape[PT2_MAX_RANK], outer, inner, half = x.shape[d] / 2;
    memcpy(shape, x.shape, sizeof shape);
    shape[d] = half;
    if ((st = pt2_tensor_alloc(ctx->arena, x.dtype, x.rank, shape, &out, err))) return st;
    outer_inner(&x, d, &outer, &inner);
    if (x.dtype == PT2_DTYPE_FLOAT32) {
        GLU_LOOP(float, pt2_exp_f32)
    } else {
        GLU_LOOP(double, exp)
    }
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

static pt2_status run_prelu(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor in, w_in, x, w, out;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &in, err);
    if (!st) st = pt2_op_tensor(ctx, node, "weight", &w_in, err);
    if (st) return st;
    if (in.dtype != PT2_DTYPE_FLOAT32 && in.dtype != PT2_DTYPE_FLOAT64)
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "prelu runs on float tensors, got %s", pt2_dtype_name(in.dtype));
    if ((st = pt2_tensor_cast(ctx->arena, &in, in.dtype, &x, err))) return st;
    if ((st = pt2_tensor_cast(ctx->arena, &w_in, PT2_DTYPE_FLOAT64, &w, err))) return st;
    int64_t channels = pt2_tensor_numel(&w), outer = 1, inner = 1, size = 1;
    if (channels != 1) {
        if (x.rank < 2 || x.shape[1] != channels)
            return pt2_fail(err, PT2_ERR_INPUT, "prelu has %lld weights but the input's channel axis (1) has %lld",
                            (long long)channels, (long long)(x.rank >= 2 ? x.shape[1] : 0));
        outer_inner(&x, 1, &outer, &inner);
        size = channels;
    } else {
        outer = pt2_tensor_numel(&x);
    }
    if ((st = pt2_tensor_alloc(ctx->arena, x.dtype, x.rank, x.shape, &out, err))) return st;
    const double *pw = pt2_tensor_data(&w);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t c = 0; c < size; c++) {
            int64_t base = (o * size + c) * inner;
            if (x.dtype == PT2_DTYPE_FLOAT32) {
                const float *restrict px = (const float *)pt2_tensor_data(&x) + base;
                float *restrict po = (float *)pt2_tensor_data(&out) + base, slope = (float)pw[channels == 1 ? 0 : c];
                for (int64_t i = 0; i < inner; i++) po[i] = px[i] > 0 ? px[i] : px[i] * slope;
            } else {
                const double *restrict px = (const double *)pt2_tensor_data(&x) + base;
                double *restrict po = (double *)pt2_tensor_data(&out) + base, slope = pw[channels == 1 ? 0 : c];
                for (int64_t i = 0; i < inner; i++) po[i] = px[i] > 0 ? px[i] : px[i] * slope;
            }
        }
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

/* ---------------------------------------------------------------- softmax */

/* Numerically stable: subtract the maximum along the axis first. The inner loops run over the
 * axes after `dim`, so softmax over a channel axis is as vectorisable as over the last axis. */
#define SOFTMAX_LOOP(T, EXP, LOG)                                                                  \
    for (int64_t o = 0; o < outer; o++) {                                                           \
        const T *px = (const T *)pt2_tensor_data(&x) + o * size * inner;                             \
        T *po = (T *)pt2_tensor_data(&out) + o * size * inner;                                       \
        T *restrict mx = (T *)scratch, *restrict sum = mx + inner;                                   \
        for (int64_t i = 0; i < inner; i++) { mx[i] = px[i]; sum[i] = 0; }                          \
        for (int64_t k = 1; k < size; k++)                                                           \
            for (int64_t i = 0; i < inner; i++) { T v = px[k * inner + i]; mx[i] = v > mx[i] ? v : mx[i]; } \
        for (int64_t k = 0; k < size; k++)                                                           \
            for (int64_t i = 0; i < inner; i++) {                                                    \
                T e = EXP(px[k * inner + i] - mx[i]);                                                \
                sum[i] += e;                                                                         \
                if (!log_form) po[k * inner + i] = e;                                                \
            }                                                                                        \
        if (log_form) { /* (x - max) - log(sum), in PyTorch's order: exact near the maximum */    \
            for (int64_t i = 0; i < inner; i++) sum[i] = LOG(sum[i]);                                \
            for (int64_t k = 0; k < size; k++)                                                       \
                for (int64_t i = 0; i < inner; i++) po[k * inner + i] = (px[k * inner + i] - mx[i]) - sum[i]; \
        } else {                                                                                     \
            for (int64_t i = 0; i < inner; i++) sum[i] = (T)1 / sum[i];                              \
            for (int64_t k = 0; k < size; k++)                                                       \
                for (int64_t i = 0; i < inner; i++) po[k * inner + i] *= sum[i];                     \
        }                                                                                            \
    }

static pt2_status softmax_common(pt2_run_context *ctx, const pt2_node *node, int log_form, pt2_error *err) {
    pt2_tensor in, x, out;
    int64_t dim;
    int d;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &in, err);
    if (!st) st = pt2_op_int(ctx, node, "dim", &dim, err);
    if (!st) st = pt2_op_wrap_dim(dim, in.rank, &d, err);
    if (st) return st;
    pt2_dtype dtype = in.dtype;
    const pt2_arg *dtype_arg = pt2_node_arg(node, "dtype");
    if (dtype_arg && dtype_arg->kind != PT2_ARG_NONE) {
        int present = 0;
        if ((st = pt2_op_dtype(ctx, node, "dtype", &dtype, &present, err))) return st;
        if (!present) dtype = in.dtype;
    }
    if (dtype != PT2_DTYPE_FLOAT32 && dtype != PT2_DTYPE_FLOAT64)
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "softmax runs on float32 and float64, got %s", pt2_dtype_name(dtype));
    if ((st = pt2_tensor_cast(ctx->arena, &in, dtype, &x, err))) return st;
    if ((st = pt2_tensor_alloc(ctx->arena, dtype, x.rank, x.shape, &out, err))) return st;
    int64_t outer, inner, size = x.rank ? x.shape[d] : 1;
    outer_inner(&x, x.rank ? d : 0, &outer, &inner);
    if (x.rank == 0) outer = 1;
    if (pt2_tensor_numel(&x) == 0) return pt2_op_set_output(ctx, node, 0, &out, err);
    void *scratch = pt2_arena_alloc_array(ctx->arena, (size_t)inner * 2, pt2_dtype_size(dtype), err);
    if (!scratch) return err->status;
    if (dtype == PT2_DTYPE_FLOAT32) {
        SOFTMAX_LOOP(float, pt2_exp_f32, logf)
    } else {
        SOFTMAX_LOOP(double, exp, log)
    }
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

static pt2_status run_softmax(pt2_run_context *c, const pt2_node *n, pt2_error *e) { return softmax_common(c, n, 0, e); }
static pt2_status run_log_softmax(pt2_run_context *c, const pt2_node *n, pt2_error *e) { return softmax_common(c, n, 1, e); }

/* ---------------------------------------------------------------- dropout at inference */

static pt2_status run_dropout(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x;
    int train = 0;
    pt2_status st = pt2_op_tensor(ctx, node, "input", &x, err);
    if (!st && pt2_node_arg(node, "train")) st = pt2_op_bool(ctx, node, "train", &train, err);
    if (st) return st;
    if (train) return pt2_fail(err, PT2_ERR_UNSUPPORTED, "dropout in training mode; export the model after .eval()");
    return pt2_op_set_output(ctx, node, 0, &x, err);
}

const pt2_op_def pt2_ops_activation[] = {
    {"aten.relu.default", run_relu},
    {"aten.leaky_relu.default", run_leaky_relu},
    {"aten.gelu.default", run_gelu},
    {"aten.silu.default", run_silu},
    {"aten.sigmoid.default", run_sigmoid},
    {"aten.tanh.default", run_tanh},
    {"aten.elu.default", run_elu},
    {"aten.selu.default", run_selu},
    {"aten.celu.default", run_celu},
    {"aten.hardtanh.default", run_hardtanh},
    {"aten.relu6.default", run_relu6},
    {"aten.softplus.default", run_softplus},
    {"aten.hardswish.default", run_hardswish},
    {"aten.hardsigmoid.default", run_hardsigmoid},
    {"aten.mish.default", run_mish},
    {"aten.log_sigmoid.default", run_log_sigmoid},
    {"aten.glu.default", run_glu},
    {"aten.prelu.default", run_prelu},
    {"aten._prelu_kernel.default", run_prelu},
    {"aten.softmax.int", run_softmax},
    {"aten._softmax.default", run_softmax},
    {"aten.log_softmax.int", run_log_softmax},
    {"aten._log_softmax.default", run_log_softmax},
    {"aten.dropout.default", run_dropout},
    {"aten.feature_dropout.default", run_dropout},
    {"aten.alpha_dropout.default", run_dropout},
    {NULL, NULL}};
