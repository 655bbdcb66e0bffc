#include "lower_operands.h"

#include <stdio.h>
#include <string.h>

#include "../base/strbuf.h"
#include "../naming/naming.h"
#include "../ops/elementwise.h"
#include "axes.h"
#include "lower_layout.h"

pt2_status pt2_lower_operand(pt2_lower_context *ctx, const pt2_node *node, const char *name, pt2_operand *out,
                             pt2_error *err) {
    memset(out, 0, sizeof *out);
    const pt2_arg *a = pt2_node_arg(node, name);
    if (!a) return pt2_lower_fail(node, err, "argument '%s' is missing", name);
    if (a->kind != PT2_ARG_TENSOR) {
        out->is_number = 1;
        return pt2_op_scalar(ctx->run, node, name, &out->number, err);
    }
    pt2_status st = pt2_lower_input(ctx, node, name, &out->layer, err);
    if (st || out->layer) return st;
    int present;
    pt2_tensor c;
    if ((st = pt2_lower_constant(ctx, node, name, &c, &present, err))) return st;
    if (pt2_tensor_numel(&c) == 1) {
        pt2_tensor one;
        if ((st = pt2_tensor_contiguous(ctx->arena, &c, 0, &one, err))) return st;
        out->is_number = 1;
        out->number = pt2_tensor_get_double(&one, 0);
        return PT2_OK;
    }
    out->is_constant = 1;
    out->constant = c;
    return PT2_OK;
}

/* `in` with its axis `axis` (a static dim) repeated `times` times: a tile layer. */
static pt2_status tile_axis(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in, int axis,
                            int64_t times, pt2_lowered_value *out, pt2_error *err) {
    const char *key;
    pt2_rt_layer *layer;
    char name[220];
    snprintf(name, sizeof name, "%s_tile", ctx->places[node - ctx->graph->nodes].base);
    pt2_status st = pt2_axes_describe(ctx, node, in, axis, &key, err);
    if (!st) st = pt2_lower_new_layer_named(ctx, node, name, "tile", &layer, err);
    if (!st) st = pt2_lower_add_source(ctx, layer, in, err);
    if (st) return st;
    pt2_rt_value *items = pt2_arena_alloc_array(ctx->arena, 1, sizeof *items, err);
    const char **keys = pt2_arena_alloc_array(ctx->arena, 1, sizeof *keys, err);
    if (!items || !keys) return err->status;
    keys[0] = key;
    items[0] = (pt2_rt_value){.kind = PT2_RT_INT, .int_value = times};
    pt2_rt_value multiples = {.kind = PT2_RT_DICT, .count = 1, .items = items, .keys = keys};
    if ((st = pt2_rt_set_value(layer, "multiples", &multiples, err))) return st;
    if ((st = pt2_lower_infer(ctx, node, layer, err))) return st;
    int dims[PT2_MAX_RANK];
    memcpy(dims, in->dims, sizeof dims);
    dims[axis] = layer->shape.dims[pt2_rt_shape_axis(&in->shape, in->dims[axis])]; /* tile keeps the axis order */
    pt2_axes_value_of(layer, in->rank, dims, out);
    return PT2_OK;
}

pt2_status pt2_lower_data_meeting_constant(pt2_lower_context *ctx, const pt2_node *node, const pt2_tensor *constant,
                                           const pt2_lowered_value *data, pt2_lowered_value *storage,
                                           const pt2_lowered_value **out, pt2_error *err) {
    *out = data;
    pt2_lowered_value tiled;
    /* A constant running along a broadcast axis of the data (an expand of it, core/lower/axes.h):
     * the data gets that axis for real first, so that the constant meets it as its feature. */
    for (int a = 0; a < constant->rank; a++) {
        int axis = data->rank - constant->rank + a;
        if (constant->shape[a] == 1 || axis < 0 || data->dims[axis] >= 0) continue;
        if (data < ctx->values || data >= ctx->values + ctx->graph->num_values)
            return pt2_lower_fail(node, err, "a constant of size %lld along an axis the data does not have in RETURNN",
                                  (long long)constant->shape[a]);
        int value_id = (int)(data - ctx->values);
        pt2_status st = pt2_axes_materialise(ctx, node, value_id, err);
        if (st) return st;
        data = *out = &ctx->real_values[value_id];
        /* A size-1 axis (t[:, None] * inv_freq) is repeated to the constant's size, as an expand. */
        const pt2_rt_dim *d = &ctx->net->dims[data->dims[axis]];
        if (d->kind == PT2_RT_DIM_STATIC && d->size == 1) {
            if ((st = tile_axis(ctx, node, data, axis, constant->shape[a], &tiled, err))) return st;
            data = *out = &tiled;
        }
        break;
    }
    int along = -1, axes_over_one = 0;
    for (int a = 0; a < constant->rank; a++)
        if (constant->shape[a] != 1) along = data->rank - constant->rank + a, axes_over_one++;
    pt2_status st = PT2_OK;
    if (!(axes_over_one != 1 || along < 0 || data->dims[along] < 0 || data->dims[along] == data->shape.feature_dim ||
          ctx->net->dims[data->dims[along]].kind != PT2_RT_DIM_STATIC))
        st = pt2_axes_require_feature(ctx, node, data, along, storage, out, err);
    if (!st && *out == &tiled) { /* the caller keeps the value: not this frame's */
        *storage = tiled;
        *out = storage;
    }
    return st;
}

pt2_status pt2_lower_place_operands(pt2_lower_context *ctx, const pt2_node *node, pt2_operand *a, pt2_operand *b,
                                    pt2_error *err) {
    pt2_operand *ops[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        if (!ops[i]->is_constant || ops[i]->layer) continue;
        const pt2_lowered_value *like = ops[1 - i]->layer;
        if (!like) return pt2_lower_fail(node, err, "both operands are constants");
        pt2_status st = pt2_lower_data_meeting_constant(ctx, node, &ops[i]->constant, like, &ops[1 - i]->placed, &like, err);
        if (st) return st;
        ops[1 - i]->layer = like;
        st = pt2_lower_constant_layer(ctx, node, &ops[i]->constant, like, &ops[i]->placed, err);
        if (st) return st;
        ops[i]->layer = &ops[i]->placed;
    }
    return PT2_OK;
}

/* The dtype the sources of a combine or compare meet in, as PyTorch promotes them: a combine's
 * result for the node's own layer; otherwise float32 if a source is, else the widest integer,
 * else the first's (bools). PT2_DTYPE_INVALID for other layers, whose sources stay. */
static pt2_dtype meeting_dtype(pt2_lower_context *ctx, const pt2_node *node, int final, const char *layer_class,
                               const pt2_lowered_value *const *sources, size_t count) {
    int combine = !strcmp(layer_class, "combine");
    if (!combine && strcmp(layer_class, "compare")) return PT2_DTYPE_INVALID;
    if (combine && final) return ctx->run->values[node->outputs[0].value_id].tensor.dtype;
    static const pt2_dtype order[] = {PT2_DTYPE_FLOAT32, PT2_DTYPE_INT64, PT2_DTYPE_INT32};
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++)
        for (size_t i = 0; i < count; i++)
            if (sources[i]->shape.dtype == order[k]) return order[k];
    return sources[0]->shape.dtype;
}

pt2_status pt2_lower_cast_operand(pt2_lower_context *ctx, const pt2_node *node, const char *base, size_t i,
                                  pt2_dtype dtype, const pt2_lowered_value *source, pt2_lowered_value *cast,
                                  pt2_error *err) {
    if (dtype != PT2_DTYPE_FLOAT32 && dtype != PT2_DTYPE_INT32 && dtype != PT2_DTYPE_INT64 && dtype != PT2_DTYPE_BOOL)
        return pt2_lower_fail(node, err, "operands of dtypes %s and %s meet in %s, which is not lowered (float32, int32, "
                              "int64 and bool are)", pt2_dtype_name(source->shape.dtype), pt2_dtype_name(dtype),
                              pt2_dtype_name(dtype));
    char name[240];
    snprintf(name, sizeof name, "%s_%zu_%s", base ? base : ctx->places[node - ctx->graph->nodes].base, i,
             pt2_dtype_name(dtype));
    pt2_rt_layer *layer;
    pt2_status st = pt2_lower_new_layer_named(ctx, node, name, "cast", &layer, err);
    if (!st) st = pt2_lower_add_source(ctx, layer, source, err);
    if (!st) st = pt2_rt_set_string(layer, "dtype", pt2_dtype_name(dtype), err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    *cast = *source;
    cast->layer = layer->name;
    cast->shape = layer->shape;
    return PT2_OK;
}

pt2_status pt2_lower_dense(pt2_lower_context *ctx, const pt2_node *node, const char *name,
                           const pt2_lowered_value *source, pt2_lowered_value *dense, pt2_error *err) {
    pt2_rt_layer *layer;
    pt2_status st = pt2_lower_new_layer_named(ctx, node, name, "reinterpret_data", &layer, err);
    if (!st) st = pt2_lower_add_source(ctx, layer, source, err);
    if (!st) st = pt2_rt_set_bool(layer, "set_sparse", 0, err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    *dense = *source;
    dense->layer = layer->name;
    dense->shape = layer->shape;
    return PT2_OK;
}

/* An op of two values over one dynamic dim, each the other's axis of the result: an outer
 * comparison or difference of positions (transformers' causal mask kv_idx <= q_idx, WavLM's
 * relative positions). RETURNN's combine and compare take a copy of the time (expand_dims +
 * merge_dims) as the time again (derived_matches), so the two axes would collapse; a dot keeps
 * both, as for attention scores. So the value at the later axis gets the copy (the keys' time,
 * one copy per dim in the network: core/lower/lower_layout.c), and the other becomes the [time,
 * copy] grid of its values (a dot with ones over the copy, summing over an axis of size 1, in
 * float32: exact for positions below 2^24); the op then finds each dim in the grid itself. Only
 * values whose one dim in RETURNN is that dim (positions) are turned so. */
static pt2_status outer_over_one_dim(pt2_lower_context *ctx, const pt2_node *node, const char *base,
                                     pt2_broadcast_layer *b, pt2_error *err) {
    if (b->count != 2) return PT2_OK;
    const pt2_lowered_value *u = b->sources[0], *v = b->sources[1];
    if (u->shape.rank != 1 || v->shape.rank != 1 || u->shape.dims[0] != v->shape.dims[0] ||
        ctx->net->dims[u->shape.dims[0]].kind != PT2_RT_DIM_DYNAMIC)
        return PT2_OK;
    int d = u->shape.dims[0], rank = u->rank > v->rank ? u->rank : v->rank, at_u = -1, at_v = -1;
    for (int a = 0; a < u->rank; a++)
        if (u->dims[a] == d) at_u = a;
    for (int a = 0; a < v->rank; a++)
        if (v->dims[a] == d) at_v = a;
    if (at_u < 0 || at_v < 0) return PT2_OK;
    int pos_u = rank - u->rank + at_u, pos_v = rank - v->rank + at_v;
    if (pos_u == pos_v) return PT2_OK;
    size_t late = pos_u > pos_v ? 0 : 1, early = 1 - late;
    int late_axis = late ? at_v : at_u, early_pos = late ? pos_u : pos_v, late_pos = late ? pos_v : pos_u;
    const pt2_lowered_value *grid_of = b->sources[early];
    char name[240];
    const char *stem = base ? base : ctx->places[node - ctx->graph->nodes].base;
    pt2_lowered_value copied, ones, ones_f, values_f, values_e, ones_e;
    pt2_status st = pt2_lower_second_copy_of_axis(ctx, node, b->sources[late], late_axis, &copied, err);
    if (st) return st;
    int d2 = copied.dims[late_axis];
    snprintf(name, sizeof name, "%s_ones", stem);
    if ((st = pt2_lower_unary_layer(ctx, node, 0, name, "eval", "fill_like", 1, &copied, &ones, err))) return st;
    const pt2_lowered_value *ones_float = &ones, *values_float = grid_of;
    if (ones.shape.dtype != PT2_DTYPE_FLOAT32) {
        if ((st = pt2_lower_cast_operand(ctx, node, name, 0, PT2_DTYPE_FLOAT32, &ones, &ones_f, err))) return st;
        ones_float = &ones_f;
    }
    if (grid_of->shape.dtype != PT2_DTYPE_FLOAT32) {
        snprintf(name, sizeof name, "%s_grid", stem);
        if ((st = pt2_lower_cast_operand(ctx, node, name, early, PT2_DTYPE_FLOAT32, grid_of, &values_f, err))) return st;
        values_float = &values_f;
    }
    snprintf(name, sizeof name, "%s_grid_expand", stem);
    if ((st = pt2_lower_size_one_axis(ctx, node, name, values_float, &values_e, err))) return st;
    snprintf(name, sizeof name, "%s_ones_expand", stem);
    if ((st = pt2_lower_size_one_axis(ctx, node, name, ones_float, &ones_e, err))) return st;
    pt2_rt_layer *dot;
    snprintf(name, sizeof name, "%s_grid", stem);
    if ((st = pt2_lower_dot_layer(ctx, node, name, &values_e, values_float->rank, early ? at_v : at_u, &ones_e,
                                  ones_float->rank, late_axis, &dot, err)))
        return st;
    int dims[PT2_MAX_RANK];
    for (int a = 0; a < rank; a++) dims[a] = -1;
    dims[early_pos] = d, dims[late_pos] = d2;
    pt2_lowered_value grid;
    pt2_axes_value_of(dot, rank, dims, &grid);
    b->outer[late] = copied;
    if (grid_of->shape.dtype != PT2_DTYPE_FLOAT32) { /* back to the values' dtype */
        snprintf(name, sizeof name, "%s_grid_%s", stem, pt2_dtype_name(grid_of->shape.dtype));
        pt2_rt_layer *cast;
        st = pt2_lower_new_layer_named(ctx, node, name, "cast", &cast, err);
        if (!st) st = pt2_lower_add_source(ctx, cast, &grid, err);
        if (!st) st = pt2_rt_set_string(cast, "dtype", pt2_dtype_name(grid_of->shape.dtype), err);
        if (!st) st = pt2_lower_infer(ctx, node, cast, err);
        if (st) return st;
        pt2_axes_value_of(cast, rank, dims, &grid);
    }
    b->outer[early] = grid;
    b->sources[late] = &b->outer[late];
    b->sources[early] = &b->outer[early];
    return PT2_OK;
}

/* Is dim `d` one of size 1 that a layer made (a static dim: an expand_dims, a conv or pool over
 * size-1 axes)? */
static int static_size_one(const pt2_lower_context *ctx, int d) {
    return d >= 0 && ctx->net->dims[d].kind == PT2_RT_DIM_STATIC && ctx->net->dims[d].size == 1;
}

/* A source's size-1 dim at a position where another source has a dim of another size: PyTorch
 * broadcasts it (a squeeze-and-excitation's gate [B, C, 1, 1], a 1x1 conv over a pooled value,
 * times the features [B, C, H, T]), while RETURNN's combine matches a static dim of size 1 only
 * with itself or another made dim of size 1 and would keep both axes. The source drops it
 * (squeeze), so that the axis is a broadcast axis of its value, constant along it as it is. */
static pt2_status squeeze_broadcast_dims(pt2_lower_context *ctx, const pt2_node *node, const char *base,
                                         pt2_broadcast_layer *b, pt2_error *err) {
    int rank = 0;
    for (size_t i = 0; i < b->count; i++)
        if (b->sources[i]->rank > rank) rank = b->sources[i]->rank;
    for (size_t i = 0; i < b->count; i++) {
        for (int a = 0; a < b->sources[i]->rank; a++) {
            const pt2_lowered_value *v = b->sources[i];
            if (!static_size_one(ctx, v->dims[a]) || !pt2_axes_is_real(v, a)) continue;
            int position = rank - v->rank + a, wider = 0;
            for (size_t j = 0; j < b->count && !wider; j++) {
                const pt2_lowered_value *w = b->sources[j];
                int at = position - (rank - w->rank);
                wider = j != i && at >= 0 && w->dims[at] >= 0 && pt2_axes_is_real(w, at) && !static_size_one(ctx, w->dims[at]);
            }
            if (!wider) continue;
            char name[240];
            const char *description;
            pt2_rt_layer *squeeze;
            snprintf(name, sizeof name, "%s_%zu_squeeze%d", base ? base : ctx->places[node - ctx->graph->nodes].base, i, a);
            pt2_status st = pt2_axes_describe(ctx, node, v, a, &description, err);
            if (!st) st = pt2_lower_new_layer_named(ctx, node, name, "squeeze", &squeeze, err);
            if (!st) st = pt2_lower_add_source(ctx, squeeze, v, err);
            if (!st) st = pt2_rt_set_string(squeeze, "axis", description, err);
            if (!st) st = pt2_lower_infer(ctx, node, squeeze, err);
            if (st) return st;
            int dims[PT2_MAX_RANK];
            memcpy(dims, v->dims, sizeof dims);
            dims[a] = PT2_AXIS_BROADCAST;
            pt2_axes_value_of(squeeze, v->rank, dims, &b->squeezed[i]);
            b->sources[i] = &b->squeezed[i];
        }
    }
    return PT2_OK;
}

/* Is dynamic dim `copy` a copy of dim `of` (pt2_lower_second_copy_of_axis: the keys' time)? */
static int copy_of(const pt2_lower_context *ctx, int copy, int of) {
    const pt2_rt_dim *d = &ctx->net->dims[copy];
    return d->kind == PT2_RT_DIM_DYNAMIC && d->base == of && d->mul == 1 && d->add == 0 && d->div == 1;
}

static int has_dim(const pt2_lowered_value *v, int dim) {
    for (int a = 0; a < v->rank; a++)
        if (v->dims[a] == dim) return 1;
    return 0;
}

/* A time meeting the keys' copy of it at one PyTorch axis, where the other source has that time
 * at another axis (ALiBi's bias over the keys' positions [H, 1, T] added to the scores
 * [H, T, T']): the source's axis is declared the copy, else the combine would match it with the
 * queries' time. */
static pt2_status keys_where_copies_meet(pt2_lower_context *ctx, const pt2_node *node, pt2_broadcast_layer *b,
                                         pt2_error *err) {
    for (size_t i = 0; i < b->count; i++)
        for (size_t j = 0; j < b->count; j++) {
            const pt2_lowered_value *v = b->sources[i], *w = b->sources[j];
            if (i == j) continue;
            for (int k = 1; k <= v->rank && k <= w->rank; k++) {
                int x = v->dims[v->rank - k], y = w->dims[w->rank - k];
                /* Both dims in both sources, at crossed axes: one is the other transposed (DeBERTa's
                 * position-to-content scores against the content scores), which RETURNN, matching
                 * dims by tag, would add untransposed. */
                if (x >= 0 && y >= 0 && x != y && has_dim(v, y) && has_dim(w, x))
                    return pt2_lower_fail(node, err, "operand %zu has dims '%s' and '%s' at the axes where operand %zu has them "
                                          "the other way round (one transposed against the other): RETURNN matches dims "
                                          "by their tags, not by their axes, and swapping two tags is not lowered", i,
                                          ctx->net->dims[x].description, ctx->net->dims[y].description, j);
                if (x < 0 || y < 0 || x == y || !copy_of(ctx, y, x) || !has_dim(w, x) || has_dim(v, y)) continue;
                pt2_status st = pt2_lower_same_dim_as(ctx, node, v, v->rank - k, y, &b->keyed[i], err);
                if (st) return st;
                if (b->keyed[i].is_set) b->sources[i] = &b->keyed[i];
                break;
            }
        }
    return PT2_OK;
}

/* Is dim `d` of v a static dim RETURNN's combine matches by its size alone: one a layer made
 * that is not v's feature (allow_same_spatial_dim), or v's feature (met by the output's feature of
 * its size)? 1 and 2 tell the two apart; 0 for neither (a dim the input declares). */
static int size_matched(const pt2_lower_context *ctx, const pt2_lowered_value *v, int d) {
    if (ctx->net->dims[d].kind != PT2_RT_DIM_STATIC || pt2_rt_shape_axis(&ctx->net->input, d) >= 0) return 0;
    return d == v->shape.feature_dim ? 2 : 1;
}

/* Two static dims of one size at one PyTorch axis (a slice of the heads' features beside a
 * rotary table's: StableLM's partial rotary), one its source's feature and the other not: RETURNN
 * matches a feature only with the output's feature and a made spatial dim only with another, so
 * the combine would keep both axes. The axis becomes the feature of every source that has it. */
static pt2_status features_where_sizes_meet(pt2_lower_context *ctx, const pt2_node *node, pt2_broadcast_layer *b,
                                            pt2_error *err) {
    int rank = 0;
    for (size_t i = 0; i < b->count; i++)
        if (b->sources[i]->rank > rank) rank = b->sources[i]->rank;
    for (int position = 0; position < rank; position++) {
        int mismatched = 0;
        for (size_t i = 0; i < b->count && !mismatched; i++)
            for (size_t j = i + 1; j < b->count && !mismatched; j++) {
                const pt2_lowered_value *v = b->sources[i], *w = b->sources[j];
                int a = position - (rank - v->rank), c = position - (rank - w->rank);
                if (a < 0 || c < 0 || !pt2_axes_is_real(v, a) || !pt2_axes_is_real(w, c) || v->dims[a] == w->dims[c])
                    continue;
                int kind_v = size_matched(ctx, v, v->dims[a]), kind_w = size_matched(ctx, w, w->dims[c]);
                mismatched = kind_v && kind_w && kind_v != kind_w &&
                             ctx->net->dims[v->dims[a]].size == ctx->net->dims[w->dims[c]].size;
            }
        for (size_t i = 0; i < b->count && mismatched; i++) {
            const pt2_lowered_value *v = b->sources[i];
            int a = position - (rank - v->rank);
            if (a < 0 || !pt2_axes_is_real(v, a) || v->dims[a] == v->shape.feature_dim) continue;
            pt2_status st = pt2_axes_require_feature(ctx, node, v, a, &b->featured[i], &b->sources[i], err);
            if (st) return st;
        }
    }
    return PT2_OK;
}

pt2_status pt2_lower_begin_broadcast(pt2_lower_context *ctx, const pt2_node *node, int final, const char *base,
                                     const char *layer_class, const pt2_lowered_value *const *sources, size_t count,
                                     pt2_broadcast_layer *out, pt2_error *err) {
    memset(out, 0, sizeof *out);
    if (count > PT2_RT_MAX_FROM) return pt2_fail(err, PT2_ERR_INTERNAL, "too many sources");
    out->final = final;
    out->count = count;
    pt2_status st = PT2_OK;
    pt2_dtype dtype = meeting_dtype(ctx, node, final, layer_class, sources, count);
    for (size_t i = 0; i < count; i++) {
        out->sources[i] = sources[i];
        if (sources[i]->shape.sparse_dim >= 0) { /* token ids: RoBERTa's input_ids.ne(padding_idx) */
            char name[240];
            snprintf(name, sizeof name, "%s_%zu_dense", base ? base : ctx->places[node - ctx->graph->nodes].base, i);
            if ((st = pt2_lower_dense(ctx, node, name, sources[i], &out->dense[i], err))) return st;
            out->sources[i] = &out->dense[i];
        }
        if (dtype != PT2_DTYPE_INVALID && out->sources[i]->shape.dtype != dtype) {
            if ((st = pt2_lower_cast_operand(ctx, node, base, i, dtype, out->sources[i], &out->cast[i], err))) return st;
            out->sources[i] = &out->cast[i];
        }
        /* Layers on one time length reached along different paths get one time dim tag (a
         * layer before this one). */
        if (i && (st = pt2_axes_same_time(ctx, node, out->sources[0], out->sources[i], &out->same_length[i], err))) return st;
        if (i && out->same_length[i].is_set) out->sources[i] = &out->same_length[i];
    }
    if ((st = keys_where_copies_meet(ctx, node, out, err))) return st;
    if ((st = squeeze_broadcast_dims(ctx, node, base, out, err))) return st;
    if ((st = features_where_sizes_meet(ctx, node, out, err))) return st;
    if ((st = outer_over_one_dim(ctx, node, base, out, err))) return st;
    st = final ? pt2_lower_new_layer(ctx, node, layer_class, &out->layer, err)
               : pt2_lower_new_layer_named(ctx, node, base, layer_class, &out->layer, err);
    for (size_t i = 0; i < count && !st; i++) st = pt2_lower_add_source(ctx, out->layer, out->sources[i], err);
    return st;
}

pt2_status pt2_lower_finish_broadcast(pt2_lower_context *ctx, const pt2_node *node, pt2_broadcast_layer *b,
                                      pt2_lowered_value *out, pt2_error *err) {
    pt2_status st = pt2_axes_allow_broadcast_all(ctx, b->layer, b->sources, b->count, err);
    if (!st) st = pt2_lower_infer(ctx, node, b->layer, err);
    if (st) return st;
    int rank = 0;
    for (size_t i = 0; i < b->count; i++)
        if (b->sources[i]->rank > rank) rank = b->sources[i]->rank;
    if (b->final) rank = ctx->run->values[node->outputs[0].value_id].tensor.rank;
    int dims[PT2_MAX_RANK];
    if ((st = pt2_axes_broadcast(ctx, node, b->layer, b->sources, (int)b->count, rank, dims, err))) return st;
    pt2_lowered_value so_far;
    memset(&so_far, 0, sizeof so_far);
    so_far.rank = rank;
    memcpy(so_far.dims, dims, sizeof dims);
    if (b->final) return pt2_lower_set_output(ctx, node, b->layer, so_far.rank, so_far.dims, err);
    memset(out, 0, sizeof *out);
    out->is_set = 1;
    out->layer = b->layer->name;
    out->shape = b->layer->shape;
    out->rank = so_far.rank;
    memcpy(out->dims, so_far.dims, sizeof out->dims);
    return PT2_OK;
}

/* The sources of a commutative combine with the one that has the most dynamic dims first among
 * those of the most axes: RETURNN's combine takes the first source of the most axes as its
 * output's template and matches each other dim to one of it, a dynamic dim to any dynamic dim of
 * it where it has not that dim itself (allow_same_spatial_dim). [B, T, H] * [T, T', H] (WavLM's
 * gate on its relative position bias) so became [B, T', H]; with [T, T', H] first every dynamic
 * dim is in the template. */
static void sources_in_template_order(const pt2_lower_context *ctx, const char *layer_class, const char *key,
                                      const char *value, const pt2_lowered_value **sources, size_t count) {
    static const char *const commutative[] = {"add", "mul", "maximum", "minimum", "logical_and", "logical_or"};
    int swappable = 0;
    for (size_t k = 0; k < sizeof commutative / sizeof commutative[0]; k++)
        swappable |= !strcmp(layer_class, "combine") && key && !strcmp(key, "kind") && !strcmp(value, commutative[k]);
    if (!swappable) return;
    size_t best = 0;
    for (size_t i = 1; i < count; i++)
        if (sources[i]->shape.rank > sources[best]->shape.rank ||
            (sources[i]->shape.rank == sources[best]->shape.rank &&
             pt2_rt_shape_dynamic_axes(ctx->net, &sources[i]->shape) > pt2_rt_shape_dynamic_axes(ctx->net, &sources[best]->shape)))
            best = i;
    const pt2_lowered_value *first = sources[best];
    memmove(&sources[1], &sources[0], sizeof sources[0] * best);
    sources[0] = first;
}

pt2_status pt2_lower_broadcast_layer(pt2_lower_context *ctx, const pt2_node *node, int final, const char *base,
                                     const char *layer_class, const char *key, const char *value,
                                     const pt2_lowered_value *const *given, size_t count, pt2_lowered_value *out,
                                     pt2_error *err) {
    const pt2_lowered_value *sources[PT2_RT_MAX_FROM];
    if (count > PT2_RT_MAX_FROM) return pt2_fail(err, PT2_ERR_INTERNAL, "too many sources");
    memcpy(sources, given, sizeof sources[0] * count);
    sources_in_template_order(ctx, layer_class, key, value, sources, count);
    pt2_broadcast_layer b;
    pt2_status st = pt2_lower_begin_broadcast(ctx, node, final, base, layer_class, sources, count, &b, err);
    if (!st && key) st = pt2_rt_set_string(b.layer, key, value, err);
    return st ? st : pt2_lower_finish_broadcast(ctx, node, &b, out, err);
}

pt2_status pt2_lower_unary_layer(pt2_lower_context *ctx, const pt2_node *node, int final, const char *base,
                                 const char *layer_class, const char *value, double number,
                                 const pt2_lowered_value *in, pt2_lowered_value *out, pt2_error *err) {
    const char *option = value, *key = "activation";
    if (!strcmp(layer_class, "eval")) {
        const char *code = pt2_rt_eval_form(value);
        if (!code) return pt2_fail(err, PT2_ERR_INTERNAL, "unknown eval form '%s'", value);
        char text[40];
        pt2_lower_format_number(text, sizeof text, number, in->shape.dtype);
        if (!(option = pt2_arena_printf(ctx->arena, err, code, text))) return err->status;
        key = "eval";
    }
    pt2_rt_layer *layer;
    pt2_status st = final ? pt2_lower_new_layer(ctx, node, layer_class, &layer, err)
                          : pt2_lower_new_layer_named(ctx, node, base, layer_class, &layer, err);
    if (!st) st = pt2_lower_add_source(ctx, layer, in, err);
    if (!st) st = pt2_rt_set_string(layer, key, option, err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    if (final) return pt2_lower_set_output(ctx, node, layer, in->rank, in->dims, err);
    *out = *in;
    out->layer = layer->name;
    out->shape = layer->shape;
    return PT2_OK;
}
