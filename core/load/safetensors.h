/* .safetensors: u64 header length, JSON header, raw little-endian C-order bytes. */
#ifndef PT2_LOAD_SAFETENSORS_H
#define PT2_LOAD_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "../base/arena.h"
#include "../base/error.h"
#include "named_tensors.h"

/* Tensors point into `bytes`. Checks offsets, sizes, overlaps and dtype names. */
pt2_status pt2_safetensors_load(pt2_arena *arena, const uint8_t *bytes, size_t length, const char *file_name,
                                pt2_named_tensors *out, pt2_error *err);

/* The header's "__metadata__" ({str: str}, in file order). Strings live in the arena. */
typedef struct pt2_safetensors_metadata {
    size_t count;
    const char **keys;
    const char **values;
} pt2_safetensors_metadata;

/* pt2_safetensors_load plus the metadata (count 0 when the header has none). */
pt2_status pt2_safetensors_load_with_metadata(pt2_arena *arena, const uint8_t *bytes, size_t length,
                                              const char *file_name, pt2_named_tensors *out,
                                              pt2_safetensors_metadata *metadata, pt2_error *err);

int pt2_is_safetensors(const uint8_t *bytes, size_t length);

#endif
