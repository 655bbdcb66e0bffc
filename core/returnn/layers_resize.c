/* resize (RETURNN's ResizeLayer) kind "nn" by an integer factor along the axis its "axis" option
 * names (any axis but the batch, static or dynamic): tf.compat.v1.image.resize_nearest_neighbor
 * without half-pixel centres, out[t] = in[floor(t / factor)]; the new length is n * factor (a
 * dynamic dim's lengths scale alike). */
#include <string.h>

#include "layers.h"

static pt2_status read_resize(const pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *in, int *dim,
                              int64_t *factor, pt2_error *err) {
    const char *axis = pt2_rt_string_option(layer, "axis", NULL);
    *factor = pt2_rt_int_option(layer, "factor", -1);
    if (*factor < 1 || strcmp(pt2_rt_string_option(layer, "kind", ""), "nn"))
        return pt2_rt_layer_fail(layer, err, "interpreted with an integer factor and kind \"nn\"");
    if (!axis) return pt2_rt_layer_fail(layer, err, "the axis to resize is not given");
    pt2_status st = pt2_rt_resolve_axis(net, in, axis, dim, err);
    if (st) return st;
    if (net->dims[*dim].kind == PT2_RT_DIM_BATCH) return pt2_rt_layer_fail(layer, err, "the batch cannot be resized");
    return PT2_OK;
}

static pt2_status resize_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *inputs,
                               size_t num_inputs, pt2_rt_shape *out, pt2_error *err) {
    int dim, resized;
    int64_t factor;
    pt2_status st = pt2_rt_single_input(layer, num_inputs, err);
    if (!st) st = read_resize(net, layer, &inputs[0], &dim, &factor, err);
    if (st) return st;
    const char *description = pt2_arena_printf(arena, err, "%s:resize", layer->name);
    if (!description) return err->status;
    const pt2_rt_dim *d = &net->dims[dim];
    if (d->kind == PT2_RT_DIM_DYNAMIC) st = pt2_rt_derive_dim(arena, net, dim, factor, 0, 1, description, &resized, err);
    else st = pt2_rt_add_dim(arena, net, description, PT2_RT_DIM_STATIC, d->size * factor, &resized, err);
    if (st) return st;
    *out = inputs[0];
    out->dims[pt2_rt_shape_axis(out, dim)] = resized;
    if (out->feature_dim == dim) out->feature_dim = resized;
    return PT2_OK;
}

static pt2_status resize_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                 const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *out, pt2_error *err) {
    (void)num_inputs;
    int dim, order[PT2_MAX_RANK], axis = -1;
    int64_t factor;
    pt2_status st = read_resize(net, layer, &inputs[0].shape, &dim, &factor, err);
    if (st) return st;
    /* The source in the layer's axis order, the resized axis holding the source's dim. */
    memcpy(order, layer->shape.dims, sizeof(int) * (size_t)layer->shape.rank);
    for (int a = 0; a < layer->shape.rank; a++)
        if (pt2_rt_shape_axis(&inputs[0].shape, order[a]) < 0) axis = a, order[a] = dim;
    if (axis < 0) return pt2_rt_layer_fail(layer, err, "the resized axis is not found");
    pt2_tensor x;
    if ((st = pt2_rt_transpose_to(arena, &inputs[0], layer->shape.rank, order, &x, err))) return st;
    int64_t outer = 1, n = x.shape[axis], inner = 1, sizes[PT2_MAX_RANK];
    for (int a = 0; a < axis; a++) outer *= x.shape[a];
    for (int a = axis + 1; a < x.rank; a++) inner *= x.shape[a];
    memcpy(sizes, x.shape, sizeof(int64_t) * (size_t)x.rank);
    sizes[axis] = n * factor;
    if ((st = pt2_rt_alloc_output_uninit(arena, &layer->shape, sizes, out, err))) return st;
    const float *px = pt2_tensor_data(&x);
    float *po = pt2_tensor_data(out);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t t = 0; t < n * factor; t++)
            memcpy(po + (o * n * factor + t) * inner, px + (o * n + t / factor) * inner, sizeof(float) * (size_t)inner);
    return PT2_OK;
}

const pt2_rt_layer_class pt2_rt_layers_resize[] = {{"resize", resize_infer, resize_compute}, {NULL, NULL, NULL}};
