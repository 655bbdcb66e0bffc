/* The portable kernels against naive loops written straight from PyTorch's definitions:
 * GEMM at odd sizes and strides, convolution with stride/dilation/groups/padding (1-D and 2-D),
 * transposed convolution with output_padding. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/ops/kernels.h"
#include "check.h"

static uint32_t random_state = 12345;
static float random_float(void) {
    random_state = random_state * 1664525u + 1013904223u;
    return (float)((random_state >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static float *random_array(size_t n) {
    float *p = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) p[i] = random_float();
    return p;
}

static double max_relative_error(const float *got, const double *want, size_t n) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(got[i] - want[i]) / (1.0 + fabs(want[i]));
        if (!(e <= worst)) worst = e; /* NaN counts as worst */
    }
    return worst;
}

static void test_gemm(int64_t m, int64_t n, int64_t k, int transpose_a, int transpose_b, int accumulate) {
    float *a = random_array((size_t)(m * k)), *b = random_array((size_t)(k * n)), *c = random_array((size_t)(m * n));
    double *want = malloc(sizeof(double) * (size_t)(m * n + 1));
    pt2_matrix_view va = transpose_a ? (pt2_matrix_view){a, 1, m} : (pt2_matrix_view){a, k, 1};
    pt2_matrix_view vb = transpose_b ? (pt2_matrix_view){b, 1, k} : (pt2_matrix_view){b, n, 1};
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double sum = accumulate ? c[i * n + j] : 0;
            for (int64_t p = 0; p < k; p++)
                sum += (double)va.data[i * va.row_stride + p * va.col_stride] * vb.data[p * vb.row_stride + j * vb.col_stride];
            want[i * n + j] = sum;
        }
    float *scratch = malloc(sizeof(float) * pt2_gemm_scratch_floats());
    pt2_gemm_matrix(m, n, k, va, vb, c, n, accumulate, scratch);
    double e = max_relative_error(c, want, (size_t)(m * n));
    char msg[160];
    snprintf(msg, sizeof msg, "gemm m=%lld n=%lld k=%lld ta=%d tb=%d acc=%d: relative error %g", (long long)m,
             (long long)n, (long long)k, transpose_a, transpose_b, accumulate, e);
    CHECK(e < 1e-5, msg);
    free(a), free(b), free(c), free(want), free(scratch);
}

/* The GEMM reads a row-major `a` in place and packs any other layout; both must sum every element
 * in the same order with the same roundings (the WebAssembly build and native --portable give the
 * same values to the bit whichever layout an op hands it). The same values as a row-major matrix
 * and as a column-major one must give bit-equal products. */
static void test_gemm_layouts_agree(int64_t m, int64_t n, int64_t k, int accumulate) {
    float *a = random_array((size_t)(m * k)), *at = malloc(sizeof(float) * (size_t)(m * k));
    float *b = random_array((size_t)(k * n)), *c0 = random_array((size_t)(m * n));
    float *c1 = malloc(sizeof(float) * (size_t)(m * n));
    memcpy(c1, c0, sizeof(float) * (size_t)(m * n));
    for (int64_t i = 0; i < m; i++)
        for (int64_t p = 0; p < k; p++) at[p * m + i] = a[i * k + p];
    float *scratch = malloc(sizeof(float) * pt2_gemm_scratch_floats());
    pt2_gemm_matrix(m, n, k, (pt2_matrix_view){a, k, 1}, (pt2_matrix_view){b, n, 1}, c0, n, accumulate, scratch);
    pt2_gemm_matrix(m, n, k, (pt2_matrix_view){at, 1, m}, (pt2_matrix_view){b, n, 1}, c1, n, accumulate, scratch);
    char msg[160];
    snprintf(msg, sizeof msg, "gemm m=%lld n=%lld k=%lld acc=%d: a row-major and a column-major differ in bits",
             (long long)m, (long long)n, (long long)k, accumulate);
    CHECK(memcmp(c0, c1, sizeof(float) * (size_t)(m * n)) == 0, msg);
    free(a), free(at), free(b), free(c0), free(c1), free(scratch);
}

/* c = bias + a b with the bias taken by the GEMM as it stores (per row, per column) must be the
 * bits of filling c with the bias and accumulating onto it. */
static void test_gemm_bias_agrees(int64_t m, int64_t n, int64_t k, int per_row) {
    float *a = random_array((size_t)(m * k)), *b = random_array((size_t)(k * n));
    float *bias = random_array((size_t)(per_row ? m : n));
    float *c0 = malloc(sizeof(float) * (size_t)(m * n)), *c1 = random_array((size_t)(m * n));
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) c0[i * n + j] = per_row ? bias[i] : bias[j];
    float *scratch = malloc(sizeof(float) * pt2_gemm_scratch_floats());
    pt2_matrix_view va = {a, k, 1}, vb = {b, n, 1};
    pt2_gemm_matrix(m, n, k, va, vb, c0, n, 1, scratch);
    pt2_gemm_matrix_bias(m, n, k, va, vb, c1, n, per_row ? bias : NULL, per_row ? NULL : bias, scratch);
    char msg[160];
    snprintf(msg, sizeof msg, "gemm m=%lld n=%lld k=%lld: the bias per %s in the GEMM differs in bits from a filled c",
             (long long)m, (long long)n, (long long)k, per_row ? "row" : "column");
    CHECK(memcmp(c0, c1, sizeof(float) * (size_t)(m * n)) == 0, msg);
    free(a), free(b), free(bias), free(c0), free(c1), free(scratch);
}

/* The fastest kernel set (AVX-512 where the CPU has it) and the portable one (vectors of 8, the
 * WebAssembly build's) must give the same bits: each element's terms in the same order, one
 * rounding each where both fuse. On a CPU without AVX-512 both are the same set. */
static void test_gemm_kernel_sets_agree(int64_t m, int64_t n, int64_t k, int transpose_a, int accumulate) {
    float *a = random_array((size_t)(m * k)), *b = random_array((size_t)(k * n)), *c0 = random_array((size_t)(m * n));
    float *bias = random_array((size_t)n), *c1 = malloc(sizeof(float) * (size_t)(m * n));
    memcpy(c1, c0, sizeof(float) * (size_t)(m * n));
    float *scratch = malloc(sizeof(float) * pt2_gemm_scratch_floats());
    pt2_matrix_view va = transpose_a ? (pt2_matrix_view){a, 1, m} : (pt2_matrix_view){a, k, 1}, vb = {b, n, 1};
    float *c[2] = {c0, c1};
    for (int portable = 0; portable < 2; portable++) {
        pt2_kernels_set_portable(portable);
        if (accumulate) pt2_gemm_matrix(m, n, k, va, vb, c[portable], n, 1, scratch);
        else pt2_gemm_matrix_bias(m, n, k, va, vb, c[portable], n, NULL, bias, scratch);
    }
    pt2_kernels_set_portable(0);
    char msg[160];
    snprintf(msg, sizeof msg, "gemm m=%lld n=%lld k=%lld transposed a=%d acc=%d: the fastest and the portable kernels "
             "differ in bits", (long long)m, (long long)n, (long long)k, transpose_a, accumulate);
    CHECK(memcmp(c0, c1, sizeof(float) * (size_t)(m * n)) == 0, msg);
    free(a), free(b), free(c0), free(bias), free(c1), free(scratch);
}

static void test_conv(pt2_conv_geometry g) {
    g.out_height = pt2_conv_out_size(g.in_height, g.kernel_height, g.stride_h, g.dilation_h, g.pad_top, g.pad_top);
    g.out_width = pt2_conv_out_size(g.in_width, g.kernel_width, g.stride_w, g.dilation_w, g.pad_left, g.pad_left);
    int64_t gi = g.in_channels / g.groups, go = g.out_channels / g.groups;
    size_t nx = (size_t)(g.batch * g.in_channels * g.in_height * g.in_width);
    size_t nw = (size_t)(g.out_channels * gi * g.kernel_height * g.kernel_width);
    size_t no = (size_t)(g.batch * g.out_channels * g.out_height * g.out_width);
    float *x = random_array(nx), *w = random_array(nw), *b = random_array((size_t)g.out_channels);
    float *out = random_array(no);
    double *want = calloc(no + 1, sizeof(double));
    for (int64_t n = 0; n < g.batch; n++)
        for (int64_t o = 0; o < g.out_channels; o++)
            for (int64_t oh = 0; oh < g.out_height; oh++)
                for (int64_t ow = 0; ow < g.out_width; ow++) {
                    double sum = b[o];
                    int64_t grp = o / go;
                    for (int64_t c = 0; c < gi; c++)
                        for (int64_t kh = 0; kh < g.kernel_height; kh++)
                            for (int64_t kw = 0; kw < g.kernel_width; kw++) {
                                int64_t ih = oh * g.stride_h + kh * g.dilation_h - g.pad_top;
                                int64_t iw = ow * g.stride_w + kw * g.dilation_w - g.pad_left;
                                if (ih < 0 || ih >= g.in_height || iw < 0 || iw >= g.in_width) continue;
                                sum += (double)x[((n * g.in_channels + grp * gi + c) * g.in_height + ih) * g.in_width + iw] *
                                       w[((o * gi + c) * g.kernel_height + kh) * g.kernel_width + kw];
                            }
                    want[((n * g.out_channels + o) * g.out_height + oh) * g.out_width + ow] = sum;
                }
    float *scratch = malloc(sizeof(float) * pt2_conv_scratch_floats(&g));
    pt2_conv2d(&g, x, w, b, out, scratch);
    double e = max_relative_error(out, want, no);
    char msg[200];
    snprintf(msg, sizeof msg, "conv in=%lld out=%lld %lldx%lld k=%lldx%lld s=%lld d=%lld p=%lld g=%lld: error %g",
             (long long)g.in_channels, (long long)g.out_channels, (long long)g.in_height, (long long)g.in_width,
             (long long)g.kernel_height, (long long)g.kernel_width, (long long)g.stride_w, (long long)g.dilation_w,
             (long long)g.pad_left, (long long)g.groups, e);
    CHECK(e < 1e-5, msg);
    free(x), free(w), free(b), free(out), free(want), free(scratch);
}

static void test_conv_transpose(pt2_conv_geometry g, int64_t output_padding) {
    g.out_height = (g.in_height - 1) * g.stride_h - 2 * g.pad_top + g.dilation_h * (g.kernel_height - 1) +
                   (g.in_height > 1 || g.kernel_height > 1 ? output_padding : 0) + 1;
    g.out_width = (g.in_width - 1) * g.stride_w - 2 * g.pad_left + g.dilation_w * (g.kernel_width - 1) + output_padding + 1;
    int64_t gi = g.in_channels / g.groups, go = g.out_channels / g.groups;
    size_t nx = (size_t)(g.batch * g.in_channels * g.in_height * g.in_width);
    size_t nw = (size_t)(g.in_channels * go * g.kernel_height * g.kernel_width);
    size_t no = (size_t)(g.batch * g.out_channels * g.out_height * g.out_width);
    float *x = random_array(nx), *w = random_array(nw), *b = random_array((size_t)g.out_channels);
    float *out = random_array(no);
    double *want = calloc(no + 1, sizeof(double));
    for (int64_t n = 0; n < g.batch; n++)
        for (int64_t o = 0; o < g.out_channels; o++)
            for (int64_t j = 0; j < g.out_height * g.out_width; j++) want[(n * g.out_channels + o) * g.out_height * g.out_width + j] = b[o];
    for (int64_t n = 0; n < g.batch; n++)
        for (int64_t c = 0; c < g.in_channels; c++)
            for (int64_t ih = 0; ih < g.in_height; ih++)
                for (int64_t iw = 0; iw < g.in_width; iw++)
                    for (int64_t oc = 0; oc < go; oc++)
                        for (int64_t kh = 0; kh < g.kernel_height; kh++)
                            for (int64_t kw = 0; kw < g.kernel_width; kw++) {
                                int64_t oh = ih * g.stride_h + kh * g.dilation_h - g.pad_top;
                                int64_t ow = iw * g.stride_w + kw * g.dilation_w - g.pad_left;
                                if (oh < 0 || oh >= g.out_height || ow < 0 || ow >= g.out_width) continue;
                                int64_t o = (c / gi) * go + oc;
                                want[((n * g.out_channels + o) * g.out_height + oh) * g.out_width + ow] +=
                                    (double)x[((n * g.in_channels + c) * g.in_height + ih) * g.in_width + iw] *
                                    w[((c * go + oc) * g.kernel_height + kh) * g.kernel_width + kw];
                            }
    float *scratch = malloc(sizeof(float) * pt2_conv_transpose_scratch_floats(&g));
    pt2_conv_transpose2d(&g, x, w, b, out, scratch);
    double e = max_relative_error(out, want, no);
    char msg[200];
    snprintf(msg, sizeof msg, "conv_transpose in=%lld out=%lld %lldx%lld k=%lld s=%lld d=%lld p=%lld op=%lld g=%lld: error %g",
             (long long)g.in_channels, (long long)g.out_channels, (long long)g.in_height, (long long)g.in_width,
             (long long)g.kernel_width, (long long)g.stride_w, (long long)g.dilation_w, (long long)g.pad_left,
             (long long)output_padding, (long long)g.groups, e);
    CHECK(e < 1e-5, msg);
    free(x), free(w), free(b), free(out), free(want), free(scratch);
}

static pt2_conv_geometry geometry_1d(int64_t batch, int64_t in, int64_t out, int64_t time, int64_t kernel,
                                     int64_t stride, int64_t dilation, int64_t pad, int64_t groups) {
    pt2_conv_geometry g = {batch, in, 1, time, out, 1, kernel, 0, 0, 1, stride, 1, dilation, 0, pad, groups};
    return g;
}

int main(int argc, char **argv) {
    (void)argc, (void)argv;
    int64_t sizes[][3] = {{1, 1, 1}, {3, 5, 7}, {4, 16, 8}, {17, 33, 65}, {65, 257, 300}, {70, 20, 513}, {5, 600, 3}};
    /* every kernel set: the fastest this CPU has (the default), the portable ones (fused where
     * the CPU has FMA, as the WebAssembly build with relaxed SIMD), then without fused
     * multiply-adds (the WebAssembly build without relaxed SIMD) */
    for (int choice = 0; choice < 3; choice++) {
        pt2_kernels_set_portable(choice > 0);
        pt2_kernels_set_fused(choice < 2);
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
            for (int t = 0; t < 4; t++) test_gemm(sizes[i][0], sizes[i][1], sizes[i][2], t & 1, t >> 1, i % 2);
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
            test_gemm_layouts_agree(sizes[i][0], sizes[i][1], sizes[i][2], i % 2);
        test_gemm_layouts_agree(151, 530, 300, 1); /* several blocks of rows, tiles of columns, slices of k */
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
            for (int per_row = 0; per_row < 2; per_row++) test_gemm_bias_agrees(sizes[i][0], sizes[i][1], sizes[i][2], per_row);
        test_gemm_bias_agrees(151, 530, 300, 0);
        test_gemm_bias_agrees(151, 530, 300, 1);
        test_gemm_bias_agrees(4, 9, 0, 1); /* k = 0: c is the bias */
    }
    pt2_kernels_set_portable(0);
    pt2_kernels_set_fused(1);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        for (int t = 0; t < 4; t++) test_gemm_kernel_sets_agree(sizes[i][0], sizes[i][1], sizes[i][2], t & 1, t >> 1);
    test_gemm_kernel_sets_agree(151, 530, 300, 0, 1);
    test_gemm_kernel_sets_agree(151, 530, 300, 1, 0);

    test_conv(geometry_1d(2, 3, 5, 17, 3, 1, 1, 1, 1));
    test_conv(geometry_1d(1, 8, 6, 40, 5, 2, 1, 2, 1));
    test_conv(geometry_1d(1, 6, 9, 50, 3, 1, 4, 4, 3));  /* dilation, groups */
    test_conv(geometry_1d(2, 8, 8, 31, 7, 3, 2, 5, 8));  /* depthwise, stride, dilation, padding */
    test_conv(geometry_1d(1, 80, 384, 107, 7, 1, 1, 0, 1));
    test_conv(geometry_1d(1, 16, 16, 300, 1, 1, 1, 0, 1)); /* pointwise */
    test_conv(geometry_1d(1, 4, 4, 5, 3, 1, 1, 3, 2));     /* padding wider than the kernel's reach */
    pt2_conv_geometry g2 = {2, 4, 9, 11, 6, 3, 2, 0, 0, 2, 1, 1, 2, 1, 0, 2};
    test_conv(g2);
    pt2_conv_geometry g3 = {1, 3, 8, 8, 4, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 1};
    test_conv(g3);
    pt2_conv_geometry g4 = {1, 6, 10, 7, 6, 3, 3, 0, 0, 2, 2, 1, 1, 1, 1, 6};
    test_conv(g4);

    test_conv_transpose(geometry_1d(1, 8, 4, 10, 16, 8, 1, 4, 1), 0);
    test_conv_transpose(geometry_1d(2, 6, 3, 9, 4, 2, 1, 1, 1), 1);
    test_conv_transpose(geometry_1d(1, 6, 4, 7, 3, 3, 2, 2, 2), 2); /* groups, dilation, output_padding */
    test_conv_transpose(geometry_1d(1, 5, 5, 12, 5, 1, 1, 0, 5), 0);
    pt2_conv_geometry t2 = {1, 4, 5, 6, 6, 3, 2, 0, 0, 2, 2, 1, 1, 1, 0, 2};
    test_conv_transpose(t2, 1);

    if (failures) printf("%d failures\n", failures);
    else printf("test_nn_kernels: all passed\n");
    return failures != 0;
}
