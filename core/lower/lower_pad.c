/* Lowering of pads (reflect, replicate, constant) to RETURNN's "pad" layer, one per padded axis,
 * named by its axis description: a pad of several axes (the 2-D and 3-D pads) is the pads of
 * each axis in turn, since each mode pads the axes independently (a corner of a 2-D reflection
 * is the reflection of the reflection). */
#include <string.h>

#include "axes.h"
#include "lower.h"
#include "lower_gather.h"
#include "lower_pad.h"
#include "lowerings.h"

/* The pad layer itself: a helper named `base`, or the node's own layer (base NULL). */
static pt2_status pad_layer(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in, int axis, int64_t left,
                            int64_t right, const char *mode, double value, const char *base, pt2_rt_layer **out, int *dims,
                            pt2_error *err) {
    const char *description;
    pt2_status st = pt2_rt_axis_description(ctx->arena, ctx->net, &in->shape, in->dims[axis], &description, err);
    if (st) return st;
    pt2_rt_layer *layer;
    if ((st = base ? pt2_lower_new_layer_named(ctx, node, base, "pad", &layer, err) : pt2_lower_new_layer(ctx, node, "pad", &layer, err)))
        return st;
    pt2_rt_value pair_items[2] = {{.kind = PT2_RT_INT, .int_value = left}, {.kind = PT2_RT_INT, .int_value = right}};
    pt2_rt_value *items = pt2_arena_alloc_array(ctx->arena, 3, sizeof *items, err);
    if (!items) return err->status;
    items[0].kind = PT2_RT_LIST;
    items[0].count = 2;
    items[0].items = pt2_arena_alloc_array(ctx->arena, 2, sizeof *items, err);
    if (!items[0].items) return err->status;
    memcpy(items[0].items, pair_items, sizeof pair_items);
    pt2_rt_value padding = {.kind = PT2_RT_LIST, .count = 1, .items = items};
    if (!st) st = pt2_lower_add_source(ctx, layer, in, err);
    if (!st) st = pt2_rt_set_string_list(ctx->arena, layer, "axes", &description, 1, err);
    if (!st) st = pt2_rt_set_value(layer, "padding", &padding, err);
    if (!st) st = pt2_rt_set_string(layer, "mode", mode, err);
    if (!st && !strcmp(mode, "constant")) st = pt2_rt_set_float(layer, "value", value, err);
    /* RETURNN pads after each sequence's own end only in constant mode (PadLayer raises for
     * reflect/replication with handle_dynamic_dims); the mode decides, written out since the
     * default depends on the behavior version. */
    if (!st) st = pt2_rt_set_bool(layer, "handle_dynamic_dims", !strcmp(mode, "constant"), err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    memcpy(dims, in->dims, sizeof(int) * PT2_MAX_RANK);
    for (int a = 0; a < layer->shape.rank; a++)
        if (pt2_rt_shape_axis(&in->shape, layer->shape.dims[a]) < 0) dims[axis] = layer->shape.dims[a];
    *out = layer;
    return PT2_OK;
}

pt2_status pt2_lower_pad_zeros_helper(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in, int axis,
                                      int64_t left, int64_t right, const char *base, pt2_lowered_value *out, pt2_error *err) {
    pt2_rt_layer *layer = NULL;
    int dims[PT2_MAX_RANK];
    pt2_status st = pad_layer(ctx, node, in, axis, left, right, "constant", 0, base, &layer, dims, err);
    if (!st) pt2_axes_value_of(layer, in->rank, dims, out);
    return st;
}

pt2_status pt2_lower_pad_one_axis(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in, int axis,
                                  int64_t left, int64_t right, const char *mode, double value, pt2_error *err) {
    pt2_rt_layer *layer = NULL;
    int dims[PT2_MAX_RANK];
    pt2_status st = pad_layer(ctx, node, in, axis, left, right, mode, value, NULL, &layer, dims, err);
    if (st) return st;
    if ((st = pt2_lower_set_output(ctx, node, layer, in->rank, dims, err))) return st;
    if (!strcmp(mode, "constant") || !right || ctx->net->dims[in->dims[axis]].kind != PT2_RT_DIM_DYNAMIC) return PT2_OK;
    /* In a padded batch, tf.pad reflects (replicates) at the end of the longest sequence only:
     * an eval layer redoes the right part at each sequence's own end (tf.reverse_sequence by
     * the lengths of the padded dim; the left part is right already). */
    pt2_lowered_value padded = {.is_set = 1, .layer = layer->name, .shape = layer->shape, .rank = in->rank};
    memcpy(padded.dims, dims, sizeof dims);
    return pt2_lower_eval(ctx, node, &padded, !strcmp(mode, "reflect") ? "reflect_end" : "replicate_end", (double)right, err);
}

/* A circular pad of one static axis of size n: a gather at the positions (i - left) mod n for i
 * in [0, left + n + right), which wraps as PyTorch does (the left part is the axis's end). On the
 * time each sequence would wrap at its own end, which a gather at fixed positions cannot do on a
 * padded batch: refused. */
static pt2_status circular_pad_one_axis(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in, int axis,
                                        int64_t left, int64_t right, pt2_error *err) {
    const pt2_rt_dim *d = &ctx->net->dims[in->dims[axis]];
    if (in->dims[axis] < 0 || d->kind != PT2_RT_DIM_STATIC)
        return pt2_lower_fail(node, err, "a circular pad of axis %d ('%s') is not lowered: on the time each sequence of a padded batch "
                              "wraps at its own end (static axes are lowered)", axis, in->dims[axis] < 0 ? "broadcast" : d->description);
    int64_t n = d->size, count = left + n + right;
    if (left > n || right > n) return pt2_lower_fail(node, err, "a circular pad wider than the axis (%lld)", (long long)n);
    pt2_tensor index;
    pt2_status st = pt2_tensor_alloc(ctx->arena, PT2_DTYPE_INT64, 1, &count, &index, err);
    if (st) return st;
    int64_t *p = pt2_tensor_data(&index);
    for (int64_t i = 0; i < count; i++) p[i] = ((i - left) % n + n) % n;
    return pt2_lower_gather_constant(ctx, node, in, axis, n, &index, err);
}

/* pads: (left, right) pairs from the last axis backwards. Each padded axis in turn; the layers
 * of all but the last compute no node value of their own (their output is not PyTorch's). */
static pt2_status lower_pad_axes(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in,
                                 const int64_t *pads, size_t count, const char *mode, double value, pt2_error *err) {
    if (count % 2 || (int)(count / 2) > in->rank) return pt2_lower_fail(node, err, "expected (left, right) pairs of padding");
    int last = -1;
    for (size_t i = 0; i < count; i += 2) {
        if (pads[i] < 0 || pads[i + 1] < 0) return pt2_lower_fail(node, err, "negative padding (cropping) is not lowered yet");
        if (pads[i] || pads[i + 1]) last = (int)i;
    }
    if (last < 0) return pt2_lower_alias(ctx, node, in, err);
    /* The first step reads `in` itself (the per-layer check finds its PyTorch value by it), the
     * later ones the layer before (recomputed by the check from its own sources). */
    pt2_lowered_value current;
    const pt2_lowered_value *source = in;
    for (int i = 0; i <= last; i += 2) {
        if (!pads[i] && !pads[i + 1]) continue;
        size_t first_layer = ctx->net->num_layers;
        pt2_status st = !strcmp(mode, "circular") ? circular_pad_one_axis(ctx, node, source, in->rank - 1 - i / 2, pads[i], pads[i + 1], err)
                                                  : pt2_lower_pad_one_axis(ctx, node, source, in->rank - 1 - i / 2, pads[i], pads[i + 1], mode, value, err);
        if (st) return st;
        current = ctx->values[node->outputs[0].value_id];
        source = &current;
        if (i == last) break;
        for (size_t l = first_layer; l < ctx->net->num_layers; l++) ctx->net->layers[l].node = -1;
    }
    return PT2_OK;
}

static pt2_status lower_pad(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    int64_t pads[2 * PT2_MAX_RANK];
    size_t count;
    const char *mode = "constant";
    double value = 0;
    int has_value = 0;
    pt2_status st = pt2_lower_input(ctx, node, "self", &in, err);
    if (!st && !in) return pt2_lower_fail(node, err, "padding a constant is not lowered");
    if (!st) st = pt2_op_ints(ctx->run, node, "pad", pads, 2 * PT2_MAX_RANK, &count, err);
    if (!st && pt2_node_arg(node, "mode")) st = pt2_op_string(ctx->run, node, "mode", &mode, err);
    if (!st && pt2_node_arg(node, "value")) st = pt2_op_optional_scalar(ctx->run, node, "value", &value, &has_value, err);
    if (st) return st;
    if (!strcmp(mode, "replicate")) mode = "replication";
    else if (strcmp(mode, "reflect") && strcmp(mode, "constant") && strcmp(mode, "circular"))
        return pt2_lower_fail(node, err, "pad mode '%s' is not lowered", mode);
    return lower_pad_axes(ctx, node, in, pads, count, mode, value, err);
}

/* _pad_circular takes "pad": (left, right) pairs from the last axis. */
static pt2_status lower_pad_circular(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    int64_t pads[2 * PT2_MAX_RANK];
    size_t count;
    pt2_status st = pt2_lower_input(ctx, node, "self", &in, err);
    if (!st && !in) return pt2_lower_fail(node, err, "padding a constant is not lowered");
    if (!st) st = pt2_op_ints(ctx->run, node, "pad", pads, 2 * PT2_MAX_RANK, &count, err);
    return st ? st : lower_pad_axes(ctx, node, in, pads, count, "circular", 0, err);
}

/* reflection_padNd / replication_padNd take "padding": (left, right) pairs from the last axis. */
static pt2_status lower_named_pad(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    int64_t pads[6];
    size_t count;
    pt2_status st = pt2_lower_input(ctx, node, "self", &in, err);
    if (!st && !in) return pt2_lower_fail(node, err, "padding a constant is not lowered");
    if (!st) st = pt2_op_ints(ctx->run, node, "padding", pads, 6, &count, err);
    if (st) return st;
    const char *mode = strstr(node->target, "reflection") ? "reflect" : "replication";
    return lower_pad_axes(ctx, node, in, pads, count, mode, 0, err);
}

const pt2_op_lowering pt2_lowerings_pad[] = {
    {"aten.pad.default", lower_pad, "pad eval:reflect_end eval:replicate_end gather variable"},
    {"aten.constant_pad_nd.default", lower_pad, "pad"},
    {"aten.reflection_pad1d.default", lower_named_pad, "pad eval:reflect_end"},
    {"aten.replication_pad1d.default", lower_named_pad, "pad eval:replicate_end"},
    /* pads of several axes (issue 13) */
    {"aten.reflection_pad2d.default", lower_named_pad, "pad eval:reflect_end"},
    {"aten.reflection_pad3d.default", lower_named_pad, "pad eval:reflect_end"},
    {"aten.replication_pad2d.default", lower_named_pad, "pad eval:replicate_end"},
    {"aten.replication_pad3d.default", lower_named_pad, "pad eval:replicate_end"},
    /* ops13: circular pads of static axes (a gather at wrapped positions) */
    {"aten._pad_circular.default", lower_pad_circular, "gather variable"},
    {NULL, NULL, NULL}};
