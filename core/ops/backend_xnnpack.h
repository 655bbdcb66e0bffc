/* XNNPACK for the reference run's heavy ops in the native build. Each call returns
 * *handled = 0 when XNNPACK is not compiled in (the WASM build) or cannot take the case,
 * and the caller then runs its portable loop. Layouts are PyTorch's (channels first). */
#ifndef PT2_OPS_BACKEND_XNNPACK_H
#define PT2_OPS_BACKEND_XNNPACK_H

#include <stdint.h>

#include "../run/executor.h"

typedef struct pt2_conv1d_shape {
    int64_t batch, in_channels, time, out_channels, kernel, out_time;
    int64_t stride, dilation, groups, pad_left, pad_right, output_padding;
} pt2_conv1d_shape;

/* x [batch, in, time], weight [out, in/groups, kernel] -> out [batch, out, out_time]. */
pt2_status pt2_xnn_conv1d(pt2_run_context *ctx, const pt2_conv1d_shape *s, const float *x, const float *weight,
                          const float *bias, float *out, int *handled, pt2_error *err);
/* x [batch, in, time], weight [in, out/groups, kernel] -> out [batch, out, out_time]. */
pt2_status pt2_xnn_conv_transpose1d(pt2_run_context *ctx, const pt2_conv1d_shape *s, const float *x,
                                    const float *weight, const float *bias, float *out, int *handled, pt2_error *err);

/* x [rows, in], weight [out, in] (PyTorch's nn.Linear layout) -> out [rows, out]. */
pt2_status pt2_xnn_linear(pt2_run_context *ctx, int64_t rows, int64_t in_features, int64_t out_features, const float *x,
                          const float *weight, const float *bias, float *out, int *handled, pt2_error *err);

#endif
