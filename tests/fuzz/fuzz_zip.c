/* The zip container: central directory, ZIP64, local headers, entry lookup and reading. */
#include "core/load/zip.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    pt2_arena *arena = fuzz_arena_begin();
    const uint8_t *bytes = fuzz_copy(arena, data, size);
    pt2_error err;
    pt2_error_clear(&err);
    pt2_zip zip;
    pt2_status st = pt2_zip_open(arena, bytes, size, "fuzz.zip", &zip, &err);
    fuzz_check_status(st, &err);
    if (st == PT2_OK) {
        size_t root_length = strlen(zip.root);
        for (size_t i = 0; i < zip.count; i++) {
            const pt2_zip_entry *e = &zip.entries[i];
            if (e->data < bytes || e->compressed_size > (uint64_t)(bytes + size - e->data))
                fuzz_die("entry data outside the file", e->name);
            if (strncmp(e->name, zip.root, root_length) != 0) fuzz_die("entry outside the root folder", e->name);
            const pt2_zip_entry *read = NULL;
            pt2_error read_err;
            pt2_error_clear(&read_err);
            pt2_status rst = pt2_zip_read(&zip, e->name + root_length, &read, &read_err);
            fuzz_check_status(rst, &read_err);
            if (rst == PT2_OK) {
                uint8_t acc = 0;
                for (uint64_t b = 0; b < read->size; b++) acc ^= read->data[b];
                fuzz_sink ^= acc;
            }
        }
    }
    fuzz_arena_end(arena);
    return 0;
}
