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
    /* What it may add, space-separated: RETURNN layer classes, and "eval:<form>" for each eval
     * form (pt2_rt_eval_form); "" for none. Checked against the interpreter by a test and against
     * each lowering's layers as it runs. */
    const char *emits;
} pt2_op_lowering;

/* NULL when the target has no lowering. */
const pt2_op_lowering *pt2_op_find_lowering(const char *target);

/* Module lowerings: a module type (nn_module_stack's class name) lowered as a whole. */
typedef struct pt2_module_call pt2_module_call;
typedef pt2_status (*pt2_module_lower_fn)(pt2_lower_context *ctx, const pt2_module_call *call, pt2_error *err);
typedef struct pt2_module_lowering {
    const char *type;
    pt2_module_lower_fn lower;
    const char *emits; /* as pt2_op_lowering's */
} pt2_module_lowering;
const pt2_module_lowering *pt2_find_module_lowering(const char *type);

/* Every op lowering and every module lowering in table order (the module lowerings with
 * target = their type), for the test that the tables agree. */
void pt2_for_each_lowering(void (*visit)(const pt2_op_lowering *lowering, void *user), void *user);

/* Does `emits` list `layer_class`? */
int pt2_lowering_emits(const char *emits, const char *layer_class);

#endif
