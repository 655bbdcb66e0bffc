/* The eval form "concat_time_per_sequence" (core/lower/lower_concat.c): its source is a concat of
 * [a, c] along a dynamic axis, whose padded tensor holds, for sequence b, a's frames, a's padding
 * up to T_a, then c. TF's four tf.reverse_sequence (whole time T, c's padded part T - T_a, the
 * part after len_a, whole time) give frame t:
 *   t < len_a                      -> t
 *   len_a <= t < len_a + T - T_a   -> t + (T_a - len_a)   (c moved back)
 *   after that                     -> T + len_a - 1 - t   (a's padding, reversed)
 * Without sequence lengths (every sequence full) it is the identity. */
#include <string.h>

#include "layers.h"

/* a's dim along the join and the concat layer the eval reads. */
static pt2_status joined_first_dim(const pt2_rt_net *net, const pt2_rt_layer *layer, int *first_dim, pt2_error *err) {
    const pt2_rt_layer *concat = layer->num_from == 1 ? pt2_rt_find_layer(net, layer->from[0]) : NULL;
    if (!concat || strcmp(concat->layer_class, "concat") || concat->num_from != 2)
        return pt2_rt_layer_fail(layer, err, "expected a concat of two sources as the source");
    /* The first part may be the network's input ("data", no layer of its own). */
    const pt2_rt_layer *first = pt2_rt_find_layer(net, concat->from[0]);
    const pt2_rt_shape *first_shape = first ? &first->shape : !strcmp(concat->from[0], "data") ? &net->input : NULL;
    const pt2_rt_value *axes = pt2_rt_get_option(concat, "from_axes");
    if (!first_shape || !axes || axes->kind != PT2_RT_LIST || axes->count != 2 || axes->items[0].kind != PT2_RT_STRING)
        return pt2_rt_layer_fail(layer, err, "the concat's first source and axis are not found");
    pt2_status st = pt2_rt_resolve_axis(net, first_shape, axes->items[0].string, first_dim, err);
    if (!st && net->dims[*first_dim].kind != PT2_RT_DIM_DYNAMIC)
        return pt2_rt_layer_fail(layer, err, "the concat's first source is not dynamic along the join");
    return st;
}

pt2_status pt2_rt_pack_joined_sequences(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                        const pt2_rt_tensor *in, pt2_tensor *out, pt2_error *err) {
    int first_dim, time_axis = pt2_rt_shape_time_axis(net, &layer->shape), batch_axis = -1;
    pt2_status st = joined_first_dim(net, layer, &first_dim, err);
    if (st) return st;
    for (int a = 0; a < layer->shape.rank; a++)
        if (net->dims[layer->shape.dims[a]].kind == PT2_RT_DIM_BATCH) batch_axis = a;
    if (time_axis < 0 || batch_axis < 0) return pt2_rt_layer_fail(layer, err, "expected batch and time axes");
    pt2_tensor x;
    st = pt2_rt_transpose_to(arena, in, layer->shape.rank, layer->shape.dims, &x, err);
    if (!st) st = pt2_tensor_contiguous(arena, &x, 1, out, err);
    if (st || !net->sequence_lengths) return st;
    /* a's padded size: its dim at the longest input (the padded batch's time). */
    int64_t longest = 0;
    for (int64_t b = 0; b < net->num_sequences; b++)
        if (net->sequence_lengths[b] > longest) longest = net->sequence_lengths[b];
    int64_t time = x.shape[time_axis], first_padded = pt2_rt_dim_size(net, first_dim, longest), inner = 1;
    if (first_padded > time) return pt2_rt_layer_fail(layer, err, "the first part is longer than the join");
    for (int a = time_axis + 1; a < x.rank; a++) inner *= x.shape[a];
    const float *px = pt2_tensor_data(&x);
    float *po = pt2_tensor_data(out);
    int64_t total = pt2_tensor_numel(&x), index[PT2_MAX_RANK] = {0};
    for (int64_t flat = 0; flat < total; flat++, index[x.rank - 1]++) {
        for (int a = x.rank - 1; a > 0 && index[a] == x.shape[a]; a--) index[a] = 0, index[a - 1]++;
        int64_t t = index[time_axis];
        int64_t first = pt2_rt_sequence_length(net, first_dim, index[batch_axis], first_padded), source = t;
        if (t >= first + time - first_padded) source = time + first - 1 - t;
        else if (t >= first) source = t + first_padded - first;
        po[flat] = px[flat + (source - t) * inner];
    }
    return PT2_OK;
}
