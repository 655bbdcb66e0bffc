/* Lowering of indexing with tensors to RETURNN's "gather" (tf.gather on dim tags; the dims the
 * input and the position share are batch-like):
 *   - index_select(x, dim, index) and x[..., index] (aten.index.Tensor with one tensor index)
 *     with constant indices, on any axis but the batch (the time too: a fixed set of frames);
 *     the indices become an int32 "variable" layer whose own static dims replace the axis;
 *   - torch.gather(x, dim, index) with an index computed from the input whose other axes are
 *     x's own dims (the shared, batch-like ones): each entry gathers along `dim` with its own
 *     positions.
 * A negative constant index counts from the end of a static axis; on the time, whose length
 * varies per sequence, it is refused, except for select (x[:, -1]): each sequence's own frame,
 * a gather at its length minus the index. A boolean mask index is refused (its result's size
 * depends on the data). */
#include <stdio.h>
#include <string.h>

#include "../naming/naming.h"
#include "../ops/elementwise.h"
#include "axes.h"
#include "lower_gather.h"
#include "lowerings.h"

/* A variable layer holding the constant positions `index` (any integer dtype) into an axis of
 * size `size` (-1: a dynamic axis). */
static pt2_status position_layer(pt2_lower_context *ctx, const pt2_node *node, const pt2_tensor *index, int64_t size,
                                 pt2_lowered_value *out, pt2_error *err) {
    if (index->rank < 1) return pt2_lower_fail(node, err, "a 0-d index is not lowered");
    if (index->dtype != PT2_DTYPE_INT64 && index->dtype != PT2_DTYPE_INT32)
        return pt2_lower_fail(node, err, "an index of dtype %s is not lowered (int64 and int32 are)", pt2_dtype_name(index->dtype));
    pt2_tensor positions;
    pt2_status st = pt2_tensor_cast(ctx->arena, index, PT2_DTYPE_INT32, &positions, err);
    if (st) return st;
    int32_t *p = pt2_tensor_data(&positions);
    int64_t n = pt2_tensor_numel(&positions);
    if (!n) return pt2_lower_fail(node, err, "an empty index is not lowered");
    for (int64_t i = 0; i < n; i++)
        if (p[i] < 0) {
            if (size < 0) return pt2_lower_fail(node, err, "a negative index (%d) on the time axis (its length varies per sequence)", p[i]);
            p[i] += (int32_t)size;
        }
    char base[240];
    /* The layer names its TF variable, and TF's name scopes cannot begin with '_' (TF rewrites such
     * a name, and the checkpoint would no longer match it): leading underscores are left out. */
    const char *node_base = ctx->places[node - ctx->graph->nodes].base;
    while (*node_base == '_') node_base++;
    snprintf(base, sizeof base, "%s_positions", node_base);
    pt2_rt_layer *layer;
    if ((st = pt2_lower_new_layer_named(ctx, node, base, "variable", &layer, err))) return st;
    if (!st) st = pt2_rt_set_int_list(ctx->arena, layer, "shape", positions.shape, (size_t)positions.rank, err);
    if (!st) st = pt2_rt_set_string(layer, "dtype", "int32", err);
    if (!st) st = pt2_rt_set_bool(layer, "trainable", 0, err);
    if (!st) st = pt2_rt_set_bool(layer, "add_batch_axis", 0, err);
    if (!st) st = pt2_rt_add_param(layer, layer->name, &positions, err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    pt2_axes_value_of(layer, layer->shape.rank, layer->shape.dims, out);
    return PT2_OK;
}

/* The node's output: x gathered on `axis` at `position`; its dims are `dims`. */
static pt2_status gather_layer(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in, int axis,
                               const pt2_lowered_value *position, int rank, const int *dims, pt2_error *err) {
    const char *description;
    pt2_rt_layer *layer;
    pt2_status st = pt2_axes_describe(ctx, node, in, axis, &description, err);
    if (!st) st = pt2_lower_new_layer(ctx, node, "gather", &layer, err);
    if (!st) st = pt2_lower_add_source(ctx, layer, in, err);
    if (!st) st = pt2_lower_add_source(ctx, layer, position, err);
    if (!st) st = pt2_rt_set_string(layer, "axis", description, err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    return st ? st : pt2_lower_set_output(ctx, node, layer, rank, dims, err);
}

pt2_status pt2_lower_select_from_end(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in, int axis,
                                     int64_t index, pt2_error *err) {
    const char *time, *base = ctx->places[node - ctx->graph->nodes].base;
    char name[220], number[40];
    pt2_rt_layer *length, *position;
    int batch_dim = -1, dims[PT2_MAX_RANK];
    for (int a = 0; a < in->rank; a++)
        if (in->dims[a] >= 0 && ctx->net->dims[in->dims[a]].kind == PT2_RT_DIM_BATCH) batch_dim = in->dims[a];
    if (batch_dim < 0) return pt2_lower_fail(node, err, "selecting from the end of the time needs the batch");
    pt2_status st = pt2_axes_describe(ctx, node, in, axis, &time, err);
    snprintf(name, sizeof name, "%s_length", base);
    if (!st) st = pt2_lower_new_layer_named(ctx, node, name, "length", &length, err);
    if (!st) st = pt2_lower_add_source(ctx, length, in, err);
    if (!st) st = pt2_rt_set_string(length, "axis", time, err);
    if (!st) st = pt2_lower_infer(ctx, node, length, err);
    if (st) return st;
    pt2_lowered_value length_v, position_v;
    pt2_axes_value_of(length, 1, &batch_dim, &length_v);
    /* each sequence's frame `index` from its end: its length + index (index < 0), int32 */
    snprintf(number, sizeof number, "%lld", (long long)index);
    const char *code = pt2_arena_printf(ctx->arena, err, pt2_rt_eval_form("add_scalar"), number);
    if (!code) return err->status;
    snprintf(name, sizeof name, "%s_position", base);
    st = pt2_lower_new_layer_named(ctx, node, name, "eval", &position, err);
    if (!st) st = pt2_lower_add_source(ctx, position, &length_v, err);
    if (!st) st = pt2_rt_set_string(position, "eval", code, err);
    if (!st) st = pt2_lower_infer(ctx, node, position, err);
    if (st) return st;
    pt2_axes_value_of(position, 1, &batch_dim, &position_v);
    for (int a = 0, k = 0; a < in->rank; a++)
        if (a != axis) dims[k++] = in->dims[a];
    return gather_layer(ctx, node, in, axis, &position_v, in->rank - 1, dims, err);
}

pt2_status pt2_lower_gather_constant(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in, int axis,
                                    int64_t size, const pt2_tensor *index, pt2_error *err) {
    const pt2_rt_dim *d = &ctx->net->dims[in->dims[axis]];
    if (d->kind == PT2_RT_DIM_BATCH) return pt2_lower_fail(node, err, "indexing the batch axis (axis %d)", axis);
    if (in->rank - 1 + index->rank > PT2_MAX_RANK) return pt2_lower_fail(node, err, "too many axes");
    pt2_lowered_value position;
    pt2_status st = position_layer(ctx, node, index, size, &position, err);
    if (st) return st;
    int dims[PT2_MAX_RANK], rank = 0;
    for (int a = 0; a < axis; a++) dims[rank++] = in->dims[a];
    for (int a = 0; a < position.rank; a++) dims[rank++] = position.dims[a];
    for (int a = axis + 1; a < in->rank; a++) dims[rank++] = in->dims[a];
    return gather_layer(ctx, node, in, axis, &position, rank, dims, err);
}

/* x with axis `axis` replaced by the constant `index`'s axes. */
static pt2_status gather_constant(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in, int axis,
                                  const pt2_tensor *index, pt2_error *err) {
    const pt2_arg *self = pt2_node_arg(node, "self");
    int64_t size = ctx->net->dims[in->dims[axis]].kind == PT2_RT_DIM_STATIC ? ctx->run->values[self->value_id].tensor.shape[axis] : -1;
    return pt2_lower_gather_constant(ctx, node, in, axis, size, index, err);
}

static pt2_status data_and_axis(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value **in, int *axis,
                                pt2_error *err) {
    int64_t dim = 0;
    pt2_status st = pt2_lower_input(ctx, node, "self", in, err);
    if (!st && !*in) return pt2_lower_fail(node, err, "indexing a constant");
    if (!st) st = pt2_op_int(ctx->run, node, "dim", &dim, err);
    if (st) return st;
    int64_t a = dim < 0 ? dim + (*in)->rank : dim;
    if (a < 0 || a >= (*in)->rank) return pt2_lower_fail(node, err, "axis %lld out of range for %d axes", (long long)dim, (*in)->rank);
    *axis = (int)a;
    return PT2_OK;
}

static pt2_status lower_index_select(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in, *index_layer;
    int axis = 0, present;
    pt2_tensor index;
    pt2_status st = data_and_axis(ctx, node, &in, &axis, err);
    if (!st) st = pt2_lower_input(ctx, node, "index", &index_layer, err);
    if (st) return st;
    if (index_layer) return pt2_lower_fail(node, err, "index_select with indices computed from the input is not lowered (constant indices are)");
    if ((st = pt2_lower_constant(ctx, node, "index", &index, &present, err))) return st;
    if (index.rank != 1) return pt2_lower_fail(node, err, "index_select with a %d-d index is not lowered", index.rank);
    return gather_constant(ctx, node, in, axis, &index, err);
}

/* x[..., index, ...]: one tensor index (the others None), constant. */
static pt2_status lower_index(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    pt2_status st = pt2_lower_input(ctx, node, "self", &in, err);
    if (!st && !in) return pt2_lower_fail(node, err, "indexing a constant");
    if (st) return st;
    const pt2_arg *indices = pt2_node_arg(node, "indices");
    if (!indices || (indices->kind != PT2_ARG_OPTIONAL_TENSORS && indices->kind != PT2_ARG_TENSORS))
        return pt2_lower_fail(node, err, "indices is not a list of tensors");
    int axis = -1;
    for (size_t i = 0; i < indices->count; i++) {
        if (indices->value_ids[i] < 0) continue;
        if (axis >= 0) return pt2_lower_fail(node, err, "indexing with several tensors is not lowered (one tensor index is)");
        axis = (int)i;
    }
    if (axis < 0) return pt2_lower_alias(ctx, node, in, err);
    int id = indices->value_ids[axis];
    if (ctx->dynamic[id]) return pt2_lower_fail(node, err, "an index computed from the input is not lowered (constant indices are)");
    const pt2_tensor *index = &ctx->run->values[id].tensor;
    if (index->dtype == PT2_DTYPE_BOOL) return pt2_lower_fail(node, err, "a boolean mask index is not lowered (the result's size depends on the data)");
    if (axis >= in->rank) return pt2_lower_fail(node, err, "index %d out of range for %d axes", axis, in->rank);
    return gather_constant(ctx, node, in, axis, index, err);
}

/* torch.gather(x, dim, index): index's other axes are x's own dims. */
static pt2_status lower_gather(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in, *index;
    int axis = 0;
    pt2_status st = data_and_axis(ctx, node, &in, &axis, err);
    if (!st) st = pt2_lower_input(ctx, node, "index", &index, err);
    if (st) return st;
    if (!index) return pt2_lower_fail(node, err, "gather with a constant index is not lowered (a constant cannot span the batch)");
    if (index->rank != in->rank) return pt2_lower_fail(node, err, "the index has %d axes, the input %d", index->rank, in->rank);
    if (ctx->net->dims[in->dims[axis]].kind == PT2_RT_DIM_BATCH) return pt2_lower_fail(node, err, "gathering along the batch axis (axis %d)", axis);
    for (int a = 0; a < in->rank; a++)
        if (a != axis && index->dims[a] != in->dims[a])
            return pt2_lower_fail(node, err, "axis %d of the index is not the input's own axis %d (a smaller index along other axes is not lowered)", a, a);
    return gather_layer(ctx, node, in, axis, index, index->rank, index->dims, err);
}

const pt2_op_lowering pt2_lowerings_gather[] = {
    {"aten.index_select.default", lower_index_select, "gather variable"},
    {"aten.index.Tensor", lower_index, "gather variable"},
    {"aten.gather.default", lower_gather, "gather"},
    {NULL, NULL, NULL}};
