/* Math layer classes and the arithmetic of the math activations, eval forms and combine kinds
 * (see layers_math.h), computed as TensorFlow computes them, in float32:
 *   compare  RETURNN's CompareLayer: tf.<kind>(a, b) chained over the sources and `value`, bool out;
 *   switch   RETURNN's SwitchLayer: tf.where(condition, true_from, false_from); pt2returnn keeps
 *            the layers among condition/true_from/false_from as its sources (in that order), a
 *            constant branch as the option true_from/false_from (the emitter writes the sources
 *            back as those options, RETURNN's switch takes no "from");
 *   cast     RETURNN's CastLayer: tf.cast to `dtype`;
 *   gating   RETURNN's GatingLayer: the feature dim split in halves a, b (tf.split), then
 *            activation(a) * gate_activation(b), into a new feature dim of half the size. */
#include <math.h>
#include <string.h>

#include "../ops/elementwise.h"
#include "layers.h"
#include "layers_math.h"

/* ---- activations (RETURNN's get_activation_function: tf.nn.<name>, tf.<name>, tf.math.<name>) ---- */

static double log_sigmoid(double v) { return v < 0 ? v - log1p(exp(v)) : -log1p(exp(-v)); }

static double selu(double v) {
    /* tf.nn.selu's constants are PyTorch's. */
    const double alpha = 1.6732632423543772848170429916717, scale = 1.0507009873554804934193349852946;
    return scale * (v > 0 ? v : alpha * expm1(v));
}

static const struct {
    const char *name;
    double (*apply)(double);
} math_activations[] = {
    {"sin", sin},     {"cos", cos},       {"tan", tan},           {"asin", asin},   {"acos", acos},
    {"atan", atan},   {"sinh", sinh},     {"cosh", cosh},         {"erf", erf},     {"log1p", log1p},
    {"expm1", expm1}, {"floor", floor},   {"ceil", ceil},         {"round", rint}, /* half to even, as tf.round */
    {"selu", selu},   {"log_sigmoid", log_sigmoid},
};

static double sign(double v) { return v > 0 ? 1 : v < 0 ? -1 : v; }
static double reciprocal(double v) { return (float)1.0f / (float)v; }
static double square(double v) { return (float)v * (float)v; }
static double relu6(double v) { return v < 0 ? 0 : v > 6 ? 6 : v; }

static const struct {
    const char *name;
    double (*apply)(double);
} exact_activations[] = {{"sign", sign}, {"reciprocal", reciprocal}, {"square", square}, {"relu6", relu6}};

const char *pt2_rt_math_activation_name(const char *name) {
    for (size_t i = 0; i < sizeof math_activations / sizeof math_activations[0]; i++)
        if (!strcmp(math_activations[i].name, name)) return math_activations[i].name;
    for (size_t i = 0; i < sizeof exact_activations / sizeof exact_activations[0]; i++)
        if (!strcmp(exact_activations[i].name, name)) return exact_activations[i].name;
    return NULL;
}

double pt2_rt_math_activation(const char *name, double v) {
    /* TF applies them to float32 values. */
    double x = (float)v;
    for (size_t i = 0; i < sizeof math_activations / sizeof math_activations[0]; i++)
        if (!strcmp(math_activations[i].name, name)) return math_activations[i].apply(x);
    for (size_t i = 0; i < sizeof exact_activations / sizeof exact_activations[0]; i++)
        if (!strcmp(exact_activations[i].name, name)) return exact_activations[i].apply(x);
    return NAN;
}

/* ---- combine kinds: tf.math.<kind>(a, b) ---- */

static double floordiv(double a, double b) { return floorf((float)a / (float)b); }
/* TF's FloorMod for floats: the truncated remainder moved to the divisor's sign. */
static double floormod(double a, double b) {
    float r = fmodf((float)a, (float)b);
    return (r != 0 && ((b < 0) != (r < 0))) ? r + (float)b : r;
}
static double truncatemod(double a, double b) { return fmodf((float)a, (float)b); }
static double power(double a, double b) { return powf((float)a, (float)b); }
static double logical_and(double a, double b) { return a != 0 && b != 0; }
static double logical_or(double a, double b) { return a != 0 || b != 0; }
static double logical_xor(double a, double b) { return (a != 0) != (b != 0); }

static const struct {
    const char *kind;
    pt2_rt_binary_fn apply;
} math_kinds[] = {{"floordiv", floordiv},       {"floormod", floormod},     {"truncatemod", truncatemod},
                  {"pow", power},               {"logical_and", logical_and}, {"logical_or", logical_or},
                  {"logical_xor", logical_xor}};

pt2_rt_binary_fn pt2_rt_math_combine_kind(const char *kind) {
    for (size_t i = 0; i < sizeof math_kinds / sizeof math_kinds[0]; i++)
        if (!strcmp(math_kinds[i].kind, kind)) return math_kinds[i].apply;
    return NULL;
}

/* ---- eval forms (the expressions are in layers_elementwise.c's table) ---- */

static double relu6_shifted(double x) { return relu6((float)(x + 3.0f)); }

double pt2_rt_math_eval(const char *form, double number, double v) {
    double x = (float)v;
    if (!strcmp(form, "clamp_min")) return x > (float)number ? x : (float)number;
    if (!strcmp(form, "clamp_max")) return x < (float)number ? x : (float)number;
    if (!strcmp(form, "rpow_scalar")) return powf((float)number, (float)x);
    if (!strcmp(form, "floordiv_scalar")) return floordiv(x, number);
    if (!strcmp(form, "floormod_scalar")) return floormod(x, number);
    if (!strcmp(form, "truncatemod_scalar")) return truncatemod(x, number);
    if (!strcmp(form, "trunc")) return sign(x) * floor(fabs(x));
    if (!strcmp(form, "log_divide")) return (float)log(x) / (float)number;
    if (!strcmp(form, "elu_alpha")) return x > 0 ? x : (float)number * (float)expm1(x);
    if (!strcmp(form, "mish")) return x * tanh(x > 20 ? x : log1p(exp(x)));
    if (!strcmp(form, "hardswish")) return (float)(x * relu6_shifted(x)) / 6.0f;
    if (!strcmp(form, "hardsigmoid")) return (float)relu6_shifted(x) / 6.0f;
    if (!strcmp(form, "negative_part")) return x < 0 ? x : 0;
    if (!strcmp(form, "fill_like")) return (float)number;
    return NAN;
}

/* ---- compare ---- */

static pt2_status compare_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer,
                                const pt2_rt_shape *inputs, size_t num_inputs, pt2_rt_shape *out, pt2_error *err) {
    const pt2_rt_value *value = pt2_rt_get_option(layer, "value");
    if (num_inputs < (value ? 1u : 2u)) return pt2_rt_layer_fail(layer, err, "compare needs two operands");
    pt2_status st = pt2_rt_sources_one_dtype(layer, inputs, num_inputs, "compare", err);
    if (!st) st = pt2_rt_broadcast_infer(arena, net, layer, inputs, num_inputs, out, err);
    out->dtype = PT2_DTYPE_BOOL;
    return st;
}

static int compare(const char *kind, double a, double b) {
    if (!strcmp(kind, "equal")) return a == b;
    if (!strcmp(kind, "not_equal")) return a != b;
    if (!strcmp(kind, "less")) return a < b;
    if (!strcmp(kind, "less_equal")) return a <= b;
    if (!strcmp(kind, "greater")) return a > b;
    return a >= b; /* greater_equal */
}

/* The number a scalar option holds (floats become the source's float32, as TF converts them). */
static int option_number(const pt2_rt_value *v, int single, double *out) {
    if (!v) return 0;
    if (v->kind == PT2_RT_FLOAT) *out = single ? (float)v->float_value : v->float_value;
    else if (v->kind == PT2_RT_INT || v->kind == PT2_RT_BOOL) *out = (double)v->int_value;
    else return 0;
    return 1;
}

static pt2_status compare_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                  const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *out, pt2_error *err) {
    static const char *const kinds[] = {"equal", "not_equal", "less", "less_equal", "greater", "greater_equal"};
    const char *kind = pt2_rt_string_option(layer, "kind", "equal");
    int known = 0;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) known |= !strcmp(kinds[k], kind);
    if (!known) return pt2_rt_layer_fail(layer, err, "kind \"%s\" is not known to the interpreter", kind);
    int64_t sizes[PT2_MAX_RANK], index[PT2_MAX_RANK] = {0};
    pt2_tensor *expanded = pt2_arena_alloc_array(arena, num_inputs, sizeof *expanded, err);
    if (!expanded) return err->status;
    pt2_status st = pt2_rt_broadcast_sources(arena, net, layer, inputs, num_inputs, expanded, sizes, err);
    if (!st) st = pt2_rt_alloc_output(arena, &layer->shape, sizes, out, err);
    if (st) return st;
    double value = 0;
    const pt2_rt_value *value_option = pt2_rt_get_option(layer, "value");
    int has_value = option_number(value_option, inputs[num_inputs - 1].tensor.dtype == PT2_DTYPE_FLOAT32, &value);
    if (value_option && value_option->kind != PT2_RT_NONE && !has_value)
        return pt2_rt_layer_fail(layer, err, "value must be a number");
    int64_t total = pt2_tensor_numel(out);
    for (int64_t flat = 0; flat < total; flat++) {
        int result = 1;
        double x = pt2_tensor_get_double(&expanded[0], pt2_rt_broadcast_offset(&expanded[0], index));
        for (size_t i = 1; i < num_inputs; i++) {
            double y = pt2_tensor_get_double(&expanded[i], pt2_rt_broadcast_offset(&expanded[i], index));
            result &= compare(kind, x, y);
            x = y;
        }
        if (has_value) result &= compare(kind, x, value);
        pt2_rt_store(out, flat, result);
        for (int a = layer->shape.rank - 1; a >= 0; a--) {
            if (++index[a] < sizes[a]) break;
            index[a] = 0;
        }
    }
    return PT2_OK;
}

/* ---- switch ---- */

/* Which source each branch is (-1: the constant option). */
static pt2_status switch_sources(const pt2_rt_layer *layer, size_t num_inputs, int *true_source, int *false_source,
                                 pt2_error *err) {
    const pt2_rt_value *t = pt2_rt_get_option(layer, "true_from"), *f = pt2_rt_get_option(layer, "false_from");
    int next = 1;
    *true_source = t ? -1 : next++;
    *false_source = f ? -1 : next++;
    if ((size_t)next != num_inputs)
        return pt2_rt_layer_fail(layer, err, "expected a condition and %d branch layers, got %zu sources", next - 1, num_inputs);
    return PT2_OK;
}

static pt2_status switch_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer,
                               const pt2_rt_shape *inputs, size_t num_inputs, pt2_rt_shape *out, pt2_error *err) {
    int t, f;
    pt2_status st = switch_sources(layer, num_inputs, &t, &f, err);
    if (st) return st;
    if (inputs[0].dtype != PT2_DTYPE_BOOL) return pt2_rt_layer_fail(layer, err, "the condition must be bool");
    if ((st = pt2_rt_broadcast_infer(arena, net, layer, inputs, num_inputs, out, err))) return st;
    if (t >= 0 || f >= 0) {
        out->dtype = inputs[t >= 0 ? t : f].dtype;
        return PT2_OK;
    }
    /* Both branches numbers: RETURNN's dtype is the Python type of the true branch (a float
     * float32, an int int32, a bool bool: Data.template_from_constant), the false one cast to it. */
    const pt2_rt_value *number = pt2_rt_get_option(layer, "true_from");
    out->dtype = number->kind == PT2_RT_FLOAT ? PT2_DTYPE_FLOAT32 : number->kind == PT2_RT_INT ? PT2_DTYPE_INT32 :
                 number->kind == PT2_RT_BOOL ? PT2_DTYPE_BOOL : PT2_DTYPE_INVALID;
    if (out->dtype == PT2_DTYPE_INVALID) return pt2_rt_layer_fail(layer, err, "true_from must be a layer or a number");
    return PT2_OK;
}

static pt2_status switch_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                 const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *out, pt2_error *err) {
    int source[2];
    pt2_status st = switch_sources(layer, num_inputs, &source[0], &source[1], err);
    if (st) return st;
    double constant[2] = {0, 0};
    const char *keys[2] = {"true_from", "false_from"};
    int single = layer->shape.dtype == PT2_DTYPE_FLOAT32;
    for (int b = 0; b < 2; b++)
        if (source[b] < 0 && !option_number(pt2_rt_get_option(layer, keys[b]), single, &constant[b]))
            return pt2_rt_layer_fail(layer, err, "%s must be a layer or a number", keys[b]);
    int64_t sizes[PT2_MAX_RANK], index[PT2_MAX_RANK] = {0};
    pt2_tensor *expanded = pt2_arena_alloc_array(arena, num_inputs, sizeof *expanded, err);
    if (!expanded) return err->status;
    if ((st = pt2_rt_broadcast_sources(arena, net, layer, inputs, num_inputs, expanded, sizes, err))) return st;
    if ((st = pt2_rt_alloc_output(arena, &layer->shape, sizes, out, err))) return st;
    int64_t total = pt2_tensor_numel(out);
    for (int64_t flat = 0; flat < total; flat++) {
        int b = pt2_tensor_get_double(&expanded[0], pt2_rt_broadcast_offset(&expanded[0], index)) != 0 ? 0 : 1;
        double v = source[b] < 0 ? constant[b]
                                 : pt2_tensor_get_double(&expanded[source[b]], pt2_rt_broadcast_offset(&expanded[source[b]], index));
        pt2_rt_store(out, flat, v);
        for (int a = layer->shape.rank - 1; a >= 0; a--) {
            if (++index[a] < sizes[a]) break;
            index[a] = 0;
        }
    }
    return PT2_OK;
}

/* ---- cast ---- */

static pt2_status cast_dtype(const pt2_rt_layer *layer, pt2_dtype *out, pt2_error *err) {
    const char *name = pt2_rt_string_option(layer, "dtype", "");
    static const pt2_dtype allowed[] = {PT2_DTYPE_FLOAT32, PT2_DTYPE_INT32, PT2_DTYPE_INT64, PT2_DTYPE_BOOL};
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
        if (!strcmp(pt2_dtype_name(allowed[i]), name)) {
            *out = allowed[i];
            return PT2_OK;
        }
    return pt2_rt_layer_fail(layer, err, "dtype \"%s\" is not one of float32, int32, int64, bool", name);
}

static pt2_status cast_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *inputs,
                             size_t num_inputs, pt2_rt_shape *out, pt2_error *err) {
    (void)arena, (void)net;
    pt2_status st = pt2_rt_single_input(layer, num_inputs, err);
    if (st) return st;
    *out = inputs[0];
    return cast_dtype(layer, &out->dtype, err);
}

static pt2_status cast_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                               const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *out, pt2_error *err) {
    (void)net, (void)num_inputs;
    pt2_tensor ordered;
    pt2_status st = pt2_rt_transpose_to(arena, &inputs[0], layer->shape.rank, layer->shape.dims, &ordered, err);
    /* tf.cast: float to integer truncates toward zero, to bool is "not zero"; pt2_tensor_cast does the same. */
    return st ? st : pt2_tensor_cast(arena, &ordered, layer->shape.dtype, out, err);
}

/* ---- gating ---- */

static pt2_status gating_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer,
                               const pt2_rt_shape *inputs, size_t num_inputs, pt2_rt_shape *out, pt2_error *err) {
    pt2_status st = pt2_rt_single_input(layer, num_inputs, err);
    if (st) return st;
    const pt2_rt_shape *in = &inputs[0];
    if (in->feature_dim < 0 || net->dims[in->feature_dim].kind != PT2_RT_DIM_STATIC || net->dims[in->feature_dim].size % 2)
        return pt2_rt_layer_fail(layer, err, "gating needs a static feature dim of even size");
    const char *description = pt2_arena_printf(arena, err, "%s:gating-feature", layer->name);
    int half;
    if (!description) return err->status;
    if ((st = pt2_rt_add_dim(arena, net, description, PT2_RT_DIM_STATIC, net->dims[in->feature_dim].size / 2, &half, err)))
        return st;
    *out = *in;
    out->dims[pt2_rt_shape_axis(in, in->feature_dim)] = half;
    out->feature_dim = half;
    return PT2_OK;
}

static pt2_status gating_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                 const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *out, pt2_error *err) {
    (void)net, (void)num_inputs;
    const char *activation = pt2_rt_string_option(layer, "activation", ""), *gate = pt2_rt_string_option(layer, "gate_activation", "sigmoid");
    if (strcmp(activation, "identity") || strcmp(gate, "sigmoid"))
        return pt2_rt_layer_fail(layer, err, "the interpreter knows gating with activation \"identity\" and gate_activation \"sigmoid\"");
    /* The input in the output's axis order, its own feature dim in the feature's place. */
    int dims[PT2_MAX_RANK], axis = pt2_rt_shape_axis(&layer->shape, layer->shape.feature_dim);
    memcpy(dims, layer->shape.dims, sizeof dims);
    dims[axis] = inputs[0].shape.feature_dim;
    pt2_tensor x;
    pt2_status st = pt2_rt_transpose_to(arena, &inputs[0], layer->shape.rank, dims, &x, err);
    if (st) return st;
    int64_t sizes[PT2_MAX_RANK], outer = 1, inner = 1;
    for (int a = 0; a < x.rank; a++) sizes[a] = x.shape[a];
    int64_t half = sizes[axis] / 2;
    sizes[axis] = half;
    if ((st = pt2_rt_alloc_output(arena, &layer->shape, sizes, out, err))) return st;
    for (int a = 0; a < axis; a++) outer *= sizes[a];
    for (int a = axis + 1; a < x.rank; a++) inner *= sizes[a];
    for (int64_t o = 0; o < outer; o++)
        for (int64_t c = 0; c < half; c++)
            for (int64_t i = 0; i < inner; i++) {
                double a = pt2_tensor_get_double(&x, (o * 2 * half + c) * inner + i);
                double b = pt2_tensor_get_double(&x, (o * 2 * half + half + c) * inner + i);
                float gate_value = (float)(1.0 / (1.0 + exp(-b)));
                pt2_rt_store(out, (o * half + c) * inner + i, (float)a * gate_value);
            }
    return PT2_OK;
}

const pt2_rt_layer_class pt2_rt_layers_math[] = {
    {"compare", compare_infer, compare_compute},
    {"switch", switch_infer, switch_compute},
    {"cast", cast_infer, cast_compute},
    {"gating", gating_infer, gating_compute},
    {NULL, NULL, NULL}};
