#include "lower.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../naming/naming.h"
#include "../ops/elementwise.h"
#include "axes.h"
#include "op_notes.h"
#include "lowerings.h"

static void node_context(const pt2_node *node, pt2_error *err) {
    if (!err->op[0]) snprintf(err->op, sizeof err->op, "%s", node->target);
    if (!err->module_path[0] && node->module_depth)
        snprintf(err->module_path, sizeof err->module_path, "%s", node->module_stack[node->module_depth - 1].path);
    if (!err->source_line[0] && node->source_line)
        snprintf(err->source_line, sizeof err->source_line, "%s", node->source_line);
}

pt2_status pt2_lower_fail(const pt2_node *node, pt2_error *err, const char *fmt, ...) {
    char message[768];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    node_context(node, err);
    return pt2_fail(err, PT2_ERR_UNSUPPORTED, "node '%s' (%s): %s", node->name, node->target, message);
}

pt2_status pt2_lower_input(pt2_lower_context *ctx, const pt2_node *node, const char *name,
                           const pt2_lowered_value **out, pt2_error *err) {
    const pt2_arg *a = pt2_node_arg(node, name);
    if (!a || a->kind != PT2_ARG_TENSOR) return pt2_lower_fail(node, err, "argument '%s' is not a tensor", name);
    const pt2_lowered_value *v = &ctx->values[a->value_id];
    if (ctx->needs_real_axes && ctx->real_values[a->value_id].is_set) v = &ctx->real_values[a->value_id];
    *out = v->is_set ? v : NULL;
    if (!v->is_set && ctx->dynamic[a->value_id])
        return pt2_lower_fail(node, err, "argument '%s' comes from an op that was not lowered", name);
    return PT2_OK;
}

pt2_status pt2_lower_real_input(pt2_lower_context *ctx, const pt2_node *node, const char *name,
                                const pt2_lowered_value **out, pt2_error *err) {
    const pt2_arg *a = pt2_node_arg(node, name);
    if (!a || a->kind != PT2_ARG_TENSOR) return pt2_lower_fail(node, err, "argument '%s' is not a tensor", name);
    pt2_status st = pt2_axes_materialise(ctx, node, a->value_id, err);
    if (st) return st;
    int saved = ctx->needs_real_axes;
    ctx->needs_real_axes = 1;
    st = pt2_lower_input(ctx, node, name, out, err);
    ctx->needs_real_axes = saved;
    return st;
}

pt2_status pt2_lower_constant(pt2_lower_context *ctx, const pt2_node *node, const char *name, pt2_tensor *out,
                              int *present, pt2_error *err) {
    const pt2_arg *a = pt2_node_arg(node, name);
    *present = a && a->kind == PT2_ARG_TENSOR;
    if (!*present) return PT2_OK;
    if (ctx->dynamic[a->value_id])
        return pt2_lower_fail(node, err, "argument '%s' is computed from the input, where a constant is expected", name);
    if (!ctx->run->values[a->value_id].is_set) return pt2_lower_fail(node, err, "argument '%s' has no value", name);
    *out = ctx->run->values[a->value_id].tensor;
    return PT2_OK;
}

/* A layer in the network of `node`'s module call (the root when node is NULL), named `base`
 * made unique there. A node of a module called again shares its twin's parameters. */
static pt2_status new_named_layer(pt2_lower_context *ctx, const pt2_node *node, int computes_node, const char *base,
                                  const char *layer_class, pt2_rt_layer **out, pt2_error *err) {
    const pt2_node_place *place = node ? &ctx->places[node - ctx->graph->nodes] : NULL;
    const char *name = pt2_naming_unique(ctx->arena, ctx->net, place ? place->network : "", base, err);
    if (!name) return err->status;
    pt2_status st = pt2_rt_add_layer(ctx->arena, ctx->net, name, layer_class, out, err);
    if (st) return st;
    (*out)->node = node && computes_node ? (int)(node - ctx->graph->nodes) : -1;
    if (place && place->first_network) {
        const char *leaf = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
        if (place->repeated_layer && computes_node) leaf = place->base;
        (*out)->reuse = place->first_network[0] ? pt2_arena_printf(ctx->arena, err, "%s/%s", place->first_network, leaf)
                                                : pt2_arena_strdup(ctx->arena, leaf, err);
        if (!(*out)->reuse) return err->status;
    }
    return PT2_OK;
}

pt2_status pt2_lower_new_layer(pt2_lower_context *ctx, const pt2_node *node, const char *layer_class,
                               pt2_rt_layer **out, pt2_error *err) {
    return new_named_layer(ctx, node, 1, ctx->places[node - ctx->graph->nodes].base, layer_class, out, err);
}

pt2_status pt2_lower_new_layer_named(pt2_lower_context *ctx, const pt2_node *node, const char *base,
                                     const char *layer_class, pt2_rt_layer **out, pt2_error *err) {
    return new_named_layer(ctx, node, 0, base, layer_class, out, err);
}

pt2_status pt2_lower_add_source(pt2_lower_context *ctx, pt2_rt_layer *layer, const pt2_lowered_value *value,
                                pt2_error *err) {
    /* A constant's variable layer is no graph value: -1. */
    int inside = value >= ctx->values && value < ctx->values + ctx->graph->num_values;
    return pt2_rt_add_from(layer, value->layer, inside ? (int)(value - ctx->values) : -1, err);
}

static const pt2_rt_shape *source_shape(const pt2_lower_context *ctx, const char *name) {
    if (!strcmp(name, "data")) return &ctx->net->input;
    const pt2_rt_layer *l = pt2_rt_find_layer(ctx->net, name);
    return l ? &l->shape : NULL;
}

pt2_status pt2_lower_infer(pt2_lower_context *ctx, const pt2_node *node, pt2_rt_layer *layer, pt2_error *err) {
    pt2_rt_shape inputs[PT2_RT_MAX_FROM];
    for (size_t i = 0; i < layer->num_from; i++) {
        const pt2_rt_shape *s = source_shape(ctx, layer->from[i]);
        if (!s) return pt2_fail(err, PT2_ERR_INTERNAL, "layer '%s': unknown source '%s'", layer->name, layer->from[i]);
        inputs[i] = *s;
    }
    pt2_status st = pt2_rt_infer_layer(ctx->arena, ctx->net, layer, inputs, layer->num_from, err);
    if (st && node) node_context(node, err);
    return st;
}

pt2_status pt2_lower_set_output(pt2_lower_context *ctx, const pt2_node *node, pt2_rt_layer *layer, int rank,
                                const int *dims, pt2_error *err) {
    if (!node->num_outputs || node->outputs[0].kind != PT2_ARG_TENSOR)
        return pt2_lower_fail(node, err, "the op has no tensor output");
    /* Broadcast axes (core/lower/axes.h) are PyTorch axes the layer lacks. */
    pt2_status st = pt2_axes_check_output(ctx, node, node->outputs[0].value_id, layer, rank, dims, err);
    if (st) return st;
    pt2_lowered_value *v = &ctx->values[node->outputs[0].value_id];
    v->is_set = 1;
    v->layer = layer->name;
    v->shape = layer->shape;
    v->rank = rank;
    memcpy(v->dims, dims, sizeof(int) * (size_t)rank);
    layer->torch_rank = rank;
    memcpy(layer->torch_dims, dims, sizeof(int) * (size_t)rank);
    return PT2_OK;
}

pt2_status pt2_lower_alias(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *value,
                           pt2_error *err) {
    if (!node->num_outputs || node->outputs[0].kind != PT2_ARG_TENSOR)
        return pt2_lower_fail(node, err, "the op has no tensor output");
    ctx->values[node->outputs[0].value_id] = *value;
    return PT2_OK;
}

/* A graph input's name when the constant is one (a buffer "gain" gives a layer "gain"). */
static const char *constant_name(const pt2_lower_context *ctx, const pt2_node *node, const pt2_tensor *constant) {
    for (size_t i = 0; i < ctx->graph->num_inputs; i++) {
        const pt2_graph_input *in = &ctx->graph->inputs[i];
        if (in->value_id >= 0 && ctx->run->values[in->value_id].is_set &&
            ctx->run->values[in->value_id].tensor.storage == constant->storage && in->target)
            return in->target;
    }
    (void)node;
    return NULL;
}

/* A bool constant (GPT-Neo's causal mask buffer, sliced to the input's length): its 0/1 as a
 * float32 variable (the checkpoint holds float32 variables), then compared != 0, so that every
 * op reading it gets a bool value as PyTorch's. */
static pt2_status bool_constant_layer(pt2_lower_context *ctx, const pt2_node *node, const pt2_tensor *constant,
                                      const pt2_lowered_value *like, pt2_lowered_value *out, pt2_error *err) {
    pt2_tensor numbers;
    pt2_lowered_value variable;
    pt2_status st = pt2_tensor_cast(ctx->arena, constant, PT2_DTYPE_FLOAT32, &numbers, err);
    if (!st) st = pt2_lower_constant_layer(ctx, node, &numbers, like, &variable, err);
    if (st) return st;
    char base[240];
    snprintf(base, sizeof base, "%s_truth", pt2_rt_local_name(variable.layer));
    pt2_rt_layer *layer;
    st = pt2_lower_new_layer_named(ctx, node, base, "compare", &layer, err);
    if (!st) st = pt2_lower_add_source(ctx, layer, &variable, err);
    if (!st) st = pt2_rt_set_string(layer, "kind", "not_equal", err);
    if (!st) st = pt2_rt_set_float(layer, "value", 0.0, err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    *out = variable;
    out->layer = layer->name;
    out->shape = layer->shape;
    return PT2_OK;
}

pt2_status pt2_lower_constant_layer(pt2_lower_context *ctx, const pt2_node *node, const pt2_tensor *constant,
                                    const pt2_lowered_value *like, pt2_lowered_value *out, pt2_error *err) {
    if (constant->dtype == PT2_DTYPE_BOOL) return bool_constant_layer(ctx, node, constant, like, out, err);
    if (constant->dtype != PT2_DTYPE_FLOAT32) return pt2_lower_fail(node, err, "a %s constant is not lowered yet", pt2_dtype_name(constant->dtype));
    /* A constant of more axes than the data (ALiBi's slopes [H, 1, 1] times positions [T]) has
     * the leading ones to itself: a dim of the variable each, as PyTorch broadcasts the data. */
    int rank = like && like->rank > constant->rank ? like->rank : constant->rank;
    pt2_tensor value = *constant;
    int64_t shape[PT2_MAX_RANK];
    value.rank = 0;
    for (int a = 0; a < constant->rank; a++) {
        if (constant->shape[a] == 1) continue;
        int like_axis = like ? like->rank - constant->rank + a : -1;
        if (like_axis >= 0 && like->dims[like_axis] < 0) /* a broadcast axis of the data (core/lower/axes.h) */
            return pt2_lower_fail(node, err, "a constant of size %lld along an axis the data does not have in RETURNN",
                                  (long long)constant->shape[a]);
        shape[value.rank] = constant->shape[a];
        value.shape[value.rank] = constant->shape[a];
        value.strides[value.rank++] = constant->strides[a];
        if (like_axis >= 0 && ctx->net->dims[like->dims[like_axis]].kind != PT2_RT_DIM_STATIC)
            return pt2_lower_fail(node, err, "a constant spans a batch or time axis");
    }
    /* Named after the buffer or parameter it holds ("gain"), else after the op using it. */
    char base[240];
    const char *name = constant_name(ctx, node, constant);
    if (name) {
        size_t n = 0;
        for (const char *c = name; *c && n + 1 < sizeof base; c++) base[n++] = *c == '.' ? '_' : *c;
        base[n] = 0;
    } else {
        snprintf(base, sizeof base, "%s_constant", ctx->places[node - ctx->graph->nodes].base);
    }
    pt2_rt_layer *layer;
    pt2_status st = new_named_layer(ctx, node, 0, base, "variable", &layer, err);
    if (!st) st = pt2_rt_set_int_list(ctx->arena, layer, "shape", shape, (size_t)value.rank, err);
    if (!st) st = pt2_rt_set_bool(layer, "add_batch_axis", 0, err);
    if (!st) st = pt2_rt_add_param(layer, pt2_rt_local_name(layer->name), &value, err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    /* Its PyTorch view has the rank of `like`; the dropped size-1 axes have no dim (-1). */
    memset(out, 0, sizeof *out);
    out->is_set = 1;
    out->layer = layer->name;
    out->shape = layer->shape;
    out->rank = rank;
    for (int a = 0; a < rank; a++) out->dims[a] = -1;
    for (int a = 0, kept = 0; a < constant->rank; a++)
        if (constant->shape[a] != 1) out->dims[rank - constant->rank + a] = layer->shape.dims[kept++];
    return PT2_OK;
}

void pt2_lower_format_number(char *text, size_t size, double number, pt2_dtype dtype) {
    if ((dtype == PT2_DTYPE_INT64 || dtype == PT2_DTYPE_INT32) && number == (double)(long long)number)
        snprintf(text, size, "%lld", (long long)number);
    else pt2_format_double(text, size, number);
}

pt2_status pt2_lower_eval(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in,
                          const char *form, double number, pt2_error *err) {
    const char *code = pt2_rt_eval_form(form);
    if (!code) return pt2_fail(err, PT2_ERR_INTERNAL, "unknown eval form '%s'", form);
    char text[40];
    pt2_lower_format_number(text, sizeof text, number, in->shape.dtype);
    const char *filled = pt2_arena_printf(ctx->arena, err, code, text);
    pt2_rt_layer *layer;
    if (!filled) return err->status;
    pt2_status st = pt2_lower_new_layer(ctx, node, "eval", &layer, err);
    if (!st) st = pt2_lower_add_source(ctx, layer, in, err);
    if (!st) st = pt2_rt_set_string(layer, "eval", filled, err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (!st) st = pt2_lower_set_output(ctx, node, layer, in->rank, in->dims, err);
    return st;
}

/* The user input becomes extern data "data": axis 0 is the batch, a symbolic axis the time,
 * and the last static axis the feature (RETURNN's default for shape-based extern data). Integer
 * input is sparse (indices, e.g. into an embedding); its vocabulary size is set by the layer
 * that consumes it. */
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
    pt2_rt_shape *shape = &ctx->net->input;
    int sparse = meta->dtype == PT2_DTYPE_INT64 || meta->dtype == PT2_DTYPE_INT32;
    if (meta->rank < 1) return pt2_fail(err, PT2_ERR_UNSUPPORTED, "input '%s' has no batch axis", meta->name);
    if (!sparse && meta->dtype != PT2_DTYPE_FLOAT32)
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "input '%s' is %s; float32 or integer indices are lowered", meta->name,
                        pt2_dtype_name(meta->dtype));
    memset(shape, 0, sizeof *shape);
    shape->rank = meta->rank;
    shape->feature_dim = shape->sparse_dim = -1;
    shape->dtype = meta->dtype;
    int time_axis = -1;
    for (int a = 1; a < meta->rank; a++)
        if (meta->sizes[a].is_symbolic) {
            if (time_axis >= 0) return pt2_fail(err, PT2_ERR_UNSUPPORTED, "input '%s' has more than one dynamic axis", meta->name);
            time_axis = a;
        }
    for (int a = 0; a < meta->rank; a++) {
        pt2_status st;
        if (a == 0) st = pt2_rt_add_dim(ctx->arena, ctx->net, "batch", PT2_RT_DIM_BATCH, -1, &shape->dims[a], err);
        else if (a == time_axis)
            st = pt2_rt_add_dim(ctx->arena, ctx->net, "time:var:extern_data:data", PT2_RT_DIM_DYNAMIC, -1, &shape->dims[a], err);
        else {
            const char *description = pt2_arena_printf(ctx->arena, err, "spatial%d:static%lld:data", a - 1, (long long)meta->sizes[a].value);
            if (!description) return err->status;
            st = pt2_rt_add_dim(ctx->arena, ctx->net, description, PT2_RT_DIM_STATIC, meta->sizes[a].value, &shape->dims[a], err);
            if (!st && !sparse) shape->feature_dim = shape->dims[a];
        }
        if (st) return st;
    }
    if (shape->feature_dim >= 0) ctx->net->dims[shape->feature_dim].description = "feature:data";
    if (sparse) {
        pt2_status st = pt2_rt_add_dim(ctx->arena, ctx->net, "sparse:data", PT2_RT_DIM_STATIC, -1, &shape->sparse_dim, err);
        if (st) return st;
    }
    v->is_set = 1;
    v->layer = "data";
    v->shape = *shape;
    v->rank = meta->rank;
    memcpy(v->dims, shape->dims, sizeof v->dims);
    return PT2_OK;
}

static int can_lower(const char *target) { return pt2_op_find_lowering(target) != NULL; }

int pt2_module_call_computes(const pt2_module_call *call, int value_id) {
    for (size_t i = 0; i < call->count; i++)
        for (size_t o = 0; o < call->nodes[i]->num_outputs; o++)
            if (call->nodes[i]->outputs[o].value_id == value_id &&
                (call->nodes[i]->outputs[o].kind == PT2_ARG_TENSOR || call->nodes[i]->outputs[o].kind == PT2_ARG_SYM_INT))
                return 1;
    return 0;
}

/* The outermost module call of a type with a module lowering around each node (its frame
 * index, or -1); the node is then lowered with its call, not by itself. */
static int module_lowered_frame(const pt2_node *node) {
    for (size_t f = 0; f < node->module_depth; f++)
        if (node->module_stack[f].type && pt2_find_module_lowering(node->module_stack[f].type)) return (int)f;
    return -1;
}

static pt2_status lower_module_call(pt2_lower_context *ctx, const unsigned char *node_dynamic, size_t first,
                                    pt2_error *err) {
    const pt2_graph *g = ctx->graph;
    const pt2_module_frame *frame = &g->nodes[first].module_stack[module_lowered_frame(&g->nodes[first])];
    pt2_module_call call = {frame->key, frame->path, frame->type, 0, NULL};
    call.nodes = pt2_arena_alloc_array(ctx->arena, g->num_nodes + 1, sizeof *call.nodes, err);
    if (!call.nodes) return err->status;
    for (size_t i = first; i < g->num_nodes; i++) {
        int f = module_lowered_frame(&g->nodes[i]);
        if (node_dynamic[i] && f >= 0 && !strcmp(g->nodes[i].module_stack[f].key, frame->key)) call.nodes[call.count++] = &g->nodes[i];
    }
    const pt2_module_lowering *lowering = pt2_find_module_lowering(frame->type);
    /* A module lowered as a whole takes its inputs with real axes (core/lower/axes.h). */
    pt2_status st = PT2_OK;
    for (size_t i = 0; i < call.count && !st; i++)
        for (size_t a = 0; a < call.nodes[i]->num_inputs && !st; a++) {
            const pt2_arg *arg = &call.nodes[i]->inputs[a].arg;
            if (arg->kind == PT2_ARG_TENSOR && ctx->dynamic[arg->value_id] && !pt2_module_call_computes(&call, arg->value_id))
                st = pt2_axes_materialise(ctx, call.nodes[i], arg->value_id, err);
        }
    if (st) return st;
    size_t layers_before = ctx->net->num_layers;
    ctx->needs_real_axes = 1;
    st = lowering->lower(ctx, &call, err);
    ctx->needs_real_axes = 0;
    for (size_t l = layers_before; !st && l < ctx->net->num_layers; l++)
        if (!pt2_lowering_emits(lowering->emits, ctx->net->layers[l].layer_class))
            return pt2_fail(err, PT2_ERR_INTERNAL, "the lowering of %s added a '%s' layer, which its table entry does not list",
                            frame->type, ctx->net->layers[l].layer_class);
    return st;
}

/* Has every op of the module call `key` (from node `first` on) a lowering of its own? */
static int module_ops_lower(const pt2_graph *g, const unsigned char *node_dynamic, size_t first, const char *key) {
    for (size_t j = first; j < g->num_nodes; j++) {
        int f = module_lowered_frame(&g->nodes[j]);
        if (node_dynamic[j] && f >= 0 && !strcmp(g->nodes[j].module_stack[f].key, key) && !can_lower(g->nodes[j].target))
            return 0;
    }
    return 1;
}

static int arg_is_dynamic(const pt2_lower_context *ctx, const pt2_arg *a) {
    switch (a->kind) {
    case PT2_ARG_TENSOR:
    case PT2_ARG_SYM_INT:
    case PT2_ARG_SYM_BOOL:
    case PT2_ARG_SYM_FLOAT: return a->value_id >= 0 && ctx->dynamic[a->value_id];
    case PT2_ARG_TENSORS:
    case PT2_ARG_OPTIONAL_TENSORS:
        for (size_t i = 0; i < a->count; i++)
            if (a->value_ids[i] >= 0 && ctx->dynamic[a->value_ids[i]]) return 1;
        return 0;
    case PT2_ARG_SYM_INTS:
        for (size_t i = 0; i < a->count; i++)
            if (a->syms[i].is_value && ctx->dynamic[a->syms[i].value_id]) return 1;
        return 0;
    default: return 0;
    }
}

/* Does the argument read a value in `marked`? */
static int arg_touches(const pt2_arg *a, const unsigned char *marked) {
    switch (a->kind) {
    case PT2_ARG_TENSOR:
    case PT2_ARG_SYM_INT: return a->value_id >= 0 && marked[a->value_id];
    case PT2_ARG_TENSORS:
    case PT2_ARG_OPTIONAL_TENSORS:
        for (size_t i = 0; i < a->count; i++)
            if (a->value_ids[i] >= 0 && marked[a->value_ids[i]]) return 1;
        return 0;
    default: return 0;
    }
}

static void mark_failed(const pt2_node *node, unsigned char *failed) {
    for (size_t o = 0; o < node->num_outputs; o++) {
        const pt2_arg *out = &node->outputs[o];
        if (out->kind == PT2_ARG_TENSOR && out->value_id >= 0) failed[out->value_id] = 1;
        if (out->kind == PT2_ARG_TENSORS)
            for (size_t i = 0; i < out->count; i++)
                if (out->value_ids[i] >= 0) failed[out->value_ids[i]] = 1;
    }
}

static void mark_outputs(pt2_lower_context *ctx, const pt2_node *node) {
    for (size_t o = 0; o < node->num_outputs; o++) {
        const pt2_arg *out = &node->outputs[o];
        if (out->value_id >= 0 && (out->kind == PT2_ARG_TENSOR || out->kind == PT2_ARG_SYM_INT ||
                                   out->kind == PT2_ARG_SYM_BOOL || out->kind == PT2_ARG_SYM_FLOAT))
            ctx->dynamic[out->value_id] = 1;
        if (out->kind == PT2_ARG_TENSORS)
            for (size_t i = 0; i < out->count; i++)
                if (out->value_ids[i] >= 0) ctx->dynamic[out->value_ids[i]] = 1;
    }
}

/* A pt2_arg_each_read visitor: marks the value in the byte array `user`. */
static void mark_read(void *user, int id) { ((unsigned char *)user)[id] = 1; }

/* Does the op write into an input (aten.add_, copy_, fill_: its name ends in '_', but not a
 * dunder such as __and__)? Its effect is the write, whether or not its result is read. */
static int writes_an_input(const char *target) {
    if (strncmp(target, "aten.", 5)) return 0;
    const char *name = target + 5;
    size_t length = strcspn(name, ".");
    return length > 1 && name[length - 1] == '_' && strncmp(name, "__", 2);
}

/* Nodes whose results nothing reads (on the way to no output) are not lowered: e.g. the reshape
 * a recomposed linear no longer reads (core/graph/recompose.h). A node without outputs (an
 * assertion) stays, and so does one writing into an input. */
static pt2_status drop_unread(pt2_lower_context *ctx, unsigned char *node_dynamic, pt2_error *err) {
    const pt2_graph *graph = ctx->graph;
    unsigned char *used = pt2_arena_alloc(ctx->arena, graph->num_values + 1, err);
    if (!used) return err->status;
    for (size_t o = 0; o < graph->num_outputs; o++) pt2_arg_each_read(&graph->outputs[o].arg, mark_read, used);
    for (size_t n = graph->num_nodes; n-- > 0;) {
        const pt2_node *node = &graph->nodes[n];
        unsigned char read = 0, outputs = 0;
        for (size_t o = 0; o < node->num_outputs; o++) {
            const pt2_arg *out = &node->outputs[o];
            if (out->kind == PT2_ARG_NONE) continue;
            outputs = 1;
            if (out->kind == PT2_ARG_TENSORS || out->kind == PT2_ARG_OPTIONAL_TENSORS) {
                for (size_t i = 0; i < out->count; i++) read |= out->value_ids[i] >= 0 && used[out->value_ids[i]];
            } else if (out->value_id >= 0) {
                read |= used[out->value_id];
            }
        }
        if (outputs && !read && !writes_an_input(node->target)) {
            node_dynamic[n] = 0;
            continue;
        }
        for (size_t a = 0; a < node->num_inputs; a++) pt2_arg_each_read(&node->inputs[a].arg, mark_read, used);
    }
    return PT2_OK;
}

/* An argument that gives the op only a dtype (type_as's other): a constant converted to the
 * dtype of data is a constant (DeBERTa-v2's torch.tensor(mid).type_as(relative_pos)). */
static int gives_only_a_dtype(const pt2_node *node, const pt2_named_arg *arg) {
    return !strcmp(node->target, "aten.type_as.default") && arg->name && !strcmp(arg->name, "other");
}

/* Nodes that depend on the input, in graph order; the rest fold into constants. */
static void find_dynamic(pt2_lower_context *ctx, unsigned char *node_dynamic) {
    for (size_t i = 0; i < ctx->graph->num_inputs; i++)
        if (ctx->graph->inputs[i].kind == PT2_INPUT_USER && ctx->graph->inputs[i].value_id >= 0)
            ctx->dynamic[ctx->graph->inputs[i].value_id] = 1;
    for (size_t n = 0; n < ctx->graph->num_nodes; n++) {
        const pt2_node *node = &ctx->graph->nodes[n];
        for (size_t a = 0; a < node->num_inputs && !node_dynamic[n]; a++)
            node_dynamic[n] = (unsigned char)(!gives_only_a_dtype(node, &node->inputs[a]) &&
                                              arg_is_dynamic(ctx, &node->inputs[a].arg));
        if (node_dynamic[n]) mark_outputs(ctx, node);
    }
}

/* Is `name` free for a new layer at the top of the network (no layer and no subnetwork of it)? */
static int top_name_free(const pt2_rt_net *net, const char *name) {
    size_t n = strlen(name);
    for (size_t i = 0; i < net->num_layers; i++)
        if (!strncmp(net->layers[i].name, name, n) && (!net->layers[i].name[n] || net->layers[i].name[n] == '/')) return 0;
    return 1;
}

/* The layer name of user output k (k >= 1): "output_<name>" from the program's output spec,
 * else "output_<k>", made unique among the top-level names. */
static const char *extra_output_layer_name(pt2_lower_context *ctx, const pt2_graph_output *result, size_t k,
                                           pt2_error *err) {
    const char *base = result->name ? pt2_arena_printf(ctx->arena, err, "output_%s", result->name)
                                    : pt2_arena_printf(ctx->arena, err, "output_%zu", k);
    if (!base) return NULL;
    const char *name = base;
    for (int n = 2; name && !top_name_free(ctx->net, name); n++) name = pt2_arena_printf(ctx->arena, err, "%s_%d", base, n);
    return name;
}

/* The program's user outputs become the network's results: the first is RETURNN's "output"
 * layer; every further one a copy layer marked is_output_layer, so that RETURNN builds it
 * although no layer reads it. Each gets every PyTorch axis as a real one. An output that is
 * another output again, or the input itself, is a copy like any other; an output that does not
 * depend on the input has no layer to copy and is refused by name. */
static pt2_status lower_outputs(pt2_lower_context *ctx, pt2_error *err) {
    const pt2_graph *graph = ctx->graph;
    pt2_rt_net *net = ctx->net;
    size_t count = 0;
    for (size_t i = 0; i < graph->num_outputs; i++) count += graph->outputs[i].kind == PT2_OUTPUT_USER;
    if (!count) return pt2_fail(err, PT2_ERR_UNSUPPORTED, "the program has no tensor output");
    if (count > PT2_RT_MAX_OUTPUTS)
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "the program has %zu outputs; pt2returnn converts at most %d", count,
                        PT2_RT_MAX_OUTPUTS);
    net->outputs = pt2_arena_alloc_array(ctx->arena, count, sizeof *net->outputs, err);
    if (!net->outputs) return err->status;
    net->num_outputs = 0;
    for (size_t i = 0; i < graph->num_outputs; i++) {
        const pt2_graph_output *result = &graph->outputs[i];
        if (result->kind != PT2_OUTPUT_USER) continue;
        size_t k = net->num_outputs;
        char label[160];
        if (count == 1) snprintf(label, sizeof label, "the program's output");
        else if (result->name) snprintf(label, sizeof label, "output %zu ('%.100s') of the program", k, result->name);
        else snprintf(label, sizeof label, "output %zu of the program", k);
        if (result->arg.kind != PT2_ARG_TENSOR)
            return pt2_fail(err, PT2_ERR_UNSUPPORTED, "%s is not a tensor (RETURNN layers give tensors)", label);
        int id = result->arg.value_id;
        const pt2_lowered_value *v = &ctx->values[id];
        if (!v->is_set)
            return pt2_fail(err, PT2_ERR_UNSUPPORTED, "%s does not depend on the input (a constant: no RETURNN layer "
                            "computes it)", label);
        pt2_status st = pt2_axes_materialise(ctx, NULL, id, err);
        if (st) return st;
        if (ctx->real_values[id].is_set) v = &ctx->real_values[id];
        if (pt2_axes_hidden_batch(ctx, v) >= 0)
            return pt2_fail(err, PT2_ERR_UNSUPPORTED, "%s has no axis for the batch: a view merged the batch of the "
                            "example's one sequence with other axes (its rows [T, F] of [1, T, F]) and nothing "
                            "viewed it back; RETURNN's output keeps the batch, so return it with one (e.g. "
                            ".view(1, T, F) or .unsqueeze(0))", label);
        const char *layer_name = k ? extra_output_layer_name(ctx, result, k, err) : "output";
        if (!layer_name) return err->status;
        pt2_rt_layer *copy;
        if ((st = pt2_rt_add_layer(ctx->arena, net, layer_name, "copy", &copy, err))) return st;
        if ((st = pt2_lower_add_source(ctx, copy, v, err))) return st;
        if (k && (st = pt2_rt_set_bool(copy, "is_output_layer", 1, err))) return st;
        if ((st = pt2_lower_infer(ctx, NULL, copy, err))) return st;
        copy->torch_rank = v->rank;
        memcpy(copy->torch_dims, v->dims, sizeof v->dims);
        pt2_rt_output *o = &net->outputs[net->num_outputs++];
        o->layer = copy->name;
        o->name = result->name ? result->name : copy->name;
        o->torch_rank = v->rank;
        memcpy(o->torch_dims, v->dims, sizeof v->dims);
    }
    net->output = "output";
    net->output_torch_rank = net->outputs[0].torch_rank;
    memcpy(net->output_torch_dims, net->outputs[0].torch_dims, sizeof net->output_torch_dims);
    return PT2_OK;
}

/* Where the lowering stands (pt2_lower_begin .. pt2_lower_finish). */
struct pt2_lower_progress {
    unsigned char *node_dynamic; /* per node: on the input's path (and read) */
    unsigned char *by_op;        /* per node: lowered by itself, not with a module call */
    unsigned char *failed;       /* per value: made by a node that was not lowered */
    const char **done_calls;     /* module calls lowered (or tried) already */
    const char *waiting_for;     /* the module call whose last node the lowering waits for */
    size_t waiting_until;        /* that last node */
    size_t num_done, next, num_unknown, num_refused;
    char unknown[900], refused[1800], module_refusal[400];
};

int pt2_lower_node_is_lowered(const pt2_lower_context *ctx, const pt2_node *node) {
    return ctx->progress && ctx->progress->node_dynamic[node - ctx->graph->nodes];
}

/* The last node of the module call `key` that node `first` starts. */
static size_t last_node_of_call(const pt2_graph *graph, const unsigned char *node_dynamic, size_t first, const char *key) {
    size_t last = first;
    for (size_t j = first; j < graph->num_nodes; j++) {
        int g = module_lowered_frame(&graph->nodes[j]);
        if (node_dynamic[j] && g >= 0 && !strcmp(graph->nodes[j].module_stack[g].key, key)) last = j;
    }
    return last;
}

/* The key of the module call that lowers node i as a whole, or NULL (lowered by itself). */
static const char *module_call_key(const struct pt2_lower_progress *p, const pt2_node *node, size_t i) {
    int f = p->by_op[i] ? -1 : module_lowered_frame(node);
    return f < 0 ? NULL : node->module_stack[f].key;
}

static int call_done(const struct pt2_lower_progress *p, const char *key) {
    for (size_t k = 0; k < p->num_done; k++)
        if (!strcmp(p->done_calls[k], key)) return 1;
    return 0;
}

pt2_status pt2_lower_begin(pt2_arena *arena, const pt2_graph *graph, pt2_run_context *run, pt2_rt_net *net,
                           pt2_lower_context *out, pt2_error *err) {
    memset(out, 0, sizeof *out);
    memset(net, 0, sizeof *net);
    out->arena = arena;
    out->graph = graph;
    out->run = run;
    out->net = net;
    pt2_error_set_file(err, graph->file_name);
    struct pt2_lower_progress *p = pt2_arena_alloc(arena, sizeof *p, err);
    if (!p) return err->status;
    out->progress = p;
    out->values = pt2_arena_alloc_array(arena, graph->num_values + 1, sizeof *out->values, err);
    out->dynamic = pt2_arena_alloc(arena, graph->num_values + 1, err);
    out->real_values = pt2_arena_alloc_array(arena, graph->num_values + 1, sizeof *out->real_values, err);
    p->node_dynamic = pt2_arena_alloc(arena, graph->num_nodes + 1, err);
    if (!out->values || !out->dynamic || !out->real_values || !p->node_dynamic) return err->status;
    pt2_status st = lower_input(out, err);
    if (st) return st;
    /* Only ops on the input's path are lowered; the rest fold into constants. */
    find_dynamic(out, p->node_dynamic);
    if ((st = drop_unread(out, p->node_dynamic, err))) return st;
    /* Nodes inside a module lowered as a whole are the module lowering's business. */
    p->by_op = pt2_arena_alloc(arena, graph->num_nodes + 1, err);
    p->done_calls = pt2_arena_alloc_array(arena, graph->num_nodes + 1, sizeof(char *), err);
    p->failed = pt2_arena_alloc(arena, graph->num_values + 1, err);
    if (!p->by_op || !p->done_calls || !p->failed) return err->status;
    for (size_t i = 0; i < graph->num_nodes; i++)
        p->by_op[i] = p->node_dynamic[i] && module_lowered_frame(&graph->nodes[i]) < 0;
    /* Every op without a lowering, and every op whose lowering refuses its axes (a pattern RETURNN
     * cannot express), is reported in one list; ops reading their results are not lowered. */
    p->num_unknown = pt2_lower_describe_unlowerable(graph, p->by_op, p->unknown, sizeof p->unknown);
    return pt2_naming_place_nodes(arena, graph, p->node_dynamic, &out->places, err);
}

void pt2_lower_plan(const pt2_lower_context *ctx, int32_t *lowered_after) {
    const struct pt2_lower_progress *p = ctx->progress;
    const pt2_graph *graph = ctx->graph;
    int32_t point = -1, call_last = -1;
    const char *call = NULL; /* the module call of the previous node, whose last node is call_last */
    for (size_t i = 0; i < graph->num_nodes; i++) {
        int32_t waits = (int32_t)i;
        const char *key = p->node_dynamic[i] ? module_call_key(p, &graph->nodes[i], i) : NULL;
        if (key) {
            if (!call || strcmp(call, key)) call = key, call_last = (int32_t)last_node_of_call(graph, p->node_dynamic, i, key);
            waits = call_last;
        }
        if (waits > point) point = waits;
        lowered_after[i] = point;
    }
}

pt2_status pt2_lower_advance(pt2_lower_context *ctx, size_t ran, pt2_error *err) {
    struct pt2_lower_progress *p = ctx->progress;
    const pt2_graph *graph = ctx->graph;
    pt2_rt_net *net = ctx->net;
    unsigned char *by_op = p->by_op, *node_dynamic = p->node_dynamic;
    for (; p->next < graph->num_nodes && p->next <= ran; p->next++) {
        size_t i = p->next;
        if (!node_dynamic[i]) continue;
        const pt2_node *node = &graph->nodes[i];
        int skip = by_op[i] && !can_lower(node->target);
        for (size_t a = 0; a < node->num_inputs && !skip; a++) skip = arg_touches(&node->inputs[a].arg, p->failed);
        if (skip) {
            mark_failed(node, p->failed);
            continue;
        }
        const char *key = module_call_key(p, node, i);
        if (key) {
            if (call_done(p, key)) continue;
            /* A module lowered as a whole waits until the run has computed all of it (its last
             * node found once, not after every node while it waits). */
            if (p->waiting_for != key) p->waiting_for = key, p->waiting_until = last_node_of_call(graph, node_dynamic, i, key);
            if (p->waiting_until > ran) return PT2_OK;
            p->done_calls[p->num_done++] = key;
            size_t layers_before = net->num_layers;
            pt2_status st = lower_module_call(ctx, node_dynamic, i, err);
            if (st != PT2_ERR_UNSUPPORTED) {
                if (st) return st;
                continue;
            }
            /* Not the module's usual form (a decomposed program's ops, say): its ops are lowered
             * one by one instead, when each has a lowering; else the module's refusal stands. */
            if (!module_ops_lower(graph, node_dynamic, i, key)) return st;
            snprintf(p->module_refusal, sizeof p->module_refusal, "%.390s", err->message);
            net->num_layers = layers_before;
            pt2_error_clear(err);
            pt2_error_set_file(err, graph->file_name);
            for (size_t j = i; j < graph->num_nodes; j++) {
                int g = module_lowered_frame(&graph->nodes[j]);
                if (node_dynamic[j] && g >= 0 && !strcmp(graph->nodes[j].module_stack[g].key, key)) by_op[j] = 1;
            }
        }
        const pt2_op_lowering *lowering = pt2_op_find_lowering(node->target);
        /* An op that does not follow broadcast axes (core/lower/axes.h) gets real ones. */
        pt2_status st = PT2_OK;
        ctx->needs_real_axes = !pt2_axes_op_follows_broadcast(node->target);
        if (ctx->needs_real_axes)
            for (size_t a = 0; a < node->num_inputs && !st; a++) {
                const pt2_arg *arg = &node->inputs[a].arg;
                if (arg->kind == PT2_ARG_TENSOR) st = pt2_axes_materialise(ctx, node, arg->value_id, err);
                for (size_t k = 0; arg->kind == PT2_ARG_TENSORS && k < arg->count && !st; k++)
                    st = pt2_axes_materialise(ctx, node, arg->value_ids[k], err);
            }
        size_t layers_before = net->num_layers;
        if (!st) st = lowering->lower(ctx, node, err);
        ctx->needs_real_axes = 0;
        for (size_t l = layers_before; !st && l < net->num_layers; l++)
            if (!pt2_lowering_emits(lowering->emits, net->layers[l].layer_class) &&
                !pt2_lowering_emits(PT2_AXES_MATERIALISE_EMITS, net->layers[l].layer_class) &&
                !(pt2_lowering_emits(lowering->emits, "variable") &&
                  pt2_lowering_emits(PT2_LOWER_CONSTANT_EMITS, net->layers[l].layer_class)))
                return pt2_fail(err, PT2_ERR_INTERNAL, "the lowering of %s added a '%s' layer, which its table entry does not "
                                "list", node->target, net->layers[l].layer_class);
        if (st == PT2_ERR_UNSUPPORTED) {
            char *refused = p->refused;
            size_t used = strlen(refused), size = sizeof p->refused;
            int by_module = p->module_refusal[0] && by_op[i] && module_lowered_frame(node) >= 0;
            if (used + 1 < size)
                snprintf(refused + used, size - used, "%s%.600s (in '%.200s'%s%.300s)%s%.400s", used ? "; " : "",
                         err->message, err->module_path, err->source_line[0] ? " at " : "", err->source_line,
                         by_module ? ", lowered op by op as the module as a whole was not: " : "",
                         by_module ? p->module_refusal : "");
            p->num_refused++;
            pt2_error_clear(err);
            pt2_error_set_file(err, graph->file_name);
            mark_failed(node, p->failed);
            continue;
        }
        if (st) return st;
    }
    return PT2_OK;
}

/* Whether some input size of the program is dynamic (a symbol): without one, RETURNN's data has
 * no time axis, which the lowerings of sequence ops (conv, pools, padding over the time) need. */
static int has_dynamic_input(const pt2_graph *graph) {
    for (size_t i = 0; i < graph->num_inputs; i++) {
        const pt2_graph_input *in = &graph->inputs[i];
        if (in->kind != PT2_INPUT_USER || in->has_data) continue;
        const pt2_value *v = &graph->values[in->value_id];
        for (int a = 0; a < v->rank; a++)
            if (v->sizes[a].is_symbolic) return 1;
    }
    return 0;
}

pt2_status pt2_lower_finish(pt2_lower_context *out, pt2_error *err) {
    pt2_status st = pt2_lower_advance(out, out->graph->num_nodes, err);
    if (st) return st;
    struct pt2_lower_progress *p = out->progress;
    size_t num_unknown = p->num_unknown, num_refused = p->num_refused;
    const char *unknown = p->unknown, *refused = p->refused;
    pt2_error_set_file(err, out->graph->file_name);
    /* A refusal on the axes of a program exported with every size fixed is most likely that: say
     * how to export it with a time axis. */
    const char *hint = num_refused && !has_dynamic_input(out->graph)
                           ? "; the export fixed every input size, so RETURNN's data has no time axis: export with "
                             "dynamic_shapes naming the time axis of the input, e.g. ({2: torch.export.Dim(\"time\")},) for "
                             "[batch, channels, time] or ({1: torch.export.Dim(\"time\")},) for [batch, time, features]"
                           : "";
    /* the refusals shortened where needed, so that the hint fits the message */
    int room = (int)sizeof err->message - (int)strlen(hint) - 120;
    if (num_unknown || num_refused) {
        if (num_unknown && num_refused)
            return pt2_fail(err, PT2_ERR_UNSUPPORTED, "%zu node%s ops that cannot be lowered to RETURNN yet: %s; and %zu "
                            "cannot be lowered on their axes: %.*s%s", num_unknown, num_unknown == 1 ? " uses" : "s use",
                            unknown, num_refused, room, refused, hint);
        if (num_unknown)
            return pt2_fail(err, PT2_ERR_UNSUPPORTED, "%zu node%s ops that cannot be lowered to RETURNN yet: %s",
                            num_unknown, num_unknown == 1 ? " uses" : "s use", unknown);
        if (num_refused == 1) return pt2_fail(err, PT2_ERR_UNSUPPORTED, "%.*s%s", room, refused, hint);
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "%zu nodes cannot be lowered on their axes: %.*s%s", num_refused, room,
                        refused, hint);
    }
    return lower_outputs(out, err);
}

pt2_status pt2_lower_graph(pt2_arena *arena, const pt2_graph *graph, pt2_run_context *run, pt2_rt_net *net,
                           pt2_lower_context *out, pt2_error *err) {
    pt2_status st = pt2_lower_begin(arena, graph, run, net, out, err);
    return st ? st : pt2_lower_finish(out, err);
}
