/* Layers along the time axis: pool (avg/max, "valid" windows), resize (nearest neighbour by an
 * integer factor) and reduce (mean/sum/max over one axis, which then disappears). */
#include <math.h>
#include <string.h>

#include "layers.h"

/* The source's axes as [before, axis, after] sizes, to walk one axis of a contiguous tensor. */
static void split_sizes(const pt2_tensor *t, int axis, int64_t *outer, int64_t *n, int64_t *inner) {
    *outer = *inner = 1;
    for (int a = 0; a < axis; a++) *outer *= t->shape[a];
    *n = t->shape[axis];
    for (int a = axis + 1; a < t->rank; a++) *inner *= t->shape[a];
}

/* The source in the layer's axis order except the named axis, which keeps the source's dim. */
static pt2_status source_in_order(pt2_arena *arena, const pt2_rt_layer *layer, const pt2_rt_tensor *in, int axis,
                                  int source_dim, pt2_tensor *out, pt2_error *err) {
    int dims[PT2_MAX_RANK];
    memcpy(dims, layer->shape.dims, sizeof dims);
    dims[axis] = source_dim;
    return pt2_rt_transpose_to(arena, in, layer->shape.rank, dims, out, err);
}

static pt2_status time_dim(const pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *in, int *dim,
                           pt2_error *err) {
    int axis = pt2_rt_shape_time_axis(net, in);
    if (axis < 0) return pt2_rt_layer_fail(layer, err, "the source has no time axis");
    *dim = in->dims[axis];
    return PT2_OK;
}

/* The output's axis holding the dim that replaced `source_dim` (the one dim the source lacks). */
static int replaced_axis(const pt2_rt_layer *layer, const pt2_rt_shape *source) {
    for (int a = 0; a < layer->shape.rank; a++)
        if (pt2_rt_shape_axis(source, layer->shape.dims[a]) < 0) return a;
    return -1;
}

static pt2_status window_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *inputs,
                               size_t num_inputs, pt2_rt_shape *out, pt2_error *err) {
    int time = -1, derived;
    pt2_status st = pt2_rt_single_input(layer, num_inputs, err);
    if (!st) st = time_dim(net, layer, &inputs[0], &time, err);
    if (st) return st;
    const char *description = pt2_arena_printf(arena, err, "%s:%s", layer->name, layer->layer_class);
    if (!description) return err->status;
    if (!strcmp(layer->layer_class, "pool")) {
        int64_t size = pt2_rt_int_option(layer, "pool_size", -1), stride = pt2_rt_int_option(layer, "strides", size);
        if (size < 1 || stride < 1 || strcmp(pt2_rt_string_option(layer, "padding", ""), "valid"))
            return pt2_rt_layer_fail(layer, err, "expected pool_size, strides and padding \"valid\"");
        st = pt2_rt_derive_dim(arena, net, time, 1, 1 - size, stride, description, &derived, err);
    } else {
        int64_t factor = pt2_rt_int_option(layer, "factor", -1);
        if (factor < 1 || strcmp(pt2_rt_string_option(layer, "kind", ""), "nn"))
            return pt2_rt_layer_fail(layer, err, "expected an integer factor and kind \"nn\"");
        st = pt2_rt_derive_dim(arena, net, time, factor, 0, 1, description, &derived, err);
    }
    if (st) return st;
    *out = inputs[0];
    out->dims[pt2_rt_shape_axis(out, time)] = derived;
    return PT2_OK;
}

static pt2_status window_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                 const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *out, pt2_error *err) {
    (void)num_inputs;
    int time = -1, axis = replaced_axis(layer, &inputs[0].shape);
    pt2_tensor x;
    pt2_status st = time_dim(net, layer, &inputs[0].shape, &time, err);
    if (!st && axis < 0) st = pt2_rt_layer_fail(layer, err, "the output's time axis is not found");
    if (!st) st = source_in_order(arena, layer, &inputs[0], axis, time, &x, err);
    if (st) return st;
    int pool = !strcmp(layer->layer_class, "pool"), max = pool && !strcmp(pt2_rt_string_option(layer, "mode", ""), "max");
    int64_t size = pt2_rt_int_option(layer, "pool_size", 1), stride = pt2_rt_int_option(layer, "strides", size);
    int64_t factor = pt2_rt_int_option(layer, "factor", 1), outer, n, inner;
    split_sizes(&x, axis, &outer, &n, &inner);
    int64_t out_n = pool ? (n >= size ? (n - size) / stride + 1 : 0) : n * factor, sizes[PT2_MAX_RANK];
    memcpy(sizes, x.shape, sizeof(int64_t) * (size_t)x.rank);
    sizes[axis] = out_n;
    if ((st = pt2_rt_alloc_output(arena, &layer->shape, sizes, out, err))) return st;
    const float *px = pt2_tensor_data(&x);
    float *po = pt2_tensor_data(out);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t t = 0; t < out_n; t++)
            for (int64_t i = 0; i < inner; i++) {
                double v;
                if (!pool) {
                    v = px[(o * n + t / factor) * inner + i];
                } else {
                    v = max ? -INFINITY : 0.0;
                    for (int64_t k = 0; k < size; k++) {
                        double s = px[(o * n + t * stride + k) * inner + i];
                        v = max ? (s > v ? s : v) : v + s;
                    }
                    if (!max) v /= (double)size;
                }
                po[(o * out_n + t) * inner + i] = (float)v;
            }
    return PT2_OK;
}

static pt2_status reduce_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *inputs,
                               size_t num_inputs, pt2_rt_shape *out, pt2_error *err) {
    (void)arena;
    const pt2_rt_value *axes = pt2_rt_get_option(layer, "axes");
    int dim;
    pt2_status st = pt2_rt_single_input(layer, num_inputs, err);
    if (st) return st;
    if (!axes || axes->kind != PT2_RT_LIST || axes->count != 1 || axes->items[0].kind != PT2_RT_STRING ||
        pt2_rt_int_option(layer, "keep_dims", 0))
        return pt2_rt_layer_fail(layer, err, "expected one axis and keep_dims False");
    if ((st = pt2_rt_resolve_axis(net, &inputs[0], axes->items[0].string, &dim, err))) return st;
    *out = inputs[0];
    int axis = pt2_rt_shape_axis(out, dim);
    memmove(&out->dims[axis], &out->dims[axis + 1], sizeof(int) * (size_t)(out->rank - axis - 1));
    out->rank--;
    if (out->feature_dim == dim) out->feature_dim = -1;
    return PT2_OK;
}

static pt2_status reduce_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                 const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *out, pt2_error *err) {
    (void)num_inputs;
    const pt2_rt_value *axes = pt2_rt_get_option(layer, "axes");
    int dim, order[PT2_MAX_RANK];
    pt2_status st = pt2_rt_resolve_axis(net, &inputs[0].shape, axes->items[0].string, &dim, err);
    if (st) return st;
    /* The source as [the output's axes..., the reduced axis]. */
    memcpy(order, layer->shape.dims, sizeof(int) * (size_t)layer->shape.rank);
    order[layer->shape.rank] = dim;
    pt2_tensor x;
    if ((st = pt2_rt_transpose_to(arena, &inputs[0], layer->shape.rank + 1, order, &x, err))) return st;
    const char *mode = pt2_rt_string_option(layer, "mode", "");
    int mean = !strcmp(mode, "mean"), max = !strcmp(mode, "max");
    if (!mean && !max && strcmp(mode, "sum")) return pt2_rt_layer_fail(layer, err, "mode \"%s\" is not known", mode);
    int64_t n = x.shape[x.rank - 1], rows = pt2_tensor_numel(&x) / (n ? n : 1);
    if ((st = pt2_rt_alloc_output(arena, &layer->shape, x.shape, out, err))) return st;
    /* RETURNN's default (use_time_mask None) over a dynamic axis: each sequence's frames only,
     * the mean divided by its length. The batch entry of a row is its index on the batch axis. */
    int batch_axis = -1, time_masked = net->dims[dim].kind == PT2_RT_DIM_DYNAMIC && pt2_rt_int_option(layer, "use_time_mask", 1);
    for (int a = 0; a < layer->shape.rank; a++)
        if (net->dims[layer->shape.dims[a]].kind == PT2_RT_DIM_BATCH) batch_axis = a;
    int64_t batch_inner = 1;
    for (int a = batch_axis + 1; a < layer->shape.rank; a++) batch_inner *= x.shape[a];
    const float *px = pt2_tensor_data(&x);
    float *po = pt2_tensor_data(out);
    for (int64_t r = 0; r < rows; r++) {
        int64_t length = n;
        if (time_masked && batch_axis >= 0) length = pt2_rt_sequence_length(net, dim, r / batch_inner % x.shape[batch_axis], n);
        double v = max ? -INFINITY : 0.0;
        for (int64_t k = 0; k < length; k++) v = max ? (px[r * n + k] > v ? px[r * n + k] : v) : v + px[r * n + k];
        po[r] = (float)(mean ? v / (double)length : v);
    }
    return PT2_OK;
}

const pt2_rt_layer_class pt2_rt_layers_pool[] = {
    {"resize", window_infer, window_compute},
    {"reduce", reduce_infer, reduce_compute},
    {NULL, NULL, NULL}};
