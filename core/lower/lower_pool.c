/* Lowering of ops along the time axis and over one axis: avg_pool1d -> "pool", nearest
 * upsampling by an integer factor -> "resize", mean/sum/amax over one axis -> "reduce",
 * softmax/log_softmax over an axis -> "activation" (softmax_over_spatial over a dynamic one),
 * cat -> "copy" along the feature axis (RETURNN concatenates several sources along F), else
 * "concat" on any axis. */
#include <math.h>
#include <string.h>

#include "axes.h"
#include "lowerings.h"

/* avg_pool1d and upsampling act on the last PyTorch axis, which the axis map must show to be the
 * data's time axis (the layers slide over RETURNN's time); `axis` names it for the options. */
static pt2_status pooled_input(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value **in,
                               const char **axis, pt2_error *err) {
    pt2_status st = pt2_lower_input(ctx, node, pt2_node_arg(node, "input") ? "input" : "self", in, err);
    if (st) return st;
    const pt2_lowered_value *v = *in;
    int time = v ? pt2_rt_shape_time_axis(ctx->net, &v->shape) : -1;
    if (!v || v->rank < 2 || time < 0 || v->shape.dims[time] != v->dims[v->rank - 1])
        return pt2_lower_fail(node, err, "lowered where the last axis is the data's time axis");
    return pt2_axes_describe(ctx, node, v, v->rank - 1, axis, err);
}

/* One layer from `in`, output with in's axes, the time axis now the layer's new dim. */
static pt2_status finish_time_layer(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in,
                                    const char *axis, pt2_rt_layer *layer, pt2_error *err) {
    pt2_status st = pt2_lower_add_source(ctx, layer, in, err);
    if (!st && !strcmp(layer->layer_class, "pool")) st = pt2_rt_set_string_list(ctx->arena, layer, "in_spatial_dims", &axis, 1, err);
    if (!st && !strcmp(layer->layer_class, "resize")) st = pt2_rt_set_string(layer, "axis", axis, err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    int dim = pt2_axes_new_dim(layer, in);
    return pt2_axes_finish_replace(ctx, node, layer, in, dim >= 0 ? in->rank - 1 : -1, dim, err);
}

/* mode "avg" or "max" (max: pt2returnn.max_pool1d, which pt2returnn.export writes) */
static pt2_status lower_pool1d(pt2_lower_context *ctx, const pt2_node *node, const char *mode, pt2_error *err) {
    const pt2_lowered_value *in;
    const char *axis;
    int64_t kernel[2], stride[2], padding[2];
    size_t nk, ns = 0, np;
    int ceil_mode;
    pt2_status st = pooled_input(ctx, node, &in, &axis, err);
    if (!st) st = pt2_op_ints(ctx->run, node, "kernel_size", kernel, 2, &nk, err);
    if (!st) st = pt2_op_ints(ctx->run, node, "stride", stride, 2, &ns, err);
    if (!st) st = pt2_op_ints(ctx->run, node, "padding", padding, 2, &np, err);
    if (!st) st = pt2_op_bool(ctx->run, node, "ceil_mode", &ceil_mode, err);
    if (st) return st;
    if (nk != 1 || padding[0] != 0 || ceil_mode) return pt2_lower_fail(node, err, "lowered without padding or ceil_mode");
    int64_t dilation[2];
    size_t nd = 0;
    if (pt2_node_arg(node, "dilation") && (st = pt2_op_ints(ctx->run, node, "dilation", dilation, 2, &nd, err))) return st;
    if (nd && dilation[0] != 1) return pt2_lower_fail(node, err, "lowered without dilation");
    int64_t s = ns ? stride[0] : kernel[0];
    pt2_rt_layer *layer;
    if ((st = pt2_lower_new_layer(ctx, node, "pool", &layer, err))) return st;
    if (!st) st = pt2_rt_set_string(layer, "mode", mode, err);
    if (!st) st = pt2_rt_set_int_list(ctx->arena, layer, "pool_size", kernel, 1, err);
    if (!st) st = pt2_rt_set_int_list(ctx->arena, layer, "strides", &s, 1, err);
    if (!st) st = pt2_rt_set_string(layer, "padding", "valid", err);
    return st ? st : finish_time_layer(ctx, node, in, axis, layer, err);
}

static pt2_status lower_avg_pool1d(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    return lower_pool1d(ctx, node, "avg", err);
}
static pt2_status lower_max_pool1d(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    return lower_pool1d(ctx, node, "max", err);
}

static pt2_status lower_upsample_nearest1d(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    const char *axis;
    pt2_status st = pooled_input(ctx, node, &in, &axis, err);
    if (st) return st;
    const pt2_tensor *x = &ctx->run->values[pt2_node_arg(node, "input")->value_id].tensor;
    const pt2_tensor *y = &ctx->run->values[node->outputs[0].value_id].tensor;
    int64_t n = x->shape[x->rank - 1], factor = n ? y->shape[y->rank - 1] / n : 0;
    const pt2_arg *scales = pt2_node_arg(node, "scale_factors");
    if (!scales || scales->kind != PT2_ARG_FLOATS || scales->count != 1 || scales->floats[0] != (double)factor || factor < 1)
        return pt2_lower_fail(node, err, "lowered for an integer scale_factor");
    pt2_rt_layer *layer;
    if ((st = pt2_lower_new_layer(ctx, node, "resize", &layer, err))) return st;
    if (!st) st = pt2_rt_set_int(layer, "factor", factor, err);
    if (!st) st = pt2_rt_set_string(layer, "kind", "nn", err);
    return st ? st : finish_time_layer(ctx, node, in, axis, layer, err);
}

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

/* cat: along the feature axis of every source a "copy" from all of them (RETURNN concatenates
 * several sources along F); along any other axis, the time included, a "concat" of
 * [source, axis] pairs. */
static pt2_status lower_cat(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_arg *tensors = pt2_node_arg(node, "tensors");
    int64_t dim;
    pt2_status st = pt2_op_int(ctx->run, node, "dim", &dim, err);
    if (st) return st;
    if (!tensors || tensors->kind != PT2_ARG_TENSORS || tensors->count < 1 || tensors->count > PT2_RT_MAX_FROM)
        return pt2_lower_fail(node, err, "expected a list of at most %d tensors", PT2_RT_MAX_FROM);
    const pt2_lowered_value *first = NULL;
    int all_feature = 1, axis = -1;
    const char *axes[PT2_RT_MAX_FROM];
    for (size_t i = 0; i < tensors->count; i++) {
        const pt2_lowered_value *v = pt2_axes_value(ctx, tensors->value_ids[i]); /* with real axes */
        if (!v->is_set) return pt2_lower_fail(node, err, "tensor %zu is a constant; joining constants is not lowered", i);
        axis = (int)(dim < 0 ? dim + v->rank : dim);
        if (axis < 0 || axis >= v->rank) return pt2_lower_fail(node, err, "axis %lld out of range", (long long)dim);
        all_feature &= v->dims[axis] == v->shape.feature_dim;
        if ((st = pt2_axes_describe(ctx, node, v, axis, &axes[i], err))) return st;
        if (!first) first = v;
    }
    pt2_rt_layer *layer;
    if ((st = pt2_lower_new_layer(ctx, node, all_feature ? "copy" : "concat", &layer, err))) return st;
    for (size_t i = 0; i < tensors->count && !st; i++) st = pt2_lower_add_source(ctx, layer, pt2_axes_value(ctx, tensors->value_ids[i]), err);
    if (!st && !all_feature) st = pt2_rt_set_string_list(ctx->arena, layer, "from_axes", axes, tensors->count, err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    int joined = all_feature ? layer->shape.feature_dim : pt2_axes_new_dim(layer, first);
    return pt2_axes_finish_replace(ctx, node, layer, first, axis, joined, err);
}

const pt2_op_lowering pt2_lowerings_pool[] = {
    {"aten.avg_pool1d.default", lower_avg_pool1d, "pool"},
    {"pt2returnn.max_pool1d.default", lower_max_pool1d, "pool"},
    {"aten.upsample_nearest1d.vec", lower_upsample_nearest1d, "resize"},
    {"aten.mean.dim", lower_reduce, "reduce"},
    {"aten.sum.dim_IntList", lower_reduce, "reduce"},
    {"aten.amax.default", lower_reduce, "reduce"},
    {"aten.softmax.int", lower_softmax, "activation softmax_over_spatial reinterpret_data"},
    {"aten._softmax.default", lower_softmax, "activation softmax_over_spatial reinterpret_data"},
    {"aten.log_softmax.int", lower_softmax, "activation softmax_over_spatial reinterpret_data"},
    {"aten._log_softmax.default", lower_softmax, "activation softmax_over_spatial reinterpret_data"},
    {"aten.cat.default", lower_cat, "copy concat"},
    {NULL, NULL, NULL}};
