/* Lowering of 1-D convolutions: conv1d -> RETURNN "conv", conv_transpose1d -> "transposed_conv",
 * on the channel axis as RETURNN's feature dim over the time axis, in whatever order the axis
 * map has them (a channel-first PyTorch tensor needs no transpose layer). */
#include <string.h>

#include "axes.h"
#include "../ops/conv_params.h"
#include "lowerings.h"
#include "../naming/naming.h"

/* [batch, channel, time] in PyTorch's order: the channel axis is made the feature dim (the axis
 * map adds the layer for it), the time axis is the one conv slides over. */
static pt2_status channel_input(pt2_lower_context *ctx, const pt2_node *node, pt2_lowered_value *storage,
                                const pt2_lowered_value **in, pt2_error *err) {
    const pt2_lowered_value *v;
    pt2_status st = pt2_lower_input(ctx, node, "input", &v, err);
    if (st) return st;
    if (!v || v->rank != 3 || ctx->net->dims[v->dims[2]].kind != PT2_RT_DIM_DYNAMIC ||
        ctx->net->dims[v->dims[0]].kind != PT2_RT_DIM_BATCH)
        return pt2_lower_fail(node, err, "lowered for [batch, channel, time] data from a layer only");
    return pt2_axes_require_feature(ctx, node, v, 1, storage, in, err);
}

static pt2_status finish(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in, pt2_rt_layer *layer,
                         pt2_error *err) {
    const char *time_axis;
    pt2_status st = pt2_axes_describe(ctx, node, in, 2, &time_axis, err);
    if (!st) st = pt2_rt_set_string_list(ctx->arena, layer, "in_spatial_dims", &time_axis, 1, err);
    if (!st) st = pt2_rt_set_none(layer, "activation", err);
    /* In a padded batch the frames after a sequence's end hold whatever the layer before left
     * there; the conv's own padding (and a transposed conv's overlap) must read zeros there, as
     * PyTorch's padding does on the sequence alone. */
    if (!st) st = pt2_rt_set_bool(layer, "use_time_mask", 1, err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    int time = -1;
    for (int a = 0; a < layer->shape.rank; a++)
        if (ctx->net->dims[layer->shape.dims[a]].kind == PT2_RT_DIM_DYNAMIC) time = layer->shape.dims[a];
    int dims[3] = {in->dims[0], layer->shape.feature_dim, time};
    return pt2_lower_set_output(ctx, node, layer, 3, dims, err);
}

/* The data, the constant weight (and bias) and the arguments, as the run reads them. */
typedef struct conv_operands {
    pt2_lowered_value in_value;
    const pt2_lowered_value *in;
    pt2_tensor weight, bias;
    int has_bias;
    pt2_conv_params_1d p;
} conv_operands;

static pt2_status read_operands(pt2_lower_context *ctx, const pt2_node *node, int transposed, conv_operands *o,
                                pt2_error *err) {
    int has_weight;
    pt2_status st = channel_input(ctx, node, &o->in_value, &o->in, err);
    if (!st) st = pt2_lower_constant(ctx, node, "weight", &o->weight, &has_weight, err);
    if (!st) st = pt2_lower_constant(ctx, node, "bias", &o->bias, &o->has_bias, err);
    if (st) return st;
    if (!has_weight || o->weight.rank != 3) return pt2_lower_fail(node, err, "expected a constant weight of rank 3");
    return pt2_conv_read_params_1d(ctx->run, node, o->weight.shape[2], transposed, &o->p, err);
}

/* RETURNN's integer padding pads both sides then runs VALID, as PyTorch's padding=p does;
 * the weight goes from PyTorch's [out, in/groups, k] to TF's [k, in/groups, out]. */
static pt2_status lower_conv1d(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    conv_operands o;
    pt2_status st = read_operands(ctx, node, 0, &o, err);
    if (st) return st;
    const pt2_lowered_value *in = o.in;
    pt2_tensor weight = o.weight, bias = o.bias;
    int has_bias = o.has_bias;
    pt2_conv_params_1d p = o.p;
    if (p.pad_left != p.pad_right)
        return pt2_lower_fail(node, err, "asymmetric padding (%lld, %lld) is not lowered yet", (long long)p.pad_left,
                              (long long)p.pad_right);
    pt2_rt_layer *layer;
    int64_t kernel = weight.shape[2];
    if ((st = pt2_lower_new_layer(ctx, node, "conv", &layer, err))) return st;
    if (!st) st = pt2_lower_add_source(ctx, layer, in, err);
    if (!st) st = pt2_rt_set_int_list(ctx->arena, layer, "filter_size", &kernel, 1, err);
    if (!st) st = p.pad_left ? pt2_rt_set_int(layer, "padding", p.pad_left, err) : pt2_rt_set_string(layer, "padding", "valid", err);
    if (!st) st = pt2_rt_set_int_list(ctx->arena, layer, "strides", &p.stride, 1, err);
    if (!st) st = pt2_rt_set_int_list(ctx->arena, layer, "dilation_rate", &p.dilation, 1, err);
    if (!st && p.groups != 1) st = pt2_rt_set_int(layer, "groups", p.groups, err);
    if (!st) st = pt2_rt_set_int(layer, "n_out", weight.shape[0], err);
    if (!st) st = pt2_rt_set_bool(layer, "with_bias", has_bias, err);
    if (st) return st;
    pt2_tensor w = weight; /* a strided view; the checkpoint writer makes it contiguous */
    w.shape[0] = weight.shape[2], w.strides[0] = weight.strides[2];
    w.shape[2] = weight.shape[0], w.strides[2] = weight.strides[0];
    if ((st = pt2_rt_add_param(layer, "W", &w, err))) return st;
    if (has_bias && (st = pt2_rt_add_param(layer, "bias", &bias, err))) return st;
    return finish(ctx, node, in, layer, err);
}

/* PyTorch: out = (T-1)*s - 2p + (k-1) + output_padding + 1. RETURNN's "valid" transposed_conv
 * with output_padding gives T*s + k - s + output_padding; PyTorch's padding p then cuts p frames
 * off each end. Weight [in, out, k] -> [k, 1, out, in]; RETURNN has no groups or dilation, which
 * become the plain filter they equal (dense_transposed_filter).
 *
 * The cut is not transposed_conv's remove_padding: that makes the length -p + Y, whose constant
 * RETURNN's dim arithmetic keeps apart from the -p + Y a later pad and conv make (a residual
 * branch), so a residual add cannot join its branch and shortcut in a JSON config. Instead an
 * eval rolls the frames p back and a slice drops the last 2p: the length Y - 2p, from which a
 * symmetric pad and a valid conv come back to the very same dim. */
static pt2_status add_crop(pt2_lower_context *ctx, const pt2_node *node, size_t upsampled, int64_t p, pt2_error *err) {
    const pt2_node_place *place = &ctx->places[node - ctx->graph->nodes];
    const pt2_rt_layer *up = &ctx->net->layers[upsampled];
    pt2_lowered_value full = {.is_set = 1, .layer = up->name, .shape = up->shape, .rank = 3,
                              .dims = {up->shape.dims[0], up->shape.dims[2], up->shape.dims[1]}};
    const char *roll_base = pt2_arena_printf(ctx->arena, err, "%s_roll", place->base);
    const char *crop_base = pt2_arena_printf(ctx->arena, err, "%s_crop", place->base);
    const char *form = pt2_rt_eval_form("roll_time_back");
    char number[40];
    pt2_format_double(number, sizeof number, (double)p);
    const char *code = form ? pt2_arena_printf(ctx->arena, err, form, number) : NULL;
    if (!roll_base || !crop_base || !code) return err->status ? err->status : pt2_fail(err, PT2_ERR_INTERNAL, "no roll form");
    pt2_rt_layer *roll, *crop;
    pt2_status st = pt2_lower_new_layer_named(ctx, node, roll_base, "eval", &roll, err);
    if (!st) st = pt2_lower_add_source(ctx, roll, &full, err);
    if (!st) st = pt2_rt_set_string(roll, "eval", code, err);
    if (!st) st = pt2_lower_infer(ctx, node, roll, err);
    if (st) return st;
    pt2_lowered_value rolled = full;
    rolled.layer = roll->name;
    rolled.shape = roll->shape;
    if ((st = pt2_lower_new_layer_named(ctx, node, crop_base, "slice", &crop, err))) return st;
    st = pt2_lower_add_source(ctx, crop, &rolled, err);
    if (!st) st = pt2_rt_set_string(crop, "axis", "T", err);
    if (!st) st = pt2_rt_set_int(crop, "slice_start", 0, err);
    if (!st) st = pt2_rt_set_int(crop, "slice_end", -2 * p, err);
    if (!st) st = pt2_lower_infer(ctx, node, crop, err);
    if (st) return st;
    /* The slice holds the node's value (the per-layer check compares it), not the transposed conv. */
    crop->node = (int)(node - ctx->graph->nodes);
    ctx->net->layers[upsampled].node = -1;
    int dims[3] = {crop->shape.dims[0], crop->shape.feature_dim, pt2_rt_shape_axis(&crop->shape, crop->shape.feature_dim) == 1
                                                                      ? crop->shape.dims[2] : crop->shape.dims[1]};
    return pt2_lower_set_output(ctx, node, crop, 3, dims, err);
}

/* RETURNN's transposed_conv has no groups or dilation; both are a plain filter:
 * [K0, K1, out, in] with K = d (k - 1) + 1 (the taps d apart, zeros between) and, per group,
 * its block of (out / groups) x (in / groups) channels (zeros across groups). PyTorch's weight is
 * [in, out / groups, k0 (, k1)]; `spatial` 1 gives K1 = 1. */
static pt2_status dense_transposed_filter(pt2_lower_context *ctx, const pt2_tensor *weight, int spatial, int64_t groups,
                                          const int64_t *dilation, pt2_tensor *out, pt2_error *err) {
    pt2_tensor dense;
    pt2_status st = pt2_tensor_contiguous(ctx->arena, weight, 0, &dense, err);
    if (st) return st;
    int64_t in = weight->shape[0], group_out = weight->shape[1], group_in = in / groups;
    int64_t k0 = weight->shape[2], k1 = spatial == 2 ? weight->shape[3] : 1, d1 = spatial == 2 ? dilation[1] : 1;
    int64_t shape[4] = {dilation[0] * (k0 - 1) + 1, d1 * (k1 - 1) + 1, group_out * groups, in};
    if ((st = pt2_tensor_alloc(ctx->arena, PT2_DTYPE_FLOAT32, 4, shape, out, err))) return st;
    const float *pw = pt2_tensor_data(&dense);
    float *po = pt2_tensor_data(out);
    for (int64_t c = 0; c < in; c++)
        for (int64_t o = 0; o < group_out; o++)
            for (int64_t a = 0; a < k0; a++)
                for (int64_t b = 0; b < k1; b++) {
                    int64_t full_o = (c / group_in) * group_out + o;
                    po[(((a * dilation[0]) * shape[1] + b * d1) * shape[2] + full_o) * in + c] = pw[((c * group_out + o) * k0 + a) * k1 + b];
                }
    return PT2_OK;
}

static pt2_status lower_conv_transpose1d(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    conv_operands o;
    pt2_status st = read_operands(ctx, node, 1, &o, err);
    if (st) return st;
    const pt2_lowered_value *in = o.in;
    pt2_tensor weight = o.weight, bias = o.bias;
    int has_bias = o.has_bias;
    pt2_conv_params_1d p = o.p;
    if (p.pad_left != p.pad_right) return pt2_lower_fail(node, err, "asymmetric padding is not lowered");
    pt2_tensor w = weight; /* [in, out, k] viewed as [k, 1, out, in] */
    w.rank = 4;
    w.shape[0] = weight.shape[2], w.strides[0] = weight.strides[2];
    w.shape[1] = 1, w.strides[1] = 0;
    w.shape[2] = weight.shape[1], w.strides[2] = weight.strides[1];
    w.shape[3] = weight.shape[0], w.strides[3] = weight.strides[0];
    if ((p.groups != 1 || p.dilation != 1) && (st = dense_transposed_filter(ctx, &weight, 1, p.groups, &p.dilation, &w, err)))
        return st;
    pt2_rt_layer *layer;
    int64_t kernel = w.shape[0], no_removal = 0;
    if ((st = pt2_lower_new_layer(ctx, node, "transposed_conv", &layer, err))) return st;
    if (!st) st = pt2_lower_add_source(ctx, layer, in, err);
    if (!st) st = pt2_rt_set_int_list(ctx->arena, layer, "filter_size", &kernel, 1, err);
    if (!st) st = pt2_rt_set_int_list(ctx->arena, layer, "strides", &p.stride, 1, err);
    if (!st) st = pt2_rt_set_string(layer, "padding", "valid", err);
    if (!st) st = pt2_rt_set_int_list(ctx->arena, layer, "output_padding", &p.output_padding, 1, err);
    if (!st) st = pt2_rt_set_int_list(ctx->arena, layer, "remove_padding", &no_removal, 1, err);
    if (!st) st = pt2_rt_set_int(layer, "n_out", w.shape[2], err);
    if (!st) st = pt2_rt_set_bool(layer, "with_bias", has_bias, err);
    if (st) return st;
    if ((st = pt2_rt_add_param(layer, "W_native_transposed_conv", &w, err))) return st;
    if (has_bias && (st = pt2_rt_add_param(layer, "bias", &bias, err))) return st;
    if (!p.pad_left) return finish(ctx, node, in, layer, err);
    size_t upsampled = (size_t)(layer - ctx->net->layers);
    const char *time_axis;
    st = pt2_axes_describe(ctx, node, in, 2, &time_axis, err);
    if (!st) st = pt2_rt_set_string_list(ctx->arena, layer, "in_spatial_dims", &time_axis, 1, err);
    if (!st) st = pt2_rt_set_none(layer, "activation", err);
    if (!st) st = pt2_rt_set_bool(layer, "use_time_mask", 1, err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    return st ? st : add_crop(ctx, node, upsampled, p.pad_left, err);
}

/* ---- 2-D: conv2d / conv_transpose2d on [batch, channel, H, W] in any axis order: the channel
 * axis is made the feature dim, H and W are in_spatial_dims (either may be the time). ---- */

typedef struct conv2d_operands {
    pt2_lowered_value storage;
    const pt2_lowered_value *in;
    const char *spatial[2];
    int any_dynamic; /* a spatial axis is the time: mask after each sequence's end */
    pt2_tensor weight, bias;
    int has_bias;
    pt2_conv_params_2d p;
} conv2d_operands;

static pt2_status read_operands_2d(pt2_lower_context *ctx, const pt2_node *node, int transposed, conv2d_operands *o,
                                   pt2_error *err) {
    const pt2_lowered_value *v;
    int has_weight;
    pt2_status st = pt2_lower_input(ctx, node, "input", &v, err);
    if (!st && (!v || v->rank != 4 || ctx->net->dims[v->dims[0]].kind != PT2_RT_DIM_BATCH))
        return pt2_lower_fail(node, err, "lowered for [batch, channel, H, W] data from a layer");
    if (!st) st = pt2_lower_constant(ctx, node, "weight", &o->weight, &has_weight, err);
    if (!st) st = pt2_lower_constant(ctx, node, "bias", &o->bias, &o->has_bias, err);
    if (st) return st;
    if (!has_weight || o->weight.rank != 4) return pt2_lower_fail(node, err, "expected a constant weight of rank 4");
    int64_t kernel[2] = {o->weight.shape[2], o->weight.shape[3]};
    if ((st = pt2_conv_read_params_2d(ctx->run, node, kernel, transposed, &o->p, err))) return st;
    if ((st = pt2_axes_require_feature(ctx, node, v, 1, &o->storage, &o->in, err))) return st;
    o->any_dynamic = 0;
    for (int i = 0; i < 2; i++) {
        if ((st = pt2_axes_describe(ctx, node, o->in, 2 + i, &o->spatial[i], err))) return st;
        o->any_dynamic |= ctx->net->dims[o->in->dims[2 + i]].kind == PT2_RT_DIM_DYNAMIC;
    }
    return PT2_OK;
}

/* The options both 2-D classes share, the check of the layer's dims, and the output map: the
 * layer's output ends [.., H', W', channels]. */
static pt2_status finish_2d(pt2_lower_context *ctx, const pt2_node *node, const conv2d_operands *o, pt2_rt_layer *layer,
                            pt2_error *err) {
    pt2_status st = pt2_rt_set_string_list(ctx->arena, layer, "in_spatial_dims", o->spatial, 2, err);
    if (!st) st = pt2_rt_set_none(layer, "activation", err);
    /* On a padded batch the frames after a sequence's end hold what the layer before left there;
     * the padding (and a transposed conv's overlap) must read zeros, as PyTorch does on the
     * sequence alone. */
    if (!st && o->any_dynamic) st = pt2_rt_set_bool(layer, "use_time_mask", 1, err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    int r = layer->shape.rank;
    int dims[4] = {o->in->dims[0], layer->shape.dims[r - 1], layer->shape.dims[r - 3], layer->shape.dims[r - 2]};
    return pt2_lower_set_output(ctx, node, layer, 4, dims, err);
}

/* A dilated filter as the plain filter it equals: taps d apart with zeros between, [kh, kw, i, o]
 * -> [d0 (kh-1) + 1, d1 (kw-1) + 1, i, o]. RETURNN runs a dilated conv with stride 1 through
 * tf.nn.convolution, whose SpaceToBatchND loses the static size of the other spatial axis, and
 * RETURNN then refuses its own output ("Mismatching shape"); a depthwise conv with stride and
 * dilation is refused by TF. The plain filter takes TF's direct path in every case and computes
 * the same sums. */
static pt2_status undilate_filter(pt2_lower_context *ctx, const pt2_tensor *w, const int64_t *dilation, pt2_tensor *out,
                                  pt2_error *err) {
    pt2_tensor dense;
    pt2_status st = pt2_tensor_contiguous(ctx->arena, w, 0, &dense, err);
    if (st) return st;
    int64_t kh = w->shape[0], kw = w->shape[1], inner = w->shape[2] * w->shape[3];
    int64_t shape[4] = {dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1, w->shape[2], w->shape[3]};
    if ((st = pt2_tensor_alloc(ctx->arena, PT2_DTYPE_FLOAT32, 4, shape, out, err))) return st;
    float *po = pt2_tensor_data(out);
    const float *pw = pt2_tensor_data(&dense);
    for (int64_t a = 0; a < kh; a++)
        for (int64_t b = 0; b < kw; b++)
            memcpy(po + ((a * dilation[0]) * shape[1] + b * dilation[1]) * inner, pw + (a * kw + b) * inner,
                   sizeof(float) * (size_t)inner);
    return PT2_OK;
}

/* padding p per axis (both sides alike): RETURNN's int padding, or one int per spatial dim; PyTorch's
 * padding="same" with an even span pads one more after, which TF's SAME does too (stride 1, as
 * PyTorch requires for "same"). groups: RETURNN's groups (depthwise when groups = channels); the
 * weight [out, in/groups, kh, kw] -> [kh, kw, in/groups, out] in both cases. */
static pt2_status lower_conv2d(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    conv2d_operands o;
    pt2_status st = read_operands_2d(ctx, node, 0, &o, err);
    if (st) return st;
    const pt2_conv_params_2d *p = &o.p;
    int symmetric = p->pad_before[0] == p->pad_after[0] && p->pad_before[1] == p->pad_after[1];
    if (!symmetric && !p->same)
        return pt2_lower_fail(node, err, "asymmetric padding (%lld, %lld), (%lld, %lld) is not lowered",
                              (long long)p->pad_before[0], (long long)p->pad_after[0], (long long)p->pad_before[1],
                              (long long)p->pad_after[1]);
    pt2_tensor w = o.weight; /* [out, in/groups, kh, kw] viewed as [kh, kw, in/groups, out] */
    w.shape[0] = o.weight.shape[2], w.strides[0] = o.weight.strides[2];
    w.shape[1] = o.weight.shape[3], w.strides[1] = o.weight.strides[3];
    w.shape[2] = o.weight.shape[1], w.strides[2] = o.weight.strides[1];
    w.shape[3] = o.weight.shape[0], w.strides[3] = o.weight.strides[0];
    int64_t dilation[2] = {p->dilation[0], p->dilation[1]};
    if (dilation[0] > 1 || dilation[1] > 1) {
        pt2_tensor plain;
        if ((st = undilate_filter(ctx, &w, dilation, &plain, err))) return st;
        w = plain;
        dilation[0] = dilation[1] = 1;
    }
    int64_t kernel[2] = {w.shape[0], w.shape[1]};
    pt2_rt_layer *layer;
    if ((st = pt2_lower_new_layer(ctx, node, "conv", &layer, err))) return st;
    if (!st) st = pt2_lower_add_source(ctx, layer, o.in, err);
    if (!st) st = pt2_rt_set_int_list(ctx->arena, layer, "filter_size", kernel, 2, err);
    if (!st) {
        if (!symmetric) st = pt2_rt_set_string(layer, "padding", "same", err);
        else if (!p->pad_before[0] && !p->pad_before[1]) st = pt2_rt_set_string(layer, "padding", "valid", err);
        else if (p->pad_before[0] == p->pad_before[1]) st = pt2_rt_set_int(layer, "padding", p->pad_before[0], err);
        else st = pt2_rt_set_int_list(ctx->arena, layer, "padding", p->pad_before, 2, err);
    }
    if (!st) st = pt2_rt_set_int_list(ctx->arena, layer, "strides", p->stride, 2, err);
    if (!st) st = pt2_rt_set_int_list(ctx->arena, layer, "dilation_rate", dilation, 2, err);
    if (!st && p->groups != 1) st = pt2_rt_set_int(layer, "groups", p->groups, err);
    if (!st) st = pt2_rt_set_int(layer, "n_out", o.weight.shape[0], err);
    if (!st) st = pt2_rt_set_bool(layer, "with_bias", o.has_bias, err);
    if (st) return st;
    if ((st = pt2_rt_add_param(layer, "W", &w, err))) return st;
    if (o.has_bias && (st = pt2_rt_add_param(layer, "bias", &o.bias, err))) return st;
    return finish_2d(ctx, node, &o, layer, err);
}

/* conv_transpose2d: RETURNN's "valid" transposed_conv with output_padding gives the full
 * (n-1)*s + k + output_padding per axis; PyTorch's padding p cuts p off both ends, which is
 * transposed_conv's remove_padding. Weight [in, out, kh, kw] -> [kh, kw, out, in]; groups and
 * dilation as the plain filter they equal. */
static pt2_status lower_conv_transpose2d(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    conv2d_operands o;
    pt2_status st = read_operands_2d(ctx, node, 1, &o, err);
    if (st) return st;
    const pt2_conv_params_2d *p = &o.p;
    pt2_tensor w = o.weight; /* [in, out, kh, kw] viewed as [kh, kw, out, in] */
    w.shape[0] = o.weight.shape[2], w.strides[0] = o.weight.strides[2];
    w.shape[1] = o.weight.shape[3], w.strides[1] = o.weight.strides[3];
    w.shape[2] = o.weight.shape[1], w.strides[2] = o.weight.strides[1];
    w.shape[3] = o.weight.shape[0], w.strides[3] = o.weight.strides[0];
    if ((p->groups != 1 || p->dilation[0] != 1 || p->dilation[1] != 1) &&
        (st = dense_transposed_filter(ctx, &o.weight, 2, p->groups, p->dilation, &w, err)))
        return st;
    int64_t kernel[2] = {w.shape[0], w.shape[1]};
    pt2_rt_layer *layer;
    if ((st = pt2_lower_new_layer(ctx, node, "transposed_conv", &layer, err))) return st;
    if (!st) st = pt2_lower_add_source(ctx, layer, o.in, err);
    if (!st) st = pt2_rt_set_int_list(ctx->arena, layer, "filter_size", kernel, 2, err);
    if (!st) st = pt2_rt_set_int_list(ctx->arena, layer, "strides", p->stride, 2, err);
    if (!st) st = pt2_rt_set_string(layer, "padding", "valid", err);
    if (!st) st = pt2_rt_set_int_list(ctx->arena, layer, "output_padding", p->output_padding, 2, err);
    if (!st) st = pt2_rt_set_int_list(ctx->arena, layer, "remove_padding", p->pad_before, 2, err);
    if (!st) st = pt2_rt_set_int(layer, "n_out", w.shape[2], err);
    if (!st) st = pt2_rt_set_bool(layer, "with_bias", o.has_bias, err);
    if (st) return st;
    if ((st = pt2_rt_add_param(layer, "W_native_transposed_conv", &w, err))) return st;
    if (o.has_bias && (st = pt2_rt_add_param(layer, "bias", &o.bias, err))) return st;
    return finish_2d(ctx, node, &o, layer, err);
}

/* aten.convolution covers all of them: the weight's rank says 1-D or 2-D, `transposed` which kind. */
static pt2_status lower_convolution(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor weight;
    int has_weight, transposed;
    pt2_status st = pt2_lower_constant(ctx, node, "weight", &weight, &has_weight, err);
    if (!st) st = pt2_op_bool(ctx->run, node, "transposed", &transposed, err);
    if (st) return st;
    if (!has_weight || (weight.rank != 3 && weight.rank != 4))
        return pt2_lower_fail(node, err, "expected a constant weight of rank 3 or 4");
    if (weight.rank == 3) return transposed ? lower_conv_transpose1d(ctx, node, err) : lower_conv1d(ctx, node, err);
    return transposed ? lower_conv_transpose2d(ctx, node, err) : lower_conv2d(ctx, node, err);
}

const pt2_op_lowering pt2_lowerings_conv[] = {
    {"aten.conv2d.default", lower_conv2d, "conv reinterpret_data"},
    {"aten.conv1d.default", lower_conv1d, "conv reinterpret_data"},
    {"aten.conv1d.padding", lower_conv1d, "conv reinterpret_data"},
    {"aten.conv_transpose1d.default", lower_conv_transpose1d, "transposed_conv reinterpret_data eval:roll_time_back slice"},
    /* conv2d (issue 13): groups, "same", per-axis padding; transposed 2-D; aten.convolution */
    {"aten.conv2d.padding", lower_conv2d, "conv reinterpret_data"},
    {"aten.conv_transpose2d.input", lower_conv_transpose2d, "transposed_conv reinterpret_data"},
    {"aten.convolution.default", lower_convolution, "conv transposed_conv reinterpret_data eval:roll_time_back slice"},
    {NULL, NULL, NULL}};
