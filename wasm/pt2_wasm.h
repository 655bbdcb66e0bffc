/* What the WebAssembly entry points (pt2_wasm*.c) share. */
#ifndef PT2_WASM_PT2_WASM_H
#define PT2_WASM_PT2_WASM_H

#include <stddef.h>
#include <stdint.h>

#include "../core/base/error.h"
#include "../core/load/load_model.h"

/* Keeps the one-line error of the last call for pt2_wasm_error(); returns the status. */
int pt2_wasm_finish(pt2_status st, const pt2_error *err);

/* The thread count the runs use (1 but in the threads build, see pt2_wasm_set_threads). */
int pt2_wasm_threads(void);

/* The model, and the checkpoint when one was passed (length > 0; an empty key means none). */
pt2_model_source pt2_wasm_model_source(const uint8_t *model, size_t model_length, const char *model_name,
                                       const uint8_t *checkpoint, size_t checkpoint_length,
                                       const char *checkpoint_name, const char *checkpoint_key);

#endif
