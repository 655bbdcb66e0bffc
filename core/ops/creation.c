/* Tensor factories: arange, full, zeros, ones, empty (zero-filled, so runs are reproducible),
 * the *_like and new_* forms, scalar_tensor and fill. Default dtypes follow PyTorch: float32 for
 * floating values, int64 for integers, bool for bools. */
#include <math.h>
#include <string.h>

#include "elementwise.h"
#include "op_util.h"
#include "registry.h"

static int number_kind(const pt2_node *node, const char *name) {
    const pt2_arg *a = pt2_node_arg(node, name);
    if (a && (a->kind == PT2_ARG_BOOL || a->kind == PT2_ARG_SYM_BOOL)) return 0;
    return pt2_op_scalar_is_integral(node, name) ? 1 : 2;
}

static pt2_dtype default_dtype(int kind) {
    return kind == 0 ? PT2_DTYPE_BOOL : kind == 1 ? PT2_DTYPE_INT64 : PT2_DTYPE_FLOAT32;
}

/* The dtype argument, or `fallback` when absent/None. */
static pt2_status dtype_or(pt2_run_context *ctx, const pt2_node *node, pt2_dtype fallback, pt2_dtype *out,
                           pt2_error *err) {
    int present = 0;
    *out = fallback;
    if (!pt2_node_arg(node, "dtype")) return PT2_OK;
    pt2_status st = pt2_op_dtype(ctx, node, "dtype", out, &present, err);
    if (!st && !present) *out = fallback;
    return st;
}

static pt2_status make_filled(pt2_run_context *ctx, const pt2_node *node, pt2_dtype dtype, int rank,
                              const int64_t *shape, double value, pt2_error *err) {
    pt2_tensor out;
    for (int i = 0; i < rank; i++)
        if (shape[i] < 0) return pt2_fail(err, PT2_ERR_INPUT, "size %lld is negative", (long long)shape[i]);
    pt2_status st = pt2_tensor_alloc(ctx->arena, dtype, rank, shape, &out, err);
    if (st) return st;
    if (value != 0) pt2_tensor_fill(&out, value);
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

static pt2_status read_size(pt2_run_context *ctx, const pt2_node *node, int64_t *shape, int *rank, pt2_error *err) {
    size_t count;
    pt2_status st = pt2_op_ints(ctx, node, "size", shape, PT2_MAX_RANK, &count, err);
    *rank = (int)count;
    return st;
}

/* zeros / ones / empty / full (value from "fill_value"). */
static pt2_status factory(pt2_run_context *ctx, const pt2_node *node, double value, int has_fill, pt2_error *err) {
    int64_t shape[PT2_MAX_RANK];
    int rank;
    pt2_dtype dtype;
    pt2_status st = read_size(ctx, node, shape, &rank, err);
    if (!st && has_fill) st = pt2_op_scalar(ctx, node, "fill_value", &value, err);
    if (!st) st = dtype_or(ctx, node, has_fill ? default_dtype(number_kind(node, "fill_value")) : PT2_DTYPE_FLOAT32, &dtype, err);
    return st ? st : make_filled(ctx, node, dtype, rank, shape, value, err);
}

static pt2_status run_zeros(pt2_run_context *c, const pt2_node *n, pt2_error *e) { return factory(c, n, 0, 0, e); }
static pt2_status run_ones(pt2_run_context *c, const pt2_node *n, pt2_error *e) { return factory(c, n, 1, 0, e); }
static pt2_status run_full(pt2_run_context *c, const pt2_node *n, pt2_error *e) { return factory(c, n, 0, 1, e); }

/* *_like (shape and dtype of self) and new_* (dtype of self, shape from "size"). */
static pt2_status like(pt2_run_context *ctx, const pt2_node *node, double value, int has_fill, pt2_error *err) {
    pt2_tensor self;
    int64_t shape[PT2_MAX_RANK];
    int rank;
    pt2_dtype dtype;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &self, err);
    if (st) return st;
    if (pt2_node_arg(node, "size")) {
        if ((st = read_size(ctx, node, shape, &rank, err))) return st;
    } else {
        rank = self.rank;
        memcpy(shape, self.shape, sizeof shape);
    }
    if (has_fill && (st = pt2_op_scalar(ctx, node, pt2_node_arg(node, "fill_value") ? "fill_value" : "value", &value, err)))
        return st;
    if ((st = dtype_or(ctx, node, self.dtype, &dtype, err))) return st;
    return make_filled(ctx, node, dtype, rank, shape, value, err);
}

static pt2_status run_zeros_like(pt2_run_context *c, const pt2_node *n, pt2_error *e) { return like(c, n, 0, 0, e); }
static pt2_status run_ones_like(pt2_run_context *c, const pt2_node *n, pt2_error *e) { return like(c, n, 1, 0, e); }
static pt2_status run_full_like(pt2_run_context *c, const pt2_node *n, pt2_error *e) { return like(c, n, 0, 1, e); }

/* fill.Tensor: the value is a 0-d tensor. */
static pt2_status run_fill_tensor(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor self, value;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &self, err);
    if (!st) st = pt2_op_tensor(ctx, node, "value", &value, err);
    if (st) return st;
    if (value.rank != 0) return pt2_fail(err, PT2_ERR_INPUT, "fill's value must be a 0-d tensor, got rank %d", value.rank);
    return make_filled(ctx, node, self.dtype, self.rank, self.shape, pt2_tensor_get_double(&value, 0), err);
}

static pt2_status run_scalar_tensor(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    double value;
    pt2_dtype dtype;
    pt2_status st = pt2_op_scalar(ctx, node, "s", &value, err);
    if (!st) st = dtype_or(ctx, node, PT2_DTYPE_FLOAT32, &dtype, err);
    int64_t no_shape[1] = {1};
    return st ? st : make_filled(ctx, node, dtype, 0, no_shape, value, err);
}

/* arange: integers when start, end and step all are, else float32; values start + i*step
 * computed in double (PyTorch's accumulate type on the CPU) and then converted. */
static pt2_status run_arange(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    double start = 0, end, step = 1;
    int kind = 1;
    pt2_status st = pt2_op_scalar(ctx, node, "end", &end, err);
    if (st) return st;
    kind = number_kind(node, "end") > kind ? number_kind(node, "end") : kind;
    if (pt2_node_arg(node, "start")) {
        if ((st = pt2_op_scalar(ctx, node, "start", &start, err))) return st;
        if (number_kind(node, "start") > kind) kind = number_kind(node, "start");
    }
    if (pt2_node_arg(node, "step")) {
        if ((st = pt2_op_scalar(ctx, node, "step", &step, err))) return st;
        if (number_kind(node, "step") > kind) kind = number_kind(node, "step");
    }
    pt2_dtype dtype;
    if ((st = dtype_or(ctx, node, kind == 2 ? PT2_DTYPE_FLOAT32 : PT2_DTYPE_INT64, &dtype, err))) return st;
    if (step == 0 || !isfinite(start) || !isfinite(end) || !isfinite(step))
        return pt2_fail(err, PT2_ERR_INPUT, "arange needs finite bounds and a nonzero step");
    if ((step > 0 && end < start) || (step < 0 && end > start))
        return pt2_fail(err, PT2_ERR_INPUT, "arange: the step's sign does not lead from start to end");
    double length = ceil((end - start) / step);
    if (length > 4e9) return pt2_fail(err, PT2_ERR_INPUT, "arange of %.0f elements is too large", length);
    int64_t n = (int64_t)length;
    pt2_tensor out;
    if ((st = pt2_tensor_alloc(ctx->arena, PT2_DTYPE_FLOAT64, 1, &n, &out, err))) return st;
    double *p = pt2_tensor_data(&out);
    for (int64_t i = 0; i < n; i++) p[i] = start + (double)i * step;
    if ((st = pt2_tensor_cast(ctx->arena, &out, dtype, &out, err))) return st;
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

const pt2_op_def pt2_ops_creation[] = {
    {"aten.arange.default", run_arange},
    {"aten.arange.start", run_arange},
    {"aten.arange.start_step", run_arange},
    {"aten.full.default", run_full},
    {"aten.zeros.default", run_zeros},
    {"aten.ones.default", run_ones},
    {"aten.empty.memory_format", run_zeros},
    {"aten.empty.default", run_zeros},
    {"aten.empty_strided.default", run_zeros},
    {"aten.zeros_like.default", run_zeros_like},
    {"aten.ones_like.default", run_ones_like},
    {"aten.empty_like.default", run_zeros_like},
    {"aten.full_like.default", run_full_like},
    {"aten.new_zeros.default", run_zeros_like},
    {"aten.new_ones.default", run_ones_like},
    {"aten.new_empty.default", run_zeros_like},
    {"aten.new_full.default", run_full_like},
    {"aten.fill.Scalar", run_full_like},
    {"aten.fill.Tensor", run_fill_tensor},
    {"aten.scalar_tensor.default", run_scalar_tensor},
    {NULL, NULL}};
