/* CRC-32C (Castagnoli), as TensorFlow's checkpoints use it, with TF's masking; and the zip
 * format's CRC-32 (IEEE polynomial), computed the same way. */
#ifndef PT2_BASE_CRC32C_H
#define PT2_BASE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t pt2_crc32c_extend(uint32_t crc, const void *data, size_t length);
uint32_t pt2_crc32c(const void *data, size_t length);
/* The zip (IEEE) CRC-32 of data, continuing from crc (0 to start). */
uint32_t pt2_crc32_ieee_extend(uint32_t crc, const void *data, size_t length);
/* TF stores masked CRCs so that a CRC of data containing CRCs stays well distributed. */
uint32_t pt2_crc32c_mask(uint32_t crc);
uint32_t pt2_crc32c_unmask(uint32_t masked);

#endif
