/* The program's outputs through the conversion's steps: each one's reference value, PyTorch's
 * when given, and its figures in every step that compares outputs (reference, reload, the padded
 * batch, real RETURNN), so that a step's record can hold the worst of them while the report still
 * lists each output with its own figures. */
#ifndef PT2_PIPELINE_OUTPUT_RECORDS_H
#define PT2_PIPELINE_OUTPUT_RECORDS_H

#include "../verify/padded_batch.h"
#include "convert.h"

/* The run's user outputs as records (reference values copied contiguous), named from the
 * program's output spec (or "output", "output_1", ...) until the lowering names their layers. */
pt2_status pt2_output_records_from_run(pt2_arena *arena, const pt2_graph *graph, const pt2_run_context *run,
                                       pt2_output_record **out, size_t *count, pt2_error *err);

/* The report's figures of a comparison: `, "max_abs": x, "max_rel": y, "worst_ratio": z` (null
 * for a figure that is not finite). */
void pt2_report_write_figures(pt2_strbuf *sb, double max_abs, double max_rel, double worst_ratio);

/* After the lowering: each record's layer and name as the network has them. */
void pt2_output_records_name(pt2_output_record *records, size_t count, const pt2_rt_net *net);

/* Adds a figure to record k. */
void pt2_output_records_add(pt2_output_record *record, const pt2_output_figure *figure);

/* Compares ours[k] with expected[k] for every record, adding a figure named `step` to each, and
 * fills `step_record` with the worst (passed when every one passes). A shape that differs is named
 * with the output in *mismatch (arena text; NULL when every shape agrees). */
pt2_status pt2_output_records_compare(pt2_arena *arena, pt2_output_record *records, size_t count, const pt2_tensor *ours,
                                      const pt2_tensor *expected, const char *step, const char *ours_name,
                                      const char *expected_name, double atol, double rtol, pt2_step_record *step_record,
                                      const char **mismatch, pt2_error *err);

/* The reference step: each output's shape against the export's; with PyTorch's outputs
 * (references[num_references], one per output) each output's values, their records keeping
 * PyTorch's value. Fills step->what, compared, passed and the worst figures. A reference whose
 * count or shape is not the model's is the reference's error (PT2_ERR_INPUT naming its file). */
pt2_status pt2_output_records_reference_step(pt2_arena *arena, const pt2_graph *graph, pt2_output_record *records,
                                             size_t count, const pt2_tensor *references, size_t num_references,
                                             const char *reference_name, double atol, double rtol, pt2_step_record *step,
                                             pt2_error *err);

/* The reload step: the reloaded network's outputs on `input` against references[k] (the
 * reference run's of that input; NULL: `input` is the example, against the records' reference
 * values): `ran` when the network has run on it already (the padded batch's first sequence, as it
 * ran in the batch), else it runs here. Fills step (what, figures); *mismatch names a shape that
 * differs (or NULL). */
pt2_status pt2_output_records_reload_step(pt2_arena *arena, pt2_output_record *records, size_t count,
                                          const pt2_reloaded_net *reloaded, const pt2_tensor *input,
                                          const pt2_tensor *ran, const pt2_tensor *references, double atol,
                                          double rtol, pt2_step_record *step, const char **mismatch, pt2_error *err);

/* The padded batch's per-output figures (as pt2_padded_batch_compare left them) as figures named `step`. */
void pt2_output_records_add_padded(pt2_output_record *records, size_t count, const pt2_padded_batch *batch,
                                   const char *step);

/* A reference step that has no PyTorch values: does each output's shape fit the export's (its rank
 * and static sizes)? NULL when they all do, else the text naming the first that does not. */
const char *pt2_output_records_export_mismatch(pt2_arena *arena, const pt2_graph *graph, const pt2_output_record *records,
                                               size_t count, pt2_error *err);

/* report.json's "outputs": [{"name", "layer", "shape", "steps": [{"step", "max_abs", ...}]}]. */
void pt2_output_records_json(pt2_strbuf *sb, const pt2_output_record *records, size_t count);
/* report.txt's lines per output (written only with several outputs: one output's figures are the steps'). */
void pt2_output_records_text(pt2_strbuf *sb, const pt2_output_record *records, size_t count);

#endif
