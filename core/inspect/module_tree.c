#include "module_tree.h"

#include <string.h>

static pt2_module_info *find_or_add(pt2_module_tree *tree, size_t capacity, const char *path, const char *type,
                                    int depth) {
    for (size_t i = 0; i < tree->count; i++)
        if (strcmp(tree->modules[i].path, path) == 0) return &tree->modules[i];
    if (tree->count == capacity) return NULL;
    pt2_module_info *m = &tree->modules[tree->count++];
    m->path = path;
    m->type = type ? type : "";
    m->depth = depth;
    return m;
}

pt2_status pt2_module_tree_build(pt2_arena *arena, const pt2_graph *graph, pt2_module_tree *out, pt2_error *err) {
    size_t capacity = 1;
    for (size_t i = 0; i < graph->num_nodes; i++) capacity += graph->nodes[i].module_depth;
    memset(out, 0, sizeof *out);
    out->modules = pt2_arena_alloc_array(arena, capacity, sizeof *out->modules, err);
    if (!out->modules) return err->status;
    /* The root always exists, even when no node names it (e.g. a graph of one placeholder). */
    const char *root_type = "";
    for (size_t i = 0; i < graph->num_nodes && !root_type[0]; i++)
        if (graph->nodes[i].module_depth && graph->nodes[i].module_stack[0].path[0] == 0)
            root_type = graph->nodes[i].module_stack[0].type;
    find_or_add(out, capacity, "", root_type, 0);
    for (size_t i = 0; i < graph->num_nodes; i++) {
        const pt2_node *node = &graph->nodes[i];
        pt2_module_info *innermost = &out->modules[0];
        for (size_t d = 0; d < node->module_depth; d++) {
            const pt2_module_frame *f = &node->module_stack[d];
            /* The root frame has path "" and sits at depth 0; nested frames keep their depth. */
            pt2_module_info *m = find_or_add(out, capacity, f->path, f->type, f->path[0] ? (int)d + (node->module_stack[0].path[0] ? 1 : 0) : 0);
            if (m) innermost = m;
        }
        innermost->num_ops++;
    }
    return PT2_OK;
}
