#include "executor.h"
#include "guards.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ops/kernels.h"
#include "../ops/registry.h"

/* ---------------------------------------------------------------- errors with node context */

static pt2_status node_fail(pt2_run_context *ctx, const pt2_node *node, pt2_error *err, pt2_status status,
                            const char *fmt, const char *a, const char *b) {
    (void)ctx;
    if (!err->op[0]) snprintf(err->op, sizeof err->op, "%s", node->target);
    if (!err->module_path[0] && node->module_depth)
        snprintf(err->module_path, sizeof err->module_path, "%s", node->module_stack[node->module_depth - 1].path);
    if (!err->source_line[0] && node->source_line)
        snprintf(err->source_line, sizeof err->source_line, "%s", node->source_line);
    char message[600];
    snprintf(message, sizeof message, fmt, a, b);
    return pt2_fail(err, status, "node '%s': %s", node->name, message);
}

static const pt2_arg *need_arg(pt2_run_context *ctx, const pt2_node *node, const char *name, pt2_error *err) {
    const pt2_arg *a = pt2_node_arg(node, name);
    if (!a) node_fail(ctx, node, err, PT2_ERR_INPUT, "has no argument '%s'%s", name, "");
    return a;
}

/* ---------------------------------------------------------------- argument helpers */

static pt2_status tensor_value(pt2_run_context *ctx, const pt2_node *node, int id, pt2_tensor *out, pt2_error *err) {
    const pt2_run_value *v = &ctx->values[id];
    if (!v->is_set)
        return node_fail(ctx, node, err, PT2_ERR_INTERNAL, "reads '%s' before it is computed%s",
                         ctx->graph->values[id].name, "");
    if (v->released) /* a plan that released it too early: a bug, never a stale read */
        return node_fail(ctx, node, err, PT2_ERR_INTERNAL, "reads '%s' after its release%s", ctx->graph->values[id].name, "");
    *out = v->tensor;
    return PT2_OK;
}

pt2_status pt2_op_tensor(pt2_run_context *ctx, const pt2_node *node, const char *name, pt2_tensor *out,
                         pt2_error *err) {
    int present = 0;
    pt2_status st = pt2_op_optional_tensor(ctx, node, name, out, &present, err);
    if (st) return st;
    if (!present) return node_fail(ctx, node, err, PT2_ERR_INPUT, "argument '%s' is None, expected a tensor%s", name, "");
    return PT2_OK;
}

pt2_status pt2_op_optional_tensor(pt2_run_context *ctx, const pt2_node *node, const char *name, pt2_tensor *out,
                                  int *present, pt2_error *err) {
    const pt2_arg *a = need_arg(ctx, node, name, err);
    if (!a) return err->status;
    *present = a->kind == PT2_ARG_TENSOR;
    if (a->kind == PT2_ARG_NONE) return PT2_OK;
    if (a->kind != PT2_ARG_TENSOR)
        return node_fail(ctx, node, err, PT2_ERR_UNSUPPORTED, "argument '%s' is not a tensor%s", name, "");
    return tensor_value(ctx, node, a->value_id, out, err);
}

pt2_status pt2_op_tensor_list(pt2_run_context *ctx, const pt2_node *node, const char *name, pt2_tensor **out,
                              size_t *count, pt2_error *err) {
    const pt2_arg *a = need_arg(ctx, node, name, err);
    if (!a) return err->status;
    if (a->kind != PT2_ARG_TENSORS && a->kind != PT2_ARG_OPTIONAL_TENSORS)
        return node_fail(ctx, node, err, PT2_ERR_UNSUPPORTED, "argument '%s' is not a tensor list%s", name, "");
    *out = pt2_arena_alloc_array(ctx->arena, a->count + 1, sizeof **out, err);
    if (!*out) return err->status;
    for (size_t i = 0; i < a->count; i++) {
        if (a->value_ids[i] < 0) {
            (*out)[i].rank = -1;
            continue;
        }
        pt2_status st = tensor_value(ctx, node, a->value_ids[i], &(*out)[i], err);
        if (st) return st;
    }
    *count = a->count;
    return PT2_OK;
}

static pt2_status sym_value(pt2_run_context *ctx, const pt2_node *node, int id, int64_t *out, pt2_error *err) {
    const pt2_run_value *v = &ctx->values[id];
    if (v->is_set) {
        *out = v->int_value;
        return PT2_OK;
    }
    /* A symbolic value no node computed (e.g. an input's size): evaluate its expression. */
    const pt2_value *meta = &ctx->graph->values[id];
    if (!meta->sym_expr)
        return node_fail(ctx, node, err, PT2_ERR_INPUT, "symbolic value '%s' has no value%s", meta->name, "");
    return pt2_sym_eval(meta->sym_expr, ctx->bindings, ctx->num_bindings, out, err);
}

pt2_status pt2_op_optional_int(pt2_run_context *ctx, const pt2_node *node, const char *name, int64_t *out,
                               int *present, pt2_error *err) {
    const pt2_arg *a = need_arg(ctx, node, name, err);
    if (!a) return err->status;
    *present = 1;
    switch (a->kind) {
    case PT2_ARG_NONE: *present = 0; return PT2_OK;
    case PT2_ARG_INT:
    case PT2_ARG_BOOL: *out = a->int_value; return PT2_OK;
    case PT2_ARG_SYM_INT:
    case PT2_ARG_SYM_BOOL: return sym_value(ctx, node, a->value_id, out, err);
    case PT2_ARG_INTS:
        if (a->count == 1) {
            *out = a->ints[0];
            return PT2_OK;
        }
        break;
    default: break;
    }
    return node_fail(ctx, node, err, PT2_ERR_UNSUPPORTED, "argument '%s' is not an integer%s", name, "");
}

pt2_status pt2_op_int(pt2_run_context *ctx, const pt2_node *node, const char *name, int64_t *out, pt2_error *err) {
    int present = 0;
    pt2_status st = pt2_op_optional_int(ctx, node, name, out, &present, err);
    if (!st && !present) return node_fail(ctx, node, err, PT2_ERR_INPUT, "argument '%s' is None, expected an integer%s", name, "");
    return st;
}

pt2_status pt2_op_ints(pt2_run_context *ctx, const pt2_node *node, const char *name, int64_t *out, size_t max,
                       size_t *count, pt2_error *err) {
    const pt2_arg *a = need_arg(ctx, node, name, err);
    if (!a) return err->status;
    if (a->kind == PT2_ARG_INT || a->kind == PT2_ARG_SYM_INT) {
        *count = 1;
        return pt2_op_int(ctx, node, name, out, err);
    }
    if (a->kind == PT2_ARG_NONE) {
        *count = 0;
        return PT2_OK;
    }
    if (a->kind != PT2_ARG_INTS && a->kind != PT2_ARG_SYM_INTS && a->kind != PT2_ARG_BOOLS)
        return node_fail(ctx, node, err, PT2_ERR_UNSUPPORTED, "argument '%s' is not an integer list%s", name, "");
    if (a->count > max) return node_fail(ctx, node, err, PT2_ERR_UNSUPPORTED, "argument '%s' has too many entries%s", name, "");
    for (size_t i = 0; i < a->count; i++) {
        if (a->kind != PT2_ARG_SYM_INTS) {
            out[i] = a->ints[i];
        } else if (!a->syms[i].is_value) {
            out[i] = a->syms[i].constant;
        } else {
            pt2_status st = sym_value(ctx, node, a->syms[i].value_id, &out[i], err);
            if (st) return st;
        }
    }
    *count = a->count;
    return PT2_OK;
}

pt2_status pt2_op_optional_scalar(pt2_run_context *ctx, const pt2_node *node, const char *name, double *out,
                                  int *present, pt2_error *err) {
    const pt2_arg *a = need_arg(ctx, node, name, err);
    if (!a) return err->status;
    *present = 1;
    int64_t i;
    switch (a->kind) {
    case PT2_ARG_NONE: *present = 0; return PT2_OK;
    case PT2_ARG_FLOAT: *out = a->float_value; return PT2_OK;
    case PT2_ARG_INT:
    case PT2_ARG_BOOL: *out = (double)a->int_value; return PT2_OK;
    case PT2_ARG_SYM_INT:
    case PT2_ARG_SYM_BOOL: {
        pt2_status st = sym_value(ctx, node, a->value_id, &i, err);
        *out = (double)i;
        return st;
    }
    case PT2_ARG_SYM_FLOAT:
        if (ctx->values[a->value_id].is_set) {
            *out = ctx->values[a->value_id].float_value;
            return PT2_OK;
        }
        break;
    default: break;
    }
    return node_fail(ctx, node, err, PT2_ERR_UNSUPPORTED, "argument '%s' is not a number%s", name, "");
}

pt2_status pt2_op_scalar(pt2_run_context *ctx, const pt2_node *node, const char *name, double *out, pt2_error *err) {
    int present = 0;
    pt2_status st = pt2_op_optional_scalar(ctx, node, name, out, &present, err);
    if (!st && !present) return node_fail(ctx, node, err, PT2_ERR_INPUT, "argument '%s' is None, expected a number%s", name, "");
    return st;
}

int pt2_op_scalar_is_integral(const pt2_node *node, const char *name) {
    const pt2_arg *a = pt2_node_arg(node, name);
    return a && (a->kind == PT2_ARG_INT || a->kind == PT2_ARG_BOOL || a->kind == PT2_ARG_SYM_INT);
}

pt2_status pt2_op_bool(pt2_run_context *ctx, const pt2_node *node, const char *name, int *out, pt2_error *err) {
    int64_t v;
    pt2_status st = pt2_op_int(ctx, node, name, &v, err);
    *out = v != 0;
    return st;
}

pt2_status pt2_op_string(pt2_run_context *ctx, const pt2_node *node, const char *name, const char **out,
                         pt2_error *err) {
    const pt2_arg *a = need_arg(ctx, node, name, err);
    if (!a) return err->status;
    if (a->kind == PT2_ARG_NONE) {
        *out = NULL;
        return PT2_OK;
    }
    if (a->kind != PT2_ARG_STRING)
        return node_fail(ctx, node, err, PT2_ERR_UNSUPPORTED, "argument '%s' is not a string%s", name, "");
    *out = a->string;
    return PT2_OK;
}

pt2_status pt2_op_dtype(pt2_run_context *ctx, const pt2_node *node, const char *name, pt2_dtype *out, int *present,
                        pt2_error *err) {
    const pt2_arg *a = need_arg(ctx, node, name, err);
    if (!a) return err->status;
    *present = a->kind == PT2_ARG_SCALAR_TYPE;
    if (a->kind == PT2_ARG_NONE || a->kind == PT2_ARG_OTHER) {
        *present = 0;
        return PT2_OK;
    }
    if (!*present || !a->dtype)
        return node_fail(ctx, node, err, PT2_ERR_UNSUPPORTED, "argument '%s' is not a supported dtype%s", name, "");
    *out = a->dtype;
    return PT2_OK;
}

/* ---------------------------------------------------------------- outputs */

static int find_binding(const pt2_run_context *ctx, const char *symbol) {
    for (size_t b = 0; b < ctx->num_bindings; b++)
        if (!strcmp(ctx->bindings[b].symbol, symbol)) return (int)b;
    return -1;
}

/* A size PyTorch only knows after computing it (an unbacked symbol such as u0, from nonzero or
 * item) takes the value the op produced, checked against its range like an input's size. */
static pt2_status bind_output_symbol(pt2_run_context *ctx, const pt2_node *node, const pt2_dim *dim, int64_t size,
                                     pt2_error *err) {
    const char *symbol = pt2_sym_as_symbol(dim->expr);
    if (!symbol || find_binding(ctx, symbol) >= 0 || ctx->num_bindings >= ctx->bindings_capacity) return PT2_OK;
    const pt2_range_constraint *r = pt2_graph_find_range(ctx->graph, symbol);
    if (r && ((r->has_min && size < r->min) || (r->has_max && size > r->max))) {
        char message[200];
        snprintf(message, sizeof message, "computed size %lld for '%s' outside the export's range %lld..%lld",
                 (long long)size, symbol, (long long)r->min, (long long)r->max);
        return node_fail(ctx, node, err, PT2_ERR_INPUT, "%s%s", message, "");
    }
    ctx->bindings[ctx->num_bindings].symbol = symbol;
    ctx->bindings[ctx->num_bindings].value = size;
    ctx->num_bindings++;
    return PT2_OK;
}

/* "input 'x' axis 2 is N, the export's example M" (into text) for the first dynamic input axis
 * whose size this run differs from the example's; NULL when none does. */
static const char *input_off_example(pt2_run_context *ctx, char *text, size_t size) {
    const pt2_graph *g = ctx->graph;
    for (size_t i = 0; i < g->num_inputs; i++) {
        const pt2_graph_input *in = &g->inputs[i];
        if (in->kind != PT2_INPUT_USER || in->has_data || !ctx->values[in->value_id].is_set) continue;
        const pt2_value *meta = &g->values[in->value_id];
        const pt2_tensor *t = &ctx->values[in->value_id].tensor;
        for (int a = 0; a < meta->rank && a < t->rank; a++)
            if (meta->sizes[a].is_symbolic && meta->sizes[a].value >= 0 && meta->sizes[a].value != t->shape[a]) {
                snprintf(text, size, "input '%s' axis %d is %lld, the export's example %lld", meta->name, a,
                         (long long)t->shape[a], (long long)meta->sizes[a].value);
                return text;
            }
    }
    return NULL;
}

/* Every op output is checked against the export's shape, so a semantic mistake fails at the
 * op that made it. The message is only formatted on failure: this runs for every node. */
static pt2_status check_shape(pt2_run_context *ctx, const pt2_node *node, int id, const pt2_tensor *t, pt2_error *err) {
    const pt2_value *meta = &ctx->graph->values[id];
    int64_t expected[PT2_MAX_RANK];
    int ok = meta->rank == t->rank && meta->dtype == t->dtype;
    for (int i = 0; i < meta->rank && i < PT2_MAX_RANK; i++) {
        int64_t size = meta->sizes[i].value;
        if (meta->sizes[i].is_symbolic && i < t->rank &&
            bind_output_symbol(ctx, node, &meta->sizes[i], t->shape[i], err))
            return err->status;
        if (meta->sizes[i].is_symbolic && pt2_sym_eval(meta->sizes[i].expr, ctx->bindings, ctx->num_bindings, &size, err))
            return err->status;
        if (i < t->rank && size != t->shape[i]) ok = 0;
        expected[i] = size;
    }
    if (ok) return PT2_OK;
    char got[160], want[160], a[220], b[220];
    pt2_shape_format(t->shape, t->rank, got, sizeof got);
    pt2_shape_format(expected, meta->rank, want, sizeof want);
    snprintf(a, sizeof a, "%s %s", pt2_dtype_name(t->dtype), got);
    snprintf(b, sizeof b, "%s %s", pt2_dtype_name(meta->dtype), want);
    /* A size the export fixed (torch.export specialised it, guarding the input's length) where
     * this run's input has another length than the export's example: PyTorch's program refuses
     * that input too ("Guard failed"), so it is the input, not this op, that is wrong. */
    int fixed_differs = 0;
    for (int i = 0; i < meta->rank && i < t->rank; i++)
        if (!meta->sizes[i].is_symbolic && meta->sizes[i].value != t->shape[i]) fixed_differs = 1;
    char off[200];
    const char *length = fixed_differs ? input_off_example(ctx, off, sizeof off) : NULL;
    if (length) {
        char fixed[460];
        snprintf(fixed, sizeof fixed, "%.220s (%.200s)", b, length);
        return node_fail(ctx, node, err, PT2_ERR_INPUT, "computed %s but the export fixed it to %s: torch.export "
                         "specialised this size, so the program accepts only the example's length (PyTorch's refuses "
                         "others too)", a, fixed);
    }
    return node_fail(ctx, node, err, PT2_ERR_INTERNAL, "computed %s but the export says %s", a, b);
}

pt2_status pt2_op_set_output(pt2_run_context *ctx, const pt2_node *node, size_t index, const pt2_tensor *value,
                             pt2_error *err) {
    if (index >= node->num_outputs) return node_fail(ctx, node, err, PT2_ERR_INTERNAL, "has no output %s%s", "", "");
    const pt2_arg *out = &node->outputs[index];
    if (out->kind == PT2_ARG_NONE) return PT2_OK; /* an unused output */
    if (out->kind != PT2_ARG_TENSOR) return node_fail(ctx, node, err, PT2_ERR_INTERNAL, "output is not a tensor%s%s", "", "");
    pt2_status st = check_shape(ctx, node, out->value_id, value, err);
    if (st) return st;
    ctx->values[out->value_id].tensor = *value;
    ctx->values[out->value_id].is_set = 1;
    ctx->values[out->value_id].released = 0;
    return PT2_OK;
}

pt2_status pt2_op_set_int_output(pt2_run_context *ctx, const pt2_node *node, size_t index, int64_t value,
                                 pt2_error *err) {
    if (index >= node->num_outputs) return node_fail(ctx, node, err, PT2_ERR_INTERNAL, "has no output %s%s", "", "");
    const pt2_arg *out = &node->outputs[index];
    if (out->kind == PT2_ARG_INT) return PT2_OK; /* folded to a constant by the exporter */
    if (out->kind != PT2_ARG_SYM_INT && out->kind != PT2_ARG_SYM_BOOL)
        return node_fail(ctx, node, err, PT2_ERR_INTERNAL, "output is not symbolic%s%s", "", "");
    ctx->values[out->value_id].int_value = value;
    ctx->values[out->value_id].is_set = 1;
    return PT2_OK;
}

pt2_status pt2_op_set_float_output(pt2_run_context *ctx, const pt2_node *node, size_t index, double value,
                                   pt2_error *err) {
    if (index >= node->num_outputs) return node_fail(ctx, node, err, PT2_ERR_INTERNAL, "has no output %s%s", "", "");
    const pt2_arg *out = &node->outputs[index];
    if (out->kind == PT2_ARG_FLOAT) return PT2_OK; /* folded to a constant by the exporter */
    if (out->kind != PT2_ARG_SYM_FLOAT)
        return node_fail(ctx, node, err, PT2_ERR_INTERNAL, "output is not a symbolic float%s%s", "", "");
    ctx->values[out->value_id].float_value = value;
    ctx->values[out->value_id].is_set = 1;
    return PT2_OK;
}

/* ---------------------------------------------------------------- the run */

#define PT2_EXTRA_BINDINGS 64 /* room for data-dependent symbols */

/* An input size given by an expression of one symbol no other size binds (a waveform exported
 * with 320*Dim("frames") so that its convolutions' strides divide it): the symbol's value is
 * solved for when the expression is a*s + b with a > 0 (found by evaluating it at three points),
 * and bound when it is whole and within the export's range. Returns 1 when bound, 0 when the
 * expression is of another form (the shape checks then name the symbol), -1 on a failure. */
static int bind_solved_symbol(pt2_run_context *ctx, const char *input, int axis, const pt2_sym_expr *expr,
                              const char *symbol, int64_t size, pt2_error *err) {
    const pt2_range_constraint *r = pt2_graph_find_range(ctx->graph, symbol);
    int64_t at = r && r->has_min ? r->min : 2, values[3];
    pt2_error ignored;
    size_t b = ctx->num_bindings;
    ctx->bindings[b].symbol = symbol;
    ctx->num_bindings++;
    for (int i = 0; i < 3; i++) {
        ctx->bindings[b].value = at + i;
        if (pt2_sym_eval(expr, ctx->bindings, ctx->num_bindings, &values[i], &ignored)) break;
        if (i == 2 && values[1] - values[0] == values[2] - values[1] && values[1] > values[0]) {
            int64_t step = values[1] - values[0], offset = size - values[0], value = at + offset / step, got;
            ctx->bindings[b].value = value;
            int whole = offset % step == 0 &&
                        !pt2_sym_eval(expr, ctx->bindings, ctx->num_bindings, &got, &ignored) && got == size;
            if (whole && (!r || ((!r->has_min || value >= r->min) && (!r->has_max || value <= r->max)))) return 1;
            ctx->num_bindings--;
            pt2_strbuf text;
            pt2_strbuf_init(&text);
            pt2_sym_format(expr, &text);
            if (!whole)
                pt2_fail(err, PT2_ERR_INPUT, "input '%s' axis %d has size %lld but the export makes it %s: no whole '%s' "
                         "gives that size (it gives %lld, %lld, %lld, ... for '%s' = %lld, %lld, %lld, ...)", input, axis,
                         (long long)size, text.data ? text.data : "?", symbol, (long long)values[0],
                         (long long)values[1], (long long)values[2], symbol, (long long)at, (long long)at + 1,
                         (long long)at + 2);
            else
                pt2_fail(err, PT2_ERR_INPUT, "input '%s' axis %d has size %lld, %s with '%s' = %lld, but the export allows "
                         "'%s' %lld..%lld", input, axis, (long long)size, text.data ? text.data : "?", symbol,
                         (long long)value, symbol, r->has_min ? (long long)r->min : 0LL,
                         r->has_max ? (long long)r->max : (long long)INT64_MAX);
            pt2_strbuf_free(&text);
            return -1;
        }
    }
    ctx->num_bindings--;
    return 0;
}

/* L['name'].size()[axis] of this run's user input `name`. */
static int input_size(void *user, const char *name, int axis, int64_t *size) {
    const pt2_run_context *ctx = user;
    const pt2_graph *g = ctx->graph;
    for (size_t i = 0; i < g->num_inputs; i++) {
        const pt2_graph_input *in = &g->inputs[i];
        if (in->kind != PT2_INPUT_USER || in->has_data || strcmp(g->values[in->value_id].name, name)) continue;
        const pt2_tensor *t = &ctx->values[in->value_id].tensor;
        if (!ctx->values[in->value_id].is_set || axis < 0 || axis >= t->rank) return 0;
        *size = t->shape[axis];
        return 1;
    }
    return 0;
}

/* Every guard of the export that this evaluator understands must hold for the inputs, as
 * PyTorch's program checks them. */
static pt2_status check_guards(pt2_run_context *ctx, pt2_error *err) {
    const pt2_graph *g = ctx->graph;
    for (size_t i = 0; i < g->num_guards; i++) {
        if (pt2_guard_holds(g->guards[i], input_size, ctx) != 0) continue;
        char shapes[400] = "";
        size_t used = 0;
        for (size_t k = 0; k < g->num_inputs && used + 1 < sizeof shapes; k++) {
            const pt2_graph_input *in = &g->inputs[k];
            if (in->kind != PT2_INPUT_USER || in->has_data) continue;
            char shape[160];
            pt2_shape_format(ctx->values[in->value_id].tensor.shape, ctx->values[in->value_id].tensor.rank, shape,
                             sizeof shape);
            used += (size_t)snprintf(shapes + used, sizeof shapes - used, "%s'%s' %s", used ? ", " : "",
                                     g->values[in->value_id].name, shape);
        }
        return pt2_fail(err, PT2_ERR_INPUT, "the export's guard %s does not hold for the input (%s): torch.export "
                        "specialised the program there (the model's code depends on that size), and PyTorch's program "
                        "refuses such an input too", g->guards[i], shapes);
    }
    return PT2_OK;
}

static pt2_status bind_inputs(pt2_run_context *ctx, const pt2_tensor *inputs, size_t num_inputs, pt2_error *err) {
    const pt2_graph *g = ctx->graph;
    size_t user = 0, max_bindings = 0;
    for (size_t i = 0; i < g->num_inputs; i++)
        if (g->inputs[i].kind == PT2_INPUT_USER) {
            user++;
            max_bindings += PT2_MAX_RANK;
        }
    if (num_inputs != user)
        return pt2_fail(err, PT2_ERR_INPUT, "the program takes %zu input%s, %zu given", user, user == 1 ? "" : "s",
                        num_inputs);
    ctx->bindings = pt2_arena_alloc_array(ctx->arena, max_bindings + PT2_EXTRA_BINDINGS, sizeof *ctx->bindings, err);
    if (!ctx->bindings) return err->status;
    ctx->bindings_capacity = max_bindings + PT2_EXTRA_BINDINGS;
    size_t k = 0;
    for (size_t i = 0; i < g->num_inputs; i++) {
        const pt2_graph_input *in = &g->inputs[i];
        if (in->has_data) {
            ctx->values[in->value_id].tensor = in->data;
            ctx->values[in->value_id].is_set = 1;
            continue;
        }
        if (in->kind != PT2_INPUT_USER) continue;
        const pt2_value *meta = &g->values[in->value_id];
        const pt2_tensor *t = &inputs[k++];
        if (t->dtype != meta->dtype || t->rank != meta->rank)
            return pt2_fail(err, PT2_ERR_INPUT, "input '%s' must be %s with %d dimensions, got %s with %d", meta->name,
                            pt2_dtype_name(meta->dtype), meta->rank, pt2_dtype_name(t->dtype), t->rank);
        for (int a = 0; a < t->rank; a++) {
            const pt2_dim *d = &meta->sizes[a];
            const char *symbol = d->is_symbolic ? pt2_sym_as_symbol(d->expr) : NULL;
            if (!d->is_symbolic && d->value != t->shape[a])
                return pt2_fail(err, PT2_ERR_INPUT, "input '%s' axis %d has size %lld but the export fixed it to %lld",
                                meta->name, a, (long long)t->shape[a], (long long)d->value);
            if (!symbol) continue;
            const pt2_range_constraint *r = pt2_graph_find_range(g, symbol);
            if (r && ((r->has_min && t->shape[a] < r->min) || (r->has_max && t->shape[a] > r->max)))
                return pt2_fail(err, PT2_ERR_INPUT, "input '%s' axis %d has size %lld but the export allows %lld..%lld",
                                meta->name, a, (long long)t->shape[a], (long long)r->min, (long long)r->max);
            size_t b = 0;
            while (b < ctx->num_bindings && strcmp(ctx->bindings[b].symbol, symbol)) b++;
            if (b < ctx->num_bindings && ctx->bindings[b].value != t->shape[a])
                return pt2_fail(err, PT2_ERR_INPUT, "input '%s' axis %d has size %lld but '%s' is already %lld",
                                meta->name, a, (long long)t->shape[a], symbol, (long long)ctx->bindings[b].value);
            if (b == ctx->num_bindings) {
                ctx->bindings[b].symbol = symbol;
                ctx->bindings[b].value = t->shape[a];
                ctx->num_bindings++;
            }
        }
        ctx->values[in->value_id].tensor = *t;
        ctx->values[in->value_id].is_set = 1;
    }
    /* Sizes given by an expression of symbols bound above (e.g. 2*s0 beside s0) must agree. */
    k = 0;
    for (size_t i = 0; i < g->num_inputs; i++) {
        const pt2_graph_input *in = &g->inputs[i];
        if (in->has_data || in->kind != PT2_INPUT_USER) continue;
        const pt2_value *meta = &g->values[in->value_id];
        const pt2_tensor *t = &inputs[k++];
        for (int a = 0; a < t->rank; a++) {
            const pt2_dim *d = &meta->sizes[a];
            if (!d->is_symbolic || pt2_sym_as_symbol(d->expr)) continue;
            const char *symbols[8];
            size_t n = pt2_sym_symbols(d->expr, symbols, 8), unbound = 0;
            const char *unbound_symbol = NULL;
            for (size_t s = 0; s < n && s < 8; s++)
                if (find_binding(ctx, symbols[s]) < 0) unbound++, unbound_symbol = symbols[s];
            if (unbound == 1 && n <= 8) {
                int solved = bind_solved_symbol(ctx, meta->name, a, d->expr, unbound_symbol, t->shape[a], err);
                if (solved < 0) return err->status;
                if (solved) continue;
            }
            if (unbound || n > 8) continue; /* nothing to check against; later shape checks still run */
            int64_t want;
            pt2_status st = pt2_sym_eval(d->expr, ctx->bindings, ctx->num_bindings, &want, err);
            if (st) return st;
            if (want != t->shape[a])
                return pt2_fail(err, PT2_ERR_INPUT, "input '%s' axis %d has size %lld but the export's other inputs make it %lld",
                                meta->name, a, (long long)t->shape[a], (long long)want);
        }
    }
    return check_guards(ctx, err);
}

static int can_run(const char *target) { return pt2_op_find(target) != NULL; }

/* ---------------------------------------------------------------- releasing */


void pt2_run_note_reader(void *user, int id) {
    pt2_run_last_reader *r = user;
    if (r->release_after[id] != PT2_RUN_KEEP && r->release_after[id] < r->node) r->release_after[id] = r->node;
}

typedef struct reads_marked {
    const unsigned char *marked;
    int any;
} reads_marked;

static void note_marked(void *user, int id) {
    reads_marked *r = user;
    r->any |= r->marked[id];
}

static void mark_node_outputs(const pt2_node *node, unsigned char *marked) {
    for (size_t o = 0; o < node->num_outputs; o++) {
        const pt2_arg *out = &node->outputs[o];
        if (out->kind == PT2_ARG_TENSORS || out->kind == PT2_ARG_OPTIONAL_TENSORS) {
            for (size_t i = 0; i < out->count; i++)
                if (out->value_ids[i] >= 0) marked[out->value_ids[i]] = 1;
        } else if (out->value_id >= 0 && out->kind != PT2_ARG_NONE) {
            marked[out->value_id] = 1;
        }
    }
}

void pt2_run_plan_release(const pt2_graph *graph, int32_t *release_after, unsigned char *dynamic) {
    memset(dynamic, 0, graph->num_values);
    for (size_t v = 0; v < graph->num_values; v++) release_after[v] = -1;
    for (size_t i = 0; i < graph->num_inputs; i++) {
        const pt2_graph_input *in = &graph->inputs[i];
        if (in->value_id < 0) continue;
        release_after[in->value_id] = PT2_RUN_KEEP;
        if (in->kind == PT2_INPUT_USER) dynamic[in->value_id] = 1;
    }
    for (size_t n = 0; n < graph->num_nodes; n++) {
        const pt2_node *node = &graph->nodes[n];
        reads_marked r = {dynamic, 0};
        for (size_t a = 0; a < node->num_inputs; a++) pt2_arg_each_read(&node->inputs[a].arg, note_marked, &r);
        if (r.any) mark_node_outputs(node, dynamic);
    }
    /* A value that does not depend on the input is a constant: the lowering reads it. */
    for (size_t v = 0; v < graph->num_values; v++)
        if (!dynamic[v]) release_after[v] = PT2_RUN_KEEP;
    for (size_t n = 0; n < graph->num_nodes; n++) {
        const pt2_node *node = &graph->nodes[n];
        pt2_run_last_reader r = {release_after, (int32_t)n};
        /* A value no node reads goes right after the node that makes it. */
        for (size_t o = 0; o < node->num_outputs; o++) pt2_arg_each_read(&node->outputs[o], pt2_run_note_reader, &r);
        for (size_t a = 0; a < node->num_inputs; a++) pt2_arg_each_read(&node->inputs[a].arg, pt2_run_note_reader, &r);
    }
    for (size_t i = 0; i < graph->num_outputs; i++) {
        pt2_run_last_reader keep = {release_after, PT2_RUN_KEEP};
        pt2_arg_each_read(&graph->outputs[i].arg, pt2_run_note_reader, &keep);
    }
}

pt2_status pt2_run_plan_new(pt2_arena *arena, const pt2_graph *graph, int32_t **release_after,
                            unsigned char **depends_on_input, pt2_error *err) {
    *release_after = pt2_arena_alloc_array(arena, graph->num_values + 1, sizeof **release_after, err);
    *depends_on_input = *release_after ? pt2_arena_alloc(arena, graph->num_values + 1, err) : NULL;
    if (!*depends_on_input) return err->status;
    pt2_run_plan_release(graph, *release_after, *depends_on_input);
    return PT2_OK;
}

typedef struct held_storage {
    const void *storage;
    size_t bytes;
} held_storage;

static int compare_held(const void *a, const void *b) {
    uintptr_t x = (uintptr_t)((const held_storage *)a)->storage, y = (uintptr_t)((const held_storage *)b)->storage;
    return x < y ? -1 : x > y;
}

static int is_parameter_storage(const pt2_graph *g, const void *storage) {
    for (size_t i = 0; i < g->num_inputs; i++)
        if (g->inputs[i].has_data && g->inputs[i].data.storage == storage) return 1;
    return 0;
}

/* The bytes of the distinct storages the live values hold, the parameters' (the weights,
 * counted apart) left out. */
static size_t live_bytes(const pt2_run_context *ctx, const int32_t *counted_until, size_t n, held_storage *held) {
    const pt2_graph *g = ctx->graph;
    size_t count = 0, total = 0;
    for (size_t v = 0; v < g->num_values; v++) {
        const pt2_run_value *rv = &ctx->values[v];
        if (counted_until && counted_until[v] < (int32_t)n) continue;
        if (rv->is_set && !rv->released && g->values[v].kind == PT2_VALUE_TENSOR && rv->tensor.storage)
            held[count++] = (held_storage){rv->tensor.storage, rv->tensor.storage_bytes};
    }
    qsort(held, count, sizeof *held, compare_held);
    for (size_t i = 0; i < count; i++)
        if ((i == 0 || held[i].storage != held[i - 1].storage) && !is_parameter_storage(g, held[i].storage))
            total += held[i].bytes;
    return total;
}

/* The tensors a node's output argument holds: one, a list, or none. */
static size_t output_tensor_count(const pt2_arg *out) {
    if (out->kind == PT2_ARG_TENSOR) return 1;
    return out->kind == PT2_ARG_TENSORS || out->kind == PT2_ARG_OPTIONAL_TENSORS ? out->count : 0;
}

static int output_tensor_id(const pt2_arg *out, size_t i) { return out->kind == PT2_ARG_TENSOR ? out->value_id : out->value_ids[i]; }

/* After node n: its large temporaries go, then (after the caller's hook) the data of every value
 * whose last reader it was, each storage once no live value holds it. */
static pt2_status after_node(pt2_run_context *ctx, size_t n, uint64_t mark, pt2_run_release *release,
                             const void **scratch, held_storage *held, pt2_error *err) {
    const pt2_graph *g = ctx->graph;
    const pt2_node *node = &g->nodes[n];
    size_t kept = 0;
    for (size_t o = 0; o < node->num_outputs; o++)
        for (size_t i = 0; i < output_tensor_count(&node->outputs[o]); i++) {
            int id = output_tensor_id(&node->outputs[o], i);
            if (id >= 0 && ctx->values[id].is_set && ctx->values[id].tensor.storage) scratch[kept++] = ctx->values[id].tensor.storage;
        }
    pt2_arena_release_since(ctx->arena, mark, scratch, kept);
    size_t live = live_bytes(ctx, release->counted_until, n, held);
    if (live > release->peak_live_bytes) release->peak_live_bytes = live;
    if (release->after_node) {
        pt2_status st = release->after_node(release->user, ctx, n, err);
        if (st) return st;
    }
    for (size_t v = 0; v < g->num_values; v++) {
        pt2_run_value *rv = &ctx->values[v];
        if (release->release_after[v] != (int32_t)n || !rv->is_set || rv->released || g->values[v].kind != PT2_VALUE_TENSOR)
            continue;
        void *storage = rv->tensor.storage;
        rv->released = 1;
        rv->tensor.storage = NULL;
        rv->tensor.storage_bytes = 0;
        int shared = storage == NULL;
        for (size_t w = 0; w < g->num_values && !shared; w++)
            shared = ctx->values[w].is_set && !ctx->values[w].released && ctx->values[w].tensor.storage == storage;
        if (!shared && !is_parameter_storage(g, storage)) pt2_arena_release(ctx->arena, storage);
    }
    return PT2_OK;
}

/* Does the node only make values that do not depend on the input, tensors all taken already
 * from another run (pt2_run_release.constants_from)? A node making a symbol runs anyway: it may
 * bind one. */
static int takes_constants(const pt2_node *node, const unsigned char *dynamic, const pt2_run_context *ctx) {
    reads_marked r = {dynamic, 0};
    for (size_t a = 0; a < node->num_inputs; a++) pt2_arg_each_read(&node->inputs[a].arg, note_marked, &r);
    for (size_t o = 0; o < node->num_outputs && !r.any; o++) {
        const pt2_arg *out = &node->outputs[o];
        if (out->kind == PT2_ARG_SYM_INT || out->kind == PT2_ARG_SYM_BOOL || out->kind == PT2_ARG_SYM_FLOAT) return 0;
        for (size_t k = 0; k < output_tensor_count(out); k++) {
            int id = output_tensor_id(out, k);
            if (id >= 0 && (dynamic[id] || !ctx->values[id].is_set)) return 0;
        }
    }
    return !r.any;
}

typedef struct reader_count {
    int32_t *sole_reader;
    int32_t node;
} reader_count;

static void count_reader(void *user, int id) {
    reader_count *r = user;
    r->sole_reader[id] = r->sole_reader[id] == -2 ? r->node : -1; /* -2: no reader yet */
}

/* pt2_run_context.sole_reader for a releasing run: a value read by one node, once, and released
 * right after it (so no check, output or later node keeps it). Without a hook only: a hook may
 * look at any value between nodes, and a producer doing its reader's work leaves in its output
 * the reader's result. */
static pt2_status plan_sole_readers(pt2_run_context *ctx, const pt2_run_release *release, pt2_error *err) {
    const pt2_graph *g = ctx->graph;
    if (release->after_node) return PT2_OK;
    int32_t *sole = pt2_arena_alloc_array(ctx->arena, g->num_values + 1, sizeof *sole, err);
    ctx->taken = pt2_arena_alloc(ctx->arena, g->num_nodes + 1, err);
    if (!sole || !ctx->taken) return err->status;
    memset(ctx->taken, 0, g->num_nodes + 1);
    for (size_t v = 0; v < g->num_values; v++) sole[v] = -2;
    for (size_t n = 0; n < g->num_nodes; n++) {
        reader_count r = {sole, (int32_t)n};
        for (size_t a = 0; a < g->nodes[n].num_inputs; a++) pt2_arg_each_read(&g->nodes[n].inputs[a].arg, count_reader, &r);
    }
    for (size_t v = 0; v < g->num_values; v++)
        if (sole[v] < 0 || release->release_after[v] != sole[v]) sole[v] = -1;
    ctx->sole_reader = sole;
    return PT2_OK;
}

const pt2_node *pt2_run_sole_reader(const pt2_run_context *context, int id) {
    if (!context->sole_reader || id < 0 || (size_t)id >= context->graph->num_values || context->sole_reader[id] < 0)
        return NULL;
    return &context->graph->nodes[context->sole_reader[id]];
}

void pt2_run_take_node(pt2_run_context *context, const pt2_node *reader) {
    context->taken[reader - context->graph->nodes] = 1;
}

static pt2_status run_nodes_with(pt2_run_context *out, pt2_run_release *release, pt2_error *err) {
    const pt2_graph *graph = out->graph;
    const void **scratch = NULL;
    held_storage *held = NULL;
    if (release) {
        scratch = pt2_arena_alloc_array(out->arena, graph->num_values + 1, sizeof *scratch, err);
        held = pt2_arena_alloc_array(out->arena, graph->num_values + 1, sizeof *held, err);
        if (!scratch || !held) return err->status;
        pt2_status st = plan_sole_readers(out, release, err);
        if (st) return st;
    }
    const pt2_run_context *from = release ? release->constants_from : NULL;
    const unsigned char *dynamic = release ? release->depends_on_input : NULL;
    if (from && dynamic)
        for (size_t v = 0; v < graph->num_values; v++)
            if (!dynamic[v] && from->values[v].is_set && !from->values[v].released && !out->values[v].is_set)
                out->values[v] = from->values[v];
    for (size_t i = 0; i < graph->num_nodes; i++) {
        const pt2_node *node = &graph->nodes[i];
        if (from && dynamic && takes_constants(node, dynamic, out)) continue;
        out->current_node = node;
        uint64_t mark = pt2_arena_mark(out->arena);
        pt2_status st = out->taken && out->taken[i] ? PT2_OK : pt2_op_find(node->target)->run(out, node, err);
        if (st) return node_fail(out, node, err, st, "%s%s", "", "");
        if (release && (st = after_node(out, i, mark, release, scratch, held, err))) return st;
    }
    return PT2_OK;
}

#define RELEASABLE_BYTES ((size_t)16 << 10) /* values from this size on can be released one by one */

/* A releasing run gives values of RELEASABLE_BYTES and more blocks of their own: small ones in a
 * shared chunk would stay until the conversion ends. */
static pt2_status run_nodes(pt2_run_context *out, pt2_run_release *release, pt2_error *err) {
    pt2_kernels_set_portable(out->options.portable_only);
    size_t own_block_bytes = out->arena->own_block_bytes;
    if (release) out->arena->own_block_bytes = RELEASABLE_BYTES;
    pt2_status st = run_nodes_with(out, release, err);
    out->arena->own_block_bytes = own_block_bytes;
    return st;
}

static pt2_status start_run(pt2_arena *arena, const pt2_graph *graph, const pt2_tensor *inputs, size_t num_inputs,
                            const pt2_run_options *options, pt2_run_context *out, pt2_error *err) {
    memset(out, 0, sizeof *out);
    out->arena = arena;
    out->graph = graph;
    if (options) out->options = *options;
    pt2_error_set_file(err, graph->file_name);
    /* Every op the registry lacks, listed at once with where it comes from. */
    pt2_status st = pt2_graph_require_supported(graph, can_run, "the reference run does not support", err);
    if (st) return st;
    out->values = pt2_arena_alloc_array(arena, graph->num_values + 1, sizeof *out->values, err);
    if (!out->values) return err->status;
    return bind_inputs(out, inputs, num_inputs, err);
}

pt2_status pt2_run_graph(pt2_arena *arena, const pt2_graph *graph, const pt2_tensor *inputs, size_t num_inputs,
                         const pt2_run_options *options, pt2_run_context *out, pt2_error *err) {
    pt2_status st = start_run(arena, graph, inputs, num_inputs, options, out, err);
    return st ? st : run_nodes(out, NULL, err);
}

pt2_status pt2_run_graph_releasing(pt2_arena *arena, const pt2_graph *graph, const pt2_tensor *inputs, size_t num_inputs,
                                   const pt2_run_options *options, pt2_run_release *release, pt2_run_context *out,
                                   pt2_error *err) {
    pt2_status st = start_run(arena, graph, inputs, num_inputs, options, out, err);
    return st ? st : run_nodes(out, release, err);
}

pt2_status pt2_run_output(const pt2_run_context *context, size_t index, pt2_tensor *out, pt2_error *err) {
    size_t user = 0;
    for (size_t i = 0; i < context->graph->num_outputs; i++) {
        const pt2_graph_output *o = &context->graph->outputs[i];
        if (o->kind != PT2_OUTPUT_USER || o->arg.kind != PT2_ARG_TENSOR) continue;
        if (user++ == index) {
            *out = context->values[o->arg.value_id].tensor;
            return PT2_OK;
        }
    }
    return pt2_fail(err, PT2_ERR_INTERNAL, "the program has no tensor output %zu", index);
}
