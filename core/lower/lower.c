#include "lower.h"

#include <stdio.h>
#include <string.h>

#include "../ops/registry.h"

static pt2_status lower_fail(const pt2_node *node, pt2_error *err, const char *message) {
    if (!err->op[0]) snprintf(err->op, sizeof err->op, "%s", node->target);
    if (!err->module_path[0] && node->module_depth)
        snprintf(err->module_path, sizeof err->module_path, "%s", node->module_stack[node->module_depth - 1].path);
    if (!err->source_line[0] && node->source_line)
        snprintf(err->source_line, sizeof err->source_line, "%s", node->source_line);
    return pt2_fail(err, PT2_ERR_UNSUPPORTED, "node '%s': %s", node->name, message);
}

pt2_status pt2_lower_input(pt2_lower_context *ctx, const pt2_node *node, const char *name,
                           const pt2_lowered_value **out, pt2_error *err) {
    const pt2_arg *a = pt2_node_arg(node, name);
    if (!a || a->kind != PT2_ARG_TENSOR) return lower_fail(node, err, "expected a tensor argument");
    const pt2_lowered_value *v = &ctx->values[a->value_id];
    if (!v->is_set) return lower_fail(node, err, "an input is a constant, not yet supported by the lowering");
    *out = v;
    return PT2_OK;
}

pt2_status pt2_lower_constant(pt2_lower_context *ctx, const pt2_node *node, const char *name, pt2_tensor *out,
                              int *present, pt2_error *err) {
    const pt2_arg *a = pt2_node_arg(node, name);
    *present = a && a->kind == PT2_ARG_TENSOR;
    if (!*present) return PT2_OK;
    if (ctx->values[a->value_id].is_set) return lower_fail(node, err, "a weight comes from another layer (not supported yet)");
    if (!ctx->run->values[a->value_id].is_set) return lower_fail(node, err, "a weight has no value");
    *out = ctx->run->values[a->value_id].tensor;
    return PT2_OK;
}

/* "layers.0" -> "layers_0"; the root module's ops are named after the op. Unique by suffix. */
static const char *layer_name(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    char base[200];
    const char *path = node->module_depth ? node->module_stack[node->module_depth - 1].path : "";
    if (path[0]) {
        size_t n = 0;
        for (const char *c = path; *c && n + 1 < sizeof base; c++) base[n++] = *c == '.' ? '_' : *c;
        base[n] = 0;
    } else {
        const char *op = node->target;
        const char *dot = strchr(op, '.');
        snprintf(base, sizeof base, "%s", dot ? dot + 1 : op);
        char *second = strchr(base, '.');
        if (second) *second = 0;
    }
    for (int suffix = 0;; suffix++) {
        char candidate[220];
        if (suffix) snprintf(candidate, sizeof candidate, "%s_%d", base, suffix);
        else snprintf(candidate, sizeof candidate, "%s", base);
        int taken = !strcmp(candidate, "output") || !strcmp(candidate, "data");
        for (size_t i = 0; i < ctx->net->num_layers && !taken; i++) taken = !strcmp(ctx->net->layers[i].name, candidate);
        if (!taken) return pt2_arena_strdup(ctx->arena, candidate, err);
    }
}

pt2_status pt2_lower_new_layer(pt2_lower_context *ctx, const pt2_node *node, const char *layer_class,
                               const pt2_lowered_value *from, pt2_rt_layer **out, pt2_error *err) {
    const char *name = layer_name(ctx, node, err);
    if (!name) return err->status;
    pt2_status st = pt2_rt_add_layer(ctx->arena, ctx->net, name, layer_class, out, err);
    if (st) return st;
    (*out)->node = (int)(node - ctx->graph->nodes);
    if (from) {
        (*out)->input_value = (int)(from - ctx->values);
        (*out)->from = pt2_arena_alloc_array(ctx->arena, 1, sizeof(char *), err);
        if (!(*out)->from) return err->status;
        (*out)->from[0] = from->layer;
        (*out)->num_from = 1;
    }
    return PT2_OK;
}

pt2_status pt2_lower_set_output(pt2_lower_context *ctx, const pt2_node *node, pt2_rt_layer *layer, int rank,
                                const int *dims, pt2_error *err) {
    if (!node->num_outputs || node->outputs[0].kind != PT2_ARG_TENSOR) return lower_fail(node, err, "no tensor output");
    pt2_lowered_value *v = &ctx->values[node->outputs[0].value_id];
    v->is_set = 1;
    v->layer = layer->name;
    v->rank = rank;
    memcpy(v->dims, dims, sizeof(int) * (size_t)rank);
    layer->rank = rank;
    memcpy(layer->dims, dims, sizeof(int) * (size_t)rank);
    return PT2_OK;
}

/* The user input becomes extern data "data": axis 0 is the batch, a symbolic axis the time,
 * and the last static axis the feature (RETURNN's own default for dim_tags). */
static pt2_status lower_input(pt2_lower_context *ctx, pt2_error *err) {
    const pt2_graph *g = ctx->graph;
    const pt2_graph_input *user = NULL;
    for (size_t i = 0; i < g->num_inputs; i++)
        if (g->inputs[i].kind == PT2_INPUT_USER) {
            if (user) return pt2_fail(err, PT2_ERR_UNSUPPORTED, "programs with several inputs are not lowered yet");
            user = &g->inputs[i];
        }
    if (!user) return pt2_fail(err, PT2_ERR_UNSUPPORTED, "the program has no tensor input");
    const pt2_value *meta = &g->values[user->value_id];
    pt2_lowered_value *v = &ctx->values[user->value_id];
    int time_axis = -1, feature_axis = -1;
    for (int a = 1; a < meta->rank; a++) {
        if (meta->sizes[a].is_symbolic) {
            if (time_axis >= 0) return pt2_fail(err, PT2_ERR_UNSUPPORTED, "input '%s' has more than one dynamic axis", meta->name);
            time_axis = a;
        } else {
            feature_axis = a;
        }
    }
    v->is_set = 1;
    v->layer = "data";
    v->rank = meta->rank;
    for (int a = 0; a < meta->rank; a++) {
        pt2_status st;
        if (a == 0) st = pt2_rt_add_dim(ctx->arena, ctx->net, "batch_dim", "batch", PT2_RT_DIM_BATCH, -1, &v->dims[a], err);
        else if (a == time_axis) st = pt2_rt_add_dim(ctx->arena, ctx->net, "time_dim", "time", PT2_RT_DIM_TIME, -1, &v->dims[a], err);
        else {
            const char *variable = pt2_arena_printf(ctx->arena, err, "input_axis%d_dim", a);
            if (!variable) return err->status;
            st = pt2_rt_add_dim(ctx->arena, ctx->net, variable, variable, a == feature_axis ? PT2_RT_DIM_FEATURE : PT2_RT_DIM_STATIC,
                                meta->sizes[a].value, &v->dims[a], err);
        }
        if (st) return st;
    }
    ctx->net->input_rank = meta->rank;
    memcpy(ctx->net->input_dims, v->dims, sizeof v->dims);
    ctx->net->input_dtype = meta->dtype;
    return PT2_OK;
}

static int can_lower(const char *target) { return pt2_op_find_lowering(target) != NULL; }

pt2_status pt2_lower_graph(pt2_arena *arena, const pt2_graph *graph, const pt2_run_context *run, pt2_rt_net *net,
                           pt2_lower_context *out, pt2_error *err) {
    memset(out, 0, sizeof *out);
    memset(net, 0, sizeof *net);
    out->arena = arena;
    out->graph = graph;
    out->run = run;
    out->net = net;
    pt2_error_set_file(err, graph->file_name);
    pt2_status st = pt2_graph_require_supported(graph, can_lower, "that cannot be lowered to RETURNN yet", err);
    if (st) return st;
    out->values = pt2_arena_alloc_array(arena, graph->num_values + 1, sizeof *out->values, err);
    if (!out->values) return err->status;
    if ((st = lower_input(out, err))) return st;
    for (size_t i = 0; i < graph->num_nodes; i++)
        if ((st = pt2_op_find_lowering(graph->nodes[i].target)->lower(out, &graph->nodes[i], err))) return st;
    const pt2_graph_output *result = NULL;
    for (size_t i = 0; i < graph->num_outputs; i++)
        if (graph->outputs[i].kind == PT2_OUTPUT_USER) {
            if (result) return pt2_fail(err, PT2_ERR_UNSUPPORTED, "programs with several outputs are not lowered yet");
            result = &graph->outputs[i];
        }
    if (!result || result->arg.kind != PT2_ARG_TENSOR) return pt2_fail(err, PT2_ERR_UNSUPPORTED, "the program has no tensor output");
    const pt2_lowered_value *v = &out->values[result->arg.value_id];
    pt2_rt_layer *copy;
    if ((st = pt2_rt_add_layer(arena, net, "output", "copy", &copy, err))) return st;
    copy->from = pt2_arena_alloc_array(arena, 1, sizeof(char *), err);
    if (!copy->from) return err->status;
    copy->from[0] = v->layer;
    copy->num_from = 1;
    copy->rank = v->rank;
    memcpy(copy->dims, v->dims, sizeof v->dims);
    out->output_layer = "output";
    return PT2_OK;
}
