/* PyTorch op schemas (generated into op_schemas.inc by scripts/gen_op_schemas.py), parsed so
 * the .pt2 reader can put arguments in schema order and fill in the defaults that
 * torch.export leaves out. */
#ifndef PT2_LOAD_OP_SCHEMA_H
#define PT2_LOAD_OP_SCHEMA_H

#include <stddef.h>

#include "../base/arena.h"
#include "../base/error.h"
#include "../graph/graph.h"

typedef struct pt2_schema_arg {
    const char *name;
    const char *type; /* base type without '?', list suffix or alias annotation: "Tensor", "SymInt", ... */
    int optional;     /* "Type?" */
    int is_list;      /* "Type[]" or "Type[N]" */
    int list_size;    /* N of "Type[N]", 0 when unsized */
    int keyword_only; /* after the '*' */
    int has_default;
    pt2_arg default_value;
} pt2_schema_arg;

typedef struct pt2_op_schema {
    const char *target; /* "aten.conv1d.default" */
    const char *text;   /* the schema string */
    size_t num_args;
    pt2_schema_arg *args;
    size_t num_returns;
} pt2_op_schema;

/* *out = NULL (and PT2_OK) when pt2returnn has no schema for the target. */
pt2_status pt2_op_schema_find(pt2_arena *arena, const char *target, const pt2_op_schema **out, pt2_error *err);
/* The same, parsing each schema once per cache: the .pt2 reader keeps one cache per archive
 * (the parsed schemas live in `arena`, so the cache must not outlive it). Zero-initialise. */
typedef struct pt2_op_schema_cache {
    const pt2_op_schema **parsed; /* one slot per known schema */
} pt2_op_schema_cache;
pt2_status pt2_op_schema_lookup(pt2_arena *arena, pt2_op_schema_cache *cache, const char *target,
                                const pt2_op_schema **out, pt2_error *err);

/* The generated table (sorted by target), for tests: the target of entry `index` and its
 * schema text, or NULL past the end. */
size_t pt2_op_schema_count(void);
const char *pt2_op_schema_entry(size_t index, const char **text);

/* Parses one schema string (exposed for tests). */
pt2_status pt2_op_schema_parse(pt2_arena *arena, const char *target, const char *text, pt2_op_schema *out,
                               pt2_error *err);

#endif
