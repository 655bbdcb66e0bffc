#include "registry.h"

#include <stdlib.h>
#include <string.h>

extern const pt2_op_def pt2_ops_elementwise[];
extern const pt2_op_def pt2_ops_shape[];
extern const pt2_op_def pt2_ops_conv[];
extern const pt2_op_def pt2_ops_linear[];
extern const pt2_op_def pt2_ops_norm[];
extern const pt2_op_def pt2_ops_pad[];
extern const pt2_op_def pt2_ops_attention[];
extern const pt2_op_def pt2_ops_activation[];
extern const pt2_op_def pt2_ops_reduction[];
extern const pt2_op_def pt2_ops_creation[];
extern const pt2_op_def pt2_ops_symbolic[];
extern const pt2_op_def pt2_ops_pool[];
extern const pt2_op_def pt2_ops_recurrent[];
extern const pt2_op_def pt2_ops_similarity[];
extern const pt2_op_def pt2_ops_routed_pool[];
extern const pt2_op_def pt2_ops_einsum[]; /* gather branch */

/* Each op family lists its ops once; a new family is added here. */
static const pt2_op_def *const families[] = {
    pt2_ops_elementwise, pt2_ops_activation, pt2_ops_shape,  pt2_ops_reduction, pt2_ops_creation, pt2_ops_symbolic,
    pt2_ops_pad,         pt2_ops_conv,       pt2_ops_linear, pt2_ops_norm,      pt2_ops_attention, pt2_ops_pool,
    pt2_ops_recurrent,   pt2_ops_similarity, pt2_ops_routed_pool,
    /* gather branch */
    pt2_ops_einsum};

/* Lookups run twice per node per run, so the targets are sorted once and searched by halves.
 * Where two families list the same target, the earlier family wins, as in a linear search. */
#define MAX_INDEXED_OPS 4096

typedef struct indexed_op {
    const pt2_op_def *def;
    size_t order;
} indexed_op;

static indexed_op op_index[MAX_INDEXED_OPS];
static size_t op_index_count;
static int op_index_state; /* 0 not built, 1 built, -1 too many ops: search linearly */

static int compare_indexed(const void *a, const void *b) {
    const indexed_op *x = a, *y = b;
    int c = strcmp(x->def->target, y->def->target);
    return c ? c : (x->order < y->order ? -1 : x->order > y->order);
}

static void build_op_index(void) {
    size_t n = 0;
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        for (const pt2_op_def *op = families[f]; op->target; op++) {
            if (n == MAX_INDEXED_OPS) {
                op_index_state = -1;
                return;
            }
            op_index[n].def = op;
            op_index[n].order = n;
            n++;
        }
    qsort(op_index, n, sizeof op_index[0], compare_indexed);
    op_index_count = n;
    op_index_state = 1;
}

const pt2_op_def *pt2_op_find(const char *target) {
    if (!op_index_state) build_op_index();
    if (op_index_state < 0) {
        for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
            for (const pt2_op_def *op = families[f]; op->target; op++)
                if (!strcmp(op->target, target)) return op;
        return NULL;
    }
    size_t lo = 0, hi = op_index_count; /* first entry whose target is >= `target` */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(op_index[mid].def->target, target) < 0) lo = mid + 1;
        else hi = mid;
    }
    return (lo < op_index_count && !strcmp(op_index[lo].def->target, target)) ? op_index[lo].def : NULL;
}

void pt2_for_each_op(void (*visit)(const char *target, void *user), void *user) {
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        for (const pt2_op_def *op = families[f]; op->target; op++) visit(op->target, user);
}
