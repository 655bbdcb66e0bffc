/* The reduce layer of the reductions (core/lower/lower_reduce.c), which a global average pool
 * (core/lower/lower_pool2d.c) is too. */
#ifndef PT2_LOWER_LOWER_REDUCE_H
#define PT2_LOWER_LOWER_REDUCE_H

#include "lower.h"

/* The node's output: RETURNN's reduce of `mode` ("mean", "sum", ...) over the PyTorch axes
 * dims_arg[0..count) of `in` (negative from the end), which may include the dynamic time (masked
 * to each sequence's length); keepdim's size-1 axes are broadcast axes of the map. */
pt2_status pt2_lower_reduce_axes(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in,
                                 const char *mode, const int64_t *dims_arg, size_t count, int keepdim, pt2_error *err);

#endif
