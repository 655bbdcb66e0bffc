/* Shape ops. Views (view of contiguous data, permute, transpose, unsqueeze, squeeze, expand,
 * slice, select, split) share storage with their input, as in PyTorch; kernels that need
 * contiguous data copy when they read. Ops that gather (cat, index_select, flip, ...) copy. */
#include <string.h>

#include "elementwise.h"
#include "op_util.h"
#include "parallel.h"
#include "registry.h"

static const char *self_name(const pt2_node *node) { return pt2_node_arg(node, "self") ? "self" : "input"; }

static pt2_status self_and_dim(pt2_run_context *ctx, const pt2_node *node, const char *dim_name, int rank_extra,
                               pt2_tensor *x, int *d, pt2_error *err) {
    int64_t dim;
    pt2_status st = pt2_op_tensor(ctx, node, self_name(node), x, err);
    if (!st) st = pt2_op_int(ctx, node, dim_name, &dim, err);
    if (!st) st = pt2_op_wrap_dim(dim, x->rank + rank_extra, d, err);
    return st;
}

/* Removes axis d of a view. */
static void drop_axis(pt2_tensor *t, int d) {
    for (int i = d; i + 1 < t->rank; i++) {
        t->shape[i] = t->shape[i + 1];
        t->strides[i] = t->strides[i + 1];
    }
    t->rank--;
}

/* ---------------------------------------------------------------- views */

/* Infers a -1 and checks that the sizes hold exactly the tensor's elements. */
static pt2_status infer_shape(int64_t numel, int64_t *shape, size_t rank, pt2_error *err) {
    int64_t known = 1;
    int infer = -1;
    for (size_t i = 0; i < rank; i++) {
        if (shape[i] == -1) {
            if (infer >= 0) return pt2_fail(err, PT2_ERR_INPUT, "only one dimension can be -1");
            infer = (int)i;
        } else if (shape[i] < 0) {
            return pt2_fail(err, PT2_ERR_INPUT, "invalid size %lld in a shape", (long long)shape[i]);
        } else if (!pt2_mul_i64(known, shape[i], &known)) {
            return pt2_fail(err, PT2_ERR_INPUT, "shape overflows");
        }
    }
    if (infer >= 0) {
        if (known == 0 || numel % known)
            return pt2_fail(err, PT2_ERR_INPUT, "cannot infer -1 in a shape for %lld elements", (long long)numel);
        shape[infer] = numel / known;
        known = numel;
    }
    if (known != numel)
        return pt2_fail(err, PT2_ERR_INPUT, "cannot view %lld elements as a shape of %lld", (long long)numel, (long long)known);
    return PT2_OK;
}

static pt2_status reshape_to(pt2_run_context *ctx, const pt2_tensor *x, int64_t *shape, size_t rank, pt2_tensor *out,
                             pt2_error *err) {
    pt2_tensor c;
    if (rank > PT2_MAX_RANK) return pt2_fail(err, PT2_ERR_UNSUPPORTED, "rank above %d", PT2_MAX_RANK);
    pt2_status st = infer_shape(pt2_tensor_numel(x), shape, rank, err);
    if (st) return st;
    /* A view where x's strides allow one (a head split of a transposed projection), as PyTorch's
     * view and reshape give: no copy, and a write through it reaches x, as there. */
    int64_t strides[PT2_MAX_RANK];
    if (pt2_view_strides(x, shape, (int)rank, strides)) {
        c = *x;
        c.rank = (int)rank;
        memcpy(c.shape, shape, sizeof(int64_t) * rank);
        memcpy(c.strides, strides, sizeof(int64_t) * rank);
        *out = c;
        return PT2_OK;
    }
    if ((st = pt2_op_contiguous(ctx, x, 0, &c, err))) return st;
    c.rank = (int)rank;
    memcpy(c.shape, shape, sizeof(int64_t) * rank);
    pt2_contiguous_strides(c.shape, c.rank, c.strides);
    *out = c;
    return PT2_OK;
}

static pt2_status run_view(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x, out;
    int64_t shape[PT2_MAX_RANK + 1];
    size_t rank;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &x, err);
    if (!st) st = pt2_op_ints(ctx, node, pt2_node_arg(node, "size") ? "size" : "shape", shape, PT2_MAX_RANK + 1, &rank, err);
    if (!st) st = reshape_to(ctx, &x, shape, rank, &out, err);
    return st ? st : pt2_op_set_output(ctx, node, 0, &out, err);
}

/* reshape_as / view_as: self in other's shape. */
static pt2_status run_reshape_as(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x, other, out;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &x, err);
    if (!st) st = pt2_op_tensor(ctx, node, "other", &other, err);
    if (!st) st = reshape_to(ctx, &x, other.shape, (size_t)other.rank, &out, err);
    return st ? st : pt2_op_set_output(ctx, node, 0, &out, err);
}

static pt2_status run_flatten(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x, out;
    int64_t start, end;
    int s, e;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &x, err);
    if (!st) st = pt2_op_int(ctx, node, "start_dim", &start, err);
    if (!st) st = pt2_op_int(ctx, node, "end_dim", &end, err);
    if (!st) st = pt2_op_wrap_dim(start, x.rank, &s, err);
    if (!st) st = pt2_op_wrap_dim(end, x.rank, &e, err);
    if (st) return st;
    if (x.rank == 0) {
        int64_t one = 1;
        if ((st = reshape_to(ctx, &x, &one, 1, &out, err))) return st;
        return pt2_op_set_output(ctx, node, 0, &out, err);
    }
    if (s > e) return pt2_fail(err, PT2_ERR_INPUT, "flatten: start_dim %d comes after end_dim %d", s, e);
    int64_t shape[PT2_MAX_RANK];
    size_t rank = 0;
    for (int i = 0; i < x.rank; i++) {
        if (i <= s || i > e) shape[rank++] = x.shape[i];
        else shape[rank - 1] *= x.shape[i];
    }
    if ((st = reshape_to(ctx, &x, shape, rank, &out, err))) return st;
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

static pt2_status run_unflatten(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x;
    int64_t sizes[PT2_MAX_RANK];
    size_t count;
    int d;
    pt2_status st = self_and_dim(ctx, node, "dim", 0, &x, &d, err);
    if (!st) st = pt2_op_ints(ctx, node, "sizes", sizes, PT2_MAX_RANK, &count, err);
    if (st) return st;
    if (x.rank - 1 + (int)count > PT2_MAX_RANK) return pt2_fail(err, PT2_ERR_UNSUPPORTED, "rank above %d", PT2_MAX_RANK);
    if ((st = infer_shape(x.shape[d], sizes, count, err))) return st;
    /* A view: the unflattened axis's stride splits into row-major strides. */
    pt2_tensor out = x;
    out.rank = x.rank - 1 + (int)count;
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

static pt2_status run_unsqueeze(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x;
    int d;
    pt2_status st = self_and_dim(ctx, node, "dim", 1, &x, &d, err);
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

/* squeeze.default, squeeze.dim and squeeze.dims: axes of size other than 1 stay, as in PyTorch. */
static pt2_status run_squeeze(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x;
    int64_t dims[PT2_MAX_RANK];
    size_t count = 0;
    int drop[PT2_MAX_RANK] = {0};
    pt2_status st = pt2_op_tensor(ctx, node, "self", &x, err);
    if (st) return st;
    if (pt2_node_arg(node, "dim")) {
        if ((st = pt2_op_ints(ctx, node, "dim", dims, PT2_MAX_RANK, &count, err))) return st;
        for (size_t i = 0; i < count; i++) {
            int d;
            if ((st = pt2_op_wrap_dim(dims[i], x.rank, &d, err))) return st;
            if (x.rank) drop[d] = x.shape[d] == 1;
        }
    } else {
        for (int i = 0; i < x.rank; i++) drop[i] = x.shape[i] == 1;
    }
    pt2_tensor out = x;
    for (int i = x.rank - 1; i >= 0; i--)
        if (drop[i]) drop_axis(&out, i);
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

static pt2_status run_permute(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x;
    int64_t dims[PT2_MAX_RANK];
    size_t count;
    int seen[PT2_MAX_RANK] = {0};
    pt2_status st = pt2_op_tensor(ctx, node, "self", &x, err);
    if (!st) st = pt2_op_ints(ctx, node, "dims", dims, PT2_MAX_RANK, &count, err);
    if (st) return st;
    if ((int)count != x.rank) return pt2_fail(err, PT2_ERR_INPUT, "permute needs %d dims, got %zu", x.rank, count);
    pt2_tensor out = x;
    for (int i = 0; i < x.rank; i++) {
        int d;
        if ((st = pt2_op_wrap_dim(dims[i], x.rank, &d, err))) return st;
        if (seen[d]++) return pt2_fail(err, PT2_ERR_INPUT, "permute repeats dimension %d", d);
        out.shape[i] = x.shape[d];
        out.strides[i] = x.strides[d];
    }
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

static pt2_status transpose_view(const pt2_tensor *x, int64_t d0, int64_t d1, pt2_tensor *out, pt2_error *err) {
    int a, b;
    *out = *x;
    if (x->rank == 0) return PT2_OK;
    pt2_status st = pt2_op_wrap_dim(d0, x->rank, &a, err);
    if (!st) st = pt2_op_wrap_dim(d1, x->rank, &b, err);
    if (st) return st;
    out->shape[a] = x->shape[b];
    out->shape[b] = x->shape[a];
    out->strides[a] = x->strides[b];
    out->strides[b] = x->strides[a];
    return PT2_OK;
}

static pt2_status run_transpose(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x, out;
    int64_t d0, d1;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &x, err);
    if (!st) st = pt2_op_int(ctx, node, "dim0", &d0, err);
    if (!st) st = pt2_op_int(ctx, node, "dim1", &d1, err);
    if (!st) st = transpose_view(&x, d0, d1, &out, err);
    return st ? st : pt2_op_set_output(ctx, node, 0, &out, err);
}

static pt2_status run_swapaxes(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x, out;
    int64_t d0, d1;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &x, err);
    if (!st) st = pt2_op_int(ctx, node, "axis0", &d0, err);
    if (!st) st = pt2_op_int(ctx, node, "axis1", &d1, err);
    if (!st) st = transpose_view(&x, d0, d1, &out, err);
    return st ? st : pt2_op_set_output(ctx, node, 0, &out, err);
}

/* movedim(source, destination) with one int each: the axis moves, the others keep their order. */
static pt2_status run_movedim(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x;
    int64_t source, destination;
    int from, to;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &x, err);
    if (!st) st = pt2_op_int(ctx, node, "source", &source, err);
    if (!st) st = pt2_op_int(ctx, node, "destination", &destination, err);
    if (!st) st = pt2_op_wrap_dim(source, x.rank, &from, err);
    if (!st) st = pt2_op_wrap_dim(destination, x.rank, &to, err);
    if (st) return st;
    pt2_tensor out = x;
    for (int i = 0, k = 0; i < x.rank; i++) {
        if (i == to) continue;
        if (k == from) k++;
        out.shape[i] = x.shape[k], out.strides[i] = x.strides[k];
        k++;
    }
    out.shape[to] = x.shape[from], out.strides[to] = x.strides[from];
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

static pt2_status run_t(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x, out;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &x, err);
    if (st) return st;
    if (x.rank > 2) return pt2_fail(err, PT2_ERR_INPUT, "t() expects a tensor of at most 2 dimensions, got %d", x.rank);
    if ((st = transpose_view(&x, 0, x.rank == 2 ? 1 : 0, &out, err))) return st;
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

/* x.T (numpy_T): every axis in reverse order, a view (t() for at most two axes). */
static pt2_status run_numpy_t(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &x, err);
    if (st) return st;
    pt2_tensor out = x;
    for (int i = 0; i < x.rank; i++) {
        out.shape[i] = x.shape[x.rank - 1 - i];
        out.strides[i] = x.strides[x.rank - 1 - i];
    }
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

/* unfold(dimension, size, step): the windows x[i * step : i * step + size] along `dimension`, a
 * view: that axis becomes the windows' index, a last axis of `size` runs within each window. */
static pt2_status run_unfold(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x;
    int64_t dimension, size, step;
    int d;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &x, err);
    if (!st) st = pt2_op_int(ctx, node, "dimension", &dimension, err);
    if (!st) st = pt2_op_int(ctx, node, "size", &size, err);
    if (!st) st = pt2_op_int(ctx, node, "step", &step, err);
    if (!st) st = pt2_op_wrap_dim(dimension, x.rank > 0 ? x.rank : 1, &d, err);
    if (st) return st;
    if (x.rank < 1 || x.rank >= PT2_MAX_RANK)
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "unfold of a tensor of %d dimensions is not supported", x.rank);
    if (step <= 0) return pt2_fail(err, PT2_ERR_INPUT, "unfold: step is %lld, must be > 0", (long long)step);
    if (size < 0 || size > x.shape[d])
        return pt2_fail(err, PT2_ERR_INPUT, "unfold: size %lld does not fit dimension %d of size %lld", (long long)size, d,
                        (long long)x.shape[d]);
    pt2_tensor out = x;
    out.shape[d] = (x.shape[d] - size) / step + 1;
    out.strides[d] = x.strides[d] * step;
    out.shape[x.rank] = size;
    out.strides[x.rank] = x.strides[d];
    out.rank = x.rank + 1;
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

static pt2_status expand_view(const pt2_tensor *x, const int64_t *sizes, size_t count, pt2_tensor *out, pt2_error *err) {
    if ((int)count < x->rank)
        return pt2_fail(err, PT2_ERR_INPUT, "expand to %zu dimensions from %d", count, x->rank);
    pt2_tensor v = *x;
    v.rank = (int)count;
    for (int i = 0; i < (int)count; i++) {
        int ix = i - ((int)count - x->rank);
        int64_t size = sizes[i];
        if (ix < 0) {
            if (size < 0) return pt2_fail(err, PT2_ERR_INPUT, "expand: -1 is not allowed for a new leading dimension");
            v.shape[i] = size;
            v.strides[i] = 0;
            continue;
        }
        if (size == -1) size = x->shape[ix];
        if (size != x->shape[ix] && x->shape[ix] != 1)
            return pt2_fail(err, PT2_ERR_INPUT, "expand: size %lld at dimension %d must match %lld or the axis be 1",
                            (long long)size, i, (long long)x->shape[ix]);
        v.shape[i] = size;
        v.strides[i] = size == x->shape[ix] ? x->strides[ix] : 0;
    }
    *out = v;
    return PT2_OK;
}

static pt2_status run_expand(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x, out;
    int64_t sizes[PT2_MAX_RANK];
    size_t count;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &x, err);
    if (!st) st = pt2_op_ints(ctx, node, "size", sizes, PT2_MAX_RANK, &count, err);
    if (!st) st = expand_view(&x, sizes, count, &out, err);
    return st ? st : pt2_op_set_output(ctx, node, 0, &out, err);
}

static pt2_status run_expand_as(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x, other, out;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &x, err);
    if (!st) st = pt2_op_tensor(ctx, node, "other", &other, err);
    if (!st) st = expand_view(&x, other.shape, (size_t)other.rank, &out, err);
    return st ? st : pt2_op_set_output(ctx, node, 0, &out, err);
}

/* PyTorch's slice bounds: negative counts from the end, then clamped into [0, size]. */
static void slice_view(pt2_tensor *t, int d, int64_t start, int64_t end, int64_t step) {
    int64_t size = t->shape[d];
    if (start < 0) start += size;
    if (end < 0) end += size;
    start = start < 0 ? 0 : start > size ? size : start;
    end = end < start ? start : end > size ? size : end;
    int64_t length = (end - start + step - 1) / step;
    if (length > 0) t->storage_offset += start * t->strides[d];
    t->shape[d] = length;
    t->strides[d] *= step;
}

static pt2_status run_slice(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x;
    int d;
    int64_t start = 0, end = INT64_MAX, step = 1;
    int present;
    pt2_status st = self_and_dim(ctx, node, "dim", 0, &x, &d, err);
    if (!st) st = pt2_op_optional_int(ctx, node, "start", &start, &present, err);
    if (!st && !present) start = 0;
    if (!st) st = pt2_op_optional_int(ctx, node, "end", &end, &present, err);
    if (!st && !present) end = INT64_MAX;
    if (!st && pt2_node_arg(node, "step")) st = pt2_op_int(ctx, node, "step", &step, err);
    if (st) return st;
    if (step <= 0) return pt2_fail(err, PT2_ERR_INPUT, "slice step must be positive, got %lld", (long long)step);
    if (x.rank == 0) return pt2_fail(err, PT2_ERR_INPUT, "slice of a 0-d tensor");
    pt2_tensor out = x;
    slice_view(&out, d, start, end, step);
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

static pt2_status run_narrow(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x;
    int d;
    int64_t start, length;
    pt2_status st = self_and_dim(ctx, node, "dim", 0, &x, &d, err);
    if (!st) st = pt2_op_int(ctx, node, "start", &start, err);
    if (!st) st = pt2_op_int(ctx, node, "length", &length, err);
    if (st) return st;
    if (start < 0) start += x.shape[d];
    if (start < 0 || length < 0 || start + length > x.shape[d])
        return pt2_fail(err, PT2_ERR_INPUT, "narrow: start %lld length %lld exceed size %lld", (long long)start,
                        (long long)length, (long long)x.shape[d]);
    pt2_tensor out = x;
    slice_view(&out, d, start, start + length, 1);
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

static pt2_status select_view(const pt2_tensor *x, int d, int64_t index, pt2_tensor *out, pt2_error *err) {
    if (index < -x->shape[d] || index >= x->shape[d])
        return pt2_fail(err, PT2_ERR_INPUT, "select: index %lld out of range for size %lld", (long long)index,
                        (long long)x->shape[d]);
    if (index < 0) index += x->shape[d];
    *out = *x;
    out->storage_offset += index * x->strides[d];
    drop_axis(out, d);
    return PT2_OK;
}

static pt2_status run_select(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x, out;
    int64_t index;
    int d;
    pt2_status st = self_and_dim(ctx, node, "dim", 0, &x, &d, err);
    if (!st) st = pt2_op_int(ctx, node, "index", &index, err);
    if (!st) st = select_view(&x, d, index, &out, err);
    return st ? st : pt2_op_set_output(ctx, node, 0, &out, err);
}

/* split / split_with_sizes / chunk: consecutive slices along one axis, one output each. */
static pt2_status set_split_outputs(pt2_run_context *ctx, const pt2_node *node, const pt2_tensor *x, int d,
                                    const int64_t *sizes, size_t count, pt2_error *err) {
    int64_t start = 0;
    for (size_t i = 0; i < count; i++) {
        if (sizes[i] < 0) return pt2_fail(err, PT2_ERR_INPUT, "split size %lld is negative", (long long)sizes[i]);
        start += sizes[i];
    }
    if (start != x->shape[d])
        return pt2_fail(err, PT2_ERR_INPUT, "split sizes add up to %lld but the dimension has %lld", (long long)start,
                        (long long)x->shape[d]);
    if (count != node->num_outputs)
        return pt2_fail(err, PT2_ERR_INPUT, "split into %zu pieces but the graph has %zu outputs", count, node->num_outputs);
    start = 0;
    for (size_t i = 0; i < count; i++) {
        pt2_tensor piece = *x;
        slice_view(&piece, d, start, start + sizes[i], 1);
        start += sizes[i];
        pt2_status st = pt2_op_set_output(ctx, node, i, &piece, err);
        if (st) return st;
    }
    return PT2_OK;
}

#define MAX_PIECES 4096

static pt2_status split_even(pt2_run_context *ctx, const pt2_node *node, const pt2_tensor *x, int d, int64_t piece,
                             pt2_error *err) {
    int64_t size = x->shape[d];
    size_t count = piece > 0 ? (size_t)((size + piece - 1) / piece) : 0;
    if (size == 0) count = 1;
    if (count > MAX_PIECES) return pt2_fail(err, PT2_ERR_UNSUPPORTED, "split into more than %d pieces", MAX_PIECES);
    int64_t *sizes = pt2_arena_alloc_array(ctx->arena, count + 1, sizeof *sizes, err);
    if (!sizes) return err->status;
    for (size_t i = 0; i < count; i++) {
        int64_t left = size - (int64_t)i * piece;
        sizes[i] = left < piece ? left : piece;
    }
    return set_split_outputs(ctx, node, x, d, sizes, count, err);
}

static pt2_status run_split(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x;
    int d;
    int64_t piece;
    pt2_status st = self_and_dim(ctx, node, "dim", 0, &x, &d, err);
    if (!st) st = pt2_op_int(ctx, node, "split_size", &piece, err);
    if (st) return st;
    if (piece <= 0 && x.shape[d] > 0) return pt2_fail(err, PT2_ERR_INPUT, "split size must be positive");
    return split_even(ctx, node, &x, d, piece, err);
}

static pt2_status run_chunk(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x;
    int d;
    int64_t chunks;
    pt2_status st = self_and_dim(ctx, node, "dim", 0, &x, &d, err);
    if (!st) st = pt2_op_int(ctx, node, "chunks", &chunks, err);
    if (st) return st;
    if (chunks <= 0) return pt2_fail(err, PT2_ERR_INPUT, "chunk count must be positive");
    return split_even(ctx, node, &x, d, (x.shape[d] + chunks - 1) / chunks, err);
}

static pt2_status run_split_with_sizes(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x;
    int d;
    size_t count;
    int64_t *sizes = pt2_arena_alloc_array(ctx->arena, MAX_PIECES, sizeof *sizes, err);
    if (!sizes) return err->status;
    pt2_status st = self_and_dim(ctx, node, "dim", 0, &x, &d, err);
    if (!st) st = pt2_op_ints(ctx, node, "split_sizes", sizes, MAX_PIECES, &count, err);
    return st ? st : set_split_outputs(ctx, node, &x, d, sizes, count, err);
}

static pt2_status run_unbind(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x, piece;
    int d;
    pt2_status st = self_and_dim(ctx, node, "dim", 0, &x, &d, err);
    if (st) return st;
    if ((size_t)x.shape[d] != node->num_outputs)
        return pt2_fail(err, PT2_ERR_INPUT, "unbind of %lld slices but the graph has %zu outputs", (long long)x.shape[d],
                        node->num_outputs);
    for (int64_t i = 0; i < x.shape[d]; i++) {
        if ((st = select_view(&x, d, i, &piece, err))) return st;
        if ((st = pt2_op_set_output(ctx, node, (size_t)i, &piece, err))) return st;
    }
    return PT2_OK;
}

/* clone, contiguous, alias, detach, lift_fresh_copy: the value passes through (copied when the
 * op promises a fresh tensor, so later in-place ops cannot reach the input). */
static pt2_status run_identity(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x, c;
    pt2_status st = pt2_op_tensor(ctx, node, self_name(node), &x, err);
    if (st) return st;
    int copy = strstr(node->target, "clone") || strstr(node->target, "copy");
    if ((st = pt2_op_contiguous(ctx, &x, copy, &c, err))) return st;
    return pt2_op_set_output(ctx, node, 0, &c, err);
}

/* _to_copy, to.dtype, to.dtype_layout, to.device, type_as: dtype conversions. */
static pt2_status run_to(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x, out;
    pt2_dtype dtype;
    int present = 0;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &x, err);
    if (st) return st;
    dtype = x.dtype;
    if (pt2_node_arg(node, "other")) {
        pt2_tensor other;
        if ((st = pt2_op_tensor(ctx, node, "other", &other, err))) return st;
        dtype = other.dtype;
    } else if (pt2_node_arg(node, "dtype")) {
        if ((st = pt2_op_dtype(ctx, node, "dtype", &dtype, &present, err))) return st;
        if (!present) dtype = x.dtype;
    }
    if ((st = pt2_tensor_cast(ctx->arena, &x, dtype, &out, err))) return st;
    if (out.storage == x.storage && (st = pt2_tensor_contiguous(ctx->arena, &x, 1, &out, err))) return st;
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

/* ---------------------------------------------------------------- copies */

pt2_status pt2_op_cat(pt2_arena *arena, const pt2_tensor *list, size_t count, int64_t dim, pt2_tensor *out, pt2_error *err) {
    /* PyTorch still skips 1-D empty tensors in cat, whatever the other ranks. */
    const pt2_tensor *first = NULL;
    pt2_dtype dtype = PT2_DTYPE_INVALID;
    for (size_t i = 0; i < count; i++) {
        dtype = pt2_promote_types(dtype, list[i].dtype);
        if (!first && !(list[i].rank == 1 && list[i].shape[0] == 0)) first = &list[i];
    }
    if (!count) return pt2_fail(err, PT2_ERR_INPUT, "cat of an empty list");
    if (!first) first = &list[0];
    int d;
    pt2_status st = pt2_op_wrap_dim(dim, first->rank, &d, err);
    if (st) return st;
    int64_t shape[PT2_MAX_RANK];
    memcpy(shape, first->shape, sizeof shape);
    shape[d] = 0;
    for (size_t i = 0; i < count; i++) {
        const pt2_tensor *t = &list[i];
        if (t->rank == 1 && t->shape[0] == 0 && first->rank != 1) continue;
        if (t->rank != first->rank)
            return pt2_fail(err, PT2_ERR_INPUT, "cat: tensor %zu has %d dimensions, expected %d", i, t->rank, first->rank);
        for (int a = 0; a < t->rank; a++)
            if (a != d && t->shape[a] != first->shape[a])
                return pt2_fail(err, PT2_ERR_INPUT, "cat: tensor %zu has size %lld at dimension %d, expected %lld", i,
                                (long long)t->shape[a], a, (long long)first->shape[a]);
        shape[d] += t->shape[d];
    }
    if ((st = pt2_tensor_alloc(arena, dtype, first->rank, shape, out, err))) return st;
    int64_t outer = 1, inner = 1;
    for (int a = 0; a < d; a++) outer *= shape[a];
    for (int a = d + 1; a < first->rank; a++) inner *= shape[a];
    size_t es = pt2_dtype_size(dtype);
    int64_t offset = 0; /* along d */
    for (size_t i = 0; i < count; i++) {
        const pt2_tensor *t = &list[i];
        if (t->rank == 1 && t->shape[0] == 0 && first->rank != 1) continue;
        pt2_tensor c;
        if ((st = pt2_tensor_cast(arena, t, dtype, &c, err))) return st;
        size_t block = (size_t)(t->shape[d] * inner) * es;
        const char *src = pt2_tensor_data(&c);
        char *dst = (char *)pt2_tensor_data(out) + (size_t)(offset * inner) * es;
        for (int64_t o = 0; o < outer && block; o++)
            memcpy(dst + (size_t)(o * shape[d] * inner) * es, src + (size_t)o * block, block);
        offset += t->shape[d];
    }
    return PT2_OK;
}

static pt2_status run_cat(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor *list, out;
    size_t count;
    int64_t dim = 0;
    pt2_status st = pt2_op_tensor_list(ctx, node, "tensors", &list, &count, err);
    if (!st && pt2_node_arg(node, "dim")) st = pt2_op_int(ctx, node, "dim", &dim, err);
    if (!st) st = pt2_op_cat(ctx->arena, list, count, dim, &out, err);
    return st ? st : pt2_op_set_output(ctx, node, 0, &out, err);
}

static pt2_status run_stack(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor *list;
    size_t count;
    int64_t dim = 0;
    pt2_status st = pt2_op_tensor_list(ctx, node, "tensors", &list, &count, err);
    if (!st && pt2_node_arg(node, "dim")) st = pt2_op_int(ctx, node, "dim", &dim, err);
    if (st) return st;
    if (!count) return pt2_fail(err, PT2_ERR_INPUT, "stack of an empty list");
    int rank = list[0].rank, d;
    if ((st = pt2_op_wrap_dim(dim, rank + 1, &d, err))) return st;
    if (rank == PT2_MAX_RANK) return pt2_fail(err, PT2_ERR_UNSUPPORTED, "rank above %d", PT2_MAX_RANK);
    pt2_dtype dtype = PT2_DTYPE_INVALID;
    for (size_t i = 0; i < count; i++) {
        dtype = pt2_promote_types(dtype, list[i].dtype);
        if (list[i].rank != rank || memcmp(list[i].shape, list[0].shape, sizeof(int64_t) * (size_t)rank))
            return pt2_fail(err, PT2_ERR_INPUT, "stack: tensor %zu has another shape than tensor 0", i);
    }
    int64_t shape[PT2_MAX_RANK], outer = 1, inner = 1;
    for (int a = 0, k = 0; a <= rank; a++) shape[a] = a == d ? (int64_t)count : list[0].shape[k++];
    for (int a = 0; a < d; a++) outer *= shape[a];
    for (int a = d + 1; a <= rank; a++) inner *= shape[a];
    pt2_tensor out;
    if ((st = pt2_tensor_alloc(ctx->arena, dtype, rank + 1, shape, &out, err))) return st;
    size_t es = pt2_dtype_size(dtype), block = (size_t)inner * es;
    for (size_t i = 0; i < count; i++) {
        pt2_tensor c;
        if ((st = pt2_tensor_cast(ctx->arena, &list[i], dtype, &c, err))) return st;
        const char *src = pt2_tensor_data(&c);
        char *dst = pt2_tensor_data(&out);
        for (int64_t o = 0; o < outer && block; o++)
            memcpy(dst + ((size_t)o * count + i) * block, src + (size_t)o * block, block);
    }
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

/* Index tensors as int64, wrapped into [0, size) and checked. */
static pt2_status read_indices(pt2_run_context *ctx, const pt2_tensor *index, int64_t size, pt2_tensor *out,
                               pt2_error *err) {
    if (!pt2_dtype_is_integral(index->dtype))
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "index tensors must be integers here, got %s", pt2_dtype_name(index->dtype));
    pt2_status st = pt2_tensor_cast(ctx->arena, index, PT2_DTYPE_INT64, out, err);
    if (st) return st;
    if (out->storage == index->storage && (st = pt2_tensor_contiguous(ctx->arena, out, 1, out, err))) return st;
    int64_t *p = pt2_tensor_data(out), n = pt2_tensor_numel(out);
    for (int64_t i = 0; i < n; i++) {
        if (p[i] < -size || p[i] >= size)
            return pt2_fail(err, PT2_ERR_INPUT, "index %lld is out of bounds for a dimension of size %lld", (long long)p[i],
                            (long long)size);
        if (p[i] < 0) p[i] += size;
    }
    return PT2_OK;
}

/* out = x with axis d replaced by the rows `index` (flat), as contiguous data. */
static pt2_status take_rows(pt2_run_context *ctx, const pt2_tensor *x_in, int d, const pt2_tensor *index,
                            pt2_tensor *out, pt2_error *err) {
    pt2_tensor x;
    pt2_status st = pt2_tensor_contiguous(ctx->arena, x_in, 0, &x, err);
    if (st) return st;
    int64_t shape[PT2_MAX_RANK], outer = 1, inner = 1, count = pt2_tensor_numel(index);
    memcpy(shape, x.shape, sizeof shape);
    shape[d] = count;
    for (int a = 0; a < d; a++) outer *= x.shape[a];
    for (int a = d + 1; a < x.rank; a++) inner *= x.shape[a];
    if ((st = pt2_tensor_alloc(ctx->arena, x.dtype, x.rank, shape, out, err))) return st;
    size_t es = pt2_dtype_size(x.dtype), block = (size_t)inner * es;
    const int64_t *p = pt2_tensor_data(index);
    const char *src = pt2_tensor_data(&x);
    char *dst = pt2_tensor_data(out);
    for (int64_t o = 0; o < outer && block; o++)
        for (int64_t j = 0; j < count; j++)
            memcpy(dst + (size_t)(o * count + j) * block, src + (size_t)(o * x.shape[d] + p[j]) * block, block);
    return PT2_OK;
}

static pt2_status run_index_select(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x, index, idx, out;
    int d;
    pt2_status st = self_and_dim(ctx, node, "dim", 0, &x, &d, err);
    if (!st) st = pt2_op_tensor(ctx, node, "index", &index, err);
    if (st) return st;
    if (index.rank > 1) return pt2_fail(err, PT2_ERR_INPUT, "index_select needs a 0-d or 1-D index, got rank %d", index.rank);
    if (x.rank == 0) return pt2_fail(err, PT2_ERR_UNSUPPORTED, "index_select on a 0-d tensor");
    if ((st = read_indices(ctx, &index, x.shape[d], &idx, err))) return st;
    if ((st = take_rows(ctx, &x, d, &idx, &out, err))) return st;
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

/* x[i0, i1, ...] with several integer index tensors (None entries: whole axes), as PyTorch's
 * advanced indexing: the index tensors broadcast to one shape S; the result is x's axes before
 * the indexed ones, S, the axes after them where the indexed axes are adjacent, else S and then
 * every other axis in order (transformers' masks: mask[batch_idx, kv_idx] over aranges). */
static pt2_status index_several(pt2_run_context *ctx, const pt2_node *node, const pt2_tensor *x, const pt2_tensor *indices,
                                size_t count, pt2_error *err) {
    pt2_tensor idx[PT2_MAX_RANK];
    int indexed[PT2_MAX_RANK] = {0}, first = -1, last = -1, broadcast_rank = 0;
    int64_t broadcast[PT2_MAX_RANK] = {0}; /* S, the index tensors' shapes broadcast together */
    for (size_t i = 0; i < count; i++) {
        if (indices[i].rank < 0) continue;
        if (indices[i].dtype == PT2_DTYPE_BOOL || indices[i].dtype == PT2_DTYPE_UINT8)
            return pt2_fail(err, PT2_ERR_UNSUPPORTED, "boolean mask indexing (data-dependent shape) is not supported");
        pt2_status st = read_indices(ctx, &indices[i], x->shape[i], &idx[i], err);
        if (st) return st;
        indexed[i] = 1, last = (int)i;
        if (first < 0) first = (int)i;
        int64_t so_far[PT2_MAX_RANK];
        memcpy(so_far, broadcast, sizeof so_far);
        if ((st = pt2_broadcast_shapes(idx[i].rank, idx[i].shape, broadcast_rank, so_far, &broadcast_rank, broadcast, err)))
            return st;
    }
    /* each index tensor as a view over S (stride 0 along its broadcast axes) */
    for (int a = first; a <= last; a++)
        if (indexed[a]) pt2_broadcast_view(&idx[a], broadcast_rank, broadcast, &idx[a]);
    int adjacent = 1;
    for (int a = first; a <= last; a++) adjacent &= indexed[a];
    int rest = 0;
    for (int a = 0; a < x->rank; a++) rest += !indexed[a];
    if (broadcast_rank + rest > PT2_MAX_RANK) return pt2_fail(err, PT2_ERR_UNSUPPORTED, "rank above %d", PT2_MAX_RANK);
    /* out_axis[a]: where x's non-indexed axis a goes; the broadcast shape starts at `at` */
    int64_t shape[PT2_MAX_RANK];
    int out_axis[PT2_MAX_RANK], rank = 0, at = adjacent ? first : 0;
    if (!adjacent) rank = broadcast_rank;
    for (int a = 0; a < x->rank; a++) {
        if (adjacent && a == first) rank += broadcast_rank;
        if (!indexed[a]) out_axis[a] = rank, shape[rank++] = x->shape[a];
    }
    for (int b = 0; b < broadcast_rank; b++) shape[at + b] = broadcast[b];
    pt2_tensor out;
    pt2_status st = pt2_tensor_alloc(ctx->arena, x->dtype, rank, shape, &out, err);
    if (st) return st;
    int64_t total = pt2_tensor_numel(&out), coord[PT2_MAX_RANK] = {0};
    size_t es = pt2_dtype_size(x->dtype);
    const char *src = pt2_tensor_data(x);
    char *dst = pt2_tensor_data(&out);
    for (int64_t n = 0; n < total; n++) {
        int64_t offset = 0;
        for (int a = 0; a < x->rank; a++) {
            int64_t c;
            if (!indexed[a]) c = coord[out_axis[a]];
            else { /* the index tensor at the coordinate in S */
                int64_t flat = 0;
                for (int k = 0; k < broadcast_rank; k++) flat += coord[at + k] * idx[a].strides[k];
                c = ((const int64_t *)pt2_tensor_data(&idx[a]))[flat];
            }
            offset += c * x->strides[a];
        }
        memcpy(dst + (size_t)n * es, src + (size_t)offset * es, es);
        for (int a = rank - 1; a >= 0; a--) {
            if (++coord[a] < shape[a]) break;
            coord[a] = 0;
        }
    }
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

/* x[..., idx, ...] with one integer index tensor (the other entries None); several go to
 * index_several. */
static pt2_status run_index(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x, *indices, idx, rows;
    size_t count;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &x, err);
    if (!st) st = pt2_op_tensor_list(ctx, node, "indices", &indices, &count, err);
    if (st) return st;
    int which = -1, tensors = 0;
    for (size_t i = 0; i < count; i++)
        if (indices[i].rank >= 0) tensors++, which = which < 0 ? (int)i : which;
    if ((size_t)count > (size_t)x.rank) return pt2_fail(err, PT2_ERR_INPUT, "index: %zu indices for %d axes", count, x.rank);
    if (tensors > 1) return index_several(ctx, node, &x, indices, count, err);
    if (which < 0 || which >= x.rank) return pt2_fail(err, PT2_ERR_INPUT, "index needs one index tensor within the rank");
    const pt2_tensor *index = &indices[which];
    if (index->dtype == PT2_DTYPE_BOOL || index->dtype == PT2_DTYPE_UINT8)
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "boolean mask indexing (data-dependent shape) is not supported");
    if (x.rank - 1 + index->rank > PT2_MAX_RANK) return pt2_fail(err, PT2_ERR_UNSUPPORTED, "rank above %d", PT2_MAX_RANK);
    if ((st = read_indices(ctx, index, x.shape[which], &idx, err))) return st;
    if ((st = take_rows(ctx, &x, which, &idx, &rows, err))) return st;
    /* The index's own shape replaces the indexed axis. */
    pt2_tensor out = rows;
    out.rank = x.rank - 1 + index->rank;
    int k = 0;
    for (int a = 0; a < which; a++) out.shape[k++] = x.shape[a];
    for (int a = 0; a < index->rank; a++) out.shape[k++] = index->shape[a];
    for (int a = which + 1; a < x.rank; a++) out.shape[k++] = x.shape[a];
    pt2_contiguous_strides(out.shape, out.rank, out.strides);
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

/* Copies element by element from x at coordinates mapped from the output's (gather, flip, repeat). */
typedef enum coordinate_map { MAP_GATHER, MAP_FLIP, MAP_REPEAT } coordinate_map;

static void copy_mapped(const pt2_tensor *x, pt2_tensor *out, coordinate_map map, int d, const int *flip,
                        const int64_t *index, int lead) {
    int64_t total = pt2_tensor_numel(out), coord[PT2_MAX_RANK] = {0};
    size_t es = pt2_dtype_size(x->dtype);
    const char *src = pt2_tensor_data(x);
    char *dst = pt2_tensor_data(out);
    for (int64_t n = 0; n < total; n++) {
        int64_t offset = 0;
        for (int a = 0; a < x->rank; a++) {
            int64_t c;
            if (map == MAP_GATHER) c = a == d ? index[n] : coord[a];
            else if (map == MAP_FLIP) c = flip[a] ? x->shape[a] - 1 - coord[a] : coord[a];
            else c = coord[a + lead] % x->shape[a];
            offset += c * x->strides[a];
        }
        memcpy(dst + (size_t)n * es, src + (size_t)offset * es, es);
        for (int a = out->rank - 1; a >= 0; a--) {
            if (++coord[a] < out->shape[a]) break;
            coord[a] = 0;
        }
    }
}

static pt2_status run_gather(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x, index, idx, out;
    int d;
    pt2_status st = self_and_dim(ctx, node, "dim", 0, &x, &d, err);
    if (!st) st = pt2_op_tensor(ctx, node, "index", &index, err);
    if (st) return st;
    if (index.rank != x.rank) return pt2_fail(err, PT2_ERR_INPUT, "gather: index has rank %d, input %d", index.rank, x.rank);
    for (int a = 0; a < x.rank; a++)
        if (a != d && index.shape[a] > x.shape[a])
            return pt2_fail(err, PT2_ERR_INPUT, "gather: index size %lld exceeds the input's %lld at dimension %d",
                            (long long)index.shape[a], (long long)x.shape[a], a);
    if ((st = read_indices(ctx, &index, x.rank ? x.shape[d] : 1, &idx, err))) return st;
    if ((st = pt2_tensor_alloc(ctx->arena, x.dtype, index.rank, index.shape, &out, err))) return st;
    copy_mapped(&x, &out, MAP_GATHER, d, NULL, pt2_tensor_data(&idx), 0);
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

static pt2_status run_flip(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x, out;
    int64_t dims[PT2_MAX_RANK];
    size_t count;
    int flip[PT2_MAX_RANK] = {0};
    pt2_status st = pt2_op_tensor(ctx, node, "self", &x, err);
    if (!st) st = pt2_op_ints(ctx, node, "dims", dims, PT2_MAX_RANK, &count, err);
    if (st) return st;
    for (size_t i = 0; i < count; i++) {
        int d;
        if ((st = pt2_op_wrap_dim(dims[i], x.rank, &d, err))) return st;
        flip[d] = 1;
    }
    if ((st = pt2_tensor_alloc(ctx->arena, x.dtype, x.rank, x.shape, &out, err))) return st;
    copy_mapped(&x, &out, MAP_FLIP, 0, flip, NULL, 0);
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

/* repeat_interleave(self, repeats: int, dim): each entry along dim `repeats` times in a row
 * (Funnel's and Canine's upsampling of the time); without dim, of the flattened tensor. */
static pt2_status run_repeat_interleave(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x, out;
    int64_t repeats, dim;
    int present, d = 0;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &x, err);
    if (!st) st = pt2_op_int(ctx, node, "repeats", &repeats, err);
    if (!st) st = pt2_op_optional_int(ctx, node, "dim", &dim, &present, err);
    if (st) return st;
    if (repeats < 0) return pt2_fail(err, PT2_ERR_INPUT, "repeat_interleave: repeats %lld is negative", (long long)repeats);
    if (!present || x.rank == 0) { /* the flattened tensor */
        int64_t n = pt2_tensor_numel(&x);
        if ((st = pt2_tensor_contiguous(ctx->arena, &x, 0, &x, err))) return st;
        x.rank = 1, x.shape[0] = n, x.strides[0] = 1;
    } else if ((st = pt2_op_wrap_dim(dim, x.rank, &d, err))) return st;
    /* the rows 0, 0, .., 1, 1, ..: each `repeats` times */
    int64_t count = x.shape[d] * repeats;
    pt2_tensor rows;
    if ((st = pt2_tensor_alloc(ctx->arena, PT2_DTYPE_INT64, 1, &count, &rows, err))) return st;
    int64_t *row = pt2_tensor_data(&rows);
    for (int64_t i = 0; i < count; i++) row[i] = i / repeats;
    if ((st = take_rows(ctx, &x, d, &rows, &out, err))) return st;
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

static pt2_status run_repeat(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x, out;
    int64_t repeats[PT2_MAX_RANK], shape[PT2_MAX_RANK];
    size_t count;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &x, err);
    if (!st) st = pt2_op_ints(ctx, node, "repeats", repeats, PT2_MAX_RANK, &count, err);
    if (st) return st;
    if ((int)count < x.rank)
        return pt2_fail(err, PT2_ERR_INPUT, "repeat needs at least %d repeats, got %zu", x.rank, count);
    int lead = (int)count - x.rank;
    for (size_t i = 0; i < count; i++) {
        if (repeats[i] < 0) return pt2_fail(err, PT2_ERR_INPUT, "repeat count %lld is negative", (long long)repeats[i]);
        int64_t size = (int)i >= lead ? x.shape[i - (size_t)lead] : 1;
        if (!pt2_mul_i64(size, repeats[i], &shape[i])) return pt2_fail(err, PT2_ERR_INPUT, "repeat overflows");
    }
    if ((st = pt2_tensor_alloc(ctx->arena, x.dtype, (int)count, shape, &out, err))) return st;
    copy_mapped(&x, &out, MAP_REPEAT, 0, NULL, NULL, lead);
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

static pt2_status triangle(pt2_run_context *ctx, const pt2_node *node, int lower, pt2_error *err) {
    pt2_tensor x, out;
    int64_t diagonal = 0;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &x, err);
    if (!st && pt2_node_arg(node, "diagonal")) st = pt2_op_int(ctx, node, "diagonal", &diagonal, err);
    if (st) return st;
    if (x.rank < 2) return pt2_fail(err, PT2_ERR_INPUT, "tril/triu need at least 2 dimensions, got %d", x.rank);
    if ((st = pt2_tensor_contiguous(ctx->arena, &x, 1, &out, err))) return st;
    int64_t rows = x.shape[x.rank - 2], cols = x.shape[x.rank - 1], mats = (rows && cols) ? pt2_tensor_numel(&x) / (rows * cols) : 0;
    size_t es = pt2_dtype_size(x.dtype);
    char *p = pt2_tensor_data(&out);
    for (int64_t m = 0; m < mats; m++)
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++) {
                int keep = lower ? c - r <= diagonal : c - r >= diagonal;
                if (!keep) memset(p + (size_t)((m * rows + r) * cols + c) * es, 0, es);
            }
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

static pt2_status run_tril(pt2_run_context *c, const pt2_node *n, pt2_error *e) { return triangle(c, n, 1, e); }
static pt2_status run_triu(pt2_run_context *c, const pt2_node *n, pt2_error *e) { return triangle(c, n, 0, e); }

const pt2_op_def pt2_ops_shape[] = {
    {"aten.view.default", run_view},
    {"aten.view_copy.default", run_view},
    {"aten.reshape.default", run_view},
    {"aten.reshape_as.default", run_reshape_as},
    {"aten.view_as.default", run_reshape_as},
    {"aten._unsafe_view.default", run_view},
    {"aten.flatten.using_ints", run_flatten},
    {"aten.unflatten.int", run_unflatten},
    {"aten.unsqueeze.default", run_unsqueeze},
    {"aten.unsqueeze_copy.default", run_unsqueeze},
    {"aten.squeeze.default", run_squeeze},
    {"aten.squeeze.dim", run_squeeze},
    {"aten.squeeze.dims", run_squeeze},
    {"aten.squeeze_copy.dim", run_squeeze},
    {"aten.squeeze_copy.dims", run_squeeze},
    {"aten.permute.default", run_permute},
    {"aten.permute_copy.default", run_permute},
    {"aten.transpose.int", run_transpose},
    {"aten.transpose_copy.int", run_transpose},
    {"aten.t.default", run_t},
    {"aten.numpy_T.default", run_numpy_t},
    {"aten.unfold.default", run_unfold},
    {"aten.swapaxes.default", run_swapaxes},
    {"aten.movedim.int", run_movedim},
    {"aten.expand.default", run_expand},
    {"aten.broadcast_to.default", run_expand}, /* expand under another name */
    {"aten.expand_copy.default", run_expand},
    {"aten.expand_as.default", run_expand_as},
    {"aten.slice.Tensor", run_slice},
    {"aten.slice_copy.Tensor", run_slice},
    {"aten.narrow.default", run_narrow},
    {"aten.select.int", run_select},
    {"aten.select_copy.int", run_select},
    {"aten.split.Tensor", run_split},
    {"aten.split_copy.Tensor", run_split},
    {"aten.split_with_sizes.default", run_split_with_sizes},
    {"aten.split_with_sizes_copy.default", run_split_with_sizes},
    {"aten.chunk.default", run_chunk},
    {"aten.unbind.int", run_unbind},
    {"aten.unbind_copy.int", run_unbind},
    {"aten.cat.default", run_cat},
    {"aten.concat.default", run_cat},
    {"aten.stack.default", run_stack},
    {"aten.index_select.default", run_index_select},
    {"aten.index.Tensor", run_index},
    {"aten.gather.default", run_gather},
    {"aten.flip.default", run_flip},
    {"aten.repeat.default", run_repeat},
    {"aten.repeat_interleave.self_int", run_repeat_interleave},
    {"aten.tril.default", run_tril},
    {"aten.triu.default", run_triu},
    {"aten.clone.default", run_identity},
    {"aten.contiguous.default", run_identity},
    {"aten.alias.default", run_identity},
    {"aten.alias_copy.default", run_identity},
    {"aten.detach.default", run_identity},
    {"aten.detach_copy.default", run_identity},
    {"aten.detach_.default", run_identity},
    {"aten.lift_fresh_copy.default", run_identity},
    {"aten._to_copy.default", run_to},
    {"aten.to.dtype", run_to},
    {"aten.to.dtype_layout", run_to},
    {"aten.to.device", run_to},
    {"aten.type_as.default", run_to},
    {NULL, NULL}};
