/* XNNPACK for the reference run's heavy ops in the native build. Each call returns
 * *handled = 0 when XNNPACK is not compiled in (the WASM build), is switched off
 * (options.portable_only) or cannot take the case; the caller then runs the portable kernel.
 * Layouts are PyTorch's (channels first); the backend converts to XNNPACK's channels last.
 * Operators (with their packed weights) are kept per graph node across runs, so a benchmark's
 * or a server's repeated forward does not repack the weights; a kept operator is reused only
 * when its node, geometry and weight bytes are unchanged. */
#ifndef PT2_OPS_BACKEND_XNNPACK_H
#define PT2_OPS_BACKEND_XNNPACK_H

#include <stdint.h>

#include "../run/executor.h"
#include "kernels.h"

/* Convolution (transposed = 0: weight [out, in/groups, kh, kw]) or transposed convolution
 * (transposed = 1: weight [in, out/groups, kh, kw]; pad_* crop the full output and
 * adjust_h/adjust_w are PyTorch's output_padding). pad_bottom/pad_right: the far-side padding
 * of a convolution (differs from pad_top/pad_left for padding="same" with an even kernel). */
pt2_status pt2_xnn_convolution(pt2_run_context *ctx, const pt2_node *node, const pt2_conv_geometry *g,
                               int64_t pad_bottom, int64_t pad_right, int transposed, int64_t adjust_h,
                               int64_t adjust_w, const float *x, const float *weight, const float *bias, float *out,
                               int *handled, pt2_error *err);

/* Deletes every kept operator and buffer (e.g. before the graph they belong to is freed). */
void pt2_xnn_release(void);

#endif
