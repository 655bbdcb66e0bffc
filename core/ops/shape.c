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

static pt2_status run_unflatten(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x;
    int64_t dim, sizes[PT2_MAX_RANK];
    size_t count;
    int d;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &x, err);
    if (!st) st = pt2_op_int(ctx, node, "dim", &dim, err);
    if (!st) st = pt2_op_ints(ctx, node, "sizes", sizes, PT2_MAX_RANK, &count, err);
    if (!st) st = pt2_op_wrap_dim(dim, x.rank, &d, err);
    if (st) return st;
    if (x.rank - 1 + (int)count > PT2_MAX_RANK) return pt2_fail(err, PT2_ERR_UNSUPPORTED, "rank above %d", PT2_MAX_RANK);
    int64_t known = 1;
    int infer = -1;
    for (size_t i = 0; i < count; i++) {
        if (sizes[i] == -1) infer = (int)i;
        else known *= sizes[i];
    }
    if (infer >= 0) sizes[infer] = known ? x.shape[d] / known : 0;
    int64_t product = 1;
    for (size_t i = 0; i < count; i++) product *= sizes[i];
    if (product != x.shape[d])
        return pt2_fail(err, PT2_ERR_INPUT, "unflatten: sizes do not multiply to %lld", (long long)x.shape[d]);
    /* A view: the unflattened axis's stride splits into row-major strides. */
    pt2_tensor out = x;
    out.rank = x.rank - 1 + (int)count;
    for (int i = 0; i < d; i++) {
        out.shape[i] = x.shape[i];
        out.strides[i] = x.strides[i];
    }
    int64_t stride = x.strides[d];
    for (int i = (int)count - 1; i >= 0; i--) {
        out.shape[d + i] = sizes[i];
        out.strides[d + i] = stride;
        stride *= sizes[i];
    }
    for (int i = d + 1; i < x.rank; i++) {
        out.shape[i - 1 + (int)count] = x.shape[i];
        out.strides[i - 1 + (int)count] = x.strides[i];
    }
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

static pt2_status run_squeeze_dim(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x;
    int64_t dim;
    int d;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &x, err);
    if (!st) st = pt2_op_int(ctx, node, "dim", &dim, err);
    if (!st) st = pt2_op_wrap_dim(dim, x.rank, &d, err);
    if (st) return st;
    pt2_tensor out = x;
    if (x.rank && x.shape[d] == 1) { /* squeezing a non-1 axis is a no-op, as in PyTorch */
        for (int i = d; i + 1 < x.rank; i++) {
            out.shape[i] = x.shape[i + 1];
            out.strides[i] = x.strides[i + 1];
        }
        out.rank = x.rank - 1;
    }
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

static pt2_status run_select(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x;
    int64_t dim, index;
    int d;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &x, err);
    if (!st) st = pt2_op_int(ctx, node, "dim", &dim, err);
    if (!st) st = pt2_op_int(ctx, node, "index", &index, err);
    if (!st) st = pt2_op_wrap_dim(dim, x.rank, &d, err);
    if (st) return st;
    if (index < -x.shape[d] || index >= x.shape[d])
        return pt2_fail(err, PT2_ERR_INPUT, "select: index %lld out of range for size %lld", (long long)index,
                        (long long)x.shape[d]);
    if (index < 0) index += x.shape[d];
    pt2_tensor out = x;
    out.storage_offset = x.storage_offset + index * x.strides[d];
    for (int i = d; i + 1 < x.rank; i++) {
        out.shape[i] = x.shape[i + 1];
        out.strides[i] = x.strides[i + 1];
    }
    out.rank = x.rank - 1;
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

/* Python arithmetic on symbolic sizes ("_operator.mul" etc.), with Python's floor division. */
static pt2_status run_sym_arithmetic(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    int64_t a, b, r;
    pt2_status st = pt2_op_int(ctx, node, "a", &a, err);
    if (!st) st = pt2_op_int(ctx, node, "b", &b, err);
    if (st) return st;
    const char *op = node->target + strlen("_operator.");
    if (!strcmp(op, "mul")) r = a * b;
    else if (!strcmp(op, "add")) r = a + b;
    else if (!strcmp(op, "sub")) r = a - b;
    else {
        if (b == 0) return pt2_fail(err, PT2_ERR_INPUT, "symbolic division by zero");
        r = a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
    }
    return pt2_op_set_int_output(ctx, node, 0, r, err);
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
    {"aten.unflatten.int", run_unflatten},     {"aten.squeeze.dim", run_squeeze_dim},
    {"aten.select.int", run_select},           {"_operator.mul", run_sym_arithmetic},
    {"_operator.add", run_sym_arithmetic},     {"_operator.sub", run_sym_arithmetic},
    {"_operator.floordiv", run_sym_arithmetic},
    {NULL, NULL}};
