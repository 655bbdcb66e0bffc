/* linear and embedding. */
#include <string.h>

#include "backend_xnnpack.h"
#include "op_util.h"
#include "registry.h"

static pt2_status run_linear(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x, w, b, out;
    int has_bias;
    pt2_status st = pt2_op_input_weight_bias(ctx, node, &x, &w, &b, &has_bias, err);
    if (st) return st;
    if (x.rank < 1 || w.rank != 2 || x.shape[x.rank - 1] != w.shape[1])
        return pt2_fail(err, PT2_ERR_INPUT, "linear: input features do not match the weight");
    int64_t in_features = w.shape[1], out_features = w.shape[0];
    int64_t rows = pt2_tensor_numel(&x) / (in_features ? in_features : 1);
    int64_t shape[PT2_MAX_RANK];
    memcpy(shape, x.shape, sizeof shape);
    shape[x.rank - 1] = out_features;
    if ((st = pt2_op_new_float(ctx, x.rank, shape, &out, err))) return st;
    const float *px = pt2_f32(&x), *pw = pt2_f32(&w), *pb = has_bias ? pt2_f32(&b) : NULL;
    float *po = pt2_f32(&out);
    int handled;
    if ((st = pt2_xnn_linear(ctx, rows, in_features, out_features, px, pw, pb, po, &handled, err))) return st;
    if (handled) return pt2_op_set_output(ctx, node, 0, &out, err);
    for (int64_t r = 0; r < rows; r++) {
        const float *restrict in = px + r * in_features;
        for (int64_t o = 0; o < out_features; o++) {
            const float *restrict weights = pw + o * in_features;
            float sum = 0;
            for (int64_t i = 0; i < in_features; i++) sum += in[i] * weights[i];
            po[r * out_features + o] = sum + (pb ? pb[o] : 0.0f);
        }
    }
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

static pt2_status run_embedding(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor w, indices, c, out;
    pt2_status st = pt2_op_float_tensor(ctx, node, "weight", &w, err);
    if (!st) st = pt2_op_tensor(ctx, node, "indices", &indices, err);
    if (st) return st;
    if (indices.dtype != PT2_DTYPE_INT64 && indices.dtype != PT2_DTYPE_INT32)
        return pt2_fail(err, PT2_ERR_INPUT, "embedding indices must be integers, got %s", pt2_dtype_name(indices.dtype));
    if ((st = pt2_tensor_contiguous(ctx->arena, &indices, 0, &c, err))) return st;
    if (w.rank != 2 || c.rank >= PT2_MAX_RANK) return pt2_fail(err, PT2_ERR_INPUT, "embedding weight must be 2-D");
    int64_t shape[PT2_MAX_RANK], dim = w.shape[1], n = pt2_tensor_numel(&c);
    memcpy(shape, c.shape, sizeof(int64_t) * (size_t)c.rank);
    shape[c.rank] = dim;
    if ((st = pt2_op_new_float(ctx, c.rank + 1, shape, &out, err))) return st;
    for (int64_t i = 0; i < n; i++) {
        int64_t index = c.dtype == PT2_DTYPE_INT64 ? ((int64_t *)pt2_tensor_data(&c))[i] : ((int32_t *)pt2_tensor_data(&c))[i];
        if (index < 0 || index >= w.shape[0])
            return pt2_fail(err, PT2_ERR_INPUT, "embedding index %lld is outside 0..%lld", (long long)index,
                            (long long)(w.shape[0] - 1));
        memcpy(pt2_f32(&out) + i * dim, pt2_f32(&w) + index * dim, sizeof(float) * (size_t)dim);
    }
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

const pt2_op_def pt2_ops_linear[] = {
    {"aten.linear.default", run_linear}, {"aten.embedding.default", run_embedding}, {NULL, NULL}};
