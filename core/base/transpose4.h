/* A 4 x 4 block of floats transposed in registers: four vector loads, the classic unpack/move
 * shuffles (SSE natively, SIMD128 in WebAssembly), four stores, instead of sixteen scalar
 * moves. Tensor copies between layouts (core/base/tensor.c) and the GEMM's packing
 * (core/ops/kernels_gemm.c, kernels_conv.c) share it. */
#ifndef PT2_BASE_TRANSPOSE4_H
#define PT2_BASE_TRANSPOSE4_H

#include <stdint.h>
#include <string.h>

typedef float pt2_vec4 __attribute__((vector_size(16)));

/* dst[r * dst_stride + c] = src[c * src_stride + r] for r, c < 4: four unaligned loads, the
 * classic unpack/move shuffles (SSE, WASM SIMD128), four stores. A transpose moves values
 * only, so it cannot change a bit of them. */
static inline void pt2_transpose4(const float *src, int64_t src_stride, float *dst, int64_t dst_stride) {
    pt2_vec4 r0, r1, r2, r3;
    memcpy(&r0, src, sizeof r0);
    memcpy(&r1, src + src_stride, sizeof r1);
    memcpy(&r2, src + 2 * src_stride, sizeof r2);
    memcpy(&r3, src + 3 * src_stride, sizeof r3);
    pt2_vec4 t0 = __builtin_shufflevector(r0, r1, 0, 4, 1, 5), t1 = __builtin_shufflevector(r0, r1, 2, 6, 3, 7);
    pt2_vec4 t2 = __builtin_shufflevector(r2, r3, 0, 4, 1, 5), t3 = __builtin_shufflevector(r2, r3, 2, 6, 3, 7);
    pt2_vec4 o0 = __builtin_shufflevector(t0, t2, 0, 1, 4, 5), o1 = __builtin_shufflevector(t0, t2, 2, 3, 6, 7);
    pt2_vec4 o2 = __builtin_shufflevector(t1, t3, 0, 1, 4, 5), o3 = __builtin_shufflevector(t1, t3, 2, 3, 6, 7);
    memcpy(dst, &o0, sizeof o0);
    memcpy(dst + dst_stride, &o1, sizeof o1);
    memcpy(dst + 2 * dst_stride, &o2, sizeof o2);
    memcpy(dst + 3 * dst_stride, &o3, sizeof o3);
}

#endif
