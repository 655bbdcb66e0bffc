/* Lowering of normalisations over the spatial axes, to RETURNN's "norm" layer (NormLayer, which
 * its documentation names group normalisation): group_norm and native_group_norm with one group
 * (over channels and every spatial axis) or one group per channel (over the spatial axes, as
 * instance_norm), instance_norm with the input's statistics. G groups of several channels each
 * are split out of the channels and written out with masked reductions (lower_groups). The channel axis is the feature dim
 * (the axis map adds the layer for that), the affine weight and bias are the layer's scale and
 * bias over it. RETURNN's NormLayer is not masked: its statistics would include the padded frames
 * of shorter sequences in a batch, so a norm over the time axis is written out with masked
 * reductions instead (core/lower/lower_norm_masked.c). */
#include <string.h>

#include "axes.h"
#include "lower_norm_groups.h"
#include "lowerings.h"

typedef struct norm_request {
    const char *input_name;
    int64_t groups;        /* -1: one per channel */
    double eps;
    pt2_tensor weight, bias;
    int has_weight, has_bias;
} norm_request;

/* A layer on `in` whose output has in's axes with the one at `axis` replaced by the layer's new
 * dims (`count` of them, in RETURNN's order), as the lowered value *out. */
static pt2_status replaced_by_new_dims(const pt2_node *node, pt2_rt_layer *layer, const pt2_lowered_value *in,
                                       int axis, int count, pt2_lowered_value *out, pt2_error *err) {
    int fresh[PT2_MAX_RANK], found = 0, dims[PT2_MAX_RANK], rank = 0;
    for (int a = 0; a < layer->shape.rank; a++) {
        int known = 0;
        for (int b = 0; b < in->rank; b++) known |= in->dims[b] == layer->shape.dims[a];
        if (!known && found < PT2_MAX_RANK) fresh[found++] = layer->shape.dims[a];
    }
    if (found != count || in->rank - 1 + count > PT2_MAX_RANK)
        return pt2_lower_fail(node, err, "the '%s' layer made %d new dims, expected %d", layer->layer_class, found, count);
    for (int a = 0; a < in->rank; a++) {
        if (a != axis) dims[rank++] = in->dims[a];
        else for (int k = 0; k < count; k++) dims[rank++] = fresh[k];
    }
    pt2_axes_value_of(layer, rank, dims, out);
    return PT2_OK;
}

/* G groups of C/G channels (1 < G < C): the channels split into [G, C/G] (split_dims), the
 * statistics over C/G and the spatial axes (masked, so right on padded batches), the channels
 * merged back (merge_dims), then the per-channel affine. */
static pt2_status lower_groups(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in,
                               const struct norm_request *r, int64_t channels, pt2_error *err) {
    if (in->rank + 1 > PT2_MAX_RANK) return pt2_lower_fail(node, err, "too many axes to split the channels into groups");
    int affine = r->has_weight || r->has_bias;
    pt2_rt_layer *split, *merge;
    pt2_lowered_value grouped, normed, merged;
    int64_t sizes[2] = {r->groups, channels / r->groups};
    pt2_status st = pt2_lower_new_layer_named(ctx, node, "norm_groups", "split_dims", &split, err);
    if (!st) st = pt2_lower_add_source(ctx, split, in, err);
    if (!st) st = pt2_rt_set_string(split, "axis", "F", err);
    if (!st) st = pt2_rt_set_int_list(ctx->arena, split, "dims", sizes, 2, err);
    if (!st) st = pt2_lower_infer(ctx, node, split, err);
    if (!st) st = replaced_by_new_dims(node, split, in, 1, 2, &grouped, err);
    const char *axes[PT2_MAX_RANK], *merged_axes[2];
    int reduced[PT2_MAX_RANK], count = 0;
    for (int a = 2; a < grouped.rank && !st; a++) {
        reduced[count] = a;
        st = pt2_axes_describe(ctx, node, &grouped, a, &axes[count++], err);
    }
    if (!st) st = pt2_lower_norm_normalise(ctx, node, &grouped, axes, reduced, count, r->eps, 0, &normed, err);
    if (!st) st = pt2_axes_describe(ctx, node, &normed, 1, &merged_axes[0], err);
    if (!st) st = pt2_axes_describe(ctx, node, &normed, 2, &merged_axes[1], err);
    if (st) return st;
    st = affine ? pt2_lower_new_layer_named(ctx, node, "norm_channels", "merge_dims", &merge, err)
                : pt2_lower_new_layer(ctx, node, "merge_dims", &merge, err);
    if (!st) st = pt2_lower_add_source(ctx, merge, &normed, err);
    if (!st) st = pt2_rt_set_string_list(ctx->arena, merge, "axes", merged_axes, 2, err);
    if (!st) st = pt2_rt_set_bool(merge, "keep_order", 1, err);
    if (!st) st = pt2_lower_infer(ctx, node, merge, err);
    if (st) return st;
    /* The merged channels are the output's channel axis: the one dim the merge made. */
    int dims[PT2_MAX_RANK], rank = 0, channel = pt2_axes_new_dim(merge, &normed);
    if (channel < 0) return pt2_lower_fail(node, err, "merging the groups back made no channel dim");
    for (int a = 0; a < normed.rank; a++)
        if (a != 2) dims[rank++] = a == 1 ? channel : normed.dims[a];
    if (!affine) return pt2_axes_set_layer_output_at(ctx, node, 0, merge, rank, dims, err);
    pt2_axes_value_of(merge, rank, dims, &merged);
    return pt2_lower_norm_affine(ctx, node, &merged, r->has_weight ? &r->weight : NULL, r->has_bias ? &r->bias : NULL,
                                 err);
}

static pt2_status lower_norm_request(pt2_lower_context *ctx, const pt2_node *node, norm_request *r, pt2_error *err) {
    const pt2_lowered_value *v, *in;
    pt2_lowered_value storage;
    pt2_status st = pt2_lower_input(ctx, node, r->input_name, &v, err);
    if (st) return st;
    if (!v || v->rank < 3 || ctx->net->dims[v->dims[0]].kind != PT2_RT_DIM_BATCH)
        return pt2_lower_fail(node, err, "lowered for [batch, channel, spatial...] data from a layer");
    int64_t channels = ctx->run->values[pt2_node_arg(node, r->input_name)->value_id].tensor.shape[1];
    int per_channel = r->groups == -1 || r->groups == channels;
    if (r->groups < -1 || r->groups == 0 || (r->groups > 0 && channels % r->groups))
        return pt2_lower_fail(node, err, "%lld groups of %lld channels", (long long)r->groups, (long long)channels);
    if ((st = pt2_axes_require_feature(ctx, node, v, 1, &storage, &in, err))) return st;
    if (!per_channel && r->groups != 1) return lower_groups(ctx, node, in, r, channels, err);
    const char *axes[PT2_MAX_RANK];
    int count = 0, reduced[PT2_MAX_RANK], over_time = 0;
    for (int a = per_channel ? 2 : 1; a < in->rank; a++) {
        over_time |= ctx->net->dims[in->dims[a]].kind == PT2_RT_DIM_DYNAMIC;
        reduced[count] = a;
        if ((st = pt2_axes_describe(ctx, node, in, a, &axes[count++], err))) return st;
    }
    if (over_time)
        return pt2_lower_norm_masked(ctx, node, in, axes, reduced, count, r->eps, r->has_weight ? &r->weight : NULL,
                                     r->has_bias ? &r->bias : NULL, err);
    pt2_rt_layer *layer;
    if ((st = pt2_lower_new_layer(ctx, node, "norm", &layer, err))) return st;
    if (!st) st = pt2_lower_add_source(ctx, layer, in, err);
    if (!st) st = pt2_rt_set_string_list(ctx->arena, layer, "axes", axes, count, err);
    /* RETURNN asserts that a norm without scale and bias has no param_shape. */
    if (!st && (r->has_weight || r->has_bias)) st = pt2_rt_set_string(layer, "param_shape", "F", err);
    if (!st) st = pt2_rt_set_bool(layer, "scale", r->has_weight, err);
    if (!st) st = pt2_rt_set_bool(layer, "bias", r->has_bias, err);
    if (!st) st = pt2_rt_set_float(layer, "epsilon", r->eps, err);
    if (!st && r->has_weight) st = pt2_rt_add_param(layer, "scale", &r->weight, err);
    if (!st && r->has_bias) st = pt2_rt_add_param(layer, "bias", &r->bias, err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    return pt2_axes_set_layer_output_at(ctx, node, 0, layer, in->rank, in->dims, err);
}

static pt2_status read_affine(pt2_lower_context *ctx, const pt2_node *node, norm_request *r, pt2_error *err) {
    pt2_status st = pt2_lower_constant(ctx, node, "weight", &r->weight, &r->has_weight, err);
    if (!st) st = pt2_lower_constant(ctx, node, "bias", &r->bias, &r->has_bias, err);
    return st;
}

/* group_norm(input, num_groups, weight, bias, eps, cudnn_enabled) */
static pt2_status lower_group_norm(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    norm_request r = {.input_name = "input"};
    pt2_status st = pt2_op_int(ctx->run, node, "num_groups", &r.groups, err);
    if (!st) st = pt2_op_scalar(ctx->run, node, "eps", &r.eps, err);
    if (!st) st = read_affine(ctx, node, &r, err);
    return st ? st : lower_norm_request(ctx, node, &r, err);
}

/* native_group_norm(input, weight, bias, N, C, HxW, group, eps) -> (out, mean, rstd): the
 * statistics outputs are not lowered (a use of them fails as the use of an unlowered value). */
static pt2_status lower_native_group_norm(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    norm_request r = {.input_name = "input"};
    pt2_status st = pt2_op_int(ctx->run, node, "group", &r.groups, err);
    if (!st) st = pt2_op_scalar(ctx->run, node, "eps", &r.eps, err);
    if (!st) st = read_affine(ctx, node, &r, err);
    return st ? st : lower_norm_request(ctx, node, &r, err);
}

/* instance_norm(input, weight, bias, running_mean, running_var, use_input_stats, momentum, eps,
 * cudnn_enabled): with the input's own statistics, one group per channel. */
static pt2_status lower_instance_norm(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    norm_request r = {.input_name = "input", .groups = -1};
    int use_input_stats;
    pt2_status st = pt2_op_bool(ctx->run, node, "use_input_stats", &use_input_stats, err);
    if (!st) st = pt2_op_scalar(ctx->run, node, "eps", &r.eps, err);
    if (!st) st = read_affine(ctx, node, &r, err);
    if (st) return st;
    if (!use_input_stats)
        return pt2_lower_fail(node, err, "instance_norm with running statistics (track_running_stats in eval) is not lowered");
    return lower_norm_request(ctx, node, &r, err);
}

/* layer_norm over the last k > 1 axes (layer_norm over the last one is RETURNN's layer_norm,
 * core/lower/lower_norm.c, which hands the others here): norm over those axes, which must be
 * static, with scale and bias over all of them (param_shape lists them in PyTorch's order, so the
 * [d1, ..., dk] weight is the parameter as it is). */
pt2_status pt2_lower_layer_norm_over_axes(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    int64_t normalized[PT2_MAX_RANK];
    size_t count;
    norm_request r = {.input_name = "input"};
    pt2_status st = pt2_lower_input(ctx, node, "input", &in, err);
    if (!st) st = pt2_op_ints(ctx->run, node, "normalized_shape", normalized, PT2_MAX_RANK, &count, err);
    if (!st) st = pt2_op_scalar(ctx->run, node, "eps", &r.eps, err);
    if (!st) st = read_affine(ctx, node, &r, err);
    if (st) return st;
    if (!in) return pt2_lower_fail(node, err, "layer_norm of a constant");
    if (count < 1 || (int)count >= in->rank) return pt2_lower_fail(node, err, "layer_norm over %zu of %d axes", count, in->rank);
    const char *axes[PT2_MAX_RANK];
    int first = in->rank - (int)count;
    for (int a = first; a < in->rank; a++) {
        if (ctx->net->dims[in->dims[a]].kind != PT2_RT_DIM_STATIC)
            return pt2_lower_fail(node, err, "layer_norm over axis %d, which is not static (its weight would need its length)", a);
        if ((st = pt2_axes_describe(ctx, node, in, a, &axes[a - first], err))) return st;
    }
    pt2_rt_layer *layer;
    if ((st = pt2_lower_new_layer(ctx, node, "norm", &layer, err))) return st;
    if (!st) st = pt2_lower_add_source(ctx, layer, in, err);
    if (!st) st = pt2_rt_set_string_list(ctx->arena, layer, "axes", axes, (int)count, err);
    if (!st && (r.has_weight || r.has_bias)) st = pt2_rt_set_string_list(ctx->arena, layer, "param_shape", axes, (int)count, err);
    if (!st) st = pt2_rt_set_bool(layer, "scale", r.has_weight, err);
    if (!st) st = pt2_rt_set_bool(layer, "bias", r.has_bias, err);
    if (!st) st = pt2_rt_set_float(layer, "epsilon", r.eps, err);
    if (!st && r.has_weight) st = pt2_rt_add_param(layer, "scale", &r.weight, err);
    if (!st && r.has_bias) st = pt2_rt_add_param(layer, "bias", &r.bias, err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    return st ? st : pt2_lower_set_output(ctx, node, layer, in->rank, in->dims, err);
}

const pt2_op_lowering pt2_lowerings_norm_groups[] = {
    {"aten.group_norm.default", lower_group_norm, "norm reinterpret_data reduce combine activation variable eval:add_scalar eval:pow_scalar split_dims merge_dims"},
    {"aten.native_group_norm.default", lower_native_group_norm, "norm reinterpret_data reduce combine activation variable eval:add_scalar eval:pow_scalar split_dims merge_dims"},
    {"aten.instance_norm.default", lower_instance_norm, "norm reinterpret_data reduce combine activation variable eval:add_scalar eval:pow_scalar"},
    {NULL, NULL, NULL}};
