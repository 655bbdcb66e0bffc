/* Lowering of cumsum along any axis but the batch (the time too) to RETURNN's "cumsum" layer
 * (outside a rec loop: tf.cumsum along the named axis). */
#include <string.h>

#include "axes.h"
#include "lower_operands.h"
#include "lowerings.h"

static pt2_status lower_cumsum(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *in;
    int64_t dim;
    pt2_status st = pt2_lower_input(ctx, node, "self", &in, err);
    if (!st && !in) return pt2_lower_fail(node, err, "cumsum of a constant");
    if (!st) st = pt2_op_int(ctx->run, node, "dim", &dim, err);
    if (st) return st;
    int axis = (int)(dim < 0 ? dim + in->rank : dim);
    if (axis < 0 || axis >= in->rank) return pt2_lower_fail(node, err, "dim %lld is out of range", (long long)dim);
    /* Along a broadcast axis the sums vary: that axis is made real, the others stay broadcast
     * (the batch of a mask of ones, which the embeddings it positions then broadcast with). */
    pt2_lowered_value along;
    if ((st = pt2_axes_materialise_axis(ctx, node, in, axis, &along, &in, err))) return st;
    const pt2_arg *dtype = pt2_node_arg(node, "dtype");
    if (dtype && dtype->kind != PT2_ARG_NONE) return pt2_lower_fail(node, err, "cumsum with a dtype is not lowered");
    /* Integers and bools sum in int64, as PyTorch's cumsum gives them (a mask's running count:
     * RoBERTa's position ids); a cast first where they are another dtype. */
    pt2_lowered_value wide;
    pt2_dtype dt = in->shape.dtype;
    if (dt == PT2_DTYPE_INT32 || dt == PT2_DTYPE_BOOL) {
        if ((st = pt2_lower_cast_operand(ctx, node, NULL, 0, PT2_DTYPE_INT64, in, &wide, err))) return st;
        in = &wide;
    } else if (dt != PT2_DTYPE_FLOAT32 && dt != PT2_DTYPE_INT64)
        return pt2_lower_fail(node, err, "cumsum is lowered for float32, integer and bool data, not %s", pt2_dtype_name(dt));
    if (ctx->net->dims[in->dims[axis]].kind == PT2_RT_DIM_BATCH)
        return pt2_lower_fail(node, err, "a cumsum along the batch cannot be expressed in RETURNN");
    const char *description;
    pt2_rt_layer *layer;
    if ((st = pt2_axes_describe(ctx, node, in, axis, &description, err))) return st;
    if ((st = pt2_lower_new_layer(ctx, node, "cumsum", &layer, err))) return st;
    if (!st) st = pt2_lower_add_source(ctx, layer, in, err);
    if (!st) st = pt2_rt_set_string(layer, "axis", description, err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    return st ? st : pt2_lower_set_output(ctx, node, layer, in->rank, in->dims, err);
}

const pt2_op_lowering pt2_lowerings_cumsum[] = {{"aten.cumsum.default", lower_cumsum, "cumsum cast"}, {NULL, NULL, NULL}};
