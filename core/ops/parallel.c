#include "parallel.h"

#ifdef PT2_HAVE_XNNPACK
#include <pthreadpool.h>

static pthreadpool_t pools[65];

void *pt2_thread_pool(int threads) {
    if (threads <= 1) return NULL;
    if (threads > 64) threads = 64;
    if (!pools[threads]) pools[threads] = pthreadpool_create((size_t)threads);
    return pools[threads];
}

static int pool_threads(int threads) { return pt2_thread_pool(threads) ? threads : 1; }

void pt2_parallel_for_threads(int threads, size_t count, void (*task)(void *context, size_t index), void *context) {
    pthreadpool_t pool = count > 1 ? pt2_thread_pool(threads) : NULL;
    if (pool) {
        pthreadpool_parallelize_1d(pool, task, context, count, 0);
        return;
    }
    for (size_t i = 0; i < count; i++) task(context, i);
}

#elif defined(__EMSCRIPTEN_PTHREADS__)

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

/* The WebAssembly threads build (wasm/pt2.mjs loads it where SharedArrayBuffer is there): no
 * pthreadpool, so a small pool of its own. Its helpers are emscripten's pthreads, each a Web
 * Worker (a worker_threads Worker in Node) that the JS side has started beforehand: a worker
 * cannot start while the thread that asked for it waits for the job (wasm/pt2.mjs useThreads).
 * The caller takes pieces too, so `threads` threads run a job: the caller and threads - 1
 * helpers. Pieces are handed out one at a time from a shared counter. */
enum { POOL_HELPERS_MAX = 63 };
static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    int helpers_started;
    unsigned job;            /* bumped for each job posted */
    unsigned first_job[POOL_HELPERS_MAX]; /* a helper's `job` when it was created: it waits for the next */
    int helpers_wanted;      /* helpers 0 .. helpers_wanted - 1 take part in the current job */
    int helpers_busy;        /* of those, the ones not done yet */
    void (*task)(void *context, size_t index);
    void *context;
    size_t count;
    atomic_size_t next;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER, .done = PTHREAD_COND_INITIALIZER};

static void take_pieces(void) {
    for (size_t i; (i = atomic_fetch_add(&pool.next, 1)) < pool.count;) pool.task(pool.context, i);
}

static void *pool_helper(void *arg) {
    int id = (int)(intptr_t)arg;
    pthread_mutex_lock(&pool.lock);
    for (unsigned seen = pool.first_job[id];;) {
        while (pool.job == seen) pthread_cond_wait(&pool.wake, &pool.lock);
        seen = pool.job;
        if (id >= pool.helpers_wanted) continue;
        pthread_mutex_unlock(&pool.lock);
        take_pieces();
        pthread_mutex_lock(&pool.lock);
        if (--pool.helpers_busy == 0) pthread_cond_signal(&pool.done);
    }
    return NULL;
}

/* threads - 1 helpers started (fewer where a pthread could not be had: the job then runs on the
 * ones there are). Called from the thread that runs the conversion only. */
void *pt2_thread_pool(int threads) {
    if (threads <= 1) return NULL;
    if (threads > POOL_HELPERS_MAX + 1) threads = POOL_HELPERS_MAX + 1;
    while (pool.helpers_started < threads - 1) {
        pthread_t thread;
        pthread_mutex_lock(&pool.lock);
        pool.first_job[pool.helpers_started] = pool.job;
        pthread_mutex_unlock(&pool.lock);
        if (pthread_create(&thread, NULL, pool_helper, (void *)(intptr_t)pool.helpers_started)) break;
        pthread_detach(thread);
        pool.helpers_started++;
    }
    return pool.helpers_started ? &pool : NULL;
}

static int pool_threads(int threads) {
    if (!pt2_thread_pool(threads)) return 1;
    return threads - 1 < pool.helpers_started ? threads : pool.helpers_started + 1;
}

void pt2_parallel_for_threads(int threads, size_t count, void (*task)(void *context, size_t index), void *context) {
    threads = count > 1 ? pool_threads(threads) : 1;
    if (threads <= 1) {
        for (size_t i = 0; i < count; i++) task(context, i);
        return;
    }
    int helpers = (size_t)(threads - 1) < count - 1 ? threads - 1 : (int)(count - 1);
    pthread_mutex_lock(&pool.lock);
    pool.task = task;
    pool.context = context;
    pool.count = count;
    atomic_store(&pool.next, 0);
    pool.helpers_wanted = helpers;
    pool.helpers_busy = helpers;
    pool.job++;
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    take_pieces();
    pthread_mutex_lock(&pool.lock);
    while (pool.helpers_busy) pthread_cond_wait(&pool.done, &pool.lock);
    pthread_mutex_unlock(&pool.lock);
}

#else

void *pt2_thread_pool(int threads) {
    (void)threads;
    return NULL;
}

static int pool_threads(int threads) {
    (void)threads;
    return 1;
}

void pt2_parallel_for_threads(int threads, size_t count, void (*task)(void *context, size_t index), void *context) {
    (void)threads;
    for (size_t i = 0; i < count; i++) task(context, i);
}

#endif

void pt2_parallel_for(const pt2_run_context *ctx, size_t count, void (*task)(void *context, size_t index),
                      void *context) {
    pt2_parallel_for_threads(ctx->options.num_threads, count, task, context);
}

size_t pt2_parallel_pieces_threads(int threads_wanted, size_t units) {
    size_t threads = (size_t)pool_threads(threads_wanted);
    if (threads > 64) threads = 64;
    return units < threads ? (units ? units : 1) : threads;
}

size_t pt2_parallel_pieces(const pt2_run_context *ctx, size_t units) {
    return pt2_parallel_pieces_threads(ctx->options.num_threads, units);
}

typedef struct gemm_split {
    int64_t m, n, k, ldc;
    pt2_matrix_view a, b;
    const pt2_gemm_epilogue *epilogue; /* NULL or applied to c's rows once complete */
    float *c, *scratch;
    const float *bias_rows, *bias_cols; /* with accumulate 0: c starts from a bias per row or per column */
    size_t scratch_floats;
    int accumulate, by_columns;
    int64_t block; /* columns or rows per piece */
} gemm_split;

static void gemm_piece(void *context, size_t index) {
    const gemm_split *s = context;
    int64_t start = (int64_t)index * s->block, total = s->by_columns ? s->n : s->m;
    if (start >= total) return;
    int64_t size = total - start < s->block ? total - start : s->block;
    float *scratch = s->scratch + index * s->scratch_floats;
    int64_t m = s->by_columns ? s->m : size, n = s->by_columns ? size : s->n;
    pt2_matrix_view a = s->a, b = s->b;
    float *c = s->c;
    const float *bias_rows = s->bias_rows, *bias_cols = s->bias_cols;
    if (s->by_columns) {
        b.data += start * b.col_stride;
        c += start;
        if (bias_cols) bias_cols += start;
    } else {
        a.data += start * a.row_stride;
        c += start * s->ldc;
        if (bias_rows) bias_rows += start;
    }
    pt2_gemm_source source = pt2_gemm_matrix_source(b);
    if (s->accumulate) pt2_gemm(m, n, s->k, a, &source, c, s->ldc, 1, scratch);
    else pt2_gemm_bias_epilogue(m, n, s->k, a, &source, c, s->ldc, bias_rows, bias_cols, s->epilogue, scratch);
}

static pt2_status split_gemm(pt2_arena *arena, int threads_wanted, int64_t m, int64_t n, int64_t k, pt2_matrix_view a,
                             pt2_matrix_view b, float *c, int64_t ldc, int accumulate, const float *bias_rows,
                             const float *bias_cols, const pt2_gemm_epilogue *epilogue, pt2_error *err);

/* A product of a few rows by a matrix read transposed (a linear layer's weight [out, in] seen as
 * [in, out]) is computed as its transpose, c^T = b^T a^T, then put in place: b^T's rows are the
 * weight's own, read where they lie, where c = a b would pack the whole weight for those few rows
 * (the padded batch's short sequences); a^T, a few columns, is packed instead. Each element is
 * the same sum in the same order (a*b = b*a to the bit, fused or not), so the same bits. */
static int transpose_pays(int64_t m, int64_t n, pt2_matrix_view a, pt2_matrix_view b, int accumulate) {
    enum { FEW_ROWS = 64 };
    return !accumulate && m <= FEW_ROWS && n >= 4 * m && b.row_stride == 1 && b.col_stride != 1 && a.col_stride == 1;
}

static pt2_status gemm_transposed(pt2_arena *arena, int threads, int64_t m, int64_t n, int64_t k, pt2_matrix_view a,
                                  pt2_matrix_view b, float *c, int64_t ldc, const float *bias_cols,
                                  const pt2_gemm_epilogue *epilogue, pt2_error *err) {
    float *ct = pt2_arena_alloc_uninit(arena, (size_t)(m * n) * sizeof(float), err);
    if (!ct) return err->status;
    pt2_matrix_view bt = {b.data, b.col_stride, b.row_stride}, at = {a.data, a.col_stride, a.row_stride};
    pt2_status st = split_gemm(arena, threads, n, m, k, bt, at, ct, m, 0, bias_cols, NULL, NULL, err);
    if (st) return st;
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < n; j++) c[i * ldc + j] = ct[j * m + i];
        if (epilogue) epilogue->apply(epilogue, c + i * ldc, n);
    }
    pt2_arena_release(arena, ct);
    return PT2_OK;
}

static pt2_status split_gemm(pt2_arena *arena, int threads_wanted, int64_t m, int64_t n, int64_t k, pt2_matrix_view a,
                             pt2_matrix_view b, float *c, int64_t ldc, int accumulate, const float *bias_rows,
                             const float *bias_cols, const pt2_gemm_epilogue *epilogue, pt2_error *err) {
    if (!bias_rows && transpose_pays(m, n, a, b, accumulate)) return gemm_transposed(arena, threads_wanted, m, n, k, a, b, c, ldc, bias_cols, epilogue, err);
    /* Columns in multiples of the widest micro-kernel's or rows in multiples of 6 (its
     * height), so no piece runs more partial tiles than one call would; pieces only when each
     * has enough work to pay for waking a thread. Every piece of columns reads all of a, every
     * piece of rows packs all of b: split the one whose other operand is the smaller (columns
     * when a has fewer rows than b has columns). A linear of 2048 inputs to 256 outputs over
     * 500 frames split by columns read its 4 MiB input once per piece, from beyond L2: 3.7 ms at
     * 1 thread, 3.3 ms at 2; by rows 1.9x faster at 2 threads than at 1. */
    enum { COLUMN_UNIT = PT2_GEMM_NR_MAX, ROW_UNIT = 6, MIN_PIECE_FLOPS = 1 << 18 };
    int by_columns = n >= m;
    int64_t unit = by_columns ? COLUMN_UNIT : ROW_UNIT, total = by_columns ? n : m;
    size_t units = (size_t)((total + unit - 1) / unit);
    /* Columns: four pieces a thread, not one, so that a thread that starts late (a worker woken
     * from sleep, a virtual CPU the host has just given back) takes fewer of them, where with
     * one piece each the other thread waited the whole of its piece (the Transformer layer at
     * 2 threads: 15% of the CPU time spent waiting in the pool with one piece a thread, 2% with
     * four). Rows: one a thread, as each piece packs b again (four a thread took a linear of
     * 2048 inputs from 3.7 ms at 1 thread only to 3.1 ms at 2). */
    size_t threads = pt2_parallel_pieces_threads(threads_wanted, units), pieces = threads > 1 ? threads * (by_columns ? 4 : 1) : 1;
    if (pieces > units) pieces = units;
    while (pieces > 1 && (double)m * (double)n * (double)k / (double)pieces < MIN_PIECE_FLOPS) pieces--;
    size_t floats = (pt2_gemm_scratch_floats() + 15) / 16 * 16; /* 64-byte aligned pieces */
    /* packing space, written before read: not zeroed (a few hundred KiB per call) */
    float *scratch = pt2_arena_alloc_uninit(arena, floats * pieces * sizeof(float), err);
    if (!scratch) return err->status;
    int64_t units_per_piece = (int64_t)((units + pieces - 1) / pieces);
    gemm_split s = {m,         n,         k,      ldc,        a,          b,          epilogue,
                    c,         scratch,   bias_rows, bias_cols, floats, accumulate, by_columns,
                    units_per_piece * unit};
    if (pieces == 1) gemm_piece(&s, 0);
    else pt2_parallel_for_threads(threads_wanted, pieces, gemm_piece, &s);
    return PT2_OK;
}

pt2_status pt2_parallel_gemm_matrix(pt2_arena *arena, int threads, int64_t m, int64_t n, int64_t k, pt2_matrix_view a,
                                    pt2_matrix_view b, float *c, int64_t ldc, int accumulate, const float *bias_rows,
                                    const float *bias_cols, pt2_error *err) {
    /* the pieces' scratch (blocks of their own) goes at once: a layer may call this in a loop */
    uint64_t mark = pt2_arena_mark(arena);
    pt2_status st = split_gemm(arena, threads, m, n, k, a, b, c, ldc, accumulate, bias_rows, bias_cols, NULL, err);
    pt2_arena_release_since(arena, mark, NULL, 0);
    return st;
}

pt2_status pt2_op_gemm(pt2_run_context *ctx, int64_t m, int64_t n, int64_t k, pt2_matrix_view a, pt2_matrix_view b,
                       float *c, int64_t ldc, int accumulate, pt2_error *err) {
    return split_gemm(ctx->arena, ctx->options.num_threads, m, n, k, a, b, c, ldc, accumulate, NULL, NULL, NULL, err);
}

pt2_status pt2_op_gemm_bias(pt2_run_context *ctx, int64_t m, int64_t n, int64_t k, pt2_matrix_view a,
                            pt2_matrix_view b, float *c, int64_t ldc, const float *bias_cols,
                            const pt2_gemm_epilogue *epilogue, pt2_error *err) {
    return split_gemm(ctx->arena, ctx->options.num_threads, m, n, k, a, b, c, ldc, 0, NULL, bias_cols, epilogue, err);
}

typedef struct copy_split {
    pt2_tensor in;
    char *dst;
    int axis;
    int64_t per_piece, inner_bytes;
} copy_split;

static void copy_piece(void *context, size_t index) {
    const copy_split *s = context;
    int64_t start = (int64_t)index * s->per_piece, size = s->in.shape[s->axis];
    if (start >= size) return;
    pt2_tensor part = s->in;
    part.shape[s->axis] = size - start < s->per_piece ? size - start : s->per_piece;
    part.storage_offset += start * s->in.strides[s->axis];
    pt2_tensor_copy_dense(&part, s->dst + start * s->inner_bytes);
}

pt2_status pt2_op_contiguous(pt2_run_context *ctx, const pt2_tensor *in, int always_copy, pt2_tensor *out,
                             pt2_error *err) {
    enum { PIECE_MIN_BYTES = 1 << 18 };
    size_t bytes = (size_t)pt2_tensor_numel(in) * pt2_dtype_size(in->dtype);
    size_t pieces = pt2_parallel_pieces(ctx, bytes / PIECE_MIN_BYTES);
    if (pieces <= 1 || (!always_copy && pt2_tensor_is_contiguous(in)))
        return pt2_tensor_contiguous(ctx->arena, in, always_copy, out, err);
    /* the outermost axis longer than 1: the axes before it are of size 1, so a piece of it is a
     * run of the result */
    int axis = 0;
    while (axis < in->rank && in->shape[axis] == 1) axis++;
    if (axis == in->rank) return pt2_tensor_contiguous(ctx->arena, in, always_copy, out, err);
    pt2_tensor t;
    pt2_status st = pt2_tensor_alloc_uninit(ctx->arena, in->dtype, in->rank, in->shape, &t, err);
    if (st) return st;
    int64_t inner = (int64_t)pt2_dtype_size(in->dtype);
    for (int a = axis + 1; a < in->rank; a++) inner *= in->shape[a];
    if ((int64_t)pieces > in->shape[axis]) pieces = (size_t)in->shape[axis];
    copy_split s = {*in, t.storage, axis, (in->shape[axis] + (int64_t)pieces - 1) / (int64_t)pieces, inner};
    pt2_parallel_for(ctx, pieces, copy_piece, &s);
    *out = t;
    return PT2_OK;
}

/* The portable kernels with each group's output channels split over the threads. */
typedef struct conv_split {
    const pt2_conv_geometry *g;
    int transposed;
    const float *x, *weight, *bias;
    float *out, *scratch;
    size_t scratch_floats;
    int64_t block, group_out;
} conv_split;

static void conv_piece(void *context, size_t index) {
    const conv_split *s = context;
    int64_t o0 = (int64_t)index * s->block, o1 = o0 + s->block < s->group_out ? o0 + s->block : s->group_out;
    float *scratch = s->scratch + index * s->scratch_floats;
    if (o0 >= o1) return;
    if (s->transposed) pt2_conv_transpose2d_channels(s->g, s->x, s->weight, s->bias, s->out, scratch, o0, o1);
    else pt2_conv2d_channels(s->g, s->x, s->weight, s->bias, s->out, scratch, o0, o1);
}

size_t pt2_parallel_row_blocks(int threads, int64_t rows, int64_t *block) {
    /* blocks of whole micro-kernel rows (6), at least two per piece */
    size_t pieces = pt2_parallel_pieces_threads(threads, (size_t)(rows / 12 > 0 ? rows / 12 : 1));
    *block = ((rows + (int64_t)pieces - 1) / (int64_t)pieces + 5) / 6 * 6;
    return pieces;
}

pt2_status pt2_parallel_conv(pt2_arena *arena, int threads, const pt2_conv_geometry *g, int transposed, const float *x,
                             const float *weight, const float *bias, float *out, pt2_error *err) {
    int64_t group_out = g->out_channels / g->groups, block;
    size_t pieces = pt2_parallel_row_blocks(threads, group_out, &block);
    size_t floats = transposed ? pt2_conv_transpose_scratch_floats_channels(g, block) : pt2_conv_scratch_floats(g);
    floats = (floats + 15) / 16 * 16; /* 64-byte aligned pieces */
    /* The GEMM's packing space and the transposed conv's columns, all written before read; gone
     * when the convolution is (blocks of their own). */
    uint64_t mark = pt2_arena_mark(arena);
    float *scratch = floats <= SIZE_MAX / sizeof(float) / pieces
                         ? pt2_arena_alloc_uninit(arena, floats * pieces * sizeof(float), err)
                         : pt2_arena_alloc_array(arena, floats, sizeof(float) * pieces, err);
    if (!scratch) return err->status;
    conv_split s = {g, transposed, x, weight, bias, out, scratch, floats, block, group_out};
    pt2_parallel_for_threads(threads, pieces, conv_piece, &s);
    pt2_arena_release_since(arena, mark, NULL, 0);
    return PT2_OK;
}
