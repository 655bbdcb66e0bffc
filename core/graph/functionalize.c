#include "functionalize.h"

#include <string.h>

#include "in_place_ops.h"

/* PT2_IN_PLACE_OPS as {in-place, functional} pairs. */
#define IN_PLACE_PAIR(in_place, functional) {in_place, functional},
static const char *const in_place_ops[][2] = {PT2_IN_PLACE_OPS(IN_PLACE_PAIR)};
#undef IN_PLACE_PAIR

/* Ops whose result may share storage with an input: a write through one is seen by the other. */
static const char *const view_ops[] = {
    "alias", "as_strided", "chunk", "detach", "diagonal", "expand", "expand_as", "flatten", "movedim", "narrow",
    "permute", "reshape", "reshape_as", "select", "slice", "split", "split_with_sizes", "squeeze", "swapaxes",
    "t", "transpose", "unbind", "unflatten", "unfold", "unsqueeze", "view", "view_as", "_unsafe_view",
    "contiguous", "to", "type_as", "_to_copy", "lift_fresh", "real", "view_as_real",
};

static int is_view_op(const char *target) {
    if (strncmp(target, "aten.", 5)) return 0;
    const char *name = target + 5;
    size_t length = strcspn(name, ".");
    for (size_t i = 0; i < sizeof view_ops / sizeof view_ops[0]; i++)
        if (strlen(view_ops[i]) == length && !strncmp(view_ops[i], name, length)) return 1;
    return 0;
}

/* Can nothing but node `at` see the write into `self`? Its value is fresh (not a view of
 * another tensor nor a graph input), no view of it is ever taken, and no later node or
 * output reads it. */
static int write_is_private(const pt2_graph *graph, size_t at, int self) {
    const pt2_value *value = &graph->values[self];
    if (value->producer < 0 || is_view_op(graph->nodes[value->producer].target)) return 0;
    for (size_t i = 0; i < graph->num_nodes; i++) {
        if (i == at || !pt2_node_reads(&graph->nodes[i], self)) continue;
        if (i > at || is_view_op(graph->nodes[i].target)) return 0;
    }
    for (size_t o = 0; o < graph->num_outputs; o++)
        if (pt2_arg_reads(&graph->outputs[o].arg, self)) return 0;
    return 1;
}

const char *pt2_in_place_functional(const char *target) {
    for (size_t k = 0; k < sizeof in_place_ops / sizeof in_place_ops[0]; k++)
        if (!strcmp(target, in_place_ops[k][0])) return in_place_ops[k][1];
    return NULL;
}

size_t pt2_graph_functionalize(pt2_graph *graph) {
    size_t rewritten = 0;
    for (size_t i = 0; i < graph->num_nodes; i++) {
        pt2_node *node = &graph->nodes[i];
        const char *functional = pt2_in_place_functional(node->target);
        const pt2_arg *self = functional && node->num_inputs ? &node->inputs[0].arg : NULL;
        if (!self || strcmp(node->inputs[0].name, "self") || self->kind != PT2_ARG_TENSOR || self->value_id < 0) continue;
        /* The result keeps self's dtype in place; the functional op would promote it. */
        if (node->num_outputs < 1 || node->outputs[0].kind != PT2_ARG_TENSOR ||
            graph->values[node->outputs[0].value_id].dtype != graph->values[self->value_id].dtype)
            continue;
        if (!write_is_private(graph, i, self->value_id)) continue;
        node->target = functional;
        rewritten++;
    }
    return rewritten;
}
