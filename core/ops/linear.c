/* linear, matmul (every rank combination, batch dims broadcast), mm, bmm, addmm, baddbmm and
 * embedding. Matrix products run on the GEMM (kernels_gemm.c) split over the run's threads
 * (parallel.c), reading strided views directly, so a transposed operand (k.transpose(-2, -1))
 * is not copied. XNNPACK's fully-connected operator is not used: it took more time than this
 * GEMM at 1 and at 2 threads (bench/bench_reference_run.py's Transformer layer). */
#include <string.h>

#include "activation.h"
#include "kernels.h"
#include "op_util.h"
#include "parallel.h"
#include "registry.h"

/* A float32 tensor argument as it is (any strides). */
static pt2_status float_view(pt2_run_context *ctx, const pt2_node *node, const char *name, pt2_tensor *out,
                             pt2_error *err) {
    pt2_status st = pt2_op_tensor(ctx, node, name, out, err);
    if (st) return st;
    if (out->dtype != PT2_DTYPE_FLOAT32)
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "argument '%s' is %s; this op runs on float32 only", name,
                        pt2_dtype_name(out->dtype));
    return PT2_OK;
}

/* out = a @ b with torch.matmul's rules. `expect_rank` 0 accepts any ranks; 2 (mm) or 3 (bmm)
 * require exactly that rank on both sides, as those ops do. */
static pt2_status matmul(pt2_run_context *ctx, const pt2_tensor *a, const pt2_tensor *b, int expect_rank,
                         pt2_tensor *out, pt2_error *err) {
    if (a->rank < 1 || b->rank < 1)
        return pt2_fail(err, PT2_ERR_INPUT, "matmul needs tensors of rank >= 1, got ranks %d and %d", a->rank, b->rank);
    if (expect_rank && (a->rank != expect_rank || b->rank != expect_rank))
        return pt2_fail(err, PT2_ERR_INPUT, "expected two tensors of rank %d, got ranks %d and %d", expect_rank, a->rank,
                        b->rank);
    int64_t m = a->rank >= 2 ? a->shape[a->rank - 2] : 1, k = a->shape[a->rank - 1];
    int64_t kb = b->rank >= 2 ? b->shape[b->rank - 2] : b->shape[0], n = b->rank >= 2 ? b->shape[b->rank - 1] : 1;
    if (k != kb)
        return pt2_fail(err, PT2_ERR_INPUT, "matmul: the first operand has %lld columns, the second %lld rows",
                        (long long)k, (long long)kb);
    int64_t a_rs = a->rank >= 2 ? a->strides[a->rank - 2] : 0, a_cs = a->strides[a->rank - 1];
    int64_t b_rs = b->rank >= 2 ? b->strides[b->rank - 2] : b->strides[0], b_cs = b->rank >= 2 ? b->strides[b->rank - 1] : 0;
    /* batch dims, right-aligned and broadcast */
    int a_batch = a->rank > 2 ? a->rank - 2 : 0, b_batch = b->rank > 2 ? b->rank - 2 : 0;
    int batch_rank = a_batch > b_batch ? a_batch : b_batch;
    int64_t batch_shape[PT2_MAX_RANK], a_strides[PT2_MAX_RANK], b_strides[PT2_MAX_RANK];
    for (int i = 0; i < batch_rank; i++) {
        int ia = i - (batch_rank - a_batch), ib = i - (batch_rank - b_batch);
        int64_t sa = ia >= 0 ? a->shape[ia] : 1, sb = ib >= 0 ? b->shape[ib] : 1;
        if (sa != sb && sa != 1 && sb != 1)
            return pt2_fail(err, PT2_ERR_INPUT, "matmul: batch sizes %lld and %lld do not broadcast", (long long)sa,
                            (long long)sb);
        batch_shape[i] = sa == 1 ? sb : sa;
        a_strides[i] = ia >= 0 && sa != 1 ? a->strides[ia] : 0;
        b_strides[i] = ib >= 0 && sb != 1 ? b->strides[ib] : 0;
    }
    int64_t shape[PT2_MAX_RANK];
    int rank = 0;
    for (int i = 0; i < batch_rank; i++) shape[rank++] = batch_shape[i];
    if (a->rank >= 2) shape[rank++] = m;
    if (b->rank >= 2) shape[rank++] = n;
    /* every element is written by its GEMM (accumulate 0), so no zeroing first */
    pt2_status st = pt2_tensor_alloc_uninit(ctx->arena, PT2_DTYPE_FLOAT32, rank, shape, out, err);
    if (st) return st;
    int64_t batches = 1;
    for (int i = 0; i < batch_rank; i++) batches *= batch_shape[i];
    if (batches == 0 || m == 0 || n == 0) return PT2_OK;
    const float *pa = pt2_f32(a), *pb = pt2_f32(b);
    float *po = pt2_f32(out);
    for (int64_t index = 0; index < batches; index++) {
        int64_t rest = index, offset_a = 0, offset_b = 0;
        for (int i = batch_rank - 1; i >= 0; i--) {
            int64_t coordinate = rest % batch_shape[i];
            rest /= batch_shape[i];
            offset_a += coordinate * a_strides[i];
            offset_b += coordinate * b_strides[i];
        }
        pt2_matrix_view va = {pa + offset_a, a_rs, a_cs}, vb = {pb + offset_b, b_rs, b_cs};
        if ((st = pt2_op_gemm(ctx, m, n, k, va, vb, po + index * m * n, n, 0, err))) return st;
    }
    return PT2_OK;
}

static pt2_status run_matmul_named(pt2_run_context *ctx, const pt2_node *node, const char *second, int expect_rank,
                                   pt2_error *err) {
    pt2_tensor a, b, out;
    pt2_status st = float_view(ctx, node, "self", &a, err);
    if (!st) st = float_view(ctx, node, second, &b, err);
    if (!st) st = matmul(ctx, &a, &b, expect_rank, &out, err);
    if (st) return st;
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

static pt2_status run_matmul(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    return run_matmul_named(ctx, node, "other", 0, err);
}
static pt2_status run_mm(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    return run_matmul_named(ctx, node, "mat2", 2, err);
}
static pt2_status run_bmm(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    return run_matmul_named(ctx, node, "mat2", 3, err);
}

/* out = beta * self + alpha * (first @ second), self broadcast to the product's shape.
 * beta = 0 ignores self entirely (NaN in it does not propagate), as PyTorch documents. */
static pt2_status run_add_product(pt2_run_context *ctx, const pt2_node *node, const char *first, const char *second,
                                  int rank, pt2_error *err) {
    pt2_tensor self, a, b, product;
    double beta, alpha;
    pt2_status st = float_view(ctx, node, "self", &self, err);
    if (!st) st = float_view(ctx, node, first, &a, err);
    if (!st) st = float_view(ctx, node, second, &b, err);
    if (!st) st = pt2_op_scalar(ctx, node, "beta", &beta, err);
    if (!st) st = pt2_op_scalar(ctx, node, "alpha", &alpha, err);
    if (!st) st = matmul(ctx, &a, &b, rank, &product, err);
    if (st) return st;
    if (self.rank > product.rank)
        return pt2_fail(err, PT2_ERR_INPUT, "'self' of rank %d does not broadcast to the product's rank %d", self.rank,
                        product.rank);
    int64_t strides[PT2_MAX_RANK];
    for (int i = 0; i < product.rank; i++) {
        int is = i - (product.rank - self.rank);
        int64_t size = is >= 0 ? self.shape[is] : 1;
        if (size != 1 && size != product.shape[i])
            return pt2_fail(err, PT2_ERR_INPUT, "'self' size %lld does not broadcast to %lld at axis %d", (long long)size,
                            (long long)product.shape[i], i);
        strides[i] = is >= 0 && size != 1 ? self.strides[is] : 0;
    }
    float *po = pt2_f32(&product);
    const float *ps = pt2_f32(&self);
    int64_t total = pt2_tensor_numel(&product);
    float fa = (float)alpha, fb = (float)beta;
    for (int64_t index = 0; index < total; index++) {
        int64_t rest = index, offset = 0;
        for (int i = product.rank - 1; i >= 0; i--) {
            offset += rest % product.shape[i] * strides[i];
            rest /= product.shape[i];
        }
        float scaled = alpha == 1.0 ? po[index] : fa * po[index];
        po[index] = beta == 0.0 ? scaled : (beta == 1.0 ? ps[offset] : fb * ps[offset]) + scaled;
    }
    return pt2_op_set_output(ctx, node, 0, &product, err);
}

static pt2_status run_addmm(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    return run_add_product(ctx, node, "mat1", "mat2", 2, err);
}
static pt2_status run_baddbmm(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    return run_add_product(ctx, node, "batch1", "batch2", 3, err);
}

static pt2_status run_linear(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x, w, b, out;
    int has_bias;
    pt2_status st = pt2_op_input_weight_bias(ctx, node, &x, &w, &b, &has_bias, err);
    if (st) return st;
    if (x.rank < 1 || w.rank != 2 || x.shape[x.rank - 1] != w.shape[1])
        return pt2_fail(err, PT2_ERR_INPUT, "linear: input has %lld features, the weight expects %lld",
                        (long long)(x.rank ? x.shape[x.rank - 1] : 0), (long long)(w.rank == 2 ? w.shape[1] : 0));
    int64_t in_features = w.shape[1], out_features = w.shape[0];
    if (has_bias && (b.rank != 1 || b.shape[0] != out_features))
        return pt2_fail(err, PT2_ERR_INPUT, "linear: bias must have %lld entries", (long long)out_features);
    int64_t rows = in_features ? pt2_tensor_numel(&x) / in_features : 0;
    if (!in_features) {
        rows = 1;
        for (int i = 0; i + 1 < x.rank; i++) rows *= x.shape[i];
    }
    int64_t shape[PT2_MAX_RANK];
    memcpy(shape, x.shape, sizeof shape);
    shape[x.rank - 1] = out_features;
    /* An activation that alone reads the output (a feed-forward layer's relu) is applied to each
     * block of it as its sums complete, in cache, instead of in a pass of its own over the output
     * (a Transformer layer's relu: 2.6% of the forward as a pass, 0.6% in the epilogue); the
     * output value then holds the activation's result, which only the activation would have read. */
    const pt2_node *activation = pt2_run_sole_reader(ctx, node->outputs[0].value_id);
    pt2_gemm_epilogue epilogue;
    if (activation && !pt2_activation_epilogue(ctx, activation, &epilogue)) activation = NULL;
    /* every element is written: the GEMM adds the bias as it stores */
    if ((st = pt2_tensor_alloc_uninit(ctx->arena, PT2_DTYPE_FLOAT32, x.rank, shape, &out, err))) return st;
    const float *px = pt2_f32(&x), *pw = pt2_f32(&w), *pb = has_bias ? pt2_f32(&b) : NULL;
    float *po = pt2_f32(&out);
    if (rows > 0 && out_features > 0) {
        pt2_matrix_view a = {px, in_features, 1}, weight_t = {pw, 1, in_features};
        if ((st = pt2_op_gemm_bias(ctx, rows, out_features, in_features, a, weight_t, po, out_features, pb,
                                   activation ? &epilogue : NULL, err)))
            return st;
    }
    if ((st = pt2_op_set_output(ctx, node, 0, &out, err))) return st;
    if (!activation) return PT2_OK;
    pt2_run_take_node(ctx, activation);
    return pt2_op_set_output(ctx, activation, 0, &out, err);
}

static pt2_status run_embedding(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor w, indices, c, out;
    pt2_status st = pt2_op_float_tensor(ctx, node, "weight", &w, err);
    if (!st) st = pt2_op_tensor(ctx, node, "indices", &indices, err);
    if (st) return st;
    if (indices.dtype != PT2_DTYPE_INT64 && indices.dtype != PT2_DTYPE_INT32)
        return pt2_fail(err, PT2_ERR_INPUT, "embedding indices must be integers, got %s", pt2_dtype_name(indices.dtype));
    if ((st = pt2_tensor_contiguous(ctx->arena, &indices, 0, &c, err))) return st;
    if (w.rank != 2 || c.rank >= PT2_MAX_RANK)
        return pt2_fail(err, PT2_ERR_INPUT, "embedding weight must be 2-D and indices of rank < %d", PT2_MAX_RANK);
    int64_t shape[PT2_MAX_RANK], dim = w.shape[1], n = pt2_tensor_numel(&c);
    memcpy(shape, c.shape, sizeof(int64_t) * (size_t)c.rank);
    shape[c.rank] = dim;
    if ((st = pt2_op_new_float(ctx, c.rank + 1, shape, &out, err))) return st;
    for (int64_t i = 0; i < n; i++) {
        int64_t index = c.dtype == PT2_DTYPE_INT64 ? ((int64_t *)pt2_tensor_data(&c))[i] : ((int32_t *)pt2_tensor_data(&c))[i];
        if (index < 0 || index >= w.shape[0])
            return pt2_fail(err, PT2_ERR_INPUT, "embedding index %lld is outside 0..%lld", (long long)index,
                            (long long)(w.shape[0] - 1));
        memcpy(pt2_f32(&out) + i * dim, pt2_f32(&w) + index * dim, sizeof(float) * (size_t)dim);
    }
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

const pt2_op_def pt2_ops_linear[] = {
    {"aten.linear.default", run_linear},   {"aten.matmul.default", run_matmul},   {"aten.mm.default", run_mm},
    {"aten.bmm.default", run_bmm},         {"aten.addmm.default", run_addmm},     {"aten.baddbmm.default", run_baddbmm},
    {"aten.embedding.default", run_embedding}, {NULL, NULL}};
