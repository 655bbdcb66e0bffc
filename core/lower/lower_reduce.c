/* Lowering of reductions over any axes but the batch (the dynamic time too, which RETURNN's
 * reduce masks to each sequence's length) to one RETURNN "reduce" layer:
 * sum/mean/amax/amin/logsumexp over a list of dims, max.dim/min.dim (their values; the indices
 * output is not lowered), any/all of bools over one or several dims; keepdim's size-1 axes are
 * broadcast axes of the map (core/lower/axes.h). */
#include <string.h>

#include "axes.h"
#include "lower_reduce.h"
#include "lowerings.h"

static const struct {
    const char *target, *mode;
} modes[] = {
    {"aten.sum.dim_IntList", "sum"}, {"aten.mean.dim", "mean"},     {"aten.amax.default", "max"},
    {"aten.amin.default", "min"},    {"aten.max.dim", "max"},       {"aten.min.dim", "min"},
    {"aten.logsumexp.default", "logsumexp"}, {"aten.any.dim", "any"}, {"aten.any.dims", "any"},
    {"aten.all.dim", "all"},         {"aten.all.dims", "all"},
};

static pt2_status lower_reduction(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const char *mode = NULL;
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        if (!strcmp(node->target, modes[i].target)) mode = modes[i].mode;
    const pt2_lowered_value *in;
    int64_t dims_arg[PT2_MAX_RANK];
    size_t count = 0;
    int keepdim = 0;
    pt2_status st = pt2_lower_input(ctx, node, "self", &in, err);
    if (!st && !in) return pt2_lower_fail(node, err, "reducing a constant");
    const pt2_arg *dim = pt2_node_arg(node, "dim");
    if (!st && (!dim || dim->kind == PT2_ARG_NONE)) return pt2_lower_fail(node, err, "a reduction over every axis includes the batch");
    if (!st) st = pt2_op_ints(ctx->run, node, "dim", dims_arg, PT2_MAX_RANK, &count, err);
    if (!st && pt2_node_arg(node, "keepdim")) st = pt2_op_bool(ctx->run, node, "keepdim", &keepdim, err);
    if (st) return st;
    if (!count) return pt2_lower_fail(node, err, "a reduction over every axis includes the batch");
    return pt2_lower_reduce_axes(ctx, node, in, mode, dims_arg, count, keepdim, err);
}

pt2_status pt2_lower_reduce_axes(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in,
                                 const char *mode, const int64_t *dims_arg, size_t count, int keepdim, pt2_error *err) {
    const char *axes[PT2_MAX_RANK];
    int reduced[PT2_MAX_RANK];
    pt2_status st = pt2_axes_reduced(ctx, node, in, dims_arg, count, "reducing", axes, reduced, err);
    if (st) return st;
    pt2_rt_layer *layer;
    if ((st = pt2_lower_new_layer(ctx, node, "reduce", &layer, err))) return st;
    if (!st) st = pt2_lower_add_source(ctx, layer, in, err);
    if (!st) st = pt2_rt_set_string(layer, "mode", mode, err);
    if (!st) st = pt2_rt_set_string_list(ctx->arena, layer, "axes", axes, (int)count, err);
    if (!st) st = pt2_rt_set_bool(layer, "keep_dims", 0, err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    /* A kept axis is a broadcast axis of the map: RETURNN's reduce drops it, and the result then
     * broadcasts against the data it came from as PyTorch's size-1 axis does. */
    int dims[PT2_MAX_RANK], rank;
    pt2_axes_after_reduction(in, reduced, keepdim, dims, &rank);
    return pt2_axes_set_layer_output_at(ctx, node, 0, layer, rank, dims, err);
}

const pt2_op_lowering pt2_lowerings_reduce[] = {
    {"aten.sum.dim_IntList", lower_reduction, "reduce"},
    {"aten.mean.dim", lower_reduction, "reduce"},
    {"aten.amax.default", lower_reduction, "reduce"},
    {"aten.amin.default", lower_reduction, "reduce"},
    {"aten.max.dim", lower_reduction, "reduce"},
    {"aten.min.dim", lower_reduction, "reduce"},
    {"aten.logsumexp.default", lower_reduction, "reduce"},
    {"aten.any.dim", lower_reduction, "reduce"},
    {"aten.any.dims", lower_reduction, "reduce"},
    {"aten.all.dim", lower_reduction, "reduce"},
    {"aten.all.dims", lower_reduction, "reduce"},
    {NULL, NULL, NULL}};
