#include "npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *descr;
    pt2_dtype dtype;
} npy_types[] = {{"<f4", PT2_DTYPE_FLOAT32}, {"<f8", PT2_DTYPE_FLOAT64}, {"<i8", PT2_DTYPE_INT64},
                 {"<i4", PT2_DTYPE_INT32},   {"<i2", PT2_DTYPE_INT16},   {"|i1", PT2_DTYPE_INT8},
                 {"|u1", PT2_DTYPE_UINT8},   {"|b1", PT2_DTYPE_BOOL},    {"<f2", PT2_DTYPE_FLOAT16}};

static pt2_status read_npy(const uint8_t *bytes, size_t length, pt2_tensor *out, pt2_error *err) {
    memset(out, 0, sizeof *out);
    if (length < 10 || memcmp(bytes, "\x93NUMPY", 6) != 0)
        return pt2_fail(err, PT2_ERR_INPUT, "not a .npy file (expected the magic '\\x93NUMPY')");
    size_t header_length = bytes[6] == 1 ? (size_t)(bytes[8] | bytes[9] << 8) : 0, start = 10;
    if (bytes[6] >= 2) {
        if (length < 12) return pt2_fail(err, PT2_ERR_INPUT, "truncated .npy header");
        header_length = (size_t)bytes[8] | (size_t)bytes[9] << 8 | (size_t)bytes[10] << 16 | (size_t)bytes[11] << 24;
        start = 12;
    }
    if (header_length > length - start) return pt2_fail(err, PT2_ERR_INPUT, "truncated .npy header");
    char header[1024];
    if (header_length >= sizeof header) return pt2_fail(err, PT2_ERR_UNSUPPORTED, ".npy header longer than 1 KiB");
    memcpy(header, bytes + start, header_length);
    header[header_length] = 0;
    const char *descr = strstr(header, "'descr':");
    const char *order = strstr(header, "'fortran_order':");
    const char *shape = strstr(header, "'shape':");
    if (!descr || !order || !shape) return pt2_fail(err, PT2_ERR_INPUT, ".npy header lacks descr, fortran_order or shape");
    descr = strchr(descr + 8, '\'');
    for (size_t i = 0; descr && i < sizeof npy_types / sizeof npy_types[0]; i++)
        if (!strncmp(descr + 1, npy_types[i].descr, 3) && descr[4] == '\'') out->dtype = npy_types[i].dtype;
    if (!out->dtype) return pt2_fail(err, PT2_ERR_UNSUPPORTED, ".npy dtype %.8s is not supported", descr ? descr : "?");
    int fortran = strncmp(order + 16 + strspn(order + 16, " "), "True", 4) == 0;
    const char *p = strchr(shape, '(');
    if (!p) return pt2_fail(err, PT2_ERR_INPUT, ".npy shape is not a tuple");
    p++;
    while (*p && *p != ')') {
        while (*p == ' ' || *p == ',') p++;
        if (*p == ')') break;
        char *end;
        long long size = strtoll(p, &end, 10);
        if (end == p || size < 0) return pt2_fail(err, PT2_ERR_INPUT, ".npy shape entry is not a size");
        if (out->rank == PT2_MAX_RANK) return pt2_fail(err, PT2_ERR_UNSUPPORTED, ".npy rank above %d", PT2_MAX_RANK);
        out->shape[out->rank++] = size;
        p = end;
    }
    int64_t numel;
    if (!pt2_shape_numel(out->shape, out->rank, &numel, err)) return err->status;
    size_t elsize = pt2_dtype_size(out->dtype), data = start + header_length;
    if ((uint64_t)numel > (length - data) / elsize)
        return pt2_fail(err, PT2_ERR_INPUT, "truncated: .npy data needs %lld elements", (long long)numel);
    if (fortran) {
        int64_t s = 1;
        for (int i = 0; i < out->rank; i++) {
            out->strides[i] = s;
            s *= out->shape[i];
        }
    } else {
        pt2_contiguous_strides(out->shape, out->rank, out->strides);
    }
    out->storage = (void *)(bytes + data);
    out->storage_bytes = (size_t)numel * elsize;
    return PT2_OK;
}

/* The file context is set only on failure: set first-wins, so setting it on success would
 * mislabel a later, unrelated error that uses the same pt2_error. */
pt2_status pt2_npy_read(pt2_arena *arena, const uint8_t *bytes, size_t length, const char *name, pt2_tensor *out,
                        pt2_error *err) {
    /* The tensor points into bytes, which the caller keeps alive; only a data offset the element
     * size does not divide (numpy pads headers to 64 bytes, other writers need not) is copied. */
    pt2_status status = read_npy(bytes, length, out, err);
    if (!status) status = pt2_storage_align(arena, out->dtype, &out->storage, out->storage_bytes, err);
    if (status) pt2_error_set_file(err, name);
    return status;
}

pt2_status pt2_npy_write(pt2_arena *scratch, const pt2_tensor *tensor, pt2_strbuf *out, pt2_error *err) {
    const char *descr = NULL;
    for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
        if (npy_types[i].dtype == tensor->dtype) descr = npy_types[i].descr;
    if (!descr) return pt2_fail(err, PT2_ERR_UNSUPPORTED, "cannot write %s to .npy", pt2_dtype_name(tensor->dtype));
    pt2_tensor c;
    pt2_status st = pt2_tensor_contiguous(scratch, tensor, 0, &c, err);
    if (st) return st;
    char header[512];
    int n = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int i = 0; i < c.rank; i++) n += snprintf(header + n, sizeof header - (size_t)n, "%lld%s", (long long)c.shape[i], c.rank == 1 ? "," : (i + 1 < c.rank ? ", " : ""));
    n += snprintf(header + n, sizeof header - (size_t)n, "), }");
    /* Pad with spaces so the data starts on a 64-byte boundary, ending in a newline. */
    size_t total = 10 + (size_t)n + 1;
    size_t padded = (total + 63) / 64 * 64;
    pt2_strbuf_append(out, "\x93NUMPY\x01\x00", 8);
    uint16_t header_length = (uint16_t)(padded - 10);
    uint8_t length_bytes[2] = {(uint8_t)(header_length & 0xff), (uint8_t)(header_length >> 8)};
    pt2_strbuf_append(out, length_bytes, 2);
    pt2_strbuf_append(out, header, (size_t)n);
    for (size_t i = total; i < padded; i++) pt2_strbuf_putc(out, ' ');
    pt2_strbuf_putc(out, '\n');
    pt2_strbuf_append(out, pt2_tensor_data(&c), (size_t)pt2_tensor_numel(&c) * pt2_dtype_size(c.dtype));
    return out->failed ? pt2_fail(err, PT2_ERR_MEMORY, "out of memory writing .npy") : PT2_OK;
}
