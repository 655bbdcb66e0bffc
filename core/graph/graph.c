#include "graph.h"

#include <stdio.h>
#include <string.h>

int pt2_graph_find_value(const pt2_graph *graph, const char *name) {
    for (size_t i = 0; i < graph->num_values; i++)
        if (!strcmp(graph->values[i].name, name)) return (int)i;
    return -1;
}

const pt2_range_constraint *pt2_graph_find_range(const pt2_graph *graph, const char *symbol) {
    for (size_t i = 0; i < graph->num_ranges; i++)
        if (!strcmp(graph->ranges[i].symbol, symbol)) return &graph->ranges[i];
    return NULL;
}

const pt2_arg *pt2_node_arg(const pt2_node *node, const char *name) {
    for (size_t i = 0; i < node->num_inputs; i++)
        if (node->inputs[i].name && !strcmp(node->inputs[i].name, name)) return &node->inputs[i].arg;
    return NULL;
}

void pt2_arg_each_read(const pt2_arg *a, void (*visit)(void *user, int id), void *user) {
    switch (a->kind) {
    case PT2_ARG_TENSOR:
    case PT2_ARG_SYM_INT:
    case PT2_ARG_SYM_BOOL:
    case PT2_ARG_SYM_FLOAT:
        if (a->value_id >= 0) visit(user, a->value_id);
        break;
    case PT2_ARG_TENSORS:
    case PT2_ARG_OPTIONAL_TENSORS:
        for (size_t i = 0; i < a->count; i++)
            if (a->value_ids[i] >= 0) visit(user, a->value_ids[i]);
        break;
    case PT2_ARG_SYM_INTS:
        for (size_t i = 0; i < a->count; i++)
            if (a->syms[i].is_value && a->syms[i].value_id >= 0) visit(user, a->syms[i].value_id);
        break;
    default: break;
    }
}

int pt2_arg_reads(const pt2_arg *arg, int value_id) {
    if (arg->kind == PT2_ARG_TENSOR) return arg->value_id == value_id;
    if (arg->kind == PT2_ARG_TENSORS || arg->kind == PT2_ARG_OPTIONAL_TENSORS)
        for (size_t i = 0; i < arg->count; i++)
            if (arg->value_ids[i] == value_id) return 1;
    return 0;
}

int pt2_node_reads(const pt2_node *node, int value_id) {
    for (size_t a = 0; a < node->num_inputs; a++)
        if (pt2_arg_reads(&node->inputs[a].arg, value_id)) return 1;
    return 0;
}

size_t pt2_graph_describe_unsupported(const pt2_graph *graph, int (*is_supported)(const char *target), char *out,
                                      size_t out_size) {
    return pt2_graph_describe_unsupported_among(graph, NULL, is_supported, out, out_size);
}

size_t pt2_graph_describe_unsupported_among(const pt2_graph *graph, const unsigned char *considered,
                                            int (*is_supported)(const char *target), char *out, size_t out_size) {
    size_t missing = 0;
    out[0] = 0;
    for (size_t i = 0; i < graph->num_nodes; i++) {
        const pt2_node *node = &graph->nodes[i];
        if ((considered && !considered[i]) || is_supported(node->target)) continue;
        missing++;
        size_t used = strlen(out);
        if (used + 1 >= out_size) continue;
        /* The root module has the empty path: say so rather than print ''. */
        const char *module = node->module_depth ? node->module_stack[node->module_depth - 1].path : "";
        snprintf(out + used, out_size - used, "%s%s (node '%s' in %s%s%s%s%s)", used ? "; " : "", node->target,
                 node->name, module[0] ? "'" : "", module[0] ? module : "the root module", module[0] ? "'" : "",
                 node->source_line ? " at " : "", node->source_line ? node->source_line : "");
    }
    return missing;
}

pt2_status pt2_graph_require_supported(const pt2_graph *graph, int (*is_supported)(const char *target),
                                       const char *what, pt2_error *err) {
    return pt2_graph_require_supported_among(graph, NULL, is_supported, what, err);
}

pt2_status pt2_graph_require_supported_among(const pt2_graph *graph, const unsigned char *considered,
                                             int (*is_supported)(const char *target), const char *what, pt2_error *err) {
    char list[900];
    size_t missing = pt2_graph_describe_unsupported_among(graph, considered, is_supported, list, sizeof list);
    if (!missing) return PT2_OK;
    return pt2_fail(err, PT2_ERR_UNSUPPORTED, "%zu node%s ops %s: %s", missing, missing == 1 ? " uses" : "s use", what,
                    list);
}
