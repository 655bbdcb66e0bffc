/* Undoes the core-ATen decomposition of linear and batched matmul (what
 * ExportedProgram.run_decompositions() writes): view(x, [B*T, K]) -> addmm/mm -> view(., [B, T, N])
 * and view(expand(a), [B*H, T, K]) -> bmm -> view(., [B, H, T, S]); and the lookup of a table at
 * flattened ids, index_select(W, 0, view(ids, [-1])) -> view(., [B, T, D]), as transformers'
 * sinusoidal position embeddings write it (an embedding). The merged leading axis
 * holds the batch, which RETURNN's dims cannot merge with another axis; the op itself never
 * needed the merge, as linear and matmul act on the trailing axes and a lookup on each id alone.
 * So the op is rewritten to linear / matmul / embedding on the unmerged value, with the unmerged result (the reshape back becomes a
 * view of the same sizes, or for addmm with a weight as it is the add of its bias; the merging
 * reshape is read no more). Both forms compute the same,
 * which the reference run shows against PyTorch's outputs. Only the exact pattern is rewritten:
 * a merging reshape read by that one op, whose result is read only by the reshape back to the
 * same leading sizes. */
#ifndef PT2_GRAPH_RECOMPOSE_H
#define PT2_GRAPH_RECOMPOSE_H

#include "graph.h"

/* Rewrites such nodes in place (their new inputs from `arena`); *count = how many. */
pt2_status pt2_graph_recompose(pt2_arena *arena, pt2_graph *graph, size_t *count, pt2_error *err);

#endif
