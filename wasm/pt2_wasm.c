/* WebAssembly entry points, shared by the npm package (node/) and the browser page (web/).
 * JS copies file bytes into the module's heap, calls an entry point, then reads the result
 * text (or the one-line error) back. The last result stays valid until the next call. */
#include <emscripten/emscripten.h>
#include <stdint.h>
#include <string.h>

#include "../core/base/strbuf.h"
#include "../core/inspect/inspect.h"
#include "../core/ops/kernels.h"
#include "pt2_wasm.h"

static pt2_strbuf last_result;
static char last_error[4096];

int pt2_wasm_finish(pt2_status st, const pt2_error *err) {
    last_error[0] = 0;
    if (st) pt2_error_format(err, last_error, sizeof last_error);
    return (int)st;
}

EMSCRIPTEN_KEEPALIVE int pt2_wasm_version(void) { return 1; }

/* wasm/pt2.mjs: 1 where the engine validates relaxed SIMD and the fused kernels are wanted. */
EMSCRIPTEN_KEEPALIVE void pt2_wasm_set_fused(int allowed) { pt2_kernels_set_fused(allowed); }

static int threads = 1;

/* wasm/pt2.mjs, in the threads build only, once it has started threads - 1 workers. */
EMSCRIPTEN_KEEPALIVE void pt2_wasm_set_threads(int count) { threads = count > 1 ? count : 1; }

int pt2_wasm_threads(void) { return threads; }

pt2_model_source pt2_wasm_model_source(const uint8_t *model, size_t model_length, const char *model_name,
                                       const uint8_t *checkpoint, size_t checkpoint_length,
                                       const char *checkpoint_name, const char *checkpoint_key) {
    pt2_model_source source = {0};
    source.model_bytes = model;
    source.model_length = model_length;
    source.model_name = model_name;
    if (checkpoint && checkpoint_length) {
        source.checkpoint_bytes = checkpoint;
        source.checkpoint_length = checkpoint_length;
        source.checkpoint_name = checkpoint_name;
        source.checkpoint_key = checkpoint_key && checkpoint_key[0] ? checkpoint_key : NULL;
    }
    return source;
}

/* Returns a pt2_status; the text is in pt2_wasm_result(), the error in pt2_wasm_error(). */
EMSCRIPTEN_KEEPALIVE int pt2_wasm_inspect(const uint8_t *bytes, size_t length, const char *file_name, int json,
                                          const char *checkpoint_key) {
    pt2_strbuf_free(&last_result);
    pt2_arena arena;
    pt2_arena_init(&arena, 0);
    pt2_error err;
    pt2_error_clear(&err);
    pt2_inspect_options options = {json, (checkpoint_key && checkpoint_key[0]) ? checkpoint_key : NULL};
    pt2_status st = pt2_inspect(&arena, bytes, length, file_name, &options, &last_result, &err);
    if (st) pt2_error_set_file(&err, file_name);
    pt2_arena_free(&arena);
    return pt2_wasm_finish(st, &err);
}

EMSCRIPTEN_KEEPALIVE const char *pt2_wasm_result(void) { return last_result.data ? last_result.data : ""; }
EMSCRIPTEN_KEEPALIVE size_t pt2_wasm_result_length(void) { return last_result.length; }
EMSCRIPTEN_KEEPALIVE const char *pt2_wasm_error(void) { return last_error; }
