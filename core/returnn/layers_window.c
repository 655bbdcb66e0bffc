/* The window layer as RETURNN's TF backend computes it outside a rec loop with padding "valid"
 * on a dynamic axis (PyTorch's unfold): windows of `window_size` frames starting every `stride`
 * frames; out[..., t, ..., w] = x[..., t * stride + w, ...]. The windows' axis is a new static dim
 * "<layer>:window"; the windowed axis becomes ceil((T - window_size + 1) / stride) frames, a dim
 * derived from T (ConvLayer.calc_out_dim). The output's order is RETURNN's (behavior version 18 on): the windowed axis first, the windows' axis
 * before it for stride 1, after it otherwise, then the input's other axes. */
#include <string.h>

#include "layers.h"

typedef struct window_spec {
    int axis_dim;
    int64_t size, stride;
} window_spec;

static pt2_status read_window(const pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *in, window_spec *s,
                              pt2_error *err) {
    const pt2_rt_value *axis = pt2_rt_get_option(layer, "axis"), *padding = pt2_rt_get_option(layer, "padding");
    if (!axis || axis->kind != PT2_RT_STRING) return pt2_rt_layer_fail(layer, err, "option \"axis\" must name one axis");
    if (!padding || padding->kind != PT2_RT_STRING || strcmp(padding->string, "valid"))
        return pt2_rt_layer_fail(layer, err, "only padding \"valid\" is interpreted");
    s->size = pt2_rt_int_option(layer, "window_size", 0);
    s->stride = pt2_rt_int_option(layer, "stride", 1);
    if (s->size < 1 || s->stride < 1) return pt2_rt_layer_fail(layer, err, "window_size and stride must be >= 1");
    pt2_status st = pt2_rt_resolve_axis(net, in, axis->string, &s->axis_dim, err);
    if (st) return st;
    if (net->dims[s->axis_dim].kind == PT2_RT_DIM_BATCH) return pt2_rt_layer_fail(layer, err, "windows over the batch");
    return PT2_OK;
}

static pt2_status window_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *inputs,
                               size_t num_inputs, pt2_rt_shape *out, pt2_error *err) {
    window_spec s;
    pt2_status st = pt2_rt_single_input(layer, num_inputs, err);
    if (!st) st = read_window(net, layer, &inputs[0], &s, err);
    if (st) return st;
    const pt2_rt_dim *d = &net->dims[s.axis_dim];
    int frames, window;
    const char *spatial = pt2_arena_printf(arena, err, "%s:spatial", pt2_rt_local_name(layer->name));
    const char *windows = pt2_arena_printf(arena, err, "%s:window", pt2_rt_local_name(layer->name));
    if (!spatial || !windows) return err->status;
    /* RETURNN's TF window on a static axis builds a tensor of the wrong rank (the lowering
     * gathers there instead). */
    if (d->kind != PT2_RT_DIM_DYNAMIC) return pt2_rt_layer_fail(layer, err, "a window on a static axis is not interpreted");
    st = pt2_rt_derive_dim(arena, net, s.axis_dim, 1, 1 - s.size, s.stride, spatial, &frames, err);
    if (!st) st = pt2_rt_add_dim(arena, net, windows, PT2_RT_DIM_STATIC, s.size, &window, err);
    if (st) return st;
    *out = inputs[0];
    out->rank = 0;
    if (s.stride == 1) out->dims[out->rank++] = window;
    out->dims[out->rank++] = frames;
    if (s.stride != 1) out->dims[out->rank++] = window;
    for (int a = 0; a < inputs[0].rank; a++)
        if (inputs[0].dims[a] != s.axis_dim) out->dims[out->rank++] = inputs[0].dims[a];
    if (out->rank > PT2_MAX_RANK) return pt2_rt_layer_fail(layer, err, "too many axes");
    if (inputs[0].feature_dim == s.axis_dim) out->feature_dim = frames;
    return PT2_OK;
}

static pt2_status window_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                 const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *out, pt2_error *err) {
    (void)num_inputs;
    window_spec s;
    pt2_status st = read_window(net, layer, &inputs[0].shape, &s, err);
    if (st) return st;
    const pt2_tensor *x = &inputs[0].tensor;
    int at = pt2_rt_shape_axis(&inputs[0].shape, s.axis_dim);
    if (at < 0 || at >= x->rank) return pt2_rt_layer_fail(layer, err, "the windowed axis is not in the input");
    if (x->shape[at] < s.size) return pt2_rt_layer_fail(layer, err, "%lld frames are fewer than a window of %lld",
                                                        (long long)x->shape[at], (long long)s.size);
    /* A view of the input in the output's order: the windows step `stride` frames, a window's
     * frames one; copied contiguous. */
    pt2_tensor view = *x;
    view.rank = layer->shape.rank;
    int window_axis = s.stride == 1 ? 0 : 1, frames_axis = s.stride == 1 ? 1 : 0;
    for (int a = 0; a < layer->shape.rank; a++) {
        if (a == window_axis) view.shape[a] = s.size, view.strides[a] = x->strides[at];
        else if (a == frames_axis) view.shape[a] = (x->shape[at] - s.size) / s.stride + 1, view.strides[a] = x->strides[at] * s.stride;
        else {
            int source = pt2_rt_shape_axis(&inputs[0].shape, layer->shape.dims[a]);
            if (source < 0 || source >= x->rank) return pt2_rt_layer_fail(layer, err, "an axis of the output is not in the input");
            view.shape[a] = x->shape[source], view.strides[a] = x->strides[source];
        }
    }
    return pt2_tensor_contiguous(arena, &view, 1, out, err);
}

const pt2_rt_layer_class pt2_rt_layers_window[] = {{"window", window_infer, window_compute}, {NULL, NULL, NULL}};
