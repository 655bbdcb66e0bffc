/* WebAssembly entry point of the reference run (pt2returnn run): the model, an optional
 * checkpoint and .npy inputs in, each user output as .npy bytes out, and the mean forward time
 * of `repeat` further runs (for the benchmark of the WASM build). */
#include <emscripten/emscripten.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "../core/base/npy.h"
#include "../core/base/strbuf.h"
#include "../core/load/load_model.h"
#include "../core/run/executor.h"
#include "pt2_wasm.h"


#define MAX_OUTPUTS 16
#define MAX_INPUTS 16

static pt2_strbuf outputs[MAX_OUTPUTS];
static size_t num_outputs;
static double forward_seconds;

static double now_seconds(void) {
    struct timespec t;
    timespec_get(&t, TIME_UTC);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* inputs: the .npy files one after another; input_lengths[i] their sizes. */
EMSCRIPTEN_KEEPALIVE int pt2_wasm_run(const uint8_t *model, size_t model_length, const char *model_name,
                                      const uint8_t *checkpoint, size_t checkpoint_length, const char *checkpoint_name,
                                      const char *checkpoint_key, const uint8_t *inputs, const uint32_t *input_lengths,
                                      int num_inputs, int repeat) {
    for (size_t i = 0; i < num_outputs; i++) pt2_strbuf_free(&outputs[i]);
    num_outputs = 0;
    forward_seconds = 0;
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
    pt2_run_options options = {1, 1};
    pt2_status st = pt2_load_model(&arena, &source, &graph, &report, &err);
    if (!st && num_inputs > MAX_INPUTS) st = pt2_fail(&err, PT2_ERR_INPUT, "at most %d inputs", MAX_INPUTS);
    size_t offset = 0;
    for (int i = 0; !st && i < num_inputs; i++) {
        st = pt2_npy_read(&arena, inputs + offset, input_lengths[i], "input", &tensors[i], &err);
        offset += input_lengths[i];
    }
    const pt2_tensor *run_inputs = num_inputs ? tensors : graph.sample_inputs;
    size_t run_count = num_inputs ? (size_t)num_inputs : graph.num_sample_inputs;
    if (!st) st = pt2_run_graph(&arena, &graph, run_inputs, run_count, &options, &run, &err);
    /* Repeats in a scratch arena reset each time: memory of one run is reused by the next. */
    pt2_arena scratch;
    pt2_arena_init(&scratch, 0);
    for (int r = 0; !st && r < repeat; r++) {
        pt2_run_context again;
        pt2_arena_reset(&scratch);
        double start = now_seconds();
        st = pt2_run_graph(&scratch, &graph, run_inputs, run_count, &options, &again, &err);
        forward_seconds += (now_seconds() - start) / repeat;
    }
    pt2_arena_free(&scratch);
    for (size_t i = 0; !st && i < graph.num_outputs && num_outputs < MAX_OUTPUTS; i++) {
        if (graph.outputs[i].kind != PT2_OUTPUT_USER || graph.outputs[i].arg.kind != PT2_ARG_TENSOR) continue;
        pt2_tensor t;
        pt2_strbuf_init(&outputs[num_outputs]);
        st = pt2_run_output(&run, num_outputs, &t, &err);
        if (!st) st = pt2_npy_write(&arena, &t, &outputs[num_outputs], &err);
        num_outputs++;
    }
    if (st) pt2_error_set_file(&err, model_name);
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
