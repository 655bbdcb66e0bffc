/* Names for a program's user outputs, from the pytree spec torch.export records for the call of
 * the root module (module_call_graph[fqn ""].signature.out_spec): a forward that returns a dict,
 * a dataclass such as transformers' BaseModelOutput or a nested mix flattens to several outputs,
 * and the spec keeps the keys ("last_hidden_state", "extract_features") in the flattened order.
 * A plain tuple or list has no keys: its outputs stay unnamed (NULL). */
#ifndef PT2_LOAD_OUTPUT_NAMES_H
#define PT2_LOAD_OUTPUT_NAMES_H

#include "../base/json.h"
#include "../graph/graph.h"

/* Sets graph->outputs[i].name of the user outputs where the spec names them. A spec that is
 * missing or that pt2returnn does not understand leaves every name NULL: the names are for
 * people (layer names in the config), never needed to convert. */
pt2_status pt2_read_output_names(pt2_arena *arena, const pt2_json *graph_module, pt2_graph *graph, pt2_error *err);

#endif
