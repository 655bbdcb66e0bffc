/* Step 4's check: every emitted layer, run by the RETURNN-layer interpreter on the exact inputs
 * PyTorch's semantics gave its op, against the op's own output. */
#ifndef PT2_VERIFY_VERIFY_LAYERS_H
#define PT2_VERIFY_VERIFY_LAYERS_H

#include "../base/strbuf.h"
#include "../lower/lower.h"

/* |ours - torch| <= atol + rtol * |torch| elementwise, float32 tensors of one layout. */
typedef struct pt2_comparison {
    double max_abs, max_rel;
    /* The margin: the worst |ours - torch| / (atol + rtol*|torch|), so passed means <= 1. */
    double worst_ratio;
    int passed;
} pt2_comparison;

pt2_status pt2_compare_tensors(const pt2_tensor *ours, const pt2_tensor *torch, double atol, double rtol,
                               pt2_comparison *out);

typedef struct pt2_layer_check {
    const char *layer;
    const char *layer_class;
    const char *module_path;
    const char *op;
    const char *source_line; /* may be NULL */
    double max_abs, max_rel, worst_ratio;
    int passed;
} pt2_layer_check;

typedef struct pt2_layer_checks {
    size_t count;
    pt2_layer_check *items;
    size_t failed;
} pt2_layer_checks;

/* Fails only on errors, not on a mismatch: mismatches are counted in `out->failed`. */
pt2_status pt2_verify_layers(pt2_arena *arena, const pt2_lower_context *lowered, double atol, double rtol,
                             pt2_layer_checks *out, pt2_error *err);

void pt2_layer_checks_format(const pt2_layer_checks *checks, double atol, double rtol, pt2_strbuf *out);

#endif
