#include "backend_xnnpack.h"

#ifndef PT2_HAVE_XNNPACK

pt2_status pt2_xnn_convolution(pt2_run_context *ctx, const pt2_node *node, const pt2_conv_geometry *g,
                               int64_t pad_bottom, int64_t pad_right, int transposed, int64_t adjust_h,
                               int64_t adjust_w, const float *x, const float *weight, const float *bias, float *out,
                               int *handled, pt2_error *err) {
    (void)ctx, (void)node, (void)g, (void)pad_bottom, (void)pad_right, (void)transposed, (void)adjust_h;
    (void)adjust_w, (void)x, (void)weight, (void)bias, (void)out, (void)err;
    *handled = 0;
    return PT2_OK;
}

void pt2_xnn_release(void) {}

#else

#include <math.h>
#include <pthreadpool.h>
#include <stdlib.h>
#include <string.h>
#include <xnnpack.h>

#include "parallel.h"

/* One XNNPACK initialisation and one thread pool per thread count, for the process's life:
 * creating a pool per op would cost more than many small convolutions. */
static int initialised;

static int xnn_ready(void) {
    if (!initialised && xnn_initialize(NULL) == xnn_status_success) initialised = 1;
    return initialised;
}

/* The run's pool (parallel.c), shared with the portable kernels' splits; NULL for one thread:
 * XNNPACK then runs on the caller's thread. */
static pthreadpool_t pool_for(int threads) { return pt2_thread_pool(threads); }

/* ---------------------------------------------------------------- kept operators */

enum op_kind { KIND_CONV, KIND_DECONV };

typedef struct kept_operator {
    const pt2_node *node;
    enum op_kind kind;
    int64_t params[16]; /* everything the operator was created with except the weights */
    const float *weight, *bias;
    uint64_t weight_hash, bias_hash; /* of the bytes it was created from, to detect changed weights */
    size_t weight_count, bias_count;
    xnn_operator_t op;
} kept_operator;

static kept_operator *kept;
static size_t kept_count, kept_capacity;

/* The channels-last input and output of whichever convolution runs now: operators run one at a
 * time, so one pair, grown as needed, serves them all and its pages stay mapped. */
static float *channels_last_input, *channels_last_output;
static size_t input_capacity, output_capacity;

static void forget(kept_operator *k) {
    if (k->op) xnn_delete_operator(k->op);
    k->op = NULL;
}

void pt2_xnn_release(void) {
    for (size_t i = 0; i < kept_count; i++) forget(&kept[i]);
    free(kept);
    kept = NULL;
    kept_count = kept_capacity = 0;
    free(channels_last_input);
    free(channels_last_output);
    channels_last_input = channels_last_output = NULL;
    input_capacity = output_capacity = 0;
}

/* A 64-bit hash of the weights an operator was packed from: a kept copy of them would double the
 * weights' memory, and a hash read at memory speed tells a changed weight (a checkpoint applied
 * between runs) from the same one. */
static uint64_t hash_floats(const float *a, size_t count) {
    if (!a) return 0;
    const unsigned char *bytes = (const unsigned char *)a;
    size_t n = count * sizeof(float), i = 0;
    uint64_t h = 0x243F6A8885A308D3ull ^ n, lanes[4] = {h, h + 1, h + 2, h + 3};
    for (; i + 32 <= n; i += 32)
        for (int l = 0; l < 4; l++) {
            uint64_t word;
            memcpy(&word, bytes + i + 8 * l, 8);
            lanes[l] = (lanes[l] ^ word) * 0x9E3779B97F4A7C15ull;
            lanes[l] ^= lanes[l] >> 29;
        }
    for (; i < n; i++) h = (h ^ bytes[i]) * 0x100000001B3ull;
    for (int l = 0; l < 4; l++) h = (h ^ lanes[l]) * 0x9E3779B97F4A7C15ull, h ^= h >> 31;
    return h;
}

/* The kept entry for this node: its operator when still valid (op != NULL), else a cleared
 * entry to create one into. NULL when out of memory. */
static kept_operator *find_kept(const pt2_node *node, enum op_kind kind, const int64_t *params, const float *weight,
                                size_t weight_count, const float *bias, size_t bias_count) {
    kept_operator *k = NULL;
    for (size_t i = 0; i < kept_count; i++)
        if (kept[i].node == node && kept[i].kind == kind) k = &kept[i];
    if (!k) {
        if (kept_count == kept_capacity) {
            size_t capacity = kept_capacity ? 2 * kept_capacity : 64;
            kept_operator *grown = realloc(kept, capacity * sizeof *grown);
            if (!grown) return NULL;
            kept = grown;
            kept_capacity = capacity;
        }
        k = &kept[kept_count++];
        memset(k, 0, sizeof *k);
        k->node = node;
        k->kind = kind;
    }
    if (k->op && !memcmp(k->params, params, sizeof k->params) && k->weight == weight && k->bias == bias &&
        k->weight_count == weight_count && k->bias_count == bias_count &&
        hash_floats(weight, weight_count) == k->weight_hash && hash_floats(bias, bias_count) == k->bias_hash)
        return k;
    forget(k);
    memcpy(k->params, params, sizeof k->params);
    k->weight = weight;
    k->bias = bias;
    k->weight_count = weight_count;
    k->bias_count = bias_count;
    return k;
}

/* Records what an operator was just created from. */
static void remember_weights(kept_operator *k) {
    k->weight_hash = hash_floats(k->weight, k->weight_count);
    k->bias_hash = hash_floats(k->bias, k->bias_count);
}

static int reserve(float **buffer, size_t *capacity, size_t count) {
    if (count <= *capacity) return 1;
    free(*buffer);
    /* XNNPACK may read a few bytes past the end of its input */
    *buffer = malloc(sizeof(float) * count + 64);
    *capacity = *buffer ? count : 0;
    return *buffer != NULL;
}

/* ---------------------------------------------------------------- layout changes */

/* in [rows, cols] -> out [cols, rows]: strips of 64 columns so the written block stays in
 * cache, 8 x 8 tiles inside. */
enum { STRIP = 64, TILE = 8 };

/* Columns [c0, c1) of a rows x cols transpose, in cache-friendly tiles. */
static void transpose_strip(const float *restrict in, int64_t rows, int64_t cols, int64_t c0, int64_t c1,
                            float *restrict out) {
    int64_t r0 = 0;
    for (; r0 + TILE <= rows; r0 += TILE) {
        int64_t c = c0;
        for (; c + TILE <= c1; c += TILE)
            for (int j = 0; j < TILE; j++)
                for (int i = 0; i < TILE; i++) out[(c + j) * rows + r0 + i] = in[(r0 + i) * cols + c + j];
        for (; c < c1; c++)
            for (int i = 0; i < TILE; i++) out[c * rows + r0 + i] = in[(r0 + i) * cols + c];
    }
    for (; r0 < rows; r0++)
        for (int64_t c = c0; c < c1; c++) out[c * rows + r0] = in[r0 * cols + c];
}

typedef struct transpose_job {
    const float *in;
    float *out;
    int64_t rows, cols;
} transpose_job;

static void transpose_task(void *context, size_t strip) {
    const transpose_job *job = context;
    int64_t c0 = (int64_t)strip * STRIP, c1 = c0 + STRIP < job->cols ? c0 + STRIP : job->cols;
    transpose_strip(job->in, job->rows, job->cols, c0, c1, job->out);
}

/* The layout changes around XNNPACK's channels-last operators run on the same threads as the
 * operators (strips of columns are independent), so they scale with --threads too. */
static void transpose(const float *restrict in, int64_t rows, int64_t cols, float *restrict out, pthreadpool_t pool) {
    transpose_job job = {in, out, rows, cols};
    size_t strips = (size_t)((cols + STRIP - 1) / STRIP);
    if (pool && strips > 1)
        pthreadpool_parallelize_1d(pool, transpose_task, &job, strips, 0);
    else
        for (size_t strip = 0; strip < strips; strip++) transpose_task(&job, strip);
}

/* [batch, channels, pixels] <-> [batch, pixels, channels]; one channel needs no move. */
static void to_channels_last(const float *x, int64_t batch, int64_t channels, int64_t pixels, float *out,
                             pthreadpool_t pool) {
    for (int64_t b = 0; b < batch; b++)
        if (channels == 1)
            memcpy(out + b * pixels, x + b * pixels, sizeof(float) * (size_t)pixels);
        else
            transpose(x + b * channels * pixels, channels, pixels, out + b * channels * pixels, pool);
}

static void to_channels_first(const float *x, int64_t batch, int64_t channels, int64_t pixels, float *out,
                              pthreadpool_t pool) {
    for (int64_t b = 0; b < batch; b++)
        if (channels == 1)
            memcpy(out + b * pixels, x + b * pixels, sizeof(float) * (size_t)pixels);
        else
            transpose(x + b * channels * pixels, pixels, channels, out + b * channels * pixels, pool);
}

static float *repack_kernel(const pt2_conv_geometry *g, int transposed, const float *weight) {
    int64_t gi = g->in_channels / g->groups, go = g->out_channels / g->groups, taps = g->kernel_height * g->kernel_width;
    float *k = malloc(sizeof(float) * (size_t)(g->out_channels * gi * taps) + 64);
    if (!k) return NULL;
    for (int64_t grp = 0; grp < g->groups; grp++)
        for (int64_t oc = 0; oc < go; oc++)
            for (int64_t t = 0; t < taps; t++)
                for (int64_t ic = 0; ic < gi; ic++) {
                    int64_t o = grp * go + oc;
                    k[(o * taps + t) * gi + ic] = transposed ? weight[((grp * gi + ic) * go + oc) * taps + t]
                                                             : weight[(o * gi + ic) * taps + t];
                }
    return k;
}

pt2_status pt2_xnn_convolution(pt2_run_context *ctx, const pt2_node *node, const pt2_conv_geometry *g,
                               int64_t pad_bottom, int64_t pad_right, int transposed, int64_t adjust_h,
                               int64_t adjust_w, const float *x, const float *weight, const float *bias, float *out,
                               int *handled, pt2_error *err) {
    *handled = 0;
    if (ctx->options.portable_only || !xnn_ready()) return PT2_OK;
    /* 1-D (height 1) convolutions cost less on the portable GEMM, which reads PyTorch's layout as
     * it is, than through XNNPACK's channels-last operator and the two transposes around it
     * (bench/bench_reference_run.py); conv.c splits their output channels over the threads. */
    if (g->in_height == 1 && g->kernel_height == 1) return PT2_OK;
    /* So do 2-D ones other than depthwise and transposed (Debian's XNNPACK of 2022 against the
     * GEMM, at 1 and 2 threads: a 2-D front end 44 / 21 ms against 22 / 11, a Conformer's
     * subsampling 80 / 39 against 36 / 24, a ResNet block 73 / 40 against 39 / 25); depthwise and
     * transposed ones stay here, where XNNPACK's kernels are the faster at 2 threads (8.0 against
     * 9.8 ms, 9.3 against 11.8). */
    if (!transposed && !(g->groups > 1 && g->groups == g->in_channels)) return PT2_OK;
    int64_t in_pixels = g->in_height * g->in_width, out_pixels = g->out_height * g->out_width;
    if (g->batch <= 0 || in_pixels <= 0 || out_pixels <= 0 || g->groups <= 0) return PT2_OK;
    int64_t gi = g->in_channels / g->groups, go = g->out_channels / g->groups;
    int64_t params[16] = {g->in_channels, g->out_channels, g->kernel_height, g->kernel_width, g->stride_h,
                          g->stride_w,    g->dilation_h,   g->dilation_w,    g->pad_top,      g->pad_left,
                          pad_bottom,     pad_right,       g->groups,        ctx->options.num_threads};
    size_t weight_count = (size_t)(g->out_channels * gi * g->kernel_height * g->kernel_width);
    kept_operator *k = find_kept(node, transposed ? KIND_DECONV : KIND_CONV, params, weight, weight_count, bias,
                                 bias ? (size_t)g->out_channels : 0);
    if (!k) return pt2_fail(err, PT2_ERR_MEMORY, "out of memory keeping an XNNPACK operator");
    if (!k->op) {
        float *packed = repack_kernel(g, transposed, weight);
        if (!packed) return pt2_fail(err, PT2_ERR_MEMORY, "out of memory repacking a convolution kernel");
        enum xnn_status status;
        if (transposed)
            status = xnn_create_deconvolution2d_nhwc_f32(
                (uint32_t)g->pad_top, (uint32_t)pad_right, (uint32_t)pad_bottom, (uint32_t)g->pad_left,
                (uint32_t)g->kernel_height, (uint32_t)g->kernel_width, (uint32_t)g->stride_h, (uint32_t)g->stride_w,
                (uint32_t)g->dilation_h, (uint32_t)g->dilation_w, (uint32_t)g->groups, (size_t)gi, (size_t)go,
                (size_t)g->in_channels, (size_t)g->out_channels, packed, bias, -INFINITY, INFINITY, 0, &k->op);
        else
            status = xnn_create_convolution2d_nhwc_f32(
                (uint32_t)g->pad_top, (uint32_t)pad_right, (uint32_t)pad_bottom, (uint32_t)g->pad_left,
                (uint32_t)g->kernel_height, (uint32_t)g->kernel_width, (uint32_t)g->stride_h, (uint32_t)g->stride_w,
                (uint32_t)g->dilation_h, (uint32_t)g->dilation_w, (uint32_t)g->groups, (size_t)gi, (size_t)go,
                (size_t)g->in_channels, (size_t)g->out_channels, packed, bias, -INFINITY, INFINITY, 0, &k->op);
        free(packed);
        if (status != xnn_status_success) {
            k->op = NULL;
            return PT2_OK; /* not a case XNNPACK takes: the portable kernel runs it */
        }
        remember_weights(k);
    }
    if (!reserve(&channels_last_input, &input_capacity, (size_t)(g->batch * g->in_channels * in_pixels)) ||
        !reserve(&channels_last_output, &output_capacity, (size_t)(g->batch * g->out_channels * out_pixels)))
        return pt2_fail(err, PT2_ERR_MEMORY, "out of memory for channels-last convolution buffers");
    pthreadpool_t pool = pool_for(ctx->options.num_threads);
    enum xnn_status status;
    if (transposed)
        status = xnn_setup_deconvolution2d_nhwc_f32(k->op, (size_t)g->batch, (size_t)g->in_height, (size_t)g->in_width,
                                                    (uint32_t)adjust_h, (uint32_t)adjust_w, channels_last_input,
                                                    channels_last_output, pool);
    else
        status = xnn_setup_convolution2d_nhwc_f32(k->op, (size_t)g->batch, (size_t)g->in_height, (size_t)g->in_width,
                                                  channels_last_input, channels_last_output, pool);
    if (status != xnn_status_success) return PT2_OK;
    to_channels_last(x, g->batch, g->in_channels, in_pixels, channels_last_input, pool);
    status = xnn_run_operator(k->op, pool);
    if (status != xnn_status_success) return pt2_fail(err, PT2_ERR_INTERNAL, "XNNPACK failed to run (status %d)", status);
    to_channels_first(channels_last_output, g->batch, g->out_channels, out_pixels, out, pool);
    *handled = 1;
    return PT2_OK;
}

#endif
