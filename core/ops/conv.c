/* Convolutions with PyTorch semantics, channels first: conv1d/conv2d (stride, padding incl.
 * "same"/"valid", dilation, groups), conv_transpose1d/2d (stride, padding, output_padding,
 * groups, dilation) and aten.convolution, which covers both. 1-D runs as 2-D with height 1.
 * Natively XNNPACK runs the depthwise and transposed 2-D ones (where it is the faster,
 * backend_xnnpack.c); every other one, and all in the WASM build, the GEMM kernels of
 * kernels_conv.c. */
#include <string.h>

#include "backend_xnnpack.h"
#include "conv_params.h"
#include "kernels.h"
#include "op_util.h"
#include "parallel.h"
#include "registry.h"

/* Per spatial axis (index 0 = height, 1 = width; 1-D uses the width only). */
typedef struct conv_spec {
    int spatial; /* 1 or 2 */
    int transposed;
    int64_t stride[2], dilation[2], pad_before[2], pad_after[2], output_padding[2], groups;
} conv_spec;

/* An int list of `spatial` entries; one entry is broadcast, as PyTorch's int-or-tuple args. */
static pt2_status spatial_ints(pt2_run_context *ctx, const pt2_node *node, const char *name, int spatial,
                               int64_t *out, pt2_error *err) {
    int64_t values[4];
    size_t count;
    pt2_status st = pt2_op_ints(ctx, node, name, values, 4, &count, err);
    if (st) return st;
    if (count == 1) values[1] = values[0];
    else if ((int)count != spatial)
        return pt2_fail(err, PT2_ERR_INPUT, "'%s' has %zu entries, expected %d for a %d-D convolution", name, count,
                        spatial, spatial);
    out[0] = values[0];
    out[1] = spatial == 2 ? values[1] : values[0];
    return PT2_OK;
}

/* kernel[]: the kernel size per spatial axis (for padding="same"). */
static pt2_status read_spec(pt2_run_context *ctx, const pt2_node *node, int spatial, int transposed,
                            const int64_t *kernel, conv_spec *p, pt2_error *err) {
    memset(p, 0, sizeof *p);
    p->spatial = spatial;
    p->transposed = transposed;
    pt2_status st = spatial_ints(ctx, node, "stride", spatial, p->stride, err);
    if (!st) st = spatial_ints(ctx, node, "dilation", spatial, p->dilation, err);
    if (!st) st = pt2_op_int(ctx, node, "groups", &p->groups, err);
    if (st) return st;
    const pt2_arg *padding = pt2_node_arg(node, "padding");
    if (padding && padding->kind == PT2_ARG_STRING) {
        if (!strcmp(padding->string, "same")) {
            for (int a = 0; a < spatial; a++) {
                /* PyTorch puts the odd extra frame on the far side. */
                int64_t total = p->dilation[a] * (kernel[a] - 1);
                p->pad_before[a] = total / 2;
                p->pad_after[a] = total - p->pad_before[a];
            }
            if (spatial == 1) {
                p->pad_before[1] = p->pad_before[0];
                p->pad_after[1] = p->pad_after[0];
            }
        } else if (strcmp(padding->string, "valid") != 0)
            return pt2_fail(err, PT2_ERR_INPUT, "padding '%s' is neither 'same' nor 'valid'", padding->string);
    } else {
        if ((st = spatial_ints(ctx, node, "padding", spatial, p->pad_before, err))) return st;
        p->pad_after[0] = p->pad_before[0];
        p->pad_after[1] = p->pad_before[1];
        if (transposed && (st = spatial_ints(ctx, node, "output_padding", spatial, p->output_padding, err))) return st;
    }
    for (int a = 0; a < 2; a++)
        if (p->stride[a] < 1 || p->dilation[a] < 1 || p->pad_before[a] < 0 || p->output_padding[a] < 0)
            return pt2_fail(err, PT2_ERR_INPUT, "stride and dilation must be >= 1 and padding >= 0, got stride %lld, "
                            "dilation %lld, padding %lld", (long long)p->stride[a], (long long)p->dilation[a],
                            (long long)p->pad_before[a]);
    if (p->groups < 1) return pt2_fail(err, PT2_ERR_INPUT, "groups must be >= 1, got %lld", (long long)p->groups);
    if (transposed)
        for (int a = 0; a < 2; a++)
            if (p->output_padding[a] >= p->stride[a] && p->output_padding[a] >= p->dilation[a])
                return pt2_fail(err, PT2_ERR_INPUT, "output_padding %lld must be smaller than stride or dilation",
                                (long long)p->output_padding[a]);
    return PT2_OK;
}

/* Runs one convolution given its spec; input rank spatial+2, or spatial+1 (unbatched). */
static pt2_status run_with_spec(pt2_run_context *ctx, const pt2_node *node, const char *op, const pt2_tensor *x,
                                const pt2_tensor *w, const pt2_tensor *b, int has_bias, const conv_spec *p,
                                pt2_error *err) {
    int spatial = p->spatial, unbatched = x->rank == spatial + 1;
    if ((x->rank != spatial + 2 && !unbatched) || w->rank != spatial + 2)
        return pt2_fail(err, PT2_ERR_INPUT, "%s expects input of rank %d or %d and weight of rank %d, got %d and %d", op,
                        spatial + 1, spatial + 2, spatial + 2, x->rank, w->rank);
    const int64_t *xs = x->shape + (unbatched ? 0 : 1);
    pt2_conv_geometry g;
    memset(&g, 0, sizeof g);
    g.batch = unbatched ? 1 : x->shape[0];
    g.in_channels = xs[0];
    g.in_height = spatial == 2 ? xs[1] : 1;
    g.in_width = xs[spatial];
    g.kernel_height = spatial == 2 ? w->shape[2] : 1;
    g.kernel_width = w->shape[spatial + 1];
    g.groups = p->groups;
    g.stride_h = spatial == 2 ? p->stride[0] : 1;
    g.stride_w = p->stride[spatial - 1];
    g.dilation_h = spatial == 2 ? p->dilation[0] : 1;
    g.dilation_w = p->dilation[spatial - 1];
    g.pad_top = spatial == 2 ? p->pad_before[0] : 0;
    g.pad_left = p->pad_before[spatial - 1];
    int64_t pad_bottom = spatial == 2 ? p->pad_after[0] : 0, pad_right = p->pad_after[spatial - 1];
    int64_t adjust_h = spatial == 2 ? p->output_padding[0] : 0, adjust_w = p->output_padding[spatial - 1];
    if (g.in_channels % g.groups)
        return pt2_fail(err, PT2_ERR_INPUT, "%s: %lld input channels do not split into %lld groups", op,
                        (long long)g.in_channels, (long long)g.groups);
    if (p->transposed) {
        if (w->shape[0] != g.in_channels)
            return pt2_fail(err, PT2_ERR_INPUT, "%s: weight has %lld input channels, the input %lld", op,
                            (long long)w->shape[0], (long long)g.in_channels);
        g.out_channels = w->shape[1] * g.groups;
        g.out_height = (g.in_height - 1) * g.stride_h - g.pad_top - pad_bottom + g.dilation_h * (g.kernel_height - 1) +
                       adjust_h + 1;
        g.out_width = (g.in_width - 1) * g.stride_w - g.pad_left - pad_right + g.dilation_w * (g.kernel_width - 1) +
                      adjust_w + 1;
    } else {
        g.out_channels = w->shape[0];
        if (w->shape[1] * g.groups != g.in_channels || g.out_channels % g.groups)
            return pt2_fail(err, PT2_ERR_INPUT, "%s: weight [%lld, %lld, ...] does not fit %lld input channels in %lld groups",
                            op, (long long)w->shape[0], (long long)w->shape[1], (long long)g.in_channels,
                            (long long)g.groups);
        g.out_height = pt2_conv_out_size(g.in_height, g.kernel_height, g.stride_h, g.dilation_h, g.pad_top, pad_bottom);
        g.out_width = pt2_conv_out_size(g.in_width, g.kernel_width, g.stride_w, g.dilation_w, g.pad_left, pad_right);
    }
    if (g.out_height < 0 || g.out_width < 0)
        return pt2_fail(err, PT2_ERR_INPUT, "%s: the input (size %lld) is shorter than the kernel's reach", op,
                        (long long)g.in_width);
    if (has_bias && (b->rank != 1 || b->shape[0] != g.out_channels))
        return pt2_fail(err, PT2_ERR_INPUT, "%s: bias must have %lld entries", op, (long long)g.out_channels);
    int64_t shape[4];
    int rank = 0;
    if (!unbatched) shape[rank++] = g.batch;
    shape[rank++] = g.out_channels;
    if (spatial == 2) shape[rank++] = g.out_height;
    shape[rank++] = g.out_width;
    pt2_tensor out; /* every kernel writes all of it (the bias first), so it is not zeroed */
    pt2_status st = pt2_tensor_alloc_uninit(ctx->arena, PT2_DTYPE_FLOAT32, rank, shape, &out, err);
    if (st) return st;
    if (pt2_tensor_numel(&out) == 0) return pt2_op_set_output(ctx, node, 0, &out, err);
    const float *px = pt2_f32(x), *pw = pt2_f32(w), *pb = has_bias ? pt2_f32(b) : NULL;
    int handled;
    if ((st = pt2_xnn_convolution(ctx, node, &g, pad_bottom, pad_right, p->transposed, adjust_h, adjust_w, px, pw, pb,
                                  pt2_f32(&out), &handled, err)))
        return st;
    if (!handled && (st = pt2_parallel_conv(ctx->arena, ctx->options.num_threads, &g, p->transposed, px, pw, pb,
                                             pt2_f32(&out), err)))
        return st;
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

static pt2_status run_conv(pt2_run_context *ctx, const pt2_node *node, int spatial, int transposed, const char *op,
                           pt2_error *err) {
    pt2_tensor x, w, b;
    int has_bias;
    pt2_status st = pt2_op_input_weight_bias(ctx, node, &x, &w, &b, &has_bias, err);
    if (st) return st;
    if (w.rank != spatial + 2)
        return pt2_fail(err, PT2_ERR_INPUT, "%s expects a weight of rank %d, got %d", op, spatial + 2, w.rank);
    int64_t kernel[2] = {w.shape[2], w.shape[w.rank - 1]};
    conv_spec p;
    if ((st = read_spec(ctx, node, spatial, transposed, kernel, &p, err))) return st;
    return run_with_spec(ctx, node, op, &x, &w, &b, has_bias, &p, err);
}

static pt2_status run_conv1d(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    return run_conv(ctx, node, 1, 0, "conv1d", err);
}
static pt2_status run_conv2d(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    return run_conv(ctx, node, 2, 0, "conv2d", err);
}
static pt2_status run_conv_transpose1d(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    return run_conv(ctx, node, 1, 1, "conv_transpose1d", err);
}
static pt2_status run_conv_transpose2d(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    return run_conv(ctx, node, 2, 1, "conv_transpose2d", err);
}

/* aten.convolution: the weight's rank says 1-D or 2-D; `transposed` says which kind. */
static pt2_status run_convolution(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor w;
    int transposed;
    pt2_status st = pt2_op_float_tensor(ctx, node, "weight", &w, err);
    if (!st) st = pt2_op_bool(ctx, node, "transposed", &transposed, err);
    if (st) return st;
    if (w.rank != 3 && w.rank != 4)
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "convolution with a weight of rank %d (only 1-D and 2-D)", w.rank);
    return run_conv(ctx, node, w.rank - 2, transposed, "convolution", err);
}

const pt2_op_def pt2_ops_conv[] = {
    {"aten.conv1d.default", run_conv1d},
    {"aten.conv1d.padding", run_conv1d},
    {"aten.conv2d.default", run_conv2d},
    {"aten.conv2d.padding", run_conv2d},
    {"aten.convolution.default", run_convolution},
    {"aten.conv_transpose1d.default", run_conv_transpose1d},
    {"aten.conv_transpose2d.input", run_conv_transpose2d},
    {NULL, NULL}};

/* The lowering (lower_conv.c) reads the same spec as the run, so both agree on every default. */
pt2_status pt2_conv_read_params_1d(pt2_run_context *ctx, const pt2_node *node, int64_t kernel, int transposed,
                                   pt2_conv_params_1d *out, pt2_error *err) {
    int64_t kernels[2] = {kernel, kernel};
    conv_spec p;
    pt2_status st = read_spec(ctx, node, 1, transposed, kernels, &p, err);
    if (st) return st;
    out->stride = p.stride[0];
    out->dilation = p.dilation[0];
    out->groups = p.groups;
    out->pad_left = p.pad_before[0];
    out->pad_right = p.pad_after[0];
    out->output_padding = p.output_padding[0];
    return PT2_OK;
}

pt2_status pt2_conv_read_params_2d(pt2_run_context *ctx, const pt2_node *node, const int64_t *kernel, int transposed,
                                   pt2_conv_params_2d *out, pt2_error *err) {
    conv_spec p;
    pt2_status st = read_spec(ctx, node, 2, transposed, kernel, &p, err);
    if (st) return st;
    const pt2_arg *padding = pt2_node_arg(node, "padding");
    out->same = padding && padding->kind == PT2_ARG_STRING && !strcmp(padding->string, "same");
    out->groups = p.groups;
    for (int a = 0; a < 2; a++) {
        out->stride[a] = p.stride[a];
        out->dilation[a] = p.dilation[a];
        out->pad_before[a] = p.pad_before[a];
        out->pad_after[a] = p.pad_after[a];
        out->output_padding[a] = p.output_padding[a];
    }
    return PT2_OK;
}
