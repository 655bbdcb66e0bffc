#include "output_names.h"

#include <stdio.h>
#include <string.h>

/* The flattened leaves' names, in order; a leaf reached through no key gets NULL. */
typedef struct leaf_names {
    pt2_arena *arena;
    const char **names;
    size_t count, capacity;
    int ok;
} leaf_names;

#define MAX_DEPTH 16
#define MAX_NAME 120

/* A key made fit for a RETURNN layer name: letters, digits and '_' only. */
static void append_key(char *path, const char *key) {
    size_t used = strlen(path);
    if (used && used + 1 < MAX_NAME) path[used++] = '_';
    for (const char *c = key; *c && used + 1 < MAX_NAME; c++) {
        int plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_';
        path[used++] = plain ? *c : '_';
    }
    path[used] = 0;
}

static void walk(leaf_names *out, const pt2_json *spec, const char *path, int depth, pt2_error *err) {
    if (!out->ok || depth > MAX_DEPTH || !pt2_json_is(spec, PT2_JSON_OBJECT)) {
        out->ok = 0;
        return;
    }
    const pt2_json *children = pt2_json_get(spec, "children_spec");
    const pt2_json *type = pt2_json_get(spec, "type");
    if (!type || type->type == PT2_JSON_NULL) { /* a leaf: one flattened output */
        if (out->count == out->capacity) {
            out->ok = 0;
            return;
        }
        out->names[out->count++] = path[0] ? pt2_arena_strdup(out->arena, path, err) : NULL;
        if (path[0] && !out->names[out->count - 1]) out->ok = 0;
        return;
    }
    if (!pt2_json_is(children, PT2_JSON_ARRAY)) {
        out->ok = 0;
        return;
    }
    /* A dict's or dataclass's context is a JSON text listing its keys, one per child; a tuple's is
     * null, a namedtuple's its type name (no keys then: positions are no names). */
    const pt2_json *keys = NULL;
    const char *context = pt2_json_get_string(spec, "context", NULL);
    pt2_json *parsed;
    pt2_error ignored;
    pt2_error_clear(&ignored);
    if (context && context[0] == '[' &&
        !pt2_json_parse(out->arena, context, strlen(context), "out_spec context", &parsed, &ignored) &&
        pt2_json_is(parsed, PT2_JSON_ARRAY) && parsed->count == children->count)
        keys = parsed;
    for (size_t i = 0; i < children->count && out->ok; i++) {
        char child[MAX_NAME];
        snprintf(child, sizeof child, "%s", path);
        if (keys && keys->items[i].type == PT2_JSON_STRING) append_key(child, keys->items[i].string);
        else if (path[0]) { /* a tuple inside a named output: "states_0", "states_1" */
            char index[24];
            snprintf(index, sizeof index, "%zu", i);
            append_key(child, index);
        }
        walk(out, &children->items[i], child, depth + 1, err);
    }
}

pt2_status pt2_read_output_names(pt2_arena *arena, const pt2_json *graph_module, pt2_graph *graph, pt2_error *err) {
    size_t users = 0;
    for (size_t i = 0; i < graph->num_outputs; i++) users += graph->outputs[i].kind == PT2_OUTPUT_USER;
    const pt2_json *calls = pt2_json_get(graph_module, "module_call_graph");
    const char *out_spec = NULL;
    for (size_t i = 0; pt2_json_is(calls, PT2_JSON_ARRAY) && i < calls->count && !out_spec; i++)
        if (!strcmp(pt2_json_get_string(&calls->items[i], "fqn", "?"), ""))
            out_spec = pt2_json_get_string(pt2_json_get(&calls->items[i], "signature"), "out_spec", NULL);
    if (!out_spec || users < 2) return PT2_OK;
    /* The spec is [protocol, tree] in a JSON text of its own. */
    pt2_json *spec;
    pt2_error ignored;
    pt2_error_clear(&ignored);
    if (pt2_json_parse(arena, out_spec, strlen(out_spec), "out_spec", &spec, &ignored) || !pt2_json_is(spec, PT2_JSON_ARRAY) ||
        spec->count != 2)
        return PT2_OK;
    leaf_names leaves = {arena, NULL, 0, users, 1};
    leaves.names = pt2_arena_alloc_array(arena, users + 1, sizeof *leaves.names, err);
    if (!leaves.names) return err->status;
    walk(&leaves, &spec->items[1], "", 0, err);
    if (err->status) return err->status;
    if (!leaves.ok || leaves.count != users) return PT2_OK; /* not the spec of these outputs */
    /* Names are unique (a tuple of dicts may repeat a key): each repeated one gets its position. */
    unsigned char *repeated = pt2_arena_alloc(arena, users + 1, err);
    if (!repeated) return err->status;
    for (size_t i = 0; i < users; i++)
        for (size_t j = 0; j < users && !repeated[i]; j++)
            repeated[i] = j != i && leaves.names[i] && leaves.names[j] && !strcmp(leaves.names[i], leaves.names[j]);
    for (size_t i = 0; i < users; i++)
        if (repeated[i] && !(leaves.names[i] = pt2_arena_printf(arena, err, "%s_%zu", leaves.names[i], i))) return err->status;
    for (size_t i = 0, k = 0; i < graph->num_outputs; i++)
        if (graph->outputs[i].kind == PT2_OUTPUT_USER) graph->outputs[i].name = leaves.names[k++];
    return PT2_OK;
}
