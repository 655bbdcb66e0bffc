/* A small JSON reader into an arena-owned tree. Shared by the native and WASM builds so both
 * read graphs identically. Depth is limited: a file nested thousands deep is refused, not
 * followed into a stack overflow. Integers keep their exact 64-bit value. */
#ifndef PT2_BASE_JSON_H
#define PT2_BASE_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "error.h"

typedef enum pt2_json_type {
    PT2_JSON_NULL,
    PT2_JSON_BOOL,
    PT2_JSON_NUMBER,
    PT2_JSON_STRING,
    PT2_JSON_ARRAY,
    PT2_JSON_OBJECT
} pt2_json_type;

typedef struct pt2_json pt2_json;
struct pt2_json {
    pt2_json_type type;
    int boolean;
    double number;
    int is_integer;  /* the text was an integer that fits int64 */
    int64_t integer; /* exact value when is_integer */
    const char *string; /* NUL-terminated, UTF-8; may contain NUL escapes, see string_length */
    size_t string_length;
    size_t count;     /* array items or object members */
    pt2_json *items;  /* count values */
    const char **keys; /* objects only: count keys, in file order */
};

#define PT2_JSON_MAX_DEPTH 200

/* `what` names the text in errors (e.g. "models/model.json"). */
pt2_status pt2_json_parse(pt2_arena *arena, const char *text, size_t length, const char *what, pt2_json **out,
                          pt2_error *err);

/* The same with the tree (values, arrays, keys' arrays) in `tree` and the strings' bytes in
 * `strings`: a reader that keeps only strings (names, targets) frees `tree` once it has read it,
 * where the tree is many times the text (a value is 72 bytes). Each arena is bound as a reader's. */
pt2_status pt2_json_parse_apart(pt2_arena *tree, pt2_arena *strings, const char *text, size_t length, const char *what,
                                pt2_json **out, pt2_error *err);

/* Object member by key (first match), or NULL. NULL-safe on `object`. */
const pt2_json *pt2_json_get(const pt2_json *object, const char *key);
/* Convenience accessors; return the fallback when missing or of another type. */
const char *pt2_json_get_string(const pt2_json *object, const char *key, const char *fallback);
int64_t pt2_json_get_int(const pt2_json *object, const char *key, int64_t fallback);
int pt2_json_is(const pt2_json *value, pt2_json_type type);

#endif
