/* What the slice lowering (core/lower/lower_layout.c) takes from the creation lowerings. */
#ifndef PT2_LOWER_LOWER_CREATION_H
#define PT2_LOWER_LOWER_CREATION_H

#include "lower.h"

/* Node output 0 = a constant ("self") sliced along "dim" to a length that is an axis of a value
 * computed before it (the input's time): the constant gathered at start, start + 1, ... along
 * that axis ("range_in_axis", "eval", "variable", "gather"). */
pt2_status pt2_lower_slice_of_constant(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err);
/* The int32 positions start, start + 1, ... along axis `holder_axis` of `holder` (a dynamic
 * axis: range_in_axis, and an eval adding start when it is not 0). */
pt2_status pt2_lower_positions_of_length(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *holder,
                                        int holder_axis, int64_t start, pt2_lowered_value *out, pt2_error *err);

#endif
