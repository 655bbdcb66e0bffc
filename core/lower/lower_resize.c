/* Lowering of upsampling (F.interpolate / nn.Upsample) over the last 1 or 2 axes of
 * [batch, channel, L] or [batch, channel, H, W] data.
 *
 * nearest: RETURNN's "resize" kind "nn" by an integer factor, one layer per resized axis (nearest
 * is separable). RETURNN calls tf.compat.v1.image.resize_nearest_neighbor without half-pixel
 * centres: out[t] = in[floor(t * n / (n f))] = in[floor(t / f)], PyTorch's "nearest" for an
 * integer factor whether given as scale_factor or as output size. On a dynamic axis the output
 * length is T * f for every T, and a frame reads only its own frame, so a padded batch is right.
 * A non-integer ratio is refused: RETURNN's float factor rounds the length up (PyTorch: down)
 * and PyTorch then picks sources by 1 / scale_factor, TF by n / out.
 *
 * linear (1-D) and bilinear (2-D) with align_corners=False: RETURNN's resize kind "linear" calls
 * tf.compat.v1.image.resize_bilinear without half-pixel centres (source t / f), PyTorch uses
 * half-pixel centres (source (t + 0.5) / f - 0.5, clamped at the edges), so resize does not fit.
 * For an integer factor f output frame f i + r mixes frames i-1, i (u < 0) or i, i+1 (u >= 0) of
 * the input with the fixed weights of u = (r + 0.5) / f - 0.5, the edges repeating the end
 * frames: a replicate pad of 1 frame on each side (at each sequence's own end), then a
 * "transposed_conv" with stride f, a kernel of 3 f taps holding those weights (per channel: the
 * filter is diagonal in the channels; over two axes the product of the axes' weights) and
 * remove_padding 2 f: exactly n f frames. align_corners=True takes its weights from the length,
 * (n - 1) / (out - 1), which no fixed filter has: in 1-D over the time a nearest resize then an eval
 * interpolating each sequence from its own length (linear_align_corners_time below).
 *
 * On static axes (images) any ratio and align_corners=True: see lower_resize_static below. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../naming/naming.h"
#include "axes.h"
#include "lower_pad.h"
#include "lowerings.h"

/* The integer factor of each resized axis (the last `n`), from the run's sizes; scale_factors,
 * when given, must be that integer (else PyTorch's source positions differ). On a dynamic axis
 * only a scale factor says that every length is scaled alike. */
/* The scale factors the op was given (scale_factors of the .vec forms, scales / scales_h /
 * scales_w of the .default forms); *given = 0 when it was given output sizes. */
static void read_scales(const pt2_node *node, int n, double *scales, int *given) {
    *given = 0;
    scales[0] = scales[1] = 0;
    const pt2_arg *vec = pt2_node_arg(node, "scale_factors");
    if (vec && vec->kind == PT2_ARG_FLOATS && (int)vec->count == n) {
        *given = 1;
        for (int i = 0; i < n; i++) scales[i] = vec->floats[i];
    }
    for (int i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "scales_%c", "hw"[i]);
        const pt2_arg *s = pt2_node_arg(node, n == 1 ? "scales" : name);
        if (s && s->kind == PT2_ARG_FLOAT) *given = 1, scales[i] = s->float_value;
    }
}

/* The integer factor of each resized axis (the last `n`), from the run's sizes; scale_factors,
 * when given, must be that integer (else PyTorch's source positions differ). On a dynamic axis
 * only a scale factor says that every length is scaled alike. */
static pt2_status read_factors(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *v, int n,
                               int64_t *factors, pt2_error *err) {
    const char *input = pt2_node_arg(node, "input") ? "input" : "self";
    const pt2_tensor *x = &ctx->run->values[pt2_node_arg(node, input)->value_id].tensor;
    const pt2_tensor *y = &ctx->run->values[node->outputs[0].value_id].tensor;
    double scales[2];
    int has_scales;
    read_scales(node, n, scales, &has_scales);
    for (int i = 0; i < n; i++) {
        int axis = v->rank - n + i;
        int64_t in = x->shape[axis], out = y->shape[axis];
        factors[i] = in > 0 ? out / in : 0;
        int dynamic = ctx->net->dims[v->dims[axis]].kind == PT2_RT_DIM_DYNAMIC;
        if (factors[i] < 1 || out != in * factors[i] || (has_scales && scales[i] != (double)factors[i]))
            return pt2_lower_fail(node, err, "axis %d goes from %lld to %lld: lowered for an integer factor only (or on "
                                  "static axes)", axis, (long long)in, (long long)out);
        if (dynamic && !has_scales)
            return pt2_lower_fail(node, err, "axis %d is the time: lowered with a scale_factor (an output size fixes the length)",
                                  axis);
    }
    return PT2_OK;
}

/* ---- On static axes every mode is a fixed linear map of the axis: out = M x with M [out, n] as
 * PyTorch computes its sources (float arithmetic as its CPU kernels): a "linear" layer over the
 * axis as the feature dim (W = M transposed, no bias), one per resized axis. This serves any
 * ratio and align_corners=True, which the layers above cannot. ---- */

/* PyTorch's area_pixel_compute_scale: the source step per output step. */
static float source_scale(int64_t in, int64_t out, int align_corners, int has_scale, double scale) {
    if (align_corners) return out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.0f;
    return has_scale && scale > 0 ? (float)(1.0 / scale) : (float)in / (float)out;
}

/* W [in, out]: column j holds the weights of output j. */
static void interpolation_matrix(int nearest, int align_corners, int64_t in, int64_t out, float scale, float *w) {
    memset(w, 0, sizeof(float) * (size_t)(in * out));
    for (int64_t j = 0; j < out; j++) {
        if (nearest) {
            int64_t i = (int64_t)floorf((float)j * scale);
            w[(i < in - 1 ? i : in - 1) * out + j] = 1;
            continue;
        }
        float src = align_corners ? scale * (float)j : scale * ((float)j + 0.5f) - 0.5f;
        if (src < 0) src = 0;
        int64_t i0 = (int64_t)src, i1 = i0 + (i0 < in - 1 ? 1 : 0);
        float l1 = src - (float)i0;
        w[i0 * out + j] += 1 - l1;
        w[i1 * out + j] += l1;
    }
}

static pt2_status lower_resize_static(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *v, int n,
                                      int nearest, int align_corners, pt2_error *err) {
    const char *input = pt2_node_arg(node, "input") ? "input" : "self";
    const pt2_tensor *x = &ctx->run->values[pt2_node_arg(node, input)->value_id].tensor;
    const pt2_tensor *y = &ctx->run->values[node->outputs[0].value_id].tensor;
    double scales[2];
    int has_scales, last = -1;
    read_scales(node, n, scales, &has_scales);
    for (int i = 0; i < n; i++) {
        int axis = v->rank - n + i;
        if (ctx->net->dims[v->dims[axis]].kind != PT2_RT_DIM_STATIC)
            return pt2_lower_fail(node, err, "axis %d is dynamic: lowered there for integer factors (nearest, or linear "
                                  "with align_corners=False)", axis);
        if (x->shape[axis] != y->shape[axis] || (!nearest && align_corners)) last = i;
        else if (has_scales && scales[i] != 1.0) last = i;
    }
    if (last < 0) return pt2_lower_alias(ctx, node, v, err);
    pt2_lowered_value current, storage;
    const pt2_lowered_value *source = v; /* the first layer reads the graph value itself */
    for (int i = 0; i <= last; i++) {
        int axis = v->rank - n + i;
        int64_t in = x->shape[axis], out = y->shape[axis];
        const pt2_lowered_value *feature;
        size_t first_layer = ctx->net->num_layers;
        pt2_status st = pt2_axes_require_feature(ctx, node, source, axis, &storage, &feature, err);
        if (st) return st;
        int64_t shape[2] = {in, out};
        pt2_tensor w;
        if ((st = pt2_tensor_alloc(ctx->arena, PT2_DTYPE_FLOAT32, 2, shape, &w, err))) return st;
        interpolation_matrix(nearest, align_corners, in, out,
                             source_scale(in, out, align_corners, has_scales, scales[i]), pt2_tensor_data(&w));
        pt2_rt_layer *layer;
        if ((st = pt2_lower_new_layer(ctx, node, "linear", &layer, err))) return st;
        st = pt2_lower_add_source(ctx, layer, feature, err);
        if (!st) st = pt2_rt_set_int(layer, "n_out", out, err);
        if (!st) st = pt2_rt_set_bool(layer, "with_bias", 0, err);
        if (!st) st = pt2_rt_set_none(layer, "activation", err);
        if (!st) st = pt2_rt_add_param(layer, "W", &w, err);
        if (!st) st = pt2_lower_infer(ctx, node, layer, err);
        if (!st) st = pt2_axes_finish_replace(ctx, node, layer, feature, axis, layer->shape.feature_dim, err);
        if (st) return st;
        current = ctx->values[node->outputs[0].value_id];
        source = &current;
        if (i < last)
            for (size_t l = first_layer; l < ctx->net->num_layers; l++) ctx->net->layers[l].node = -1;
    }
    return PT2_OK;
}

/* A resize of kind "nn" by an integer factor along `axis` of `in`: each frame `factor` times in a
 * row. Named `name`, or the node's own layer for NULL. */
static pt2_status nearest_resize(pt2_lower_context *ctx, const pt2_node *node, const char *name, const pt2_lowered_value *in,
                                 int axis, int64_t factor, pt2_rt_layer **layer, pt2_error *err) {
    const char *description;
    pt2_status st = pt2_axes_describe(ctx, node, in, axis, &description, err);
    if (!st) st = name ? pt2_lower_new_layer_named(ctx, node, name, "resize", layer, err) : pt2_lower_new_layer(ctx, node, "resize", layer, err);
    if (!st) st = pt2_lower_add_source(ctx, *layer, in, err);
    if (!st) st = pt2_rt_set_string(*layer, "axis", description, err);
    if (!st) st = pt2_rt_set_int(*layer, "factor", factor, err);
    if (!st) st = pt2_rt_set_string(*layer, "kind", "nn", err);
    if (!st) st = pt2_lower_infer(ctx, node, *layer, err);
    return st;
}

/* Integer factors go to resize / transposed_conv (which a dynamic axis needs); anything else on
 * static axes to the matrices. */
static int needs_matrix(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *v, int n, int align_corners) {
    int64_t factors[2];
    pt2_error probe;
    pt2_error_clear(&probe);
    if (!align_corners && !read_factors(ctx, node, v, n, factors, &probe)) return 0;
    pt2_error_clear(&probe);
    for (int i = 0; i < n; i++)
        if (ctx->net->dims[v->dims[v->rank - n + i]].kind != PT2_RT_DIM_STATIC) return 0;
    return 1;
}

static pt2_status lower_upsample_nearest(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *v, *in;
    pt2_lowered_value storage;
    int n = strstr(node->target, "2d") ? 2 : 1;
    int64_t factors[2];
    pt2_status st = pt2_lower_input(ctx, node, pt2_node_arg(node, "input") ? "input" : "self", &v, err);
    if (st) return st;
    if (!v || v->rank != 2 + n || ctx->net->dims[v->dims[0]].kind != PT2_RT_DIM_BATCH)
        return pt2_lower_fail(node, err, "lowered for [batch, channel, %s] data from a layer", n == 1 ? "L" : "H, W");
    if (needs_matrix(ctx, node, v, n, 0)) return lower_resize_static(ctx, node, v, n, 1, 0, err);
    if ((st = read_factors(ctx, node, v, n, factors, err))) return st;
    /* The channel as the feature, so that no resized axis is RETURNN's feature dim. */
    if ((st = pt2_axes_require_feature(ctx, node, v, 1, &storage, &in, err))) return st;
    int last = -1;
    for (int i = 0; i < n; i++)
        if (factors[i] > 1) last = i;
    if (last < 0) return pt2_lower_alias(ctx, node, in, err);
    /* The first layer reads `in` itself (the per-layer check finds its PyTorch value by it), the
     * later ones the layer before (recomputed by the check from its own sources). */
    pt2_lowered_value current;
    const pt2_lowered_value *source = in;
    for (int i = 0; i <= last; i++) {
        if (factors[i] == 1) continue;
        int axis = v->rank - n + i;
        pt2_rt_layer *layer;
        size_t first_layer = ctx->net->num_layers;
        if ((st = nearest_resize(ctx, node, NULL, source, axis, factors[i], &layer, err))) return st;
        int dim = pt2_axes_new_dim(layer, source);
        if ((st = pt2_axes_finish_replace(ctx, node, layer, source, axis, dim, err))) return st;
        current = ctx->values[node->outputs[0].value_id];
        source = &current;
        /* All but the last layer hold no value of the node's own. */
        if (i < last)
            for (size_t l = first_layer; l < ctx->net->num_layers; l++) ctx->net->layers[l].node = -1;
    }
    return PT2_OK;
}

/* The taps of one axis: weights[k] for k in [0, 3 f), output f i + r reading padded frame i + 1 + d
 * through tap r + f (1 - d). */
static void linear_taps(int64_t factor, double *weights) {
    for (int64_t k = 0; k < 3 * factor; k++) weights[k] = 0;
    for (int64_t r = 0; r < factor; r++) {
        double u = ((double)r + 0.5) / (double)factor - 0.5;
        if (u >= 0) weights[r + factor] = 1 - u, weights[r] = u;                       /* d = 0, d = 1 */
        else weights[r + 2 * factor] = -u, weights[r + factor] = 1 + u;                  /* d = -1, d = 0 */
    }
}

#define MAX_LINEAR_FACTOR 64

/* 1-D linear with align_corners=True over the time by an integer factor f: each sequence's source
 * positions j (n - 1) / (n f - 1) depend on its own length n, which no fixed filter has. A nearest
 * "resize" by f gives the output's dim T * f (input frame i is its frame i f), then an eval
 * interpolates each sequence from its own length (tf.gather at the two source frames, by the
 * sequence lengths of that dim). */
static pt2_status linear_align_corners_time(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *v,
                                            pt2_error *err) {
    const pt2_lowered_value *in;
    pt2_lowered_value storage, repeated;
    int64_t factor;
    pt2_status st = read_factors(ctx, node, v, 1, &factor, err);
    if (!st) st = pt2_axes_require_feature(ctx, node, v, 1, &storage, &in, err);
    if (st) return st;
    char name[240];
    snprintf(name, sizeof name, "%s_repeated", ctx->places[node - ctx->graph->nodes].base);
    pt2_rt_layer *layer;
    if ((st = nearest_resize(ctx, node, name, in, 2, factor, &layer, err))) return st;
    int dims[PT2_MAX_RANK] = {in->dims[0], in->dims[1], pt2_axes_new_dim(layer, in)};
    if (dims[2] < 0) return pt2_lower_fail(node, err, "the upsampled time has no dim of its own");
    pt2_axes_value_of(layer, 3, dims, &repeated);
    return pt2_lower_eval(ctx, node, &repeated, "linear_align_corners_time", (double)factor, err);
}

static pt2_status lower_upsample_linear(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *v, *in;
    pt2_lowered_value storage;
    int n = strstr(node->target, "bilinear2d") ? 2 : 1, align_corners;
    int64_t factors[2];
    pt2_status st = pt2_lower_input(ctx, node, pt2_node_arg(node, "input") ? "input" : "self", &v, err);
    if (!st) st = pt2_op_bool(ctx->run, node, "align_corners", &align_corners, err);
    if (st) return st;
    if (!v || v->rank != 2 + n || ctx->net->dims[v->dims[0]].kind != PT2_RT_DIM_BATCH)
        return pt2_lower_fail(node, err, "lowered for [batch, channel, %s] data from a layer", n == 1 ? "L" : "H, W");
    if (needs_matrix(ctx, node, v, n, align_corners)) return lower_resize_static(ctx, node, v, n, 0, align_corners, err);
    if (align_corners && n == 1) return linear_align_corners_time(ctx, node, v, err);
    if (align_corners)
        return pt2_lower_fail(node, err, "bilinear align_corners=True over the time takes its weights from each sequence's "
                                         "length, which is lowered in 1-D (and on static axes)");
    if ((st = read_factors(ctx, node, v, n, factors, err))) return st;
    /* The interpreter's 1-D transposed_conv slides over the time only; a static axis takes its matrix. */
    if (n == 1 && ctx->net->dims[v->dims[2]].kind == PT2_RT_DIM_STATIC) return lower_resize_static(ctx, node, v, n, 0, 0, err);
    for (int i = 0; i < n; i++)
        if (factors[i] > MAX_LINEAR_FACTOR) return pt2_lower_fail(node, err, "factor %lld is too large", (long long)factors[i]);
    if ((st = pt2_axes_require_feature(ctx, node, v, 1, &storage, &in, err))) return st;
    /* The replicate pads, each a step whose layers hold no value of the node's own. */
    pt2_lowered_value current;
    const pt2_lowered_value *source = in; /* the first step reads `in` itself, as above */
    int any_dynamic = 0;
    for (int i = 0; i < n; i++) {
        size_t first_layer = ctx->net->num_layers;
        if ((st = pt2_lower_pad_one_axis(ctx, node, source, 2 + i, 1, 1, "replication", 0, err))) return st;
        current = ctx->values[node->outputs[0].value_id];
        source = &current;
        for (size_t l = first_layer; l < ctx->net->num_layers; l++) ctx->net->layers[l].node = -1;
        any_dynamic |= ctx->net->dims[current.dims[2 + i]].kind == PT2_RT_DIM_DYNAMIC;
    }
    const char *spatial[2];
    int64_t kernel[2], output_padding[2] = {0, 0}, remove[2];
    for (int i = 0; i < n; i++) {
        if ((st = pt2_axes_describe(ctx, node, &current, 2 + i, &spatial[i], err))) return st;
        kernel[i] = 3 * factors[i], remove[i] = 2 * factors[i];
    }
    int64_t channels = ctx->run->values[node->outputs[0].value_id].tensor.shape[1];
    /* W_native_transposed_conv: [k, 1, out, in] (1-D) or [kh, kw, out, in], diagonal in the channels. */
    int64_t shape[4] = {kernel[0], n == 2 ? kernel[1] : 1, channels, channels};
    pt2_tensor w;
    if ((st = pt2_tensor_alloc(ctx->arena, PT2_DTYPE_FLOAT32, 4, shape, &w, err))) return st;
    double taps[2][3 * MAX_LINEAR_FACTOR];
    linear_taps(factors[0], taps[0]);
    if (n == 2) linear_taps(factors[1], taps[1]);
    else taps[1][0] = 1;
    float *pw = pt2_tensor_data(&w);
    for (int64_t a = 0; a < shape[0]; a++)
        for (int64_t b = 0; b < shape[1]; b++)
            for (int64_t c = 0; c < channels; c++)
                pw[((a * shape[1] + b) * channels + c) * channels + c] = (float)(taps[0][a] * taps[1][b]);
    pt2_rt_layer *layer;
    if ((st = pt2_lower_new_layer(ctx, node, "transposed_conv", &layer, err))) return st;
    st = pt2_lower_add_source(ctx, layer, &current, err);
    if (!st) st = pt2_rt_set_int_list(ctx->arena, layer, "filter_size", kernel, n, err);
    if (!st) st = pt2_rt_set_int_list(ctx->arena, layer, "strides", factors, n, err);
    if (!st) st = pt2_rt_set_string(layer, "padding", "valid", err);
    if (!st) st = pt2_rt_set_int_list(ctx->arena, layer, "output_padding", output_padding, n, err);
    if (!st) st = pt2_rt_set_int_list(ctx->arena, layer, "remove_padding", remove, n, err);
    if (!st) st = pt2_rt_set_int(layer, "n_out", channels, err);
    if (!st) st = pt2_rt_set_bool(layer, "with_bias", 0, err);
    if (!st) st = pt2_rt_set_string_list(ctx->arena, layer, "in_spatial_dims", spatial, n, err);
    if (!st) st = pt2_rt_set_none(layer, "activation", err);
    /* The frames after each sequence's end (past its replicated frame) read as zeros. */
    if (!st && any_dynamic) st = pt2_rt_set_bool(layer, "use_time_mask", 1, err);
    if (!st) st = pt2_rt_add_param(layer, "W_native_transposed_conv", &w, err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    /* The output ends [.., spatial..., channels] */
    int r = layer->shape.rank, dims[4] = {in->dims[0], layer->shape.feature_dim, -1, -1};
    for (int i = 0; i < n; i++) dims[2 + i] = layer->shape.dims[r - 1 - n + i];
    return pt2_lower_set_output(ctx, node, layer, 2 + n, dims, err);
}

/* repeat_interleave(x, r, dim): each entry r times in a row along dim, what nearest upsampling by
 * r gives: a resize of kind "nn" along that axis (Funnel's and Canine's upsampling of the time). */
static pt2_status lower_repeat_interleave(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *v;
    int64_t repeats, dim;
    int present, axis;
    pt2_status st = pt2_lower_input(ctx, node, "self", &v, err);
    if (!st) st = pt2_op_int(ctx->run, node, "repeats", &repeats, err);
    if (!st) st = pt2_op_optional_int(ctx->run, node, "dim", &dim, &present, err);
    if (st) return st;
    if (!v) return pt2_lower_fail(node, err, "repeat_interleave of a constant is not lowered");
    if (!present) return pt2_lower_fail(node, err, "repeat_interleave without dim (of the flattened tensor) is not lowered");
    axis = (int)(dim < 0 ? dim + v->rank : dim);
    if (axis < 0 || axis >= v->rank) return pt2_lower_fail(node, err, "dim %lld out of range for %d axes", (long long)dim, v->rank);
    /* Along a broadcast axis the value is constant: repeated, it is the same value. */
    if (repeats == 1 || v->dims[axis] < 0) return pt2_lower_alias(ctx, node, v, err);
    if (ctx->net->dims[v->dims[axis]].kind == PT2_RT_DIM_BATCH)
        return pt2_lower_fail(node, err, "repeat_interleave over the batch cannot be expressed in RETURNN");
    if (v->dims[axis] == v->shape.feature_dim)
        return pt2_lower_fail(node, err, "repeat_interleave along the feature axis is not lowered (along the time and "
                              "other axes it is)");
    pt2_rt_layer *layer;
    if ((st = nearest_resize(ctx, node, NULL, v, axis, repeats, &layer, err))) return st;
    return pt2_axes_finish_replace(ctx, node, layer, v, axis, pt2_axes_new_dim(layer, v), err);
}

const pt2_op_lowering pt2_lowerings_resize[] = {
    {"aten.upsample_nearest1d.vec", lower_upsample_nearest, "resize linear reinterpret_data"},
    {"aten.upsample_nearest1d.default", lower_upsample_nearest, "resize linear reinterpret_data"},
    {"aten.upsample_nearest2d.vec", lower_upsample_nearest, "resize linear reinterpret_data"},
    {"aten.upsample_nearest2d.default", lower_upsample_nearest, "resize linear reinterpret_data"},
    {"aten.upsample_linear1d.vec", lower_upsample_linear,
     "pad eval:replicate_end transposed_conv linear reinterpret_data resize eval:linear_align_corners_time"},
    {"aten.upsample_linear1d.default", lower_upsample_linear,
     "pad eval:replicate_end transposed_conv linear reinterpret_data resize eval:linear_align_corners_time"},
    {"aten.upsample_bilinear2d.vec", lower_upsample_linear, "pad eval:replicate_end transposed_conv linear reinterpret_data"},
    {"aten.upsample_bilinear2d.default", lower_upsample_linear, "pad eval:replicate_end transposed_conv linear reinterpret_data"},
    {"aten.repeat_interleave.self_int", lower_repeat_interleave, "resize"},
    {NULL, NULL, NULL}};
