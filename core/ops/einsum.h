/* torch.einsum's equation, parsed once for the reference run (core/ops/einsum.c) and for the
 * lowering (core/lower/lower_einsum.c): each operand axis and each output axis gets a label.
 * Letters are labels 0..51 (A-Z then a-z, the order PyTorch sorts an implicit output in); the
 * axes an ellipsis covers get labels from PT2_EINSUM_ELLIPSIS on, aligned from the right across
 * the operands as PyTorch broadcasts them. */
#ifndef PT2_OPS_EINSUM_H
#define PT2_OPS_EINSUM_H

#include "../base/error.h"
#include "../base/tensor.h"

#define PT2_EINSUM_MAX_OPERANDS 8
#define PT2_EINSUM_ELLIPSIS 52
#define PT2_EINSUM_LABELS (PT2_EINSUM_ELLIPSIS + PT2_MAX_RANK)

typedef struct pt2_einsum_spec {
    int num_operands;
    int rank[PT2_EINSUM_MAX_OPERANDS];
    int labels[PT2_EINSUM_MAX_OPERANDS][PT2_MAX_RANK];
    int out_rank;
    int out_labels[PT2_MAX_RANK];
} pt2_einsum_spec;

/* Parses `equation` for operands of the given ranks (spaces are ignored; "->" and the output
 * are optional: without them the output is the ellipsis' axes, then the letters used once, in
 * label order). Fails with PT2_ERR_INPUT on a malformed equation. */
pt2_status pt2_einsum_parse(const char *equation, const int *ranks, int num_operands, pt2_einsum_spec *out, pt2_error *err);

/* Is `label` an output label of the spec? */
int pt2_einsum_in_output(const pt2_einsum_spec *spec, int label);

#endif
