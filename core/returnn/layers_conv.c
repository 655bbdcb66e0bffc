/* conv (over one spatial dim, the time, or over two named by in_spatial_dims) and transposed_conv
 * (over the time, or over two named by in_spatial_dims), as RETURNN's TF backend runs them: channels last, filters in TF's layouts,
 * integer padding = pad both sides then VALID. */
#include <string.h>

#include "../ops/kernels.h"
#include "../ops/parallel.h"
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

/* use_time_mask zeroes the frames after each sequence's end; without sequence lengths (one
 * sequence of the full length) there are none. */
static int masks_sequence_ends(const pt2_rt_net *net, const pt2_rt_layer *layer) {
    return net->sequence_lengths && pt2_rt_int_option(layer, "use_time_mask", 0);
}

/* The input frames of sequence b a 1-D (transposed) convolution reads: with use_time_mask the
 * frames past the sequence's end count as zeros, which add nothing, so the GEMMs leave them out
 * instead of reading a zeroed copy of the input. */
static int64_t frames_read(const pt2_rt_net *net, const pt2_rt_layer *layer, int time_dim, int64_t b, int64_t time) {
    return masks_sequence_ends(net, layer) ? pt2_rt_sequence_length(net, time_dim, b, time) : time;
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

/* rows x columns of the bias (or zeros) to add the taps' products onto */
static void fill_bias(float *out, int64_t rows, int64_t columns, const float *bias) {
    if (!bias) {
        memset(out, 0, sizeof(float) * (size_t)(rows * columns));
        return;
    }
    for (int64_t r = 0; r < rows; r++) memcpy(out + r * columns, bias, sizeof(float) * (size_t)columns);
}

/* Output frames t in [first, end) of [0, out_time) whose source frame t*stride + shift is
 * inside [0, time). */
static void frames_inside(int64_t shift, int64_t stride, int64_t time, int64_t out_time, int64_t *first, int64_t *end) {
    *first = shift >= 0 ? 0 : (-shift + stride - 1) / stride;
    *end = time - 1 - shift < 0 ? 0 : (time - 1 - shift) / stride + 1;
    if (*end > out_time) *end = out_time;
}

/* Input frames t in [first, end) of [0, time) whose target frame t*stride + shift is inside
 * [0, out_time). */
static void frames_landing(int64_t shift, int64_t stride, int64_t time, int64_t out_time, int64_t *first, int64_t *end) {
    frames_inside(shift, stride, out_time, time, first, end);
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

/* ---- conv over two spatial dims (in_spatial_dims, in filter order): channels are the feature
 * dim, every other dim a batch dim. padding: "valid", an int for both dims or a list of one int
 * per dim (pad both sides, then VALID), or "same" (TF's SAME: ceil(n / s) outputs, the padding
 * split with the smaller half before). groups split the channels as tf.nn.convolution does (and
 * tf.nn.depthwise_conv2d for groups = channels: filter [kh, kw, 1, out] read as
 * [kh, kw, in, out / in], the same channel order). use_time_mask zeros the frames after each
 * sequence's end of a dynamic spatial dim first. ---- */

typedef struct conv2d_spec {
    int spatial[2];
    int64_t kernel[2], stride[2], dilation[2], pad[2]; /* pad: per side, -1 for "same" */
    int64_t groups;
} conv2d_spec;

static int list_count(const pt2_rt_layer *layer, const char *key) {
    const pt2_rt_value *v = pt2_rt_get_option(layer, key);
    return v && v->kind == PT2_RT_LIST ? (int)v->count : v ? 1 : 0;
}

static int64_t list_item(const pt2_rt_layer *layer, const char *key, int i, int64_t fallback) {
    const pt2_rt_value *v = pt2_rt_get_option(layer, key);
    if (!v) return fallback;
    if (v->kind == PT2_RT_INT) return v->int_value;
    if (v->kind == PT2_RT_LIST && (size_t)i < v->count && v->items[i].kind == PT2_RT_INT) return v->items[i].int_value;
    return fallback;
}

static pt2_status read_conv2d(const pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *in, conv2d_spec *c,
                              pt2_error *err) {
    const pt2_rt_value *spatial = pt2_rt_get_option(layer, "in_spatial_dims"), *padding = pt2_rt_get_option(layer, "padding");
    if (!spatial || spatial->kind != PT2_RT_LIST || spatial->count != 2)
        return pt2_rt_layer_fail(layer, err, "a 2-D conv needs in_spatial_dims of two axes");
    for (int i = 0; i < 2; i++) {
        if (spatial->items[i].kind != PT2_RT_STRING) return pt2_rt_layer_fail(layer, err, "in_spatial_dims must name axes");
        pt2_status st = pt2_rt_resolve_axis(net, in, spatial->items[i].string, &c->spatial[i], err);
        if (st) return st;
        c->kernel[i] = list_item(layer, "filter_size", i, -1);
        c->stride[i] = list_item(layer, "strides", i, 1);
        c->dilation[i] = list_item(layer, "dilation_rate", i, 1);
        if (c->kernel[i] < 1 || c->stride[i] < 1 || c->dilation[i] < 1)
            return pt2_rt_layer_fail(layer, err, "filter_size, strides and dilation_rate must be positive");
        if (padding && padding->kind == PT2_RT_STRING && !strcmp(padding->string, "valid")) c->pad[i] = 0;
        else if (padding && padding->kind == PT2_RT_STRING && !strcmp(padding->string, "same")) c->pad[i] = -1;
        else if (padding && (padding->kind == PT2_RT_INT || (padding->kind == PT2_RT_LIST && padding->count == 2)))
            c->pad[i] = list_item(layer, "padding", i, -2);
        else c->pad[i] = -2;
        if (c->pad[i] < -1)
            return pt2_rt_layer_fail(layer, err, "a 2-D conv's padding is \"valid\", \"same\", an int or one int per dim");
    }
    c->groups = pt2_rt_int_option(layer, "groups", 1);
    if (c->groups < 1) return pt2_rt_layer_fail(layer, err, "groups must be positive");
    if (in->feature_dim < 0) return pt2_rt_layer_fail(layer, err, "the source has no feature dim");
    return PT2_OK;
}

/* The output size of a spatial dim of size n and the padding before it. */
static int64_t conv2d_out_size(const conv2d_spec *c, int i, int64_t n, int64_t *pad_before) {
    int64_t span = c->dilation[i] * (c->kernel[i] - 1) + 1;
    if (c->pad[i] < 0) {
        int64_t out = (n + c->stride[i] - 1) / c->stride[i], total = (out - 1) * c->stride[i] + span - n;
        *pad_before = total > 0 ? total / 2 : 0;
        return out;
    }
    *pad_before = c->pad[i];
    int64_t padded = n + 2 * c->pad[i];
    return padded >= span ? (padded - span) / c->stride[i] + 1 : 0;
}

/* A 2-D conv's output (plain or transposed): the input's other dims, then the two spatial dims
 * it computed, then the channels, which are the feature. */
static void conv2d_output_shape(const pt2_rt_shape *in, const int *spatial_in, const int *spatial_out, int channel,
                                pt2_rt_shape *out) {
    *out = *in;
    out->rank = 0;
    for (int a = 0; a < in->rank; a++)
        if (in->dims[a] != spatial_in[0] && in->dims[a] != spatial_in[1] && in->dims[a] != in->feature_dim)
            out->dims[out->rank++] = in->dims[a];
    out->dims[out->rank++] = spatial_out[0];
    out->dims[out->rank++] = spatial_out[1];
    out->dims[out->rank++] = channel;
    out->feature_dim = channel;
}

static pt2_status conv2d_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *in,
                               pt2_rt_shape *out, pt2_error *err) {
    conv2d_spec c;
    int channel, spatial_out[2];
    pt2_status st = read_conv2d(net, layer, in, &c, err);
    if (!st) st = new_channel_dim(arena, net, layer, &channel, err);
    if (st) return st;
    for (int i = 0; i < 2; i++) {
        const pt2_rt_dim *d = &net->dims[c.spatial[i]];
        int64_t span = c.dilation[i] * (c.kernel[i] - 1) + 1, pad_before;
        const char *description = pt2_arena_printf(arena, err, "%s:conv:s%d", layer->name, i);
        if (!description) return err->status;
        if (d->kind == PT2_RT_DIM_DYNAMIC && c.pad[i] < 0)
            st = pt2_rt_derive_dim(arena, net, c.spatial[i], 1, 0, c.stride[i], description, &spatial_out[i], err);
        else if (d->kind == PT2_RT_DIM_DYNAMIC)
            st = pt2_rt_derive_dim(arena, net, c.spatial[i], 1, 2 * c.pad[i] - span + 1, c.stride[i], description,
                                   &spatial_out[i], err);
        else if (d->kind == PT2_RT_DIM_STATIC && c.stride[i] == 1 && (c.pad[i] < 0 || (c.pad[i] == 0 && c.kernel[i] == 1)))
            spatial_out[i] = c.spatial[i]; /* RETURNN's ConvLayer keeps the input's dim ("identity in this
                                            * axis"): a 1x1 filter unpadded, or "same" padding, at stride 1 */
        else if (d->kind == PT2_RT_DIM_STATIC && conv2d_out_size(&c, i, d->size, &pad_before) > 0)
            st = pt2_rt_add_dim(arena, net, description, PT2_RT_DIM_STATIC, conv2d_out_size(&c, i, d->size, &pad_before),
                                &spatial_out[i], err);
        else return pt2_rt_layer_fail(layer, err, "spatial axis '%s' does not fit the filter", d->description);
        if (st) return st;
    }
    conv2d_output_shape(in, c.spatial, spatial_out, channel, out);
    return PT2_OK;
}

/* A 2-D conv's source channels first, [other dims..., C, s0, s1] (what the convolution kernels
 * of kernels_conv.c read; `order` gets those dims, *outer_rank the number of other dims), with
 * use_time_mask's zeros in the frames after each sequence's end of a dynamic spatial dim (then
 * on a copy of its own; without the mask the source itself where it lies so already). */
static pt2_status conv2d_source(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_tensor *in,
                                const int *spatial, int *order, int *outer_rank, pt2_tensor *x, pt2_error *err) {
    int rank = 0;
    for (int a = 0; a < in->shape.rank; a++) {
        int d = in->shape.dims[a];
        if (d != spatial[0] && d != spatial[1] && d != in->shape.feature_dim) order[rank++] = d;
    }
    *outer_rank = rank;
    order[rank++] = in->shape.feature_dim, order[rank++] = spatial[0], order[rank++] = spatial[1];
    /* Without sequence lengths (the checks and the reload: one sequence of the full length) nothing
     * is masked, and a copy would add a whole input to the check's memory for nothing. */
    int masked = masks_sequence_ends(net, layer);
    pt2_status st = masked ? pt2_rt_transpose_to(arena, in, rank, order, x, err) : pt2_rt_view_to(arena, in, rank, order, x, err);
    if (st || !masked) return st;
    int batch_axis = -1;
    for (int a = 0; a < *outer_rank; a++)
        if (net->dims[order[a]].kind == PT2_RT_DIM_BATCH) batch_axis = a;
    int64_t outer = 1, after_batch = 1;
    for (int a = 0; a < *outer_rank; a++) {
        outer *= x->shape[a];
        if (a > batch_axis) after_batch *= x->shape[a];
    }
    int64_t channels = x->shape[*outer_rank], h = x->shape[*outer_rank + 1], w = x->shape[*outer_rank + 2];
    float *px = pt2_tensor_data(x);
    for (int64_t n = 0; n < outer; n++) {
        int64_t b = batch_axis >= 0 ? (n / after_batch) % x->shape[batch_axis] : 0;
        int64_t end_h = pt2_rt_sequence_length(net, spatial[0], b, h), end_w = pt2_rt_sequence_length(net, spatial[1], b, w);
        for (int64_t c = 0; c < channels; c++) {
            float *plane = px + (n * channels + c) * h * w;
            for (int64_t i = 0; i < h; i++) {
                int64_t from = i >= end_h ? 0 : end_w;
                if (from < w) memset(plane + i * w + from, 0, sizeof(float) * (size_t)(w - from));
            }
        }
    }
    return PT2_OK;
}

/* A 2-D conv's result, computed channels first ([other dims..., C, s0, s1]), as the layer's
 * output: a view in the layer's order of dims (other dims, s0, s1, C), not a copy. */
static pt2_status conv2d_result(const pt2_rt_layer *layer, const int *order, int outer_rank, const pt2_tensor *natural,
                                pt2_tensor *out, pt2_error *err) {
    pt2_rt_tensor result = {*natural, layer->shape, 0};
    int r = layer->shape.rank;
    result.shape.rank = outer_rank + 3;
    for (int a = 0; a < outer_rank; a++) result.shape.dims[a] = order[a];
    result.shape.dims[outer_rank] = layer->shape.dims[r - 1];
    result.shape.dims[outer_rank + 1] = layer->shape.dims[r - 3];
    result.shape.dims[outer_rank + 2] = layer->shape.dims[r - 2];
    return pt2_rt_strided_view(&result, r, layer->shape.dims, out, err);
}

/* RETURNN's filter [kh, kw, p, q] (a conv's [.., in, out], a transposed conv's [.., out, in]) in
 * PyTorch's layout [q, p, kh, kw] (a conv's [out, in, ..], a transposed conv's [in, out, ..]),
 * dense for the convolution kernels, which read it row by row: a view of the filter permuted,
 * copied by pt2_tensor_contiguous's tiled transpose unless it lies so already. */
static const float *filter_to_torch(pt2_arena *arena, const pt2_tensor *w, pt2_error *err) {
    static const int torch_order[4] = {3, 2, 0, 1};
    pt2_tensor permuted, dense;
    pt2_tensor_permute(w, torch_order, &permuted);
    return pt2_tensor_contiguous(arena, &permuted, 0, &dense, err) ? NULL : pt2_tensor_data(&dense);
}

static pt2_status conv2d_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                 const pt2_rt_tensor *in, pt2_tensor *out, pt2_error *err) {
    conv2d_spec c;
    pt2_status st = read_conv2d(net, layer, &in->shape, &c, err);
    if (st) return st;
    const pt2_tensor *w = pt2_rt_get_param(layer, "W"), *bias = pt2_rt_get_param(layer, "bias");
    if (!w || w->rank != 4) return pt2_rt_layer_fail(layer, err, "parameter W of rank 4 is missing");
    int order[PT2_MAX_RANK], outer_rank;
    pt2_tensor x;
    if ((st = conv2d_source(arena, net, layer, in, c.spatial, order, &outer_rank, &x, err))) return st;
    int64_t outer = 1;
    for (int a = 0; a < outer_rank; a++) outer *= x.shape[a];
    int64_t cin = x.shape[outer_rank], h = x.shape[outer_rank + 1], wd = x.shape[outer_rank + 2];
    int64_t kh = w->shape[0], kw = w->shape[1], group_in = w->shape[2], cout = w->shape[3];
    if (group_in * c.groups != cin || cout % c.groups || kh != c.kernel[0] || kw != c.kernel[1])
        return pt2_rt_layer_fail(layer, err, "filter does not fit %lld input channels in %lld groups", (long long)cin,
                                 (long long)c.groups);
    int64_t pad_h, pad_w;
    int64_t oh = conv2d_out_size(&c, 0, h, &pad_h), ow = conv2d_out_size(&c, 1, wd, &pad_w);
    /* RETURNN's padding (TF's "same" puts the odd extra row after) as where the window starts;
     * what it reads past the input's end is zero. The sums run on the reference run's kernels. */
    pt2_conv_geometry g = {outer, cin, h, wd, cout, kh, kw, oh, ow, c.stride[0], c.stride[1], c.dilation[0], c.dilation[1],
                           pad_h, pad_w, c.groups};
    int64_t sizes[PT2_MAX_RANK];
    for (int a = 0; a < outer_rank; a++) sizes[a] = x.shape[a];
    sizes[outer_rank] = cout, sizes[outer_rank + 1] = oh, sizes[outer_rank + 2] = ow;
    pt2_tensor natural;
    const float *filter = filter_to_torch(arena, w, err);
    if (!filter) return err->status;
    if ((st = pt2_tensor_alloc_uninit(arena, PT2_DTYPE_FLOAT32, outer_rank + 3, sizes, &natural, err))) return st;
    if (outer && oh && ow &&
        (st = pt2_parallel_conv(arena, net->threads, &g, 0, pt2_tensor_data(&x), filter, bias ? pt2_tensor_data(bias) : NULL,
                                pt2_tensor_data(&natural), err)))
        return st;
    return conv2d_result(layer, order, outer_rank, &natural, out, err);
}

static pt2_status conv_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *inputs,
                             size_t num_inputs, pt2_rt_shape *out, pt2_error *err) {
    int dims[3], feature, time;
    conv_options o;
    pt2_status st = pt2_rt_single_input(layer, num_inputs, err);
    if (!st && list_count(layer, "filter_size") == 2) return conv2d_infer(arena, net, layer, &inputs[0], out, err);
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

/* One group's product of the filter's rows [o, (i, k)] by the input's im2col, rows o0..o1 of
 * it per piece (each piece packs the frames itself, as each of the reference run's does). */
typedef struct im2col_job {
    int64_t group_out, out_time, depth, block;
    pt2_matrix_view filter;
    const pt2_gemm_source *frames;
    float *c, *scratch; /* scratch: one per piece */
    const float *bias;
    size_t scratch_floats;
} im2col_job;

static void im2col_rows(void *context, size_t piece) {
    const im2col_job *j = context;
    int64_t o0 = (int64_t)piece * j->block, o1 = o0 + j->block < j->group_out ? o0 + j->block : j->group_out;
    if (o0 >= o1) return;
    pt2_matrix_view filter = {j->filter.data + o0 * j->filter.row_stride, j->filter.row_stride, j->filter.col_stride};
    float *scratch = j->scratch + piece * j->scratch_floats, *c = j->c + o0 * j->out_time;
    if (j->bias) pt2_gemm_bias(o1 - o0, j->out_time, j->depth, filter, j->frames, c, j->out_time, j->bias + o0, NULL, scratch);
    else pt2_gemm(o1 - o0, j->out_time, j->depth, filter, j->frames, c, j->out_time, 0, scratch);
}

static pt2_status conv_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                               const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *out, pt2_error *err) {
    (void)num_inputs;
    int dims[3];
    conv_options o;
    pt2_tensor x, weight;
    const pt2_tensor *w = pt2_rt_get_param(layer, "W"), *bias = pt2_rt_get_param(layer, "bias");
    if (list_count(layer, "filter_size") == 2) return conv2d_compute(arena, net, layer, &inputs[0], out, err);
    pt2_status st = btf_dims(net, layer, &inputs[0].shape, dims, err);
    if (!st) st = read_conv_options(layer, &o, err);
    if (st) return st;
    if (!w || w->rank != 3) return pt2_rt_layer_fail(layer, err, "parameter W of rank 3 is missing");
    /* [B, T, F] in any strides (the GEMM packs its rows); a copy only where the mask writes. */
    st = pt2_rt_strided_view(&inputs[0], 3, dims, &x, err);
    if (st) return st;
    /* The filter as it is (a view of PyTorch's [O, I, K] when the lowering made it): the GEMM packs
     * each tap's [I, O] block from any strides, so a large filter is not copied per check. */
    weight = *w;
    int64_t x_batch = x.strides[0], x_time = x.strides[1], x_feature = x.strides[2];
    int64_t batch = x.shape[0], time = x.shape[1], in_features = x.shape[2];
    int64_t kernel = weight.shape[0], group_in = weight.shape[1], out_features = weight.shape[2];
    int64_t w_tap_stride = weight.strides[0], w_in_stride = weight.strides[1], w_out_stride = weight.strides[2];
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
    /* The output in the input's layout: frames by channels (RETURNN's own), or channels by
     * frames when the frames lie side by side (PyTorch's value in a check), which the check then
     * compares without a transpose. The sums are the same either way. */
    int channels_first = x_time == 1 && time > 1;
    int64_t shape[3] = {batch, channels_first ? out_features : out_time, channels_first ? out_time : out_features};
    pt2_tensor result;
    if ((st = pt2_rt_alloc_output_uninit(arena, &layer->shape, shape, &result, err))) return st;
    static const int swap_last[3] = {0, 2, 1};
    if (channels_first) pt2_tensor_unpermute(&result, swap_last, out);
    else *out = result;
    const float *px = pt2_tensor_data(&x), *pw = pt2_tensor_data(&weight);
    const float *pb = bias ? pt2_tensor_data(bias) : NULL;
    float *po = pt2_tensor_data(&result);
    int64_t group_out = out_features / o.groups;
    /* Channels by frames, with the filter as PyTorch holds it ([O, I, K]: a check's): one GEMM per
     * group of the filter's rows [o, (i, k)], read where they lie, by the input's im2col
     * [(i, k), t] packed straight from its frames (pt2_conv_im2col_source; frames in the padding
     * or after the sequence's end read as zeros), the bias added as the sums are stored. */
    if (channels_first && w_tap_stride == 1 && w_in_stride == kernel) {
        /* the filter's rows split over the threads as the reference run splits a convolution's
         * output channels */
        int64_t block;
        size_t pieces = pt2_parallel_row_blocks(net->threads, group_out, &block);
        size_t scratch_floats = (pt2_gemm_scratch_floats() + 15) / 16 * 16;
        float *scratch = pt2_arena_alloc_array(arena, scratch_floats * pieces, sizeof(float), err);
        if (!scratch) return err->status;
        for (int64_t b = 0; b < batch; b++)
            for (int64_t g = 0; g < o.groups; g++) {
                pt2_conv_geometry geometry = {1, group_in, 1, frames_read(net, layer, dims[1], b, time), group_out, 1, kernel,
                                              1, out_time, 1, o.stride, 1, o.dilation, 0, pad_left, 1};
                pt2_gemm_source frames;
                pt2_conv_im2col_source(&geometry, px + b * x_batch + g * group_in * x_feature, group_in, x_feature, &frames);
                im2col_job job = {group_out, out_time, group_in * kernel, block, {pw + g * group_out * w_out_stride, w_out_stride, 1},
                                  &frames, po + b * out_time * out_features + g * group_out * out_time, scratch,
                                  pb ? pb + g * group_out : NULL, scratch_floats};
                pt2_parallel_for_threads(net->threads, pieces, im2col_rows, &job);
            }
        return PT2_OK;
    }
    /* Depthwise (one input channel per group, a Conformer's conv module) with frames by channels:
     * per tap a GEMM of one column per group would be thousands of calls; instead each output
     * frame adds every tap's input frame times its filter row, across the channels at once (the
     * same terms in the same order: the bias, then tap by tap). */
    if (group_in == 1 && !channels_first) {
        for (int64_t b = 0; b < batch; b++) {
            int64_t valid = frames_read(net, layer, dims[1], b, time);
            for (int64_t t = 0; t < out_time; t++) {
                float *restrict o_row = po + (b * out_time + t) * out_features;
                for (int64_t c = 0; c < out_features; c++) o_row[c] = pb ? pb[c] : 0.0f;
                for (int64_t k = 0; k < kernel; k++) {
                    int64_t frame = t * o.stride + k * o.dilation - pad_left;
                    if (frame < 0 || frame >= valid) continue;
                    const float *x_row = px + b * x_batch + frame * x_time, *w_row = pw + k * w_tap_stride;
                    for (int64_t c = 0; c < out_features; c++)
                        o_row[c] += x_row[(c / group_out) * x_feature] * w_row[c * w_out_stride];
                }
            }
        }
        return PT2_OK;
    }
    /* Frame t of the output reads frame t*stride + k*dilation - pad_left for tap k: per tap and
     * group one GEMM of the frames that land inside the input ([t, i] x [i, c] with the input's
     * rows read `stride` frames apart, or its transpose [c, i] x [i, t]); frames in the padding
     * add nothing. The first tap whose frames cover the whole output writes the bias plus its
     * sums (no pass that fills the bias first), the others add onto it. */
    for (int64_t b = 0; b < batch; b++) {
        float *ob = po + b * out_time * out_features;
        int64_t valid = frames_read(net, layer, dims[1], b, time), first_tap = -1;
        for (int64_t k = 0; k < kernel && first_tap < 0; k++) {
            int64_t first, end;
            frames_inside(k * o.dilation - pad_left, o.stride, valid, out_time, &first, &end);
            if (first == 0 && end == out_time && out_time > 0) first_tap = k;
        }
        if (first_tap < 0) {
            if (channels_first)
                for (int64_t c = 0; c < out_features; c++)
                    for (int64_t t = 0; t < out_time; t++) ob[c * out_time + t] = pb ? pb[c] : 0.0f;
            else
                fill_bias(ob, out_time, out_features, pb);
        }
        for (int64_t step = 0; step < kernel; step++) {
            /* the covering tap first */
            int64_t k = first_tap < 0 ? step : step == 0 ? first_tap : step <= first_tap ? step - 1 : step;
            int64_t first, end, shift = k * o.dilation - pad_left;
            frames_inside(shift, o.stride, valid, out_time, &first, &end);
            if (end <= first) continue;
            int starts = k == first_tap;
            for (int64_t g = 0; g < o.groups; g++) {
                pt2_matrix_view frames = {px + b * x_batch + (first * o.stride + shift) * x_time + g * group_in * x_feature,
                                          o.stride * x_time, x_feature};
                pt2_matrix_view w_tap = {pw + k * w_tap_stride + g * group_out * w_out_stride, w_in_stride, w_out_stride};
                const float *group_bias = pb ? pb + g * group_out : NULL;
                if (channels_first) {
                    pt2_matrix_view w_tap_t = {w_tap.data, w_tap.col_stride, w_tap.row_stride};
                    pt2_matrix_view frames_t = {frames.data, frames.col_stride, frames.row_stride};
                    float *c = ob + g * group_out * out_time + first;
                    st = pt2_parallel_gemm_matrix(arena, net->threads, group_out, end - first, group_in, w_tap_t, frames_t, c,
                                                  out_time, !starts, starts ? group_bias : NULL, NULL, err);
                } else {
                    float *c = ob + first * out_features + g * group_out;
                    st = pt2_parallel_gemm_matrix(arena, net->threads, end - first, group_out, group_in, frames, w_tap, c,
                                                  out_features, !starts, NULL, starts ? group_bias : NULL, err);
                }
                if (st) return st;
            }
        }
    }
    return PT2_OK;
}

/* ---- transposed_conv over two spatial dims (in_spatial_dims order), padding "valid": per dim
 * the full output is n*s + k - s + output_padding long, then remove_padding cuts that many off
 * both ends; filter W_native_transposed_conv [kh, kw, out, in]. ---- */

typedef struct transposed2d_spec {
    int spatial[2];
    int64_t kernel[2], stride[2], output_padding[2], remove[2];
} transposed2d_spec;

static pt2_status read_transposed2d(const pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *in,
                                    transposed2d_spec *c, pt2_error *err) {
    const pt2_rt_value *spatial = pt2_rt_get_option(layer, "in_spatial_dims");
    if (!spatial || spatial->kind != PT2_RT_LIST || spatial->count != 2)
        return pt2_rt_layer_fail(layer, err, "a 2-D transposed conv needs in_spatial_dims of two axes");
    if (strcmp(pt2_rt_string_option(layer, "padding", ""), "valid") != 0)
        return pt2_rt_layer_fail(layer, err, "a 2-D transposed conv is interpreted with padding \"valid\"");
    for (int i = 0; i < 2; i++) {
        if (spatial->items[i].kind != PT2_RT_STRING) return pt2_rt_layer_fail(layer, err, "in_spatial_dims must name axes");
        pt2_status st = pt2_rt_resolve_axis(net, in, spatial->items[i].string, &c->spatial[i], err);
        if (st) return st;
        c->kernel[i] = list_item(layer, "filter_size", i, -1);
        c->stride[i] = list_item(layer, "strides", i, c->kernel[i]);
        c->output_padding[i] = list_item(layer, "output_padding", i, 0);
        c->remove[i] = list_item(layer, "remove_padding", i, 0);
        if (c->kernel[i] < 1 || c->stride[i] < 1 || c->output_padding[i] < 0 || c->remove[i] < 0)
            return pt2_rt_layer_fail(layer, err, "filter_size and strides must be positive, the paddings not negative");
    }
    if (in->feature_dim < 0) return pt2_rt_layer_fail(layer, err, "the source has no feature dim");
    return PT2_OK;
}

static int64_t transposed2d_out_size(const transposed2d_spec *c, int i, int64_t n) {
    int64_t out = n * c->stride[i] + c->kernel[i] - c->stride[i] + c->output_padding[i] - 2 * c->remove[i];
    return out > 0 ? out : 0;
}

static pt2_status transposed_conv2d_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer,
                                          const pt2_rt_shape *in, pt2_rt_shape *out, pt2_error *err) {
    transposed2d_spec c;
    int channel, spatial_out[2];
    pt2_status st = read_transposed2d(net, layer, in, &c, err);
    if (!st) st = new_channel_dim(arena, net, layer, &channel, err);
    if (st) return st;
    for (int i = 0; i < 2; i++) {
        const pt2_rt_dim *d = &net->dims[c.spatial[i]];
        const char *description = pt2_arena_printf(arena, err, "%s:transposed-conv:s%d", layer->name, i);
        if (!description) return err->status;
        if (d->kind == PT2_RT_DIM_DYNAMIC)
            st = pt2_rt_derive_dim(arena, net, c.spatial[i], c.stride[i],
                                   c.kernel[i] - c.stride[i] + c.output_padding[i] - 2 * c.remove[i], 1, description,
                                   &spatial_out[i], err);
        else if (d->kind == PT2_RT_DIM_STATIC && transposed2d_out_size(&c, i, d->size) > 0)
            st = pt2_rt_add_dim(arena, net, description, PT2_RT_DIM_STATIC, transposed2d_out_size(&c, i, d->size),
                                &spatial_out[i], err);
        else return pt2_rt_layer_fail(layer, err, "spatial axis '%s' has no output", d->description);
        if (st) return st;
    }
    conv2d_output_shape(in, c.spatial, spatial_out, channel, out);
    return PT2_OK;
}

static pt2_status transposed_conv2d_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                            const pt2_rt_tensor *in, pt2_tensor *out, pt2_error *err) {
    transposed2d_spec c;
    pt2_status st = read_transposed2d(net, layer, &in->shape, &c, err);
    if (st) return st;
    const pt2_tensor *w = pt2_rt_get_param(layer, "W_native_transposed_conv"), *bias = pt2_rt_get_param(layer, "bias");
    if (!w || w->rank != 4) return pt2_rt_layer_fail(layer, err, "parameter W_native_transposed_conv of rank 4 is missing");
    int order[PT2_MAX_RANK], outer_rank;
    pt2_tensor x;
    if ((st = conv2d_source(arena, net, layer, in, c.spatial, order, &outer_rank, &x, err))) return st;
    int64_t outer = 1;
    for (int a = 0; a < outer_rank; a++) outer *= x.shape[a];
    int64_t cin = x.shape[outer_rank], h = x.shape[outer_rank + 1], wd = x.shape[outer_rank + 2];
    int64_t kh = w->shape[0], kw = w->shape[1], cout = w->shape[2];
    if (w->shape[3] != cin || kh != c.kernel[0] || kw != c.kernel[1])
        return pt2_rt_layer_fail(layer, err, "filter does not fit %lld input channels", (long long)cin);
    int64_t oh = transposed2d_out_size(&c, 0, h), ow = transposed2d_out_size(&c, 1, wd);
    /* The full output cropped by remove_padding at the start (its end by the output's size), on
     * the reference run's kernels: output (i, j) gathers input (y, z) through tap (a, b) where
     * i + remove = y*s + a. */
    pt2_conv_geometry g = {outer, cin, h, wd, cout, kh, kw, oh, ow, c.stride[0], c.stride[1], 1, 1, c.remove[0], c.remove[1], 1};
    int64_t sizes[PT2_MAX_RANK];
    for (int a = 0; a < outer_rank; a++) sizes[a] = x.shape[a];
    sizes[outer_rank] = cout, sizes[outer_rank + 1] = oh, sizes[outer_rank + 2] = ow;
    pt2_tensor natural;
    const float *filter = filter_to_torch(arena, w, err);
    if (!filter) return err->status;
    if ((st = pt2_tensor_alloc_uninit(arena, PT2_DTYPE_FLOAT32, outer_rank + 3, sizes, &natural, err))) return st;
    if (outer && oh && ow &&
        (st = pt2_parallel_conv(arena, net->threads, &g, 1, pt2_tensor_data(&x), filter, bias ? pt2_tensor_data(bias) : NULL,
                                pt2_tensor_data(&natural), err)))
        return st;
    return conv2d_result(layer, order, outer_rank, &natural, out, err);
}

/* transposed_conv with padding "valid": the full output is T*s + k - s + output_padding long;
 * remove_padding then slices that many frames off both ends. */
static pt2_status transposed_conv_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer,
                                        const pt2_rt_shape *inputs, size_t num_inputs, pt2_rt_shape *out,
                                        pt2_error *err) {
    int dims[3], feature, time;
    pt2_status st = pt2_rt_single_input(layer, num_inputs, err);
    if (!st && list_count(layer, "filter_size") == 2) return transposed_conv2d_infer(arena, net, layer, &inputs[0], out, err);
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
    if (list_count(layer, "filter_size") == 2) return transposed_conv2d_compute(arena, net, layer, &inputs[0], out, err);
    pt2_status st = btf_dims(net, layer, &inputs[0].shape, dims, err);
    if (st) return st;
    if (!w || w->rank != 4 || w->shape[1] != 1)
        return pt2_rt_layer_fail(layer, err, "parameter W_native_transposed_conv of shape [K, 1, O, I] is missing");
    st = pt2_rt_strided_view(&inputs[0], 3, dims, &x, err); /* as conv: the GEMM reads any strides */
    if (st) return st;
    weight = *w; /* read in place, as conv's filter */
    int64_t x_batch = x.strides[0], x_time = x.strides[1], x_feature = x.strides[2];
    int64_t batch = x.shape[0], time = x.shape[1], in_features = x.shape[2];
    int64_t kernel = weight.shape[0], out_features = weight.shape[2];
    int64_t stride = pt2_rt_int_option(layer, "strides", 1), remove = pt2_rt_int_option(layer, "remove_padding", 0);
    int64_t output_padding = pt2_rt_int_option(layer, "output_padding", 0);
    if (weight.shape[3] != in_features) return pt2_rt_layer_fail(layer, err, "filter does not fit the input features");
    int64_t full = time * stride + kernel - stride + output_padding, out_time = full - 2 * remove;
    if (out_time < 0) out_time = 0;
    int64_t shape[3] = {batch, out_time, out_features};
    if ((st = pt2_rt_alloc_output_uninit(arena, &layer->shape, shape, out, err))) return st;
    const float *px = pt2_tensor_data(&x), *pw = pt2_tensor_data(&weight);
    const float *pb = bias ? pt2_tensor_data(bias) : NULL;
    float *po = pt2_tensor_data(out);
    /* The gradient of a VALID conv: input frame t spreads over full frames t*s .. t*s + k - 1, of
     * which frames [remove, remove + out_time) are kept. Per tap one GEMM ([t, i] x [i, c], the
     * filter [k, 0, c, i] read transposed) added onto every stride-th output frame. */
    for (int64_t b = 0; b < batch; b++) {
        float *ob = po + b * out_time * out_features;
        fill_bias(ob, out_time, out_features, pb);
        int64_t valid = frames_read(net, layer, dims[1], b, time);
        for (int64_t k = 0; k < kernel; k++) {
            int64_t first, end, shift = k - remove;
            /* output frame t*stride + shift inside [0, out_time), input frame t < valid */
            frames_landing(shift, stride, time, out_time, &first, &end);
            if (end > valid) end = valid;
            if (end <= first) continue;
            pt2_matrix_view a = {px + b * x_batch + first * x_time, x_time, x_feature};
            pt2_matrix_view w_tap = {pw + k * weight.strides[0], weight.strides[3], weight.strides[2]};
            if ((st = pt2_parallel_gemm_matrix(arena, net->threads, end - first, out_features, in_features, a, w_tap,
                                               ob + (first * stride + shift) * out_features, stride * out_features, 1,
                                               NULL, NULL, err)))
                return st;
        }
    }
    return PT2_OK;
}

const pt2_rt_layer_class pt2_rt_layers_conv[] = {
    {"conv", conv_infer, conv_compute},
    {"transposed_conv", transposed_conv_infer, transposed_conv_compute},
    {NULL, NULL, NULL}};
