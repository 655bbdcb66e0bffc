/* scaled_dot_product_attention: softmax(q k^T * scale + mask) v over the last two axes, with
 * PyTorch's defaults (scale 1/sqrt(head size)); boolean masks keep where true. */
#include <math.h>
#include <string.h>

#include "op_util.h"
#include "registry.h"

static pt2_status run_sdpa(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor q, k, v, mask, out;
    int has_mask = 0, causal, has_scale;
    double dropout, scale;
    pt2_status st = pt2_op_float_tensor(ctx, node, "query", &q, err);
    if (!st) st = pt2_op_float_tensor(ctx, node, "key", &k, err);
    if (!st) st = pt2_op_float_tensor(ctx, node, "value", &v, err);
    if (!st) st = pt2_op_optional_tensor(ctx, node, "attn_mask", &mask, &has_mask, err);
    if (!st) st = pt2_op_scalar(ctx, node, "dropout_p", &dropout, err);
    if (!st) st = pt2_op_bool(ctx, node, "is_causal", &causal, err);
    if (!st) st = pt2_op_optional_scalar(ctx, node, "scale", &scale, &has_scale, err);
    if (st) return st;
    if (has_mask) return pt2_fail(err, PT2_ERR_UNSUPPORTED, "scaled_dot_product_attention with attn_mask is not supported yet");
    if (dropout != 0) return pt2_fail(err, PT2_ERR_UNSUPPORTED, "attention dropout; export the model after .eval()");
    if (q.rank < 2 || k.rank != q.rank || v.rank != q.rank)
        return pt2_fail(err, PT2_ERR_INPUT, "query, key and value need the same rank >= 2");
    int r = q.rank;
    int64_t lq = q.shape[r - 2], lk = k.shape[r - 2], d = q.shape[r - 1], dv = v.shape[r - 1];
    int64_t per_head = lq * d, heads = per_head > 0 ? pt2_tensor_numel(&q) / per_head : 0;
    if (k.shape[r - 1] != d || v.shape[r - 2] != lk || pt2_tensor_numel(&k) != heads * lk * d)
        return pt2_fail(err, PT2_ERR_INPUT, "query, key and value shapes do not match");
    int64_t shape[PT2_MAX_RANK];
    memcpy(shape, q.shape, sizeof shape);
    shape[r - 1] = dv;
    if ((st = pt2_op_new_float(ctx, r, shape, &out, err))) return st;
    float *scores = pt2_arena_alloc_array(ctx->arena, (size_t)(lk ? lk : 1), sizeof(float), err);
    if (!scores) return err->status;
    float factor = (float)(has_scale ? scale : 1.0 / sqrt((double)d));
    for (int64_t h = 0; h < heads; h++) {
        const float *qh = pt2_f32(&q) + h * lq * d, *kh = pt2_f32(&k) + h * lk * d, *vh = pt2_f32(&v) + h * lk * dv;
        float *oh = pt2_f32(&out) + h * lq * dv;
        for (int64_t i = 0; i < lq; i++) {
            int64_t visible = causal ? (i + 1 < lk ? i + 1 : lk) : lk;
            float max = -INFINITY;
            for (int64_t j = 0; j < visible; j++) {
                float dot = 0;
                for (int64_t c = 0; c < d; c++) dot += qh[i * d + c] * kh[j * d + c];
                scores[j] = dot * factor;
                if (scores[j] > max) max = scores[j];
            }
            double total = 0;
            for (int64_t j = 0; j < visible; j++) {
                scores[j] = expf(scores[j] - max);
                total += scores[j];
            }
            float *o = oh + i * dv;
            for (int64_t c = 0; c < dv; c++) o[c] = 0;
            for (int64_t j = 0; j < visible; j++) {
                float w = (float)(scores[j] / total);
                for (int64_t c = 0; c < dv; c++) o[c] += w * vh[j * dv + c];
            }
        }
    }
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

const pt2_op_def pt2_ops_attention[] = {{"aten.scaled_dot_product_attention.default", run_sdpa}, {NULL, NULL}};
