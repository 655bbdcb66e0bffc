/* baddbmm: beta * input + alpha * (batch1 @ batch2). The product is the dot layer of bmm
 * (core/lower/lower_layout.c); alpha and beta other than 1 scale their terms by an eval (or, for
 * a constant input, the constant itself); the sum is a combine add broadcast in PyTorch's way, so
 * that an input of fewer axes or of size-1 axes (a bias) adds as PyTorch adds it. beta 0 ignores
 * the input, as PyTorch does (its NaNs do not propagate). */
#include <stdio.h>
#include <string.h>

#include "../naming/naming.h"
#include "../ops/elementwise.h"
#include "../returnn/layers.h"
#include "axes.h"
#include "lower_layout.h"
#include "lower_operands.h"
#include "lowerings.h"

static pt2_status optional_factor(pt2_lower_context *ctx, const pt2_node *node, const char *name, double *out, pt2_error *err) {
    *out = 1;
    const pt2_arg *a = pt2_node_arg(node, name);
    if (!a || a->kind == PT2_ARG_NONE) return PT2_OK;
    if ((a->kind == PT2_ARG_SYM_INT || a->kind == PT2_ARG_SYM_FLOAT) && a->value_id >= 0 && ctx->dynamic[a->value_id])
        return pt2_lower_fail(node, err, "%s computed from the input's sizes is not lowered", name);
    return pt2_op_scalar(ctx->run, node, name, out, err);
}

/* The product's axes that are a copy of the input's time (the keys' time of an attention, which
 * bmm gives a dim of its own: core/lower/lower_layout.c) declared to be that time again, so that
 * the sum lines up frame by frame (each sequence has one length along both). */
static pt2_status align_copied_time(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *input,
                                    pt2_lowered_value *product, pt2_error *err) {
    int time = pt2_rt_shape_time_axis(ctx->net, &input->shape);
    if (time < 0) return PT2_OK;
    int dim = input->shape.dims[time];
    for (int a = 0; a < product->rank; a++) {
        if (product->dims[a] < 0) continue;
        const pt2_rt_dim *have = &ctx->net->dims[product->dims[a]];
        if (have->kind != PT2_RT_DIM_DYNAMIC || product->dims[a] == dim || have->base != dim || have->mul != 1 || have->add != 0 ||
            have->div != 1)
            continue;
        int t = pt2_rt_shape_time_axis(ctx->net, &product->shape);
        if (t < 0 || product->shape.dims[t] != product->dims[a]) continue;
        char name[240];
        snprintf(name, sizeof name, "%s_same_time", ctx->places[node - ctx->graph->nodes].base);
        pt2_rt_layer *layer;
        pt2_status st = pt2_lower_new_layer_named(ctx, node, name, "reinterpret_data", &layer, err);
        if (!st) st = pt2_lower_add_source(ctx, layer, product, err);
        if (!st) st = pt2_rt_set_string(layer, "size_base", input->layer, err);
        if (!st) st = pt2_lower_infer(ctx, node, layer, err);
        if (st) return st;
        int dims[PT2_MAX_RANK];
        memcpy(dims, product->dims, sizeof dims);
        dims[a] = dim;
        pt2_axes_value_of(layer, product->rank, dims, product);
        return PT2_OK;
    }
    return PT2_OK;
}

static pt2_status lower_baddbmm(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *b1, *b2;
    double alpha, beta;
    pt2_status st = pt2_lower_real_input(ctx, node, "batch1", &b1, err);
    if (!st) st = pt2_lower_real_input(ctx, node, "batch2", &b2, err);
    if (!st) st = optional_factor(ctx, node, "alpha", &alpha, err);
    if (!st) st = optional_factor(ctx, node, "beta", &beta, err);
    if (st) return st;
    if (!b1 || !b2) return pt2_lower_fail(node, err, "a product with a constant batch is not lowered (use nn.Linear)");
    if (ctx->run->values[node->outputs[0].value_id].tensor.dtype != PT2_DTYPE_FLOAT32)
        return pt2_lower_fail(node, err, "baddbmm is lowered on float32");
    if (beta == 0 && alpha == 1) return pt2_lower_matmul_values(ctx, node, b1, b2, NULL, NULL, err);
    const char *base = ctx->places[node - ctx->graph->nodes].base;
    char name[240];
    pt2_lowered_value product, scaled_product, scaled_input;
    snprintf(name, sizeof name, "%s_product", base);
    if ((st = pt2_lower_matmul_values(ctx, node, b1, b2, name, &product, err))) return st;
    const pt2_lowered_value *term = &product;
    int final_product = beta == 0; /* the product (scaled) is the result */
    if (alpha != 1) {
        snprintf(name, sizeof name, "%s_scaled", base);
        if ((st = pt2_lower_unary_layer(ctx, node, final_product, final_product ? NULL : name, "eval", "mul_scalar", alpha,
                                        &product, &scaled_product, err)))
            return st;
        if (final_product) return PT2_OK;
        term = &scaled_product;
    }
    pt2_operand input, other = {0};
    other.layer = term;
    if ((st = pt2_lower_operand(ctx, node, "self", &input, err))) return st;
    if (input.is_number) { /* an input of one element: an eval adding it */
        return pt2_lower_unary_layer(ctx, node, 1, NULL, "eval", "add_scalar", beta * input.number, term, NULL, err);
    }
    if (input.is_constant && beta != 1) { /* the constant scaled here, once */
        pt2_tensor scaled;
        if ((st = pt2_tensor_alloc(ctx->arena, input.constant.dtype, input.constant.rank, input.constant.shape, &scaled, err)))
            return st;
        for (int64_t i = 0; i < pt2_tensor_numel(&scaled); i++) pt2_rt_store(&scaled, i, beta * pt2_tensor_get_double(&input.constant, i));
        input.constant = scaled;
    } else if (input.layer && beta != 1) {
        snprintf(name, sizeof name, "%s_input_scaled", base);
        if ((st = pt2_lower_unary_layer(ctx, node, 0, name, "eval", "mul_scalar", beta, input.layer, &scaled_input, err))) return st;
        input.layer = &scaled_input;
    }
    pt2_lowered_value aligned;
    if (input.layer) {
        aligned = *term;
        if ((st = align_copied_time(ctx, node, input.layer, &aligned, err))) return st;
        other.layer = &aligned;
    }
    if ((st = pt2_lower_place_operands(ctx, node, &input, &other, err))) return st;
    const pt2_lowered_value *sources[2] = {input.layer, other.layer};
    return pt2_lower_broadcast_layer(ctx, node, 1, NULL, "combine", "kind", "add", sources, 2, NULL, err);
}

const pt2_op_lowering pt2_lowerings_baddbmm[] = {
    {"aten.baddbmm.default", lower_baddbmm, "dot eval:mul_scalar eval:add_scalar combine cast variable reinterpret_data expand_dims merge_dims squeeze"},
    {NULL, NULL, NULL}};
