/* Layers that act elementwise: copy, activation, eval (with the expressions pt2returnn
 * writes) and combine, which broadcasts its sources by dim tags, as RETURNN does: dims match
 * when they are the same dim, or when both are their sources' feature dims of one size. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../ops/elementwise.h"
#include "layers.h"
#include "layers_math.h"
#include "rec_units.h"

static const struct {
    const char *name, *code;
} eval_forms[] = {
    {"leaky_relu", "tf.nn.leaky_relu(source(0), alpha=%s)"},
    {"gelu", "tf.nn.gelu(source(0), approximate=False)"},
    {"gelu_tanh", "tf.nn.gelu(source(0), approximate=True)"},
    {"silu", "tf.nn.silu(source(0))"},
    {"add_scalar", "source(0) + %s"},
    {"mul_scalar", "source(0) * %s"},
    {"rsub_scalar", "%s - source(0)"},
    {"rdiv_scalar", "%s / source(0)"},
    {"div_scalar", "source(0) / %s"},
    {"pow_scalar", "tf.pow(source(0), %s)"},
    {"neg", "-source(0)"},
    /* core/returnn/layers_math.c computes these */
    {"clamp_min", "tf.maximum(source(0), %s)"},
    {"clamp_max", "tf.minimum(source(0), %s)"},
    {"rpow_scalar", "tf.pow(%s, source(0))"},
    {"floordiv_scalar", "tf.math.floordiv(source(0), %s)"},
    {"floormod_scalar", "tf.math.floormod(source(0), %s)"},
    {"truncatemod_scalar", "tf.truncatemod(source(0), %s)"},
    {"trunc", "tf.sign(source(0)) * tf.floor(tf.abs(source(0)))"},
    {"log_divide", "tf.math.log(source(0)) / %s"},
    {"elu_alpha", "tf.where(source(0) > 0.0, source(0), %s * tf.math.expm1(source(0)))"},
    {"mish", "source(0) * tf.tanh(tf.nn.softplus(source(0)))"},
    {"hardswish", "source(0) * tf.nn.relu6(source(0) + 3.0) / 6.0"},
    {"hardsigmoid", "tf.nn.relu6(source(0) + 3.0) / 6.0"},
    {"negative_part", "tf.minimum(source(0), 0.0)"},
    /* A tensor of the source's dims and dtype filled with %s (ones_like, zeros_like, full_like). */
    {"fill_like", "tf.ones_like(source(0)) * %s"},
    /* Attention scores with the keys (the last axis) after each query (the axis before) set to %s. */
    {"causal_fill", "tf.where(tf.cast(tf.linalg.band_part(tf.ones_like(source(0), dtype=tf.int32), -1, 0), tf.bool), "
                    "source(0), %s)"},
    /* ops13: linear interpolation with align_corners=True of each sequence, on a nearest
     * upsampling by %s of the time (core/returnn/layers_resize_time.c says what it computes) */
    {"linear_align_corners_time",
     "(lambda d, f: (lambda perm: (lambda x, n, t: (lambda i, w: tf.transpose("
     "tf.gather(x, i * f, axis=1, batch_dims=1) * (1.0 - w) + "
     "tf.gather(x, tf.minimum(i + 1, n[:, None] - 1) * f, axis=1, batch_dims=1) * w, tf.math.invert_permutation(perm)))"
     "(*(lambda s: (tf.minimum(tf.cast(tf.floor(s), tf.int32), n[:, None] - 1), "
     "tf.reshape(s - tf.floor(s), tf.concat([tf.shape(s), tf.ones([d.batch_ndim - 2], tf.int32)], 0))))"
     "(tf.cast(tf.range(t)[None, :], tf.float32) * (tf.cast(n[:, None] - 1, tf.float32) / "
     "tf.cast(tf.maximum(n[:, None] * f - 1, 1), tf.float32)))))"
     "(tf.transpose(d.placeholder, perm), d.get_sequence_lengths() // f, tf.shape(d.placeholder)[d.time_dim_axis]))"
     "([d.batch_dim_axis, d.time_dim_axis] + [a for a in range(d.batch_ndim) if a not in (d.batch_dim_axis, d.time_dim_axis)]))"
     "(source(0, as_data=True), int(%s))"},
    /* ops13: bitwise ops of an integer tensor with a number (TF's, exact on int32/int64) */
    {"bitwise_and_scalar", "tf.bitwise.bitwise_and(source(0), %s)"},
    {"bitwise_or_scalar", "tf.bitwise.bitwise_or(source(0), %s)"},
    {"bitwise_xor_scalar", "tf.bitwise.bitwise_xor(source(0), %s)"},
    {"reverse_sequence", PT2_REC_EVAL_REVERSE}, /* not elementwise: the rec family's eval runs it */
    /* The frames of the time axis moved %s back (the first ones to the end), as tf.roll. */
    {"roll_time_back", "tf.roll(source(0), shift=-int(%s), axis=source(0, as_data=True).time_dim_axis)"},
    /* The last %s frames of the time axis (a pad's right part) redone at each sequence's end. */
    {"reflect_end", "(lambda d, r: tf.reverse_sequence(tf.gather(tf.reverse_sequence(d.placeholder, "
                    "d.get_sequence_lengths() - r, seq_axis=d.time_dim_axis, batch_axis=d.batch_dim_axis), "
                    "tf.abs(tf.range(tf.shape(d.placeholder)[d.time_dim_axis]) - r), axis=d.time_dim_axis), "
                    "d.get_sequence_lengths(), seq_axis=d.time_dim_axis, batch_axis=d.batch_dim_axis))"
                    "(source(0, as_data=True), int(%s))"},
    {"replicate_end", "(lambda d, r: tf.reverse_sequence(tf.gather(tf.reverse_sequence(d.placeholder, "
                      "d.get_sequence_lengths() - r, seq_axis=d.time_dim_axis, batch_axis=d.batch_dim_axis), "
                      "tf.maximum(tf.range(tf.shape(d.placeholder)[d.time_dim_axis]) - r, 0), axis=d.time_dim_axis), "
                      "d.get_sequence_lengths(), seq_axis=d.time_dim_axis, batch_axis=d.batch_dim_axis))"
                      "(source(0, as_data=True), int(%s))"},
    /* A concat along the time of [a, c] (core/lower/lower_concat.c) with each sequence packed:
     * c moved back to the end of the sequence's own a (frames t of a's padding, len_a <= t <
     * T_a, rotated to the end), by reversing the whole time, c's padded part, the part after
     * len_a, and the whole again. */
    {"concat_time_per_sequence",
                                  "(lambda c, d: (lambda a, x, t: (lambda n, ta: "
                                  "tf.reverse_sequence(tf.reverse_sequence(tf.reverse_sequence(tf.reverse_sequence(x, n * 0 + t, "
                                  "seq_axis=d.time_dim_axis, batch_axis=d.batch_dim_axis), n * 0 + t - ta, "
                                  "seq_axis=d.time_dim_axis, batch_axis=d.batch_dim_axis), t - n, "
                                  "seq_axis=d.time_dim_axis, batch_axis=d.batch_dim_axis), n * 0 + t, "
                                  "seq_axis=d.time_dim_axis, batch_axis=d.batch_dim_axis))"
                                  "(a.get_sequence_lengths(), tf.shape(a.placeholder)[a.time_dim_axis]))"
                                  "(c.sources[0].output, d.placeholder, tf.shape(d.placeholder)[d.time_dim_axis]))"
                                  "(source(0, as_layer=True), source(0, as_data=True))"},
    /* gather branch: prod over the feature / the time (each sequence's frames only), the
     * product at every position of that axis (a reduce max then drops the axis exactly) */
    {"prod_feature", "tf.reduce_prod(source(0), axis=source(0, as_data=True).feature_dim_axis, keepdims=True) "
                     "* tf.ones_like(source(0))"},
    {"prod_time", "tf.reduce_prod(tf.where(source(0, as_data=True).get_sequence_mask_broadcast("
                  "axis=source(0, as_data=True).time_dim_axis), source(0), 1.0), "
                  "axis=source(0, as_data=True).time_dim_axis, keepdims=True) * tf.ones_like(source(0))"},
};

const char *pt2_rt_eval_form(const char *name) {
    for (size_t i = 0; i < sizeof eval_forms / sizeof eval_forms[0]; i++)
        if (!strcmp(eval_forms[i].name, name)) return eval_forms[i].code;
    return NULL;
}

/* Is code[begin, end) an integer literal (Python reads it as an int)? */
static int integer_literal(const char *begin, const char *end) {
    for (const char *c = begin; c < end; c++)
        if (!(*c >= '0' && *c <= '9') && !(c == begin && *c == '-')) return 0;
    return end > begin;
}

/* Which form `code` is, and its number; *integral = the number is written as a Python int. */
static const char *match_eval(const char *code, double *number, int *integral) {
    *integral = 0;
    for (size_t i = 0; i < sizeof eval_forms / sizeof eval_forms[0]; i++) {
        const char *form = eval_forms[i].code, *hole = strstr(form, "%s");
        if (!hole) {
            if (!strcmp(form, code)) return eval_forms[i].name;
            continue;
        }
        size_t prefix = (size_t)(hole - form), suffix = strlen(hole + 2), n = strlen(code);
        if (n <= prefix + suffix || strncmp(code, form, prefix) || strcmp(code + n - suffix, hole + 2)) continue;
        char *end;
        *number = strtod(code + prefix, &end);
        *integral = integer_literal(code + prefix, end);
        if (end == code + n - suffix) return eval_forms[i].name;
    }
    return NULL;
}

static pt2_status same_shape_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer,
                                   const pt2_rt_shape *inputs, size_t num_inputs, pt2_rt_shape *out, pt2_error *err) {
    (void)arena, (void)net;
    pt2_status st = pt2_rt_single_input(layer, num_inputs, err);
    if (st) return st;
    *out = inputs[0];
    out->sparse_dim = -1;
    if (inputs[0].sparse_dim >= 0 && strcmp(layer->layer_class, "copy"))
        return pt2_rt_layer_fail(layer, err, "expected dense input");
    if (inputs[0].sparse_dim >= 0) out->sparse_dim = inputs[0].sparse_dim;
    return PT2_OK;
}

/* One source: its data as it lies, a view in the layer's axis order (a result may have any
 * strides; whoever keeps it copies what it must). */
static pt2_status copy_input(const pt2_rt_layer *layer, const pt2_rt_tensor *in, pt2_tensor *out, pt2_error *err) {
    return pt2_rt_strided_view(in, layer->shape.rank, layer->shape.dims, out, err);
}

/* copy from several sources concatenates them along their feature dims (the other dims must
 * be the same), into a new feature dim. */
static pt2_status copy_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *inputs,
                             size_t num_inputs, pt2_rt_shape *out, pt2_error *err) {
    if (num_inputs <= 1) return same_shape_infer(arena, net, layer, inputs, num_inputs, out, err);
    int64_t total = 0;
    for (size_t i = 0; i < num_inputs; i++) {
        const pt2_rt_shape *s = &inputs[i];
        if (s->feature_dim < 0 || s->sparse_dim >= 0 || s->rank != inputs[0].rank)
            return pt2_rt_layer_fail(layer, err, "concatenated sources need feature dims and the same other dims");
        for (int a = 0; a < s->rank; a++)
            if (s->dims[a] != s->feature_dim && pt2_rt_shape_axis(&inputs[0], s->dims[a]) < 0)
                return pt2_rt_layer_fail(layer, err, "concatenated sources differ in a dim other than the feature");
        total += net->dims[s->feature_dim].size;
    }
    const char *description = pt2_arena_printf(arena, err, "%s:concat-feature", layer->name);
    int feature;
    if (!description) return err->status;
    pt2_status st = pt2_rt_add_dim(arena, net, description, PT2_RT_DIM_STATIC, total, &feature, err);
    if (st) return st;
    *out = inputs[0];
    out->dims[pt2_rt_shape_axis(out, out->feature_dim)] = feature;
    out->feature_dim = feature;
    return PT2_OK;
}

static pt2_status copy_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                               const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *out, pt2_error *err) {
    (void)net;
    if (num_inputs <= 1) return copy_input(layer, &inputs[0], out, err);
    /* Each source in the output's order, its own feature dim in the feature's place, then stacked. */
    int feature_axis = pt2_rt_shape_axis(&layer->shape, layer->shape.feature_dim);
    int64_t sizes[PT2_MAX_RANK], outer = 1, inner = 1, offset = 0;
    memset(sizes, 0, sizeof sizes);
    pt2_tensor *parts = pt2_arena_alloc_array(arena, num_inputs, sizeof *parts, err);
    if (!parts) return err->status;
    for (size_t i = 0; i < num_inputs; i++) {
        int dims[PT2_MAX_RANK];
        memcpy(dims, layer->shape.dims, sizeof dims);
        dims[feature_axis] = inputs[i].shape.feature_dim;
        pt2_status st = pt2_rt_view_to(arena, &inputs[i], layer->shape.rank, dims, &parts[i], err);
        if (st) return st;
        for (int a = 0; a < layer->shape.rank; a++) sizes[a] = a == feature_axis ? sizes[a] + parts[i].shape[a] : parts[i].shape[a];
    }
    pt2_status st = pt2_rt_alloc_output_uninit(arena, &layer->shape, sizes, out, err);
    if (st) return st;
    for (int a = 0; a < feature_axis; a++) outer *= sizes[a];
    for (int a = feature_axis + 1; a < layer->shape.rank; a++) inner *= sizes[a];
    float *po = pt2_tensor_data(out);
    for (size_t i = 0; i < num_inputs; i++) {
        const float *pp = pt2_tensor_data(&parts[i]);
        int64_t n = parts[i].shape[feature_axis];
        for (int64_t o = 0; o < outer; o++)
            memcpy(po + (o * sizes[feature_axis] + offset) * inner, pp + o * n * inner, sizeof(float) * (size_t)(n * inner));
        offset += n;
    }
    return PT2_OK;
}

/* p[i] = f(src[i]): one function per elementwise function, each its own loop, resolved once per
 * layer from the activation name or the eval form (never per element). The functions of a
 * library (tanh, exp, erf, ...) in double, rounded to float32: TF's own approximations are within
 * a unit or two of that. The arithmetic ones as TF computes them, in float32 with the number made
 * a float32 first (TF turns a Python float into a tensor of the source's dtype; leaky_relu's alpha
 * is cast to the features' type): fl(x * fl(0.2)) is not always fl(x * 0.2), and in float32 the
 * loop is also a vector loop in WebAssembly, where the round trip through double was not. Apart,
 * not one switch of every loop: V8 compiles a WebAssembly function that runs hot again, whole,
 * and a conversion's first call waited on that function of 21 loops (its optimising compile took
 * 50-120 ms of the CPU), where now it compiles the loop it runs. */
typedef void (*unary_loop)(const float *src, float *p, int64_t n, double number);

#define UNARY_IN_DOUBLE(NAME, expression)                                                                       \
    static void NAME(const float *src, float *p, int64_t n, double number) {                                    \
        (void)number;                                                                                           \
        for (int64_t i = 0; i < n; i++) {                                                                       \
            double v = src[i];                                                                                  \
            p[i] = (float)(expression);                                                                         \
        }                                                                                                       \
    }
#define UNARY_IN_FLOAT(NAME, expression)                                                                        \
    static void NAME(const float *src, float *p, int64_t n, double number) {                                    \
        const float c = (float)number;                                                                          \
        (void)c;                                                                                                \
        for (int64_t i = 0; i < n; i++) {                                                                       \
            float v = src[i];                                                                                   \
            p[i] = (expression);                                                                                \
        }                                                                                                       \
    }

UNARY_IN_DOUBLE(unary_tanh, tanh(v))
UNARY_IN_FLOAT(unary_relu, v > 0 ? v : 0.0f)
UNARY_IN_DOUBLE(unary_sigmoid, 1.0 / (1.0 + exp(-v)))
UNARY_IN_DOUBLE(unary_exp, exp(v))
UNARY_IN_DOUBLE(unary_log, log(v))
UNARY_IN_FLOAT(unary_abs, fabsf(v))
UNARY_IN_DOUBLE(unary_sqrt, sqrt(v))
UNARY_IN_DOUBLE(unary_rsqrt, 1.0 / sqrt(v))
UNARY_IN_DOUBLE(unary_softplus, v > 20 ? v : log1p(exp(v)))
UNARY_IN_DOUBLE(unary_elu, v > 0 ? v : expm1(v))
UNARY_IN_DOUBLE(unary_gelu, 0.5 * v * (1.0 + erf(v / sqrt(2.0))))
UNARY_IN_DOUBLE(unary_gelu_tanh, 0.5 * v * (1.0 + tanh(sqrt(2.0 / 3.14159265358979323846) * (v + 0.044715 * v * v * v))))
UNARY_IN_DOUBLE(unary_silu, v / (1.0 + exp(-v)))
UNARY_IN_FLOAT(unary_add_scalar, v + c)
UNARY_IN_FLOAT(unary_mul_scalar, v * c)
UNARY_IN_FLOAT(unary_rsub_scalar, c - v)
UNARY_IN_FLOAT(unary_rdiv_scalar, c / v)
UNARY_IN_FLOAT(unary_div_scalar, v / c)
UNARY_IN_DOUBLE(unary_pow_scalar, pow(v, number))
UNARY_IN_FLOAT(unary_neg, -v)
#undef UNARY_IN_DOUBLE
#undef UNARY_IN_FLOAT

/* TF: features > 0 ? features : features * alpha; the product for every element vectorises */
static void unary_leaky_relu(const float *src, float *p, int64_t n, double number) {
    const float c = (float)number;
    for (int64_t i = 0; i < n; i++) {
        float v = src[i], scaled = v * c;
        p[i] = v > 0 ? v : scaled;
    }
}

typedef struct unary_function {
    const char *name;
    unary_loop loop;
} unary_function;

/* RETURNN activation names, then the eval forms pt2returnn writes: each a table of its own. */
static const unary_function unary_activations[] = {
    {"tanh", unary_tanh}, {"relu", unary_relu}, {"sigmoid", unary_sigmoid}, {"exp", unary_exp},
    {"log", unary_log}, {"abs", unary_abs}, {"sqrt", unary_sqrt}, {"rsqrt", unary_rsqrt},
    {"softplus", unary_softplus}, {"elu", unary_elu}};
static const unary_function unary_eval_forms[] = {
    {"leaky_relu", unary_leaky_relu}, {"gelu", unary_gelu}, {"gelu_tanh", unary_gelu_tanh}, {"silu", unary_silu},
    {"add_scalar", unary_add_scalar}, {"mul_scalar", unary_mul_scalar}, {"rsub_scalar", unary_rsub_scalar},
    {"rdiv_scalar", unary_rdiv_scalar}, {"div_scalar", unary_div_scalar}, {"pow_scalar", unary_pow_scalar},
    {"neg", unary_neg}};

/* The loop of `name` in `table`, or NULL. */
static unary_loop find_unary(const char *name, const unary_function *table, size_t count) {
    for (size_t i = 0; i < count; i++)
        if (!strcmp(table[i].name, name)) return table[i].loop;
    return NULL;
}

/* The functions of core/returnn/layers_math.c, by name: element by element (a function of its
 * own for the reason above). */
__attribute__((noinline)) static void math_loop(const char *math_activation, const char *form, double number, const float *src, float *p,
                      int64_t n) {
    if (math_activation)
        for (int64_t i = 0; i < n; i++) p[i] = (float)pt2_rt_math_activation(math_activation, src[i]);
    else
        for (int64_t i = 0; i < n; i++) p[i] = (float)pt2_rt_math_eval(form, number, src[i]);
}

/* activation "softmax" / "log_softmax": over the feature dim, as RETURNN's activation does. */
static pt2_status softmax_compute(pt2_arena *arena, const pt2_rt_layer *layer, const pt2_rt_tensor *in, int log_space,
                                  pt2_tensor *out, pt2_error *err) {
    int order[PT2_MAX_RANK], rank = 0;
    for (int a = 0; a < layer->shape.rank; a++)
        if (layer->shape.dims[a] != layer->shape.feature_dim) order[rank++] = layer->shape.dims[a];
    order[rank++] = layer->shape.feature_dim;
    pt2_tensor x;
    pt2_status st = pt2_rt_transpose_to(arena, in, rank, order, &x, err);
    if (!st && x.storage == in->tensor.storage) st = pt2_tensor_contiguous(arena, &x, 1, &x, err);
    if (st) return st;
    int64_t n = x.shape[rank - 1], rows = pt2_tensor_numel(&x) / (n ? n : 1);
    float *p = pt2_tensor_data(&x);
    for (int64_t r = 0; r < rows; r++) {
        float *row = p + r * n;
        double top = -INFINITY, total = 0;
        for (int64_t i = 0; i < n; i++) top = row[i] > top ? row[i] : top;
        for (int64_t i = 0; i < n; i++) total += exp(row[i] - top);
        for (int64_t i = 0; i < n; i++) row[i] = (float)(log_space ? row[i] - top - log(total) : exp(row[i] - top) / total);
    }
    pt2_rt_tensor result = {x, layer->shape, 0};
    memcpy(result.shape.dims, order, sizeof order);
    return pt2_rt_transpose_to(arena, &result, layer->shape.rank, layer->shape.dims, out, err);
}

static pt2_status integer_eval(pt2_arena *arena, const pt2_rt_layer *layer, const pt2_rt_tensor *in, const char *form,
                               int64_t number, pt2_tensor *out, pt2_error *err);

/* tf.linalg.band_part(.., -1, 0) over the last two axes of the layer's own order: element
 * [.., i, j] kept where j <= i, else `fill`. */
static pt2_status causal_fill(pt2_arena *arena, const pt2_rt_layer *layer, const pt2_rt_tensor *in, double fill,
                              pt2_tensor *out, pt2_error *err) {
    if (layer->shape.rank < 2 || in->shape.dtype != PT2_DTYPE_FLOAT32)
        return pt2_rt_layer_fail(layer, err, "causal_fill needs a float32 source of at least two axes");
    pt2_status st = pt2_rt_transpose_to(arena, in, layer->shape.rank, layer->shape.dims, out, err);
    if (!st && out->storage == in->tensor.storage) st = pt2_tensor_contiguous(arena, out, 1, out, err);
    if (st) return st;
    int64_t rows = out->shape[out->rank - 2], columns = out->shape[out->rank - 1], n = pt2_tensor_numel(out);
    float *p = pt2_tensor_data(out);
    for (int64_t flat = 0; flat < n; flat++)
        if (flat % columns > (flat / columns) % rows) p[flat] = (float)fill;
    return PT2_OK;
}

static pt2_status unary_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *out, pt2_error *err) {
    (void)net, (void)num_inputs;
    const char *kind = pt2_rt_string_option(layer, "activation", "");
    if (!strcmp(layer->layer_class, "activation") && (!strcmp(kind, "softmax") || !strcmp(kind, "log_softmax"))) {
        if (layer->shape.feature_dim < 0) return pt2_rt_layer_fail(layer, err, "softmax needs a feature dim");
        return softmax_compute(arena, layer, &inputs[0], !strcmp(kind, "log_softmax"), out, err);
    }
    /* The common functions run as one loop each (unary_activations, unary_eval_forms); the rest,
     * by name, from core/returnn/layers_math.c (math_loop). */
    const char *form = NULL, *math_activation = NULL;
    double number = 0;
    unary_loop loop = NULL;
    int integer_source = inputs[0].shape.dtype == PT2_DTYPE_INT64 || inputs[0].shape.dtype == PT2_DTYPE_INT32;
    if (!strcmp(layer->layer_class, "activation")) {
        const char *name = pt2_rt_string_option(layer, "activation", "");
        /* tf.abs and tf.sign keep an integer tensor's dtype (MPNet's relative position buckets,
         * DeBERTa-v2's); the float loops below would read its bytes as floats. */
        if (integer_source) {
            if (strcmp(name, "abs") && strcmp(name, "sign"))
                return pt2_rt_layer_fail(layer, err, "activation \"%s\" on an integer tensor is not interpreted", name);
            return integer_eval(arena, layer, &inputs[0], name, 0, out, err);
        }
        if (!(loop = find_unary(name, unary_activations, sizeof unary_activations / sizeof unary_activations[0])) &&
            !(math_activation = pt2_rt_math_activation_name(name)))
            return pt2_rt_layer_fail(layer, err, "activation \"%s\" is not known to the interpreter", name);
    } else {
        const char *code = pt2_rt_string_option(layer, "eval", "");
        int integral;
        if (!(form = match_eval(code, &number, &integral)))
            return pt2_rt_layer_fail(layer, err, "eval \"%s\" is not one of the expressions pt2returnn writes", code);
        /* TF converts a Python float to the tensor's dtype only when it is a float dtype. */
        if (integer_source && strstr(pt2_rt_eval_form(form), "%s") && !integral)
            return pt2_rt_layer_fail(layer, err, "eval \"%s\": TF does not combine an integer tensor with a Python float", code);
        loop = find_unary(form, unary_eval_forms, sizeof unary_eval_forms / sizeof unary_eval_forms[0]);
    }
    if (form && !strcmp(form, "concat_time_per_sequence")) return pt2_rt_pack_joined_sequences(arena, net, layer, &inputs[0], out, err);
    if (form && (!strcmp(form, "prod_feature") || !strcmp(form, "prod_time")))
        return pt2_rt_prod_broadcast(arena, net, layer, &inputs[0], !strcmp(form, "prod_time"), out, err);
    if (form && !strcmp(form, "linear_align_corners_time"))
        return pt2_rt_linear_align_corners_time(arena, net, layer, &inputs[0], (int64_t)number, out, err);
    if (form && !strcmp(form, "roll_time_back")) return pt2_rt_roll_time_back(arena, net, layer, &inputs[0], (int64_t)number, out, err);
    if (form && (!strcmp(form, "reflect_end") || !strcmp(form, "replicate_end")))
        return pt2_rt_pad_sequence_ends(arena, net, layer, &inputs[0], !strcmp(form, "reflect_end"), (int64_t)number, out, err);
    if (form && !strcmp(form, "causal_fill")) return causal_fill(arena, layer, &inputs[0], number, out, err);
    if (form && integer_source)
        return integer_eval(arena, layer, &inputs[0], form, (int64_t)number, out, err);
    /* The input in its memory order: the result in the same order, in one pass (computed in
     * place when the input had to be copied to be dense, or may be written over). */
    pt2_tensor x, physical, result;
    int order[PT2_MAX_RANK];
    pt2_status st = pt2_rt_strided_view(&inputs[0], layer->shape.rank, layer->shape.dims, &x, err);
    if (!st) st = pt2_tensor_in_memory_order(arena, &x, order, &physical, err);
    if (st) return st;
    if (physical.storage != inputs[0].tensor.storage || (inputs[0].writable && x.dtype == PT2_DTYPE_FLOAT32)) result = physical;
    else if ((st = pt2_tensor_alloc_uninit(arena, x.dtype, x.rank, physical.shape, &result, err))) return st;
    pt2_tensor_unpermute(&result, order, out);
    const float *src = pt2_tensor_data(&physical);
    float *p = pt2_tensor_data(&result);
    int64_t n = pt2_tensor_numel(&result);
    if (loop) loop(src, p, n, number);
    else math_loop(math_activation, form, number, src, p, n);
    return PT2_OK;
}

/* The eval forms (and activation abs) on an integer tensor (positions from a range), exact as TF's integer ops:
 * floordiv and floormod round toward minus infinity, as Python's // and %. */
static pt2_status integer_eval(pt2_arena *arena, const pt2_rt_layer *layer, const pt2_rt_tensor *in, const char *form,
                               int64_t number, pt2_tensor *out, pt2_error *err) {
    pt2_tensor x;
    pt2_status st = pt2_rt_view_to(arena, in, layer->shape.rank, layer->shape.dims, &x, err);
    if (!st) st = pt2_rt_alloc_output_uninit(arena, &layer->shape, x.shape, out, err);
    if (st) return st;
    int64_t n = pt2_tensor_numel(&x);
    for (int64_t i = 0; i < n; i++) {
        int64_t v = (int64_t)pt2_tensor_get_double(&x, i), r;
        if (!strcmp(form, "add_scalar")) r = v + number;
        else if (!strcmp(form, "mul_scalar")) r = v * number;
        else if (!strcmp(form, "rsub_scalar")) r = number - v;
        else if (!strcmp(form, "neg")) r = -v;
        else if (!strcmp(form, "abs")) r = v < 0 ? -v : v;
        else if (!strcmp(form, "sign")) r = (v > 0) - (v < 0);
        else if (!strcmp(form, "clamp_min")) r = v > number ? v : number;
        else if (!strcmp(form, "clamp_max")) r = v < number ? v : number;
        else if (!strcmp(form, "fill_like")) r = number;
        else if (!strcmp(form, "bitwise_and_scalar")) r = v & number;
        else if (!strcmp(form, "bitwise_or_scalar")) r = v | number;
        else if (!strcmp(form, "bitwise_xor_scalar")) r = v ^ number;
        else if (!strcmp(form, "floordiv_scalar") || !strcmp(form, "floormod_scalar")) {
            if (number == 0) return pt2_rt_layer_fail(layer, err, "integer division by zero");
            int64_t q = v / number;
            if ((v % number != 0) && ((v < 0) != (number < 0))) q--;
            r = !strcmp(form, "floordiv_scalar") ? q : v - q * number;
        } else return pt2_rt_layer_fail(layer, err, "eval form %s on an integer tensor is not interpreted", form);
        pt2_rt_store(out, i, (double)r);
    }
    return PT2_OK;
}

/* ---- combine ---- */

/* A static dim a layer made (RETURNN's auto-generated dims), not the feature dim of `shape` and
 * not one the input declares (the Python config's Dim objects, which match only themselves). */
static int made_static_spatial(const pt2_rt_net *net, const pt2_rt_shape *shape, int dim) {
    return net->dims[dim].kind == PT2_RT_DIM_STATIC && dim != shape->feature_dim &&
           pt2_rt_shape_axis(&net->input, dim) < 0;
}

/* The dim a dynamic dim is derived from at the end (the input's time for a conv's output). */
static int derived_root(const pt2_rt_net *net, int dim) {
    for (int steps = 0; net->dims[dim].base >= 0 && steps < 1000; steps++) dim = net->dims[dim].base;
    return dim;
}

/* The output dim each of a source's dims stands for (-1: none), as RETURNN's common shape of
 * sources finds it (Data.get_common_data): the same dim; else the source's feature dim is the
 * output's feature dim of its size; else a static dim layers made is the first static dim of
 * its size that layers made in the output (allow_same_spatial_dim: a residual block's branch and
 * shortcut, two convs from one input, end in two dims of one height, which RETURNN adds as one);
 * else a dynamic dim is the first dynamic dim derived from the same one (derived_matches: a
 * copy of the time made by merging it with a size-1 axis is the time again there). Each output
 * dim is taken once per source. */
static void match_dims(const pt2_rt_net *net, const pt2_rt_shape *out, const pt2_rt_shape *source, int *match) {
    int taken[PT2_MAX_RANK] = {0};
    for (int a = 0; a < source->rank; a++) {
        int dim = source->dims[a], at = pt2_rt_shape_axis(out, dim);
        if (at < 0 && dim == source->feature_dim && out->feature_dim >= 0 && net->dims[dim].kind == PT2_RT_DIM_STATIC &&
            net->dims[dim].size == net->dims[out->feature_dim].size)
            at = pt2_rt_shape_axis(out, out->feature_dim);
        if (at < 0 && made_static_spatial(net, source, dim))
            for (int o = 0; o < out->rank && at < 0; o++)
                if (!taken[o] && pt2_rt_shape_axis(source, out->dims[o]) < 0 && made_static_spatial(net, out, out->dims[o]) &&
                    net->dims[out->dims[o]].size == net->dims[dim].size)
                    at = o;
        if (at < 0 && net->dims[dim].kind == PT2_RT_DIM_DYNAMIC)
            for (int o = 0; o < out->rank && at < 0; o++)
                if (!taken[o] && pt2_rt_shape_axis(source, out->dims[o]) < 0 &&
                    net->dims[out->dims[o]].kind == PT2_RT_DIM_DYNAMIC &&
                    derived_root(net, out->dims[o]) == derived_root(net, dim))
                    at = o;
        if (at >= 0) taken[at] = 1;
        match[a] = at < 0 ? -1 : out->dims[at];
    }
}

pt2_status pt2_rt_broadcast_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer,
                                  const pt2_rt_shape *inputs, size_t num_inputs, pt2_rt_shape *out, pt2_error *err) {
    (void)arena;
    if (num_inputs < 1) return pt2_rt_layer_fail(layer, err, "expected sources");
    size_t base = 0;
    for (size_t i = 1; i < num_inputs; i++)
        if (inputs[i].rank > inputs[base].rank) base = i;
    *out = inputs[base];
    for (size_t i = 0; i < num_inputs; i++) {
        if (inputs[i].sparse_dim >= 0) return pt2_rt_layer_fail(layer, err, "expected dense sources");
        int match[PT2_MAX_RANK];
        match_dims(net, out, &inputs[i], match);
        for (int a = 0; a < inputs[i].rank; a++) {
            if (match[a] >= 0) continue;
            if (out->rank == PT2_MAX_RANK) return pt2_rt_layer_fail(layer, err, "too many dims");
            out->dims[out->rank++] = inputs[i].dims[a];
        }
    }
    return PT2_OK;
}

pt2_status pt2_rt_sources_one_dtype(const pt2_rt_layer *layer, const pt2_rt_shape *inputs, size_t num_inputs,
                                    const char *what, pt2_error *err) {
    for (size_t i = 1; i < num_inputs; i++)
        if (inputs[i].dtype != inputs[0].dtype)
            return pt2_rt_layer_fail(layer, err, "sources of dtypes %s and %s: RETURNN's %s takes one dtype",
                                     pt2_dtype_name(inputs[0].dtype), pt2_dtype_name(inputs[i].dtype), what);
    return PT2_OK;
}

pt2_status pt2_rt_broadcast_sources(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                    const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *expanded,
                                    int64_t *sizes, pt2_error *err) {
    const pt2_rt_shape *shape = &layer->shape;
    for (int a = 0; a < shape->rank; a++) sizes[a] = 1;
    /* Each source in the output's axis order (size 1 where it lacks a dim). */
    for (size_t i = 0; i < num_inputs; i++) {
        pt2_rt_tensor renamed = inputs[i];
        int match[PT2_MAX_RANK];
        match_dims(net, shape, &inputs[i].shape, match);
        for (int a = 0; a < renamed.shape.rank; a++) {
            if (match[a] < 0) return pt2_rt_layer_fail(layer, err, "a source's dim is not among the output's");
            renamed.shape.dims[a] = match[a];
        }
        /* Read only, through its strides in any layout (the callers index by strides): no copy. */
        (void)arena;
        pt2_status st = pt2_rt_strided_view(&renamed, shape->rank, shape->dims, &expanded[i], err);
        if (st) return st;
        for (int a = 0; a < shape->rank; a++) {
            int64_t n = expanded[i].shape[a];
            if (n != 1 && sizes[a] != 1 && n != sizes[a]) return pt2_rt_layer_fail(layer, err, "sources differ in size");
            if (n != 1) sizes[a] = n;
        }
    }
    return PT2_OK;
}

int64_t pt2_rt_broadcast_offset(const pt2_tensor *expanded, const int64_t *index) {
    int64_t offset = 0;
    for (int a = 0; a < expanded->rank; a++) offset += (expanded->shape[a] == 1 ? 0 : index[a]) * expanded->strides[a];
    return offset;
}

void pt2_rt_store(pt2_tensor *t, int64_t i, double v) {
    void *p = pt2_tensor_data(t);
    switch (t->dtype) {
    case PT2_DTYPE_BOOL: ((unsigned char *)p)[i] = v != 0; break;
    case PT2_DTYPE_INT64: ((int64_t *)p)[i] = (int64_t)v; break;
    case PT2_DTYPE_INT32: ((int32_t *)p)[i] = (int32_t)v; break;
    case PT2_DTYPE_FLOAT64: ((double *)p)[i] = v; break;
    default: ((float *)p)[i] = (float)v; break;
    }
}

typedef enum combine_kind { KIND_ADD, KIND_SUB, KIND_MUL, KIND_TRUEDIV, KIND_MAXIMUM, KIND_MINIMUM } combine_kind;

/* The order to lay a combine's result out in: the memory order of its first source that has
 * every axis of the result (on a check, PyTorch's layout), else the result's own. */
static void combine_order(const pt2_tensor *expanded, size_t num_inputs, const int64_t *sizes, int rank, int *order) {
    for (int a = 0; a < rank; a++) order[a] = a;
    for (size_t i = 0; i < num_inputs; i++) {
        int full = 1;
        for (int a = 0; a < rank && full; a++) full = expanded[i].shape[a] == sizes[a];
        int mine[PT2_MAX_RANK];
        if (!full) continue;
        if (pt2_tensor_memory_order(&expanded[i], mine)) memcpy(order, mine, sizeof mine);
        return;
    }
}

/* o[j] = o[j] (op) src[j * step] over a row: one function per kind (apart for the reason given at
 * unary_loop), each with loops for the common steps (a source along the row, or one value
 * for the whole row) that the compiler vectorises. In float: one IEEE operation of two floats
 * rounds alike in float and in double then float (double has more than twice float's digits), so
 * this is TF's float32 op. */
typedef void (*combine_row_fn)(float *restrict o, const float *restrict src, int64_t row, int64_t step);

#define DEFINE_COMBINE_ROW(NAME, expression)                                                                    \
    static void NAME(float *restrict o, const float *restrict src, int64_t row, int64_t step) {                 \
        if (step == 1)                                                                                          \
            for (int64_t j = 0; j < row; j++) {                                                                 \
                float acc = o[j], v = src[j];                                                                   \
                o[j] = (expression);                                                                            \
            }                                                                                                   \
        else if (step == 0)                                                                                     \
            for (int64_t j = 0; j < row; j++) {                                                                 \
                float acc = o[j], v = src[0];                                                                   \
                o[j] = (expression);                                                                            \
            }                                                                                                   \
        else                                                                                                    \
            for (int64_t j = 0; j < row; j++) {                                                                 \
                float acc = o[j], v = src[j * step];                                                            \
                o[j] = (expression);                                                                            \
            }                                                                                                   \
    }
DEFINE_COMBINE_ROW(combine_row_add, acc + v)
DEFINE_COMBINE_ROW(combine_row_sub, acc - v)
DEFINE_COMBINE_ROW(combine_row_mul, acc * v)
DEFINE_COMBINE_ROW(combine_row_truediv, acc / v)
DEFINE_COMBINE_ROW(combine_row_maximum, v > acc ? v : acc)
DEFINE_COMBINE_ROW(combine_row_minimum, v < acc ? v : acc)
#undef DEFINE_COMBINE_ROW

/* In the order of combine_kind. */
static const combine_row_fn combine_rows[] = {combine_row_add,     combine_row_sub,     combine_row_mul,
                                              combine_row_truediv, combine_row_maximum, combine_row_minimum};

/* float32 sources into a float32 output, row by row along the last axis of the output's memory
 * order (combine_order): each source's row start (broadcast axes stay put) and its step along
 * the row (0 where it broadcasts). Each source is combined in float32, as TF's chain of binary
 * ops does. */
static pt2_status combine_float_rows(pt2_arena *arena, const pt2_rt_layer *layer, combine_kind kind,
                                     const pt2_tensor *logical_sources, size_t num_inputs, const int64_t *logical_sizes,
                                     pt2_tensor *out, pt2_error *err) {
    int rank = layer->shape.rank, order[PT2_MAX_RANK];
    combine_order(logical_sources, num_inputs, logical_sizes, rank, order);
    pt2_tensor *expanded = pt2_arena_alloc_array(arena, num_inputs, sizeof *expanded, err), result;
    if (!expanded) return err->status;
    int64_t sizes[PT2_MAX_RANK];
    for (size_t i = 0; i < num_inputs; i++) pt2_tensor_permute(&logical_sources[i], order, &expanded[i]);
    for (int a = 0; a < rank; a++) sizes[a] = logical_sizes[order[a]];
    pt2_status st = pt2_tensor_alloc_uninit(arena, PT2_DTYPE_FLOAT32, rank, sizes, &result, err);
    if (st) return st;
    pt2_tensor_unpermute(&result, order, out);
    float *po = pt2_tensor_data(&result);
    int64_t total = pt2_tensor_numel(&result);
    int last = rank - 1;
    int64_t row = rank ? sizes[last] : 1, index[PT2_MAX_RANK] = {0};
    combine_row_fn combine_row = combine_rows[kind];
    for (int64_t flat = 0; flat < total && row > 0; flat += row) {
        float *restrict o = po + flat;
        for (size_t i = 0; i < num_inputs; i++) {
            int64_t offset = 0;
            for (int a = 0; a < last; a++) offset += (expanded[i].shape[a] == 1 ? 0 : index[a]) * expanded[i].strides[a];
            const float *restrict src = (const float *)pt2_tensor_data(&expanded[i]) + offset;
            int64_t step = rank && expanded[i].shape[last] != 1 ? expanded[i].strides[last] : 0;
            if (i > 0) combine_row(o, src, row, step);
            else if (step == 1) memcpy(o, src, sizeof(float) * (size_t)row);
            else
                for (int64_t j = 0; j < row; j++) o[j] = src[j * step];
        }
        for (int a = last - 1; a >= 0; a--) {
            if (++index[a] < sizes[a]) break;
            index[a] = 0;
        }
    }
    return PT2_OK;
}

/* Sources of any dtype, or a kind of core/returnn/layers_math.c: element by element, read as
 * doubles and stored in the output's dtype; float32 results are rounded after each step. */
static pt2_status combine_elements(pt2_arena *arena, const pt2_rt_layer *layer, int kind, pt2_rt_binary_fn other,
                                   const pt2_tensor *expanded, size_t num_inputs, const int64_t *sizes,
                                   pt2_tensor *out, pt2_error *err) {
    const pt2_rt_shape *shape = &layer->shape;
    pt2_status st = pt2_rt_alloc_output(arena, shape, sizes, out, err);
    if (st) return st;
    int single = out->dtype == PT2_DTYPE_FLOAT32;
    int64_t total = pt2_tensor_numel(out);
    int64_t index[PT2_MAX_RANK] = {0};
    for (int64_t flat = 0; flat < total; flat++) {
        double acc = 0;
        for (size_t i = 0; i < num_inputs; i++) {
            double v = pt2_tensor_get_double(&expanded[i], pt2_rt_broadcast_offset(&expanded[i], index));
            if (i == 0) acc = v;
            else if (other) acc = other(acc, v);
            else if (kind == KIND_ADD) acc += v;
            else if (kind == KIND_SUB) acc -= v;
            else if (kind == KIND_MUL) acc *= v;
            else if (kind == KIND_TRUEDIV) acc /= v;
            else if (kind == KIND_MAXIMUM) acc = v > acc ? v : acc;
            else acc = v < acc ? v : acc;
            if (single) acc = (float)acc;
        }
        pt2_rt_store(out, flat, acc);
        for (int a = shape->rank - 1; a >= 0; a--) {
            if (++index[a] < sizes[a]) break;
            index[a] = 0;
        }
    }
    return PT2_OK;
}

static pt2_status combine_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                  const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *out, pt2_error *err) {
    static const char *const kinds[] = {"add", "sub", "mul", "truediv", "maximum", "minimum"};
    const char *kind_name = pt2_rt_string_option(layer, "kind", "");
    int kind = -1;
    for (int k = 0; k < 6; k++)
        if (!strcmp(kinds[k], kind_name)) kind = k;
    pt2_rt_binary_fn other = kind < 0 ? pt2_rt_math_combine_kind(kind_name) : NULL;
    if (kind < 0 && !other) return pt2_rt_layer_fail(layer, err, "kind \"%s\" is not known to the interpreter", kind_name);
    int64_t sizes[PT2_MAX_RANK];
    pt2_tensor *expanded = pt2_arena_alloc_array(arena, num_inputs, sizeof *expanded, err);
    if (!expanded) return err->status;
    pt2_status st = pt2_rt_broadcast_sources(arena, net, layer, inputs, num_inputs, expanded, sizes, err);
    if (st) return st;
    int all_float = (layer->shape.dtype == PT2_DTYPE_FLOAT32 || layer->shape.dtype == PT2_DTYPE_INVALID) && !other;
    for (size_t i = 0; i < num_inputs; i++) all_float &= expanded[i].dtype == PT2_DTYPE_FLOAT32;
    if (all_float) return combine_float_rows(arena, layer, (combine_kind)kind, expanded, num_inputs, sizes, out, err);
    return combine_elements(arena, layer, kind, other, expanded, num_inputs, sizes, out, err);
}

/* RETURNN's combine (every kind but eval) brings each source to its output's template with a
 * check that their dtypes are equal (Data.copy_compatible_to): an int64 range added to float32
 * features fails there, so it fails here too, where a check would otherwise pass it. */
static pt2_status combine_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *inputs,
                                size_t num_inputs, pt2_rt_shape *out, pt2_error *err) {
    pt2_status st = strcmp(pt2_rt_string_option(layer, "kind", ""), "eval")
                        ? pt2_rt_sources_one_dtype(layer, inputs, num_inputs, "combine", err)
                        : PT2_OK;
    return st ? st : pt2_rt_broadcast_infer(arena, net, layer, inputs, num_inputs, out, err);
}

const pt2_rt_layer_class pt2_rt_layers_elementwise[] = {
    {"copy", copy_infer, copy_compute},
    {"activation", same_shape_infer, unary_compute},
    {"eval", same_shape_infer, unary_compute},
    {"combine", combine_infer, combine_compute},
    {NULL, NULL, NULL}};
