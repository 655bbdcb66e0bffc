/* What the .pt2 harnesses check on a loaded graph: every weight, buffer, constant and sample
 * input lies inside its storage, aligned, every byte read. */
#ifndef PT2_TESTS_FUZZ_GRAPH_CHECK_H
#define PT2_TESTS_FUZZ_GRAPH_CHECK_H

#include "core/graph/graph.h"
#include "fuzz_common.h"

static inline void fuzz_check_graph(const pt2_graph *g) {
    for (size_t i = 0; i < g->num_inputs; i++) {
        if (!g->inputs[i].target) fuzz_die("graph input without a target", NULL);
        fuzz_sink ^= (uint8_t)strlen(g->inputs[i].target);
        if (g->inputs[i].has_data) fuzz_check_tensor(&g->inputs[i].data);
    }
    for (size_t i = 0; i < g->num_sample_inputs; i++) fuzz_check_tensor(&g->sample_inputs[i]);
    for (size_t i = 0; i < g->num_nodes; i++)
        if (g->nodes[i].target) fuzz_sink ^= (uint8_t)strlen(g->nodes[i].target);
}

#endif
