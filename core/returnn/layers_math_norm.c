/* math_norm: RETURNN's MathNormLayer, (sum over `axes` of |x|^p)^(1/p), the sum a ReduceLayer
 * sum (masked past each sequence's end on a dynamic axis; the interpreter runs one length). */
#include <math.h>
#include <string.h>

#include "layers.h"

static pt2_status read_norm(const pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *in, int *axes,
                            int *count, double *p, pt2_error *err) {
    const pt2_rt_value *v = pt2_rt_get_option(layer, "axes");
    *p = pt2_rt_float_option(layer, "p", NAN);
    if (!(*p > 0) || isinf(*p)) return pt2_rt_layer_fail(layer, err, "p must be a positive finite number");
    if (pt2_rt_int_option(layer, "keep_dims", 0)) return pt2_rt_layer_fail(layer, err, "keep_dims is interpreted as False only");
    if (!v || v->kind != PT2_RT_LIST || v->count < 1 || (int)v->count >= in->rank)
        return pt2_rt_layer_fail(layer, err, "axes must list the reduced axes");
    for (size_t i = 0; i < v->count; i++) {
        if (v->items[i].kind != PT2_RT_STRING) return pt2_rt_layer_fail(layer, err, "axes must name axes");
        pt2_status st = pt2_rt_resolve_axis(net, in, v->items[i].string, &axes[i], err);
        if (st) return st;
        if (net->dims[axes[i]].kind == PT2_RT_DIM_BATCH) return pt2_rt_layer_fail(layer, err, "the batch cannot be reduced");
    }
    *count = (int)v->count;
    return PT2_OK;
}

static pt2_status math_norm_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *inputs,
                                  size_t num_inputs, pt2_rt_shape *out, pt2_error *err) {
    (void)arena;
    int axes[PT2_MAX_RANK], count;
    double p;
    pt2_status st = pt2_rt_single_input(layer, num_inputs, err);
    if (!st) st = read_norm(net, layer, &inputs[0], axes, &count, &p, err);
    if (st) return st;
    *out = inputs[0];
    out->rank = 0;
    for (int a = 0; a < inputs[0].rank; a++) {
        int reduced = 0;
        for (int i = 0; i < count; i++) reduced |= inputs[0].dims[a] == axes[i];
        if (!reduced) out->dims[out->rank++] = inputs[0].dims[a];
        else if (inputs[0].dims[a] == out->feature_dim) out->feature_dim = -1;
    }
    return PT2_OK;
}

static pt2_status math_norm_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                    const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *out, pt2_error *err) {
    (void)num_inputs;
    int axes[PT2_MAX_RANK], count, order[PT2_MAX_RANK];
    double p;
    pt2_status st = read_norm(net, layer, &inputs[0].shape, axes, &count, &p, err);
    if (st) return st;
    memcpy(order, layer->shape.dims, sizeof(int) * (size_t)layer->shape.rank);
    memcpy(order + layer->shape.rank, axes, sizeof(int) * (size_t)count);
    pt2_tensor x;
    if ((st = pt2_rt_transpose_to(arena, &inputs[0], layer->shape.rank + count, order, &x, err))) return st;
    int64_t n = 1, rows = 1;
    for (int a = 0; a < x.rank; a++) *(a < layer->shape.rank ? &rows : &n) *= x.shape[a];
    if ((st = pt2_rt_alloc_output(arena, &layer->shape, x.shape, out, err))) return st;
    const float *px = pt2_tensor_data(&x);
    float *po = pt2_tensor_data(out);
    for (int64_t r = 0; r < rows; r++) {
        double sum = 0;
        for (int64_t k = 0; k < n; k++) sum += p == 2.0 ? (double)px[r * n + k] * px[r * n + k] : pow(fabs(px[r * n + k]), p);
        po[r] = (float)(p == 2.0 ? sqrt(sum) : pow(sum, 1.0 / p));
    }
    return PT2_OK;
}

const pt2_rt_layer_class pt2_rt_layers_math_norm[] = {{"math_norm", math_norm_infer, math_norm_compute}, {NULL, NULL, NULL}};
