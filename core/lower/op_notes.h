/* Why an op of the reference run has no lowering (yet): one table of reasons, next to the
 * lowering tables (which say, in `emits`, which RETURNN layers each lowered op becomes).
 * docs/ops.md is generated from both (tests/c/tool_ops_doc.c), and the unsupported-op error
 * gives the same reasons. */
#ifndef PT2_LOWER_OP_NOTES_H
#define PT2_LOWER_OP_NOTES_H

#include <stddef.h>

#include "../base/error.h"
#include "../graph/graph.h"

/* Why an op has no lowering: the table's reason, or a general one. */
const char *pt2_op_unlowered_reason(const char *target);
/* Is the target named in the reasons table (so that a tool can check the tables agree)? */
int pt2_op_has_unlowered_reason(const char *target);

/* Describes every node among `considered` (all when NULL) whose op has no lowering, each with
 * its module path, source line and the reason, separated by "; " (truncated to `size`);
 * returns how many there are. */
size_t pt2_lower_describe_unlowerable(const pt2_graph *graph, const unsigned char *considered, char *out, size_t size);

/* Every target the reasons table names, for the consistency checks. */
void pt2_for_each_unlowered_reason(void (*visit)(const char *target, void *user), void *user);

#endif
