/* Lowering of recurrent layers to RETURNN `rec` layers: aten.lstm.input (fixed-length exports)
 * and pt2returnn.lstm.default (pt2returnn.export, dynamic time).
 *
 * Each layer and direction of an LSTM becomes one rec layer with the NativeLSTM2 unit
 * (core/returnn/layers_rec.c), its variables in RETURNN's layout and gate order:
 *   W    = reorder(weight_ih).T   [in, 4H]
 *   W_re = reorder(weight_hh).T   [H, 4H]
 *   b    = reorder(bias_ih + bias_hh)
 * where reorder takes PyTorch's gate blocks (i, f, g, o) to NativeLSTM2's (g, i, f, o). The
 * backward direction is `direction: -1` (RETURNN reverses each sequence within its own length,
 * as a packed PyTorch sequence would), and the two directions are joined along the feature axis
 * by a `copy` from [forward, backward], PyTorch's order. Stacked layers feed each other. */
#include <stdio.h>
#include <string.h>

#include "../naming/naming.h"
#include "../ops/registry.h"
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

/* PyTorch's gate blocks (i, f, g, o) of `m` [4H, k] (or [4H]) in NativeLSTM2's order (g, i, f, o),
 * transposed to [k, 4H] for a matrix. `add` (same shape, or NULL) is added first. */
static pt2_status native_lstm2_layout(pt2_arena *arena, const pt2_tensor *m, const pt2_tensor *add, int64_t hidden,
                                      pt2_tensor *out, pt2_error *err) {
    static const int from_block[4] = {2, 0, 1, 3};
    int64_t k = m->rank == 2 ? m->shape[1] : 1;
    int64_t shape[2] = {k, 4 * hidden};
    pt2_status st = m->rank == 2 ? pt2_tensor_alloc(arena, PT2_DTYPE_FLOAT32, 2, shape, out, err)
                                 : pt2_tensor_alloc(arena, PT2_DTYPE_FLOAT32, 1, shape + 1, out, err);
    if (st) return st;
    const float *src = pt2_tensor_data(m), *extra = add ? pt2_tensor_data(add) : NULL;
    float *dst = pt2_tensor_data(out);
    for (int block = 0; block < 4; block++)
        for (int64_t j = 0; j < hidden; j++) {
            int64_t row = from_block[block] * hidden + j, column = block * hidden + j;
            for (int64_t c = 0; c < k; c++)
                dst[c * 4 * hidden + column] = src[row * k + c] + (extra ? extra[row * k + c] : 0.0f);
        }
    return PT2_OK;
}

static pt2_status lower_lstm(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    pt2_tensor hx[2], params[64];
    size_t hx_count, param_count;
    int has_biases, train, bidirectional, batch_first;
    int64_t layers;
    pt2_status st = pt2_lower_input(ctx, node, "input", &in, err);
    if (!st) st = constant_list(ctx, node, "hx", hx, 2, &hx_count, err);
    if (!st) st = constant_list(ctx, node, "params", params, 64, &param_count, err);
    if (!st) st = pt2_op_bool(ctx->run, node, "has_biases", &has_biases, err);
    if (!st) st = pt2_op_int(ctx->run, node, "num_layers", &layers, err);
    if (!st) st = pt2_op_bool(ctx->run, node, "train", &train, err);
    if (!st) st = pt2_op_bool(ctx->run, node, "bidirectional", &bidirectional, err);
    if (!st) st = pt2_op_bool(ctx->run, node, "batch_first", &batch_first, err);
    if (st) return st;
    if (!in) return pt2_lower_fail(node, err, "the LSTM's input is a constant");
    if (in->rank != 3) return pt2_lower_fail(node, err, "an unbatched LSTM input (rank %d) is not lowered", in->rank);
    int directions = bidirectional ? 2 : 1, per_direction = has_biases ? 4 : 2;
    if (param_count != (size_t)(layers * directions * per_direction))
        return pt2_lower_fail(node, err, "%zu parameter tensors for %lld layers x %d directions: LSTM projections "
                              "(proj_size) are not lowered yet", param_count, (long long)layers, directions);
    if (hx_count != 2 || !all_zero(&hx[0]) || !all_zero(&hx[1]))
        return pt2_lower_fail(node, err, "a non-zero initial state is not lowered yet (zeros are)");
    int time_axis = batch_first ? 1 : 0, batch_axis = batch_first ? 0 : 1;
    const pt2_rt_net *net = ctx->net;
    if (net->dims[in->dims[batch_axis]].kind != PT2_RT_DIM_BATCH)
        return pt2_lower_fail(node, err, "axis %d of the LSTM input is its batch, but not the network's batch axis "
                              "(time-major input as the program's input is not lowered yet)", batch_axis);
    if (in->dims[2] != in->shape.feature_dim) return pt2_lower_fail(node, err, "the LSTM's features are not the data's feature dim");
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
        const pt2_lowered_value *outputs[2];
        pt2_lowered_value direction_out[2];
        pt2_rt_layer *rec[2];
        for (int dir = 0; dir < directions; dir++) {
            pt2_tensor *p = params + (layer * directions + dir) * per_direction;
            int64_t hidden = p[1].rank == 2 ? p[1].shape[1] : -1;
            if (p[0].rank != 2 || p[1].rank != 2 || p[0].shape[0] != 4 * hidden || p[1].shape[0] != 4 * hidden)
                return pt2_lower_fail(node, err, "layer %lld: expected weights [4H, in] and [4H, H]", (long long)layer);
            pt2_tensor w, w_re, b;
            if ((st = native_lstm2_layout(ctx->arena, &p[0], NULL, hidden, &w, err))) return st;
            if ((st = native_lstm2_layout(ctx->arena, &p[1], NULL, hidden, &w_re, err))) return st;
            if (has_biases) st = native_lstm2_layout(ctx->arena, &p[2], &p[3], hidden, &b, err);
            else {
                int64_t n = 4 * hidden;
                if (!(st = pt2_tensor_alloc(ctx->arena, PT2_DTYPE_FLOAT32, 1, &n, &b, err)))
                    memset(pt2_tensor_data(&b), 0, sizeof(float) * (size_t)n);
            }
            if (st) return st;
            char name[200]; /* lstm, lstm_fw/_bw, lstm_l0, lstm_l0_fw/_bw */
            char level[32] = "";
            if (layers > 1) snprintf(level, sizeof level, "_l%lld", (long long)layer);
            snprintf(name, sizeof name, "%s%s%s", base, level, directions > 1 ? (dir ? "_bw" : "_fw") : "");
            int last = layer == layers - 1 && directions == 1;
            st = last ? pt2_lower_new_layer(ctx, node, "rec", &rec[dir], err)
                      : pt2_lower_new_layer_named(ctx, node, name, "rec", &rec[dir], err);
            if (!st) st = pt2_lower_add_source(ctx, rec[dir], source, err);
            if (!st) st = pt2_rt_set_string(rec[dir], "unit", "nativelstm2", err);
            if (!st) st = pt2_rt_set_int(rec[dir], "n_out", hidden, err);
            if (!st) st = pt2_rt_set_int(rec[dir], "direction", dir ? -1 : 1, err);
            if (!st && axis) st = pt2_rt_set_string(rec[dir], "axis", axis, err);
            if (!st) st = pt2_rt_add_param(rec[dir], "rec/W", &w, err);
            if (!st) st = pt2_rt_add_param(rec[dir], "rec/W_re", &w_re, err);
            if (!st) st = pt2_rt_add_param(rec[dir], "rec/b", &b, err);
            if (!st) st = pt2_lower_infer(ctx, node, rec[dir], err);
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
            outputs[dir] = v;
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
        for (int dir = 0; dir < 2 && !st; dir++) st = pt2_lower_add_source(ctx, copy, outputs[dir], err);
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

const pt2_op_lowering pt2_lowerings_recurrent[] = {
    {"aten.lstm.input", lower_lstm},
    {"pt2returnn.lstm.default", lower_lstm},
    {NULL, NULL}};
