/* The 1-D convolution arguments as the run reads them, for the lowering to reuse. */
#ifndef PT2_OPS_CONV_PARAMS_H
#define PT2_OPS_CONV_PARAMS_H

#include "../run/executor.h"

typedef struct pt2_conv_params_1d {
    int64_t stride, dilation, groups, pad_left, pad_right, output_padding;
} pt2_conv_params_1d;

pt2_status pt2_conv_read_params_1d(pt2_run_context *ctx, const pt2_node *node, int64_t kernel, int transposed,
                                   pt2_conv_params_1d *out, pt2_error *err);

#endif
