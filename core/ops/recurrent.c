/* Recurrent layers with PyTorch's semantics: aten.lstm.input (fixed-length exports) and the
 * pt2returnn:: ops that pt2returnn.export writes in their place (python/pt2returnn/ops.py:
 * the same arguments as aten.lstm/gru/rnn_tanh/rnn_relu.input). Multi-layer, uni- or
 * bidirectional, optional biases, batch_first, unbatched inputs, LSTM projections (proj_size).
 *
 * Gates in PyTorch's order: LSTM (input, forget, cell, output), GRU (reset, update, new), with
 * GRU's reset gate applied after the hidden matmul: n = tanh(W_in x + b_in + r * (W_hn h + b_hn)).
 * Each layer and direction projects the whole input sequence at once (one GEMM), then runs the
 * recurrence step by step with a GEMM of the hidden state against W_hh, as PyTorch's CPU kernel
 * adds the two projections (each with its own bias). */
#include <math.h>
#include <string.h>

#include "kernels.h"
#include "op_util.h"
#include "registry.h"

typedef enum cell_kind { CELL_LSTM, CELL_GRU, CELL_RNN_TANH, CELL_RNN_RELU } cell_kind;

static const char *const cell_names[] = {"lstm", "gru", "rnn_tanh", "rnn_relu"};
static const int cell_gates[] = {4, 3, 1, 1};

static float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

/* One layer and direction: the parameters as float32 contiguous, checked against the sizes. */
typedef struct direction_params {
    const float *w_ih, *w_hh, *b_ih, *b_hh, *w_hr;
} direction_params;

static pt2_status float_param(pt2_run_context *ctx, const pt2_tensor *t, int rank, int64_t rows, int64_t columns,
                              const float **out, pt2_error *err) {
    pt2_tensor c;
    pt2_status st = pt2_tensor_contiguous(ctx->arena, t, 0, &c, err);
    if (st) return st;
    int fits = c.dtype == PT2_DTYPE_FLOAT32 && c.rank == rank && c.shape[0] == rows && (rank == 1 || c.shape[1] == columns);
    if (!fits) return PT2_ERR_INPUT;
    *out = pt2_f32(&c);
    return PT2_OK;
}

static pt2_status run_recurrent(pt2_run_context *ctx, const pt2_node *node, cell_kind kind, pt2_error *err) {
    const char *name = cell_names[kind];
    pt2_tensor input, *hx = NULL, *params, hx_single;
    size_t hx_count = 0, param_count;
    int has_biases, train, bidirectional, batch_first;
    int64_t layers;
    double dropout;
    pt2_status st = pt2_op_float_tensor(ctx, node, "input", &input, err);
    if (!st && kind == CELL_LSTM) st = pt2_op_tensor_list(ctx, node, "hx", &hx, &hx_count, err);
    if (!st && kind != CELL_LSTM) {
        st = pt2_op_tensor(ctx, node, "hx", &hx_single, err);
        hx = &hx_single;
        hx_count = 1;
    }
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
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "%s dropout in training mode; export the model after .eval()", name);
    int projected_lstm = kind == CELL_LSTM && layers >= 1 &&
                         param_count == (size_t)(layers * directions * (per_direction + 1));
    if (projected_lstm) per_direction++;
    if (layers < 1 || param_count != (size_t)(layers * directions * per_direction))
        return pt2_fail(err, PT2_ERR_INPUT, "%s: %zu parameter tensors for %lld layers x %d directions", name,
                        param_count, (long long)layers, directions);
    if (hx_count != (kind == CELL_LSTM ? 2u : 1u))
        return pt2_fail(err, PT2_ERR_INPUT, "%s: hx must be %s, got %zu tensors", name,
                        kind == CELL_LSTM ? "[h0, c0]" : "one tensor", hx_count);
    int unbatched = input.rank == 2;
    if (input.rank != 3 && !unbatched)
        return pt2_fail(err, PT2_ERR_INPUT, "%s input must be [time, batch, features] or unbatched, got rank %d", name,
                        input.rank);
    int64_t time = unbatched ? input.shape[0] : batch_first ? input.shape[1] : input.shape[0];
    int64_t batch = unbatched ? 1 : batch_first ? input.shape[0] : input.shape[1];
    int64_t features = input.shape[input.rank - 1];
    pt2_tensor h0, c0;
    if ((st = pt2_tensor_contiguous(ctx->arena, &hx[0], 0, &h0, err))) return st;
    if (kind == CELL_LSTM && (st = pt2_tensor_contiguous(ctx->arena, &hx[1], 0, &c0, err))) return st;
    if (h0.dtype != PT2_DTYPE_FLOAT32 || (kind == CELL_LSTM && c0.dtype != PT2_DTYPE_FLOAT32))
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "%s runs on float32 only", name);
    /* hidden: the cell state's size; output: the hidden state's (proj_size when projected) */
    int64_t output = h0.shape[h0.rank - 1];
    int64_t hidden = kind == CELL_LSTM ? c0.shape[c0.rank - 1] : output;
    int64_t states = layers * directions, gates_width = cell_gates[kind] * hidden;
    if (pt2_tensor_numel(&h0) != states * batch * output ||
        (kind == CELL_LSTM && pt2_tensor_numel(&c0) != states * batch * hidden))
        return pt2_fail(err, PT2_ERR_INPUT, "%s: the initial state must be [%lld, %lld, %lld]", name,
                        (long long)states, (long long)batch, (long long)output);
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
    int64_t width = directions * output;
    float *h_n = pt2_arena_alloc_array(ctx->arena, (size_t)(states * batch * output) + 1, sizeof(float), err);
    float *c_n = pt2_arena_alloc_array(ctx->arena, (size_t)(states * batch * hidden) + 1, sizeof(float), err);
    float *projected = pt2_arena_alloc_array(ctx->arena, (size_t)(time * batch * gates_width) + 1, sizeof(float), err);
    float *recurrent = pt2_arena_alloc_array(ctx->arena, (size_t)(batch * gates_width) + 1, sizeof(float), err);
    float *cell_out = pt2_arena_alloc_array(ctx->arena, (size_t)(batch * hidden) + 1, sizeof(float), err);
    float *scratch = pt2_arena_alloc_array(ctx->arena, pt2_gemm_scratch_floats(), sizeof(float), err);
    if (!h_n || !c_n || !projected || !recurrent || !cell_out || !scratch) return err->status;
    int64_t in_features = features;
    for (int64_t layer = 0; layer < layers; layer++) {
        float *layer_out = pt2_arena_alloc_array(ctx->arena, (size_t)(time * batch * width) + 1, sizeof(float), err);
        if (!layer_out) return err->status;
        for (int dir = 0; dir < directions; dir++) {
            pt2_tensor *p = params + (layer * directions + dir) * per_direction;
            direction_params w = {0};
            st = float_param(ctx, &p[0], 2, gates_width, in_features, &w.w_ih, err);
            if (!st) st = float_param(ctx, &p[1], 2, gates_width, output, &w.w_hh, err);
            if (!st && has_biases) st = float_param(ctx, &p[2], 1, gates_width, 0, &w.b_ih, err);
            if (!st && has_biases) st = float_param(ctx, &p[3], 1, gates_width, 0, &w.b_hh, err);
            if (!st && projected_lstm) st = float_param(ctx, &p[per_direction - 1], 2, output, hidden, &w.w_hr, err);
            if (st == PT2_ERR_INPUT)
                return pt2_fail(err, PT2_ERR_INPUT, "%s layer %lld direction %d: parameters must be float32 W_ih [%lld, "
                                "%lld], W_hh [%lld, %lld]%s%s", name, (long long)layer, dir, (long long)gates_width,
                                (long long)in_features, (long long)gates_width, (long long)output,
                                has_biases ? ", biases of that size" : "", projected_lstm ? " and W_hr" : "");
            if (st) return st;
            /* every step's input projection, at once */
            for (int64_t row = 0; row < time * batch; row++)
                for (int64_t j = 0; j < gates_width; j++) projected[row * gates_width + j] = w.b_ih ? w.b_ih[j] : 0.0f;
            pt2_matrix_view xs = {sequence, in_features, 1}, wt = {w.w_ih, 1, in_features};
            pt2_gemm_matrix(time * batch, gates_width, in_features, xs, wt, projected, gates_width, 1, scratch);
            int64_t state = layer * directions + dir;
            float *h = h_n + state * batch * output, *c = c_n + state * batch * hidden;
            memcpy(h, pt2_f32(&h0) + state * batch * output, sizeof(float) * (size_t)(batch * output));
            if (kind == CELL_LSTM)
                memcpy(c, pt2_f32(&c0) + state * batch * hidden, sizeof(float) * (size_t)(batch * hidden));
            pt2_matrix_view cv = {cell_out, hidden, 1}, whr = {w.w_hr, 1, hidden};
            for (int64_t step = 0; step < time; step++) {
                int64_t t = dir ? time - 1 - step : step;
                for (int64_t b = 0; b < batch; b++)
                    for (int64_t j = 0; j < gates_width; j++)
                        recurrent[b * gates_width + j] =
                            (w.b_hh ? w.b_hh[j] : 0.0f) + pt2_dot(w.w_hh + j * output, h + b * output, output);
                for (int64_t b = 0; b < batch; b++) {
                    const float *x = projected + (t * batch + b) * gates_width, *r = recurrent + b * gates_width;
                    float *hb = h + b * output, *cb = c + b * hidden, *yb = cell_out + b * hidden;
                    for (int64_t j = 0; j < hidden; j++) {
                        if (kind == CELL_LSTM) {
                            float i_gate = sigmoid(x[j] + r[j]), f_gate = sigmoid(x[hidden + j] + r[hidden + j]);
                            float c_gate = tanhf(x[2 * hidden + j] + r[2 * hidden + j]);
                            float o_gate = sigmoid(x[3 * hidden + j] + r[3 * hidden + j]);
                            cb[j] = f_gate * cb[j] + i_gate * c_gate;
                            yb[j] = o_gate * tanhf(cb[j]);
                        } else if (kind == CELL_GRU) {
                            float reset = sigmoid(x[j] + r[j]), update = sigmoid(x[hidden + j] + r[hidden + j]);
                            float candidate = tanhf(x[2 * hidden + j] + reset * r[2 * hidden + j]);
                            yb[j] = (1.0f - update) * candidate + update * hb[j];
                        } else {
                            float a = x[j] + r[j];
                            yb[j] = kind == CELL_RNN_TANH ? tanhf(a) : (a > 0.0f ? a : 0.0f);
                        }
                    }
                }
                if (projected_lstm) pt2_gemm_matrix(batch, output, hidden, cv, whr, h, output, 0, scratch);
                else memcpy(h, cell_out, sizeof(float) * (size_t)(batch * hidden));
                for (int64_t b = 0; b < batch; b++)
                    memcpy(layer_out + (t * batch + b) * width + dir * output, h + b * output,
                           sizeof(float) * (size_t)output);
            }
        }
        sequence = layer_out;
        in_features = width;
    }
    /* outputs: the last layer's sequence in the input's layout, then h_n (and c_n) */
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
    memcpy(pt2_f32(&hn), h_n, sizeof(float) * (size_t)(states * batch * output));
    if (node->num_outputs > 1 && (st = pt2_op_set_output(ctx, node, 1, &hn, err))) return st;
    if (kind == CELL_LSTM) {
        if ((st = pt2_op_new_float(ctx, c0.rank, c0.shape, &cn, err))) return st;
        memcpy(pt2_f32(&cn), c_n, sizeof(float) * (size_t)(states * batch * hidden));
        if (node->num_outputs > 2 && (st = pt2_op_set_output(ctx, node, 2, &cn, err))) return st;
    }
    return PT2_OK;
}

static pt2_status run_lstm(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    return run_recurrent(ctx, node, CELL_LSTM, err);
}
static pt2_status run_gru(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    return run_recurrent(ctx, node, CELL_GRU, err);
}
static pt2_status run_rnn_tanh(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    return run_recurrent(ctx, node, CELL_RNN_TANH, err);
}
static pt2_status run_rnn_relu(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    return run_recurrent(ctx, node, CELL_RNN_RELU, err);
}

const pt2_op_def pt2_ops_recurrent[] = {{"aten.lstm.input", run_lstm},
                                        {"aten.gru.input", run_gru},
                                        {"aten.rnn_tanh.input", run_rnn_tanh},
                                        {"aten.rnn_relu.input", run_rnn_relu},
                                        {"pt2returnn.lstm.default", run_lstm},
                                        {"pt2returnn.gru.default", run_gru},
                                        {"pt2returnn.rnn_tanh.default", run_rnn_tanh},
                                        {"pt2returnn.rnn_relu.default", run_rnn_relu},
                                        {NULL, NULL}};
