/* Step 5: the RETURNN config as Python ("#!rnn.py", Dim tags for the input) and as JSON. Both
 * hold the same network; layers name axes by RETURNN axis descriptions ("T", "F", "stag:..."),
 * which both forms resolve alike. */
#ifndef PT2_EMIT_RETURNN_CONFIG_H
#define PT2_EMIT_RETURNN_CONFIG_H

#include "../base/error.h"
#include "../base/strbuf.h"
#include "../returnn/net.h"
#include "tf_checkpoint.h"

/* `as_layer` NULL: the layers are the network. Else (--as-layer NAME) the network is one
 * "subnetwork" layer NAME holding them, and an "output" copying it. */
pt2_status pt2_emit_python_config(pt2_arena *arena, const pt2_rt_net *net, const char *model_name, const char *as_layer,
                                  pt2_strbuf *out, pt2_error *err);

/* The same network as a JSON config (the input by its shape). */
pt2_status pt2_emit_json_config(pt2_arena *arena, const pt2_rt_net *net, const char *as_layer, pt2_strbuf *out,
                                pt2_error *err);

/* Just the subnetwork layer dict (JSON, or a Python literal) to drop into another network. */
pt2_status pt2_emit_layer_dict(const pt2_rt_net *net, const char *as_layer, int json, pt2_strbuf *out, pt2_error *err);

/* Every layer parameter as "<layer>/<name>" (under "NAME/" for --as-layer NAME), plus the int64
 * "global_step" RETURNN restores. */
pt2_status pt2_emit_checkpoint_variables(pt2_arena *arena, const pt2_rt_net *net, const char *as_layer,
                                         pt2_tf_variable **out, size_t *count, pt2_error *err);

#endif
