/* The JSON reader: every value of the tree is visited and every string read to its length. */
#include "core/base/json.h"
#include "fuzz_common.h"

static void visit(const pt2_json *v, int depth) {
    if (depth > PT2_JSON_MAX_DEPTH + 1) fuzz_die("tree deeper than the depth limit", NULL);
    switch (v->type) {
    case PT2_JSON_STRING: {
        uint8_t acc = 0;
        for (size_t i = 0; i <= v->string_length; i++) acc ^= (uint8_t)v->string[i]; /* and its NUL */
        if (v->string[v->string_length] != 0) fuzz_die("string not NUL-terminated at its length", NULL);
        fuzz_sink ^= acc;
        break;
    }
    case PT2_JSON_ARRAY:
    case PT2_JSON_OBJECT:
        for (size_t i = 0; i < v->count; i++) {
            if (v->type == PT2_JSON_OBJECT) fuzz_sink ^= (uint8_t)strlen(v->keys[i]);
            visit(&v->items[i], depth + 1);
        }
        break;
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    pt2_arena *arena = fuzz_arena_begin();
    const char *text = (const char *)fuzz_copy(arena, data, size);
    pt2_error err;
    pt2_error_clear(&err);
    pt2_json *root = NULL;
    pt2_status st = pt2_json_parse(arena, text, size, "fuzz.json", &root, &err);
    fuzz_check_status(st, &err);
    if (st == PT2_OK) visit(root, 0);
    fuzz_arena_end(arena);
    return 0;
}
