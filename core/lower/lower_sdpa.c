/* Lowering of scaled_dot_product_attention without a mask, as attention written op by op lowers
 * (no module special case): scores = dot(q, k) over the head dim, with the keys' time a dim of
 * its own when it is the queries' (the axis map's copy, as for matmul); softmax_over_spatial over
 * the keys' time with the scale as its energy_factor (masked past each sequence's end);
 * out = dot(weights, v) over the keys' time. The leading (batch, head) axes are shared. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../naming/naming.h"
#include "axes.h"
#include "lower_layout.h"
#include "lowerings.h"

static pt2_status dot_layer(pt2_lower_context *ctx, const pt2_node *node, const char *name, const pt2_lowered_value *a,
                            int red_a, int var_a, const pt2_lowered_value *b, int red_b, int var_b, pt2_rt_layer **out,
                            pt2_error *err) {
    const char *red1, *red2, *var1, *var2;
    pt2_status st = pt2_axes_describe(ctx, node, a, red_a, &red1, err);
    if (!st) st = pt2_axes_describe(ctx, node, b, red_b, &red2, err);
    if (!st) st = pt2_axes_describe(ctx, node, a, var_a, &var1, err);
    if (!st) st = pt2_axes_describe(ctx, node, b, var_b, &var2, err);
    if (!st) st = name ? pt2_lower_new_layer_named(ctx, node, name, "dot", out, err) : pt2_lower_new_layer(ctx, node, "dot", out, err);
    if (!st) st = pt2_lower_add_source(ctx, *out, a, err);
    if (!st) st = pt2_lower_add_source(ctx, *out, b, err);
    if (!st) st = pt2_rt_set_string_list(ctx->arena, *out, "red1", &red1, 1, err);
    if (!st) st = pt2_rt_set_string_list(ctx->arena, *out, "red2", &red2, 1, err);
    if (!st) st = pt2_rt_set_string_list(ctx->arena, *out, "var1", &var1, 1, err);
    if (!st) st = pt2_rt_set_string_list(ctx->arena, *out, "var2", &var2, 1, err);
    if (!st) st = pt2_lower_infer(ctx, node, *out, err);
    return st;
}

static pt2_status lower_sdpa(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *q, *k, *v;
    pt2_status st = pt2_lower_input(ctx, node, "query", &q, err);
    if (!st) st = pt2_lower_input(ctx, node, "key", &k, err);
    if (!st) st = pt2_lower_input(ctx, node, "value", &v, err);
    if (st) return st;
    if (!q || !k || !v) return pt2_lower_fail(node, err, "query, key and value must come from layers");
    const pt2_arg *mask = pt2_node_arg(node, "attn_mask"), *scale_arg = pt2_node_arg(node, "scale");
    if (mask && mask->kind != PT2_ARG_NONE) return pt2_lower_fail(node, err, "an attn_mask is not lowered yet");
    int causal = 0, gqa = 0;
    double dropout = 0, scale;
    if (pt2_node_arg(node, "is_causal") && (st = pt2_op_bool(ctx->run, node, "is_causal", &causal, err))) return st;
    if (pt2_node_arg(node, "enable_gqa") && (st = pt2_op_bool(ctx->run, node, "enable_gqa", &gqa, err))) return st;
    if (pt2_node_arg(node, "dropout_p") && (st = pt2_op_scalar(ctx->run, node, "dropout_p", &dropout, err))) return st;
    if (causal || gqa || dropout != 0) return pt2_lower_fail(node, err, "is_causal, enable_gqa and dropout are not lowered yet");
    int r = q->rank;
    if (r < 3 || k->rank != r || v->rank != r) return pt2_lower_fail(node, err, "query, key and value of one rank (at least 3) are lowered");
    /* The leading axes are shared: the same dim, or static dims of one size (RETURNN's dot matches those). */
    for (int i = 0; i < r - 2; i++) {
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
    if ((st = dot_layer(ctx, node, name, q, r - 1, r - 2, k, r - 1, r - 2, &scores, err))) return st;
    int dims[PT2_MAX_RANK];
    memcpy(dims, q->dims, sizeof dims);
    dims[r - 1] = k->dims[r - 2]; /* [.., queries' time, keys' time] */
    pt2_lowered_value score_value;
    pt2_axes_value_of(scores, r, dims, &score_value);
    const char *keys_axis;
    if ((st = pt2_axes_describe(ctx, node, &score_value, r - 1, &keys_axis, err))) return st;
    if (ctx->net->dims[dims[r - 1]].kind != PT2_RT_DIM_DYNAMIC)
        return pt2_lower_fail(node, err, "attention over static keys is not lowered yet");
    snprintf(name, sizeof name, "%s_weights", base);
    if ((st = pt2_lower_new_layer_named(ctx, node, name, "softmax_over_spatial", &weights, err))) return st;
    if (!st) st = pt2_lower_add_source(ctx, weights, &score_value, err);
    if (!st) st = pt2_rt_set_string(weights, "axis", keys_axis, err);
    if (!st) st = pt2_rt_set_float(weights, "energy_factor", scale, err);
    if (!st) st = pt2_lower_infer(ctx, node, weights, err);
    if (st) return st;
    pt2_lowered_value weight_value;
    pt2_axes_value_of(weights, r, dims, &weight_value);
    if (v->dims[r - 2] != dims[r - 1]) {
        if ((st = pt2_lower_same_dim_as(ctx, node, v, r - 2, dims[r - 1], &values_same, err))) return st;
        v = &values_same;
    }
    if ((st = dot_layer(ctx, node, NULL, &weight_value, r - 1, r - 2, v, r - 2, r - 1, &out, err))) return st;
    dims[r - 1] = v->dims[r - 1];
    return pt2_lower_set_output(ctx, node, out, r, dims, err);
}

const pt2_op_lowering pt2_lowerings_sdpa[] = {
    {"aten.scaled_dot_product_attention.default", lower_sdpa,
     "dot softmax_over_spatial expand_dims merge_dims reinterpret_data"},
    {NULL, NULL, NULL}};
