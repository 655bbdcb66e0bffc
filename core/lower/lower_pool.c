/* Lowering of ops over one axis (pools are in lower_pool2d.c, upsampling in lower_resize.c, cat
 * and stack in lower_concat.c): mean/sum/amax over one axis -> "reduce", softmax/log_softmax
 * over an axis -> "activation" (softmax_over_spatial over a dynamic one). */
#include <math.h>
#include <string.h>

#include "axes.h"
#include "lowerings.h"

static pt2_status lower_reduce(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    int64_t dims_arg[PT2_MAX_RANK];
    size_t count;
    int keepdim = 0;
    pt2_status st = pt2_lower_input(ctx, node, "self", &in, err);
    if (!st && !in) return pt2_lower_fail(node, err, "reducing a constant");
    if (!st) st = pt2_op_ints(ctx->run, node, "dim", dims_arg, PT2_MAX_RANK, &count, err);
    if (!st && pt2_node_arg(node, "keepdim")) st = pt2_op_bool(ctx->run, node, "keepdim", &keepdim, err);
    if (st) return st;
    if (count != 1 || keepdim) return pt2_lower_fail(node, err, "lowered over one axis without keepdim");
    int axis = (int)(dims_arg[0] < 0 ? dims_arg[0] + in->rank : dims_arg[0]);
    const char *description;
    if (axis < 0 || axis >= in->rank || ctx->net->dims[in->dims[axis]].kind == PT2_RT_DIM_BATCH)
        return pt2_lower_fail(node, err, "reducing over the batch is not lowered");
    if ((st = pt2_rt_axis_description(ctx->arena, ctx->net, &in->shape, in->dims[axis], &description, err))) return st;
    const char *mode = strstr(node->target, "mean") ? "mean" : strstr(node->target, "amax") ? "max" : "sum";
    pt2_rt_layer *layer;
    if ((st = pt2_lower_new_layer(ctx, node, "reduce", &layer, err))) return st;
    if (!st) st = pt2_lower_add_source(ctx, layer, in, err);
    if (!st) st = pt2_rt_set_string(layer, "mode", mode, err);
    if (!st) st = pt2_rt_set_string_list(ctx->arena, layer, "axes", &description, 1, err);
    if (!st) st = pt2_rt_set_bool(layer, "keep_dims", 0, err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    int dims[PT2_MAX_RANK], rank = 0;
    for (int a = 0; a < in->rank; a++)
        if (a != axis) dims[rank++] = in->dims[a];
    return pt2_lower_set_output(ctx, node, layer, rank, dims, err);
}

/* softmax over any axis: the axis map makes it the feature dim, which RETURNN's softmax acts on. */
static pt2_status lower_softmax(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    pt2_lowered_value storage;
    const pt2_lowered_value *feature;
    int64_t dim;
    pt2_status st = pt2_lower_input(ctx, node, "self", &in, err);
    if (!st && !in) return pt2_lower_fail(node, err, "softmax of a constant");
    if (!st) st = pt2_op_int(ctx->run, node, "dim", &dim, err);
    if (st) return st;
    int axis = (int)(dim < 0 ? dim + in->rank : dim);
    if (axis < 0 || axis >= in->rank) return pt2_lower_fail(node, err, "axis %lld out of range", (long long)dim);
    pt2_rt_layer *layer;
    if (ctx->net->dims[in->dims[axis]].kind == PT2_RT_DIM_DYNAMIC) {
        /* Over a dynamic axis (attention weights over the keys): masked past each sequence's end;
         * log_softmax in log space. */
        const char *description;
        if ((st = pt2_axes_describe(ctx, node, in, axis, &description, err))) return st;
        if ((st = pt2_lower_new_layer(ctx, node, "softmax_over_spatial", &layer, err))) return st;
        if (!st) st = pt2_lower_add_source(ctx, layer, in, err);
        if (!st) st = pt2_rt_set_string(layer, "axis", description, err);
        if (!st && strstr(node->target, "log_softmax")) st = pt2_rt_set_bool(layer, "log_space", 1, err);
        if (!st) st = pt2_lower_infer(ctx, node, layer, err);
        return st ? st : pt2_lower_set_output(ctx, node, layer, in->rank, in->dims, err);
    }
    if ((st = pt2_axes_require_feature(ctx, node, in, axis, &storage, &feature, err))) return st;
    if ((st = pt2_lower_new_layer(ctx, node, "activation", &layer, err))) return st;
    if (!st) st = pt2_lower_add_source(ctx, layer, feature, err);
    if (!st) st = pt2_rt_set_string(layer, "activation", strstr(node->target, "log_softmax") ? "log_softmax" : "softmax", err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    return st ? st : pt2_lower_set_output(ctx, node, layer, in->rank, in->dims, err);
}

const pt2_op_lowering pt2_lowerings_pool[] = {
    {"aten.mean.dim", lower_reduce, "reduce"},
    {"aten.sum.dim_IntList", lower_reduce, "reduce"},
    {"aten.amax.default", lower_reduce, "reduce"},
    {"aten.softmax.int", lower_softmax, "activation softmax_over_spatial reinterpret_data"},
    {"aten._softmax.default", lower_softmax, "activation softmax_over_spatial reinterpret_data"},
    {"aten.log_softmax.int", lower_softmax, "activation softmax_over_spatial reinterpret_data"},
    {"aten._log_softmax.default", lower_softmax, "activation softmax_over_spatial reinterpret_data"},
    {NULL, NULL, NULL}};
