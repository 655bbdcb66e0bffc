#include "graph.h"

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
