#include "op_notes.h"

#include <stdio.h>
#include <string.h>

#include "../graph/in_place_ops.h"
#include "lowerings.h"

/* PT2_IN_PLACE_OPS as one space-separated string of the in-place targets. */
#define IN_PLACE_NAME(in_place, functional) in_place " "

/* Why an op of the reference run has no lowering (yet). Reasons contain no "; " (the error lists
 * nodes separated by it). */
static const struct {
    const char *reason, *targets;
} unlowered_reasons[] = {
    {"weight norm's reparametrisation of a weight (computed from parameters, it folds into the constant weight) is not "
     "lowered on the input's path",
     "aten._weight_norm.default aten._weight_norm_interface.default"},
    {"a reduction over every axis includes the batch, which RETURNN keeps",
     "aten.prod.default aten.std.default aten.std_mean.default aten.var.default aten.var_mean.default aten.all.default aten.any.default aten.max.default aten.min.default aten.sum.default aten.mean.default"},
    {"an empty tensor's values are undefined until written, and writes into a tensor are not lowered",
     "aten.empty.default aten.empty.memory_format aten.empty_like.default aten.empty_strided.default aten.new_empty.default"},
    {"a tensor made of a value computed from the input's sizes differs per sequence, which is not lowered yet (zeros, ones, full and "
     "their new_ and _like forms are)",
     "aten.scalar_tensor.default"},
    {"an in-place op is lowered as its functional op only where no other op sees the write (the written tensor is fresh, never viewed, and not read afterwards), and this one's write is seen",
     PT2_IN_PLACE_OPS(IN_PLACE_NAME)},
    {"in-place copies and fills are not lowered (a write into another tensor's storage)",
     "aten.copy_.default aten.fill_.Scalar aten.fill_.Tensor aten.zero_.default aten.detach_.default"},
    {"this symbolic size arithmetic is not lowered yet",
     "_operator.and_ _operator.or_ _operator.lshift _operator.rshift _operator.pos math.ceil math.floor math.trunc "
     "aten.sym_constrain_range.default torch.sym_float torch.sym_int torch.sym_ite "
     "torch.sym_not torch.sym_sqrt"},
};

/* Is `target` one of the space-separated `targets`? */
static int listed(const char *targets, const char *target) {
    size_t n = strlen(target);
    for (const char *p = targets; (p = strstr(p, target)); p += n)
        if ((p == targets || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0)) return 1;
    return 0;
}

int pt2_op_has_unlowered_reason(const char *target) {
    for (size_t i = 0; i < sizeof unlowered_reasons / sizeof unlowered_reasons[0]; i++)
        if (listed(unlowered_reasons[i].targets, target)) return 1;
    return 0;
}

const char *pt2_op_unlowered_reason(const char *target) {
    for (size_t i = 0; i < sizeof unlowered_reasons / sizeof unlowered_reasons[0]; i++)
        if (listed(unlowered_reasons[i].targets, target)) return unlowered_reasons[i].reason;
    return "no lowering is written for it yet";
}

size_t pt2_lower_describe_unlowerable(const pt2_graph *graph, const unsigned char *considered, char *out, size_t size) {
    size_t missing = 0, used = 0;
    out[0] = 0;
    for (size_t i = 0; i < graph->num_nodes; i++) {
        const pt2_node *node = &graph->nodes[i];
        if ((considered && !considered[i]) || pt2_op_find_lowering(node->target)) continue;
        missing++;
        if (used + 1 >= size) continue;
        /* The root module has the empty path: say so rather than print ''. */
        const char *module = node->module_depth ? node->module_stack[node->module_depth - 1].path : "";
        int n = snprintf(out + used, size - used, "%s%s (node '%s' in %s%s%s%s%s): %s", used ? "; " : "", node->target,
                         node->name, module[0] ? "'" : "", module[0] ? module : "the root module", module[0] ? "'" : "",
                         node->source_line ? " at " : "", node->source_line ? node->source_line : "",
                         pt2_op_unlowered_reason(node->target));
        used = n < 0 ? used : used + (size_t)n < size ? used + (size_t)n : size - 1;
    }
    return missing;
}

static void visit_targets(const char *targets, void (*visit)(const char *, void *), void *user) {
    char target[160];
    for (const char *p = targets; *p;) {
        size_t n = strcspn(p, " ");
        if (n && n < sizeof target) {
            memcpy(target, p, n);
            target[n] = 0;
            visit(target, user);
        }
        p += n;
        while (*p == ' ') p++;
    }
}

void pt2_for_each_unlowered_reason(void (*visit)(const char *target, void *user), void *user) {
    for (size_t i = 0; i < sizeof unlowered_reasons / sizeof unlowered_reasons[0]; i++)
        visit_targets(unlowered_reasons[i].targets, visit, user);
}
