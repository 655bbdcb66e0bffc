#include "axes.h"

#include <stdio.h>
#include <string.h>

#include "../graph/sym_expr.h"
#include "../naming/naming.h"
#include "lower_operands.h"
#include "lowerings.h"

pt2_status pt2_axes_describe(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *v, int axis,
                             const char **out, pt2_error *err) {
    if (axis < 0 || axis >= v->rank || v->dims[axis] < 0)
        return pt2_lower_fail(node, err, "axis %d is a broadcast axis (the value is constant along it; RETURNN's value does "
                              "not have it), which this op cannot name", axis);
    pt2_status st = pt2_rt_axis_description(ctx->arena, ctx->net, &v->shape, v->dims[axis], out, err);
    if (st) return pt2_lower_fail(node, err, "axis %d ('%s') cannot be named in a RETURNN option: %s", axis,
                                  ctx->net->dims[v->dims[axis]].description, err->message);
    return PT2_OK;
}

void pt2_axes_value_of(const pt2_rt_layer *layer, int rank, const int *dims, pt2_lowered_value *out) {
    memset(out, 0, sizeof *out);
    out->is_set = 1;
    out->layer = layer->name;
    out->shape = layer->shape;
    out->rank = rank;
    memcpy(out->dims, dims, sizeof(int) * (size_t)rank);
}

int pt2_axes_is_real(const pt2_lowered_value *v, int axis) {
    return v->dims[axis] >= 0 && pt2_rt_shape_axis(&v->shape, v->dims[axis]) >= 0;
}

int pt2_axes_all_real(const pt2_lowered_value *v) {
    for (int a = 0; a < v->rank; a++)
        if (!pt2_axes_is_real(v, a)) return 0;
    return 1;
}

int pt2_axes_hidden_batch(const pt2_lower_context *ctx, const pt2_lowered_value *v) {
    for (int r = 0; r < v->shape.rank; r++) {
        int dim = v->shape.dims[r];
        if (ctx->net->dims[dim].kind != PT2_RT_DIM_BATCH) continue;
        for (int a = 0; a < v->rank; a++)
            if (v->dims[a] == dim) return -1;
        return dim;
    }
    return -1;
}

/* ---- broadcast axes ---- */

/* The ops whose lowerings follow broadcast axes through the map; every other op gets its inputs
 * with real axes. */
static const char *const follows_broadcast[] = {
    "aten.view.default", "aten.reshape.default", "aten._unsafe_view.default", "aten.reshape_as.default", "aten.view_as.default", "aten.flatten.using_ints",
    "aten.unflatten.int", "aten.squeeze.default", "aten.squeeze.dim", "aten.squeeze.dims", "aten.unsqueeze.default",
    "aten.transpose.int", "aten.permute.default", "aten.t.default", "aten.numpy_T.default", "aten.swapaxes.default", "aten.movedim.int",
    "aten.expand.default", "aten.expand_as.default", "aten.broadcast_to.default", "aten.to.dtype", "aten.to.dtype_layout", "aten._to_copy.default",
    /* a slice along a broadcast axis is the value; along a real one a slice layer, the others kept */
    "aten.slice.Tensor",
    "aten.type_as.default", "aten.sum.dim_IntList", "aten.mean.dim", "aten.amax.default", "aten.amin.default",
    "aten.max.dim", "aten.min.dim", "aten.logsumexp.default", "aten.any.dim", "aten.any.dims", "aten.all.dim",
    "aten.all.dims", "aten.linalg_vector_norm.default",
    /* a constant table at a computed index keeps the index's broadcast axes (lower_gather.c
     * materialises what indexes data) */
    "aten.embedding.default", "aten.index_select.default", "aten.index.Tensor", "aten.gather.default",
    /* an axis broadcast in every part stays broadcast in the join (lower_concat.c makes the
     * parts real otherwise) */
    "aten.cat.default", "aten.concat.default",
    /* its attn_mask broadcasts against the scores (lower_sdpa.c looks through an expand) */
    "aten.scaled_dot_product_attention.default",
    /* its input broadcasts against the product; the product's operands are made real there */
    "aten.baddbmm.default",
    /* src's map, broadcast to self's shape as expand's */
    "aten.copy.default",
    /* along a broadcast axis that axis alone is made real (lower_cumsum.c) */
    "aten.cumsum.default",
};

/* Ops of the elementwise tables that need their inputs' axes real (a weight along the channels,
 * a reduction of their own). */
static const char *const elementwise_exceptions[] = {
    "aten.glu.default", "aten.prelu.default", "aten._prelu_kernel.default", "aten.cosine_similarity.default",
};

extern const pt2_op_lowering pt2_lowerings_elementwise[], pt2_lowerings_math[], pt2_lowerings_compare[];

int pt2_axes_op_follows_broadcast(const char *target) {
    for (size_t i = 0; i < sizeof follows_broadcast / sizeof follows_broadcast[0]; i++)
        if (!strcmp(follows_broadcast[i], target)) return 1;
    /* A functional _copy variant (aten.view_copy.default) is lowered as its view. */
    const char *copy = strstr(target, "_copy.");
    char view[128];
    if (copy && (size_t)(copy - target) + strlen(copy + 5) < sizeof view) {
        snprintf(view, sizeof view, "%.*s%s", (int)(copy - target), target, copy + 5);
        for (size_t i = 0; i < sizeof follows_broadcast / sizeof follows_broadcast[0]; i++)
            if (!strcmp(follows_broadcast[i], view)) return 1;
    }
    for (size_t i = 0; i < sizeof elementwise_exceptions / sizeof elementwise_exceptions[0]; i++)
        if (!strcmp(elementwise_exceptions[i], target)) return 0;
    /* Elementwise ops keep their input's map or broadcast by pt2_axes_broadcast. */
    const pt2_op_lowering *const tables[] = {pt2_lowerings_elementwise, pt2_lowerings_math, pt2_lowerings_compare};
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
        for (const pt2_op_lowering *l = tables[t]; l->target; l++)
            if (!strcmp(l->target, target)) return 1;
    return 0;
}

const pt2_lowered_value *pt2_axes_value(const pt2_lower_context *ctx, int value_id) {
    if (ctx->needs_real_axes && ctx->real_values[value_id].is_set) return &ctx->real_values[value_id];
    return &ctx->values[value_id];
}

static const pt2_node *producer_of(const pt2_graph *graph, int value_id) {
    for (size_t n = 0; n < graph->num_nodes; n++) {
        const pt2_node *node = &graph->nodes[n];
        for (size_t o = 0; o < node->num_outputs; o++) {
            const pt2_arg *out = &node->outputs[o];
            if (out->kind == PT2_ARG_TENSOR && out->value_id == value_id) return node;
            if (out->kind == PT2_ARG_TENSORS)
                for (size_t k = 0; k < out->count; k++)
                    if (out->value_ids[k] == value_id) return node;
        }
    }
    return NULL;
}

int pt2_axes_find_size(const pt2_lower_context *ctx, const pt2_dim *size, const pt2_lowered_value **value, int *axis) {
    if (!size->is_symbolic || !size->expr) return 0;
    for (size_t v = 0; v < ctx->graph->num_values; v++) {
        const pt2_lowered_value *lowered = &ctx->values[v];
        const pt2_value *meta = &ctx->graph->values[v];
        if (!lowered->is_set || meta->kind != PT2_VALUE_TENSOR || lowered->rank != meta->rank) continue;
        for (int a = 0; a < meta->rank; a++)
            if (meta->sizes[a].is_symbolic && pt2_sym_same(meta->sizes[a].expr, size->expr) && lowered->dims[a] >= 0 &&
                ctx->net->dims[lowered->dims[a]].kind == PT2_RT_DIM_DYNAMIC) {
                *value = lowered;
                *axis = a;
                return 1;
            }
    }
    return 0;
}

/* The fail of materialising: the consumer's op, or the program's output when there is none. */
static pt2_status materialise_fail(const pt2_node *consumer, pt2_error *err, int axis, const char *why) {
    if (!consumer)
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "axis %d of the program's output is expanded to a dynamic size (the value "
                        "is constant along it), %s", axis, why);
    return pt2_lower_fail(consumer, err, "axis %d of an input is expanded to a dynamic size (the value is constant along "
                          "it) and this op needs it as a real axis, %s", axis, why);
}

pt2_status pt2_axes_positions(pt2_lower_context *ctx, const pt2_node *node, const char *name,
                              const pt2_lowered_value *holder, int axis, pt2_dtype dtype, pt2_lowered_value *out,
                              pt2_error *err) {
    const char *axis_name;
    pt2_rt_layer *layer;
    pt2_status st = pt2_axes_describe(ctx, node, holder, axis, &axis_name, err);
    if (!st) st = name ? pt2_lower_new_layer_named(ctx, node, name, "range_in_axis", &layer, err)
                       : pt2_lower_new_layer(ctx, node, "range_in_axis", &layer, err);
    if (!st) st = pt2_lower_add_source(ctx, layer, holder, err);
    if (!st) st = pt2_rt_set_string(layer, "axis", axis_name, err);
    if (!st) st = pt2_rt_set_string(layer, "dtype", pt2_dtype_name(dtype), err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    int dims[PT2_MAX_RANK] = {holder->dims[axis]};
    pt2_axes_value_of(layer, 1, dims, out);
    return PT2_OK;
}

/* Broadcast axis `a` of `cur`, of the dynamic `size`, made real. RETURNN repeats a value along a
 * dim it lacks only by broadcasting it against a value that has the dim: the value plus zeros
 * along it, the zeros a range_in_axis over an axis of that size of a value lowered before (the
 * input's time, a length derived from it) times 0. Within a sequence's length that is the value
 * repeated, as PyTorch's expand gives it (past the end of a shorter sequence in a padded batch
 * too, where nothing reads it). `cur` is the value so far (the graph's own value at first, which
 * the check feeds PyTorch's tensor); *made is the combine, which `last` names as the producer's
 * own layer. */
static pt2_status materialise_dynamic_axis(pt2_lower_context *ctx, const pt2_node *producer, const pt2_node *consumer,
                                           const char *leaf, const pt2_dim *size, int a, int last, pt2_lowered_value *cur,
                                           pt2_rt_layer **made, pt2_error *err) {
    const pt2_lowered_value *holder;
    int holder_axis;
    if (!pt2_axes_find_size(ctx, size, &holder, &holder_axis))
        return materialise_fail(consumer, err, a, "a size that no axis of a value computed before it has");
    pt2_dtype dtype = cur->shape.dtype;
    if (dtype != PT2_DTYPE_FLOAT32 && dtype != PT2_DTYPE_INT32 && dtype != PT2_DTYPE_INT64)
        return materialise_fail(consumer, err, a, "which is made real for float32, int32 and int64 data only");
    char base[220];
    snprintf(base, sizeof base, "%s_positions", leaf);
    pt2_rt_layer *layer;
    pt2_lowered_value positions, zeros;
    pt2_status st = pt2_axes_positions(ctx, producer, base, holder, holder_axis, dtype, &positions, err);
    if (st) return st;
    int dim = holder->dims[holder_axis];
    snprintf(base, sizeof base, "%s_zeros", leaf);
    if ((st = pt2_lower_unary_layer(ctx, producer, 0, base, "eval", "mul_scalar", 0, &positions, &zeros, err))) return st;
    snprintf(base, sizeof base, "%s_along", leaf);
    if ((st = last ? pt2_lower_new_layer(ctx, producer, "combine", &layer, err)
                   : pt2_lower_new_layer_named(ctx, producer, base, "combine", &layer, err)))
        return st;
    const pt2_lowered_value *sources[2] = {cur, &zeros};
    for (int i = 0; i < 2 && !st; i++) st = pt2_lower_add_source(ctx, layer, sources[i], err);
    if (!st) st = pt2_rt_set_string(layer, "kind", "add", err);
    if (!st) st = pt2_axes_allow_broadcast_all(ctx, layer, sources, 2, err);
    if (!st) st = pt2_lower_infer(ctx, producer, layer, err);
    if (st) return st;
    int dims[PT2_MAX_RANK];
    memcpy(dims, cur->dims, sizeof dims);
    dims[a] = dim;
    pt2_axes_value_of(layer, cur->rank, dims, cur);
    *made = layer;
    return PT2_OK;
}

/* The last layer making a value's axes real is checked against PyTorch's value, as the
 * producer's own layer. */
static void checked_as_producer(const pt2_lower_context *ctx, pt2_rt_layer *layer, const pt2_node *producer, int value_id,
                                const pt2_lowered_value *cur) {
    layer->node = (int)(producer - ctx->graph->nodes);
    layer->output_value = value_id;
    layer->torch_rank = cur->rank;
    memcpy(layer->torch_dims, cur->dims, sizeof(int) * (size_t)cur->rank);
}

/* Broadcast axes of graph value `value_id` made real: every one (only < 0), into the
 * real_values cache, or axis `only` alone, into *out. */
static pt2_status materialise(pt2_lower_context *ctx, const pt2_node *consumer, int value_id, int only,
                              pt2_lowered_value *out, pt2_error *err) {
    const pt2_lowered_value *v = &ctx->values[value_id];
    const pt2_tensor *torch = &ctx->run->values[value_id].tensor;
    const pt2_value *meta = &ctx->graph->values[value_id];
    /* Layers per broadcast axis, counted to know the last: an expand_dims, then a tile to a static
     * size; for a dynamic size the combine of materialise_dynamic_axis (its range and zeros before
     * it are never the last). */
    int layers = 0;
    for (int a = 0; a < v->rank; a++) {
        if (v->dims[a] >= 0 || (only >= 0 && a != only)) continue;
        int dynamic = torch->shape[a] != 1 && a < meta->rank && meta->sizes[a].is_symbolic;
        layers += torch->shape[a] == 1 ? 1 : dynamic ? 1 : 2;
    }
    const pt2_node *producer = producer_of(ctx->graph, value_id);
    if (!producer) return pt2_fail(err, PT2_ERR_INTERNAL, "a value with broadcast axes has no producer");
    /* Beside a hidden batch, the first broadcast axis of size 1 is the batch (a sequence's rows
     * viewed back to [1, T, F] after a view hid it): the value's own map gets the dim, with no
     * layer. */
    int hidden = pt2_axes_hidden_batch(ctx, v);
    for (int a = 0; a < v->rank && hidden >= 0 && only < 0; a++)
        if (v->dims[a] < 0 && torch->shape[a] == 1) {
            ctx->values[value_id].dims[a] = hidden, hidden = -1;
            if (!--layers) return PT2_OK;
        }
    pt2_lowered_value cur = *v;
    const char *leaf = ctx->places[producer - ctx->graph->nodes].base;
    int done = 0;
    /* The dynamic sizes first: RETURNN's combine takes a static dim of size 1 in a source for one
     * it may broadcast, and so lost the time when it met the expand_dims of a size-1 axis (a batch
     * of one) there: "Mismatching shape: Raw tensor (None,) vs Tensor [F|(1)]". */
    for (int a = 0; a < v->rank; a++) {
        if (cur.dims[a] >= 0 || (only >= 0 && a != only) || torch->shape[a] == 1 || a >= meta->rank ||
            !meta->sizes[a].is_symbolic)
            continue;
        int last = ++done == layers;
        pt2_rt_layer *layer = NULL;
        pt2_status st = materialise_dynamic_axis(ctx, producer, consumer, leaf, &meta->sizes[a], a, last, &cur, &layer, err);
        if (st) return st;
        if (last) checked_as_producer(ctx, layer, producer, value_id, &cur);
    }
    for (int a = 0; a < v->rank; a++) {
        if (cur.dims[a] >= 0 || (only >= 0 && a != only)) continue;
        for (int tile = 0; tile < (torch->shape[a] == 1 ? 1 : 2); tile++) {
            int last = ++done == layers;
            const char *layer_class = tile ? "tile" : "expand_dims";
            pt2_rt_layer *layer;
            char base[200];
            snprintf(base, sizeof base, "%s_%s", leaf, tile ? "tile" : "expand");
            pt2_status st = last ? pt2_lower_new_layer(ctx, producer, layer_class, &layer, err)
                                 : pt2_lower_new_layer_named(ctx, producer, base, layer_class, &layer, err);
            /* The graph's own value first, so that the check feeds PyTorch's tensor. */
            if (!st) st = pt2_lower_add_source(ctx, layer, done == 1 ? v : &cur, err);
            if (st) return st;
            if (!tile) {
                st = pt2_rt_set_string(layer, "axis", "spatial", err);
                if (!st) st = pt2_rt_set_int(layer, "dim", 1, err);
            } else { /* the size an expand gave it */
                const char *key;
                pt2_rt_value *items = pt2_arena_alloc_array(ctx->arena, 1, sizeof *items, err);
                const char **keys = pt2_arena_alloc_array(ctx->arena, 1, sizeof *keys, err);
                if (!items || !keys) return err->status;
                if ((st = pt2_axes_describe(ctx, producer, &cur, a, &key, err))) return st;
                keys[0] = key;
                items[0] = (pt2_rt_value){.kind = PT2_RT_INT, .int_value = torch->shape[a]};
                pt2_rt_value multiples = {.kind = PT2_RT_DICT, .count = 1, .items = items, .keys = keys};
                st = pt2_rt_set_value(layer, "multiples", &multiples, err);
            }
            if (!st) st = pt2_lower_infer(ctx, producer, layer, err);
            if (st) return st;
            int dims[PT2_MAX_RANK];
            memcpy(dims, cur.dims, sizeof dims);
            if (!tile) dims[a] = pt2_axes_new_dim(layer, &cur);
            else dims[a] = layer->shape.dims[pt2_rt_shape_axis(&cur.shape, cur.dims[a])]; /* tile keeps the axis order */
            if (dims[a] < 0) return pt2_fail(err, PT2_ERR_INTERNAL, "layer '%s' made no single new dim", layer->name);
            pt2_axes_value_of(layer, cur.rank, dims, &cur);
            if (last) checked_as_producer(ctx, layer, producer, value_id, &cur);
        }
    }
    if (only >= 0) *out = cur;
    else ctx->real_values[value_id] = cur;
    return PT2_OK;
}

pt2_status pt2_axes_materialise(pt2_lower_context *ctx, const pt2_node *consumer, int value_id, pt2_error *err) {
    const pt2_lowered_value *v = &ctx->values[value_id];
    if (!v->is_set || pt2_axes_all_real(v) || ctx->real_values[value_id].is_set) return PT2_OK;
    return materialise(ctx, consumer, value_id, -1, NULL, err);
}

pt2_status pt2_axes_materialise_axis(pt2_lower_context *ctx, const pt2_node *consumer, const pt2_lowered_value *in,
                                     int axis, pt2_lowered_value *storage, const pt2_lowered_value **out,
                                     pt2_error *err) {
    *out = in;
    if (pt2_axes_is_real(in, axis)) return PT2_OK;
    if (in < ctx->values || in >= ctx->values + ctx->graph->num_values)
        return pt2_fail(err, PT2_ERR_INTERNAL, "an axis made real of a value that is not the graph's");
    *out = storage;
    return materialise(ctx, consumer, (int)(in - ctx->values), axis, storage, err);
}

static int output_value_id(const pt2_node *node, size_t index) {
    if (!node->num_outputs) return -1;
    if (node->num_outputs > 1) return index < node->num_outputs && node->outputs[index].kind == PT2_ARG_TENSOR ? node->outputs[index].value_id : -1;
    const pt2_arg *o = &node->outputs[0];
    if (o->kind == PT2_ARG_TENSOR) return index == 0 ? o->value_id : -1;
    if (o->kind == PT2_ARG_TENSORS) return index < o->count ? o->value_ids[index] : -1;
    if (index < node->num_outputs && node->outputs[index].kind == PT2_ARG_TENSOR) return node->outputs[index].value_id;
    return -1;
}

pt2_status pt2_axes_set_output_at(pt2_lower_context *ctx, const pt2_node *node, size_t index, const pt2_lowered_value *v,
                                  pt2_error *err) {
    int id = output_value_id(node, index);
    if (id < 0) return pt2_lower_fail(node, err, "the op has no tensor output %zu", index);
    ctx->values[id] = *v;
    return PT2_OK;
}

pt2_status pt2_axes_check_output(pt2_lower_context *ctx, const pt2_node *node, int value_id, const pt2_rt_layer *layer,
                                  int rank, const int *dims, pt2_error *err) {
    const pt2_tensor *torch = ctx->run->values[value_id].is_set ? &ctx->run->values[value_id].tensor : NULL;
    if (torch && torch->rank != rank)
        return pt2_lower_fail(node, err, "the map has %d axes, PyTorch's output %d", rank, torch->rank);
    int real = 0;
    for (int a = 0; a < rank; a++) {
        if (dims[a] < 0) continue; /* a broadcast axis */
        if (pt2_rt_shape_axis(&layer->shape, dims[a]) < 0)
            return pt2_lower_fail(node, err, "axis %d of the output is not a dim of layer '%s'", a, layer->name);
        real++;
    }
    /* The batch of a run of one sequence may have no PyTorch axis (pt2_axes_hidden_batch). */
    pt2_lowered_value mapped;
    pt2_axes_value_of(layer, rank, dims, &mapped);
    if (real != layer->shape.rank && !(real + 1 == layer->shape.rank && pt2_axes_hidden_batch(ctx, &mapped) >= 0))
        return pt2_lower_fail(node, err, "layer '%s' has %d axes, PyTorch's output %d of them", layer->name, layer->shape.rank, real);
    return PT2_OK;
}

pt2_status pt2_axes_set_layer_output_at(pt2_lower_context *ctx, const pt2_node *node, size_t index, pt2_rt_layer *layer,
                                        int rank, const int *dims, pt2_error *err) {
    int id = output_value_id(node, index);
    if (id < 0) return pt2_lower_fail(node, err, "the op has no tensor output %zu", index);
    pt2_status st = pt2_axes_check_output(ctx, node, id, layer, rank, dims, err);
    if (st) return st;
    pt2_lowered_value v;
    pt2_axes_value_of(layer, rank, dims, &v);
    ctx->values[id] = v;
    layer->node = (int)(node - ctx->graph->nodes);
    layer->output_value = id;
    layer->torch_rank = rank;
    memcpy(layer->torch_dims, dims, sizeof(int) * (size_t)rank);
    return PT2_OK;
}

pt2_status pt2_axes_permute(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in, const int *perm,
                            pt2_error *err) {
    pt2_lowered_value out = *in;
    for (int a = 0; a < in->rank; a++) {
        if (perm[a] < 0 || perm[a] >= in->rank) return pt2_lower_fail(node, err, "permutation entry %d out of range", perm[a]);
        out.dims[a] = in->dims[perm[a]];
    }
    return pt2_axes_set_output_at(ctx, node, 0, &out, err);
}

int pt2_axes_new_dim(const pt2_rt_layer *layer, const pt2_lowered_value *in) {
    int found = -1;
    for (int a = 0; a < layer->shape.rank; a++)
        if (pt2_rt_shape_axis(&in->shape, layer->shape.dims[a]) < 0) {
            if (found >= 0) return -1;
            found = layer->shape.dims[a];
        }
    return found;
}

pt2_status pt2_axes_finish_replace(pt2_lower_context *ctx, const pt2_node *node, pt2_rt_layer *layer,
                                   const pt2_lowered_value *in, int axis, int dim, pt2_error *err) {
    int dims[PT2_MAX_RANK];
    memcpy(dims, in->dims, sizeof dims);
    if (axis >= 0) dims[axis] = dim;
    return pt2_lower_set_output(ctx, node, layer, in->rank, dims, err);
}

pt2_status pt2_axes_finish_drop(pt2_lower_context *ctx, const pt2_node *node, pt2_rt_layer *layer,
                                const pt2_lowered_value *in, int axis, pt2_error *err) {
    int dims[PT2_MAX_RANK], rank = 0;
    for (int a = 0; a < in->rank; a++)
        if (a != axis) dims[rank++] = in->dims[a];
    return pt2_lower_set_output(ctx, node, layer, rank, dims, err);
}

pt2_status pt2_axes_require_feature(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in, int axis,
                                    pt2_lowered_value *storage, const pt2_lowered_value **out, pt2_error *err) {
    if (axis < 0 || axis >= in->rank) return pt2_lower_fail(node, err, "axis %d out of range", axis);
    *out = in;
    if (in->dims[axis] == in->shape.feature_dim) return PT2_OK;
    const pt2_rt_dim *d = &ctx->net->dims[in->dims[axis]];
    if (d->kind != PT2_RT_DIM_STATIC)
        return pt2_lower_fail(node, err, "axis %d ('%s') is the batch or a dynamic axis; RETURNN needs a static feature axis here",
                              axis, d->description);
    const char *description;
    pt2_status st = pt2_axes_describe(ctx, node, in, axis, &description, err);
    if (st) return st;
    char base[200];
    const char *leaf = strrchr(in->layer, '/') ? strrchr(in->layer, '/') + 1 : in->layer;
    snprintf(base, sizeof base, "%s_feature", leaf);
    pt2_rt_layer *layer;
    pt2_rt_value *items = pt2_arena_alloc_array(ctx->arena, 1, sizeof *items, err);
    const char **keys = pt2_arena_alloc_array(ctx->arena, 1, sizeof *keys, err);
    if (!items || !keys) return err->status;
    keys[0] = "F";
    items[0] = (pt2_rt_value){.kind = PT2_RT_STRING, .string = description};
    pt2_rt_value set_axes = {.kind = PT2_RT_DICT, .count = 1, .items = items, .keys = keys};
    if ((st = pt2_lower_new_layer_named(ctx, node, base, "reinterpret_data", &layer, err))) return st;
    if (!st) st = pt2_lower_add_source(ctx, layer, in, err);
    if (!st) st = pt2_rt_set_value(layer, "set_axes", &set_axes, err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    pt2_axes_value_of(layer, in->rank, in->dims, storage);
    *out = storage;
    return PT2_OK;
}

/* ---- operands of elementwise ops ---- */

/* The output's net dim for each PyTorch axis: PyTorch broadcasts aligned from the last axis;
 * an axis takes the dim of an operand that is not of size 1 there and that the combine's
 * output has (a constant's axes of size 1 have no dim: -1). */
pt2_status pt2_axes_broadcast(pt2_lower_context *ctx, const pt2_node *node, const pt2_rt_layer *layer,
                              const pt2_lowered_value *const *operands, int count, int rank, int *dims, pt2_error *err) {
    for (int a = 0; a < rank; a++) {
        int best = -1;
        for (int i = 0; i < count; i++) {
            int axis = operands[i]->rank - rank + a;
            if (axis < 0) continue;
            int d = operands[i]->dims[axis];
            if (d < 0 || pt2_rt_shape_axis(&layer->shape, d) < 0) continue;
            const pt2_rt_dim *dim = &ctx->net->dims[d];
            if (best < 0 || !(dim->kind == PT2_RT_DIM_STATIC && dim->size == 1)) best = d;
        }
        /* No operand has the axis in RETURNN: the result is constant along it too. */
        if (best < 0) {
            int all_broadcast = 1;
            for (int i = 0; i < count; i++) {
                int axis = operands[i]->rank - rank + a;
                if (axis >= 0 && operands[i]->dims[axis] >= 0) all_broadcast = 0;
            }
            if (!all_broadcast) return pt2_lower_fail(node, err, "axis %d of the result has no dim in layer '%s'", a, layer->name);
        }
        dims[a] = best;
    }
    return PT2_OK;
}

pt2_status pt2_axes_allow_broadcast_all(pt2_lower_context *ctx, pt2_rt_layer *layer,
                                        const pt2_lowered_value *const *sources, size_t count, pt2_error *err) {
    (void)ctx;
    if (strcmp(layer->layer_class, "combine") && strcmp(layer->layer_class, "compare")) return PT2_OK;
    for (size_t i = 0; i < count; i++) {
        int has_all = 1;
        for (size_t j = 0; j < count && has_all; j++)
            for (int a = 0; a < sources[j]->shape.rank && has_all; a++)
                has_all = pt2_rt_shape_axis(&sources[i]->shape, sources[j]->shape.dims[a]) >= 0;
        if (has_all) return PT2_OK;
    }
    return pt2_rt_set_bool(layer, "allow_broadcast_all_sources", 1, err);
}

/* The export's size expression of the PyTorch axis of the node's operand `v` that is net dim
 * `dim` (the operand found by its layer among the node's tensor inputs); NULL when not found. */
static const pt2_sym_expr *export_size(const pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *v,
                                       int dim) {
    for (size_t i = 0; i < node->num_inputs; i++) {
        const pt2_arg *arg = &node->inputs[i].arg;
        /* a tensor argument, or each of a list's (einsum's operands) */
        size_t count = arg->kind == PT2_ARG_TENSOR ? 1 : arg->kind == PT2_ARG_TENSORS ? arg->count : 0;
        for (size_t k = 0; k < count; k++) {
            int id = arg->kind == PT2_ARG_TENSOR ? arg->value_id : arg->value_ids[k];
            if (id < 0 || !ctx->values[id].is_set || strcmp(ctx->values[id].layer, v->layer)) continue;
            const pt2_value *meta = &ctx->graph->values[id];
            for (int a = 0; a < v->rank && a < meta->rank; a++)
                if (v->dims[a] == dim) return meta->sizes[a].is_symbolic ? meta->sizes[a].expr : NULL;
        }
    }
    return NULL;
}

/* Are two time dims the lowering derived along different paths (so RETURNN's dim arithmetic does
 * not know them as one: a conv's floor((T - 3) / 2) + 1 beside a pool's floor((T - 1) / 2)) the
 * same length for every input the export accepts (pt2_lower_sizes_equal)? */
static int same_length_in_export(const pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *first,
                                 int first_dim, const pt2_lowered_value *second, int second_dim) {
    const pt2_sym_expr *a = export_size(ctx, node, first, first_dim), *b = export_size(ctx, node, second, second_dim);
    return a && b && pt2_lower_sizes_equal(ctx->graph, a, b);
}

/* Two layers on one time length reached along different paths (a residual branch and its
 * shortcut) carry different dim tags in RETURNN; a reinterpret_data with size_base makes the
 * second one's time dim the first one's. out->is_set = 0 when nothing is needed. */
pt2_status pt2_axes_same_time(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *first,
                              const pt2_lowered_value *second, pt2_lowered_value *out, pt2_error *err) {
    memset(out, 0, sizeof *out);
    int time_first = pt2_rt_shape_time_axis(ctx->net, &first->shape), time_second = pt2_rt_shape_time_axis(ctx->net, &second->shape);
    if (time_first < 0 || time_second < 0 || !strcmp(first->layer, second->layer) || !strcmp(first->layer, "data"))
        return PT2_OK;
    int same_dim = first->shape.dims[time_first] == second->shape.dims[time_second];
    if (!same_dim && !same_length_in_export(ctx, node, first, first->shape.dims[time_first], second, second->shape.dims[time_second]))
        return pt2_lower_fail(node, err, "the operands have different time axes");
    /* size_base hands its dynamic axes over one to one: where the counts differ (a mask over one
     * time met with scores over the time and a copy of it for the keys) it cannot say which.
     * Where the map has the two as one dim (a mask compared from positions over the time: MPNet's,
     * Speech2Text's) RETURNN matches them as they are; where the counts are equal the declaration
     * stays even then, as real RETURNN can derive two tags where the map has one (wav2vec2's
     * positional conv beside its input: test_lower_encoders.py). */
    int dynamic_first = pt2_rt_shape_dynamic_axes(ctx->net, &first->shape);
    int dynamic_second = pt2_rt_shape_dynamic_axes(ctx->net, &second->shape);
    if (dynamic_first != dynamic_second)
        return same_dim ? PT2_OK
                        : pt2_lower_fail(node, err, "operands whose time axes RETURNN derived apart, with %d and %d dynamic "
                                         "axes: declaring them one (reinterpret_data with size_base) is not lowered for "
                                         "different counts", dynamic_first, dynamic_second);
    pt2_rt_layer *layer;
    char base[200];
    const char *leaf = strrchr(second->layer, '/') ? strrchr(second->layer, '/') + 1 : second->layer;
    snprintf(base, sizeof base, "%s_same_time", leaf);
    pt2_status st = pt2_lower_new_layer_named(ctx, node, base, "reinterpret_data", &layer, err);
    if (!st) st = pt2_lower_add_source(ctx, layer, second, err);
    if (!st) st = pt2_rt_set_string(layer, "size_base", first->layer, err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    *out = *second;
    out->layer = layer->name;
    out->shape = layer->shape;
    return PT2_OK;
}

/* ---- view / reshape ---- */

typedef enum step_kind { STEP_SQUEEZE, STEP_MERGE, STEP_SPLIT } step_kind;

typedef struct view_step {
    step_kind kind;
    int first, count;            /* positions in the current PyTorch axes: squeeze/merge/split act on [first, first+count) */
    int parts;                   /* split: into how many axes */
    int64_t sizes[PT2_MAX_RANK]; /* split: the parts' sizes (-1: the dynamic one) */
} view_step;

static const char *step_class[] = {"squeeze", "merge_dims", "split_dims"};
static const char *step_suffix[] = {"squeeze", "merge", "split"};

/* One step on `cur` (PyTorch axes in order); the last one is the node's own layer. */
static pt2_status run_step(pt2_lower_context *ctx, const pt2_node *node, const view_step *s, int last,
                           const pt2_lowered_value *source, pt2_lowered_value *cur, pt2_error *err) {
    pt2_rt_layer *layer;
    pt2_status st;
    if (last) st = pt2_lower_new_layer(ctx, node, step_class[s->kind], &layer, err);
    else {
        char base[200];
        snprintf(base, sizeof base, "%s_%s", ctx->places[node - ctx->graph->nodes].base, step_suffix[s->kind]);
        st = pt2_lower_new_layer_named(ctx, node, base, step_class[s->kind], &layer, err);
    }
    /* The graph's own value where it is one, so that the check feeds PyTorch's tensor. */
    if (!st) st = pt2_lower_add_source(ctx, layer, source, err);
    if (st) return st;
    const char *names[PT2_MAX_RANK];
    for (int i = 0; i < s->count; i++)
        if ((st = pt2_axes_describe(ctx, node, cur, s->first + i, &names[i], err))) return st;
    switch (s->kind) {
    case STEP_SQUEEZE: st = pt2_rt_set_string(layer, "axis", names[0], err); break;
    case STEP_MERGE:
        st = pt2_rt_set_string_list(ctx->arena, layer, "axes", names, (size_t)s->count, err);
        if (!st) st = pt2_rt_set_bool(layer, "keep_order", 1, err);
        break;
    case STEP_SPLIT:
        st = pt2_rt_set_string(layer, "axis", names[0], err);
        if (!st) st = pt2_rt_set_int_list(ctx->arena, layer, "dims", s->sizes, (size_t)s->parts, err);
        break;
    }
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    int dims[PT2_MAX_RANK], rank = 0;
    for (int a = 0; a < s->first; a++) dims[rank++] = cur->dims[a];
    if (s->kind == STEP_MERGE) {
        int d = pt2_axes_new_dim(layer, cur);
        if (d < 0) return pt2_fail(err, PT2_ERR_INTERNAL, "layer '%s' made no single new dim", layer->name);
        dims[rank++] = d;
    } else if (s->kind == STEP_SPLIT) {
        /* The parts in order: split_dims puts them where the axis was. */
        int at = pt2_rt_shape_axis(&cur->shape, cur->dims[s->first]);
        if (at < 0 || at + s->parts > layer->shape.rank) return pt2_fail(err, PT2_ERR_INTERNAL, "split axis not found");
        for (int p = 0; p < s->parts; p++) dims[rank++] = layer->shape.dims[at + p];
    }
    for (int a = s->first + s->count; a < cur->rank; a++) dims[rank++] = cur->dims[a];
    pt2_axes_value_of(layer, rank, dims, cur);
    return PT2_OK;
}

/* The view of graph value `in_value`, lowered as `in` (its map, or its map with real axes). */
static pt2_status view_of(pt2_lower_context *ctx, const pt2_node *node, int in_value, const pt2_lowered_value *in,
                          int out_value, int hide_batch, pt2_error *err) {
    const pt2_tensor *x = &ctx->run->values[in_value].tensor, *y = &ctx->run->values[out_value].tensor;
    const pt2_value *y_meta = &ctx->graph->values[out_value];
    const pt2_rt_dim *dims = ctx->net->dims;
    view_step steps[4 * PT2_MAX_RANK];
    int num_steps = 0;
    /* Broadcast axes of size 1 are not in RETURNN: they go with no layer. A wider broadcast axis
     * (an expand: a mask [B, T] expanded over the heads, then unsqueezed) stays one where the
     * view leaves it as it is, beside size-1 axes coming or going. */
    pt2_lowered_value start = *in;
    start.rank = 0;
    /* Plan on a working list of (size, dim kind, broadcast or not) per current axis. */
    int64_t cur_sizes[PT2_MAX_RANK];
    int cur_rank = 0, cur_broadcast[PT2_MAX_RANK];
    pt2_rt_dim_kind cur_kind[PT2_MAX_RANK];
    for (int a = 0; a < in->rank; a++) {
        if (in->dims[a] < 0 && x->shape[a] == 1) continue;
        if (hide_batch && x->shape[a] == 1 && in->dims[a] >= 0 && dims[in->dims[a]].kind == PT2_RT_DIM_BATCH) continue;
        start.dims[start.rank++] = in->dims[a];
        cur_sizes[cur_rank] = x->shape[a], cur_broadcast[cur_rank] = in->dims[a] < 0;
        cur_kind[cur_rank++] = in->dims[a] < 0 ? PT2_RT_DIM_STATIC : dims[in->dims[a]].kind;
    }
    /* 1. static size-1 axes go (squeeze). */
    for (int a = 0; a < cur_rank;) {
        if (cur_sizes[a] == 1 && cur_kind[a] == PT2_RT_DIM_STATIC && !cur_broadcast[a]) {
            steps[num_steps++] = (view_step){STEP_SQUEEZE, a, 1, 0, {0}};
            memmove(&cur_sizes[a], &cur_sizes[a + 1], sizeof(int64_t) * (size_t)(cur_rank - a - 1));
            memmove(&cur_kind[a], &cur_kind[a + 1], sizeof(cur_kind[0]) * (size_t)(cur_rank - a - 1));
            memmove(&cur_broadcast[a], &cur_broadcast[a + 1], sizeof(cur_broadcast[0]) * (size_t)(cur_rank - a - 1));
            cur_rank--;
        } else a++;
    }
    /* 2. groups of equal products between the remaining input axes and the output's axes. An
     * output axis of size 1 is a new (broadcast) axis, unless it is where the batch or the time
     * of size 1 in this run goes: those keep their dim (a size does not say what an axis is). */
    int is_new[PT2_MAX_RANK] = {0}, group_out[PT2_MAX_RANK];
    int i = 0, j = 0, position = 0;
    for (;;) {
        while (j < y->rank && y->shape[j] == 1 && !(i < cur_rank && cur_sizes[i] == 1 && cur_kind[i] != PT2_RT_DIM_STATIC))
            is_new[j++] = 1;
        if (i >= cur_rank && j >= y->rank) break;
        if (i >= cur_rank || j >= y->rank)
            return pt2_lower_fail(node, err, "the view's sizes do not factorise into the input's axes");
        int i0 = i, n_out = 0;
        group_out[n_out++] = j;
        int64_t p = cur_sizes[i++], q = y->shape[j++];
        while (p != q) {
            if (p < q) {
                if (i >= cur_rank) break;
                p *= cur_sizes[i++];
            } else {
                while (j < y->rank && y->shape[j] == 1) is_new[j++] = 1;
                if (j >= y->rank) break;
                group_out[n_out++] = j;
                q *= y->shape[j++];
            }
        }
        if (p != q) return pt2_lower_fail(node, err, "the view's sizes do not factorise into the input's axes");
        int n_in = i - i0, dynamic_in = 0, batch_in = 0;
        int64_t broadcast_size = 0;
        for (int k = i0; k < i; k++) {
            dynamic_in += cur_kind[k] == PT2_RT_DIM_DYNAMIC, batch_in += cur_kind[k] == PT2_RT_DIM_BATCH;
            if (cur_broadcast[k]) broadcast_size = cur_sizes[k];
        }
        /* An expanded axis merged or split (transformers' repeat_kv: the key/value heads expanded
         * n times and merged into the query heads) is made real first, and the view planned again
         * on the real value. */
        if (broadcast_size && (n_in > 1 || n_out > 1)) {
            if (in != &ctx->values[in_value])
                return pt2_fail(err, PT2_ERR_INTERNAL, "a materialised value still has a broadcast axis");
            pt2_status st = pt2_axes_materialise(ctx, node, in_value, err);
            return st ? st : view_of(ctx, node, in_value, &ctx->real_values[in_value], out_value, hide_batch, err);
        }
        /* The batch of a run of one sequence merged with other axes (the rows of [1, T, F] as
         * [T, F]; the heads of [1, H, T, D] as [H, T, D]): PyTorch's value holds that one
         * sequence, so every op on it is an op on each sequence of a batch. The batch stays a dim
         * of the layers with no PyTorch axis (pt2_axes_hidden_batch), and the view is planned
         * again without it. */
        int batch_of_one = 0;
        for (int k = i0; k < i; k++) batch_of_one |= cur_kind[k] == PT2_RT_DIM_BATCH && cur_sizes[k] == 1;
        if (batch_of_one && (n_in > 1 || n_out > 1) && !hide_batch)
            return view_of(ctx, node, in_value, in, out_value, 1, err);
        if (batch_in && (n_in > 1 || n_out > 1))
            return pt2_lower_fail(node, err, "axes %d..%d of the input merge or split the batch (sizes %lld -> %d axes), "
                                  "which RETURNN's dims cannot follow op by op", i0, i - 1, (long long)p, n_out);
        if (dynamic_in > 1) return pt2_lower_fail(node, err, "the view merges two dynamic axes");
        if (n_in > 1) steps[num_steps++] = (view_step){STEP_MERGE, position, n_in, 0, {0}};
        if (n_out > 1) {
            view_step s = {STEP_SPLIT, position, 1, n_out, {0}};
            int dynamic_parts = 0;
            for (int k = 0; k < n_out; k++) {
                int b = group_out[k];
                int symbolic = y_meta->sizes[b].is_symbolic;
                s.sizes[k] = dynamic_in && symbolic ? -1 : y->shape[b];
                dynamic_parts += dynamic_in && symbolic;
            }
            if (dynamic_in && dynamic_parts != 1)
                return pt2_lower_fail(node, err, "splitting a dynamic axis into axes %d..%d needs exactly one dynamic part, "
                                      "found %d", group_out[0], group_out[n_out - 1], dynamic_parts);
            steps[num_steps++] = s;
        }
        position += n_out;
    }
    pt2_lowered_value cur = start;
    for (int s = 0; s < num_steps; s++) {
        pt2_status st = run_step(ctx, node, &steps[s], s == num_steps - 1, s ? &cur : in, &cur, err);
        if (st) return st;
    }
    /* 3. the output's size-1 axes are broadcast axes (no layer; an op that needs them real gets
     * an expand_dims, pt2_axes_materialise). */
    for (int b = 0; b < y->rank; b++)
        if (is_new[b]) {
            if (cur.rank >= PT2_MAX_RANK) return pt2_fail(err, PT2_ERR_INTERNAL, "too many axes");
            memmove(&cur.dims[b + 1], &cur.dims[b], sizeof(int) * (size_t)(cur.rank - b));
            cur.dims[b] = PT2_AXIS_BROADCAST;
            cur.rank++;
        }
    if (cur.rank != y->rank) return pt2_fail(err, PT2_ERR_INTERNAL, "the view has %d axes, expected %d", cur.rank, y->rank);
    if (!num_steps) return pt2_axes_set_output_at(ctx, node, 0, &cur, err);
    /* The last step's layer is the node's: checked against PyTorch's view. */
    return pt2_lower_set_output(ctx, node, &ctx->net->layers[ctx->net->num_layers - 1], cur.rank, cur.dims, err);
}

pt2_status pt2_axes_view(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in, int out_value,
                         pt2_error *err) {
    int in_value = (int)(in - ctx->values);
    if (in_value < 0 || (size_t)in_value >= ctx->graph->num_values || !ctx->run->values[in_value].is_set ||
        !ctx->run->values[out_value].is_set)
        return pt2_fail(err, PT2_ERR_INTERNAL, "a view of a value the reference run does not have");
    return view_of(ctx, node, in_value, in, out_value, 0, err);
}

pt2_status pt2_axes_reduced(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *v, const int64_t *dims,
                            size_t count, const char *what, const char **axes, int *reduced, pt2_error *err) {
    for (int a = 0; a < v->rank; a++) reduced[a] = 0;
    for (size_t i = 0; i < count; i++) {
        int axis = (int)(dims[i] < 0 ? dims[i] + v->rank : dims[i]);
        if (axis < 0 || axis >= v->rank || reduced[axis])
            return pt2_lower_fail(node, err, "dim %lld is out of range or repeated", (long long)dims[i]);
        if (ctx->net->dims[v->dims[axis]].kind == PT2_RT_DIM_BATCH)
            return pt2_lower_fail(node, err, "%s over the batch (axis %d) cannot be expressed in RETURNN", what, axis);
        reduced[axis] = 1;
        pt2_status st = pt2_axes_describe(ctx, node, v, axis, &axes[i], err);
        if (st) return st;
    }
    return PT2_OK;
}

void pt2_axes_after_reduction(const pt2_lowered_value *in, const int *reduced, int keepdim, int *dims, int *rank) {
    *rank = 0;
    for (int a = 0; a < in->rank; a++)
        if (!reduced[a]) dims[(*rank)++] = in->dims[a];
        else if (keepdim) dims[(*rank)++] = PT2_AXIS_BROADCAST;
}
