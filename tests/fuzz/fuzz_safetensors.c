/* safetensors: header length, JSON header, dtypes, shapes, data offsets, overlaps, metadata. */
#include "core/load/safetensors.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    pt2_arena *arena = fuzz_arena_begin();
    const uint8_t *bytes = fuzz_copy(arena, data, size);
    pt2_error err;
    pt2_error_clear(&err);
    pt2_named_tensors list = {0};
    pt2_safetensors_metadata metadata;
    pt2_status st = pt2_safetensors_load_with_metadata(arena, bytes, size, "fuzz.safetensors", &list, &metadata, &err);
    fuzz_check_status(st, &err);
    for (size_t i = 0; !st && i < list.count; i++) {
        fuzz_sink ^= (uint8_t)strlen(list.items[i].name);
        fuzz_check_tensor(&list.items[i].tensor);
    }
    for (size_t i = 0; !st && i < metadata.count; i++)
        fuzz_sink ^= (uint8_t)(strlen(metadata.keys[i]) + strlen(metadata.values[i]));
    fuzz_arena_end(arena);
    return 0;
}
