#include "reference_output.h"

#include <string.h>

#include "../base/npy.h"
#include "torch_save.h"

pt2_status pt2_load_reference_output(pt2_arena *arena, const uint8_t *bytes, size_t length, const char *name,
                                     pt2_tensor *out, pt2_error *err) {
    if (length < 4 || memcmp(bytes, "PK\x03\x04", 4) != 0) return pt2_npy_read(arena, bytes, length, name, out, err);
    pt2_pyobj *root;
    pt2_status st = pt2_torch_load(arena, bytes, length, name, &root, err);
    if (st) return st;
    const pt2_pyobj *value = root;
    if ((value->kind == PT2_PY_TUPLE || value->kind == PT2_PY_LIST) && value->count) value = value->items[0];
    if (value->kind != PT2_PY_TENSOR) {
        pt2_error_set_file(err, name);
        return pt2_fail(err, PT2_ERR_INPUT, "expected a tensor (or a tuple of tensors), found %s",
                        pt2_pyobj_kind_name(value->kind));
    }
    *out = value->tensor;
    return PT2_OK;
}

pt2_status pt2_load_reference_outputs(pt2_arena *arena, const uint8_t *bytes, size_t length, const char *name,
                                      pt2_tensor *out, size_t capacity, size_t *count, pt2_error *err) {
    if (length < 4 || memcmp(bytes, "PK\x03\x04", 4) != 0) {
        if (*count == capacity) goto too_many;
        pt2_status st = pt2_npy_read(arena, bytes, length, name, &out[*count], err);
        if (!st) ++*count;
        return st;
    }
    pt2_pyobj *root;
    pt2_status st = pt2_torch_load(arena, bytes, length, name, &root, err);
    if (st) return st;
    const pt2_pyobj *one = root, *const *items = &one;
    size_t n = 1;
    if (root->kind == PT2_PY_TUPLE || root->kind == PT2_PY_LIST || root->kind == PT2_PY_DICT)
        items = (const pt2_pyobj *const *)root->items, n = root->count;
    for (size_t i = 0; i < n; i++) {
        if (items[i]->kind != PT2_PY_TENSOR) {
            pt2_error_set_file(err, name);
            return pt2_fail(err, PT2_ERR_INPUT, "expected a tensor, or a tuple, list or dict of tensors; item %zu is %s",
                            i, pt2_pyobj_kind_name(items[i]->kind));
        }
        if (*count == capacity) goto too_many;
        out[(*count)++] = items[i]->tensor;
    }
    return PT2_OK;
too_many:
    pt2_error_set_file(err, name);
    return pt2_fail(err, PT2_ERR_INPUT, "more than %zu reference outputs", capacity);
}
