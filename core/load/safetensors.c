#include "safetensors.h"

#include <stdlib.h>
#include <string.h>

#include "../base/json.h"

#define MAX_HEADER_BYTES ((uint64_t)100 << 20) /* safetensors' own cap */

static uint64_t read_u64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

int pt2_is_safetensors(const uint8_t *bytes, size_t length) {
    if (length < 10) return 0;
    uint64_t n = read_u64(bytes);
    return n >= 2 && bytes[8] == '{';
}

static const struct {
    const char *name;
    pt2_dtype dtype;
} dtype_names[] = {
    {"F32", PT2_DTYPE_FLOAT32}, {"F64", PT2_DTYPE_FLOAT64}, {"F16", PT2_DTYPE_FLOAT16}, {"BF16", PT2_DTYPE_BFLOAT16},
    {"I64", PT2_DTYPE_INT64},   {"I32", PT2_DTYPE_INT32},   {"I16", PT2_DTYPE_INT16},   {"I8", PT2_DTYPE_INT8},
    {"U8", PT2_DTYPE_UINT8},    {"BOOL", PT2_DTYPE_BOOL},
};

typedef struct byte_range {
    uint64_t begin, end;
    const char *name;
} byte_range;

static int compare_ranges(const void *a, const void *b) {
    const byte_range *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static pt2_status read_metadata(pt2_arena *arena, const pt2_json *value, pt2_safetensors_metadata *metadata,
                                pt2_error *err) {
    pt2_error_set_entry(err, "__metadata__");
    if (value->type != PT2_JSON_OBJECT)
        return pt2_fail(err, PT2_ERR_INPUT, "expected an object of strings, found another JSON value");
    for (size_t i = 0; i < value->count; i++)
        if (value->items[i].type != PT2_JSON_STRING)
            return pt2_fail(err, PT2_ERR_INPUT, "expected string values, but '%s' is not a string", value->keys[i]);
    if (metadata && value->count) {
        metadata->keys = pt2_arena_alloc_array(arena, value->count, sizeof *metadata->keys, err);
        metadata->values = pt2_arena_alloc_array(arena, value->count, sizeof *metadata->values, err);
        if (!metadata->keys || !metadata->values) return err->status;
        for (size_t i = 0; i < value->count; i++) {
            metadata->keys[i] = value->keys[i];
            metadata->values[i] = value->items[i].string;
        }
        metadata->count = value->count;
    }
    err->entry[0] = 0;
    return PT2_OK;
}

static pt2_status read_tensor(const char *name, const pt2_json *info, const uint8_t *data, size_t data_length,
                              pt2_tensor *t, byte_range *range, pt2_error *err) {
    const char *dtype_name = pt2_json_get_string(info, "dtype", NULL);
    const pt2_json *shape = pt2_json_get(info, "shape");
    const pt2_json *offsets = pt2_json_get(info, "data_offsets");
    if (!dtype_name || !pt2_json_is(shape, PT2_JSON_ARRAY) || !pt2_json_is(offsets, PT2_JSON_ARRAY) ||
        offsets->count != 2)
        return pt2_fail(err, PT2_ERR_INPUT,
                        "expected {\"dtype\": str, \"shape\": [...], \"data_offsets\": [begin, end]}");
    memset(t, 0, sizeof *t);
    for (size_t d = 0; d < sizeof dtype_names / sizeof dtype_names[0]; d++)
        if (!strcmp(dtype_names[d].name, dtype_name)) t->dtype = dtype_names[d].dtype;
    if (!t->dtype)
        return pt2_fail(err, PT2_ERR_UNSUPPORTED,
                        "dtype '%.32s' is not supported (expected one of BOOL, U8, I8, I16, F16, BF16, I32, F32, "
                        "F64, I64)",
                        dtype_name);
    if (shape->count > PT2_MAX_RANK)
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "rank %zu is above the supported %d", shape->count, PT2_MAX_RANK);
    t->rank = (int)shape->count;
    for (int d = 0; d < t->rank; d++) {
        const pt2_json *size = &shape->items[d];
        if (size->type != PT2_JSON_NUMBER || !size->is_integer || size->integer < 0)
            return pt2_fail(err, PT2_ERR_INPUT, "shape entry %d is not a non-negative integer", d);
        t->shape[d] = size->integer;
    }
    int64_t numel, byte_count;
    if (!pt2_shape_numel(t->shape, t->rank, &numel, err)) return err->status;
    if (!pt2_mul_i64(numel, (int64_t)pt2_dtype_size(t->dtype), &byte_count))
        return pt2_fail(err, PT2_ERR_INPUT, "element count of the shape overflows 64 bits in bytes");
    const pt2_json *begin = &offsets->items[0], *end = &offsets->items[1];
    if (begin->type != PT2_JSON_NUMBER || end->type != PT2_JSON_NUMBER || !begin->is_integer || !end->is_integer ||
        begin->integer < 0 || end->integer < begin->integer)
        return pt2_fail(err, PT2_ERR_INPUT, "data_offsets must be two integers 0 <= begin <= end");
    if ((uint64_t)end->integer > data_length)
        return pt2_fail(err, PT2_ERR_INPUT, "truncated: data_offsets end %lld is past the end of the data (%zu bytes)",
                        (long long)end->integer, data_length);
    if (end->integer - begin->integer != byte_count)
        return pt2_fail(err, PT2_ERR_INPUT, "data_offsets span %lld bytes but the shape and dtype need %lld",
                        (long long)(end->integer - begin->integer), (long long)byte_count);
    pt2_contiguous_strides(t->shape, t->rank, t->strides);
    t->storage = (void *)(data + begin->integer); /* read-only use: tensors view the file bytes */
    t->storage_bytes = (size_t)byte_count;
    range->begin = (uint64_t)begin->integer;
    range->end = (uint64_t)end->integer;
    range->name = name;
    return PT2_OK;
}

static pt2_status load(pt2_arena *arena, const uint8_t *bytes, size_t length, const char *file_name,
                       pt2_named_tensors *out, pt2_safetensors_metadata *metadata, pt2_error *err) {
    if (metadata) memset(metadata, 0, sizeof *metadata);
    pt2_error_set_file(err, file_name);
    if (length < 8)
        return pt2_fail(err, PT2_ERR_INPUT,
                        "truncated: %zu bytes, a safetensors file starts with an 8-byte header length", length);
    uint64_t header_length = read_u64(bytes);
    if (header_length > length - 8)
        return pt2_fail(err, PT2_ERR_INPUT, "truncated: header length %llu exceeds the %zu bytes after it",
                        (unsigned long long)header_length, length - 8);
    if (header_length > MAX_HEADER_BYTES)
        return pt2_fail(err, PT2_ERR_INPUT, "header length %llu exceeds the 100 MB limit",
                        (unsigned long long)header_length);
    pt2_json *header;
    pt2_status st = pt2_json_parse(arena, (const char *)bytes + 8, (size_t)header_length, "the safetensors header",
                                   &header, err);
    if (st) return st;
    if (header->type != PT2_JSON_OBJECT)
        return pt2_fail(err, PT2_ERR_INPUT, "the safetensors header is not a JSON object");
    const uint8_t *data = bytes + 8 + header_length;
    size_t data_length = length - 8 - (size_t)header_length;
    /* The JSON tree already holds one node per member, so this array is justified by the header's bytes. */
    byte_range *ranges = header->count ? pt2_arena_alloc_array(arena, header->count, sizeof *ranges, err) : NULL;
    if (header->count && !ranges) return err->status;
    size_t range_count = 0;
    for (size_t i = 0; i < header->count; i++) {
        const char *name = header->keys[i];
        if (!strcmp(name, "__metadata__")) {
            if ((st = read_metadata(arena, &header->items[i], metadata, err))) return st;
            continue;
        }
        pt2_error_set_entry(err, name);
        pt2_tensor t;
        if ((st = read_tensor(name, &header->items[i], data, data_length, &t, &ranges[range_count], err))) return st;
        range_count++;
        /* Kernels load elements with their C type, so a tensor whose bytes sit at an offset the
         * element size does not divide (the header length is free) gets an aligned copy. */
        if ((st = pt2_storage_align(arena, t.dtype, &t.storage, t.storage_bytes, err))) return st;
        err->entry[0] = 0;
        if ((st = pt2_named_tensors_push(arena, out, name, &t, 0, err))) return st;
    }
    /* Two tensors sharing bytes would make a write through one change the other; the format
     * gives each its own range, so an overlap means a damaged or hostile header. A header of no
     * tensors has no array (qsort must not be given NULL, even for 0 items). */
    if (range_count > 1) qsort(ranges, range_count, sizeof *ranges, compare_ranges);
    for (size_t i = 1; i < range_count; i++) {
        if (ranges[i].begin < ranges[i - 1].end) {
            pt2_error_set_entry(err, ranges[i].name);
            return pt2_fail(err, PT2_ERR_INPUT, "data_offsets [%llu, %llu) overlap those of '%s' [%llu, %llu)",
                            (unsigned long long)ranges[i].begin, (unsigned long long)ranges[i].end,
                            ranges[i - 1].name, (unsigned long long)ranges[i - 1].begin,
                            (unsigned long long)ranges[i - 1].end);
        }
    }
    return PT2_OK;
}

pt2_status pt2_safetensors_load_with_metadata(pt2_arena *arena, const uint8_t *bytes, size_t length,
                                              const char *file_name, pt2_named_tensors *out,
                                              pt2_safetensors_metadata *metadata, pt2_error *err) {
    pt2_reader_bound bound;
    pt2_arena_reader_begin(arena, length, file_name, &bound);
    pt2_status st = load(arena, bytes, length, file_name, out, metadata, err);
    pt2_arena_reader_end(arena, &bound);
    return st;
}

pt2_status pt2_safetensors_load(pt2_arena *arena, const uint8_t *bytes, size_t length, const char *file_name,
                                pt2_named_tensors *out, pt2_error *err) {
    return pt2_safetensors_load_with_metadata(arena, bytes, length, file_name, out, NULL, err);
}
