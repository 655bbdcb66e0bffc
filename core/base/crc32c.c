#include "crc32c.h"

/* Both CRCs are reflected 32-bit CRCs, computed 8 bytes a step with slicing-by-8 tables built
 * on first use: about 8 times the speed of a byte at a time (a zip's CRC-32 over a model's
 * weights was a tenth of loading it). */
typedef struct crc_tables {
    uint32_t polynomial;
    int ready;
    uint32_t t[8][256];
} crc_tables;

static crc_tables castagnoli = {0x82F63B78u, 0, {{0}}}, ieee = {0xEDB88320u, 0, {{0}}};

static void build_tables(crc_tables *c) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t v = n;
        for (int k = 0; k < 8; k++) v = (v & 1) ? c->polynomial ^ (v >> 1) : v >> 1;
        c->t[0][n] = v;
    }
    for (uint32_t n = 0; n < 256; n++)
        for (int t = 1; t < 8; t++) c->t[t][n] = (c->t[t - 1][n] >> 8) ^ c->t[0][c->t[t - 1][n] & 0xFF];
    c->ready = 1;
}

/* The register (not inverted) after 8 more bytes. */
static inline uint32_t step8(uint32_t (*tables)[256], uint32_t crc, const uint8_t *p) {
    uint32_t low = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
    uint32_t high = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
    return tables[7][low & 0xFF] ^ tables[6][(low >> 8) & 0xFF] ^ tables[5][(low >> 16) & 0xFF] ^ tables[4][low >> 24] ^
           tables[3][high & 0xFF] ^ tables[2][(high >> 8) & 0xFF] ^ tables[1][(high >> 16) & 0xFF] ^ tables[0][high >> 24];
}

static uint32_t crc_serial(crc_tables *c, uint32_t crc, const uint8_t *p, size_t length) {
    uint32_t(*tables)[256] = c->t;
    crc = ~crc;
    for (; length >= 8; p += 8, length -= 8) crc = step8(tables, crc, p);
    while (length--) crc = tables[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

/* Arithmetic on polynomials over GF(2) modulo the CRC's polynomial, in its reflected bit order
 * (bit 31 the coefficient of x^0): a * b mod P. */
static uint32_t multiply_mod(uint32_t polynomial, uint32_t a, uint32_t b) {
    uint32_t product = 0;
    for (uint32_t bit = 1u << 31; bit; bit >>= 1) {
        if (a & bit) product ^= b;
        b = b & 1 ? (b >> 1) ^ polynomial : b >> 1;
    }
    return product;
}

/* x^(8 n) mod P: the factor that moves a CRC past n more bytes. */
static uint32_t shift_bytes(uint32_t polynomial, uint64_t n) {
    uint32_t result = 1u << 31, square = 1u << 23; /* x^0; x^8 */
    for (; n; n >>= 1, square = multiply_mod(polynomial, square, square))
        if (n & 1) result = multiply_mod(polynomial, result, square);
    return result;
}

/* The CRC of `count` parts laid end to end, each `part` bytes long, from each part's own CRC (the
 * first continuing the caller's): the CRC of a then b is a's moved past b's bytes, plus b's. */
static uint32_t join_parts(uint32_t polynomial, const uint32_t *crcs, int count, uint64_t part) {
    uint32_t move = shift_bytes(polynomial, part), crc = crcs[0];
    for (int i = 1; i < count; i++) crc = multiply_mod(polynomial, move, crc) ^ crcs[i];
    return crc;
}

/* Four streams, each a quarter of the data, summed side by side: one stream's next step waits
 * for its last (a table lookup, then eight), so four keep the machine busy where one left it
 * idle; the quarters' CRCs are then joined (the CRC of a then b is a's moved past b's bytes, plus
 * b's). In WebAssembly, where no CRC instruction serves, a model's weights are summed when its
 * archive is read and again as the checkpoint is written. */
enum { STREAMS = 4, STREAMS_FROM = 1 << 16 };

static uint32_t crc_extend(crc_tables *c, uint32_t crc, const void *data, size_t length) {
    if (!c->ready) build_tables(c);
    const uint8_t *p = data;
    if (length < STREAMS_FROM) return crc_serial(c, crc, p, length);
    uint32_t(*tables)[256] = c->t;
    size_t quarter = length / STREAMS / 8 * 8;
    uint32_t r0 = ~crc, r1 = ~0u, r2 = ~0u, r3 = ~0u; /* the first continues crc, the others start anew */
    const uint8_t *p1 = p + quarter, *p2 = p1 + quarter, *p3 = p2 + quarter;
    for (size_t at = 0; at < quarter; at += 8) {
        r0 = step8(tables, r0, p + at);
        r1 = step8(tables, r1, p1 + at);
        r2 = step8(tables, r2, p2 + at);
        r3 = step8(tables, r3, p3 + at);
    }
    const uint32_t quarters[STREAMS] = {~r0, ~r1, ~r2, ~r3};
    crc = join_parts(c->polynomial, quarters, STREAMS, quarter);
    return crc_serial(c, crc, p + STREAMS * quarter, length - STREAMS * quarter);
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__EMSCRIPTEN__)
#include <immintrin.h>

/* x86-64 has had an instruction for CRC-32C since SSE4.2: 8 bytes in three cycles, about five
 * times the tables' speed (a checkpoint's weights are summed as they are written). It takes one a
 * cycle, so long data goes as three streams side by side (the tables' way above), three times as
 * fast. The tables serve where it is missing, and in WebAssembly. */
__attribute__((target("sse4.2"))) static uint32_t crc32c_instruction(uint32_t crc, const void *data, size_t length) {
    const uint8_t *p = data;
    if (length >= STREAMS_FROM) {
        size_t third = length / 3 / 8 * 8;
        uint64_t c0 = ~crc, c1 = 0xFFFFFFFFu, c2 = 0xFFFFFFFFu;
        for (size_t at = 0; at < third; at += 8) {
            uint64_t w0, w1, w2;
            __builtin_memcpy(&w0, p + at, 8);
            __builtin_memcpy(&w1, p + third + at, 8);
            __builtin_memcpy(&w2, p + 2 * third + at, 8);
            c0 = __builtin_ia32_crc32di(c0, w0);
            c1 = __builtin_ia32_crc32di(c1, w1);
            c2 = __builtin_ia32_crc32di(c2, w2);
        }
        const uint32_t thirds[3] = {~(uint32_t)c0, ~(uint32_t)c1, ~(uint32_t)c2};
        crc = join_parts(castagnoli.polynomial, thirds, 3, third);
        p += 3 * third, length -= 3 * third;
    }
    uint64_t c = ~crc;
    for (; length >= 8; p += 8, length -= 8) {
        uint64_t word;
        __builtin_memcpy(&word, p, 8);
        c = __builtin_ia32_crc32di(c, word);
    }
    uint32_t c32 = (uint32_t)c;
    for (; length; p++, length--) c32 = __builtin_ia32_crc32qi(c32, *p);
    return ~c32;
}

uint32_t pt2_crc32c_extend(uint32_t crc, const void *data, size_t length) {
    static int have = -1;
    if (have < 0) {
        __builtin_cpu_init();
        have = __builtin_cpu_supports("sse4.2");
    }
    return have ? crc32c_instruction(crc, data, length) : crc_extend(&castagnoli, crc, data, length);
}


/* The zip CRC-32 by carry-less multiplication (PCLMULQDQ, x86-64 since 2010): the data folded
 * 64 bytes a step into four 128-bit remainders, then into one, then reduced to 32 bits by
 * Barrett's method; about ten times the tables' speed (a model's archive is summed as it is
 * read). In the reflected bit order of this CRC each constant below is x^n mod P, P the IEEE
 * polynomial 0x104C11DB7, bit-reflected and shifted left by one (33 bits), for the distance n
 * it moves data: 4*128 +- 32 bits for a fold of 64 bytes, 128 +- 32 for one of 16, 64 for the
 * last 64 bits; MU is floor(x^64 / P) and POLY P itself, both reflected. */
enum { FOLD_BYTES = 64 };
#define K_544 0x154442bd4ull
#define K_480 0x1c6e41596ull
#define K_160 0x1751997d0ull
#define K_96 0x0ccaa009eull
#define K_64 0x163cd6124ull
#define MU 0x1f7011641ull
#define POLY 0x1db710641ull

__attribute__((target("pclmul,sse4.1"))) static __m128i fold(__m128i x, __m128i k, __m128i next) {
    return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11)), next);
}

/* length >= FOLD_BYTES; the register not inverted (the caller does that). */
__attribute__((target("pclmul,sse4.1"))) static uint32_t crc32_ieee_folded(uint32_t crc, const uint8_t *p,
                                                                              size_t length) {
    __m128i x0 = _mm_loadu_si128((const __m128i *)p), x1 = _mm_loadu_si128((const __m128i *)(p + 16));
    __m128i x2 = _mm_loadu_si128((const __m128i *)(p + 32)), x3 = _mm_loadu_si128((const __m128i *)(p + 48));
    x0 = _mm_xor_si128(x0, _mm_cvtsi32_si128((int)crc));
    p += FOLD_BYTES, length -= FOLD_BYTES;
    const __m128i by4 = _mm_set_epi64x((long long)K_480, (long long)K_544), by1 = _mm_set_epi64x((long long)K_96, (long long)K_160);
    for (; length >= FOLD_BYTES; p += FOLD_BYTES, length -= FOLD_BYTES) {
        x0 = fold(x0, by4, _mm_loadu_si128((const __m128i *)p));
        x1 = fold(x1, by4, _mm_loadu_si128((const __m128i *)(p + 16)));
        x2 = fold(x2, by4, _mm_loadu_si128((const __m128i *)(p + 32)));
        x3 = fold(x3, by4, _mm_loadu_si128((const __m128i *)(p + 48)));
    }
    __m128i x = fold(fold(fold(x0, by1, x1), by1, x2), by1, x3);
    for (; length >= 16; p += 16, length -= 16) x = fold(x, by1, _mm_loadu_si128((const __m128i *)p));
    /* 128 bits to 64, 64 to 32, then Barrett's reduction */
    const __m128i mask32 = _mm_set_epi32(0, 0, 0, -1);
    x = _mm_xor_si128(_mm_clmulepi64_si128(x, by1, 0x10), _mm_srli_si128(x, 8));
    x = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x, mask32), _mm_set_epi64x(0, (long long)K_64), 0x00),
                      _mm_srli_si128(x, 4));
    const __m128i barrett = _mm_set_epi64x((long long)MU, (long long)POLY);
    __m128i t = _mm_and_si128(_mm_clmulepi64_si128(_mm_and_si128(x, mask32), barrett, 0x10), mask32);
    x = _mm_xor_si128(x, _mm_clmulepi64_si128(t, barrett, 0x00));
    uint32_t folded = (uint32_t)_mm_extract_epi32(x, 1);
    /* the last few bytes by the tables, on the raw register */
    return ~crc_extend(&ieee, ~folded, p, length);
}

uint32_t pt2_crc32_ieee_extend(uint32_t crc, const void *data, size_t length) {
    static int have = -1;
    if (have < 0) {
        __builtin_cpu_init();
        have = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
    }
    if (!have || length < FOLD_BYTES) return crc_extend(&ieee, crc, data, length);
    return ~crc32_ieee_folded(~crc, data, length);
}
#else
uint32_t pt2_crc32c_extend(uint32_t crc, const void *data, size_t length) {
    return crc_extend(&castagnoli, crc, data, length);
}

uint32_t pt2_crc32_ieee_extend(uint32_t crc, const void *data, size_t length) { return crc_extend(&ieee, crc, data, length); }
#endif

uint32_t pt2_crc32c(const void *data, size_t length) { return pt2_crc32c_extend(0, data, length); }

#define MASK_DELTA 0xa282ead8u

uint32_t pt2_crc32c_mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + MASK_DELTA; }

uint32_t pt2_crc32c_unmask(uint32_t masked) {
    uint32_t rotated = masked - MASK_DELTA;
    return (rotated >> 17) | (rotated << 15);
}
