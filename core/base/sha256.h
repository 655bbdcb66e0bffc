/* SHA-256 (FIPS 180-4). inspect prints a digest of every tensor so tests can compare our
 * reading of a file with PyTorch's byte for byte without dumping the tensors. */
#ifndef PT2_BASE_SHA256_H
#define PT2_BASE_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct pt2_sha256_state {
    uint32_t h[8];
    uint64_t total_bytes;
    uint8_t block[64];
    size_t block_used;
} pt2_sha256_state;

void pt2_sha256_init(pt2_sha256_state *s);
void pt2_sha256_update(pt2_sha256_state *s, const void *data, size_t length);
void pt2_sha256_final(pt2_sha256_state *s, uint8_t digest[32]);
void pt2_sha256(const void *data, size_t length, uint8_t digest[32]);
void pt2_sha256_hex(const void *data, size_t length, char hex[65]);

#endif
