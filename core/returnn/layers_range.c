/* range_in_axis: RETURNN's RangeInAxisLayer, tf.range(0, n) over one axis of its source; the
 * output's only dim is that axis's dim (the same tag, so it lines up with the source's axis in
 * any later layer), of the dtype asked for. The range covers the padded length: past a
 * sequence's end it counts on, as TF's does. */
#include <string.h>

#include "layers.h"

static pt2_status range_axis(const pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *in, int *dim,
                             pt2_dtype *dtype, pt2_error *err) {
    if (pt2_rt_int_option(layer, "keepdims", 0) || pt2_rt_int_option(layer, "unbroadcast", 0) ||
        pt2_rt_int_option(layer, "sparse", 0))
        return pt2_rt_layer_fail(layer, err, "range_in_axis is interpreted without keepdims, unbroadcast or sparse");
    const char *name = pt2_rt_string_option(layer, "dtype", "int32");
    *dtype = pt2_dtype_from_name(name);
    if (*dtype != PT2_DTYPE_INT32 && *dtype != PT2_DTYPE_INT64 && *dtype != PT2_DTYPE_FLOAT32)
        return pt2_rt_layer_fail(layer, err, "dtype '%s': int32, int64 or float32 are interpreted", name);
    return pt2_rt_resolve_axis(net, in, pt2_rt_string_option(layer, "axis", "T"), dim, err);
}

static pt2_status range_in_axis_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer,
                                      const pt2_rt_shape *inputs, size_t num_inputs, pt2_rt_shape *out, pt2_error *err) {
    (void)arena;
    int dim;
    pt2_dtype dtype = PT2_DTYPE_INVALID;
    pt2_status st = pt2_rt_single_input(layer, num_inputs, err);
    if (!st) st = range_axis(net, layer, &inputs[0], &dim, &dtype, err);
    if (st) return st;
    out->rank = 1;
    out->dims[0] = dim;
    out->feature_dim = -1; /* RETURNN's Data over one dynamic or static dim: no feature axis */
    out->sparse_dim = -1;
    out->dtype = dtype;
    return PT2_OK;
}

static pt2_status range_in_axis_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                        const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *out, pt2_error *err) {
    (void)num_inputs;
    int dim;
    pt2_dtype dtype = PT2_DTYPE_INVALID;
    pt2_status st = range_axis(net, layer, &inputs[0].shape, &dim, &dtype, err);
    if (st) return st;
    int axis = pt2_rt_shape_axis(&inputs[0].shape, dim);
    if (axis < 0) return pt2_rt_layer_fail(layer, err, "the axis is not one of the source's");
    int64_t n = inputs[0].tensor.shape[axis];
    if ((st = pt2_rt_alloc_output(arena, &layer->shape, &n, out, err))) return st;
    for (int64_t i = 0; i < n; i++) pt2_rt_store(out, i, (double)i);
    return PT2_OK;
}

const pt2_rt_layer_class pt2_rt_layers_range[] = {{"range_in_axis", range_in_axis_infer, range_in_axis_compute},
                                                  {NULL, NULL, NULL}};
