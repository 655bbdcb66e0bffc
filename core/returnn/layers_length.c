/* length: RETURNN's LengthLayer on a dynamic axis of its source, the length of each sequence
 * (the dim's dyn_size_ext: int32 over the batch). It lets a computation divide by a sequence's
 * own frame count, e.g. the correction of an unbiased variance over the time. */
#include <string.h>

#include "layers.h"

static pt2_status read_length(const pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *in, int *dim,
                              int *batch_axis, pt2_error *err) {
    pt2_status st = pt2_rt_resolve_axis(net, in, pt2_rt_string_option(layer, "axis", "T"), dim, err);
    if (st) return st;
    if (net->dims[*dim].kind != PT2_RT_DIM_DYNAMIC) return pt2_rt_layer_fail(layer, err, "the length of a dynamic axis is interpreted");
    if (strcmp(pt2_rt_string_option(layer, "dtype", "int32"), "int32")) return pt2_rt_layer_fail(layer, err, "dtype int32 is interpreted");
    *batch_axis = -1;
    for (int a = 0; a < in->rank; a++)
        if (net->dims[in->dims[a]].kind == PT2_RT_DIM_BATCH) *batch_axis = a;
    if (*batch_axis < 0) return pt2_rt_layer_fail(layer, err, "the source has no batch axis");
    return PT2_OK;
}

static pt2_status length_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *inputs,
                               size_t num_inputs, pt2_rt_shape *out, pt2_error *err) {
    (void)arena;
    int dim, batch_axis;
    pt2_status st = pt2_rt_single_input(layer, num_inputs, err);
    if (!st) st = read_length(net, layer, &inputs[0], &dim, &batch_axis, err);
    if (st) return st;
    memset(out, 0, sizeof *out);
    out->rank = 1;
    out->dims[0] = inputs[0].dims[batch_axis];
    out->feature_dim = out->sparse_dim = -1;
    out->dtype = PT2_DTYPE_INT32;
    return PT2_OK;
}

static pt2_status length_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                 const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *out, pt2_error *err) {
    (void)num_inputs;
    int dim, batch_axis;
    pt2_status st = read_length(net, layer, &inputs[0].shape, &dim, &batch_axis, err);
    if (st) return st;
    const pt2_tensor *x = &inputs[0].tensor;
    int64_t batch = x->shape[batch_axis], full = x->shape[pt2_rt_shape_axis(&inputs[0].shape, dim)];
    if ((st = pt2_tensor_alloc(arena, PT2_DTYPE_INT32, 1, &batch, out, err))) return st;
    int32_t *po = pt2_tensor_data(out);
    for (int64_t b = 0; b < batch; b++) po[b] = (int32_t)pt2_rt_sequence_length(net, dim, b, full);
    return PT2_OK;
}

const pt2_rt_layer_class pt2_rt_layers_length[] = {{"length", length_infer, length_compute}, {NULL, NULL, NULL}};
