/* What the select lowering (core/lower/lower_layout.c) and the embedding's (lower_norm.c) take
 * from the gather lowering. */
#ifndef PT2_LOWER_LOWER_GATHER_H
#define PT2_LOWER_LOWER_GATHER_H

#include "lower.h"

/* Node output 0 = `in` at position `index` (< 0) counted from the end of its dynamic axis
 * `axis`, per sequence: a gather at each sequence's length + index ("length", "eval", "gather"). */
pt2_status pt2_lower_select_from_end(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in, int axis,
                                     int64_t index, pt2_error *err);

/* Node output 0 = the constant `table` at the integer `index` (a lowered value computed from the
 * input) along `axis`: a variable layer of the table, gathered ("variable", "gather"). */
pt2_status pt2_lower_gather_table(pt2_lower_context *ctx, const pt2_node *node, const pt2_tensor *table, int axis,
                                  const pt2_lowered_value *index, pt2_error *err);

/* Node output 0 = `in` with axis `axis` (of static size `size`, -1 for a dynamic one) replaced by
 * the axes of the constant positions `index` (negative ones count from the end of a static axis):
 * a gather with an int32 variable (index_select, circular pads). */
pt2_status pt2_lower_gather_constant(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in, int axis,
                                    int64_t size, const pt2_tensor *index, pt2_error *err);

/* The same with index axis k at output axis placed[k] and x's other axes in order around them
 * (unfold on a static axis: the windows at the axis, each window's entries last). */
pt2_status pt2_lower_gather_constant_placed(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in,
                                           int axis, int64_t size, const pt2_tensor *index, const int *placed,
                                           pt2_error *err);

/* Node output 0 = `in` with axis `axis` replaced by the axes of `index` (a lowered integer
 * value): a gather. */
pt2_status pt2_lower_gather_at(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in, int axis,
                               const pt2_lowered_value *index, pt2_error *err);

#endif
