#include "named_tensors.h"

#include <string.h>

pt2_status pt2_named_tensors_push(pt2_arena *arena, pt2_named_tensors *list, const char *name,
                                  const pt2_tensor *tensor, int is_parameter, pt2_error *err) {
    pt2_named_tensor *items =
        pt2_arena_grow(arena, list->items, list->count, &list->capacity, sizeof *items, err);
    if (!items) return err->status;
    list->items = items;
    pt2_named_tensor *slot = &items[list->count++];
    slot->name = name;
    slot->tensor = *tensor;
    slot->is_parameter = is_parameter;
    return PT2_OK;
}

const pt2_named_tensor *pt2_named_tensors_find(const pt2_named_tensors *list, const char *name) {
    for (size_t i = 0; i < list->count; i++)
        if (strcmp(list->items[i].name, name) == 0) return &list->items[i];
    return NULL;
}
