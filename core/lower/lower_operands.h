/* Operands of the math and comparison lowerings (lower_math.c, lower_compare.c): an argument is
 * a layer (it depends on the input), a number (a Python scalar, or a constant tensor of one
 * element), or a constant tensor that becomes a `variable` layer broadcasting against the other
 * operand; and the small layers those lowerings chain. */
#ifndef PT2_LOWER_LOWER_OPERANDS_H
#define PT2_LOWER_LOWER_OPERANDS_H

#include "lower.h"

typedef struct pt2_operand {
    const pt2_lowered_value *layer; /* NULL for a number or a constant tensor not yet placed */
    int is_number;
    double number;
    pt2_tensor constant; /* a constant tensor of several elements (layer NULL until placed) */
    int is_constant;
    pt2_lowered_value placed; /* the constant's variable layer */
} pt2_operand;

/* Reads argument `name` (a tensor or a Scalar); constants of several elements are kept for
 * pt2_lower_place_operands. */
pt2_status pt2_lower_operand(pt2_lower_context *ctx, const pt2_node *node, const char *name, pt2_operand *out,
                             pt2_error *err);
/* The data a constant combines with, as RETURNN's combine matches their dims (a static dim of one
 * size that is the feature dim of both): for a constant along one axis (a per-channel vector, the
 * inverse frequencies of rotary angles), the data with that axis as its feature (a reinterpret_data
 * in `storage` when it is not), else the data itself. */
pt2_status pt2_lower_data_meeting_constant(pt2_lower_context *ctx, const pt2_node *node, const pt2_tensor *constant,
                                           const pt2_lowered_value *data, pt2_lowered_value *storage,
                                           const pt2_lowered_value **out, pt2_error *err);
/* Gives constant tensor operands their variable layers, broadcasting against the layer operand. */
pt2_status pt2_lower_place_operands(pt2_lower_context *ctx, const pt2_node *node, pt2_operand *a, pt2_operand *b,
                                    pt2_error *err);

/* `source`'s sparse indices (token ids, an argmax's) as plain integers (a reinterpret_data named
 * `name` with set_sparse False: RETURNN drops the sparse dim only), so that they compute as any
 * integer tensor: arithmetic and comparisons take dense data only. */
pt2_status pt2_lower_dense(pt2_lower_context *ctx, const pt2_node *node, const char *name,
                           const pt2_lowered_value *source, pt2_lowered_value *dense, pt2_error *err);

/* Operand `i` of the node cast to `dtype` (a cast layer named after `base`, or the node, with the
 * operand's index and the dtype), where PyTorch computes in another dtype than the operand has
 * and RETURNN takes one: an int64 arange added to or compared with float32 features (combine,
 * compare), or times 0.5 (an eval, which TF does not run on an integer tensor with a float). */
pt2_status pt2_lower_cast_operand(pt2_lower_context *ctx, const pt2_node *node, const char *base, size_t i,
                                  pt2_dtype dtype, const pt2_lowered_value *source, pt2_lowered_value *cast,
                                  pt2_error *err);

/* The layers pt2_lower_begin_broadcast may add before the op's own besides a cast (which each
 * lowering lists as its own): an outer op's copy of the time and grid (dot, expand_dims,
 * merge_dims, eval:fill_like), a size-1 dim dropped (squeeze) and an axis made the feature where
 * static dims of one size meet (reinterpret_data); with a space first, to follow an entry's own
 * list. */
#define PT2_BROADCAST_EMITS " dot expand_dims merge_dims eval:fill_like squeeze reinterpret_data"

/* A layer of `layer_class` over the layer values `sources`, broadcast by dims in PyTorch's way.
 * When `final`, it is the node's output; else a helper layer named `base`, whose value goes to
 * *out. Begin adds the sources (giving them one time dim tag where needed; a combine's or
 * compare's sources of another dtype than they meet in, PyTorch's promotion, a cast first), the caller sets the
 * options, finish infers the layer and records its output. */
typedef struct pt2_broadcast_layer {
    pt2_rt_layer *layer;
    int final;
    size_t count;
    const pt2_lowered_value *sources[PT2_RT_MAX_FROM];
    pt2_lowered_value same_length[PT2_RT_MAX_FROM];
    pt2_lowered_value cast[PT2_RT_MAX_FROM]; /* a combine's or compare's source in the dtype they meet in */
    pt2_lowered_value dense[PT2_RT_MAX_FROM]; /* token ids (sparse data) as plain integers */
    pt2_lowered_value outer[PT2_RT_MAX_FROM]; /* an outer op over one time dim: a copy and a grid */
    pt2_lowered_value squeezed[PT2_RT_MAX_FROM]; /* without the size-1 dims PyTorch broadcasts */
    pt2_lowered_value featured[PT2_RT_MAX_FROM]; /* an axis made the feature, to meet another's feature */
    pt2_lowered_value keyed[PT2_RT_MAX_FROM]; /* a time declared the keys' copy of it, to meet that copy */
} pt2_broadcast_layer;
pt2_status pt2_lower_begin_broadcast(pt2_lower_context *ctx, const pt2_node *node, int final, const char *base,
                                     const char *layer_class, const pt2_lowered_value *const *sources, size_t count,
                                     pt2_broadcast_layer *out, pt2_error *err);
pt2_status pt2_lower_finish_broadcast(pt2_lower_context *ctx, const pt2_node *node, pt2_broadcast_layer *b,
                                      pt2_lowered_value *out, pt2_error *err);
/* Both steps, with one string option key = value (none when key is NULL). */
pt2_status pt2_lower_broadcast_layer(pt2_lower_context *ctx, const pt2_node *node, int final, const char *base,
                                     const char *layer_class, const char *key, const char *value,
                                     const pt2_lowered_value *const *sources, size_t count, pt2_lowered_value *out,
                                     pt2_error *err);
/* A one-source layer that keeps its source's dims: an activation (`value` its name) or one of the
 * eval forms (`value` the form, `number` filling its hole); final / base as above. */
pt2_status pt2_lower_unary_layer(pt2_lower_context *ctx, const pt2_node *node, int final, const char *base,
                                 const char *layer_class, const char *value, double number,
                                 const pt2_lowered_value *in, pt2_lowered_value *out, pt2_error *err);

#endif
