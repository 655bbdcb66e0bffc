#include "zip.h"

#include <string.h>

#include "../base/crc32c.h"

#define LOCAL_HEADER_SIGNATURE 0x04034b50u
#define CENTRAL_HEADER_SIGNATURE 0x02014b50u
#define END_SIGNATURE 0x06054b50u
#define ZIP64_END_SIGNATURE 0x06064b50u
#define ZIP64_LOCATOR_SIGNATURE 0x07064b50u
#define END_RECORD_SIZE 22
#define CENTRAL_HEADER_SIZE 46
#define LOCAL_HEADER_SIZE 30

static uint16_t read_u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t read_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t read_u64(const uint8_t *p) { return (uint64_t)read_u32(p) | (uint64_t)read_u32(p + 4) << 32; }

/* Is [offset, offset+size) inside the file? Written to be overflow-free. */
static int in_file(uint64_t offset, uint64_t size, size_t length) {
    return offset <= length && size <= length - offset;
}

int pt2_is_zip(const uint8_t *bytes, size_t length) {
    return length >= 4 && read_u32(bytes) == LOCAL_HEADER_SIGNATURE;
}

static pt2_status truncated(pt2_error *err, const char *what, uint64_t offset, uint64_t size, size_t length) {
    return pt2_fail(err, PT2_ERR_INPUT,
                    "truncated or corrupt zip: %s at offset %llu needs %llu bytes but the file has %zu", what,
                    (unsigned long long)offset, (unsigned long long)size, length);
}

/* The end record sits in the last 22 + 65535 (comment) bytes; search backwards. */
static pt2_status find_end_record(const uint8_t *bytes, size_t length, size_t *out, pt2_error *err) {
    if (length < END_RECORD_SIZE)
        return pt2_fail(err, PT2_ERR_INPUT, "truncated: %zu bytes is too short for a zip file", length);
    size_t lowest = length > END_RECORD_SIZE + 65535 ? length - END_RECORD_SIZE - 65535 : 0;
    for (size_t pos = length - END_RECORD_SIZE + 1; pos-- > lowest;) {
        if (read_u32(bytes + pos) == END_SIGNATURE && pos + END_RECORD_SIZE + read_u16(bytes + pos + 20) <= length) {
            *out = pos;
            return PT2_OK;
        }
    }
    return pt2_fail(err, PT2_ERR_INPUT,
                    "truncated or not a zip: no end-of-central-directory record in the last %zu bytes",
                    length - lowest);
}

/* Reads the values a ZIP64 extra field holds for the fields that were saturated. */
static pt2_status apply_zip64_extra(const uint8_t *extra, size_t extra_length, uint64_t *size,
                                    uint64_t *compressed_size, uint64_t *offset, const char *name, pt2_error *err) {
    size_t pos = 0;
    while (pos + 4 <= extra_length) {
        uint16_t id = read_u16(extra + pos), n = read_u16(extra + pos + 2);
        if (pos + 4 + n > extra_length) break;
        if (id == 0x0001) {
            const uint8_t *p = extra + pos + 4;
            size_t left = n;
            uint64_t *fields[3] = {size, compressed_size, offset};
            for (int i = 0; i < 3; i++) {
                if (*fields[i] != 0xFFFFFFFFu) continue;
                if (left < 8)
                    return pt2_fail(err, PT2_ERR_INPUT, "zip entry '%s': ZIP64 extra field is too short", name);
                *fields[i] = read_u64(p);
                p += 8;
                left -= 8;
            }
            return PT2_OK;
        }
        pos += 4 + (size_t)n;
    }
    return PT2_OK;
}

static pt2_status zip_open(pt2_arena *arena, const uint8_t *bytes, size_t length, const char *file_name,
                           pt2_zip *out, pt2_error *err);

pt2_status pt2_zip_open(pt2_arena *arena, const uint8_t *bytes, size_t length, const char *file_name,
                        pt2_zip *out, pt2_error *err) {
    pt2_reader_bound bound;
    pt2_arena_reader_begin(arena, length, file_name, &bound);
    pt2_status st = zip_open(arena, bytes, length, file_name, out, err);
    pt2_arena_reader_end(arena, &bound);
    return st;
}

static pt2_status zip_open(pt2_arena *arena, const uint8_t *bytes, size_t length, const char *file_name,
                           pt2_zip *out, pt2_error *err) {
    memset(out, 0, sizeof *out);
    out->file_name = file_name;
    pt2_error_set_file(err, file_name);
    if (!pt2_is_zip(bytes, length))
        return pt2_fail(err, PT2_ERR_INPUT, "not a zip file: expected the bytes 'PK\\x03\\x04' at the start");
    size_t end = 0;
    pt2_status st = find_end_record(bytes, length, &end, err);
    if (st) return st;
    uint64_t count = read_u16(bytes + end + 10);
    uint64_t directory_size = read_u32(bytes + end + 12);
    uint64_t directory_offset = read_u32(bytes + end + 16);
    /* ZIP64: a locator just before the end record points at the 64-bit end record. */
    if (end >= 20 && read_u32(bytes + end - 20) == ZIP64_LOCATOR_SIGNATURE) {
        uint64_t record = read_u64(bytes + end - 20 + 8);
        if (!in_file(record, 56, length)) return truncated(err, "ZIP64 end record", record, 56, length);
        if (read_u32(bytes + record) != ZIP64_END_SIGNATURE)
            return pt2_fail(err, PT2_ERR_INPUT, "corrupt zip: bad ZIP64 end record signature at offset %llu",
                            (unsigned long long)record);
        count = read_u64(bytes + record + 32);
        directory_size = read_u64(bytes + record + 40);
        directory_offset = read_u64(bytes + record + 48);
    }
    if (!in_file(directory_offset, directory_size, length))
        return truncated(err, "central directory", directory_offset, directory_size, length);
    /* Each entry needs at least 46 bytes, so the directory's size bounds the count we allocate. */
    if (count > directory_size / CENTRAL_HEADER_SIZE)
        return pt2_fail(err, PT2_ERR_INPUT, "corrupt zip: %llu entries cannot fit in a %llu-byte central directory",
                        (unsigned long long)count, (unsigned long long)directory_size);
    out->entries = pt2_arena_alloc_array(arena, (size_t)count + 1, sizeof *out->entries, err);
    if (!out->entries) return err->status;

    const uint8_t *p = bytes + directory_offset;
    const uint8_t *directory_end = p + directory_size;
    for (uint64_t i = 0; i < count; i++) {
        if ((size_t)(directory_end - p) < CENTRAL_HEADER_SIZE || read_u32(p) != CENTRAL_HEADER_SIGNATURE)
            return pt2_fail(err, PT2_ERR_INPUT, "corrupt zip: central directory entry %llu is missing or damaged",
                            (unsigned long long)i);
        uint16_t method = read_u16(p + 10);
        uint32_t crc = read_u32(p + 16);
        uint64_t compressed_size = read_u32(p + 20), size = read_u32(p + 24);
        size_t name_length = read_u16(p + 28), extra_length = read_u16(p + 30), comment_length = read_u16(p + 32);
        uint64_t local_offset = read_u32(p + 42);
        if ((size_t)(directory_end - p) < CENTRAL_HEADER_SIZE + name_length + extra_length + comment_length)
            return pt2_fail(err, PT2_ERR_INPUT, "corrupt zip: central directory entry %llu runs past the directory",
                            (unsigned long long)i);
        char *name = pt2_arena_strndup(arena, (const char *)p + CENTRAL_HEADER_SIZE, name_length, err);
        if (!name) return err->status;
        st = apply_zip64_extra(p + CENTRAL_HEADER_SIZE + name_length, extra_length, &size, &compressed_size,
                               &local_offset, name, err);
        if (st) return st;
        p += CENTRAL_HEADER_SIZE + name_length + extra_length + comment_length;

        pt2_error_set_entry(err, name);
        if (!in_file(local_offset, LOCAL_HEADER_SIZE, length))
            return truncated(err, "local header", local_offset, LOCAL_HEADER_SIZE, length);
        const uint8_t *local = bytes + local_offset;
        if (read_u32(local) != LOCAL_HEADER_SIGNATURE)
            return pt2_fail(err, PT2_ERR_INPUT, "corrupt zip: no local header at offset %llu",
                            (unsigned long long)local_offset);
        uint64_t data_offset = local_offset + LOCAL_HEADER_SIZE + read_u16(local + 26) + read_u16(local + 28);
        if (!in_file(data_offset, compressed_size, length))
            return truncated(err, "entry data", data_offset, compressed_size, length);
        err->entry[0] = 0; /* only keep the entry context on failure */

        pt2_zip_entry *e = &out->entries[out->count++];
        e->name = name;
        e->data = bytes + data_offset;
        e->size = size;
        e->compressed_size = compressed_size;
        e->method = method;
        e->crc32 = crc;
    }
    /* PyTorch puts every record under one folder (the file's stem, "archive", ...). */
    if (out->count) {
        const char *first = out->entries[0].name;
        const char *slash = strchr(first, '/');
        size_t root_length = slash ? (size_t)(slash - first) + 1 : 0;
        for (size_t i = 1; i < out->count && root_length; i++)
            if (strncmp(out->entries[i].name, first, root_length) != 0) root_length = 0;
        out->root = pt2_arena_strndup(arena, first, root_length, err);
        if (!out->root) return err->status;
    } else {
        out->root = "";
    }
    return PT2_OK;
}

const pt2_zip_entry *pt2_zip_find(const pt2_zip *zip, const char *relative_name) {
    size_t root_length = strlen(zip->root);
    for (size_t i = 0; i < zip->count; i++) {
        const char *name = zip->entries[i].name;
        if (strncmp(name, zip->root, root_length) == 0 && strcmp(name + root_length, relative_name) == 0)
            return &zip->entries[i];
    }
    return NULL;
}

uint32_t pt2_crc32(uint32_t crc, const void *data, size_t length) { return pt2_crc32_ieee_extend(crc, data, length); }

pt2_status pt2_zip_read(const pt2_zip *zip, const char *relative_name, const pt2_zip_entry **out, pt2_error *err) {
    const pt2_zip_entry *e = pt2_zip_find(zip, relative_name);
    if (!e) {
        pt2_error_set_file(err, zip->file_name);
        return pt2_fail(err, PT2_ERR_INPUT, "missing entry '%s%s' in the zip", zip->root, relative_name);
    }
    if (e->method != 0 || e->size != e->compressed_size) {
        pt2_error_set_file(err, zip->file_name);
        pt2_error_set_entry(err, e->name);
        return pt2_fail(err, PT2_ERR_UNSUPPORTED,
                        "entry is compressed with method %u%s; pt2returnn reads stored (uncompressed) entries only, "
                        "as torch.save and torch.export.save write them",
                        (unsigned)e->method, e->method == 8 ? " (deflate)" : "");
    }
#ifndef PT2_FUZZ_NO_CHECKSUMS /* the fuzz build skips checksums so that mutations reach the readers inside */
    if (e->crc32 && pt2_crc32(0, e->data, (size_t)e->size) != e->crc32) {
        pt2_error_set_file(err, zip->file_name);
        pt2_error_set_entry(err, e->name);
        return pt2_fail(err, PT2_ERR_INPUT, "CRC-32 mismatch: the entry's bytes are corrupt");
    }
#endif
    *out = e;
    return PT2_OK;
}

pt2_status pt2_zip_aligned_data(pt2_arena *arena, const pt2_zip *zip, const pt2_zip_entry *entry, size_t alignment,
                                const uint8_t **out, pt2_error *err) {
    if (!alignment || (uintptr_t)entry->data % alignment == 0) {
        *out = entry->data;
        return PT2_OK;
    }
    pt2_zip_entry *e = &zip->entries[entry - zip->entries];
    if (!e->aligned_copy) {
        uint8_t *copy = pt2_arena_alloc(arena, e->size ? (size_t)e->size : 1, err); /* 64-byte aligned */
        if (!copy) return err->status;
        memcpy(copy, e->data, (size_t)e->size);
        e->aligned_copy = copy;
    }
    *out = e->aligned_copy;
    return PT2_OK;
}
