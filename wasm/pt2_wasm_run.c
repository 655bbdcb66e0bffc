/* WebAssembly entry point of the reference run (pt2returnn run): the model, an optional
 * checkpoint and .npy inputs in, each user output as .npy bytes out, and the mean forward time
 * of `repeat` further runs (for the benchmark of the WASM build). */
#include <emscripten/emscripten.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../core/base/npy.h"
#include "../core/base/strbuf.h"
#include "../core/inspect/output_summary.h"
#include "../core/load/load_model.h"
#include "../core/load/user_inputs.h"
#include "../core/run/executor.h"
#include "pt2_wasm.h"


#define MAX_OUTPUTS 16
#define MAX_INPUTS 16

static pt2_strbuf outputs[MAX_OUTPUTS];
static const char *output_names[MAX_OUTPUTS];
static char output_name_storage[MAX_OUTPUTS][128];
static size_t num_outputs;
static double forward_seconds, forward_seconds_best;
static pt2_strbuf summary; /* one line per output, as the native CLI prints without --output */
static pt2_strbuf notes;   /* the inputs that were cast, one line each */

/* emscripten_get_now: milliseconds at the browser's and Node's high resolution (timespec_get's
 * is too coarse for a small model's run). */
static double now_seconds(void) { return emscripten_get_now() / 1000.0; }

/* inputs: the .npy files one after another; input_lengths[i] their sizes; input_names their
 * file names, separated by newlines. forward_seconds: the one run's time, or with `repeat` the
 * mean of the further timed runs; forward_seconds_best the fastest of those (or the one run). */
EMSCRIPTEN_KEEPALIVE int pt2_wasm_run(const uint8_t *model, size_t model_length, const char *model_name,
                                      const uint8_t *checkpoint, size_t checkpoint_length, const char *checkpoint_name,
                                      const char *checkpoint_key, int allow_checkpoint_mismatch, const uint8_t *inputs,
                                      const uint32_t *input_lengths, const char *input_names, int num_inputs,
                                      int repeat) {
    for (size_t i = 0; i < num_outputs; i++) pt2_strbuf_free(&outputs[i]);
    pt2_strbuf_free(&summary);
    pt2_strbuf_free(&notes);
    num_outputs = 0;
    forward_seconds = forward_seconds_best = 0;
    pt2_arena arena;
    pt2_arena_init(&arena, 0);
    pt2_error err;
    pt2_error_clear(&err);
    pt2_model_source source = pt2_wasm_model_source(model, model_length, model_name, checkpoint, checkpoint_length,
                                                     checkpoint_name, checkpoint_key);
    pt2_graph graph;
    pt2_load_report report;
    pt2_tensor tensors[MAX_INPUTS];
    pt2_run_context run;
    pt2_run_options options = {pt2_wasm_threads(), 1};
    source.allow_checkpoint_mismatch = allow_checkpoint_mismatch;
    pt2_status st = pt2_load_model(&arena, &source, &graph, &report, &err);
    if (!st && num_inputs > MAX_INPUTS) st = pt2_fail(&err, PT2_ERR_INPUT, "at most %d inputs", MAX_INPUTS);
    const char *names[MAX_INPUTS] = {0};
    size_t offset = 0;
    const char *name = input_names ? input_names : "";
    for (int i = 0; !st && i < num_inputs; i++) {
        const char *end = strchr(name, '\n');
        size_t length = end ? (size_t)(end - name) : strlen(name);
        names[i] = pt2_arena_strndup(&arena, length ? name : "input", length ? length : 5, &err);
        if (!names[i]) st = err.status;
        name = end ? end + 1 : name + length;
        if (!st) st = pt2_npy_read(&arena, inputs + offset, input_lengths[i], names[i], &tensors[i], &err);
        offset += input_lengths[i];
    }
    if (!st) st = pt2_cast_user_inputs(&arena, &graph, tensors, (size_t)num_inputs, names, &notes, &err);
    const pt2_tensor *run_inputs = num_inputs ? tensors : graph.sample_inputs;
    size_t run_count = num_inputs ? (size_t)num_inputs : graph.num_sample_inputs;
    double first_start = now_seconds();
    if (!st) st = pt2_run_graph(&arena, &graph, run_inputs, run_count, &options, &run, &err);
    if (!st) forward_seconds = forward_seconds_best = now_seconds() - first_start;
    if (repeat > 0) forward_seconds = 0;
    /* Repeats in a scratch arena reset each time: memory of one run is reused by the next. Its
     * first run (r = -1) is not timed: it grows the memory the next ones reuse, as the native
     * CLI's `run --repeat` does. */
    pt2_arena scratch;
    pt2_arena_init(&scratch, 0);
    for (int r = repeat > 0 ? -1 : 0; !st && r < repeat; r++) {
        pt2_run_context again;
        pt2_arena_reset(&scratch);
        double start = now_seconds();
        st = pt2_run_graph(&scratch, &graph, run_inputs, run_count, &options, &again, &err);
        double seconds = now_seconds() - start;
        if (r >= 0) forward_seconds += seconds / repeat;
        if (r >= 0 && (r == 0 || seconds < forward_seconds_best)) forward_seconds_best = seconds;
    }
    pt2_arena_free(&scratch);
    for (size_t i = 0; !st && i < graph.num_outputs && num_outputs < MAX_OUTPUTS; i++) {
        if (graph.outputs[i].kind != PT2_OUTPUT_USER || graph.outputs[i].arg.kind != PT2_ARG_TENSOR) continue;
        pt2_tensor t;
        pt2_strbuf_init(&outputs[num_outputs]);
        const char *value_name = graph.values[graph.outputs[i].arg.value_id].name;
        snprintf(output_name_storage[num_outputs], sizeof output_name_storage[num_outputs], "%s", value_name);
        output_names[num_outputs] = output_name_storage[num_outputs];
        st = pt2_run_output(&run, num_outputs, &t, &err);
        if (!st) st = pt2_npy_write(&arena, &t, &outputs[num_outputs], &err);
        if (!st) st = pt2_output_summary(&arena, value_name, &t, &summary, &err);
        num_outputs++;
    }
    if (st) pt2_error_set_file(&err, model_name);
    if (st) pt2_strbuf_free(&summary);
    pt2_arena_free(&arena);
    return pt2_wasm_finish(st, &err);
}

EMSCRIPTEN_KEEPALIVE int pt2_wasm_run_output_count(void) { return (int)num_outputs; }
EMSCRIPTEN_KEEPALIVE const char *pt2_wasm_run_output(int i) {
    return i >= 0 && (size_t)i < num_outputs && outputs[i].data ? outputs[i].data : "";
}
EMSCRIPTEN_KEEPALIVE size_t pt2_wasm_run_output_length(int i) {
    return i >= 0 && (size_t)i < num_outputs ? outputs[i].length : 0;
}
EMSCRIPTEN_KEEPALIVE double pt2_wasm_run_forward_seconds(void) { return forward_seconds; }
EMSCRIPTEN_KEEPALIVE double pt2_wasm_run_forward_seconds_best(void) { return forward_seconds_best; }
EMSCRIPTEN_KEEPALIVE const char *pt2_wasm_run_output_name(int i) {
    return i >= 0 && (size_t)i < num_outputs ? output_names[i] : "";
}
EMSCRIPTEN_KEEPALIVE const char *pt2_wasm_run_summary(void) { return summary.data ? summary.data : ""; }
EMSCRIPTEN_KEEPALIVE const char *pt2_wasm_run_notes(void) { return notes.data ? notes.data : ""; }
