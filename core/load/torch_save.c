#include "torch_save.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Resolves storage keys to records "<root><prefix><key>" of the zip. */
typedef struct storage_context {
    pt2_arena *arena;
    const pt2_zip *zip;
    const char *prefix;
} storage_context;

static pt2_status resolve_storage(void *context, const char *key, pt2_dtype dtype, uint64_t numel, void **storage,
                                  size_t *storage_bytes, pt2_error *err) {
    storage_context *c = context;
    char name[512];
    if ((size_t)snprintf(name, sizeof name, "%s%s", c->prefix, key) >= sizeof name)
        return pt2_fail(err, PT2_ERR_INPUT, "storage key '%.64s...' is too long", key);
    const pt2_zip_entry *e;
    pt2_status st = pt2_zip_read(c->zip, name, &e, err);
    if (st) return st;
    size_t elsize = pt2_dtype_size(dtype);
    if (numel > e->size / elsize) {
        pt2_error_set_file(err, c->zip->file_name);
        pt2_error_set_entry(err, e->name);
        return pt2_fail(err, PT2_ERR_INPUT, "storage claims %llu elements of %zu bytes but the record holds %llu bytes",
                        (unsigned long long)numel, elsize, (unsigned long long)e->size);
    }
    *storage_bytes = (size_t)numel * elsize;
    /* Tensors view the file bytes in place (read-only use). PyTorch aligns records to 64 bytes;
     * another zip writer may not, and then the record is copied, once. */
    const uint8_t *bytes;
    if ((st = pt2_zip_aligned_data(c->arena, c->zip, e, elsize, &bytes, err))) return st;
    *storage = (void *)bytes;
    return PT2_OK;
}

static pt2_status torch_load(pt2_arena *arena, const uint8_t *bytes, size_t length, const char *file_name,
                             int nesting, pt2_pyobj **out, pt2_error *err);

static pt2_status load_pickle_in_zip(pt2_arena *arena, const pt2_zip *zip, const char *pickle_entry,
                                     const char *storage_prefix, int nesting, pt2_pyobj **out, pt2_error *err) {
    const pt2_zip_entry *e;
    pt2_status st = pt2_zip_read(zip, pickle_entry, &e, err);
    if (st) return st;
    /* torch.export stores sample inputs as a whole torch.save zip inside the archive. One level
     * is all PyTorch writes; deeper nesting would only let a file recurse through the stack. */
    if (pt2_is_zip(e->data, (size_t)e->size)) {
        if (nesting > 0) {
            pt2_error_set_file(err, zip->file_name);
            pt2_error_set_entry(err, e->name);
            return pt2_fail(err, PT2_ERR_INPUT,
                            "a zip nested inside a zip inside a zip; expected a pickle or one torch.save zip");
        }
        return torch_load(arena, e->data, (size_t)e->size, e->name, nesting + 1, out, err);
    }
    const pt2_zip_entry *order = pt2_zip_find(zip, "byteorder");
    if (order && !(order->size == 6 && memcmp(order->data, "little", 6) == 0)) {
        pt2_error_set_file(err, zip->file_name);
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "big-endian checkpoints are not supported (byteorder record)");
    }
    storage_context context = {arena, zip, storage_prefix};
    pt2_pickle_source source = {e->data, (size_t)e->size, zip->file_name, e->name, resolve_storage, &context};
    return pt2_unpickle(arena, &source, out, err);
}

pt2_status pt2_torch_load_pickle_in_zip(pt2_arena *arena, const pt2_zip *zip, const char *pickle_entry,
                                        const char *storage_prefix, pt2_pyobj **out, pt2_error *err) {
    return load_pickle_in_zip(arena, zip, pickle_entry, storage_prefix, 0, out, err);
}

pt2_status pt2_torch_load(pt2_arena *arena, const uint8_t *bytes, size_t length, const char *file_name,
                          pt2_pyobj **out, pt2_error *err) {
    pt2_reader_bound bound;
    pt2_arena_reader_begin(arena, length, file_name, &bound);
    pt2_status st = torch_load(arena, bytes, length, file_name, 0, out, err);
    pt2_arena_reader_end(arena, &bound);
    return st;
}

pt2_status pt2_torch_load_state_dict(pt2_arena *arena, const uint8_t *bytes, size_t length, const char *file_name,
                                     const char *key_path, pt2_named_tensors *out, pt2_error *err) {
    /* One bound over reading, selecting and flattening: names built from shared keys are memory
     * the file has to justify too. */
    pt2_reader_bound bound;
    pt2_arena_reader_begin(arena, length, file_name, &bound);
    pt2_pyobj *root;
    const pt2_pyobj *selected = NULL;
    pt2_status st = torch_load(arena, bytes, length, file_name, 0, &root, err);
    if (!st) st = pt2_pyobj_select(root, key_path, file_name, &selected, err);
    if (!st && selected->kind != PT2_PY_DICT) {
        pt2_error_set_file(err, file_name);
        st = pt2_fail(err, PT2_ERR_INPUT, "checkpoint key '%s' selects a %s, expected a state dict",
                      key_path ? key_path : "", pt2_pyobj_kind_name(selected->kind));
    }
    if (!st) st = pt2_pyobj_to_state_dict(arena, selected, out, err);
    pt2_arena_reader_end(arena, &bound);
    return st;
}

static pt2_status torch_load(pt2_arena *arena, const uint8_t *bytes, size_t length, const char *file_name,
                             int nesting, pt2_pyobj **out, pt2_error *err) {
    if (!pt2_is_zip(bytes, length)) {
        pt2_error_set_file(err, file_name);
        /* The pre-1.6 format starts with a protocol-2 pickle of the magic number. */
        static const uint8_t legacy[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
        if (length >= sizeof legacy && memcmp(bytes, legacy, sizeof legacy) == 0)
            return pt2_fail(err, PT2_ERR_UNSUPPORTED,
                            "legacy (pre-1.6, non-zip) torch.save format; re-save it with a current torch.save");
        return pt2_fail(err, PT2_ERR_INPUT, "not a torch.save file (expected a zip starting with 'PK')");
    }
    pt2_zip zip;
    pt2_status st = pt2_zip_open(arena, bytes, length, file_name, &zip, err);
    if (st) return st;
    if (!pt2_zip_find(&zip, "data.pkl")) {
        pt2_error_set_file(err, file_name);
        return pt2_fail(err, PT2_ERR_INPUT, "not a torch.save file: the zip has no '%sdata.pkl'", zip.root);
    }
    return load_pickle_in_zip(arena, &zip, "data.pkl", "data/", nesting, out, err);
}

static void list_keys(const pt2_pyobj *dict, char *buf, size_t size) {
    size_t used = 0;
    buf[0] = 0;
    for (size_t i = 0; i < dict->count && used + 4 < size; i++) {
        const pt2_pyobj *k = dict->keys[i];
        int n = (k && k->kind == PT2_PY_STRING) ? snprintf(buf + used, size - used, "%s'%s'", i ? ", " : "", k->string)
                                               : snprintf(buf + used, size - used, "%s<%s>", i ? ", " : "",
                                                          k ? pt2_pyobj_kind_name(k->kind) : "?");
        if (n < 0) break;
        used += (size_t)n;
    }
    if (used + 4 >= size) snprintf(buf + size - 5, 5, "...");
}

pt2_status pt2_pyobj_select(const pt2_pyobj *root, const char *key_path, const char *file_name,
                            const pt2_pyobj **out, pt2_error *err) {
    const pt2_pyobj *node = root;
    const char *rest = key_path ? key_path : "";
    while (*rest) {
        if (node->kind != PT2_PY_DICT) {
            pt2_error_set_file(err, file_name);
            return pt2_fail(err, PT2_ERR_INPUT, "checkpoint key '%s': reached a %s before '%s', expected a dict",
                            key_path, pt2_pyobj_kind_name(node->kind), rest);
        }
        /* Longest key that matches a prefix of the rest ending at a dot or at the end, so keys
         * that contain dots ("model.generator" as one key) still work. */
        const pt2_pyobj *best = NULL;
        size_t best_length = 0, rest_length = strlen(rest);
        for (size_t i = 0; i < node->count; i++) {
            const pt2_pyobj *k = node->keys[i];
            if (!k || k->kind != PT2_PY_STRING) continue;
            /* Lengths first: a key may hold a NUL byte, so a NUL-terminated comparison could
             * "match" a key longer than the path and step past the path's end. */
            if (k->length > best_length && k->length <= rest_length && memcmp(rest, k->string, k->length) == 0 &&
                (rest[k->length] == 0 || rest[k->length] == '.')) {
                best = node->items[i];
                best_length = k->length;
            }
        }
        if (!best) {
            char keys[600];
            list_keys(node, keys, sizeof keys);
            pt2_error_set_file(err, file_name);
            return pt2_fail(err, PT2_ERR_INPUT, "checkpoint key '%s': no entry '%.*s'; available keys: %s", key_path,
                            (int)strcspn(rest, "."), rest, keys[0] ? keys : "(none)");
        }
        node = best;
        rest += best_length;
        if (*rest == '.') rest++;
    }
    *out = node;
    return PT2_OK;
}

/* Shared references (the pickle memo) make a DAG whose tree walk can be exponentially larger
 * than the file, so the walk has a budget far above any real state dict. */
#define MAX_FLATTEN_VISITS ((size_t)1 << 22)

static pt2_status flatten(pt2_arena *arena, const pt2_pyobj *node, const char *prefix, int depth, size_t *visits,
                          pt2_named_tensors *out, pt2_error *err) {
    if (depth > PT2_PICKLE_MAX_DEPTH) return pt2_fail(err, PT2_ERR_INPUT, "checkpoint nested too deeply");
    if (++*visits > MAX_FLATTEN_VISITS)
        return pt2_fail(err, PT2_ERR_INPUT,
                        "checkpoint expands to more than %zu entries (shared references repeated many times)",
                        MAX_FLATTEN_VISITS);
    pt2_status st;
    if (node->kind == PT2_PY_TENSOR) {
        const char *name = prefix[0] ? prefix : "(root)";
        return pt2_named_tensors_push(arena, out, name, &node->tensor, node->is_parameter, err);
    }
    if (node->kind != PT2_PY_DICT && node->kind != PT2_PY_LIST && node->kind != PT2_PY_TUPLE) return PT2_OK;
    for (size_t i = 0; i < node->count; i++) {
        char *name;
        if (node->kind == PT2_PY_DICT) {
            const pt2_pyobj *k = node->keys[i];
            if (k->kind == PT2_PY_STRING) {
                if (depth == 0 && !strcmp(k->string, "_metadata")) continue;
                name = prefix[0] ? pt2_arena_printf(arena, err, "%s.%s", prefix, k->string)
                                 : pt2_arena_strdup(arena, k->string, err);
            } else if (k->kind == PT2_PY_INT) {
                name = prefix[0] ? pt2_arena_printf(arena, err, "%s.%lld", prefix, (long long)k->int_value)
                                 : pt2_arena_printf(arena, err, "%lld", (long long)k->int_value);
            } else {
                continue;
            }
        } else {
            name = prefix[0] ? pt2_arena_printf(arena, err, "%s.%zu", prefix, i) : pt2_arena_printf(arena, err, "%zu", i);
        }
        if (!name) return err->status;
        if ((st = flatten(arena, node->items[i], name, depth + 1, visits, out, err))) return st;
    }
    return PT2_OK;
}

pt2_status pt2_pyobj_to_state_dict(pt2_arena *arena, const pt2_pyobj *dict, pt2_named_tensors *out, pt2_error *err) {
    size_t visits = 0;
    return flatten(arena, dict, "", 0, &visits, out, err);
}
