#include "convert.h"

#include <stdio.h>
#include <string.h>

#include "../base/clock.h"
#include "../emit/returnn_config.h"
#include "../emit/tf_checkpoint.h"
#include "../load/user_inputs.h"
#include "../lower/lower.h"
#include "../ops/backend_xnnpack.h"
#include "../reload/read_config.h"
#include "../verify/compare_outputs.h"
#include "../verify/layer_references.h"
#include "../verify/padded_batch.h"
#include "../verify/verify_layers.h"
#include "output_records.h"

void pt2_convert_result_init(pt2_convert_result *r) {
    memset(r, 0, sizeof *r);
    pt2_strbuf_init(&r->config_py);
    pt2_strbuf_init(&r->config_json);
    pt2_strbuf_init(&r->checkpoint_index);
    pt2_strbuf_init(&r->checkpoint_data);
    pt2_strbuf_init(&r->report_json);
    pt2_strbuf_init(&r->report_text);
    pt2_strbuf_init(&r->layer_py);
    pt2_strbuf_init(&r->layer_json);
}

void pt2_convert_result_free(pt2_convert_result *r) {
    pt2_strbuf_free(&r->config_py);
    pt2_strbuf_free(&r->config_json);
    pt2_strbuf_free(&r->checkpoint_index);
    pt2_strbuf_free(&r->checkpoint_data);
    pt2_strbuf_free(&r->report_json);
    pt2_strbuf_free(&r->report_text);
    pt2_strbuf_free(&r->layer_py);
    pt2_strbuf_free(&r->layer_json);
}

static void progress(const pt2_convert_options *o, const char *step, const char *message) {
    if (o->progress) o->progress(o->progress_user, step, message);
}

typedef pt2_step_record step_record;

/* A step's end: its time goes to the progress callback only, so the report files are the same
 * for the same inputs. */
static void progress_done(const pt2_convert_options *o, const step_record *s) {
    char message[200];
    if (s->compared)
        snprintf(message, sizeof message, "%s in %.3fs (max abs %.3g, ratio %.3g of the tolerance)",
                 s->passed ? "passed" : "FAILED", s->seconds, s->max_abs, s->worst_ratio);
    else if (!strcmp(s->name, "reference") && s->passed)
        snprintf(message, sizeof message, "passed in %.3fs (shapes only: no PyTorch outputs to compare values with)",
                 s->seconds);
    else if (!s->passed) /* not compared: the step's text names what differs (the shapes) */
        snprintf(message, sizeof message, "FAILED in %.3fs (%s)", s->seconds, s->what);
    else
        snprintf(message, sizeof message, "done in %.3fs", s->seconds);
    progress(o, s->name, message);
}

static void write_step_json(pt2_strbuf *sb, const step_record *s, int first) {
    pt2_strbuf_puts(sb, first ? "\n    {" : ",\n    {");
    pt2_strbuf_puts(sb, "\"step\": ");
    pt2_json_write_string(sb, s->name);
    pt2_strbuf_puts(sb, ", \"what\": ");
    pt2_json_write_string(sb, s->what);
    if (!strcmp(s->name, "reference")) pt2_strbuf_printf(sb, ", \"checked\": \"%s\"", s->compared ? "values" : "shapes");
    if (s->compared) pt2_report_write_figures(sb, s->max_abs, s->max_rel, s->worst_ratio);
    pt2_strbuf_printf(sb, ", \"passed\": %s}", s->passed ? "true" : "false");
}

static void write_step_text(pt2_strbuf *sb, const step_record *s) {
    pt2_strbuf_printf(sb, "%-16s %-6s %s", s->name, s->passed ? "pass" : "FAIL", s->what);
    if (s->compared)
        pt2_strbuf_printf(sb, " (max abs %.3g, max rel %.3g, ratio %.3g of the tolerance)", s->max_abs, s->max_rel,
                          s->worst_ratio);
    pt2_strbuf_putc(sb, '\n');
}

static void write_checks_json(pt2_strbuf *sb, const pt2_layer_checks *checks) {
    pt2_strbuf_puts(sb, "[");
    for (size_t i = 0; i < checks->count; i++) {
        const pt2_layer_check *c = &checks->items[i];
        pt2_strbuf_puts(sb, i ? ",\n    {" : "\n    {");
        pt2_strbuf_puts(sb, "\"layer\": ");
        pt2_json_write_string(sb, c->layer);
        pt2_strbuf_puts(sb, ", \"class\": ");
        pt2_json_write_string(sb, c->layer_class);
        pt2_strbuf_puts(sb, ", \"module_path\": ");
        pt2_json_write_string(sb, c->module_path);
        pt2_strbuf_puts(sb, ", \"op\": ");
        pt2_json_write_string(sb, c->op);
        pt2_strbuf_puts(sb, ", \"source_line\": ");
        if (c->source_line) pt2_json_write_string(sb, c->source_line);
        else pt2_strbuf_puts(sb, "null");
        pt2_report_write_figures(sb, c->max_abs, c->max_rel, c->worst_ratio);
        pt2_strbuf_printf(sb, ", \"passed\": %s}", c->passed ? "true" : "false");
    }
    pt2_strbuf_puts(sb, checks->count ? "\n  ]" : "]");
}

static void write_name_list(pt2_strbuf *sb, const char *key, const char **names, size_t count) {
    pt2_strbuf_printf(sb, ", \"%s\": [", key);
    for (size_t i = 0; i < count; i++) {
        if (i) pt2_strbuf_puts(sb, ", ");
        pt2_json_write_string(sb, names[i]);
    }
    pt2_strbuf_putc(sb, ']');
}

/* "checkpoint_keys": how strictly the checkpoint was loaded and which keys did not match. */
static void write_checkpoint_keys_json(pt2_strbuf *sb, const pt2_convert_result *r) {
    const pt2_apply_report *keys = r->checkpoint_keys;
    if (!keys) return;
    pt2_strbuf_printf(sb, ",\n  \"checkpoint_keys\": {\"strict\": %s, \"loaded\": %zu",
                      r->allow_checkpoint_mismatch ? "false" : "true", keys->num_loaded);
    write_name_list(sb, "missing", keys->missing, keys->num_missing);
    write_name_list(sb, "unexpected", keys->unexpected, keys->num_unexpected);
    pt2_strbuf_putc(sb, '}');
}

static pt2_status write_reports(pt2_convert_result *r, pt2_error *err) {
    const pt2_layer_checks *checks = r->layer_checks;
    pt2_strbuf_free(&r->report_json);
    pt2_strbuf_free(&r->report_text);
    pt2_strbuf *j = &r->report_json;
    pt2_strbuf_puts(j, "{\n  \"tool\": \"pt2returnn\",\n  \"model\": ");
    pt2_json_write_string(j, r->model_name);
    pt2_strbuf_puts(j, ",\n  \"checkpoint\": ");
    if (r->checkpoint_name) pt2_json_write_string(j, r->checkpoint_name);
    else pt2_strbuf_puts(j, "null");
    write_checkpoint_keys_json(j, r);
    pt2_strbuf_puts(j, ",\n  \"atol\": ");
    pt2_json_write_double(j, r->atol);
    pt2_strbuf_puts(j, ",\n  \"rtol\": ");
    pt2_json_write_double(j, r->rtol);
    pt2_strbuf_printf(j, ",\n  \"passed\": %s,\n  \"failed_step\": ", r->failed_step ? "false" : "true");
    if (r->failed_step) pt2_json_write_string(j, r->failed_step);
    else pt2_strbuf_puts(j, "null");
    pt2_strbuf_printf(j, ",\n  \"num_layers\": %zu,\n  \"num_variables\": %zu,", r->num_layers, r->num_variables);
    pt2_strbuf_printf(j, "\n  \"weight_bytes\": %zu,\n  \"peak_memory_bytes\": %zu,\n  \"peak_values_bytes\": %zu,"
                         "\n  \"steps\": [", r->weight_bytes, r->peak_memory_bytes, r->peak_values_bytes);
    for (size_t i = 0; i < r->num_steps; i++) write_step_json(j, &r->steps[i], i == 0);
    pt2_strbuf_puts(j, "\n  ],\n  \"layers\": ");
    write_checks_json(j, checks);
    if (r->extra_layers_json) pt2_strbuf_printf(j, ",\n  \"returnn_layers\": %s", r->extra_layers_json);
    pt2_strbuf_puts(j, ",\n  \"outputs\": ");
    pt2_output_records_json(j, r->outputs, r->num_outputs);
    pt2_strbuf_puts(j, "\n}\n");

    pt2_strbuf *t = &r->report_text;
    pt2_strbuf_printf(t, "pt2returnn: %s%s%s\n", r->model_name, r->checkpoint_name ? " with " : "",
                      r->checkpoint_name ? r->checkpoint_name : "");
    pt2_strbuf_puts(t, r->load_summary);
    for (size_t i = 0; i < r->num_steps; i++) write_step_text(t, &r->steps[i]);
    pt2_output_records_text(t, r->outputs, r->num_outputs);
    pt2_strbuf_putc(t, '\n');
    pt2_layer_checks_format(checks, r->atol, r->rtol, t);
    if (r->extra_layers_text) pt2_strbuf_printf(t, "\n%s", r->extra_layers_text);
    pt2_strbuf_printf(t, "\n%zu RETURNN layers, %zu checkpoint variables; %s\n", r->num_layers, r->num_variables,
                      r->failed_step ? "a check FAILED" : "every check passed");
    pt2_strbuf_printf(t, "memory: peak %.1f MiB (model file, values, checks and output files), weights %.1f MiB, "
                         "largest set of values alive at once %.1f MiB\n",
                      r->peak_memory_bytes / 1048576.0, r->weight_bytes / 1048576.0, r->peak_values_bytes / 1048576.0);
    if (j->failed || t->failed) return pt2_fail(err, PT2_ERR_MEMORY, "out of memory writing the report");
    return PT2_OK;
}

pt2_status pt2_convert(pt2_arena *arena, const pt2_model_source *source, const pt2_convert_options *options,
                       pt2_convert_result *result, pt2_error *err) {
    step_record steps[7];
    size_t num_steps = 0;
    pt2_graph graph;
    pt2_load_report load_report;
    pt2_tf_variable *variables;
    pt2_tensor torch_output;
    pt2_output_record *records; /* every output of the program */
    size_t num_outputs;
    result->failed_step = NULL;
    if (options->as_layer) { /* a layer name RETURNN keeps as a variable scope, and no reserved one */
        const char *n = options->as_layer;
        int ok = n[0] && strcmp(n, "output") && strcmp(n, "data") && strlen(n) < 200;
        for (const char *c = n; *c && ok; c++)
            ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_' || (*c == '.' && c != n);
        if (!ok)
            return pt2_fail(err, PT2_ERR_INPUT, "--as-layer '%s': expected a layer name of letters, digits, '_' and '.' (not \"output\" or \"data\")", n);
    }

    progress(options, "load", source->model_name);
    double start = pt2_now_seconds();
    pt2_model_source strictness = *source;
    strictness.allow_checkpoint_mismatch = options->allow_checkpoint_mismatch;
    pt2_status st = pt2_load_model(arena, &strictness, &graph, &load_report, err);
    if (st) return st;
    steps[num_steps++] = (step_record){"load", source->checkpoint_bytes ? "archive and checkpoint read" : "archive read",
                                       pt2_now_seconds() - start, 0, 1, 0, 0, 0};
    progress_done(options, &steps[num_steps - 1]);

    progress(options, "reference", "reference run with PyTorch semantics");
    const pt2_tensor *inputs = options->inputs ? options->inputs : graph.sample_inputs;
    size_t num_inputs = options->inputs ? options->num_inputs : graph.num_sample_inputs;
    const char *cast_text = NULL; /* what was cast, said in the progress and the report */
    if (options->inputs) {
        pt2_strbuf notes;
        pt2_strbuf_init(&notes);
        pt2_tensor *cast = pt2_arena_alloc_array(arena, num_inputs + 1, sizeof *cast, err);
        if (!cast) return err->status;
        memcpy(cast, options->inputs, num_inputs * sizeof *cast);
        st = pt2_cast_user_inputs(arena, &graph, cast, num_inputs, options->input_names, &notes, err);
        if (!st && notes.data && !(cast_text = pt2_arena_strdup(arena, notes.data, err))) st = err->status;
        pt2_strbuf_free(&notes);
        if (st) return st;
        if (cast_text) { /* one progress message, without the last newline */
            const char *line = pt2_arena_strndup(arena, cast_text, strlen(cast_text) - 1, err);
            if (!line) return err->status;
            progress(options, "reference", line);
        }
        inputs = cast;
    } else if (options->model_bytes_arena) { /* the archive's inputs are views of the model file, which goes */
        pt2_tensor *copies = pt2_arena_alloc_array(arena, num_inputs + 1, sizeof *copies, err);
        if (!copies) return err->status;
        for (size_t i = 0; i < num_inputs; i++)
            if ((st = pt2_tensor_contiguous(arena, &inputs[i], 1, &copies[i], err))) return st;
        inputs = copies;
    }
    /* One run: each node is lowered as soon as the run has computed what its lowering reads, and
     * each new layer checked at once; every value goes after its last reader, an op or a check
     * (pt2_run_lowering_checking). */
    progress(options, "layers", "lowering to RETURNN layers as the run goes, each checked on PyTorch's inputs");
    pt2_checked_run *checked = pt2_arena_alloc(arena, sizeof *checked, err);
    if (!checked) return err->status;
    checked->keep_references = options->keep_layer_references;
    if ((st = pt2_run_lowering_checking(arena, &graph, inputs, num_inputs, &options->run, options->atol, options->rtol,
                                        checked, err)))
        return st;
    pt2_run_context *run = &checked->run;
    pt2_rt_net *net = &checked->net;
    pt2_layer_checks checks = checked->checks;
    result->peak_values_bytes = checked->peak_values_bytes;
    if ((st = pt2_output_records_from_run(arena, &graph, run, &records, &num_outputs, err))) return st;
    if (!num_outputs) return pt2_fail(err, PT2_ERR_UNSUPPORTED, "the program has no tensor output");
    torch_output = records[0].reference;
    step_record reference = {"reference", NULL, checked->run_seconds, 0, 1, 0, 0, 0};
    if ((st = pt2_output_records_reference_step(arena, &graph, records, num_outputs, options->reference_outputs,
                                                options->num_reference_outputs, options->reference_name, options->atol,
                                                options->rtol, &reference, err)))
        return st;
    if (!reference.passed && !result->failed_step) result->failed_step = "reference";
    result->has_pytorch_output = records[0].has_pytorch;
    result->pytorch_output = records[0].pytorch;
    steps[num_steps++] = reference;
    progress_done(options, &steps[num_steps - 1]);

    pt2_output_records_name(records, num_outputs, net);
    step_record layers = {"layers", "every layer run with RETURNN semantics on PyTorch's inputs", checked->checking_seconds,
                          1, checks.failed == 0, 0, 0, 0};
    for (size_t i = 0; i < checks.count; i++) {
        if (!(checks.items[i].max_abs <= layers.max_abs)) layers.max_abs = checks.items[i].max_abs;
        if (!(checks.items[i].max_rel <= layers.max_rel)) layers.max_rel = checks.items[i].max_rel;
        if (!(checks.items[i].worst_ratio <= layers.worst_ratio)) layers.worst_ratio = checks.items[i].worst_ratio;
    }
    if (checks.failed && !result->failed_step) result->failed_step = "layers";
    if (checked->references) {
        result->layer_references = checked->references;
        result->num_layer_references = checks.count;
    }
    steps[num_steps++] = layers;
    progress_done(options, &steps[num_steps - 1]);

    /* The padded batch's sequences through the reference run now, while the graph's weights are
     * at hand (they may go after the emit); the reloaded network runs on the batch at the end. */
    start = pt2_now_seconds();
    pt2_padded_batch *batch = pt2_arena_alloc(arena, sizeof *batch, err);
    if (!batch) return err->status;
    st = pt2_padded_batch_prepare(arena, &graph, run, net, &inputs[0], &options->run, batch, err);
    /* The run's XNNPACK operators and packed weights, which the sequences' runs took again rather
     * than pack the weights anew (a MelGAN's 16 MiB of them), are not needed after this. */
    pt2_xnn_release();
    if (st) return st;
    double padded_seconds = pt2_now_seconds() - start;

    progress(options, "emit", "writing the configs and the checkpoint");
    start = pt2_now_seconds();
    /* From here the output files (outside the arena) are alive too: the arena's peak from now on
     * counts with their bytes (the checkpoint's as they are written, below). */
    size_t peak_before_emit = arena->peak_bytes;
    arena->peak_bytes = arena->used_bytes;
    const char *as_layer = options->as_layer;
    if ((st = pt2_emit_python_config(arena, net, source->model_name, as_layer, &result->config_py, err))) return st;
    if ((st = pt2_emit_json_config(arena, net, as_layer, &result->config_json, err))) return st;
    if (as_layer && ((st = pt2_emit_layer_dict(net, as_layer, 0, &result->layer_py, err)) ||
                     (st = pt2_emit_layer_dict(net, as_layer, 1, &result->layer_json, err))))
        return st;
    if ((st = pt2_emit_checkpoint_variables(arena, net, as_layer, &variables, &result->num_variables, err))) return st;
    /* Each weight the lowering turned into RETURNN's layout goes once it is in the checkpoint;
     * nothing reads the network's parameters after this (the reload reads the checkpoint). */
    size_t write_peak = 0;
    if ((st = pt2_tf_checkpoint_write_releasing(arena, variables, result->num_variables, arena, &write_peak,
                                                &result->checkpoint_index, &result->checkpoint_data, err)))
        return st;
    for (size_t i = 0; i < net->num_layers; i++) /* a stray read fails at once */
        for (size_t p = 0; p < net->layers[i].num_params; p++) net->layers[i].params[p].value.storage = NULL;
    /* The emit's peak: the arena's from its start (the checkpoint's data not in it) or, while the
     * data grew and the weights went, the writer's count of both; the configs beside either. From
     * here on every output file is alive whole. */
    size_t emit_peak = (arena->peak_bytes > write_peak ? arena->peak_bytes : write_peak) + result->config_py.length +
                       result->config_json.length + result->layer_py.length + result->layer_json.length +
                       result->checkpoint_index.length;
    arena->peak_bytes = arena->used_bytes;
    result->num_layers = net->num_layers;
    /* The model's weights are in the checkpoint now; from here on nothing reads the model file. */
    result->weight_bytes = 0;
    for (size_t i = 0; i < graph.num_inputs; i++)
        if (graph.inputs[i].has_data)
            result->weight_bytes += (size_t)pt2_tensor_numel(&graph.inputs[i].data) * pt2_dtype_size(graph.inputs[i].data.dtype);
    if (options->model_bytes_arena && pt2_arena_release(options->model_bytes_arena, source->model_bytes))
        for (size_t i = 0; i < graph.num_inputs; i++) graph.inputs[i].data.storage = NULL; /* a stray read fails at once */
    steps[num_steps++] = (step_record){"emit", "configs (Python, JSON) and TF checkpoint written", pt2_now_seconds() - start, 0, 1, 0, 0, 0};
    progress_done(options, &steps[num_steps - 1]);

    /* The reloaded network runs the padded batch's first sequence, its longest (the example cut to
     * at most 16 frames, or the example itself), against that sequence's own reference run: every
     * layer has run at the example's length in the per-layer checks already, and the written files
     * are what the reload is for (the whole example again was a third pass of the conversion's
     * products). That sequence runs, unpadded, in the padded batch, which therefore runs first: its
     * entries of the first sequence are the reload's result, not one more run of the network on
     * it (a MelGAN's: 15 ms of 350). The example itself where no batch applies, or the batch's
     * result cannot be taken (a result without a batch axis). */
    const pt2_tensor *reload_input = &inputs[0], *reload_references = NULL;
    int from_batch = batch->applicable && batch->num_sequences && batch->num_outputs == num_outputs;
    long long reload_length = from_batch ? batch->sequences[0].length : 0;
    long long example_length = from_batch ? inputs[0].shape[batch->input_time_axis] : 0;
    if (from_batch) {
        pt2_tensor *references = pt2_arena_alloc_array(arena, num_outputs + 1, sizeof *references, err);
        if (!references) return err->status;
        for (size_t k = 0; k < num_outputs; k++) references[k] = batch->outputs[k].references[0];
        reload_input = &batch->sequences[0].input, reload_references = references;
    }
    progress(options, "reload", "reading the JSON config and checkpoint back, running them");
    start = pt2_now_seconds();
    pt2_reloaded_net reloaded;
    st = pt2_reload_net(arena, result->config_json.data, result->config_json.length,
                        (const uint8_t *)result->checkpoint_index.data, result->checkpoint_index.length,
                        (const uint8_t *)result->checkpoint_data.data, result->checkpoint_data.length,
                        PT2_TF_DATA_CRC_AS_WRITTEN, &reloaded, err);
    if (!st) reloaded.net.threads = options->run.num_threads;
    double batch_start = pt2_now_seconds(), batch_seconds = 0;
    pt2_tensor first_sequence[PT2_RT_MAX_OUTPUTS];
    const pt2_tensor *ran = NULL;
    if (!st && from_batch) {
        st = pt2_verify_padded_batch(arena, &reloaded, options->atol, options->rtol, batch, err);
        if (!st && pt2_padded_batch_first_sequence(batch, first_sequence)) ran = first_sequence;
        batch_seconds = pt2_now_seconds() - batch_start;
    }
    char reload_what[320] = "JSON config + checkpoint reloaded and run, against the reference run";
    const char *in_batch = ran ? " (as it ran in the padded batch, its longest sequence: unpadded)" : "";
    if (from_batch && reload_length < example_length)
        snprintf(reload_what, sizeof reload_what,
                 "JSON config + checkpoint reloaded and run on the first %lld of the example's %lld frames%s, against "
                 "the reference run of them", reload_length, example_length, in_batch);
    else if (from_batch && reload_length > example_length)
        snprintf(reload_what, sizeof reload_what,
                 "JSON config + checkpoint reloaded and run on the example repeated to %lld frames (it has %lld)%s, "
                 "against the reference run of that", reload_length, example_length, in_batch);
    else if (from_batch)
        snprintf(reload_what, sizeof reload_what, "JSON config + checkpoint reloaded and run on the example%s, against "
                 "the reference run", in_batch);
    step_record reload_step = {"reload", NULL, 0, 1, 1, 0, 0, 0};
    const char *mismatch;
    if (!st) st = pt2_output_records_reload_step(arena, records, num_outputs, &reloaded, reload_input, ran,
                                                 reload_references, options->atol, options->rtol, &reload_step,
                                                 &mismatch, err);
    if (st) return st;
    reload_step.seconds = pt2_now_seconds() - start - batch_seconds;
    reload_step.what = mismatch ? pt2_arena_printf(arena, err, "%s: %s", reload_what, mismatch)
                                : pt2_arena_strdup(arena, reload_what, err);
    if (!reload_step.what) return err->status;
    steps[num_steps++] = reload_step;
    if (mismatch) steps[num_steps - 1].compared = 0;
    progress_done(options, &steps[num_steps - 1]);
    if (!reload_step.passed && !result->failed_step) result->failed_step = "reload";

    progress(options, "padded-batch", "the reloaded network on a padded batch of sequences of different lengths");
    start = pt2_now_seconds() - batch_seconds; /* the batch ran before the reload's comparison */
    if (!from_batch && (st = pt2_verify_padded_batch(arena, &reloaded, options->atol, options->rtol, batch, err))) return st;
    if (batch->applicable) {
        pt2_strbuf what;
        pt2_strbuf_init(&what);
        pt2_strbuf_puts(&what, "reloaded network on a padded batch (zeros after each end), each sequence within its length "
                               "against the reference run of it alone; ");
        pt2_padded_batch_format(batch, &what);
        const char *text = what.data ? pt2_arena_strdup(arena, what.data, err) : NULL;
        pt2_strbuf_free(&what);
        if (!text) return err->status;
        steps[num_steps++] = (step_record){"padded-batch", text, pt2_now_seconds() - start + padded_seconds, 1, batch->passed, batch->max_abs,
                                           batch->max_rel, batch->worst_ratio};
        progress_done(options, &steps[num_steps - 1]);
        if (!batch->passed && !result->failed_step) result->failed_step = "padded-batch";
        pt2_output_records_add_padded(records, num_outputs, batch, "padded-batch");
        result->padded_batch = batch;
    } else {
        const char *why = "not applicable: the input has no dynamic axis (or the output no batch axis)";
        if (batch->inapplicable &&
            !(why = pt2_arena_printf(arena, err, "not applicable: the program refuses the batch's other lengths: %s",
                                     batch->inapplicable)))
            return err->status;
        steps[num_steps++] = (step_record){"padded-batch", why, pt2_now_seconds() - start + padded_seconds, 0, 1, 0, 0, 0};
        progress_done(options, &steps[num_steps - 1]);
    }

    size_t output_bytes = result->config_py.length + result->config_json.length + result->checkpoint_index.length +
                          result->checkpoint_data.length + result->layer_py.length + result->layer_json.length;
    result->peak_memory_bytes = arena->peak_bytes + output_bytes;
    if (result->peak_memory_bytes < emit_peak) result->peak_memory_bytes = emit_peak;
    if (result->peak_memory_bytes < peak_before_emit) result->peak_memory_bytes = peak_before_emit;
    if (arena->peak_bytes < peak_before_emit) arena->peak_bytes = peak_before_emit;
    pt2_strbuf load_text;
    pt2_strbuf_init(&load_text);
    pt2_load_report_format(&load_report, &load_text);
    if (cast_text) pt2_strbuf_puts(&load_text, cast_text);
    result->load_summary = load_text.data ? pt2_arena_strdup(arena, load_text.data, err) : "";
    pt2_strbuf_free(&load_text);
    pt2_layer_checks *kept = pt2_arena_alloc(arena, sizeof *kept, err);
    if (!result->load_summary || !kept) return err->status;
    *kept = checks;
    result->layer_checks = kept;
    result->input = inputs[0];
    result->reference_output = torch_output;
    result->num_outputs = num_outputs;
    result->outputs = records;
    result->model_name = source->model_name;
    result->checkpoint_name = source->checkpoint_name;
    result->atol = options->atol;
    result->rtol = options->rtol;
    if (load_report.checkpoint_applied) {
        pt2_apply_report *keys = pt2_arena_alloc(arena, sizeof *keys, err);
        if (!keys) return err->status;
        *keys = load_report.apply;
        result->checkpoint_keys = keys;
    }
    result->allow_checkpoint_mismatch = options->allow_checkpoint_mismatch;
    result->num_steps = num_steps;
    memcpy(result->steps, steps, sizeof(step_record) * num_steps);
    return write_reports(result, err);
}

pt2_status pt2_convert_add_step(pt2_convert_result *result, const pt2_step_record *step, pt2_error *err) {
    if (result->num_steps == PT2_MAX_STEPS) return pt2_fail(err, PT2_ERR_INTERNAL, "too many report steps");
    result->steps[result->num_steps++] = *step;
    if (!step->passed && !result->failed_step) result->failed_step = step->name;
    return write_reports(result, err);
}
