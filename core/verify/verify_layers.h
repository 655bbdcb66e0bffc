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

/* The same checks, each run as soon as a second reference run (pt2_run_graph_again on
 * lowered->run, a releasing run's context) has computed what it reads; every value is released
 * after its last reader, an op or a check, so the checks hold no more values than the run. The
 * first run's plan (pt2_run_plan_release) and its set of values depending on the input give
 * the lifetimes; constants stay from the first run, and so do the graph's outputs (this run's
 * copies go after their checks). `references` (NULL: not wanted) receives the
 * values of the checked layers for the real-RETURNN check (out->count of them);
 * `peak_live_bytes` (may be NULL) the most bytes the run's values held at once. */
pt2_status pt2_verify_layers_during_run(pt2_arena *arena, const pt2_lower_context *lowered, const int32_t *run_plan,
                                        const unsigned char *depends_on_input, double atol, double rtol,
                                        pt2_layer_checks *out, struct pt2_layer_reference **references,
                                        size_t *peak_live_bytes, pt2_error *err);

void pt2_layer_checks_format(const pt2_layer_checks *checks, double atol, double rtol, pt2_strbuf *out);

#endif
