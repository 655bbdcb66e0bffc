#include "error.h"

#include <stdio.h>
#include <string.h>

static void copy_field(char *dst, unsigned long size, const char *src) {
    if (!src) return;
    snprintf(dst, size, "%s", src);
    /* Names come from files (a zip entry, a dict key): a control character in one must not
     * break the one-line error or the terminal it is printed on. */
    for (char *p = dst; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
}

void pt2_error_clear(pt2_error *err) {
    if (err) memset(err, 0, sizeof *err);
}

pt2_status pt2_vfail(pt2_error *err, pt2_status status, const char *fmt, va_list ap) {
    if (!err) return status;
    if (err->status != PT2_OK) return status; /* keep the first, innermost failure */
    err->status = status;
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    /* One line only: a newline in a message (e.g. from a file name) would break the CLI's contract. */
    for (char *p = err->message; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    return status;
}

pt2_status pt2_fail(pt2_error *err, pt2_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    pt2_vfail(err, status, fmt, ap);
    va_end(ap);
    return status;
}

void pt2_error_set_file(pt2_error *err, const char *file) {
    if (err && !err->file[0]) copy_field(err->file, sizeof err->file, file);
}

void pt2_error_set_entry(pt2_error *err, const char *entry) {
    if (err && !err->entry[0]) copy_field(err->entry, sizeof err->entry, entry);
}

void pt2_error_format(const pt2_error *err, char *out, unsigned long out_size) {
    size_t used = 0;
    out[0] = 0;
#define APPEND(...)                                                                        \
    do {                                                                                   \
        if (used < out_size) {                                                             \
            int n_ = snprintf(out + used, out_size - used, __VA_ARGS__);                   \
            if (n_ > 0) used += (size_t)n_;                                                \
        }                                                                                  \
    } while (0)
    if (err->file[0]) APPEND("%s: ", err->file);
    if (err->entry[0]) APPEND("%s: ", err->entry);
    APPEND("%s", err->message[0] ? err->message : pt2_status_name(err->status));
    if (err->op[0] || err->module_path[0]) {
        APPEND(" [");
        if (err->op[0]) APPEND("op %s", err->op);
        if (err->module_path[0]) APPEND("%sin module '%s'", err->op[0] ? " " : "", err->module_path);
        APPEND("]");
    }
    if (err->source_line[0]) APPEND(" (%s)", err->source_line);
#undef APPEND
}

const char *pt2_status_name(pt2_status status) {
    switch (status) {
    case PT2_OK: return "ok";
    case PT2_ERR_VERIFY: return "verification failed";
    case PT2_ERR_INPUT: return "bad input";
    case PT2_ERR_UNSUPPORTED: return "unsupported";
    case PT2_ERR_IO: return "i/o error";
    case PT2_ERR_MEMORY: return "out of memory or over a size limit";
    case PT2_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}
