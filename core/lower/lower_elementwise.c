/* Lowering of elementwise ops: activations to "activation" (or to one of pt2returnn's eval
 * forms where RETURNN has no activation of PyTorch's meaning, e.g. leaky_relu's slope, exact
 * gelu), arithmetic between layers to "combine" (broadcast by dim tags), with a scalar to an
 * eval form, with a constant tensor to a "variable" layer and a combine; ops that change
 * nothing RETURNN sees (eval-mode dropout, clone, contiguous) alias their input. */
#include <stdio.h>
#include <string.h>

#include "../ops/elementwise.h"
#include "axes.h"
#include "lower_operands.h"
#include "lowerings.h"

static const struct {
    const char *target, *activation, *eval;
} unary_ops[] = {
    {"aten.relu.default", "relu", NULL},       {"aten.tanh.default", "tanh", NULL},
    {"aten.sigmoid.default", "sigmoid", NULL}, {"aten.exp.default", "exp", NULL},
    {"aten.log.default", "log", NULL},         {"aten.abs.default", "abs", NULL},
    {"aten.sqrt.default", "sqrt", NULL},       {"aten.rsqrt.default", "rsqrt", NULL},
    {"aten.silu.default", NULL, "silu"},       {"aten.neg.default", NULL, "neg"},
};

static pt2_status lower_unary(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    pt2_status st = pt2_lower_input(ctx, node, "self", &in, err);
    if (st) return st;
    for (size_t i = 0; i < sizeof unary_ops / sizeof unary_ops[0]; i++) {
        if (strcmp(unary_ops[i].target, node->target)) continue;
        if (unary_ops[i].eval) return pt2_lower_eval(ctx, node, in, unary_ops[i].eval, 0, err);
        pt2_rt_layer *layer;
        if ((st = pt2_lower_new_layer(ctx, node, "activation", &layer, err))) return st;
        if (!st) st = pt2_lower_add_source(ctx, layer, in, err);
        if (!st) st = pt2_rt_set_string(layer, "activation", unary_ops[i].activation, err);
        if (!st) st = pt2_lower_infer(ctx, node, layer, err);
        if (!st) st = pt2_lower_set_output(ctx, node, layer, in->rank, in->dims, err);
        return st;
    }
    return pt2_lower_fail(node, err, "no unary lowering");
}

/* tf.nn.leaky_relu's default slope (0.2) differs from PyTorch's (0.01): always written out. */
static pt2_status lower_leaky_relu(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    double slope;
    pt2_status st = pt2_lower_input(ctx, node, "self", &in, err);
    if (!st) st = pt2_op_scalar(ctx->run, node, "negative_slope", &slope, err);
    return st ? st : pt2_lower_eval(ctx, node, in, "leaky_relu", slope, err);
}

static pt2_status lower_gelu(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    const char *approximate = NULL;
    pt2_status st = pt2_lower_input(ctx, node, "self", &in, err);
    if (!st) st = pt2_op_string(ctx->run, node, "approximate", &approximate, err);
    if (st) return st;
    int tanh_form = approximate && !strcmp(approximate, "tanh");
    return pt2_lower_eval(ctx, node, in, tanh_form ? "gelu_tanh" : "gelu", 0, err);
}

static pt2_status lower_alias(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    const char *name = pt2_node_arg(node, "input") ? "input" : "self";
    pt2_status st = pt2_lower_input(ctx, node, name, &in, err);
    if (st) return st;
    if (pt2_node_arg(node, "train")) { /* dropout and its variants: the identity in eval mode */
        int train = 0;
        if ((st = pt2_op_bool(ctx->run, node, "train", &train, err))) return st;
        if (train) return pt2_lower_fail(node, err, "dropout in training mode (export the model after eval())");
    }
    return pt2_lower_alias(ctx, node, in, err);
}

typedef struct binary_op {
    const char *target, *kind;
} binary_op;

static const binary_op binary_ops[] = {
    {"aten.add.Tensor", "add"},     {"aten.sub.Tensor", "sub"},     {"aten.mul.Tensor", "mul"}, {"aten.multiply.Tensor", "mul"},
    {"aten.div.Tensor", "truediv"}, {"aten.maximum.default", "maximum"}, {"aten.minimum.default", "minimum"},
    {"aten.add.Scalar", "add"},     {"aten.sub.Scalar", "sub"},     {"aten.mul.Scalar", "mul"},
    {"aten.div.Scalar", "truediv"},
};

/* x op c for a scalar c, as an eval form; an integer x whose result PyTorch computes in float32
 * (x * 0.5, x / 10) cast to it first. */
static pt2_status scalar_form(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in,
                              const char *kind, double c, int swapped, pt2_error *err) {
    pt2_lowered_value cast;
    if (in->shape.dtype != PT2_DTYPE_FLOAT32 && ctx->run->values[node->outputs[0].value_id].tensor.dtype == PT2_DTYPE_FLOAT32) {
        pt2_status st = pt2_lower_cast_operand(ctx, node, NULL, 0, PT2_DTYPE_FLOAT32, in, &cast, err);
        if (st) return st;
        in = &cast;
    }
    if (!strcmp(kind, "add")) return pt2_lower_eval(ctx, node, in, "add_scalar", c, err);
    if (!strcmp(kind, "mul")) return pt2_lower_eval(ctx, node, in, "mul_scalar", c, err);
    if (!strcmp(kind, "sub"))
        return swapped ? pt2_lower_eval(ctx, node, in, "rsub_scalar", c, err) : pt2_lower_eval(ctx, node, in, "add_scalar", -c, err);
    if (!strcmp(kind, "truediv"))
        return pt2_lower_eval(ctx, node, in, swapped ? "rdiv_scalar" : "div_scalar", c, err);
    return pt2_lower_fail(node, err, "%s with a scalar is not lowered", kind);
}

static pt2_status lower_binary(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const char *kind = NULL;
    for (size_t i = 0; i < sizeof binary_ops / sizeof binary_ops[0]; i++)
        if (!strcmp(binary_ops[i].target, node->target)) kind = binary_ops[i].kind;
    const pt2_arg *alpha = pt2_node_arg(node, "alpha");
    if (alpha && !((alpha->kind == PT2_ARG_INT && alpha->int_value == 1) || (alpha->kind == PT2_ARG_FLOAT && alpha->float_value == 1.0) ||
                   alpha->kind == PT2_ARG_NONE))
        return pt2_lower_fail(node, err, "alpha other than 1 is not lowered");
    const pt2_arg *rounding = pt2_node_arg(node, "rounding_mode");
    if (rounding && rounding->kind == PT2_ARG_STRING) return pt2_lower_fail(node, err, "division with rounding is not lowered");
    const pt2_lowered_value *self, *other = NULL;
    pt2_status st = pt2_lower_input(ctx, node, "self", &self, err);
    const pt2_arg *other_arg = pt2_node_arg(node, "other");
    if (!st && other_arg && other_arg->kind == PT2_ARG_TENSOR) st = pt2_lower_input(ctx, node, "other", &other, err);
    if (st) return st;
    if (!self && !other) return pt2_lower_fail(node, err, "both operands are constants");
    int swapped = !self;
    const pt2_lowered_value *data = self ? self : other;
    const char *constant_name = swapped ? "self" : "other";
    const pt2_arg *constant_arg = pt2_node_arg(node, constant_name);
    pt2_lowered_value constant_value, data_featured;
    if (!other || !self) {
        if (constant_arg && constant_arg->kind != PT2_ARG_TENSOR) { /* a Scalar */
            double c;
            if ((st = pt2_op_scalar(ctx->run, node, constant_name, &c, err))) return st;
            return scalar_form(ctx, node, data, kind, c, swapped, err);
        }
        pt2_tensor c;
        int present;
        if ((st = pt2_lower_constant(ctx, node, constant_name, &c, &present, err))) return st;
        if (c.rank == 0 || pt2_tensor_numel(&c) == 1) {
            /* one number, as a Python scalar of its category promotes (an int64 torch.tensor(3)
             * times int64 positions: DeBERTa-v2's buckets) */
            if (c.dtype != PT2_DTYPE_FLOAT32 && c.dtype != PT2_DTYPE_INT64 && c.dtype != PT2_DTYPE_INT32)
                return pt2_lower_fail(node, err, "a %s scalar tensor is not lowered", pt2_dtype_name(c.dtype));
            if (c.dtype != PT2_DTYPE_FLOAT32 && data->shape.dtype != PT2_DTYPE_FLOAT32 && data->shape.dtype != c.dtype)
                return pt2_lower_fail(node, err, "a %s scalar tensor with %s data is not lowered", pt2_dtype_name(c.dtype),
                                      pt2_dtype_name(data->shape.dtype));
            return scalar_form(ctx, node, data, kind, pt2_tensor_get_double(&c, 0), swapped, err);
        }
        if ((st = pt2_lower_data_meeting_constant(ctx, node, &c, data, &data_featured, &data, err))) return st;
        if ((st = pt2_lower_constant_layer(ctx, node, &c, data, &constant_value, err))) return st;
        if (swapped) self = &constant_value, other = data;
        else other = &constant_value, self = data;
    }
    const pt2_lowered_value *operands[2] = {self, other};
    return pt2_lower_broadcast_layer(ctx, node, 1, NULL, "combine", "kind", kind, operands, 2, NULL, err);
}

const pt2_op_lowering pt2_lowerings_elementwise[] = {
    {"aten.relu.default", lower_unary, "activation"},
    {"aten.tanh.default", lower_unary, "activation"},
    {"aten.sigmoid.default", lower_unary, "activation"},
    {"aten.exp.default", lower_unary, "activation"},
    {"aten.log.default", lower_unary, "activation"},
    {"aten.abs.default", lower_unary, "activation"},
    {"aten.sqrt.default", lower_unary, "activation"},
    {"aten.rsqrt.default", lower_unary, "activation"},
    {"aten.silu.default", lower_unary, "eval:silu"},
    {"aten.neg.default", lower_unary, "eval:neg"},
    {"aten.leaky_relu.default", lower_leaky_relu, "eval:leaky_relu"},
    {"aten.gelu.default", lower_gelu, "eval:gelu eval:gelu_tanh"},
    {"aten.dropout.default", lower_alias, ""},
    {"aten.clone.default", lower_alias, ""},
    {"aten.contiguous.default", lower_alias, ""},
    {"aten.alias.default", lower_alias, ""},
    {"aten.detach.default", lower_alias, ""},
    {"aten.alpha_dropout.default", lower_alias, ""},
    {"aten.feature_dropout.default", lower_alias, ""},
    {"aten.alias_copy.default", lower_alias, ""},
    {"aten.detach_copy.default", lower_alias, ""},
    {"aten.lift_fresh_copy.default", lower_alias, ""},
    {"aten.add.Tensor", lower_binary, "combine cast variable reinterpret_data eval:add_scalar eval:mul_scalar eval:rsub_scalar eval:div_scalar eval:rdiv_scalar" PT2_BROADCAST_EMITS},
    {"aten.sub.Tensor", lower_binary, "combine cast variable reinterpret_data eval:add_scalar eval:mul_scalar eval:rsub_scalar eval:div_scalar eval:rdiv_scalar" PT2_BROADCAST_EMITS},
    {"aten.mul.Tensor", lower_binary, "combine cast variable reinterpret_data eval:add_scalar eval:mul_scalar eval:rsub_scalar eval:div_scalar eval:rdiv_scalar" PT2_BROADCAST_EMITS},
    {"aten.multiply.Tensor", lower_binary, "combine cast variable reinterpret_data eval:add_scalar eval:mul_scalar eval:rsub_scalar eval:div_scalar eval:rdiv_scalar" PT2_BROADCAST_EMITS},
    {"aten.div.Tensor", lower_binary, "combine cast variable reinterpret_data eval:add_scalar eval:mul_scalar eval:rsub_scalar eval:div_scalar eval:rdiv_scalar" PT2_BROADCAST_EMITS},
    {"aten.maximum.default", lower_binary, "combine cast variable reinterpret_data eval:add_scalar eval:mul_scalar eval:rsub_scalar eval:div_scalar eval:rdiv_scalar" PT2_BROADCAST_EMITS},
    {"aten.minimum.default", lower_binary, "combine cast variable reinterpret_data eval:add_scalar eval:mul_scalar eval:rsub_scalar eval:div_scalar eval:rdiv_scalar" PT2_BROADCAST_EMITS},
    {"aten.add.Scalar", lower_binary, "combine cast variable reinterpret_data eval:add_scalar eval:mul_scalar eval:rsub_scalar eval:div_scalar eval:rdiv_scalar" PT2_BROADCAST_EMITS},
    {"aten.sub.Scalar", lower_binary, "combine cast variable reinterpret_data eval:add_scalar eval:mul_scalar eval:rsub_scalar eval:div_scalar eval:rdiv_scalar" PT2_BROADCAST_EMITS},
    {"aten.mul.Scalar", lower_binary, "combine cast variable reinterpret_data eval:add_scalar eval:mul_scalar eval:rsub_scalar eval:div_scalar eval:rdiv_scalar" PT2_BROADCAST_EMITS},
    {"aten.div.Scalar", lower_binary, "combine cast variable reinterpret_data eval:add_scalar eval:mul_scalar eval:rsub_scalar eval:div_scalar eval:rdiv_scalar" PT2_BROADCAST_EMITS},
    {NULL, NULL, NULL}};
