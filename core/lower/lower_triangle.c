/* tril / triu of a value computed from the input: x where its position is on the kept side of the
 * diagonal (col - row <= k for tril, >= k for triu), else 0, over its last two axes. The positions
 * are RETURNN's range_in_axis over each of those axes (on the time each frame's own index, so a
 * padded batch is right), their difference combines onto zeros of x's dims, the side is a
 * compare, the choice a switch with 0 as its other branch. The two axes must be different dims (rows and columns of one dim would
 * be one axis to RETURNN). */
#include <stdio.h>
#include <string.h>

#include "../naming/naming.h"
#include "axes.h"
#include "lower_operands.h"
#include "lowerings.h"

static pt2_status positions(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in, int axis,
                            const char *suffix, pt2_lowered_value *out, pt2_error *err) {
    char name[240];
    snprintf(name, sizeof name, "%s_%s", ctx->places[node - ctx->graph->nodes].base, suffix);
    return pt2_axes_positions(ctx, node, name, in, axis, PT2_DTYPE_FLOAT32, out, err);
}

/* A helper combine `kind` of a source with all of x's dims (first) and one position layer. */
static pt2_status combine_onto(pt2_lower_context *ctx, const pt2_node *node, const char *suffix, const char *kind,
                               const pt2_lowered_value *full, const pt2_lowered_value *part, pt2_lowered_value *out,
                               pt2_error *err) {
    char name[240];
    snprintf(name, sizeof name, "%s_%s", ctx->places[node - ctx->graph->nodes].base, suffix);
    pt2_rt_layer *layer;
    pt2_status st = pt2_lower_new_layer_named(ctx, node, name, "combine", &layer, err);
    if (!st) st = pt2_lower_add_source(ctx, layer, full, err);
    if (!st) st = pt2_lower_add_source(ctx, layer, part, err);
    if (!st) st = pt2_rt_set_string(layer, "kind", kind, err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    pt2_axes_value_of(layer, full->rank, full->dims, out);
    return PT2_OK;
}

static pt2_status lower_triangle(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    int64_t diagonal = 0;
    pt2_status st = pt2_lower_input(ctx, node, "self", &in, err);
    if (!st && !in) return pt2_lower_fail(node, err, "the triangle of a constant");
    if (!st && pt2_node_arg(node, "diagonal")) st = pt2_op_int(ctx->run, node, "diagonal", &diagonal, err);
    if (st) return st;
    if (in->rank < 2) return pt2_lower_fail(node, err, "a triangle of %d axes", in->rank);
    int r = in->rank - 2, c = in->rank - 1;
    if (in->dims[r] == in->dims[c])
        return pt2_lower_fail(node, err, "rows and columns are one dim ('%s'): RETURNN would take them as one axis",
                              ctx->net->dims[in->dims[r]].description);
    if (ctx->net->dims[in->dims[r]].kind == PT2_RT_DIM_BATCH || ctx->net->dims[in->dims[c]].kind == PT2_RT_DIM_BATCH)
        return pt2_lower_fail(node, err, "a triangle over the batch axis");
    if (in->shape.dtype != PT2_DTYPE_FLOAT32) return pt2_lower_fail(node, err, "a triangle of %s (float32 is lowered)",
                                                                      pt2_dtype_name(in->shape.dtype));
    /* The offsets col - row at every position of x: zeros of x's dims, plus the columns, minus the
     * rows (each combine has a source with all the dims, so RETURNN matches the two axes by their
     * tags and never takes rows and columns of one length for one axis). */
    pt2_lowered_value zeros, rows, cols, shifted, offsets, kept;
    char name[240];
    const char *base = ctx->places[node - ctx->graph->nodes].base;
    snprintf(name, sizeof name, "%s_zeros", base);
    if ((st = pt2_lower_unary_layer(ctx, node, 0, name, "eval", "fill_like", 0.0, in, &zeros, err))) return st;
    if ((st = positions(ctx, node, in, r, "rows", &rows, err))) return st;
    if ((st = positions(ctx, node, in, c, "columns", &cols, err))) return st;
    if ((st = combine_onto(ctx, node, "column_positions", "add", &zeros, &cols, &shifted, err))) return st;
    if ((st = combine_onto(ctx, node, "offsets", "sub", &shifted, &rows, &offsets, err))) return st;
    const pt2_lowered_value *one[1] = {&offsets};
    pt2_broadcast_layer side;
    snprintf(name, sizeof name, "%s_kept", base);
    st = pt2_lower_begin_broadcast(ctx, node, 0, name, "compare", one, 1, &side, err);
    if (!st) st = pt2_rt_set_string(side.layer, "kind", strstr(node->target, "triu") ? "greater_equal" : "less_equal", err);
    if (!st) st = pt2_rt_set_float(side.layer, "value", (double)diagonal, err);
    if (!st) st = pt2_lower_finish_broadcast(ctx, node, &side, &kept, err);
    if (st) return st;
    /* switch(kept, x, 0): the condition's dims are x's own (so no time to line up). */
    pt2_rt_layer *choice;
    if ((st = pt2_lower_new_layer(ctx, node, "switch", &choice, err))) return st;
    if (!st) st = pt2_lower_add_source(ctx, choice, &kept, err);
    if (!st) st = pt2_lower_add_source(ctx, choice, in, err);
    if (!st) st = pt2_rt_set_float(choice, "false_from", 0.0, err);
    if (!st) st = pt2_lower_infer(ctx, node, choice, err);
    return st ? st : pt2_lower_set_output(ctx, node, choice, in->rank, in->dims, err);
}

const pt2_op_lowering pt2_lowerings_triangle[] = {
    {"aten.triu.default", lower_triangle, "range_in_axis eval:fill_like combine compare switch reinterpret_data"},
    {"aten.tril.default", lower_triangle, "range_in_axis eval:fill_like combine compare switch reinterpret_data"},
    {NULL, NULL, NULL}};
