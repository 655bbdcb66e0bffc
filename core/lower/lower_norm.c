/* Lowering of ops on the feature dim: linear -> "linear" (W transposed to [in, out]),
 * embedding -> "linear" on sparse indices (W as is), layer_norm -> "layer_norm",
 * batch_norm in eval -> "batch_norm" with its running statistics (param_version 2); native_layer_norm
 * and _native_batch_norm_legit_no_training (a decomposed program's) the same. */
#include <string.h>

#include "axes.h"
#include "lower_gather.h"
#include "lower_layout.h"
#include "lower_norm_groups.h"
#include "lowerings.h"

/* The PyTorch axis an op acts on becomes RETURNN's feature dim of the data (axis map). */
static pt2_status feature_input(pt2_lower_context *ctx, const pt2_node *node, const char *name, int axis,
                                pt2_lowered_value *storage, const pt2_lowered_value **in, pt2_error *err) {
    const pt2_lowered_value *v;
    pt2_status st = pt2_lower_input(ctx, node, name, &v, err);
    if (st) return st;
    if (!v) return pt2_lower_fail(node, err, "argument '%s' is a constant", name);
    int a = axis < 0 ? v->rank + axis : axis;
    if (a < 0 || a >= v->rank) return pt2_lower_fail(node, err, "axis %d of '%s' is out of range", axis, name);
    return pt2_axes_require_feature(ctx, node, v, a, storage, in, err);
}

/* The output keeps the input's PyTorch axes, with one axis replaced by the layer's new feature dim. */
static pt2_status set_output_replacing(pt2_lower_context *ctx, const pt2_node *node, pt2_rt_layer *layer,
                                       const pt2_lowered_value *in, int axis, pt2_error *err) {
    int dims[PT2_MAX_RANK];
    memcpy(dims, in->dims, sizeof dims);
    dims[axis] = layer->shape.feature_dim;
    return pt2_lower_set_output(ctx, node, layer, in->rank, dims, err);
}

/* A "linear" layer on `in`'s last axis: weight `w` as [in, out], an optional bias [out]. */
static pt2_status linear_layer(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in,
                               const pt2_tensor *w, const pt2_tensor *bias, pt2_error *err) {
    pt2_rt_layer *layer;
    pt2_status st = pt2_lower_new_layer(ctx, node, "linear", &layer, err);
    if (!st) st = pt2_lower_add_source(ctx, layer, in, err);
    if (!st) st = pt2_rt_set_int(layer, "n_out", w->shape[1], err);
    if (!st) st = pt2_rt_set_bool(layer, "with_bias", bias != NULL, err);
    if (!st) st = pt2_rt_set_none(layer, "activation", err);
    if (!st) st = pt2_rt_add_param(layer, "W", w, err);
    if (!st && bias) st = pt2_rt_add_param(layer, "b", bias, err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    return st ? st : set_output_replacing(ctx, node, layer, in, in->rank - 1, err);
}

static pt2_status lower_linear(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_lowered_value in_value;
    const pt2_lowered_value *in;
    pt2_tensor weight, bias;
    int has_weight, has_bias;
    pt2_status st = feature_input(ctx, node, "input", -1, &in_value, &in, err);
    if (!st) st = pt2_lower_constant(ctx, node, "weight", &weight, &has_weight, err);
    if (!st) st = pt2_lower_constant(ctx, node, "bias", &bias, &has_bias, err);
    if (st) return st;
    if (!has_weight || weight.rank != 2) return pt2_lower_fail(node, err, "expected a constant weight of rank 2");
    pt2_tensor w = weight; /* [out, in] -> [in, out] */
    w.shape[0] = weight.shape[1], w.strides[0] = weight.strides[1];
    w.shape[1] = weight.shape[0], w.strides[1] = weight.strides[0];
    return linear_layer(ctx, node, in, &w, has_bias ? &bias : NULL, err);
}

pt2_status pt2_lower_matmul_constant(pt2_lower_context *ctx, const pt2_node *node, const char *first,
                                     const char *second, pt2_error *err) {
    pt2_lowered_value in_value;
    const pt2_lowered_value *in;
    pt2_tensor weight;
    int has_weight;
    pt2_status st = feature_input(ctx, node, first, -1, &in_value, &in, err);
    if (!st) st = pt2_lower_constant(ctx, node, second, &weight, &has_weight, err);
    if (st) return st;
    if (!has_weight || weight.rank != 2)
        return pt2_lower_fail(node, err, "a product with a constant is lowered for a constant matrix [in, out] on the right");
    return linear_layer(ctx, node, in, &weight, NULL, err);
}

/* addmm(bias, x, w) = bias + x @ w with a constant w [in, out] and a bias of one row: a linear
 * layer (as torch.nn.functional.linear is written in older code). */
static pt2_status lower_addmm(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_lowered_value in_value;
    const pt2_lowered_value *in;
    pt2_tensor weight, bias;
    int has_weight, has_bias;
    double alpha = 1, beta = 1;
    pt2_status st = feature_input(ctx, node, "mat1", -1, &in_value, &in, err);
    if (!st) st = pt2_lower_constant(ctx, node, "mat2", &weight, &has_weight, err);
    if (!st) st = pt2_lower_constant(ctx, node, "self", &bias, &has_bias, err);
    if (!st && pt2_node_arg(node, "alpha")) st = pt2_op_scalar(ctx->run, node, "alpha", &alpha, err);
    if (!st && pt2_node_arg(node, "beta")) st = pt2_op_scalar(ctx->run, node, "beta", &beta, err);
    if (st) return st;
    if (alpha != 1 || beta != 1) return pt2_lower_fail(node, err, "alpha or beta other than 1 is not lowered");
    if (!has_weight || weight.rank != 2) return pt2_lower_fail(node, err, "expected a constant mat2 of rank 2");
    int64_t n_out = weight.shape[1];
    if (!has_bias || bias.rank < 1 || bias.rank > 2 || bias.shape[bias.rank - 1] != n_out || (bias.rank == 2 && bias.shape[0] != 1))
        return pt2_lower_fail(node, err, "self must be a constant bias of %lld values (one row)", (long long)n_out);
    pt2_tensor b = bias; /* [1, out] -> [out] */
    if (b.rank == 2) b.rank = 1, b.shape[0] = bias.shape[1], b.strides[0] = bias.strides[1];
    return linear_layer(ctx, node, in, &weight, &b, err);
}

static pt2_status lower_embedding(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    pt2_tensor weight;
    int has_weight;
    pt2_status st = pt2_lower_input(ctx, node, "indices", &in, err);
    if (!st) st = pt2_lower_constant(ctx, node, "weight", &weight, &has_weight, err);
    if (st) return st;
    if (!has_weight || weight.rank != 2) return pt2_lower_fail(node, err, "expected a constant weight of rank 2");
    if (!in) return pt2_lower_fail(node, err, "constant indices");
    /* Indices computed from the input (positions, a prediction): the table gathered at them. */
    if (in->shape.sparse_dim < 0) return pt2_lower_gather_table(ctx, node, &weight, 0, in, err);
    pt2_rt_dim *vocabulary = &ctx->net->dims[in->shape.sparse_dim];
    if (vocabulary->size >= 0 && vocabulary->size != weight.shape[0])
        return pt2_lower_fail(node, err, "the indices already index %lld entries, this embedding has %lld",
                              (long long)vocabulary->size, (long long)weight.shape[0]);
    vocabulary->size = weight.shape[0];
    pt2_rt_layer *layer;
    if ((st = pt2_lower_new_layer(ctx, node, "linear", &layer, err))) return st;
    if (!st) st = pt2_lower_add_source(ctx, layer, in, err);
    if (!st) st = pt2_rt_set_int(layer, "n_out", weight.shape[1], err);
    if (!st) st = pt2_rt_set_bool(layer, "with_bias", 0, err);
    if (!st) st = pt2_rt_set_none(layer, "activation", err);
    if (!st) st = pt2_rt_add_param(layer, "W", &weight, err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    int dims[PT2_MAX_RANK];
    memcpy(dims, in->dims, sizeof dims);
    dims[in->rank] = layer->shape.feature_dim;
    return pt2_lower_set_output(ctx, node, layer, in->rank + 1, dims, err);
}

/* A missing affine weight or bias is ones or zeros, as PyTorch's elementwise_affine=False. */
static pt2_status filled(pt2_lower_context *ctx, int64_t n, float value, pt2_tensor *out, pt2_error *err) {
    pt2_status st = pt2_tensor_alloc(ctx->arena, PT2_DTYPE_FLOAT32, 1, &n, out, err);
    if (st) return st;
    float *p = pt2_tensor_data(out);
    for (int64_t i = 0; i < n; i++) p[i] = value;
    return PT2_OK;
}

static pt2_status lower_layer_norm(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_lowered_value in_value;
    const pt2_lowered_value *in;
    pt2_tensor weight, bias;
    int has_weight, has_bias;
    int64_t normalized[PT2_MAX_RANK];
    size_t count;
    double eps;
    pt2_status st = feature_input(ctx, node, "input", -1, &in_value, &in, err);
    if (!st) st = pt2_op_ints(ctx->run, node, "normalized_shape", normalized, PT2_MAX_RANK, &count, err);
    if (!st) st = pt2_op_scalar(ctx->run, node, "eps", &eps, err);
    if (!st) st = pt2_lower_constant(ctx, node, "weight", &weight, &has_weight, err);
    if (!st) st = pt2_lower_constant(ctx, node, "bias", &bias, &has_bias, err);
    if (st) return st;
    if (count != 1) return pt2_lower_layer_norm_over_axes(ctx, node, err); /* RETURNN's norm layer */
    if (!has_weight && (st = filled(ctx, normalized[0], 1.0f, &weight, err))) return st;
    if (!has_bias && (st = filled(ctx, normalized[0], 0.0f, &bias, err))) return st;
    pt2_rt_layer *layer;
    if ((st = pt2_lower_new_layer(ctx, node, "layer_norm", &layer, err))) return st;
    if (!st) st = pt2_lower_add_source(ctx, layer, in, err);
    if (!st) st = pt2_rt_set_float(layer, "epsilon", eps, err);
    if (!st) st = pt2_rt_add_param(layer, "scale", &weight, err);
    if (!st) st = pt2_rt_add_param(layer, "bias", &bias, err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    return st ? st : pt2_lower_set_output(ctx, node, layer, in->rank, in->dims, err);
}

/* Eval mode only: (x - running_mean) / sqrt(running_var + eps) * weight + bias per channel.
 * masked_time forces RETURNN's exact (non-fused) path: TF's fused kernel raises eps to 1.001e-5. */
static pt2_status lower_batch_norm(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_lowered_value in_value;
    const pt2_lowered_value *in;
    pt2_tensor weight, bias, mean, variance;
    int has_weight, has_bias, has_mean, has_variance, training;
    double eps;
    pt2_status st = feature_input(ctx, node, "input", 1, &in_value, &in, err);
    training = 0; /* _native_batch_norm_legit_no_training (a decomposed program's) has no such argument */
    if (!st && pt2_node_arg(node, "training")) st = pt2_op_bool(ctx->run, node, "training", &training, err);
    if (!st) st = pt2_op_scalar(ctx->run, node, "eps", &eps, err);
    if (!st) st = pt2_lower_constant(ctx, node, "weight", &weight, &has_weight, err);
    if (!st) st = pt2_lower_constant(ctx, node, "bias", &bias, &has_bias, err);
    if (!st) st = pt2_lower_constant(ctx, node, "running_mean", &mean, &has_mean, err);
    if (!st) st = pt2_lower_constant(ctx, node, "running_var", &variance, &has_variance, err);
    if (st) return st;
    if (training || !has_mean || !has_variance)
        return pt2_lower_fail(node, err, "batch_norm is lowered in eval mode with running statistics only");
    int64_t channels = mean.shape[0];
    if (!has_weight && (st = filled(ctx, channels, 1.0f, &weight, err))) return st;
    if (!has_bias && (st = filled(ctx, channels, 0.0f, &bias, err))) return st;
    pt2_rt_layer *layer;
    if ((st = pt2_lower_new_layer(ctx, node, "batch_norm", &layer, err))) return st;
    if (!st) st = pt2_lower_add_source(ctx, layer, in, err);
    if (!st) st = pt2_rt_set_int(layer, "param_version", 2, err);
    if (!st) st = pt2_rt_set_float(layer, "epsilon", eps, err);
    if (!st) st = pt2_rt_set_bool(layer, "masked_time", 1, err);
    if (!st) st = pt2_rt_set_bool(layer, "update_sample_only_in_training", 1, err);
    if (!st) st = pt2_rt_set_bool(layer, "delay_sample_update", 1, err);
    if (!st) st = pt2_rt_add_param(layer, "batch_norm/v2_mean", &mean, err);
    if (!st) st = pt2_rt_add_param(layer, "batch_norm/v2_variance", &variance, err);
    if (!st) st = pt2_rt_add_param(layer, "batch_norm/v2_gamma", &weight, err);
    if (!st) st = pt2_rt_add_param(layer, "batch_norm/v2_beta", &bias, err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    return st ? st : pt2_lower_set_output(ctx, node, layer, in->rank, in->dims, err);
}

const pt2_op_lowering pt2_lowerings_norm[] = {
    {"aten.linear.default", lower_linear, "linear reinterpret_data"},
    {"aten.addmm.default", lower_addmm, "linear reinterpret_data"},
    {"aten.embedding.default", lower_embedding, "linear gather variable"},
    {"aten.layer_norm.default", lower_layer_norm, "layer_norm norm reinterpret_data"},
    {"aten.batch_norm.default", lower_batch_norm, "batch_norm reinterpret_data"},
    /* The forms of a decomposed program (run_decompositions): (out, mean, rstd) and (out, saved
     * mean, saved invstd); only the normalised output lowers, a use of the statistics fails as
     * the use of an unlowered value. */
    {"aten.native_layer_norm.default", lower_layer_norm, "layer_norm norm reinterpret_data"},
    {"aten._native_batch_norm_legit_no_training.default", lower_batch_norm, "batch_norm reinterpret_data"},
    {NULL, NULL, NULL}};
