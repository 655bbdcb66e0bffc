/* A step's output against the reference's: the figures when the shapes agree, else the two
 * shapes (a shape mismatch is a shape mismatch, not an infinite difference). */
#ifndef PT2_VERIFY_COMPARE_OUTPUTS_H
#define PT2_VERIFY_COMPARE_OUTPUTS_H

#include "verify_layers.h"

/* Compares `ours` with `reference` as pt2_compare_tensors does. When their shapes differ, nothing
 * is compared: out->passed is 0, the figures 0, and *mismatch (else NULL) reads
 * "shape mismatch: <ours_name> gives [..], <reference_name> [..]" (in the arena). */
pt2_status pt2_compare_outputs(pt2_arena *arena, const pt2_tensor *ours, const pt2_tensor *reference, const char *ours_name,
                               const char *reference_name, double atol, double rtol, pt2_comparison *out,
                               const char **mismatch, pt2_error *err);

#endif
