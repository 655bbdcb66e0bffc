/* Lowering of layout and shape ops through the axis map (core/lower/axes.h): permutes (transpose,
 * permute, t, swapaxes, movedim) change only the map; views, flatten/unflatten, squeeze and
 * unsqueeze become merge_dims/split_dims/squeeze/expand_dims; slices and splits become slice
 * layers, select and unbind a slice and a squeeze (stack is in lower_concat.c); matmul/bmm/mm
 * become dot; ops that compute nothing (to without a dtype change, type_as of the same dtype,
 * metadata asserts) get no layer. */
#include <stdio.h>
#include <string.h>

#include "../naming/naming.h"
#include "lower_layout.h"

#include "axes.h"
#include "lower_creation.h"
#include "lower_gather.h"
#include "lowerings.h"

/* The tensor an op works on: its "self" argument, or "input" where the schema names it so. */
static const char *data_arg_name(const pt2_node *node) { return pt2_node_arg(node, "self") ? "self" : "input"; }

static const pt2_arg *data_arg(const pt2_node *node) { return pt2_node_arg(node, data_arg_name(node)); }

static pt2_status data_input(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value **in,
                             pt2_error *err) {
    const char *name = data_arg_name(node);
    pt2_status st = pt2_lower_input(ctx, node, name, in, err);
    if (!st && !*in) return pt2_lower_fail(node, err, "argument '%s' is a constant", name);
    return st;
}

static pt2_status wrap_axis(const pt2_node *node, int64_t dim, int rank, int *out, pt2_error *err) {
    *out = 0;
    int64_t a = dim < 0 ? dim + rank : dim;
    if (a < 0 || a >= rank) return pt2_lower_fail(node, err, "axis %lld out of range for %d axes", (long long)dim, rank);
    *out = (int)a;
    return PT2_OK;
}

/* ---- permutes: no layer ---- */

/* transpose and swapaxes: two axes exchanged, the map's change only. */
static pt2_status swap_axes(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in, int64_t d0,
                            int64_t d1, pt2_error *err) {
    int a0 = 0, a1 = 0, perm[PT2_MAX_RANK];
    pt2_status st = wrap_axis(node, d0, in->rank, &a0, err);
    if (!st) st = wrap_axis(node, d1, in->rank, &a1, err);
    if (st) return st;
    for (int a = 0; a < in->rank; a++) perm[a] = a;
    perm[a0] = a1, perm[a1] = a0;
    return pt2_axes_permute(ctx, node, in, perm, err);
}

static pt2_status lower_transpose(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    int64_t d0, d1;
    pt2_status st = data_input(ctx, node, &in, err);
    if (!st) st = pt2_op_int(ctx->run, node, "dim0", &d0, err);
    if (!st) st = pt2_op_int(ctx->run, node, "dim1", &d1, err);
    return st ? st : swap_axes(ctx, node, in, d0, d1, err);
}

static pt2_status lower_permute(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    int64_t dims[PT2_MAX_RANK];
    size_t count;
    int perm[PT2_MAX_RANK];
    pt2_status st = data_input(ctx, node, &in, err);
    if (!st) st = pt2_op_ints(ctx->run, node, "dims", dims, PT2_MAX_RANK, &count, err);
    if (st) return st;
    if ((int)count != in->rank) return pt2_lower_fail(node, err, "permute of %zu axes on %d", count, in->rank);
    for (size_t a = 0; a < count; a++)
        if ((st = wrap_axis(node, dims[a], in->rank, &perm[a], err))) return st;
    return pt2_axes_permute(ctx, node, in, perm, err);
}

static pt2_status lower_swapaxes(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    int64_t d0 = 0, d1 = 1;
    pt2_status st = data_input(ctx, node, &in, err);
    if (!st && pt2_node_arg(node, "axis0")) st = pt2_op_int(ctx->run, node, "axis0", &d0, err);
    if (!st && pt2_node_arg(node, "axis1")) st = pt2_op_int(ctx->run, node, "axis1", &d1, err);
    if (!st && in->rank < 2) return pt2_lower_alias(ctx, node, in, err); /* t() of a vector */
    return st ? st : swap_axes(ctx, node, in, d0, d1, err);
}

/* x.T: every axis in reverse order. */
static pt2_status lower_numpy_t(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    int perm[PT2_MAX_RANK];
    pt2_status st = data_input(ctx, node, &in, err);
    if (st) return st;
    for (int a = 0; a < in->rank; a++) perm[a] = in->rank - 1 - a;
    return pt2_axes_permute(ctx, node, in, perm, err);
}

static pt2_status lower_movedim(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    int64_t source, destination;
    int from = 0, to = 0, perm[PT2_MAX_RANK];
    pt2_status st = data_input(ctx, node, &in, err);
    if (!st) st = pt2_op_int(ctx->run, node, "source", &source, err);
    if (!st) st = pt2_op_int(ctx->run, node, "destination", &destination, err);
    if (!st) st = wrap_axis(node, source, in->rank, &from, err);
    if (!st) st = wrap_axis(node, destination, in->rank, &to, err);
    if (st) return st;
    for (int i = 0, k = 0; i < in->rank; i++) {
        if (i == to) continue;
        if (k == from) k++;
        perm[i] = k++;
    }
    perm[to] = from;
    return pt2_axes_permute(ctx, node, in, perm, err);
}

/* ---- views: the factorisation of the sizes ---- */

static pt2_status lower_view(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    pt2_status st = data_input(ctx, node, &in, err);
    if (st) return st;
    if (!node->num_outputs || node->outputs[0].kind != PT2_ARG_TENSOR) return pt2_lower_fail(node, err, "expected a tensor output");
    return pt2_axes_view(ctx, node, in, node->outputs[0].value_id, err);
}

/* ---- ops that compute nothing ---- */

static pt2_status lower_same_dtype(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    pt2_status st = data_input(ctx, node, &in, err);
    if (st) return st;
    const pt2_tensor *x = &ctx->run->values[data_arg(node)->value_id].tensor, *y = &ctx->run->values[node->outputs[0].value_id].tensor;
    if (x->dtype != y->dtype)
        return pt2_lower_fail(node, err, "a cast from %s to %s is not lowered", pt2_dtype_name(x->dtype), pt2_dtype_name(y->dtype));
    return pt2_lower_alias(ctx, node, in, err);
}

static pt2_status lower_no_output(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    (void)ctx;
    for (size_t o = 0; o < node->num_outputs; o++)
        if (node->outputs[o].kind == PT2_ARG_TENSOR) return pt2_lower_fail(node, err, "expected no tensor output");
    return PT2_OK;
}

/* ---- slices ---- */

typedef struct slice_bounds {
    int64_t start, end, step;
    int has_end; /* 0: to the end of the axis */
} slice_bounds;

/* The node's int argument `name` for one value of a size symbol: a constant, or a SYM_INT's
 * expression evaluated; 0 when it is neither (the file gives no expression). */
static int arg_at(const pt2_graph *graph, const pt2_node *node, const char *name, const pt2_sym_binding *binding,
                  int64_t *out) {
    const pt2_arg *a = pt2_node_arg(node, name);
    if (!a) return 0;
    if (a->kind == PT2_ARG_INT) return *out = a->int_value, 1;
    const pt2_sym_expr *expr = a->kind == PT2_ARG_SYM_INT ? graph->values[a->value_id].sym_expr : NULL;
    pt2_error ignored;
    pt2_error_clear(&ignored);
    return expr && !pt2_sym_eval(expr, binding, 1, out, &ignored);
}

/* The argument as the file gives it: its expression ("s47 - 5") or its number. */
static void append_arg(const pt2_graph *graph, const pt2_node *node, const char *name, pt2_strbuf *out) {
    const pt2_arg *a = pt2_node_arg(node, name);
    if (a && a->kind == PT2_ARG_SYM_INT && graph->values[a->value_id].sym_expr)
        pt2_sym_format(graph->values[a->value_id].sym_expr, out);
    else if (a && a->kind == PT2_ARG_INT)
        pt2_strbuf_printf(out, "%lld", (long long)a->int_value);
    else
        pt2_strbuf_puts(out, name);
}

/* A bound of a slice of `self` on a dynamic `axis`, the sum of the node's arguments `first` and
 * `second` (NULL: none), as RETURNN's slice layer takes it there: a start is a fixed frame, an end
 * counts from each sequence's end (from_end). Right only when the bound, less the length for an
 * end, is the same at every length: T - 3 is an end, T // 2 or a start T - 5 is no bound RETURNN
 * has. Checked at the first sizes the export allows for the length's symbol (an expression the
 * file does not give passes as before); 0 and `why` filled when it moves. */
static int bound_holds(const pt2_graph *graph, const pt2_node *node, int self_value, int axis, const char *first,
                       const char *second, int from_end, char *why, size_t size) {
    const pt2_dim *length = &graph->values[self_value].sizes[axis];
    const char *symbols[2];
    if (!length->is_symbolic || !length->expr || pt2_sym_symbols(length->expr, symbols, 2) != 1) return 1;
    const pt2_range_constraint *range = pt2_graph_find_range(graph, symbols[0]);
    int64_t lowest = range && range->has_min ? range->min : 1, kept = 0;
    int have = 0;
    for (int k = 0; k < 16; k++) {
        int64_t value, a, b = 0, at_length, bound;
        if (__builtin_add_overflow(lowest, (int64_t)k, &value) || (range && range->has_max && value > range->max)) break;
        pt2_sym_binding binding = {symbols[0], value};
        pt2_error ignored;
        pt2_error_clear(&ignored);
        if (!arg_at(graph, node, first, &binding, &a) || (second && !arg_at(graph, node, second, &binding, &b)) ||
            pt2_sym_eval(length->expr, &binding, 1, &at_length, &ignored) || __builtin_add_overflow(a, b, &bound) ||
            __builtin_sub_overflow(bound, from_end ? at_length : 0, &bound))
            return 1; /* nothing to judge by (or numbers past int64): as before */
        if (have && bound != kept) {
            pt2_strbuf text;
            pt2_strbuf_init(&text);
            append_arg(graph, node, first, &text);
            if (second) pt2_strbuf_puts(&text, " + "), append_arg(graph, node, second, &text);
            pt2_strbuf_puts(&text, from_end ? " is not the length " : " is not a fixed frame (the length is ");
            pt2_sym_format(length->expr, &text);
            snprintf(why, size, "axis %d: the slice's %s %s%s; RETURNN's slice of a dynamic axis starts at a fixed "
                                "frame and ends a fixed number of frames before each sequence's end", axis,
                     from_end ? "end" : "start", text.data ? text.data : "?", from_end ? " minus a constant" : ")");
            pt2_strbuf_free(&text);
            return 0;
        }
        kept = bound, have = 1;
    }
    return 1;
}

/* The bounds of a slice of a dynamic axis that the lowering takes from the example's values:
 * each must be one RETURNN has (bound_holds). */
static pt2_status check_dynamic_bounds(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in,
                                       int axis, const char *start, const char *end, const char *end_second,
                                       pt2_error *err) {
    char why[400];
    if (ctx->net->dims[in->dims[axis]].kind == PT2_RT_DIM_STATIC) return PT2_OK;
    int sliced = data_arg(node)->value_id;
    if ((start && !bound_holds(ctx->graph, node, sliced, axis, start, NULL, 0, why, sizeof why)) ||
        (end && !bound_holds(ctx->graph, node, sliced, axis, end, end_second, 1, why, sizeof why)))
        return pt2_lower_fail(node, err, "%s", why);
    return PT2_OK;
}

/* PyTorch's slice bounds on an axis of size n, as RETURNN's slice layer takes them: a dynamic
 * axis keeps an end relative to its length (negative); a start must be counted from its front. */
static pt2_status normalise_slice(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in, int axis,
                                  int64_t n, int64_t start, int64_t end, int end_symbolic, int64_t step,
                                  slice_bounds *out, pt2_error *err) {
    int dynamic = ctx->net->dims[in->dims[axis]].kind != PT2_RT_DIM_STATIC;
    if (step < 1) return pt2_lower_fail(node, err, "slice step %lld", (long long)step);
    if (start < 0) {
        if (dynamic) return pt2_lower_fail(node, err, "axis %d: a start counted from the end of a dynamic axis", axis);
        start += n;
    }
    if (start < 0) start = 0;
    if (start > n) start = n;
    out->start = start, out->step = step, out->has_end = 1;
    if (end >= n) {
        out->has_end = 0, out->end = 0;
    } else if (dynamic) {
        /* An end below the length: a literal negative end, or a size computed from T (T - k). */
        if (end < 0) out->end = end;
        else if (end_symbolic) out->end = end - n;
        else return pt2_lower_fail(node, err, "axis %d: a fixed end (%lld) on a dynamic axis", axis, (long long)end);
    } else {
        out->end = end < 0 ? end + n : end;
        if (out->end < out->start) out->end = out->start;
    }
    return PT2_OK;
}

/* A slice layer on `axis`; `index` < 0: the node's single output, else output `index` of a list. */
static pt2_status slice_layer(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in, int axis,
                              const slice_bounds *b, int index, pt2_error *err) {
    if (b->start == 0 && !b->has_end && b->step == 1 && index < 0) return pt2_lower_alias(ctx, node, in, err);
    const char *description;
    pt2_rt_layer *layer;
    pt2_status st = pt2_axes_describe(ctx, node, in, axis, &description, err);
    if (st) return st;
    if (index < 0) st = pt2_lower_new_layer(ctx, node, "slice", &layer, err);
    else {
        char base[220];
        snprintf(base, sizeof base, "%s_%d", ctx->places[node - ctx->graph->nodes].base, index);
        st = pt2_lower_new_layer_named(ctx, node, base, "slice", &layer, err);
    }
    if (!st) st = pt2_lower_add_source(ctx, layer, in, err);
    if (!st) st = pt2_rt_set_string(layer, "axis", description, err);
    if (!st) st = pt2_rt_set_int(layer, "slice_start", b->start, err);
    if (!st) st = b->has_end ? pt2_rt_set_int(layer, "slice_end", b->end, err) : pt2_rt_set_none(layer, "slice_end", err);
    if (!st) st = pt2_rt_set_int(layer, "slice_step", b->step, err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    int dims[PT2_MAX_RANK];
    memcpy(dims, in->dims, sizeof dims);
    int new_dim = pt2_axes_new_dim(layer, in);
    if (new_dim >= 0) dims[axis] = new_dim;
    if (index < 0) return pt2_lower_set_output(ctx, node, layer, in->rank, dims, err);
    return pt2_axes_set_layer_output_at(ctx, node, (size_t)index, layer, in->rank, dims, err);
}

static int arg_is_symbolic(const pt2_node *node, const char *name) {
    const pt2_arg *a = pt2_node_arg(node, name);
    return a && a->kind == PT2_ARG_SYM_INT;
}

static pt2_status input_axis(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value **in, int *axis,
                             int64_t *size, pt2_error *err) {
    int64_t dim = 0;
    pt2_status st = data_input(ctx, node, in, err);
    if (!st && pt2_node_arg(node, "dim")) st = pt2_op_int(ctx->run, node, "dim", &dim, err);
    if (!st) st = wrap_axis(node, dim, (*in)->rank, axis, err);
    if (st) return st;
    *size = ctx->run->values[data_arg(node)->value_id].tensor.shape[*axis];
    return PT2_OK;
}

static pt2_status select_static(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in, int axis,
                                int64_t i, int index, int keep_axis, pt2_error *err);

/* A static axis sliced to a length of the input's (GPT-Neo's causal mask buffer, [.., 64, 64]
 * sliced to [.., T, T]): a slice layer would keep this run's length for every length, so the
 * value is gathered at the positions start, start + 1, ... along the axis of that length. Where
 * the value has that dim already (the mask's queries' time), the positions go along the second
 * copy of it, the keys' time that attention scores have (pt2_lower_second_copy_of_axis). */
static pt2_status static_axis_to_length(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in,
                                        int axis, int64_t start, int64_t step, pt2_error *err) {
    const pt2_value *meta = &ctx->graph->values[node->outputs[0].value_id];
    const pt2_lowered_value *holder;
    int holder_axis;
    if (step != 1 || start < 0 || arg_is_symbolic(node, "start") || axis >= meta->rank ||
        !pt2_axes_find_size(ctx, &meta->sizes[axis], &holder, &holder_axis))
        return pt2_lower_fail(node, err, "a static axis sliced to a length computed from the input is lowered from a fixed "
                              "start >= 0 with step 1 to a length that is an axis of a value computed before it");
    pt2_lowered_value positions, copied;
    pt2_status st = pt2_lower_positions_of_length(ctx, node, holder, holder_axis, start, &positions, err);
    if (st) return st;
    for (int a = 0; a < in->rank; a++)
        if (in->dims[a] == positions.dims[0]) {
            if ((st = pt2_lower_second_copy_of_axis(ctx, node, &positions, 0, &copied, err))) return st;
            positions = copied;
            break;
        }
    return pt2_lower_gather_at(ctx, node, in, axis, &positions, err);
}

static pt2_status lower_slice(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_arg *self = pt2_node_arg(node, "self");
    if (self && self->kind == PT2_ARG_TENSOR && !ctx->dynamic[self->value_id])
        return pt2_lower_slice_of_constant(ctx, node, err); /* to a length of the input's */
    const pt2_lowered_value *in;
    int axis, present;
    int64_t n, start = 0, end = INT64_MAX, step = 1;
    slice_bounds b = {0};
    pt2_status st = input_axis(ctx, node, &in, &axis, &n, err);
    /* Along a broadcast axis the value is constant, so any slice of it is the value (the map
     * keeps the axis broadcast: core/lower/axes.c lets slices follow broadcast axes). */
    if (!st && in->dims[axis] < 0) return pt2_lower_alias(ctx, node, in, err);
    if (!st) st = pt2_op_optional_int(ctx->run, node, "start", &start, &present, err);
    if (!st && !present) start = 0;
    if (!st) st = pt2_op_optional_int(ctx->run, node, "end", &end, &present, err);
    if (!st && !present) end = INT64_MAX;
    if (!st && pt2_node_arg(node, "step")) st = pt2_op_int(ctx->run, node, "step", &step, err);
    /* x[:, i:i+1] on the time from its start: frame i, which every sequence has, as select takes
     * it, its size-1 axis then a broadcast axis (transformers' mask helpers take position_ids[:, :1]). */
    if (!st && ctx->net->dims[in->dims[axis]].kind == PT2_RT_DIM_DYNAMIC && step == 1 && start >= 0 && end == start + 1 &&
        !arg_is_symbolic(node, "start") && !arg_is_symbolic(node, "end"))
        return select_static(ctx, node, in, axis, start, -1, 1, err);
    if (!st && ctx->net->dims[in->dims[axis]].kind == PT2_RT_DIM_STATIC && arg_is_symbolic(node, "end"))
        return static_axis_to_length(ctx, node, in, axis, start, step, err);
    if (!st) st = normalise_slice(ctx, node, in, axis, n, start, end, arg_is_symbolic(node, "end"), step, &b, err);
    if (!st) st = check_dynamic_bounds(ctx, node, in, axis, arg_is_symbolic(node, "start") ? "start" : NULL,
                                       b.has_end && arg_is_symbolic(node, "end") ? "end" : NULL, NULL, err);
    return st ? st : slice_layer(ctx, node, in, axis, &b, -1, err);
}

static pt2_status lower_narrow(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    int axis;
    int64_t n, start, length;
    slice_bounds b = {0};
    pt2_status st = input_axis(ctx, node, &in, &axis, &n, err);
    if (!st) st = pt2_op_int(ctx->run, node, "start", &start, err);
    if (!st) st = pt2_op_int(ctx->run, node, "length", &length, err);
    if (st) return st;
    if (start < 0 && ctx->net->dims[in->dims[axis]].kind != PT2_RT_DIM_STATIC)
        return pt2_lower_fail(node, err, "axis %d: a start counted from the end of a dynamic axis", axis);
    if (start < 0) start += n;
    int symbolic = arg_is_symbolic(node, "length") || arg_is_symbolic(node, "start");
    if (!st) st = normalise_slice(ctx, node, in, axis, n, start, start + length, symbolic, 1, &b, err);
    if (!st && symbolic) st = check_dynamic_bounds(ctx, node, in, axis, "start", b.has_end ? "start" : NULL, "length", err);
    return st ? st : slice_layer(ctx, node, in, axis, &b, -1, err);
}

/* chunk / split / split_with_sizes: one slice per piece, each checked against its output. */
static pt2_status lower_split(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    int axis;
    int64_t n, sizes[64], piece = 0;
    size_t count = 0;
    pt2_status st = input_axis(ctx, node, &in, &axis, &n, err);
    if (st) return st;
    if (ctx->net->dims[in->dims[axis]].kind != PT2_RT_DIM_STATIC)
        return pt2_lower_fail(node, err, "axis %d is dynamic: pieces of fixed sizes along it are not lowered", axis);
    if (strstr(node->target, "split_with_sizes")) {
        if ((st = pt2_op_ints(ctx->run, node, "split_sizes", sizes, 64, &count, err))) return st;
    } else {
        if (strstr(node->target, "chunk")) {
            int64_t chunks;
            if ((st = pt2_op_int(ctx->run, node, "chunks", &chunks, err))) return st;
            piece = chunks > 0 ? (n + chunks - 1) / chunks : 0;
        } else if ((st = pt2_op_int(ctx->run, node, "split_size", &piece, err))) return st;
        if (piece < 1) return pt2_lower_fail(node, err, "pieces of size %lld", (long long)piece);
        for (int64_t at = 0; at < n && count < 64; at += piece) sizes[count++] = at + piece <= n ? piece : n - at;
    }
    int64_t at = 0;
    for (size_t i = 0; i < count; i++) {
        slice_bounds b = {at, at + sizes[i], 1, 1};
        if ((st = slice_layer(ctx, node, in, axis, &b, (int)i, err))) return st;
        at += sizes[i];
    }
    return PT2_OK;
}

/* select(dim, i) and unbind: the slice [i, i+1) on a static axis, or on the time for an index
 * from its start (x[:, 0]: every sequence has frame i, and RETURNN's slice of the time with an end
 * is a static dim), then squeeze of that axis (the squeeze is the node's layer, checked against
 * PyTorch's output `index`). keep_axis: the result keeps the axis, as a broadcast axis (x[:, i:i+1]). */
static pt2_status select_static(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in, int axis,
                                int64_t i, int index, int keep_axis, pt2_error *err) {
    if (ctx->net->dims[in->dims[axis]].kind == PT2_RT_DIM_BATCH)
        return pt2_lower_fail(node, err, "axis %d is the batch: selecting one of its entries is not lowered", axis);
    char name[220];
    const char *base = ctx->places[node - ctx->graph->nodes].base, *description;
    pt2_rt_layer *slice, *squeeze;
    snprintf(name, sizeof name, "%s_slice%d", base, index < 0 ? 0 : index);
    pt2_status st = pt2_axes_describe(ctx, node, in, axis, &description, err);
    if (!st) st = pt2_lower_new_layer_named(ctx, node, name, "slice", &slice, err);
    if (!st) st = pt2_lower_add_source(ctx, slice, in, err);
    if (!st) st = pt2_rt_set_string(slice, "axis", description, err);
    if (!st) st = pt2_rt_set_int(slice, "slice_start", i, err);
    if (!st) st = pt2_rt_set_int(slice, "slice_end", i + 1, err);
    if (!st) st = pt2_rt_set_int(slice, "slice_step", 1, err);
    if (!st) st = pt2_lower_infer(ctx, node, slice, err);
    if (st) return st;
    pt2_lowered_value sliced;
    int dims[PT2_MAX_RANK];
    memcpy(dims, in->dims, sizeof dims);
    dims[axis] = pt2_axes_new_dim(slice, in);
    pt2_axes_value_of(slice, in->rank, dims, &sliced);
    if ((st = pt2_axes_describe(ctx, node, &sliced, axis, &description, err))) return st;
    if (index < 0) st = pt2_lower_new_layer(ctx, node, "squeeze", &squeeze, err);
    else {
        snprintf(name, sizeof name, "%s_%d", base, index);
        st = pt2_lower_new_layer_named(ctx, node, name, "squeeze", &squeeze, err);
    }
    if (!st) st = pt2_lower_add_source(ctx, squeeze, &sliced, err);
    if (!st) st = pt2_rt_set_string(squeeze, "axis", description, err);
    if (!st) st = pt2_lower_infer(ctx, node, squeeze, err);
    if (st) return st;
    int rank = 0;
    for (int a = 0; a < in->rank; a++)
        if (a != axis) dims[rank++] = in->dims[a];
        else if (keep_axis) dims[rank++] = PT2_AXIS_BROADCAST; /* x[:, i:i+1]: the frame, constant along its size-1 axis */
    if (index < 0) return pt2_lower_set_output(ctx, node, squeeze, rank, dims, err);
    return pt2_axes_set_layer_output_at(ctx, node, (size_t)index, squeeze, rank, dims, err);
}

static pt2_status lower_select(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    int axis;
    int64_t n, index;
    pt2_status st = input_axis(ctx, node, &in, &axis, &n, err);
    if (!st) st = pt2_op_int(ctx->run, node, "index", &index, err);
    if (st) return st;
    if (index < 0 && ctx->net->dims[in->dims[axis]].kind == PT2_RT_DIM_DYNAMIC)
        return pt2_lower_select_from_end(ctx, node, in, axis, index, err); /* each sequence's own frame */
    if (index < 0) index += n;
    if (index < 0 || index >= n) return pt2_lower_fail(node, err, "index %lld out of range", (long long)index);
    const pt2_arg *self = pt2_node_arg(node, "self");
    if (n == 1 && ctx->net->dims[in->dims[axis]].kind == PT2_RT_DIM_BATCH && self && self->kind == PT2_ARG_TENSOR)
        /* x[0] of an example of one sequence: that sequence, a view that hides the batch
         * (core/lower/axes.h, pt2_axes_hidden_batch) */
        return pt2_axes_view(ctx, node, &ctx->values[self->value_id], node->outputs[0].value_id, err);
    return select_static(ctx, node, in, axis, index, -1, 0, err);
}

static pt2_status lower_unbind(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    int axis;
    int64_t n;
    pt2_status st = input_axis(ctx, node, &in, &axis, &n, err);
    if (!st && ctx->net->dims[in->dims[axis]].kind == PT2_RT_DIM_DYNAMIC)
        return pt2_lower_fail(node, err, "unbind over the dynamic axis %d: the number of its results depends on the input", axis);
    for (int64_t i = 0; !st && i < n; i++) st = select_static(ctx, node, in, axis, i, (int)i, 0, err);
    return st;
}

/* expand / expand_as / repeat. repeat, and expand of a real size-1 axis (a RETURNN dim of size 1)
 * to a static size, are RETURNN's tile (tf.tile) of static axes. expand of a broadcast axis (an
 * unsqueeze's, a keepdim reduction's, a constant's size-1 axis) or a new leading axis needs no
 * layer at all, to any size (the batch and the time too): the value is constant along it, so it
 * stays a broadcast axis of the map (core/lower/axes.h), and the op consuming it broadcasts. */
static pt2_status tile_to(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *source,
                          const pt2_lowered_value *in, const int64_t *multiples, pt2_error *err) {
    const char **keys = pt2_arena_alloc_array(ctx->arena, (size_t)in->rank + 1, sizeof *keys, err);
    pt2_rt_value *items = pt2_arena_alloc_array(ctx->arena, (size_t)in->rank + 1, sizeof *items, err);
    if (!keys || !items) return err->status;
    size_t count = 0;
    pt2_status st = PT2_OK;
    for (int a = 0; a < in->rank && !st; a++) {
        if (multiples[a] == 1) continue;
        if (in->dims[a] < 0) return pt2_lower_fail(node, err, "axis %d is a broadcast axis: repeating it is not lowered", a);
        if (ctx->net->dims[in->dims[a]].kind != PT2_RT_DIM_STATIC)
            return pt2_lower_fail(node, err, "axis %d ('%s') is the batch or dynamic: RETURNN's tile repeats static axes only", a,
                                  ctx->net->dims[in->dims[a]].description);
        st = pt2_axes_describe(ctx, node, in, a, &keys[count], err);
        items[count++] = (pt2_rt_value){.kind = PT2_RT_INT, .int_value = multiples[a]};
    }
    if (st) return st;
    if (!count) return pt2_axes_set_output_at(ctx, node, 0, in, err);
    pt2_rt_value dict = {.kind = PT2_RT_DICT, .count = count, .items = items, .keys = keys};
    pt2_rt_layer *layer;
    if ((st = pt2_lower_new_layer(ctx, node, "tile", &layer, err))) return st;
    if (!st) st = pt2_lower_add_source(ctx, layer, source, err);
    if (!st) st = pt2_rt_set_value(layer, "multiples", &dict, err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    int dims[PT2_MAX_RANK];
    memcpy(dims, in->dims, sizeof dims);
    for (int a = 0; a < in->rank; a++) /* tile keeps the axis order of its source */
        if (multiples[a] != 1) dims[a] = layer->shape.dims[pt2_rt_shape_axis(&in->shape, in->dims[a])];
    return pt2_lower_set_output(ctx, node, layer, in->rank, dims, err);
}

static pt2_status lower_expand(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const char *name = pt2_node_arg(node, "self") ? "self" : "input";
    const pt2_lowered_value *in;
    pt2_lowered_value placed;
    pt2_status st = pt2_lower_input(ctx, node, name, &in, err);
    if (st) return st;
    if (!in) { /* a constant (a learned vector expanded to the data's shape): its variable layer */
        pt2_tensor c;
        int present;
        if ((st = pt2_lower_constant(ctx, node, name, &c, &present, err))) return st;
        if ((st = pt2_lower_constant_layer(ctx, node, &c, NULL, &placed, err))) return st;
        in = &placed;
    }
    const pt2_arg *a = pt2_node_arg(node, name);
    const pt2_tensor *x = &ctx->run->values[a->value_id].tensor, *y = &ctx->run->values[node->outputs[0].value_id].tensor;
    const pt2_value *y_meta = &ctx->graph->values[node->outputs[0].value_id];
    if (y->rank < x->rank || y->rank > PT2_MAX_RANK) return pt2_lower_fail(node, err, "expand to %d axes from %d", y->rank, x->rank);
    int lead = y->rank - x->rank;
    /* The output's map: new leading axes are broadcast axes. */
    pt2_lowered_value out = *in;
    out.rank = y->rank;
    for (int b = 0; b < y->rank; b++) out.dims[b] = b < lead ? PT2_AXIS_BROADCAST : in->dims[b - lead];
    int64_t multiples[PT2_MAX_RANK];
    for (int b = 0; b < y->rank; b++) {
        int64_t from = b < lead ? 1 : x->shape[b - lead];
        multiples[b] = 1;
        if (from == y->shape[b] || out.dims[b] < 0) continue; /* a broadcast axis stays one, of any size */
        if (from != 1) return pt2_lower_fail(node, err, "axis %d: expand of size %lld", b, (long long)from);
        if (b < y_meta->rank && y_meta->sizes[b].is_symbolic)
            return pt2_lower_fail(node, err, "axis %d is a RETURNN dim of size 1 ('%s'); expanding it to a dynamic size is "
                                  "not lowered", b, ctx->net->dims[out.dims[b]].description);
        multiples[b] = y->shape[b];
    }
    return tile_to(ctx, node, lead || in == &placed ? &out : in, &out, multiples, err);
}

static pt2_status lower_repeat(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    int64_t repeats[PT2_MAX_RANK];
    size_t count;
    pt2_status st = data_input(ctx, node, &in, err);
    if (!st) st = pt2_op_ints(ctx->run, node, "repeats", repeats, PT2_MAX_RANK, &count, err);
    if (st) return st;
    if ((int)count != in->rank) return pt2_lower_fail(node, err, "repeat adding %d leading axes is not lowered", (int)count - in->rank);
    return tile_to(ctx, node, in, in, repeats, err);
}

/* ---- matmul -> dot ---- */

pt2_status pt2_lower_dot_layer(pt2_lower_context *ctx, const pt2_node *node, const char *name, const pt2_lowered_value *a,
                               int red_a, int var_a, const pt2_lowered_value *b, int red_b, int var_b, pt2_rt_layer **out,
                               pt2_error *err) {
    const char *red1, *red2, *var1[PT2_MAX_RANK], *var2[PT2_MAX_RANK];
    size_t num_var1 = 1, num_var2 = 1;
    pt2_status st = pt2_axes_describe(ctx, node, a, red_a, &red1, err);
    if (!st) st = pt2_axes_describe(ctx, node, b, red_b, &red2, err);
    if (!st) st = pt2_axes_describe(ctx, node, a, var_a, &var1[0], err);
    if (!st) st = pt2_axes_describe(ctx, node, b, var_b, &var2[0], err);
    /* The other axes, aligned from the last, are shared; one broadcast on one side (keys and
     * values of one head for every query head) is the other side's alone: kept, as a var. */
    for (int i = 1; !st && i <= a->rank && i <= b->rank; i++) {
        int ia = a->rank - i, ib = b->rank - i;
        if (ia == red_a || ia == var_a || ib == red_b || ib == var_b) continue;
        int real_a = pt2_axes_is_real(a, ia), real_b = pt2_axes_is_real(b, ib);
        if (real_a && !real_b) st = pt2_axes_describe(ctx, node, a, ia, &var1[num_var1++], err);
        if (real_b && !real_a) st = pt2_axes_describe(ctx, node, b, ib, &var2[num_var2++], err);
    }
    /* A hidden batch (core/lower/axes.h) against a side without a batch (a constant's variable)
     * is that side's alone too. */
    int hidden_a = pt2_axes_hidden_batch(ctx, a), hidden_b = pt2_axes_hidden_batch(ctx, b);
    if (hidden_a >= 0 && pt2_rt_shape_axis(&b->shape, hidden_a) < 0) var1[num_var1++] = "B";
    if (hidden_b >= 0 && pt2_rt_shape_axis(&a->shape, hidden_b) < 0) var2[num_var2++] = "B";
    if (!st) st = name ? pt2_lower_new_layer_named(ctx, node, name, "dot", out, err) : pt2_lower_new_layer(ctx, node, "dot", out, err);
    if (!st) st = pt2_lower_add_source(ctx, *out, a, err);
    if (!st) st = pt2_lower_add_source(ctx, *out, b, err);
    if (!st) st = pt2_rt_set_string_list(ctx->arena, *out, "red1", &red1, 1, err);
    if (!st) st = pt2_rt_set_string_list(ctx->arena, *out, "red2", &red2, 1, err);
    if (!st) st = pt2_rt_set_string_list(ctx->arena, *out, "var1", var1, num_var1, err);
    if (!st) st = pt2_rt_set_string_list(ctx->arena, *out, "var2", var2, num_var2, err);
    if (!st) st = pt2_lower_infer(ctx, node, *out, err);
    return st;
}

pt2_status pt2_lower_size_one_axis(pt2_lower_context *ctx, const pt2_node *node, const char *name,
                                  const pt2_lowered_value *v, pt2_lowered_value *out, pt2_error *err) {
    pt2_rt_layer *expand;
    pt2_status st = pt2_lower_new_layer_named(ctx, node, name, "expand_dims", &expand, err);
    if (!st) st = pt2_lower_add_source(ctx, expand, v, err);
    if (!st) st = pt2_rt_set_string(expand, "axis", "spatial", err);
    if (!st) st = pt2_rt_set_int(expand, "dim", 1, err);
    if (!st) st = pt2_lower_infer(ctx, node, expand, err);
    if (st) return st;
    int dims[PT2_MAX_RANK];
    memcpy(dims, v->dims, sizeof dims);
    dims[v->rank] = pt2_axes_new_dim(expand, v);
    pt2_axes_value_of(expand, v->rank + 1, dims, out);
    return PT2_OK;
}

static int dynamic_dims(const pt2_rt_net *net, const pt2_rt_shape *shape) {
    int count = 0;
    for (int a = 0; a < shape->rank; a++) count += net->dims[shape->dims[a]].kind == PT2_RT_DIM_DYNAMIC;
    return count;
}

/* The layer that made the network's first second copy of dim `of` (a merge_dims "..._second_axis"
 * whose one dynamic dim is that copy), if it is not `made`. */
static const pt2_rt_layer *first_copy_of(const pt2_lower_context *ctx, int of, const pt2_rt_layer *made) {
    size_t suffix = strlen("_second_axis");
    for (size_t i = 0; i < ctx->net->num_layers; i++) {
        const pt2_rt_layer *l = &ctx->net->layers[i];
        size_t n = strlen(l->name);
        if (l == made || strcmp(l->layer_class, "merge_dims") || n < suffix || strcmp(l->name + n - suffix, "_second_axis") ||
            dynamic_dims(ctx->net, &l->shape) != 1)
            continue;
        const pt2_rt_dim *d = &ctx->net->dims[l->shape.dims[pt2_rt_shape_time_axis(ctx->net, &l->shape)]];
        if (d->base == of && d->mul == 1 && d->add == 0 && d->div == 1) return l;
    }
    return NULL;
}

/* `in` with axis `axis` (a dynamic dim) replaced by a new dim of the same length: expand_dims
 * then merge_dims of that axis with the new size-1 axis (RETURNN's T*1 is a dim of its own).
 * A product then holds both, e.g. attention scores [queries' time, keys' time]. */
pt2_status pt2_lower_second_copy_of_axis(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in,
                                      int axis, pt2_lowered_value *out, pt2_error *err) {
    if (ctx->net->dims[in->dims[axis]].kind != PT2_RT_DIM_DYNAMIC)
        return pt2_lower_fail(node, err, "axis %d would be in the result twice ('%s')", axis,
                              ctx->net->dims[in->dims[axis]].description);
    const char *base = ctx->places[node - ctx->graph->nodes].base, *names[2];
    char name[220];
    pt2_rt_layer *merge;
    snprintf(name, sizeof name, "%s_expand", base);
    pt2_lowered_value expanded;
    pt2_status st = pt2_lower_size_one_axis(ctx, node, name, in, &expanded, err);
    if (st) return st;
    int dims[PT2_MAX_RANK];
    memcpy(dims, expanded.dims, sizeof dims);
    if ((st = pt2_axes_describe(ctx, node, &expanded, axis, &names[0], err))) return st;
    if ((st = pt2_axes_describe(ctx, node, &expanded, in->rank, &names[1], err))) return st;
    snprintf(name, sizeof name, "%s_second_axis", base);
    if ((st = pt2_lower_new_layer_named(ctx, node, name, "merge_dims", &merge, err))) return st;
    if (!st) st = pt2_lower_add_source(ctx, merge, &expanded, err);
    if (!st) st = pt2_rt_set_string_list(ctx->arena, merge, "axes", names, 2, err);
    if (!st) st = pt2_rt_set_bool(merge, "keep_order", 1, err);
    if (!st) st = pt2_lower_infer(ctx, node, merge, err);
    if (st) return st;
    dims[axis] = pt2_axes_new_dim(merge, &expanded);
    pt2_axes_value_of(merge, in->rank, dims, out);
    /* One second copy per dim in the network: a causal mask made once from the positions
     * (core/lower/lower_operands.c) meets every layer's attention scores, whose keys' time is such
     * a copy, so a later copy is declared the first (reinterpret_data size_base, one dynamic dim on
     * either side, as RETURNN's size_base maps them). */
    const pt2_rt_layer *first = first_copy_of(ctx, in->dims[axis], merge);
    if (!first || dynamic_dims(ctx->net, &merge->shape) != 1) return PT2_OK;
    pt2_rt_layer *retag;
    snprintf(name, sizeof name, "%s_second_axis_same", base);
    if ((st = pt2_lower_new_layer_named(ctx, node, name, "reinterpret_data", &retag, err))) return st;
    if (!st) st = pt2_lower_add_source(ctx, retag, out, err);
    if (!st) st = pt2_rt_set_string(retag, "size_base", first->name, err);
    if (!st) st = pt2_lower_infer(ctx, node, retag, err);
    if (st) return st;
    dims[axis] = first->shape.dims[pt2_rt_shape_time_axis(ctx->net, &first->shape)];
    pt2_axes_value_of(retag, in->rank, dims, out);
    return PT2_OK;
}

/* A copy of a dynamic dim (second_copy_of_axis) is a dim of its own in RETURNN; a dot reducing
 * over it and over the original (attention weights [.., keys' time] times values [.., time, ..])
 * needs the two declared the same: reinterpret_data with size_base on the layer that made the
 * copy. Static dims of one size need nothing. */
pt2_status pt2_lower_same_dim_as(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in, int axis,
                              int dim, pt2_lowered_value *out, pt2_error *err) {
    const pt2_rt_dim *have = &ctx->net->dims[in->dims[axis]], *want = &ctx->net->dims[dim];
    *out = *in;
    /* static dims of one size: RETURNN matches them as they are; the caller keeps `in` (a copy
     * of a graph value's map would not be fed PyTorch's tensor in the check) */
    if (have->kind == PT2_RT_DIM_STATIC && want->kind == PT2_RT_DIM_STATIC && have->size == want->size) {
        out->is_set = 0;
        return PT2_OK;
    }
    int copy = want->kind == PT2_RT_DIM_DYNAMIC && want->base == in->dims[axis] && want->mul == 1 && want->add == 0 && want->div == 1;
    int time = pt2_rt_shape_time_axis(ctx->net, &in->shape);
    if (!copy || time < 0 || in->shape.dims[time] != in->dims[axis])
        return pt2_lower_fail(node, err, "axis %d ('%s') is reduced against a different dim ('%s')", axis, have->description,
                              want->description);
    const pt2_rt_layer *base = NULL;
    for (size_t i = 0; i < ctx->net->num_layers && !base; i++) {
        int t = pt2_rt_shape_time_axis(ctx->net, &ctx->net->layers[i].shape);
        if (t >= 0 && ctx->net->layers[i].shape.dims[t] == dim) base = &ctx->net->layers[i];
    }
    if (!base) return pt2_lower_fail(node, err, "no layer has '%s' as its time axis", want->description);
    char name[220];
    snprintf(name, sizeof name, "%s_same_time", ctx->places[node - ctx->graph->nodes].base);
    pt2_rt_layer *layer;
    pt2_status st = pt2_lower_new_layer_named(ctx, node, name, "reinterpret_data", &layer, err);
    if (!st) st = pt2_lower_add_source(ctx, layer, in, err);
    if (!st) st = pt2_rt_set_string(layer, "size_base", base->name, err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    int dims[PT2_MAX_RANK];
    memcpy(dims, in->dims, sizeof dims);
    dims[axis] = dim;
    pt2_axes_value_of(layer, in->rank, dims, out);
    return PT2_OK;
}

pt2_status pt2_lower_matmul_values(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *a,
                                   const pt2_lowered_value *b, const char *base, pt2_lowered_value *out, pt2_error *err) {
    pt2_status st = PT2_OK;
    if (a->rank < 2 || a->rank != b->rank)
        return pt2_lower_fail(node, err, "operands of %d and %d axes (equal ranks of at least 2 are lowered)", a->rank, b->rank);
    int r = a->rank;
    /* The leading axes are shared: the same dim, or static dims of one size (RETURNN matches those). */
    for (int i = 0; i < r - 2; i++) {
        const pt2_rt_dim *x = &ctx->net->dims[a->dims[i]], *y = &ctx->net->dims[b->dims[i]];
        if (a->dims[i] != b->dims[i] && !(x->kind == PT2_RT_DIM_STATIC && y->kind == PT2_RT_DIM_STATIC && x->size == y->size))
            return pt2_lower_fail(node, err, "axis %d is a different dim in the two operands ('%s' and '%s')", i,
                                  x->description, y->description);
    }
    pt2_lowered_value renamed;
    if (a->dims[r - 2] == b->dims[r - 1]) { /* e.g. queries' and keys' time: the keys get a dim of their own */
        if ((st = pt2_lower_second_copy_of_axis(ctx, node, b, r - 1, &renamed, err))) return st;
        b = &renamed;
    }
    pt2_lowered_value same_length;
    if (a->dims[r - 1] != b->dims[r - 2]) {
        if ((st = pt2_lower_same_dim_as(ctx, node, b, r - 2, a->dims[r - 1], &same_length, err))) return st;
        if (same_length.is_set) b = &same_length;
    }
    pt2_rt_layer *layer;
    if ((st = pt2_lower_dot_layer(ctx, node, base, a, r - 1, r - 2, b, r - 2, r - 1, &layer, err))) return st;
    int dims[PT2_MAX_RANK];
    memcpy(dims, a->dims, sizeof dims);
    dims[r - 1] = b->dims[r - 1];
    if (base) {
        pt2_axes_value_of(layer, r, dims, out);
        return PT2_OK;
    }
    return pt2_lower_set_output(ctx, node, layer, r, dims, err);
}

static pt2_status lower_matmul(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *a, *b;
    const char *first = pt2_node_arg(node, "self") ? "self" : "input", *second = pt2_node_arg(node, "other") ? "other" : "mat2";
    pt2_status st = pt2_lower_input(ctx, node, first, &a, err);
    if (!st) st = pt2_lower_input(ctx, node, second, &b, err);
    if (st) return st;
    if (a && !b) {
        /* A constant of more than two axes (DeBERTa-v2's position keys per head [H, D, K]): a
         * variable, multiplied as a layer; a matrix [in, out] is a linear layer. */
        const pt2_arg *arg = pt2_node_arg(node, second);
        const pt2_tensor *w = arg && arg->kind == PT2_ARG_TENSOR ? &ctx->run->values[arg->value_id].tensor : NULL;
        if (!w || w->rank <= 2 || w->dtype != PT2_DTYPE_FLOAT32) return pt2_lower_matmul_constant(ctx, node, first, second, err);
        pt2_lowered_value variable;
        pt2_status st = pt2_lower_constant_layer(ctx, node, w, NULL, &variable, err);
        if (st) return st;
        for (int i = 0; i < variable.rank; i++)
            if (variable.dims[i] < 0)
                return pt2_lower_fail(node, err, "a constant operand with an axis of size 1 (broadcast) is not lowered");
        return pt2_lower_matmul_values(ctx, node, a, &variable, NULL, NULL, err);
    }
    if (!a || !b) return pt2_lower_fail(node, err, "a product with a constant on the left is not lowered");
    return pt2_lower_matmul_values(ctx, node, a, b, NULL, NULL, err);
}

const pt2_op_lowering pt2_lowerings_layout[] = {
    {"aten.transpose.int", lower_transpose, ""},
    {"aten.permute.default", lower_permute, ""},
    {"aten.t.default", lower_swapaxes, ""},
    {"aten.numpy_T.default", lower_numpy_t, ""},
    {"aten.swapaxes.default", lower_swapaxes, ""},
    {"aten.movedim.int", lower_movedim, ""},
    {"aten.view.default", lower_view, "squeeze merge_dims split_dims"},
    {"aten.reshape.default", lower_view, "squeeze merge_dims split_dims"},
    {"aten.reshape_as.default", lower_view, "squeeze merge_dims split_dims"},
    {"aten.view_as.default", lower_view, "squeeze merge_dims split_dims"},
    {"aten._unsafe_view.default", lower_view, "squeeze merge_dims split_dims"},
    {"aten.flatten.using_ints", lower_view, "squeeze merge_dims split_dims"},
    {"aten.unflatten.int", lower_view, "squeeze merge_dims split_dims"},
    {"aten.squeeze.default", lower_view, "squeeze merge_dims split_dims"},
    {"aten.squeeze.dim", lower_view, "squeeze merge_dims split_dims"},
    {"aten.squeeze.dims", lower_view, "squeeze merge_dims split_dims"},
    {"aten.unsqueeze.default", lower_view, "squeeze merge_dims split_dims"},
    {"aten.to.dtype", lower_same_dtype, ""},
    {"aten.to.dtype_layout", lower_same_dtype, ""},
    {"aten._to_copy.default", lower_same_dtype, ""},
    {"aten.type_as.default", lower_same_dtype, ""},
    {"aten._assert_tensor_metadata.default", lower_no_output, ""},
    {"aten.slice.Tensor", lower_slice, "slice squeeze range_in_axis eval:add_scalar variable gather expand_dims merge_dims reinterpret_data"},
    {"aten.narrow.default", lower_narrow, "slice"},
    {"aten.select.int", lower_select, "slice squeeze length eval:add_scalar gather merge_dims split_dims"},
    {"aten.unbind.int", lower_unbind, "slice squeeze"},
    {"aten.expand.default", lower_expand, "tile variable"},
    {"aten.broadcast_to.default", lower_expand, "tile variable"}, /* expand under another name */
    {"aten.expand_as.default", lower_expand, "tile variable"},
    {"aten.repeat.default", lower_repeat, "tile"},
    {"aten.chunk.default", lower_split, "slice"},
    {"aten.split.Tensor", lower_split, "slice"},
    {"aten.split_with_sizes.default", lower_split, "slice"},
    /* The functional _copy variants compute what their views do (same arguments). */
    {"aten.view_copy.default", lower_view, "squeeze merge_dims split_dims"},
    {"aten.squeeze_copy.dim", lower_view, "squeeze merge_dims split_dims"},
    {"aten.squeeze_copy.dims", lower_view, "squeeze merge_dims split_dims"},
    {"aten.unsqueeze_copy.default", lower_view, "squeeze merge_dims split_dims"},
    {"aten.permute_copy.default", lower_permute, ""},
    {"aten.transpose_copy.int", lower_transpose, ""},
    {"aten.slice_copy.Tensor", lower_slice, "slice"},
    {"aten.select_copy.int", lower_select, "slice squeeze length eval:add_scalar gather"},
    {"aten.unbind_copy.int", lower_unbind, "slice squeeze"},
    {"aten.expand_copy.default", lower_expand, "tile variable"},
    {"aten.split_copy.Tensor", lower_split, "slice"},
    {"aten.split_with_sizes_copy.default", lower_split, "slice"},
    {"aten.matmul.default", lower_matmul, "dot expand_dims merge_dims reinterpret_data linear variable"},
    {"aten.bmm.default", lower_matmul, "dot expand_dims merge_dims reinterpret_data linear variable"},
    {"aten.mm.default", lower_matmul, "dot expand_dims merge_dims reinterpret_data linear variable"},
    {NULL, NULL, NULL}};
