#include "strbuf.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pt2_strbuf_init(pt2_strbuf *sb) { memset(sb, 0, sizeof *sb); }

void pt2_strbuf_free(pt2_strbuf *sb) {
    free(sb->data);
    memset(sb, 0, sizeof *sb);
}

static int reserve(pt2_strbuf *sb, size_t extra) {
    if (sb->failed) return 0;
    if (extra > SIZE_MAX - sb->length - 1) {
        sb->failed = 1;
        return 0;
    }
    size_t need = sb->length + extra + 1;
    if (need <= sb->capacity) return 1;
    size_t cap = sb->capacity ? sb->capacity : 256;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(sb->data, cap);
    if (!p) {
        sb->failed = 1;
        return 0;
    }
    sb->data = p;
    sb->capacity = cap;
    return 1;
}

void pt2_strbuf_reserve(pt2_strbuf *sb, size_t extra) {
    if (sb->failed || extra > SIZE_MAX - sb->length - 1 || sb->length + extra + 1 <= sb->capacity) return;
    char *p = realloc(sb->data, sb->length + extra + 1);
    if (!p) {
        sb->failed = 1;
        return;
    }
    sb->data = p;
    sb->capacity = sb->length + extra + 1;
}

void pt2_strbuf_append(pt2_strbuf *sb, const void *bytes, size_t n) {
    if (!reserve(sb, n)) return;
    if (n) memcpy(sb->data + sb->length, bytes, n);
    sb->length += n;
    sb->data[sb->length] = 0;
}

void *pt2_strbuf_extend(pt2_strbuf *sb, size_t n) {
    if (!reserve(sb, n)) return NULL;
    char *p = sb->data + sb->length;
    sb->length += n;
    sb->data[sb->length] = 0;
    return p;
}

void pt2_strbuf_puts(pt2_strbuf *sb, const char *s) { pt2_strbuf_append(sb, s, strlen(s)); }

void pt2_strbuf_putc(pt2_strbuf *sb, char c) { pt2_strbuf_append(sb, &c, 1); }

void pt2_strbuf_printf(pt2_strbuf *sb, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(sb, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(sb->data + sb->length, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb->length += (size_t)n;
}

void pt2_strbuf_indent(pt2_strbuf *sb, int spaces) {
    for (int i = 0; i < spaces; i++) pt2_strbuf_putc(sb, ' ');
}

void pt2_json_write_string_n(pt2_strbuf *sb, const char *s, size_t n) {
    pt2_strbuf_putc(sb, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': pt2_strbuf_puts(sb, "\\\""); break;
        case '\\': pt2_strbuf_puts(sb, "\\\\"); break;
        case '\n': pt2_strbuf_puts(sb, "\\n"); break;
        case '\r': pt2_strbuf_puts(sb, "\\r"); break;
        case '\t': pt2_strbuf_puts(sb, "\\t"); break;
        default:
            if (c < 0x20)
                pt2_strbuf_printf(sb, "\\u%04x", c);
            else
                pt2_strbuf_putc(sb, (char)c);
        }
    }
    pt2_strbuf_putc(sb, '"');
}

void pt2_json_write_string(pt2_strbuf *sb, const char *s) { pt2_json_write_string_n(sb, s, strlen(s)); }

/* The fewest significant digits (%g) whose text reads back as v, in float32 when `single`: a
 * binary search between 1 and `most` (which always reads back), as a text that reads back still
 * does with a digit more (the nearer decimal of more digits is at least as near). In WebAssembly
 * the linear search's up to 17 printf and strtod calls a figure made both hot enough to be
 * compiled again during a conversion's first call. */
void pt2_format_shortest(char *buf, size_t size, double v, int most, int single) {
    int low = 1, high = most;
    while (low < high) {
        int mid = (low + high) / 2;
        snprintf(buf, size, "%.*g", mid, v);
        if (single ? strtof(buf, NULL) == (float)v : strtod(buf, NULL) == v) high = mid;
        else low = mid + 1;
    }
    snprintf(buf, size, "%.*g", low, v);
}

void pt2_format_double(char *buf, size_t size, double v) {
    if (isnan(v)) {
        snprintf(buf, size, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, size, v > 0 ? "inf" : "-inf");
        return;
    }
    if (v == 0) {
        snprintf(buf, size, signbit(v) ? "-0.0" : "0.0");
        return;
    }
    pt2_format_shortest(buf, size, v, 17, 0);
    /* Keep a float looking like a float ("1.0", not "1") so Python reads it back as float. */
    if (!strpbrk(buf, ".eEn")) {
        size_t len = strlen(buf);
        if (len + 2 < size) memcpy(buf + len, ".0", 3);
    }
}

void pt2_format_float32(char *buf, size_t size, float v) {
    if (isnan(v) || isinf(v) || v == 0) {
        pt2_format_double(buf, size, (double)v);
        return;
    }
    pt2_format_shortest(buf, size, (double)v, 9, 1);
    if (!strpbrk(buf, ".eEn")) {
        size_t len = strlen(buf);
        if (len + 2 < size) memcpy(buf + len, ".0", 3);
    }
}

void pt2_json_write_double(pt2_strbuf *sb, double v) {
    char buf[40];
    if (!isfinite(v)) {
        pt2_strbuf_puts(sb, "null");
        return;
    }
    pt2_format_double(buf, sizeof buf, v);
    pt2_strbuf_puts(sb, buf);
}

void pt2_json_write_float32(pt2_strbuf *sb, float v) {
    char buf[40];
    if (!isfinite(v)) {
        pt2_strbuf_puts(sb, "null");
        return;
    }
    pt2_format_float32(buf, sizeof buf, v);
    pt2_strbuf_puts(sb, buf);
}
