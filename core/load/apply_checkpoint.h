/* Replaces the archive's parameters and buffers with those of a trained checkpoint (a state
 * dict from torch.save or safetensors), matched by their FQN as PyTorch's load_state_dict does. */
#ifndef PT2_LOAD_APPLY_CHECKPOINT_H
#define PT2_LOAD_APPLY_CHECKPOINT_H

#include <stddef.h>

#include "../base/arena.h"
#include "../base/error.h"
#include "../base/strbuf.h"
#include "../graph/graph.h"
#include "named_tensors.h"

typedef struct pt2_apply_report {
    /* Input. 0 (the default) is strict, as PyTorch's load_state_dict(strict=True): a parameter or
     * persistent buffer the checkpoint lacks, or a checkpoint entry the model lacks, is an error
     * naming every such key. 1 keeps the archive's value for what is missing and ignores what is
     * unexpected (strict=False); both lists are reported either way. */
    int allow_missing;
    /* Output. */
    size_t num_loaded; /* parameters and persistent buffers taken from the checkpoint */
    size_t num_tied;   /* of those, taken through a tied twin (the checkpoint names only one of them) */
    const char *prefix; /* "" or the submodule ("generator.") whose state dict the checkpoint is */
    size_t num_weight_norm; /* of those, folded from weight norm's g and v (a model exported after
                               remove_weight_norm, a checkpoint saved with it) */
    size_t num_missing;
    const char **missing; /* graph FQNs the checkpoint lacks */
    size_t num_unexpected;
    const char **unexpected; /* checkpoint names the graph lacks */
} pt2_apply_report;

/* Parameters and persistent buffers are matched by FQN; non-persistent buffers and lifted
 * constants keep the archive's value (a state dict does not hold them). A dtype or shape
 * that differs from the archive's is an error (as in PyTorch, strict or not) naming every such
 * tensor with both shapes. Tied weights
 * (two FQNs sharing one tensor in the archive): a checkpoint entry for each name, or for one
 * of them, which then serves both. A checkpoint that matches nothing at all is an error. */
pt2_status pt2_graph_apply_state_dict(pt2_arena *arena, pt2_graph *graph, const pt2_named_tensors *state_dict,
                                      const char *checkpoint_name, pt2_apply_report *report, pt2_error *err);

/* "checkpoint NAME: loaded N tensors; missing ...; unused ..." as one line. */
void pt2_apply_report_format(const pt2_apply_report *report, const char *checkpoint_name, pt2_strbuf *out);

#endif
