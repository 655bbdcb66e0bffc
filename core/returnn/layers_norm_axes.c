/* norm: RETURNN's NormLayer, normalisation over the named `axes` (group norm, instance norm,
 * layer norm over several axes): (x - mean) * rsqrt(variance + epsilon) with the mean and the
 * (biased) variance over those axes, as tf.reduce_mean computes them (not masked: RETURNN's
 * NormLayer averages over the whole padded tensor), then * scale + bias, parameters whose dims
 * are `param_shape` (one axis description or a list of them; "F" by default). */
#include <math.h>
#include <string.h>

#include "layers.h"

static pt2_status read_axes(const pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *in, const char *key,
                            const char *fallback, int *dims, int *count, pt2_error *err) {
    const pt2_rt_value *v = pt2_rt_get_option(layer, key);
    const char *one = v && v->kind == PT2_RT_STRING ? v->string : !v ? fallback : NULL;
    *count = 0;
    if (one) {
        *count = 1;
        return pt2_rt_resolve_axis(net, in, one, &dims[0], err);
    }
    if (!v || v->kind != PT2_RT_LIST || v->count < 1 || v->count > PT2_MAX_RANK)
        return pt2_rt_layer_fail(layer, err, "%s must name one axis or a list of axes", key);
    for (size_t i = 0; i < v->count; i++) {
        if (v->items[i].kind != PT2_RT_STRING) return pt2_rt_layer_fail(layer, err, "%s must name axes", key);
        pt2_status st = pt2_rt_resolve_axis(net, in, v->items[i].string, &dims[i], err);
        if (st) return st;
        for (size_t j = 0; j < i; j++)
            if (dims[j] == dims[i]) return pt2_rt_layer_fail(layer, err, "%s names one axis twice", key);
    }
    *count = (int)v->count;
    return PT2_OK;
}

static pt2_status norm_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *inputs,
                             size_t num_inputs, pt2_rt_shape *out, pt2_error *err) {
    (void)arena;
    int axes[PT2_MAX_RANK], count;
    pt2_status st = pt2_rt_single_input(layer, num_inputs, err);
    if (!st) st = read_axes(net, layer, &inputs[0], "axes", NULL, axes, &count, err);
    if (st) return st;
    if (!pt2_rt_int_option(layer, "scale", 1) && !pt2_rt_int_option(layer, "bias", 1) && pt2_rt_get_option(layer, "param_shape"))
        return pt2_rt_layer_fail(layer, err, "param_shape is given without scale or bias (RETURNN asserts it is not)");
    *out = inputs[0];
    return PT2_OK;
}

static pt2_status norm_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                               const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *out, pt2_error *err) {
    (void)num_inputs;
    const pt2_rt_shape *in = &inputs[0].shape;
    int axes[PT2_MAX_RANK], params[PT2_MAX_RANK], n_axes, n_params = 0;
    pt2_status st = read_axes(net, layer, in, "axes", NULL, axes, &n_axes, err);
    int scale = (int)pt2_rt_int_option(layer, "scale", 1), bias = (int)pt2_rt_int_option(layer, "bias", 1);
    if (!st && (scale || bias)) st = read_axes(net, layer, in, "param_shape", "F", params, &n_params, err);
    if (st) return st;
    /* The source as [kept axes..., normalised axes...]. */
    int order[PT2_MAX_RANK], rank = 0;
    for (int a = 0; a < in->rank; a++) {
        int normed = 0;
        for (int i = 0; i < n_axes; i++) normed |= in->dims[a] == axes[i];
        if (!normed) order[rank++] = in->dims[a];
    }
    for (int i = 0; i < n_axes; i++) order[rank++] = axes[i];
    pt2_tensor x, y;
    if ((st = pt2_rt_transpose_to(arena, &inputs[0], rank, order, &x, err))) return st;
    if ((st = pt2_tensor_alloc(arena, PT2_DTYPE_FLOAT32, rank, x.shape, &y, err))) return st;
    /* Each parameter axis' stride in the parameter tensors (contiguous over param_shape). */
    int64_t param_stride[PT2_MAX_RANK] = {0}, param_numel = 1;
    for (int p = n_params - 1; p >= 0; p--) {
        int axis = -1;
        for (int a = 0; a < rank; a++)
            if (order[a] == params[p]) axis = a;
        if (axis < 0) return pt2_rt_layer_fail(layer, err, "param_shape names an axis the source lacks");
        param_stride[axis] = param_numel;
        param_numel *= x.shape[axis];
    }
    const pt2_tensor *gain = scale ? pt2_rt_get_param(layer, "scale") : NULL, *shift = bias ? pt2_rt_get_param(layer, "bias") : NULL;
    if ((scale && (!gain || pt2_tensor_numel(gain) != param_numel)) || (bias && (!shift || pt2_tensor_numel(shift) != param_numel)))
        return pt2_rt_layer_fail(layer, err, "parameters scale/bias of %lld values are missing", (long long)param_numel);
    pt2_tensor g = {0}, b = {0};
    if (gain && (st = pt2_tensor_contiguous(arena, gain, 0, &g, err))) return st;
    if (shift && (st = pt2_tensor_contiguous(arena, shift, 0, &b, err))) return st;
    double epsilon = pt2_rt_float_option(layer, "epsilon", 1e-6);
    int64_t inner = 1;
    for (int a = rank - n_axes; a < rank; a++) inner *= x.shape[a];
    int64_t rows = pt2_tensor_numel(&x) / (inner ? inner : 1);
    const float *px = pt2_tensor_data(&x), *pg = gain ? pt2_tensor_data(&g) : NULL, *pb = shift ? pt2_tensor_data(&b) : NULL;
    float *py = pt2_tensor_data(&y);
    for (int64_t r = 0; r < rows; r++) {
        double mean = 0, variance = 0;
        for (int64_t k = 0; k < inner; k++) mean += px[r * inner + k];
        mean /= (double)inner;
        for (int64_t k = 0; k < inner; k++) variance += (px[r * inner + k] - mean) * (px[r * inner + k] - mean);
        variance /= (double)inner;
        double rstd = 1.0 / sqrt(variance + epsilon);
        for (int64_t k = 0; k < inner; k++) {
            int64_t flat = r * inner + k, rest = flat, param = 0;
            for (int a = rank - 1; a >= 0; a--) {
                param += (rest % x.shape[a]) * param_stride[a];
                rest /= x.shape[a];
            }
            double v = (px[flat] - mean) * rstd;
            if (pg) v *= pg[param];
            if (pb) v += pb[param];
            py[flat] = (float)v;
        }
    }
    pt2_rt_tensor result = {y, *in, 0};
    memcpy(result.shape.dims, order, sizeof(int) * (size_t)rank);
    return pt2_rt_transpose_to(arena, &result, layer->shape.rank, layer->shape.dims, out, err);
}

const pt2_rt_layer_class pt2_rt_layers_norm_axes[] = {{"norm", norm_infer, norm_compute}, {NULL, NULL, NULL}};
