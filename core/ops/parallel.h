/* Work split over the run's threads (--threads): the native build runs the pieces on a
 * pthreadpool shared with XNNPACK, the WebAssembly threads build on a pool of its own (Web
 * Workers), the single-threaded WebAssembly build one after the other.
 * Pieces write disjoint outputs and each computes its elements exactly as one call would, so
 * the result's bits do not depend on the thread count. */
#ifndef PT2_OPS_PARALLEL_H
#define PT2_OPS_PARALLEL_H

#include <stddef.h>

#include "../run/executor.h"
#include "kernels.h"

/* The pool for `threads` threads, created once for the process's life (natively a pthreadpool_t,
 * which XNNPACK is handed; in the WebAssembly threads build this file's own pool); NULL for one
 * thread or without a pool (the caller then runs on its own thread). */
void *pt2_thread_pool(int threads);

/* task(context, 0) ... task(context, count - 1) over the run's threads. */
void pt2_parallel_for(const pt2_run_context *ctx, size_t count, void (*task)(void *context, size_t index),
                      void *context);

/* How many pieces to split work of `units` units into at the run's thread count (1 without
 * threads; never more than units). */
size_t pt2_parallel_pieces(const pt2_run_context *ctx, size_t units);

/* pt2_gemm_matrix with c split into blocks of columns (or of rows when c is narrow) over the
 * run's threads, each with its own scratch from the run's arena. */
pt2_status pt2_op_gemm(pt2_run_context *ctx, int64_t m, int64_t n, int64_t k, pt2_matrix_view a, pt2_matrix_view b,
                       float *c, int64_t ldc, int accumulate, pt2_error *err);
/* c = (a @ b)[i, j] + bias_cols[j] (the product alone for bias_cols NULL), c not read first;
 * then the epilogue (NULL: none) on each row of c (pt2_gemm_bias_epilogue). */
pt2_status pt2_op_gemm_bias(pt2_run_context *ctx, int64_t m, int64_t n, int64_t k, pt2_matrix_view a,
                            pt2_matrix_view b, float *c, int64_t ldc, const float *bias_cols,
                            const pt2_gemm_epilogue *epilogue, pt2_error *err);

/* The same split for code without a run context (the per-layer checks' interpreter,
 * core/returnn): pt2_gemm_matrix (accumulate) or pt2_gemm_matrix_bias over `threads` threads,
 * the pieces' scratch from `arena`. Each piece computes its elements as one call would: the same
 * bits at any thread count. */
pt2_status pt2_parallel_gemm_matrix(pt2_arena *arena, int threads, int64_t m, int64_t n, int64_t k, pt2_matrix_view a,
                                    pt2_matrix_view b, float *c, int64_t ldc, int accumulate, const float *bias_rows,
                                    const float *bias_cols, pt2_error *err);

/* task(context, 0) ... task(context, count - 1) over `threads` threads, for the same. */
void pt2_parallel_for_threads(int threads, size_t count, void (*task)(void *context, size_t index), void *context);

/* How many of `threads` a job of `units` units gets: pt2_parallel_pieces without a run context. */
size_t pt2_parallel_pieces_threads(int threads, size_t units);

/* How a product's `rows` output channels (a filter's rows) split over `threads` threads: blocks of
 * *block rows, whole micro-kernel rows (6), at least two per piece; returns the pieces (the last
 * ones may be empty). The convolutions' split, the reference run's and the checks'. */
size_t pt2_parallel_row_blocks(int threads, int64_t rows, int64_t *block);

/* A 2-D convolution or transposed convolution on the portable kernels (pt2_conv2d_channels,
 * pt2_conv_transpose2d_channels), each group's output channels split over `threads` threads, the
 * pieces' scratch from `arena` (given back when it returns): the reference run's and the checks'. */
pt2_status pt2_parallel_conv(pt2_arena *arena, int threads, const pt2_conv_geometry *g, int transposed, const float *x,
                             const float *weight, const float *bias, float *out, pt2_error *err);

/* pt2_tensor_contiguous with a large copy split over the run's threads along its outermost axis
 * (a view's transpose made dense before a reshape: serial, the other thread waited for it). */
pt2_status pt2_op_contiguous(pt2_run_context *ctx, const pt2_tensor *in, int always_copy, pt2_tensor *out,
                             pt2_error *err);

#endif
