#include "lowerings.h"

#include <string.h>

extern const pt2_op_lowering pt2_lowerings_elementwise[];
extern const pt2_op_lowering pt2_lowerings_conv[];
extern const pt2_op_lowering pt2_lowerings_norm[];
extern const pt2_op_lowering pt2_lowerings_pad[];
extern const pt2_op_lowering pt2_lowerings_symbolic[];
extern const pt2_op_lowering pt2_lowerings_pool[];
extern const pt2_op_lowering pt2_lowerings_layout[];
extern const pt2_op_lowering pt2_lowerings_math[];
extern const pt2_op_lowering pt2_lowerings_compare[];
extern const pt2_op_lowering pt2_lowerings_recurrent[];
extern const pt2_op_lowering pt2_lowerings_pool2d[];
extern const pt2_op_lowering pt2_lowerings_norm_groups[];
extern const pt2_op_lowering pt2_lowerings_reduce[];
extern const pt2_op_lowering pt2_lowerings_cumsum[];
extern const pt2_op_lowering pt2_lowerings_window[];
extern const pt2_op_lowering pt2_lowerings_vector_norm[];
extern const pt2_op_lowering pt2_lowerings_sdpa[];
extern const pt2_op_lowering pt2_lowerings_concat[];
/* gather branch: flip, indexing, einsum, statistics */
extern const pt2_op_lowering pt2_lowerings_flip[];
extern const pt2_op_lowering pt2_lowerings_stats[];
extern const pt2_op_lowering pt2_lowerings_gather[];
extern const pt2_op_lowering pt2_lowerings_einsum[];
extern const pt2_op_lowering pt2_lowerings_creation[];
extern const pt2_op_lowering pt2_lowerings_resize[];
/* ops13 */
extern const pt2_op_lowering pt2_lowerings_baddbmm[];
extern const pt2_op_lowering pt2_lowerings_triangle[];

/* Each group lists its ops once; a new group is added here. Where two groups list the same
 * target, the earlier group wins (compare's casts, which also cast to another dtype, before
 * layout's same-dtype casts). */
static const pt2_op_lowering *const lowering_groups[] = {pt2_lowerings_reduce, pt2_lowerings_elementwise, pt2_lowerings_conv,
                                                         pt2_lowerings_norm, pt2_lowerings_pad,
                                                         pt2_lowerings_symbolic, pt2_lowerings_pool,
                                                         pt2_lowerings_compare, pt2_lowerings_layout,
                                                         pt2_lowerings_math, pt2_lowerings_pool2d,
                                                         pt2_lowerings_norm_groups, pt2_lowerings_cumsum, pt2_lowerings_window,
                                                         pt2_lowerings_vector_norm, pt2_lowerings_sdpa,
                                                         pt2_lowerings_recurrent,
                                                         pt2_lowerings_concat,
                                                         /* gather branch */
                                                         pt2_lowerings_flip, pt2_lowerings_stats, pt2_lowerings_gather,
                                                         pt2_lowerings_einsum,
                                                         pt2_lowerings_creation,
                                                         pt2_lowerings_resize,
                                                         /* ops13 */
                                                         pt2_lowerings_baddbmm, pt2_lowerings_triangle};

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

void pt2_for_each_lowering(void (*visit)(const pt2_op_lowering *lowering, void *user), void *user) {
    for (size_t f = 0; f < sizeof lowering_groups / sizeof lowering_groups[0]; f++)
        for (const pt2_op_lowering *op = lowering_groups[f]; op->target; op++) visit(op, user);
    for (const pt2_module_lowering *m = pt2_module_lowerings_attention; m->type; m++) {
        pt2_op_lowering as_op = {m->type, NULL, m->emits};
        visit(&as_op, user);
    }
}

int pt2_lowering_emits(const char *emits, const char *layer_class) {
    /* An eval layer is listed by its forms ("eval:<form>"). */
    if (!strcmp(layer_class, "eval")) return emits && strstr(emits, "eval:") != NULL;
    size_t n = strlen(layer_class);
    for (const char *p = emits ? emits : ""; *p;) {
        while (*p == ' ') p++;
        const char *end = p;
        while (*end && *end != ' ') end++;
        if ((size_t)(end - p) == n && !strncmp(p, layer_class, n)) return 1;
        p = end;
    }
    return 0;
}
