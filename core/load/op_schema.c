#include "op_schema.h"

#include <stdlib.h>
#include <string.h>

static const struct {
    const char *target;
    const char *schema;
} known_schemas[] = {
#include "op_schemas.inc"
};

static pt2_status schema_error(pt2_error *err, const char *text, const char *what) {
    return pt2_fail(err, PT2_ERR_INTERNAL, "cannot parse the op schema \"%.200s\": %s", text, what);
}

/* Splits "a, b[2], c=[0, 0]" at top-level commas. */
static size_t split_top_level(const char *s, size_t length, const char **parts, size_t *lengths, size_t max) {
    size_t count = 0, start = 0;
    int level = 0, quoted = 0;
    for (size_t i = 0; i <= length; i++) {
        char c = i < length ? s[i] : ',';
        if (c == '"') quoted = !quoted;
        if (quoted) continue;
        if (c == '(' || c == '[') level++;
        if (c == ')' || c == ']') level--;
        if (c == ',' && level == 0) {
            while (start < i && s[start] == ' ') start++;
            size_t end = i;
            while (end > start && s[end - 1] == ' ') end--;
            if (end > start && count < max) {
                parts[count] = s + start;
                lengths[count] = end - start;
                count++;
            }
            start = i + 1;
        }
    }
    return count;
}

static int is_int_type(const char *type) { return !strcmp(type, "int") || !strcmp(type, "SymInt"); }

static pt2_status parse_default(pt2_arena *arena, const pt2_schema_arg *arg, const char *text, size_t length,
                                pt2_arg *out, pt2_error *err) {
    char buf[256];
    if (length >= sizeof buf) return pt2_fail(err, PT2_ERR_INTERNAL, "schema default too long");
    memcpy(buf, text, length);
    buf[length] = 0;
    memset(out, 0, sizeof *out);
    if (!strcmp(buf, "None")) {
        out->kind = PT2_ARG_NONE;
        return PT2_OK;
    }
    if (arg->is_list) {
        /* "[1]", "[0, 0]", "[]" or a bare scalar broadcast to the list's size ("stride=1"). */
        const char *items[16];
        size_t lengths[16], count;
        if (buf[0] == '[') {
            count = split_top_level(buf + 1, strlen(buf) - 2, items, lengths, 16);
        } else {
            count = (size_t)(arg->list_size > 0 ? arg->list_size : 1);
            if (count > 16) count = 16;
            for (size_t i = 0; i < count; i++) {
                items[i] = buf;
                lengths[i] = strlen(buf);
            }
        }
        out->count = count;
        if (is_int_type(arg->type)) {
            out->kind = PT2_ARG_INTS;
            out->ints = pt2_arena_alloc_array(arena, count + 1, sizeof *out->ints, err);
            if (!out->ints) return err->status;
            for (size_t i = 0; i < count; i++) out->ints[i] = strtoll(items[i], NULL, 10);
        } else if (!strcmp(arg->type, "bool")) {
            out->kind = PT2_ARG_BOOLS;
            out->ints = pt2_arena_alloc_array(arena, count + 1, sizeof *out->ints, err);
            if (!out->ints) return err->status;
            for (size_t i = 0; i < count; i++) out->ints[i] = !strncmp(items[i], "True", 4);
        } else if (!strcmp(arg->type, "float")) {
            out->kind = PT2_ARG_FLOATS;
            out->floats = pt2_arena_alloc_array(arena, count + 1, sizeof *out->floats, err);
            if (!out->floats) return err->status;
            for (size_t i = 0; i < count; i++) out->floats[i] = strtod(items[i], NULL);
        } else if (count == 0) {
            out->kind = PT2_ARG_TENSORS; /* empty Tensor[] */
        } else {
            out->kind = PT2_ARG_OTHER;
            out->string = pt2_arena_strdup(arena, buf, err);
        }
        return PT2_OK;
    }
    if (!strcmp(buf, "True") || !strcmp(buf, "False")) {
        out->kind = PT2_ARG_BOOL;
        out->int_value = buf[0] == 'T';
        return PT2_OK;
    }
    if (buf[0] == '"' || buf[0] == '\'') {
        out->kind = PT2_ARG_STRING;
        out->string = pt2_arena_strndup(arena, buf + 1, strlen(buf) - 2, err);
        return out->string ? PT2_OK : err->status;
    }
    if (!strcmp(arg->type, "MemoryFormat")) {
        /* Schema defaults use c10's numbering (0 contiguous, 1 preserve, 2 channels_last,
         * 3 channels_last_3d); files use the export schema's (1, 4, 2, 3). Store the latter. */
        static const int64_t c10_to_schema[] = {1, 4, 2, 3};
        long long c10 = strtoll(buf, NULL, 10);
        out->kind = PT2_ARG_MEMORY_FORMAT;
        out->int_value = !strcmp(buf, "contiguous_format") ? 1 : (c10 >= 0 && c10 < 4) ? c10_to_schema[c10] : 0;
        return PT2_OK;
    }
    if (!strcmp(arg->type, "ScalarType") || !strcmp(arg->type, "Layout") || !strcmp(arg->type, "Device")) {
        out->kind = PT2_ARG_OTHER;
        out->string = pt2_arena_strdup(arena, buf, err);
        return out->string ? PT2_OK : err->status;
    }
    char *end;
    long long i = strtoll(buf, &end, 10);
    if (*end == 0 && !(!strcmp(arg->type, "float"))) {
        out->kind = PT2_ARG_INT;
        out->int_value = i;
        return PT2_OK;
    }
    double d = strtod(buf, &end);
    if (*end == 0) {
        out->kind = PT2_ARG_FLOAT;
        out->float_value = d;
        return PT2_OK;
    }
    out->kind = PT2_ARG_OTHER;
    out->string = pt2_arena_strdup(arena, buf, err);
    return out->string ? PT2_OK : err->status;
}

static pt2_status parse_arg(pt2_arena *arena, const char *text, size_t length, int keyword_only, pt2_schema_arg *out,
                            pt2_error *err) {
    memset(out, 0, sizeof *out);
    out->keyword_only = keyword_only;
    /* "TYPE NAME" or "TYPE NAME=DEFAULT". The type may contain spaces in its alias annotation
     * ("Tensor(a -> *) self"), the name never does: it follows the last space before '='. */
    const char *end = text + length;
    const char *equals = memchr(text, '=', length);
    const char *name_end = equals ? equals : end;
    const char *space = NULL;
    for (const char *c = text; c < name_end; c++)
        if (*c == ' ') space = c;
    if (!space || space + 1 == name_end) return schema_error(err, text, "argument without a name");
    /* Type: strip the alias annotation "(a!)", then "?" and "[N]". */
    char type[64];
    size_t n = 0;
    int in_alias = 0;
    for (const char *c = text; c < space; c++) {
        if (*c == '(') in_alias = 1;
        if (!in_alias && *c != ' ' && n + 1 < sizeof type) type[n++] = *c;
        if (*c == ')') in_alias = 0;
    }
    type[n] = 0;
    char *question = strchr(type, '?');
    if (question) {
        out->optional = 1;
        *question = 0;
    }
    char *bracket = strchr(type, '[');
    if (bracket) {
        out->is_list = 1;
        out->list_size = atoi(bracket + 1);
        *bracket = 0;
        if (strchr(bracket + 1, '?')) out->optional = 1; /* "int[1]?" */
    }
    if (!(out->type = pt2_arena_strdup(arena, type, err))) return err->status;
    const char *name = space + 1;
    if (!(out->name = pt2_arena_strndup(arena, name, (size_t)(name_end - name), err))) return err->status;
    if (equals) {
        out->has_default = 1;
        return parse_default(arena, out, equals + 1, (size_t)(end - equals - 1), &out->default_value, err);
    }
    return PT2_OK;
}

/* The ')' closing the argument list that opens at `open`, or NULL. */
static const char *matching_paren(const char *open) {
    int level = 0, quoted = 0;
    for (const char *c = open; *c; c++) {
        if (*c == '"') quoted = !quoted;
        if (quoted) continue;
        if (*c == '(') level++;
        if (*c == ')' && --level == 0) return c;
    }
    return NULL;
}

pt2_status pt2_op_schema_parse(pt2_arena *arena, const char *target, const char *text, pt2_op_schema *out,
                               pt2_error *err) {
    memset(out, 0, sizeof *out);
    out->target = target;
    out->text = text;
    const char *open = strchr(text, '(');
    const char *arrow = open ? matching_paren(open) : NULL;
    if (!arrow || strncmp(arrow, ") -> ", 5) != 0) return schema_error(err, text, "expected NAME(ARGS) -> RETURNS");
    const char *parts[64];
    size_t lengths[64];
    size_t count = split_top_level(open + 1, (size_t)(arrow - open - 1), parts, lengths, 64);
    out->args = pt2_arena_alloc_array(arena, count + 1, sizeof *out->args, err);
    if (!out->args) return err->status;
    int keyword_only = 0;
    for (size_t i = 0; i < count; i++) {
        if (lengths[i] == 1 && parts[i][0] == '*') {
            keyword_only = 1;
            continue;
        }
        if (lengths[i] == 3 && !strncmp(parts[i], "...", 3)) continue; /* varargs (einsum.sublist): file order */
        pt2_status st = parse_arg(arena, parts[i], lengths[i], keyword_only, &out->args[out->num_args], err);
        if (st) return st;
        out->num_args++;
    }
    const char *returns = arrow + 5;
    if (returns[0] == '(') {
        size_t return_lengths[16];
        const char *return_parts[16];
        out->num_returns = split_top_level(returns + 1, strlen(returns) - 2, return_parts, return_lengths, 16);
    } else {
        out->num_returns = strcmp(returns, "()") ? 1 : 0;
    }
    return PT2_OK;
}

#define NUM_KNOWN_SCHEMAS (sizeof known_schemas / sizeof known_schemas[0])

/* The generator writes the table sorted by target, so lookups bisect it. */
static long find_index(const char *target) {
    size_t low = 0, high = NUM_KNOWN_SCHEMAS;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        int c = strcmp(known_schemas[mid].target, target);
        if (c == 0) return (long)mid;
        if (c < 0) low = mid + 1;
        else high = mid;
    }
    return -1;
}

static pt2_status parse_known(pt2_arena *arena, size_t index, const pt2_op_schema **out, pt2_error *err) {
    pt2_op_schema *schema = pt2_arena_alloc(arena, sizeof *schema, err);
    if (!schema) return err->status;
    pt2_status st = pt2_op_schema_parse(arena, known_schemas[index].target, known_schemas[index].schema, schema, err);
    if (st) return st;
    *out = schema;
    return PT2_OK;
}

pt2_status pt2_op_schema_find(pt2_arena *arena, const char *target, const pt2_op_schema **out, pt2_error *err) {
    *out = NULL;
    long index = find_index(target);
    return index < 0 ? PT2_OK : parse_known(arena, (size_t)index, out, err);
}

pt2_status pt2_op_schema_lookup(pt2_arena *arena, pt2_op_schema_cache *cache, const char *target,
                                const pt2_op_schema **out, pt2_error *err) {
    *out = NULL;
    long index = find_index(target);
    if (index < 0) return PT2_OK;
    if (!cache->parsed) {
        cache->parsed = pt2_arena_alloc_array(arena, NUM_KNOWN_SCHEMAS, sizeof *cache->parsed, err);
        if (!cache->parsed) return err->status;
    }
    if (!cache->parsed[index]) {
        pt2_status st = parse_known(arena, (size_t)index, &cache->parsed[index], err);
        if (st) return st;
    }
    *out = cache->parsed[index];
    return PT2_OK;
}

size_t pt2_op_schema_count(void) { return NUM_KNOWN_SCHEMAS; }

const char *pt2_op_schema_entry(size_t index, const char **text) {
    if (index >= NUM_KNOWN_SCHEMAS) return NULL;
    if (text) *text = known_schemas[index].schema;
    return known_schemas[index].target;
}
