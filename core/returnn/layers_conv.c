/* conv and transposed_conv over one spatial dim (the time), as RETURNN's TF backend runs them:
 * channels last, filters in TF's layouts, integer padding = pad both sides then VALID. */
#include <string.h>

#include "layers.h"

/* [B, T, F] sources only: the dims of the batch, the time (in_spatial_dims "T") and the feature. */
static pt2_status btf_dims(const pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *in, int dims[3],
                           pt2_error *err) {
    int time = pt2_rt_shape_time_axis(net, in);
    dims[0] = -1;
    for (int a = 0; a < in->rank; a++)
        if (net->dims[in->dims[a]].kind == PT2_RT_DIM_BATCH) dims[0] = in->dims[a];
    dims[1] = time >= 0 ? in->dims[time] : -1;
    dims[2] = in->feature_dim;
    if (in->rank != 3 || dims[0] < 0 || dims[1] < 0 || dims[2] < 0)
        return pt2_rt_layer_fail(layer, err, "expected a source with batch, time and feature axes");
    return PT2_OK;
}

/* use_time_mask: the frames after each sequence's end read as zeros (x is [B, T, F], contiguous,
 * its own copy), so that the conv sees what PyTorch sees on the sequence alone. */
static void mask_after_sequence_ends(const pt2_rt_net *net, const pt2_rt_layer *layer, int time_dim, pt2_tensor *x) {
    if (!pt2_rt_int_option(layer, "use_time_mask", 0)) return;
    int64_t batch = x->shape[0], time = x->shape[1], features = x->shape[2];
    float *px = pt2_tensor_data(x);
    for (int64_t b = 0; b < batch; b++) {
        int64_t length = pt2_rt_sequence_length(net, time_dim, b, time);
        memset(px + (b * time + length) * features, 0, sizeof(float) * (size_t)((time - length) * features));
    }
}

static pt2_status new_channel_dim(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer, int *out,
                                  pt2_error *err) {
    int64_t n_out = pt2_rt_int_option(layer, "n_out", -1);
    if (n_out < 1) return pt2_rt_layer_fail(layer, err, "n_out must be given");
    const char *description = pt2_arena_printf(arena, err, "%s:channel", layer->name);
    if (!description) return err->status;
    return pt2_rt_add_dim(arena, net, description, PT2_RT_DIM_STATIC, n_out, out, err);
}

static pt2_status finish_btf(int batch, int time, int feature, pt2_rt_shape *out) {
    out->rank = 3;
    out->dims[0] = batch;
    out->dims[1] = time;
    out->dims[2] = feature;
    out->feature_dim = feature;
    return PT2_OK;
}

typedef struct conv_options {
    int64_t kernel, stride, dilation, groups, pad; /* pad: per side; -1 for "same" */
} conv_options;

static pt2_status read_conv_options(const pt2_rt_layer *layer, conv_options *o, pt2_error *err) {
    o->kernel = pt2_rt_int_option(layer, "filter_size", -1);
    o->stride = pt2_rt_int_option(layer, "strides", 1);
    o->dilation = pt2_rt_int_option(layer, "dilation_rate", 1);
    o->groups = pt2_rt_int_option(layer, "groups", 1);
    const pt2_rt_value *padding = pt2_rt_get_option(layer, "padding");
    if (padding && padding->kind == PT2_RT_STRING && !strcmp(padding->string, "valid")) o->pad = 0;
    else if (padding && padding->kind == PT2_RT_STRING && !strcmp(padding->string, "same")) o->pad = -1;
    else if (padding && padding->kind == PT2_RT_INT) o->pad = padding->int_value;
    else return pt2_rt_layer_fail(layer, err, "padding must be \"valid\", \"same\" or an int");
    if (o->kernel < 1 || o->stride < 1 || o->dilation < 1 || o->groups < 1)
        return pt2_rt_layer_fail(layer, err, "filter_size, strides, dilation_rate and groups must be positive");
    return PT2_OK;
}

static pt2_status conv_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *inputs,
                             size_t num_inputs, pt2_rt_shape *out, pt2_error *err) {
    int dims[3], feature, time;
    conv_options o;
    pt2_status st = pt2_rt_single_input(layer, num_inputs, err);
    if (!st) st = btf_dims(net, layer, &inputs[0], dims, err);
    if (!st) st = read_conv_options(layer, &o, err);
    if (!st) st = new_channel_dim(arena, net, layer, &feature, err);
    if (st) return st;
    const char *description = pt2_arena_printf(arena, err, "%s:conv:s0", layer->name);
    if (!description) return err->status;
    int64_t span = o.dilation * (o.kernel - 1) + 1;
    if (o.pad < 0) st = pt2_rt_derive_dim(arena, net, dims[1], 1, 0, o.stride, description, &time, err);
    else st = pt2_rt_derive_dim(arena, net, dims[1], 1, 2 * o.pad - span + 1, o.stride, description, &time, err);
    if (st) return st;
    return finish_btf(dims[0], time, feature, out);
}

static pt2_status conv_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                               const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *out, pt2_error *err) {
    (void)num_inputs;
    int dims[3];
    conv_options o;
    pt2_tensor x, weight;
    const pt2_tensor *w = pt2_rt_get_param(layer, "W"), *bias = pt2_rt_get_param(layer, "bias");
    pt2_status st = btf_dims(net, layer, &inputs[0].shape, dims, err);
    if (!st) st = read_conv_options(layer, &o, err);
    if (st) return st;
    if (!w || w->rank != 3) return pt2_rt_layer_fail(layer, err, "parameter W of rank 3 is missing");
    if ((st = pt2_rt_transpose_to(arena, &inputs[0], 3, dims, &x, err))) return st;
    if ((st = pt2_tensor_contiguous(arena, w, 0, &weight, err))) return st;
    mask_after_sequence_ends(net, layer, dims[1], &x);
    int64_t batch = x.shape[0], time = x.shape[1], in_features = x.shape[2];
    int64_t kernel = weight.shape[0], group_in = weight.shape[1], out_features = weight.shape[2];
    if (group_in * o.groups != in_features || kernel != o.kernel)
        return pt2_rt_layer_fail(layer, err, "filter [%lld, %lld, %lld] does not fit %lld input features",
                                 (long long)kernel, (long long)group_in, (long long)out_features, (long long)in_features);
    int64_t span = o.dilation * (kernel - 1) + 1, pad_left, out_time;
    if (o.pad < 0) { /* TF "SAME": out = ceil(T / s), the odd extra frame padded on the right */
        out_time = (time + o.stride - 1) / o.stride;
        int64_t total = (out_time - 1) * o.stride + span - time;
        pad_left = total > 0 ? total / 2 : 0;
    } else {
        pad_left = o.pad;
        int64_t padded = time + 2 * o.pad;
        out_time = padded >= span ? (padded - span) / o.stride + 1 : 0;
    }
    int64_t shape[3] = {batch, out_time, out_features};
    if ((st = pt2_rt_alloc_output(arena, &layer->shape, shape, out, err))) return st;
    const float *px = pt2_tensor_data(&x), *pw = pt2_tensor_data(&weight);
    const float *pb = bias ? pt2_tensor_data(bias) : NULL;
    float *po = pt2_tensor_data(out);
    int64_t group_out = out_features / o.groups;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t t = 0; t < out_time; t++)
            for (int64_t c = 0; c < out_features; c++) {
                int64_t g = c / group_out;
                double sum = pb ? pb[c] : 0.0;
                for (int64_t k = 0; k < kernel; k++) {
                    int64_t source = t * o.stride + k * o.dilation - pad_left;
                    if (source < 0 || source >= time) continue;
                    for (int64_t i = 0; i < group_in; i++)
                        sum += (double)px[(b * time + source) * in_features + g * group_in + i] *
                               pw[(k * group_in + i) * out_features + c];
                }
                po[(b * out_time + t) * out_features + c] = (float)sum;
            }
    return PT2_OK;
}

/* transposed_conv with padding "valid": the full output is T*s + k - s + output_padding long;
 * remove_padding then slices that many frames off both ends. */
static pt2_status transposed_conv_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer,
                                        const pt2_rt_shape *inputs, size_t num_inputs, pt2_rt_shape *out,
                                        pt2_error *err) {
    int dims[3], feature, time;
    pt2_status st = pt2_rt_single_input(layer, num_inputs, err);
    if (!st) st = btf_dims(net, layer, &inputs[0], dims, err);
    if (!st) st = new_channel_dim(arena, net, layer, &feature, err);
    if (st) return st;
    int64_t kernel = pt2_rt_int_option(layer, "filter_size", -1), stride = pt2_rt_int_option(layer, "strides", -1);
    int64_t output_padding = pt2_rt_int_option(layer, "output_padding", 0);
    int64_t remove = pt2_rt_int_option(layer, "remove_padding", 0);
    if (kernel < 1 || stride < 1 || strcmp(pt2_rt_string_option(layer, "padding", ""), "valid") != 0)
        return pt2_rt_layer_fail(layer, err, "expected filter_size, strides and padding \"valid\"");
    const char *description = pt2_arena_printf(arena, err, "%s:transposed-conv:s0", layer->name);
    if (!description) return err->status;
    if ((st = pt2_rt_derive_dim(arena, net, dims[1], stride, kernel - stride + output_padding - 2 * remove, 1,
                                description, &time, err)))
        return st;
    return finish_btf(dims[0], time, feature, out);
}

static pt2_status transposed_conv_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                          const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *out,
                                          pt2_error *err) {
    (void)num_inputs;
    int dims[3];
    pt2_tensor x, weight;
    const pt2_tensor *w = pt2_rt_get_param(layer, "W_native_transposed_conv"), *bias = pt2_rt_get_param(layer, "bias");
    pt2_status st = btf_dims(net, layer, &inputs[0].shape, dims, err);
    if (st) return st;
    if (!w || w->rank != 4 || w->shape[1] != 1)
        return pt2_rt_layer_fail(layer, err, "parameter W_native_transposed_conv of shape [K, 1, O, I] is missing");
    if ((st = pt2_rt_transpose_to(arena, &inputs[0], 3, dims, &x, err))) return st;
    if ((st = pt2_tensor_contiguous(arena, w, 0, &weight, err))) return st;
    mask_after_sequence_ends(net, layer, dims[1], &x);
    int64_t batch = x.shape[0], time = x.shape[1], in_features = x.shape[2];
    int64_t kernel = weight.shape[0], out_features = weight.shape[2];
    int64_t stride = pt2_rt_int_option(layer, "strides", 1), remove = pt2_rt_int_option(layer, "remove_padding", 0);
    int64_t output_padding = pt2_rt_int_option(layer, "output_padding", 0);
    if (weight.shape[3] != in_features) return pt2_rt_layer_fail(layer, err, "filter does not fit the input features");
    int64_t full = time * stride + kernel - stride + output_padding, out_time = full - 2 * remove;
    if (out_time < 0) out_time = 0;
    int64_t shape[3] = {batch, out_time, out_features};
    if ((st = pt2_rt_alloc_output(arena, &layer->shape, shape, out, err))) return st;
    double *sum = pt2_arena_alloc_array(arena, (size_t)(full > 0 ? full : 1) * (size_t)out_features, sizeof(double), err);
    if (!sum) return err->status;
    const float *px = pt2_tensor_data(&x), *pw = pt2_tensor_data(&weight);
    const float *pb = bias ? pt2_tensor_data(bias) : NULL;
    float *po = pt2_tensor_data(out);
    for (int64_t b = 0; b < batch; b++) {
        for (int64_t t = 0; t < full; t++)
            for (int64_t c = 0; c < out_features; c++) sum[t * out_features + c] = pb ? pb[c] : 0.0;
        /* The gradient of a VALID conv: input frame t spreads over frames t*s .. t*s + k - 1. */
        for (int64_t t = 0; t < time; t++)
            for (int64_t k = 0; k < kernel; k++) {
                int64_t target = t * stride + k;
                if (target >= full) continue;
                for (int64_t c = 0; c < out_features; c++) {
                    double acc = 0;
                    for (int64_t i = 0; i < in_features; i++)
                        acc += (double)px[(b * time + t) * in_features + i] * pw[(k * out_features + c) * in_features + i];
                    sum[target * out_features + c] += acc;
                }
            }
        for (int64_t t = 0; t < out_time; t++)
            for (int64_t c = 0; c < out_features; c++)
                po[(b * out_time + t) * out_features + c] = (float)sum[(t + remove) * out_features + c];
    }
    return PT2_OK;
}

const pt2_rt_layer_class pt2_rt_layers_conv[] = {
    {"conv", conv_infer, conv_compute},
    {"transposed_conv", transposed_conv_infer, transposed_conv_compute},
    {NULL, NULL, NULL}};
