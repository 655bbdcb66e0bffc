/* The dim helpers of the matmul lowering (core/lower/lower_layout.c), which attention written with
 * scaled_dot_product_attention (core/lower/lower_sdpa.c), einsum, stack and the outer ops over one
 * time dim (core/lower/lower_operands.c) share. */
#ifndef PT2_LOWER_LOWER_LAYOUT_H
#define PT2_LOWER_LOWER_LAYOUT_H

#include "lower.h"

/* A dot of a and b over one axis each (red_a, red_b), keeping one each (var_a, var_b), the other
 * axes shared; `name` NULL: the node's own layer. */
pt2_status pt2_lower_dot_layer(pt2_lower_context *ctx, const pt2_node *node, const char *name, const pt2_lowered_value *a,
                               int red_a, int var_a, const pt2_lowered_value *b, int red_b, int var_b, pt2_rt_layer **out,
                               pt2_error *err);

/* `v` with a new static axis of size 1 (expand_dims) after its axes, at index v->rank: a dot's
 * reduced axis, the axis a copy of a dim is merged with, a stacked value's new axis. */
pt2_status pt2_lower_size_one_axis(pt2_lower_context *ctx, const pt2_node *node, const char *name,
                                  const pt2_lowered_value *v, pt2_lowered_value *out, pt2_error *err);

/* `in` with axis `axis` (a dynamic dim) replaced by a new dim of the same length (the keys' time
 * as a dim of its own next to the queries' time). */
pt2_status pt2_lower_second_copy_of_axis(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in,
                                         int axis, pt2_lowered_value *out, pt2_error *err);

/* `in` with axis `axis` declared to be dim `dim` (a copy made by pt2_lower_second_copy_of_axis);
 * out->is_set = 0 when nothing is needed (static dims of one size). */
pt2_status pt2_lower_same_dim_as(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in, int axis,
                                 int dim, pt2_lowered_value *out, pt2_error *err);

/* a @ b over the last two axes (batched over the leading ones): a dot layer. `base` NULL: it is
 * the node's output; else a helper layer named `base` whose value goes to *out (baddbmm). */
pt2_status pt2_lower_matmul_values(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *a,
                                   const pt2_lowered_value *b, const char *base, pt2_lowered_value *out, pt2_error *err);

/* x @ w with w a constant matrix [in, out] (transformers' Conv1D of GPT-2 once recomposed,
 * core/graph/recompose.c): a linear layer with w as its weight, no bias (core/lower/lower_norm.c). */
pt2_status pt2_lower_matmul_constant(pt2_lower_context *ctx, const pt2_node *node, const char *first,
                                     const char *second, pt2_error *err);

#endif
