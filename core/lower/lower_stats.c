/* Lowering of argmax/argmin over one axis but the batch (the dynamic time too: RETURNN's reduce
 * masks the frames past each sequence's end with the float32 minimum / maximum, so they never
 * win): a "reduce" layer of mode argmax/argmin, whose output is RETURNN's sparse int32 indices,
 * then a "cast" to PyTorch's int64. keepdim=True is refused (a kept size-1 axis has no RETURNN
 * dim that broadcasts back). */
#include <stdio.h>
#include <string.h>

#include "../naming/naming.h"
#include "axes.h"
#include "lowerings.h"

static pt2_status lower_arg_reduction(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const char *mode = strstr(node->target, "argmax") ? "argmax" : "argmin";
    const pt2_lowered_value *in;
    int64_t dim = 0;
    int present = 0, keepdim = 0;
    pt2_status st = pt2_lower_input(ctx, node, "self", &in, err);
    if (!st && !in) return pt2_lower_fail(node, err, "%s of a constant", mode);
    if (!st) st = pt2_op_optional_int(ctx->run, node, "dim", &dim, &present, err);
    if (!st && pt2_node_arg(node, "keepdim")) st = pt2_op_bool(ctx->run, node, "keepdim", &keepdim, err);
    if (st) return st;
    if (!present) return pt2_lower_fail(node, err, "%s over every axis includes the batch", mode);
    if (keepdim) return pt2_lower_fail(node, err, "keepdim=True is not lowered (a size-1 axis that broadcasts has no RETURNN dim)");
    if (in->shape.dtype != PT2_DTYPE_FLOAT32) return pt2_lower_fail(node, err, "%s of %s values is not lowered (float32 is)", mode, pt2_dtype_name(in->shape.dtype));
    const char *axes[PT2_MAX_RANK];
    int reduced[PT2_MAX_RANK];
    if ((st = pt2_axes_reduced(ctx, node, in, &dim, 1, "reducing", axes, reduced, err))) return st;
    int dims[PT2_MAX_RANK], rank = 0;
    for (int a = 0; a < in->rank; a++)
        if (!reduced[a]) dims[rank++] = in->dims[a];

    char base[220];
    snprintf(base, sizeof base, "%s_%s", ctx->places[node - ctx->graph->nodes].base, mode);
    pt2_rt_layer *reduce, *cast;
    if ((st = pt2_lower_new_layer_named(ctx, node, base, "reduce", &reduce, err))) return st;
    if (!st) st = pt2_lower_add_source(ctx, reduce, in, err);
    if (!st) st = pt2_rt_set_string(reduce, "mode", mode, err);
    if (!st) st = pt2_rt_set_string_list(ctx->arena, reduce, "axes", axes, 1, err);
    if (!st) st = pt2_rt_set_bool(reduce, "keep_dims", 0, err);
    if (!st) st = pt2_lower_infer(ctx, node, reduce, err);
    if (st) return st;
    pt2_lowered_value indices;
    pt2_axes_value_of(reduce, rank, dims, &indices);
    if ((st = pt2_lower_new_layer(ctx, node, "cast", &cast, err))) return st;
    if (!st) st = pt2_lower_add_source(ctx, cast, &indices, err);
    if (!st) st = pt2_rt_set_string(cast, "dtype", "int64", err);
    if (!st) st = pt2_lower_infer(ctx, node, cast, err);
    return st ? st : pt2_lower_set_output(ctx, node, cast, rank, dims, err);
}

const pt2_op_lowering pt2_lowerings_stats[] = {
    {"aten.argmax.default", lower_arg_reduction, "reduce cast"},
    {"aten.argmin.default", lower_arg_reduction, "reduce cast"},
    {NULL, NULL, NULL}};
