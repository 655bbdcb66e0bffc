#include "backend_xnnpack.h"

#ifndef PT2_HAVE_XNNPACK

pt2_status pt2_xnn_conv1d(pt2_run_context *ctx, const pt2_conv1d_shape *s, const float *x, const float *weight,
                          const float *bias, float *out, int *handled, pt2_error *err) {
    (void)ctx, (void)s, (void)x, (void)weight, (void)bias, (void)out, (void)err;
    *handled = 0;
    return PT2_OK;
}

pt2_status pt2_xnn_conv_transpose1d(pt2_run_context *ctx, const pt2_conv1d_shape *s, const float *x,
                                    const float *weight, const float *bias, float *out, int *handled, pt2_error *err) {
    (void)ctx, (void)s, (void)x, (void)weight, (void)bias, (void)out, (void)err;
    *handled = 0;
    return PT2_OK;
}

pt2_status pt2_xnn_linear(pt2_run_context *ctx, int64_t rows, int64_t in_features, int64_t out_features, const float *x,
                          const float *weight, const float *bias, float *out, int *handled, pt2_error *err) {
    (void)ctx, (void)rows, (void)in_features, (void)out_features, (void)x, (void)weight, (void)bias, (void)out, (void)err;
    *handled = 0;
    return PT2_OK;
}

#else

#include <math.h>
#include <pthreadpool.h>
#include <xnnpack.h>

/* One XNNPACK initialisation and one thread pool per thread count, for the process's life:
 * creating a pool per op would cost more than many small convolutions. */
static pthreadpool_t pool_for(int threads) {
    static int initialised;
    static pthreadpool_t pools[65];
    if (!initialised) {
        if (xnn_initialize(NULL) != xnn_status_success) return NULL;
        initialised = 1;
    }
    if (threads <= 1) return NULL; /* XNNPACK runs on the caller's thread */
    if (threads > 64) threads = 64;
    if (!pools[threads]) pools[threads] = pthreadpool_create((size_t)threads);
    return pools[threads];
}

static int xnn_ready(void) {
    (void)pool_for(1);
    return xnn_initialize(NULL) == xnn_status_success;
}

/* A rows x cols matrix into cols x rows, in tiles that stay in cache on both sides. */
static void transpose(const float *restrict in, int64_t rows, int64_t cols, float *restrict out) {
    enum { TILE = 32 };
    for (int64_t r0 = 0; r0 < rows; r0 += TILE)
        for (int64_t c0 = 0; c0 < cols; c0 += TILE) {
            int64_t r1 = r0 + TILE < rows ? r0 + TILE : rows, c1 = c0 + TILE < cols ? c0 + TILE : cols;
            for (int64_t r = r0; r < r1; r++)
                for (int64_t c = c0; c < c1; c++) out[c * rows + r] = in[r * cols + c];
        }
}

/* [batch, channels, time] <-> [batch, time, channels] */
static void to_nwc(const float *x, int64_t batch, int64_t channels, int64_t time, float *out) {
    for (int64_t b = 0; b < batch; b++) transpose(x + b * channels * time, channels, time, out + b * channels * time);
}

static void from_nwc(const float *x, int64_t batch, int64_t channels, int64_t time, float *out) {
    for (int64_t b = 0; b < batch; b++) transpose(x + b * channels * time, time, channels, out + b * channels * time);
}

/* The repacked kernel and the channels-last input and output both convolutions need. */
typedef struct nwc_buffers {
    float *kernel, *input, *output;
} nwc_buffers;

static pt2_status prepare(pt2_run_context *ctx, const pt2_conv1d_shape *s, const float *x, nwc_buffers *b,
                          pt2_error *err) {
    int64_t group_in = s->in_channels / s->groups;
    b->kernel = pt2_arena_alloc_array(ctx->arena, (size_t)(s->out_channels * s->kernel * group_in), sizeof(float), err);
    b->input = pt2_arena_alloc_array(ctx->arena, (size_t)(s->batch * s->in_channels * s->time), sizeof(float), err);
    b->output = pt2_arena_alloc_array(ctx->arena, (size_t)(s->batch * s->out_channels * s->out_time), sizeof(float), err);
    if (!b->kernel || !b->input || !b->output) return err->status;
    to_nwc(x, s->batch, s->in_channels, s->time, b->input);
    return PT2_OK;
}

/* Runs a set-up operator (deleting it) and brings the output back to channels first. */
static pt2_status finish(pt2_run_context *ctx, xnn_operator_t op, const pt2_conv1d_shape *s, const nwc_buffers *b,
                         float *out, int *handled, pt2_error *err) {
    enum xnn_status status = xnn_run_operator(op, pool_for(ctx->options.num_threads));
    xnn_delete_operator(op);
    if (status != xnn_status_success) return pt2_fail(err, PT2_ERR_INTERNAL, "XNNPACK failed to run (status %d)", status);
    from_nwc(b->output, s->batch, s->out_channels, s->out_time, out);
    *handled = 1;
    return PT2_OK;
}

pt2_status pt2_xnn_conv1d(pt2_run_context *ctx, const pt2_conv1d_shape *s, const float *x, const float *weight,
                          const float *bias, float *out, int *handled, pt2_error *err) {
    *handled = 0;
    if (ctx->options.portable_only || !xnn_ready() || s->out_time <= 0 || s->time <= 0) return PT2_OK;
    int64_t group_in = s->in_channels / s->groups, group_out = s->out_channels / s->groups;
    nwc_buffers b;
    pt2_status st = prepare(ctx, s, x, &b, err);
    if (st) return st;
    /* XNNPACK's kernel layout is [out][kernel][in/groups]; PyTorch's is [out][in/groups][kernel]. */
    for (int64_t o = 0; o < s->out_channels; o++)
        for (int64_t c = 0; c < group_in; c++)
            for (int64_t k = 0; k < s->kernel; k++)
                b.kernel[(o * s->kernel + k) * group_in + c] = weight[(o * group_in + c) * s->kernel + k];
    xnn_operator_t op = NULL;
    if (xnn_create_convolution2d_nhwc_f32(0, (uint32_t)s->pad_right, 0, (uint32_t)s->pad_left, 1, (uint32_t)s->kernel, 1,
                                          (uint32_t)s->stride, 1, (uint32_t)s->dilation, (uint32_t)s->groups,
                                          (size_t)group_in, (size_t)group_out, (size_t)s->in_channels,
                                          (size_t)s->out_channels, b.kernel, bias, -INFINITY, INFINITY, 0,
                                          &op) != xnn_status_success)
        return PT2_OK; /* not a case XNNPACK takes: the portable loop runs it */
    if (xnn_setup_convolution2d_nhwc_f32(op, (size_t)s->batch, 1, (size_t)s->time, b.input, b.output,
                                         pool_for(ctx->options.num_threads)) != xnn_status_success) {
        xnn_delete_operator(op);
        return PT2_OK;
    }
    return finish(ctx, op, s, &b, out, handled, err);
}

pt2_status pt2_xnn_conv_transpose1d(pt2_run_context *ctx, const pt2_conv1d_shape *s, const float *x,
                                    const float *weight, const float *bias, float *out, int *handled, pt2_error *err) {
    *handled = 0;
    if (ctx->options.portable_only || !xnn_ready() || s->out_time <= 0 || s->time <= 0) return PT2_OK;
    int64_t group_in = s->in_channels / s->groups, group_out = s->out_channels / s->groups;
    nwc_buffers b;
    pt2_status st = prepare(ctx, s, x, &b, err);
    if (st) return st;
    /* XNNPACK: [groups][out/groups][kernel][in/groups]; PyTorch: [in][out/groups][kernel]. */
    for (int64_t g = 0; g < s->groups; g++)
        for (int64_t oc = 0; oc < group_out; oc++)
            for (int64_t k = 0; k < s->kernel; k++)
                for (int64_t ic = 0; ic < group_in; ic++)
                    b.kernel[((g * group_out + oc) * s->kernel + k) * group_in + ic] =
                        weight[((g * group_in + ic) * group_out + oc) * s->kernel + k];
    xnn_operator_t op = NULL;
    /* PyTorch's `padding` crops the output on both sides; output_padding adds frames on the right. */
    if (xnn_create_deconvolution2d_nhwc_f32(0, (uint32_t)s->pad_right, 0, (uint32_t)s->pad_left, 1, (uint32_t)s->kernel, 1,
                                            (uint32_t)s->stride, 1, (uint32_t)s->dilation, (uint32_t)s->groups,
                                            (size_t)group_in, (size_t)group_out, (size_t)s->in_channels,
                                            (size_t)s->out_channels, b.kernel, bias, -INFINITY, INFINITY, 0,
                                            &op) != xnn_status_success)
        return PT2_OK;
    if (xnn_setup_deconvolution2d_nhwc_f32(op, (size_t)s->batch, 1, (size_t)s->time, 0, (uint32_t)s->output_padding,
                                           b.input, b.output, pool_for(ctx->options.num_threads)) != xnn_status_success) {
        xnn_delete_operator(op);
        return PT2_OK;
    }
    return finish(ctx, op, s, &b, out, handled, err);
}

pt2_status pt2_xnn_linear(pt2_run_context *ctx, int64_t rows, int64_t in_features, int64_t out_features, const float *x,
                          const float *weight, const float *bias, float *out, int *handled, pt2_error *err) {
    *handled = 0;
    if (ctx->options.portable_only || !xnn_ready() || rows <= 0 || in_features <= 0 || out_features <= 0) return PT2_OK;
    xnn_operator_t op = NULL;
    if (xnn_create_fully_connected_nc_f32((size_t)in_features, (size_t)out_features, (size_t)in_features,
                                          (size_t)out_features, weight, bias, -INFINITY, INFINITY, 0,
                                          &op) != xnn_status_success)
        return PT2_OK;
    if (xnn_setup_fully_connected_nc_f32(op, (size_t)rows, x, out, pool_for(ctx->options.num_threads)) !=
        xnn_status_success) {
        xnn_delete_operator(op);
        return PT2_OK;
    }
    enum xnn_status status = xnn_run_operator(op, pool_for(ctx->options.num_threads));
    xnn_delete_operator(op);
    if (status != xnn_status_success) return pt2_fail(err, PT2_ERR_INTERNAL, "XNNPACK failed to run (status %d)", status);
    *handled = 1;
    return PT2_OK;
}

#endif
