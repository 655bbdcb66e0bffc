/* A growable byte/string buffer for building outputs (reports, configs, JSON, checkpoints).
 * Allocation failure sets `failed` and later appends are ignored; check it once at the end. */
#ifndef PT2_BASE_STRBUF_H
#define PT2_BASE_STRBUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct pt2_strbuf {
    char *data; /* always NUL-terminated when non-NULL */
    size_t length;
    size_t capacity;
    int failed;
} pt2_strbuf;

void pt2_strbuf_init(pt2_strbuf *sb);
void pt2_strbuf_free(pt2_strbuf *sb);
void pt2_strbuf_append(pt2_strbuf *sb, const void *bytes, size_t n);
/* Room for `extra` more bytes at once: a writer that knows its size (a checkpoint's data) grows
 * the buffer once instead of doubling it (a copy, and up to twice the memory). */
void pt2_strbuf_reserve(pt2_strbuf *sb, size_t extra);
/* n more bytes at the end for the caller to write (the length grows by n); NULL when memory failed. */
void *pt2_strbuf_extend(pt2_strbuf *sb, size_t n);
void pt2_strbuf_puts(pt2_strbuf *sb, const char *s);
void pt2_strbuf_putc(pt2_strbuf *sb, char c);
void pt2_strbuf_printf(pt2_strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pt2_strbuf_indent(pt2_strbuf *sb, int spaces);

/* JSON pieces. Strings are escaped per RFC 8259 (control characters as \u00XX). */
void pt2_json_write_string(pt2_strbuf *sb, const char *s);
void pt2_json_write_string_n(pt2_strbuf *sb, const char *s, size_t n);
/* Shortest decimal that reads back to the same value; non-finite values become null
 * (callers that must keep them use the strings "Infinity"/"NaN" themselves). */
void pt2_json_write_double(pt2_strbuf *sb, double v);
void pt2_json_write_float32(pt2_strbuf *sb, float v);
/* The shortest %g text of v that reads back as v (as a float32 when single), at most `most` digits. */
void pt2_format_shortest(char *buf, size_t size, double v, int most, int single);
/* Shortest round-trip text of a number, used by every writer (JSON and Python configs). */
void pt2_format_double(char *buf, size_t size, double v);
void pt2_format_float32(char *buf, size_t size, float v);

#endif
