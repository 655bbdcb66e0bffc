#define _DEFAULT_SOURCE /* MAP_POPULATE */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

int pt2_cli_exit_code(pt2_status status) {
    switch (status) {
    case PT2_OK: return 0;
    case PT2_ERR_VERIFY: return 1;
    case PT2_ERR_INPUT:
    case PT2_ERR_UNSUPPORTED:
    case PT2_ERR_IO: return 2;
    case PT2_ERR_MEMORY:
    case PT2_ERR_INTERNAL: return 3;
    }
    return 3;
}

int pt2_cli_report_error(const pt2_error *err) {
    char line[4096];
    pt2_error_format(err, line, sizeof line);
    fprintf(stderr, "pt2returnn: %s\n", line);
    return pt2_cli_exit_code(err->status);
}

int pt2_cli_usage_error(const char *command, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "pt2returnn %s: ", command);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'pt2returnn %s --help')\n", command);
    va_end(ap);
    return 2;
}

static void unmap_file(void *data, size_t size) { munmap(data, size); }

/* The whole pages inside [data, data + size) of a mapped file dropped from the process (a read
 * after would fetch them from the file again): a weight the checkpoint holds now. */
static size_t drop_pages(void *data, size_t size) {
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), from = (uintptr_t)data, to = from + size;
    from = (from + page - 1) / page * page, to = to / page * page;
    if (to <= from || madvise((void *)from, to - from, MADV_DONTNEED) != 0) return 0;
    return to - from;
}

/* A large file mapped read-only instead of read: its pages come from the page cache as they are,
 * where reading would copy them into fresh memory, which costs a page fault per page first (up
 * to a tenth of converting a small model). Nothing writes into a file's bytes (a write would
 * fault at once). The arena counts the bytes all the same. NULL: read it. */
static const uint8_t *map_file(pt2_arena *arena, FILE *f, size_t size) {
    enum { SMALLEST_MAPPED = 1 << 20 };
    if (size < SMALLEST_MAPPED) return NULL;
    void *data = mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fileno(f), 0);
    if (data == MAP_FAILED) return NULL;
    pt2_error over_limit;
    if (!pt2_arena_take(arena, data, size, unmap_file, drop_pages, &over_limit)) {
        munmap(data, size);
        return NULL; /* reading it then fails as it would have, with that error */
    }
    return data;
}

pt2_status pt2_cli_read_file(pt2_arena *arena, const char *path, const uint8_t **bytes, size_t *length,
                             pt2_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        pt2_error_set_file(err, path);
        return pt2_fail(err, PT2_ERR_IO, "cannot open: %s", strerror(errno));
    }
    struct stat info;
    if (fstat(fileno(f), &info) != 0 || !S_ISREG(info.st_mode)) {
        fclose(f);
        pt2_error_set_file(err, path);
        return pt2_fail(err, PT2_ERR_IO, "not a regular file");
    }
    size_t size = (size_t)info.st_size;
    const uint8_t *mapped = map_file(arena, f, size);
    if (mapped) {
        fclose(f);
        *bytes = mapped;
        *length = size;
        return PT2_OK;
    }
    uint8_t *data = pt2_arena_alloc_uninit(arena, size ? size : 1, err); /* fread fills all of it */
    if (!data) {
        fclose(f);
        pt2_error_set_file(err, path);
        return err->status;
    }
    size_t got = size ? fread(data, 1, size, f) : 0;
    fclose(f);
    if (got != size) {
        pt2_error_set_file(err, path);
        return pt2_fail(err, PT2_ERR_IO, "read %zu of %zu bytes", got, size);
    }
    *bytes = data;
    *length = size;
    return PT2_OK;
}

int pt2_cli_rename_into_place(const char *tmp, const char *path) {
    if (unlink(path) != 0 && errno != ENOENT) return -1;
    return rename(tmp, path);
}

pt2_status pt2_cli_write_file_atomic(const char *path, const void *data, size_t length, pt2_error *err) {
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid()) >= sizeof tmp) {
        pt2_error_set_file(err, path);
        return pt2_fail(err, PT2_ERR_IO, "path too long");
    }
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        pt2_error_set_file(err, path);
        return pt2_fail(err, PT2_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
    }
    size_t put = length ? fwrite(data, 1, length, f) : 0;
    int closed = fclose(f);
    if (put != length || closed != 0) {
        remove(tmp);
        pt2_error_set_file(err, path);
        return pt2_fail(err, PT2_ERR_IO, "write failed: %s", strerror(errno));
    }
    if (pt2_cli_rename_into_place(tmp, path) != 0) {
        remove(tmp);
        pt2_error_set_file(err, path);
        return pt2_fail(err, PT2_ERR_IO, "cannot rename '%s' into place: %s", tmp, strerror(errno));
    }
    return PT2_OK;
}
