/* The op registry: every op target pt2returnn understands, with the code that runs it
 * with PyTorch semantics. Each op family file (core/ops/<family>.c) defines one table
 * `const pt2_op_def pt2_ops_<family>[]`, ended by an entry with target NULL, and the
 * family is listed once in core/ops/registry.c. */
#ifndef PT2_OPS_REGISTRY_H
#define PT2_OPS_REGISTRY_H

#include "../run/executor.h"

typedef pt2_status (*pt2_op_run_fn)(pt2_run_context *ctx, const pt2_node *node, pt2_error *err);

typedef struct pt2_op_def {
    const char *target; /* normalised target, e.g. "aten.conv1d.default" */
    pt2_op_run_fn run;
} pt2_op_def;

/* NULL when the target is unknown. */
const pt2_op_def *pt2_op_find(const char *target);

/* Lowering to RETURNN layers (step 4): each family's `pt2_lowerings_<family>[]` table. */
typedef struct pt2_lower_context pt2_lower_context;
typedef pt2_status (*pt2_op_lower_fn)(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err);

typedef struct pt2_op_lowering {
    const char *target;
    pt2_op_lower_fn lower;
} pt2_op_lowering;

const pt2_op_lowering *pt2_op_find_lowering(const char *target);

/* Module lowerings: a module type (nn_module_stack's class name) lowered as a whole. */
typedef struct pt2_module_call pt2_module_call;
typedef pt2_status (*pt2_module_lower_fn)(pt2_lower_context *ctx, const pt2_module_call *call, pt2_error *err);
typedef struct pt2_module_lowering {
    const char *type;
    pt2_module_lower_fn lower;
} pt2_module_lowering;
const pt2_module_lowering *pt2_find_module_lowering(const char *type);

#endif
