/* Lowering of statistics over axes but the batch.
 *
 * argmax/argmin over one axis but the batch (the dynamic time too: RETURNN's reduce
 * masks the frames past each sequence's end with the float32 minimum / maximum, so they never
 * win): a "reduce" layer of mode argmax/argmin, whose output is RETURNN's sparse int32 indices,
 * then a "cast" to PyTorch's int64.
 *
 * var/std (and var_mean/std_mean) with a correction c, over any axes but the batch, composed of
 * RETURNN layers that mask the padded frames as RETURNN's reduce does: the mean (reduce mean),
 * the squared deviations (combine sub, combine mul), their sum (reduce sum) divided by N - c,
 * where N is the product of the static reduced sizes, times each sequence's own length (a
 * "length" layer) when the time is among the axes; std is its square root.
 *
 * prod over one axis: see lower_prod.
 *
 * keepdim=True is refused (a kept size-1 axis has no RETURNN dim that broadcasts back). */
#include <stdio.h>
#include <string.h>

#include "../naming/naming.h"
#include "axes.h"
#include "lower_operands.h"
#include "lowerings.h"

static pt2_status lower_arg_reduction(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const char *mode = strstr(node->target, "argmax") ? "argmax" : "argmin";
    const pt2_lowered_value *in;
    int64_t dim = 0;
    int present = 0, keepdim = 0;
    pt2_status st = pt2_lower_input(ctx, node, "self", &in, err);
    if (!st && !in) return pt2_lower_fail(node, err, "%s of a constant", mode);
    if (!st) st = pt2_op_optional_int(ctx->run, node, "dim", &dim, &present, err);
    if (!st && pt2_node_arg(node, "keepdim")) st = pt2_op_bool(ctx->run, node, "keepdim", &keepdim, err);
    if (st) return st;
    if (!present) return pt2_lower_fail(node, err, "%s over every axis includes the batch", mode);
    if (keepdim) return pt2_lower_fail(node, err, "keepdim=True is not lowered (a size-1 axis that broadcasts has no RETURNN dim)");
    if (in->shape.dtype != PT2_DTYPE_FLOAT32) return pt2_lower_fail(node, err, "%s of %s values is not lowered (float32 is)", mode, pt2_dtype_name(in->shape.dtype));
    const char *axes[PT2_MAX_RANK];
    int reduced[PT2_MAX_RANK];
    if ((st = pt2_axes_reduced(ctx, node, in, &dim, 1, "reducing", axes, reduced, err))) return st;
    int dims[PT2_MAX_RANK], rank = 0;
    for (int a = 0; a < in->rank; a++)
        if (!reduced[a]) dims[rank++] = in->dims[a];

    char base[220];
    snprintf(base, sizeof base, "%s_%s", ctx->places[node - ctx->graph->nodes].base, mode);
    pt2_rt_layer *reduce, *cast;
    if ((st = pt2_lower_new_layer_named(ctx, node, base, "reduce", &reduce, err))) return st;
    if (!st) st = pt2_lower_add_source(ctx, reduce, in, err);
    if (!st) st = pt2_rt_set_string(reduce, "mode", mode, err);
    if (!st) st = pt2_rt_set_string_list(ctx->arena, reduce, "axes", axes, 1, err);
    if (!st) st = pt2_rt_set_bool(reduce, "keep_dims", 0, err);
    if (!st) st = pt2_lower_infer(ctx, node, reduce, err);
    if (st) return st;
    /* dense indices, so that they compute like any integer tensor after */
    pt2_lowered_value indices, dense;
    pt2_axes_value_of(reduce, rank, dims, &indices);
    snprintf(base, sizeof base, "%s_indices", ctx->places[node - ctx->graph->nodes].base);
    if ((st = pt2_lower_dense(ctx, node, base, &indices, &dense, err))) return st;
    if ((st = pt2_lower_new_layer(ctx, node, "cast", &cast, err))) return st;
    if (!st) st = pt2_lower_add_source(ctx, cast, &dense, err);
    if (!st) st = pt2_rt_set_string(cast, "dtype", "int64", err);
    if (!st) st = pt2_lower_infer(ctx, node, cast, err);
    return st ? st : pt2_lower_set_output(ctx, node, cast, rank, dims, err);
}

/* A helper layer of `node` named <node's base>_<suffix>, with its sources, options set by the
 * caller before pt2_lower_infer. */
static pt2_status helper_layer(pt2_lower_context *ctx, const pt2_node *node, const char *suffix, const char *layer_class,
                               const pt2_lowered_value *const *sources, int num_sources, pt2_rt_layer **out, pt2_error *err) {
    char base[220];
    snprintf(base, sizeof base, "%s_%s", ctx->places[node - ctx->graph->nodes].base, suffix);
    pt2_status st = pt2_lower_new_layer_named(ctx, node, base, layer_class, out, err);
    for (int i = 0; !st && i < num_sources; i++) st = pt2_lower_add_source(ctx, *out, sources[i], err);
    return st;
}

static pt2_status reduce_layer(pt2_lower_context *ctx, const pt2_node *node, const char *suffix, const pt2_lowered_value *in,
                               const char *mode, const char *const *axes, int count, pt2_rt_layer **out, pt2_error *err) {
    pt2_status st = helper_layer(ctx, node, suffix, "reduce", &in, 1, out, err);
    if (!st) st = pt2_rt_set_string(*out, "mode", mode, err);
    if (!st) st = pt2_rt_set_string_list(ctx->arena, *out, "axes", axes, count, err);
    if (!st) st = pt2_rt_set_bool(*out, "keep_dims", 0, err);
    return st ? st : pt2_lower_infer(ctx, node, *out, err);
}

static pt2_status combine_layer(pt2_lower_context *ctx, const pt2_node *node, const char *suffix, const pt2_lowered_value *a,
                                const pt2_lowered_value *b, const char *kind, pt2_rt_layer **out, pt2_error *err) {
    const pt2_lowered_value *sources[2] = {a, b};
    pt2_status st = helper_layer(ctx, node, suffix, "combine", sources, 2, out, err);
    if (!st) st = pt2_rt_set_string(*out, "kind", kind, err);
    return st ? st : pt2_lower_infer(ctx, node, *out, err);
}

/* An eval layer of form `form` (one number) on `in`. */
static pt2_status eval_layer(pt2_lower_context *ctx, const pt2_node *node, const char *suffix, const pt2_lowered_value *in,
                             const char *form, double number, pt2_rt_layer **out, pt2_error *err) {
    char text[40];
    pt2_format_double(text, sizeof text, number);
    const char *code = pt2_arena_printf(ctx->arena, err, pt2_rt_eval_form(form), text);
    if (!code) return err->status;
    pt2_status st = helper_layer(ctx, node, suffix, "eval", &in, 1, out, err);
    if (!st) st = pt2_rt_set_string(*out, "eval", code, err);
    return st ? st : pt2_lower_infer(ctx, node, *out, err);
}

static pt2_status lower_variance(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    int is_std = strstr(node->target, "aten.std") != NULL, with_mean = strstr(node->target, "_mean.") != NULL;
    const pt2_lowered_value *in;
    int64_t dims_arg[PT2_MAX_RANK];
    size_t count = 0;
    int keepdim = 0;
    double correction = 1;
    pt2_status st = pt2_lower_input(ctx, node, "self", &in, err);
    if (!st && !in) return pt2_lower_fail(node, err, "statistics of a constant");
    const pt2_arg *dim = pt2_node_arg(node, "dim");
    if (!st && (!dim || dim->kind == PT2_ARG_NONE)) return pt2_lower_fail(node, err, "a reduction over every axis includes the batch");
    if (!st) st = pt2_op_ints(ctx->run, node, "dim", dims_arg, PT2_MAX_RANK, &count, err);
    if (!st && pt2_node_arg(node, "keepdim")) st = pt2_op_bool(ctx->run, node, "keepdim", &keepdim, err);
    if (!st && pt2_node_arg(node, "correction")) {
        int present = 0;
        st = pt2_op_optional_scalar(ctx->run, node, "correction", &correction, &present, err);
        if (!present) correction = 1;
    } else if (!st && pt2_node_arg(node, "unbiased")) {
        int unbiased = 1;
        st = pt2_op_bool(ctx->run, node, "unbiased", &unbiased, err);
        correction = unbiased ? 1 : 0;
    }
    if (st) return st;
    if (!count) return pt2_lower_fail(node, err, "a reduction over every axis includes the batch");
    if (keepdim) return pt2_lower_fail(node, err, "keepdim=True is not lowered (a size-1 axis that broadcasts has no RETURNN dim)");
    if (in->shape.dtype != PT2_DTYPE_FLOAT32) return pt2_lower_fail(node, err, "statistics of %s values are not lowered (float32 is)", pt2_dtype_name(in->shape.dtype));
    const char *axes[PT2_MAX_RANK];
    int reduced[PT2_MAX_RANK];
    if ((st = pt2_axes_reduced(ctx, node, in, dims_arg, count, "reducing", axes, reduced, err))) return st;
    /* N = static_count * (the length of the one dynamic reduced axis, if any) */
    const pt2_tensor *x = &ctx->run->values[pt2_node_arg(node, "self")->value_id].tensor;
    double static_count = 1;
    int dynamic_axis = -1, out_dims[PT2_MAX_RANK], out_rank = 0;
    for (int a = 0; a < in->rank; a++) {
        if (!reduced[a]) {
            out_dims[out_rank++] = in->dims[a];
            continue;
        }
        if (ctx->net->dims[in->dims[a]].kind != PT2_RT_DIM_DYNAMIC) static_count *= (double)x->shape[a];
        else if (dynamic_axis >= 0) return pt2_lower_fail(node, err, "statistics over two dynamic axes (%d and %d) are not lowered", dynamic_axis, a);
        else dynamic_axis = a;
    }

    pt2_rt_layer *mean, *deviation, *square, *sum, *var, *result;
    pt2_lowered_value mean_v, deviation_v, square_v, sum_v, var_v;
    if ((st = reduce_layer(ctx, node, "mean", in, "mean", axes, (int)count, &mean, err))) return st;
    pt2_axes_value_of(mean, out_rank, out_dims, &mean_v);
    if ((st = combine_layer(ctx, node, "deviation", in, &mean_v, "sub", &deviation, err))) return st;
    pt2_axes_value_of(deviation, in->rank, in->dims, &deviation_v);
    if ((st = combine_layer(ctx, node, "square", &deviation_v, &deviation_v, "mul", &square, err))) return st;
    pt2_axes_value_of(square, in->rank, in->dims, &square_v);
    if ((st = reduce_layer(ctx, node, "sum", &square_v, "sum", axes, (int)count, &sum, err))) return st;
    pt2_axes_value_of(sum, out_rank, out_dims, &sum_v);
    if (dynamic_axis < 0) {
        if ((st = eval_layer(ctx, node, "var", &sum_v, "div_scalar", static_count - correction, &var, err))) return st;
    } else {
        /* each sequence's N - c: its length (int32) as float32, times the static count, minus c */
        const char *time;
        pt2_rt_layer *length, *divisor;
        pt2_lowered_value length_v;
        int batch_dim = -1;
        for (int a = 0; a < in->rank; a++)
            if (ctx->net->dims[in->dims[a]].kind == PT2_RT_DIM_BATCH) batch_dim = in->dims[a];
        if ((st = pt2_axes_describe(ctx, node, in, dynamic_axis, &time, err))) return st;
        if ((st = helper_layer(ctx, node, "length", "length", &in, 1, &length, err))) return st;
        if (!st) st = pt2_rt_set_string(length, "axis", time, err);
        if (!st) st = pt2_lower_infer(ctx, node, length, err);
        if (st) return st;
        pt2_axes_value_of(length, 1, &batch_dim, &length_v);
        const pt2_lowered_value *source = &length_v;
        if ((st = helper_layer(ctx, node, "count", "cast", &source, 1, &divisor, err))) return st;
        if (!st) st = pt2_rt_set_string(divisor, "dtype", "float32", err);
        if (!st) st = pt2_lower_infer(ctx, node, divisor, err);
        pt2_lowered_value count_v[2];
        pt2_axes_value_of(divisor, 1, &batch_dim, &count_v[0]);
        if (!st && static_count != 1) {
            st = eval_layer(ctx, node, "count_all", &count_v[0], "mul_scalar", static_count, &divisor, err);
            pt2_axes_value_of(divisor, 1, &batch_dim, &count_v[1]);
        }
        const pt2_lowered_value *n = &count_v[static_count != 1];
        pt2_lowered_value corrected_v;
        if (!st && correction != 0) {
            st = eval_layer(ctx, node, "divisor", n, "add_scalar", -correction, &divisor, err);
            pt2_axes_value_of(divisor, 1, &batch_dim, &corrected_v);
            n = &corrected_v;
        }
        if (!st) st = combine_layer(ctx, node, "var", &sum_v, n, "truediv", &var, err);
        if (st) return st;
    }
    result = var;
    if (is_std) {
        pt2_axes_value_of(var, out_rank, out_dims, &var_v);
        const pt2_lowered_value *source = &var_v;
        if ((st = helper_layer(ctx, node, "std", "activation", &source, 1, &result, err))) return st;
        if (!st) st = pt2_rt_set_string(result, "activation", "sqrt", err);
        if (!st) st = pt2_lower_infer(ctx, node, result, err);
        if (st) return st;
    }
    st = pt2_axes_set_layer_output_at(ctx, node, 0, result, out_rank, out_dims, err);
    if (!st && with_mean) st = pt2_axes_set_layer_output_at(ctx, node, 1, mean, out_rank, out_dims, err);
    return st;
}

/* prod over one axis: RETURNN's reduce has no prod, so an eval writes the product at every
 * position of the axis (tf.reduce_prod over the feature axis, or over the time with the padded
 * frames as 1), and a reduce max drops the axis (all its values are that product: exact).
 * A static axis that is not the feature is made the feature first (reinterpret_data). */
static pt2_status lower_prod(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    int64_t dim = 0;
    int keepdim = 0;
    pt2_status st = pt2_lower_input(ctx, node, "self", &in, err);
    if (!st && !in) return pt2_lower_fail(node, err, "prod of a constant");
    if (!st) st = pt2_op_int(ctx->run, node, "dim", &dim, err);
    if (!st && pt2_node_arg(node, "keepdim")) st = pt2_op_bool(ctx->run, node, "keepdim", &keepdim, err);
    if (st) return st;
    if (keepdim) return pt2_lower_fail(node, err, "keepdim=True is not lowered (a size-1 axis that broadcasts has no RETURNN dim)");
    const pt2_tensor *result = &ctx->run->values[node->outputs[0].value_id].tensor;
    if (in->shape.dtype != PT2_DTYPE_FLOAT32 || result->dtype != PT2_DTYPE_FLOAT32)
        return pt2_lower_fail(node, err, "prod of %s values is not lowered (float32 is)", pt2_dtype_name(in->shape.dtype));
    int64_t axis = dim < 0 ? dim + in->rank : dim;
    if (axis < 0 || axis >= in->rank) return pt2_lower_fail(node, err, "axis %lld out of range for %d axes", (long long)dim, in->rank);
    const pt2_rt_dim *d = &ctx->net->dims[in->dims[axis]];
    if (d->kind == PT2_RT_DIM_BATCH) return pt2_lower_fail(node, err, "a product over the batch axis");
    int over_time = d->kind == PT2_RT_DIM_DYNAMIC;
    pt2_lowered_value feature_storage, broadcast_v;
    const pt2_lowered_value *source = in;
    if (over_time && pt2_rt_shape_time_axis(ctx->net, &in->shape) != pt2_rt_shape_axis(&in->shape, in->dims[axis]))
        return pt2_lower_fail(node, err, "a product over axis %lld, a dynamic axis that is not the layer's time axis", (long long)axis);
    if (!over_time && (st = pt2_axes_require_feature(ctx, node, in, (int)axis, &feature_storage, &source, err))) return st;
    pt2_rt_layer *broadcast, *reduce;
    if ((st = eval_layer(ctx, node, "product", source, over_time ? "prod_time" : "prod_feature", 0, &broadcast, err))) return st;
    pt2_axes_value_of(broadcast, in->rank, in->dims, &broadcast_v);
    const char *axes[1];
    int reduced[PT2_MAX_RANK];
    if ((st = pt2_axes_reduced(ctx, node, &broadcast_v, &dim, 1, "reducing", axes, reduced, err))) return st;
    if ((st = pt2_lower_new_layer(ctx, node, "reduce", &reduce, err))) return st;
    if (!st) st = pt2_lower_add_source(ctx, reduce, &broadcast_v, err);
    if (!st) st = pt2_rt_set_string(reduce, "mode", "max", err);
    if (!st) st = pt2_rt_set_string_list(ctx->arena, reduce, "axes", axes, 1, err);
    if (!st) st = pt2_rt_set_bool(reduce, "keep_dims", 0, err);
    if (!st) st = pt2_lower_infer(ctx, node, reduce, err);
    if (st) return st;
    int dims[PT2_MAX_RANK], rank = 0;
    for (int a = 0; a < in->rank; a++)
        if (a != axis) dims[rank++] = in->dims[a];
    return pt2_lower_set_output(ctx, node, reduce, rank, dims, err);
}

#define VARIANCE_LAYERS "reduce combine eval:div_scalar eval:mul_scalar eval:add_scalar length cast"

const pt2_op_lowering pt2_lowerings_stats[] = {
    {"aten.argmax.default", lower_arg_reduction, "reduce reinterpret_data cast"},
    {"aten.argmin.default", lower_arg_reduction, "reduce reinterpret_data cast"},
    {"aten.var.correction", lower_variance, VARIANCE_LAYERS},
    {"aten.var.dim", lower_variance, VARIANCE_LAYERS},
    {"aten.var_mean.correction", lower_variance, VARIANCE_LAYERS},
    {"aten.var_mean.dim", lower_variance, VARIANCE_LAYERS},
    {"aten.std.correction", lower_variance, VARIANCE_LAYERS " activation"},
    {"aten.std.dim", lower_variance, VARIANCE_LAYERS " activation"},
    {"aten.std_mean.correction", lower_variance, VARIANCE_LAYERS " activation"},
    {"aten.std_mean.dim", lower_variance, VARIANCE_LAYERS " activation"},
    {"aten.prod.dim_int", lower_prod, "eval:prod_feature eval:prod_time reduce reinterpret_data"},
    {NULL, NULL, NULL}};
