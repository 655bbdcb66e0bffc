/* Portable float32 kernels of the reference run: a blocked GEMM and the convolutions built on it.
 * They are what the WebAssembly build runs (compiled with -msimd128) and what the native build
 * runs where XNNPACK does not apply. Plain C whose inner loops the compiler vectorises; no
 * allocation inside: callers pass scratch memory of the size the *_scratch_floats helpers give. */
#ifndef PT2_OPS_KERNELS_H
#define PT2_OPS_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../base/transpose4.h"

/* A strided matrix: element (row, col) is data[row * row_stride + col * col_stride]. */
typedef struct pt2_matrix_view {
    const float *data;
    int64_t row_stride, col_stride;
} pt2_matrix_view;

/* The right-hand operand of a GEMM, read through a packing function so a convolution can feed
 * its input without materialising im2col: `pack` writes rows [k0, k0+kc) and columns
 * [j0, j0+nc) into dst (row-major, dst_stride floats per row; zero where the source has nothing,
 * and zero up to pt2_gemm_padded_columns). */
typedef struct pt2_gemm_source {
    void (*pack)(const struct pt2_gemm_source *self, int64_t k0, int64_t kc, int64_t j0, int64_t nc, float *dst,
                 int64_t dst_stride);
    pt2_matrix_view matrix; /* plain matrices */
    /* convolution input (see kernels_conv.c): channels channel_stride floats apart */
    const float *input;
    int64_t channels, channel_stride, in_height, in_width, kernel_height, kernel_width, out_width;
    int64_t stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left;
} pt2_gemm_source;


/* x86-64 with gcc: some loops have a second copy compiled for AVX2 (eight lanes where the default
 * target has four), chosen at run time by pt2_cpu_has_avx2; without FMA such a copy gives the
 * default copy's bits. Softmax's loops have a third for AVX-512 (sixteen lanes), chosen by
 * pt2_cpu_has_avx512: AVX-512F has fused multiply-adds of its own, which gcc would form from a
 * multiply and an add (its default contraction), so that copy is compiled with contraction off
 * and gives the default copy's bits too. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__EMSCRIPTEN__)
#define PT2_KERNELS_AVX2_COPIES 1
#define PT2_AVX512_SEPARATE __attribute__((target("avx512f"), optimize("fp-contract=off")))
int pt2_cpu_has_avx2(void);
int pt2_cpu_has_avx512(void);
#endif

/* The widest micro-kernel's columns: AVX-512's four vectors of 16 in a build with the x86 copies;
 * 32 elsewhere (the WebAssembly build's kernel is 8 wide: its packed tiles keep the stride and
 * padding they were tuned with). */
#ifdef PT2_KERNELS_AVX2_COPIES
#define PT2_GEMM_NR_MAX 64
#else
#define PT2_GEMM_NR_MAX 32
#endif

/* Columns a pack function must fill (zeros past nc): nc rounded up to the widest micro-kernel. */
static inline int64_t pt2_gemm_padded_columns(int64_t nc, int64_t dst_stride) {
    int64_t padded = (nc + PT2_GEMM_NR_MAX - 1) / PT2_GEMM_NR_MAX * PT2_GEMM_NR_MAX;
    return padded < dst_stride ? padded : dst_stride;
}

/* Which kernels run: portable (1) are those the WebAssembly build runs, giving its values to the
 * bit; otherwise (0, the default) the fastest this CPU has. Process-wide: each run sets it from
 * its options (pt2_run_options.portable_only), and the per-layer checks and the reload that
 * follow it in a conversion run with the same choice. */
void pt2_kernels_set_portable(int portable);
int pt2_kernels_portable(void);

/* Whether the GEMM and pt2_dot may fuse their multiply-adds (one rounding per term). Natively on
 * by default, taken where the CPU has FMA, portable or not. In WebAssembly off until the page or
 * the npm package has found that the engine validates relaxed SIMD and says so; there, as V8 runs
 * it on x86-64, the fused kernels give the bits of the native ones on a CPU with FMA, the others
 * the bits of the native ones without (what a CPU without FMA, or this switch turned off, runs). */
void pt2_kernels_set_fused(int allowed);

/* Row · vector with eight partial sums (lane u sums the terms k = u mod 8, added in a fixed tree
 * at the end): a recurrent step's product is one matrix-vector product per sequence, its matrix
 * read row by row where it lies, so nothing is packed per step as a GEMM would (the reference
 * run's and the interpreter's recurrent layers). The kernel set of the GEMM: fused multiply-adds
 * where they are allowed and the CPU (natively) or the engine (WebAssembly, relaxed SIMD) has
 * them, four vectors of partial sums, the same bits either way; else one vector of plain sums. */
float pt2_dot(const float *a, const float *b, int64_t n);

/* out [columns, rows] = m [rows, columns] transposed (m's rows row_stride floats apart), in tiles
 * with 4 x 4 squares turned in registers: a weight read one column at a time (a transposed
 * convolution's per output channel, a recurrent layer's per gate) becomes rows read in order. */
void pt2_transpose_matrix(const float *m, int64_t rows, int64_t columns, int64_t row_stride, float *out);

/* Floats of scratch one pt2_gemm call needs. */
size_t pt2_gemm_scratch_floats(void);

/* c[m, n] = sum_k a[m, k] * b[k, n] (+ c[m, n] when accumulate), c row-major with ldc. */
void pt2_gemm(int64_t m, int64_t n, int64_t k, pt2_matrix_view a, const pt2_gemm_source *b, float *c, int64_t ldc,
              int accumulate, float *scratch);
/* Same with b a strided matrix. */
void pt2_gemm_matrix(int64_t m, int64_t n, int64_t k, pt2_matrix_view a, pt2_matrix_view b, float *c, int64_t ldc,
                     int accumulate, float *scratch);
/* c[m, n] = bias + sum_k a[m, k] * b[k, n] with bias_rows[i] per row or bias_cols[j] per column
 * (one of them, or neither for 0): the same bits as filling c with the bias and accumulating,
 * without the pass that fills it. */
void pt2_gemm_bias(int64_t m, int64_t n, int64_t k, pt2_matrix_view a, const pt2_gemm_source *b, float *c, int64_t ldc,
                   const float *bias_rows, const float *bias_cols, float *scratch);
void pt2_gemm_matrix_bias(int64_t m, int64_t n, int64_t k, pt2_matrix_view a, pt2_matrix_view b, float *c, int64_t ldc,
                          const float *bias_rows, const float *bias_cols, float *scratch);

/* Work applied to c's rows once their sums are complete, while they are still in cache: an
 * activation that alone reads the product (a linear layer's relu) costs no pass of its own over
 * c. `apply` changes count floats in place; it is called from the product's threads. */
typedef struct pt2_gemm_epilogue {
    void (*apply)(const struct pt2_gemm_epilogue *self, float *values, int64_t count);
    int kind;
    double a, b, c;
} pt2_gemm_epilogue;
/* The source reading a strided matrix b, packed tile by tile as the product goes. */
pt2_gemm_source pt2_gemm_matrix_source(pt2_matrix_view b);
/* pt2_gemm_bias, then the epilogue (NULL: none) on every element of c it wrote. */
void pt2_gemm_bias_epilogue(int64_t m, int64_t n, int64_t k, pt2_matrix_view a, const pt2_gemm_source *b, float *c,
                            int64_t ldc, const float *bias_rows, const float *bias_cols,
                            const pt2_gemm_epilogue *epilogue, float *scratch);

/* A 2-D convolution with PyTorch's semantics, channels first: 1-D is height 1. */
typedef struct pt2_conv_geometry {
    int64_t batch, in_channels, in_height, in_width;
    int64_t out_channels, kernel_height, kernel_width, out_height, out_width;
    int64_t stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left, groups;
    /* transposed convolution: the cropping of the full output is pad_top/pad_left; the output
     * size (incl. output_padding) is out_height/out_width. */
} pt2_conv_geometry;

/* Output size of a convolution along one axis; -1 when the input is too short. */
int64_t pt2_conv_out_size(int64_t in, int64_t kernel, int64_t stride, int64_t dilation, int64_t pad_before,
                          int64_t pad_after);

/* The right-hand operand of a convolution as a GEMM: im2col [(c, kh, kw), (oh, ow)] of the
 * `channels` planes of g's input size at `input` (channel_stride floats apart), packed straight
 * from them; what lies outside the planes (the padding) reads as zero. */
void pt2_conv_im2col_source(const pt2_conv_geometry *g, const float *input, int64_t channels, int64_t channel_stride,
                            pt2_gemm_source *out);

size_t pt2_conv_scratch_floats(const pt2_conv_geometry *g);
/* x [batch, in, ih, iw], weight [out, in/groups, kh, kw], bias [out] or NULL -> out [batch, out, oh, ow]. */
void pt2_conv2d(const pt2_conv_geometry *g, const float *x, const float *weight, const float *bias, float *out,
                float *scratch);

size_t pt2_conv_transpose_scratch_floats(const pt2_conv_geometry *g);
size_t pt2_conv_transpose_scratch_floats_channels(const pt2_conv_geometry *g, int64_t count);
/* x [batch, in, ih, iw], weight [in, out/groups, kh, kw] -> out [batch, out, oh, ow]. */
void pt2_conv_transpose2d(const pt2_conv_geometry *g, const float *x, const float *weight, const float *bias,
                          float *out, float *scratch);

/* The same for output channels [o0, o1) of every group only (the rest of out is not written): a
 * piece of a convolution split over threads. Each element is computed as by the whole call. */
void pt2_conv2d_channels(const pt2_conv_geometry *g, const float *x, const float *weight, const float *bias, float *out,
                         float *scratch, int64_t o0, int64_t o1);
void pt2_conv_transpose2d_channels(const pt2_conv_geometry *g, const float *x, const float *weight,
                                   const float *bias, float *out, float *scratch, int64_t o0, int64_t o1);

#endif
