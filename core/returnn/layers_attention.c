/* self_attention (RETURNN's SelfAttentionLayer, TF backend): x·QKV with the output columns laid
 * out per head as [q, k, v]; q scaled by (key dim per head)^-0.5; softmax over the keys (all
 * frames of the sequence, as RETURNN masks the keys after each sequence's end; with
 * attention_left_only the frames up to the query's own); the heads' values concatenated head-major. No bias: a lowering that
 * needs one appends a constant-1 feature to the input (a pad layer) and a bias row to QKV. */
#include <math.h>
#include <string.h>

#include "../ops/exp_f32.h"
#include "../ops/kernels.h"
#include "../ops/parallel.h"
#include "layers.h"

static pt2_status self_attention_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer,
                                       const pt2_rt_shape *inputs, size_t num_inputs, pt2_rt_shape *out,
                                       pt2_error *err) {
    pt2_status st = pt2_rt_single_input(layer, num_inputs, err);
    if (st) return st;
    const pt2_rt_shape *in = &inputs[0];
    int64_t n_out = pt2_rt_int_option(layer, "n_out", -1), heads = pt2_rt_int_option(layer, "num_heads", -1);
    int64_t key_dim = pt2_rt_int_option(layer, "total_key_dim", -1);
    if (n_out < 1 || heads < 1 || key_dim < 1 || key_dim % heads || n_out % heads)
        return pt2_rt_layer_fail(layer, err, "n_out, num_heads and total_key_dim must be given, divisible by num_heads");
    if (in->rank != 3 || in->feature_dim < 0 || pt2_rt_shape_time_axis(net, in) < 0)
        return pt2_rt_layer_fail(layer, err, "expected a [batch, time, feature] source");
    const char *description = pt2_arena_printf(arena, err, "%s:feature-dense", layer->name);
    int feature;
    if (!description) return err->status;
    if ((st = pt2_rt_add_dim(arena, net, description, PT2_RT_DIM_STATIC, n_out, &feature, err))) return st;
    memset(out, 0, sizeof *out);
    out->rank = 3;
    for (int a = 0; a < 3; a++)
        if (net->dims[in->dims[a]].kind == PT2_RT_DIM_BATCH) out->dims[0] = in->dims[a];
    out->dims[1] = in->dims[pt2_rt_shape_time_axis(net, in)];
    out->dims[2] = feature;
    out->feature_dim = feature;
    out->sparse_dim = -1;
    out->dtype = PT2_DTYPE_FLOAT32;
    return PT2_OK;
}

/* One row of energies [time] in place: softmax over its first `keys` entries, the rest 0. The
 * largest in eight lanes (a maximum is exact, so the lanes' order cannot change it; NaN is passed
 * over as by one running maximum); the exponentials in a loop that vectorises (pt2_exp_f32); their
 * sum in double as four running sums added in a fixed order (four additions in flight, not one
 * chain as long as the row). */
#define DEFINE_SOFTMAX_KEYS(NAME, ATTRIBUTE)                                                                     \
    ATTRIBUTE static void NAME(float *row, int64_t keys, int64_t time) {                                         \
        float top = -INFINITY;                                                                                   \
        float lane[8] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY}; \
        int64_t eights = keys / 8 * 8;                                                                           \
        for (int64_t s = 0; s < eights; s += 8)                                                                  \
            for (int l = 0; l < 8; l++) lane[l] = row[s + l] > lane[l] ? row[s + l] : lane[l];                   \
        for (int64_t s = eights; s < keys; s++) top = row[s] > top ? row[s] : top;                               \
        for (int l = 0; l < 8; l++) top = lane[l] > top ? lane[l] : top;                                         \
        for (int64_t s = 0; s < keys; s++) row[s] = pt2_exp_f32(row[s] - top);                                   \
        double part[4] = {0, 0, 0, 0};                                                                           \
        int64_t whole = keys / 4 * 4;                                                                            \
        for (int64_t s = 0; s < whole; s += 4)                                                                   \
            for (int l = 0; l < 4; l++) part[l] += row[s + l];                                                   \
        for (int64_t s = whole; s < keys; s++) part[s - whole] += row[s];                                        \
        float inverse = (float)(1.0 / ((part[0] + part[1]) + (part[2] + part[3])));                              \
        for (int64_t s = 0; s < keys; s++) row[s] *= inverse;                                                    \
        for (int64_t s = keys; s < time; s++) row[s] = 0;                                                        \
    }

DEFINE_SOFTMAX_KEYS(softmax_keys_default, )
#ifdef PT2_KERNELS_AVX2_COPIES
/* The same loops for AVX2 without FMA (eight lanes where the default target has four; the same
 * separate roundings, so the same bits): chosen when the CPU has AVX2. */
DEFINE_SOFTMAX_KEYS(softmax_keys_avx2, __attribute__((target("avx2"))))
/* And for AVX-512, with contraction off (kernels.h): sixteen lanes for exp, the same bits. */
DEFINE_SOFTMAX_KEYS(softmax_keys_avx512, PT2_AVX512_SEPARATE)
#endif

/* Not inlined into attend_heads: called row by row, it is compiled again by V8 once hot and the
 * later rows of the same call run that code (inlined, the first conversion in WebAssembly ran all
 * of a Transformer layer's softmax in the baseline compiler's code: 7 ms). */
__attribute__((noinline)) static void softmax_keys(float *row, int64_t keys, int64_t time) {
#ifdef PT2_KERNELS_AVX2_COPIES
    if (pt2_cpu_has_avx512()) {
        softmax_keys_avx512(row, keys, time);
        return;
    }
    if (pt2_cpu_has_avx2()) {
        softmax_keys_avx2(row, keys, time);
        return;
    }
#endif
    softmax_keys_default(row, keys, time);
}

/* One sequence's heads, split over threads: piece p takes heads p, p + pieces, ... */
typedef struct heads_job {
    float *qkv, *po, *energy, *scratch; /* energy and scratch: one of each per piece */
    size_t energy_floats, scratch_floats;
    int64_t time, columns, heads, dk, dv, per_head, n_out, keys, pieces;
    float scale;
    int left_only;
} heads_job;

static void attend_heads(void *context, size_t piece) {
    const heads_job *j = context;
    int64_t time = j->time, columns = j->columns, dk = j->dk;
    float *energy = j->energy + piece * j->energy_floats, *scratch = j->scratch + piece * j->scratch_floats;
    for (int64_t h = (int64_t)piece; h < j->heads; h += j->pieces) {
        float *q = j->qkv + h * j->per_head;
        for (int64_t t = 0; t < time; t++)
            for (int64_t d = 0; d < dk; d++) q[t * columns + d] *= j->scale;
        /* energy[t, s] = q[t] . k[s]: k read transposed */
        pt2_matrix_view qv = {q, columns, 1}, kt = {q + dk, 1, columns};
        pt2_gemm_matrix(time, time, dk, qv, kt, energy, time, 0, scratch);
        for (int64_t t = 0; t < time; t++) softmax_keys(energy + t * time, j->left_only ? t + 1 : j->keys, time);
        pt2_matrix_view ev = {energy, time, 1}, vv = {q + 2 * dk, columns, 1};
        pt2_gemm_matrix(time, j->dv, time, ev, vv, j->po + h * j->dv, j->n_out, 0, scratch);
    }
}

static pt2_status self_attention_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                         const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *out,
                                         pt2_error *err) {
    (void)num_inputs;
    const pt2_rt_shape *in = &inputs[0].shape;
    int order[3] = {layer->shape.dims[0], layer->shape.dims[1], in->feature_dim};
    pt2_tensor x, w;
    const pt2_tensor *qkv_param = pt2_rt_get_param(layer, "QKV");
    if (!qkv_param || qkv_param->rank != 2) return pt2_rt_layer_fail(layer, err, "parameter QKV is missing");
    pt2_status st = pt2_rt_view_to(arena, &inputs[0], 3, order, &x, err);
    if (!st) st = pt2_tensor_contiguous(arena, qkv_param, 0, &w, err);
    if (st) return st;
    int64_t batch = x.shape[0], time = x.shape[1], n_in = x.shape[2], columns = w.shape[1];
    int64_t heads = pt2_rt_int_option(layer, "num_heads", 1), key_dim = pt2_rt_int_option(layer, "total_key_dim", 1);
    int64_t n_out = pt2_rt_int_option(layer, "n_out", 1), dk = key_dim / heads, dv = n_out / heads, per_head = 2 * dk + dv;
    if (w.shape[0] != n_in || columns != heads * per_head) return pt2_rt_layer_fail(layer, err, "QKV does not fit");
    int64_t sizes[3] = {batch, time, n_out};
    if ((st = pt2_rt_alloc_output_uninit(arena, &layer->shape, sizes, out, err))) return st;
    /* qkv [time, columns], and the heads split over the run's threads, each piece with its own
     * energies [time, time] and GEMM scratch; float32 as TF. */
    size_t pieces = pt2_parallel_pieces_threads(net->threads, (size_t)heads);
    size_t energy_floats = (size_t)(time * time) + 16, scratch_floats = (pt2_gemm_scratch_floats() + 15) / 16 * 16;
    float *qkv = pt2_arena_alloc_array(arena, (size_t)(time * columns) + 1, sizeof(float), err);
    float *energy = pt2_arena_alloc_array(arena, energy_floats * pieces, sizeof(float), err);
    float *scratch = pt2_arena_alloc_array(arena, scratch_floats * pieces, sizeof(float), err);
    if (!qkv || !energy || !scratch) return err->status;
    const float *px = pt2_tensor_data(&x), *pw = pt2_tensor_data(&w);
    /* attention_left_only: frame t attends to frames 0..t, and (as RETURNN's TF layer, which then
     * leaves the lengths to that mask) every frame of the padded tensor does so. */
    heads_job job = {qkv, NULL, energy, scratch, energy_floats, scratch_floats, time, columns, heads, dk, dv,
                     per_head, n_out, 0, (int64_t)pieces, (float)(1.0 / sqrt((double)dk)),
                     pt2_rt_int_option(layer, "attention_left_only", 0) != 0};
    for (int64_t b = 0; b < batch; b++) {
        /* Keys after the sequence's end get no weight, as RETURNN masks them by the lengths. */
        job.keys = pt2_rt_sequence_length(net, layer->shape.dims[1], b, time);
        job.po = (float *)pt2_tensor_data(out) + b * time * n_out;
        pt2_matrix_view xb = {px + b * time * n_in, n_in, 1}, wv = {pw, columns, 1};
        if ((st = pt2_parallel_gemm_matrix(arena, net->threads, time, columns, n_in, xb, wv, qkv, columns, 0, NULL, NULL,
                                           err)))
            return st;
        pt2_parallel_for_threads(net->threads, pieces, attend_heads, &job);
    }
    return PT2_OK;
}

const pt2_rt_layer_class pt2_rt_layers_attention[] = {
    {"self_attention", self_attention_infer, self_attention_compute},
    {NULL, NULL, NULL}};
