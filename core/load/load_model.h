/* Step 1 of the pipeline: the model archive, optionally with a trained checkpoint applied
 * (a torch.save file reached by a key path, or a .safetensors file). */
#ifndef PT2_LOAD_LOAD_MODEL_H
#define PT2_LOAD_LOAD_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "../base/arena.h"
#include "../base/error.h"
#include "../base/strbuf.h"
#include "../graph/graph.h"
#include "apply_checkpoint.h"

typedef struct pt2_model_source {
    const uint8_t *model_bytes;
    size_t model_length;
    const char *model_name;
    const uint8_t *checkpoint_bytes; /* NULL: use the archive's own weights */
    size_t checkpoint_length;
    const char *checkpoint_name;
    const char *checkpoint_key; /* torch.save: dotted key path of the state dict, e.g. "model.generator" */
    /* 0 (default): strict, as load_state_dict(strict=True): a missing or unexpected key is an
     * error naming every one. 1: missing keys keep the archive's values, unexpected ones are
     * ignored; both are reported. (pt2_convert takes it from pt2_convert_options.) */
    int allow_checkpoint_mismatch;
} pt2_model_source;

typedef struct pt2_load_report {
    int checkpoint_applied;
    const char *checkpoint_name;
    pt2_apply_report apply; /* what the checkpoint supplied, lacked and had in excess */
} pt2_load_report;

pt2_status pt2_load_model(pt2_arena *arena, const pt2_model_source *source, pt2_graph *graph,
                          pt2_load_report *report, pt2_error *err);

/* "checkpoint X: loaded N tensors; missing ...; unused ..." as one line (nothing without a checkpoint). */
void pt2_load_report_format(const pt2_load_report *report, pt2_strbuf *out);

#endif
