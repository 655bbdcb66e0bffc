#include "op_util.h"
#include "parallel.h"

pt2_status pt2_op_optional_float_tensor(pt2_run_context *ctx, const pt2_node *node, const char *name,
                                        pt2_tensor *out, int *present, pt2_error *err) {
    pt2_tensor t;
    pt2_status st = pt2_op_optional_tensor(ctx, node, name, &t, present, err);
    if (st || !*present) return st;
    if (t.dtype != PT2_DTYPE_FLOAT32)
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "argument '%s' is %s; this op runs on float32 only", name,
                        pt2_dtype_name(t.dtype));
    return pt2_op_contiguous(ctx, &t, 0, out, err);
}

pt2_status pt2_op_float_tensor(pt2_run_context *ctx, const pt2_node *node, const char *name, pt2_tensor *out,
                               pt2_error *err) {
    int present = 0;
    pt2_status st = pt2_op_optional_float_tensor(ctx, node, name, out, &present, err);
    if (!st && !present) return pt2_fail(err, PT2_ERR_INPUT, "argument '%s' is None, expected a tensor", name);
    return st;
}

pt2_status pt2_op_wrap_dim(int64_t dim, int rank, int *out, pt2_error *err) {
    int64_t r = rank > 0 ? rank : 1;
    if (dim < -r || dim >= r)
        return pt2_fail(err, PT2_ERR_INPUT, "dimension %lld is out of range for a tensor of rank %d", (long long)dim, rank);
    *out = (int)(dim < 0 ? dim + r : dim);
    return PT2_OK;
}

pt2_status pt2_op_new_float(pt2_run_context *ctx, int rank, const int64_t *shape, pt2_tensor *out, pt2_error *err) {
    return pt2_tensor_alloc(ctx->arena, PT2_DTYPE_FLOAT32, rank, shape, out, err);
}

pt2_status pt2_op_input_weight_bias(pt2_run_context *ctx, const pt2_node *node, pt2_tensor *input, pt2_tensor *weight,
                                    pt2_tensor *bias, int *has_bias, pt2_error *err) {
    pt2_status st = pt2_op_float_tensor(ctx, node, "input", input, err);
    if (!st) st = pt2_op_float_tensor(ctx, node, "weight", weight, err);
    if (!st) st = pt2_op_optional_float_tensor(ctx, node, "bias", bias, has_bias, err);
    return st;
}
