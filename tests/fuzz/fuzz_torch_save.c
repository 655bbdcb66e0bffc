/* The allow-listed unpickler and the torch.save reader, with key selection and flattening.
 * Input: "KEY.PATH\n" then the file. A file starting with "PK" is read as a torch.save zip;
 * anything else as a bare pickle whose storages are zeroed buffers of the size it claims
 * (up to 1 MiB), so that mutations reach tensor rebuilding without a zip around them. */
#include "core/load/pyobj.h"
#include "core/load/torch_save.h"
#include "fuzz_common.h"

static pt2_status zeroed_storage(void *context, const char *key, pt2_dtype dtype, uint64_t numel, void **storage,
                                 size_t *storage_bytes, pt2_error *err) {
    pt2_arena *arena = context;
    (void)key;
    size_t elsize = pt2_dtype_size(dtype);
    if (!elsize || numel > ((uint64_t)1 << 20) / elsize)
        return pt2_fail(err, PT2_ERR_INPUT, "fuzz storage of %llu elements is over 1 MiB", (unsigned long long)numel);
    *storage_bytes = (size_t)numel * elsize;
    *storage = pt2_arena_alloc(arena, *storage_bytes ? *storage_bytes : 1, err);
    return *storage ? PT2_OK : err->status;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *newline = memchr(data, '\n', size < 256 ? size : 256);
    if (!newline) return 0;
    pt2_arena *arena = fuzz_arena_begin();
    /* malloc'd to its exact size (not in the arena, which rounds up): ASan sees a read past it. */
    char *key = malloc((size_t)(newline - data) + 1);
    if (!key) fuzz_die("harness allocation", NULL);
    memcpy(key, data, (size_t)(newline - data));
    key[newline - data] = 0;
    size_t length = size - (size_t)(newline + 1 - data);
    const uint8_t *bytes = fuzz_copy(arena, newline + 1, length);
    pt2_error err;
    pt2_error_clear(&err);
    pt2_reader_bound bound; /* as the CLI's inspect: selecting and flattening count too */
    pt2_arena_reader_begin(arena, length, "fuzz.pt", &bound);
    pt2_pyobj *root = NULL;
    pt2_status st;
    if (pt2_is_zip(bytes, length)) {
        st = pt2_torch_load(arena, bytes, length, "fuzz.pt", &root, &err);
    } else {
        pt2_pickle_source source = {bytes, length, "fuzz.pkl", "data.pkl", zeroed_storage, arena};
        st = pt2_unpickle(arena, &source, &root, &err);
    }
    const pt2_pyobj *selected = NULL;
    pt2_named_tensors list = {0};
    if (!st) st = pt2_pyobj_select(root, key, "fuzz.pt", &selected, &err);
    if (!st) st = pt2_pyobj_to_state_dict(arena, selected, &list, &err);
    pt2_arena_reader_end(arena, &bound);
    fuzz_check_status(st, &err);
    for (size_t i = 0; !st && i < list.count; i++) {
        fuzz_sink ^= (uint8_t)strlen(list.items[i].name);
        fuzz_check_tensor(&list.items[i].tensor);
    }
    fuzz_arena_end(arena);
    free(key);
    return 0;
}
