/* Shape ops. Views share storage with their input, as in PyTorch; kernels that need
 * contiguous data copy when they read. */
#include <string.h>

#include "op_util.h"
#include "registry.h"

static pt2_status run_unsqueeze(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x;
    int64_t dim;
    int d;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &x, err);
    if (!st) st = pt2_op_int(ctx, node, "dim", &dim, err);
    if (!st) st = pt2_op_wrap_dim(dim, x.rank + 1, &d, err);
    if (st) return st;
    if (x.rank == PT2_MAX_RANK) return pt2_fail(err, PT2_ERR_UNSUPPORTED, "rank above %d", PT2_MAX_RANK);
    pt2_tensor out = x;
    for (int i = x.rank; i > d; i--) {
        out.shape[i] = x.shape[i - 1];
        out.strides[i] = x.strides[i - 1];
    }
    out.shape[d] = 1;
    out.strides[d] = d < x.rank ? x.shape[d] * x.strides[d] : 1;
    out.rank = x.rank + 1;
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

static pt2_status run_view(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x, c;
    int64_t shape[PT2_MAX_RANK];
    size_t rank;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &x, err);
    if (!st) st = pt2_op_ints(ctx, node, pt2_node_arg(node, "size") ? "size" : "shape", shape, PT2_MAX_RANK, &rank, err);
    if (st) return st;
    int64_t numel = pt2_tensor_numel(&x), known = 1;
    int infer = -1;
    for (size_t i = 0; i < rank; i++) {
        if (shape[i] == -1) {
            if (infer >= 0) return pt2_fail(err, PT2_ERR_INPUT, "only one dimension can be -1");
            infer = (int)i;
        } else {
            known *= shape[i];
        }
    }
    if (infer >= 0) shape[infer] = known ? numel / known : 0;
    int64_t total = 1;
    for (size_t i = 0; i < rank; i++) total *= shape[i];
    if (total != numel)
        return pt2_fail(err, PT2_ERR_INPUT, "cannot view %lld elements as a shape of %lld", (long long)numel, (long long)total);
    if ((st = pt2_tensor_contiguous(ctx->arena, &x, 0, &c, err))) return st;
    c.rank = (int)rank;
    memcpy(c.shape, shape, sizeof(int64_t) * rank);
    pt2_contiguous_strides(c.shape, c.rank, c.strides);
    return pt2_op_set_output(ctx, node, 0, &c, err);
}

static pt2_status run_permute(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x;
    int64_t dims[PT2_MAX_RANK];
    size_t count;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &x, err);
    if (!st) st = pt2_op_ints(ctx, node, "dims", dims, PT2_MAX_RANK, &count, err);
    if (st) return st;
    if ((int)count != x.rank) return pt2_fail(err, PT2_ERR_INPUT, "permute needs %d dims, got %zu", x.rank, count);
    pt2_tensor out = x;
    for (int i = 0; i < x.rank; i++) {
        int d;
        if ((st = pt2_op_wrap_dim(dims[i], x.rank, &d, err))) return st;
        out.shape[i] = x.shape[d];
        out.strides[i] = x.strides[d];
    }
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

static pt2_status run_transpose(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x;
    int64_t d0, d1;
    int a, b;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &x, err);
    if (!st) st = pt2_op_int(ctx, node, "dim0", &d0, err);
    if (!st) st = pt2_op_int(ctx, node, "dim1", &d1, err);
    if (!st) st = pt2_op_wrap_dim(d0, x.rank, &a, err);
    if (!st) st = pt2_op_wrap_dim(d1, x.rank, &b, err);
    if (st) return st;
    pt2_tensor out = x;
    out.shape[a] = x.shape[b];
    out.shape[b] = x.shape[a];
    out.strides[a] = x.strides[b];
    out.strides[b] = x.strides[a];
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

/* clone, contiguous, alias, detach, dropout in eval: the value passes through. */
static pt2_status run_identity(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x, c;
    pt2_status st = pt2_op_tensor(ctx, node, pt2_node_arg(node, "self") ? "self" : "input", &x, err);
    if (st) return st;
    if (pt2_node_arg(node, "train")) {
        int train;
        if ((st = pt2_op_bool(ctx, node, "train", &train, err))) return st;
        if (train) return pt2_fail(err, PT2_ERR_UNSUPPORTED, "dropout in training mode; export the model after .eval()");
    }
    if ((st = pt2_tensor_contiguous(ctx->arena, &x, 0, &c, err))) return st;
    return pt2_op_set_output(ctx, node, 0, &c, err);
}

static pt2_status run_sym_size(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x;
    int64_t dim;
    int d;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &x, err);
    if (!st) st = pt2_op_int(ctx, node, "dim", &dim, err);
    if (!st) st = pt2_op_wrap_dim(dim, x.rank, &d, err);
    if (st) return st;
    return pt2_op_set_int_output(ctx, node, 0, x.shape[d], err);
}

const pt2_op_def pt2_ops_shape[] = {
    {"aten.unsqueeze.default", run_unsqueeze}, {"aten.view.default", run_view},
    {"aten.reshape.default", run_view},        {"aten._unsafe_view.default", run_view},
    {"aten.permute.default", run_permute},     {"aten.transpose.int", run_transpose},
    {"aten.clone.default", run_identity},      {"aten.contiguous.default", run_identity},
    {"aten.alias.default", run_identity},      {"aten.detach.default", run_identity},
    {"aten.dropout.default", run_identity},    {"aten.sym_size.int", run_sym_size},
    {NULL, NULL}};
