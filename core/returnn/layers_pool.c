/* reduce (mean/sum/max over one axis, which then disappears). pool is in layers_pool_nd.c,
 * resize in layers_resize.c. */
#include <math.h>
#include <string.h>

#include "layers.h"

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
    {"reduce", reduce_infer, reduce_compute},
    {NULL, NULL, NULL}};
