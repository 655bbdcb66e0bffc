/* 1-D convolutions with PyTorch semantics: conv1d (stride, padding incl. "same"/"valid",
 * dilation, groups) and conv_transpose1d (stride, padding, output_padding, groups, dilation).
 * Portable loops whose inner loop runs along time, so the compiler vectorises them. */
#include <string.h>

#include "../lower/lower.h"
#include "backend_xnnpack.h"
#include "op_util.h"
#include "registry.h"

typedef struct conv_params {
    int64_t stride, dilation, groups, pad_left, pad_right, output_padding;
} conv_params;

static pt2_status single_int(pt2_run_context *ctx, const pt2_node *node, const char *name, int64_t *out,
                             pt2_error *err) {
    int64_t values[4];
    size_t count;
    pt2_status st = pt2_op_ints(ctx, node, name, values, 4, &count, err);
    if (st) return st;
    if (count != 1) return pt2_fail(err, PT2_ERR_UNSUPPORTED, "'%s' must have one entry for a 1-D convolution", name);
    *out = values[0];
    return PT2_OK;
}

static pt2_status read_params(pt2_run_context *ctx, const pt2_node *node, int64_t kernel, int transposed,
                              conv_params *p, pt2_error *err) {
    memset(p, 0, sizeof *p);
    pt2_status st = single_int(ctx, node, "stride", &p->stride, err);
    if (!st) st = single_int(ctx, node, "dilation", &p->dilation, err);
    if (!st) st = pt2_op_int(ctx, node, "groups", &p->groups, err);
    if (st) return st;
    const pt2_arg *padding = pt2_node_arg(node, "padding");
    if (padding && padding->kind == PT2_ARG_STRING) {
        if (!strcmp(padding->string, "valid")) return PT2_OK;
        if (strcmp(padding->string, "same") != 0)
            return pt2_fail(err, PT2_ERR_INPUT, "padding '%s' is neither 'same' nor 'valid'", padding->string);
        /* PyTorch puts the odd extra frame on the right. */
        int64_t total = p->dilation * (kernel - 1);
        p->pad_left = total / 2;
        p->pad_right = total - p->pad_left;
        return PT2_OK;
    }
    if ((st = single_int(ctx, node, "padding", &p->pad_left, err))) return st;
    p->pad_right = p->pad_left;
    if (transposed && (st = single_int(ctx, node, "output_padding", &p->output_padding, err))) return st;
    if (p->stride < 1 || p->dilation < 1 || p->groups < 1 || p->pad_left < 0)
        return pt2_fail(err, PT2_ERR_INPUT, "invalid convolution parameters");
    return PT2_OK;
}

static pt2_status run_conv1d(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x, w, b, out;
    int has_bias;
    pt2_status st = pt2_op_input_weight_bias(ctx, node, &x, &w, &b, &has_bias, err);
    if (st) return st;
    if (x.rank != 3 || w.rank != 3) return pt2_fail(err, PT2_ERR_UNSUPPORTED, "conv1d expects [batch, channels, time] input");
    conv_params p;
    if ((st = read_params(ctx, node, w.shape[2], 0, &p, err))) return st;
    int64_t batch = x.shape[0], in_channels = x.shape[1], time = x.shape[2];
    int64_t out_channels = w.shape[0], group_in = w.shape[1], kernel = w.shape[2];
    if (group_in * p.groups != in_channels || out_channels % p.groups)
        return pt2_fail(err, PT2_ERR_INPUT, "conv1d weight [%lld, %lld, %lld] does not fit %lld input channels in %lld groups",
                        (long long)out_channels, (long long)group_in, (long long)kernel, (long long)in_channels,
                        (long long)p.groups);
    int64_t span = p.dilation * (kernel - 1) + 1;
    int64_t padded = time + p.pad_left + p.pad_right;
    int64_t out_time = padded >= span ? (padded - span) / p.stride + 1 : 0;
    int64_t shape[3] = {batch, out_channels, out_time};
    if ((st = pt2_op_new_float(ctx, 3, shape, &out, err))) return st;
    const float *px = pt2_f32(&x), *pw = pt2_f32(&w), *pb = has_bias ? pt2_f32(&b) : NULL;
    float *po = pt2_f32(&out);
    pt2_conv1d_shape shape_info = {batch, in_channels, time, out_channels, kernel, out_time,
                                   p.stride, p.dilation, p.groups, p.pad_left, p.pad_right, 0};
    int handled;
    if ((st = pt2_xnn_conv1d(ctx, &shape_info, px, pw, pb, po, &handled, err))) return st;
    if (handled) return pt2_op_set_output(ctx, node, 0, &out, err);
    int64_t group_out = out_channels / p.groups;
    for (int64_t n = 0; n < batch; n++)
        for (int64_t o = 0; o < out_channels; o++) {
            float *restrict row = po + (n * out_channels + o) * out_time;
            float bias = pb ? pb[o] : 0.0f;
            for (int64_t t = 0; t < out_time; t++) row[t] = bias;
            int64_t g = o / group_out;
            for (int64_t c = 0; c < group_in; c++) {
                const float *restrict in = px + (n * in_channels + g * group_in + c) * time;
                for (int64_t k = 0; k < kernel; k++) {
                    float weight = pw[(o * group_in + c) * kernel + k];
                    /* Output t reads input t*stride + k*dilation - pad_left; keep it inside [0, time). */
                    int64_t shift = k * p.dilation - p.pad_left;
                    int64_t t0 = shift >= 0 ? 0 : (-shift + p.stride - 1) / p.stride;
                    int64_t t1 = time - shift <= 0 ? 0 : (time - shift - 1) / p.stride + 1;
                    if (t1 > out_time) t1 = out_time;
                    if (p.stride == 1)
                        for (int64_t t = t0; t < t1; t++) row[t] += weight * in[t + shift];
                    else
                        for (int64_t t = t0; t < t1; t++) row[t] += weight * in[t * p.stride + shift];
                }
            }
        }
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

static pt2_status run_conv_transpose1d(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x, w, b, out;
    int has_bias;
    pt2_status st = pt2_op_input_weight_bias(ctx, node, &x, &w, &b, &has_bias, err);
    if (st) return st;
    if (x.rank != 3 || w.rank != 3)
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "conv_transpose1d expects [batch, channels, time] input");
    conv_params p;
    if ((st = read_params(ctx, node, w.shape[2], 1, &p, err))) return st;
    int64_t batch = x.shape[0], in_channels = x.shape[1], time = x.shape[2];
    int64_t group_out = w.shape[1], kernel = w.shape[2], out_channels = group_out * p.groups;
    int64_t group_in = in_channels / p.groups;
    if (w.shape[0] != in_channels || in_channels % p.groups)
        return pt2_fail(err, PT2_ERR_INPUT, "conv_transpose1d weight does not fit %lld input channels", (long long)in_channels);
    int64_t out_time = (time - 1) * p.stride - 2 * p.pad_left + p.dilation * (kernel - 1) + p.output_padding + 1;
    if (out_time < 0) out_time = 0;
    int64_t shape[3] = {batch, out_channels, out_time};
    if ((st = pt2_op_new_float(ctx, 3, shape, &out, err))) return st;
    const float *px = pt2_f32(&x), *pw = pt2_f32(&w), *pb = has_bias ? pt2_f32(&b) : NULL;
    float *po = pt2_f32(&out);
    pt2_conv1d_shape shape_info = {batch, in_channels, time, out_channels, kernel, out_time,
                                   p.stride, p.dilation, p.groups, p.pad_left, p.pad_left, p.output_padding};
    int handled;
    if ((st = pt2_xnn_conv_transpose1d(ctx, &shape_info, px, pw, pb, po, &handled, err))) return st;
    if (handled) return pt2_op_set_output(ctx, node, 0, &out, err);
    for (int64_t n = 0; n < batch; n++)
        for (int64_t g = 0; g < p.groups; g++)
            for (int64_t oc = 0; oc < group_out; oc++) {
                int64_t o = g * group_out + oc;
                float *restrict row = po + (n * out_channels + o) * out_time;
                float bias = pb ? pb[o] : 0.0f;
                for (int64_t j = 0; j < out_time; j++) row[j] = bias;
                for (int64_t ic = 0; ic < group_in; ic++) {
                    int64_t c = g * group_in + ic;
                    const float *restrict in = px + (n * in_channels + c) * time;
                    for (int64_t k = 0; k < kernel; k++) {
                        float weight = pw[(c * group_out + oc) * kernel + k];
                        /* Input t lands on output t*stride + k*dilation - pad. */
                        int64_t shift = k * p.dilation - p.pad_left;
                        for (int64_t t = 0; t < time; t++) {
                            int64_t j = t * p.stride + shift;
                            if (j >= 0 && j < out_time) row[j] += weight * in[t];
                        }
                    }
                }
            }
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

const pt2_op_def pt2_ops_conv[] = {
    {"aten.conv1d.default", run_conv1d},
    {"aten.conv1d.padding", run_conv1d},
    {"aten.conv_transpose1d.default", run_conv_transpose1d},
    {NULL, NULL}};

/* conv1d -> RETURNN "conv" on the input's feature (channel) dim over its time dim.
 * RETURNN's integer padding pads both sides then runs VALID, as PyTorch's padding=p does;
 * the weight goes from PyTorch's [out, in/groups, k] to TF's [k, in/groups, out]. */
static pt2_status lower_conv1d(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    pt2_tensor weight, bias;
    int has_weight, has_bias;
    pt2_status st = pt2_lower_input(ctx, node, "input", &in, err);
    if (!st) st = pt2_lower_constant(ctx, node, "weight", &weight, &has_weight, err);
    if (!st) st = pt2_lower_constant(ctx, node, "bias", &bias, &has_bias, err);
    if (st) return st;
    if (!has_weight || weight.rank != 3 || in->rank != 3 || ctx->net->dims[in->dims[1]].kind != PT2_RT_DIM_FEATURE ||
        ctx->net->dims[in->dims[2]].kind != PT2_RT_DIM_TIME)
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "node '%s': conv1d is lowered for [batch, feature, time] inputs only",
                        node->name);
    conv_params p;
    if ((st = read_params((pt2_run_context *)ctx->run, node, weight.shape[2], 0, &p, err))) return st;
    if (p.pad_left != p.pad_right)
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "node '%s': asymmetric padding is not lowered yet", node->name);
    pt2_rt_layer *layer;
    if ((st = pt2_lower_new_layer(ctx, node, "conv", in, &layer, err))) return st;
    int64_t kernel = weight.shape[2], stride = p.stride, dilation = p.dilation;
    if ((st = pt2_rt_set_int_list(ctx->arena, layer, "filter_size", &kernel, 1, err))) return st;
    if (p.pad_left)
        pt2_rt_set_int(layer, "padding", p.pad_left);
    else
        pt2_rt_set_string(layer, "padding", "valid");
    if ((st = pt2_rt_set_int_list(ctx->arena, layer, "strides", &stride, 1, err))) return st;
    if ((st = pt2_rt_set_int_list(ctx->arena, layer, "dilation_rate", &dilation, 1, err))) return st;
    if (p.groups != 1) pt2_rt_set_int(layer, "groups", p.groups);
    pt2_rt_set_int(layer, "n_out", weight.shape[0]);
    pt2_rt_set_bool(layer, "with_bias", has_bias);
    /* The conv's output time dim is created by RETURNN itself, so later layers name the time
     * axis by description ("T") rather than by a dim variable of ours. */
    if ((st = pt2_rt_set_string_list(ctx->arena, layer, "in_spatial_dims", "T", err))) return st;
    pt2_rt_set_string(layer, "activation", NULL);
    /* W: [out, in/groups, k] -> [k, in/groups, out], as a strided view the writer makes contiguous. */
    pt2_tensor w = weight;
    w.shape[0] = weight.shape[2];
    w.shape[2] = weight.shape[0];
    w.strides[0] = weight.strides[2];
    w.strides[2] = weight.strides[0];
    if ((st = pt2_rt_add_param(layer, "W", &w, err))) return st;
    if (has_bias && (st = pt2_rt_add_param(layer, "bias", &bias, err))) return st;
    int dims[3] = {in->dims[0], 0, 0};
    const char *feature = pt2_arena_printf(ctx->arena, err, "%s_out_dim", layer->name);
    const char *time = pt2_arena_printf(ctx->arena, err, "%s_time_dim", layer->name);
    if (!feature || !time) return err->status;
    if ((st = pt2_rt_add_dim(ctx->arena, ctx->net, feature, feature, PT2_RT_DIM_FEATURE, weight.shape[0], &dims[1], err)))
        return st;
    if ((st = pt2_rt_add_dim(ctx->arena, ctx->net, time, time, PT2_RT_DIM_TIME, -1, &dims[2], err))) return st;
    return pt2_lower_set_output(ctx, node, layer, 3, dims, err);
}

const pt2_op_lowering pt2_lowerings_conv[] = {{"aten.conv1d.default", lower_conv1d}, {NULL, NULL}};
