/* PyTorch's own outputs for a conversion to be compared with (convert --reference): a .npy, or a
 * torch.save file holding a tensor, or a tuple/list/dict of tensors (a model's several outputs,
 * in the program's order; a dict in its insertion order). */
#ifndef PT2_LOAD_REFERENCE_OUTPUT_H
#define PT2_LOAD_REFERENCE_OUTPUT_H

#include <stddef.h>
#include <stdint.h>

#include "../base/arena.h"
#include "../base/error.h"
#include "../base/tensor.h"

/* The first tensor only (a tuple's first item). */
pt2_status pt2_load_reference_output(pt2_arena *arena, const uint8_t *bytes, size_t length, const char *name,
                                     pt2_tensor *out, pt2_error *err);

/* Every tensor the file holds, appended to out[*count] (at most `capacity` in all). */
pt2_status pt2_load_reference_outputs(pt2_arena *arena, const uint8_t *bytes, size_t length, const char *name,
                                      pt2_tensor *out, size_t capacity, size_t *count, pt2_error *err);

#endif
