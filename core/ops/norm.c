/* layer_norm over the trailing dims; batch_norm in eval (running statistics). */
#include <math.h>
#include <string.h>

#include "op_util.h"
#include "registry.h"

static pt2_status run_layer_norm(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x, w, b, out;
    int has_weight, has_bias;
    int64_t normalized[PT2_MAX_RANK];
    size_t count;
    double eps;
    pt2_status st = pt2_op_float_tensor(ctx, node, "input", &x, err);
    if (!st) st = pt2_op_ints(ctx, node, "normalized_shape", normalized, PT2_MAX_RANK, &count, err);
    if (!st) st = pt2_op_optional_float_tensor(ctx, node, "weight", &w, &has_weight, err);
    if (!st) st = pt2_op_optional_float_tensor(ctx, node, "bias", &b, &has_bias, err);
    if (!st) st = pt2_op_scalar(ctx, node, "eps", &eps, err);
    if (st) return st;
    int64_t size = 1;
    for (size_t i = 0; i < count; i++) {
        if ((int)count > x.rank || x.shape[x.rank - (int)count + (int)i] != normalized[i])
            return pt2_fail(err, PT2_ERR_INPUT, "layer_norm: normalized_shape does not match the input's last dims");
        size *= normalized[i];
    }
    if ((st = pt2_op_new_float(ctx, x.rank, x.shape, &out, err))) return st;
    int64_t rows = size ? pt2_tensor_numel(&x) / size : 0;
    for (int64_t r = 0; r < rows; r++) {
        const float *in = pt2_f32(&x) + r * size;
        float *o = pt2_f32(&out) + r * size;
        double mean = 0, var = 0;
        for (int64_t i = 0; i < size; i++) mean += in[i];
        mean /= (double)size;
        for (int64_t i = 0; i < size; i++) var += (in[i] - mean) * (in[i] - mean);
        var /= (double)size; /* biased, as PyTorch */
        float inv = (float)(1.0 / sqrt(var + eps));
        for (int64_t i = 0; i < size; i++) {
            float v = (float)(in[i] - mean) * inv;
            o[i] = v * (has_weight ? pt2_f32(&w)[i] : 1.0f) + (has_bias ? pt2_f32(&b)[i] : 0.0f);
        }
    }
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

static pt2_status run_batch_norm(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x, w, b, mean, var, out;
    int has_weight, has_bias, has_mean, has_var, training;
    double eps;
    pt2_status st = pt2_op_float_tensor(ctx, node, "input", &x, err);
    if (!st) st = pt2_op_optional_float_tensor(ctx, node, "weight", &w, &has_weight, err);
    if (!st) st = pt2_op_optional_float_tensor(ctx, node, "bias", &b, &has_bias, err);
    if (!st) st = pt2_op_optional_float_tensor(ctx, node, "running_mean", &mean, &has_mean, err);
    if (!st) st = pt2_op_optional_float_tensor(ctx, node, "running_var", &var, &has_var, err);
    if (!st) st = pt2_op_bool(ctx, node, "training", &training, err);
    if (!st) st = pt2_op_scalar(ctx, node, "eps", &eps, err);
    if (st) return st;
    if (training || !has_mean || !has_var)
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "batch_norm in training mode; export the model after .eval()");
    if (x.rank < 2) return pt2_fail(err, PT2_ERR_INPUT, "batch_norm needs a channel axis");
    if ((st = pt2_op_new_float(ctx, x.rank, x.shape, &out, err))) return st;
    int64_t channels = x.shape[1], inner = 1;
    for (int i = 2; i < x.rank; i++) inner *= x.shape[i];
    for (int64_t n = 0; n < x.shape[0]; n++)
        for (int64_t c = 0; c < channels; c++) {
            float scale = (float)(1.0 / sqrt((double)pt2_f32(&var)[c] + eps)) * (has_weight ? pt2_f32(&w)[c] : 1.0f);
            float shift = (has_bias ? pt2_f32(&b)[c] : 0.0f) - pt2_f32(&mean)[c] * scale;
            const float *in = pt2_f32(&x) + (n * channels + c) * inner;
            float *o = pt2_f32(&out) + (n * channels + c) * inner;
            for (int64_t i = 0; i < inner; i++) o[i] = in[i] * scale + shift;
        }
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

const pt2_op_def pt2_ops_norm[] = {
    {"aten.layer_norm.default", run_layer_norm}, {"aten.batch_norm.default", run_batch_norm}, {NULL, NULL}};
