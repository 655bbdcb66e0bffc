/* scaled_dot_product_attention: softmax(q k^T * scale + mask) v over the last two axes, with
 * PyTorch's defaults (scale 1/sqrt(head size)); a boolean mask keeps where true, a float mask
 * is added; is_causal keeps key j <= query i (top-left aligned, as PyTorch). Both products
 * run on the portable GEMM, reading k transposed in place. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "exp_f32.h"
#include "kernels.h"
#include "op_util.h"
#include "parallel.h"
#include "registry.h"

/* The largest of row[0..n) ignoring NaN (-inf when none), in eight lanes the compiler
 * vectorises; a maximum is exact, so the lanes' order does not change it. */
static inline __attribute__((always_inline)) float row_max(const float *row, int64_t n) {
    float lane[8] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    int64_t n8 = n / 8 * 8;
    for (int64_t j = 0; j < n8; j += 8)
        for (int l = 0; l < 8; l++) lane[l] = row[j + l] > lane[l] ? row[j + l] : lane[l];
    for (int64_t j = n8; j < n; j++) lane[j - n8] = row[j] > lane[j - n8] ? row[j] : lane[j - n8];
    float max = -INFINITY;
    for (int l = 0; l < 8; l++) max = lane[l] > max ? lane[l] : max;
    return max;
}

/* row[0..n) summed as eight running sums added in a fixed order: the same bits every run, and
 * eight independent additions in flight instead of one chain of n. */
static inline __attribute__((always_inline)) float row_sum(const float *row, int64_t n) {
    float part[8] = {0};
    int64_t n8 = n / 8 * 8;
    for (int64_t j = 0; j < n8; j += 8)
        for (int l = 0; l < 8; l++) part[l] += row[j + l];
    for (int64_t j = n8; j < n; j++) part[j - n8] += row[j];
    return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}

/* The unmasked row scaled by factor in place; returns its largest entry (ignoring NaN). */
#define DEFINE_SCALE_ROW(NAME, ATTRIBUTE)                                                                       \
    ATTRIBUTE static float NAME(float *row, int64_t n, float factor) {                                          \
        for (int64_t j = 0; j < n; j++) row[j] *= factor;                                                       \
        return row_max(row, n);                                                                                 \
    }

/* exp(row[j] - max) over the row, divided by their sum (row_sum's order); a row whose every entry
 * is masked (max -inf) gives NaN, as PyTorch's math does. */
#define DEFINE_NORMALIZE_ROW(NAME, ATTRIBUTE)                                                                   \
    ATTRIBUTE static void NAME(float *row, int64_t n, float max) {                                              \
        if (max == -INFINITY) {                                                                                 \
            for (int64_t j = 0; j < n; j++) row[j] = NAN;                                                       \
            return;                                                                                             \
        }                                                                                                       \
        for (int64_t j = 0; j < n; j++) row[j] = pt2_exp_f32(row[j] - max);                                     \
        float inverse = 1.0f / row_sum(row, n);                                                                 \
        for (int64_t j = 0; j < n; j++) row[j] *= inverse;                                                      \
    }

DEFINE_SCALE_ROW(scale_row_default, )
DEFINE_NORMALIZE_ROW(normalize_row_default, )

typedef float (*scale_row_fn)(float *, int64_t, float);
typedef void (*normalize_row_fn)(float *, int64_t, float);

#ifdef PT2_KERNELS_AVX2_COPIES
/* The same loops for AVX2 without FMA: eight lanes where the default target has four, and every
 * element's operations are the same separate roundings (nothing to fuse without FMA), so the
 * values are the WebAssembly build's to the bit (exp_f32.h). Chosen when the CPU has AVX2. */
#define PT2_ATTENTION_AVX2 __attribute__((target("avx2")))
DEFINE_SCALE_ROW(scale_row_avx2, PT2_ATTENTION_AVX2)
DEFINE_NORMALIZE_ROW(normalize_row_avx2, PT2_ATTENTION_AVX2)
#endif

static void choose_row_loops(scale_row_fn *scale, normalize_row_fn *normalize) {
    *scale = scale_row_default, *normalize = normalize_row_default;
#ifdef PT2_ATTENTION_AVX2
    if (pt2_cpu_has_avx2()) *scale = scale_row_avx2, *normalize = normalize_row_avx2;
#endif
}

typedef struct sdpa_job {
    const float *q, *k, *v;
    float *out;
    int64_t lq, lk, d, dv;
    int rank, causal, has_mask;
    float factor;
    const uint8_t *mask_bool;
    const float *mask_float;
    const int64_t *mask_strides, *shape; /* the mask's broadcast strides, the query's shape */
    float *scores, *scratch;
    size_t scores_floats, scratch_floats;
    int64_t heads_per_piece, heads;
} sdpa_job;

/* One head: softmax(q k^T * factor + mask) v into its slice of out. */
static void attend_head(const sdpa_job *job, int64_t h, float *scores, float *scratch) {
    int64_t lq = job->lq, lk = job->lk, d = job->d, dv = job->dv;
    int r = job->rank;
    const float *qh = job->q + h * lq * d, *kh = job->k + h * lk * d, *vh = job->v + h * lk * dv;
    float *oh = job->out + h * lq * dv;
    pt2_matrix_view qv = {qh, d, 1}, kt = {kh, 1, d};
    pt2_gemm_matrix(lq, lk, d, qv, kt, scores, lk, 0, scratch);
    int64_t mask_offset = 0, rest = h;
    for (int i = r - 3; i >= 0; i--) {
        mask_offset += rest % job->shape[i] * job->mask_strides[i];
        rest /= job->shape[i];
    }
    scale_row_fn scale_row;
    normalize_row_fn normalize_row;
    choose_row_loops(&scale_row, &normalize_row);
    for (int64_t i = 0; i < lq; i++) {
        float *row = scores + i * lk;
        float max = -INFINITY;
        if (!job->causal && !job->has_mask) {
            max = scale_row(row, lk, job->factor); /* no mask: the scaling alone */
        } else {
            for (int64_t j = 0; j < lk; j++) {
                float s = row[j] * job->factor;
                int64_t m = mask_offset + i * job->mask_strides[r - 2] + j * job->mask_strides[r - 1];
                if ((job->causal && j > i) || (job->mask_bool && !job->mask_bool[m])) s = -INFINITY;
                else if (job->mask_float) s += job->mask_float[m];
                row[j] = s;
                if (s > max) max = s;
            }
        }
        normalize_row(row, lk, max);
    }
    pt2_matrix_view p = {scores, lk, 1}, vv = {vh, dv, 1};
    pt2_gemm_matrix(lq, dv, lk, p, vv, oh, dv, 0, scratch);
}

static void attend_heads(void *context, size_t piece) {
    const sdpa_job *job = context;
    int64_t h0 = (int64_t)piece * job->heads_per_piece;
    int64_t h1 = h0 + job->heads_per_piece < job->heads ? h0 + job->heads_per_piece : job->heads;
    for (int64_t h = h0; h < h1; h++)
        attend_head(job, h, job->scores + piece * job->scores_floats, job->scratch + piece * job->scratch_floats);
}

static pt2_status run_sdpa(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor q, k, v, mask, out;
    int has_mask = 0, causal, has_scale, gqa = 0;
    double dropout, scale;
    pt2_status st = pt2_op_float_tensor(ctx, node, "query", &q, err);
    if (!st) st = pt2_op_float_tensor(ctx, node, "key", &k, err);
    if (!st) st = pt2_op_float_tensor(ctx, node, "value", &v, err);
    if (!st) st = pt2_op_optional_tensor(ctx, node, "attn_mask", &mask, &has_mask, err);
    if (!st) st = pt2_op_scalar(ctx, node, "dropout_p", &dropout, err);
    if (!st) st = pt2_op_bool(ctx, node, "is_causal", &causal, err);
    if (!st) st = pt2_op_optional_scalar(ctx, node, "scale", &scale, &has_scale, err);
    if (!st && pt2_node_arg(node, "enable_gqa")) st = pt2_op_bool(ctx, node, "enable_gqa", &gqa, err);
    if (st) return st;
    if (dropout != 0) return pt2_fail(err, PT2_ERR_UNSUPPORTED, "attention dropout %g; export the model after .eval()", dropout);
    if (gqa) return pt2_fail(err, PT2_ERR_UNSUPPORTED, "scaled_dot_product_attention with enable_gqa=True");
    if (has_mask && causal)
        return pt2_fail(err, PT2_ERR_INPUT, "scaled_dot_product_attention takes attn_mask or is_causal, not both");
    if (has_mask && mask.dtype != PT2_DTYPE_BOOL && mask.dtype != PT2_DTYPE_FLOAT32)
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "attn_mask is %s; expected bool or float32", pt2_dtype_name(mask.dtype));
    if (q.rank < 2 || k.rank != q.rank || v.rank != q.rank)
        return pt2_fail(err, PT2_ERR_INPUT, "query, key and value need the same rank >= 2, got %d, %d, %d", q.rank, k.rank,
                        v.rank);
    int r = q.rank;
    int64_t lq = q.shape[r - 2], lk = k.shape[r - 2], d = q.shape[r - 1], dv = v.shape[r - 1];
    for (int i = 0; i < r - 2; i++)
        if (k.shape[i] != q.shape[i] || v.shape[i] != q.shape[i])
            return pt2_fail(err, PT2_ERR_INPUT, "query, key and value batch dims differ at axis %d", i);
    if (k.shape[r - 1] != d || v.shape[r - 2] != lk)
        return pt2_fail(err, PT2_ERR_INPUT, "key must be [..., %lld, %lld] and value [..., %lld, *]", (long long)lk,
                        (long long)d, (long long)lk);
    int64_t heads = 1;
    for (int i = 0; i < r - 2; i++) heads *= q.shape[i];
    /* the mask's strides at the broadcast shape [batch..., lq, lk] (0 where broadcast) */
    int64_t mask_strides[PT2_MAX_RANK] = {0};
    if (has_mask) {
        if (mask.rank > r) return pt2_fail(err, PT2_ERR_INPUT, "attn_mask has rank %d, more than the query's %d", mask.rank, r);
        for (int i = 0; i < r; i++) {
            int im = i - (r - mask.rank);
            int64_t want = i == r - 2 ? lq : i == r - 1 ? lk : q.shape[i], size = im >= 0 ? mask.shape[im] : 1;
            if (size != 1 && size != want)
                return pt2_fail(err, PT2_ERR_INPUT, "attn_mask size %lld does not broadcast to %lld at axis %d",
                                (long long)size, (long long)want, i);
            mask_strides[i] = im >= 0 && size != 1 ? mask.strides[im] : 0;
        }
    }
    int64_t shape[PT2_MAX_RANK];
    memcpy(shape, q.shape, sizeof shape);
    shape[r - 1] = dv;
    /* every element is written by its head's second GEMM, so no zeroing first */
    if ((st = pt2_tensor_alloc_uninit(ctx->arena, PT2_DTYPE_FLOAT32, r, shape, &out, err))) return st;
    if (heads == 0 || lq == 0 || dv == 0) return pt2_op_set_output(ctx, node, 0, &out, err);
    sdpa_job job = {.q = pt2_f32(&q), .k = pt2_f32(&k), .v = pt2_f32(&v), .out = pt2_f32(&out), .lq = lq, .lk = lk,
                    .d = d, .dv = dv, .rank = r, .causal = causal, .has_mask = has_mask,
                    .factor = (float)(has_scale ? scale : 1.0 / sqrt((double)d)),
                    .mask_bool = has_mask && mask.dtype == PT2_DTYPE_BOOL ? pt2_tensor_data(&mask) : NULL,
                    .mask_float = has_mask && mask.dtype == PT2_DTYPE_FLOAT32 ? pt2_tensor_data(&mask) : NULL,
                    .mask_strides = mask_strides, .shape = q.shape, .heads = heads};
    /* the heads split over the run's threads, each piece with its own scores and GEMM scratch */
    size_t pieces = pt2_parallel_pieces(ctx, (size_t)heads);
    job.scores_floats = (size_t)(lq * (lk ? lk : 1) + 15) / 16 * 16;
    job.scratch_floats = (pt2_gemm_scratch_floats() + 15) / 16 * 16;
    job.heads_per_piece = (heads + (int64_t)pieces - 1) / (int64_t)pieces;
    if (job.scores_floats + job.scratch_floats > SIZE_MAX / sizeof(float) / pieces)
        return pt2_fail(err, PT2_ERR_MEMORY, "attention scores of %lld x %lld do not fit in memory", (long long)lq,
                        (long long)lk);
    /* scores and packing space are written before read: not zeroed */
    job.scores = pt2_arena_alloc_uninit(ctx->arena, job.scores_floats * pieces * sizeof(float), err);
    job.scratch = pt2_arena_alloc_uninit(ctx->arena, job.scratch_floats * pieces * sizeof(float), err);
    if (!job.scores || !job.scratch) return err->status;
    pt2_parallel_for(ctx, pieces, attend_heads, &job);
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

const pt2_op_def pt2_ops_attention[] = {{"aten.scaled_dot_product_attention.default", run_sdpa}, {NULL, NULL}};
