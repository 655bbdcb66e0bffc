/* How the flat network of the lowering (layer names are paths, "melgan/layer4/skip") is written
 * as nested RETURNN subnetworks: which layers a network holds, what its "from" and "output" are,
 * and how a layer in one network names a layer in another ("data", "base:x", "sub/inner"). */
#ifndef PT2_EMIT_NET_LAYOUT_H
#define PT2_EMIT_NET_LAYOUT_H

#include <stddef.h>

#include "../returnn/net.h"

/* The network a layer name sits in: its path up to the last '/' ("" for the root), in buf. */
const char *pt2_layout_network_of(const char *name, char *buf, size_t size);
/* Is `name` inside `network` (at any depth)? Every layer is inside the root "". */
int pt2_layout_inside(const char *name, const char *network);
/* The layer that is a subnetwork's result: the last layer inside it. */
const char *pt2_layout_result_of(const pt2_rt_net *net, const char *network);
/* A subnetwork's source: the first layer outside it that a layer inside reads (NULL for none). */
const char *pt2_layout_source_of(const pt2_rt_net *net, const char *network);
/* How a layer in `network` names `target` (a layer path or "data") as a source, in buf. A
 * subnetwork's own source is its "data"; a layer that is a subnetwork's result is named by the
 * subnetwork. */
const char *pt2_layout_reference(const pt2_rt_net *net, const char *network, const char *target, char *buf, size_t size);
/* How a layer in `network` names the layer `target` itself (reuse_params: the layer holding the
 * variables, never the subnetwork whose result it is). */
const char *pt2_layout_layer_reference(const pt2_rt_net *net, const char *network, const char *target, char *buf,
                                       size_t size);
/* The twin whose parameters `layer` shares (written as reuse_params; its own are then not in the
 * checkpoint): only when the twin exists and holds the very same tensors. NULL otherwise. */
const pt2_rt_layer *pt2_layout_reused(const pt2_rt_net *net, const pt2_rt_layer *layer);
/* The order in which `network`'s entries are written: each the index of its first layer (a layer,
 * or a subnetwork at its first layer), an entry after every entry it reads from. The lowering
 * makes layers in an order the run can follow, but a subnetwork written whole at its first layer
 * may read a layer of the outer network made after that one (a constant a module inside reads,
 * LayoutLM's bounding boxes); the reload and the interpreter read a config in file order. The
 * lowering's order where it can be kept. `order` holds net->num_layers entries. */
pt2_status pt2_layout_order(const pt2_rt_net *net, const char *network, size_t *order, size_t *count, pt2_error *err);

#endif
