/* aten.lstm.input: multi-layer, uni- or bidirectional LSTM with PyTorch's gate order
 * (input, forget, cell, output), optional biases, batch_first and unbatched inputs.
 * Each layer and direction projects the whole input sequence at once (one GEMM), then runs
 * the recurrence step by step with a GEMM of the hidden state against W_hh. */
#include <math.h>
#include <string.h>

#include "kernels.h"
#include "op_util.h"
#include "registry.h"

static float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

static pt2_status run_lstm(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor input, *hx, *params;
    size_t hx_count, param_count;
    int has_biases, train, bidirectional, batch_first;
    int64_t layers;
    double dropout;
    pt2_status st = pt2_op_float_tensor(ctx, node, "input", &input, err);
    if (!st) st = pt2_op_tensor_list(ctx, node, "hx", &hx, &hx_count, err);
    if (!st) st = pt2_op_tensor_list(ctx, node, "params", &params, &param_count, err);
    if (!st) st = pt2_op_bool(ctx, node, "has_biases", &has_biases, err);
    if (!st) st = pt2_op_int(ctx, node, "num_layers", &layers, err);
    if (!st) st = pt2_op_scalar(ctx, node, "dropout", &dropout, err);
    if (!st) st = pt2_op_bool(ctx, node, "train", &train, err);
    if (!st) st = pt2_op_bool(ctx, node, "bidirectional", &bidirectional, err);
    if (!st) st = pt2_op_bool(ctx, node, "batch_first", &batch_first, err);
    if (st) return st;
    int directions = bidirectional ? 2 : 1, per_direction = has_biases ? 4 : 2;
    if (train && dropout != 0)
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "LSTM dropout in training mode; export the model after .eval()");
    if (layers < 1 || param_count != (size_t)(layers * directions * per_direction))
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "lstm: %zu parameter tensors for %lld layers x %d directions "
                        "(projections are not supported)", param_count, (long long)layers, directions);
    if (hx_count != 2) return pt2_fail(err, PT2_ERR_INPUT, "lstm: hx must be [h0, c0], got %zu tensors", hx_count);
    int unbatched = input.rank == 2;
    if (input.rank != 3 && !unbatched)
        return pt2_fail(err, PT2_ERR_INPUT, "lstm input must be [time, batch, features] or unbatched, got rank %d", input.rank);
    int64_t time = unbatched ? input.shape[0] : batch_first ? input.shape[1] : input.shape[0];
    int64_t batch = unbatched ? 1 : batch_first ? input.shape[0] : input.shape[1];
    int64_t features = input.shape[input.rank - 1];
    pt2_tensor h0, c0;
    if ((st = pt2_tensor_contiguous(ctx->arena, &hx[0], 0, &h0, err))) return st;
    if ((st = pt2_tensor_contiguous(ctx->arena, &hx[1], 0, &c0, err))) return st;
    if (h0.dtype != PT2_DTYPE_FLOAT32 || c0.dtype != PT2_DTYPE_FLOAT32)
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "lstm runs on float32 only");
    int64_t hidden = h0.shape[h0.rank - 1];
    int64_t states = layers * directions;
    if (pt2_tensor_numel(&h0) != states * batch * hidden || pt2_tensor_numel(&c0) != states * batch * hidden)
        return pt2_fail(err, PT2_ERR_INPUT, "lstm: h0 and c0 must be [%lld, %lld, %lld]", (long long)states,
                        (long long)batch, (long long)hidden);
    /* the sequence time-major [time, batch, features] */
    float *sequence = pt2_arena_alloc_array(ctx->arena, (size_t)(time * batch * features) + 1, sizeof(float), err);
    if (!sequence) return err->status;
    {
        pt2_tensor x;
        if ((st = pt2_tensor_contiguous(ctx->arena, &input, 0, &x, err))) return st;
        for (int64_t t = 0; t < time; t++)
            for (int64_t b = 0; b < batch; b++)
                memcpy(sequence + (t * batch + b) * features,
                       pt2_f32(&x) + (batch_first && !unbatched ? b * time + t : t * batch + b) * features,
                       sizeof(float) * (size_t)features);
    }
    int64_t width = directions * hidden;
    float *layer_out = NULL;
    float *h_n = pt2_arena_alloc_array(ctx->arena, (size_t)(states * batch * hidden) + 1, sizeof(float), err);
    float *c_n = pt2_arena_alloc_array(ctx->arena, (size_t)(states * batch * hidden) + 1, sizeof(float), err);
    float *projected = pt2_arena_alloc_array(ctx->arena, (size_t)(time * batch * 4 * hidden) + 1, sizeof(float), err);
    float *gates = pt2_arena_alloc_array(ctx->arena, (size_t)(batch * 4 * hidden) + 1, sizeof(float), err);
    float *scratch = pt2_arena_alloc_array(ctx->arena, pt2_gemm_scratch_floats(), sizeof(float), err);
    if (!h_n || !c_n || !projected || !gates || !scratch) return err->status;
    int64_t in_features = features;
    for (int64_t layer = 0; layer < layers; layer++) {
        layer_out = pt2_arena_alloc_array(ctx->arena, (size_t)(time * batch * width) + 1, sizeof(float), err);
        if (!layer_out) return err->status;
        for (int dir = 0; dir < directions; dir++) {
            pt2_tensor *p = params + (layer * directions + dir) * per_direction;
            pt2_tensor w_ih, w_hh, b_ih, b_hh;
            if ((st = pt2_tensor_contiguous(ctx->arena, &p[0], 0, &w_ih, err))) return st;
            if ((st = pt2_tensor_contiguous(ctx->arena, &p[1], 0, &w_hh, err))) return st;
            if (w_ih.rank != 2 || w_ih.shape[0] != 4 * hidden || w_ih.shape[1] != in_features || w_hh.rank != 2 ||
                w_hh.shape[0] != 4 * hidden || w_hh.shape[1] != hidden || w_ih.dtype != PT2_DTYPE_FLOAT32 ||
                w_hh.dtype != PT2_DTYPE_FLOAT32)
                return pt2_fail(err, PT2_ERR_INPUT, "lstm layer %lld: weights must be float32 [%lld, %lld] and [%lld, %lld]",
                                (long long)layer, (long long)(4 * hidden), (long long)in_features, (long long)(4 * hidden),
                                (long long)hidden);
            const float *bias_ih = NULL, *bias_hh = NULL;
            if (has_biases) {
                if ((st = pt2_tensor_contiguous(ctx->arena, &p[2], 0, &b_ih, err))) return st;
                if ((st = pt2_tensor_contiguous(ctx->arena, &p[3], 0, &b_hh, err))) return st;
                if (pt2_tensor_numel(&b_ih) != 4 * hidden || pt2_tensor_numel(&b_hh) != 4 * hidden ||
                    b_ih.dtype != PT2_DTYPE_FLOAT32 || b_hh.dtype != PT2_DTYPE_FLOAT32)
                    return pt2_fail(err, PT2_ERR_INPUT, "lstm layer %lld: biases must be float32 [%lld]", (long long)layer,
                                    (long long)(4 * hidden));
                bias_ih = pt2_f32(&b_ih);
                bias_hh = pt2_f32(&b_hh);
            }
            /* every step's input projection plus both biases, at once */
            for (int64_t row = 0; row < time * batch; row++)
                for (int64_t j = 0; j < 4 * hidden; j++)
                    projected[row * 4 * hidden + j] = bias_ih ? bias_ih[j] + bias_hh[j] : 0.0f;
            pt2_matrix_view xs = {sequence, in_features, 1}, wt = {pt2_f32(&w_ih), 1, in_features};
            pt2_gemm_matrix(time * batch, 4 * hidden, in_features, xs, wt, projected, 4 * hidden, 1, scratch);
            int64_t state = layer * directions + dir;
            float *h = h_n + state * batch * hidden, *c = c_n + state * batch * hidden;
            memcpy(h, pt2_f32(&h0) + state * batch * hidden, sizeof(float) * (size_t)(batch * hidden));
            memcpy(c, pt2_f32(&c0) + state * batch * hidden, sizeof(float) * (size_t)(batch * hidden));
            pt2_matrix_view hv = {h, hidden, 1}, whh = {pt2_f32(&w_hh), 1, hidden};
            for (int64_t step = 0; step < time; step++) {
                int64_t t = dir ? time - 1 - step : step;
                memcpy(gates, projected + t * batch * 4 * hidden, sizeof(float) * (size_t)(batch * 4 * hidden));
                pt2_gemm_matrix(batch, 4 * hidden, hidden, hv, whh, gates, 4 * hidden, 1, scratch);
                for (int64_t b = 0; b < batch; b++) {
                    const float *g = gates + b * 4 * hidden;
                    float *hb = h + b * hidden, *cb = c + b * hidden;
                    float *y = layer_out + (t * batch + b) * width + dir * hidden;
                    for (int64_t j = 0; j < hidden; j++) {
                        float i_gate = sigmoid(g[j]), f_gate = sigmoid(g[hidden + j]);
                        float c_gate = tanhf(g[2 * hidden + j]), o_gate = sigmoid(g[3 * hidden + j]);
                        cb[j] = f_gate * cb[j] + i_gate * c_gate;
                        hb[j] = o_gate * tanhf(cb[j]);
                        y[j] = hb[j];
                    }
                }
            }
        }
        sequence = layer_out;
        in_features = width;
    }
    /* outputs: the last layer's sequence in the input's layout, then h_n and c_n */
    int64_t shape[3];
    pt2_tensor out, hn, cn;
    if (unbatched) {
        shape[0] = time;
        shape[1] = width;
    } else if (batch_first) {
        shape[0] = batch;
        shape[1] = time;
        shape[2] = width;
    } else {
        shape[0] = time;
        shape[1] = batch;
        shape[2] = width;
    }
    if ((st = pt2_op_new_float(ctx, unbatched ? 2 : 3, shape, &out, err))) return st;
    for (int64_t t = 0; t < time; t++)
        for (int64_t b = 0; b < batch; b++)
            memcpy(pt2_f32(&out) + (batch_first && !unbatched ? b * time + t : t * batch + b) * width,
                   sequence + (t * batch + b) * width, sizeof(float) * (size_t)width);
    if ((st = pt2_op_set_output(ctx, node, 0, &out, err))) return st;
    if ((st = pt2_op_new_float(ctx, h0.rank, h0.shape, &hn, err))) return st;
    if ((st = pt2_op_new_float(ctx, c0.rank, c0.shape, &cn, err))) return st;
    memcpy(pt2_f32(&hn), h_n, sizeof(float) * (size_t)(states * batch * hidden));
    memcpy(pt2_f32(&cn), c_n, sizeof(float) * (size_t)(states * batch * hidden));
    if (node->num_outputs > 1 && (st = pt2_op_set_output(ctx, node, 1, &hn, err))) return st;
    if (node->num_outputs > 2 && (st = pt2_op_set_output(ctx, node, 2, &cn, err))) return st;
    return PT2_OK;
}

const pt2_op_def pt2_ops_recurrent[] = {{"aten.lstm.input", run_lstm}, {NULL, NULL}};
