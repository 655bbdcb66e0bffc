/* Lowering of 1-D and 2-D pooling: max_pool1d, avg_pool1d, max_pool2d, avg_pool2d (and their _with_indices
 * forms when only the values are used; adaptive avg pools, below) -> RETURNN "pool" over
 * in_spatial_dims (L, or H, W) with the channel axis as the feature dim (the axis map adds the
 * layer for that). Any spatial axis may be the dynamic time axis; then a max pool's use_time_mask
 * makes the frames after each sequence's end -inf as RETURNN's pool does, so that a padded or
 * partial last window of a shorter sequence sees what PyTorch's padding gives.
 *
 * PyTorch's padding p pads -inf (max) or 0 (avg, count_include_pad) on both sides, as RETURNN's
 * integer padding does. ceil_mode adds a last, partial window; RETURNN has no such option, but its
 * padding "same" (ceil(n/s) windows, the padding split with the smaller half before) gives the
 * same windows when the padding before is 0 on every length the axis can have: always when
 * kernel = stride <= 2 (the common pool of 2), else only on a static axis where it is checked.
 * An avg pool with padding or ceil_mode on the time, or with count_include_pad=False, has its
 * padding made explicit instead (avg_pool_padded_explicitly). */
#include <stdio.h>
#include <string.h>

#include "../naming/naming.h"
#include "axes.h"
#include "lower_operands.h"
#include "lower_pad.h"
#include "lower_reduce.h"
#include "lowerings.h"

typedef struct pool2d_args {
    int64_t kernel[2], stride[2], padding[2], dilation[2];
    int ceil_mode, count_include_pad, max;
} pool2d_args;

static pt2_status read_pair(pt2_lower_context *ctx, const pt2_node *node, const char *name, int64_t fallback0,
                            int64_t fallback1, int64_t *out, pt2_error *err) {
    size_t n = 0;
    out[0] = fallback0, out[1] = fallback1;
    if (!pt2_node_arg(node, name)) return PT2_OK;
    pt2_status st = pt2_op_ints(ctx->run, node, name, out, 2, &n, err);
    if (st) return st;
    if (n == 0) out[0] = fallback0, out[1] = fallback1;
    else if (n == 1) out[1] = out[0];
    return PT2_OK;
}

static pt2_status read_args(pt2_lower_context *ctx, const pt2_node *node, pool2d_args *a, pt2_error *err) {
    memset(a, 0, sizeof *a);
    a->max = strstr(node->target, "max_pool") != NULL;
    a->count_include_pad = 1;
    pt2_status st = read_pair(ctx, node, "kernel_size", 1, 1, a->kernel, err);
    if (!st) st = read_pair(ctx, node, "stride", a->kernel[0], a->kernel[1], a->stride, err);
    if (!st) st = read_pair(ctx, node, "padding", 0, 0, a->padding, err);
    if (!st) st = read_pair(ctx, node, "dilation", 1, 1, a->dilation, err);
    if (!st && pt2_node_arg(node, "ceil_mode")) st = pt2_op_bool(ctx->run, node, "ceil_mode", &a->ceil_mode, err);
    if (!st && pt2_node_arg(node, "count_include_pad"))
        st = pt2_op_bool(ctx->run, node, "count_include_pad", &a->count_include_pad, err);
    if (st) return st;
    const pt2_arg *divisor = pt2_node_arg(node, "divisor_override");
    if (divisor && divisor->kind != PT2_ARG_NONE) return pt2_lower_fail(node, err, "divisor_override has no RETURNN equivalent");
    return PT2_OK;
}

/* What RETURNN's pool itself cannot do, checked where the avg pool is not padded explicitly. */
static pt2_status check_pool_padding(const pt2_node *node, const pool2d_args *a, pt2_error *err) {
    if (a->padding[0] != a->padding[1])
        return pt2_lower_fail(node, err, "RETURNN's pool pads every spatial dim alike; padding (%lld, %lld)",
                              (long long)a->padding[0], (long long)a->padding[1]);
    if (!a->max && a->padding[0] && !a->count_include_pad)
        return pt2_lower_fail(node, err, "avg_pool2d with padding and count_include_pad=False has no RETURNN equivalent");
    return PT2_OK;
}

/* Which padding option gives PyTorch's windows: "valid" / the int padding, or "same" for a
 * ceil_mode that changes the output. `in_sizes`/`out_sizes` are the reference run's H, W. */
static pt2_status choose_padding(pt2_lower_context *ctx, const pt2_node *node, const pool2d_args *a, int n,
                                 const pt2_lowered_value *in, const int64_t *in_sizes, const int64_t *out_sizes,
                                 int *same, pt2_error *err) {
    int needs_ceil = 0;
    for (int i = 0; i < n; i++) {
        int64_t span = a->dilation[i] * (a->kernel[i] - 1) + 1;
        int64_t floor_out = (in_sizes[i] + 2 * a->padding[i] - span) / a->stride[i] + 1;
        if (floor_out != out_sizes[i]) needs_ceil = 1;
        /* On a dynamic axis, another length may need the partial window. */
        if (a->ceil_mode && ctx->net->dims[in->dims[2 + i]].kind == PT2_RT_DIM_DYNAMIC &&
            (a->stride[i] != span || a->kernel[i] > 2 || a->padding[i]))
            needs_ceil = 1;
    }
    *same = needs_ceil;
    if (!needs_ceil) return PT2_OK;
    for (int i = 0; i < n; i++) {
        int dynamic = ctx->net->dims[in->dims[2 + i]].kind == PT2_RT_DIM_DYNAMIC;
        int64_t n = in_sizes[i], same_out = (n + a->stride[i] - 1) / a->stride[i];
        int64_t total = (same_out - 1) * a->stride[i] + a->kernel[i] - n;
        int fits = a->padding[i] == 0 && a->dilation[i] == 1 && same_out == out_sizes[i] && total / 2 <= 0;
        if (dynamic) fits = fits && a->kernel[i] == a->stride[i] && a->kernel[i] <= 2;
        if (!fits)
            return pt2_lower_fail(node, err,
                                  "ceil_mode with kernel %lld, stride %lld, padding %lld on axis %d of size %lld: RETURNN's "
                                  "\"same\" padding gives other windows (lowered for padding 0 and kernel = stride <= 2 on a "
                                  "dynamic axis, or where the windows agree on a static one)",
                                  (long long)a->kernel[i], (long long)a->stride[i], (long long)a->padding[i], 2 + i,
                                  (long long)n);
    }
    return PT2_OK;
}

/* A valid avg pool over the spatial axes of `in` (channels its feature): the node's own layer
 * (base NULL) or a helper named `base` whose value goes to *out. */
static pt2_status avg_pool_layer(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in, const pool2d_args *a,
                                 int n, const char *base, pt2_lowered_value *out, pt2_error *err) {
    const char *spatial[2];
    pt2_status st = PT2_OK;
    for (int i = 0; i < n && !st; i++) st = pt2_axes_describe(ctx, node, in, 2 + i, &spatial[i], err);
    pt2_rt_layer *layer;
    if (st || (st = base ? pt2_lower_new_layer_named(ctx, node, base, "pool", &layer, err) : pt2_lower_new_layer(ctx, node, "pool", &layer, err)))
        return st;
    int64_t ones[2] = {1, 1};
    if (!st) st = pt2_lower_add_source(ctx, layer, in, err);
    if (!st) st = pt2_rt_set_string(layer, "mode", "avg", err);
    if (!st) st = pt2_rt_set_int_list(ctx->arena, layer, "pool_size", a->kernel, n, err);
    if (!st) st = pt2_rt_set_int_list(ctx->arena, layer, "strides", a->stride, n, err);
    if (!st) st = pt2_rt_set_int_list(ctx->arena, layer, "dilation_rate", ones, n, err);
    if (!st) st = pt2_rt_set_string(layer, "padding", "valid", err);
    if (!st) st = pt2_rt_set_string_list(ctx->arena, layer, "in_spatial_dims", spatial, n, err);
    if (!st) st = pt2_rt_set_bool(layer, "use_channel_first", 0, err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    int r = layer->shape.rank;
    int dims[4] = {in->dims[0], in->dims[1], -1, -1};
    for (int i = 0; i < n; i++) dims[2 + i] = layer->shape.dims[r - n + i];
    if (!base) return pt2_lower_set_output(ctx, node, layer, 2 + n, dims, err);
    pt2_axes_value_of(layer, 2 + n, dims, out);
    return PT2_OK;
}

/* An avg pool whose windows reach into padding or past the end (ceil_mode), on the time or with
 * count_include_pad=False, which RETURNN's pool cannot give on a padded batch: the padding is made
 * explicit with pad layers, which on the time pad right after each sequence's own end (so a
 * shorter sequence's windows see zeros there, as PyTorch's run of it alone), and the pool is
 * "valid". Each window's sum is divided by PyTorch's count, itself an avg pool of ones padded the
 * same way: with count_include_pad the padding p counts (the input is padded by p first, then
 * only ceil_mode's overhang is outside), without it only the sequence's own frames count. For
 * ceil_mode, a right overhang of min(stride - 1, kernel - 1 - p) zeros gives PyTorch's count of
 * windows, ceil((n + 2p - kernel) / stride) + 1 less a last window starting in the right padding,
 * on every length. */
static pt2_status avg_pool_padded_explicitly(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in,
                                             const pool2d_args *a, int n, const int64_t *in_sizes, const int64_t *out_sizes,
                                             pt2_error *err) {
    const char *base = ctx->places[node - ctx->graph->nodes].base;
    char name[240];
    int64_t lead[2] = {0, 0}, extra[2] = {0, 0};
    pt2_lowered_value padded[2], values_step[2], ones_step[2], ones, sums, counts;
    const pt2_lowered_value *values = in;
    pt2_status st = PT2_OK;
    int need_count = 0;
    for (int i = 0; i < n; i++) {
        int64_t k = a->kernel[i], s = a->stride[i], p = a->padding[i];
        if (a->dilation[i] != 1) return pt2_lower_fail(node, err, "a dilated avg pool");
        extra[i] = a->ceil_mode ? (s - 1 < k - 1 - p ? s - 1 : k - 1 - p) : 0;
        if (extra[i] < 0) extra[i] = 0;
        if ((in_sizes[i] + 2 * p + extra[i] - k) / s + 1 != out_sizes[i])
            return pt2_lower_fail(node, err, "axis %d: %lld windows expected from PyTorch's output, the padded pool gives %lld", 2 + i,
                                  (long long)out_sizes[i], (long long)((in_sizes[i] + 2 * p + extra[i] - k) / s + 1));
        if (a->count_include_pad && p) {
            snprintf(name, sizeof name, "%s_padded", base);
            if ((st = pt2_lower_pad_zeros_helper(ctx, node, values, 2 + i, p, p, name, &padded[i], err))) return st;
            values = &padded[i];
        } else lead[i] = p;
        need_count |= lead[i] || extra[i];
    }
    /* The count's own pool gives each pooled static axis a second static dim of the same size,
     * which RETURNN does not match with the sums' (derived dims of the time are one dim). */
    for (int i = 0; i < n && need_count; i++)
        if (ctx->net->dims[in->dims[2 + i]].kind == PT2_RT_DIM_STATIC)
            return pt2_lower_fail(node, err, "an avg pool whose window count varies along the time and a static axis (axis %d: "
                                  "count_include_pad=False with padding, or ceil_mode) is not lowered (1-D pools over the time are)",
                                  2 + i);
    const pt2_lowered_value *counted = NULL;
    if (need_count) {
        snprintf(name, sizeof name, "%s_ones", base);
        if ((st = pt2_lower_unary_layer(ctx, node, 0, name, "eval", "fill_like", 1.0, values, &ones, err))) return st;
        counted = &ones;
    }
    for (int i = 0; i < n; i++) {
        if (!lead[i] && !extra[i]) continue;
        snprintf(name, sizeof name, "%s_window_values", base);
        if ((st = pt2_lower_pad_zeros_helper(ctx, node, values, 2 + i, lead[i], lead[i] + extra[i], name, &values_step[i], err)))
            return st;
        values = &values_step[i];
        snprintf(name, sizeof name, "%s_window_ones", base);
        if ((st = pt2_lower_pad_zeros_helper(ctx, node, counted, 2 + i, lead[i], lead[i] + extra[i], name, &ones_step[i], err)))
            return st;
        counted = &ones_step[i];
    }
    if (!need_count) return avg_pool_layer(ctx, node, values, a, n, NULL, NULL, err);
    snprintf(name, sizeof name, "%s_window_means", base);
    if ((st = avg_pool_layer(ctx, node, values, a, n, name, &sums, err))) return st;
    snprintf(name, sizeof name, "%s_window_shares", base);
    if ((st = avg_pool_layer(ctx, node, counted, a, n, name, &counts, err))) return st;
    const pt2_lowered_value *sources[2] = {&sums, &counts};
    return pt2_lower_broadcast_layer(ctx, node, 1, NULL, "combine", "kind", "truediv", sources, 2, NULL, err);
}

static pt2_status lower_pool_nd(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *v, *in;
    pt2_lowered_value storage;
    pool2d_args a;
    int n = strstr(node->target, "pool1d") ? 1 : 2;
    pt2_status st = pt2_lower_input(ctx, node, "self", &v, err);
    if (st) return st;
    if (!v || v->rank != 2 + n || ctx->net->dims[v->dims[0]].kind != PT2_RT_DIM_BATCH)
        return pt2_lower_fail(node, err, "lowered for [batch, channel, %s] data from a layer", n == 1 ? "L" : "H, W");
    if ((st = read_args(ctx, node, &a, err))) return st;
    const pt2_tensor *x = &ctx->run->values[pt2_node_arg(node, "self")->value_id].tensor;
    const pt2_tensor *y = &ctx->run->values[node->outputs[0].value_id].tensor;
    int64_t in_sizes[2], out_sizes[2];
    for (int i = 0; i < n; i++) in_sizes[i] = x->shape[2 + i], out_sizes[i] = y->shape[2 + i];
    /* An avg pool with padding or ceil_mode on the time, or with count_include_pad=False and
     * padding: its padding made explicit. */
    int explicit_padding = 0;
    for (int i = 0; i < n && !a.max; i++) {
        int dynamic = ctx->net->dims[v->dims[2 + i]].kind == PT2_RT_DIM_DYNAMIC;
        explicit_padding |= (a.padding[i] && (dynamic || !a.count_include_pad)) || (a.ceil_mode && dynamic);
    }
    if (explicit_padding) {
        if ((st = pt2_axes_require_feature(ctx, node, v, 1, &storage, &in, err))) return st;
        return avg_pool_padded_explicitly(ctx, node, in, &a, n, in_sizes, out_sizes, err);
    }
    if ((st = check_pool_padding(node, &a, err))) return st;
    int same;
    if ((st = choose_padding(ctx, node, &a, n, v, in_sizes, out_sizes, &same, err))) return st;
    /* (RETURNN's use_time_mask masks an avg pool with the int 0, which TF's where refuses against
     * float data: an avg pool reading past a sequence's end took the explicit padding above.) */
    if ((st = pt2_axes_require_feature(ctx, node, v, 1, &storage, &in, err))) return st;
    const char *spatial[2];
    int any_dynamic = 0;
    for (int i = 0; i < n; i++) {
        if ((st = pt2_axes_describe(ctx, node, in, 2 + i, &spatial[i], err))) return st;
        any_dynamic |= ctx->net->dims[in->dims[2 + i]].kind == PT2_RT_DIM_DYNAMIC;
    }
    pt2_rt_layer *layer;
    if ((st = pt2_lower_new_layer(ctx, node, "pool", &layer, err))) return st;
    if (!st) st = pt2_lower_add_source(ctx, layer, in, err);
    if (!st) st = pt2_rt_set_string(layer, "mode", a.max ? "max" : "avg", err);
    if (!st) st = pt2_rt_set_int_list(ctx->arena, layer, "pool_size", a.kernel, n, err);
    if (!st) st = pt2_rt_set_int_list(ctx->arena, layer, "strides", a.stride, n, err);
    if (!st) st = pt2_rt_set_int_list(ctx->arena, layer, "dilation_rate", a.dilation, n, err);
    if (!st)
        st = same ? pt2_rt_set_string(layer, "padding", "same", err)
             : a.padding[0] ? pt2_rt_set_int(layer, "padding", a.padding[0], err)
                            : pt2_rt_set_string(layer, "padding", "valid", err);
    if (!st) st = pt2_rt_set_string_list(ctx->arena, layer, "in_spatial_dims", spatial, n, err);
    /* The default depends on the behaviour version and the device; the interpreter computes
     * channels-last, the result is the same either way. */
    if (!st) st = pt2_rt_set_bool(layer, "use_channel_first", 0, err);
    if (!st && any_dynamic && a.max) st = pt2_rt_set_bool(layer, "use_time_mask", 1, err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    /* pool's output ends with the pooled dims in in_spatial_dims order. */
    int r = layer->shape.rank;
    int dims[4] = {in->dims[0], in->dims[1], -1, -1};
    for (int i = 0; i < n; i++) dims[2 + i] = layer->shape.dims[r - n + i];
    return pt2_lower_set_output(ctx, node, layer, 2 + n, dims, err);
}

/* adaptive_avg_pool1d/2d on static spatial axes whose sizes the output sizes divide: an avg pool
 * with kernel = stride = size / output size (the windows PyTorch's adaptive pooling takes then).
 * On a dynamic axis the window would depend on the length, which a RETURNN pool cannot have,
 * unless every output size is 1: the global average of a classifier's head (ResNet's pooler,
 * an audio CNN's average over the time), RETURNN's mean over those axes, masked to each
 * sequence's length. */
static pt2_status lower_adaptive_avg_pool(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *v, *in;
    pt2_lowered_value storage;
    int n = strstr(node->target, "pool1d") ? 1 : 2;
    int64_t out_size[2];
    size_t count;
    pt2_status st = pt2_lower_input(ctx, node, "self", &v, err);
    if (st) return st;
    if (!v || v->rank != 2 + n || ctx->net->dims[v->dims[0]].kind != PT2_RT_DIM_BATCH)
        return pt2_lower_fail(node, err, "lowered for [batch, channel, %s] data from a layer", n == 1 ? "L" : "H, W");
    if ((st = pt2_op_ints(ctx->run, node, "output_size", out_size, 2, &count, err))) return st;
    if ((int)count != n) return pt2_lower_fail(node, err, "expected %d output sizes", n);
    const pt2_tensor *x = &ctx->run->values[pt2_node_arg(node, "self")->value_id].tensor;
    int global = 1, any_dynamic = 0;
    for (int i = 0; i < n; i++) {
        global &= out_size[i] == 1;
        any_dynamic |= ctx->net->dims[v->dims[2 + i]].kind == PT2_RT_DIM_DYNAMIC;
    }
    if (global && any_dynamic) {
        int64_t spatial_axes[2] = {2, 3};
        return pt2_lower_reduce_axes(ctx, node, v, "mean", spatial_axes, (size_t)n, 1, err);
    }
    int64_t kernel[2];
    for (int i = 0; i < n; i++) {
        int64_t size = x->shape[2 + i];
        if (ctx->net->dims[v->dims[2 + i]].kind != PT2_RT_DIM_STATIC)
            return pt2_lower_fail(node, err, "adaptive pooling over a dynamic axis (%d): the window would depend on the length", 2 + i);
        if (out_size[i] < 1 || size % out_size[i])
            return pt2_lower_fail(node, err, "output size %lld does not divide axis %d of size %lld (windows of unequal size)",
                                  (long long)out_size[i], 2 + i, (long long)size);
        kernel[i] = size / out_size[i];
    }
    if ((st = pt2_axes_require_feature(ctx, node, v, 1, &storage, &in, err))) return st;
    const char *spatial[2];
    for (int i = 0; i < n; i++)
        if ((st = pt2_axes_describe(ctx, node, in, 2 + i, &spatial[i], err))) return st;
    pt2_rt_layer *layer;
    if ((st = pt2_lower_new_layer(ctx, node, "pool", &layer, err))) return st;
    if (!st) st = pt2_lower_add_source(ctx, layer, in, err);
    if (!st) st = pt2_rt_set_string(layer, "mode", "avg", err);
    if (!st) st = pt2_rt_set_int_list(ctx->arena, layer, "pool_size", kernel, n, err);
    if (!st) st = pt2_rt_set_int_list(ctx->arena, layer, "strides", kernel, n, err);
    if (!st) st = pt2_rt_set_string(layer, "padding", "valid", err);
    if (!st) st = pt2_rt_set_string_list(ctx->arena, layer, "in_spatial_dims", spatial, n, err);
    if (!st) st = pt2_rt_set_bool(layer, "use_channel_first", 0, err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    int r = layer->shape.rank, dims[4] = {in->dims[0], in->dims[1], -1, -1};
    for (int i = 0; i < n; i++) dims[2 + i] = layer->shape.dims[r - n + i];
    return pt2_lower_set_output(ctx, node, layer, 2 + n, dims, err);
}

const pt2_op_lowering pt2_lowerings_pool2d[] = {
    {"aten.adaptive_avg_pool1d.default", lower_adaptive_avg_pool, "pool reinterpret_data reduce"},
    {"aten.adaptive_avg_pool2d.default", lower_adaptive_avg_pool, "pool reinterpret_data reduce"},
    {"aten._adaptive_avg_pool2d.default", lower_adaptive_avg_pool, "pool reinterpret_data reduce"},
    {"aten.max_pool2d.default", lower_pool_nd, "pool reinterpret_data"},
    {"aten.avg_pool2d.default", lower_pool_nd, "pool reinterpret_data pad eval:fill_like combine"},
    /* 1-D max pools and the values of pools with indices (issue 13) */
    {"aten.max_pool1d.default", lower_pool_nd, "pool reinterpret_data"},
    {"aten.max_pool1d_with_indices.default", lower_pool_nd, "pool reinterpret_data"},
    {"aten.max_pool2d_with_indices.default", lower_pool_nd, "pool reinterpret_data"},
    /* pt2returnn.export's max_pool1d keeps the time dynamic (aten's specialises it); the same
     * arguments as aten.max_pool1d */
    {"pt2returnn.max_pool1d.default", lower_pool_nd, "pool reinterpret_data"},
    {"aten.avg_pool1d.default", lower_pool_nd, "pool reinterpret_data pad eval:fill_like combine"},
    {NULL, NULL, NULL}};
