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

struct pt2_layer_reference;

/* The reference run, lowering each node as soon as the run has computed it and checking each
 * new layer at once, on the values the run holds then: no second run, and every value released
 * after its last reader, an op or a check. `keep_references` (in): keep the values of the checked
 * layers for the real-RETURNN check (references, checks.count of them). */
typedef struct pt2_checked_run {
    int keep_references;
    pt2_run_context run;
    pt2_rt_net net;
    pt2_lower_context lowered;
    pt2_layer_checks checks;
    struct pt2_layer_reference *references;
    /* The most bytes the run's values held at once by the run's own plan (the checks may keep a
     * value a little longer: their own memory counts in the arena's peak). */
    size_t peak_values_bytes;
    double run_seconds, checking_seconds; /* the run's ops; the lowering and the checks */
} pt2_checked_run;

/* A lowering refusal ends it (PT2_ERR_UNSUPPORTED, every refused op listed, after the whole run);
 * a mismatch does not: it counts in checks.failed. */
pt2_status pt2_run_lowering_checking(pt2_arena *arena, const pt2_graph *graph, const pt2_tensor *inputs,
                                     size_t num_inputs, const pt2_run_options *options, double atol, double rtol,
                                     pt2_checked_run *out, pt2_error *err);

void pt2_layer_checks_format(const pt2_layer_checks *checks, double atol, double rtol, pt2_strbuf *out);

#endif
