/* The zip container PyTorch writes (torch.save and torch.export.save): stored entries,
 * ZIP64, data 64-byte aligned. The whole file is in memory; entries point into it. */
#ifndef PT2_LOAD_ZIP_H
#define PT2_LOAD_ZIP_H

#include <stddef.h>
#include <stdint.h>

#include "../base/arena.h"
#include "../base/error.h"

typedef struct pt2_zip_entry {
    const char *name;    /* full name inside the zip, e.g. "model/data.pkl" */
    const uint8_t *data; /* points into the file bytes (local header already skipped) */
    uint64_t size;       /* uncompressed size == stored size for method 0 */
    uint64_t compressed_size;
    uint16_t method; /* 0 = stored; anything else is refused when read */
    uint32_t crc32;
    const uint8_t *aligned_copy; /* made by pt2_zip_aligned_data when `data` is misaligned */
} pt2_zip_entry;

typedef struct pt2_zip {
    const char *file_name; /* for errors */
    const char *root;      /* the single top-level folder with its slash, e.g. "model/"; "" if none */
    size_t count;
    pt2_zip_entry *entries; /* in central-directory order */
} pt2_zip;

/* Parses the central directory. Checks every offset and size against the file length. */
pt2_status pt2_zip_open(pt2_arena *arena, const uint8_t *bytes, size_t length, const char *file_name,
                        pt2_zip *out, pt2_error *err);

/* Entry by name relative to the root folder ("data.pkl" finds "model/data.pkl"), or NULL. */
const pt2_zip_entry *pt2_zip_find(const pt2_zip *zip, const char *relative_name);

/* Like find, but fails with a clear error when the entry is missing or compressed, and
 * verifies the CRC-32 of the entry's bytes when the zip recorded one. */
pt2_status pt2_zip_read(const pt2_zip *zip, const char *relative_name, const pt2_zip_entry **out, pt2_error *err);

/* The entry's bytes at an address `alignment` divides (an element size): `data` itself when it
 * is (PyTorch aligns records to 64 bytes), else one 64-byte aligned copy per entry, kept, so
 * that every tensor viewing the entry (tied weights) shares it. */
pt2_status pt2_zip_aligned_data(pt2_arena *arena, const pt2_zip *zip, const pt2_zip_entry *entry, size_t alignment,
                                const uint8_t **out, pt2_error *err);

uint32_t pt2_crc32(uint32_t crc, const void *data, size_t length);

/* Does the file start like a zip (local file header magic)? */
int pt2_is_zip(const uint8_t *bytes, size_t length);

#endif
