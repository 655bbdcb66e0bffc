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
/* Every op target in table order (a target two families list comes twice), e.g. for docs/ops.md. */
void pt2_for_each_op(void (*visit)(const char *target, void *user), void *user);

#endif
