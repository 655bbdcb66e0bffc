/* Reductions (sum, mean, max/min with indices, amax/amin, argmax/argmin, var/std, logsumexp,
 * prod, any/all, vector norms) and cumsum. The reduced axes are moved last and made contiguous,
 * so every kernel reduces contiguous rows. Floating sums accumulate in double. */
#include <math.h>
#include <string.h>

#include "elementwise.h"
#include "op_util.h"
#include "registry.h"

/* A tensor arranged as [rows, length] with the reduced axes last, and the output shape. */
typedef struct reduction {
    pt2_tensor data; /* contiguous, reduced axes last */
    int64_t rows, length;
    int out_rank;
    int64_t out_shape[PT2_MAX_RANK];
} reduction;

/* `dims` empty means every axis (PyTorch's dim=None / dim=[]). */
static pt2_status prepare(pt2_run_context *ctx, const pt2_tensor *x, const int64_t *dims, size_t count, int keepdim,
                          pt2_dtype dtype, reduction *r, pt2_error *err) {
    int reduced[PT2_MAX_RANK] = {0};
    pt2_status st;
    for (size_t i = 0; i < count; i++) {
        int d;
        if ((st = pt2_op_wrap_dim(dims[i], x->rank, &d, err))) return st;
        if (x->rank) {
            if (reduced[d]) return pt2_fail(err, PT2_ERR_INPUT, "dimension %d appears twice in the reduction", d);
            reduced[d] = 1;
        }
    }
    if (!count)
        for (int i = 0; i < x->rank; i++) reduced[i] = 1;
    pt2_tensor view = *x;
    int k = 0;
    r->out_rank = 0;
    r->rows = 1;
    r->length = 1;
    for (int i = 0; i < x->rank; i++)
        if (!reduced[i]) {
            view.shape[k] = x->shape[i];
            view.strides[k++] = x->strides[i];
            r->rows *= x->shape[i];
        }
    for (int i = 0; i < x->rank; i++)
        if (reduced[i]) {
            view.shape[k] = x->shape[i];
            view.strides[k++] = x->strides[i];
            r->length *= x->shape[i];
        }
    for (int i = 0; i < x->rank; i++) {
        if (!reduced[i]) r->out_shape[r->out_rank++] = x->shape[i];
        else if (keepdim) r->out_shape[r->out_rank++] = 1;
    }
    return pt2_tensor_cast(ctx->arena, &view, dtype, &r->data, err);
}

static pt2_status read_dims(pt2_run_context *ctx, const pt2_node *node, int64_t *dims, size_t *count, int *keepdim,
                            pt2_error *err) {
    pt2_status st = PT2_OK;
    *count = 0;
    *keepdim = 0;
    if (pt2_node_arg(node, "dim")) st = pt2_op_ints(ctx, node, "dim", dims, PT2_MAX_RANK, count, err);
    if (!st && pt2_node_arg(node, "keepdim")) st = pt2_op_bool(ctx, node, "keepdim", keepdim, err);
    return st;
}

/* The dtype a sum-like op runs in: the dtype argument, else integers and bool become int64. */
static pt2_status sum_dtype(pt2_run_context *ctx, const pt2_node *node, const pt2_tensor *x, pt2_dtype *out,
                            pt2_error *err) {
    int present = 0;
    *out = x->dtype;
    if (pt2_node_arg(node, "dtype")) {
        pt2_status st = pt2_op_dtype(ctx, node, "dtype", out, &present, err);
        if (st) return st;
    }
    if (!present && !pt2_dtype_is_floating(x->dtype)) *out = PT2_DTYPE_INT64;
    return PT2_OK;
}

typedef enum reduce_kind { R_SUM, R_MEAN, R_PROD, R_AMAX, R_AMIN, R_ANY, R_ALL, R_LOGSUMEXP, R_NORM } reduce_kind;

static pt2_status run_reduce(pt2_run_context *ctx, const pt2_node *node, reduce_kind kind, pt2_error *err) {
    pt2_tensor x, out;
    int64_t dims[PT2_MAX_RANK];
    size_t count;
    int keepdim;
    reduction r;
    double ord = 2;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &x, err);
    if (!st) st = read_dims(ctx, node, dims, &count, &keepdim, err);
    if (!st && kind == R_NORM) st = pt2_op_scalar(ctx, node, "ord", &ord, err);
    if (st) return st;
    pt2_dtype result = x.dtype;
    if (kind == R_SUM || kind == R_PROD || kind == R_MEAN || kind == R_NORM) {
        if ((st = sum_dtype(ctx, node, &x, &result, err))) return st;
        if ((kind == R_MEAN || kind == R_NORM) && !pt2_dtype_is_floating(result))
            return pt2_fail(err, PT2_ERR_INPUT, "%s needs a floating tensor or a floating dtype, got %s", node->target,
                            pt2_dtype_name(result));
    } else if (kind == R_ANY || kind == R_ALL) {
        result = PT2_DTYPE_BOOL;
    } else if (kind == R_LOGSUMEXP && !pt2_dtype_is_floating(result)) {
        result = PT2_DTYPE_FLOAT32;
    }
    if ((kind == R_AMAX || kind == R_AMIN) && x.rank && pt2_tensor_numel(&x) == 0)
        return pt2_fail(err, PT2_ERR_INPUT, "%s of an empty tensor has no identity", node->target);
    int integral = !pt2_dtype_is_floating(result) && kind != R_ANY && kind != R_ALL;
    pt2_dtype compute = integral ? PT2_DTYPE_INT64 : (kind == R_ANY || kind == R_ALL) ? PT2_DTYPE_FLOAT64 : result;
    if (result == PT2_DTYPE_FLOAT32 || result == PT2_DTYPE_FLOAT64) compute = result;
    if ((st = prepare(ctx, &x, dims, count, keepdim, compute, &r, err))) return st;
    if ((st = pt2_tensor_alloc(ctx->arena, PT2_DTYPE_FLOAT64, r.out_rank, r.out_shape, &out, err))) return st;
    double *po = pt2_tensor_data(&out);
    int64_t n = r.length;
    if (integral) {
        /* Integer sums and products wrap like PyTorch's int64 arithmetic. */
        const int64_t *p = pt2_tensor_data(&r.data);
        pt2_tensor exact;
        if ((st = pt2_tensor_alloc(ctx->arena, PT2_DTYPE_INT64, r.out_rank, r.out_shape, &exact, err))) return st;
        int64_t *pe = pt2_tensor_data(&exact);
        for (int64_t row = 0; row < r.rows; row++) {
            const int64_t *v = p + row * n;
            uint64_t acc = kind == R_PROD ? 1 : 0;
            int64_t best = n ? v[0] : 0;
            for (int64_t i = 0; i < n; i++) {
                if (kind == R_SUM) acc += (uint64_t)v[i];
                else if (kind == R_PROD) acc *= (uint64_t)v[i];
                else if (kind == R_AMAX) best = v[i] > best ? v[i] : best;
                else best = v[i] < best ? v[i] : best;
            }
            pe[row] = (kind == R_SUM || kind == R_PROD) ? (int64_t)acc : best;
        }
        if ((st = pt2_tensor_cast(ctx->arena, &exact, result, &out, err))) return st;
        return pt2_op_set_output(ctx, node, 0, &out, err);
    }
    for (int64_t row = 0; row < r.rows; row++) {
        double acc = 0;
        if (compute == PT2_DTYPE_FLOAT32) {
            const float *restrict v = (const float *)pt2_tensor_data(&r.data) + row * n;
            switch (kind) {
            case R_SUM: case R_MEAN: for (int64_t i = 0; i < n; i++) acc += v[i]; break;
            case R_PROD: acc = 1; for (int64_t i = 0; i < n; i++) acc *= v[i]; break;
            case R_AMAX: acc = v[0]; for (int64_t i = 1; i < n; i++) acc = (v[i] > acc || v[i] != v[i]) ? v[i] : acc; break;
            case R_AMIN: acc = v[0]; for (int64_t i = 1; i < n; i++) acc = (v[i] < acc || v[i] != v[i]) ? v[i] : acc; break;
            case R_NORM:
                if (ord == 2) for (int64_t i = 0; i < n; i++) acc += (double)v[i] * v[i];
                else if (ord == 1) for (int64_t i = 0; i < n; i++) acc += fabs(v[i]);
                else if (isinf(ord)) { acc = ord > 0 ? 0 : INFINITY; for (int64_t i = 0; i < n; i++) acc = ord > 0 ? fmax(acc, fabs(v[i])) : fmin(acc, fabs(v[i])); }
                else if (ord == 0) for (int64_t i = 0; i < n; i++) acc += v[i] != 0;
                else for (int64_t i = 0; i < n; i++) acc += pow(fabs(v[i]), ord);
                break;
            case R_LOGSUMEXP: {
                double m = -INFINITY;
                for (int64_t i = 0; i < n; i++) m = v[i] > m ? v[i] : m;
                double shift = isinf(m) ? 0 : m;
                for (int64_t i = 0; i < n; i++) acc += exp((double)v[i] - shift);
                acc = log(acc) + shift;
                break;
            }
            default: break;
            }
        } else {
            const double *restrict v = (const double *)pt2_tensor_data(&r.data) + row * n;
            switch (kind) {
            case R_SUM: case R_MEAN: for (int64_t i = 0; i < n; i++) acc += v[i]; break;
            case R_PROD: acc = 1; for (int64_t i = 0; i < n; i++) acc *= v[i]; break;
            case R_AMAX: acc = v[0]; for (int64_t i = 1; i < n; i++) acc = (v[i] > acc || v[i] != v[i]) ? v[i] : acc; break;
            case R_AMIN: acc = v[0]; for (int64_t i = 1; i < n; i++) acc = (v[i] < acc || v[i] != v[i]) ? v[i] : acc; break;
            case R_ANY: for (int64_t i = 0; i < n; i++) acc = acc || v[i] != 0; break;
            case R_ALL: acc = 1; for (int64_t i = 0; i < n; i++) acc = acc && v[i] != 0; break;
            case R_NORM:
                if (ord == 2) for (int64_t i = 0; i < n; i++) acc += v[i] * v[i];
                else if (ord == 1) for (int64_t i = 0; i < n; i++) acc += fabs(v[i]);
                else if (isinf(ord)) { acc = ord > 0 ? 0 : INFINITY; for (int64_t i = 0; i < n; i++) acc = ord > 0 ? fmax(acc, fabs(v[i])) : fmin(acc, fabs(v[i])); }
                else if (ord == 0) for (int64_t i = 0; i < n; i++) acc += v[i] != 0;
                else for (int64_t i = 0; i < n; i++) acc += pow(fabs(v[i]), ord);
                break;
            case R_LOGSUMEXP: {
                double m = -INFINITY;
                for (int64_t i = 0; i < n; i++) m = v[i] > m ? v[i] : m;
                double shift = isinf(m) ? 0 : m;
                for (int64_t i = 0; i < n; i++) acc += exp(v[i] - shift);
                acc = log(acc) + shift;
                break;
            }
            }
        }
        if (kind == R_MEAN) acc = n ? acc / (double)n : NAN;
        if (kind == R_NORM && ord != 1 && ord != 0 && !isinf(ord)) acc = ord == 2 ? sqrt(acc) : pow(acc, 1.0 / ord);
        po[row] = acc;
    }
    if ((st = pt2_tensor_cast(ctx->arena, &out, result, &out, err))) return st;
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

#define REDUCE_OP(fn, kind) \
    static pt2_status fn(pt2_run_context *c, const pt2_node *n, pt2_error *e) { return run_reduce(c, n, kind, e); }
REDUCE_OP(run_sum, R_SUM)
REDUCE_OP(run_mean, R_MEAN)
REDUCE_OP(run_prod, R_PROD)
REDUCE_OP(run_amax, R_AMAX)
REDUCE_OP(run_amin, R_AMIN)
REDUCE_OP(run_any, R_ANY)
REDUCE_OP(run_all, R_ALL)
REDUCE_OP(run_logsumexp, R_LOGSUMEXP)
REDUCE_OP(run_norm, R_NORM)

/* ---------------------------------------------------------------- max/min with indices, argmax/argmin */

/* Best value and its first index per row; NaN wins, as in PyTorch. */
static void arg_best(const reduction *r, int want_max, double *values, int64_t *indices) {
    int64_t n = r->length;
    for (int64_t row = 0; row < r->rows; row++) {
        double best = 0;
        int64_t at = 0;
        for (int64_t i = 0; i < n; i++) {
            double v = pt2_tensor_get_double(&r->data, row * n + i);
            if (i == 0 || (best == best && (v != v || (want_max ? v > best : v < best)))) {
                best = v;
                at = i;
            }
        }
        if (values) values[row] = best;
        indices[row] = at;
    }
}

static void arg_best_int(const reduction *r, int want_max, int64_t *values, int64_t *indices) {
    int64_t n = r->length;
    const int64_t *p = pt2_tensor_data(&r->data);
    for (int64_t row = 0; row < r->rows; row++) {
        int64_t best = n ? p[row * n] : 0, at = 0;
        for (int64_t i = 1; i < n; i++) {
            int64_t v = p[row * n + i];
            if (want_max ? v > best : v < best) {
                best = v;
                at = i;
            }
        }
        values[row] = best;
        indices[row] = at;
    }
}

static pt2_status best_with_index(pt2_run_context *ctx, const pt2_node *node, int want_max, int want_values,
                                  pt2_error *err) {
    pt2_tensor x, values, indices;
    int64_t dim = 0;
    int present = 1, keepdim = 0;
    reduction r;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &x, err);
    if (!st && pt2_node_arg(node, "dim")) st = pt2_op_optional_int(ctx, node, "dim", &dim, &present, err);
    else present = 0;
    if (!st && pt2_node_arg(node, "keepdim")) st = pt2_op_bool(ctx, node, "keepdim", &keepdim, err);
    if (st) return st;
    if (pt2_tensor_numel(&x) == 0) return pt2_fail(err, PT2_ERR_INPUT, "%s of an empty tensor", node->target);
    int integral = !pt2_dtype_is_floating(x.dtype);
    /* Without a dim: the flat index over all elements (argmax) or the full reduction (max). */
    if ((st = prepare(ctx, &x, &dim, present ? 1 : 0, present ? keepdim : 0, integral ? PT2_DTYPE_INT64 : x.dtype, &r, err)))
        return st;
    if (!present && keepdim) {
        r.out_rank = x.rank;
        for (int i = 0; i < x.rank; i++) r.out_shape[i] = 1;
    }
    if ((st = pt2_tensor_alloc(ctx->arena, PT2_DTYPE_INT64, r.out_rank, r.out_shape, &indices, err))) return st;
    if (integral) {
        if ((st = pt2_tensor_alloc(ctx->arena, PT2_DTYPE_INT64, r.out_rank, r.out_shape, &values, err))) return st;
        arg_best_int(&r, want_max, pt2_tensor_data(&values), pt2_tensor_data(&indices));
    } else {
        if ((st = pt2_tensor_alloc(ctx->arena, PT2_DTYPE_FLOAT64, r.out_rank, r.out_shape, &values, err))) return st;
        arg_best(&r, want_max, pt2_tensor_data(&values), pt2_tensor_data(&indices));
    }
    if (!want_values) return pt2_op_set_output(ctx, node, 0, &indices, err);
    if ((st = pt2_tensor_cast(ctx->arena, &values, x.dtype, &values, err))) return st;
    if ((st = pt2_op_set_output(ctx, node, 0, &values, err))) return st;
    if (node->num_outputs > 1) return pt2_op_set_output(ctx, node, 1, &indices, err);
    return PT2_OK;
}

static pt2_status run_max_dim(pt2_run_context *c, const pt2_node *n, pt2_error *e) { return best_with_index(c, n, 1, 1, e); }
static pt2_status run_min_dim(pt2_run_context *c, const pt2_node *n, pt2_error *e) { return best_with_index(c, n, 0, 1, e); }
static pt2_status run_argmax(pt2_run_context *c, const pt2_node *n, pt2_error *e) { return best_with_index(c, n, 1, 0, e); }
static pt2_status run_argmin(pt2_run_context *c, const pt2_node *n, pt2_error *e) { return best_with_index(c, n, 0, 0, e); }

/* ---------------------------------------------------------------- var / std */

typedef enum moment_kind { M_VAR, M_STD, M_VAR_MEAN, M_STD_MEAN } moment_kind;

static pt2_status run_moment(pt2_run_context *ctx, const pt2_node *node, moment_kind kind, pt2_error *err) {
    pt2_tensor x, spread, mean;
    int64_t dims[PT2_MAX_RANK];
    size_t count;
    int keepdim, present = 0;
    double correction = 1;
    reduction r;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &x, err);
    if (!st) st = read_dims(ctx, node, dims, &count, &keepdim, err);
    if (!st && pt2_node_arg(node, "correction")) {
        st = pt2_op_optional_scalar(ctx, node, "correction", &correction, &present, err);
        if (!present) correction = 1;
    } else if (!st && pt2_node_arg(node, "unbiased")) {
        int unbiased;
        st = pt2_op_bool(ctx, node, "unbiased", &unbiased, err);
        correction = unbiased ? 1 : 0;
    }
    if (st) return st;
    if (!pt2_dtype_is_floating(x.dtype))
        return pt2_fail(err, PT2_ERR_INPUT, "%s needs a floating tensor, got %s", node->target, pt2_dtype_name(x.dtype));
    if ((st = prepare(ctx, &x, dims, count, keepdim, PT2_DTYPE_FLOAT64, &r, err))) return st;
    if ((st = pt2_tensor_alloc(ctx->arena, PT2_DTYPE_FLOAT64, r.out_rank, r.out_shape, &spread, err))) return st;
    if ((st = pt2_tensor_alloc(ctx->arena, PT2_DTYPE_FLOAT64, r.out_rank, r.out_shape, &mean, err))) return st;
    const double *p = pt2_tensor_data(&r.data);
    double *ps = pt2_tensor_data(&spread), *pm = pt2_tensor_data(&mean);
    int64_t n = r.length;
    /* PyTorch clamps the divisor at 0: one sample with correction 1 gives NaN (0/0). */
    double divisor = (double)n - correction > 0 ? (double)n - correction : 0;
    for (int64_t row = 0; row < r.rows; row++) {
        const double *restrict v = p + row * n;
        double sum = 0, squares = 0;
        for (int64_t i = 0; i < n; i++) sum += v[i];
        double m = n ? sum / (double)n : NAN;
        for (int64_t i = 0; i < n; i++) squares += (v[i] - m) * (v[i] - m);
        double var = squares / divisor;
        ps[row] = (kind == M_STD || kind == M_STD_MEAN) ? sqrt(var) : var;
        pm[row] = m;
    }
    if ((st = pt2_tensor_cast(ctx->arena, &spread, x.dtype, &spread, err))) return st;
    if ((st = pt2_op_set_output(ctx, node, 0, &spread, err))) return st;
    if (kind == M_VAR_MEAN || kind == M_STD_MEAN) {
        if ((st = pt2_tensor_cast(ctx->arena, &mean, x.dtype, &mean, err))) return st;
        return pt2_op_set_output(ctx, node, 1, &mean, err);
    }
    return PT2_OK;
}

static pt2_status run_var(pt2_run_context *c, const pt2_node *n, pt2_error *e) { return run_moment(c, n, M_VAR, e); }
static pt2_status run_std(pt2_run_context *c, const pt2_node *n, pt2_error *e) { return run_moment(c, n, M_STD, e); }
static pt2_status run_var_mean(pt2_run_context *c, const pt2_node *n, pt2_error *e) { return run_moment(c, n, M_VAR_MEAN, e); }
static pt2_status run_std_mean(pt2_run_context *c, const pt2_node *n, pt2_error *e) { return run_moment(c, n, M_STD_MEAN, e); }

/* ---------------------------------------------------------------- cumsum */

static pt2_status run_cumsum(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x, c, out;
    int64_t dim;
    int d;
    pt2_dtype result;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &x, err);
    if (!st) st = pt2_op_int(ctx, node, "dim", &dim, err);
    if (!st) st = pt2_op_wrap_dim(dim, x.rank, &d, err);
    if (!st) st = sum_dtype(ctx, node, &x, &result, err);
    if (st) return st;
    int integral = !pt2_dtype_is_floating(result);
    pt2_dtype compute = integral ? PT2_DTYPE_INT64 : PT2_DTYPE_FLOAT64;
    if ((st = pt2_tensor_cast(ctx->arena, &x, result, &c, err))) return st; /* PyTorch casts before summing */
    if ((st = pt2_tensor_cast(ctx->arena, &c, compute, &c, err))) return st;
    if ((st = pt2_tensor_alloc(ctx->arena, compute, c.rank, c.shape, &out, err))) return st;
    int64_t outer = 1, inner = 1, size = c.rank ? c.shape[d] : 1;
    for (int a = 0; a < d; a++) outer *= c.shape[a];
    for (int a = d + 1; a < c.rank; a++) inner *= c.shape[a];
    for (int64_t o = 0; o < outer; o++) {
        int64_t base = o * size * inner;
        if (integral) {
            const int64_t *restrict v = (const int64_t *)pt2_tensor_data(&c) + base;
            int64_t *restrict r = (int64_t *)pt2_tensor_data(&out) + base;
            for (int64_t i = 0; i < inner && size; i++) r[i] = v[i];
            for (int64_t k = 1; k < size; k++)
                for (int64_t i = 0; i < inner; i++)
                    r[k * inner + i] = (int64_t)((uint64_t)r[(k - 1) * inner + i] + (uint64_t)v[k * inner + i]);
        } else {
            const double *restrict v = (const double *)pt2_tensor_data(&c) + base;
            double *restrict r = (double *)pt2_tensor_data(&out) + base;
            for (int64_t i = 0; i < inner && size; i++) r[i] = v[i];
            for (int64_t k = 1; k < size; k++)
                for (int64_t i = 0; i < inner; i++) r[k * inner + i] = r[(k - 1) * inner + i] + v[k * inner + i];
        }
    }
    if ((st = pt2_tensor_cast(ctx->arena, &out, result, &out, err))) return st;
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

/* diff(self, n, dim, prepend, append): the n-th forward difference along dim of prepend, self and
 * append joined there (transformers' mask helpers take it of the position ids to find packed
 * sequences); of bools, whether neighbours differ (logical_xor), as PyTorch computes it. */
static pt2_status run_diff(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x, parts[3], joined, out;
    int64_t n, dim;
    int d, present[3] = {0, 1, 0};
    pt2_status st = pt2_op_tensor(ctx, node, "self", &x, err);
    if (!st) st = pt2_op_int(ctx, node, "n", &n, err);
    if (!st) st = pt2_op_int(ctx, node, "dim", &dim, err);
    if (!st) st = pt2_op_wrap_dim(dim, x.rank, &d, err);
    if (!st) st = pt2_op_optional_tensor(ctx, node, "prepend", &parts[0], &present[0], err);
    if (!st) st = pt2_op_optional_tensor(ctx, node, "append", &parts[2], &present[2], err);
    if (st) return st;
    if (x.rank == 0) return pt2_fail(err, PT2_ERR_INPUT, "diff of a 0-d tensor");
    if (n < 0) return pt2_fail(err, PT2_ERR_INPUT, "diff: n %lld is negative", (long long)n);
    int boolean = x.dtype == PT2_DTYPE_BOOL, integral = !pt2_dtype_is_floating(x.dtype), single = x.dtype == PT2_DTYPE_FLOAT32;
    pt2_dtype compute = integral ? PT2_DTYPE_INT64 : PT2_DTYPE_FLOAT64;
    parts[1] = x;
    pt2_tensor joining[3];
    size_t count = 0;
    for (int i = 0; i < 3; i++) {
        if (!present[i]) continue;
        if (parts[i].rank != x.rank)
            return pt2_fail(err, PT2_ERR_INPUT, "diff: prepend and append need the input's rank (%d), got %d", x.rank, parts[i].rank);
        for (int a = 0; a < x.rank; a++)
            if (a != d && parts[i].shape[a] != x.shape[a])
                return pt2_fail(err, PT2_ERR_INPUT, "diff: prepend and append need the input's sizes except along dim");
        if ((st = pt2_tensor_cast(ctx->arena, &parts[i], compute, &joining[count++], err))) return st;
    }
    if ((st = pt2_op_cat(ctx->arena, joining, count, d, &joined, err))) return st;
    int64_t rows = joined.shape[d], length = rows, outer = 1, inner = 1;
    for (int a = 0; a < d; a++) outer *= x.shape[a];
    for (int a = d + 1; a < x.rank; a++) inner *= x.shape[a];
    /* n differences in place: each pass shortens the axis by one (row k = row k+1 - row k). */
    for (int64_t pass = 0; pass < n && length > 0; pass++, length--)
        for (int64_t o = 0; o < outer; o++)
            for (int64_t k = 0; k + 1 < length; k++)
                for (int64_t i = 0; i < inner; i++) {
                    int64_t here = (o * rows + k) * inner + i, next = here + inner;
                    if (integral) {
                        int64_t *v = pt2_tensor_data(&joined);
                        v[here] = boolean ? v[next] != v[here] : (int64_t)((uint64_t)v[next] - (uint64_t)v[here]);
                    } else {
                        double *v = pt2_tensor_data(&joined);
                        v[here] = v[next] - v[here];
                        if (single) v[here] = (float)v[here]; /* each pass rounded as PyTorch's float32 */
                    }
                }
    joined.shape[d] = length; /* the first `length` rows of each outer block, at the joined strides */
    if ((st = pt2_tensor_cast(ctx->arena, &joined, x.dtype, &out, err))) return st;
    if ((st = pt2_tensor_contiguous(ctx->arena, &out, 1, &out, err))) return st;
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

const pt2_op_def pt2_ops_reduction[] = {
    {"aten.sum.default", run_sum},
    {"aten.sum.dim_IntList", run_sum},
    {"aten.mean.default", run_mean},
    {"aten.mean.dim", run_mean},
    {"aten.prod.default", run_prod},
    {"aten.prod.dim_int", run_prod},
    {"aten.amax.default", run_amax},
    {"aten.amin.default", run_amin},
    {"aten.max.default", run_amax},
    {"aten.min.default", run_amin},
    {"aten.any.default", run_any},
    {"aten.any.dim", run_any},
    {"aten.any.dims", run_any},
    {"aten.all.default", run_all},
    {"aten.all.dim", run_all},
    {"aten.all.dims", run_all},
    {"aten.logsumexp.default", run_logsumexp},
    {"aten.linalg_vector_norm.default", run_norm},
    {"aten.max.dim", run_max_dim},
    {"aten.min.dim", run_min_dim},
    {"aten.argmax.default", run_argmax},
    {"aten.argmin.default", run_argmin},
    {"aten.var.correction", run_var},
    {"aten.var.dim", run_var},
    {"aten.var.default", run_var},
    {"aten.std.correction", run_std},
    {"aten.std.dim", run_std},
    {"aten.std.default", run_std},
    {"aten.var_mean.correction", run_var_mean},
    {"aten.var_mean.dim", run_var_mean},
    {"aten.var_mean.default", run_var_mean},
    {"aten.std_mean.correction", run_std_mean},
    {"aten.std_mean.dim", run_std_mean},
    {"aten.std_mean.default", run_std_mean},
    {"aten.cumsum.default", run_cumsum},
    {"aten.diff.default", run_diff},
    {NULL, NULL}};
