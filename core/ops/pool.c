/* Pooling and resampling with PyTorch's index arithmetic: max_pool1d/2d (+ _with_indices;
 * padding, dilation, ceil_mode), avg_pool1d/2d (count_include_pad, ceil_mode,
 * divisor_override), adaptive_avg_pool1d/2d, upsample_nearest1d/2d, upsample_linear1d and
 * upsample_bilinear2d (output_size or scale factors; align_corners). 1-D runs as 2-D with
 * height 1. The scale arithmetic is float, as PyTorch's CPU kernels compute it for float32. */
#include <math.h>
#include <string.h>

#include "op_util.h"
#include "registry.h"

typedef struct pool_spec {
    int spatial;
    int64_t kernel[2], stride[2], pad[2], dilation[2];
    int ceil_mode;
} pool_spec;

/* [N?, C, (H,) W] as planes of height x width. */
typedef struct planes {
    int64_t count, height, width;
} planes;

static pt2_status view_planes(const pt2_tensor *x, int spatial, planes *p, pt2_error *err) {
    if (x->rank < spatial + 1)
        return pt2_fail(err, PT2_ERR_INPUT, "expected an input of rank %d or %d, got %d", spatial + 1, spatial + 2, x->rank);
    p->width = x->shape[x->rank - 1];
    p->height = spatial == 2 ? x->shape[x->rank - 2] : 1;
    p->count = 1;
    for (int i = 0; i < x->rank - spatial; i++) p->count *= x->shape[i];
    return PT2_OK;
}

/* An int list of `spatial` entries (one is broadcast); `empty_default` fills an empty list. */
static pt2_status spatial_ints(pt2_run_context *ctx, const pt2_node *node, const char *name, int spatial,
                               const int64_t *empty_default, int64_t fallback, int64_t *out, pt2_error *err) {
    int64_t values[4];
    size_t count = 0;
    if (!pt2_node_arg(node, name) || pt2_node_arg(node, name)->kind == PT2_ARG_NONE) {
        out[0] = out[1] = fallback;
        return PT2_OK;
    }
    pt2_status st = pt2_op_ints(ctx, node, name, values, 4, &count, err);
    if (st) return st;
    if (count == 0 && empty_default) {
        out[0] = empty_default[0];
        out[1] = empty_default[1];
        return PT2_OK;
    }
    if (count == 1) values[1] = values[0];
    else if ((int)count != spatial)
        return pt2_fail(err, PT2_ERR_INPUT, "'%s' has %zu entries, expected %d", name, count, spatial);
    /* stored as (height, width); 1-D uses the width and height 1 */
    out[0] = spatial == 2 ? values[0] : fallback;
    out[1] = spatial == 2 ? values[1] : values[0];
    return PT2_OK;
}

static int64_t pooled_size(int64_t in, int64_t kernel, int64_t pad, int64_t stride, int64_t dilation, int ceil_mode) {
    int64_t numerator = in + 2 * pad - dilation * (kernel - 1) - 1 + (ceil_mode ? stride - 1 : 0);
    /* floor division (the numerator may be negative) */
    int64_t out = (numerator >= 0 ? numerator / stride : -((-numerator + stride - 1) / stride)) + 1;
    /* the last window must start inside the input or the left padding */
    if (ceil_mode && (out - 1) * stride >= in + pad) out--;
    return out;
}

static pt2_status read_pool_spec(pt2_run_context *ctx, const pt2_node *node, int spatial, int with_dilation,
                                 pool_spec *p, pt2_error *err) {
    memset(p, 0, sizeof *p);
    p->spatial = spatial;
    pt2_status st = spatial_ints(ctx, node, "kernel_size", spatial, NULL, 1, p->kernel, err);
    if (!st) st = spatial_ints(ctx, node, "stride", spatial, p->kernel, 1, p->stride, err);
    if (!st) st = spatial_ints(ctx, node, "padding", spatial, NULL, 0, p->pad, err);
    if (!st && with_dilation) st = spatial_ints(ctx, node, "dilation", spatial, NULL, 1, p->dilation, err);
    if (!st) st = pt2_op_bool(ctx, node, "ceil_mode", &p->ceil_mode, err);
    if (st) return st;
    if (!with_dilation) p->dilation[0] = p->dilation[1] = 1;
    for (int a = 0; a < 2; a++) {
        if (p->kernel[a] < 1 || p->stride[a] < 1 || p->dilation[a] < 1 || p->pad[a] < 0)
            return pt2_fail(err, PT2_ERR_INPUT, "pooling needs kernel, stride, dilation >= 1 and padding >= 0");
        if (p->pad[a] * 2 > p->kernel[a])
            return pt2_fail(err, PT2_ERR_INPUT, "pad should be at most half of the effective kernel size, got pad %lld "
                            "for kernel %lld", (long long)p->pad[a], (long long)p->kernel[a]);
    }
    return PT2_OK;
}

static pt2_status new_output(pt2_run_context *ctx, const pt2_tensor *x, int spatial, int64_t out_h, int64_t out_w,
                             pt2_dtype dtype, pt2_tensor *out, pt2_error *err) {
    int64_t shape[PT2_MAX_RANK];
    memcpy(shape, x->shape, sizeof shape);
    shape[x->rank - 1] = out_w;
    if (spatial == 2) shape[x->rank - 2] = out_h;
    if (out_h < 0 || out_w < 0) return pt2_fail(err, PT2_ERR_INPUT, "the input is too small for this pooling window");
    return pt2_tensor_alloc(ctx->arena, dtype, x->rank, shape, out, err);
}

static pt2_status run_max_pool(pt2_run_context *ctx, const pt2_node *node, int spatial, pt2_error *err) {
    pt2_tensor x, out, indices;
    pool_spec p;
    planes pl = {0, 0, 0};
    pt2_status st = pt2_op_float_tensor(ctx, node, "self", &x, err);
    if (!st) st = read_pool_spec(ctx, node, spatial, 1, &p, err);
    if (!st) st = view_planes(&x, spatial, &pl, err);
    if (st) return st;
    int64_t oh = pooled_size(pl.height, p.kernel[0], p.pad[0], p.stride[0], p.dilation[0], p.ceil_mode);
    int64_t ow = pooled_size(pl.width, p.kernel[1], p.pad[1], p.stride[1], p.dilation[1], p.ceil_mode);
    if ((st = new_output(ctx, &x, spatial, oh, ow, PT2_DTYPE_FLOAT32, &out, err))) return st;
    if ((st = new_output(ctx, &x, spatial, oh, ow, PT2_DTYPE_INT64, &indices, err))) return st;
    const float *px = pt2_f32(&x);
    float *po = pt2_f32(&out);
    int64_t *pi = pt2_tensor_data(&indices);
    for (int64_t c = 0; c < pl.count; c++)
        for (int64_t i = 0; i < oh; i++)
            for (int64_t j = 0; j < ow; j++) {
                int64_t h0 = i * p.stride[0] - p.pad[0], w0 = j * p.stride[1] - p.pad[1];
                int64_t h1 = h0 + (p.kernel[0] - 1) * p.dilation[0] + 1, w1 = w0 + (p.kernel[1] - 1) * p.dilation[1] + 1;
                if (h1 > pl.height) h1 = pl.height;
                if (w1 > pl.width) w1 = pl.width;
                while (h0 < 0) h0 += p.dilation[0];
                while (w0 < 0) w0 += p.dilation[1];
                const float *plane = px + c * pl.height * pl.width;
                float best = -INFINITY;
                int64_t best_index = h0 * pl.width + w0;
                for (int64_t h = h0; h < h1; h += p.dilation[0])
                    for (int64_t w = w0; w < w1; w += p.dilation[1]) {
                        float v = plane[h * pl.width + w];
                        /* NaN wins, as in PyTorch */
                        if (v > best || isnan(v)) {
                            best = v;
                            best_index = h * pl.width + w;
                        }
                    }
                po[(c * oh + i) * ow + j] = best;
                pi[(c * oh + i) * ow + j] = best_index;
            }
    if ((st = pt2_op_set_output(ctx, node, 0, &out, err))) return st;
    if (node->num_outputs > 1) return pt2_op_set_output(ctx, node, 1, &indices, err);
    return PT2_OK;
}

static pt2_status run_max_pool1d(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    return run_max_pool(ctx, node, 1, err);
}
static pt2_status run_max_pool2d(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    return run_max_pool(ctx, node, 2, err);
}

static pt2_status run_avg_pool(pt2_run_context *ctx, const pt2_node *node, int spatial, pt2_error *err) {
    pt2_tensor x, out;
    pool_spec p;
    planes pl = {0, 0, 0};
    int count_include_pad, has_divisor = 0;
    int64_t divisor = 0;
    pt2_status st = pt2_op_float_tensor(ctx, node, "self", &x, err);
    if (!st) st = read_pool_spec(ctx, node, spatial, 0, &p, err);
    if (!st) st = pt2_op_bool(ctx, node, "count_include_pad", &count_include_pad, err);
    if (!st && pt2_node_arg(node, "divisor_override"))
        st = pt2_op_optional_int(ctx, node, "divisor_override", &divisor, &has_divisor, err);
    if (!st) st = view_planes(&x, spatial, &pl, err);
    if (st) return st;
    if (has_divisor && divisor == 0) return pt2_fail(err, PT2_ERR_INPUT, "divisor_override must be non-zero");
    int64_t oh = pooled_size(pl.height, p.kernel[0], p.pad[0], p.stride[0], 1, p.ceil_mode);
    int64_t ow = pooled_size(pl.width, p.kernel[1], p.pad[1], p.stride[1], 1, p.ceil_mode);
    if ((st = new_output(ctx, &x, spatial, oh, ow, PT2_DTYPE_FLOAT32, &out, err))) return st;
    const float *px = pt2_f32(&x);
    float *po = pt2_f32(&out);
    for (int64_t c = 0; c < pl.count; c++)
        for (int64_t i = 0; i < oh; i++)
            for (int64_t j = 0; j < ow; j++) {
                int64_t h0 = i * p.stride[0] - p.pad[0], w0 = j * p.stride[1] - p.pad[1];
                int64_t h1 = h0 + p.kernel[0], w1 = w0 + p.kernel[1];
                if (h1 > pl.height + p.pad[0]) h1 = pl.height + p.pad[0];
                if (w1 > pl.width + p.pad[1]) w1 = pl.width + p.pad[1];
                int64_t pool_size = (h1 - h0) * (w1 - w0);
                if (h0 < 0) h0 = 0;
                if (w0 < 0) w0 = 0;
                if (h1 > pl.height) h1 = pl.height;
                if (w1 > pl.width) w1 = pl.width;
                float *o = po + (c * oh + i) * ow + j;
                if (h0 >= h1 || w0 >= w1) {
                    *o = 0.0f;
                    continue;
                }
                const float *plane = px + c * pl.height * pl.width;
                float sum = 0.0f;
                for (int64_t h = h0; h < h1; h++)
                    for (int64_t w = w0; w < w1; w++) sum += plane[h * pl.width + w];
                int64_t d = has_divisor ? divisor : count_include_pad ? pool_size : (h1 - h0) * (w1 - w0);
                *o = sum / (float)d;
            }
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

static pt2_status run_avg_pool1d(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    return run_avg_pool(ctx, node, 1, err);
}
static pt2_status run_avg_pool2d(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    return run_avg_pool(ctx, node, 2, err);
}

static pt2_status run_adaptive_avg_pool(pt2_run_context *ctx, const pt2_node *node, int spatial, pt2_error *err) {
    pt2_tensor x, out;
    planes pl = {0, 0, 0};
    int64_t size[2];
    pt2_status st = pt2_op_float_tensor(ctx, node, "self", &x, err);
    if (!st) st = view_planes(&x, spatial, &pl, err);
    if (!st) st = spatial_ints(ctx, node, "output_size", spatial, NULL, 1, size, err);
    if (st) return st;
    if (size[0] < 0 || size[1] < 0) return pt2_fail(err, PT2_ERR_INPUT, "adaptive pooling needs output sizes >= 0");
    if ((st = new_output(ctx, &x, spatial, size[0], size[1], PT2_DTYPE_FLOAT32, &out, err))) return st;
    const float *px = pt2_f32(&x);
    float *po = pt2_f32(&out);
    for (int64_t c = 0; c < pl.count; c++)
        for (int64_t i = 0; i < size[0]; i++) {
            int64_t h0 = i * pl.height / size[0], h1 = ((i + 1) * pl.height + size[0] - 1) / size[0];
            for (int64_t j = 0; j < size[1]; j++) {
                int64_t w0 = j * pl.width / size[1], w1 = ((j + 1) * pl.width + size[1] - 1) / size[1];
                const float *plane = px + c * pl.height * pl.width;
                float sum = 0.0f;
                for (int64_t h = h0; h < h1; h++)
                    for (int64_t w = w0; w < w1; w++) sum += plane[h * pl.width + w];
                po[(c * size[0] + i) * size[1] + j] = sum / (float)((h1 - h0) * (w1 - w0));
            }
        }
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

static pt2_status run_adaptive_avg_pool1d(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    return run_adaptive_avg_pool(ctx, node, 1, err);
}
static pt2_status run_adaptive_avg_pool2d(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    return run_adaptive_avg_pool(ctx, node, 2, err);
}

/* ---------------------------------------------------------------- upsampling */

typedef struct resample_spec {
    int64_t out[2];      /* (height, width) */
    int has_scale[2];
    double scale[2];     /* the user's scale factors, where given */
    int align_corners;
} resample_spec;

/* Output sizes and scales from the .vec overloads (output_size or scale_factors) or the
 * .default ones (output_size plus optional scales_h/scales_w/scales). */
static pt2_status read_resample(pt2_run_context *ctx, const pt2_node *node, int spatial, const planes *pl,
                                int linear, resample_spec *r, pt2_error *err) {
    memset(r, 0, sizeof *r);
    pt2_status st;
    if (linear && (st = pt2_op_bool(ctx, node, "align_corners", &r->align_corners, err))) return st;
    int64_t in[2] = {pl->height, pl->width};
    const pt2_arg *size_arg = pt2_node_arg(node, "output_size");
    const pt2_arg *factors = pt2_node_arg(node, "scale_factors");
    if (size_arg && size_arg->kind != PT2_ARG_NONE) {
        int64_t values[2];
        size_t count;
        if ((st = pt2_op_ints(ctx, node, "output_size", values, 2, &count, err))) return st;
        if ((int)count != spatial)
            return pt2_fail(err, PT2_ERR_INPUT, "output_size has %zu entries, expected %d", count, spatial);
        r->out[0] = spatial == 2 ? values[0] : 1;
        r->out[1] = values[spatial - 1];
        const char *names[2] = {spatial == 2 ? "scales_h" : NULL, spatial == 2 ? "scales_w" : "scales"};
        for (int a = 0; a < 2; a++)
            if (names[a] && pt2_node_arg(node, names[a]) &&
                (st = pt2_op_optional_scalar(ctx, node, names[a], &r->scale[a], &r->has_scale[a], err)))
                return st;
    } else if (factors && factors->kind == PT2_ARG_FLOATS) {
        if ((int)factors->count != spatial)
            return pt2_fail(err, PT2_ERR_INPUT, "scale_factors has %zu entries, expected %d", factors->count, spatial);
        for (int a = 2 - spatial; a < 2; a++) {
            double s = factors->floats[a - (2 - spatial)];
            if (!(s > 0)) return pt2_fail(err, PT2_ERR_INPUT, "scale factors must be positive, got %g", s);
            r->scale[a] = s;
            r->has_scale[a] = 1;
            r->out[a] = (int64_t)floor((double)in[a] * s);
        }
        if (spatial == 1) r->out[0] = 1;
    } else
        return pt2_fail(err, PT2_ERR_INPUT, "upsampling needs output_size or scale_factors");
    if (r->out[0] < 1 || r->out[1] < 1)
        return pt2_fail(err, PT2_ERR_INPUT, "upsampling output size must be positive, got %lld x %lld",
                        (long long)r->out[0], (long long)r->out[1]);
    return PT2_OK;
}

/* PyTorch's compute_scales_value: 1/scale where the user gave one, else in/out. */
static float nearest_scale(int64_t in, int64_t out, int has_scale, double scale) {
    return has_scale && scale > 0 ? (float)(1.0 / scale) : (float)in / (float)out;
}

static int64_t nearest_index(int64_t dst, int64_t in, int64_t out, float scale) {
    if (out == in) return dst;
    if (out == 2 * in) return dst >> 1;
    int64_t src = (int64_t)floorf((float)dst * scale);
    return src < in - 1 ? src : in - 1;
}

static pt2_status run_upsample_nearest(pt2_run_context *ctx, const pt2_node *node, int spatial, pt2_error *err) {
    pt2_tensor x, out;
    planes pl = {0, 0, 0};
    resample_spec r;
    pt2_status st = pt2_op_float_tensor(ctx, node, pt2_node_arg(node, "input") ? "input" : "self", &x, err);
    if (!st) st = view_planes(&x, spatial, &pl, err);
    if (!st) st = read_resample(ctx, node, spatial, &pl, 0, &r, err);
    if (!st) st = new_output(ctx, &x, spatial, r.out[0], r.out[1], PT2_DTYPE_FLOAT32, &out, err);
    if (st) return st;
    float sh = nearest_scale(pl.height, r.out[0], r.has_scale[0], r.scale[0]);
    float sw = nearest_scale(pl.width, r.out[1], r.has_scale[1], r.scale[1]);
    const float *px = pt2_f32(&x);
    float *po = pt2_f32(&out);
    for (int64_t c = 0; c < pl.count; c++)
        for (int64_t i = 0; i < r.out[0]; i++) {
            const float *row = px + (c * pl.height + nearest_index(i, pl.height, r.out[0], sh)) * pl.width;
            float *o = po + (c * r.out[0] + i) * r.out[1];
            for (int64_t j = 0; j < r.out[1]; j++) o[j] = row[nearest_index(j, pl.width, r.out[1], sw)];
        }
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

/* Source indices and weights of one output position (PyTorch's compute_source_index_and_lambda). */
static void linear_source(int64_t dst, int64_t in, int64_t out, int align_corners, int has_scale, double scale,
                          int64_t *i0, int64_t *i1, float *l0, float *l1) {
    if (in == out) {
        *i0 = *i1 = dst;
        *l0 = 1.0f;
        *l1 = 0.0f;
        return;
    }
    float ratio;
    if (align_corners)
        ratio = out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.0f;
    else
        ratio = nearest_scale(in, out, has_scale, scale);
    float real;
    if (align_corners)
        real = ratio * (float)dst;
    else {
        real = ratio * ((float)dst + 0.5f) - 0.5f;
        if (real < 0) real = 0;
    }
    *i0 = (int64_t)real;
    *i1 = *i0 + (*i0 < in - 1 ? 1 : 0);
    float lambda = real - (float)*i0;
    if (lambda < 0) lambda = 0;
    if (lambda > 1) lambda = 1;
    *l1 = lambda;
    *l0 = 1.0f - lambda;
}

static pt2_status run_upsample_linear(pt2_run_context *ctx, const pt2_node *node, int spatial, pt2_error *err) {
    pt2_tensor x, out;
    planes pl = {0, 0, 0};
    resample_spec r;
    pt2_status st = pt2_op_float_tensor(ctx, node, pt2_node_arg(node, "input") ? "input" : "self", &x, err);
    if (!st) st = view_planes(&x, spatial, &pl, err);
    if (!st) st = read_resample(ctx, node, spatial, &pl, 1, &r, err);
    if (!st) st = new_output(ctx, &x, spatial, r.out[0], r.out[1], PT2_DTYPE_FLOAT32, &out, err);
    if (st) return st;
    const float *px = pt2_f32(&x);
    float *po = pt2_f32(&out);
    for (int64_t c = 0; c < pl.count; c++)
        for (int64_t i = 0; i < r.out[0]; i++) {
            int64_t h0, h1;
            float a0, a1;
            linear_source(i, pl.height, r.out[0], r.align_corners, r.has_scale[0], r.scale[0], &h0, &h1, &a0, &a1);
            const float *row0 = px + (c * pl.height + h0) * pl.width, *row1 = px + (c * pl.height + h1) * pl.width;
            float *o = po + (c * r.out[0] + i) * r.out[1];
            for (int64_t j = 0; j < r.out[1]; j++) {
                int64_t w0, w1;
                float b0, b1;
                linear_source(j, pl.width, r.out[1], r.align_corners, r.has_scale[1], r.scale[1], &w0, &w1, &b0, &b1);
                if (spatial == 1)
                    o[j] = b0 * row0[w0] + b1 * row0[w1];
                else
                    o[j] = a0 * (b0 * row0[w0] + b1 * row0[w1]) + a1 * (b0 * row1[w0] + b1 * row1[w1]);
            }
        }
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

static pt2_status run_upsample_nearest1d(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    return run_upsample_nearest(ctx, node, 1, err);
}
static pt2_status run_upsample_nearest2d(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    return run_upsample_nearest(ctx, node, 2, err);
}
static pt2_status run_upsample_linear1d(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    return run_upsample_linear(ctx, node, 1, err);
}
static pt2_status run_upsample_bilinear2d(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    return run_upsample_linear(ctx, node, 2, err);
}

const pt2_op_def pt2_ops_pool[] = {
    {"aten.max_pool1d.default", run_max_pool1d},
    {"aten.max_pool1d_with_indices.default", run_max_pool1d},
    {"aten.max_pool2d.default", run_max_pool2d},
    {"aten.max_pool2d_with_indices.default", run_max_pool2d},
    {"aten.avg_pool1d.default", run_avg_pool1d},
    {"aten.avg_pool2d.default", run_avg_pool2d},
    {"aten.adaptive_avg_pool1d.default", run_adaptive_avg_pool1d},
    {"aten.adaptive_avg_pool2d.default", run_adaptive_avg_pool2d},
    {"aten._adaptive_avg_pool2d.default", run_adaptive_avg_pool2d},
    {"aten.upsample_nearest1d.vec", run_upsample_nearest1d},
    {"aten.upsample_nearest1d.default", run_upsample_nearest1d},
    {"aten.upsample_nearest2d.vec", run_upsample_nearest2d},
    {"aten.upsample_nearest2d.default", run_upsample_nearest2d},
    {"aten.upsample_linear1d.vec", run_upsample_linear1d},
    {"aten.upsample_linear1d.default", run_upsample_linear1d},
    {"aten.upsample_bilinear2d.vec", run_upsample_bilinear2d},
    {"aten.upsample_bilinear2d.default", run_upsample_bilinear2d},
    {NULL, NULL}};
