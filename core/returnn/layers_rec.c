/* RETURNN's `rec` layer with the NativeLSTM2 unit (returnn/tf/layers/rec.py RecLayer,
 * returnn/native_op.py NativeLstm2), as pt2returnn emits it:
 *   {"class": "rec", "unit": "nativelstm2", "n_out": N, "direction": 1 or -1, "from": ...}
 * with the variables rec/W [n_in, 4N], rec/b [4N] (the input projection, X = x W + b, done by
 * RecLayer for the whole sequence) and rec/W_re [N, 4N] (the recurrent matrix). The kernel cuts
 * the 4N gate axis as (cell input j, input gate i, forget gate f, output gate o) and computes
 *   c_t = f * c_{t-1} + i * tanh(j),  y_t = o * tanh(c_t),  with i, f, o through sigmoid,
 * from zero states. The output is time-major (time, batch, N), RecLayer's own layout; other axes
 * of the source besides time and feature are merged into the batch, as RecLayer does. Direction
 * -1 runs each sequence from its end (every sequence here has the full length). */
#include <math.h>
#include <string.h>

#include "layers.h"

static float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

/* The dim iterated over: the "axis" option's, else RETURNN's time axis. */
static pt2_status iterated_dim(const pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *in, int *dim,
                               pt2_error *err) {
    const char *axis = pt2_rt_string_option(layer, "axis", NULL);
    if (axis) return pt2_rt_resolve_axis(net, in, axis, dim, err);
    int a = pt2_rt_shape_time_axis(net, in);
    if (a < 0) return pt2_rt_layer_fail(layer, err, "the source has no time axis (give \"axis\")");
    *dim = in->dims[a];
    return PT2_OK;
}

static pt2_status check_unit(const pt2_rt_layer *layer, pt2_error *err) {
    const char *unit = pt2_rt_string_option(layer, "unit", "");
    if (strcmp(unit, "nativelstm2")) return pt2_rt_layer_fail(layer, err, "unit '%s' is not interpreted (nativelstm2 is)", unit);
    int64_t direction = pt2_rt_int_option(layer, "direction", 1);
    if (direction != 1 && direction != -1) return pt2_rt_layer_fail(layer, err, "direction must be 1 or -1");
    return PT2_OK;
}

static pt2_status rec_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *inputs,
                            size_t num_inputs, pt2_rt_shape *out, pt2_error *err) {
    int time;
    pt2_status st = pt2_rt_single_input(layer, num_inputs, err);
    if (!st) st = check_unit(layer, err);
    if (!st) st = iterated_dim(net, layer, &inputs[0], &time, err);
    if (st) return st;
    const pt2_rt_shape *in = &inputs[0];
    int64_t n_out = pt2_rt_int_option(layer, "n_out", -1);
    if (n_out < 1) return pt2_rt_layer_fail(layer, err, "n_out must be given");
    if (in->feature_dim < 0 || in->feature_dim == time) return pt2_rt_layer_fail(layer, err, "the source has no feature dim");
    const char *description = pt2_arena_printf(arena, err, "%s:rec", layer->name);
    int feature;
    if (!description || (st = pt2_rt_add_dim(arena, net, description, PT2_RT_DIM_STATIC, n_out, &feature, err)))
        return description ? st : err->status;
    memset(out, 0, sizeof *out);
    out->dims[out->rank++] = time;
    for (int a = 0; a < in->rank; a++)
        if (in->dims[a] != time && in->dims[a] != in->feature_dim) out->dims[out->rank++] = in->dims[a];
    out->dims[out->rank++] = feature;
    out->feature_dim = feature;
    out->sparse_dim = -1;
    out->dtype = PT2_DTYPE_FLOAT32;
    return PT2_OK;
}

static pt2_status rec_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                              const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *out, pt2_error *err) {
    (void)num_inputs;
    int time;
    pt2_status st = iterated_dim(net, layer, &inputs[0].shape, &time, err);
    if (st) return st;
    /* the source as [time, the layer's batch-like dims..., feature] */
    int dims[PT2_MAX_RANK];
    memcpy(dims, layer->shape.dims, sizeof dims);
    int rank = layer->shape.rank;
    dims[rank - 1] = inputs[0].shape.feature_dim;
    pt2_tensor x;
    if ((st = pt2_rt_transpose_to(arena, &inputs[0], rank, dims, &x, err))) return st;
    int64_t steps = x.shape[0], n_in = x.shape[rank - 1], batch = 1;
    for (int a = 1; a < rank - 1; a++) batch *= x.shape[a];
    int64_t n = pt2_rt_int_option(layer, "n_out", -1), backward = pt2_rt_int_option(layer, "direction", 1) < 0;
    const pt2_tensor *w = pt2_rt_get_param(layer, "rec/W"), *w_re = pt2_rt_get_param(layer, "rec/W_re"),
                     *b = pt2_rt_get_param(layer, "rec/b");
    if (!w || !w_re || !b || w->rank != 2 || w->shape[0] != n_in || w->shape[1] != 4 * n || w_re->rank != 2 ||
        w_re->shape[0] != n || w_re->shape[1] != 4 * n || b->rank != 1 || b->shape[0] != 4 * n)
        return pt2_rt_layer_fail(layer, err, "expected variables rec/W [%lld, %lld], rec/W_re [%lld, %lld], rec/b [%lld]",
                                 (long long)n_in, (long long)(4 * n), (long long)n, (long long)(4 * n), (long long)(4 * n));
    pt2_tensor wc, wrc, bc;
    if ((st = pt2_tensor_contiguous(arena, w, 0, &wc, err)) || (st = pt2_tensor_contiguous(arena, w_re, 0, &wrc, err)) ||
        (st = pt2_tensor_contiguous(arena, b, 0, &bc, err)))
        return st;
    int64_t sizes[PT2_MAX_RANK];
    memcpy(sizes, x.shape, sizeof(int64_t) * (size_t)rank);
    sizes[rank - 1] = n;
    if ((st = pt2_rt_alloc_output(arena, &layer->shape, sizes, out, err))) return st;
    float *gates = pt2_arena_alloc_array(arena, (size_t)(4 * n) + 1, sizeof(float), err);
    float *state = pt2_arena_alloc_array(arena, (size_t)(batch * 2 * n) + 1, sizeof(float), err);
    if (!gates || !state) return err->status;
    const float *xs = pt2_tensor_data(&x), *W = pt2_tensor_data(&wc), *W_re = pt2_tensor_data(&wrc),
                *bias = pt2_tensor_data(&bc);
    float *y = pt2_tensor_data(out);
    memset(state, 0, sizeof(float) * (size_t)(batch * 2 * n));
    for (int64_t step = 0; step < steps; step++) {
        int64_t t = backward ? steps - 1 - step : step;
        int64_t t_prev = backward ? t + 1 : t - 1;
        for (int64_t bi = 0; bi < batch; bi++) {
            const float *frame = xs + (t * batch + bi) * n_in;
            const float *y_prev = step ? y + (t_prev * batch + bi) * n : NULL;
            float *c = state + bi * 2 * n;
            for (int64_t j = 0; j < 4 * n; j++) {
                double sum = bias[j];
                for (int64_t k = 0; k < n_in; k++) sum += (double)frame[k] * W[k * 4 * n + j];
                if (y_prev)
                    for (int64_t k = 0; k < n; k++) sum += (double)y_prev[k] * W_re[k * 4 * n + j];
                gates[j] = (float)sum;
            }
            float *y_t = y + (t * batch + bi) * n;
            for (int64_t j = 0; j < n; j++) {
                float cell_in = tanhf(gates[j]), in_gate = sigmoid(gates[n + j]);
                float forget = sigmoid(gates[2 * n + j]), out_gate = sigmoid(gates[3 * n + j]);
                c[j] = forget * c[j] + in_gate * cell_in;
                y_t[j] = out_gate * tanhf(c[j]);
            }
        }
    }
    return PT2_OK;
}

const pt2_rt_layer_class pt2_rt_layers_rec[] = {{"rec", rec_infer, rec_compute}, {NULL, NULL, NULL}};
