/* PyTorch's own output for a conversion to be compared with (convert --reference): a .npy, or a
 * torch.save file holding a tensor (or a tuple/list whose first item is one, as a model that
 * returns a tuple gives). */
#ifndef PT2_LOAD_REFERENCE_OUTPUT_H
#define PT2_LOAD_REFERENCE_OUTPUT_H

#include <stddef.h>
#include <stdint.h>

#include "../base/arena.h"
#include "../base/error.h"
#include "../base/tensor.h"

pt2_status pt2_load_reference_output(pt2_arena *arena, const uint8_t *bytes, size_t length, const char *name,
                                     pt2_tensor *out, pt2_error *err);

#endif
