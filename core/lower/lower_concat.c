/* Lowering of the joins: cat -> "copy" along the feature axis (RETURNN concatenates several
 * sources along F), else "concat" on any axis; stack -> expand_dims of each source, then a
 * "concat" along the new axes.
 *
 * cat along a dynamic axis: RETURNN's concat (tf.concat) joins the padded tensors, so in a padded
 * batch each sequence keeps its first part's padding between the parts, while the joined dim's
 * lengths are already the sums. After each join whose first part is dynamic, an eval
 * ("concat_time_per_sequence") moves the second part back to the end of each sequence's first
 * part (four tf.reverse_sequence by the lengths), so that sequence b is
 * a[b, :len_a[b]] ++ c[b, :len_c[b]] as PyTorch gives for it alone. More parts join pairwise. */
#include <stdio.h>
#include <string.h>

#include "../naming/naming.h"
#include "axes.h"
#include "lower_layout.h"
#include "lowerings.h"

static pt2_status wrap_axis(const pt2_node *node, int64_t dim, int rank, int *out, pt2_error *err) {
    *out = 0;
    int64_t a = dim < 0 ? dim + rank : dim;
    if (a < 0 || a >= rank) return pt2_lower_fail(node, err, "axis %lld out of range for %d axes", (long long)dim, rank);
    *out = (int)a;
    return PT2_OK;
}

/* Is a part other than the last dynamic along the joined axis (so that padding would sit
 * between parts)? */
static int joins_after_padding(const pt2_lower_context *ctx, const pt2_arg *tensors, int axis) {
    for (size_t i = 0; i + 1 < tensors->count; i++) {
        const pt2_lowered_value *v = pt2_axes_value(ctx, tensors->value_ids[i]);
        if (ctx->net->dims[v->dims[axis]].kind == PT2_RT_DIM_DYNAMIC) return 1;
    }
    return 0;
}

/* The joins one by one: concat(joined so far, next part), then, where the joined-so-far part is
 * dynamic, the eval that packs each sequence. The last layer is the node's. */
static pt2_status join_per_sequence(pt2_lower_context *ctx, const pt2_node *node, const pt2_arg *tensors, int axis,
                                    pt2_error *err) {
    const char *base = ctx->places[node - ctx->graph->nodes].base;
    /* The first part is a graph value (the per-layer check feeds PyTorch's tensor for it), the
     * later joined ones helper layers' outputs. */
    pt2_lowered_value storage;
    const pt2_lowered_value *joined = pt2_axes_value(ctx, tensors->value_ids[0]);
    pt2_status st = PT2_OK;
    for (size_t i = 1; i < tensors->count && !st; i++) {
        const pt2_lowered_value *next = pt2_axes_value(ctx, tensors->value_ids[i]);
        int last = i + 1 == tensors->count, packs = ctx->net->dims[joined->dims[axis]].kind == PT2_RT_DIM_DYNAMIC;
        const char *axes[2];
        char name[220];
        if ((st = pt2_axes_describe(ctx, node, joined, axis, &axes[0], err))) return st;
        if ((st = pt2_axes_describe(ctx, node, next, axis, &axes[1], err))) return st;
        pt2_rt_layer *concat;
        snprintf(name, sizeof name, "%s_join%zu", base, i);
        if (last && !packs) st = pt2_lower_new_layer(ctx, node, "concat", &concat, err);
        else st = pt2_lower_new_layer_named(ctx, node, name, "concat", &concat, err);
        if (!st) st = pt2_lower_add_source(ctx, concat, joined, err);
        if (!st) st = pt2_lower_add_source(ctx, concat, next, err);
        if (!st) st = pt2_rt_set_string_list(ctx->arena, concat, "from_axes", axes, 2, err);
        if (!st) st = pt2_lower_infer(ctx, node, concat, err);
        if (st) return st;
        if (last && !packs) return pt2_axes_finish_replace(ctx, node, concat, joined, axis, pt2_axes_new_dim(concat, joined), err);
        int dims[PT2_MAX_RANK], rank = joined->rank;
        memcpy(dims, joined->dims, sizeof dims);
        dims[axis] = pt2_axes_new_dim(concat, joined);
        pt2_lowered_value padded;
        pt2_axes_value_of(concat, rank, dims, &padded);
        if (!packs) {
            storage = padded;
            joined = &storage;
            continue;
        }
        if (last) return pt2_lower_eval(ctx, node, &padded, "concat_time_per_sequence", 0, err);
        pt2_rt_layer *pack;
        snprintf(name, sizeof name, "%s_packed%zu", base, i);
        st = pt2_lower_new_layer_named(ctx, node, name, "eval", &pack, err);
        if (!st) st = pt2_lower_add_source(ctx, pack, &padded, err);
        if (!st) st = pt2_rt_set_string(pack, "eval", pt2_rt_eval_form("concat_time_per_sequence"), err);
        if (!st) st = pt2_lower_infer(ctx, node, pack, err);
        if (!st) pt2_axes_value_of(pack, rank, dims, &storage);
        joined = &storage;
    }
    return st;
}

/* Whether RETURNN's "copy" of several sources joins this one along F: the form seen working is
 * data with a batch axis (F last, or first after the batch as a channels-first input). Without
 * one real RETURNN could not map a source onto the joined template (sine and cosine of positions
 * computed without a batch, [F, T]: "cannot match the axes ... Failing at axis 0"), where a
 * "concat" naming F in each source joins them. */
static int copy_joins_along_feature(const pt2_lower_context *ctx, const pt2_lowered_value *v) {
    for (int a = 0; a < v->shape.rank; a++)
        if (ctx->net->dims[v->shape.dims[a]].kind == PT2_RT_DIM_BATCH) return 1;
    return 0;
}

/* The parts as the join takes them. An axis broadcast in every part (a size-1 heads axis of
 * keys shared by all query heads, through rotate_half's halves) stays broadcast: the join is of
 * the real axes, and each part made real would get a size-1 dim of its own, which the join could
 * not match with the other parts'. Any other broadcast axis (the joined one, or one that is real
 * in another part) makes every part real, as for any op that needs real axes. */
static pt2_status joined_axes_real(pt2_lower_context *ctx, const pt2_node *node, const pt2_arg *tensors, int64_t dim,
                                   pt2_error *err) {
    const pt2_lowered_value *first = pt2_axes_value(ctx, tensors->value_ids[0]);
    int rank = first->rank, joined = (int)(dim < 0 ? dim + rank : dim), mixed = 0;
    for (size_t i = 0; i < tensors->count; i++) {
        const pt2_lowered_value *v = pt2_axes_value(ctx, tensors->value_ids[i]);
        if (!v->is_set || v->rank != rank) return PT2_OK; /* refused by the caller */
    }
    for (int a = 0; a < rank && !mixed; a++) {
        size_t broadcast = 0;
        for (size_t i = 0; i < tensors->count; i++) broadcast += !pt2_axes_is_real(pt2_axes_value(ctx, tensors->value_ids[i]), a);
        mixed = broadcast > 0 && (a == joined || broadcast < tensors->count);
    }
    if (!mixed) return PT2_OK;
    /* from here on pt2_axes_value gives the real parts */
    ctx->needs_real_axes = 1;
    pt2_status st = PT2_OK;
    for (size_t i = 0; i < tensors->count && !st; i++) st = pt2_axes_materialise(ctx, node, tensors->value_ids[i], err);
    return st;
}

/* cat: along the feature axis of every source a "copy" from all of them (RETURNN concatenates
 * several sources along F) where copy_joins_along_feature; along any other axis, the time
 * included, a "concat" of [source, axis] pairs. */
static pt2_status lower_cat(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_arg *listed = pt2_node_arg(node, "tensors");
    int64_t dim;
    pt2_status st = pt2_op_int(ctx->run, node, "dim", &dim, err);
    if (st) return st;
    if (!listed || listed->kind != PT2_ARG_TENSORS || listed->count < 1 || listed->count > PT2_RT_MAX_FROM)
        return pt2_lower_fail(node, err, "expected a list of at most %d tensors", PT2_RT_MAX_FROM);
    /* An empty constant adds nothing: a key/value cache that starts empty (transformers'
     * DynamicCache, cat([keys, new_keys], dim=-2) on its first call) joins the others alone. */
    int kept_ids[PT2_RT_MAX_FROM];
    pt2_arg kept = *listed;
    kept.value_ids = kept_ids;
    kept.count = 0;
    for (size_t i = 0; i < listed->count; i++) {
        int id = listed->value_ids[i];
        if (id >= 0 && !pt2_axes_value(ctx, id)->is_set && ctx->run->values[id].is_set &&
            pt2_tensor_numel(&ctx->run->values[id].tensor) == 0)
            continue;
        kept_ids[kept.count++] = id;
    }
    const pt2_arg *tensors = kept.count ? &kept : listed;
    if (kept.count == 1 && pt2_axes_value(ctx, kept_ids[0])->is_set)
        return pt2_lower_alias(ctx, node, pt2_axes_value(ctx, kept_ids[0]), err);
    if ((st = joined_axes_real(ctx, node, tensors, dim, err))) return st;
    const pt2_lowered_value *first = NULL;
    int all_feature = 1, copy_joins = 1, axis = -1;
    const char *axes[PT2_RT_MAX_FROM];
    for (size_t i = 0; i < tensors->count; i++) {
        const pt2_lowered_value *v = pt2_axes_value(ctx, tensors->value_ids[i]);
        if (!v->is_set) return pt2_lower_fail(node, err, "tensor %zu is a constant; joining constants is not lowered", i);
        axis = (int)(dim < 0 ? dim + v->rank : dim);
        if (axis < 0 || axis >= v->rank) return pt2_lower_fail(node, err, "axis %lld out of range", (long long)dim);
        all_feature &= v->dims[axis] == v->shape.feature_dim;
        copy_joins &= copy_joins_along_feature(ctx, v);
        if ((st = pt2_axes_describe(ctx, node, v, axis, &axes[i], err))) return st;
        if (!first) first = v;
    }
    if (!all_feature && joins_after_padding(ctx, tensors, axis)) return join_per_sequence(ctx, node, tensors, axis, err);
    int copy = all_feature && copy_joins;
    pt2_rt_layer *layer;
    if ((st = pt2_lower_new_layer(ctx, node, copy ? "copy" : "concat", &layer, err))) return st;
    for (size_t i = 0; i < tensors->count && !st; i++) st = pt2_lower_add_source(ctx, layer, pt2_axes_value(ctx, tensors->value_ids[i]), err);
    if (!st && !copy) st = pt2_rt_set_string_list(ctx->arena, layer, "from_axes", axes, tensors->count, err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    int joined = copy ? layer->shape.feature_dim : pt2_axes_new_dim(layer, first);
    return pt2_axes_finish_replace(ctx, node, layer, first, axis, joined, err);
}

/* stack: each source gets a new size-1 axis (expand_dims), then a concat along those. */
static pt2_status lower_stack(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_arg *tensors = pt2_node_arg(node, "tensors");
    int64_t dim = 0;
    pt2_status st = pt2_node_arg(node, "dim") ? pt2_op_int(ctx->run, node, "dim", &dim, err) : PT2_OK;
    if (st) return st;
    if (!tensors || tensors->kind != PT2_ARG_TENSORS || tensors->count < 1 || tensors->count > PT2_RT_MAX_FROM)
        return pt2_lower_fail(node, err, "expected a list of at most %d tensors", PT2_RT_MAX_FROM);
    pt2_lowered_value expanded[PT2_RT_MAX_FROM];
    const char *axes[PT2_RT_MAX_FROM];
    int axis = -1;
    for (size_t i = 0; i < tensors->count; i++) {
        const pt2_lowered_value *v = pt2_axes_value(ctx, tensors->value_ids[i]);
        if (!v->is_set) return pt2_lower_fail(node, err, "tensor %zu is a constant; stacking constants is not lowered", i);
        if ((st = wrap_axis(node, dim, v->rank + 1, &axis, err))) return st;
        char name[220];
        snprintf(name, sizeof name, "%s_expand%zu", ctx->places[node - ctx->graph->nodes].base, i);
        if ((st = pt2_lower_size_one_axis(ctx, node, name, v, &expanded[i], err))) return st;
        /* the new axis at `axis` of the stacked value, the others after it shifted */
        int added = expanded[i].dims[v->rank];
        for (int a = v->rank; a > axis; a--) expanded[i].dims[a] = expanded[i].dims[a - 1];
        expanded[i].dims[axis] = added;
        if ((st = pt2_axes_describe(ctx, node, &expanded[i], axis, &axes[i], err))) return st;
    }
    pt2_rt_layer *layer;
    if ((st = pt2_lower_new_layer(ctx, node, "concat", &layer, err))) return st;
    for (size_t i = 0; i < tensors->count && !st; i++) st = pt2_lower_add_source(ctx, layer, &expanded[i], err);
    if (!st) st = pt2_rt_set_string_list(ctx->arena, layer, "from_axes", axes, tensors->count, err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    return pt2_axes_finish_replace(ctx, node, layer, &expanded[0], axis, pt2_axes_new_dim(layer, &expanded[0]), err);
}

const pt2_op_lowering pt2_lowerings_concat[] = {
    {"aten.cat.default", lower_cat, "copy concat eval:concat_time_per_sequence"},
    {"aten.concat.default", lower_cat, "copy concat eval:concat_time_per_sequence"},
    {"aten.stack.default", lower_stack, "expand_dims concat"},
    {NULL, NULL, NULL}};
