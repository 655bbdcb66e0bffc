/* The activations (activation.c) as work another op does on its own output. */
#ifndef PT2_OPS_ACTIVATION_H
#define PT2_OPS_ACTIVATION_H

#include "../run/executor.h"
#include "kernels.h"

/* Whether `node` is an elementwise activation that can run on a float32 value in place as a
 * GEMM's epilogue (relu, gelu, silu, ...); if so *out applies it with the node's arguments, with
 * the bits its own run would give. 0 for anything else, or arguments that do not read (its own
 * run then says what is wrong). */
int pt2_activation_epilogue(pt2_run_context *ctx, const pt2_node *node, pt2_gemm_epilogue *out);

#endif
