/* Lowering of elementwise math: functions RETURNN's activation layer has by name (tf.nn.<name>,
 * tf.<name>, tf.math.<name>: trigonometric functions, erf, floor/ceil/round, sign, reciprocal,
 * softplus, elu, selu, relu6, log_sigmoid, ...), arithmetic between layers as combine kinds
 * (tf.math.pow, floordiv, floormod, truncatemod, maximum, minimum), arithmetic with a number,
 * clamps and the activations TF has no function for (mish, hardswish, hardsigmoid) as eval
 * forms, glu as RETURNN's gating layer, prelu as leaky_relu (one slope) or relu + slope *
 * min(x, 0) (a slope per channel), cosine_similarity as norms (combine, reduce, sqrt), divisions
 * and a reduce of the product. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lower_operands.h"
#include "lowerings.h"

/* One-source ops: an activation by RETURNN's name, or an eval form with its number. */
static const struct {
    const char *target, *activation, *eval;
    double number;
} unary_ops[] = {
    {"aten.sin.default", "sin", NULL, 0},
    {"aten.cos.default", "cos", NULL, 0},
    {"aten.tan.default", "tan", NULL, 0},
    {"aten.asin.default", "asin", NULL, 0},
    {"aten.acos.default", "acos", NULL, 0},
    {"aten.atan.default", "atan", NULL, 0},
    {"aten.sinh.default", "sinh", NULL, 0},
    {"aten.cosh.default", "cosh", NULL, 0},
    {"aten.erf.default", "erf", NULL, 0},
    {"aten.log1p.default", "log1p", NULL, 0},
    {"aten.expm1.default", "expm1", NULL, 0},
    {"aten.floor.default", "floor", NULL, 0},
    {"aten.ceil.default", "ceil", NULL, 0},
    {"aten.round.default", "round", NULL, 0},
    {"aten.sign.default", "sign", NULL, 0},
    {"aten.reciprocal.default", "reciprocal", NULL, 0},
    {"aten.square.default", "square", NULL, 0},
    {"aten.relu6.default", "relu6", NULL, 0},
    {"aten.selu.default", "selu", NULL, 0},
    {"aten.log_sigmoid.default", "log_sigmoid", NULL, 0},
    {"aten.trunc.default", NULL, "trunc", 0},
    {"aten.log10.default", NULL, "log_divide", 2.302585092994045684},
    {"aten.log2.default", NULL, "log_divide", 0.693147180559945309},
    {"aten.mish.default", NULL, "mish", 0},
    {"aten.hardswish.default", NULL, "hardswish", 0},
    {"aten.hardsigmoid.default", NULL, "hardsigmoid", 0},
};

static pt2_status layer_input(pt2_lower_context *ctx, const pt2_node *node, const char *name,
                              const pt2_lowered_value **out, pt2_error *err) {
    pt2_status st = pt2_lower_input(ctx, node, name, out, err);
    if (!st && !*out) return pt2_lower_fail(node, err, "argument '%s' is a constant", name);
    if (!st && (*out)->shape.dtype != PT2_DTYPE_FLOAT32)
        return pt2_lower_fail(node, err, "lowered for float32 tensors, '%s' is %s", name, pt2_dtype_name((*out)->shape.dtype));
    return st;
}

static pt2_status lower_unary(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    /* sign of integers is tf.sign of them (DeBERTa-v2's relative positions): exact in any dtype */
    pt2_status st = strcmp(node->target, "aten.sign.default") ? layer_input(ctx, node, "self", &in, err)
                                                              : pt2_lower_input(ctx, node, "self", &in, err);
    if (!st && !in) return pt2_lower_fail(node, err, "argument 'self' is a constant");
    if (!st && in->shape.dtype != PT2_DTYPE_FLOAT32 && in->shape.dtype != PT2_DTYPE_INT64 && in->shape.dtype != PT2_DTYPE_INT32)
        return pt2_lower_fail(node, err, "lowered for float32 and integer tensors, 'self' is %s", pt2_dtype_name(in->shape.dtype));
    if (st) return st;
    for (size_t i = 0; i < sizeof unary_ops / sizeof unary_ops[0]; i++)
        if (!strcmp(unary_ops[i].target, node->target))
            return unary_ops[i].activation
                       ? pt2_lower_unary_layer(ctx, node, 1, NULL, "activation", unary_ops[i].activation, 0, in, NULL, err)
                       : pt2_lower_unary_layer(ctx, node, 1, NULL, "eval", unary_ops[i].eval, unary_ops[i].number, in, NULL, err);
    return pt2_lower_fail(node, err, "no unary lowering");
}

static pt2_status optional_scalar(pt2_lower_context *ctx, const pt2_node *node, const char *name, double fallback,
                                  double *out, pt2_error *err) {
    int present = 0;
    pt2_status st = pt2_node_arg(node, name) ? pt2_op_optional_scalar(ctx->run, node, name, out, &present, err) : PT2_OK;
    if (!st && !present) *out = fallback;
    return st;
}

/* softplus(x, beta, threshold): tf.nn.softplus is beta 1 (its own threshold gives the same
 * float32 values as PyTorch's 20). */
static pt2_status lower_softplus(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    double beta;
    pt2_status st = layer_input(ctx, node, "self", &in, err);
    if (!st) st = optional_scalar(ctx, node, "beta", 1, &beta, err);
    if (st) return st;
    if (beta != 1) return pt2_lower_fail(node, err, "softplus with beta other than 1 is not lowered");
    return pt2_lower_unary_layer(ctx, node, 1, NULL, "activation", "softplus", 0, in, NULL, err);
}

/* elu(x, alpha, scale, input_scale): tf.nn.elu is alpha 1; another alpha is an eval form. */
static pt2_status lower_elu(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    double alpha, scale, input_scale;
    pt2_status st = layer_input(ctx, node, "self", &in, err);
    if (!st) st = optional_scalar(ctx, node, "alpha", 1, &alpha, err);
    if (!st) st = optional_scalar(ctx, node, "scale", 1, &scale, err);
    if (!st) st = optional_scalar(ctx, node, "input_scale", 1, &input_scale, err);
    if (st) return st;
    if (scale != 1 || input_scale != 1) return pt2_lower_fail(node, err, "elu with scale or input_scale other than 1 is not lowered");
    if (alpha == 1) return pt2_lower_unary_layer(ctx, node, 1, NULL, "activation", "elu", 0, in, NULL, err);
    return pt2_lower_unary_layer(ctx, node, 1, NULL, "eval", "elu_alpha", alpha, in, NULL, err);
}

/* celu(x, alpha) = alpha * elu(x / alpha): elu itself for alpha 1, else three layers. */
static pt2_status lower_celu(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    double alpha;
    pt2_status st = layer_input(ctx, node, "self", &in, err);
    if (!st) st = optional_scalar(ctx, node, "alpha", 1, &alpha, err);
    if (st) return st;
    if (alpha == 1) return pt2_lower_unary_layer(ctx, node, 1, NULL, "activation", "elu", 0, in, NULL, err);
    if (alpha == 0) return pt2_lower_fail(node, err, "celu with alpha 0 divides by zero");
    pt2_lowered_value scaled, elu;
    st = pt2_lower_unary_layer(ctx, node, 0, "celu_scaled", "eval", "div_scalar", alpha, in, &scaled, err);
    if (!st) st = pt2_lower_unary_layer(ctx, node, 0, "celu_elu", "activation", "elu", 0, &scaled, &elu, err);
    return st ? st : pt2_lower_unary_layer(ctx, node, 1, NULL, "eval", "mul_scalar", alpha, &elu, NULL, err);
}

/* clamp with numbers: max(x, min) then min(., max), each an eval form; relu6 where it is one. */
static pt2_status clamp_numbers(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in, int has_min,
                                double min, int has_max, double max, pt2_error *err) {
    if (has_min && has_max && min == 0 && max == 6 && in->shape.dtype == PT2_DTYPE_FLOAT32)
        return pt2_lower_unary_layer(ctx, node, 1, NULL, "activation", "relu6", 0, in, NULL, err);
    if (!has_min && !has_max) return pt2_lower_fail(node, err, "clamp without bounds");
    if (!has_max) return pt2_lower_unary_layer(ctx, node, 1, NULL, "eval", "clamp_min", min, in, NULL, err);
    if (!has_min) return pt2_lower_unary_layer(ctx, node, 1, NULL, "eval", "clamp_max", max, in, NULL, err);
    pt2_lowered_value low;
    pt2_status st = pt2_lower_unary_layer(ctx, node, 0, "clamp_min", "eval", "clamp_min", min, in, &low, err);
    return st ? st : pt2_lower_unary_layer(ctx, node, 1, NULL, "eval", "clamp_max", max, &low, NULL, err);
}

static pt2_status lower_clamp_scalars(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    double min = 0, max = 0;
    int has_min = 0, has_max = 0;
    /* Integer positions clamped to integer bounds stay integers (wav2vec2-BERT's relative
     * distances): tf.maximum / tf.minimum of the int64 tensor with an int. */
    const pt2_arg *self = pt2_node_arg(node, "self");
    int integer = self && self->kind == PT2_ARG_TENSOR && self->value_id >= 0 && ctx->values[self->value_id].is_set &&
                  (ctx->values[self->value_id].shape.dtype == PT2_DTYPE_INT64 ||
                   ctx->values[self->value_id].shape.dtype == PT2_DTYPE_INT32) &&
                  ctx->run->values[node->outputs[0].value_id].tensor.dtype == ctx->values[self->value_id].shape.dtype;
    pt2_status st = integer ? pt2_lower_input(ctx, node, "self", &in, err) : layer_input(ctx, node, "self", &in, err);
    if (st) return st;
    if (!strcmp(node->target, "aten.hardtanh.default")) {
        has_min = has_max = 1;
        st = optional_scalar(ctx, node, "min_val", -1, &min, err);
        if (!st) st = optional_scalar(ctx, node, "max_val", 1, &max, err);
    } else {
        if (pt2_node_arg(node, "min")) st = pt2_op_optional_scalar(ctx->run, node, "min", &min, &has_min, err);
        if (!st && pt2_node_arg(node, "max")) st = pt2_op_optional_scalar(ctx->run, node, "max", &max, &has_max, err);
    }
    if (!st && integer && ((has_min && min != floor(min)) || (has_max && max != floor(max))))
        return pt2_lower_fail(node, err, "an integer tensor clamped to a bound that is not an integer");
    return st ? st : clamp_numbers(ctx, node, in, has_min, min, has_max, max, err);
}

/* Two operands, `self` and the named other: a combine of `kind` between layers (a constant
 * tensor becomes a variable layer), an eval form with a number (`form` when the number is the
 * second operand, `reversed_form` when the first; NULL: not lowered). */
typedef struct binary_math {
    const char *target, *other, *kind, *form, *reversed_form;
} binary_math;

static const binary_math binary_ops[] = {
    {"aten.pow.Tensor_Tensor", "exponent", "pow", "pow_scalar", "rpow_scalar"},
    {"aten.pow.Tensor_Scalar", "exponent", "pow", "pow_scalar", "rpow_scalar"},
    {"aten.pow.Scalar", "exponent", "pow", "pow_scalar", "rpow_scalar"},
    {"aten.remainder.Tensor", "other", "floormod", "floormod_scalar", NULL},
    {"aten.remainder.Scalar", "other", "floormod", "floormod_scalar", NULL},
    {"aten.fmod.Tensor", "other", "truncatemod", "truncatemod_scalar", NULL},
    {"aten.fmod.Scalar", "other", "truncatemod", "truncatemod_scalar", NULL},
    {"aten.floor_divide.default", "other", "floordiv", "floordiv_scalar", NULL},
    {"aten.floor_divide.Scalar", "other", "floordiv", "floordiv_scalar", NULL},
    {"aten.clamp_min.Tensor", "min", "maximum", "clamp_min", "clamp_min"},
    {"aten.clamp_max.Tensor", "max", "minimum", "clamp_max", "clamp_max"},
    {"aten.rsub.Tensor", "other", "sub", "rsub_scalar", "add_scalar"},
    {"aten.rsub.Scalar", "other", "sub", "rsub_scalar", "add_scalar"},
    {"aten.true_divide.Tensor", "other", "truediv", "div_scalar", "rdiv_scalar"},
    {"aten.max.other", "other", "maximum", "clamp_min", "clamp_min"},
    {"aten.min.other", "other", "minimum", "clamp_max", "clamp_max"},
};

static pt2_status binary_layer(pt2_lower_context *ctx, const pt2_node *node, const binary_math *op, pt2_operand *a,
                               pt2_operand *b, pt2_error *err) {
    int reversed = !strcmp(op->kind, "sub"); /* rsub: other - self */
    if (a->is_number && b->is_number) return pt2_lower_fail(node, err, "both operands are numbers");
    if (a->is_number || b->is_number) {
        const pt2_operand *layer = a->is_number ? b : a, *number = a->is_number ? a : b;
        if (layer->is_constant) return pt2_lower_fail(node, err, "both operands are constants");
        const char *form = a->is_number ? op->reversed_form : op->form;
        if (!form) return pt2_lower_fail(node, err, "%s with a number as the first operand is not lowered", op->kind);
        if (!strcmp(form, "pow_scalar") && number->number == 2)
            return pt2_lower_unary_layer(ctx, node, 1, NULL, "activation", "square", 0, layer->layer, NULL, err);
        if (!strcmp(form, "add_scalar")) /* rsub with self a number: other - self */
            return pt2_lower_unary_layer(ctx, node, 1, NULL, "eval", form, -number->number, layer->layer, NULL, err);
        return pt2_lower_unary_layer(ctx, node, 1, NULL, "eval", form, number->number, layer->layer, NULL, err);
    }
    pt2_status st = pt2_lower_place_operands(ctx, node, a, b, err);
    if (st) return st;
    if (a->layer->shape.dtype != b->layer->shape.dtype)
        return pt2_lower_fail(node, err, "operands of different dtypes (%s, %s) are not lowered", pt2_dtype_name(a->layer->shape.dtype),
                              pt2_dtype_name(b->layer->shape.dtype));
    const pt2_lowered_value *sources[2] = {reversed ? b->layer : a->layer, reversed ? a->layer : b->layer};
    return pt2_lower_broadcast_layer(ctx, node, 1, NULL, "combine", "kind", op->kind, sources, 2, NULL, err);
}

static pt2_status lower_binary_math(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const binary_math *op = NULL;
    for (size_t i = 0; i < sizeof binary_ops / sizeof binary_ops[0]; i++)
        if (!strcmp(binary_ops[i].target, node->target)) op = &binary_ops[i];
    if (!op) return pt2_lower_fail(node, err, "no binary lowering");
    if (pt2_node_arg(node, "alpha")) {
        double alpha;
        pt2_status st = optional_scalar(ctx, node, "alpha", 1, &alpha, err);
        if (st) return st;
        if (alpha != 1) return pt2_lower_fail(node, err, "alpha other than 1 is not lowered");
    }
    pt2_operand a, b;
    pt2_status st = pt2_lower_operand(ctx, node, "self", &a, err);
    if (!st) st = pt2_lower_operand(ctx, node, op->other, &b, err);
    return st ? st : binary_layer(ctx, node, op, &a, &b, err);
}

/* div with rounding_mode: "floor" is floordiv, none is true division; "trunc" has no TF function
 * for floats. */
static pt2_status lower_div_mode(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const char *mode = NULL;
    pt2_status st = pt2_op_string(ctx->run, node, "rounding_mode", &mode, err);
    if (st) return st;
    if (mode && !strcmp(mode, "trunc")) return pt2_lower_fail(node, err, "division with rounding_mode 'trunc' is not lowered");
    static const binary_math floor_div = {"", "other", "floordiv", "floordiv_scalar", NULL};
    static const binary_math true_div = {"", "other", "truediv", "div_scalar", "rdiv_scalar"};
    pt2_operand a, b;
    if ((st = pt2_lower_operand(ctx, node, "self", &a, err))) return st;
    if ((st = pt2_lower_operand(ctx, node, "other", &b, err))) return st;
    return binary_layer(ctx, node, mode ? &floor_div : &true_div, &a, &b, err);
}

/* clamp with tensor bounds: maximum with min, then minimum with max. */
static pt2_status lower_clamp_tensors(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_operand x, low, high;
    const pt2_arg *min_arg = pt2_node_arg(node, "min"), *max_arg = pt2_node_arg(node, "max");
    int has_min = min_arg && min_arg->kind == PT2_ARG_TENSOR, has_max = max_arg && max_arg->kind == PT2_ARG_TENSOR;
    pt2_status st = pt2_lower_operand(ctx, node, "self", &x, err);
    if (!st && has_min) st = pt2_lower_operand(ctx, node, "min", &low, err);
    if (!st && has_max) st = pt2_lower_operand(ctx, node, "max", &high, err);
    if (st) return st;
    if (!x.layer) return pt2_lower_fail(node, err, "clamping a constant");
    if (!has_min && !has_max) return pt2_lower_fail(node, err, "clamp without bounds");
    static const binary_math maximum = {"", "min", "maximum", "clamp_min", "clamp_min"};
    static const binary_math minimum = {"", "max", "minimum", "clamp_max", "clamp_max"};
    if (!has_max) return binary_layer(ctx, node, &maximum, &x, &low, err);
    if (!has_min) return binary_layer(ctx, node, &minimum, &x, &high, err);
    /* The lower bound as a helper layer, then the upper bound as the node's layer. */
    pt2_lowered_value lowered_low;
    if (low.is_number) {
        if ((st = pt2_lower_unary_layer(ctx, node, 0, "clamp_min", "eval", "clamp_min", low.number, x.layer, &lowered_low, err))) return st;
    } else {
        if ((st = pt2_lower_place_operands(ctx, node, &x, &low, err))) return st;
        const pt2_lowered_value *sources[2] = {x.layer, low.layer};
        if ((st = pt2_lower_broadcast_layer(ctx, node, 0, "clamp_min", "combine", "kind", "maximum", sources, 2, &lowered_low, err)))
            return st;
    }
    pt2_operand bounded = {0};
    bounded.layer = &lowered_low;
    return binary_layer(ctx, node, &minimum, &bounded, &high, err);
}

/* glu over the feature dim: RETURNN's gating (first half * sigmoid(second half)). */
static pt2_status lower_glu(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    int64_t dim = -1;
    pt2_status st = layer_input(ctx, node, "self", &in, err);
    if (!st && pt2_node_arg(node, "dim")) st = pt2_op_int(ctx->run, node, "dim", &dim, err);
    if (st) return st;
    int axis = (int)(dim < 0 ? dim + in->rank : dim);
    if (axis < 0 || axis >= in->rank || in->dims[axis] != in->shape.feature_dim)
        return pt2_lower_fail(node, err, "glu is lowered over the feature axis only");
    pt2_rt_layer *layer;
    if ((st = pt2_lower_new_layer(ctx, node, "gating", &layer, err))) return st;
    if (!st) st = pt2_lower_add_source(ctx, layer, in, err);
    if (!st) st = pt2_rt_set_string(layer, "activation", "identity", err);
    if (!st) st = pt2_rt_set_string(layer, "gate_activation", "sigmoid", err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    int dims[PT2_MAX_RANK];
    memcpy(dims, in->dims, sizeof dims);
    dims[axis] = layer->shape.feature_dim;
    return pt2_lower_set_output(ctx, node, layer, in->rank, dims, err);
}

/* prelu: one slope is leaky_relu's alpha; a slope per channel (axis 1) is relu(x) + w * min(x, 0). */
static pt2_status lower_prelu(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    pt2_tensor weight;
    int present;
    pt2_status st = layer_input(ctx, node, "self", &in, err);
    if (!st) st = pt2_lower_constant(ctx, node, "weight", &weight, &present, err);
    if (st) return st;
    if (weight.dtype != PT2_DTYPE_FLOAT32) return pt2_lower_fail(node, err, "the slope must be float32");
    int64_t n = pt2_tensor_numel(&weight);
    if (n == 1) {
        pt2_tensor one;
        if ((st = pt2_tensor_contiguous(ctx->arena, &weight, 0, &one, err))) return st;
        return pt2_lower_unary_layer(ctx, node, 1, NULL, "eval", "leaky_relu", *(const float *)pt2_tensor_data(&one), in, NULL, err);
    }
    if (in->rank < 2 || weight.rank != 1) return pt2_lower_fail(node, err, "a slope per channel needs the channels on axis 1");
    /* The slopes as a [C, 1, ...] view, so that they broadcast along axis 1 in PyTorch's way. */
    pt2_tensor per_channel = weight;
    per_channel.rank = in->rank - 1;
    for (int a = 1; a < per_channel.rank; a++) {
        per_channel.shape[a] = 1;
        per_channel.strides[a] = 1;
    }
    pt2_lowered_value slopes, positive, negative, scaled;
    if ((st = pt2_lower_constant_layer(ctx, node, &per_channel, in, &slopes, err))) return st;
    if ((st = pt2_lower_unary_layer(ctx, node, 0, "prelu_positive", "activation", "relu", 0, in, &positive, err))) return st;
    if ((st = pt2_lower_unary_layer(ctx, node, 0, "prelu_negative", "eval", "negative_part", 0, in, &negative, err))) return st;
    const pt2_lowered_value *product[2] = {&negative, &slopes};
    if ((st = pt2_lower_broadcast_layer(ctx, node, 0, "prelu_scaled", "combine", "kind", "mul", product, 2, &scaled, err))) return st;
    const pt2_lowered_value *sum[2] = {&positive, &scaled};
    return pt2_lower_broadcast_layer(ctx, node, 1, NULL, "combine", "kind", "add", sum, 2, NULL, err);
}

/* x / max(|x|, eps) along `axis`: |x| as sqrt of the reduced sum of squares. */
static pt2_status normalized(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *x, int axis,
                             double eps, const char *name, pt2_lowered_value *out, pt2_error *err) {
    const char *description;
    pt2_status st = pt2_rt_axis_description(ctx->arena, ctx->net, &x->shape, x->dims[axis], &description, err);
    if (st) return st;
    char base[64];
    pt2_lowered_value squares, sum, norm, clamped;
    const pt2_lowered_value *pair[2] = {x, x};
    snprintf(base, sizeof base, "%s_squares", name);
    if ((st = pt2_lower_broadcast_layer(ctx, node, 0, base, "combine", "kind", "mul", pair, 2, &squares, err))) return st;
    pt2_rt_layer *reduce;
    snprintf(base, sizeof base, "%s_sum", name);
    if ((st = pt2_lower_new_layer_named(ctx, node, base, "reduce", &reduce, err))) return st;
    if (!st) st = pt2_lower_add_source(ctx, reduce, &squares, err);
    if (!st) st = pt2_rt_set_string(reduce, "mode", "sum", err);
    if (!st) st = pt2_rt_set_string_list(ctx->arena, reduce, "axes", &description, 1, err);
    if (!st) st = pt2_rt_set_bool(reduce, "keep_dims", 0, err);
    if (!st) st = pt2_lower_infer(ctx, node, reduce, err);
    if (st) return st;
    memset(&sum, 0, sizeof sum);
    sum.is_set = 1;
    sum.layer = reduce->name;
    sum.shape = reduce->shape;
    for (int a = 0; a < x->rank; a++)
        if (a != axis) sum.dims[sum.rank++] = x->dims[a];
    snprintf(base, sizeof base, "%s_norm", name);
    if ((st = pt2_lower_unary_layer(ctx, node, 0, base, "activation", "sqrt", 0, &sum, &norm, err))) return st;
    snprintf(base, sizeof base, "%s_norm_eps", name);
    if ((st = pt2_lower_unary_layer(ctx, node, 0, base, "eval", "clamp_min", eps, &norm, &clamped, err))) return st;
    /* Aligned as PyTorch's keepdim result, so that the division broadcasts along `axis`. */
    pt2_lowered_value kept = clamped;
    kept.rank = x->rank;
    for (int a = 0, k = 0; a < x->rank; a++) kept.dims[a] = a == axis ? -1 : clamped.dims[k++];
    const pt2_lowered_value *quotient[2] = {x, &kept};
    snprintf(base, sizeof base, "%s_unit", name);
    return pt2_lower_broadcast_layer(ctx, node, 0, base, "combine", "kind", "truediv", quotient, 2, out, err);
}

/* cosine_similarity(x1, x2, dim, eps) as PyTorch computes it: sum(x1 / max(|x1|, eps) *
 * x2 / max(|x2|, eps)) along dim. */
static pt2_status lower_cosine_similarity(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *x1, *x2;
    int64_t dim = 1;
    double eps = 1e-8;
    pt2_status st = layer_input(ctx, node, "x1", &x1, err);
    if (!st) st = layer_input(ctx, node, "x2", &x2, err);
    if (!st && pt2_node_arg(node, "dim")) st = pt2_op_int(ctx->run, node, "dim", &dim, err);
    if (!st) st = optional_scalar(ctx, node, "eps", 1e-8, &eps, err);
    if (st) return st;
    if (x1->rank != x2->rank) return pt2_lower_fail(node, err, "x1 and x2 of different ranks are not lowered");
    int axis = (int)(dim < 0 ? dim + x1->rank : dim);
    if (axis < 0 || axis >= x1->rank || x1->dims[axis] != x1->shape.feature_dim || x2->dims[axis] != x2->shape.feature_dim)
        return pt2_lower_fail(node, err, "cosine_similarity is lowered over the feature axis only");
    pt2_lowered_value unit1, unit2, product;
    if ((st = normalized(ctx, node, x1, axis, eps, "x1", &unit1, err))) return st;
    if ((st = normalized(ctx, node, x2, axis, eps, "x2", &unit2, err))) return st;
    const pt2_lowered_value *pair[2] = {&unit1, &unit2};
    if ((st = pt2_lower_broadcast_layer(ctx, node, 0, "product", "combine", "kind", "mul", pair, 2, &product, err))) return st;
    const char *description;
    if ((st = pt2_rt_axis_description(ctx->arena, ctx->net, &product.shape, product.dims[axis], &description, err))) return st;
    pt2_rt_layer *layer;
    if ((st = pt2_lower_new_layer(ctx, node, "reduce", &layer, err))) return st;
    if (!st) st = pt2_lower_add_source(ctx, layer, &product, err);
    if (!st) st = pt2_rt_set_string(layer, "mode", "sum", err);
    if (!st) st = pt2_rt_set_string_list(ctx->arena, layer, "axes", &description, 1, err);
    if (!st) st = pt2_rt_set_bool(layer, "keep_dims", 0, err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    int dims[PT2_MAX_RANK], rank = 0;
    for (int a = 0; a < product.rank; a++)
        if (a != axis) dims[rank++] = product.dims[a];
    return pt2_lower_set_output(ctx, node, layer, rank, dims, err);
}

const pt2_op_lowering pt2_lowerings_math[] = {
    {"aten.sin.default", lower_unary, "activation"},
    {"aten.cos.default", lower_unary, "activation"},
    {"aten.tan.default", lower_unary, "activation"},
    {"aten.asin.default", lower_unary, "activation"},
    {"aten.acos.default", lower_unary, "activation"},
    {"aten.atan.default", lower_unary, "activation"},
    {"aten.sinh.default", lower_unary, "activation"},
    {"aten.cosh.default", lower_unary, "activation"},
    {"aten.erf.default", lower_unary, "activation"},
    {"aten.log1p.default", lower_unary, "activation"},
    {"aten.expm1.default", lower_unary, "activation"},
    {"aten.log10.default", lower_unary, "eval:log_divide"},
    {"aten.log2.default", lower_unary, "eval:log_divide"},
    {"aten.floor.default", lower_unary, "activation"},
    {"aten.ceil.default", lower_unary, "activation"},
    {"aten.round.default", lower_unary, "activation"},
    {"aten.trunc.default", lower_unary, "eval:trunc"},
    {"aten.sign.default", lower_unary, "activation"},
    {"aten.reciprocal.default", lower_unary, "activation"},
    {"aten.square.default", lower_unary, "activation"},
    {"aten.relu6.default", lower_unary, "activation"},
    {"aten.selu.default", lower_unary, "activation"},
    {"aten.log_sigmoid.default", lower_unary, "activation"},
    {"aten.mish.default", lower_unary, "eval:mish"},
    {"aten.hardswish.default", lower_unary, "eval:hardswish"},
    {"aten.hardsigmoid.default", lower_unary, "eval:hardsigmoid"},
    {"aten.softplus.default", lower_softplus, "activation"},
    {"aten.elu.default", lower_elu, "activation eval:elu_alpha"},
    {"aten.celu.default", lower_celu, "activation eval:div_scalar eval:mul_scalar"},
    {"aten.hardtanh.default", lower_clamp_scalars, "activation eval:clamp_min eval:clamp_max"},
    {"aten.clamp.default", lower_clamp_scalars, "activation eval:clamp_min eval:clamp_max"},
    {"aten.clip.default", lower_clamp_scalars, "activation eval:clamp_min eval:clamp_max"},
    {"aten.clamp_min.default", lower_clamp_scalars, "activation eval:clamp_min eval:clamp_max"},
    {"aten.clamp_max.default", lower_clamp_scalars, "activation eval:clamp_min eval:clamp_max"},
    {"aten.clamp.Tensor", lower_clamp_tensors, "combine cast variable reinterpret_data eval:clamp_min eval:clamp_max"},
    {"aten.clamp_min.Tensor", lower_binary_math, "combine cast variable reinterpret_data eval:clamp_min" PT2_BROADCAST_EMITS},
    {"aten.clamp_max.Tensor", lower_binary_math, "combine cast variable reinterpret_data eval:clamp_max" PT2_BROADCAST_EMITS},
    {"aten.pow.Tensor_Tensor", lower_binary_math, "combine cast variable reinterpret_data activation eval:pow_scalar eval:rpow_scalar" PT2_BROADCAST_EMITS},
    {"aten.pow.Tensor_Scalar", lower_binary_math, "combine cast variable reinterpret_data activation eval:pow_scalar eval:rpow_scalar" PT2_BROADCAST_EMITS},
    {"aten.pow.Scalar", lower_binary_math, "combine cast variable reinterpret_data activation eval:pow_scalar eval:rpow_scalar" PT2_BROADCAST_EMITS},
    {"aten.remainder.Tensor", lower_binary_math, "combine cast variable reinterpret_data eval:floormod_scalar" PT2_BROADCAST_EMITS},
    {"aten.remainder.Scalar", lower_binary_math, "combine cast variable reinterpret_data eval:floormod_scalar" PT2_BROADCAST_EMITS},
    {"aten.fmod.Tensor", lower_binary_math, "combine cast variable reinterpret_data eval:truncatemod_scalar" PT2_BROADCAST_EMITS},
    {"aten.fmod.Scalar", lower_binary_math, "combine cast variable reinterpret_data eval:truncatemod_scalar" PT2_BROADCAST_EMITS},
    {"aten.floor_divide.default", lower_binary_math, "combine cast variable reinterpret_data eval:floordiv_scalar" PT2_BROADCAST_EMITS},
    {"aten.floor_divide.Scalar", lower_binary_math, "combine cast variable reinterpret_data eval:floordiv_scalar" PT2_BROADCAST_EMITS},
    {"aten.div.Tensor_mode", lower_div_mode, "combine cast variable reinterpret_data eval:floordiv_scalar eval:div_scalar eval:rdiv_scalar"},
    {"aten.div.Scalar_mode", lower_div_mode, "combine cast variable reinterpret_data eval:floordiv_scalar eval:div_scalar eval:rdiv_scalar"},
    {"aten.rsub.Tensor", lower_binary_math, "combine cast variable reinterpret_data eval:rsub_scalar eval:add_scalar" PT2_BROADCAST_EMITS},
    {"aten.rsub.Scalar", lower_binary_math, "combine cast variable reinterpret_data eval:rsub_scalar eval:add_scalar" PT2_BROADCAST_EMITS},
    {"aten.true_divide.Tensor", lower_binary_math, "combine cast variable reinterpret_data eval:div_scalar eval:rdiv_scalar" PT2_BROADCAST_EMITS},
    {"aten.max.other", lower_binary_math, "combine cast variable reinterpret_data eval:clamp_min" PT2_BROADCAST_EMITS},
    {"aten.min.other", lower_binary_math, "combine cast variable reinterpret_data eval:clamp_max" PT2_BROADCAST_EMITS},
    {"aten.glu.default", lower_glu, "gating"},
    {"aten.prelu.default", lower_prelu, "eval:leaky_relu variable activation eval:negative_part combine reinterpret_data"},
    {"aten._prelu_kernel.default", lower_prelu, "eval:leaky_relu variable activation eval:negative_part combine reinterpret_data"},
    {"aten.cosine_similarity.default", lower_cosine_similarity, "combine reduce activation eval:clamp_min reinterpret_data"},
    {NULL, NULL, NULL}};
