/* Symbolic sizes at run time: sym_size / sym_numel / sym_stride read the tensors, Python
 * arithmetic on SymInt/SymFloat (_operator.*, math.*, torch.sym_*) computes with Python's rules
 * (floor division and modulo follow the divisor's sign), runtime asserts check, and the few
 * in-place ops an export may keep (add_, mul_, copy_) run on non-parameter tensors. */
#include <math.h>
#include <string.h>

#include "elementwise.h"
#include "op_util.h"
#include "../base/python_int.h"
#include "../graph/functionalize.h"
#include "../graph/in_place_ops.h"
#include "registry.h"

typedef struct number {
    int is_float;
    int64_t i;
    double f;
} number;

static double as_double(number n) { return n.is_float ? n.f : (double)n.i; }

/* Positional argument `index` of a Python-level op as an int or float. */
static pt2_status read_number(pt2_run_context *ctx, const pt2_node *node, size_t index, number *out, pt2_error *err) {
    if (index >= node->num_inputs)
        return pt2_fail(err, PT2_ERR_INPUT, "%s needs %zu arguments, the graph gives %zu", node->target, index + 1,
                        node->num_inputs);
    const pt2_named_arg *named = &node->inputs[index];
    const pt2_arg *a = &named->arg;
    memset(out, 0, sizeof *out);
    switch (a->kind) {
    case PT2_ARG_FLOAT: out->is_float = 1; out->f = a->float_value; return PT2_OK;
    case PT2_ARG_SYM_FLOAT:
        if (!ctx->values[a->value_id].is_set)
            return pt2_fail(err, PT2_ERR_INPUT, "symbolic float '%s' has no value", ctx->graph->values[a->value_id].name);
        out->is_float = 1;
        out->f = ctx->values[a->value_id].float_value;
        return PT2_OK;
    default: return pt2_op_int(ctx, node, named->name, &out->i, err);
    }
}

static pt2_status set_number(pt2_run_context *ctx, const pt2_node *node, number n, pt2_error *err) {
    if (node->num_outputs && node->outputs[0].kind == PT2_ARG_SYM_FLOAT)
        return pt2_op_set_float_output(ctx, node, 0, as_double(n), err);
    if (n.is_float && node->num_outputs && node->outputs[0].kind == PT2_ARG_SYM_INT)
        return pt2_fail(err, PT2_ERR_INTERNAL, "%s computed a float where the graph expects an int", node->target);
    return pt2_op_set_int_output(ctx, node, 0, n.is_float ? (int64_t)n.f : n.i, err);
}


static pt2_status run_python_op(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    const char *t = node->target;
    const char *op = strchr(t, '.') ? strrchr(t, '.') + 1 : t;
    number a, b, r = {0, 0, 0};
    pt2_status st = read_number(ctx, node, 0, &a, err);
    if (st) return st;
    int binary = node->num_inputs >= 2 && strcmp(op, "sym_ite");
    if (binary && (st = read_number(ctx, node, 1, &b, err))) return st;
    int any_float = a.is_float || (binary && b.is_float);
    double x = as_double(a), y = binary ? as_double(b) : 0;
#define INT_OR_FLOAT(int_expr, float_expr)                \
    do {                                                  \
        if (any_float) { r.is_float = 1; r.f = (float_expr); } \
        else r.i = (int_expr);                            \
    } while (0)
    if (!strcmp(op, "add")) INT_OR_FLOAT((int64_t)((uint64_t)a.i + (uint64_t)b.i), x + y);
    else if (!strcmp(op, "sub")) INT_OR_FLOAT((int64_t)((uint64_t)a.i - (uint64_t)b.i), x - y);
    else if (!strcmp(op, "mul")) INT_OR_FLOAT((int64_t)((uint64_t)a.i * (uint64_t)b.i), x * y);
    else if (!strcmp(op, "floordiv") || !strcmp(op, "mod")) {
        if (y == 0) return pt2_fail(err, PT2_ERR_INPUT, "symbolic %s by zero", op);
        if (!strcmp(op, "floordiv")) INT_OR_FLOAT(pt2_floor_div(a.i, b.i), floor(x / y));
        else INT_OR_FLOAT(pt2_floor_mod(a.i, b.i), x - y * floor(x / y));
    } else if (!strcmp(op, "truediv")) {
        if (y == 0) return pt2_fail(err, PT2_ERR_INPUT, "symbolic division by zero");
        r.is_float = 1;
        r.f = x / y;
    } else if (!strcmp(op, "pow")) {
        if (!any_float && b.i >= 0) {
            uint64_t result = 1;
            for (int64_t k = 0; k < b.i && k < 64; k++) result *= (uint64_t)a.i;
            r.i = (int64_t)result;
        } else {
            r.is_float = 1;
            r.f = pow(x, y);
        }
    } else if (!strcmp(op, "neg")) INT_OR_FLOAT((int64_t)(0 - (uint64_t)a.i), -x);
    else if (!strcmp(op, "pos")) r = a;
    else if (!strcmp(op, "eq")) r.i = x == y;
    else if (!strcmp(op, "ne")) r.i = x != y;
    else if (!strcmp(op, "lt")) r.i = x < y;
    else if (!strcmp(op, "le")) r.i = x <= y;
    else if (!strcmp(op, "gt")) r.i = x > y;
    else if (!strcmp(op, "ge")) r.i = x >= y;
    else if (!strcmp(op, "and_")) r.i = a.i & b.i;
    else if (!strcmp(op, "or_")) r.i = a.i | b.i;
    else if (!strcmp(op, "lshift")) r.i = (b.i >= 0 && b.i < 64) ? (int64_t)((uint64_t)a.i << b.i) : 0;
    else if (!strcmp(op, "rshift")) r.i = (b.i >= 0 && b.i < 64) ? a.i >> b.i : (a.i < 0 ? -1 : 0);
    else if (!strcmp(op, "trunc") || !strcmp(op, "sym_int")) r.i = a.is_float ? (int64_t)trunc(a.f) : a.i;
    else if (!strcmp(op, "floor")) r.i = a.is_float ? (int64_t)floor(a.f) : a.i;
    else if (!strcmp(op, "ceil")) r.i = a.is_float ? (int64_t)ceil(a.f) : a.i;
    else if (!strcmp(op, "sym_float")) {
        r.is_float = 1;
        r.f = x;
    } else if (!strcmp(op, "sym_sqrt")) {
        r.is_float = 1;
        r.f = sqrt(x);
    } else if (!strcmp(op, "sym_max")) INT_OR_FLOAT(a.i > b.i ? a.i : b.i, x > y ? x : y);
    else if (!strcmp(op, "sym_min")) INT_OR_FLOAT(a.i < b.i ? a.i : b.i, x < y ? x : y);
    else if (!strcmp(op, "sym_not")) r.i = !a.i;
    else if (!strcmp(op, "sym_ite")) {
        number then, otherwise;
        if ((st = read_number(ctx, node, 1, &then, err)) || (st = read_number(ctx, node, 2, &otherwise, err))) return st;
        r = a.i ? then : otherwise;
    } else {
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "symbolic op %s is not supported", t);
    }
#undef INT_OR_FLOAT
    return set_number(ctx, node, r, err);
}

/* ---------------------------------------------------------------- sizes of tensors */

static pt2_status run_sym_size(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x;
    int64_t dim;
    int d;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &x, err);
    if (!st) st = pt2_op_int(ctx, node, "dim", &dim, err);
    if (!st) st = pt2_op_wrap_dim(dim, x.rank, &d, err);
    if (st) return st;
    return pt2_op_set_int_output(ctx, node, 0, x.rank ? x.shape[d] : 1, err);
}

static pt2_status run_sym_numel(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &x, err);
    return st ? st : pt2_op_set_int_output(ctx, node, 0, pt2_tensor_numel(&x), err);
}

/* Strides are PyTorch's, from the export's metadata (our views may lay memory out otherwise). */
static pt2_status run_sym_stride(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_arg *self = pt2_node_arg(node, "self");
    int64_t dim, stride;
    int d;
    if (!self || self->kind != PT2_ARG_TENSOR) return pt2_fail(err, PT2_ERR_INPUT, "sym_stride needs a tensor");
    const pt2_value *meta = &ctx->graph->values[self->value_id];
    pt2_status st = pt2_op_int(ctx, node, "dim", &dim, err);
    if (!st) st = pt2_op_wrap_dim(dim, meta->rank, &d, err);
    if (st) return st;
    const pt2_dim *s = &meta->strides[d];
    stride = s->value;
    if (s->is_symbolic && (st = pt2_sym_eval(s->expr, ctx->bindings, ctx->num_bindings, &stride, err))) return st;
    return pt2_op_set_int_output(ctx, node, 0, stride, err);
}

/* ---------------------------------------------------------------- runtime checks */

static pt2_status run_assert_scalar(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    number condition;
    const char *message = NULL;
    pt2_status st = read_number(ctx, node, 0, &condition, err);
    if (st) return st;
    if (pt2_node_arg(node, "assert_msg") && (st = pt2_op_string(ctx, node, "assert_msg", &message, err))) return st;
    if (!(condition.is_float ? condition.f != 0 : condition.i != 0))
        return pt2_fail(err, PT2_ERR_INPUT, "the export's runtime check failed: %s", message ? message : "(no message)");
    return PT2_OK;
}

static pt2_status run_constrain_range(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    int64_t value, bound;
    int present;
    pt2_status st = pt2_op_int(ctx, node, "size", &value, err);
    if (st) return st;
    if (pt2_node_arg(node, "min")) {
        if ((st = pt2_op_optional_int(ctx, node, "min", &bound, &present, err))) return st;
        if (present && value < bound)
            return pt2_fail(err, PT2_ERR_INPUT, "size %lld is below the export's minimum %lld", (long long)value, (long long)bound);
    }
    if (pt2_node_arg(node, "max")) {
        if ((st = pt2_op_optional_int(ctx, node, "max", &bound, &present, err))) return st;
        if (present && value > bound)
            return pt2_fail(err, PT2_ERR_INPUT, "size %lld is above the export's maximum %lld", (long long)value, (long long)bound);
    }
    return PT2_OK;
}

static pt2_status run_assert_metadata(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor a;
    pt2_dtype dtype;
    int present = 0;
    pt2_status st = pt2_op_tensor(ctx, node, "a", &a, err);
    if (!st && pt2_node_arg(node, "dtype")) st = pt2_op_dtype(ctx, node, "dtype", &dtype, &present, err);
    if (st) return st;
    if (present && dtype != a.dtype)
        return pt2_fail(err, PT2_ERR_INPUT, "tensor is %s but the export expects %s", pt2_dtype_name(a.dtype),
                        pt2_dtype_name(dtype));
    return PT2_OK;
}

/* ---------------------------------------------------------------- in-place ops */

/* Weights, buffers and constants must never change: they belong to the archive. */
static int storage_of_graph_input(const pt2_run_context *ctx, const void *storage) {
    for (size_t i = 0; i < ctx->graph->num_inputs; i++) {
        const pt2_graph_input *in = &ctx->graph->inputs[i];
        if (in->has_data && in->data.storage == storage) return 1;
        if (in->value_id >= 0 && ctx->values[in->value_id].is_set && ctx->values[in->value_id].tensor.storage == storage)
            return 1;
    }
    return 0;
}

/* Writes `value` (already of self's dtype and shape) through self's view. */
static pt2_status write_back(pt2_run_context *ctx, const pt2_tensor *self, const pt2_tensor *value, pt2_error *err) {
    pt2_tensor v;
    pt2_status st = pt2_tensor_contiguous(ctx->arena, value, 0, &v, err);
    if (st) return st;
    if (storage_of_graph_input(ctx, self->storage))
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "an in-place op writes to a parameter, buffer or input");
    size_t es = pt2_dtype_size(self->dtype);
    int64_t total = pt2_tensor_numel(self), index[PT2_MAX_RANK] = {0};
    char *dst = pt2_tensor_data(self);
    const char *src = pt2_tensor_data(&v);
    for (int64_t n = 0; n < total; n++) {
        int64_t offset = 0;
        for (int a = 0; a < self->rank; a++) offset += index[a] * self->strides[a];
        memcpy(dst + (size_t)offset * es, src + (size_t)n * es, es);
        for (int a = self->rank - 1; a >= 0; a--) {
            if (++index[a] < self->shape[a]) break;
            index[a] = 0;
        }
    }
    return PT2_OK;
}

static pt2_status in_place(pt2_run_context *ctx, const pt2_node *node, const char *functional, pt2_error *err) {
    pt2_tensor self, result, cast;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &self, err);
    if (st) return st;
    const pt2_op_def *op = pt2_op_find(functional);
    if (!op) return pt2_fail(err, PT2_ERR_INTERNAL, "%s is not registered", functional);
    if ((st = op->run(ctx, node, err))) return st;
    if (node->num_outputs < 1 || node->outputs[0].kind != PT2_ARG_TENSOR) return PT2_OK;
    result = ctx->values[node->outputs[0].value_id].tensor;
    if (result.rank != self.rank || memcmp(result.shape, self.shape, sizeof(int64_t) * (size_t)self.rank))
        return pt2_fail(err, PT2_ERR_INPUT, "in-place result does not have the shape of self");
    if ((st = pt2_tensor_cast(ctx->arena, &result, self.dtype, &cast, err))) return st;
    return write_back(ctx, &self, &cast, err);
}

/* An in-place op whose write another op sees (else core/graph/functionalize.c has made it its
 * functional op): that op's result, written through self. */
static pt2_status run_in_place_op(pt2_run_context *c, const pt2_node *n, pt2_error *e) {
    const char *functional = pt2_in_place_functional(n->target);
    if (!functional) return pt2_fail(e, PT2_ERR_INTERNAL, "%s has no functional form", n->target);
    return in_place(c, n, functional, e);
}

static pt2_status run_fill_(pt2_run_context *c, const pt2_node *n, pt2_error *e) {
    return in_place(c, n, pt2_node_arg(n, "value") && pt2_node_arg(n, "value")->kind == PT2_ARG_TENSOR ? "aten.fill.Tensor"
                                                                                                   : "aten.fill.Scalar", e);
}

static pt2_status run_zero_(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor self, zeros;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &self, err);
    if (!st) st = pt2_tensor_alloc(ctx->arena, self.dtype, self.rank, self.shape, &zeros, err);
    if (!st) st = write_back(ctx, &self, &zeros, err);
    return st ? st : pt2_op_set_output(ctx, node, 0, &zeros, err);
}

static pt2_status run_copy_(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor self, src, cast, view;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &self, err);
    if (!st) st = pt2_op_tensor(ctx, node, "src", &src, err);
    if (st) return st;
    int rank;
    int64_t shape[PT2_MAX_RANK];
    if ((st = pt2_broadcast_shapes(src.rank, src.shape, self.rank, self.shape, &rank, shape, err))) return st;
    if (rank != self.rank || memcmp(shape, self.shape, sizeof(int64_t) * (size_t)rank))
        return pt2_fail(err, PT2_ERR_INPUT, "copy_: the source does not broadcast to the destination's shape");
    pt2_broadcast_view(&src, rank, shape, &view);
    if ((st = pt2_tensor_cast(ctx->arena, &view, self.dtype, &cast, err))) return st;
    if (cast.storage == src.storage && (st = pt2_tensor_contiguous(ctx->arena, &view, 1, &cast, err))) return st;
    if ((st = write_back(ctx, &self, &cast, err))) return st;
    return pt2_op_set_output(ctx, node, 0, &cast, err);
}

/* aten.copy.default (functional): the source, broadcast and converted to self's dtype. */
static pt2_status run_copy(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor self, src, cast, view;
    pt2_status st = pt2_op_tensor(ctx, node, "self", &self, err);
    if (!st) st = pt2_op_tensor(ctx, node, "src", &src, err);
    if (st) return st;
    int rank;
    int64_t shape[PT2_MAX_RANK];
    if ((st = pt2_broadcast_shapes(src.rank, src.shape, self.rank, self.shape, &rank, shape, err))) return st;
    pt2_broadcast_view(&src, rank, shape, &view);
    if ((st = pt2_tensor_cast(ctx->arena, &view, self.dtype, &cast, err))) return st;
    return pt2_op_set_output(ctx, node, 0, &cast, err);
}

const pt2_op_def pt2_ops_symbolic[] = {
    {"aten.sym_size.int", run_sym_size},
    {"aten.sym_numel.default", run_sym_numel},
    {"aten.sym_stride.int", run_sym_stride},
    {"_operator.add", run_python_op},
    {"_operator.sub", run_python_op},
    {"_operator.mul", run_python_op},
    {"_operator.floordiv", run_python_op},
    {"_operator.mod", run_python_op},
    {"_operator.truediv", run_python_op},
    {"_operator.pow", run_python_op},
    {"_operator.neg", run_python_op},
    {"_operator.pos", run_python_op},
    {"_operator.eq", run_python_op},
    {"_operator.ne", run_python_op},
    {"_operator.lt", run_python_op},
    {"_operator.le", run_python_op},
    {"_operator.gt", run_python_op},
    {"_operator.ge", run_python_op},
    {"_operator.and_", run_python_op},
    {"_operator.or_", run_python_op},
    {"_operator.lshift", run_python_op},
    {"_operator.rshift", run_python_op},
    {"math.trunc", run_python_op},
    {"math.floor", run_python_op},
    {"math.ceil", run_python_op},
    {"torch.sym_max", run_python_op},
    {"torch.sym_min", run_python_op},
    {"torch.sym_float", run_python_op},
    {"torch.sym_int", run_python_op},
    {"torch.sym_not", run_python_op},
    {"torch.sym_ite", run_python_op},
    {"torch.sym_sqrt", run_python_op},
    {"aten._assert_scalar.default", run_assert_scalar},
    {"aten._assert_tensor_metadata.default", run_assert_metadata},
    {"aten.sym_constrain_range_for_size.default", run_constrain_range},
    {"aten.sym_constrain_range.default", run_constrain_range},
#define IN_PLACE_ENTRY(in_place, functional) {in_place, run_in_place_op},
    PT2_IN_PLACE_OPS(IN_PLACE_ENTRY)
#undef IN_PLACE_ENTRY
    {"aten.copy_.default", run_copy_},
    {"aten.fill_.Scalar", run_fill_},
    {"aten.fill_.Tensor", run_fill_},
    {"aten.zero_.default", run_zero_},
    {"aten.copy.default", run_copy},
    {NULL, NULL}};
