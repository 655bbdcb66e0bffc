/* The TensorFlow checkpoint reader (V2 bundle). Input: [u32 index length][index][data file].
 * The PT2_FUZZ build skips block and data CRC-32C checks (PT2_FUZZ_NO_CHECKSUMS) so that
 * mutations get past them; the replay build checks them. */
#include "core/emit/tf_checkpoint.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_reader r = {data, size};
    size_t index_length, data_length;
    const uint8_t *index = fuzz_bytes(&r, fuzz_u32(&r), &index_length);
    const uint8_t *tensors = fuzz_bytes(&r, r.left, &data_length);
    pt2_arena *arena = fuzz_arena_begin();
    index = fuzz_copy(arena, index, index_length);
    tensors = fuzz_copy(arena, tensors, data_length);
    pt2_error err;
    pt2_error_clear(&err);
    pt2_tf_variable *variables = NULL;
    size_t count = 0;
    pt2_status st = pt2_tf_checkpoint_read(arena, index, index_length, tensors, data_length, PT2_TF_CHECK_DATA_CRC, "fuzz.index", &variables,
                                           &count, &err);
    fuzz_check_status(st, &err);
    for (size_t i = 0; !st && i < count; i++) {
        fuzz_sink ^= (uint8_t)strlen(variables[i].name);
        fuzz_check_tensor(&variables[i].tensor);
    }
    fuzz_arena_end(arena);
    return 0;
}
