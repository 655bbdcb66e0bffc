#include "output_records.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../base/json.h"
#include "../verify/compare_outputs.h"

pt2_status pt2_output_records_from_run(pt2_arena *arena, const pt2_graph *graph, const pt2_run_context *run,
                                       pt2_output_record **out, size_t *count, pt2_error *err) {
    size_t n = 0;
    for (size_t i = 0; i < graph->num_outputs; i++)
        n += graph->outputs[i].kind == PT2_OUTPUT_USER && graph->outputs[i].arg.kind == PT2_ARG_TENSOR;
    pt2_output_record *records = pt2_arena_alloc_array(arena, n + 1, sizeof *records, err);
    if (!records) return err->status;
    for (size_t i = 0, k = 0; i < graph->num_outputs; i++) {
        const pt2_graph_output *o = &graph->outputs[i];
        if (o->kind != PT2_OUTPUT_USER || o->arg.kind != PT2_ARG_TENSOR) continue;
        pt2_tensor value;
        pt2_status st = pt2_run_output(run, k, &value, err);
        if (!st) st = pt2_tensor_contiguous(arena, &value, 0, &records[k].reference, err);
        if (st) return st;
        records[k].layer = k ? pt2_arena_printf(arena, err, "output_%zu", k) : "output";
        if (!records[k].layer) return err->status;
        records[k].name = o->name ? o->name : records[k].layer;
        k++;
    }
    *out = records;
    *count = n;
    return PT2_OK;
}

void pt2_output_records_name(pt2_output_record *records, size_t count, const pt2_rt_net *net) {
    for (size_t k = 0; k < count && k < net->num_outputs; k++) {
        records[k].layer = net->outputs[k].layer;
        records[k].name = net->outputs[k].name;
    }
}

void pt2_output_records_add(pt2_output_record *record, const pt2_output_figure *figure) {
    if (record->num_figures < PT2_MAX_STEPS) record->figures[record->num_figures++] = *figure;
}

/* The step's record: the worst of the outputs (a NaN counts as the worst). */
static void take_worst(pt2_step_record *step, const pt2_comparison *cmp) {
    if (!(cmp->max_abs <= step->max_abs)) step->max_abs = cmp->max_abs;
    if (!(cmp->max_rel <= step->max_rel)) step->max_rel = cmp->max_rel;
    if (!(cmp->worst_ratio <= step->worst_ratio)) step->worst_ratio = cmp->worst_ratio;
    if (!cmp->passed) step->passed = 0;
}

pt2_status pt2_output_records_compare(pt2_arena *arena, pt2_output_record *records, size_t count, const pt2_tensor *ours,
                                      const pt2_tensor *expected, const char *step, const char *ours_name,
                                      const char *expected_name, double atol, double rtol, pt2_step_record *step_record,
                                      const char **mismatch, pt2_error *err) {
    *mismatch = NULL;
    step_record->compared = 1;
    step_record->passed = 1;
    step_record->max_abs = step_record->max_rel = step_record->worst_ratio = 0;
    for (size_t k = 0; k < count; k++) {
        pt2_comparison cmp;
        const char *shapes;
        pt2_status st = pt2_compare_outputs(arena, &ours[k], &expected[k], ours_name, expected_name, atol, rtol, &cmp,
                                            &shapes, err);
        if (st) return st;
        pt2_output_figure figure = {step, !shapes, cmp.passed && !shapes, cmp.max_abs, cmp.max_rel, cmp.worst_ratio};
        pt2_output_records_add(&records[k], &figure);
        if (shapes) {
            step_record->passed = 0;
            if (!*mismatch) {
                *mismatch = count > 1 ? pt2_arena_printf(arena, err, "output '%s': %s", records[k].name, shapes) : shapes;
                if (!*mismatch) return err->status;
            }
            continue;
        }
        take_worst(step_record, &cmp);
    }
    if (*mismatch) step_record->compared = 0;
    return PT2_OK;
}

/* The reference run's values of the outputs, as one array. */
static pt2_tensor *run_values(pt2_arena *arena, const pt2_output_record *records, size_t count, pt2_error *err) {
    pt2_tensor *values = pt2_arena_alloc_array(arena, count + 1, sizeof *values, err);
    for (size_t k = 0; values && k < count; k++) values[k] = records[k].reference;
    return values;
}

pt2_status pt2_output_records_reference_step(pt2_arena *arena, const pt2_graph *graph, pt2_output_record *records,
                                             size_t count, const pt2_tensor *references, size_t num_references,
                                             const char *reference_name, double atol, double rtol, pt2_step_record *step,
                                             pt2_error *err) {
    /* Honest about what was compared: without PyTorch's outputs only the shapes are checked. */
    step->what = "graph run with PyTorch semantics; shapes only: no PyTorch outputs given (--reference), the output's "
                 "shape checked against the export's";
    step->compared = 0;
    step->passed = 1;
    const char *export_mismatch = pt2_output_records_export_mismatch(arena, graph, records, count, err);
    if (err->status) return err->status;
    if (export_mismatch) step->passed = 0, step->what = export_mismatch;
    if (!num_references) return PT2_OK;
    /* The errors are the reference's, not the model's (named as the file so far). */
    if (num_references != count) {
        snprintf(err->file, sizeof err->file, "%s", reference_name ? reference_name : "reference");
        return pt2_fail(err, PT2_ERR_INPUT, "%zu reference output%s given, but the model has %zu outputs (give one "
                        "reference per output, in the program's order)", num_references,
                        num_references == 1 ? " is" : "s are", count);
    }
    pt2_tensor *expected = pt2_arena_alloc_array(arena, count + 1, sizeof *expected, err);
    pt2_tensor *ours = run_values(arena, records, count, err);
    if (!expected || !ours) return err->status;
    for (size_t k = 0; k < count; k++) {
        pt2_status st = pt2_tensor_contiguous(arena, &references[k], 0, &expected[k], err);
        if (st) return st;
        int same_shape = expected[k].rank == ours[k].rank;
        for (int a = 0; a < expected[k].rank && same_shape; a++) same_shape = expected[k].shape[a] == ours[k].shape[a];
        if (!same_shape) {
            char want[160], got[160], which[200] = "";
            pt2_shape_format(ours[k].shape, ours[k].rank, want, sizeof want);
            pt2_shape_format(expected[k].shape, expected[k].rank, got, sizeof got);
            if (count > 1) snprintf(which, sizeof which, " of output %zu ('%.150s')", k, records[k].name);
            snprintf(err->file, sizeof err->file, "%s", reference_name ? reference_name : "reference");
            return pt2_fail(err, PT2_ERR_INPUT,
                            "the reference output%s has shape %s, but the model's output for this input has shape %s "
                            "(was the reference computed from another input?)",
                            which, got, want);
        }
        records[k].has_pytorch = 1;
        records[k].pytorch = expected[k];
    }
    const char *unused; /* the shapes agree: checked above */
    pt2_status st = pt2_output_records_compare(arena, records, count, ours, expected, "reference", "the reference run",
                                               "PyTorch", atol, rtol, step, &unused, err);
    step->what = "graph run with PyTorch semantics, against PyTorch's outputs";
    return st;
}

pt2_status pt2_output_records_reload_step(pt2_arena *arena, pt2_output_record *records, size_t count,
                                          const pt2_reloaded_net *reloaded, const pt2_tensor *input,
                                          const pt2_tensor *ran, const pt2_tensor *references, double atol,
                                          double rtol, pt2_step_record *step, const char **mismatch, pt2_error *err) {
    if (reloaded->num_outputs != count)
        return pt2_fail(err, PT2_ERR_VERIFY, "the reloaded config has %zu outputs, the program %zu", reloaded->num_outputs,
                        count);
    pt2_tensor *ours = pt2_arena_alloc_array(arena, count + 1, sizeof *ours, err);
    const pt2_tensor *expected = references ? references : run_values(arena, records, count, err);
    if (!ours || !expected) return err->status;
    pt2_status st = ran ? PT2_OK : pt2_reload_run_outputs(arena, reloaded, input, ours, err);
    if (ran) memcpy(ours, ran, count * sizeof *ours);
    if (!st) st = pt2_output_records_compare(arena, records, count, ours, expected, "reload", "the reloaded network",
                                             "the reference run", atol, rtol, step, mismatch, err);
    /* Outputs it ran for itself go once compared: the padded batch runs after them. */
    for (size_t k = 0; !st && !ran && k < count; k++) pt2_arena_release(arena, ours[k].storage);
    return st;
}

void pt2_output_records_add_padded(pt2_output_record *records, size_t count, const pt2_padded_batch *batch,
                                   const char *step) {
    for (size_t k = 0; k < count && k < batch->num_outputs; k++) {
        const pt2_padded_batch_output *o = &batch->outputs[k];
        pt2_output_figure figure = {step, o->batch_axis >= 0 && !batch->problem, o->batch_axis < 0 || (o->passed && !batch->problem),
                                    o->max_abs, o->max_rel, o->worst_ratio};
        if (o->batch_axis < 0) figure.max_abs = figure.max_rel = figure.worst_ratio = 0;
        pt2_output_records_add(&records[k], &figure);
    }
}

static void append_export_shape(pt2_strbuf *text, const pt2_value *v) {
    pt2_strbuf_putc(text, '[');
    for (int a = 0; a < v->rank; a++) {
        if (a) pt2_strbuf_puts(text, ", ");
        if (v->sizes[a].is_symbolic) pt2_sym_format(v->sizes[a].expr, text);
        else pt2_strbuf_printf(text, "%lld", (long long)v->sizes[a].value);
    }
    pt2_strbuf_putc(text, ']');
}

const char *pt2_output_records_export_mismatch(pt2_arena *arena, const pt2_graph *graph, const pt2_output_record *records,
                                               size_t count, pt2_error *err) {
    for (size_t i = 0, k = 0; i < graph->num_outputs && k < count; i++) {
        const pt2_graph_output *out = &graph->outputs[i];
        if (out->kind != PT2_OUTPUT_USER || out->arg.kind != PT2_ARG_TENSOR) continue;
        const pt2_value *v = &graph->values[out->arg.value_id];
        const pt2_tensor *run = &records[k].reference;
        int fits = v->rank == run->rank;
        for (int a = 0; a < v->rank && fits; a++) fits = v->sizes[a].is_symbolic || v->sizes[a].value == run->shape[a];
        if (!fits) {
            char run_shape[160];
            pt2_shape_format(run->shape, run->rank, run_shape, sizeof run_shape);
            pt2_strbuf text;
            pt2_strbuf_init(&text);
            pt2_strbuf_puts(&text, "graph run with PyTorch semantics, the output's shape checked against the export's: shape "
                                   "mismatch: ");
            if (count > 1) pt2_strbuf_printf(&text, "output '%s': ", records[k].name);
            pt2_strbuf_printf(&text, "the run gives %s, the export ", run_shape);
            append_export_shape(&text, v);
            const char *what = text.failed || !text.data ? NULL : pt2_arena_strdup(arena, text.data, err);
            if (!what && !err->status) pt2_fail(err, PT2_ERR_MEMORY, "out of memory");
            pt2_strbuf_free(&text);
            return what;
        }
        k++;
    }
    return NULL;
}

void pt2_report_write_figures(pt2_strbuf *sb, double max_abs, double max_rel, double worst_ratio) {
    const double figures[3] = {max_abs, max_rel, worst_ratio};
    static const char *const keys[3] = {", \"max_abs\": ", ", \"max_rel\": ", ", \"worst_ratio\": "};
    for (int i = 0; i < 3; i++) {
        pt2_strbuf_puts(sb, keys[i]);
        if (isfinite(figures[i])) pt2_json_write_double(sb, figures[i]);
        else pt2_strbuf_puts(sb, "null"); /* JSON has no inf or nan */
    }
}

void pt2_output_records_json(pt2_strbuf *sb, const pt2_output_record *records, size_t count) {
    pt2_strbuf_puts(sb, "[");
    for (size_t k = 0; k < count; k++) {
        const pt2_output_record *r = &records[k];
        pt2_strbuf_puts(sb, k ? ",\n    {\"name\": " : "\n    {\"name\": ");
        pt2_json_write_string(sb, r->name);
        pt2_strbuf_puts(sb, ", \"layer\": ");
        pt2_json_write_string(sb, r->layer);
        pt2_strbuf_puts(sb, ", \"shape\": [");
        for (int a = 0; a < r->reference.rank; a++) pt2_strbuf_printf(sb, a ? ", %lld" : "%lld", (long long)r->reference.shape[a]);
        pt2_strbuf_puts(sb, "], \"steps\": [");
        for (size_t f = 0; f < r->num_figures; f++) {
            const pt2_output_figure *g = &r->figures[f];
            pt2_strbuf_puts(sb, f ? ", {\"step\": " : "{\"step\": ");
            pt2_json_write_string(sb, g->step);
            if (g->compared) pt2_report_write_figures(sb, g->max_abs, g->max_rel, g->worst_ratio);
            pt2_strbuf_printf(sb, ", \"passed\": %s}", g->passed ? "true" : "false");
        }
        pt2_strbuf_puts(sb, "]}");
    }
    pt2_strbuf_puts(sb, count ? "\n  ]" : "]");
}

void pt2_output_records_text(pt2_strbuf *sb, const pt2_output_record *records, size_t count) {
    if (count < 2) return;
    pt2_strbuf_printf(sb, "\n%zu outputs (max abs difference per step; - : not compared):\n", count);
    for (size_t k = 0; k < count; k++) {
        const pt2_output_record *r = &records[k];
        char shape[160];
        pt2_shape_format(r->reference.shape, r->reference.rank, shape, sizeof shape);
        pt2_strbuf_printf(sb, "  %-24s layer %-24s %s\n", r->name, r->layer, shape);
        for (size_t f = 0; f < r->num_figures; f++) {
            const pt2_output_figure *g = &r->figures[f];
            pt2_strbuf_printf(sb, "    %-20s %-6s", g->step, g->passed ? "pass" : "FAIL");
            if (g->compared) pt2_strbuf_printf(sb, " max abs %.3g, max rel %.3g, ratio %.3g", g->max_abs, g->max_rel, g->worst_ratio);
            else pt2_strbuf_puts(sb, " -");
            pt2_strbuf_putc(sb, '\n');
        }
    }
}
