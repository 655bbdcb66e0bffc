/* Lowering of recurrent layers to RETURNN `rec` layers: aten.lstm.input (fixed-length exports)
 * and pt2returnn.lstm.default (pt2returnn.export, dynamic time).
 *
 * Each layer and direction of an LSTM becomes one rec layer with the NativeLSTM2 unit
 * (core/returnn/layers_rec.c), its variables in RETURNN's layout and gate order:
 *   W    = reorder(weight_ih).T   [in, 4H]
 *   W_re = reorder(weight_hh).T   [H, 4H]
 *   b    = reorder(bias_ih + bias_hh)
 * where reorder takes PyTorch's gate blocks (i, f, g, o) to NativeLSTM2's (g, i, f, o). W and
 * W_re are views of PyTorch's weights (transposed, with the block order native_lstm2_gates), not
 * copies: the model file holds them once, and whoever needs them dense (a check running the layer,
 * the checkpoint writer) makes a copy of one at a time. The
 * backward direction is `direction: -1` (RETURNN reverses each sequence within its own length,
 * as a packed PyTorch sequence would), and the two directions are joined along the feature axis
 * by a `copy` from [forward, backward], PyTorch's order. Stacked layers feed each other.
 *
 * GRU and the Elman RNN (tanh/relu) have no RETURNN unit with PyTorch's equations (RETURNN's GRU
 * cells apply the reset gate before the hidden matmul), so each of their directions is a `rec`
 * layer whose unit is a subnetwork of one frame (core/returnn/rec_units.h):
 *   GRU: x_r, x_z, x_n = linear(frame) (W_i* and b_i*), h_r, h_z, h_n = linear(prev:output)
 *        (W_h* and b_h*), r = sigmoid(x_r + h_r), z = sigmoid(x_z + h_z),
 *        n = tanh(x_n + r * h_n), output = (1 - z) * n + z * prev:output
 *   RNN: output = tanh or relu(linear(frame) + linear(prev:output)).
 * An LSTM with proj_size is such a unit too (projected_lstm_unit). */
#include <stdio.h>
#include <string.h>

#include "../naming/naming.h"
#include "../ops/registry.h"
#include "../returnn/rec_units.h"
#include "lower.h"
#include "lowerings.h"

/* The tensors of a list argument that must not depend on the input (parameters, initial states). */
static pt2_status constant_list(pt2_lower_context *ctx, const pt2_node *node, const char *name, pt2_tensor *out,
                                size_t max, size_t *count, pt2_error *err) {
    const pt2_arg *a = pt2_node_arg(node, name);
    if (!a || a->kind != PT2_ARG_TENSORS) return pt2_lower_fail(node, err, "argument '%s' is not a list of tensors", name);
    if (a->count > max) return pt2_lower_fail(node, err, "argument '%s' has %zu tensors, at most %zu are lowered", name, a->count, max);
    for (size_t i = 0; i < a->count; i++) {
        int id = a->value_ids[i];
        if (id < 0 || ctx->dynamic[id])
            return pt2_lower_fail(node, err, "'%s'[%zu] is computed from the input; a constant (parameter, zeros) is expected",
                                  name, i);
        if (!ctx->run->values[id].is_set) return pt2_lower_fail(node, err, "'%s'[%zu] has no value", name, i);
        pt2_status st = pt2_tensor_contiguous(ctx->arena, &ctx->run->values[id].tensor, 0, &out[i], err);
        if (st) return st;
        if (out[i].dtype != PT2_DTYPE_FLOAT32) return pt2_lower_fail(node, err, "'%s'[%zu] is not float32", name, i);
    }
    *count = a->count;
    return PT2_OK;
}

static int all_zero(const pt2_tensor *t) {
    const float *p = pt2_tensor_data(t);
    for (int64_t i = 0; i < pt2_tensor_numel(t); i++)
        if (p[i] != 0.0f) return 0;
    return 1;
}

/* NativeLSTM2's gate blocks (g, i, f, o) are PyTorch's (i, f, g, o) 2, 0, 1 and 3, along the
 * 4H columns of its [k, 4H] weights. */
static const pt2_block_order native_lstm2_gates = {1, 4, {2, 0, 1, 3}};

/* bias_ih + bias_hh ([4H] each) in NativeLSTM2's gate order: a new vector (a sum, not a view). */
static pt2_status native_lstm2_bias(pt2_arena *arena, const pt2_tensor *b_ih, const pt2_tensor *b_hh, int64_t hidden,
                                    pt2_tensor *out, pt2_error *err) {
    int64_t n = 4 * hidden;
    pt2_status st = pt2_tensor_alloc(arena, PT2_DTYPE_FLOAT32, 1, &n, out, err);
    if (st) return st;
    const float *x = pt2_tensor_data(b_ih), *y = pt2_tensor_data(b_hh);
    float *dst = pt2_tensor_data(out);
    for (int64_t column = 0; column < n; column++) {
        int64_t row = native_lstm2_gates.order[column / hidden] * hidden + column % hidden;
        dst[column] = x[row] + y[row];
    }
    return PT2_OK;
}

typedef enum cell_kind { CELL_LSTM, CELL_GRU, CELL_RNN_TANH, CELL_RNN_RELU } cell_kind;

static const int cell_gates[] = {4, 3, 1, 1};

/* Rows [block * hidden, (block + 1) * hidden) of a [G*H, k] matrix transposed to [k, H], or of a
 * [G*H] bias. */
static pt2_status gate_block(pt2_arena *arena, const pt2_tensor *m, int block, int64_t hidden, pt2_tensor *out,
                             pt2_error *err) {
    int64_t k = m->rank == 2 ? m->shape[1] : 1, shape[2] = {k, hidden};
    pt2_status st = m->rank == 2 ? pt2_tensor_alloc(arena, PT2_DTYPE_FLOAT32, 2, shape, out, err)
                                 : pt2_tensor_alloc(arena, PT2_DTYPE_FLOAT32, 1, shape + 1, out, err);
    if (st) return st;
    const float *src = pt2_tensor_data(m);
    float *dst = pt2_tensor_data(out);
    for (int64_t j = 0; j < hidden; j++)
        for (int64_t c = 0; c < k; c++) dst[c * hidden + j] = src[(block * hidden + j) * k + c];
    return PT2_OK;
}

static pt2_rt_value string_value(const char *s) {
    pt2_rt_value v = {0};
    v.kind = PT2_RT_STRING;
    v.string = s;
    return v;
}

/* One inner layer of a dict unit: {"class": "linear", "from": FROM, "n_out": N, "with_bias": B,
 * "activation": None} or {"class": "eval", "from": [...], "eval": CODE}. */
static pt2_status unit_layer(pt2_arena *arena, pt2_rt_value *out, const char *cls, const char *const *from, size_t count,
                             int64_t n_out, int with_bias, const char *code, pt2_error *err) {
    size_t n = !strcmp(cls, "linear") ? 5 : 3;
    out->kind = PT2_RT_DICT;
    out->count = n;
    out->items = pt2_arena_alloc_array(arena, n, sizeof *out->items, err);
    out->keys = pt2_arena_alloc_array(arena, n, sizeof *out->keys, err);
    if (!out->items || !out->keys) return err->status;
    memset(out->items, 0, n * sizeof *out->items);
    out->keys[0] = "class";
    out->items[0] = string_value(cls);
    out->keys[1] = "from";
    if (count == 1) {
        out->items[1] = string_value(from[0]);
    } else {
        pt2_rt_value *list = &out->items[1];
        list->kind = PT2_RT_LIST;
        list->count = count;
        list->items = pt2_arena_alloc_array(arena, count, sizeof *list->items, err);
        if (!list->items) return err->status;
        for (size_t i = 0; i < count; i++) list->items[i] = string_value(from[i]);
    }
    if (n == 5) {
        out->keys[2] = "n_out";
        out->items[2].kind = PT2_RT_INT;
        out->items[2].int_value = n_out;
        out->keys[3] = "with_bias";
        out->items[3].kind = PT2_RT_BOOL;
        out->items[3].int_value = with_bias;
        out->keys[4] = "activation";
        out->items[4].kind = PT2_RT_NONE;
    } else {
        out->keys[2] = "eval";
        out->items[2] = string_value(code);
    }
    return PT2_OK;
}

/* The unit and variables of a GRU or RNN direction: inner linears named x_<gate> (on the frame)
 * and h_<gate> (on prev:output). */
static pt2_status subnetwork_unit(pt2_lower_context *ctx, pt2_rt_layer *rec, cell_kind kind, const pt2_tensor *p,
                                  int has_biases, int64_t hidden, pt2_error *err) {
    static const char *const gru_gates[] = {"r", "z", "n"}, *const rnn_gates[] = {""};
    const char *const *gates = kind == CELL_GRU ? gru_gates : rnn_gates;
    int num_gates = cell_gates[kind];
    pt2_rt_value unit = {0};
    size_t n = (size_t)(2 * num_gates + (kind == CELL_GRU ? 4 : 1));
    unit.kind = PT2_RT_DICT;
    unit.items = pt2_arena_alloc_array(ctx->arena, n, sizeof *unit.items, err);
    unit.keys = pt2_arena_alloc_array(ctx->arena, n, sizeof *unit.keys, err);
    if (!unit.items || !unit.keys) return err->status;
    pt2_status st = PT2_OK;
    for (int g = 0; g < num_gates && !st; g++)
        for (int side = 0; side < 2 && !st; side++) { /* side 0: the frame (ih), 1: the last output (hh) */
            const char *name = pt2_arena_printf(ctx->arena, err, "%s%s%s", side ? "h" : "x", gates[g][0] ? "_" : "", gates[g]);
            if (!name) return err->status;
            const char *from = side ? "prev:output" : "data:source";
            unit.keys[unit.count] = name;
            st = unit_layer(ctx->arena, &unit.items[unit.count++], "linear", &from, 1, hidden, has_biases, NULL, err);
            pt2_tensor w, b;
            if (!st) st = gate_block(ctx->arena, &p[side], g, hidden, &w, err);
            const char *w_name = pt2_arena_printf(ctx->arena, err, "rec/%s/W", name);
            const char *b_name = pt2_arena_printf(ctx->arena, err, "rec/%s/b", name);
            if (!w_name || !b_name) return err->status;
            if (!st) st = pt2_rt_add_param(rec, w_name, &w, err);
            if (!st && has_biases) st = gate_block(ctx->arena, &p[2 + side], g, hidden, &b, err);
            if (!st && has_biases) st = pt2_rt_add_param(rec, b_name, &b, err);
        }
    if (st) return st;
    if (kind == CELL_GRU) {
        static const char *const r_from[] = {"x_r", "h_r"}, *const z_from[] = {"x_z", "h_z"},
                                 *const n_from[] = {"x_n", "r", "h_n"}, *const out_from[] = {"z", "n", "prev:output"};
        unit.keys[unit.count] = "r";
        st = unit_layer(ctx->arena, &unit.items[unit.count++], "eval", r_from, 2, 0, 0, PT2_REC_EVAL_SIGMOID_SUM, err);
        unit.keys[unit.count] = "z";
        if (!st) st = unit_layer(ctx->arena, &unit.items[unit.count++], "eval", z_from, 2, 0, 0, PT2_REC_EVAL_SIGMOID_SUM, err);
        unit.keys[unit.count] = "n";
        if (!st) st = unit_layer(ctx->arena, &unit.items[unit.count++], "eval", n_from, 3, 0, 0, PT2_REC_EVAL_GRU_CANDIDATE, err);
        unit.keys[unit.count] = "output";
        if (!st) st = unit_layer(ctx->arena, &unit.items[unit.count++], "eval", out_from, 3, 0, 0, PT2_REC_EVAL_GRU_STATE, err);
    } else {
        static const char *const out_from[] = {"x", "h"};
        unit.keys[unit.count] = "output";
        st = unit_layer(ctx->arena, &unit.items[unit.count++], "eval", out_from, 2, 0, 0,
                        kind == CELL_RNN_TANH ? PT2_REC_EVAL_TANH_SUM : PT2_REC_EVAL_RELU_SUM, err);
    }
    return st ? st : pt2_rt_set_value(rec, "unit", &unit, err);
}

/* Row `state` of an initial state [layers * directions, batch, H] as RETURNN's initial state
 * "var" (one vector for every sequence): the batch rows must agree. */
static pt2_status initial_vector(pt2_lower_context *ctx, const pt2_node *node, const pt2_tensor *hx, int64_t state,
                                 pt2_tensor *out, pt2_error *err) {
    int64_t batch = hx->shape[1], n = hx->shape[2];
    const float *rows = (const float *)pt2_tensor_data(hx) + state * batch * n;
    for (int64_t b = 1; b < batch; b++)
        if (memcmp(rows, rows + b * n, sizeof(float) * (size_t)n))
            return pt2_lower_fail(node, err, "the initial state differs between batch entries; RETURNN's initial state "
                                  "\"var\" is one vector for every sequence");
    pt2_status st = pt2_tensor_alloc(ctx->arena, PT2_DTYPE_FLOAT32, 1, &n, out, err);
    if (!st) memcpy(pt2_tensor_data(out), rows, sizeof(float) * (size_t)n);
    return st;
}

/* NativeLSTM2 with the initial state as the variables rec/initial_c and rec/initial_h. */
static pt2_status lstm_initial_state(pt2_lower_context *ctx, const pt2_node *node, pt2_rt_layer *rec, const pt2_tensor *hx,
                                     int64_t state, pt2_error *err) {
    pt2_tensor c, h;
    pt2_status st = initial_vector(ctx, node, &hx[1], state, &c, err);
    if (!st) st = initial_vector(ctx, node, &hx[0], state, &h, err);
    if (st) return st;
    pt2_rt_value initial = {0};
    initial.kind = PT2_RT_DICT;
    initial.count = 2;
    initial.items = pt2_arena_alloc_array(ctx->arena, 2, sizeof *initial.items, err);
    initial.keys = pt2_arena_alloc_array(ctx->arena, 2, sizeof *initial.keys, err);
    if (!initial.items || !initial.keys) return err->status;
    initial.keys[0] = "c";
    initial.keys[1] = "h";
    initial.items[0] = initial.items[1] = string_value("var");
    st = pt2_rt_set_value(rec, "initial_state", &initial, err);
    if (!st) st = pt2_rt_add_param(rec, "rec/initial_c", &c, err);
    if (!st) st = pt2_rt_add_param(rec, "rec/initial_h", &h, err);
    return st;
}

/* An LSTM with a projection (proj_size P): NativeLSTM2 feeds its cell output back unprojected, so
 * the cell is a dict unit: x_<gate> = linear(frame) (W_ih, b_ih + b_hh), h_<gate> =
 * linear(prev:output) (W_hh), i, f, o = sigmoid(x + h), g = tanh(x + h), c = f * prev:c + i * g,
 * hidden = o * tanh(c), output = linear(hidden) (W_hr, no bias). */
static pt2_status projected_lstm_unit(pt2_lower_context *ctx, pt2_rt_layer *rec, const pt2_tensor *p, int has_biases,
                                      int64_t hidden, int64_t projection, pt2_error *err) {
    static const char *const gates[] = {"i", "f", "g", "o"}; /* PyTorch's order */
    pt2_rt_value unit = {0};
    unit.kind = PT2_RT_DICT;
    unit.items = pt2_arena_alloc_array(ctx->arena, 16, sizeof *unit.items, err);
    unit.keys = pt2_arena_alloc_array(ctx->arena, 16, sizeof *unit.keys, err);
    if (!unit.items || !unit.keys) return err->status;
    pt2_status st = PT2_OK;
    pt2_tensor bias;
    if (has_biases) { /* b_ih + b_hh, as one bias of the frame's projection */
        int64_t n = 4 * hidden;
        if ((st = pt2_tensor_alloc(ctx->arena, PT2_DTYPE_FLOAT32, 1, &n, &bias, err))) return st;
        const float *a = pt2_tensor_data(&p[2]), *b = pt2_tensor_data(&p[3]);
        for (int64_t j = 0; j < n; j++) ((float *)pt2_tensor_data(&bias))[j] = a[j] + b[j];
    }
    for (int g = 0; g < 4 && !st; g++)
        for (int side = 0; side < 2 && !st; side++) {
            const char *name = pt2_arena_printf(ctx->arena, err, "%s_%s", side ? "h" : "x", gates[g]);
            const char *w_name = pt2_arena_printf(ctx->arena, err, "rec/%s/W", name);
            const char *b_name = pt2_arena_printf(ctx->arena, err, "rec/%s/b", name);
            if (!name || !w_name || !b_name) return err->status;
            const char *from = side ? "prev:output" : "data:source";
            int with_bias = has_biases && !side;
            unit.keys[unit.count] = name;
            st = unit_layer(ctx->arena, &unit.items[unit.count++], "linear", &from, 1, hidden, with_bias, NULL, err);
            pt2_tensor w, b;
            if (!st) st = gate_block(ctx->arena, &p[side], g, hidden, &w, err);
            if (!st) st = pt2_rt_add_param(rec, w_name, &w, err);
            if (!st && with_bias) st = gate_block(ctx->arena, &bias, g, hidden, &b, err);
            if (!st && with_bias) st = pt2_rt_add_param(rec, b_name, &b, err);
        }
    for (int g = 0; g < 4 && !st; g++) {
        const char *from[2] = {pt2_arena_printf(ctx->arena, err, "x_%s", gates[g]),
                               pt2_arena_printf(ctx->arena, err, "h_%s", gates[g])};
        if (!from[0] || !from[1]) return err->status;
        unit.keys[unit.count] = gates[g];
        st = unit_layer(ctx->arena, &unit.items[unit.count++], "eval", from, 2, 0, 0,
                        g == 2 ? PT2_REC_EVAL_TANH_SUM : PT2_REC_EVAL_SIGMOID_SUM, err);
    }
    static const char *const c_from[] = {"f", "prev:c", "i", "g"}, *const hidden_from[] = {"o", "c"},
                             *const out_from[] = {"hidden"};
    unit.keys[unit.count] = "c";
    if (!st) st = unit_layer(ctx->arena, &unit.items[unit.count++], "eval", c_from, 4, 0, 0, PT2_REC_EVAL_LSTM_CELL, err);
    unit.keys[unit.count] = "hidden";
    if (!st) st = unit_layer(ctx->arena, &unit.items[unit.count++], "eval", hidden_from, 2, 0, 0, PT2_REC_EVAL_LSTM_HIDDEN, err);
    unit.keys[unit.count] = "output";
    if (!st) st = unit_layer(ctx->arena, &unit.items[unit.count++], "linear", out_from, 1, projection, 0, NULL, err);
    pt2_tensor w_hr; /* [P, H] -> [H, P] */
    if (!st) st = gate_block(ctx->arena, &p[has_biases ? 4 : 2], 0, projection, &w_hr, err);
    if (!st) st = pt2_rt_add_param(rec, "rec/output/W", &w_hr, err);
    return st ? st : pt2_rt_set_value(rec, "unit", &unit, err);
}

static pt2_status native_lstm2_unit(pt2_lower_context *ctx, pt2_rt_layer *rec, const pt2_tensor *p, int has_biases,
                                    int64_t hidden, pt2_error *err) {
    /* PyTorch's weights [4H, k] seen as [k, 4H]: the transposed views native_lstm2_gates reorders */
    static const int swap[2] = {1, 0};
    pt2_tensor w, w_re, b;
    pt2_tensor_permute(&p[0], swap, &w);
    pt2_tensor_permute(&p[1], swap, &w_re);
    pt2_status st = PT2_OK;
    if (has_biases) {
        st = native_lstm2_bias(ctx->arena, &p[2], &p[3], hidden, &b, err);
    } else {
        int64_t n = 4 * hidden;
        if (!(st = pt2_tensor_alloc(ctx->arena, PT2_DTYPE_FLOAT32, 1, &n, &b, err)))
            memset(pt2_tensor_data(&b), 0, sizeof(float) * (size_t)n);
    }
    if (!st) st = pt2_rt_set_string(rec, "unit", "nativelstm2", err);
    if (!st) st = pt2_rt_set_int(rec, "n_out", hidden, err);
    if (!st) st = pt2_rt_add_param_blocks(rec, "rec/W", &w, &native_lstm2_gates, err);
    if (!st) st = pt2_rt_add_param_blocks(rec, "rec/W_re", &w_re, &native_lstm2_gates, err);
    if (!st) st = pt2_rt_add_param(rec, "rec/b", &b, err);
    return st;
}

static pt2_status lower_recurrent(pt2_lower_context *ctx, const pt2_node *node, cell_kind kind, pt2_error *err) {
    const pt2_lowered_value *in;
    pt2_tensor hx[2], params[64];
    size_t hx_count = 0, param_count;
    int has_biases, train, bidirectional, batch_first;
    int64_t layers;
    pt2_status st = pt2_lower_input(ctx, node, "input", &in, err);
    if (!st && kind == CELL_LSTM) st = constant_list(ctx, node, "hx", hx, 2, &hx_count, err);
    if (!st && kind != CELL_LSTM) {
        int present;
        st = pt2_lower_constant(ctx, node, "hx", &hx[0], &present, err);
        if (!st && present) st = pt2_tensor_contiguous(ctx->arena, &hx[0], 0, &hx[0], err);
        hx_count = (size_t)present;
    }
    if (!st) st = constant_list(ctx, node, "params", params, 64, &param_count, err);
    if (!st) st = pt2_op_bool(ctx->run, node, "has_biases", &has_biases, err);
    if (!st) st = pt2_op_int(ctx->run, node, "num_layers", &layers, err);
    if (!st) st = pt2_op_bool(ctx->run, node, "train", &train, err);
    if (!st) st = pt2_op_bool(ctx->run, node, "bidirectional", &bidirectional, err);
    if (!st) st = pt2_op_bool(ctx->run, node, "batch_first", &batch_first, err);
    if (st) return st;
    if (!in) return pt2_lower_fail(node, err, "the recurrent layer's input is a constant");
    if (in->rank != 3) return pt2_lower_fail(node, err, "an unbatched input (rank %d) is not lowered", in->rank);
    int directions = bidirectional ? 2 : 1, per_direction = has_biases ? 4 : 2;
    int projected = kind == CELL_LSTM && param_count == (size_t)(layers * directions * (per_direction + 1));
    if (projected) per_direction++; /* W_hr last */
    if (param_count != (size_t)(layers * directions * per_direction))
        return pt2_lower_fail(node, err, "%zu parameter tensors for %lld layers x %d directions", param_count,
                              (long long)layers, directions);
    int zero_state = 1;
    for (size_t i = 0; i < hx_count; i++) zero_state &= all_zero(&hx[i]);
    if (!zero_state && (kind != CELL_LSTM || projected))
        return pt2_lower_fail(node, err, "a non-zero initial state is lowered for LSTMs without projection only (zeros "
                              "for GRU, RNN and proj_size)");
    if (!zero_state && (hx[0].rank != 3 || hx[1].rank != 3 || hx[0].shape[2] != hx[1].shape[2]))
        return pt2_lower_fail(node, err, "expected initial states [layers * directions, batch, hidden]");
    int time_axis = batch_first ? 1 : 0, batch_axis = batch_first ? 0 : 1;
    const pt2_rt_net *net = ctx->net;
    if (net->dims[in->dims[batch_axis]].kind != PT2_RT_DIM_BATCH)
        return pt2_lower_fail(node, err, "axis %d of the input is its batch, but not the network's batch axis "
                              "(a time-major program input is not lowered yet)", batch_axis);
    if (in->dims[2] != in->shape.feature_dim) return pt2_lower_fail(node, err, "the input's features are not the data's feature dim");
    int time = in->dims[time_axis];
    /* A static time axis (a fixed-length export) is not RETURNN's default time: name it. */
    const char *axis = NULL;
    int default_time = pt2_rt_shape_time_axis(net, &in->shape);
    if (default_time < 0 || in->shape.dims[default_time] != time)
        if ((st = pt2_rt_axis_description(ctx->arena, net, &in->shape, time, &axis, err))) return st;
    const char *base = ctx->places[node - ctx->graph->nodes].base;
    const pt2_lowered_value *source = in;
    pt2_lowered_value joined;
    for (int64_t layer = 0; layer < layers; layer++) {
        pt2_lowered_value direction_out[2];
        pt2_rt_layer *rec[2];
        for (int dir = 0; dir < directions; dir++) {
            pt2_tensor *p = params + (layer * directions + dir) * per_direction;
            int64_t gates = cell_gates[kind], hidden = p[1].rank == 2 ? p[1].shape[0] / gates : -1;
            int64_t fed_back = projected ? p[per_direction - 1].shape[0] : hidden; /* proj_size or H */
            if (p[0].rank != 2 || p[1].rank != 2 || p[0].shape[0] != gates * hidden || p[1].shape[0] != gates * hidden ||
                p[1].shape[1] != fed_back || (projected && (p[per_direction - 1].rank != 2 || p[per_direction - 1].shape[1] != hidden)))
                return pt2_lower_fail(node, err, "layer %lld: expected weights [%lldH, in], [%lldH, H]%s", (long long)layer,
                                      (long long)gates, (long long)gates, projected ? " and W_hr [P, H]" : "");
            char name[200]; /* lstm, lstm_fw/_bw, lstm_l0, lstm_l0_fw/_bw */
            char level[32] = "";
            if (layers > 1) snprintf(level, sizeof level, "_l%lld", (long long)layer);
            snprintf(name, sizeof name, "%s%s%s", base, level, directions > 1 ? (dir ? "_bw" : "_fw") : "");
            int last = layer == layers - 1 && directions == 1;
            /* A dict unit runs backwards on its reversed sequence, reversed back afterwards
             * (RecLayer reverses within each sequence's length itself only for native units). */
            int dict_unit = kind != CELL_LSTM || projected, reversed = dir && dict_unit;
            const char *rec_name = reversed ? pt2_arena_printf(ctx->arena, err, "%s_rec", name) : name;
            if (!rec_name) return err->status;
            pt2_lowered_value reversed_in;
            const pt2_lowered_value *rec_source = source;
            if (reversed) {
                pt2_rt_layer *reverse_in;
                const char *reverse_name = pt2_arena_printf(ctx->arena, err, "%s_reversed", name);
                if (!reverse_name) return err->status;
                st = pt2_lower_new_layer_named(ctx, node, reverse_name, "eval", &reverse_in, err);
                if (!st) st = pt2_lower_add_source(ctx, reverse_in, source, err);
                if (!st) st = pt2_rt_set_string(reverse_in, "eval", PT2_REC_EVAL_REVERSE, err);
                if (!st) st = pt2_lower_infer(ctx, node, reverse_in, err);
                if (st) return st;
                reversed_in = *source;
                reversed_in.layer = reverse_in->name;
                reversed_in.shape = reverse_in->shape;
                rec_source = &reversed_in;
            }
            st = last ? pt2_lower_new_layer(ctx, node, "rec", &rec[dir], err)
                      : pt2_lower_new_layer_named(ctx, node, rec_name, "rec", &rec[dir], err);
            if (!st) st = pt2_lower_add_source(ctx, rec[dir], rec_source, err);
            if (!st)
                st = projected          ? projected_lstm_unit(ctx, rec[dir], p, has_biases, hidden, fed_back, err)
                     : kind == CELL_LSTM ? native_lstm2_unit(ctx, rec[dir], p, has_biases, hidden, err)
                                         : subnetwork_unit(ctx, rec[dir], kind, p, has_biases, hidden, err);
            if (!st && !reversed) st = pt2_rt_set_int(rec[dir], "direction", dir ? -1 : 1, err);
            if (!st && !zero_state) st = lstm_initial_state(ctx, node, rec[dir], hx, layer * directions + dir, err);
            if (!st && axis) st = pt2_rt_set_string(rec[dir], "axis", axis, err);
            if (!st) st = pt2_lower_infer(ctx, node, rec[dir], err);
            if (!st && reversed) { /* the direction's output, back in time order */
                pt2_rt_layer *reverse_out;
                st = pt2_lower_new_layer_named(ctx, node, name, "eval", &reverse_out, err);
                if (!st) st = pt2_rt_add_from(reverse_out, rec[dir]->name, -1, err);
                if (!st) st = pt2_rt_set_string(reverse_out, "eval", PT2_REC_EVAL_REVERSE, err);
                if (!st) st = pt2_lower_infer(ctx, node, reverse_out, err);
                rec[dir] = reverse_out;
            }
            if (st) return st;
            /* Its PyTorch view: the input's axes with the features replaced. */
            pt2_lowered_value *v = &direction_out[dir];
            memset(v, 0, sizeof *v);
            v->is_set = 1;
            v->layer = rec[dir]->name;
            v->shape = rec[dir]->shape;
            v->rank = 3;
            memcpy(v->dims, in->dims, sizeof v->dims);
            v->dims[2] = rec[dir]->shape.feature_dim;
            if (last) return pt2_lower_set_output(ctx, node, rec[dir], 3, v->dims, err);
        }
        if (directions == 1) {
            joined = direction_out[0];
            source = &joined;
            continue;
        }
        pt2_rt_layer *copy;
        int last = layer == layers - 1;
        char name[200];
        snprintf(name, sizeof name, "%s_l%lld", base, (long long)layer);
        st = last ? pt2_lower_new_layer(ctx, node, "copy", &copy, err)
                  : pt2_lower_new_layer_named(ctx, node, name, "copy", &copy, err);
        for (int dir = 0; dir < 2 && !st; dir++) st = pt2_lower_add_source(ctx, copy, &direction_out[dir], err);
        if (!st) st = pt2_lower_infer(ctx, node, copy, err);
        if (st) return st;
        memset(&joined, 0, sizeof joined);
        joined.is_set = 1;
        joined.layer = copy->name;
        joined.shape = copy->shape;
        joined.rank = 3;
        memcpy(joined.dims, in->dims, sizeof joined.dims);
        joined.dims[2] = copy->shape.feature_dim;
        if (last) return pt2_lower_set_output(ctx, node, copy, 3, joined.dims, err);
        source = &joined;
    }
    return PT2_OK;
}

static pt2_status lower_lstm(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    return lower_recurrent(ctx, node, CELL_LSTM, err);
}
static pt2_status lower_gru(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    return lower_recurrent(ctx, node, CELL_GRU, err);
}
static pt2_status lower_rnn_tanh(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    return lower_recurrent(ctx, node, CELL_RNN_TANH, err);
}
static pt2_status lower_rnn_relu(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    return lower_recurrent(ctx, node, CELL_RNN_RELU, err);
}

/* eval:reverse_sequence: the sequence reversal around a backward dict unit (PT2_REC_EVAL_REVERSE,
 * interpreted by core/returnn/layers_rec.c). */
const pt2_op_lowering pt2_lowerings_recurrent[] = {
    {"aten.lstm.input", lower_lstm, "rec copy eval:reverse_sequence"},
    {"pt2returnn.lstm.default", lower_lstm, "rec copy eval:reverse_sequence"},
    {"aten.gru.input", lower_gru, "rec copy eval:reverse_sequence"},
    {"pt2returnn.gru.default", lower_gru, "rec copy eval:reverse_sequence"},
    {"aten.rnn_tanh.input", lower_rnn_tanh, "rec copy eval:reverse_sequence"},
    {"pt2returnn.rnn_tanh.default", lower_rnn_tanh, "rec copy eval:reverse_sequence"},
    {"aten.rnn_relu.input", lower_rnn_relu, "rec copy eval:reverse_sequence"},
    {"pt2returnn.rnn_relu.default", lower_rnn_relu, "rec copy eval:reverse_sequence"},
    {NULL, NULL, NULL}};
