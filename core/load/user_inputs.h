/* User inputs as people save them: numpy's default dtype is float64 and np.arange gives int64,
 * while an export almost always takes float32. Such an input is cast to the export's dtype when
 * the cast loses nothing, or when it is float64 for float32 (numpy's default, obviously meant;
 * the largest change is reported), and a note says so. Any other dtype is left for the
 * executor's error. */
#ifndef PT2_LOAD_USER_INPUTS_H
#define PT2_LOAD_USER_INPUTS_H

#include <stddef.h>

#include "../base/arena.h"
#include "../base/error.h"
#include "../base/strbuf.h"
#include "../graph/graph.h"

/* inputs[i] is the i-th user input (signature order), names[i] its file name for messages (may
 * be NULL). Casts in place; appends one line per cast to `notes` ("input 'x' (x.npy): float64
 * cast to float32, lossless"). Fails naming the file when a value does not fit. */
pt2_status pt2_cast_user_inputs(pt2_arena *arena, const pt2_graph *graph, pt2_tensor *inputs, size_t count,
                                const char *const *names, pt2_strbuf *notes, pt2_error *err);

#endif
