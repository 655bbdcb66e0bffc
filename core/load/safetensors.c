#include "safetensors.h"

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

pt2_status pt2_safetensors_load(pt2_arena *arena, const uint8_t *bytes, size_t length, const char *file_name,
                                pt2_named_tensors *out, pt2_error *err) {
    pt2_error_set_file(err, file_name);
    if (length < 8) return pt2_fail(err, PT2_ERR_INPUT, "truncated: %zu bytes, a safetensors file starts with an 8-byte header length", length);
    uint64_t header_length = read_u64(bytes);
    if (header_length > length - 8)
        return pt2_fail(err, PT2_ERR_INPUT, "truncated: header length %llu exceeds the %zu bytes after it",
                        (unsigned long long)header_length, length - 8);
    if (header_length > MAX_HEADER_BYTES)
        return pt2_fail(err, PT2_ERR_INPUT, "header length %llu exceeds the 100 MB limit", (unsigned long long)header_length);
    pt2_json *header;
    pt2_status st = pt2_json_parse(arena, (const char *)bytes + 8, (size_t)header_length, "the safetensors header",
                                   &header, err);
    if (st) return st;
    if (header->type != PT2_JSON_OBJECT) return pt2_fail(err, PT2_ERR_INPUT, "the safetensors header is not a JSON object");
    const uint8_t *data = bytes + 8 + header_length;
    size_t data_length = length - 8 - (size_t)header_length;
    for (size_t i = 0; i < header->count; i++) {
        const char *name = header->keys[i];
        if (!strcmp(name, "__metadata__")) continue;
        pt2_error_set_entry(err, name);
        const pt2_json *info = &header->items[i];
        const char *dtype_name = pt2_json_get_string(info, "dtype", NULL);
        const pt2_json *shape = pt2_json_get(info, "shape");
        const pt2_json *offsets = pt2_json_get(info, "data_offsets");
        if (!dtype_name || !pt2_json_is(shape, PT2_JSON_ARRAY) || !pt2_json_is(offsets, PT2_JSON_ARRAY) ||
            offsets->count != 2)
            return pt2_fail(err, PT2_ERR_INPUT, "expected {\"dtype\": str, \"shape\": [...], \"data_offsets\": [begin, end]}");
        pt2_tensor t = {0};
        for (size_t d = 0; d < sizeof dtype_names / sizeof dtype_names[0]; d++)
            if (!strcmp(dtype_names[d].name, dtype_name)) t.dtype = dtype_names[d].dtype;
        if (!t.dtype) return pt2_fail(err, PT2_ERR_UNSUPPORTED, "dtype '%s' is not supported", dtype_name);
        if (shape->count > PT2_MAX_RANK)
            return pt2_fail(err, PT2_ERR_UNSUPPORTED, "rank %zu is above the supported %d", shape->count, PT2_MAX_RANK);
        t.rank = (int)shape->count;
        for (int d = 0; d < t.rank; d++) {
            const pt2_json *size = &shape->items[d];
            if (size->type != PT2_JSON_NUMBER || !size->is_integer || size->integer < 0)
                return pt2_fail(err, PT2_ERR_INPUT, "shape entry %d is not a non-negative integer", d);
            t.shape[d] = size->integer;
        }
        int64_t numel;
        if (!pt2_shape_numel(t.shape, t.rank, &numel, err)) return err->status;
        int64_t byte_count;
        if (!pt2_mul_i64(numel, (int64_t)pt2_dtype_size(t.dtype), &byte_count))
            return pt2_fail(err, PT2_ERR_INPUT, "element count of the shape overflows 64 bits");
        const pt2_json *begin = &offsets->items[0], *end = &offsets->items[1];
        if (!begin->is_integer || !end->is_integer || begin->integer < 0 || end->integer < begin->integer)
            return pt2_fail(err, PT2_ERR_INPUT, "data_offsets must be two integers 0 <= begin <= end");
        if ((uint64_t)end->integer > data_length)
            return pt2_fail(err, PT2_ERR_INPUT, "data_offsets end %lld is past the end of the data (%zu bytes)",
                            (long long)end->integer, data_length);
        if (end->integer - begin->integer != byte_count)
            return pt2_fail(err, PT2_ERR_INPUT, "data_offsets span %lld bytes but the shape and dtype need %lld",
                            (long long)(end->integer - begin->integer), (long long)byte_count);
        pt2_contiguous_strides(t.shape, t.rank, t.strides);
        t.storage = (void *)(data + begin->integer);
        t.storage_bytes = (size_t)byte_count;
        err->entry[0] = 0;
        if ((st = pt2_named_tensors_push(arena, out, name, &t, 0, err))) return st;
    }
    return PT2_OK;
}
