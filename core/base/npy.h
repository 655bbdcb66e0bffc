/* NumPy .npy files: inputs and outputs of `run` and the tests' reference values. */
#ifndef PT2_BASE_NPY_H
#define PT2_BASE_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "error.h"
#include "strbuf.h"
#include "tensor.h"

/* Little-endian arrays of f4, f8, f2, i8, i4, i2, i1, u1, b1; C order, or Fortran order (as a
 * transposed view). The tensor points into `bytes`. */
pt2_status pt2_npy_read(pt2_arena *arena, const uint8_t *bytes, size_t length, const char *name, pt2_tensor *out,
                        pt2_error *err);
/* Version 1.0, C order, whatever the tensor's strides. */
pt2_status pt2_npy_write(pt2_arena *scratch, const pt2_tensor *tensor, pt2_strbuf *out, pt2_error *err);

#endif
