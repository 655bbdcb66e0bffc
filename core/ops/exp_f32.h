/* exp for float32 as straight-line IEEE arithmetic, so a loop over it vectorises (SSE, AVX or
 * WASM SIMD128) where a call to libm's expf runs one element at a time; softmax and the
 * sigmoid-like activations spend most of their time there. Only adds, multiplies, compares and
 * integer bit moves, with no fused multiply-add (the default native target has none, and the
 * WebAssembly build has none): the native build and the WebAssembly build give the same bits.
 * Accuracy: within 2 ulp of the exact value over the normal range (tests/c/test_exp_f32.c). */
#ifndef PT2_OPS_EXP_F32_H
#define PT2_OPS_EXP_F32_H

#include <stdint.h>
#include <string.h>

static inline float pt2_exp_f32(float x) {
    /* Past these, exp overflows to inf or underflows to 0 anyway; NaN fails both compares and
     * stays NaN. Clamping keeps the exponent arithmetic below inside int32 and 2^n's range. */
    x = x > 89.0f ? 89.0f : x;
    x = x < -104.0f ? -104.0f : x;
    /* x = n ln2 + r with n = round(x / ln2): adding 1.5 * 2^23 rounds to an integer held in the
     * mantissa's low bits; ln2 in two parts keeps n * ln2 exact to float precision. */
    const float shifter = 12582912.0f, log2e = 1.44269504088896341f;
    const float ln2_high = 0.693145751953125f, ln2_low = 1.42860682030941723e-6f;
    float shifted = x * log2e + shifter;
    float n = shifted - shifter;
    float r = x - n * ln2_high;
    r = r - n * ln2_low;
    /* e^r for |r| <= ln2 / 2 by its Taylor series to r^7 (remainder below 6e-9 relative). */
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    /* times 2^n as two powers of two of about n / 2 each, both normal floats, so results near
     * overflow reach inf and results below the normal range underflow gradually. */
    int32_t shifted_bits, shifter_bits;
    memcpy(&shifted_bits, &shifted, sizeof shifted_bits);
    memcpy(&shifter_bits, &shifter, sizeof shifter_bits);
    int32_t k = shifted_bits - shifter_bits; /* n as an integer, in [-151, 129] */
    int32_t k1 = k / 2, k2 = k - k1;
    uint32_t bits1 = (uint32_t)(k1 + 127) << 23, bits2 = (uint32_t)(k2 + 127) << 23; /* NaN: any bits */
    float scale1, scale2;
    memcpy(&scale1, &bits1, sizeof scale1);
    memcpy(&scale2, &bits2, sizeof scale2);
    return p * scale1 * scale2;
}

#endif
