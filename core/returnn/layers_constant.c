/* constant: RETURNN's ConstantLayer, tf.constant(value, dtype) without sources. pt2returnn emits
 * it as a scalar (no shape, no batch dim): a creation op's value is the same at every position,
 * so each of its PyTorch axes is a broadcast axis of the axis map (core/lower/axes.h) and later
 * layers broadcast it as RETURNN does. The dtype is always given (RETURNN would otherwise take
 * it from the Python type of the value). */
#include <math.h>
#include <string.h>

#include "layers.h"

static pt2_status constant_dtype(const pt2_rt_layer *layer, pt2_dtype *out, pt2_error *err) {
    const char *name = pt2_rt_string_option(layer, "dtype", "");
    static const pt2_dtype allowed[] = {PT2_DTYPE_FLOAT32, PT2_DTYPE_INT32, PT2_DTYPE_INT64, PT2_DTYPE_BOOL};
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
        if (!strcmp(pt2_dtype_name(allowed[i]), name)) {
            *out = allowed[i];
            return PT2_OK;
        }
    return pt2_rt_layer_fail(layer, err, "dtype \"%s\": float32, int32, int64 or bool are interpreted", name);
}

static pt2_status constant_value(const pt2_rt_layer *layer, pt2_dtype dtype, double *out, pt2_error *err) {
    const pt2_rt_value *v = pt2_rt_get_option(layer, "value");
    if (!v) *out = 0; /* RETURNN's default value is 0.0 */
    else if (v->kind == PT2_RT_FLOAT) *out = dtype == PT2_DTYPE_FLOAT32 ? (float)v->float_value : v->float_value;
    else if (v->kind == PT2_RT_INT || v->kind == PT2_RT_BOOL) *out = (double)v->int_value;
    else return pt2_rt_layer_fail(layer, err, "value must be a number (arrays are not interpreted)");
    if (dtype != PT2_DTYPE_FLOAT32 && *out != floor(*out))
        return pt2_rt_layer_fail(layer, err, "value %g is not a whole number for dtype %s", *out, pt2_dtype_name(dtype));
    return PT2_OK;
}

static pt2_status constant_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *inputs,
                                 size_t num_inputs, pt2_rt_shape *out, pt2_error *err) {
    (void)arena, (void)net, (void)inputs;
    if (num_inputs) return pt2_rt_layer_fail(layer, err, "a constant layer takes no sources, got %zu", num_inputs);
    if (pt2_rt_get_option(layer, "shape") || pt2_rt_int_option(layer, "with_batch_dim", 0))
        return pt2_rt_layer_fail(layer, err, "a constant is interpreted as a scalar (no shape, no with_batch_dim)");
    double value = 0;
    pt2_status st = constant_dtype(layer, &out->dtype, err);
    if (!st) st = constant_value(layer, out->dtype, &value, err);
    out->rank = 0;
    out->feature_dim = -1;
    out->sparse_dim = -1;
    return st;
}

static pt2_status constant_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                   const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *out, pt2_error *err) {
    (void)net, (void)inputs, (void)num_inputs;
    double value = 0;
    pt2_status st = constant_value(layer, layer->shape.dtype, &value, err);
    if (!st) st = pt2_rt_alloc_output(arena, &layer->shape, NULL, out, err);
    if (!st) pt2_rt_store(out, 0, value);
    return st;
}

const pt2_rt_layer_class pt2_rt_layers_constant[] = {{"constant", constant_infer, constant_compute}, {NULL, NULL, NULL}};
