/* For the real-RETURNN check (step 7) of every layer: the reference run's value of each
 * checked layer's op, in PyTorch's axis order, with what each axis is in RETURNN (the batch, a
 * dynamic dim, a static dim of a size, the feature dim), so that RETURNN's output can be put in
 * PyTorch's order by its dim tags. */
#ifndef PT2_VERIFY_LAYER_REFERENCES_H
#define PT2_VERIFY_LAYER_REFERENCES_H

#include "../lower/lower.h"

typedef struct pt2_layer_axis {
    pt2_rt_dim_kind kind;
    int64_t size; /* static dims */
    int is_feature;
    /* The dim tag's description in RETURNN (the net's dim description, which the emitted config's
     * "stag:" options match): tells apart two axes of one kind, as the queries' and the keys'
     * time of attention scores. */
    const char *name;
} pt2_layer_axis;

typedef struct pt2_layer_reference {
    const char *layer, *layer_class;
    pt2_tensor value; /* contiguous copy, PyTorch's axis order */
    pt2_layer_axis axes[PT2_MAX_RANK];
} pt2_layer_reference;

/* One checked layer's reference: a copy of its value (the run releases its own later). */
pt2_status pt2_layer_reference_of(pt2_arena *arena, const pt2_lower_context *lowered, const pt2_rt_layer *layer,
                                  pt2_layer_reference *out, pt2_error *err);

#endif
