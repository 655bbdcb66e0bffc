/* Lowering of indexing with tensors to RETURNN's "gather" (tf.gather on dim tags; the dims the
 * input and the position share are batch-like):
 *   - index_select(x, dim, index) and x[..., index] (aten.index.Tensor with one tensor index)
 *     with constant indices, on any axis but the batch (the time too: a fixed set of frames);
 *     the indices become an int32 "variable" layer whose own static dims replace the axis;
 *   - a constant table (an embedding's weight, a buffer) at indices computed from the input
 *     (embedding, index_select, x[index]): the table a variable layer, gathered;
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

/* A variable layer (not trainable) holding the int32 tensor `value`, named after the node and
 * `what`. */
static pt2_status int32_variable(pt2_lower_context *ctx, const pt2_node *node, const char *what, const pt2_tensor *value,
                                 pt2_lowered_value *out, pt2_error *err) {
    char base[240];
    /* The layer names its TF variable, and TF's name scopes cannot begin with '_' (TF rewrites such
     * a name, and the checkpoint would no longer match it): leading underscores are left out. */
    const char *node_base = ctx->places[node - ctx->graph->nodes].base;
    while (*node_base == '_') node_base++;
    snprintf(base, sizeof base, "%s_%s", node_base, what);
    pt2_rt_layer *layer;
    pt2_status st = pt2_lower_new_layer_named(ctx, node, base, "variable", &layer, err);
    if (!st) st = pt2_rt_set_int_list(ctx->arena, layer, "shape", value->shape, (size_t)value->rank, err);
    if (!st) st = pt2_rt_set_string(layer, "dtype", "int32", err);
    if (!st) st = pt2_rt_set_bool(layer, "trainable", 0, err);
    if (!st) st = pt2_rt_set_bool(layer, "add_batch_axis", 0, err);
    if (!st) st = pt2_rt_add_param(layer, pt2_rt_local_name(layer->name), value, err); /* RETURNN names it by the local name */
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    pt2_axes_value_of(layer, layer->shape.rank, layer->shape.dims, out);
    return PT2_OK;
}

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
    return int32_variable(ctx, node, "positions", &positions, out, err);
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
    int placed[PT2_MAX_RANK];
    for (int k = 0; k < index->rank && k < PT2_MAX_RANK; k++) placed[k] = axis + k;
    return pt2_lower_gather_constant_placed(ctx, node, in, axis, size, index, placed, err);
}

pt2_status pt2_lower_gather_constant_placed(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in,
                                           int axis, int64_t size, const pt2_tensor *index, const int *placed,
                                           pt2_error *err) {
    const pt2_rt_dim *d = &ctx->net->dims[in->dims[axis]];
    if (d->kind == PT2_RT_DIM_BATCH) return pt2_lower_fail(node, err, "indexing the batch axis (axis %d)", axis);
    int rank = in->rank - 1 + index->rank;
    if (rank > PT2_MAX_RANK) return pt2_lower_fail(node, err, "too many axes");
    pt2_lowered_value position;
    pt2_status st = position_layer(ctx, node, index, size, &position, err);
    if (st) return st;
    /* the index's axes where `placed` puts them, x's other axes in their order around them */
    int dims[PT2_MAX_RANK], taken[PT2_MAX_RANK] = {0};
    for (int k = 0; k < index->rank; k++) {
        if (placed[k] < 0 || placed[k] >= rank || taken[placed[k]]) return pt2_fail(err, PT2_ERR_INTERNAL, "bad placement");
        dims[placed[k]] = position.dims[k], taken[placed[k]] = 1;
    }
    for (int a = 0, at = 0; a < in->rank; a++) {
        if (a == axis) continue;
        while (taken[at]) at++;
        dims[at++] = in->dims[a];
    }
    return gather_layer(ctx, node, in, axis, &position, rank, dims, err);
}

pt2_status pt2_lower_gather_at(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in, int axis,
                               const pt2_lowered_value *index, pt2_error *err) {
    if (in->rank - 1 + index->rank > PT2_MAX_RANK) return pt2_lower_fail(node, err, "too many axes");
    int dims[PT2_MAX_RANK], rank = 0;
    for (int a = 0; a < axis; a++) dims[rank++] = in->dims[a];
    for (int a = 0; a < index->rank; a++) dims[rank++] = index->dims[a];
    for (int a = axis + 1; a < in->rank; a++) dims[rank++] = in->dims[a];
    return gather_layer(ctx, node, in, axis, index, rank, dims, err);
}

/* x with axis `axis` replaced by the constant `index`'s axes. */
static pt2_status gather_constant(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in, int axis,
                                  const pt2_tensor *index, pt2_error *err) {
    const pt2_arg *self = pt2_node_arg(node, "self");
    int64_t size = ctx->net->dims[in->dims[axis]].kind == PT2_RT_DIM_STATIC ? ctx->run->values[self->value_id].tensor.shape[axis] : -1;
    return pt2_lower_gather_constant(ctx, node, in, axis, size, index, err);
}

pt2_status pt2_lower_gather_table(pt2_lower_context *ctx, const pt2_node *node, const pt2_tensor *table, int axis,
                                  const pt2_lowered_value *index, pt2_error *err) {
    if (index->shape.dtype != PT2_DTYPE_INT32 && index->shape.dtype != PT2_DTYPE_INT64)
        return pt2_lower_fail(node, err, "indices of dtype %s (int64 and int32 are lowered)", pt2_dtype_name(index->shape.dtype));
    if (axis < 0 || axis >= table->rank || table->rank - 1 + index->rank > PT2_MAX_RANK)
        return pt2_lower_fail(node, err, "axis %d of a table of %d axes at %d-d indices", axis, table->rank, index->rank);
    if (table->shape[axis] < 2) return pt2_lower_fail(node, err, "a table of one entry along the indexed axis");
    pt2_lowered_value variable;
    pt2_status st;
    if (table->dtype == PT2_DTYPE_INT64 || table->dtype == PT2_DTYPE_INT32) { /* e.g. BERT's position_ids */
        /* Its size-1 axes are broadcast axes (no dim), as a float constant's variable has them. */
        pt2_tensor values, kept = *table;
        kept.rank = 0;
        for (int a = 0; a < table->rank; a++)
            if (table->shape[a] != 1)
                kept.shape[kept.rank] = table->shape[a], kept.strides[kept.rank++] = table->strides[a];
        if ((st = pt2_tensor_cast(ctx->arena, &kept, PT2_DTYPE_INT32, &values, err))) return st;
        pt2_lowered_value held;
        if ((st = int32_variable(ctx, node, "table", &values, &held, err))) return st;
        variable = held;
        variable.rank = table->rank;
        for (int a = 0, k = 0; a < table->rank; a++) variable.dims[a] = table->shape[a] != 1 ? held.dims[k++] : -1;
    } else {
        st = pt2_lower_constant_layer(ctx, node, table, NULL, &variable, err);
    }
    return st ? st : pt2_lower_gather_at(ctx, node, &variable, axis, index, err);
}

/* The indexed input (NULL for a constant one, *table then holds it) and the axis `dim`. These
 * ops follow broadcast axes (core/lower/axes.c) only for a constant table's computed index;
 * indexed data is taken with real axes, as the driver gives other ops. */
static pt2_status data_and_axis(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value **in,
                                pt2_tensor *table, int *axis, pt2_error *err) {
    int64_t dim = 0;
    int present, rank;
    pt2_status st = pt2_lower_real_input(ctx, node, "self", in, err);
    if (!st && !*in) {
        if (!table) return pt2_lower_fail(node, err, "indexing a constant");
        st = pt2_lower_constant(ctx, node, "self", table, &present, err);
    }
    if (!st) st = pt2_op_int(ctx->run, node, "dim", &dim, err);
    if (st) return st;
    rank = *in ? (*in)->rank : table->rank;
    int64_t a = dim < 0 ? dim + rank : dim;
    if (a < 0 || a >= rank) return pt2_lower_fail(node, err, "axis %lld out of range for %d axes", (long long)dim, rank);
    *axis = (int)a;
    return PT2_OK;
}

static pt2_status lower_index_select(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in, *index_layer;
    int axis = 0, present;
    pt2_tensor index, table;
    pt2_status st = data_and_axis(ctx, node, &in, &table, &axis, err);
    if (!st) st = pt2_lower_input(ctx, node, "index", &index_layer, err);
    if (st) return st;
    if (!in && index_layer) return pt2_lower_gather_table(ctx, node, &table, axis, index_layer, err);
    if (!in) return pt2_lower_fail(node, err, "indexing a constant at constant indices");
    if (index_layer)
        return pt2_lower_fail(node, err, "index_select of the input with indices computed from the input is not lowered "
                              "(constant indices are, and computed indices into a constant table)");
    if ((st = pt2_lower_constant(ctx, node, "index", &index, &present, err))) return st;
    if (index.rank != 1) return pt2_lower_fail(node, err, "index_select with a %d-d index is not lowered", index.rank);
    return gather_constant(ctx, node, in, axis, &index, err);
}

/* Is the value the same number everywhere (a scalar layer, every axis broadcast)? */
static int one_number(const pt2_lowered_value *v) {
    if (!v->is_set || v->shape.rank) return 0;
    for (int a = 0; a < v->rank; a++)
        if (v->dims[a] >= 0) return 0;
    return 1;
}

/* x[..., index, ...]: one tensor index (the others None), constant. */
static pt2_status lower_index(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    /* A value that is one number everywhere (transformers' default attention mask, ones, read at
     * mask[batch_idx, kv_idx] over aranges) gives that number in the result's shape, whatever the
     * indices (the reference run has checked them against its sizes). */
    const pt2_arg *self = pt2_node_arg(node, "self");
    if (self && self->kind == PT2_ARG_TENSOR && self->value_id >= 0 && one_number(&ctx->values[self->value_id])) {
        pt2_lowered_value out = ctx->values[self->value_id];
        out.rank = ctx->graph->values[node->outputs[0].value_id].rank;
        for (int a = 0; a < out.rank; a++) out.dims[a] = PT2_AXIS_BROADCAST;
        return pt2_axes_set_output_at(ctx, node, 0, &out, err);
    }
    const pt2_lowered_value *in;
    pt2_status st = pt2_lower_real_input(ctx, node, "self", &in, err);
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
    int id = axis >= 0 ? indices->value_ids[axis] : -1;
    if (!in) { /* a constant table at indices computed from the input */
        pt2_tensor table;
        int present;
        if (axis < 0 || !ctx->dynamic[id]) return pt2_lower_fail(node, err, "indexing a constant");
        if ((st = pt2_lower_constant(ctx, node, "self", &table, &present, err))) return st;
        if (!ctx->values[id].is_set) return pt2_lower_fail(node, err, "the index is not lowered");
        return pt2_lower_gather_table(ctx, node, &table, axis, &ctx->values[id], err);
    }
    if (axis < 0) return pt2_lower_alias(ctx, node, in, err);
    if (ctx->dynamic[id]) return pt2_lower_fail(node, err, "an index computed from the input is not lowered (constant indices are)");
    const pt2_tensor *index = &ctx->run->values[id].tensor;
    if (index->dtype == PT2_DTYPE_BOOL) return pt2_lower_fail(node, err, "a boolean mask index is not lowered (the result's size depends on the data)");
    if (axis >= in->rank) return pt2_lower_fail(node, err, "index %d out of range for %d axes", axis, in->rank);
    return gather_constant(ctx, node, in, axis, index, err);
}

/* torch.gather(x, dim, index) with the index's other axes x's own dims or broadcast axes. */
static pt2_status gather_broadcast_index(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in, int axis,
                                         const pt2_lowered_value *index, pt2_error *err) {
    int dims[PT2_MAX_RANK];
    for (int a = 0; a < in->rank; a++) {
        if (a == axis || !pt2_axes_is_real(index, a)) {
            dims[a] = a == axis ? index->dims[a] : in->dims[a];
            continue;
        }
        if (index->dims[a] != in->dims[a])
            return pt2_lower_fail(node, err, "axis %d of the index is not the input's own axis %d (a smaller index along other axes is not lowered)", a, a);
        dims[a] = index->dims[a];
    }
    return gather_layer(ctx, node, in, axis, index, in->rank, dims, err);
}

/* torch.gather(x, dim, index): index's other axes are x's own dims. */
static pt2_status lower_gather(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in, *index;
    int axis = 0;
    pt2_tensor table;
    pt2_status st = data_and_axis(ctx, node, &in, &table, &axis, err);
    if (!st) st = pt2_lower_input(ctx, node, "index", &index, err);
    if (st) return st;
    if (!in && index) {
        /* A constant of size 1 along every other axis (BERT's token_type_ids buffer), or the same
         * along it (that buffer expanded to the batch's size, stride 0: RoBERTa's): each entry
         * reads the constant's one line. */
        for (int a = 0; a < table.rank; a++)
            if (a != axis && table.shape[a] != 1 && table.strides[a] != 0)
                return pt2_lower_fail(node, err, "gather from a constant that is not of size 1 along axis %d", a);
        pt2_tensor line = table;
        line.rank = 1;
        line.shape[0] = table.shape[axis];
        line.strides[0] = table.strides[axis];
        return pt2_lower_gather_table(ctx, node, &line, 0, index, err);
    }
    if (!in) return pt2_lower_fail(node, err, "gather from a constant at a constant index");
    if (!index) return pt2_lower_fail(node, err, "gather with a constant index is not lowered (a constant cannot span the batch)");
    if (index->rank != in->rank) return pt2_lower_fail(node, err, "the index has %d axes, the input %d", index->rank, in->rank);
    if (ctx->net->dims[in->dims[axis]].kind == PT2_RT_DIM_BATCH) return pt2_lower_fail(node, err, "gathering along the batch axis (axis %d)", axis);
    /* An index broadcast along another axis (expanded: DeBERTa-v2's relative positions over the
     * heads) reads the same entries at every index of it, as a gather whose positions lack that
     * dim does; along the gathered axis it must be real. */
    pt2_lowered_value along;
    if ((st = pt2_axes_materialise_axis(ctx, node, index, axis, &along, &index, err))) return st;
    return gather_broadcast_index(ctx, node, in, axis, index, err);
}

const pt2_op_lowering pt2_lowerings_gather[] = {
    {"aten.index_select.default", lower_index_select, "gather variable"},
    {"aten.index.Tensor", lower_index, "gather variable"},
    {"aten.gather.default", lower_gather, "gather variable"},
    {NULL, NULL, NULL}};
