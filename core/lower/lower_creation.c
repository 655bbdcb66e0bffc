/* Creation ops on the input's dims. A creation op whose sizes are all constants does not depend
 * on the input and is folded into a constant (core/lower/lower.h); one that takes a size of the
 * input (torch.arange(x.shape[1]), or a length derived from it through a conv front end) needs a
 * layer. Which RETURNN dim such a size is comes from where it comes from: the export gives the
 * size as a symbolic expression of the input's sizes, and the value whose axis carries the same
 * expression holds that dim. arange over it is RETURNN's range_in_axis on that value's axis,
 * whose output dim is that very dim (so it lines up with the other axes of that length); a start
 * or step other than 0 and 1 is an eval on it (start + step * i, as torch.arange counts).
 * ones_like/zeros_like/full_like of such a value is an eval filling it.
 * zeros/ones/full and new_zeros/new_ones/new_full of a shape made of the input's sizes (and
 * constants) have one value everywhere: RETURNN's constant layer holding that scalar, with every
 * PyTorch axis a broadcast axis of the axis map (as expand's new axes), so whatever the sizes are
 * (the batch, the time, T*2 of a derived dim) the ops using it broadcast it over their own dims,
 * which keeps it right on padded batches; an op that needs real axes gets them where the axis
 * map can give them (core/lower/axes.h). A constant sliced to such a length (BERT's
 * position_ids[:, :T]) is the constant gathered at a range over that axis. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../naming/naming.h"
#include "../ops/elementwise.h"
#include "axes.h"
#include "lower_creation.h"
#include "lower_gather.h"
#include "lower_operands.h"
#include "lowerings.h"

static pt2_status lower_arange(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    double start = 0, step = 1;
    pt2_status st = PT2_OK;
    if (pt2_node_arg(node, "start") && (st = pt2_op_scalar(ctx->run, node, "start", &start, err))) return st;
    if (pt2_node_arg(node, "step") && (st = pt2_op_scalar(ctx->run, node, "step", &step, err))) return st;
    const pt2_value *meta = &ctx->graph->values[node->outputs[0].value_id];
    pt2_dtype dtype = ctx->run->values[node->outputs[0].value_id].tensor.dtype;
    if (dtype != PT2_DTYPE_INT64 && dtype != PT2_DTYPE_INT32 && dtype != PT2_DTYPE_FLOAT32)
        return pt2_lower_fail(node, err, "arange of %s is not lowered (int64, int32 and float32 are)", pt2_dtype_name(dtype));
    const pt2_lowered_value *holder;
    int axis;
    if (meta->rank != 1 || !pt2_axes_find_size(ctx, &meta->sizes[0], &holder, &axis))
        return pt2_lower_fail(node, err, "the length of this arange is no axis of a value computed before it");
    int affine = start != 0 || step != 1; /* start + step * i: the range, then eval layers */
    char name[220];
    snprintf(name, sizeof name, "%s_positions", ctx->places[node - ctx->graph->nodes].base);
    pt2_lowered_value positions, scaled;
    if ((st = pt2_axes_positions(ctx, node, affine ? name : NULL, holder, axis, dtype, &positions, err))) return st;
    if (!affine) /* the range is the node's own layer, the one made last */
        return pt2_lower_set_output(ctx, node, &ctx->net->layers[ctx->net->num_layers - 1], 1, positions.dims, err);
    if (step == 1) return pt2_lower_unary_layer(ctx, node, 1, NULL, "eval", "add_scalar", start, &positions, NULL, err);
    if (start == 0) return pt2_lower_unary_layer(ctx, node, 1, NULL, "eval", "mul_scalar", step, &positions, NULL, err);
    snprintf(name, sizeof name, "%s_steps", ctx->places[node - ctx->graph->nodes].base);
    if ((st = pt2_lower_unary_layer(ctx, node, 0, name, "eval", "mul_scalar", step, &positions, &scaled, err))) return st;
    return pt2_lower_unary_layer(ctx, node, 1, NULL, "eval", "add_scalar", start, &scaled, NULL, err);
}

static pt2_status fill_value(pt2_lower_context *ctx, const pt2_node *node, double *value, pt2_error *err);

/* ones_like / zeros_like / full_like of a value that depends on the input: its dims, filled (an
 * eval on it, so that every dim, dynamic ones included, is the source's own). */
static pt2_status lower_fill_like(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    pt2_status st = pt2_lower_input(ctx, node, "self", &in, err);
    if (st) return st;
    if (!in) return pt2_lower_fail(node, err, "the source is a constant");
    double value = strstr(node->target, "ones_like") ? 1 : 0;
    if (strstr(node->target, "full_like") && (st = pt2_op_scalar(ctx->run, node, "fill_value", &value, err))) return st;
    if (strstr(node->target, "fill.") && (st = fill_value(ctx, node, &value, err))) return st;
    pt2_dtype dtype = ctx->run->values[node->outputs[0].value_id].tensor.dtype;
    if (dtype != in->shape.dtype)
        return pt2_lower_fail(node, err, "a %s result of a %s source is not lowered (the source's dtype is)", pt2_dtype_name(dtype),
                              pt2_dtype_name(in->shape.dtype));
    if (dtype != PT2_DTYPE_FLOAT32 && dtype != PT2_DTYPE_INT64 && dtype != PT2_DTYPE_INT32)
        return pt2_lower_fail(node, err, "a %s result is not lowered (float32, int64 and int32 are)", pt2_dtype_name(dtype));
    if (!isfinite(value)) return pt2_lower_fail(node, err, "a fill value that is not finite is not lowered");
    return pt2_lower_unary_layer(ctx, node, 1, NULL, "eval", "fill_like", value, in, NULL, err);
}

pt2_status pt2_lower_positions_of_length(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *holder,
                                        int holder_axis, int64_t start, pt2_lowered_value *out, pt2_error *err) {
    char name[220];
    snprintf(name, sizeof name, "%s_positions", ctx->places[node - ctx->graph->nodes].base);
    pt2_status st = pt2_axes_positions(ctx, node, name, holder, holder_axis, PT2_DTYPE_INT32, out, err);
    if (st || !start) return st;
    pt2_lowered_value positions = *out;
    snprintf(name, sizeof name, "%s_shifted", ctx->places[node - ctx->graph->nodes].base);
    return pt2_lower_unary_layer(ctx, node, 0, name, "eval", "add_scalar", (double)start, &positions, out, err);
}

pt2_status pt2_lower_slice_of_constant(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor table;
    int present;
    int64_t dim = 0, start = 0, step = 1;
    pt2_status st = pt2_lower_constant(ctx, node, "self", &table, &present, err);
    if (!st && pt2_node_arg(node, "dim")) st = pt2_op_int(ctx->run, node, "dim", &dim, err);
    if (!st && pt2_node_arg(node, "step")) st = pt2_op_int(ctx->run, node, "step", &step, err);
    if (!st) st = pt2_op_optional_int(ctx->run, node, "start", &start, &present, err);
    if (st) return st;
    if (!present) start = 0;
    int axis = (int)(dim < 0 ? dim + table.rank : dim);
    const pt2_value *meta = &ctx->graph->values[node->outputs[0].value_id];
    const pt2_lowered_value *holder;
    int holder_axis;
    if (axis < 0 || axis >= table.rank || axis >= meta->rank) return pt2_lower_fail(node, err, "axis %lld out of range", (long long)dim);
    if (step != 1 || start < 0 || !pt2_axes_find_size(ctx, &meta->sizes[axis], &holder, &holder_axis))
        return pt2_lower_fail(node, err, "a slice of a constant is lowered where its length is an axis of a value computed "
                              "before it, from a start >= 0 with step 1");
    /* The constant gathered at the positions start, start + 1, ... along that axis. */
    pt2_lowered_value positions;
    if ((st = pt2_lower_positions_of_length(ctx, node, holder, holder_axis, start, &positions, err))) return st;
    return pt2_lower_gather_table(ctx, node, &table, axis, &positions, err);
}

/* The fill value of a creation op, which must not depend on the input (a value made of the input's
 * sizes differs per sequence). */
static pt2_status fill_value(pt2_lower_context *ctx, const pt2_node *node, double *value, pt2_error *err) {
    *value = strstr(node->target, "ones") ? 1 : 0;
    const char *name = pt2_node_arg(node, "fill_value") ? "fill_value" : pt2_node_arg(node, "value") ? "value" : NULL;
    if (!name) return PT2_OK;
    const pt2_arg *a = pt2_node_arg(node, name);
    if ((a->kind == PT2_ARG_SYM_INT || a->kind == PT2_ARG_SYM_FLOAT || a->kind == PT2_ARG_SYM_BOOL || a->kind == PT2_ARG_TENSOR) &&
        a->value_id >= 0 && ctx->dynamic[a->value_id])
        return pt2_lower_fail(node, err, "a fill value computed from the input (a size differs per sequence) is not lowered");
    if (a->kind == PT2_ARG_TENSOR) {
        const pt2_tensor *t = &ctx->run->values[a->value_id].tensor;
        if (pt2_tensor_numel(t) != 1) return pt2_lower_fail(node, err, "the fill value is a tensor of several elements");
        *value = pt2_tensor_get_double(t, 0);
        return PT2_OK;
    }
    return pt2_op_scalar(ctx->run, node, name, value, err);
}

/* Node output 0 is a tensor of one value everywhere: a scalar constant layer, every axis broadcast. */
static pt2_status filled_constant(pt2_lower_context *ctx, const pt2_node *node, double value, pt2_error *err) {
    pt2_status st;
    if (!isfinite(value)) return pt2_lower_fail(node, err, "a fill value that is not finite (%g) is not lowered: the JSON config cannot hold it", value);
    const pt2_value *meta = &ctx->graph->values[node->outputs[0].value_id];
    pt2_dtype dtype = ctx->run->values[node->outputs[0].value_id].tensor.dtype;
    if (dtype != PT2_DTYPE_FLOAT32 && dtype != PT2_DTYPE_INT64 && dtype != PT2_DTYPE_INT32 && dtype != PT2_DTYPE_BOOL)
        return pt2_lower_fail(node, err, "a %s result is not lowered (float32, int64, int32 and bool are)", pt2_dtype_name(dtype));
    if (meta->rank > PT2_MAX_RANK) return pt2_lower_fail(node, err, "a result of %d axes", meta->rank);
    pt2_rt_layer *layer;
    if ((st = pt2_lower_new_layer(ctx, node, "constant", &layer, err))) return st;
    if (dtype == PT2_DTYPE_FLOAT32) st = pt2_rt_set_float(layer, "value", value, err);
    else if (dtype == PT2_DTYPE_BOOL) st = pt2_rt_set_bool(layer, "value", value != 0, err);
    else st = pt2_rt_set_int(layer, "value", (int64_t)value, err);
    if (!st) st = pt2_rt_set_string(layer, "dtype", pt2_dtype_name(dtype), err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    int dims[PT2_MAX_RANK];
    for (int a = 0; a < meta->rank; a++) dims[a] = PT2_AXIS_BROADCAST;
    return pt2_lower_set_output(ctx, node, layer, meta->rank, dims, err);
}

static pt2_status lower_filled(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    double value;
    pt2_status st = fill_value(ctx, node, &value, err);
    return st ? st : filled_constant(ctx, node, value, err);
}

/* copy(self, src): src's values in self's shape and dtype (what x.copy_(src) computes once
 * functionalized). src broadcasts to self's shape as expand does: its missing leading axes and
 * its size-1 broadcast axes are broadcast axes of the result, its other axes keep their dims (a
 * time axis of src lines up frame by frame with self's). A dtype change is a cast. */
static pt2_status lower_copy(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_operand src;
    pt2_status st = pt2_lower_operand(ctx, node, "src", &src, err);
    if (st) return st;
    if (src.is_number) return filled_constant(ctx, node, src.number, err);
    if (!src.layer) return pt2_lower_fail(node, err, "copying a constant tensor of several elements is not lowered");
    const pt2_lowered_value *in = src.layer;
    const pt2_tensor *from = &ctx->run->values[pt2_node_arg(node, "src")->value_id].tensor;
    const pt2_tensor *result = &ctx->run->values[node->outputs[0].value_id].tensor;
    if (in->rank > result->rank) return pt2_lower_fail(node, err, "src has more axes (%d) than self (%d)", in->rank, result->rank);
    pt2_lowered_value out = *in;
    out.rank = result->rank;
    int lead = result->rank - in->rank;
    for (int b = 0; b < result->rank; b++) {
        if (b < lead) {
            out.dims[b] = PT2_AXIS_BROADCAST;
            continue;
        }
        int a = b - lead;
        out.dims[b] = in->dims[a];
        if (from->shape[a] == result->shape[b] || in->dims[a] < 0) continue;
        return pt2_lower_fail(node, err, "axis %d: src's size-1 axis ('%s') copied into size %lld is not lowered", b,
                              ctx->net->dims[in->dims[a]].description, (long long)result->shape[b]);
    }
    if (result->dtype == in->shape.dtype) return pt2_axes_set_output_at(ctx, node, 0, &out, err);
    if (result->dtype != PT2_DTYPE_FLOAT32 && result->dtype != PT2_DTYPE_INT32 && result->dtype != PT2_DTYPE_INT64 &&
        result->dtype != PT2_DTYPE_BOOL)
        return pt2_lower_fail(node, err, "a copy into %s is not lowered (float32, int32, int64 and bool are)", pt2_dtype_name(result->dtype));
    pt2_rt_layer *layer;
    if ((st = pt2_lower_new_layer(ctx, node, "cast", &layer, err))) return st;
    if (!st) st = pt2_lower_add_source(ctx, layer, in, err);
    if (!st) st = pt2_rt_set_string(layer, "dtype", pt2_dtype_name(result->dtype), err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    return st ? st : pt2_lower_set_output(ctx, node, layer, out.rank, out.dims, err);
}

const pt2_op_lowering pt2_lowerings_creation[] = {
    {"aten.ones_like.default", lower_fill_like, "eval:fill_like"},
    {"aten.zeros_like.default", lower_fill_like, "eval:fill_like"},
    {"aten.full_like.default", lower_fill_like, "eval:fill_like"},
    {"aten.arange.default", lower_arange, "range_in_axis"},
    {"aten.arange.start", lower_arange, "range_in_axis eval:add_scalar eval:mul_scalar"},
    {"aten.arange.start_step", lower_arange, "range_in_axis eval:add_scalar eval:mul_scalar"},
    /* ops13: creation ops of new sizes, and fill (full_like under another name) */
    {"aten.full.default", lower_filled, "constant"},
    {"aten.zeros.default", lower_filled, "constant"},
    {"aten.ones.default", lower_filled, "constant"},
    {"aten.new_zeros.default", lower_filled, "constant"},
    {"aten.new_ones.default", lower_filled, "constant"},
    {"aten.new_full.default", lower_filled, "constant"},
    {"aten.fill.Scalar", lower_fill_like, "eval:fill_like"},
    {"aten.fill.Tensor", lower_fill_like, "eval:fill_like"},
    {"aten.copy.default", lower_copy, "constant cast"},
    {NULL, NULL, NULL}};
