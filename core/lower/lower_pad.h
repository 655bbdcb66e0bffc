/* One axis's pad, for lowerings that pad as a step of their own (linear upsampling). */
#ifndef PT2_LOWER_PAD_H
#define PT2_LOWER_PAD_H

#include "lower.h"

/* Pads axis `axis` of `in` by (left, right) in RETURNN's mode "constant" (with `value`),
 * "reflect" or "replication", at each sequence's own end on a dynamic axis; node output 0 is
 * the result (its layers compute the node's value unless the caller marks them otherwise). */
pt2_status pt2_lower_pad_one_axis(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in, int axis,
                                  int64_t left, int64_t right, const char *mode, double value, pt2_error *err);

/* A helper pad layer named `base`: axis `axis` of `in` padded by (left, right) zeros, on a
 * dynamic axis right after each sequence's own end (so that what a layer left past the end is
 * zero too); its value goes to *out. */
pt2_status pt2_lower_pad_zeros_helper(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in, int axis,
                                      int64_t left, int64_t right, const char *base, pt2_lowered_value *out, pt2_error *err);

#endif
