#include "lowerings.h"

#include <string.h>

extern const pt2_op_lowering pt2_lowerings_elementwise[];
extern const pt2_op_lowering pt2_lowerings_conv[];
extern const pt2_op_lowering pt2_lowerings_norm[];
extern const pt2_op_lowering pt2_lowerings_pad[];
extern const pt2_op_lowering pt2_lowerings_symbolic[];
extern const pt2_op_lowering pt2_lowerings_pool[];
extern const pt2_op_lowering pt2_lowerings_recurrent[];

/* Each group lists its ops once; a new group is added here. Where two groups list the same
 * target, the earlier group wins. */
static const pt2_op_lowering *const lowering_groups[] = {pt2_lowerings_elementwise, pt2_lowerings_conv,
                                                         pt2_lowerings_norm, pt2_lowerings_pad,
                                                         pt2_lowerings_symbolic, pt2_lowerings_pool,
                                                         pt2_lowerings_recurrent};

extern const pt2_module_lowering pt2_module_lowerings_attention[];

const pt2_module_lowering *pt2_find_module_lowering(const char *type) {
    for (const pt2_module_lowering *m = pt2_module_lowerings_attention; m->type; m++)
        if (!strcmp(m->type, type)) return m;
    return NULL;
}

const pt2_op_lowering *pt2_op_find_lowering(const char *target) {
    for (size_t f = 0; f < sizeof lowering_groups / sizeof lowering_groups[0]; f++)
        for (const pt2_op_lowering *op = lowering_groups[f]; op->target; op++)
            if (!strcmp(op->target, target)) return op;
    return NULL;
}

void pt2_for_each_lowering(void (*visit)(const char *target, void *user), void *user) {
    for (size_t f = 0; f < sizeof lowering_groups / sizeof lowering_groups[0]; f++)
        for (const pt2_op_lowering *op = lowering_groups[f]; op->target; op++) visit(op->target, user);
}
