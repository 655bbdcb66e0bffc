/* Step 3: where each lowered op's layers sit and what they are called (docs/naming.md).
 *
 * The module-call tree comes from each node's nn_module_stack. The root module is flattened into
 * the root network. A module call that holds more than one op becomes a subnetwork layer named
 * after its attribute; a call holding one op becomes that op's layer, named after its attribute;
 * ops a module runs itself are named after the op. Sequential/ModuleList indices read "layer3".
 * Names are unique within their network by a numeric suffix, in graph order, so they depend on
 * nothing but the graph. Internally a layer's name is its path ("melgan/layer4/skip"); the
 * emitter nests the subnetworks. A second call of a module ("block" again, torch.export's key
 * "...@1") gets its own name and shares the first call's parameters (reuse_params). */
#ifndef PT2_NAMING_NAMING_H
#define PT2_NAMING_NAMING_H

#include "../base/arena.h"
#include "../graph/graph.h"
#include "../returnn/net.h"

typedef struct pt2_node_place {
    const char *network;       /* "" for the root, else a path such as "melgan/layer4" */
    const char *base;          /* the layer name before making it unique, e.g. "skip", "add" */
    const char *first_network; /* for a repeated module call: the network path of the first call's twin, else NULL */
    int repeated_layer;        /* the node is a single-op module called again: its twin is first_network + base */
} pt2_node_place;

/* Places every node with considered[i] set (the nodes that are lowered). */
pt2_status pt2_naming_place_nodes(pt2_arena *arena, const pt2_graph *graph, const unsigned char *considered,
                                  pt2_node_place **out, pt2_error *err);

/* "<network>/<base>" (or "<base>" at the root), with "_1", "_2", ... appended until no layer has
 * that name or lies inside a subnetwork of that name; "output" and "data" are never used. */
const char *pt2_naming_unique(pt2_arena *arena, const pt2_rt_net *net, const char *network, const char *base,
                              pt2_error *err);

#endif
