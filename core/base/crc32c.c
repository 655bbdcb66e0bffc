#include "crc32c.h"

/* Slicing-by-8 tables for the reflected polynomial 0x82F63B78, built on first use. */
static uint32_t tables[8][256];
static int tables_ready;

static void build_tables(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0x82F63B78u ^ (c >> 1) : c >> 1;
        tables[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++)
        for (int t = 1; t < 8; t++) tables[t][n] = (tables[t - 1][n] >> 8) ^ tables[0][tables[t - 1][n] & 0xFF];
    tables_ready = 1;
}

uint32_t pt2_crc32c_extend(uint32_t crc, const void *data, size_t length) {
    if (!tables_ready) build_tables();
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

uint32_t pt2_crc32c(const void *data, size_t length) { return pt2_crc32c_extend(0, data, length); }

#define MASK_DELTA 0xa282ead8u

uint32_t pt2_crc32c_mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + MASK_DELTA; }

uint32_t pt2_crc32c_unmask(uint32_t masked) {
    uint32_t rotated = masked - MASK_DELTA;
    return (rotated >> 17) | (rotated << 15);
}
