/* The whole conversion (steps 1 to 6 of DESIGN.md) in memory, shared by the native CLI, the
 * WASM build (node/ and web/) and the tests: load, reference run, lower with per-layer checks,
 * emit, reload. Files are the caller's business, so a failure never leaves half of them. */
#ifndef PT2_PIPELINE_CONVERT_H
#define PT2_PIPELINE_CONVERT_H

#include "../base/strbuf.h"
#include "../load/load_model.h"
#include "../run/executor.h"

typedef void (*pt2_progress_fn)(void *user, const char *step, const char *message);

typedef struct pt2_convert_options {
    const pt2_tensor *inputs; /* user inputs in signature order; NULL: the archive's sample inputs */
    size_t num_inputs;
    /* Their file names, for messages (may be NULL). An input in another dtype than the export's
     * (numpy's float64) is cast when that is lossless or obviously meant, and the report says so
     * (core/load/user_inputs.h). */
    const char *const *input_names;
    const pt2_tensor *reference_outputs; /* PyTorch's own outputs (e.g. from --reference); optional */
    size_t num_reference_outputs;
    const char *reference_name; /* the reference's file name, for messages; may be NULL */
    double atol, rtol; /* per-layer, reload and reference comparisons */
    const char *as_layer; /* NULL, or NAME: emit one subnetwork layer NAME (variables under NAME/) */
    pt2_run_options run;
    int keep_layer_references; /* fill result->layer_references (for a check of every layer in real RETURNN) */
    pt2_progress_fn progress; /* called as each step starts; may be NULL */
    void *progress_user;
    /* The checkpoint is loaded strictly by default, as load_state_dict(strict=True): a key the
     * model has and the checkpoint lacks, or the other way round, is an error naming every one.
     * 1 opts out (strict=False, CLI --no-strict): missing keys keep the archive's values,
     * unexpected ones are ignored. The keys go to report.json either way. */
    int allow_checkpoint_mismatch;
    /* NULL, or the arena holding source->model_bytes as a block of its own (the CLI reads the file
     * so): the conversion frees them once the checkpoint is written, for the reload and the padded
     * batch no longer read the model's weights. The sample inputs are copied first. */
    pt2_arena *model_bytes_arena;
} pt2_convert_options;

/* One step of the report: what it compared and how closely. */
typedef struct pt2_step_record {
    const char *name, *what;
    double seconds;
    int compared, passed;
    double max_abs, max_rel;
    /* With `compared`: the worst |ours - torch| / (atol + rtol*|torch|); passed means <= 1. */
    double worst_ratio;
} pt2_step_record;

#define PT2_MAX_STEPS 16 /* the core's steps, a second length's (Python API), real RETURNN's */

/* One output's figures in one step (the step's record holds the worst of the outputs). */
typedef struct pt2_output_figure {
    const char *step;
    int compared, passed;
    double max_abs, max_rel, worst_ratio;
} pt2_output_figure;

/* One of the program's outputs (core/pipeline/output_records.h): what the report lists for it. */
typedef struct pt2_output_record {
    const char *name;  /* the program's name for it (its output spec), else its layer's */
    const char *layer; /* its RETURNN layer: "output" for the first */
    pt2_tensor reference; /* the reference run's value (contiguous, arena-owned) */
    int has_pytorch;      /* PyTorch's own value was given (options.reference_outputs) */
    pt2_tensor pytorch;
    size_t num_figures;
    pt2_output_figure figures[PT2_MAX_STEPS];
} pt2_output_record;

typedef struct pt2_convert_result {
    pt2_strbuf config_py, config_json, checkpoint_index, checkpoint_data;
    pt2_strbuf report_json, report_text;
    pt2_strbuf layer_py, layer_json; /* --as-layer: the layer dict alone */
    /* NULL when every check passed; else the first failed step ("reference", "layers", "reload", ...). */
    const char *failed_step;
    size_t num_layers, num_variables;
    /* Memory: the parameters' bytes, and the conversion's peak (its arena, which holds the model
     * file, the values and the checks' scratch, plus the output files once written). */
    size_t weight_bytes, peak_memory_bytes;
    /* The most bytes the reference run's values (not the parameters) held at once, each
     * released after its last reader: the model's own working set. */
    size_t peak_values_bytes;
    /* For checks the caller adds (e.g. real RETURNN in the CLI): the input the conversion ran
     * on and the reference run's output (arena-owned, contiguous). */
    pt2_tensor input, reference_output;
    int has_pytorch_output; /* PyTorch's own output was given (options.reference_outputs) */
    pt2_tensor pytorch_output;
    size_t num_steps;
    pt2_step_record steps[PT2_MAX_STEPS];
    const void *layer_checks; /* pt2_layer_checks */
    const void *padded_batch; /* pt2_padded_batch (core/verify/padded_batch.h); NULL without a dynamic axis */
    const void *layer_references; /* pt2_layer_reference[num_layer_references] (core/verify/layer_references.h) */
    size_t num_layer_references;
    /* Per-layer tables a caller's check adds (real RETURNN): text and a JSON value, appended to
     * the reports by pt2_convert_add_step. */
    const char *extra_layers_text, *extra_layers_json;
    const char *model_name, *checkpoint_name, *load_summary;
    double atol, rtol;
    /* With a checkpoint: what it supplied, lacked and had in excess (pt2_apply_report), and
     * whether that was allowed; recorded in report.json either way. */
    const void *checkpoint_keys;
    int allow_checkpoint_mismatch;
    /* Every output of the program, in its order (the first is reference_output/pytorch_output
     * above); each step that compares outputs adds its figures per output. */
    size_t num_outputs;
    pt2_output_record *outputs;
} pt2_convert_result;

void pt2_convert_result_init(pt2_convert_result *result);
void pt2_convert_result_free(pt2_convert_result *result);

/* PT2_OK also when a check failed (result->failed_step says which; the files and the report
 * are complete). Any other status: bad input, an unsupported op (every one listed) or an
 * internal error; then nothing but the error is produced. */
pt2_status pt2_convert(pt2_arena *arena, const pt2_model_source *source, const pt2_convert_options *options,
                       pt2_convert_result *result, pt2_error *err);

/* Adds a step the caller ran (e.g. "returnn") and writes both reports anew. */
pt2_status pt2_convert_add_step(pt2_convert_result *result, const pt2_step_record *step, pt2_error *err);

#endif
