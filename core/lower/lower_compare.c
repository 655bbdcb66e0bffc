/* Lowering of comparisons, logic and selection: comparisons to RETURNN's compare layer (kind
 * tf.<kind>, a number as its `value`), logical and bitwise ops on bools to combine kinds
 * (tf.math.logical_and/or/xor) and logical_not to compare equal False, where and masked_fill
 * to RETURNN's switch (tf.where; a number as the constant branch), dtype conversions to cast
 * (RETURNN's tf.cast), and the export's dtype assertions to nothing (the reference run checked
 * them). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../naming/naming.h"

#include "lower_operands.h"
#include "lowerings.h"

static const struct {
    const char *name, *kind, *swapped; /* swapped: the kind with the operands exchanged */
} comparisons[] = {
    {"eq", "equal", "equal"},         {"ne", "not_equal", "not_equal"}, {"lt", "less", "greater"},
    {"le", "less_equal", "greater_equal"}, {"gt", "greater", "less"}, {"ge", "greater_equal", "less_equal"},
};

/* A number as an option of the source's dtype (RETURNN passes it to TF with the source). */
static pt2_status set_number(const pt2_node *node, pt2_rt_layer *layer, const char *key, pt2_dtype dtype, double number,
                             pt2_error *err) {
    if (!isfinite(number)) return pt2_lower_fail(node, err, "a number that is not finite (%g) is not lowered: the JSON config cannot hold it", number);
    if (dtype == PT2_DTYPE_BOOL) return pt2_rt_set_bool(layer, key, number != 0, err);
    if (dtype == PT2_DTYPE_INT64 || dtype == PT2_DTYPE_INT32) return pt2_rt_set_int(layer, key, (int64_t)number, err);
    return pt2_rt_set_float(layer, key, number, err);
}

static pt2_status lower_comparison(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const char *kind = NULL, *swapped = NULL;
    const char *op = node->target + strlen("aten.");
    for (size_t i = 0; i < sizeof comparisons / sizeof comparisons[0]; i++)
        if (!strncmp(op, comparisons[i].name, 2) && op[2] == '.') kind = comparisons[i].kind, swapped = comparisons[i].swapped;
    if (!kind) return pt2_lower_fail(node, err, "no comparison lowering");
    pt2_operand a, b;
    pt2_status st = pt2_lower_operand(ctx, node, "self", &a, err);
    if (!st) st = pt2_lower_operand(ctx, node, "other", &b, err);
    if (st) return st;
    if (a.is_number && b.is_number) return pt2_lower_fail(node, err, "both operands are numbers");
    if (a.is_number || b.is_number) {
        const pt2_operand *layer_operand = a.is_number ? &b : &a;
        double number = a.is_number ? a.number : b.number;
        if (!layer_operand->layer) return pt2_lower_fail(node, err, "both operands are constants");
        const pt2_lowered_value *sources[1] = {layer_operand->layer};
        pt2_broadcast_layer layer;
        if ((st = pt2_lower_begin_broadcast(ctx, node, 1, NULL, "compare", sources, 1, &layer, err))) return st;
        if ((st = pt2_rt_set_string(layer.layer, "kind", a.is_number ? swapped : kind, err))) return st;
        if ((st = set_number(node, layer.layer, "value", layer_operand->layer->shape.dtype, number, err))) return st;
        return pt2_lower_finish_broadcast(ctx, node, &layer, NULL, err);
    }
    if ((st = pt2_lower_place_operands(ctx, node, &a, &b, err))) return st;
    const pt2_lowered_value *sources[2] = {a.layer, b.layer};
    return pt2_lower_broadcast_layer(ctx, node, 1, NULL, "compare", "kind", kind, sources, 2, NULL, err);
}

/* A bool layer operand (logical and bitwise ops are lowered on bools). */
static pt2_status bool_value(const pt2_node *node, const char *name, const pt2_lowered_value *v, pt2_error *err) {
    if (v->shape.dtype != PT2_DTYPE_BOOL)
        return pt2_lower_fail(node, err, "lowered on bool tensors, '%s' is %s", name, pt2_dtype_name(v->shape.dtype));
    return PT2_OK;
}

static pt2_status bool_input(pt2_lower_context *ctx, const pt2_node *node, const char *name,
                             const pt2_lowered_value **out, pt2_error *err) {
    pt2_status st = pt2_lower_input(ctx, node, name, out, err);
    if (st) return st;
    if (!*out) return pt2_lower_fail(node, err, "a constant operand '%s' of a logical op is not lowered", name);
    return bool_value(node, name, *out, err);
}

static pt2_status lower_logical(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const char *kind = strstr(node->target, "and") ? "logical_and" : strstr(node->target, "xor") ? "logical_xor" : "logical_or";
    const pt2_lowered_value *sources[2];
    pt2_status st = bool_input(ctx, node, "self", &sources[0], err);
    if (!st) st = bool_input(ctx, node, "other", &sources[1], err);
    return st ? st : pt2_lower_broadcast_layer(ctx, node, 1, NULL, "combine", "kind", kind, sources, 2, NULL, err);
}

/* and/or/xor of a tensor with a number: on an integer tensor TF's bitwise op (an eval, as RETURNN
 * has no layer for it); on a bool tensor the number decides: x & True, x | False and x ^ False are
 * x, x ^ True is not x (compare equal False), and x & False / x | True do not depend on x. */
static pt2_status lower_bitwise_number(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const char *op = strstr(node->target, "and") ? "and" : strstr(node->target, "xor") ? "xor" : "or";
    const pt2_lowered_value *in;
    double number;
    pt2_status st = pt2_lower_input(ctx, node, "self", &in, err);
    if (!st && !in) return pt2_lower_fail(node, err, "a constant operand of a bitwise op is not lowered");
    if (!st) st = pt2_op_scalar(ctx->run, node, "other", &number, err);
    if (st) return st;
    const pt2_arg *other = pt2_node_arg(node, "other");
    if (other && (other->kind == PT2_ARG_SYM_INT || other->kind == PT2_ARG_SYM_BOOL) && other->value_id >= 0 && ctx->dynamic[other->value_id])
        return pt2_lower_fail(node, err, "a number computed from the input's sizes is not lowered here");
    pt2_dtype dtype = in->shape.dtype;
    if (ctx->run->values[node->outputs[0].value_id].tensor.dtype != dtype)
        return pt2_lower_fail(node, err, "a result of another dtype than the tensor's is not lowered");
    if (dtype == PT2_DTYPE_INT64 || dtype == PT2_DTYPE_INT32) {
        if (number != floor(number)) return pt2_lower_fail(node, err, "a bitwise op with the non-integer %g", number);
        const char *form = op[0] == 'a' ? "bitwise_and_scalar" : op[0] == 'x' ? "bitwise_xor_scalar" : "bitwise_or_scalar";
        return pt2_lower_unary_layer(ctx, node, 1, NULL, "eval", form, number, in, NULL, err);
    }
    if (dtype != PT2_DTYPE_BOOL) return pt2_lower_fail(node, err, "a bitwise op on %s is not lowered (integers and bools are)", pt2_dtype_name(dtype));
    int truth = number != 0;
    if ((op[0] == 'a' && truth) || (op[0] != 'a' && !truth)) return pt2_lower_alias(ctx, node, in, err);
    if (op[0] != 'x') return pt2_lower_fail(node, err, "%s with %s gives a constant, which is not lowered", op, truth ? "True" : "False");
    const pt2_lowered_value *sources[1] = {in};
    pt2_broadcast_layer layer;
    st = pt2_lower_begin_broadcast(ctx, node, 1, NULL, "compare", sources, 1, &layer, err);
    if (!st) st = pt2_rt_set_string(layer.layer, "kind", "equal", err);
    if (!st) st = pt2_rt_set_bool(layer.layer, "value", 0, err);
    return st ? st : pt2_lower_finish_broadcast(ctx, node, &layer, NULL, err);
}

static pt2_status lower_not(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *sources[1];
    pt2_status st = bool_input(ctx, node, "self", &sources[0], err);
    pt2_broadcast_layer layer;
    if (!st) st = pt2_lower_begin_broadcast(ctx, node, 1, NULL, "compare", sources, 1, &layer, err);
    if (!st) st = pt2_rt_set_string(layer.layer, "kind", "equal", err);
    if (!st) st = pt2_rt_set_bool(layer.layer, "value", 0, err);
    return st ? st : pt2_lower_finish_broadcast(ctx, node, &layer, NULL, err);
}

/* where(condition, number, number): RETURNN's switch with both branches numbers, whose dtype
 * RETURNN takes from the Python type of the numbers (float32, int32 or bool), then a cast where
 * PyTorch's result is int64. */
static pt2_status select_numbers(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *condition,
                                 const pt2_operand *branch, pt2_error *err) {
    pt2_dtype result = ctx->run->values[node->outputs[0].value_id].tensor.dtype;
    pt2_dtype switched = result == PT2_DTYPE_INT64 ? PT2_DTYPE_INT32 : result;
    if (switched != PT2_DTYPE_FLOAT32 && switched != PT2_DTYPE_INT32 && switched != PT2_DTYPE_BOOL)
        return pt2_lower_fail(node, err, "a %s result of two numbers is not lowered (float32, int64, int32 and bool are)", pt2_dtype_name(result));
    for (int b = 0; b < 2; b++)
        if (switched != PT2_DTYPE_FLOAT32 && (branch[b].number != floor(branch[b].number) || fabs(branch[b].number) > 2147483647.0))
            return pt2_lower_fail(node, err, "the number %g does not fit RETURNN's int32 of an integer branch", branch[b].number);
    const pt2_lowered_value *sources[1] = {condition};
    pt2_broadcast_layer layer;
    char name[220];
    snprintf(name, sizeof name, "%s_int32", ctx->places[node - ctx->graph->nodes].base);
    pt2_status st = pt2_lower_begin_broadcast(ctx, node, switched == result, switched == result ? NULL : name, "switch", sources, 1,
                                              &layer, err);
    const char *keys[2] = {"true_from", "false_from"};
    for (int b = 0; b < 2 && !st; b++) st = set_number(node, layer.layer, keys[b], switched, branch[b].number, err);
    if (st) return st;
    if (switched == result) return pt2_lower_finish_broadcast(ctx, node, &layer, NULL, err);
    pt2_lowered_value selected;
    if ((st = pt2_lower_finish_broadcast(ctx, node, &layer, &selected, err))) return st;
    pt2_rt_layer *cast;
    if ((st = pt2_lower_new_layer(ctx, node, "cast", &cast, err))) return st;
    if (!st) st = pt2_lower_add_source(ctx, cast, &selected, err);
    if (!st) st = pt2_rt_set_string(cast, "dtype", pt2_dtype_name(result), err);
    if (!st) st = pt2_lower_infer(ctx, node, cast, err);
    return st ? st : pt2_lower_set_output(ctx, node, cast, selected.rank, selected.dims, err);
}

/* switch(condition, true branch, false branch): each branch a layer or a number. */
static pt2_status lower_select(pt2_lower_context *ctx, const pt2_node *node, const char *condition_name,
                               const char *true_name, const char *false_name, pt2_error *err) {
    const pt2_lowered_value *condition;
    pt2_lowered_value placed_condition;
    pt2_operand branch[2];
    pt2_status st = pt2_lower_input(ctx, node, condition_name, &condition, err);
    if (!st) st = pt2_lower_operand(ctx, node, true_name, &branch[0], err);
    if (!st) st = pt2_lower_operand(ctx, node, false_name, &branch[1], err);
    if (st) return st;
    if (!condition) { /* a constant mask (a bool buffer): placed against the branch computed from the input */
        const pt2_lowered_value *data = branch[0].layer ? branch[0].layer : branch[1].layer;
        pt2_tensor mask;
        int present;
        if (!data) return pt2_lower_fail(node, err, "a constant '%s' with no branch computed from the input", condition_name);
        if ((st = pt2_lower_constant(ctx, node, condition_name, &mask, &present, err))) return st;
        if ((st = pt2_lower_constant_layer(ctx, node, &mask, data, &placed_condition, err))) return st;
        condition = &placed_condition;
    }
    if ((st = bool_value(node, condition_name, condition, err))) return st;
    if (branch[0].is_number && branch[1].is_number) return select_numbers(ctx, node, condition, branch, err);
    for (int b = 0; b < 2; b++)
        if (branch[b].is_constant) {
            pt2_status placed = pt2_lower_constant_layer(ctx, node, &branch[b].constant, condition, &branch[b].placed, err);
            if (placed) return placed;
            branch[b].layer = &branch[b].placed;
        }
    if (branch[0].layer && branch[1].layer && branch[0].layer->shape.dtype != branch[1].layer->shape.dtype)
        return pt2_lower_fail(node, err, "branches of different dtypes are not lowered");
    pt2_dtype dtype = (branch[0].layer ? branch[0].layer : branch[1].layer)->shape.dtype;
    const pt2_tensor *result = &ctx->run->values[node->outputs[0].value_id].tensor;
    if (result->dtype != dtype) return pt2_lower_fail(node, err, "the result's dtype %s differs from the branch's %s", pt2_dtype_name(result->dtype), pt2_dtype_name(dtype));
    const pt2_lowered_value *sources[3] = {condition};
    size_t count = 1;
    for (int b = 0; b < 2; b++)
        if (branch[b].layer) sources[count++] = branch[b].layer;
    pt2_broadcast_layer layer;
    if ((st = pt2_lower_begin_broadcast(ctx, node, 1, NULL, "switch", sources, count, &layer, err))) return st;
    const char *keys[2] = {"true_from", "false_from"};
    for (int b = 0; b < 2 && !st; b++)
        if (branch[b].is_number) st = set_number(node, layer.layer, keys[b], dtype, branch[b].number, err);
    if (st) return st;
    return pt2_lower_finish_broadcast(ctx, node, &layer, NULL, err);
}

static pt2_status lower_where(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    return lower_select(ctx, node, "condition", "self", "other", err);
}

static pt2_status lower_masked_fill(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    return lower_select(ctx, node, "mask", "value", "self", err);
}

/* Conversions: to the same dtype they change nothing; to float32, int32, int64 or bool a cast. */
static pt2_status lower_cast(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    pt2_status st = pt2_lower_input(ctx, node, "self", &in, err);
    if (!st && !in) return pt2_lower_fail(node, err, "converting a constant");
    if (st) return st;
    pt2_dtype target = ctx->run->values[node->outputs[0].value_id].tensor.dtype;
    if (target == in->shape.dtype) return pt2_lower_alias(ctx, node, in, err);
    if (target != PT2_DTYPE_FLOAT32 && target != PT2_DTYPE_INT32 && target != PT2_DTYPE_INT64 && target != PT2_DTYPE_BOOL)
        return pt2_lower_fail(node, err, "conversion to %s is not lowered (float32, int32, int64 and bool are)", pt2_dtype_name(target));
    if (in->shape.sparse_dim >= 0) return pt2_lower_fail(node, err, "converting sparse indices is not lowered");
    pt2_rt_layer *layer;
    if ((st = pt2_lower_new_layer(ctx, node, "cast", &layer, err))) return st;
    if (!st) st = pt2_lower_add_source(ctx, layer, in, err);
    if (!st) st = pt2_rt_set_string(layer, "dtype", pt2_dtype_name(target), err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    return st ? st : pt2_lower_set_output(ctx, node, layer, in->rank, in->dims, err);
}

static pt2_status lower_assertion(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    (void)ctx, (void)node, (void)err;
    return PT2_OK;
}

const pt2_op_lowering pt2_lowerings_compare[] = {
    {"aten.eq.Scalar", lower_comparison, "compare cast variable reinterpret_data" PT2_BROADCAST_EMITS},
    {"aten.eq.Tensor", lower_comparison, "compare cast variable reinterpret_data" PT2_BROADCAST_EMITS},
    {"aten.ne.Scalar", lower_comparison, "compare cast variable reinterpret_data" PT2_BROADCAST_EMITS},
    {"aten.ne.Tensor", lower_comparison, "compare cast variable reinterpret_data" PT2_BROADCAST_EMITS},
    {"aten.lt.Scalar", lower_comparison, "compare cast variable reinterpret_data" PT2_BROADCAST_EMITS},
    {"aten.lt.Tensor", lower_comparison, "compare cast variable reinterpret_data" PT2_BROADCAST_EMITS},
    {"aten.le.Scalar", lower_comparison, "compare cast variable reinterpret_data" PT2_BROADCAST_EMITS},
    {"aten.le.Tensor", lower_comparison, "compare cast variable reinterpret_data" PT2_BROADCAST_EMITS},
    {"aten.gt.Scalar", lower_comparison, "compare cast variable reinterpret_data" PT2_BROADCAST_EMITS},
    {"aten.gt.Tensor", lower_comparison, "compare cast variable reinterpret_data" PT2_BROADCAST_EMITS},
    {"aten.ge.Scalar", lower_comparison, "compare cast variable reinterpret_data" PT2_BROADCAST_EMITS},
    {"aten.ge.Tensor", lower_comparison, "compare cast variable reinterpret_data" PT2_BROADCAST_EMITS},
    {"aten.logical_and.default", lower_logical, "combine reinterpret_data cast" PT2_BROADCAST_EMITS},
    {"aten.logical_or.default", lower_logical, "combine reinterpret_data cast" PT2_BROADCAST_EMITS},
    {"aten.logical_xor.default", lower_logical, "combine reinterpret_data cast" PT2_BROADCAST_EMITS},
    {"aten.bitwise_and.Tensor", lower_logical, "combine reinterpret_data cast" PT2_BROADCAST_EMITS},
    {"aten.bitwise_or.Tensor", lower_logical, "combine reinterpret_data cast" PT2_BROADCAST_EMITS},
    {"aten.bitwise_xor.Tensor", lower_logical, "combine reinterpret_data cast" PT2_BROADCAST_EMITS},
    {"aten.__and__.Tensor", lower_logical, "combine reinterpret_data cast" PT2_BROADCAST_EMITS},
    {"aten.__or__.Tensor", lower_logical, "combine reinterpret_data cast" PT2_BROADCAST_EMITS},
    {"aten.__xor__.Tensor", lower_logical, "combine reinterpret_data cast" PT2_BROADCAST_EMITS},
    {"aten.logical_not.default", lower_not, "compare"},
    {"aten.bitwise_not.default", lower_not, "compare"},
    {"aten.where.self", lower_where, "switch variable reinterpret_data cast" PT2_BROADCAST_EMITS},
    {"aten.where.ScalarOther", lower_where, "switch variable reinterpret_data cast" PT2_BROADCAST_EMITS},
    {"aten.where.ScalarSelf", lower_where, "switch variable reinterpret_data cast" PT2_BROADCAST_EMITS},
    {"aten.where.Scalar", lower_where, "switch cast dot expand_dims merge_dims reinterpret_data eval:fill_like"}, /* ops13: two numbers */
    /* ops13: bitwise ops with a number */
    {"aten.bitwise_and.Scalar", lower_bitwise_number, "eval:bitwise_and_scalar compare"},
    {"aten.bitwise_or.Scalar", lower_bitwise_number, "eval:bitwise_or_scalar compare"},
    {"aten.bitwise_xor.Scalar", lower_bitwise_number, "eval:bitwise_xor_scalar compare"},
    {"aten.__and__.Scalar", lower_bitwise_number, "eval:bitwise_and_scalar compare"},
    {"aten.__or__.Scalar", lower_bitwise_number, "eval:bitwise_or_scalar compare"},
    {"aten.__xor__.Scalar", lower_bitwise_number, "eval:bitwise_xor_scalar compare"},
    {"aten.masked_fill.Scalar", lower_masked_fill, "switch variable reinterpret_data cast" PT2_BROADCAST_EMITS},
    {"aten.masked_fill.Tensor", lower_masked_fill, "switch variable reinterpret_data cast" PT2_BROADCAST_EMITS},
    {"aten.to.dtype", lower_cast, "cast"},
    {"aten._to_copy.default", lower_cast, "cast"},
    {"aten.type_as.default", lower_cast, "cast"},
    {"aten.to.device", lower_cast, "cast"},
    {"aten.to.dtype_layout", lower_cast, "cast"},
    {"aten._assert_tensor_metadata.default", lower_assertion, ""},
    {NULL, NULL, NULL}};
