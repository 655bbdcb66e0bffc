#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
    const char *text;
    size_t length;
    size_t pos;
    const char *what;
    pt2_arena *arena;   /* the tree: values, their arrays, the keys' arrays */
    pt2_arena *strings; /* the strings' bytes (values and keys) */
    pt2_error *err;
} parser;

static pt2_status parse_error(parser *p, const char *expected) {
    return pt2_fail(p->err, PT2_ERR_INPUT, "invalid JSON in %s at byte %zu: expected %s", p->what, p->pos,
                    expected);
}

static void skip_space(parser *p) {
    while (p->pos < p->length) {
        char c = p->text[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static int match_word(parser *p, const char *word) {
    size_t n = strlen(word);
    if (p->length - p->pos < n || memcmp(p->text + p->pos, word, n) != 0) return 0;
    p->pos += n;
    return 1;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int read_hex4(parser *p, unsigned *out) {
    if (p->length - p->pos < 4) return 0;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hex_value(p->text[p->pos + (size_t)i]);
        if (h < 0) return 0;
        v = v * 16 + (unsigned)h;
    }
    p->pos += 4;
    *out = v;
    return 1;
}

static size_t put_utf8(char *dst, unsigned cp) {
    if (cp < 0x80) {
        dst[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        dst[0] = (char)(0xC0 | (cp >> 6));
        dst[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        dst[0] = (char)(0xE0 | (cp >> 12));
        dst[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        dst[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    dst[0] = (char)(0xF0 | (cp >> 18));
    dst[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    dst[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    dst[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Strings decode to at most their encoded length, so one allocation of that size suffices. */
static pt2_status parse_string(parser *p, const char **out, size_t *out_length) {
    if (p->pos >= p->length || p->text[p->pos] != '"') return parse_error(p, "a string");
    p->pos++;
    size_t start = p->pos;
    size_t end = start;
    while (end < p->length && p->text[end] != '"') end += (p->text[end] == '\\') ? 2 : 1;
    if (end >= p->length) return parse_error(p, "a closing quote");
    char *buf = pt2_arena_alloc(p->strings, end - start + 1, p->err);
    if (!buf) return p->err->status;
    size_t n = 0;
    while (p->pos < end) {
        unsigned char c = (unsigned char)p->text[p->pos];
        if (c < 0x20) return parse_error(p, "no raw control characters in a string");
        if (c != '\\') {
            buf[n++] = (char)c;
            p->pos++;
            continue;
        }
        p->pos++;
        char e = p->text[p->pos++];
        switch (e) {
        case '"': buf[n++] = '"'; break;
        case '\\': buf[n++] = '\\'; break;
        case '/': buf[n++] = '/'; break;
        case 'b': buf[n++] = '\b'; break;
        case 'f': buf[n++] = '\f'; break;
        case 'n': buf[n++] = '\n'; break;
        case 'r': buf[n++] = '\r'; break;
        case 't': buf[n++] = '\t'; break;
        case 'u': {
            unsigned cp;
            if (!read_hex4(p, &cp)) return parse_error(p, "four hex digits after \\u");
            if (cp >= 0xD800 && cp < 0xDC00) {
                unsigned low;
                if (p->length - p->pos >= 6 && p->text[p->pos] == '\\' && p->text[p->pos + 1] == 'u') {
                    p->pos += 2;
                    if (!read_hex4(p, &low) || low < 0xDC00 || low > 0xDFFF)
                        return parse_error(p, "a low surrogate");
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                } else {
                    return parse_error(p, "a low surrogate after a high surrogate");
                }
            }
            /* \uXXXX is 6 bytes and decodes to at most 3 (4 for a 12-byte surrogate pair). */
            n += put_utf8(buf + n, cp);
            break;
        }
        default: p->pos--; return parse_error(p, "a valid escape character");
        }
    }
    p->pos = end + 1;
    buf[n] = 0;
    *out = buf;
    *out_length = n;
    return PT2_OK;
}

static pt2_status parse_number(parser *p, pt2_json *v) {
    size_t start = p->pos;
    int integer = 1;
    if (p->pos < p->length && p->text[p->pos] == '-') p->pos++;
    if (p->pos >= p->length || p->text[p->pos] < '0' || p->text[p->pos] > '9') return parse_error(p, "a digit");
    while (p->pos < p->length && p->text[p->pos] >= '0' && p->text[p->pos] <= '9') p->pos++;
    if (p->pos < p->length && p->text[p->pos] == '.') {
        integer = 0;
        p->pos++;
        if (p->pos >= p->length || p->text[p->pos] < '0' || p->text[p->pos] > '9')
            return parse_error(p, "a digit after the decimal point");
        while (p->pos < p->length && p->text[p->pos] >= '0' && p->text[p->pos] <= '9') p->pos++;
    }
    if (p->pos < p->length && (p->text[p->pos] == 'e' || p->text[p->pos] == 'E')) {
        integer = 0;
        p->pos++;
        if (p->pos < p->length && (p->text[p->pos] == '+' || p->text[p->pos] == '-')) p->pos++;
        if (p->pos >= p->length || p->text[p->pos] < '0' || p->text[p->pos] > '9')
            return parse_error(p, "a digit in the exponent");
        while (p->pos < p->length && p->text[p->pos] >= '0' && p->text[p->pos] <= '9') p->pos++;
    }
    v->type = PT2_JSON_NUMBER;
    /* An integer of up to 18 digits (an exported program's sizes, indices and ids: most of its
     * numbers) is read here: its double is the nearest to it, as strtod would give, without the
     * decimal scanner (in WebAssembly its loops made it hot enough to be compiled again, 16 ms of
     * a Transformer layer's first conversion). */
    size_t digits = p->pos - start - (p->text[start] == '-');
    if (integer && digits <= 18) {
        long long i = 0;
        for (size_t k = p->pos - digits; k < p->pos; k++) i = i * 10 + (p->text[k] - '0');
        if (p->text[start] == '-') i = -i;
        v->number = p->text[start] == '-' && i == 0 ? -0.0 : (double)i;
        v->is_integer = 1;
        v->integer = i;
        return PT2_OK;
    }
    char tmp[64];
    size_t n = p->pos - start;
    char *heap = NULL;
    char *s = tmp;
    if (n >= sizeof tmp) {
        heap = pt2_arena_strndup(p->arena, p->text + start, n, p->err);
        if (!heap) return p->err->status;
        s = heap;
    } else {
        memcpy(tmp, p->text + start, n);
        tmp[n] = 0;
    }
    v->number = strtod(s, NULL);
    if (integer) {
        errno = 0;
        long long i = strtoll(s, NULL, 10);
        if (errno == 0) {
            v->is_integer = 1;
            v->integer = i;
        }
    }
    return PT2_OK;
}

static pt2_status parse_value(parser *p, pt2_json *v, int depth);

typedef struct member_list {
    pt2_json *items;
    const char **keys;
    size_t count, capacity, key_capacity;
} member_list;

static pt2_status push_item(parser *p, member_list *list, pt2_json **slot) {
    size_t cap = list->capacity;
    pt2_json *items = pt2_arena_grow(p->arena, list->items, list->count, &cap, sizeof(pt2_json), p->err);
    if (!items) return p->err->status;
    list->items = items;
    list->capacity = cap;
    *slot = &list->items[list->count++];
    return PT2_OK;
}

static pt2_status push_key(parser *p, member_list *list, const char *key) {
    size_t cap = list->key_capacity;
    const char **keys = pt2_arena_grow(p->arena, (void *)list->keys, list->count, &cap, sizeof(char *), p->err);
    if (!keys) return p->err->status;
    list->keys = keys;
    list->key_capacity = cap;
    list->keys[list->count] = key;
    return PT2_OK;
}

static pt2_status parse_container(parser *p, pt2_json *v, int depth, int object) {
    char close = object ? '}' : ']';
    member_list list = {0};
    p->pos++;
    skip_space(p);
    if (p->pos < p->length && p->text[p->pos] == close) {
        p->pos++;
    } else {
        for (;;) {
            skip_space(p);
            if (object) {
                const char *key;
                size_t key_length;
                pt2_status st = parse_string(p, &key, &key_length);
                if (st) return st;
                if ((st = push_key(p, &list, key))) return st;
                skip_space(p);
                if (p->pos >= p->length || p->text[p->pos] != ':') return parse_error(p, "':'");
                p->pos++;
            }
            pt2_json *slot = NULL;
            pt2_status st = push_item(p, &list, &slot);
            if (st) return st;
            if ((st = parse_value(p, slot, depth + 1))) return st;
            skip_space(p);
            if (p->pos < p->length && p->text[p->pos] == ',') {
                p->pos++;
                continue;
            }
            if (p->pos < p->length && p->text[p->pos] == close) {
                p->pos++;
                break;
            }
            return parse_error(p, object ? "',' or '}'" : "',' or ']'");
        }
    }
    v->type = object ? PT2_JSON_OBJECT : PT2_JSON_ARRAY;
    v->items = list.items;
    v->keys = list.keys;
    v->count = list.count;
    return PT2_OK;
}

static pt2_status parse_value(parser *p, pt2_json *v, int depth) {
    if (depth > PT2_JSON_MAX_DEPTH)
        return pt2_fail(p->err, PT2_ERR_INPUT, "JSON in %s is nested deeper than %d levels at byte %zu", p->what,
                        PT2_JSON_MAX_DEPTH, p->pos);
    skip_space(p);
    if (p->pos >= p->length) return parse_error(p, "a value, found the end of the text");
    char c = p->text[p->pos];
    if (c == '{') return parse_container(p, v, depth, 1);
    if (c == '[') return parse_container(p, v, depth, 0);
    if (c == '"') {
        v->type = PT2_JSON_STRING;
        return parse_string(p, &v->string, &v->string_length);
    }
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number(p, v);
    if (match_word(p, "true")) {
        v->type = PT2_JSON_BOOL;
        v->boolean = 1;
        return PT2_OK;
    }
    if (match_word(p, "false")) {
        v->type = PT2_JSON_BOOL;
        return PT2_OK;
    }
    if (match_word(p, "null")) {
        v->type = PT2_JSON_NULL;
        return PT2_OK;
    }
    /* Python's json.dumps writes these for non-finite floats unless allow_nan=False. */
    if (match_word(p, "NaN")) {
        v->type = PT2_JSON_NUMBER;
        v->number = NAN;
        return PT2_OK;
    }
    if (match_word(p, "Infinity")) {
        v->type = PT2_JSON_NUMBER;
        v->number = INFINITY;
        return PT2_OK;
    }
    if (match_word(p, "-Infinity")) {
        v->type = PT2_JSON_NUMBER;
        v->number = -INFINITY;
        return PT2_OK;
    }
    return parse_error(p, "a JSON value");
}

static pt2_status parse(pt2_arena *tree, pt2_arena *strings, const char *text, size_t length, const char *what,
                        pt2_json **out, pt2_error *err);

pt2_status pt2_json_parse(pt2_arena *arena, const char *text, size_t length, const char *what, pt2_json **out,
                          pt2_error *err) {
    return pt2_json_parse_apart(arena, arena, text, length, what, out, err);
}

pt2_status pt2_json_parse_apart(pt2_arena *tree, pt2_arena *strings, const char *text, size_t length, const char *what,
                                pt2_json **out, pt2_error *err) {
    pt2_reader_bound tree_bound, strings_bound;
    pt2_arena_reader_begin(tree, length, what, &tree_bound);
    pt2_arena_reader_begin(strings, length, what, &strings_bound);
    pt2_status st = parse(tree, strings, text, length, what, out, err);
    pt2_arena_reader_end(strings, &strings_bound);
    pt2_arena_reader_end(tree, &tree_bound);
    return st;
}

static pt2_status parse(pt2_arena *tree, pt2_arena *strings, const char *text, size_t length, const char *what,
                        pt2_json **out, pt2_error *err) {
    parser p = {text, length, 0, what ? what : "JSON text", tree, strings, err};
    pt2_json *root = pt2_arena_alloc(tree, sizeof *root, err);
    if (!root) return err->status;
    pt2_status st = parse_value(&p, root, 0);
    if (st) return st;
    skip_space(&p);
    if (p.pos != p.length) return parse_error(&p, "the end of the text after the top-level value");
    *out = root;
    return PT2_OK;
}

const pt2_json *pt2_json_get(const pt2_json *object, const char *key) {
    if (!object || object->type != PT2_JSON_OBJECT) return NULL;
    for (size_t i = 0; i < object->count; i++)
        if (strcmp(object->keys[i], key) == 0) return &object->items[i];
    return NULL;
}

const char *pt2_json_get_string(const pt2_json *object, const char *key, const char *fallback) {
    const pt2_json *v = pt2_json_get(object, key);
    return (v && v->type == PT2_JSON_STRING) ? v->string : fallback;
}

int64_t pt2_json_get_int(const pt2_json *object, const char *key, int64_t fallback) {
    const pt2_json *v = pt2_json_get(object, key);
    return (v && v->type == PT2_JSON_NUMBER && v->is_integer) ? v->integer : fallback;
}

int pt2_json_is(const pt2_json *value, pt2_json_type type) { return value && value->type == type; }
