/* What the lowering says about each op of the reference run: for a lowered op, the RETURNN layer
 * classes it becomes; for an op without a lowering, why. docs/ops.md is generated from these
 * tables and the lowering tables (tests/c/tool_ops_doc.c), and the unsupported-op error gives
 * the same reasons. */
#ifndef PT2_LOWER_OP_NOTES_H
#define PT2_LOWER_OP_NOTES_H

#include <stddef.h>

#include "../base/error.h"
#include "../graph/graph.h"

/* The layer classes a lowered op becomes (e.g. "`switch`, `variable`"), or NULL when the table
 * has no entry for it. */
const char *pt2_op_lowered_layers(const char *target);
/* Why an op has no lowering: the table's reason, or a general one. */
const char *pt2_op_unlowered_reason(const char *target);
/* Is the target named in the reasons table (so that a tool can check the tables agree)? */
int pt2_op_has_unlowered_reason(const char *target);

/* Fails listing every node among `considered` (all when NULL) whose op has no lowering, each
 * with the reason, its module path and source line. */
pt2_status pt2_lower_require_lowerable(const pt2_graph *graph, const unsigned char *considered, pt2_error *err);

/* Every target the two tables name, for the consistency checks. */
void pt2_for_each_op_note(void (*visit)(const char *target, int lowered, void *user), void *user);

#endif
