/* gather: RETURNN's GatherLayer, tf.gather(input, position, axis, batch_dims) on dim tags.
 * Sources here: [input, position] (the config writes the second as the option "position"); the
 * position is int32/int64 and comes from any layer. The dims that input and position share
 * (by identity, but the gathered one) are batch-like: each of their entries gathers with its own
 * positions. The output's dims are, as GatherLayer orders them: the shared dims (in the input's
 * order), the input's dims before the gathered axis, the position's own dims (a dim equal to
 * the gathered one counts as the position's own), the input's dims after the gathered axis.
 * Its feature dim is the input's unless that was gathered, else the position's own feature dim.
 * A position outside the axis is an error here (TF's CPU gather fails on it too). */
#include <string.h>

#include "layers.h"

typedef struct gather_spec {
    int axis_dim;                  /* the gathered dim of the input */
    int out_from_input[PT2_MAX_RANK]; /* per output axis: the input axis it is (-1: a position axis) */
    int out_from_position[PT2_MAX_RANK];
    int rank;
    int dims[PT2_MAX_RANK];
} gather_spec;

static int shares(const pt2_rt_shape *s, int dim) { return pt2_rt_shape_axis(s, dim) >= 0; }

static pt2_status read_gather(const pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *in, const pt2_rt_shape *pos,
                              gather_spec *g, pt2_error *err) {
    pt2_status st = pt2_rt_resolve_axis(net, in, pt2_rt_string_option(layer, "axis", ""), &g->axis_dim, err);
    if (st) return st;
    if (pos->dtype != PT2_DTYPE_INT32 && pos->dtype != PT2_DTYPE_INT64)
        return pt2_rt_layer_fail(layer, err, "the position must be int32 or int64, not %s", pt2_dtype_name(pos->dtype));
    int gather_axis = pt2_rt_shape_axis(in, g->axis_dim), common = 0;
    g->rank = 0;
    /* shared dims, in the input's order */
    for (int a = 0; a < in->rank; a++)
        if (a != gather_axis && shares(pos, in->dims[a])) {
            g->out_from_input[g->rank] = a, g->out_from_position[g->rank] = pt2_rt_shape_axis(pos, in->dims[a]);
            g->dims[g->rank++] = in->dims[a], common++;
        }
    /* tf.gather's axis moves behind the shared dims: max(batch_dims, gather_axis) counts the
     * input's own dims before it from the input's axis order. */
    int own_before = (gather_axis > common ? gather_axis : common) - common, placed = 0;
    int own[PT2_MAX_RANK], num_own = 0;
    for (int a = 0; a < in->rank; a++)
        if (a != gather_axis && !shares(pos, in->dims[a])) own[num_own++] = a;
    for (; placed < own_before && placed < num_own; placed++) {
        g->out_from_input[g->rank] = own[placed], g->out_from_position[g->rank] = -1;
        g->dims[g->rank++] = in->dims[own[placed]];
    }
    for (int p = 0; p < pos->rank; p++)
        if (!shares(in, pos->dims[p]) || pos->dims[p] == g->axis_dim) {
            if (g->rank >= PT2_MAX_RANK) return pt2_rt_layer_fail(layer, err, "too many axes");
            g->out_from_input[g->rank] = -1, g->out_from_position[g->rank] = p;
            g->dims[g->rank++] = pos->dims[p];
        }
    for (; placed < num_own; placed++) {
        if (g->rank >= PT2_MAX_RANK) return pt2_rt_layer_fail(layer, err, "too many axes");
        g->out_from_input[g->rank] = own[placed], g->out_from_position[g->rank] = -1;
        g->dims[g->rank++] = in->dims[own[placed]];
    }
    return PT2_OK;
}

static pt2_status gather_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *inputs,
                               size_t num_inputs, pt2_rt_shape *out, pt2_error *err) {
    (void)arena;
    if (num_inputs != 2) return pt2_rt_layer_fail(layer, err, "expected an input and a position layer, got %zu sources", num_inputs);
    gather_spec g;
    pt2_status st = read_gather(net, layer, &inputs[0], &inputs[1], &g, err);
    if (st) return st;
    *out = inputs[0];
    out->rank = g.rank;
    memcpy(out->dims, g.dims, sizeof(int) * (size_t)g.rank);
    if (inputs[0].feature_dim < 0 || inputs[0].feature_dim == g.axis_dim)
        out->feature_dim = inputs[1].feature_dim >= 0 && pt2_rt_shape_axis(out, inputs[1].feature_dim) >= 0 ? inputs[1].feature_dim : -1;
    if (out->sparse_dim == g.axis_dim) out->sparse_dim = -1;
    return PT2_OK;
}

static pt2_status gather_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                 const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *out, pt2_error *err) {
    (void)num_inputs;
    gather_spec g;
    pt2_status st = read_gather(net, layer, &inputs[0].shape, &inputs[1].shape, &g, err);
    if (st) return st;
    /* The input and the position contiguous in their own shape orders. */
    pt2_tensor x, pos;
    if ((st = pt2_rt_view_to(arena, &inputs[0], inputs[0].shape.rank, inputs[0].shape.dims, &x, err))) return st;
    if ((st = pt2_rt_view_to(arena, &inputs[1], inputs[1].shape.rank, inputs[1].shape.dims, &pos, err))) return st;
    int gather_axis = pt2_rt_shape_axis(&inputs[0].shape, g.axis_dim);
    int64_t sizes[PT2_MAX_RANK], x_strides[PT2_MAX_RANK], pos_strides[PT2_MAX_RANK];
    for (int a = 0; a < g.rank; a++)
        sizes[a] = g.out_from_position[a] >= 0 ? pos.shape[g.out_from_position[a]] : x.shape[g.out_from_input[a]];
    int64_t stride = 1;
    for (int a = x.rank - 1; a >= 0; a--) x_strides[a] = stride, stride *= x.shape[a];
    stride = 1;
    for (int a = pos.rank - 1; a >= 0; a--) pos_strides[a] = stride, stride *= pos.shape[a];
    /* Computed in the order the sources' axes give, then put in layer->shape's order (the
     * per-layer check passes sources in PyTorch's axis order). */
    pt2_rt_tensor gathered = {0};
    gathered.shape = layer->shape;
    memcpy(gathered.shape.dims, g.dims, sizeof(int) * (size_t)g.rank);
    if ((st = pt2_tensor_alloc(arena, x.dtype, g.rank, sizes, &gathered.tensor, err))) return st;
    size_t item = pt2_dtype_size(x.dtype);
    const unsigned char *src = pt2_tensor_data(&x);
    unsigned char *dst = pt2_tensor_data(&gathered.tensor);
    int64_t total = pt2_tensor_numel(&gathered.tensor), index[PT2_MAX_RANK] = {0}, n = x.shape[gather_axis];
    for (int64_t flat = 0; flat < total; flat++) {
        int64_t x_offset = 0, pos_offset = 0;
        for (int a = 0; a < g.rank; a++) {
            if (g.out_from_input[a] >= 0) x_offset += index[a] * x_strides[g.out_from_input[a]];
            if (g.out_from_position[a] >= 0) pos_offset += index[a] * pos_strides[g.out_from_position[a]];
        }
        int64_t p = pos.dtype == PT2_DTYPE_INT64 ? ((const int64_t *)pt2_tensor_data(&pos))[pos_offset]
                                                 : ((const int32_t *)pt2_tensor_data(&pos))[pos_offset];
        if (p < 0 || p >= n) return pt2_rt_layer_fail(layer, err, "position %lld is outside the gathered axis of size %lld", (long long)p, (long long)n);
        memcpy(dst + flat * item, src + (x_offset + p * x_strides[gather_axis]) * item, item);
        for (int a = g.rank - 1; a >= 0 && ++index[a] == sizes[a]; a--) index[a] = 0;
    }
    return pt2_rt_transpose_to(arena, &gathered, layer->shape.rank, layer->shape.dims, out, err);
}

const pt2_rt_layer_class pt2_rt_layers_gather[] = {{"gather", gather_infer, gather_compute}, {NULL, NULL, NULL}};
