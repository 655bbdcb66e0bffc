/* In-place arithmetic an export keeps (aten.add_ and the like) becomes its functional op where
 * no other op can see the write: the value written is fresh, never viewed, and read by no later
 * op or output. Then both compute the same, and the functional op runs and lowers as any other.
 * A write another op sees stays in place (the reference run executes it; the lowering refuses it
 * with its reason in docs/ops.md). */
#ifndef PT2_GRAPH_FUNCTIONALIZE_H
#define PT2_GRAPH_FUNCTIONALIZE_H

#include "graph.h"

/* The functional form of an in-place op this rewrites ("aten.relu.default" for
 * "aten.relu_.default"), NULL for any other target. The reference run executes such an op in
 * place through it where the write stays. */
const char *pt2_in_place_functional(const char *target);

/* Rewrites the targets of such nodes; returns how many. */
size_t pt2_graph_functionalize(pt2_graph *graph);

#endif
