#include "tensor.h"
#include "transpose4.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    size_t size;
    int floating;
} dtype_info[PT2_DTYPE_COUNT] = {
    [PT2_DTYPE_INVALID] = {"invalid", 0, 0},   [PT2_DTYPE_FLOAT32] = {"float32", 4, 1},
    [PT2_DTYPE_FLOAT64] = {"float64", 8, 1},   [PT2_DTYPE_FLOAT16] = {"float16", 2, 1},
    [PT2_DTYPE_BFLOAT16] = {"bfloat16", 2, 1}, [PT2_DTYPE_INT64] = {"int64", 8, 0},
    [PT2_DTYPE_INT32] = {"int32", 4, 0},       [PT2_DTYPE_INT16] = {"int16", 2, 0},
    [PT2_DTYPE_INT8] = {"int8", 1, 0},         [PT2_DTYPE_UINT8] = {"uint8", 1, 0},
    [PT2_DTYPE_BOOL] = {"bool", 1, 0},
};

size_t pt2_dtype_size(pt2_dtype dtype) {
    return (dtype > 0 && dtype < PT2_DTYPE_COUNT) ? dtype_info[dtype].size : 0;
}

const char *pt2_dtype_name(pt2_dtype dtype) {
    return (dtype >= 0 && dtype < PT2_DTYPE_COUNT) ? dtype_info[dtype].name : "invalid";
}

pt2_dtype pt2_dtype_from_name(const char *name) {
    for (int d = 1; d < PT2_DTYPE_COUNT; d++)
        if (strcmp(dtype_info[d].name, name) == 0) return (pt2_dtype)d;
    return PT2_DTYPE_INVALID;
}

int pt2_dtype_is_floating(pt2_dtype dtype) {
    return (dtype > 0 && dtype < PT2_DTYPE_COUNT) ? dtype_info[dtype].floating : 0;
}

int pt2_shape_numel(const int64_t *shape, int rank, int64_t *numel, pt2_error *err) {
    int64_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (shape[i] < 0) {
            pt2_fail(err, PT2_ERR_INPUT, "negative size %lld in dimension %d", (long long)shape[i], i);
            return 0;
        }
        if (!pt2_mul_i64(n, shape[i], &n)) {
            pt2_fail(err, PT2_ERR_INPUT, "element count of the shape overflows 64 bits");
            return 0;
        }
    }
    *numel = n;
    return 1;
}

int64_t pt2_tensor_numel(const pt2_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++) n *= t->shape[i];
    return n;
}

void *pt2_tensor_data(const pt2_tensor *t) {
    return (char *)t->storage + (size_t)t->storage_offset * pt2_dtype_size(t->dtype);
}

void pt2_contiguous_strides(const int64_t *shape, int rank, int64_t *strides) {
    int64_t s = 1;
    for (int i = rank - 1; i >= 0; i--) {
        strides[i] = s;
        /* Sizes of an empty tensor (a 0 elsewhere) may multiply past 64 bits: its strides are never
         * used to reach an element, so they saturate instead of overflowing. */
        if (!pt2_mul_i64(s, shape[i] > 0 ? shape[i] : 1, &s)) s = INT64_MAX;
    }
}

int pt2_tensor_is_contiguous(const pt2_tensor *t) {
    int64_t s = 1;
    for (int i = t->rank - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->strides[i] != s) return 0;
        if (!pt2_mul_i64(s, t->shape[i], &s)) s = INT64_MAX; /* an empty tensor's sizes may overflow */
    }
    return 1;
}

int pt2_view_strides(const pt2_tensor *t, const int64_t *shape, int rank, int64_t *strides) {
    if (pt2_tensor_numel(t) == 0) return 0;
    if (t->rank == 0) { /* one element: any shape of ones */
        for (int i = 0; i < rank; i++) strides[i] = 1;
        return 1;
    }
    /* From the last axis back, t's axes are taken in chunks: a chunk ends where the axis before it
     * does not lie right after it in memory (an axis of size 1 lies anywhere). Each chunk is one
     * run of memory with the stride of its last axis, so the new axes that cover its elements
     * exactly take strides within that run; a new axis spanning two chunks cannot. */
    int view = rank - 1;
    int64_t base = t->strides[t->rank - 1], chunk = 1, covered = 1;
    for (int axis = t->rank - 1; axis >= 0; axis--) {
        chunk *= t->shape[axis];
        int chunk_ends = axis == 0 || (t->shape[axis - 1] != 1 && t->strides[axis - 1] != chunk * base);
        if (!chunk_ends) continue;
        while (view >= 0 && (covered < chunk || shape[view] == 1)) {
            strides[view] = covered * base;
            covered *= shape[view];
            view--;
        }
        if (covered != chunk) return 0;
        if (axis > 0) base = t->strides[axis - 1], chunk = 1, covered = 1;
    }
    return view == -1;
}

pt2_status pt2_tensor_check_bounds(const pt2_tensor *t, pt2_error *err) {
    size_t elsize = pt2_dtype_size(t->dtype);
    if (!elsize) return pt2_fail(err, PT2_ERR_INPUT, "tensor has an unknown dtype");
    if (t->rank < 0 || t->rank > PT2_MAX_RANK)
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "tensor rank %d is outside 0..%d", t->rank, PT2_MAX_RANK);
    int64_t numel;
    if (!pt2_shape_numel(t->shape, t->rank, &numel, err)) return err->status;
    if (t->storage_offset < 0) return pt2_fail(err, PT2_ERR_INPUT, "negative storage offset");
    if (numel == 0) return PT2_OK;
    /* The last element addressed is offset + sum((size-1)*stride) for non-negative strides. */
    int64_t last = t->storage_offset, step;
    for (int i = 0; i < t->rank; i++) {
        if (t->strides[i] < 0) return pt2_fail(err, PT2_ERR_INPUT, "negative stride in dimension %d", i);
        if (!pt2_mul_i64(t->shape[i] - 1, t->strides[i], &step) || step > INT64_MAX - last)
            return pt2_fail(err, PT2_ERR_INPUT, "strides address beyond 64 bits");
        last += step;
    }
    int64_t end_bytes;
    if (!pt2_mul_i64(last + 1, (int64_t)elsize, &end_bytes) || (uint64_t)end_bytes > (uint64_t)t->storage_bytes)
        return pt2_fail(err, PT2_ERR_INPUT,
                        "tensor view needs %lld elements of storage but the storage holds %zu bytes",
                        (long long)(last + 1), t->storage_bytes);
    return PT2_OK;
}

pt2_status pt2_storage_align(pt2_arena *arena, pt2_dtype dtype, void **storage, size_t storage_bytes, pt2_error *err) {
    size_t elsize = pt2_dtype_size(dtype);
    if (!elsize || (uintptr_t)*storage % elsize == 0) return PT2_OK;
    void *copy = pt2_arena_alloc(arena, storage_bytes ? storage_bytes : 1, err);
    if (!copy) return err->status;
    memcpy(copy, *storage, storage_bytes);
    *storage = copy;
    return PT2_OK;
}

static pt2_status tensor_alloc(pt2_arena *arena, pt2_dtype dtype, int rank, const int64_t *shape, int zero,
                               pt2_tensor *out, pt2_error *err) {
    memset(out, 0, sizeof *out);
    if (rank < 0 || rank > PT2_MAX_RANK)
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "tensor rank %d is outside 0..%d", rank, PT2_MAX_RANK);
    int64_t numel;
    if (!pt2_shape_numel(shape, rank, &numel, err)) return err->status;
    size_t bytes;
    if (!pt2_mul_size((size_t)numel, pt2_dtype_size(dtype), &bytes))
        return pt2_fail(err, PT2_ERR_MEMORY, "tensor byte size overflows");
    out->dtype = dtype;
    out->rank = rank;
    if (rank) memcpy(out->shape, shape, sizeof(int64_t) * (size_t)rank); /* a scalar may pass no shape */
    pt2_contiguous_strides(shape, rank, out->strides);
    out->storage = zero ? pt2_arena_alloc(arena, bytes ? bytes : 1, err) : pt2_arena_alloc_uninit(arena, bytes ? bytes : 1, err);
    if (!out->storage) return err->status;
    out->storage_bytes = bytes;
    return PT2_OK;
}

pt2_status pt2_tensor_alloc(pt2_arena *arena, pt2_dtype dtype, int rank, const int64_t *shape, pt2_tensor *out,
                            pt2_error *err) {
    return tensor_alloc(arena, dtype, rank, shape, 1, out, err);
}

pt2_status pt2_tensor_alloc_uninit(pt2_arena *arena, pt2_dtype dtype, int rank, const int64_t *shape, pt2_tensor *out,
                                   pt2_error *err) {
    return tensor_alloc(arena, dtype, rank, shape, 0, out, err);
}

/* A 4-byte copy whose source is contiguous along an axis p other than the last (a transpose such
 * as channels first <-> channels last): tiles of p x last, so that both the reads and the writes
 * stay within a few cache lines. Returns 0 when the tensor is not of that kind. */
static int transpose_floats(const pt2_tensor *in, void *storage) {
    int last = in->rank - 1, p = -1;
    if (in->rank < 2 || in->strides[last] == 1) return 0;
    for (int a = 0; a < last; a++)
        if (in->strides[a] == 1 && in->shape[a] > 1) p = a;
    if (p < 0) return 0;
    int64_t dst_strides[PT2_MAX_RANK], index[PT2_MAX_RANK] = {0}, outer = 1;
    pt2_contiguous_strides(in->shape, in->rank, dst_strides);
    for (int a = 0; a < last; a++)
        if (a != p) outer *= in->shape[a];
    enum { TILE = 16 };
    int64_t rows = in->shape[p], cols = in->shape[last], step = in->strides[last], dst_row = dst_strides[p];
    const float *src = (const float *)in->storage + in->storage_offset;
    float *dst = storage;
    for (int64_t o = 0; o < outer; o++) {
        int64_t src_offset = 0, dst_offset = 0;
        for (int a = 0; a < last; a++) {
            src_offset += index[a] * in->strides[a];
            dst_offset += index[a] * dst_strides[a];
        }
        const float *s = src + src_offset;
        float *d = dst + dst_offset;
        for (int64_t r0 = 0; r0 < rows; r0 += TILE)
            for (int64_t c0 = 0; c0 < cols; c0 += TILE) {
                int64_t r1 = r0 + TILE < rows ? r0 + TILE : rows, c1 = c0 + TILE < cols ? c0 + TILE : cols;
                int64_t r4 = r0 + (r1 - r0) / 4 * 4, c4 = c0 + (c1 - c0) / 4 * 4;
                for (int64_t r = r0; r < r4; r += 4)
                    for (int64_t c = c0; c < c4; c += 4) pt2_transpose4(s + r + c * step, step, d + r * dst_row + c, dst_row);
                for (int64_t r = r0; r < r1; r++)
                    for (int64_t c = r < r4 ? c4 : c0; c < c1; c++) d[r * dst_row + c] = s[r + c * step];
            }
        for (int a = last - 1; a >= 0; a--) {
            if (a == p) continue;
            if (++index[a] < in->shape[a]) break;
            index[a] = 0;
        }
    }
    return 1;
}

pt2_status pt2_tensor_contiguous(pt2_arena *arena, const pt2_tensor *in, int always_copy, pt2_tensor *out,
                                 pt2_error *err) {
    if (!always_copy && pt2_tensor_is_contiguous(in)) {
        *out = *in;
        return PT2_OK;
    }
    pt2_tensor t;
    pt2_status st = pt2_tensor_alloc_uninit(arena, in->dtype, in->rank, in->shape, &t, err);
    if (st) return st;
    pt2_tensor_copy_dense(in, t.storage);
    *out = t;
    return PT2_OK;
}

void pt2_tensor_copy_dense(const pt2_tensor *in, void *storage) {
    size_t elsize = pt2_dtype_size(in->dtype);
    int64_t numel = pt2_tensor_numel(in);
    int64_t index[PT2_MAX_RANK] = {0};
    if (elsize == 4 && transpose_floats(in, storage)) return;
    const char *src = in->storage;
    char *dst = storage;
    /* Row by row along the last axis: a copy (transposes of large activations) costs a pass
     * over the data, not a pass per element over the index. */
    int last = in->rank - 1;
    int64_t row = in->rank ? in->shape[last] : 1, step = in->rank ? in->strides[last] : 1;
    for (int64_t n = 0; n < numel && row > 0; n += row) {
        int64_t off = in->storage_offset;
        for (int i = 0; i < last; i++) off += index[i] * in->strides[i];
        char *d = dst + (size_t)n * elsize;
        const char *s = src + (size_t)off * elsize;
        if (step == 1) memcpy(d, s, elsize * (size_t)row);
        else if (elsize == 4)
            for (int64_t j = 0; j < row; j++) memcpy(d + 4 * j, s + 4 * step * j, 4);
        else
            for (int64_t j = 0; j < row; j++) memcpy(d + elsize * (size_t)j, s + (int64_t)elsize * step * j, elsize);
        for (int i = last - 1; i >= 0; i--) {
            if (++index[i] < in->shape[i]) break;
            index[i] = 0;
        }
    }
}

void pt2_tensor_permute(const pt2_tensor *t, const int *order, pt2_tensor *out) {
    pt2_tensor view = *t;
    for (int k = 0; k < t->rank; k++) {
        view.shape[k] = t->shape[order[k]];
        view.strides[k] = t->strides[order[k]];
    }
    *out = view;
}

void pt2_tensor_unpermute(const pt2_tensor *physical, const int *order, pt2_tensor *out) {
    pt2_tensor view = *physical;
    for (int k = 0; k < physical->rank; k++) {
        view.shape[order[k]] = physical->shape[k];
        view.strides[order[k]] = physical->strides[k];
    }
    *out = view;
}

int pt2_tensor_memory_order(const pt2_tensor *t, int *order) {
    /* The axes of one entry first (outermost: the innermost axis is the one loops run along),
     * then the others by falling stride (stable). */
    int n = 0;
    for (int a = 0; a < t->rank; a++)
        if (t->shape[a] == 1) order[n++] = a;
    int first = n;
    for (int a = 0; a < t->rank; a++) {
        if (t->shape[a] == 1) continue;
        int k = n++;
        for (; k > first && t->strides[order[k - 1]] < t->strides[a]; k--) order[k] = order[k - 1];
        order[k] = a;
    }
    pt2_tensor physical;
    pt2_tensor_permute(t, order, &physical);
    return pt2_tensor_is_contiguous(&physical);
}

pt2_status pt2_tensor_in_memory_order(pt2_arena *arena, const pt2_tensor *t, int *order, pt2_tensor *physical,
                                      pt2_error *err) {
    if (pt2_tensor_memory_order(t, order)) {
        pt2_tensor_permute(t, order, physical);
        return PT2_OK;
    }
    for (int a = 0; a < t->rank; a++) order[a] = a;
    return pt2_tensor_contiguous(arena, t, 1, physical, err);
}

pt2_status pt2_tensor_copy_dense_blocks(pt2_arena *scratch, const pt2_tensor *in, const pt2_block_order *blocks,
                                        void *storage, pt2_error *err) {
    if (!blocks || !blocks->count) {
        pt2_tensor_copy_dense(in, storage);
        return PT2_OK;
    }
    int axis = blocks->axis, count = blocks->count;
    if (axis < 0 || axis >= in->rank || count > PT2_MAX_BLOCKS || in->shape[axis] % count)
        return pt2_fail(err, PT2_ERR_INTERNAL, "%d blocks along axis %d of a tensor of rank %d", count, axis, in->rank);
    int64_t size = in->shape[axis] / count, outer = 1, inner = 1;
    for (int a = 0; a < axis; a++) outer *= in->shape[a];
    for (int a = axis + 1; a < in->rank; a++) inner *= in->shape[a];
    size_t span = (size_t)(size * inner) * pt2_dtype_size(in->dtype);
    char *dst = storage;
    /* Block by block: straight into its place when the blocks are the outermost axis; else made
     * dense first (a tiled transpose for a transposed view) in the scratch, a block at a time,
     * then each of its outer rows to its place among the blocks. */
    pt2_arena blocks_scratch;
    pt2_arena_init_child(&blocks_scratch, scratch);
    pt2_status st = PT2_OK;
    for (int b = 0; b < count && !st; b++) {
        pt2_tensor part = *in, dense;
        part.shape[axis] = size;
        part.storage_offset += (int64_t)blocks->order[b] * size * in->strides[axis];
        if (outer == 1) {
            pt2_tensor_copy_dense(&part, dst + (size_t)b * span);
            continue;
        }
        if ((st = pt2_tensor_contiguous(&blocks_scratch, &part, 0, &dense, err))) break;
        const char *src = pt2_tensor_data(&dense);
        for (int64_t o = 0; o < outer; o++) memcpy(dst + ((size_t)o * (size_t)count + (size_t)b) * span, src + (size_t)o * span, span);
        pt2_arena_reset(&blocks_scratch);
    }
    pt2_arena_free(&blocks_scratch);
    return st;
}

pt2_status pt2_tensor_contiguous_blocks(pt2_arena *arena, const pt2_tensor *in, const pt2_block_order *blocks,
                                        pt2_tensor *out, pt2_error *err) {
    if (!blocks || !blocks->count) return pt2_tensor_contiguous(arena, in, 0, out, err);
    pt2_status st = pt2_tensor_alloc_uninit(arena, in->dtype, in->rank, in->shape, out, err);
    return st ? st : pt2_tensor_copy_dense_blocks(arena, in, blocks, out->storage, err);
}

void pt2_shape_format(const int64_t *shape, int rank, char *buf, size_t size) {
    size_t used = 0;
    used += (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < rank && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (used < size) snprintf(buf + used, size - used, "]");
}
