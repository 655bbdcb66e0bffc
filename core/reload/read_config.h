/* Step 6: the emitted JSON config and TF checkpoint read back into a fresh network, as RETURNN
 * reads them: extern data from its shape, every layer's dims inferred anew by its class (not
 * taken from the lowering), every parameter from the checkpoint by "<layer>/<name>". */
#ifndef PT2_RELOAD_READ_CONFIG_H
#define PT2_RELOAD_READ_CONFIG_H

#include "../emit/tf_checkpoint.h"
#include "../returnn/net.h"

/* One result of the network: its layer, the program's name for it, its axes in PyTorch's order. */
typedef struct pt2_reloaded_output {
    const char *layer, *name;
    size_t num_axes;
    const char **axes;
} pt2_reloaded_output;

typedef struct pt2_reloaded_net {
    pt2_rt_net net;
    size_t num_output_axes;
    const char **output_axes; /* pt2returnn_output_axes: the output's axes in PyTorch's order */
    /* Every result (pt2returnn_outputs; a config without it has the one result "output"), the
     * first being "output" with output_axes. */
    size_t num_outputs;
    pt2_reloaded_output *outputs;
} pt2_reloaded_net;

/* The network of a JSON config and its checkpoint (index and data), all in memory; data_crc as
 * pt2_tf_checkpoint_read has it. */
pt2_status pt2_reload_net(pt2_arena *arena, const char *json_config, size_t json_length, const uint8_t *index,
                          size_t index_length, const uint8_t *data, size_t data_length, pt2_tf_data_crc data_crc,
                          pt2_reloaded_net *out, pt2_error *err);

/* Runs the whole network on an input in the extern data's axis order; the output comes back in
 * PyTorch's axis order (by the output axis descriptions): a view of the last layer's data in
 * `arena`, strided where RETURNN's layout is another (pt2_tensor_contiguous makes it dense). */
pt2_status pt2_reload_run(pt2_arena *arena, const pt2_reloaded_net *reloaded, const pt2_tensor *input, pt2_tensor *out,
                          pt2_error *err);
/* The same, giving every result (out[reloaded->num_outputs]), each in PyTorch's axis order. */
pt2_status pt2_reload_run_outputs(pt2_arena *arena, const pt2_reloaded_net *reloaded, const pt2_tensor *input,
                                  pt2_tensor *out, pt2_error *err);

#endif
