/* Lowering of unfold(dimension, size, step) (framing a signal, windows of frames) to RETURNN's
 * window layer with padding "valid" and that stride: the windowed axis becomes the windows' index
 * (ceil((T - size + 1) / step) frames of a dynamic T), a new static axis of `size` at the end runs
 * within each window. On a static axis a gather at constant positions. */
#include <string.h>

#include "axes.h"
#include "lower_gather.h"
#include "lowerings.h"

static pt2_status lower_unfold(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    int64_t dimension, size, step;
    pt2_status st = pt2_lower_input(ctx, node, "self", &in, err);
    if (!st && !in) return pt2_lower_fail(node, err, "unfold of a constant");
    if (!st) st = pt2_op_int(ctx->run, node, "dimension", &dimension, err);
    if (!st) st = pt2_op_int(ctx->run, node, "size", &size, err);
    if (!st) st = pt2_op_int(ctx->run, node, "step", &step, err);
    if (st) return st;
    int axis = (int)(dimension < 0 ? dimension + in->rank : dimension);
    if (axis < 0 || axis >= in->rank) return pt2_lower_fail(node, err, "dimension %lld is out of range", (long long)dimension);
    if (in->rank + 1 > PT2_MAX_RANK) return pt2_lower_fail(node, err, "too many axes");
    if (ctx->net->dims[in->dims[axis]].kind == PT2_RT_DIM_BATCH)
        return pt2_lower_fail(node, err, "windows along the batch cannot be expressed in RETURNN");
    if (size == 1 && step == 1) {
        /* windows of one entry: the value with a size-1 axis at the end, a broadcast axis (a
         * static dim of size 1 that a layer made is one RETURNN's combine may match with any
         * other: UnivNet's taps of dilation 1 met its bias's channels there) */
        pt2_lowered_value out = *in;
        out.dims[in->rank] = PT2_AXIS_BROADCAST;
        out.rank = in->rank + 1;
        return pt2_axes_set_output_at(ctx, node, 0, &out, err);
    }
    const pt2_rt_dim *along = &ctx->net->dims[in->dims[axis]];
    if (along->kind == PT2_RT_DIM_STATIC) {
        /* RETURNN's window on a static axis builds a tensor of the wrong rank in TF: there the
         * windows are a gather at constant positions [windows, size]. */
        int64_t windows = (along->size - size) / step + 1;
        int64_t shape[2] = {windows, size};
        pt2_tensor positions;
        if ((st = pt2_tensor_alloc(ctx->arena, PT2_DTYPE_INT64, 2, shape, &positions, err))) return st;
        int64_t *p = pt2_tensor_data(&positions);
        for (int64_t w = 0; w < windows; w++)
            for (int64_t i = 0; i < size; i++) p[w * size + i] = w * step + i;
        int placed[2] = {axis, in->rank};
        return pt2_lower_gather_constant_placed(ctx, node, in, axis, along->size, &positions, placed, err);
    }
    const char *description;
    pt2_rt_layer *layer;
    if ((st = pt2_axes_describe(ctx, node, in, axis, &description, err))) return st;
    if ((st = pt2_lower_new_layer(ctx, node, "window", &layer, err))) return st;
    if (!st) st = pt2_lower_add_source(ctx, layer, in, err);
    if (!st) st = pt2_rt_set_string(layer, "axis", description, err);
    if (!st) st = pt2_rt_set_int(layer, "window_size", size, err);
    if (!st) st = pt2_rt_set_int(layer, "stride", step, err);
    if (!st) st = pt2_rt_set_string(layer, "padding", "valid", err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    /* The layer's first two dims are the windows' axis and the frames (window_infer). */
    int window = layer->shape.dims[step == 1 ? 0 : 1], frames = layer->shape.dims[step == 1 ? 1 : 0];
    int dims[PT2_MAX_RANK];
    memcpy(dims, in->dims, sizeof dims);
    dims[axis] = frames;
    dims[in->rank] = window;
    return pt2_lower_set_output(ctx, node, layer, in->rank + 1, dims, err);
}

const pt2_op_lowering pt2_lowerings_window[] = {{"aten.unfold.default", lower_unfold, "window gather variable"}, {NULL, NULL, NULL}};
