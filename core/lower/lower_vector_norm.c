/* Lowering of linalg_vector_norm over one or more axes (not the batch; the time is masked by
 * RETURNN) to RETURNN's "math_norm" layer, for a finite positive ord; keepdim's size-1 axes are broadcast axes of the map. */
#include <math.h>
#include <string.h>

#include "axes.h"
#include "lowerings.h"

static pt2_status lower_vector_norm(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    int64_t dims_arg[PT2_MAX_RANK];
    size_t count = 0;
    int keepdim = 0;
    double ord = 2.0;
    pt2_status st = pt2_lower_input(ctx, node, "self", &in, err);
    if (!st && !in) return pt2_lower_fail(node, err, "the norm of a constant");
    const pt2_arg *dim = pt2_node_arg(node, "dim"), *dtype = pt2_node_arg(node, "dtype");
    if (!st && pt2_node_arg(node, "ord")) st = pt2_op_scalar(ctx->run, node, "ord", &ord, err);
    if (!st && dim && dim->kind != PT2_ARG_NONE) st = pt2_op_ints(ctx->run, node, "dim", dims_arg, PT2_MAX_RANK, &count, err);
    if (!st && pt2_node_arg(node, "keepdim")) st = pt2_op_bool(ctx->run, node, "keepdim", &keepdim, err);
    if (st) return st;
    if (!count) return pt2_lower_fail(node, err, "a norm over every axis includes the batch, which RETURNN keeps");
    if (dtype && dtype->kind != PT2_ARG_NONE) return pt2_lower_fail(node, err, "a norm with a dtype is not lowered");
    if (!(ord > 0) || isinf(ord)) return pt2_lower_fail(node, err, "ord %g: lowered for a finite positive ord", ord);
    const char *axes[PT2_MAX_RANK];
    int reduced[PT2_MAX_RANK];
    if ((st = pt2_axes_reduced(ctx, node, in, dims_arg, count, "a norm", axes, reduced, err))) return st;
    pt2_rt_layer *layer;
    if ((st = pt2_lower_new_layer(ctx, node, "math_norm", &layer, err))) return st;
    if (!st) st = pt2_lower_add_source(ctx, layer, in, err);
    if (!st) st = ord == floor(ord) ? pt2_rt_set_int(layer, "p", (int64_t)ord, err) : pt2_rt_set_float(layer, "p", ord, err);
    if (!st) st = pt2_rt_set_string_list(ctx->arena, layer, "axes", axes, (int)count, err);
    if (!st) st = pt2_rt_set_bool(layer, "keep_dims", 0, err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    /* A kept axis is a broadcast axis of the map: RETURNN's reduce drops it, and the result then
     * broadcasts against the data it came from as PyTorch's size-1 axis does. */
    int dims[PT2_MAX_RANK], rank;
    pt2_axes_after_reduction(in, reduced, keepdim, dims, &rank);
    return pt2_lower_set_output(ctx, node, layer, rank, dims, err);
}

const pt2_op_lowering pt2_lowerings_vector_norm[] = {
    {"aten.linalg_vector_norm.default", lower_vector_norm, "math_norm"}, {NULL, NULL, NULL}};
