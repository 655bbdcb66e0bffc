/* The 1-D and 2-D convolution arguments as the run reads them, for the lowering to reuse. */
#ifndef PT2_OPS_CONV_PARAMS_H
#define PT2_OPS_CONV_PARAMS_H

#include "../run/executor.h"

typedef struct pt2_conv_params_1d {
    int64_t stride, dilation, groups, pad_left, pad_right, output_padding;
} pt2_conv_params_1d;

pt2_status pt2_conv_read_params_1d(pt2_run_context *ctx, const pt2_node *node, int64_t kernel, int transposed,
                                   pt2_conv_params_1d *out, pt2_error *err);

/* The 2-D arguments per spatial axis (0 = height, 1 = width); `same` for padding="same". */
typedef struct pt2_conv_params_2d {
    int64_t stride[2], dilation[2], pad_before[2], pad_after[2], output_padding[2], groups;
    int same;
} pt2_conv_params_2d;

pt2_status pt2_conv_read_params_2d(pt2_run_context *ctx, const pt2_node *node, const int64_t *kernel, int transposed,
                                   pt2_conv_params_2d *out, pt2_error *err);

#endif
