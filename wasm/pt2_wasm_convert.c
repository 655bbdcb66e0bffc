/* WebAssembly entry point of the whole conversion (core/pipeline/convert.h), for the browser
 * page's worker and the npm package. JS copies the file bytes into the heap, calls
 * pt2_wasm_convert, reads each output with pt2_wasm_convert_output(i) / _length(i), the error
 * line with pt2_wasm_error(), and hears about each step through Module.pt2Progress(step, message)
 * while the conversion runs. The outputs stay valid until the next call. */
#include <emscripten/emscripten.h>
#include <stdint.h>
#include <string.h>

#include "../core/base/npy.h"
#include "../core/load/reference_output.h"
#include "../core/pipeline/convert.h"
#include "pt2_wasm.h"


EM_JS(void, pt2_wasm_report_progress, (const char *step, const char *message), {
    if (Module.pt2Progress) Module.pt2Progress(UTF8ToString(step), UTF8ToString(message));
});

static void progress(void *user, const char *step, const char *message) {
    (void)user;
    pt2_wasm_report_progress(step, message);
}

static pt2_convert_result last;
static int last_valid;
static char last_failed_step[64];

enum { OUTPUT_CONFIG_PY, OUTPUT_CONFIG_JSON, OUTPUT_INDEX, OUTPUT_DATA, OUTPUT_REPORT_JSON, OUTPUT_REPORT_TEXT,
       OUTPUT_LAYER_PY, OUTPUT_LAYER_JSON, OUTPUT_COUNT };

static const pt2_strbuf *output(int which) {
    if (!last_valid) return NULL;
    const pt2_strbuf *all[OUTPUT_COUNT] = {&last.config_py,   &last.config_json, &last.checkpoint_index,
                                          &last.checkpoint_data, &last.report_json, &last.report_text,
                                          &last.layer_py,    &last.layer_json};
    return which >= 0 && which < OUTPUT_COUNT ? all[which] : NULL;
}

/* Returns a pt2_status (0 also when a check failed: see pt2_wasm_convert_failed_step). */
EMSCRIPTEN_KEEPALIVE int pt2_wasm_convert(const uint8_t *model, size_t model_length, const char *model_name,
                                          const uint8_t *checkpoint, size_t checkpoint_length,
                                          const char *checkpoint_name, const char *checkpoint_key,
                                          int allow_checkpoint_mismatch, double atol, double rtol, const char *as_layer,
                                          const uint8_t *input, size_t input_length, const char *input_name,
                                          const uint8_t *reference, size_t reference_length,
                                          const char *reference_name) {
    if (last_valid) pt2_convert_result_free(&last);
    last_valid = 0;
    last_failed_step[0] = 0;
    pt2_convert_result_init(&last);
    pt2_arena arena;
    pt2_arena_init(&arena, 0);
    pt2_error err;
    pt2_error_clear(&err);
    pt2_model_source source = pt2_wasm_model_source(model, model_length, model_name, checkpoint, checkpoint_length,
                                                     checkpoint_name, checkpoint_key);
    pt2_convert_options options;
    memset(&options, 0, sizeof options);
    options.atol = atol;
    options.rtol = rtol;
    options.run.num_threads = pt2_wasm_threads();
    options.as_layer = as_layer && as_layer[0] ? as_layer : NULL;
    options.progress = progress;
    options.allow_checkpoint_mismatch = allow_checkpoint_mismatch;
    if (!input_name || !input_name[0]) input_name = "input";
    if (!reference_name || !reference_name[0]) reference_name = "reference";
    pt2_tensor input_tensor, reference_tensors[16]; /* a torch.save'd tuple/list/dict: one per output */
    pt2_status st = PT2_OK;
    if (input && input_length && !(st = pt2_npy_read(&arena, input, input_length, input_name, &input_tensor, &err))) {
        options.inputs = &input_tensor;
        options.num_inputs = 1;
        options.input_names = &input_name;
    }
    if (!st && reference && reference_length &&
        !(st = pt2_load_reference_outputs(&arena, reference, reference_length, reference_name, reference_tensors, 16,
                                          &options.num_reference_outputs, &err))) {
        options.reference_outputs = reference_tensors;
        options.reference_name = reference_name;
    }
    if (!st) st = pt2_convert(&arena, &source, &options, &last, &err);
    if (!st) {
        last_valid = 1;
        if (last.failed_step) strncpy(last_failed_step, last.failed_step, sizeof last_failed_step - 1);
    } else {
        pt2_convert_result_free(&last);
    }
    pt2_arena_free(&arena); /* the outputs live in their own buffers */
    return pt2_wasm_finish(st, &err);
}

EMSCRIPTEN_KEEPALIVE const char *pt2_wasm_convert_output(int which) {
    const pt2_strbuf *b = output(which);
    return b && b->data ? b->data : "";
}

EMSCRIPTEN_KEEPALIVE size_t pt2_wasm_convert_output_length(int which) {
    const pt2_strbuf *b = output(which);
    return b ? b->length : 0;
}

EMSCRIPTEN_KEEPALIVE const char *pt2_wasm_convert_failed_step(void) { return last_failed_step; }
