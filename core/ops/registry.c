#include "registry.h"

#include <string.h>

extern const pt2_op_def pt2_ops_elementwise[];
extern const pt2_op_def pt2_ops_shape[];
extern const pt2_op_def pt2_ops_conv[];
extern const pt2_op_def pt2_ops_linear[];
extern const pt2_op_def pt2_ops_norm[];
extern const pt2_op_def pt2_ops_pad[];
extern const pt2_op_def pt2_ops_attention[];

/* Each op family lists its ops once; a new family is added here. */
static const pt2_op_def *const families[] = {pt2_ops_elementwise, pt2_ops_shape, pt2_ops_conv,     pt2_ops_linear,
                                              pt2_ops_norm,        pt2_ops_pad,   pt2_ops_attention};

const pt2_op_def *pt2_op_find(const char *target) {
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        for (const pt2_op_def *op = families[f]; op->target; op++)
            if (!strcmp(op->target, target)) return op;
    return NULL;
}

extern const pt2_op_lowering pt2_lowerings_elementwise[];
extern const pt2_op_lowering pt2_lowerings_conv[];

static const pt2_op_lowering *const lowering_families[] = {pt2_lowerings_elementwise, pt2_lowerings_conv};

const pt2_op_lowering *pt2_op_find_lowering(const char *target) {
    for (size_t f = 0; f < sizeof lowering_families / sizeof lowering_families[0]; f++)
        for (const pt2_op_lowering *op = lowering_families[f]; op->target; op++)
            if (!strcmp(op->target, target)) return op;
    return NULL;
}
