/* A list of named tensors: what a state dict, a safetensors file or a checkpoint holds. */
#ifndef PT2_LOAD_NAMED_TENSORS_H
#define PT2_LOAD_NAMED_TENSORS_H

#include <stddef.h>

#include "../base/arena.h"
#include "../base/tensor.h"

typedef struct pt2_named_tensor {
    const char *name; /* e.g. "conv.weight" */
    pt2_tensor tensor;
    int is_parameter;
} pt2_named_tensor;

typedef struct pt2_named_tensors {
    size_t count;
    size_t capacity;
    pt2_named_tensor *items;
} pt2_named_tensors;

pt2_status pt2_named_tensors_push(pt2_arena *arena, pt2_named_tensors *list, const char *name,
                                  const pt2_tensor *tensor, int is_parameter, pt2_error *err);
const pt2_named_tensor *pt2_named_tensors_find(const pt2_named_tensors *list, const char *name);

#endif
