/* The lowering tables: which torch op targets, and which module types lowered as a whole, have
 * a lowering to RETURNN layers. Each group file (core/lower/lower_<group>.c) defines one table
 * `const pt2_op_lowering pt2_lowerings_<group>[]`, ended by an entry with target NULL, and the
 * group is listed once in core/lower/lowerings.c. */
#ifndef PT2_LOWER_LOWERINGS_H
#define PT2_LOWER_LOWERINGS_H

#include "../base/error.h"
#include "../graph/graph.h"

typedef struct pt2_lower_context pt2_lower_context;
typedef pt2_status (*pt2_op_lower_fn)(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err);

typedef struct pt2_op_lowering {
    const char *target;
    pt2_op_lower_fn lower;
} pt2_op_lowering;

/* NULL when the target has no lowering. */
const pt2_op_lowering *pt2_op_find_lowering(const char *target);

/* Module lowerings: a module type (nn_module_stack's class name) lowered as a whole. */
typedef struct pt2_module_call pt2_module_call;
typedef pt2_status (*pt2_module_lower_fn)(pt2_lower_context *ctx, const pt2_module_call *call, pt2_error *err);
typedef struct pt2_module_lowering {
    const char *type;
    pt2_module_lower_fn lower;
} pt2_module_lowering;
const pt2_module_lowering *pt2_find_module_lowering(const char *type);

/* Every lowered target in table order, for the test that the tables agree: calls `visit` once
 * per entry. */
void pt2_for_each_lowering(void (*visit)(const char *target, void *user), void *user);

#endif
