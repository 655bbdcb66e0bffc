/* The module-call tree as inspect shows it: every module path that appears in any node's
 * nn_module_stack, in first-appearance order, with its depth and the ops it runs directly. */
#ifndef PT2_INSPECT_MODULE_TREE_H
#define PT2_INSPECT_MODULE_TREE_H

#include <stddef.h>

#include "../base/arena.h"
#include "../base/error.h"
#include "../graph/graph.h"

typedef struct pt2_module_info {
    const char *path; /* "" for the root */
    const char *type;
    int depth;        /* position in the nn_module_stack where it was first seen */
    size_t num_ops;   /* nodes whose innermost module this is */
} pt2_module_info;

typedef struct pt2_module_tree {
    size_t count;
    pt2_module_info *modules;
} pt2_module_tree;

pt2_status pt2_module_tree_build(pt2_arena *arena, const pt2_graph *graph, pt2_module_tree *out, pt2_error *err);

#endif
