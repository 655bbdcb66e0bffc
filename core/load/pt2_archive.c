/* Reads a torch.export archive into the graph IR. The JSON follows the dataclasses of
 * torch/_export/serde/schema.py: unions are single-key objects ({"as_tensor": ...}), enums are
 * integers, symbolic sizes are sympy srepr strings. Missing optional fields count as null,
 * because older writers left them out. */
#include "pt2_archive.h"
#include "output_names.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/json.h"
#include "op_schema.h"
#include "pyobj.h"
#include "torch_save.h"
#include "zip.h"

typedef struct name_index_entry {
    const char *name;
    int id;
} name_index_entry;

/* Where names resolve while a subgraph that the program runs inline is read (see "subgraphs"
 * below): its own values under a prefix, its inputs and outputs as the calling graph's values. */
typedef struct scope_alias {
    const char *name;
    int id;
} scope_alias;

typedef struct graph_scope {
    const char *prefix; /* "<calling node>/", after the enclosing scope's prefix */
    scope_alias *aliases;
    size_t num_aliases;
} graph_scope;

typedef struct loader {
    const graph_scope *scope; /* NULL in the program's own graph */
    pt2_arena *arena;
    pt2_error *err;
    const char *file_name;
    pt2_zip zip;
    pt2_graph *graph;
    name_index_entry *index; /* values sorted by name, for lookups while reading nodes */
    size_t index_count;
    pt2_op_schema_cache schemas;
    const char *where; /* JSON path of what is being read, for errors */
    char where_buf[200];
} loader;

static pt2_status load_error(loader *l, pt2_status status, const char *fmt, const char *detail) {
    pt2_error_set_file(l->err, l->file_name);
    if (l->where) pt2_error_set_entry(l->err, l->where);
    return pt2_fail(l->err, status, fmt, detail);
}

/* "a list", "the string \"x\"", "an object with the key 'as_foo'": what the file had instead. */
static void describe_json(const pt2_json *j, char *out, size_t size) {
    if (!j) snprintf(out, size, "nothing (the field is missing)");
    else if (j->type == PT2_JSON_NULL) snprintf(out, size, "null");
    else if (j->type == PT2_JSON_BOOL) snprintf(out, size, "the boolean %s", j->boolean ? "true" : "false");
    else if (j->type == PT2_JSON_NUMBER) snprintf(out, size, "the number %g", j->number);
    else if (j->type == PT2_JSON_STRING) snprintf(out, size, "the string \"%.60s\"", j->string);
    else if (j->type == PT2_JSON_ARRAY) snprintf(out, size, "a list of %zu items", j->count);
    else if (j->count) snprintf(out, size, "an object with the key '%.60s'", j->keys[0]);
    else snprintf(out, size, "an empty object");
}

static pt2_status expected(loader *l, const char *what, const pt2_json *found) {
    char description[120];
    describe_json(found, description, sizeof description);
    pt2_error_set_file(l->err, l->file_name);
    if (l->where) pt2_error_set_entry(l->err, l->where);
    return pt2_fail(l->err, PT2_ERR_INPUT, "expected %s, found %s", what, description);
}

static void set_where(loader *l, const char *fmt, const char *name, size_t index) {
    snprintf(l->where_buf, sizeof l->where_buf, fmt, name, index);
    l->where = l->where_buf;
}

/* ---------------------------------------------------------------- dtypes and sizes */

/* The serialised ScalarType numbering of schema.py, not c10's. */
static pt2_dtype dtype_from_schema(int64_t code) {
    switch (code) {
    case 1: return PT2_DTYPE_UINT8;
    case 2: return PT2_DTYPE_INT8;
    case 3: return PT2_DTYPE_INT16;
    case 4: return PT2_DTYPE_INT32;
    case 5: return PT2_DTYPE_INT64;
    case 6: return PT2_DTYPE_FLOAT16;
    case 7: return PT2_DTYPE_FLOAT32;
    case 8: return PT2_DTYPE_FLOAT64;
    case 12: return PT2_DTYPE_BOOL;
    case 13: return PT2_DTYPE_BFLOAT16;
    }
    return PT2_DTYPE_INVALID;
}

/* SymInt = {"as_int": n} | {"as_expr": {"expr_str": srepr, "hint": {"as_int": n}}}. */
static pt2_status read_dim(loader *l, const pt2_json *j, const char *what, pt2_dim *out) {
    memset(out, 0, sizeof *out);
    const pt2_json *as_int = pt2_json_get(j, "as_int");
    if (as_int) {
        if (!as_int->is_integer) return expected(l, "an integer size", as_int);
        out->value = as_int->integer;
        return PT2_OK;
    }
    const pt2_json *as_expr = pt2_json_get(j, "as_expr");
    const char *text = pt2_json_get_string(as_expr, "expr_str", NULL);
    if (!text) return expected(l, "a size {\"as_int\": n} or {\"as_expr\": {\"expr_str\": ...}}", j);
    out->is_symbolic = 1;
    out->value = pt2_json_get_int(pt2_json_get(as_expr, "hint"), "as_int", -1);
    pt2_status st = pt2_sym_parse(l->arena, text, what, &out->expr, l->err);
    if (st) {
        pt2_error_set_file(l->err, l->file_name);
        if (l->where) pt2_error_set_entry(l->err, l->where);
        return st;
    }
    /* sympy folds constants, but keep Integer(n) expressions as plain sizes anyway. */
    if (out->expr->kind == PT2_SYM_INTEGER) {
        out->is_symbolic = 0;
        out->value = out->expr->value;
        out->expr = NULL;
    }
    return PT2_OK;
}

static pt2_status read_tensor_meta(loader *l, const pt2_json *meta, const char *name, pt2_value *v) {
    v->kind = PT2_VALUE_TENSOR;
    v->dtype = dtype_from_schema(pt2_json_get_int(meta, "dtype", 0));
    const pt2_json *sizes = pt2_json_get(meta, "sizes");
    const pt2_json *strides = pt2_json_get(meta, "strides");
    if (!pt2_json_is(sizes, PT2_JSON_ARRAY)) return expected(l, "TensorMeta with a \"sizes\" list", sizes);
    if (sizes->count > PT2_MAX_RANK)
        return load_error(l, PT2_ERR_UNSUPPORTED, "tensor '%s' has more than 8 dimensions", name);
    v->rank = (int)sizes->count;
    for (int i = 0; i < v->rank; i++) {
        pt2_status st = read_dim(l, &sizes->items[i], name, &v->sizes[i]);
        if (st) return st;
        if (pt2_json_is(strides, PT2_JSON_ARRAY) && (size_t)i < strides->count &&
            (st = read_dim(l, &strides->items[i], name, &v->strides[i])))
            return st;
    }
    const pt2_json *grad = pt2_json_get(meta, "requires_grad");
    v->requires_grad = grad && grad->type == PT2_JSON_BOOL && grad->boolean;
    return PT2_OK;
}

/* ---------------------------------------------------------------- values */

static int compare_index(const void *a, const void *b) {
    return strcmp(((const name_index_entry *)a)->name, ((const name_index_entry *)b)->name);
}

static int find_indexed(const loader *l, const char *name) {
    name_index_entry key = {name, 0};
    const name_index_entry *hit = bsearch(&key, l->index, l->index_count, sizeof key, compare_index);
    return hit ? hit->id : -1;
}

static int find_value(const loader *l, const char *name) {
    const graph_scope *scope = l->scope;
    if (!scope) return find_indexed(l, name);
    for (size_t i = 0; i < scope->num_aliases; i++)
        if (!strcmp(scope->aliases[i].name, name)) return scope->aliases[i].id;
    char full[512];
    if ((size_t)snprintf(full, sizeof full, "%s%s", scope->prefix, name) >= sizeof full) return -1;
    return find_indexed(l, full);
}

/* ---------------------------------------------------------------- subgraphs
 *
 * torch.export keeps a region that changes the grad mode (a `with torch.no_grad():` block, a
 * method decorated with @torch.no_grad(), as transformers' sinusoidal position embeddings are)
 * as one node, torch.ops.higher_order.wrap_with_set_grad_enabled(enabled, graph, *args), whose
 * graph the archive holds inline with its own value tables. Grad mode changes nothing in a
 * forward, so the program reads as if the region were written out in place: the subgraph's
 * nodes go where the call was, its values under the name "<call>/<value>", its inputs are the
 * call's arguments and its outputs the call's outputs. */
static const pt2_json *set_grad_subgraph(const pt2_json *node) {
    const char *target = pt2_json_get_string(node, "target", "");
    if (strcmp(target, "torch.ops.higher_order.wrap_with_set_grad_enabled") != 0) return NULL;
    const pt2_json *inputs = pt2_json_get(node, "inputs");
    if (!pt2_json_is(inputs, PT2_JSON_ARRAY) || inputs->count < 2) return NULL;
    const pt2_json *graph = pt2_json_get(pt2_json_get(pt2_json_get(&inputs->items[1], "arg"), "as_graph"), "graph");
    return pt2_json_is(graph, PT2_JSON_OBJECT) ? graph : NULL;
}

/* The value an Argument refers to by name ({"as_tensor": {"name"}}, {"as_sym_int": {"as_name"}},
 * ...), or NULL for a constant. */
static const char *argument_name(const pt2_json *argument) {
    if (!pt2_json_is(argument, PT2_JSON_OBJECT) || !argument->count) return NULL;
    const pt2_json *body = &argument->items[0];
    const char *name = pt2_json_get_string(body, "name", NULL);
    return name ? name : pt2_json_get_string(body, "as_name", NULL);
}

/* Where a call's subgraph keeps its own values: "<enclosing prefix><call's name>/". Both the
 * values (add_values) and the names the nodes refer to (inline_subgraph) take it from here. */
static const char *subgraph_prefix(loader *l, const char *enclosing, const pt2_json *call) {
    return pt2_arena_printf(l->arena, l->err, "%s%s/", enclosing,
                            pt2_json_get_string(call, "name", "wrap_with_set_grad_enabled"));
}

static const char *const VALUE_TABLES[] = {"tensor_values", "sym_int_values", "sym_bool_values", "sym_float_values"};

/* Values and nodes of a graph with the subgraphs it runs inline (their calls not counted). */
static void count_graph(const pt2_json *graph_json, size_t *values, size_t *nodes) {
    for (size_t t = 0; t < 4; t++) {
        const pt2_json *table = pt2_json_get(graph_json, VALUE_TABLES[t]);
        if (pt2_json_is(table, PT2_JSON_OBJECT)) *values += table->count;
    }
    const pt2_json *list = pt2_json_get(graph_json, "nodes");
    for (size_t i = 0; pt2_json_is(list, PT2_JSON_ARRAY) && i < list->count; i++) {
        const pt2_json *sub = set_grad_subgraph(&list->items[i]);
        if (sub) count_graph(sub, values, nodes);
        else (*nodes)++;
    }
}

/* Whether `name`, a value of the subgraph `sub` that `call` runs, is one of its inputs, or an output
 * of it that the call gives a value of the calling graph (an output nothing reads has none): such
 * names are the calling graph's values, not the subgraph's own. */
static int is_call_interface(const pt2_json *call, const pt2_json *sub, const pt2_json *caller, const char *name) {
    const pt2_json *inputs = pt2_json_get(sub, "inputs"), *outputs = pt2_json_get(sub, "outputs");
    const pt2_json *call_outputs = pt2_json_get(call, "outputs");
    for (size_t i = 0; pt2_json_is(inputs, PT2_JSON_ARRAY) && i < inputs->count; i++) {
        const char *input = argument_name(&inputs->items[i]);
        if (input && !strcmp(input, name)) return 1;
    }
    for (size_t i = 0; pt2_json_is(outputs, PT2_JSON_ARRAY) && i < outputs->count; i++) {
        const char *output = argument_name(&outputs->items[i]);
        if (!output || strcmp(output, name) != 0) continue;
        const char *outer = pt2_json_is(call_outputs, PT2_JSON_ARRAY) && i < call_outputs->count
                                ? argument_name(&call_outputs->items[i])
                                : NULL;
        for (size_t t = 0; outer && t < 4; t++)
            if (pt2_json_get(pt2_json_get(caller, VALUE_TABLES[t]), outer)) return 1;
    }
    return 0;
}

/* The value tables of a graph (its names after `prefix`) and of the subgraphs it runs inline;
 * `call` and `caller` are the node that runs this graph and the graph it is in (NULL at the top). */
static pt2_status add_values(loader *l, const pt2_json *graph_json, const char *prefix, const pt2_json *call,
                             const pt2_json *caller) {
    static const pt2_value_kind kinds[] = {PT2_VALUE_TENSOR, PT2_VALUE_SYM_INT, PT2_VALUE_SYM_BOOL, PT2_VALUE_SYM_FLOAT};
    pt2_graph *g = l->graph;
    for (size_t t = 0; t < 4; t++) {
        const pt2_json *table = pt2_json_get(graph_json, VALUE_TABLES[t]);
        if (!pt2_json_is(table, PT2_JSON_OBJECT)) continue;
        for (size_t i = 0; i < table->count; i++) {
            if (call && is_call_interface(call, graph_json, caller, table->keys[i])) continue;
            snprintf(l->where_buf, sizeof l->where_buf, "graph.%s%s['%.100s']", prefix, VALUE_TABLES[t], table->keys[i]);
            l->where = l->where_buf;
            pt2_value *v = &g->values[g->num_values];
            v->name = prefix[0] ? pt2_arena_printf(l->arena, l->err, "%s%s", prefix, table->keys[i]) : table->keys[i];
            if (!v->name) return l->err->status;
            v->producer = -1;
            pt2_status st;
            if (kinds[t] == PT2_VALUE_TENSOR) {
                if ((st = read_tensor_meta(l, &table->items[i], v->name, v))) return st;
            } else {
                v->kind = kinds[t];
                /* {"as_expr": {...}} | {"as_int": n} | {"as_bool": b} | {"as_float": f} */
                const pt2_json *expr = pt2_json_get(&table->items[i], "as_expr");
                const char *text = pt2_json_get_string(expr, "expr_str", NULL);
                if (text && (st = pt2_sym_parse(l->arena, text, v->name, &v->sym_expr, l->err))) {
                    pt2_error_set_file(l->err, l->file_name);
                    pt2_error_set_entry(l->err, l->where);
                    return st;
                }
                const pt2_json *hint = pt2_json_get(expr, "hint");
                v->sym_hint = pt2_json_get_int(hint, "as_int", pt2_json_get_int(&table->items[i], "as_int", -1));
            }
            l->index[g->num_values].name = v->name;
            l->index[g->num_values].id = (int)g->num_values;
            g->num_values++;
        }
    }
    const pt2_json *nodes = pt2_json_get(graph_json, "nodes");
    for (size_t i = 0; pt2_json_is(nodes, PT2_JSON_ARRAY) && i < nodes->count; i++) {
        const pt2_json *sub = set_grad_subgraph(&nodes->items[i]);
        if (!sub) continue;
        const char *inner = subgraph_prefix(l, prefix, &nodes->items[i]);
        pt2_status st = inner ? add_values(l, sub, inner, &nodes->items[i], graph_json) : l->err->status;
        if (st) return st;
    }
    return PT2_OK;
}

/* The values, and room for the nodes read after the signature (read_graph_nodes). */
static pt2_status read_values(loader *l, const pt2_json *graph_json) {
    size_t total = 0, nodes = 0;
    count_graph(graph_json, &total, &nodes);
    pt2_graph *g = l->graph;
    g->values = pt2_arena_alloc_array(l->arena, total + 1, sizeof *g->values, l->err);
    l->index = pt2_arena_alloc_array(l->arena, total + 1, sizeof *l->index, l->err);
    g->nodes = pt2_arena_alloc_array(l->arena, nodes + 1, sizeof *g->nodes, l->err);
    if (!g->values || !l->index || !g->nodes) return l->err->status;
    pt2_status st = add_values(l, graph_json, "", NULL, NULL);
    if (st) return st;
    l->index_count = g->num_values;
    qsort(l->index, l->index_count, sizeof *l->index, compare_index);
    return PT2_OK;
}

/* ---------------------------------------------------------------- arguments */

static pt2_status value_ref(loader *l, const pt2_json *j, int *out) {
    const char *name = pt2_json_get_string(j, "name", NULL);
    if (!name) return expected(l, "a tensor reference {\"name\": ...}", j);
    *out = find_value(l, name);
    if (*out < 0) return load_error(l, PT2_ERR_INPUT, "reference to the unknown value '%s'", name);
    return PT2_OK;
}

static pt2_status sym_ref(loader *l, const pt2_json *j, pt2_sym_ref *out) {
    const pt2_json *as_int = pt2_json_get(j, "as_int");
    if (as_int && as_int->is_integer) {
        out->is_value = 0;
        out->constant = as_int->integer;
        return PT2_OK;
    }
    const char *name = pt2_json_get_string(j, "as_name", NULL);
    if (!name) return expected(l, "a SymInt {\"as_int\": n} or {\"as_name\": ...}", j);
    out->is_value = 1;
    out->value_id = find_value(l, name);
    if (out->value_id < 0) return load_error(l, PT2_ERR_INPUT, "reference to the unknown symbolic value '%s'", name);
    return PT2_OK;
}

static double json_float(const pt2_json *j) {
    if (j->type == PT2_JSON_STRING) return strtod(j->string, NULL); /* "Infinity", "-Infinity", "NaN" */
    return j->number;
}

static pt2_status alloc_list(loader *l, pt2_arg *out, size_t count, size_t item_size, void **items) {
    out->count = count;
    *items = pt2_arena_alloc_array(l->arena, count + 1, item_size, l->err);
    return *items ? PT2_OK : l->err->status;
}

static pt2_status read_arg(loader *l, const pt2_json *j, pt2_arg *out) {
    memset(out, 0, sizeof *out);
    if (!pt2_json_is(j, PT2_JSON_OBJECT) || j->count < 1) return expected(l, "an Argument union object", j);
    /* Writers emit exactly one key; be lenient and take the first non-null one. */
    const char *kind = j->keys[0];
    const pt2_json *v = &j->items[0];
    for (size_t i = 0; i < j->count && v->type == PT2_JSON_NULL; i++) {
        kind = j->keys[i];
        v = &j->items[i];
    }
    pt2_status st;
    if (!strcmp(kind, "as_none")) {
        out->kind = PT2_ARG_NONE;
    } else if (!strcmp(kind, "as_tensor")) {
        out->kind = PT2_ARG_TENSOR;
        return value_ref(l, v, &out->value_id);
    } else if (!strcmp(kind, "as_optional_tensor")) {
        if (pt2_json_get(v, "as_none")) {
            out->kind = PT2_ARG_NONE;
            return PT2_OK;
        }
        out->kind = PT2_ARG_TENSOR;
        return value_ref(l, pt2_json_get(v, "as_tensor"), &out->value_id);
    } else if (!strcmp(kind, "as_tensors") || !strcmp(kind, "as_optional_tensors")) {
        if (v->type != PT2_JSON_ARRAY) return expected(l, "a list of tensors", v);
        int optional = !strcmp(kind, "as_optional_tensors");
        out->kind = optional ? PT2_ARG_OPTIONAL_TENSORS : PT2_ARG_TENSORS;
        if ((st = alloc_list(l, out, v->count, sizeof(int), (void **)&out->value_ids))) return st;
        for (size_t i = 0; i < v->count; i++) {
            const pt2_json *item = &v->items[i];
            if (optional && pt2_json_get(item, "as_none")) {
                out->value_ids[i] = -1;
                continue;
            }
            if (optional) item = pt2_json_get(item, "as_tensor");
            if ((st = value_ref(l, item, &out->value_ids[i]))) return st;
        }
    } else if (!strcmp(kind, "as_int")) {
        if (!v->is_integer) return expected(l, "an integer", v);
        out->kind = PT2_ARG_INT;
        out->int_value = v->integer;
    } else if (!strcmp(kind, "as_ints") || !strcmp(kind, "as_bools")) {
        if (v->type != PT2_JSON_ARRAY) return expected(l, "a list", v);
        out->kind = kind[3] == 'i' ? PT2_ARG_INTS : PT2_ARG_BOOLS;
        if ((st = alloc_list(l, out, v->count, sizeof(int64_t), (void **)&out->ints))) return st;
        for (size_t i = 0; i < v->count; i++)
            out->ints[i] = v->items[i].type == PT2_JSON_BOOL ? v->items[i].boolean : v->items[i].integer;
    } else if (!strcmp(kind, "as_float")) {
        out->kind = PT2_ARG_FLOAT;
        out->float_value = json_float(v);
    } else if (!strcmp(kind, "as_floats")) {
        if (v->type != PT2_JSON_ARRAY) return expected(l, "a list of floats", v);
        out->kind = PT2_ARG_FLOATS;
        if ((st = alloc_list(l, out, v->count, sizeof(double), (void **)&out->floats))) return st;
        for (size_t i = 0; i < v->count; i++) out->floats[i] = json_float(&v->items[i]);
    } else if (!strcmp(kind, "as_bool")) {
        out->kind = PT2_ARG_BOOL;
        out->int_value = v->type == PT2_JSON_BOOL && v->boolean;
    } else if (!strcmp(kind, "as_string")) {
        out->kind = PT2_ARG_STRING;
        out->string = v->string ? v->string : "";
    } else if (!strcmp(kind, "as_strings")) {
        if (v->type != PT2_JSON_ARRAY) return expected(l, "a list of strings", v);
        out->kind = PT2_ARG_STRINGS;
        if ((st = alloc_list(l, out, v->count, sizeof(char *), (void **)&out->strings))) return st;
        for (size_t i = 0; i < v->count; i++) out->strings[i] = v->items[i].string ? v->items[i].string : "";
    } else if (!strcmp(kind, "as_sym_int") || !strcmp(kind, "as_sym_bool") || !strcmp(kind, "as_sym_float")) {
        pt2_sym_ref ref;
        if ((st = sym_ref(l, v, &ref))) {
            /* as_bool / as_float constants inside SymBool / SymFloat */
            const pt2_json *b = pt2_json_get(v, "as_bool"), *f = pt2_json_get(v, "as_float");
            if (!b && !f) return st;
            pt2_error_clear(l->err);
            out->kind = b ? PT2_ARG_BOOL : PT2_ARG_FLOAT;
            out->int_value = b && b->boolean;
            out->float_value = f ? json_float(f) : 0;
            return PT2_OK;
        }
        if (!ref.is_value) {
            out->kind = PT2_ARG_INT;
            out->int_value = ref.constant;
        } else {
            out->kind = kind[7] == 'i' ? PT2_ARG_SYM_INT : kind[7] == 'b' ? PT2_ARG_SYM_BOOL : PT2_ARG_SYM_FLOAT;
            out->value_id = ref.value_id;
        }
    } else if (!strcmp(kind, "as_sym_ints")) {
        if (v->type != PT2_JSON_ARRAY) return expected(l, "a list of SymInts", v);
        out->kind = PT2_ARG_SYM_INTS;
        if ((st = alloc_list(l, out, v->count, sizeof(pt2_sym_ref), (void **)&out->syms))) return st;
        for (size_t i = 0; i < v->count; i++)
            if ((st = sym_ref(l, &v->items[i], &out->syms[i]))) return st;
    } else if (!strcmp(kind, "as_scalar_type")) {
        out->kind = PT2_ARG_SCALAR_TYPE;
        out->int_value = v->integer;
        out->dtype = dtype_from_schema(v->integer);
    } else if (!strcmp(kind, "as_memory_format")) {
        out->kind = PT2_ARG_MEMORY_FORMAT;
        out->int_value = v->integer;
    } else if (!strcmp(kind, "as_layout")) {
        out->kind = PT2_ARG_LAYOUT;
        out->int_value = v->integer;
    } else if (!strcmp(kind, "as_device")) {
        out->kind = PT2_ARG_DEVICE;
        const char *type = pt2_json_get_string(v, "type", "cpu");
        const pt2_json *index = pt2_json_get(v, "index");
        out->string = (index && index->is_integer)
                          ? pt2_arena_printf(l->arena, l->err, "%s:%lld", type, (long long)index->integer)
                          : type;
        if (!out->string) return l->err->status;
    } else {
        out->kind = PT2_ARG_OTHER;
        out->string = kind;
    }
    return PT2_OK;
}

/* ---------------------------------------------------------------- nodes */

/* "L__self__,,__main__.M;L__self__layers,layers,torch.nn...Sequential": entries split at ';',
 * fields at commas outside brackets (paths such as "getattr(L['fn'], '0')" contain commas). */
static pt2_status read_module_stack(loader *l, const char *text, pt2_node *node) {
    size_t entries = 1;
    for (const char *c = text; *c; c++) entries += *c == ';';
    node->module_stack = pt2_arena_alloc_array(l->arena, entries, sizeof *node->module_stack, l->err);
    if (!node->module_stack) return l->err->status;
    const char *start = text;
    while (*start) {
        const char *end = strchr(start, ';');
        if (!end) end = start + strlen(start);
        const char *fields[3] = {start, NULL, NULL};
        size_t nfields = 1;
        int level = 0;
        for (const char *c = start; c < end; c++) {
            if (*c == '(' || *c == '[') level++;
            if (*c == ')' || *c == ']') level--;
            if (*c == ',' && level == 0 && nfields < 3) fields[nfields++] = c + 1;
        }
        if (nfields != 3) return load_error(l, PT2_ERR_INPUT, "nn_module_stack entry '%.100s' is not KEY,PATH,TYPE", start);
        pt2_module_frame *f = &node->module_stack[node->module_depth++];
        f->key = pt2_arena_strndup(l->arena, fields[0], (size_t)(fields[1] - 1 - fields[0]), l->err);
        f->path = pt2_arena_strndup(l->arena, fields[1], (size_t)(fields[2] - 1 - fields[1]), l->err);
        f->type = pt2_arena_strndup(l->arena, fields[2], (size_t)(end - fields[2]), l->err);
        if (!f->key || !f->path || !f->type) return l->err->status;
        start = *end ? end + 1 : end;
    }
    return PT2_OK;
}

/* The user's line: the last frame of the traceback outside torch's own sources. */
static pt2_status read_source_line(loader *l, const char *trace, pt2_node *node) {
    const char *best = NULL, *last = NULL;
    for (const char *c = strstr(trace, "File \""); c; c = strstr(c + 1, "File \"")) {
        const char *quote = strchr(c + 6, '"');
        if (!quote) break;
        const char *torch_dir = strstr(c + 6, "/torch/");
        last = c;
        if (!(torch_dir && torch_dir < quote)) best = c;
    }
    if (!best) best = last;
    if (!best) return PT2_OK;
    const char *path = best + 6;
    const char *quote = strchr(path, '"');
    const char *base = path;
    for (const char *c = path; c < quote; c++)
        if (*c == '/') base = c + 1;
    const char *line_no = strstr(quote, "line ");
    long line = line_no ? strtol(line_no + 5, NULL, 10) : 0;
    const char *code = strchr(quote, '\n');
    const char *code_end = code ? strchr(code + 1, '\n') : NULL;
    if (code) {
        code++;
        while (*code == ' ') code++;
    }
    int code_length = code ? (int)((code_end ? code_end : code + strlen(code)) - code) : 0;
    node->source_line = pt2_arena_printf(l->arena, l->err, "%.*s:%ld %.*s", (int)(quote - base), base, line,
                                         code_length, code ? code : "");
    return node->source_line ? PT2_OK : l->err->status;
}

static const char *normalise_target(const char *target) {
    return !strncmp(target, "torch.ops.", 10) ? target + 10 : target;
}

/* Puts the file's arguments in schema order and fills the omitted ones with defaults. */
static pt2_status order_arguments(loader *l, pt2_node *node, const pt2_json *inputs) {
    const pt2_op_schema *schema = NULL;
    pt2_status st = pt2_op_schema_lookup(l->arena, &l->schemas, node->target, &schema, l->err);
    if (st) return st;
    size_t given = pt2_json_is(inputs, PT2_JSON_ARRAY) ? inputs->count : 0;
    size_t total = given + (schema ? schema->num_args : 0);
    node->inputs = pt2_arena_alloc_array(l->arena, total + 1, sizeof *node->inputs, l->err);
    if (!node->inputs) return l->err->status;
    pt2_named_arg *file_args = pt2_arena_alloc_array(l->arena, given + 1, sizeof *file_args, l->err);
    if (!file_args) return l->err->status;
    for (size_t i = 0; i < given; i++) {
        const pt2_json *named = &inputs->items[i];
        file_args[i].name = pt2_json_get_string(named, "name", "");
        file_args[i].keyword = pt2_json_get_int(named, "kind", 1) == 2;
        if ((st = read_arg(l, pt2_json_get(named, "arg"), &file_args[i].arg))) return st;
    }
    if (!schema) {
        memcpy(node->inputs, file_args, given * sizeof *file_args);
        node->num_inputs = given;
        return PT2_OK;
    }
    node->has_schema = 1;
    for (size_t a = 0; a < schema->num_args; a++) {
        const pt2_schema_arg *s = &schema->args[a];
        pt2_named_arg *slot = &node->inputs[node->num_inputs++];
        slot->name = s->name;
        size_t i = 0;
        while (i < given && strcmp(file_args[i].name, s->name) != 0) i++;
        if (i < given) {
            *slot = file_args[i];
            slot->name = s->name;
        } else if (s->has_default) {
            slot->arg = s->default_value;
            slot->from_default = 1;
        } else if (s->optional) {
            slot->arg.kind = PT2_ARG_NONE;
            slot->from_default = 1;
        } else {
            return load_error(l, PT2_ERR_INPUT, "missing the required argument '%s'", s->name);
        }
    }
    for (size_t i = 0; i < given; i++) {
        size_t a = 0;
        while (a < schema->num_args && strcmp(file_args[i].name, schema->args[a].name) != 0) a++;
        if (a == schema->num_args)
            return load_error(l, PT2_ERR_INPUT, "argument '%s' is not in the op's schema", file_args[i].name);
    }
    return PT2_OK;
}

static pt2_status read_outputs(loader *l, pt2_node *node, int node_index, const pt2_json *outputs) {
    if (!pt2_json_is(outputs, PT2_JSON_ARRAY)) return expected(l, "a node \"outputs\" list", outputs);
    size_t total = 0;
    for (size_t i = 0; i < outputs->count; i++) {
        const pt2_json *list = pt2_json_get(&outputs->items[i], "as_tensors");
        total += pt2_json_is(list, PT2_JSON_ARRAY) ? list->count : 1;
    }
    node->outputs = pt2_arena_alloc_array(l->arena, total + 1, sizeof *node->outputs, l->err);
    if (!node->outputs) return l->err->status;
    for (size_t i = 0; i < outputs->count; i++) {
        const pt2_json *list = pt2_json_get(&outputs->items[i], "as_tensors");
        if (pt2_json_is(list, PT2_JSON_ARRAY)) {
            /* Ops returning Tensor[] (split, unbind): one output per tensor. */
            for (size_t k = 0; k < list->count; k++) {
                pt2_arg *out = &node->outputs[node->num_outputs++];
                out->kind = PT2_ARG_TENSOR;
                pt2_status st = value_ref(l, &list->items[k], &out->value_id);
                if (st) return st;
            }
            continue;
        }
        pt2_arg *out = &node->outputs[node->num_outputs++];
        const pt2_json *tensor = pt2_json_get(&outputs->items[i], "as_tensor");
        const char *name = pt2_json_get_string(tensor, "name", NULL);
        /* Unused outputs ("<node>_unused_<i>") have no value entry. */
        if (name && find_value(l, name) < 0) {
            out->kind = PT2_ARG_NONE;
            continue;
        }
        pt2_status st = read_arg(l, &outputs->items[i], out);
        if (st) return st;
    }
    for (size_t i = 0; i < node->num_outputs; i++) {
        int id = node->outputs[i].kind == PT2_ARG_TENSOR || node->outputs[i].kind == PT2_ARG_SYM_INT ||
                         node->outputs[i].kind == PT2_ARG_SYM_BOOL || node->outputs[i].kind == PT2_ARG_SYM_FLOAT
                     ? node->outputs[i].value_id
                     : -1;
        if (id >= 0) l->graph->values[id].producer = node_index;
    }
    return PT2_OK;
}

static pt2_status read_node(loader *l, const pt2_json *n, size_t i) {
    pt2_graph *g = l->graph;
    set_where(l, "graph.nodes[%2$zu]%1$s", "", i);
    int node_index = (int)g->num_nodes;
    pt2_node *node = &g->nodes[g->num_nodes++];
    const char *target = pt2_json_get_string(n, "target", NULL);
    if (!target) return expected(l, "a node \"target\" string", pt2_json_get(n, "target"));
    node->target = normalise_target(target);
    const char *prefix = l->scope ? l->scope->prefix : "";
    const char *name = pt2_json_get_string(n, "name", NULL);
    node->name = name ? (prefix[0] ? pt2_arena_printf(l->arena, l->err, "%s%s", prefix, name) : name)
                      : pt2_arena_printf(l->arena, l->err, "%snode%zu", prefix, i);
    if (!node->name) return l->err->status;
    snprintf(l->where_buf, sizeof l->where_buf, "graph.nodes[%zu] '%.100s'", i, node->name);
    const pt2_json *metadata = pt2_json_get(n, "metadata");
    node->stack_trace = pt2_json_get_string(metadata, "stack_trace", NULL);
    const char *module_stack = pt2_json_get_string(metadata, "nn_module_stack", NULL);
    const char *source_fn = pt2_json_get_string(metadata, "source_fn_stack", NULL);
    if (source_fn) {
        const char *last = strrchr(source_fn, ';');
        const char *comma = strchr(last ? last + 1 : source_fn, ',');
        node->source_fn = comma ? comma + 1 : NULL;
    }
    pt2_status st;
    if (module_stack && module_stack[0] && (st = read_module_stack(l, module_stack, node))) return st;
    if (node->stack_trace && (st = read_source_line(l, node->stack_trace, node))) return st;
    if ((st = order_arguments(l, node, pt2_json_get(n, "inputs")))) {
        snprintf(l->err->op, sizeof l->err->op, "%s", node->target);
        return st;
    }
    return read_outputs(l, node, node_index, pt2_json_get(n, "outputs"));
}

static pt2_status read_graph_nodes(loader *l, const pt2_json *nodes);

/* A wrap_with_set_grad_enabled call: its subgraph's nodes read in its place (see "subgraphs"). */
static pt2_status inline_subgraph(loader *l, const pt2_json *call, const pt2_json *sub, size_t index) {
    static const char *const what = "higher_order.wrap_with_set_grad_enabled";
    const char *call_name = pt2_json_get_string(call, "name", what);
    set_where(l, "graph.nodes[%2$zu] '%1$.100s'", call_name, index);
    const pt2_json *args = pt2_json_get(call, "inputs"), *inputs = pt2_json_get(sub, "inputs");
    const pt2_json *outputs = pt2_json_get(sub, "outputs"), *call_outputs = pt2_json_get(call, "outputs");
    if (!pt2_json_is(inputs, PT2_JSON_ARRAY) || !pt2_json_is(outputs, PT2_JSON_ARRAY) ||
        !pt2_json_is(call_outputs, PT2_JSON_ARRAY) || inputs->count + 2 != args->count || outputs->count != call_outputs->count)
        return load_error(l, PT2_ERR_INPUT, "%s: expected as many arguments after (enabled, graph) as its graph has "
                          "inputs, and as many outputs as its graph", what);
    graph_scope scope = {NULL, NULL, 0};
    scope.prefix = subgraph_prefix(l, l->scope ? l->scope->prefix : "", call);
    scope.aliases = pt2_arena_alloc_array(l->arena, inputs->count + outputs->count + 1, sizeof *scope.aliases, l->err);
    if (!scope.prefix || !scope.aliases) return l->err->status;
    for (size_t k = 0; k < inputs->count; k++) {
        const char *inner = argument_name(&inputs->items[k]);
        const char *outer = argument_name(pt2_json_get(&args->items[k + 2], "arg"));
        if (!inner || !outer)
            return load_error(l, PT2_ERR_UNSUPPORTED, "%s: an argument that is a constant, not a value, is not read yet", what);
        int id = find_value(l, outer); /* in the calling graph: the scope is still its own */
        if (id < 0) return load_error(l, PT2_ERR_INPUT, "reference to the unknown value '%s'", outer);
        scope.aliases[scope.num_aliases++] = (scope_alias){inner, id};
    }
    size_t first_output = scope.num_aliases;
    for (size_t k = 0; k < outputs->count; k++) {
        const char *inner = argument_name(&outputs->items[k]), *outer = argument_name(&call_outputs->items[k]);
        if (!inner) return load_error(l, PT2_ERR_UNSUPPORTED, "%s: a constant output is not read yet", what);
        int id = outer ? find_value(l, outer) : -1;
        if (id < 0) continue; /* nothing reads it: the subgraph's own value takes it */
        for (size_t a = 0; a < scope.num_aliases; a++)
            if (!strcmp(scope.aliases[a].name, inner))
                return load_error(l, PT2_ERR_UNSUPPORTED,
                                  "%s: its graph returns one value twice, or an input unchanged, which is not read yet", what);
        scope.aliases[scope.num_aliases++] = (scope_alias){inner, id};
    }
    const graph_scope *enclosing = l->scope;
    l->scope = &scope;
    pt2_status st = read_graph_nodes(l, pt2_json_get(sub, "nodes"));
    l->scope = enclosing;
    if (st) return st;
    for (size_t a = first_output; a < scope.num_aliases; a++)
        if (l->graph->values[scope.aliases[a].id].producer < 0) {
            set_where(l, "graph.nodes[%2$zu] '%1$.100s'", call_name, index);
            return load_error(l, PT2_ERR_INPUT, "no node of the subgraph computes its output '%s'", scope.aliases[a].name);
        }
    return PT2_OK;
}

static pt2_status read_graph_nodes(loader *l, const pt2_json *nodes) {
    if (!pt2_json_is(nodes, PT2_JSON_ARRAY)) return expected(l, "graph.nodes to be a list", nodes);
    for (size_t i = 0; i < nodes->count; i++) {
        const pt2_json *sub = set_grad_subgraph(&nodes->items[i]);
        pt2_status st = sub ? inline_subgraph(l, &nodes->items[i], sub, i) : read_node(l, &nodes->items[i], i);
        if (st) return st;
    }
    return PT2_OK;
}

/* ---------------------------------------------------------------- signature */

static pt2_status read_signature(loader *l, const pt2_json *signature, const pt2_json *graph_json) {
    pt2_graph *g = l->graph;
    const pt2_json *inputs = pt2_json_get(signature, "input_specs");
    const pt2_json *outputs = pt2_json_get(signature, "output_specs");
    if (!pt2_json_is(inputs, PT2_JSON_ARRAY) || !pt2_json_is(outputs, PT2_JSON_ARRAY))
        return expected(l, "graph_module.signature with input_specs and output_specs lists",
                        !pt2_json_is(inputs, PT2_JSON_ARRAY) ? inputs : outputs);
    g->inputs = pt2_arena_alloc_array(l->arena, inputs->count + 1, sizeof *g->inputs, l->err);
    g->outputs = pt2_arena_alloc_array(l->arena, outputs->count + 1, sizeof *g->outputs, l->err);
    if (!g->inputs || !g->outputs) return l->err->status;
    (void)graph_json;
    for (size_t i = 0; i < inputs->count; i++) {
        set_where(l, "graph_module.signature.input_specs[%2$zu]%1$s", "", i);
        const pt2_json *spec = &inputs->items[i];
        if (!pt2_json_is(spec, PT2_JSON_OBJECT) || !spec->count) return expected(l, "an InputSpec union", spec);
        const char *kind = spec->keys[0];
        const pt2_json *body = &spec->items[0];
        pt2_graph_input *in = &g->inputs[g->num_inputs++];
        in->value_id = -1;
        const pt2_json *arg = pt2_json_get(body, "arg");
        const char *arg_name = pt2_json_get_string(arg, "name", NULL);
        if (!arg_name) arg_name = pt2_json_get_string(pt2_json_get(arg, "as_tensor"), "name", NULL);
        if (arg_name) in->value_id = find_value(l, arg_name);
        if (!strcmp(kind, "user_input")) {
            in->kind = PT2_INPUT_USER;
            in->target = arg_name ? arg_name : "";
        } else if (!strcmp(kind, "parameter")) {
            in->kind = PT2_INPUT_PARAMETER;
            in->target = pt2_json_get_string(body, "parameter_name", NULL);
        } else if (!strcmp(kind, "buffer")) {
            in->kind = PT2_INPUT_BUFFER;
            in->target = pt2_json_get_string(body, "buffer_name", NULL);
            const pt2_json *persistent = pt2_json_get(body, "persistent");
            in->persistent = !persistent || persistent->type != PT2_JSON_BOOL || persistent->boolean;
        } else if (!strcmp(kind, "tensor_constant")) {
            in->kind = PT2_INPUT_TENSOR_CONSTANT;
            in->target = pt2_json_get_string(body, "tensor_constant_name", NULL);
        } else if (!strcmp(kind, "custom_obj")) {
            in->kind = PT2_INPUT_CUSTOM_OBJ;
            in->target = pt2_json_get_string(body, "custom_obj_name", "");
        } else if (!strcmp(kind, "token")) {
            in->kind = PT2_INPUT_TOKEN;
            in->target = "";
        } else if (!strcmp(kind, "constant_input")) {
            in->kind = PT2_INPUT_CONSTANT_INPUT;
            in->target = pt2_json_get_string(body, "name", "");
        } else {
            return load_error(l, PT2_ERR_UNSUPPORTED, "unknown input kind '%s'", kind);
        }
        if (!in->target) return expected(l, "the FQN of the parameter/buffer/constant", body);
        if ((in->kind == PT2_INPUT_USER || in->kind == PT2_INPUT_PARAMETER || in->kind == PT2_INPUT_BUFFER) &&
            in->value_id < 0)
            return load_error(l, PT2_ERR_INPUT, "input '%s' has no tensor value in the graph", in->target);
    }
    for (size_t i = 0; i < outputs->count; i++) {
        set_where(l, "graph_module.signature.output_specs[%2$zu]%1$s", "", i);
        const pt2_json *spec = &outputs->items[i];
        if (!pt2_json_is(spec, PT2_JSON_OBJECT) || !spec->count) return expected(l, "an OutputSpec union", spec);
        const char *kind = spec->keys[0];
        const pt2_json *body = &spec->items[0];
        pt2_graph_output *out = &g->outputs[g->num_outputs++];
        out->kind = !strcmp(kind, "user_output")           ? PT2_OUTPUT_USER
                    : !strcmp(kind, "buffer_mutation")     ? PT2_OUTPUT_BUFFER_MUTATION
                    : !strcmp(kind, "user_input_mutation") ? PT2_OUTPUT_USER_INPUT_MUTATION
                                                           : PT2_OUTPUT_OTHER;
        out->target = pt2_json_get_string(body, "buffer_name", pt2_json_get_string(body, "user_input_name", NULL));
        const pt2_json *arg = pt2_json_get(body, "arg");
        if (pt2_json_get(arg, "name") && !pt2_json_get(arg, "as_tensor")) {
            out->arg.kind = PT2_ARG_TENSOR;
            pt2_status st = value_ref(l, arg, &out->arg.value_id);
            if (st) return st;
        } else if (arg) {
            pt2_status st = read_arg(l, arg, &out->arg);
            if (st) return st;
        }
    }
    return PT2_OK;
}

/* A range key that is a linear expression in str() form ("2*s9", "s9 + 1", "3*s9 - 2"):
 * the symbol, coefficient and offset. torch.export keys derived dims (Dim("T") * 2) this way,
 * and may give no key for the bare symbol. */
static int parse_linear_key(const char *key, char *symbol, size_t symbol_size, int64_t *scale, int64_t *offset) {
    const char *c = key;
    *scale = 1;
    *offset = 0;
    if (*c >= '0' && *c <= '9') {
        char *end;
        long long v = strtoll(c, &end, 10);
        if (*end != '*' || v <= 0 || v > INT32_MAX) return 0;
        *scale = v;
        c = end + 1;
    }
    size_t n = 0;
    if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == '_')) return 0;
    while ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_') {
        if (n + 1 >= symbol_size) return 0;
        symbol[n++] = *c++;
    }
    symbol[n] = 0;
    if (*c == 0) return *scale != 1;
    if ((c[0] != ' ' || (c[1] != '+' && c[1] != '-') || c[2] != ' ')) return 0;
    char *end;
    long long v = strtoll(c + 3, &end, 10);
    if (*end != 0 || end == c + 3 || v < 0 || v > INT32_MAX) return 0;
    *offset = c[1] == '-' ? -v : v;
    return 1;
}

static int64_t floor_div64(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

static pt2_status read_ranges(loader *l, const pt2_json *ranges) {
    if (!pt2_json_is(ranges, PT2_JSON_OBJECT)) return PT2_OK;
    pt2_graph *g = l->graph;
    /* Room for one derived range per key. */
    g->ranges = pt2_arena_alloc_array(l->arena, 2 * ranges->count + 1, sizeof *g->ranges, l->err);
    if (!g->ranges) return l->err->status;
    for (size_t i = 0; i < ranges->count; i++) {
        pt2_range_constraint *r = &g->ranges[g->num_ranges++];
        r->symbol = ranges->keys[i];
        const pt2_json *lo = pt2_json_get(&ranges->items[i], "min_val");
        const pt2_json *hi = pt2_json_get(&ranges->items[i], "max_val");
        r->has_min = lo && lo->is_integer;
        r->min = r->has_min ? lo->integer : 0;
        r->has_max = hi && hi->is_integer;
        r->max = r->has_max ? hi->integer : 0;
    }
    size_t given = g->num_ranges;
    for (size_t i = 0; i < given; i++) {
        char symbol[64];
        int64_t scale, offset;
        const pt2_range_constraint *r = &g->ranges[i];
        if (!parse_linear_key(r->symbol, symbol, sizeof symbol, &scale, &offset)) continue;
        if (pt2_graph_find_range(g, symbol)) continue;
        /* The bounds are small (sizes), so the arithmetic cannot overflow once checked. */
        if ((r->has_min && (r->min < -((int64_t)1 << 60) || r->min > ((int64_t)1 << 60))) ||
            (r->has_max && (r->max < -((int64_t)1 << 60) || r->max > ((int64_t)1 << 60))))
            continue;
        pt2_range_constraint *derived = &g->ranges[g->num_ranges];
        derived->symbol = pt2_arena_strdup(l->arena, symbol, l->err);
        if (!derived->symbol) return l->err->status;
        derived->has_min = r->has_min;
        derived->min = r->has_min ? -floor_div64(-(r->min - offset), scale) : 0; /* ceil((min - b) / a) */
        derived->has_max = r->has_max;
        derived->max = r->has_max ? floor_div64(r->max - offset, scale) : 0;
        g->num_ranges++;
    }
    return PT2_OK;
}

/* guards_code: a list of strings (absent before torch 2.8's exports: none). */
static pt2_status read_guards(loader *l, const pt2_json *guards) {
    if (!guards || pt2_json_is(guards, PT2_JSON_NULL)) return PT2_OK;
    if (!pt2_json_is(guards, PT2_JSON_ARRAY)) return expected(l, "guards_code as a list of strings", guards);
    pt2_graph *g = l->graph;
    g->guards = pt2_arena_alloc_array(l->arena, guards->count + 1, sizeof *g->guards, l->err);
    if (!g->guards) return l->err->status;
    for (size_t i = 0; i < guards->count; i++) {
        if (!pt2_json_is(&guards->items[i], PT2_JSON_STRING)) return expected(l, "guards_code as a list of strings", guards);
        g->guards[g->num_guards++] = guards->items[i].string;
    }
    return PT2_OK;
}

/* ---------------------------------------------------------------- weights */

static pt2_status read_payload_tensor(loader *l, const char *folder, const char *fqn, const pt2_json *meta,
                                      pt2_tensor *out) {
    const char *path = pt2_json_get_string(meta, "path_name", NULL);
    if (!path) return expected(l, "a payload entry with \"path_name\"", meta);
    char entry_name[600];
    snprintf(entry_name, sizeof entry_name, "%s%s", folder, path);
    const pt2_zip_entry *e;
    pt2_status st = pt2_zip_read(&l->zip, entry_name, &e, l->err);
    if (st) {
        pt2_error_set_file(l->err, l->file_name);
        pt2_error_set_entry(l->err, l->where);
        return st;
    }
    const pt2_json *use_pickle = pt2_json_get(meta, "use_pickle");
    if (use_pickle && use_pickle->type == PT2_JSON_BOOL && use_pickle->boolean) {
        pt2_pyobj *obj;
        if ((st = pt2_torch_load(l->arena, e->data, (size_t)e->size, e->name, &obj, l->err))) return st;
        if (obj->kind != PT2_PY_TENSOR) return load_error(l, PT2_ERR_UNSUPPORTED, "pickled payload of '%s' is not a plain tensor", fqn);
        *out = obj->tensor;
        return PT2_OK;
    }
    const pt2_json *tensor_meta = pt2_json_get(meta, "tensor_meta");
    pt2_value shape_info = {0};
    if ((st = read_tensor_meta(l, tensor_meta, fqn, &shape_info))) return st;
    memset(out, 0, sizeof *out);
    out->dtype = shape_info.dtype;
    if (!out->dtype) return load_error(l, PT2_ERR_UNSUPPORTED, "tensor '%s' has a dtype pt2returnn does not read", fqn);
    out->rank = shape_info.rank;
    for (int i = 0; i < out->rank; i++) {
        if (shape_info.sizes[i].is_symbolic || shape_info.strides[i].is_symbolic)
            return load_error(l, PT2_ERR_INPUT, "weight '%s' has a symbolic size", fqn);
        out->shape[i] = shape_info.sizes[i].value;
        out->strides[i] = shape_info.strides[i].value;
    }
    pt2_dim offset = {0};
    const pt2_json *offset_json = pt2_json_get(tensor_meta, "storage_offset");
    if (offset_json && (st = read_dim(l, offset_json, fqn, &offset))) return st;
    out->storage_offset = offset.value;
    out->storage = (void *)e->data;
    out->storage_bytes = (size_t)e->size;
    pt2_error_set_file(l->err, l->file_name);
    if ((st = pt2_tensor_check_bounds(out, l->err))) {
        pt2_error_set_entry(l->err, e->name);
        return st;
    }
    /* torch.export.save aligns payloads to 64 bytes; an archive re-zipped by another writer may
     * not. One copy per payload, so tied weights (one path_name) keep sharing their storage. */
    const uint8_t *aligned;
    if ((st = pt2_zip_aligned_data(l->arena, &l->zip, e, pt2_dtype_size(out->dtype), &aligned, l->err))) return st;
    out->storage = (void *)aligned;
    return PT2_OK;
}

static pt2_status read_payloads(loader *l, const char *config_name, const char *folder) {
    const pt2_zip_entry *e = pt2_zip_find(&l->zip, config_name);
    if (!e) return PT2_OK; /* a model without weights or constants */
    pt2_status st = pt2_zip_read(&l->zip, config_name, &e, l->err);
    if (st) return st;
    pt2_json *config;
    if ((st = pt2_json_parse(l->arena, (const char *)e->data, (size_t)e->size, e->name, &config, l->err))) {
        pt2_error_set_file(l->err, l->file_name);
        return st;
    }
    const pt2_json *entries = pt2_json_get(config, "config");
    if (!pt2_json_is(entries, PT2_JSON_OBJECT)) {
        l->where = e->name;
        return expected(l, "a PayloadConfig {\"config\": {...}}", entries);
    }
    pt2_graph *g = l->graph;
    for (size_t i = 0; i < entries->count; i++) {
        const char *fqn = entries->keys[i];
        snprintf(l->where_buf, sizeof l->where_buf, "%s: %s", config_name, fqn);
        l->where = l->where_buf;
        for (size_t k = 0; k < g->num_inputs; k++) {
            pt2_graph_input *in = &g->inputs[k];
            if (in->kind == PT2_INPUT_USER || strcmp(in->target, fqn) != 0) continue;
            if ((st = read_payload_tensor(l, folder, fqn, &entries->items[i], &in->data))) return st;
            in->has_data = 1;
        }
    }
    return PT2_OK;
}

/* Shared pickle references make a DAG whose tree walk can be exponentially larger than the
 * file (32 levels of 8 memo references each: 8^32 visits), so the walk has a budget as well as a
 * depth limit. Sample inputs are a handful of tensors in a tuple and a dict. */
#define MAX_SAMPLE_VISITS ((size_t)1 << 16)

static pt2_status collect_sample_tensors(loader *l, const pt2_pyobj *o, int depth, size_t *visits, pt2_tensor *out,
                                         size_t max, size_t *count) {
    if (depth > 32) return load_error(l, PT2_ERR_INPUT, "sample inputs nested deeper than %s levels", "32");
    if (++*visits > MAX_SAMPLE_VISITS)
        return load_error(l, PT2_ERR_INPUT, "sample inputs expand to more than %s objects (shared references)",
                          "65536");
    if (o->kind == PT2_PY_TENSOR) {
        if (*count < max) out[*count] = o->tensor;
        (*count)++;
        return PT2_OK;
    }
    if (o->kind == PT2_PY_LIST || o->kind == PT2_PY_TUPLE || o->kind == PT2_PY_DICT)
        for (size_t i = 0; i < o->count; i++) {
            pt2_status st = collect_sample_tensors(l, o->items[i], depth + 1, visits, out, max, count);
            if (st) return st;
        }
    return PT2_OK;
}

/* data/sample_inputs/model.pt holds (args, kwargs). Positional tensors come first, in order;
 * keyword tensors then go to the user inputs of the same name (torch.export names those
 * placeholders after the keyword), else in the dict's order. */
static pt2_status read_sample_inputs(loader *l) {
    if (!pt2_zip_find(&l->zip, "data/sample_inputs/model.pt")) return PT2_OK;
    pt2_pyobj *root;
    pt2_status st = pt2_torch_load_pickle_in_zip(l->arena, &l->zip, "data/sample_inputs/model.pt", "", &root, l->err);
    if (st) return st;
    pt2_graph *g = l->graph;
    size_t user_inputs = 0;
    for (size_t i = 0; i < g->num_inputs; i++) user_inputs += g->inputs[i].kind == PT2_INPUT_USER;
    g->sample_inputs = pt2_arena_alloc_array(l->arena, user_inputs + 1, sizeof *g->sample_inputs, l->err);
    if (!g->sample_inputs) return l->err->status;
    int args_and_kwargs = root->kind == PT2_PY_TUPLE && root->count == 2 && root->items[1]->kind == PT2_PY_DICT;
    size_t count = 0, visits = 0;
    if ((st = collect_sample_tensors(l, args_and_kwargs ? root->items[0] : root, 0, &visits, g->sample_inputs,
                                     user_inputs, &count)))
        return st;
    if (args_and_kwargs && count < user_inputs) {
        const pt2_pyobj *kwargs = root->items[1];
        size_t positional = count, user_index = 0;
        int all_by_name = 1;
        for (size_t i = 0; i < g->num_inputs && all_by_name; i++) {
            if (g->inputs[i].kind != PT2_INPUT_USER || user_index++ < positional) continue;
            const pt2_pyobj *value = pt2_pyobj_dict_get(kwargs, g->inputs[i].target);
            all_by_name = value && value->kind == PT2_PY_TENSOR;
            if (all_by_name) g->sample_inputs[count++] = value->tensor;
        }
        if (!all_by_name) {
            size_t keyword_count = 0;
            if ((st = collect_sample_tensors(l, kwargs, 0, &visits, g->sample_inputs + positional,
                                             user_inputs - positional, &keyword_count)))
                return st;
            count = positional + keyword_count;
        }
    }
    g->num_sample_inputs = count < user_inputs ? count : user_inputs;
    return PT2_OK;
}

/* ---------------------------------------------------------------- entry point */

static pt2_status read_text_entry(loader *l, const char *name, const char **text, size_t *length) {
    const pt2_zip_entry *e;
    pt2_status st = pt2_zip_read(&l->zip, name, &e, l->err);
    if (st) return st;
    *text = (const char *)e->data;
    *length = (size_t)e->size;
    return PT2_OK;
}

static pt2_status archive_load(pt2_arena *arena, pt2_arena *tree, const uint8_t *bytes, size_t length,
                               const char *file_name, pt2_graph *out, pt2_error *err);

pt2_status pt2_archive_load(pt2_arena *arena, const uint8_t *bytes, size_t length, const char *file_name,
                            pt2_graph *out, pt2_error *err) {
    pt2_reader_bound bound;
    pt2_arena_reader_begin(arena, length, file_name, &bound);
    /* models/model.json's tree goes once the graph is read (its strings stay, the graph names
     * them): parsed, it is about 14 times the text (3 MiB for a MelGAN generator's 226 KB). */
    pt2_arena tree;
    pt2_arena_init_child(&tree, arena);
    pt2_status st = archive_load(arena, &tree, bytes, length, file_name, out, err);
    pt2_arena_free(&tree);
    pt2_arena_reader_end(arena, &bound);
    return st;
}

static pt2_status archive_load(pt2_arena *arena, pt2_arena *tree, const uint8_t *bytes, size_t length,
                               const char *file_name, pt2_graph *out, pt2_error *err) {
    memset(out, 0, sizeof *out);
    loader l = {0};
    l.arena = arena;
    l.err = err;
    l.file_name = file_name;
    l.graph = out;
    out->file_name = file_name;
    pt2_error_set_file(err, file_name);
    pt2_status st = pt2_zip_open(arena, bytes, length, file_name, &l.zip, err);
    if (st) return st;
    if (!pt2_zip_find(&l.zip, "archive_format")) {
        if (pt2_zip_find(&l.zip, "serialized_exported_program.json"))
            return pt2_fail(err, PT2_ERR_UNSUPPORTED,
                            "torch.export archives from torch < 2.8 are not supported; re-export with torch >= 2.8");
        if (pt2_zip_find(&l.zip, "data.pkl"))
            return pt2_fail(err, PT2_ERR_INPUT, "this is a torch.save checkpoint, not a torch.export .pt2 archive "
                                                "(pass it with --checkpoint)");
        return pt2_fail(err, PT2_ERR_INPUT, "not a torch.export archive: the zip has no 'archive_format' entry");
    }
    const char *text;
    size_t text_length;
    if ((st = read_text_entry(&l, "archive_format", &text, &text_length))) return st;
    if (text_length != 3 || memcmp(text, "pt2", 3) != 0) {
        pt2_error_set_entry(err, "archive_format");
        return pt2_fail(err, PT2_ERR_INPUT, "archive_format is not 'pt2'");
    }
    const pt2_zip_entry *version = pt2_zip_find(&l.zip, "archive_version");
    if (version && !(version->size >= 1 && version->data[0] == '0' && (version->size == 1 || version->data[1] == '\n'))) {
        pt2_error_set_entry(err, "archive_version");
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "archive_version '%.*s' is newer than the version 0 pt2returnn reads",
                        (int)(version->size > 8 ? 8 : version->size), (const char *)version->data);
    }
    if ((st = read_text_entry(&l, "models/model.json", &text, &text_length))) return st;
    char model_entry[300];
    snprintf(model_entry, sizeof model_entry, "%smodels/model.json", l.zip.root);
    pt2_json *model;
    if ((st = pt2_json_parse_apart(tree, arena, text, text_length, model_entry, &model, err))) {
        pt2_error_set_entry(err, model_entry);
        return st;
    }
    l.where = model_entry;
    const pt2_json *module = pt2_json_get(model, "graph_module");
    const pt2_json *graph_json = pt2_json_get(module, "graph");
    if (!pt2_json_is(graph_json, PT2_JSON_OBJECT)) return expected(&l, "an ExportedProgram with graph_module.graph", graph_json);
    const pt2_json *schema_version = pt2_json_get(model, "schema_version");
    out->schema_major = (int)pt2_json_get_int(schema_version, "major", 0);
    out->schema_minor = (int)pt2_json_get_int(schema_version, "minor", 0);
    if (out->schema_major != 8)
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "export schema version %d.%d; pt2returnn reads major version 8",
                        out->schema_major, out->schema_minor);
    out->torch_version = pt2_json_get_string(model, "torch_version", NULL);

    if ((st = read_values(&l, graph_json))) return st;
    l.where = "graph_module.signature";
    if ((st = read_signature(&l, pt2_json_get(module, "signature"), graph_json))) return st;
    if ((st = pt2_read_output_names(arena, module, out, err))) return st;
    if ((st = read_graph_nodes(&l, pt2_json_get(graph_json, "nodes")))) return st;
    l.where = model_entry;
    if ((st = read_ranges(&l, pt2_json_get(model, "range_constraints")))) return st;
    if ((st = read_guards(&l, pt2_json_get(model, "guards_code")))) return st;
    l.where = NULL;
    if ((st = read_payloads(&l, "data/weights/model_weights_config.json", "data/weights/"))) return st;
    if ((st = read_payloads(&l, "data/constants/model_constants_config.json", "data/constants/"))) return st;
    for (size_t i = 0; i < out->num_inputs; i++) {
        const pt2_graph_input *in = &out->inputs[i];
        if ((in->kind == PT2_INPUT_PARAMETER || in->kind == PT2_INPUT_BUFFER || in->kind == PT2_INPUT_TENSOR_CONSTANT) &&
            !in->has_data)
            return pt2_fail(err, PT2_ERR_INPUT, "no weight data for '%s' in the archive's payload configs", in->target);
    }
    l.where = NULL;
    return read_sample_inputs(&l);
}
