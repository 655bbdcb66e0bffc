/* Blocked GEMM: the k axis in slices of KC, the n axis in tiles of NC and the m axis in blocks
 * of MC, so the block of `a` and the packed tile of `b` stay in cache while a register-sized
 * MR x NR micro-kernel sweeps them. A row-major `a` (a weight, a linear's input) is read where it
 * lies; any other layout is packed block by block. The micro-kernel is plain C with fixed trip counts, which
 * gcc and clang turn into SIMD (SSE or WASM SIMD128); on x86-64 with gcc two more copies are
 * compiled for AVX2, one with fused multiply-adds, and chosen at run time (see
 * pt2_kernels_set_portable). */
#include <string.h>

#include "kernels.h"

/* KC = 128: each slice's sum starts from zero and is added to c, so a long dot product is summed
 * as slices of 128 terms; shorter slices keep float32's rounding error lower (at 256 a k = 560
 * convolution came close to tests/c/test_nn_kernels.c's bound of 1e-5 against a double sum), and
 * the micro-kernel's panels (MR x 128 of a, 128 x 64 of b at most) stay in L1. */
enum { NR_MAX = PT2_GEMM_NR_MAX, KC = 128, NC = 256, MC = 72 }; /* MC a multiple of MR */
/* MR rows per micro-kernel. In WebAssembly the 6 x 8 kernel's 12 accumulators, its 2 vectors of
 * b and the broadcast need 15 SIMD registers, all that V8 leaves on x86-64 (16, one its scratch),
 * and it ran at 15.6 GFLOP/s under Node against 30 for 4 x 8 (8 accumulators; 5 x 8 gave 21) on
 * a 500 x 2048 x 256 product. Each element's sum is the same to the bit either way: MR only
 * groups the rows. */
#ifdef __EMSCRIPTEN__
enum { MR = 4 };
#else
enum { MR = 6 };
#endif
/* The packed tile's row stride: NC plus one micro-kernel width. At a power-of-two stride (1 KiB)
 * the KC rows the micro-kernel reads of one column strip fall into a few L1 cache sets and evict
 * each other; the odd stride spreads them over all sets. */
enum { TILE_STRIDE = NC + NR_MAX };

size_t pt2_gemm_scratch_floats(void) { return (size_t)MC * KC + (size_t)KC * TILE_STRIDE + 64; }

static void pack_matrix(const pt2_gemm_source *self, int64_t k0, int64_t kc, int64_t j0, int64_t nc, float *dst,
                        int64_t dst_stride) {
    const pt2_matrix_view *b = &self->matrix;
    int64_t padded = pt2_gemm_padded_columns(nc, dst_stride);
    if (b->row_stride == 1 && b->col_stride != 1) {
        /* b read transposed (a linear layer's weight [out, in], attention's keys): each column is
         * contiguous along k. Gathering a row at the column stride would touch a cache line (and
         * often a page) per float; blocks of 16 columns read 16 runs in order and write rows of
         * 16 floats instead. */
        enum { BLOCK = 16 };
        int64_t kc4 = kc / 4 * 4;
        for (int64_t j = 0; j < nc; j += BLOCK) {
            int64_t width = nc - j < BLOCK ? nc - j : BLOCK, width4 = width / 4 * 4;
            const float *column = b->data + k0 + (j0 + j) * b->col_stride;
            /* 4 x 4 squares turned by vector shuffles: 4 columns' runs of 4 in, 4 rows' runs out */
            for (int64_t kk = 0; kk < kc4; kk += 4)
                for (int64_t jj = 0; jj < width4; jj += 4)
                    pt2_transpose4(column + jj * b->col_stride + kk, b->col_stride, dst + kk * dst_stride + j + jj,
                               dst_stride);
            for (int64_t kk = 0; kk < kc; kk++) {
                float *out = dst + kk * dst_stride + j;
                for (int64_t jj = kk < kc4 ? width4 : 0; jj < width; jj++) out[jj] = column[jj * b->col_stride + kk];
            }
        }
        for (int64_t kk = 0; kk < kc; kk++)
            for (int64_t j = nc; j < padded; j++) dst[kk * dst_stride + j] = 0.0f;
        return;
    }
    for (int64_t kk = 0; kk < kc; kk++) {
        const float *row = b->data + (k0 + kk) * b->row_stride + j0 * b->col_stride;
        float *out = dst + kk * dst_stride;
        if (b->col_stride == 1)
            memcpy(out, row, sizeof(float) * (size_t)nc);
        else
            for (int64_t j = 0; j < nc; j++) out[j] = row[j * b->col_stride];
        for (int64_t j = nc; j < padded; j++) out[j] = 0.0f;
    }
}

/* a[i0.., k0..] into panels of MR rows, k-major inside a panel; rows past m are zero. Only for a
 * whose entries along a row are not contiguous (contiguous rows are read in place). Not inlined:
 * a function of its own, so that V8 compiles it (hot) apart from gemm_run (see CMakeLists.txt). */
__attribute__((noinline)) static void pack_a(pt2_matrix_view a, int64_t i0, int64_t mc, int64_t k0, int64_t kc, float *dst) {
    if (a.row_stride < a.col_stride) {
        /* Rows lie closer together than a row's entries (a matrix read transposed, such as an input
         * in PyTorch's channels-first layout): a panel's MR rows of one k are a short run, so go
         * along k outside and read each run in order, not MR gathers at the wide stride. */
        for (int64_t p = 0; p < mc; p += MR) {
            int64_t rows = mc - p < MR ? mc - p : MR;
            const float *base = a.data + (i0 + p) * a.row_stride + k0 * a.col_stride;
            float *out = dst + p * kc;
            for (int64_t kk = 0; kk < kc; kk++) {
                const float *column = base + kk * a.col_stride;
                if (a.row_stride == 1 && rows == MR) { /* the run is contiguous: one copy */
                    memcpy(out + kk * MR, column, sizeof(float) * MR);
                    continue;
                }
                int64_t r = 0;
                for (; r < rows; r++) out[kk * MR + r] = column[r * a.row_stride];
                for (; r < MR; r++) out[kk * MR + r] = 0.0f;
            }
        }
        return;
    }
    for (int64_t p = 0; p < mc; p += MR) {
        float *out = dst + p * kc;
        int64_t r = 0;
        /* Contiguous rows (read in place natively; packed in WebAssembly, see gemm_run) go four at
         * a time through 4 x 4 transposes instead of a float at a time (gemm_run's own time in a
         * Transformer layer's conversion under Node: 8.9% of the whole before, 6.5% after). */
        for (; a.col_stride == 1 && r + 4 <= MR && p + r + 4 <= mc; r += 4) {
            const float *rows = a.data + (i0 + p + r) * a.row_stride + k0;
            int64_t kk = 0;
            for (; kk + 4 <= kc; kk += 4) pt2_transpose4(rows + kk, a.row_stride, out + kk * MR + r, MR);
            for (; kk < kc; kk++)
                for (int64_t q = 0; q < 4; q++) out[kk * MR + r + q] = rows[q * a.row_stride + kk];
        }
        for (; r < MR; r++) {
            if (p + r >= mc) {
                for (int64_t kk = 0; kk < kc; kk++) out[kk * MR + r] = 0.0f;
                continue;
            }
            const float *row = a.data + (i0 + p + r) * a.row_stride + k0 * a.col_stride;
            for (int64_t kk = 0; kk < kc; kk++) out[kk * MR + r] = row[kk * a.col_stride];
        }
    }
}

/* acc = panel_a (MR x kc) * tile_b (kc x NR); then c (+)= acc for the valid rows/cols.
 * Written with vectors of 8 floats (a gcc/clang extension) so every compiler keeps the MR x NR
 * accumulators in registers: two SSE/SIMD128 registers per vector, or one AVX register; the
 * AVX-512 copy uses vectors of 16 floats, one register each. */
typedef float vec8 __attribute__((vector_size(32)));
typedef float vec16 __attribute__((vector_size(64)));
#define SPLAT8(s) ((vec8){s, s, s, s, s, s, s, s})
#define SPLAT16(s) ((vec16){s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s})

/* A macro, not a function: returning a 32-byte vector by value would change the ABI without AVX. */
#define LOAD8(dst, p) memcpy(&(dst), (p), sizeof(vec8))
#define LOAD_VEC(dst, p) memcpy(&(dst), (p), sizeof(dst))
#define LANES(VEC) ((int)(sizeof(VEC) / sizeof(float)))

/* MULTIPLY_ADD(acc, a, b): acc += a * b, as two roundings or (FMA) one. */
#define MULTIPLY_ADD_SEPARATE(acc, a, b) ((acc) += (a) * (b))

/* How the micro-kernel finds a[r, kk] of its panel: in the packed panel (MR rows side by side,
 * k-major), or straight in a row-major `a` whose rows are lda floats apart. The direct form saves
 * the packing copy when a's rows are contiguous (a conv's weight, a linear's input): every row is
 * then read in order, and each a[r, kk] still meets the same b values in the same order, so the
 * sums are those of the packed form to the bit. Rows past `rows` repeat the last valid row (so
 * nothing past a is read); their sums are dropped. */
#define A_ROWS_PACKED(a, lda, rows)                                                                              \
    const float *restrict apanel = (a);                                                                          \
    (void)(lda), (void)(rows)
#define A_AT_PACKED(r, kk) apanel[(kk) * MR + (r)]
#define A_ROWS_DIRECT(a, lda, rows)                                                                              \
    const float *arow[MR];                                                                                       \
    for (int r = 0; r < MR; r++) arow[r] = (a) + (r < (rows) ? r : (rows) - 1) * (lda)
#define A_AT_DIRECT(r, kk) arow[r][kk]

#define DEFINE_MICRO_KERNEL(NAME, VEC, SPLAT, NV, ATTRIBUTE, MULTIPLY_ADD, A_ROWS, A_AT)                         \
    ATTRIBUTE static void NAME(int64_t kc, const float *restrict a, int64_t lda, const float *restrict b,         \
                               int64_t ldb, float *restrict c, int64_t ldc, int64_t rows, int64_t cols,          \
                               int accumulate, const float *bias_rows, const float *bias_cols) {                 \
        enum { W = LANES(VEC) };                                                                                 \
        A_ROWS(a, lda, rows);                                                                                    \
        /* c's tile is read and written only after the kc steps: ask for its lines now, so a tile   \
         * that left the caches (c larger than L2) arrives while the sums run instead of after */   \
        for (int64_t r = 0; r < rows; r++) {                                                                     \
            __builtin_prefetch(c + r * ldc, 1);                                                                  \
            __builtin_prefetch(c + r * ldc + cols - 1, 1);                                                       \
        }                                                                                                        \
        VEC acc[MR][NV];                                                                                         \
        for (int r = 0; r < MR; r++)                                                                             \
            for (int v = 0; v < NV; v++) acc[r][v] = (VEC){0};                                                   \
        for (int64_t kk = 0; kk < kc; kk++) {                                                                    \
            VEC bv[NV];                                                                                          \
            for (int v = 0; v < NV; v++) LOAD_VEC(bv[v], b + kk * ldb + W * v);                                  \
            for (int r = 0; r < MR; r++) {                                                                       \
                float s = A_AT(r, kk); /* broadcast, without adding a zero first */                              \
                VEC av = SPLAT(s);                                                                               \
                for (int v = 0; v < NV; v++) MULTIPLY_ADD(acc[r][v], av, bv[v]);                                 \
            }                                                                                                    \
        }                                                                                                        \
        if (rows == MR && cols == W * NV) {                                                                      \
            for (int r = 0; r < MR; r++)                                                                         \
                for (int v = 0; v < NV; v++) {                                                                   \
                    VEC out = acc[r][v];                                                                         \
                    if (accumulate) {                                                                            \
                        VEC old;                                                                                 \
                        LOAD_VEC(old, c + r * ldc + W * v);                                                      \
                        out += old;                                                                              \
                    } else if (bias_cols) {                                                                      \
                        VEC old;                                                                                 \
                        LOAD_VEC(old, bias_cols + W * v);                                                        \
                        out += old;                                                                              \
                    } else if (bias_rows) {                                                                      \
                        float s = bias_rows[r];                                                                  \
                        out += SPLAT(s);                                                                         \
                    }                                                                                            \
                    memcpy(c + r * ldc + W * v, &out, sizeof out);                                               \
                }                                                                                                \
            return;                                                                                              \
        }                                                                                                        \
        float tmp[MR][W * NV];                                                                                   \
        memcpy(tmp, acc, sizeof tmp);                                                                            \
        for (int64_t r = 0; r < rows; r++)                                                                       \
            for (int64_t j = 0; j < cols; j++)                                                                   \
                c[r * ldc + j] = (accumulate  ? c[r * ldc + j]                                                   \
                                  : bias_cols ? bias_cols[j]                                                     \
                                  : bias_rows ? bias_rows[r]                                                     \
                                              : 0.0f) +                                                          \
                                 tmp[r][j];                                                                      \
    }

/* The m x nc block: column strips of NR outside, panels of MR rows inside, so one strip of the
 * b tile stays in L1 while every panel of a meets it. Panel i starts at a + i * a_step: kc for
 * packed panels, lda for rows read in place. A last strip of at most NARROW_NR columns goes to the
 * NARROW kernel, of at most NARROWEST_NR to the NARROWEST (a set whose kernel is wide has a half-
 * and a quarter-width one, so that a product with few columns does not compute a strip of zeros:
 * the padded batch's sequences of 16, 11 and 6 frames, whose products run transposed with a
 * column a frame, took the half-width kernel twice to five times the work they needed). */
#define DEFINE_BLOCK(NAME, KERNEL, NR, NARROW, NARROW_NR, NARROWEST, NARROWEST_NR, ATTRIBUTE)                    \
    ATTRIBUTE static void NAME(int64_t mc, int64_t nc, int64_t kc, const float *a, int64_t a_step, int64_t lda,   \
                               const float *btile, float *c, int64_t ldc, int accumulate, const float *bias_rows, \
                               const float *bias_cols) {                                                          \
        for (int64_t j = 0; j < nc; j += NR) {                                                                    \
            /* loops of direct calls, each kernel inlined where the compiler likes */                             \
            if ((NARROWEST_NR) > 0 && nc - j <= (NARROWEST_NR))                                                   \
                STRIP(NARROWEST, NR);                                                                             \
            else if ((NARROW_NR) > 0 && nc - j <= (NARROW_NR))                                                    \
                STRIP(NARROW, NR);                                                                                \
            else                                                                                                  \
                STRIP(KERNEL, NR);                                                                                \
        }                                                                                                         \
    }
/* One strip of NR columns from j, every panel of rows through KERNEL. */
#define STRIP(KERNEL, NR)                                                                                         \
    for (int64_t i = 0; i < mc; i += MR)                                                                          \
    KERNEL(kc, a + i * a_step, lda, btile + j, TILE_STRIDE, c + i * ldc + j, ldc, mc - i < MR ? mc - i : MR,      \
           nc - j < NR ? nc - j : NR, accumulate, bias_rows ? bias_rows + i : NULL, bias_cols ? bias_cols + j : NULL)

/* Both forms of one micro-kernel: packed panels and rows read in place. */
#define DEFINE_KERNELS(SUFFIX, VEC, SPLAT, NV, ATTRIBUTE, MULTIPLY_ADD)                                          \
    DEFINE_MICRO_KERNEL(micro_kernel_packed_##SUFFIX, VEC, SPLAT, NV, ATTRIBUTE, MULTIPLY_ADD, A_ROWS_PACKED,    \
                        A_AT_PACKED)                                                                             \
    DEFINE_MICRO_KERNEL(micro_kernel_direct_##SUFFIX, VEC, SPLAT, NV, ATTRIBUTE, MULTIPLY_ADD, A_ROWS_DIRECT,    \
                        A_AT_DIRECT)
/* The blocks of a set: NR columns per strip, the last strip of at most NARROW_NR by the NARROW
 * kernels, of at most NARROWEST_NR by the NARROWEST. */
#define DEFINE_BLOCKS(SUFFIX, NR, NARROW, NARROW_NR, NARROWEST, NARROWEST_NR, ATTRIBUTE)                         \
    DEFINE_BLOCK(block_packed_##SUFFIX, micro_kernel_packed_##SUFFIX, NR, micro_kernel_packed_##NARROW,          \
                 NARROW_NR, micro_kernel_packed_##NARROWEST, NARROWEST_NR, ATTRIBUTE)                            \
    DEFINE_BLOCK(block_direct_##SUFFIX, micro_kernel_direct_##SUFFIX, NR, micro_kernel_direct_##NARROW,          \
                 NARROW_NR, micro_kernel_direct_##NARROWEST, NARROWEST_NR, ATTRIBUTE)
/* A kernel set of NV vectors per row. */
#define DEFINE_KERNEL_SET(SUFFIX, VEC, SPLAT, NV, ATTRIBUTE, MULTIPLY_ADD)                                       \
    DEFINE_KERNELS(SUFFIX, VEC, SPLAT, NV, ATTRIBUTE, MULTIPLY_ADD)                                              \
    DEFINE_BLOCKS(SUFFIX, LANES(VEC) * NV, SUFFIX, 0, SUFFIX, 0, ATTRIBUTE)
/* A set with NV (4) vectors per row, a half-width kernel for a last strip of few columns and one
 * vector wide for fewer. */
#define DEFINE_WIDE_KERNEL_SET(SUFFIX, VEC, SPLAT, NV, ATTRIBUTE, MULTIPLY_ADD)                                  \
    DEFINE_KERNELS(SUFFIX, VEC, SPLAT, NV, ATTRIBUTE, MULTIPLY_ADD)                                              \
    DEFINE_KERNELS(half_##SUFFIX, VEC, SPLAT, NV / 2, ATTRIBUTE, MULTIPLY_ADD)                                   \
    DEFINE_KERNELS(quarter_##SUFFIX, VEC, SPLAT, NV / 4, ATTRIBUTE, MULTIPLY_ADD)                                \
    DEFINE_BLOCKS(SUFFIX, LANES(VEC) * NV, half_##SUFFIX, LANES(VEC) * (NV / 2), quarter_##SUFFIX,               \
                  LANES(VEC) * (NV / 4), ATTRIBUTE)

DEFINE_KERNEL_SET(portable, vec8, SPLAT8, 1, , MULTIPLY_ADD_SEPARATE)

#ifdef __wasm_relaxed_simd__
/* WebAssembly's fused multiply-add (relaxed SIMD's f32x4.relaxed_madd: one rounding where the
 * CPU has FMA, as V8 does on x86-64, else two), used when the engine validates it (wasm/pt2.mjs
 * asks and says so through pt2_kernels_set_fused). Debian's emscripten (LLVM 14, binaryen 108)
 * knows only the proposal's 2022 draft of it, f32x4.fma (a + b * c, opcode 0xfd 0xaf 0x01);
 * wasm/relaxed_simd_opcodes.py rewrites each in the linked module to the shipped relaxed_madd
 * (a * b + c, 0xfd 0x85 0x02). So the draft is called here with the operands in relaxed_madd's
 * order: (a, b, acc) becomes a * b + acc; nothing computes the draft's meaning, which nothing
 * runs. vec8 is two v128 halves. */
#define HALF_LOW(v) __builtin_shufflevector((v), (v), 0, 1, 2, 3)
#define HALF_HIGH(v) __builtin_shufflevector((v), (v), 4, 5, 6, 7)
#define MULTIPLY_ADD_RELAXED(acc, a, b)                                                                           \
    ((acc) = __builtin_shufflevector(__builtin_wasm_fma_f32x4(HALF_LOW(a), HALF_LOW(b), HALF_LOW(acc)),          \
                                     __builtin_wasm_fma_f32x4(HALF_HIGH(a), HALF_HIGH(b), HALF_HIGH(acc)), 0, 1, \
                                     2, 3, 4, 5, 6, 7))
DEFINE_KERNEL_SET(relaxed, vec8, SPLAT8, 1, , MULTIPLY_ADD_RELAXED)
#endif

#ifdef PT2_KERNELS_AVX2_COPIES
#define PT2_GEMM_AVX2 1
/* The copy for AVX2 without FMA (or with fused multiply-adds turned off): multiply and add stay
 * two roundings, every element summed in the same order with the same roundings as the
 * WebAssembly build's kernel where that does not fuse. */
#define PT2_AVX2 __attribute__((target("avx2")))
DEFINE_KERNEL_SET(avx2, vec8, SPLAT8, 2, PT2_AVX2, MULTIPLY_ADD_SEPARATE)
/* The default native copy: fused multiply-adds, half the inner loop's instructions and one
 * rounding per term instead of two; the WebAssembly build's relaxed kernel on this CPU gives its
 * bits (the page and the npm CLI are checked against native --portable). */
#define PT2_FMA __attribute__((target("avx2,fma")))
#define MULTIPLY_ADD_FUSED(acc, a, b) ((acc) = __builtin_ia32_vfmaddps256((a), (b), (acc)))
DEFINE_KERNEL_SET(fma, vec8, SPLAT8, 2, PT2_FMA, MULTIPLY_ADD_FUSED)
/* AVX-512: the FMA copy with vectors of 16 floats, a 6 x 64 tile in 24 of the 32 registers (a
 * 6 x 32 one for a last strip of at most 32 columns). Each element's terms meet in the same order
 * with one rounding each, so its bits are the FMA copy's (and the WebAssembly build's where it
 * fuses); it does per instruction twice the FMA copy's work, where the CPU has it (PyTorch's own
 * GEMM uses it there). 6 x 64 rather than 6 x 32: per step of k 4 loads of b and 6 broadcasts
 * feed 24 multiply-adds instead of 2 and 6 feeding 12, so the loop's instructions leave the two
 * FMA units busier: a 72 x 256 x 128 block in L1 ran at 175 GFLOP/s against 160 (12 x 32: 168;
 * 8 x 48: 155-179; 4 x 64: 171), the Transformer layer's products 4-7% faster (bench_gemm). */
#define PT2_AVX512 __attribute__((target("avx512f,fma")))
/* _mm512_fmadd_ps: all 16 lanes (mask 0xffff), the current rounding mode (4) */
#define MULTIPLY_ADD_FUSED16(acc, a, b)                                                                          \
    ((acc) = __builtin_ia32_vfmaddps512_mask((a), (b), (acc), (unsigned short)0xffff, 4))
DEFINE_WIDE_KERNEL_SET(avx512, vec16, SPLAT16, 4, PT2_AVX512, MULTIPLY_ADD_FUSED16)
#endif

/* pt2_dot's portable copy: one vector of partial sums (two SSE or SIMD128 registers, two chains
 * of additions), the tail term by term. */
static float dot_portable(const float *a, const float *b, int64_t n) {
    vec8 partial = {0};
    int64_t k = 0;
    for (; k + 8 <= n; k += 8) {
        vec8 x, y;
        LOAD8(x, a + k);
        LOAD8(y, b + k);
        MULTIPLY_ADD_SEPARATE(partial, x, y);
    }
    float sum = ((partial[0] + partial[1]) + (partial[2] + partial[3])) + ((partial[4] + partial[5]) + (partial[6] + partial[7]));
    for (; k < n; k++) sum += a[k] * b[k];
    return sum;
}

/* pt2_dot's fused copies: with fused multiply-adds one vector of partial sums is one chain of
 * dependent FMAs, each waiting for the last: four vectors (32 partial sums) keep the FMA units
 * busy. The same order of terms natively (AVX2 with FMA) and in WebAssembly (relaxed SIMD), so
 * the same bits where both fuse. */
#define DEFINE_DOT_FUSED(NAME, ATTRIBUTE, MULTIPLY_ADD)                                                         \
    ATTRIBUTE static float NAME(const float *a, const float *b, int64_t n) {                                    \
        vec8 partial[4] = {{0}, {0}, {0}, {0}};                                                                 \
        int64_t k = 0;                                                                                          \
        for (; k + 32 <= n; k += 32)                                                                            \
            for (int v = 0; v < 4; v++) {                                                                       \
                vec8 x, y;                                                                                      \
                LOAD8(x, a + k + 8 * v);                                                                        \
                LOAD8(y, b + k + 8 * v);                                                                        \
                MULTIPLY_ADD(partial[v], x, y);                                                                 \
            }                                                                                                    \
        for (; k + 8 <= n; k += 8) {                                                                            \
            vec8 x, y;                                                                                          \
            LOAD8(x, a + k);                                                                                    \
            LOAD8(y, b + k);                                                                                    \
            MULTIPLY_ADD(partial[0], x, y);                                                                     \
        }                                                                                                        \
        vec8 total = (partial[0] + partial[1]) + (partial[2] + partial[3]);                                     \
        float sum = ((total[0] + total[1]) + (total[2] + total[3])) + ((total[4] + total[5]) + (total[6] + total[7])); \
        for (; k < n; k++) sum += a[k] * b[k];                                                                  \
        return sum;                                                                                             \
    }

#ifdef PT2_GEMM_AVX2
DEFINE_DOT_FUSED(dot_fma, PT2_FMA, MULTIPLY_ADD_FUSED)
#endif
#ifdef __wasm_relaxed_simd__
DEFINE_DOT_FUSED(dot_relaxed, , MULTIPLY_ADD_RELAXED)
#endif

static int portable_kernels;

void pt2_kernels_set_portable(int portable) { portable_kernels = portable != 0; }

/* Native: fused unless told otherwise. WebAssembly: not until the engine is known to validate
 * relaxed SIMD (the module only instantiates there with the fused kernel patched out). */
#ifdef __EMSCRIPTEN__
static int fused_allowed;
#else
static int fused_allowed = 1;
#endif

void pt2_kernels_set_fused(int allowed) { fused_allowed = allowed != 0; }

int pt2_kernels_portable(void) { return portable_kernels; }

typedef void (*block_fn)(int64_t, int64_t, int64_t, const float *, int64_t, int64_t, const float *, float *, int64_t,
                         int, const float *, const float *);

#ifdef PT2_GEMM_AVX2
/* What this CPU offers of the copies: 3 AVX-512 (with FMA) besides, 2 AVX2 with fused
 * multiply-adds, 1 AVX2, 0 neither. (gcc's check counts AVX-512 only where the OS saves its
 * registers.) */
static int avx2_level(void) {
    static int level = -1;
    if (level < 0) {
        __builtin_cpu_init();
        level = !__builtin_cpu_supports("avx2") ? 0 : !__builtin_cpu_supports("fma") ? 1
                : __builtin_cpu_supports("avx512f") ? 3 : 2;
    }
    return level;
}

int pt2_cpu_has_avx2(void) { return avx2_level() >= 1; }
int pt2_cpu_has_avx512(void) { return avx2_level() == 3; }
#endif

float pt2_dot(const float *a, const float *b, int64_t n) {
#ifdef __wasm_relaxed_simd__
    if (fused_allowed) return dot_relaxed(a, b, n);
#endif
#ifdef PT2_GEMM_AVX2
    if (avx2_level() >= 2 && fused_allowed) return dot_fma(a, b, n);
#endif
    return dot_portable(a, b, n);
}

/* The block functions of the kernel set in use: [0] packed panels, [1] rows read in place. */
static void choose_blocks(block_fn blocks[2]) {
#ifdef __wasm_relaxed_simd__
    if (fused_allowed) {
        blocks[0] = block_packed_relaxed, blocks[1] = block_direct_relaxed;
        return;
    }
#endif
#ifdef PT2_GEMM_AVX2
    /* The portable kernels too: the WebAssembly build fuses on such a CPU, and each element's
     * terms are summed in the same order by either kernel, so they give the same bits. */
    int have_avx2 = avx2_level() >= 1, have_fma = avx2_level() >= 2;
    /* AVX-512 not for the portable kernels: those keep the WebAssembly build's vectors of 8 (the
     * same bits, as tests/c/test_nn_kernels.c checks, so --portable shows the other set's speed) */
    if (avx2_level() == 3 && fused_allowed && !portable_kernels) {
        blocks[0] = block_packed_avx512, blocks[1] = block_direct_avx512;
        return;
    }
    if (have_fma && fused_allowed) {
        blocks[0] = block_packed_fma, blocks[1] = block_direct_fma;
        return;
    }
    if (have_avx2) {
        blocks[0] = block_packed_avx2, blocks[1] = block_direct_avx2;
        return;
    }
#endif
    blocks[0] = block_packed_portable, blocks[1] = block_direct_portable;
}

/* c = a b, + c when accumulate, else + the bias (one per row or one per column) when given. The
 * bias is added where the first slice of k is stored, in the same operation (slice + bias) as
 * when c held the bias already, so that prefill pass is saved and the sums keep their bits. */
static void gemm_run(int64_t m, int64_t n, int64_t k, pt2_matrix_view a, const pt2_gemm_source *b, float *c,
                     int64_t ldc, int accumulate, const float *bias_rows, const float *bias_cols,
                     const pt2_gemm_epilogue *epilogue, float *scratch) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        if (!accumulate)
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = 0; j < n; j++) c[i * ldc + j] = bias_cols ? bias_cols[j] : bias_rows ? bias_rows[i] : 0.0f;
        for (int64_t i = 0; epilogue && i < m; i++) epilogue->apply(epilogue, c + i * ldc, n);
        return;
    }
    block_fn blocks[2];
    choose_blocks(blocks);
    /* Rows of a that are contiguous are read where they lie, never copied; other layouts are
     * packed per block (a matrix read transposed, whose panel rows would each be a gather). */
    int direct = a.col_stride == 1;
#ifdef __EMSCRIPTEN__
    /* Not in WebAssembly: the packed panel is faster there (Transformer layer's run under Node
     * 0.88x with packing, 6 row pointers; with 4 a conversion still took 5-15% longer read in
     * place); the sums are the same to the bit either way. */
    direct = 0;
#endif
    /* 64-byte aligned pieces of the caller's scratch */
    float *apack = scratch, *btile = scratch + MC * KC;
    (void)NR_MAX;
    for (int64_t j0 = 0; j0 < n; j0 += NC) {
        int64_t nc = n - j0 < NC ? n - j0 : NC;
        for (int64_t k0 = 0; k0 < k; k0 += KC) {
            int64_t kc = k - k0 < KC ? k - k0 : KC;
            b->pack(b, k0, kc, j0, nc, btile, TILE_STRIDE);
            int add = accumulate || k0 > 0;
            const float *columns = !add && bias_cols ? bias_cols + j0 : NULL;
            for (int64_t i0 = 0; i0 < m; i0 += MC) {
                int64_t mc = m - i0 < MC ? m - i0 : MC;
                const float *rows = !add && bias_rows ? bias_rows + i0 : NULL;
                if (direct)
                    blocks[1](mc, nc, kc, a.data + i0 * a.row_stride + k0, a.row_stride, a.row_stride, btile,
                              c + i0 * ldc + j0, ldc, add, rows, columns);
                else {
                    pack_a(a, i0, mc, k0, kc, apack);
                    blocks[0](mc, nc, kc, apack, kc, 0, btile, c + i0 * ldc + j0, ldc, add, rows, columns);
                }
                /* the block's last slice of k: its sums are complete, and in cache */
                for (int64_t r = 0; epilogue && k0 + KC >= k && r < mc; r++)
                    epilogue->apply(epilogue, c + (i0 + r) * ldc + j0, nc);
            }
        }
    }
}

void pt2_gemm(int64_t m, int64_t n, int64_t k, pt2_matrix_view a, const pt2_gemm_source *b, float *c, int64_t ldc,
              int accumulate, float *scratch) {
    gemm_run(m, n, k, a, b, c, ldc, accumulate, NULL, NULL, NULL, scratch);
}

void pt2_gemm_bias(int64_t m, int64_t n, int64_t k, pt2_matrix_view a, const pt2_gemm_source *b, float *c, int64_t ldc,
                   const float *bias_rows, const float *bias_cols, float *scratch) {
    gemm_run(m, n, k, a, b, c, ldc, 0, bias_rows, bias_cols, NULL, scratch);
}

void pt2_gemm_bias_epilogue(int64_t m, int64_t n, int64_t k, pt2_matrix_view a, const pt2_gemm_source *b, float *c,
                            int64_t ldc, const float *bias_rows, const float *bias_cols,
                            const pt2_gemm_epilogue *epilogue, float *scratch) {
    gemm_run(m, n, k, a, b, c, ldc, 0, bias_rows, bias_cols, epilogue, scratch);
}

pt2_gemm_source pt2_gemm_matrix_source(pt2_matrix_view b) {
    pt2_gemm_source source;
    memset(&source, 0, sizeof source);
    source.pack = pack_matrix;
    source.matrix = b;
    return source;
}

void pt2_gemm_matrix(int64_t m, int64_t n, int64_t k, pt2_matrix_view a, pt2_matrix_view b, float *c, int64_t ldc,
                     int accumulate, float *scratch) {
    pt2_gemm_source source = pt2_gemm_matrix_source(b);
    gemm_run(m, n, k, a, &source, c, ldc, accumulate, NULL, NULL, NULL, scratch);
}

void pt2_gemm_matrix_bias(int64_t m, int64_t n, int64_t k, pt2_matrix_view a, pt2_matrix_view b, float *c, int64_t ldc,
                          const float *bias_rows, const float *bias_cols, float *scratch) {
    pt2_gemm_source source = pt2_gemm_matrix_source(b);
    gemm_run(m, n, k, a, &source, c, ldc, 0, bias_rows, bias_cols, NULL, scratch);
}
