/* convert --returnn --python PATH: step 7 from the CLI. The emitted files are loaded in real
 * RETURNN by the Python the user names (cli/run_in_returnn.py, carried in the binary), in both
 * config forms:
 *  - on the conversion's input, fetching every output and every emitted layer's output in one
 *    session.run; each output against PyTorch's (or the reference run's), each layer against the
 *    reference run's value of its op (a per-layer table next to the interpreter's);
 *  - on the padded batch of the padded-batch step (sequence lengths fed to RETURNN), each
 *    sequence within its own length against the reference run of it alone.
 * RETURNN's axes are put in PyTorch's order by dim tags (run_in_returnn.py), and a shape that
 * differs is reported as the two shapes. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../core/base/json.h"
#include "../core/base/npy.h"
#include "../core/pipeline/output_records.h"
#include "../core/verify/layer_references.h"
#include "../core/verify/padded_batch.h"
#include "../core/verify/verify_layers.h"
#include "cli.h"

extern const unsigned char pt2_returnn_runner_script[];
extern const size_t pt2_returnn_runner_script_length;

static const char *const forms[2] = {"py", "json"};

static pt2_status write_all(const char *path, const void *data, size_t length, pt2_error *err) {
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(data, 1, length, f) == length;
    if (f && fclose(f) != 0) ok = 0;
    if (ok) return PT2_OK;
    pt2_error_set_file(err, path);
    return pt2_fail(err, PT2_ERR_IO, "cannot write: %s", strerror(errno));
}

static pt2_status write_npy(pt2_arena *arena, const char *path, const pt2_tensor *t, pt2_error *err) {
    pt2_strbuf npy;
    pt2_strbuf_init(&npy);
    pt2_status st = pt2_npy_write(arena, t, &npy, err);
    if (!st) st = write_all(path, npy.data, npy.length, err);
    pt2_strbuf_free(&npy);
    return st;
}

/* Shell-quotes one argument ('...' with ' escaped). */
static void quote(pt2_strbuf *sb, const char *s) {
    pt2_strbuf_putc(sb, '\'');
    for (; *s; s++) {
        if (*s == '\'') pt2_strbuf_puts(sb, "'\\''");
        else pt2_strbuf_putc(sb, *s);
    }
    pt2_strbuf_putc(sb, '\'');
}

/* The manifest of every layer: its reference value's .npy and what each axis is. */
static pt2_status write_layer_manifest(pt2_arena *arena, const char *dir, const pt2_convert_result *result,
                                       const char *as_layer, const char *path, pt2_error *err) {
    const pt2_layer_reference *refs = result->layer_references;
    pt2_strbuf text;
    pt2_strbuf_init(&text);
    pt2_strbuf_printf(&text, "{\"atol\": %.17g, \"rtol\": %.17g, \"layers\": [", result->atol, result->rtol);
    pt2_status st = PT2_OK;
    for (size_t i = 0; i < result->num_layer_references && !st; i++) {
        char npy[200];
        snprintf(npy, sizeof npy, "%s/layer%zu.npy", dir, i);
        st = write_npy(arena, npy, &refs[i].value, err);
        pt2_strbuf_puts(&text, i ? ",\n {\"name\": " : "\n {\"name\": ");
        /* With --as-layer every layer sits inside the subnetwork NAME. */
        char name[600];
        snprintf(name, sizeof name, "%s%s%s", as_layer ? as_layer : "", as_layer ? "/" : "", refs[i].layer);
        pt2_json_write_string(&text, name);
        pt2_strbuf_puts(&text, ", \"reference\": ");
        pt2_json_write_string(&text, npy);
        pt2_strbuf_puts(&text, ", \"axes\": [");
        for (int a = 0; a < refs[i].value.rank; a++) {
            const pt2_layer_axis *x = &refs[i].axes[a];
            if (a) pt2_strbuf_puts(&text, ", ");
            if (x->kind == PT2_RT_DIM_BATCH) pt2_strbuf_puts(&text, "{\"kind\": \"batch\"");
            else if (x->kind == PT2_RT_DIM_DYNAMIC) pt2_strbuf_puts(&text, "{\"kind\": \"dynamic\"");
            else if (x->size < 0) pt2_strbuf_puts(&text, "{\"kind\": \"none\"");
            else pt2_strbuf_printf(&text, "{\"kind\": \"static\", \"size\": %lld%s", (long long)x->size, x->is_feature ? ", \"feature\": true" : "");
            if (x->name && (x->kind == PT2_RT_DIM_DYNAMIC || x->size >= 0)) { /* the dim tag, for axes of one kind */
                pt2_strbuf_puts(&text, ", \"name\": ");
                pt2_json_write_string(&text, x->name);
            }
            pt2_strbuf_putc(&text, '}');
        }
        pt2_strbuf_puts(&text, "]}");
    }
    pt2_strbuf_puts(&text, "]}\n");
    if (!st) st = write_all(path, text.data, text.length, err);
    pt2_strbuf_free(&text);
    return st;
}

static void job(pt2_strbuf *text, const char *out_dir, const char *input, const char *output, const char *form,
                const char *lengths, const char *layers, const char *layer_results) {
    pt2_strbuf_puts(text, text->length > 1 ? ",\n {\"out_dir\": " : "\n {\"out_dir\": ");
    pt2_json_write_string(text, out_dir);
    pt2_strbuf_puts(text, ", \"input\": ");
    pt2_json_write_string(text, input);
    pt2_strbuf_puts(text, ", \"output\": ");
    pt2_json_write_string(text, output);
    pt2_strbuf_printf(text, ", \"config\": \"%s\"", form);
    if (lengths) {
        pt2_strbuf_puts(text, ", \"lengths\": ");
        pt2_json_write_string(text, lengths);
    }
    if (layers) {
        pt2_strbuf_puts(text, ", \"layers\": ");
        pt2_json_write_string(text, layers);
        pt2_strbuf_puts(text, ", \"layer_results\": ");
        pt2_json_write_string(text, layer_results);
    }
    pt2_strbuf_putc(text, '}');
}

/* A run's output: NULL when the job failed (its Python error printed). */
static const pt2_tensor *read_output(pt2_arena *arena, const char *path, pt2_tensor *out);

/* Where run_in_returnn.py writes result k of a run writing `path` (output_paths there):
 * "x.npy", then "x.1.npy", "x.2.npy", ... */
static void result_path(const char *path, size_t k, char *out, size_t size) {
    size_t stem = strlen(path) > 4 && !strcmp(path + strlen(path) - 4, ".npy") ? strlen(path) - 4 : strlen(path);
    if (k) snprintf(out, size, "%.*s.%zu.npy", (int)stem, path, k);
    else snprintf(out, size, "%s", path);
}

/* Every result of a run (out[count]); 0 when the job failed or a result is missing. */
static int read_results(pt2_arena *arena, const char *path, size_t count, pt2_tensor *out) {
    for (size_t k = 0; k < count; k++) {
        char file[240];
        result_path(path, k, file, sizeof file);
        if (!read_output(arena, file, &out[k])) return 0;
    }
    return 1;
}

static const pt2_tensor *read_output(pt2_arena *arena, const char *path, pt2_tensor *out) {
    const uint8_t *bytes;
    size_t length;
    pt2_tensor raw;
    pt2_error read_err;
    pt2_error_clear(&read_err);
    if (!pt2_cli_read_file(arena, path, &bytes, &length, &read_err) && !pt2_npy_read(arena, bytes, length, path, &raw, &read_err) &&
        !pt2_tensor_contiguous(arena, &raw, 0, out, &read_err)) /* numpy writes a transposed array in Fortran order */
        return out;
    char error_file[300];
    snprintf(error_file, sizeof error_file, "%s.error", path);
    pt2_error_clear(&read_err);
    if (!pt2_cli_read_file(arena, error_file, &bytes, &length, &read_err)) fprintf(stderr, "%.*s", (int)length, (const char *)bytes);
    return NULL;
}

static const pt2_layer_check *interpreter_check(const pt2_convert_result *result, const char *layer) {
    const pt2_layer_checks *checks = result->layer_checks;
    for (size_t i = 0; checks && i < checks->count; i++)
        if (!strcmp(checks->items[i].layer, layer)) return &checks->items[i];
    return NULL;
}

/* The runner's per-layer results as a table (text) and a JSON list; counts the failures. */
static pt2_status layer_table(pt2_arena *arena, const pt2_convert_result *result, const char *form, const char *path,
                              pt2_strbuf *text, pt2_strbuf *json, size_t *failed, pt2_error *err) {
    const uint8_t *bytes;
    size_t length;
    pt2_json *list;
    *failed = 0;
    pt2_error read_err;
    pt2_error_clear(&read_err);
    if (pt2_cli_read_file(arena, path, &bytes, &length, &read_err) ||
        pt2_json_parse(arena, (const char *)bytes, length, path, &list, &read_err) || !pt2_json_is(list, PT2_JSON_ARRAY)) {
        *failed = result->num_layer_references;
        pt2_strbuf_printf(json, "[]");
        return PT2_OK;
    }
    pt2_strbuf_printf(text, "per-layer check in real RETURNN (returnn.config.%s, every layer in one session.run, against the "
                            "reference run's value of its op):\n", form);
    pt2_strbuf_printf(text, "  %-34s %-16s %12s %12s %12s  %s\n", "layer", "class", "RETURNN abs", "RETURNN rel",
                      "interp. abs", "result");
    pt2_strbuf_putc(json, '[');
    const pt2_layer_reference *refs = result->layer_references;
    for (size_t i = 0; i < list->count && i < result->num_layer_references; i++) {
        const pt2_json *item = &list->items[i];
        const pt2_json *abs_value = pt2_json_get(item, "max_abs"), *rel_value = pt2_json_get(item, "max_rel");
        const pt2_json *passed_value = pt2_json_get(item, "passed"), *shape = pt2_json_get(item, "shape");
        const pt2_json *reference_shape = pt2_json_get(item, "reference_shape");
        const char *error = pt2_json_get_string(item, "error", NULL);
        int passed = passed_value && passed_value->type == PT2_JSON_BOOL && passed_value->boolean;
        const pt2_layer_check *ours = interpreter_check(result, refs[i].layer);
        pt2_strbuf_printf(text, "  %-34s %-16s ", refs[i].layer, refs[i].layer_class);
        pt2_strbuf_puts(json, i ? ",\n    {\"layer\": " : "\n    {\"layer\": ");
        pt2_json_write_string(json, refs[i].layer);
        pt2_strbuf_printf(json, ", \"config\": \"%s\"", form);
        if (abs_value && rel_value) {
            pt2_strbuf_printf(text, "%12.3g %12.3g ", abs_value->number, rel_value->number);
            pt2_strbuf_puts(json, ", \"max_abs\": ");
            pt2_json_write_double(json, abs_value->number);
            pt2_strbuf_puts(json, ", \"max_rel\": ");
            pt2_json_write_double(json, rel_value->number);
        } else if (shape && reference_shape) {
            pt2_strbuf_puts(text, "shape [");
            pt2_strbuf_puts(json, ", \"shape\": [");
            for (size_t k = 0; k < shape->count; k++) {
                pt2_strbuf_printf(text, k ? ", %lld" : "%lld", (long long)shape->items[k].integer);
                pt2_strbuf_printf(json, k ? ", %lld" : "%lld", (long long)shape->items[k].integer);
            }
            pt2_strbuf_puts(text, "], reference [");
            pt2_strbuf_puts(json, "], \"reference_shape\": [");
            for (size_t k = 0; k < reference_shape->count; k++) {
                pt2_strbuf_printf(text, k ? ", %lld" : "%lld", (long long)reference_shape->items[k].integer);
                pt2_strbuf_printf(json, k ? ", %lld" : "%lld", (long long)reference_shape->items[k].integer);
            }
            pt2_strbuf_puts(text, "] ");
            pt2_strbuf_putc(json, ']');
        } else {
            pt2_strbuf_printf(text, "%s ", error ? error : "no result");
            pt2_strbuf_puts(json, ", \"error\": ");
            pt2_json_write_string(json, error ? error : "no result");
        }
        pt2_strbuf_printf(text, "%12.3g  %s\n", ours ? ours->max_abs : NAN, passed ? "pass" : "FAIL");
        pt2_strbuf_printf(json, ", \"passed\": %s}", passed ? "true" : "false");
        if (!passed) (*failed)++;
    }
    if (list->count != result->num_layer_references) *failed = result->num_layer_references;
    pt2_strbuf_printf(text, "  %zu of %zu layers pass\n", result->num_layer_references - *failed, result->num_layer_references);
    pt2_strbuf_puts(json, list->count ? "\n  ]" : "]");
    if (text->failed || json->failed) return pt2_fail(err, PT2_ERR_MEMORY, "out of memory writing the layer table");
    return PT2_OK;
}

/* Every output against the expected one (each output's figures go to its record); a shape
 * mismatch is named, not a number. */
static pt2_status outputs_step(pt2_arena *arena, const pt2_tensor *ours, const pt2_tensor *expected,
                               pt2_convert_result *result, const char *what, pt2_step_record *step, pt2_error *err) {
    const char *mismatch;
    pt2_status st = pt2_output_records_compare(arena, result->outputs, result->num_outputs, ours, expected, step->name,
                                               "RETURNN", "the expected output", result->atol, result->rtol, step,
                                               &mismatch, err);
    if (st) return st;
    step->what = what;
    if (mismatch && !(step->what = pt2_arena_printf(arena, err, "%s: %s", what, mismatch))) return err->status;
    return PT2_OK;
}

pt2_status pt2_cli_check_in_returnn(pt2_arena *arena, const char *python, const char *out_dir, const char *as_layer,
                                    pt2_convert_result *result, pt2_error *err) {
    char dir[] = "/tmp/pt2returnn-returnn-XXXXXX";
    if (!mkdtemp(dir)) return pt2_fail(err, PT2_ERR_IO, "cannot make a temporary directory: %s", strerror(errno));
    char script[80], input[80], jobs[80], layers[80], padded_input[80], lengths[80];
    char output[2][80], padded_output[2][80], layer_results[2][80];
    snprintf(script, sizeof script, "%s/run_in_returnn.py", dir);
    snprintf(input, sizeof input, "%s/input.npy", dir);
    snprintf(jobs, sizeof jobs, "%s/jobs.json", dir);
    snprintf(layers, sizeof layers, "%s/layers.json", dir);
    snprintf(padded_input, sizeof padded_input, "%s/padded_input.npy", dir);
    snprintf(lengths, sizeof lengths, "%s/lengths.npy", dir);
    pt2_padded_batch *batch = (pt2_padded_batch *)result->padded_batch;
    int with_layers = result->layer_references != NULL;
    pt2_strbuf text, command;
    pt2_strbuf_init(&text);
    pt2_strbuf_init(&command);
    pt2_tensor input_copy;
    pt2_status st = pt2_tensor_contiguous(arena, &result->input, 0, &input_copy, err);
    if (!st) st = write_all(script, pt2_returnn_runner_script, pt2_returnn_runner_script_length, err);
    if (!st) st = write_npy(arena, input, &input_copy, err);
    if (!st && with_layers) st = write_layer_manifest(arena, dir, result, as_layer, layers, err);
    if (!st && batch) {
        pt2_tensor entry_lengths = {.dtype = PT2_DTYPE_INT64, .rank = 1, .shape = {batch->input.shape[0]}, .strides = {1},
                                    .storage = batch->entry_lengths,
                                    .storage_bytes = sizeof(int64_t) * (size_t)batch->input.shape[0]};
        st = write_npy(arena, padded_input, &batch->input, err);
        if (!st) st = write_npy(arena, lengths, &entry_lengths, err);
    }
    pt2_strbuf_putc(&text, '[');
    for (int i = 0; i < 2; i++) {
        snprintf(output[i], sizeof output[i], "%s/output_%s.npy", dir, forms[i]);
        snprintf(padded_output[i], sizeof padded_output[i], "%s/padded_%s.npy", dir, forms[i]);
        snprintf(layer_results[i], sizeof layer_results[i], "%s/layers_%s.json", dir, forms[i]);
        job(&text, out_dir, input, output[i], forms[i], NULL, with_layers ? layers : NULL, layer_results[i]);
        if (batch) job(&text, out_dir, padded_input, padded_output[i], forms[i], lengths, NULL, NULL);
    }
    pt2_strbuf_puts(&text, "]\n");
    if (!st) st = write_all(jobs, text.data, text.length, err);
    quote(&command, python);
    pt2_strbuf_putc(&command, ' ');
    quote(&command, script);
    pt2_strbuf_puts(&command, " --jobs ");
    quote(&command, jobs);
    pt2_strbuf_puts(&command, " >/dev/null 2>&1");
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    if (!st) {
        fprintf(stderr, "[returnn] loading the configs in RETURNN with %s\n", python);
        int code = system(command.data);
        if (code == -1 || !WIFEXITED(code) || WEXITSTATUS(code) != 0) {
            pt2_error_set_file(err, python);
            st = pt2_fail(err, PT2_ERR_INPUT, "the Python could not run the RETURNN check (is RETURNN with TensorFlow installed for it?)");
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    double seconds = (double)(end.tv_sec - start.tv_sec) + (end.tv_nsec - start.tv_nsec) * 1e-9;
    pt2_strbuf tables, tables_json;
    pt2_strbuf_init(&tables);
    pt2_strbuf_init(&tables_json);
    pt2_strbuf_putc(&tables_json, '{');
    pt2_step_record steps[4];
    size_t num_steps = 0;
    size_t num_results = result->num_outputs;
    pt2_tensor *expected = pt2_arena_alloc_array(arena, num_results + 1, sizeof *expected, err);
    pt2_tensor *ours = pt2_arena_alloc_array(arena, num_results + 1, sizeof *ours, err);
    if (!expected || !ours) st = err->status;
    /* Against PyTorch's own outputs when they were given, else the reference run's. */
    for (size_t k = 0; k < num_results && !st; k++)
        expected[k] = result->outputs[k].has_pytorch ? result->outputs[k].pytorch : result->outputs[k].reference;
    for (int i = 0; i < 2 && !st; i++) {
        static const char *const what[2][2] = {
            {"returnn.config.py + checkpoint run in real RETURNN, against the reference run",
             "returnn.config.py + checkpoint run in real RETURNN, against PyTorch's outputs"},
            {"returnn.config.json + checkpoint run in real RETURNN, against the reference run",
             "returnn.config.json + checkpoint run in real RETURNN, against PyTorch's outputs"}};
        pt2_step_record step = {i ? "returnn-json" : "returnn-py", what[i][result->has_pytorch_output], seconds / 2, 1, 0,
                                0, 0, 0};
        size_t failed_layers = 0;
        if (read_results(arena, output[i], num_results, ours)) {
            if ((st = outputs_step(arena, ours, expected, result, step.what, &step, err))) break;
            if (with_layers) {
                if (tables_json.length > 1) pt2_strbuf_puts(&tables_json, ",");
                pt2_strbuf_printf(&tables_json, "\n  \"%s\": ", forms[i]);
                if ((st = layer_table(arena, result, forms[i], layer_results[i], &tables, &tables_json, &failed_layers, err))) break;
                if (failed_layers) {
                    step.passed = 0;
                    step.what = pt2_arena_printf(arena, err, "%s; %zu of %zu layers differ from the reference run in RETURNN",
                                                 step.what, failed_layers, result->num_layer_references);
                    if (!step.what) return err->status;
                }
            }
        } else {
            step.what = i ? "returnn.config.json could not be run in RETURNN (see the Python error above)"
                          : "returnn.config.py could not be run in RETURNN (see the Python error above)";
            step.compared = 0;
        }
        steps[num_steps++] = step;
        if (!batch) continue;
        pt2_step_record padded = {i ? "returnn-json-padded" : "returnn-py-padded", NULL, 0, 1, 0, 0, 0, 0};
        pt2_padded_batch copy = *batch;
        copy.problem = NULL;
        if (read_results(arena, padded_output[i], num_results, ours)) {
            pt2_padded_batch_compare(arena, &copy, ours, result->atol, result->rtol, err);
            pt2_output_records_add_padded(result->outputs, num_results, &copy, padded.name);
            pt2_strbuf line;
            pt2_strbuf_init(&line);
            pt2_strbuf_printf(&line, "returnn.config.%s in real RETURNN on the padded batch (sequence lengths fed), each sequence "
                                     "within its length against the reference run of it alone; ", forms[i]);
            pt2_padded_batch_format(&copy, &line);
            padded.what = line.data ? pt2_arena_strdup(arena, line.data, err) : NULL;
            pt2_strbuf_free(&line);
            if (!padded.what) return err->status;
            padded.passed = copy.passed && !copy.problem;
            padded.max_abs = copy.max_abs;
            padded.max_rel = copy.max_rel;
            padded.worst_ratio = copy.worst_ratio;
            padded.compared = !copy.problem;
        } else {
            padded.what = "the padded batch could not be run in RETURNN (see the Python error above)";
            padded.compared = 0;
        }
        steps[num_steps++] = padded;
    }
    pt2_strbuf_puts(&tables_json, "\n  }");
    if (!st && with_layers && tables.data) {
        result->extra_layers_text = pt2_arena_strdup(arena, tables.data, err);
        result->extra_layers_json = pt2_arena_strdup(arena, tables_json.data, err);
        if (!result->extra_layers_text || !result->extra_layers_json) st = err->status;
    }
    for (size_t i = 0; i < num_steps && !st; i++) st = pt2_convert_add_step(result, &steps[i], err);
    /* Nothing of the check is left behind. */
    for (size_t i = 0; with_layers && i < result->num_layer_references; i++) {
        char npy[200];
        snprintf(npy, sizeof npy, "%s/layer%zu.npy", dir, i);
        remove(npy);
    }
    remove(script), remove(input), remove(jobs), remove(layers), remove(padded_input), remove(lengths);
    for (int i = 0; i < 2; i++) {
        const char *files[3] = {output[i], padded_output[i], layer_results[i]};
        for (int f = 0; f < 3; f++) {
            char error_file[300];
            snprintf(error_file, sizeof error_file, "%s.error", files[f]);
            remove(files[f]);
            remove(error_file);
        }
        for (size_t k = 1; k < result->num_outputs; k++) {
            char file[300];
            result_path(output[i], k, file, sizeof file);
            remove(file);
            result_path(padded_output[i], k, file, sizeof file);
            remove(file);
        }
    }
    rmdir(dir);
    pt2_strbuf_free(&text);
    pt2_strbuf_free(&command);
    pt2_strbuf_free(&tables);
    pt2_strbuf_free(&tables_json);
    return st;
}
