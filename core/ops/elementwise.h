/* Dtype rules and elementwise building blocks shared by the op families of the reference run
 * (elementwise.c implements them; shape, creation, reduction and activation ops reuse them). */
#ifndef PT2_OPS_ELEMENTWISE_H
#define PT2_OPS_ELEMENTWISE_H

#include "../run/executor.h"

/* torch.promote_types for the dtypes we model (bool < integers < floating). */
pt2_dtype pt2_promote_types(pt2_dtype a, pt2_dtype b);
int pt2_dtype_is_integral(pt2_dtype dtype); /* integers, not bool */

/* PyTorch's result_type over operands of three priorities: tensors with dimensions, 0-d tensors,
 * and Python numbers ("wrapped"): a float number only lifts an integer tensor to float32. */
typedef struct pt2_result_type_state {
    pt2_dtype dim_result, zero_dim_result, wrapped_result; /* INVALID until an operand is seen */
} pt2_result_type_state;
void pt2_result_type_add_tensor(pt2_result_type_state *state, const pt2_tensor *t);
/* kind: 0 bool, 1 integer, 2 floating */
void pt2_result_type_add_number(pt2_result_type_state *state, int kind);
pt2_dtype pt2_result_type(const pt2_result_type_state *state);

/* A contiguous copy converted to `dtype` (`in` itself when the dtype already matches and it is
 * contiguous). Float to integer truncates toward zero; NaN and out-of-range become INT64_MIN
 * before narrowing, like x86. */
pt2_status pt2_tensor_cast(pt2_arena *arena, const pt2_tensor *in, pt2_dtype dtype, pt2_tensor *out, pt2_error *err);
/* A 0-d tensor holding `value` (integers and bool converted from the double). */
pt2_status pt2_scalar_to_tensor(pt2_arena *arena, pt2_dtype dtype, double value, pt2_tensor *out, pt2_error *err);
/* Fills a contiguous tensor with one value. */
void pt2_tensor_fill(pt2_tensor *t, double value);
/* Element i of a contiguous tensor as a double / int64. */
double pt2_tensor_get_double(const pt2_tensor *t, int64_t i);
int64_t pt2_tensor_get_int(const pt2_tensor *t, int64_t i);

/* Broadcast shape of two shapes, right-aligned as in PyTorch. */
pt2_status pt2_broadcast_shapes(int rank_a, const int64_t *a, int rank_b, const int64_t *b, int *rank, int64_t *shape,
                                pt2_error *err);
/* A view of `t` at the (broadcast-compatible) shape, with stride 0 on broadcast axes. */
void pt2_broadcast_view(const pt2_tensor *t, int rank, const int64_t *shape, pt2_tensor *out);

#endif
