/* Lowering of nn.MultiheadAttention as a whole (self-attention, batch first or time first): its graph merges the
 * batch with the heads and the time with the batch in views, which RETURNN's dim tags cannot
 * follow op by op; as a module it is RETURNN's self_attention layer. PyTorch's in-projection has
 * biases, self_attention has none: a pad layer appends a constant-1 feature to the input and QKV
 * gets the biases as its last row, so x·QKV = x·W + b exactly. Then out_proj is a linear layer. */
#include <string.h>

#include "lower.h"
#include "axes.h"
#include "lowerings.h"

static const pt2_node *find_op(const pt2_module_call *call, const char *target, int last) {
    const pt2_node *found = NULL;
    for (size_t i = 0; i < call->count; i++)
        if (!strcmp(call->nodes[i]->target, target) && (last || !found)) found = call->nodes[i];
    return found;
}

static pt2_status fail_call(const pt2_module_call *call, pt2_error *err, const char *message) {
    const pt2_node *node = call->count ? call->nodes[0] : NULL;
    if (node) return pt2_lower_fail(node, err, "%s '%s' (%s): %s", "module", call->path, call->type, message);
    return pt2_fail(err, PT2_ERR_UNSUPPORTED, "module '%s': %s", call->path, message);
}

/* The one value from outside the call that its ops read (query = key = value). */
static pt2_status call_input(pt2_lower_context *ctx, const pt2_module_call *call, const pt2_lowered_value **out,
                             pt2_error *err) {
    int found = -1;
    for (size_t i = 0; i < call->count; i++)
        for (size_t a = 0; a < call->nodes[i]->num_inputs; a++) {
            const pt2_arg *arg = &call->nodes[i]->inputs[a].arg;
            if (arg->kind != PT2_ARG_TENSOR || !ctx->dynamic[arg->value_id] || pt2_module_call_computes(call, arg->value_id))
                continue;
            if (found >= 0 && found != arg->value_id)
                return fail_call(call, err, "only self-attention (query, key and value the same tensor) is lowered");
            found = arg->value_id;
        }
    if (found < 0 || !ctx->values[found].is_set) return fail_call(call, err, "its input is not a layer's output");
    *out = pt2_axes_value(ctx, found); /* with real axes */
    return PT2_OK;
}

/* The call's result: the value it computes that a node outside it (or the program) reads; readers
 * that are not lowered, as nothing reads their results, do not count. */
static const pt2_node *call_output(const pt2_lower_context *ctx, const pt2_module_call *call) {
    const pt2_node *result = NULL;
    for (size_t c = 0; c < call->count; c++) {
        const pt2_node *producer = call->nodes[c];
        if (!producer->num_outputs || producer->outputs[0].kind != PT2_ARG_TENSOR) continue;
        int value = producer->outputs[0].value_id, used_outside = 0;
        for (size_t n = 0; n < ctx->graph->num_nodes && !used_outside; n++) {
            const pt2_node *user = &ctx->graph->nodes[n];
            int inside = 0;
            for (size_t k = 0; k < call->count && !inside; k++) inside = call->nodes[k] == user;
            if (inside || !pt2_lower_node_is_lowered(ctx, user)) continue; /* a reader nothing needs */
            for (size_t a = 0; a < user->num_inputs && !used_outside; a++)
                used_outside = user->inputs[a].arg.kind == PT2_ARG_TENSOR && user->inputs[a].arg.value_id == value;
        }
        for (size_t o = 0; o < ctx->graph->num_outputs && !used_outside; o++)
            used_outside = ctx->graph->outputs[o].arg.kind == PT2_ARG_TENSOR && ctx->graph->outputs[o].arg.value_id == value;
        if (used_outside) {
            if (result) return NULL;
            result = producer;
        }
    }
    return result;
}

static pt2_status lower_multihead_attention(pt2_lower_context *ctx, const pt2_module_call *call, pt2_error *err) {
    const pt2_node *in_proj = find_op(call, "aten.linear.default", 0), *out_proj = find_op(call, "aten.linear.default", 1);
    const pt2_node *sdpa = find_op(call, "aten.scaled_dot_product_attention.default", 0), *result = call_output(ctx, call);
    /* With need_weights=True (its default) the module computes the weights itself: q scaled by
     * head_dim^-0.5, bmm with k transposed, softmax, bmm with v (a mask would come in by a
     * baddbmm); the weights' mean over the heads, when nobody reads it, changes nothing. */
    const pt2_node *scores = find_op(call, "aten.bmm.default", 0), *weighted = find_op(call, "aten.bmm.default", 1);
    int explicit_weights = !sdpa && scores && weighted && scores != weighted && find_op(call, "aten.softmax.int", 0) &&
                           !find_op(call, "aten.baddbmm.default", 0);
    if (!in_proj || !out_proj || in_proj == out_proj || !(sdpa || explicit_weights) || !result)
        return fail_call(call, err, "expected the in-projection, scaled_dot_product_attention (or, with need_weights, "
                                    "bmm, softmax and bmm without a mask) and out_proj of nn.MultiheadAttention");
    const pt2_node *attend = sdpa ? sdpa : scores;
    const pt2_arg *mask = sdpa ? pt2_node_arg(sdpa, "attn_mask") : NULL, *causal = sdpa ? pt2_node_arg(sdpa, "is_causal") : NULL,
                  *scale = sdpa ? pt2_node_arg(sdpa, "scale") : NULL;
    /* Causal attention (is_causal, as nn.MultiheadAttention passes it with a causal mask and
     * is_causal=True) is RETURNN's attention_left_only: frame t attends to frames 0..t. */
    int left_only = causal && causal->kind == PT2_ARG_BOOL && causal->int_value;
    if ((mask && mask->kind != PT2_ARG_NONE) || (scale && scale->kind != PT2_ARG_NONE))
        return fail_call(call, err, "attention masks and a custom scale are not lowered yet (causal attention is)");
    const pt2_lowered_value *x = NULL;
    pt2_tensor w_in, b_in, w_out, b_out;
    int has[4];
    pt2_status st = call_input(ctx, call, &x, err);
    if (!st) st = pt2_lower_constant(ctx, in_proj, "weight", &w_in, &has[0], err);
    if (!st) st = pt2_lower_constant(ctx, in_proj, "bias", &b_in, &has[1], err);
    if (!st) st = pt2_lower_constant(ctx, out_proj, "weight", &w_out, &has[2], err);
    if (!st) st = pt2_lower_constant(ctx, out_proj, "bias", &b_out, &has[3], err);
    if (st) return st;
    const pt2_tensor *query = &ctx->run->values[pt2_node_arg(attend, sdpa ? "query" : "self")->value_id].tensor;
    const pt2_tensor *output = &ctx->run->values[result->outputs[0].value_id].tensor;
    /* Batch, time and feature in any order (batch_first or not): the axis map knows which is which. */
    int batch_axis = -1, time_axis = -1, feature_axis = -1;
    for (int a = 0; a < x->rank && x->rank == 3; a++) {
        pt2_rt_dim_kind kind = ctx->net->dims[x->dims[a]].kind;
        if (kind == PT2_RT_DIM_BATCH) batch_axis = a;
        else if (kind == PT2_RT_DIM_DYNAMIC) time_axis = a;
        else if (x->dims[a] == x->shape.feature_dim) feature_axis = a;
    }
    int64_t features = feature_axis >= 0 ? ctx->net->dims[x->dims[feature_axis]].size : -1;
    if (batch_axis < 0 || time_axis < 0 || feature_axis < 0 || !has[0] || !has[2] || query->rank != (sdpa ? 4 : 3) ||
        output->rank != 3 || w_in.rank != 2 || w_in.shape[0] != 3 * features || w_in.shape[1] != features ||
        w_in.dtype != PT2_DTYPE_FLOAT32)
        return fail_call(call, err, "lowered for self-attention on data with batch, time and feature axes");
    /* sdpa's query is [batch, heads, time, head_dim]; the explicit form's [batch * heads, time, head_dim]. */
    int64_t batch = output->shape[batch_axis];
    int64_t heads = sdpa ? query->shape[1] : batch > 0 && query->shape[0] % batch == 0 ? query->shape[0] / batch : 0;
    int64_t head_dim = heads > 0 ? features / heads : 0;
    if (heads < 1 || heads * head_dim != features || query->shape[query->rank - 1] != head_dim)
        return fail_call(call, err, "the heads do not split the features evenly");

    /* QKV: [features + 1, 3 * features], columns per head [q, k, v] as self_attention splits them. */
    pt2_tensor qkv, w, b;
    int64_t shape[2] = {features + 1, 3 * features};
    if ((st = pt2_tensor_alloc_uninit(ctx->arena, PT2_DTYPE_FLOAT32, 2, shape, &qkv, err))) return st;
    if ((st = pt2_tensor_contiguous(ctx->arena, &w_in, 0, &w, err))) return st;
    if (has[1] && (st = pt2_tensor_contiguous(ctx->arena, &b_in, 0, &b, err))) return st;
    /* in_proj's row part * features + h * head_dim + d is QKV's column h * 3 * head_dim + part *
     * head_dim + d: the weight seen as [input, head, part, d] (input along its rows) is QKV's first
     * features rows in order, one strided copy (a blocked transpose); the bias likewise the last. */
    pt2_tensor rows = w, bias_row = has[1] ? b : w;
    rows.rank = 4;
    int64_t rows_shape[4] = {features, heads, 3, head_dim}, rows_strides[4] = {1, head_dim * features, features * features, features};
    memcpy(rows.shape, rows_shape, sizeof rows_shape);
    memcpy(rows.strides, rows_strides, sizeof rows_strides);
    pt2_tensor_copy_dense(&rows, pt2_tensor_data(&qkv));
    float *last_row = (float *)pt2_tensor_data(&qkv) + features * shape[1];
    if (has[1]) {
        bias_row.rank = 3;
        int64_t bias_shape[3] = {heads, 3, head_dim}, bias_strides[3] = {head_dim, features, 1};
        memcpy(bias_row.shape, bias_shape, sizeof bias_shape);
        memcpy(bias_row.strides, bias_strides, sizeof bias_strides);
        pt2_tensor_copy_dense(&bias_row, last_row);
    } else {
        memset(last_row, 0, sizeof(float) * (size_t)shape[1]);
    }

    pt2_rt_layer *pad, *attention, *linear;
    pt2_rt_value pair_items[2] = {{.kind = PT2_RT_INT, .int_value = 0}, {.kind = PT2_RT_INT, .int_value = 1}};
    pt2_rt_value *pair = pt2_arena_alloc_array(ctx->arena, 2, sizeof *pair, err);
    pt2_rt_value *pairs = pt2_arena_alloc_array(ctx->arena, 1, sizeof *pairs, err);
    if (!pair || !pairs) return err->status;
    memcpy(pair, pair_items, sizeof pair_items);
    pairs[0] = (pt2_rt_value){.kind = PT2_RT_LIST, .count = 2, .items = pair};
    pt2_rt_value padding = {.kind = PT2_RT_LIST, .count = 1, .items = pairs};
    static const char *const feature_name[1] = {"F"};
    if ((st = pt2_lower_new_layer_named(ctx, attend, "bias_feature", "pad", &pad, err))) return st;
    if (!st) st = pt2_lower_add_source(ctx, pad, x, err);
    if (!st) st = pt2_rt_set_string_list(ctx->arena, pad, "axes", feature_name, 1, err);
    if (!st) st = pt2_rt_set_value(pad, "padding", &padding, err);
    if (!st) st = pt2_rt_set_string(pad, "mode", "constant", err);
    if (!st) st = pt2_rt_set_float(pad, "value", 1.0, err);
    if (!st) st = pt2_rt_set_bool(pad, "handle_dynamic_dims", 0, err);
    if (!st) st = pt2_lower_infer(ctx, attend, pad, err);
    if (st) return st;
    pt2_lowered_value padded = {1, pad->name, pad->shape, 0, {0}};
    if ((st = pt2_lower_new_layer_named(ctx, attend, "attention", "self_attention", &attention, err))) return st;
    if (!st) st = pt2_lower_add_source(ctx, attention, &padded, err);
    if (!st) st = pt2_rt_set_int(attention, "num_heads", heads, err);
    if (!st) st = pt2_rt_set_int(attention, "total_key_dim", features, err);
    if (!st) st = pt2_rt_set_int(attention, "n_out", features, err);
    if (!st) st = pt2_rt_set_bool(attention, "attention_left_only", left_only, err);
    if (!st) st = pt2_rt_set_float(attention, "attention_dropout", 0.0, err);
    if (!st) st = pt2_rt_add_param(attention, "QKV", &qkv, err);
    if (!st) st = pt2_lower_infer(ctx, attend, attention, err);
    if (st) return st;
    pt2_lowered_value attended = {1, attention->name, attention->shape, 0, {0}};
    if ((st = pt2_lower_new_layer_named(ctx, attend, "out_proj", "linear", &linear, err))) return st;
    linear->node = (int)(result - ctx->graph->nodes); /* checked against the module's output */
    linear->op_label = call->type;
    pt2_tensor w_t = w_out; /* [out, in] -> [in, out] */
    w_t.shape[0] = w_out.shape[1], w_t.strides[0] = w_out.strides[1];
    w_t.shape[1] = w_out.shape[0], w_t.strides[1] = w_out.strides[0];
    if (!st) st = pt2_lower_add_source(ctx, linear, &attended, err);
    if (!st) st = pt2_rt_set_int(linear, "n_out", w_out.shape[0], err);
    if (!st) st = pt2_rt_set_bool(linear, "with_bias", has[3], err);
    if (!st) st = pt2_rt_set_none(linear, "activation", err);
    if (!st) st = pt2_rt_add_param(linear, "W", &w_t, err);
    if (!st && has[3]) st = pt2_rt_add_param(linear, "b", &b_out, err);
    if (!st) st = pt2_lower_infer(ctx, out_proj, linear, err);
    if (st) return st;
    int dims[3];
    memcpy(dims, x->dims, sizeof dims);
    dims[feature_axis] = linear->shape.feature_dim;
    return pt2_lower_set_output(ctx, result, linear, 3, dims, err);
}

const pt2_module_lowering pt2_module_lowerings_attention[] = {
    {"torch.nn.modules.activation.MultiheadAttention", lower_multihead_attention, "pad self_attention linear"},
    {NULL, NULL, NULL}};
