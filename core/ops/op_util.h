/* Small helpers shared by the op families of the reference run. */
#ifndef PT2_OPS_OP_UTIL_H
#define PT2_OPS_OP_UTIL_H

#include "../run/executor.h"

/* A float32 tensor argument, made contiguous. Other dtypes are refused, naming the argument. */
pt2_status pt2_op_float_tensor(pt2_run_context *ctx, const pt2_node *node, const char *name, pt2_tensor *out,
                               pt2_error *err);
/* Same for an optional argument; *present = 0 for None. */
pt2_status pt2_op_optional_float_tensor(pt2_run_context *ctx, const pt2_node *node, const char *name,
                                        pt2_tensor *out, int *present, pt2_error *err);
/* The "input", "weight" and optional "bias" arguments of conv and linear ops, as float32. */
pt2_status pt2_op_input_weight_bias(pt2_run_context *ctx, const pt2_node *node, pt2_tensor *input, pt2_tensor *weight,
                                    pt2_tensor *bias, int *has_bias, pt2_error *err);
/* PyTorch's dim wrapping: -1 is the last axis. Fails outside [-rank, rank). */
pt2_status pt2_op_wrap_dim(int64_t dim, int rank, int *out, pt2_error *err);
/* cat of `count` tensors along `dim`, as aten.cat (dtypes promoted, 1-D empty tensors skipped);
 * core/ops/shape.c, used by diff too. */
pt2_status pt2_op_cat(pt2_arena *arena, const pt2_tensor *list, size_t count, int64_t dim, pt2_tensor *out, pt2_error *err);
/* A new contiguous float32 tensor of the given shape in the run's arena. */
pt2_status pt2_op_new_float(pt2_run_context *ctx, int rank, const int64_t *shape, pt2_tensor *out, pt2_error *err);

static inline float *pt2_f32(const pt2_tensor *t) { return (float *)pt2_tensor_data(t); }

#endif
