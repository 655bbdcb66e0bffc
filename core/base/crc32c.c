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

static uint32_t crc_extend(crc_tables *c, uint32_t crc, const void *data, size_t length) {
    if (!c->ready) build_tables(c);
    uint32_t(*tables)[256] = c->t;
    const uint8_t *p = data;
    crc = ~crc;
    while (length >= 8) {
        uint32_t low = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        uint32_t high = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
        crc = tables[7][low & 0xFF] ^ tables[6][(low >> 8) & 0xFF] ^ tables[5][(low >> 16) & 0xFF] ^
              tables[4][low >> 24] ^ tables[3][high & 0xFF] ^ tables[2][(high >> 8) & 0xFF] ^
              tables[1][(high >> 16) & 0xFF] ^ tables[0][high >> 24];
        p += 8;
        length -= 8;
    }
    while (length--) crc = tables[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__EMSCRIPTEN__)
/* x86-64 has had an instruction for CRC-32C since SSE4.2: 8 bytes in three cycles, about five
 * times the tables' speed (a checkpoint's weights are summed when written and again when read
 * back). The tables serve where it is missing, and in WebAssembly. */
__attribute__((target("sse4.2"))) static uint32_t crc32c_instruction(uint32_t crc, const void *data, size_t length) {
    const uint8_t *p = data;
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
#else
uint32_t pt2_crc32c_extend(uint32_t crc, const void *data, size_t length) {
    return crc_extend(&castagnoli, crc, data, length);
}
#endif

uint32_t pt2_crc32_ieee_extend(uint32_t crc, const void *data, size_t length) { return crc_extend(&ieee, crc, data, length); }

uint32_t pt2_crc32c(const void *data, size_t length) { return pt2_crc32c_extend(0, data, length); }

#define MASK_DELTA 0xa282ead8u

uint32_t pt2_crc32c_mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + MASK_DELTA; }

uint32_t pt2_crc32c_unmask(uint32_t masked) {
    uint32_t rotated = masked - MASK_DELTA;
    return (rotated >> 17) | (rotated << 15);
}
