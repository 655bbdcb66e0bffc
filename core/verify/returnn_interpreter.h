/* A C interpreter of the RETURNN layers pt2returnn emits, doing the arithmetic RETURNN's
 * TensorFlow backend does (TF's layouts and padding rules), independently of the PyTorch-
 * semantics kernels: running a layer here on PyTorch's own inputs checks the lowering. */
#ifndef PT2_VERIFY_RETURNN_INTERPRETER_H
#define PT2_VERIFY_RETURNN_INTERPRETER_H

#include "../lower/returnn_net.h"

/* A tensor with the net dim of each of its axes (any axis order). */
typedef struct pt2_rt_tensor {
    pt2_tensor tensor;
    int dims[PT2_MAX_RANK];
} pt2_rt_tensor;

/* Runs one layer on its (single) input. The output's axes come in RETURNN's own order
 * (e.g. [batch, time, feature] for conv); its dims are the layer's output dims. */
pt2_status pt2_rt_interpret_layer(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                  const pt2_rt_tensor *input, pt2_rt_tensor *out, pt2_error *err);

/* Puts a tensor's axes into the order of `dims` (each dim must be one of the tensor's). */
pt2_status pt2_rt_transpose_to(pt2_arena *arena, const pt2_rt_tensor *in, int rank, const int *dims, pt2_tensor *out,
                               pt2_error *err);

#endif
