/* What the slice lowering (core/lower/lower_layout.c) takes from the creation lowerings. */
#ifndef PT2_LOWER_LOWER_CREATION_H
#define PT2_LOWER_LOWER_CREATION_H

#include "lower.h"

/* Node output 0 = a constant ("self") sliced along "dim" to a length that is an axis of a value
 * computed before it (the input's time): the constant gathered at start, start + 1, ... along
 * that axis ("range_in_axis", "eval", "variable", "gather"). */
pt2_status pt2_lower_slice_of_constant(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err);

#endif
