/* layer_norm over several trailing axes, which core/lower/lower_norm.c hands to
 * core/lower/lower_norm_groups.c (RETURNN's norm layer). */
#ifndef PT2_LOWER_LOWER_NORM_GROUPS_H
#define PT2_LOWER_LOWER_NORM_GROUPS_H

#include "lower.h"

pt2_status pt2_lower_layer_norm_over_axes(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err);

/* A group or instance norm over in's PyTorch axes `reduced` (RETURNN `axes`), one of them the
 * time: masked statistics (core/lower/lower_norm_masked.c); weight and bias per channel, NULL
 * when absent. */
pt2_status pt2_lower_norm_masked(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in,
                                 const char *const *axes, const int *reduced, int count, double eps,
                                 const pt2_tensor *weight, const pt2_tensor *bias, pt2_error *err);

/* The two halves of it: the normalised value (the node's output when `final`, else *out), and the
 * per-channel affine on it (channels at axis 1; weight or bias NULL when absent) as the node's
 * output. */
pt2_status pt2_lower_norm_normalise(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in,
                                    const char *const *axes, const int *reduced, int count, double eps, int final,
                                    pt2_lowered_value *out, pt2_error *err);
pt2_status pt2_lower_norm_affine(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *normed,
                                 const pt2_tensor *weight, const pt2_tensor *bias, pt2_error *err);

#endif
