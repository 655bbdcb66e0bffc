/* Layers that make or reshape data: pad (constant, reflect, replication on named axes) and
 * variable (a constant tensor held in the checkpoint). */
#include <string.h>

#include "layers.h"

typedef struct pad_spec {
    int count;
    int dims[PT2_MAX_RANK];
    int64_t left[PT2_MAX_RANK], right[PT2_MAX_RANK];
} pad_spec;

static pt2_status read_pad(const pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *in, pad_spec *p,
                           pt2_error *err) {
    const pt2_rt_value *axes = pt2_rt_get_option(layer, "axes"), *padding = pt2_rt_get_option(layer, "padding");
    if (!axes || axes->kind != PT2_RT_LIST || !padding || padding->kind != PT2_RT_LIST || axes->count != padding->count ||
        axes->count > PT2_MAX_RANK)
        return pt2_rt_layer_fail(layer, err, "expected axes and padding lists of one length");
    p->count = (int)axes->count;
    for (int i = 0; i < p->count; i++) {
        const pt2_rt_value *a = &axes->items[i], *pair = &padding->items[i];
        if (a->kind != PT2_RT_STRING || pair->kind != PT2_RT_LIST || pair->count != 2 ||
            pair->items[0].kind != PT2_RT_INT || pair->items[1].kind != PT2_RT_INT)
            return pt2_rt_layer_fail(layer, err, "expected an axis description and [left, right] per padded axis");
        pt2_status st = pt2_rt_resolve_axis(net, in, a->string, &p->dims[i], err);
        if (st) return st;
        p->left[i] = pair->items[0].int_value;
        p->right[i] = pair->items[1].int_value;
        if (p->left[i] < 0 || p->right[i] < 0) return pt2_rt_layer_fail(layer, err, "negative padding");
    }
    return PT2_OK;
}

static pt2_status pad_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *inputs,
                            size_t num_inputs, pt2_rt_shape *out, pt2_error *err) {
    pad_spec p;
    pt2_status st = pt2_rt_single_input(layer, num_inputs, err);
    if (!st) st = read_pad(net, layer, &inputs[0], &p, err);
    if (st) return st;
    *out = inputs[0];
    for (int i = 0; i < p.count; i++) {
        int axis = pt2_rt_shape_axis(out, p.dims[i]), dim;
        const pt2_rt_dim *d = &net->dims[p.dims[i]];
        if (d->kind == PT2_RT_DIM_DYNAMIC) {
            const char *description = pt2_arena_printf(arena, err, "%s:pad%d", layer->name, i);
            if (!description) return err->status;
            st = pt2_rt_derive_dim(arena, net, p.dims[i], 1, p.left[i] + p.right[i], 1, description, &dim, err);
        } else {
            st = pt2_rt_add_dim(arena, net, d->description, d->kind, d->size + p.left[i] + p.right[i], &dim, err);
        }
        if (st) return st;
        if (out->feature_dim == out->dims[axis]) out->feature_dim = dim;
        out->dims[axis] = dim;
    }
    return PT2_OK;
}

static pt2_status pad_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                              const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *out, pt2_error *err) {
    (void)num_inputs;
    pad_spec p;
    pt2_status st = read_pad(net, layer, &inputs[0].shape, &p, err);
    if (st) return st;
    const char *mode = pt2_rt_string_option(layer, "mode", "constant");
    int reflect = !strcmp(mode, "reflect"), replicate = !strcmp(mode, "replication");
    if (!reflect && !replicate && strcmp(mode, "constant"))
        return pt2_rt_layer_fail(layer, err, "mode \"%s\" is not known to the interpreter", mode);
    double value = pt2_rt_float_option(layer, "value", 0.0);
    /* One padded axis per layer (the lowering writes one per PyTorch pad): the output's axis
     * whose dim the source lacks. Put the source in the output's order, that axis included. */
    if (p.count != 1) return pt2_rt_layer_fail(layer, err, "the interpreter pads one axis per layer");
    pt2_rt_shape source_order = layer->shape;
    int64_t left[PT2_MAX_RANK] = {0}, right[PT2_MAX_RANK] = {0};
    int padded_axis = -1;
    for (int a = 0; a < layer->shape.rank; a++)
        if (pt2_rt_shape_axis(&inputs[0].shape, layer->shape.dims[a]) < 0) padded_axis = a;
    if (padded_axis < 0) return pt2_rt_layer_fail(layer, err, "the padded axis is not found");
    source_order.dims[padded_axis] = p.dims[0];
    left[padded_axis] = p.left[0];
    right[padded_axis] = p.right[0];
    pt2_tensor x; /* read through its strides below: no copy in the output's order */
    if ((st = pt2_rt_strided_view(&inputs[0], source_order.rank, source_order.dims, &x, err))) return st;
    int rank = x.rank;
    int64_t sizes[PT2_MAX_RANK];
    for (int a = 0; a < rank; a++) {
        sizes[a] = x.shape[a] + left[a] + right[a];
        if ((reflect && (left[a] >= x.shape[a] || right[a] >= x.shape[a])) || (replicate && x.shape[a] == 0 && sizes[a]))
            return pt2_rt_layer_fail(layer, err, "padding %lld/%lld does not fit an axis of size %lld",
                                     (long long)left[a], (long long)right[a], (long long)x.shape[a]);
    }
    /* handle_dynamic_dims (constant mode): the value after each sequence's own end, as
     * RETURNN's mask on left + length of the padded dim; else at the end of the tensor. */
    int batch_axis = -1;
    int64_t *value_from = NULL;
    if (pt2_rt_int_option(layer, "handle_dynamic_dims", 0) && !reflect && !replicate && right[padded_axis] > 0 &&
        net->dims[p.dims[0]].kind == PT2_RT_DIM_DYNAMIC) {
        for (int a = 0; a < rank; a++)
            if (net->dims[layer->shape.dims[a]].kind == PT2_RT_DIM_BATCH) batch_axis = a;
        if (batch_axis >= 0) {
            value_from = pt2_arena_alloc_array(arena, (size_t)sizes[batch_axis] + 1, sizeof *value_from, err);
            if (!value_from) return err->status;
            for (int64_t b = 0; b < sizes[batch_axis]; b++)
                value_from[b] = left[padded_axis] + pt2_rt_sequence_length(net, p.dims[0], b, x.shape[padded_axis]);
        }
    }
    /* The result in the source's memory order (on a check, PyTorch's layout), every axis of the
     * work below taken in that order. */
    int order[PT2_MAX_RANK], logical_padded = padded_axis, logical_batch = batch_axis;
    if (!pt2_tensor_memory_order(&x, order))
        for (int a = 0; a < rank; a++) order[a] = a;
    pt2_tensor logical = x, result;
    pt2_tensor_permute(&logical, order, &x);
    int64_t logical_sizes[PT2_MAX_RANK], logical_left[PT2_MAX_RANK], logical_right[PT2_MAX_RANK];
    memcpy(logical_sizes, sizes, sizeof sizes);
    memcpy(logical_left, left, sizeof left);
    memcpy(logical_right, right, sizeof right);
    for (int a = 0; a < rank; a++) {
        sizes[a] = logical_sizes[order[a]], left[a] = logical_left[order[a]], right[a] = logical_right[order[a]];
        if (order[a] == logical_padded) padded_axis = a;
        if (order[a] == logical_batch) batch_axis = a;
    }
    if ((st = pt2_rt_alloc_output_uninit(arena, &layer->shape, sizes, &result, err))) return st;
    pt2_tensor_unpermute(&result, order, out);
    const float *px = pt2_tensor_data(&x);
    float *po = pt2_tensor_data(&result);
    /* Row by row along the last axis: the outer axes give one source row (or none: the whole
     * row is the value), the last axis maps each of its indices alone. */
    int last = rank - 1;
    int64_t total = pt2_tensor_numel(&result), index[PT2_MAX_RANK] = {0}, row = rank ? sizes[last] : 1;
    for (int64_t flat = 0; flat < total && row > 0; flat += row) {
        int64_t offset = 0, inside = 1;
        for (int a = 0; a < last; a++) {
            int64_t i = index[a] - left[a], n = x.shape[a];
            if (i < 0 || i >= n) {
                if (reflect) i = i < 0 ? -i : 2 * (n - 1) - i; /* mirror without repeating the edge */
                else if (replicate) i = i < 0 ? 0 : n - 1;
                else inside = 0;
            }
            offset += i * x.strides[a];
        }
        float *o = po + flat;
        int64_t n = rank ? x.shape[last] : 1, stride = rank ? x.strides[last] : 1, l = rank ? left[last] : 0;
        if (!rank || (value_from && batch_axis == last)) { /* element by element */
            for (int64_t j = 0; j < row; j++) {
                int64_t i = j - l, in = inside;
                if (rank) index[last] = j;
                if (i < 0 || i >= n) {
                    if (reflect) i = i < 0 ? -i : 2 * (n - 1) - i;
                    else if (replicate) i = i < 0 ? 0 : n - 1;
                    else in = 0;
                }
                if (value_from && index[padded_axis] >= value_from[index[batch_axis]]) in = 0;
                o[j] = in ? px[offset + i * stride] : (float)value;
            }
        } else { /* the margins element by element, the inside as one run, the value after the sequence's end */
            int64_t first = l < row ? l : row, end = l + n < row ? l + n : row, stop = row;
            if (end < first) end = first;
            if (value_from && padded_axis == last) {
                int64_t from_here = value_from[index[batch_axis]];
                if (from_here < stop) stop = from_here > 0 ? from_here : 0;
            } else if (value_from && index[padded_axis] >= value_from[index[batch_axis]]) {
                inside = 0;
            }
            for (int64_t j = 0; j < row; j++) {
                if (j == first && end > first) {
                    const float *from = px + offset;
                    if (!inside) for (int64_t k = first; k < end; k++) o[k] = (float)value;
                    else if (stride == 1) memcpy(o + first, from, sizeof(float) * (size_t)(end - first));
                    else for (int64_t k = first; k < end; k++) o[k] = from[(k - first) * stride];
                    j = end - 1;
                    continue;
                }
                int64_t i = j - l, in = inside;
                if (reflect) i = i < 0 ? -i : 2 * (n - 1) - i; /* outside [0, n) here */
                else if (replicate) i = i < 0 ? 0 : n - 1;
                else in = 0;
                o[j] = in ? px[offset + i * stride] : (float)value;
            }
            for (int64_t j = stop; j < row; j++) o[j] = (float)value;
        }
        for (int a = last - 1; a >= 0; a--) {
            if (++index[a] < sizes[a]) break;
            index[a] = 0;
        }
    }
    return PT2_OK;
}

/* The input of a layer that moves whole frames along the time: the input in the layer's order
 * of dims seen in its memory order (*physical, contiguous; the time axis at *time_axis of it,
 * the batch at *batch_axis), and the result allocated in that order too. */
static pt2_status frames_in_memory_order(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                         const pt2_rt_tensor *in, pt2_tensor *physical, int *time_axis, int *batch_axis,
                                         pt2_tensor *result, pt2_tensor *out, pt2_error *err) {
    int logical_time = pt2_rt_shape_time_axis(net, &layer->shape), logical_batch = -1, order[PT2_MAX_RANK];
    for (int a = 0; a < layer->shape.rank; a++)
        if (net->dims[layer->shape.dims[a]].kind == PT2_RT_DIM_BATCH) logical_batch = a;
    if (logical_time < 0) return pt2_rt_layer_fail(layer, err, "expected a time axis");
    pt2_tensor x;
    pt2_status st = pt2_rt_strided_view(in, layer->shape.rank, layer->shape.dims, &x, err);
    if (!st) st = pt2_tensor_in_memory_order(arena, &x, order, physical, err);
    if (!st) st = pt2_tensor_alloc_uninit(arena, physical->dtype, physical->rank, physical->shape, result, err);
    if (st) return st;
    pt2_tensor_unpermute(result, order, out);
    *time_axis = *batch_axis = -1;
    for (int a = 0; a < physical->rank; a++) {
        if (order[a] == logical_time) *time_axis = a;
        if (order[a] == logical_batch) *batch_axis = a;
    }
    return PT2_OK;
}

/* Frames [t0, t1) of every row of `time` frames (`inner` floats each) from frame t0 + shift
 * of the same row: one copy per row, whatever the layout. */
static void copy_frames(const float *px, float *po, int64_t outer, int64_t time, int64_t inner, int64_t t0, int64_t t1,
                        int64_t shift) {
    if (t1 <= t0) return;
    for (int64_t o = 0; o < outer; o++)
        memcpy(po + (o * time + t0) * inner, px + (o * time + t0 + shift) * inner, sizeof(float) * (size_t)((t1 - t0) * inner));
}

/* Whether every frame of a sequence of `length` frames (of `time`) has its source below. */
static int padding_fits(int64_t length, int64_t right, int64_t time, int reflect) {
    int64_t m = length - right;
    if (length < time && m < 0) return 0; /* the frames after the end: frame t - right */
    /* frames [m, length) mirrored around m - 1 or repeating it: the lowest source */
    if (right > 0 && length > 0 && (reflect ? m - right - 1 : m - 1) < 0) return 0;
    return 1;
}

pt2_status pt2_rt_pad_sequence_ends(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                    const pt2_rt_tensor *in, int reflect, int64_t right, pt2_tensor *out, pt2_error *err) {
    pt2_tensor x, result;
    int time_axis, batch_axis;
    pt2_status st = frames_in_memory_order(arena, net, layer, in, &x, &time_axis, &batch_axis, &result, out, err);
    if (st) return st;
    if (batch_axis < 0 || right < 0) return pt2_rt_layer_fail(layer, err, "expected batch and time axes");
    int64_t time = x.shape[time_axis], inner = 1, batch = x.shape[batch_axis];
    for (int a = time_axis + 1; a < x.rank; a++) inner *= x.shape[a];
    const float *px = pt2_tensor_data(&x);
    float *po = pt2_tensor_data(&result);
    int64_t total = pt2_tensor_numel(&x), index[PT2_MAX_RANK] = {0};
    int64_t *ends = pt2_arena_alloc_array(arena, (size_t)batch + 1, sizeof *ends, err);
    if (!ends) return err->status;
    int time_dim = layer->shape.dims[pt2_rt_shape_time_axis(net, &layer->shape)];
    for (int64_t b = 0; b < batch; b++) {
        ends[b] = pt2_rt_sequence_length(net, time_dim, b, time);
        if (!padding_fits(ends[b], right, time, reflect)) return pt2_rt_layer_fail(layer, err, "a sequence is shorter than its padding");
    }
    /* Frame t of a sequence of padded length L (its data ending at m = L - right): t < m kept,
     * m <= t < L mirrored around m - 1 (or frame m - 1 repeated), t >= L the frame t - right. */
    if (batch_axis < time_axis) { /* each row of frames is one sequence's: runs of frames copied at once */
        int64_t outer = 1, batch_step = 1;
        for (int a = 0; a < time_axis; a++) outer *= x.shape[a];
        for (int a = batch_axis + 1; a < time_axis; a++) batch_step *= x.shape[a];
        for (int64_t o = 0; o < outer; o++) {
            int64_t length = ends[(o / batch_step) % batch], m = length - right;
            const float *row = px + o * time * inner;
            float *to = po + o * time * inner;
            copy_frames(row, to, 1, time, inner, 0, m, 0);
            for (int64_t t = m > 0 ? m : 0; t < length; t++)
                memcpy(to + t * inner, row + (reflect ? 2 * (m - 1) - t : m - 1) * inner, sizeof(float) * (size_t)inner);
            copy_frames(row, to, 1, time, inner, length, time, -right);
        }
        return PT2_OK;
    }
    for (int64_t flat = 0; flat < total; flat++, index[x.rank - 1]++) {
        for (int a = x.rank - 1; a > 0 && index[a] == x.shape[a]; a--) index[a] = 0, index[a - 1]++;
        int64_t t = index[time_axis], length = ends[index[batch_axis]], m = length - right, source = t;
        if (t >= length) source = t - right;
        else if (t >= m) source = reflect ? 2 * (m - 1) - t : m - 1;
        po[flat] = px[flat + (source - t) * inner];
    }
    return PT2_OK;
}

pt2_status pt2_rt_roll_time_back(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                 const pt2_rt_tensor *in, int64_t shift, pt2_tensor *out, pt2_error *err) {
    pt2_tensor x, result;
    int time_axis, batch_axis;
    pt2_status st = frames_in_memory_order(arena, net, layer, in, &x, &time_axis, &batch_axis, &result, out, err);
    if (st) return st;
    int64_t outer = 1, time = x.shape[time_axis], inner = 1;
    for (int a = 0; a < time_axis; a++) outer *= x.shape[a];
    for (int a = time_axis + 1; a < x.rank; a++) inner *= x.shape[a];
    if (!time) return PT2_OK;
    /* Frame t takes frame (t + shift) mod time: two runs per row. */
    int64_t s = (shift % time + time) % time;
    copy_frames(pt2_tensor_data(&x), pt2_tensor_data(&result), outer, time, inner, 0, time - s, s);
    copy_frames(pt2_tensor_data(&x), pt2_tensor_data(&result), outer, time, inner, time - s, time, s - time);
    return PT2_OK;
}

/* variable: a tensor of static dims; its parameter is named after the layer, by its name inside
 * its subnetwork as RETURNN's VariableLayer names it (get_variable(name=self.name)). */
static pt2_status variable_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer,
                                 const pt2_rt_shape *inputs, size_t num_inputs, pt2_rt_shape *out, pt2_error *err) {
    (void)inputs;
    const pt2_rt_value *shape = pt2_rt_get_option(layer, "shape");
    if (num_inputs) return pt2_rt_layer_fail(layer, err, "expected no sources");
    if (!shape || shape->kind != PT2_RT_LIST || shape->count > PT2_MAX_RANK)
        return pt2_rt_layer_fail(layer, err, "expected a shape list");
    memset(out, 0, sizeof *out);
    out->sparse_dim = out->feature_dim = -1;
    /* int32 holds constant positions (a gather's indices) */
    const char *dtype = pt2_rt_string_option(layer, "dtype", "float32");
    if (strcmp(dtype, "float32") && strcmp(dtype, "int32")) return pt2_rt_layer_fail(layer, err, "dtype float32 or int32 is interpreted");
    out->dtype = strcmp(dtype, "int32") ? PT2_DTYPE_FLOAT32 : PT2_DTYPE_INT32;
    for (size_t i = 0; i < shape->count; i++) {
        if (shape->items[i].kind != PT2_RT_INT || shape->items[i].int_value < 1)
            return pt2_rt_layer_fail(layer, err, "shape entries must be positive ints");
        const char *description = pt2_arena_printf(arena, err, "%s:static:%zu", layer->name, i); /* RETURNN's VariableLayer names them so */
        if (!description) return err->status;
        pt2_status st = pt2_rt_add_dim(arena, net, description, PT2_RT_DIM_STATIC, shape->items[i].int_value,
                                       &out->dims[out->rank++], err);
        if (st) return st;
    }
    /* RETURNN's default feature axis: the last static one. */
    if (out->rank) out->feature_dim = out->dims[out->rank - 1];
    return PT2_OK;
}

static pt2_status variable_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                   const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *out, pt2_error *err) {
    (void)net, (void)inputs, (void)num_inputs;
    const pt2_tensor *value = pt2_rt_get_param(layer, pt2_rt_local_name(layer->name));
    if (!value || value->rank != layer->shape.rank) return pt2_rt_layer_fail(layer, err, "its parameter is missing");
    return pt2_tensor_contiguous(arena, value, 0, out, err);
}

/* reinterpret_data: the data unchanged, only what RETURNN knows about its dims changes:
 * set_axes {"F": axis} makes that axis the feature dim (the layers that act on F, such as
 * linear or conv, then act on it); size_base declares the time dim the same as the size_base
 * layer's (RETURNN derives dims along each layer's path, so two paths to one length give two
 * dim tags that only this makes one). */
static pt2_status reinterpret_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer,
                                    const pt2_rt_shape *inputs, size_t num_inputs, pt2_rt_shape *out, pt2_error *err) {
    (void)arena;
    pt2_status st = pt2_rt_single_input(layer, num_inputs, err);
    if (st) return st;
    *out = inputs[0];
    const pt2_rt_value *set_axes = pt2_rt_get_option(layer, "set_axes");
    if (set_axes) {
        if (set_axes->kind != PT2_RT_DICT) return pt2_rt_layer_fail(layer, err, "set_axes must be a dict");
        for (size_t i = 0; i < set_axes->count; i++) {
            int dim;
            if (strcmp(set_axes->keys[i], "F") || set_axes->items[i].kind != PT2_RT_STRING)
                return pt2_rt_layer_fail(layer, err, "set_axes {\"F\": axis} is interpreted");
            if ((st = pt2_rt_resolve_axis(net, &inputs[0], set_axes->items[i].string, &dim, err))) return st;
            if (net->dims[dim].kind != PT2_RT_DIM_STATIC) return pt2_rt_layer_fail(layer, err, "the feature must be static");
            out->feature_dim = dim;
        }
    }
    /* set_sparse False: indices become plain integers (RETURNN drops the sparse dim only). */
    const pt2_rt_value *set_sparse = pt2_rt_get_option(layer, "set_sparse");
    if (set_sparse) {
        if (set_sparse->kind != PT2_RT_BOOL || set_sparse->int_value) return pt2_rt_layer_fail(layer, err, "set_sparse False is interpreted");
        out->sparse_dim = -1;
    }
    const char *base_name = pt2_rt_string_option(layer, "size_base", NULL);
    if (!base_name) {
        if (!set_axes && !set_sparse) return pt2_rt_layer_fail(layer, err, "set_axes, set_sparse or size_base is interpreted");
        return PT2_OK;
    }
    const pt2_rt_layer *base = pt2_rt_find_layer(net, base_name);
    if (!base || base == layer) return pt2_rt_layer_fail(layer, err, "size_base must name an earlier layer");
    int time = pt2_rt_shape_time_axis(net, &inputs[0]), base_time = pt2_rt_shape_time_axis(net, &base->shape);
    if (time < 0 || base_time < 0) return pt2_rt_layer_fail(layer, err, "the source and size_base need a time axis");
    /* RETURNN hands size_base's sizes over one dynamic axis to one (it asserts len(size_placeholder)
     * equal on both sides). */
    int dynamic = pt2_rt_shape_dynamic_axes(net, &inputs[0]), base_dynamic = pt2_rt_shape_dynamic_axes(net, &base->shape);
    if (dynamic != base_dynamic)
        return pt2_rt_layer_fail(layer, err, "size_base: the source has %d dynamic axes and '%s' %d; RETURNN takes them one to one",
                                 dynamic, base_name, base_dynamic);
    out->dims[time] = base->shape.dims[base_time];
    return PT2_OK;
}

static pt2_status reinterpret_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                      const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *out, pt2_error *err) {
    (void)num_inputs;
    pt2_rt_tensor renamed = inputs[0];
    int time = pt2_rt_shape_time_axis(net, &renamed.shape), target = pt2_rt_shape_time_axis(net, &layer->shape);
    if (time >= 0 && target >= 0) renamed.shape.dims[time] = layer->shape.dims[target];
    (void)arena; /* the data as it lies: a view */
    return pt2_rt_strided_view(&renamed, layer->shape.rank, layer->shape.dims, out, err);
}

const pt2_rt_layer_class pt2_rt_layers_shape[] = {
    {"reinterpret_data", reinterpret_infer, reinterpret_compute},
    {"pad", pad_infer, pad_compute},
    {"variable", variable_infer, variable_compute},
    {NULL, NULL, NULL}};
