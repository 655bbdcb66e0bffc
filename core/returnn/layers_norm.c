/* Layers on the feature dim: linear (also an embedding, on sparse input), layer_norm and
 * batch_norm in inference (param_version 2: running mean and variance). */
#include <math.h>
#include <string.h>

#include "../ops/kernels.h"
#include "../ops/parallel.h"
#include "layers.h"

static pt2_status linear_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *inputs,
                               size_t num_inputs, pt2_rt_shape *out, pt2_error *err) {
    pt2_status st = pt2_rt_single_input(layer, num_inputs, err);
    if (st) return st;
    int64_t n_out = pt2_rt_int_option(layer, "n_out", -1);
    if (n_out < 1) return pt2_rt_layer_fail(layer, err, "n_out must be given");
    const pt2_rt_shape *in = &inputs[0];
    int source = in->sparse_dim >= 0 ? -1 : in->feature_dim;
    if (in->sparse_dim < 0 && source < 0) return pt2_rt_layer_fail(layer, err, "the source has no feature dim");
    const char *description = pt2_arena_printf(arena, err, "%s:feature-dense", layer->name);
    int feature;
    if (!description || (st = pt2_rt_add_dim(arena, net, description, PT2_RT_DIM_STATIC, n_out, &feature, err)))
        return description ? st : err->status;
    /* The input's other dims in their order, the new feature dim last. */
    memset(out, 0, sizeof *out);
    for (int a = 0; a < in->rank; a++)
        if (in->dims[a] != source) out->dims[out->rank++] = in->dims[a];
    if (out->rank == PT2_MAX_RANK) return pt2_rt_layer_fail(layer, err, "too many dims");
    out->dims[out->rank++] = feature;
    out->feature_dim = feature;
    out->sparse_dim = -1;
    out->dtype = PT2_DTYPE_FLOAT32;
    return PT2_OK;
}

static pt2_status linear_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                 const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *out, pt2_error *err) {
    (void)net, (void)num_inputs;
    const pt2_tensor *w = pt2_rt_get_param(layer, "W"), *bias = pt2_rt_get_param(layer, "b");
    const pt2_rt_shape *in = &inputs[0].shape;
    int sparse = in->sparse_dim >= 0;
    if (!w || w->rank != 2) return pt2_rt_layer_fail(layer, err, "parameter W of rank 2 is missing");
    pt2_tensor weight, x;
    int order[PT2_MAX_RANK];
    int rank = 0;
    for (int a = 0; a < layer->shape.rank - 1; a++) order[rank++] = layer->shape.dims[a];
    if (!sparse) order[rank++] = in->feature_dim;
    /* The GEMM packs W from any strides (a weight kept as a view of PyTorch's [out, in] reads
     * transposed), so only the embedding lookup below needs it contiguous. */
    pt2_status st = sparse ? pt2_tensor_contiguous(arena, w, 0, &weight, err) : PT2_OK;
    if (!sparse) weight = *w;
    if (!st) st = pt2_rt_view_to(arena, &inputs[0], rank, order, &x, err);
    if (st) return st;
    int64_t n_in = weight.shape[0], n_out = weight.shape[1];
    int64_t rows = 1, sizes[PT2_MAX_RANK];
    for (int a = 0; a < layer->shape.rank - 1; a++) rows *= (sizes[a] = x.shape[a]);
    sizes[layer->shape.rank - 1] = n_out;
    if (!sparse && x.shape[rank - 1] != n_in) return pt2_rt_layer_fail(layer, err, "W does not fit the input features");
    if ((st = pt2_rt_alloc_output_uninit(arena, &layer->shape, sizes, out, err))) return st;
    const float *pw = pt2_tensor_data(&weight), *pb = bias ? pt2_tensor_data(bias) : NULL;
    float *po = pt2_tensor_data(out);
    if (sparse) { /* tf.nn.embedding_lookup */
        for (int64_t r = 0; r < rows; r++) {
            int64_t index = x.dtype == PT2_DTYPE_INT64 ? ((const int64_t *)pt2_tensor_data(&x))[r]
                                                        : ((const int32_t *)pt2_tensor_data(&x))[r];
            if (index < 0 || index >= n_in) return pt2_rt_layer_fail(layer, err, "index %lld out of range", (long long)index);
            for (int64_t o = 0; o < n_out; o++) po[r * n_out + o] = pw[index * n_out + o] + (pb ? pb[o] : 0.0f);
        }
        return PT2_OK;
    }
    /* tf.matmul(x, W) + b: the rows times W on the shared GEMM kernel, the bias added as the
     * first slice of the sums is stored (the bits of summing onto a prefilled bias, one pass less) */
    pt2_matrix_view a = {pt2_tensor_data(&x), n_in, 1}, b = {pw, weight.strides[0], weight.strides[1]};
    return pt2_parallel_gemm_matrix(arena, net->threads, rows, n_out, n_in, a, b, po, n_out, 0, NULL, pb, err);
}

static pt2_status same_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *inputs,
                             size_t num_inputs, pt2_rt_shape *out, pt2_error *err) {
    (void)arena, (void)net;
    pt2_status st = pt2_rt_single_input(layer, num_inputs, err);
    if (st) return st;
    if (inputs[0].feature_dim < 0 || inputs[0].sparse_dim >= 0)
        return pt2_rt_layer_fail(layer, err, "the source has no dense feature dim");
    *out = inputs[0];
    return PT2_OK;
}

/* One frame in place: (x - mean) / sqrt(variance + epsilon) * gain + shift in double, the
 * statistics the frame's own (layer_norm: mean and variance null) or per feature (batch_norm). A
 * function of its own, called frame by frame: in WebAssembly V8 compiles it again once it runs hot,
 * and the later frames of the same call run that code (a loop over every frame in one function
 * ran wholly in the baseline compiler's code during a conversion's first call: 9 ms of a
 * Transformer layer's). */
__attribute__((noinline)) static void normalize_frame(float *row, int64_t features, const float *mean,
                                                      const float *variance, double epsilon, const float *gain,
                                                      const float *shift) {
    double m = 0, v = 0;
    if (!mean) {
        for (int64_t f = 0; f < features; f++) m += row[f];
        m /= (double)features;
        for (int64_t f = 0; f < features; f++) v += (row[f] - m) * (row[f] - m);
        v /= (double)features;
    }
    for (int64_t f = 0; f < features; f++) {
        double mf = mean ? mean[f] : m, vf = variance ? variance[f] : v;
        row[f] = (float)((row[f] - mf) / sqrt(vf + epsilon) * gain[f] + shift[f]);
    }
}

/* Normalizes over the feature dim: x' = (x - mean) * scale + shift per feature, where layer_norm
 * takes the statistics from each frame and batch_norm from its running estimates. */
static pt2_status feature_norm_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                       const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *out,
                                       pt2_error *err) {
    (void)net, (void)num_inputs;
    int layer_norm = !strcmp(layer->layer_class, "layer_norm");
    double epsilon = pt2_rt_float_option(layer, "epsilon", layer_norm ? 1e-6 : 1e-3);
    const pt2_tensor *gain = pt2_rt_get_param(layer, layer_norm ? "scale" : "batch_norm/v2_gamma");
    const pt2_tensor *shift = pt2_rt_get_param(layer, layer_norm ? "bias" : "batch_norm/v2_beta");
    const pt2_tensor *mean = layer_norm ? NULL : pt2_rt_get_param(layer, "batch_norm/v2_mean");
    const pt2_tensor *variance = layer_norm ? NULL : pt2_rt_get_param(layer, "batch_norm/v2_variance");
    if (!gain || !shift || (!layer_norm && (!mean || !variance)))
        return pt2_rt_layer_fail(layer, err, "a parameter is missing");
    int order[PT2_MAX_RANK], rank = 0;
    for (int a = 0; a < layer->shape.rank; a++)
        if (layer->shape.dims[a] != layer->shape.feature_dim) order[rank++] = layer->shape.dims[a];
    order[rank++] = layer->shape.feature_dim;
    pt2_tensor x;
    pt2_status st = pt2_rt_view_to(arena, &inputs[0], rank, order, &x, err);
    if (!st && x.storage == inputs[0].tensor.storage) st = pt2_tensor_contiguous(arena, &x, 1, &x, err);
    if (st) return st;
    int64_t features = x.shape[rank - 1], rows = pt2_tensor_numel(&x) / (features ? features : 1);
    if (pt2_tensor_numel(gain) != features) return pt2_rt_layer_fail(layer, err, "parameters do not fit the features");
    const float *pg = pt2_tensor_data(gain), *ps = pt2_tensor_data(shift);
    float *px = pt2_tensor_data(&x);
    const float *pm = layer_norm ? NULL : pt2_tensor_data(mean), *pv = layer_norm ? NULL : pt2_tensor_data(variance);
    for (int64_t r = 0; r < rows; r++) normalize_frame(px + r * features, features, pm, pv, epsilon, pg, ps);
    /* Back into the layer's axis order. */
    pt2_rt_tensor normalized = {x, layer->shape, 0};
    memcpy(normalized.shape.dims, order, sizeof order);
    return pt2_rt_transpose_to(arena, &normalized, layer->shape.rank, layer->shape.dims, out, err);
}

const pt2_rt_layer_class pt2_rt_layers_norm[] = {
    {"linear", linear_infer, linear_compute},
    {"layer_norm", same_infer, feature_norm_compute},
    {"batch_norm", same_infer, feature_norm_compute},
    {NULL, NULL, NULL}};
