/* One line per output of a run for people who did not ask for a file: what came out (name,
 * dtype, shape) and whether it looks sane (min, max, mean; NaN and inf counted). The native CLI
 * and the WASM build (npm CLI) print the same lines. */
#ifndef PT2_INSPECT_OUTPUT_SUMMARY_H
#define PT2_INSPECT_OUTPUT_SUMMARY_H

#include "../base/arena.h"
#include "../base/error.h"
#include "../base/strbuf.h"
#include "../base/tensor.h"

/* "output 'conv_1': float32 [1, 4, 100]  min -0.52  max 0.71  mean 0.0132\n" */
pt2_status pt2_output_summary(pt2_arena *scratch, const char *name, const pt2_tensor *tensor, pt2_strbuf *out,
                              pt2_error *err);

#endif
