/* Tensors: a dtype, a shape, element strides and a pointer into storage bytes.
 * Loaders produce views onto the file's storages (tied weights share storage);
 * kernels mostly work on contiguous tensors made with pt2_tensor_contiguous. */
#ifndef PT2_BASE_TENSOR_H
#define PT2_BASE_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "error.h"

#define PT2_MAX_RANK 8

typedef enum pt2_dtype {
    PT2_DTYPE_INVALID = 0,
    PT2_DTYPE_FLOAT32,
    PT2_DTYPE_FLOAT64,
    PT2_DTYPE_FLOAT16,
    PT2_DTYPE_BFLOAT16,
    PT2_DTYPE_INT64,
    PT2_DTYPE_INT32,
    PT2_DTYPE_INT16,
    PT2_DTYPE_INT8,
    PT2_DTYPE_UINT8,
    PT2_DTYPE_BOOL,
    PT2_DTYPE_COUNT
} pt2_dtype;

typedef struct pt2_tensor {
    pt2_dtype dtype;
    int rank;
    int64_t shape[PT2_MAX_RANK];
    int64_t strides[PT2_MAX_RANK]; /* in elements */
    int64_t storage_offset;        /* in elements */
    void *storage;                 /* start of the storage bytes; data = storage + offset*elsize */
    size_t storage_bytes;          /* bytes available from `storage` (for bounds checks) */
} pt2_tensor;

size_t pt2_dtype_size(pt2_dtype dtype);
const char *pt2_dtype_name(pt2_dtype dtype);          /* "float32", "int64", ... (PyTorch's names) */
pt2_dtype pt2_dtype_from_name(const char *name);      /* inverse of pt2_dtype_name */
int pt2_dtype_is_floating(pt2_dtype dtype);

/* Product of the shape; 0 with err filled on overflow or negative size. */
int pt2_shape_numel(const int64_t *shape, int rank, int64_t *numel, pt2_error *err);
int64_t pt2_tensor_numel(const pt2_tensor *t);
void *pt2_tensor_data(const pt2_tensor *t); /* storage + storage_offset * element size */
void pt2_contiguous_strides(const int64_t *shape, int rank, int64_t *strides);
int pt2_tensor_is_contiguous(const pt2_tensor *t);
/* The strides that let `t`'s elements, in their row-major order, be read as `shape` without a
 * copy, where such exist (PyTorch's view rule: each run of t's axes that lie one after another
 * in memory may be split or merged, never axes across such runs): 1 with *strides filled, else
 * 0 (a copy is needed, as reshape makes; view refuses). An empty t: 0. */
int pt2_view_strides(const pt2_tensor *t, const int64_t *shape, int rank, int64_t *strides);

/* Checks that every element the view addresses lies inside storage_bytes. */
pt2_status pt2_tensor_check_bounds(const pt2_tensor *t, pt2_error *err);

/* Kernels load elements with their C type, so a storage must be aligned to its element size.
 * Readers view file bytes in place; a storage at an address the element size does not divide
 * (a zip writer without PyTorch's 64-byte alignment, a free header length, an offset in a
 * TF bundle) is copied into the arena, and only then. */
pt2_status pt2_storage_align(pt2_arena *arena, pt2_dtype dtype, void **storage, size_t storage_bytes, pt2_error *err);

/* A new zeroed contiguous tensor in the arena. */
pt2_status pt2_tensor_alloc(pt2_arena *arena, pt2_dtype dtype, int rank, const int64_t *shape, pt2_tensor *out,
                            pt2_error *err);
/* The same without zeroing the data (the caller writes every element). */
pt2_status pt2_tensor_alloc_uninit(pt2_arena *arena, pt2_dtype dtype, int rank, const int64_t *shape, pt2_tensor *out,
                                   pt2_error *err);
/* A contiguous copy (or `in` itself when it already is contiguous and `always_copy` is 0). */
pt2_status pt2_tensor_contiguous(pt2_arena *arena, const pt2_tensor *in, int always_copy, pt2_tensor *out,
                                 pt2_error *err);
/* in's elements in row-major order into `storage` (numel * element size bytes). */
void pt2_tensor_copy_dense(const pt2_tensor *in, void *storage);

/* Equal blocks along one axis taken in another order: block b of the tensor meant is block
 * order[b] of the one held. A weight whose consumer wants its gates in another order (an LSTM's
 * for RETURNN's NativeLstm2) stays a view of the model's bytes; who needs it dense asks
 * pt2_tensor_contiguous_blocks for a copy when it needs one. count 0: no reordering. */
#define PT2_MAX_BLOCKS 8
typedef struct pt2_block_order {
    int axis, count;
    int order[PT2_MAX_BLOCKS];
} pt2_block_order;

/* The tensor `blocks` makes of `in`, in row-major order into `storage` (pt2_tensor_copy_dense with
 * the blocks reordered; a block at a time through `scratch` when they are not the outermost axis). */
pt2_status pt2_tensor_copy_dense_blocks(pt2_arena *scratch, const pt2_tensor *in, const pt2_block_order *blocks,
                                        void *storage, pt2_error *err);
/* The same as a new contiguous tensor (or `in` itself without reordering when it is contiguous). */
pt2_status pt2_tensor_contiguous_blocks(pt2_arena *arena, const pt2_tensor *in, const pt2_block_order *blocks,
                                        pt2_tensor *out, pt2_error *err);

/* `t` seen in its memory order: *physical has t's axes permuted (its axis k is t's axis
 * order[k]) and is contiguous. That is t itself when t is dense in some order of its axes (a
 * PyTorch value seen in RETURNN's order of dims), else a contiguous copy (order: t's own).
 * Elementwise layers compute over the physical view and give their result in the same order
 * (pt2_tensor_unpermute): a check then neither transposes PyTorch's value into RETURNN's order
 * nor its result back. */
pt2_status pt2_tensor_in_memory_order(pt2_arena *arena, const pt2_tensor *t, int *order, pt2_tensor *physical,
                                      pt2_error *err);
/* The order of t's axes from the outermost in memory to the innermost (those of one entry
 * first); 1 when t seen in it is
 * contiguous (t is dense). */
int pt2_tensor_memory_order(const pt2_tensor *t, int *order);
/* t's axes permuted: axis k of *out is t's axis order[k]. */
void pt2_tensor_permute(const pt2_tensor *t, const int *order, pt2_tensor *out);
/* The inverse: axis order[k] of *out is physical's axis k. */
void pt2_tensor_unpermute(const pt2_tensor *physical, const int *order, pt2_tensor *out);

/* "[1, 80, 100]" into buf. */
void pt2_shape_format(const int64_t *shape, int rank, char *buf, size_t size);

#endif
