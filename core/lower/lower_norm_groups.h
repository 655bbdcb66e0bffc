/* layer_norm over several trailing axes, which core/lower/lower_norm.c hands to
 * core/lower/lower_norm_groups.c (RETURNN's norm layer). */
#ifndef PT2_LOWER_LOWER_NORM_GROUPS_H
#define PT2_LOWER_LOWER_NORM_GROUPS_H

#include "lower.h"

pt2_status pt2_lower_layer_norm_over_axes(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err);

#endif
