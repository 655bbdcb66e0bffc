/* Lowering of scaled_dot_product_attention, as attention written op by op lowers (no module
 * special case): scores = dot(q, k) over the head dim, with the keys' time a dim of its own when
 * it is the queries' (the axis map's copy, as for matmul); softmax_over_spatial over the keys'
 * time with the scale as its energy_factor (masked past each sequence's end, so padded keys never
 * take part); out = dot(weights, v) over the keys' time. The leading (batch, head) axes are shared.
 * A mask broadcasts against the scores [.., queries' time, keys' time] as PyTorch broadcasts it:
 * its size-1 axes are squeezed away (RETURNN broadcasts by dims) and its last axis is the keys'
 * time. A boolean mask (True takes part) is a switch to the lowest float; an additive float mask
 * is added to the scaled scores (the scale then applied before it, as PyTorch does); is_causal keeps
 * the lower triangle of the scores (an eval: tf.linalg.band_part over their last two axes). */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../naming/naming.h"
#include "axes.h"
#include "lower_layout.h"
#include "lower_operands.h"
#include "lowerings.h"

/* The mask broadcasts against the scores, so an expand that only broadcast it (as transformers'
 * mask helpers do) is looked through: its source is the mask. */
static void look_through_expand(pt2_lower_context *ctx, const pt2_lowered_value **mask, int *mask_id) {
    int producer = ctx->graph->values[*mask_id].producer;
    if (producer < 0) return;
    const pt2_node *expand = &ctx->graph->nodes[producer];
    if (strcmp(expand->target, "aten.expand.default")) return;
    const pt2_arg *self = pt2_node_arg(expand, "self");
    if (!self || self->kind != PT2_ARG_TENSOR || !ctx->values[self->value_id].is_set) return;
    *mask = &ctx->values[self->value_id];
    *mask_id = self->value_id;
}

/* The mask as a value over dims of the scores: size-1 axes squeezed, the last axis the keys' time. */
static pt2_status mask_on_scores(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *scores,
                                 const pt2_lowered_value *mask, int mask_id, pt2_lowered_value *out, pt2_error *err) {
    const pt2_tensor *m = &ctx->run->values[mask_id].tensor;
    int r = scores->rank;
    if (m->rank > r || m->rank != mask->rank) return pt2_lower_fail(node, err, "an attn_mask of rank %d on scores of rank %d", m->rank, r);
    const char *base = ctx->places[node - ctx->graph->nodes].base;
    char name[220];
    pt2_status st = PT2_OK;
    *out = *mask;
    int64_t sizes[PT2_MAX_RANK];
    for (int a = 0; a < m->rank; a++) sizes[a] = m->shape[a];
    int rank = m->rank, score_axis[PT2_MAX_RANK];
    for (int a = 0; a < rank; a++) score_axis[a] = r - rank + a;
    for (int a = rank - 1; a >= 0; a--) {
        if (out->dims[a] < 0) { /* a broadcast axis (core/lower/axes.h): the value lacks it already */
            for (int b = a; b + 1 < rank; b++) {
                out->dims[b] = out->dims[b + 1];
                sizes[b] = sizes[b + 1];
                score_axis[b] = score_axis[b + 1];
            }
            out->rank = --rank;
            continue;
        }
        const pt2_rt_dim *d = &ctx->net->dims[out->dims[a]];
        if (!(sizes[a] == 1 && d->kind == PT2_RT_DIM_STATIC && d->size == 1 && out->dims[a] != scores->dims[score_axis[a]]))
            continue;
        const char *axis_name;
        pt2_rt_layer *squeeze;
        snprintf(name, sizeof name, "%s_mask_squeeze", base);
        if ((st = pt2_axes_describe(ctx, node, out, a, &axis_name, err))) return st;
        if ((st = pt2_lower_new_layer_named(ctx, node, name, "squeeze", &squeeze, err))) return st;
        if (!st) st = pt2_lower_add_source(ctx, squeeze, out, err);
        if (!st) st = pt2_rt_set_string(squeeze, "axis", axis_name, err);
        if (!st) st = pt2_lower_infer(ctx, node, squeeze, err);
        if (st) return st;
        int dims[PT2_MAX_RANK];
        for (int b = 0, k = 0; b < rank; b++)
            if (b != a) {
                dims[k] = out->dims[b];
                sizes[k] = sizes[b];
                score_axis[k++] = score_axis[b];
            }
        rank--;
        pt2_axes_value_of(squeeze, rank, dims, out);
    }
    for (int a = 0; a < rank; a++) {
        int want = scores->dims[score_axis[a]];
        if (out->dims[a] == want) continue;
        /* Static dims of one size (a bias per head from an embedding's features, T5's, against the
         * heads the scores were split into) meet as RETURNN's combine matches them, by size. */
        const pt2_rt_dim *have_dim = &ctx->net->dims[out->dims[a]], *want_dim = &ctx->net->dims[want];
        if (have_dim->kind == PT2_RT_DIM_STATIC && want_dim->kind == PT2_RT_DIM_STATIC && have_dim->size == want_dim->size) continue;
        if (score_axis[a] != r - 1)
            return pt2_lower_fail(node, err, "axis %d of the attn_mask is not the scores' axis %d", a, score_axis[a]);
        pt2_lowered_value retagged; /* a copy: the result is written over its source */
        if ((st = pt2_lower_same_dim_as(ctx, node, out, a, want, &retagged, err))) return st;
        if (retagged.is_set) *out = retagged;
    }
    return PT2_OK;
}

static pt2_status apply_mask(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *scores,
                             const pt2_lowered_value *mask, int mask_id, int causal, double scale, pt2_lowered_value *out,
                             int *factor_in_softmax, pt2_error *err) {
    int r = scores->rank;
    const char *base = ctx->places[node - ctx->graph->nodes].base;
    char name[220];
    pt2_status st;
    pt2_lowered_value condition;
    pt2_dtype dtype;
    if (causal) {
        /* RETURNN's dot puts its output in the order batch dims, var1, var2: the queries' time
         * then the keys' time, the last two axes, where tf.linalg.band_part keeps the lower
         * triangle (key position <= query position), as PyTorch's tril. */
        const pt2_rt_shape *shape = &scores->shape;
        if (shape->rank < 2 || shape->dims[shape->rank - 2] != scores->dims[r - 2] || shape->dims[shape->rank - 1] != scores->dims[r - 1])
            return pt2_lower_fail(node, err, "is_causal needs the queries' and the keys' time as the scores' last two axes");
        snprintf(name, sizeof name, "%s_causal", base);
        return pt2_lower_unary_layer(ctx, node, 0, name, "eval", "causal_fill", -FLT_MAX, scores, out, err);
    }
    if ((st = mask_on_scores(ctx, node, scores, mask, mask_id, &condition, err))) return st;
    dtype = condition.shape.dtype;
    pt2_rt_layer *layer;
    if (dtype == PT2_DTYPE_BOOL) {
        snprintf(name, sizeof name, "%s_masked", base);
        st = pt2_lower_new_layer_named(ctx, node, name, "switch", &layer, err);
        if (!st) st = pt2_lower_add_source(ctx, layer, &condition, err);
        if (!st) st = pt2_lower_add_source(ctx, layer, scores, err);
        /* PyTorch fills with -inf; the lowest float gives the same zero weight and stays finite in the configs. */
        if (!st) st = pt2_rt_set_float(layer, "false_from", -FLT_MAX, err);
        if (!st) st = pt2_lower_infer(ctx, node, layer, err);
        if (st) return st;
        pt2_axes_value_of(layer, r, scores->dims, out);
        return PT2_OK;
    }
    if (dtype != PT2_DTYPE_FLOAT32) return pt2_lower_fail(node, err, "an attn_mask of %s (bool or float32 are lowered)", pt2_dtype_name(dtype));
    pt2_lowered_value scaled;
    snprintf(name, sizeof name, "%s_scaled", base);
    if ((st = pt2_lower_unary_layer(ctx, node, 0, name, "eval", "mul_scalar", scale, scores, &scaled, err))) return st;
    snprintf(name, sizeof name, "%s_masked", base);
    st = pt2_lower_new_layer_named(ctx, node, name, "combine", &layer, err);
    if (!st) st = pt2_lower_add_source(ctx, layer, &scaled, err);
    if (!st) st = pt2_lower_add_source(ctx, layer, &condition, err);
    if (!st) st = pt2_rt_set_string(layer, "kind", "add", err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    pt2_axes_value_of(layer, r, scores->dims, out);
    *factor_in_softmax = 0;
    return PT2_OK;
}

/* Keys or values as the products take them: broadcast leading axes kept, the last two real. */
static pt2_status shared_input(pt2_lower_context *ctx, const pt2_node *node, const char *name,
                               const pt2_lowered_value **out, pt2_error *err) {
    pt2_status st = pt2_lower_input(ctx, node, name, out, err);
    if (st || !*out) return st;
    int r = (*out)->rank;
    if (r >= 2 && pt2_axes_is_real(*out, r - 1) && pt2_axes_is_real(*out, r - 2)) return PT2_OK;
    return pt2_lower_real_input(ctx, node, name, out, err);
}

static pt2_status lower_sdpa(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *q, *k, *v;
    /* The mask may keep broadcast axes, so may keys and values along the leading axes (one
     * key/value head shared by every query head): the products keep the queries' axis there
     * (pt2_lower_dot_layer). Every other axis is made real. */
    pt2_status st = pt2_lower_real_input(ctx, node, "query", &q, err);
    if (!st) st = shared_input(ctx, node, "key", &k, err);
    if (!st) st = shared_input(ctx, node, "value", &v, err);
    if (st) return st;
    if (!q || !k || !v) return pt2_lower_fail(node, err, "query, key and value must come from layers");
    const pt2_arg *mask = pt2_node_arg(node, "attn_mask"), *scale_arg = pt2_node_arg(node, "scale");
    int causal = 0, gqa = 0;
    double dropout = 0, scale;
    if (pt2_node_arg(node, "is_causal") && (st = pt2_op_bool(ctx->run, node, "is_causal", &causal, err))) return st;
    if (pt2_node_arg(node, "enable_gqa") && (st = pt2_op_bool(ctx->run, node, "enable_gqa", &gqa, err))) return st;
    if (pt2_node_arg(node, "dropout_p") && (st = pt2_op_scalar(ctx->run, node, "dropout_p", &dropout, err))) return st;
    if (gqa || dropout != 0) return pt2_lower_fail(node, err, "enable_gqa and dropout are not lowered yet");
    const pt2_lowered_value *mask_value = NULL;
    int mask_id = -1;
    if (mask && mask->kind != PT2_ARG_NONE) {
        if (causal) return pt2_lower_fail(node, err, "an attn_mask together with is_causal");
        if ((st = pt2_lower_input(ctx, node, "attn_mask", &mask_value, err))) return st;
        if (!mask_value) return pt2_lower_fail(node, err, "a constant attn_mask is not lowered (it cannot follow a dynamic time)");
        mask_id = mask->value_id;
        look_through_expand(ctx, &mask_value, &mask_id);
    }
    int r = q->rank;
    if (r < 3 || k->rank != r || v->rank != r) return pt2_lower_fail(node, err, "query, key and value of one rank (at least 3) are lowered");
    /* The leading axes are shared: the same dim, or static dims of one size (RETURNN's dot matches
     * those), or the queries' alone where keys and values are broadcast. */
    for (int i = 0; i < r - 2; i++) {
        if (!pt2_axes_is_real(k, i) && !pt2_axes_is_real(v, i)) continue;
        if (!pt2_axes_is_real(k, i) || !pt2_axes_is_real(v, i))
            return pt2_lower_fail(node, err, "axis %d is broadcast in only one of key and value", i);
        const pt2_rt_dim *dq = &ctx->net->dims[q->dims[i]], *dk = &ctx->net->dims[k->dims[i]], *dv = &ctx->net->dims[v->dims[i]];
        int same_k = q->dims[i] == k->dims[i] || (dq->kind == PT2_RT_DIM_STATIC && dk->kind == PT2_RT_DIM_STATIC && dq->size == dk->size);
        int same_v = q->dims[i] == v->dims[i] || (dq->kind == PT2_RT_DIM_STATIC && dv->kind == PT2_RT_DIM_STATIC && dq->size == dv->size);
        if (!same_k || !same_v) return pt2_lower_fail(node, err, "axis %d is a different dim in query, key and value", i);
    }
    const pt2_tensor *qt = &ctx->run->values[pt2_node_arg(node, "query")->value_id].tensor;
    if (scale_arg && scale_arg->kind != PT2_ARG_NONE) {
        if ((st = pt2_op_scalar(ctx->run, node, "scale", &scale, err))) return st;
    } else scale = 1.0 / sqrt((double)qt->shape[r - 1]);
    /* The keys' time a dim of its own when it is the queries'. */
    pt2_lowered_value keys_copy, values_same;
    if (k->dims[r - 2] == q->dims[r - 2]) {
        if ((st = pt2_lower_second_copy_of_axis(ctx, node, k, r - 2, &keys_copy, err))) return st;
        k = &keys_copy;
    }
    const char *base = ctx->places[node - ctx->graph->nodes].base;
    char name[220];
    pt2_rt_layer *scores, *weights, *out;
    snprintf(name, sizeof name, "%s_scores", base);
    if ((st = pt2_lower_dot_layer(ctx, node, name, q, r - 1, r - 2, k, r - 1, r - 2, &scores, err))) return st;
    int dims[PT2_MAX_RANK];
    memcpy(dims, q->dims, sizeof dims);
    dims[r - 1] = k->dims[r - 2]; /* [.., queries' time, keys' time] */
    pt2_lowered_value score_value;
    pt2_axes_value_of(scores, r, dims, &score_value);
    const char *keys_axis;
    if ((st = pt2_axes_describe(ctx, node, &score_value, r - 1, &keys_axis, err))) return st;
    if (ctx->net->dims[dims[r - 1]].kind != PT2_RT_DIM_DYNAMIC)
        return pt2_lower_fail(node, err, "attention over static keys is not lowered yet");
    int factor_in_softmax = 1;
    pt2_lowered_value masked_value;
    if (mask_value || causal) {
        if ((st = apply_mask(ctx, node, &score_value, mask_value, mask_id, causal, scale, &masked_value, &factor_in_softmax, err)))
            return st;
        score_value = masked_value;
    }
    snprintf(name, sizeof name, "%s_weights", base);
    if ((st = pt2_lower_new_layer_named(ctx, node, name, "softmax_over_spatial", &weights, err))) return st;
    if (!st) st = pt2_lower_add_source(ctx, weights, &score_value, err);
    if (!st) st = pt2_rt_set_string(weights, "axis", keys_axis, err);
    if (!st && factor_in_softmax) st = pt2_rt_set_float(weights, "energy_factor", scale, err);
    if (!st) st = pt2_lower_infer(ctx, node, weights, err);
    if (st) return st;
    pt2_lowered_value weight_value;
    pt2_axes_value_of(weights, r, dims, &weight_value);
    if (v->dims[r - 2] != dims[r - 1]) {
        if ((st = pt2_lower_same_dim_as(ctx, node, v, r - 2, dims[r - 1], &values_same, err))) return st;
        if (values_same.is_set) v = &values_same;
    }
    if ((st = pt2_lower_dot_layer(ctx, node, NULL, &weight_value, r - 1, r - 2, v, r - 2, r - 1, &out, err))) return st;
    dims[r - 1] = v->dims[r - 1];
    return pt2_lower_set_output(ctx, node, out, r, dims, err);
}

const pt2_op_lowering pt2_lowerings_sdpa[] = {
    {"aten.scaled_dot_product_attention.default", lower_sdpa,
     "dot softmax_over_spatial expand_dims merge_dims reinterpret_data squeeze switch combine eval:mul_scalar "
     "eval:causal_fill"},
    {NULL, NULL, NULL}};
