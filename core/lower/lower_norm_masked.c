/* Group and instance norms whose statistics run over the time axis, for padded batches.
 * RETURNN's "norm" layer takes tf.nn.moments over the whole padded tensor, so a shorter sequence's
 * statistics would count its padding; RETURNN's "reduce" masks the frames after each sequence's
 * end (mean: the sum over the sequence's own frames divided by their count). So the norm is
 * written out: mean = reduce(x), centered = x - mean, var = reduce(centered^2),
 * y = centered * (var + eps)^-0.5, then the affine weight and bias over the channels (variable
 * layers, combined). Each sequence gets PyTorch's value for it alone. */
#include <string.h>

#include "axes.h"
#include "lower_norm_groups.h"
#include "lower_operands.h"

/* The mean over `axes` (RETURNN descriptions of in's PyTorch axes `reduced`); the result keeps
 * in's other axes. */
static pt2_status masked_mean(pt2_lower_context *ctx, const pt2_node *node, const char *base, const pt2_lowered_value *in,
                              const char *const *axes, const int *reduced, int count, pt2_lowered_value *out,
                              pt2_error *err) {
    pt2_rt_layer *layer;
    pt2_status st = pt2_lower_new_layer_named(ctx, node, base, "reduce", &layer, err);
    if (!st) st = pt2_lower_add_source(ctx, layer, in, err);
    if (!st) st = pt2_rt_set_string(layer, "mode", "mean", err);
    if (!st) st = pt2_rt_set_string_list(ctx->arena, layer, "axes", axes, count, err);
    if (!st) st = pt2_rt_set_bool(layer, "keep_dims", 0, err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    int dims[PT2_MAX_RANK], rank = 0;
    for (int a = 0; a < in->rank; a++) {
        int gone = 0;
        for (int k = 0; k < count; k++) gone |= reduced[k] == a;
        if (!gone) dims[rank++] = in->dims[a];
    }
    pt2_axes_value_of(layer, rank, dims, out);
    return PT2_OK;
}

/* combine(kind) of `full` (which has every axis) and `other` (which broadcasts by dim tags);
 * the node's layer when `base` is NULL. */
static pt2_status combine(pt2_lower_context *ctx, const pt2_node *node, const char *base, const char *kind,
                          const pt2_lowered_value *full, const pt2_lowered_value *other, pt2_lowered_value *out,
                          pt2_error *err) {
    pt2_rt_layer *layer;
    pt2_status st = base ? pt2_lower_new_layer_named(ctx, node, base, "combine", &layer, err)
                         : pt2_lower_new_layer(ctx, node, "combine", &layer, err);
    if (!st) st = pt2_lower_add_source(ctx, layer, full, err);
    if (!st) st = pt2_lower_add_source(ctx, layer, other, err);
    if (!st) st = pt2_rt_set_string(layer, "kind", kind, err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    if (!base) return pt2_axes_set_layer_output_at(ctx, node, 0, layer, full->rank, full->dims, err);
    pt2_axes_value_of(layer, full->rank, full->dims, out);
    return PT2_OK;
}

/* The per-channel affine parameter [C] as a variable over in's channel axis (axis 1). */
static pt2_status channel_parameter(pt2_lower_context *ctx, const pt2_node *node, const pt2_tensor *parameter,
                                    const pt2_lowered_value *in, pt2_lowered_value *out, pt2_error *err) {
    if (parameter->rank != 1) return pt2_lower_fail(node, err, "expected a per-channel weight and bias");
    pt2_tensor column = *parameter; /* [C, 1, ...]: PyTorch broadcasts it over the axes after the channels */
    column.rank = in->rank - 1;
    for (int a = 1; a < column.rank; a++) column.shape[a] = 1, column.strides[a] = 1;
    return pt2_lower_constant_layer(ctx, node, &column, in, out, err);
}

pt2_status pt2_lower_norm_normalise(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in,
                                    const char *const *axes, const int *reduced, int count, double eps, int final,
                                    pt2_lowered_value *out, pt2_error *err) {
    pt2_lowered_value mean, centered, squared, variance, shifted, inverse;
    pt2_status st = masked_mean(ctx, node, "norm_mean", in, axes, reduced, count, &mean, err);
    if (!st) st = combine(ctx, node, "norm_centered", "sub", in, &mean, &centered, err);
    if (!st) st = pt2_lower_unary_layer(ctx, node, 0, "norm_squared", "activation", "square", 0, &centered, &squared, err);
    if (!st) st = masked_mean(ctx, node, "norm_variance", &squared, axes, reduced, count, &variance, err);
    if (!st) st = pt2_lower_unary_layer(ctx, node, 0, "norm_shifted", "eval", "add_scalar", eps, &variance, &shifted, err);
    if (!st) st = pt2_lower_unary_layer(ctx, node, 0, "norm_inverse_std", "eval", "pow_scalar", -0.5, &shifted, &inverse, err);
    if (!st) st = combine(ctx, node, final ? NULL : "norm_normed", "mul", &centered, &inverse, out, err);
    return st;
}

pt2_status pt2_lower_norm_affine(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *normed,
                                 const pt2_tensor *weight, const pt2_tensor *bias, pt2_error *err) {
    pt2_lowered_value scale, scaled, offset;
    pt2_status st;
    if (weight) {
        st = channel_parameter(ctx, node, weight, normed, &scale, err);
        if (!st) st = combine(ctx, node, bias ? "norm_scaled" : NULL, "mul", normed, &scale, &scaled, err);
        if (st || !bias) return st;
        normed = &scaled;
    }
    st = channel_parameter(ctx, node, bias, normed, &offset, err);
    return st ? st : combine(ctx, node, NULL, "add", normed, &offset, NULL, err);
}

pt2_status pt2_lower_norm_masked(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in,
                                 const char *const *axes, const int *reduced, int count, double eps,
                                 const pt2_tensor *weight, const pt2_tensor *bias, pt2_error *err) {
    pt2_lowered_value normed;
    int affine = weight || bias;
    pt2_status st = pt2_lower_norm_normalise(ctx, node, in, axes, reduced, count, eps, !affine, &normed, err);
    return st || !affine ? st : pt2_lower_norm_affine(ctx, node, &normed, weight, bias, err);
}
