/* RETURNN's `rec` layer with the NativeLSTM2 unit (returnn/tf/layers/rec.py RecLayer,
 * returnn/native_op.py NativeLstm2), as pt2returnn emits it:
 *   {"class": "rec", "unit": "nativelstm2", "n_out": N, "direction": 1 or -1, "from": ...}
 * with the variables rec/W [n_in, 4N], rec/b [4N] (the input projection, X = x W + b, done by
 * RecLayer for the whole sequence) and rec/W_re [N, 4N] (the recurrent matrix). The kernel cuts
 * the 4N gate axis as (cell input j, input gate i, forget gate f, output gate o) and computes
 *   c_t = f * c_{t-1} + i * tanh(j),  y_t = o * tanh(c_t),  with i, f, o through sigmoid,
 * from zero states, or from initial_state {"c": "var", "h": "var"} (variables rec/initial_c and
 * rec/initial_h, one vector for every sequence). The output is time-major (time, batch, N), RecLayer's own layout; other axes
 * of the source besides time and feature are merged into the batch, as RecLayer does. Direction
 * -1 runs each sequence from its end. In a padded batch (pt2_rt_sequence_length) each sequence
 * runs within its own length only, as NativeLstm2 with the sequence mask: direction -1 starts at
 * its last frame, and the frames after its end are zeros in the output.
 *
 * A dict unit is a subnetwork run once per frame (core/returnn/rec_units.h lists the inner
 * layers and eval expressions pt2returnn writes); its variables are rec/<inner layer>/W and b. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../ops/kernels.h"
#include "layers.h"
#include "rec_units.h"

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

/* The length of the time axis `time_axis` (of size shape[time_axis]) for the batch entry of the
 * element at row-major index `flat` of a tensor with these dims and sizes (its time index is
 * irrelevant): the sequence's own length in a padded batch, else the full size. */
static int64_t entry_length(const pt2_rt_net *net, const int *dims, const int64_t *shape, int rank, int time_axis,
                            int64_t flat) {
    for (int a = 0; a < rank; a++)
        if (net->dims[dims[a]].kind == PT2_RT_DIM_BATCH && shape[a] > 0) {
            int64_t stride = 1;
            for (int k = a + 1; k < rank; k++) stride *= shape[k];
            return pt2_rt_sequence_length(net, dims[time_axis], stride ? (flat / stride) % shape[a] : 0, shape[time_axis]);
        }
    return shape[time_axis];
}

/* ---- dict units ---- */

#define MAX_UNIT_LAYERS 16

typedef enum unit_form {
    FORM_NONE, FORM_SIGMOID_SUM, FORM_TANH_SUM, FORM_RELU_SUM, FORM_GRU_CANDIDATE, FORM_GRU_STATE, FORM_LSTM_CELL,
    FORM_LSTM_HIDDEN
} unit_form;

typedef struct unit_layer {
    const char *name;
    int is_linear;
    unit_form form;
    size_t num_from;
    int from[4]; /* an inner layer's index, SOURCE_FRAME, or prev_source(index) for its last frame */
    int64_t size;
    const pt2_tensor *weight, *bias;
    float *rows; /* a linear's weight [in, size] transposed: each output's weights a row */
} unit_layer;

enum { SOURCE_FRAME = -1 };
/* "prev:<layer>": that layer's output at the last frame (zeros before the first) */
static int prev_source(int index) { return -2 - index; }
static int prev_index(int source) { return -2 - source; }

typedef struct rec_unit {
    size_t count;
    unit_layer layers[MAX_UNIT_LAYERS];
    int output;
} rec_unit;

static unit_form eval_form(const char *code) {
    static const struct {
        const char *code;
        unit_form form;
    } forms[] = {{PT2_REC_EVAL_SIGMOID_SUM, FORM_SIGMOID_SUM}, {PT2_REC_EVAL_TANH_SUM, FORM_TANH_SUM},
                 {PT2_REC_EVAL_RELU_SUM, FORM_RELU_SUM}, {PT2_REC_EVAL_GRU_CANDIDATE, FORM_GRU_CANDIDATE},
                 {PT2_REC_EVAL_GRU_STATE, FORM_GRU_STATE}, {PT2_REC_EVAL_LSTM_CELL, FORM_LSTM_CELL},
                 {PT2_REC_EVAL_LSTM_HIDDEN, FORM_LSTM_HIDDEN}};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++)
        if (!strcmp(code, forms[i].code)) return forms[i].form;
    return FORM_NONE;
}

static const pt2_rt_value *dict_get(const pt2_rt_value *dict, const char *key) {
    for (size_t i = 0; i < dict->count; i++)
        if (!strcmp(dict->keys[i], key)) return &dict->items[i];
    return NULL;
}

/* Reads the unit dict; sizes of eval layers come from their first source, in a second pass. */
static pt2_status read_unit(const pt2_rt_layer *layer, int64_t n_in, rec_unit *unit, pt2_error *err) {
    const pt2_rt_value *dict = pt2_rt_get_option(layer, "unit");
    memset(unit, 0, sizeof *unit);
    unit->output = -1;
    if (dict->count > MAX_UNIT_LAYERS) return pt2_rt_layer_fail(layer, err, "the unit has more than %d layers", MAX_UNIT_LAYERS);
    for (size_t i = 0; i < dict->count; i++) unit->layers[i].name = dict->keys[i];
    unit->count = dict->count;
    for (size_t i = 0; i < dict->count; i++) {
        unit_layer *u = &unit->layers[i];
        const pt2_rt_value *d = &dict->items[i], *cls = d->kind == PT2_RT_DICT ? dict_get(d, "class") : NULL;
        const pt2_rt_value *from = cls ? dict_get(d, "from") : NULL;
        if (!cls || cls->kind != PT2_RT_STRING || !from)
            return pt2_rt_layer_fail(layer, err, "unit layer '%s' needs a class and from", u->name);
        if (!strcmp(u->name, "output")) unit->output = (int)i;
        size_t n = from->kind == PT2_RT_LIST ? from->count : 1;
        if (n > 4) return pt2_rt_layer_fail(layer, err, "unit layer '%s' has too many sources", u->name);
        u->num_from = n;
        for (size_t f = 0; f < n; f++) {
            const pt2_rt_value *v = from->kind == PT2_RT_LIST ? &from->items[f] : from;
            if (v->kind != PT2_RT_STRING) return pt2_rt_layer_fail(layer, err, "unit layer '%s': a source is not a name", u->name);
            int found = 0;
            if (!strcmp(v->string, "data:source")) u->from[f] = SOURCE_FRAME, found = 1;
            int prev = !strncmp(v->string, "prev:", 5);
            for (size_t k = 0; k < dict->count && !found; k++)
                if (!strcmp(v->string + (prev ? 5 : 0), dict->keys[k])) u->from[f] = prev ? prev_source((int)k) : (int)k, found = 1;
            if (!found) return pt2_rt_layer_fail(layer, err, "unit layer '%s': source '%s' is not interpreted", u->name, v->string);
        }
        if (!strcmp(cls->string, "linear")) {
            char w_name[160], b_name[160];
            const pt2_rt_value *activation = dict_get(d, "activation"), *n_out = dict_get(d, "n_out");
            if (n != 1 || !n_out || n_out->kind != PT2_RT_INT || (activation && activation->kind != PT2_RT_NONE))
                return pt2_rt_layer_fail(layer, err, "unit layer '%s': expected a linear with one source, n_out and no activation", u->name);
            snprintf(w_name, sizeof w_name, "rec/%s/W", u->name);
            snprintf(b_name, sizeof b_name, "rec/%s/b", u->name);
            u->is_linear = 1;
            u->size = n_out->int_value;
            u->weight = pt2_rt_get_param(layer, w_name);
            u->bias = pt2_rt_get_param(layer, b_name);
            const pt2_rt_value *with_bias = dict_get(d, "with_bias");
            int wants_bias = !with_bias || with_bias->int_value;
            if (!u->weight || u->weight->rank != 2 || u->weight->shape[1] != u->size || wants_bias != (u->bias != NULL) ||
                (u->bias && (u->bias->rank != 1 || u->bias->shape[0] != u->size)))
                return pt2_rt_layer_fail(layer, err, "unit layer '%s': expected variables %s [in, %lld]%s", u->name, w_name,
                                         (long long)u->size, wants_bias ? " and b" : "");
        } else if (!strcmp(cls->string, "eval")) {
            const pt2_rt_value *code = dict_get(d, "eval");
            u->form = code && code->kind == PT2_RT_STRING ? eval_form(code->string) : FORM_NONE;
            size_t wanted = u->form == FORM_GRU_CANDIDATE || u->form == FORM_GRU_STATE ? 3 : u->form == FORM_LSTM_CELL ? 4 : 2;
            if (u->form == FORM_NONE || n != wanted)
                return pt2_rt_layer_fail(layer, err, "unit layer '%s': eval expression not interpreted", u->name);
        } else {
            return pt2_rt_layer_fail(layer, err, "unit layer '%s': class '%s' is not interpreted in a unit", u->name, cls->string);
        }
    }
    if (unit->output < 0) return pt2_rt_layer_fail(layer, err, "the unit has no \"output\" layer");
    /* eval sizes from their first source; linear inputs checked; in order of dependency */
    for (int pass = 0; pass < MAX_UNIT_LAYERS; pass++)
        for (size_t i = 0; i < unit->count; i++) {
            unit_layer *u = &unit->layers[i];
            if (u->is_linear || u->size) continue;
            int s = u->from[0];
            if (s >= 0) u->size = unit->layers[s].size;
        }
    for (size_t i = 0; i < unit->count; i++) {
        unit_layer *u = &unit->layers[i];
        if (u->size < 1) return pt2_rt_layer_fail(layer, err, "unit layer '%s': its size is not known", u->name);
        for (size_t f = 0; f < u->num_from; f++) {
            int s = u->from[f];
            int64_t size = s == SOURCE_FRAME ? n_in : unit->layers[s >= 0 ? s : prev_index(s)].size;
            int64_t wanted = u->is_linear ? u->weight->shape[0] : u->size;
            if (size != wanted && n_in >= 0)
                return pt2_rt_layer_fail(layer, err, "unit layer '%s': source %zu has %lld features, expected %lld", u->name, f,
                                         (long long)size, (long long)wanted);
        }
    }
    return PT2_OK;
}

/* One frame of every unit layer, for one sequence: values[i] holds layer i's output. */
static void unit_step(const rec_unit *unit, const float *frame, float *const *prev, float **values, unsigned char *done,
                      int index) {
    const unit_layer *u = &unit->layers[index];
    const float *in[4];
    for (size_t f = 0; f < u->num_from; f++) {
        int s = u->from[f];
        if (s >= 0 && !done[s]) unit_step(unit, frame, prev, values, done, s);
        in[f] = s == SOURCE_FRAME ? frame : s >= 0 ? values[s] : prev[prev_index(s)];
    }
    float *y = values[index];
    if (u->is_linear) {
        const float *b = u->bias ? pt2_tensor_data(u->bias) : NULL;
        int64_t n_in = u->weight->shape[0];
        for (int64_t j = 0; j < u->size; j++) y[j] = (b ? b[j] : 0.0f) + pt2_dot(u->rows + j * n_in, in[0], n_in);
    } else {
        for (int64_t j = 0; j < u->size; j++) {
            float a = in[0][j], b = in[1][j];
            switch (u->form) {
            case FORM_SIGMOID_SUM: y[j] = sigmoid(a + b); break;
            case FORM_TANH_SUM: y[j] = tanhf(a + b); break;
            case FORM_RELU_SUM: y[j] = a + b > 0.0f ? a + b : 0.0f; break;
            case FORM_GRU_CANDIDATE: y[j] = tanhf(a + b * in[2][j]); break;
            case FORM_GRU_STATE: y[j] = (1.0f - a) * b + a * in[2][j]; break;
            case FORM_LSTM_CELL: y[j] = a * b + in[2][j] * in[3][j]; break;
            case FORM_LSTM_HIDDEN: y[j] = a * tanhf(b); break;
            case FORM_NONE: break;
            }
        }
    }
    done[index] = 1;
}

static int has_dict_unit(const pt2_rt_layer *layer) {
    const pt2_rt_value *unit = pt2_rt_get_option(layer, "unit");
    return unit && unit->kind == PT2_RT_DICT;
}

static pt2_status check_unit(const pt2_rt_layer *layer, pt2_error *err) {
    const char *unit = pt2_rt_string_option(layer, "unit", "");
    if (strcmp(unit, "nativelstm2") && !has_dict_unit(layer))
        return pt2_rt_layer_fail(layer, err, "unit '%s' is not interpreted (nativelstm2 and dict units are)", unit);
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
    if (has_dict_unit(layer)) {
        rec_unit unit;
        if ((st = read_unit(layer, -1, &unit, err))) return st;
        n_out = unit.layers[unit.output].size;
    }
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

/* x: [time, batch..., features] contiguous (its dims `dims`); out: [time, batch..., unit output].
 * Each sequence runs within its length (its frames after the end: zeros). */
static pt2_status run_dict_unit(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer, const int *dims,
                                const pt2_tensor *x, int backward, pt2_tensor *out, pt2_error *err) {
    rec_unit unit;
    int rank = x->rank;
    int64_t steps = x->shape[0], n_in = x->shape[rank - 1], batch = 1;
    for (int a = 1; a < rank - 1; a++) batch *= x->shape[a];
    pt2_status st = read_unit(layer, n_in, &unit, err);
    if (st) return st;
    for (size_t i = 0; i < unit.count; i++) {
        unit_layer *u = &unit.layers[i];
        pt2_tensor w;
        if (!u->is_linear) continue;
        if ((st = pt2_tensor_contiguous(arena, u->weight, 0, &w, err))) return st;
        int64_t inputs = u->weight->shape[0], outputs = u->size; /* the weight [inputs, outputs] */
        if (!(u->rows = pt2_arena_alloc_array(arena, (size_t)(inputs * outputs) + 1, sizeof(float), err))) return err->status;
        pt2_transpose_matrix(pt2_tensor_data(&w), inputs, outputs, outputs, u->rows);
    }
    int64_t n = unit.layers[unit.output].size, sizes[PT2_MAX_RANK];
    memcpy(sizes, x->shape, sizeof(int64_t) * (size_t)rank);
    sizes[rank - 1] = n;
    if ((st = pt2_rt_alloc_output(arena, &layer->shape, sizes, out, err))) return st;
    float *values[MAX_UNIT_LAYERS], *prev[MAX_UNIT_LAYERS];
    for (size_t i = 0; i < unit.count; i++) {
        values[i] = pt2_arena_alloc_array(arena, (size_t)unit.layers[i].size + 1, sizeof(float), err);
        prev[i] = pt2_arena_alloc_array(arena, (size_t)unit.layers[i].size + 1, sizeof(float), err);
        if (!values[i] || !prev[i]) return err->status;
    }
    const float *xs = pt2_tensor_data(x);
    float *y = pt2_tensor_data(out);
    for (int64_t bi = 0; bi < batch; bi++) {
        int64_t length = entry_length(net, dims, x->shape, rank - 1, 0, bi);
        for (int64_t t = length; t < steps; t++) memset(y + (t * batch + bi) * n, 0, sizeof(float) * (size_t)n);
        for (size_t i = 0; i < unit.count; i++) memset(prev[i], 0, sizeof(float) * (size_t)unit.layers[i].size);
        for (int64_t step = 0; step < length; step++) {
            int64_t t = backward ? length - 1 - step : step;
            unsigned char done[MAX_UNIT_LAYERS] = {0};
            /* every layer, as RETURNN computes them all each frame (a prev: may need one the output does not) */
            for (size_t i = 0; i < unit.count; i++)
                if (!done[i]) unit_step(&unit, xs + (t * batch + bi) * n_in, prev, values, done, (int)i);
            memcpy(y + (t * batch + bi) * n, values[unit.output], sizeof(float) * (size_t)n);
            for (size_t i = 0; i < unit.count; i++) memcpy(prev[i], values[i], sizeof(float) * (size_t)unit.layers[i].size);
        }
    }
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
    if (has_dict_unit(layer)) return run_dict_unit(arena, net, layer, dims, &x, backward, out, err);
    const pt2_rt_param *w_param = pt2_rt_find_param(layer, "rec/W"), *w_re_param = pt2_rt_find_param(layer, "rec/W_re");
    const pt2_tensor *w = w_param ? &w_param->value : NULL, *w_re = w_re_param ? &w_re_param->value : NULL,
                     *b = pt2_rt_get_param(layer, "rec/b");
    if (!w || !w_re || !b || w->rank != 2 || w->shape[0] != n_in || w->shape[1] != 4 * n || w_re->rank != 2 ||
        w_re->shape[0] != n || w_re->shape[1] != 4 * n || b->rank != 1 || b->shape[0] != 4 * n)
        return pt2_rt_layer_fail(layer, err, "expected variables rec/W [%lld, %lld], rec/W_re [%lld, %lld], rec/b [%lld]",
                                 (long long)n_in, (long long)(4 * n), (long long)n, (long long)(4 * n), (long long)(4 * n));
    if (w->dtype != PT2_DTYPE_FLOAT32 || w_re->dtype != PT2_DTYPE_FLOAT32 || b->dtype != PT2_DTYPE_FLOAT32)
        return pt2_rt_layer_fail(layer, err, "expected float32 variables");
    for (const pt2_rt_param *gated = w_param; gated; gated = gated == w_param ? w_re_param : NULL)
        if (gated->blocks && (gated->blocks->axis != 1 || gated->blocks->count != 4))
            return pt2_rt_layer_fail(layer, err, "%s: the gates' order must be 4 blocks of the columns", gated->name);
    /* The lowering's W and W_re are views of PyTorch's weights, their gate blocks in PyTorch's
     * order (param->blocks); the reload's are dense in NativeLstm2's. W is read where it lies, a
     * block at a time (below); W_re turned once, each gate's recurrent weights a row in
     * NativeLstm2's order: [4n, n], W_re's transpose with the blocks along its rows. */
    pt2_tensor bc, w_re_t, recurrent;
    pt2_block_order rows_order;
    const pt2_block_order *rows_blocks = NULL;
    if (w_re_param->blocks) {
        rows_order = *w_re_param->blocks;
        rows_order.axis = 1 - rows_order.axis;
        rows_blocks = &rows_order;
    }
    static const int swap[2] = {1, 0};
    pt2_tensor_permute(w_re, swap, &w_re_t);
    if ((st = pt2_tensor_contiguous(arena, b, 0, &bc, err)) ||
        (st = pt2_tensor_contiguous_blocks(arena, &w_re_t, rows_blocks, &recurrent, err)))
        return st;
    int64_t sizes[PT2_MAX_RANK];
    memcpy(sizes, x.shape, sizeof(int64_t) * (size_t)rank);
    sizes[rank - 1] = n;
    if ((st = pt2_rt_alloc_output(arena, &layer->shape, sizes, out, err))) return st;
    float *gates = pt2_arena_alloc_array(arena, (size_t)(4 * n) + 1, sizeof(float), err);
    float *state = pt2_arena_alloc_array(arena, (size_t)(batch * 2 * n) + 1, sizeof(float), err);
    /* a sequence's input projections x W + b, all its frames at once */
    float *projected = pt2_arena_alloc_array(arena, (size_t)(steps * 4 * n) + 1, sizeof(float), err);
    float *scratch = pt2_arena_alloc_array(arena, pt2_gemm_scratch_floats(), sizeof(float), err);
    if (!gates || !state || !projected || !scratch) return err->status;
    const float *xs = pt2_tensor_data(&x), *recurrent_rows = pt2_tensor_data(&recurrent), *bias = pt2_tensor_data(&bc);
    float *y = pt2_tensor_data(out);
    /* initial_state {"c": "var", "h": "var"}: the variables rec/initial_c and rec/initial_h for
     * every sequence; zeros without them */
    const pt2_tensor *initial_c = pt2_rt_get_param(layer, "rec/initial_c"), *initial_h = pt2_rt_get_param(layer, "rec/initial_h");
    pt2_tensor c0, h0;
    if ((initial_c != NULL) != (initial_h != NULL) || (initial_c && (pt2_tensor_numel(initial_c) != n || pt2_tensor_numel(initial_h) != n)))
        return pt2_rt_layer_fail(layer, err, "expected both rec/initial_c and rec/initial_h [%lld], or neither", (long long)n);
    if (initial_c && ((st = pt2_tensor_contiguous(arena, initial_c, 0, &c0, err)) || (st = pt2_tensor_contiguous(arena, initial_h, 0, &h0, err))))
        return st;
    for (int64_t bi = 0; bi < batch; bi++)
        for (int64_t j = 0; j < n; j++) state[bi * 2 * n + j] = initial_c ? ((const float *)pt2_tensor_data(&c0))[j] : 0.0f;
    /* Each sequence on its own, within its length (the frames after its end: zeros). As
     * NativeLstm2: x W + b for every frame in one product per gate (the frames of this sequence
     * read where they lie, batch entries apart), then per step the recurrent product h_prev W_re,
     * a dot of h_prev with each gate's row, in float32. */
    for (int64_t bi = 0; bi < batch; bi++) {
        int64_t length = entry_length(net, dims, x.shape, rank - 1, 0, bi);
        for (int64_t t = length; t < steps; t++) memset(y + (t * batch + bi) * n, 0, sizeof(float) * (size_t)n);
        pt2_matrix_view frames = {xs + bi * n_in, batch * n_in, 1};
        /* One product per gate block, each of W's columns of that gate where they lie: each
         * element is the same sum as in one product of all 4n columns (blocks of columns only
         * group the outputs), so the same bits. */
        for (int g = 0; g < 4 && length > 0; g++) {
            int64_t block = w_param->blocks ? w_param->blocks->order[g] : g;
            pt2_matrix_view gate_weights = {(const float *)pt2_tensor_data(w) + block * n * w->strides[1], w->strides[0],
                                            w->strides[1]};
            pt2_gemm_matrix_bias(length, n, n_in, frames, gate_weights, projected + g * n, 4 * n, NULL, bias + g * n, scratch);
        }
        for (int64_t step = 0; step < length; step++) {
            int64_t t = backward ? length - 1 - step : step;
            int64_t t_prev = backward ? t + 1 : t - 1;
            const float *y_prev = step ? y + (t_prev * batch + bi) * n : initial_h ? (const float *)pt2_tensor_data(&h0) : NULL;
            float *c = state + bi * 2 * n;
            const float *frame_gates = projected + t * 4 * n;
            for (int64_t j = 0; j < 4 * n; j++)
                gates[j] = frame_gates[j] + (y_prev ? pt2_dot(recurrent_rows + j * n, y_prev, n) : 0.0f);
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

/* ---- eval: the sequence reversal of a backward dict unit; every other expression goes to the
 * elementwise family's eval (this family is looked up first, core/returnn/layers.c) ---- */

extern const pt2_rt_layer_class pt2_rt_layers_elementwise[];

static const pt2_rt_layer_class *elementwise_eval(void) {
    for (const pt2_rt_layer_class *c = pt2_rt_layers_elementwise; c->name; c++)
        if (!strcmp(c->name, "eval")) return c;
    return NULL;
}

static int is_reverse(const pt2_rt_layer *layer) {
    return !strcmp(pt2_rt_string_option(layer, "eval", ""), PT2_REC_EVAL_REVERSE);
}

static pt2_status eval_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *inputs,
                             size_t num_inputs, pt2_rt_shape *out, pt2_error *err) {
    if (!is_reverse(layer)) return elementwise_eval()->infer(arena, net, layer, inputs, num_inputs, out, err);
    pt2_status st = pt2_rt_single_input(layer, num_inputs, err);
    if (st) return st;
    if (pt2_rt_shape_time_axis(net, &inputs[0]) < 0)
        return pt2_rt_layer_fail(layer, err, "reversing a sequence needs a time axis (a dynamic one)");
    *out = inputs[0];
    return PT2_OK;
}

/* tf.reverse_sequence: each batch entry's first `length` frames reverse (its own length in a
 * padded batch, else the whole time axis); the frames after them stay where they are. */
static pt2_status eval_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                               const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *out, pt2_error *err) {
    if (!is_reverse(layer)) return elementwise_eval()->compute(arena, net, layer, inputs, num_inputs, out, err);
    int axis = pt2_rt_shape_time_axis(net, &layer->shape);
    pt2_tensor x;
    pt2_status st = pt2_rt_transpose_to(arena, &inputs[0], layer->shape.rank, layer->shape.dims, &x, err);
    if (!st) st = pt2_rt_alloc_output(arena, &layer->shape, x.shape, out, err);
    if (st) return st;
    int64_t outer = 1, steps = x.shape[axis], inner = 1;
    for (int a = 0; a < axis; a++) outer *= x.shape[a];
    for (int a = axis + 1; a < x.rank; a++) inner *= x.shape[a];
    const float *src = pt2_tensor_data(&x);
    float *dst = pt2_tensor_data(out);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t length = entry_length(net, layer->shape.dims, x.shape, x.rank, axis, o * steps * inner + i);
            for (int64_t t = 0; t < steps; t++) {
                int64_t from = t < length ? length - 1 - t : t;
                memcpy(dst + (o * steps + t) * inner + i, src + (o * steps + from) * inner + i, sizeof(float));
            }
        }
    return PT2_OK;
}

const pt2_rt_layer_class pt2_rt_layers_rec[] = {
    {"rec", rec_infer, rec_compute}, {"eval", eval_infer, eval_compute}, {NULL, NULL, NULL}};
