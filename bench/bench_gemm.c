/* Benchmark of the GEMM alone (not a test): the reference run's matrix product (pt2_gemm_matrix,
 * one thread, the kernel set this CPU gets) on the shapes given, each the fastest of K products
 * after one untimed. bench/bench_reference_run.py runs it beside torch.mm on the Transformer
 * layer's products, so the GEMM's share of the gap to PyTorch is a printed figure.
 *
 *     build/bench_gemm K MxNxK[t]...     (t: the second operand read transposed, as a linear's weight)
 *
 * One line per shape: "gemm MxNxK[t] best_seconds S gflops G". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ops/kernels.h"

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int bench_shape(const char *spec, long repeat) {
    long long m, n, k;
    char transposed = 0;
    if (sscanf(spec, "%lldx%lldx%lld%c", &m, &n, &k, &transposed) < 3 || m < 1 || n < 1 || k < 1 ||
        (transposed && transposed != 't')) {
        fprintf(stderr, "bench_gemm: '%s' is not MxNxK or MxNxKt\n", spec);
        return 2;
    }
    float *a = malloc(sizeof(float) * (size_t)(m * k)), *b = malloc(sizeof(float) * (size_t)(k * n));
    float *c = malloc(sizeof(float) * (size_t)(m * n));
    float *scratch = aligned_alloc(64, (pt2_gemm_scratch_floats() * sizeof(float) + 63) / 64 * 64);
    if (!a || !b || !c || !scratch) {
        fprintf(stderr, "bench_gemm: out of memory for %s\n", spec);
        return 3;
    }
    srand(1);
    for (long long i = 0; i < m * k; i++) a[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    for (long long i = 0; i < k * n; i++) b[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    pt2_matrix_view av = {a, k, 1};
    pt2_matrix_view bv = transposed ? (pt2_matrix_view){b, 1, k} : (pt2_matrix_view){b, n, 1};
    double best = 0;
    for (long r = -1; r < repeat; r++) {
        double start = now_seconds();
        pt2_gemm_matrix(m, n, k, av, bv, c, n, 0, scratch);
        double seconds = now_seconds() - start;
        if (r == 0 || (r > 0 && seconds < best)) best = seconds;
    }
    printf("gemm %s best_seconds %.6f gflops %.1f\n", spec, best, 2.0 * (double)m * (double)n * (double)k / best * 1e-9);
    free(a), free(b), free(c), free(scratch);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fputs("usage: bench_gemm K MxNxK[t]...\n"
              "the fastest of K products of each shape (one thread; t: the second operand transposed)\n",
              argc < 3 ? stderr : stdout);
        return argc < 3 ? 2 : 0;
    }
    long repeat = strtol(argv[1], NULL, 10);
    if (repeat < 1) {
        fprintf(stderr, "bench_gemm: K must be a positive count, got '%s'\n", argv[1]);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        int status = bench_shape(argv[i], repeat);
        if (status) return status;
    }
    return 0;
}
