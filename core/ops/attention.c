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

/* The largest of row[j] * factor (ignoring NaN), the row left as it is. For a finite factor > 0
 * that is the largest entry times factor, exactly: rounding is monotone, so no other entry's
 * product exceeds the largest entry's. */
static inline __attribute__((always_inline)) float row_scaled_max(const float *row, int64_t n, float factor) {
    if (factor > 0 && factor < INFINITY) return row_max(row, n) * factor;
    float max = -INFINITY;
    for (int64_t j = 0; j < n; j++) {
        float s = row[j] * factor;
        if (s > max) max = s;
    }
    return max;
}

/* row[0..n) summed as eight running sums added in a fixed order: the same bits every run, and
 * eight independent additions in flight instead of one chain of n. The running sums are one
 * vector of eight, which every target keeps in registers (gcc's AVX-512 copy of the scalar
 * form shuffled them through memory). */
typedef float sum_lanes __attribute__((vector_size(32)));
static inline __attribute__((always_inline)) float row_sum(const float *row, int64_t n) {
    sum_lanes running = {0};
    int64_t n8 = n / 8 * 8;
    for (int64_t j = 0; j < n8; j += 8) {
        sum_lanes x;
        memcpy(&x, row + j, sizeof x);
        running += x;
    }
    float part[8];
    memcpy(part, &running, sizeof part);
    for (int64_t j = n8; j < n; j++) part[j - n8] += row[j];
    return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}

/* The unmasked row's largest entry once scaled by factor, read without writing the row. */
#define DEFINE_SCALED_MAX(NAME, ATTRIBUTE)                                                                      \
    ATTRIBUTE static float NAME(const float *row, int64_t n, float factor) { return row_scaled_max(row, n, factor); }

/* row[j] = exp(row[j] * factor - max) over the row; returns 1 / their sum (row_sum's order), by
 * which the head's output row is multiplied after the second product: the softmax's division
 * moved past the product (as PyTorch's flash-attention CPU kernel does), a pass over lq x dv
 * values where dividing the row itself would be one over lq x lk. A masked row comes scaled
 * already (factor 1: x * 1 is x). A row whose every entry is masked (max -inf) gives NaN, as
 * PyTorch's math does; its entries become 0 so that the product reads no infinity. */
#define DEFINE_EXP_ROW(NAME, ATTRIBUTE)                                                                         \
    ATTRIBUTE static float NAME(float *row, int64_t n, float factor, float max) {                               \
        if (max == -INFINITY) {                                                                                 \
            for (int64_t j = 0; j < n; j++) row[j] = 0.0f;                                                      \
            return n ? NAN : 1.0f;                                                                              \
        }                                                                                                       \
        for (int64_t j = 0; j < n; j++) row[j] = pt2_exp_f32(row[j] * factor - max);                            \
        return 1.0f / row_sum(row, n);                                                                          \
    }

DEFINE_SCALED_MAX(scaled_max_default, )
DEFINE_EXP_ROW(exp_row_default, )

typedef float (*scaled_max_fn)(const float *, int64_t, float);
typedef float (*exp_row_fn)(float *, int64_t, float, float);

#ifdef PT2_KERNELS_AVX2_COPIES
/* The same loops for AVX2 without FMA: eight lanes where the default target has four, and every
 * element's operations are the same separate roundings (nothing to fuse without FMA), so the
 * values are the WebAssembly build's to the bit (exp_f32.h). Chosen when the CPU has AVX2; exp's
 * loop also for AVX-512 (kernels.h), twice the lanes for the softmax's cost. */
#define PT2_ATTENTION_AVX2 __attribute__((target("avx2")))
DEFINE_SCALED_MAX(scaled_max_avx2, PT2_ATTENTION_AVX2)
DEFINE_EXP_ROW(exp_row_avx2, PT2_ATTENTION_AVX2)
DEFINE_EXP_ROW(exp_row_avx512, PT2_AVX512_SEPARATE)
#endif

static void choose_row_loops(scaled_max_fn *scaled_max, exp_row_fn *exp_row) {
    *scaled_max = scaled_max_default, *exp_row = exp_row_default;
#ifdef PT2_ATTENTION_AVX2
    if (pt2_cpu_has_avx2()) *scaled_max = scaled_max_avx2, *exp_row = exp_row_avx2;
    if (pt2_cpu_has_avx512()) *exp_row = exp_row_avx512;
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
    const int64_t *k_strides, *v_strides; /* key's and value's along the batch axes (0 where broadcast) */
    float *scores, *inverses, *scratch;
    size_t scores_floats, inverses_floats, scratch_floats;
    int64_t heads_per_piece, heads;
} sdpa_job;

/* One head: softmax(q k^T * factor + mask) v into its slice of out; `inverse` holds lq floats. */
static void attend_head(const sdpa_job *job, int64_t h, float *scores, float *inverse, float *scratch) {
    int64_t lq = job->lq, lk = job->lk, d = job->d, dv = job->dv;
    int r = job->rank;
    int64_t mask_offset = 0, k_offset = 0, v_offset = 0, rest = h;
    for (int i = r - 3; i >= 0; i--) {
        int64_t index = rest % job->shape[i];
        mask_offset += index * job->mask_strides[i];
        k_offset += index * job->k_strides[i];
        v_offset += index * job->v_strides[i];
        rest /= job->shape[i];
    }
    const float *qh = job->q + h * lq * d, *kh = job->k + k_offset, *vh = job->v + v_offset;
    float *oh = job->out + h * lq * dv;
    pt2_matrix_view qv = {qh, d, 1}, kt = {kh, 1, d};
    pt2_gemm_matrix(lq, lk, d, qv, kt, scores, lk, 0, scratch);
    scaled_max_fn scaled_max;
    exp_row_fn exp_row;
    choose_row_loops(&scaled_max, &exp_row);
    for (int64_t i = 0; i < lq; i++) {
        float *row = scores + i * lk;
        if (!job->causal && !job->has_mask) { /* no mask: the scaling alone, inside exp's pass */
            inverse[i] = exp_row(row, lk, job->factor, scaled_max(row, lk, job->factor));
            continue;
        }
        float max = -INFINITY;
        for (int64_t j = 0; j < lk; j++) {
            float s = row[j] * job->factor;
            int64_t m = mask_offset + i * job->mask_strides[r - 2] + j * job->mask_strides[r - 1];
            if ((job->causal && j > i) || (job->mask_bool && !job->mask_bool[m])) s = -INFINITY;
            else if (job->mask_float) s += job->mask_float[m];
            row[j] = s;
            if (s > max) max = s;
        }
        inverse[i] = exp_row(row, lk, 1.0f, max);
    }
    pt2_matrix_view p = {scores, lk, 1}, vv = {vh, dv, 1};
    pt2_gemm_matrix(lq, dv, lk, p, vv, oh, dv, 0, scratch);
    for (int64_t i = 0; i < lq; i++)
        for (int64_t j = 0; j < dv; j++) oh[i * dv + j] *= inverse[i];
}

static void attend_heads(void *context, size_t piece) {
    const sdpa_job *job = context;
    int64_t h0 = (int64_t)piece * job->heads_per_piece;
    int64_t h1 = h0 + job->heads_per_piece < job->heads ? h0 + job->heads_per_piece : job->heads;
    for (int64_t h = h0; h < h1; h++)
        attend_head(job, h, job->scores + piece * job->scores_floats, job->inverses + piece * job->inverses_floats,
                    job->scratch + piece * job->scratch_floats);
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
    if (k.shape[r - 1] != d || v.shape[r - 2] != lk)
        return pt2_fail(err, PT2_ERR_INPUT, "key must be [..., %lld, %lld] and value [..., %lld, *]", (long long)lk,
                        (long long)d, (long long)lk);
    /* key and value may be shared along a batch axis of size 1 (one key/value head for all query
     * heads, transformers' Falcon with multi_query), as the products broadcast in PyTorch */
    int64_t k_strides[PT2_MAX_RANK] = {0}, v_strides[PT2_MAX_RANK] = {0}, k_step = lk * d, v_step = lk * dv;
    for (int i = r - 3; i >= 0; i--) {
        if ((k.shape[i] != q.shape[i] && k.shape[i] != 1) || (v.shape[i] != q.shape[i] && v.shape[i] != 1))
            return pt2_fail(err, PT2_ERR_INPUT,
                            "key and value batch sizes %lld and %lld at axis %d do not broadcast to the query's %lld",
                            (long long)k.shape[i], (long long)v.shape[i], i, (long long)q.shape[i]);
        k_strides[i] = k.shape[i] == 1 ? 0 : k_step;
        v_strides[i] = v.shape[i] == 1 ? 0 : v_step;
        k_step *= k.shape[i];
        v_step *= v.shape[i];
    }
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
                    .mask_strides = mask_strides, .shape = q.shape, .k_strides = k_strides, .v_strides = v_strides,
                    .heads = heads};
    /* the heads split over the run's threads, each piece with its own scores and GEMM scratch */
    size_t pieces = pt2_parallel_pieces(ctx, (size_t)heads);
    job.scores_floats = (size_t)(lq * (lk ? lk : 1) + 15) / 16 * 16;
    job.inverses_floats = (size_t)(lq + 15) / 16 * 16;
    job.scratch_floats = (pt2_gemm_scratch_floats() + 15) / 16 * 16;
    job.heads_per_piece = (heads + (int64_t)pieces - 1) / (int64_t)pieces;
    if (job.scores_floats + job.inverses_floats + job.scratch_floats > SIZE_MAX / sizeof(float) / pieces)
        return pt2_fail(err, PT2_ERR_MEMORY, "attention scores of %lld x %lld do not fit in memory", (long long)lq,
                        (long long)lk);
    /* scores and packing space are written before read: not zeroed */
    job.scores = pt2_arena_alloc_uninit(ctx->arena, job.scores_floats * pieces * sizeof(float), err);
    job.inverses = pt2_arena_alloc_uninit(ctx->arena, job.inverses_floats * pieces * sizeof(float), err);
    job.scratch = pt2_arena_alloc_uninit(ctx->arena, job.scratch_floats * pieces * sizeof(float), err);
    if (!job.scores || !job.inverses || !job.scratch) return err->status;
    pt2_parallel_for(ctx, pieces, attend_heads, &job);
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

const pt2_op_def pt2_ops_attention[] = {{"aten.scaled_dot_product_attention.default", run_sdpa}, {NULL, NULL}};
