/* Step 6: the emitted JSON config and TF checkpoint read back into a fresh network, as RETURNN
 * reads them: extern data from its shape, every layer's dims inferred anew by its class (not
 * taken from the lowering), every parameter from the checkpoint by "<layer>/<name>". */
#ifndef PT2_RELOAD_READ_CONFIG_H
#define PT2_RELOAD_READ_CONFIG_H

#include "../returnn/net.h"

typedef struct pt2_reloaded_net {
    pt2_rt_net net;
    size_t num_output_axes;
    const char **output_axes; /* pt2returnn_output_axes: the output's axes in PyTorch's order */
} pt2_reloaded_net;

pt2_status pt2_reload_net(pt2_arena *arena, const char *json_config, size_t json_length, const uint8_t *index,
                          size_t index_length, const uint8_t *data, size_t data_length, pt2_reloaded_net *out,
                          pt2_error *err);

/* Runs the whole network on an input in the extern data's axis order; the output comes back in
 * PyTorch's axis order (by the output axis descriptions). */
pt2_status pt2_reload_run(pt2_arena *arena, const pt2_reloaded_net *reloaded, const pt2_tensor *input, pt2_tensor *out,
                          pt2_error *err);

#endif
