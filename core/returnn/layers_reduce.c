/* reduce: RETURNN's ReduceLayer over one or more named axes, which leave the output
 * (keep_dims False), with the modes TF computes: sum, mean, max, min, logsumexp, argmax, argmin
 * (float32) and any, all (bool). Over a dynamic axis RETURNN (use_time_mask None or True) replaces the frames
 * past each sequence's end by a neutral value (0; the float32 minimum for max and logsumexp, its
 * maximum for min; False for any, True for all) and divides a mean by the sequence length (at
 * least 1) instead of the dim. Without sequence lengths (one length) nothing is masked. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "layers.h"

typedef enum reduce_mode {
    MODE_SUM, MODE_MEAN, MODE_MAX, MODE_MIN, MODE_LOGSUMEXP, MODE_ANY, MODE_ALL, MODE_ARGMAX, MODE_ARGMIN
} reduce_mode;

static const char *const mode_names[] = {"sum", "mean", "max", "min", "logsumexp", "any", "all", "argmax", "argmin"};

/* argmax/argmin (tf.argmax, output_type int32; the first of equal values) over one axis give
 * sparse int32 indices into the reduced dim (RETURNN's sparse_dim); the masked frames hold the
 * float32 minimum (argmax) or maximum (argmin), as for max and min. */
static int is_arg_mode(reduce_mode mode) { return mode == MODE_ARGMAX || mode == MODE_ARGMIN; }

static pt2_status read_reduce(const pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *in, reduce_mode *mode,
                              int *axes, int *count, pt2_error *err) {
    const char *name = pt2_rt_string_option(layer, "mode", "");
    int found = -1;
    for (int m = 0; m < (int)(sizeof mode_names / sizeof mode_names[0]); m++)
        if (!strcmp(name, mode_names[m])) found = m;
    if (found < 0) return pt2_rt_layer_fail(layer, err, "mode \"%s\" is not interpreted", name);
    *mode = (reduce_mode)found;
    int logical = *mode == MODE_ANY || *mode == MODE_ALL;
    if (logical != (in->dtype == PT2_DTYPE_BOOL) || (!logical && in->dtype != PT2_DTYPE_FLOAT32 && in->dtype != PT2_DTYPE_INVALID))
        return pt2_rt_layer_fail(layer, err, "mode \"%s\" on a %s source", name, pt2_dtype_name(in->dtype));
    if (pt2_rt_int_option(layer, "keep_dims", 0)) return pt2_rt_layer_fail(layer, err, "keep_dims is interpreted as False only");
    const pt2_rt_value *v = pt2_rt_get_option(layer, "axes");
    if (!v || v->kind != PT2_RT_LIST || v->count < 1 || (int)v->count >= in->rank)
        return pt2_rt_layer_fail(layer, err, "axes must list the reduced axes");
    for (size_t i = 0; i < v->count; i++) {
        if (v->items[i].kind != PT2_RT_STRING) return pt2_rt_layer_fail(layer, err, "axes must name axes");
        pt2_status st = pt2_rt_resolve_axis(net, in, v->items[i].string, &axes[i], err);
        if (st) return st;
        if (net->dims[axes[i]].kind == PT2_RT_DIM_BATCH) return pt2_rt_layer_fail(layer, err, "reducing the batch is not interpreted");
        for (size_t j = 0; j < i; j++)
            if (axes[j] == axes[i]) return pt2_rt_layer_fail(layer, err, "axes names one axis twice");
    }
    *count = (int)v->count;
    if (is_arg_mode(*mode) && *count != 1) return pt2_rt_layer_fail(layer, err, "mode \"%s\" takes one axis", name);
    return PT2_OK;
}

static int is_reduced(const int *axes, int count, int dim) {
    for (int i = 0; i < count; i++)
        if (axes[i] == dim) return 1;
    return 0;
}

/* Whether flat index k over the reduced axes (sizes `size`, row-major) is below each `length`. */
static int frame_kept(int64_t k, int count, const int64_t *size, const int64_t *length) {
    for (int i = count - 1; i >= 0; i--) {
        if (k % size[i] >= length[i]) return 0;
        k /= size[i];
    }
    return 1;
}

static pt2_status reduce_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *inputs,
                               size_t num_inputs, pt2_rt_shape *out, pt2_error *err) {
    (void)arena;
    reduce_mode mode;
    int axes[PT2_MAX_RANK], count;
    pt2_status st = pt2_rt_single_input(layer, num_inputs, err);
    if (!st) st = read_reduce(net, layer, &inputs[0], &mode, axes, &count, err);
    if (st) return st;
    *out = inputs[0];
    out->rank = 0;
    for (int a = 0; a < inputs[0].rank; a++)
        if (!is_reduced(axes, count, inputs[0].dims[a])) out->dims[out->rank++] = inputs[0].dims[a];
    if (is_reduced(axes, count, out->feature_dim)) out->feature_dim = -1;
    if (is_arg_mode(mode)) out->dtype = PT2_DTYPE_INT32, out->sparse_dim = axes[0], out->feature_dim = -1;
    return PT2_OK;
}

static pt2_status reduce_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                 const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *out, pt2_error *err) {
    (void)num_inputs;
    reduce_mode mode;
    int axes[PT2_MAX_RANK], count, order[PT2_MAX_RANK];
    pt2_status st = read_reduce(net, layer, &inputs[0].shape, &mode, axes, &count, err);
    if (st) return st;
    /* The source as [the output's axes..., the reduced axes...]. */
    memcpy(order, layer->shape.dims, sizeof(int) * (size_t)layer->shape.rank);
    memcpy(order + layer->shape.rank, axes, sizeof(int) * (size_t)count);
    pt2_tensor x;
    if ((st = pt2_rt_transpose_to(arena, &inputs[0], layer->shape.rank + count, order, &x, err))) return st;
    int64_t n = 1;
    for (int a = layer->shape.rank; a < x.rank; a++) n *= x.shape[a];
    int64_t rows = n ? pt2_tensor_numel(&x) / n : 0;
    if (!n) {
        rows = 1;
        for (int a = 0; a < layer->shape.rank; a++) rows *= x.shape[a];
    }
    if ((st = pt2_tensor_alloc(arena, is_arg_mode(mode) ? PT2_DTYPE_INT32 : x.dtype, layer->shape.rank, x.shape, out, err)))
        return st;
    /* In a padded batch a row's batch entry follows from its index over the output's axes (the
     * batch is never reduced); each dynamic reduced axis then keeps the frames below its length. */
    int out_rank = layer->shape.rank, masked = 0;
    int64_t batch_stride = 0, batch_size = 1, size[PT2_MAX_RANK], length[PT2_MAX_RANK];
    if (pt2_rt_int_option(layer, "use_time_mask", 1))
        for (int i = 0; i < count; i++) masked |= net->dims[axes[i]].kind == PT2_RT_DIM_DYNAMIC;
    for (int a = 0; a < out_rank; a++)
        if (net->dims[layer->shape.dims[a]].kind == PT2_RT_DIM_BATCH) {
            batch_size = x.shape[a], batch_stride = 1;
            for (int b = a + 1; b < out_rank; b++) batch_stride *= x.shape[b];
        }
    if (!batch_stride || !net->sequence_lengths) masked = 0;
    for (int i = 0; i < count; i++) size[i] = length[i] = x.shape[out_rank + i];
    const unsigned char *pb = pt2_tensor_data(&x);
    const float *px = pt2_tensor_data(&x);
    unsigned char *pbo = pt2_tensor_data(out);
    float *po = pt2_tensor_data(out);
    for (int64_t r = 0; r < rows; r++) {
        int64_t valid = n, divisor = n;
        if (masked) {
            int64_t batch = (r / batch_stride) % batch_size;
            valid = divisor = 1;
            for (int i = 0; i < count; i++) {
                length[i] = net->dims[axes[i]].kind == PT2_RT_DIM_DYNAMIC ? pt2_rt_sequence_length(net, axes[i], batch, size[i])
                                                                          : size[i];
                valid *= length[i], divisor *= length[i] > 1 ? length[i] : 1;
            }
        }
        /* Whether frame k of the row is within every reduced axis' length. */
#define KEEP(k) (valid == n || frame_kept((k), count, size, length))
        if (mode == MODE_ANY || mode == MODE_ALL) {
            int v = mode == MODE_ALL;
            for (int64_t k = 0; k < n; k++) {
                int b = KEEP(k) ? pb[r * n + k] != 0 : mode == MODE_ALL;
                v = mode == MODE_ALL ? v && b : v || b;
            }
            pbo[r] = (unsigned char)v;
            continue;
        }
        const float *row = px + r * n;
        if (is_arg_mode(mode)) {
            float fill = mode == MODE_ARGMAX ? -FLT_MAX : FLT_MAX, best = 0;
            int64_t at = 0;
            for (int64_t k = 0; k < n; k++) {
                float e = KEEP(k) ? row[k] : fill;
                if (!k || (mode == MODE_ARGMAX ? e > best : e < best)) best = e, at = k;
            }
            ((int32_t *)pt2_tensor_data(out))[r] = (int32_t)at;
            continue;
        }
        float fill = mode == MODE_MAX || mode == MODE_LOGSUMEXP ? -FLT_MAX : mode == MODE_MIN ? FLT_MAX : 0.0f;
        double v = mode == MODE_MAX || mode == MODE_LOGSUMEXP ? -INFINITY : mode == MODE_MIN ? INFINITY : 0.0;
        for (int64_t k = 0; k < n; k++) {
            float e = KEEP(k) ? row[k] : fill;
            if (mode == MODE_MAX || mode == MODE_LOGSUMEXP) v = e > v ? e : v;
            else if (mode == MODE_MIN) v = e < v ? e : v;
            else v += e;
        }
        if (mode == MODE_LOGSUMEXP && isfinite(v)) { /* TF: max + log(sum(exp(x - max))) */
            double sum = 0;
            for (int64_t k = 0; k < n; k++) sum += exp((double)(KEEP(k) ? row[k] : fill) - v);
            v += log(sum);
        }
#undef KEEP
        if (mode == MODE_MEAN) v /= (double)(masked ? divisor : n);
        po[r] = (float)v;
    }
    return PT2_OK;
}

const pt2_rt_layer_class pt2_rt_layers_reduce[] = {{"reduce", reduce_infer, reduce_compute}, {NULL, NULL, NULL}};
