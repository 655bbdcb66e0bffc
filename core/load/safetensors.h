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

int pt2_is_safetensors(const uint8_t *bytes, size_t length);

#endif
