/* Lowering of flip: each flipped axis reversed by one layer. A static axis is a slice with
 * slice_step -1 (x[::-1], the same dim); the dynamic time axis is reversed within each
 * sequence's own length (tf.reverse_sequence in an eval layer), which is what flipping one
 * unpadded sequence computes: the padded frames stay padding. The batch is refused (RETURNN's
 * batch order is the dataset's). */
#include <stdio.h>
#include <string.h>

#include "../naming/naming.h"
#include "axes.h"
#include "lowerings.h"

/* One reversal of axis `axis` of `in`; the last one is the node's output, the others helpers. */
static pt2_status reverse_one(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in, int axis,
                              int last, int step, pt2_lowered_value *out, pt2_error *err) {
    const pt2_rt_dim *d = &ctx->net->dims[in->dims[axis]];
    if (d->kind == PT2_RT_DIM_BATCH) return pt2_lower_fail(node, err, "flipping the batch axis (axis %d)", axis);
    int dynamic = d->kind == PT2_RT_DIM_DYNAMIC;
    if (dynamic && pt2_rt_shape_time_axis(ctx->net, &in->shape) != pt2_rt_shape_axis(&in->shape, in->dims[axis]))
        return pt2_lower_fail(node, err, "flipping axis %d, a dynamic axis that is not the layer's time axis", axis);
    const char *layer_class = dynamic ? "eval" : "slice";
    pt2_rt_layer *layer;
    pt2_status st;
    if (last) st = pt2_lower_new_layer(ctx, node, layer_class, &layer, err);
    else {
        char base[220];
        snprintf(base, sizeof base, "%s_flip%d", ctx->places[node - ctx->graph->nodes].base, step);
        st = pt2_lower_new_layer_named(ctx, node, base, layer_class, &layer, err);
    }
    if (!st) st = pt2_lower_add_source(ctx, layer, in, err);
    if (st) return st;
    if (dynamic) st = pt2_rt_set_string(layer, "eval", pt2_rt_eval_form("reverse_sequence"), err);
    else {
        const char *description;
        st = pt2_axes_describe(ctx, node, in, axis, &description, err);
        if (!st) st = pt2_rt_set_string(layer, "axis", description, err);
        if (!st) st = pt2_rt_set_int(layer, "slice_step", -1, err);
    }
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    if (last) return pt2_lower_set_output(ctx, node, layer, in->rank, in->dims, err);
    pt2_axes_value_of(layer, in->rank, in->dims, out);
    return PT2_OK;
}

static pt2_status lower_flip(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    int64_t dims_arg[PT2_MAX_RANK];
    size_t count = 0;
    pt2_status st = pt2_lower_input(ctx, node, "self", &in, err);
    if (!st && !in) return pt2_lower_fail(node, err, "flipping a constant");
    if (!st) st = pt2_op_ints(ctx->run, node, "dims", dims_arg, PT2_MAX_RANK, &count, err);
    if (st) return st;
    int flipped[PT2_MAX_RANK] = {0}, axes[PT2_MAX_RANK], num_axes = 0;
    for (size_t i = 0; i < count; i++) {
        int64_t a = dims_arg[i] < 0 ? dims_arg[i] + in->rank : dims_arg[i];
        if (a < 0 || a >= in->rank) return pt2_lower_fail(node, err, "axis %lld out of range for %d axes", (long long)dims_arg[i], in->rank);
        /* a flipped axis of size 1 changes nothing */
        if (!flipped[a] && ctx->net->dims[in->dims[a]].size != 1) axes[num_axes++] = (int)a;
        flipped[a] = 1;
    }
    if (!num_axes) return pt2_lower_alias(ctx, node, in, err);
    pt2_lowered_value steps[2];
    const pt2_lowered_value *cur = in;
    for (int k = 0; k < num_axes; k++) {
        pt2_lowered_value *next = &steps[k % 2];
        if ((st = reverse_one(ctx, node, cur, axes[k], k == num_axes - 1, k, next, err))) return st;
        cur = next;
    }
    return PT2_OK;
}

const pt2_op_lowering pt2_lowerings_flip[] = {
    {"aten.flip.default", lower_flip, "slice eval:reverse_sequence"},
    {NULL, NULL, NULL}};
