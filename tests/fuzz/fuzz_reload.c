/* The RETURNN config reload: the JSON config and the TF checkpoint read back into a network
 * (every layer's dims inferred by its class). Input: [u32 config length][config]
 * [u32 index length][index][data file]. */
#include "core/reload/read_config.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_reader r = {data, size};
    size_t config_length, index_length, data_length;
    const uint8_t *config = fuzz_bytes(&r, fuzz_u32(&r), &config_length);
    const uint8_t *index = fuzz_bytes(&r, fuzz_u32(&r), &index_length);
    const uint8_t *tensors = fuzz_bytes(&r, r.left, &data_length);
    pt2_arena *arena = fuzz_arena_begin();
    config = fuzz_copy(arena, config, config_length);
    index = fuzz_copy(arena, index, index_length);
    tensors = fuzz_copy(arena, tensors, data_length);
    pt2_error err;
    pt2_error_clear(&err);
    pt2_reloaded_net net;
    pt2_status st = pt2_reload_net(arena, (const char *)config, config_length, index, index_length, tensors,
                                   data_length, PT2_TF_CHECK_DATA_CRC, &net, &err);
    fuzz_check_status(st, &err);
    for (size_t i = 0; !st && i < net.net.num_layers; i++) {
        const pt2_rt_layer *layer = &net.net.layers[i];
        for (size_t p = 0; p < layer->num_params; p++) fuzz_check_tensor(&layer->params[p].value);
    }
    fuzz_arena_end(arena);
    return 0;
}
