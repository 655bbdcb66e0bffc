/* The table CRCs (WebAssembly's, and a CPU's without the instructions) and the CRC-32C
 * instruction's: the forms that sum long data as several streams, against one stream byte by byte, for both polynomials and lengths around every
 * boundary, and the standard check values. The file's static functions are reached by including
 * it (on this CPU the public functions take the instructions). */
#include "../../core/base/crc32c.c"

#include <stdio.h>
#include <stdlib.h>

#include "check.h"

/* One byte at a time: the definition of the reflected CRC with its tables. */
static uint32_t bytewise(crc_tables *c, uint32_t crc, const uint8_t *p, size_t length) {
    if (!c->ready) build_tables(c);
    crc = ~crc;
    while (length--) crc = c->t[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

int main(void) {
    CHECK(crc_extend(&ieee, 0, "123456789", 9) == 0xCBF43926u, "CRC-32 check value");
    CHECK(crc_extend(&castagnoli, 0, "123456789", 9) == 0xE3069283u, "CRC-32C check value");
    enum { MOST = (1 << 18) + 64 };
    uint8_t *data = malloc(MOST);
    unsigned state = 7;
    for (size_t i = 0; i < MOST; i++) data[i] = (uint8_t)((state = state * 1103515245u + 12345u) >> 16);
    size_t lengths[] = {STREAMS_FROM - 1, STREAMS_FROM, STREAMS_FROM + 1, STREAMS_FROM + 7, STREAMS_FROM + 31, 100003,
                        (1 << 18), MOST};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++)
        for (int which = 0; which < 2; which++) {
            crc_tables *c = which ? &castagnoli : &ieee;
            uint32_t start = which ? 0x12345678u : 0; /* continuing a CRC, and starting one */
            char what[96];
            snprintf(what, sizeof what, "%s over %zu bytes from %08x", which ? "CRC-32C" : "CRC-32", lengths[i], start);
            CHECK(crc_extend(c, start, data + 3, lengths[i] - 3) == bytewise(c, start, data + 3, lengths[i] - 3), what);
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__EMSCRIPTEN__)
            /* the instruction's three streams, where the CPU has it */
            if (which && __builtin_cpu_supports("sse4.2"))
                CHECK(crc32c_instruction(start, data + 3, lengths[i] - 3) == bytewise(c, start, data + 3, lengths[i] - 3),
                      what);
#endif
        }
    free(data);
    if (!failures) printf("test_crc_streams: all passed\n");
    return failures != 0;
}
