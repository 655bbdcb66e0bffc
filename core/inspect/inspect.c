#include "inspect.h"

#include <stdio.h>
#include <string.h>

#include "../base/sha256.h"
#include "../base/tensor.h"
#include "../graph/graph.h"
#include "../load/pt2_archive.h"
#include "../load/safetensors.h"
#include "../load/torch_save.h"
#include "../load/zip.h"
#include "module_tree.h"

pt2_file_format pt2_detect_format(pt2_arena *arena, const uint8_t *bytes, size_t length) {
    if (pt2_is_zip(bytes, length)) {
        pt2_zip zip;
        pt2_error ignored;
        pt2_error_clear(&ignored);
        if (pt2_zip_open(arena, bytes, length, "", &zip, &ignored) != PT2_OK) return PT2_FORMAT_PT2;
        if (pt2_zip_find(&zip, "data.pkl")) return PT2_FORMAT_TORCH_SAVE;
        /* Anything else zipped is read as a .pt2, whose reader explains what is missing. */
        return PT2_FORMAT_PT2;
    }
    if (pt2_is_safetensors(bytes, length)) return PT2_FORMAT_SAFETENSORS;
    return PT2_FORMAT_UNKNOWN;
}

const char *pt2_format_name(pt2_file_format format) {
    switch (format) {
    case PT2_FORMAT_PT2: return "pt2";
    case PT2_FORMAT_TORCH_SAVE: return "torch_save";
    case PT2_FORMAT_SAFETENSORS: return "safetensors";
    case PT2_FORMAT_UNKNOWN: break;
    }
    return "unknown";
}

/* ---------------------------------------------------------------- shared pieces */

static pt2_status tensor_digest(pt2_arena *arena, const pt2_tensor *t, char hex[65], pt2_error *err) {
    pt2_tensor c;
    pt2_status st = pt2_tensor_contiguous(arena, t, 0, &c, err);
    if (st) return st;
    size_t bytes = (size_t)pt2_tensor_numel(&c) * pt2_dtype_size(c.dtype);
    pt2_sha256_hex(pt2_tensor_data(&c), bytes, hex);
    return PT2_OK;
}

static void write_int_list(pt2_strbuf *sb, const int64_t *values, size_t count) {
    pt2_strbuf_putc(sb, '[');
    for (size_t i = 0; i < count; i++) pt2_strbuf_printf(sb, "%s%lld", i ? ", " : "", (long long)values[i]);
    pt2_strbuf_putc(sb, ']');
}

static pt2_status write_tensor_json(pt2_arena *arena, pt2_strbuf *sb, const char *name, const char *kind,
                                    const pt2_tensor *t, pt2_error *err) {
    char hex[65];
    pt2_status st = tensor_digest(arena, t, hex, err);
    if (st) return st;
    pt2_strbuf_puts(sb, "{\"name\": ");
    pt2_json_write_string(sb, name);
    pt2_strbuf_printf(sb, ", \"kind\": \"%s\", \"dtype\": \"%s\", \"shape\": ", kind, pt2_dtype_name(t->dtype));
    write_int_list(sb, t->shape, (size_t)t->rank);
    pt2_strbuf_printf(sb, ", \"bytes\": %lld, \"sha256\": \"%s\"}",
                      (long long)(pt2_tensor_numel(t) * (int64_t)pt2_dtype_size(t->dtype)), hex);
    return PT2_OK;
}

static void format_bytes(char *buf, size_t size, double bytes) {
    const char *units[] = {"B", "KiB", "MiB", "GiB"};
    int u = 0;
    while (bytes >= 1024 && u < 3) {
        bytes /= 1024;
        u++;
    }
    snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
}

static void write_tensor_text(pt2_strbuf *sb, const char *name, const char *kind, const pt2_tensor *t) {
    char shape[160], bytes[32];
    pt2_shape_format(t->shape, t->rank, shape, sizeof shape);
    format_bytes(bytes, sizeof bytes, (double)pt2_tensor_numel(t) * (double)pt2_dtype_size(t->dtype));
    pt2_strbuf_printf(sb, "  %-40s %-9s %-8s %-20s %s\n", name, kind, pt2_dtype_name(t->dtype), shape, bytes);
}

/* ---------------------------------------------------------------- .pt2 */

static void write_dim_json(pt2_strbuf *sb, const pt2_dim *dim) {
    if (!dim->is_symbolic) {
        pt2_strbuf_printf(sb, "%lld", (long long)dim->value);
        return;
    }
    pt2_strbuf text;
    pt2_strbuf_init(&text);
    pt2_sym_format(dim->expr, &text);
    pt2_json_write_string(sb, text.data ? text.data : "?");
    pt2_strbuf_free(&text);
}

static void write_dim_text(pt2_strbuf *sb, const pt2_dim *dim) {
    if (dim->is_symbolic)
        pt2_sym_format(dim->expr, sb);
    else
        pt2_strbuf_printf(sb, "%lld", (long long)dim->value);
}

static void write_value_shape_json(pt2_strbuf *sb, const pt2_value *v) {
    pt2_strbuf_putc(sb, '[');
    for (int i = 0; i < v->rank; i++) {
        if (i) pt2_strbuf_puts(sb, ", ");
        write_dim_json(sb, &v->sizes[i]);
    }
    pt2_strbuf_putc(sb, ']');
}

static void write_value_shape_text(pt2_strbuf *sb, const pt2_value *v) {
    pt2_strbuf_putc(sb, '[');
    for (int i = 0; i < v->rank; i++) {
        if (i) pt2_strbuf_puts(sb, ", ");
        write_dim_text(sb, &v->sizes[i]);
    }
    pt2_strbuf_putc(sb, ']');
}

static const char *value_name(const pt2_graph *g, int id) {
    return (id >= 0 && (size_t)id < g->num_values) ? g->values[id].name : "?";
}

static void write_arg_json(pt2_strbuf *sb, const pt2_graph *g, const pt2_arg *a) {
    switch (a->kind) {
    case PT2_ARG_NONE: pt2_strbuf_puts(sb, "null"); return;
    case PT2_ARG_TENSOR:
        pt2_strbuf_puts(sb, "{\"tensor\": ");
        pt2_json_write_string(sb, value_name(g, a->value_id));
        pt2_strbuf_putc(sb, '}');
        return;
    case PT2_ARG_TENSORS:
    case PT2_ARG_OPTIONAL_TENSORS:
        pt2_strbuf_putc(sb, '[');
        for (size_t i = 0; i < a->count; i++) {
            if (i) pt2_strbuf_puts(sb, ", ");
            if (a->value_ids[i] < 0) {
                pt2_strbuf_puts(sb, "null");
            } else {
                pt2_strbuf_puts(sb, "{\"tensor\": ");
                pt2_json_write_string(sb, value_name(g, a->value_ids[i]));
                pt2_strbuf_putc(sb, '}');
            }
        }
        pt2_strbuf_putc(sb, ']');
        return;
    case PT2_ARG_INT: pt2_strbuf_printf(sb, "%lld", (long long)a->int_value); return;
    case PT2_ARG_INTS: write_int_list(sb, a->ints, a->count); return;
    case PT2_ARG_FLOAT: pt2_json_write_double(sb, a->float_value); return;
    case PT2_ARG_FLOATS:
        pt2_strbuf_putc(sb, '[');
        for (size_t i = 0; i < a->count; i++) {
            if (i) pt2_strbuf_puts(sb, ", ");
            pt2_json_write_double(sb, a->floats[i]);
        }
        pt2_strbuf_putc(sb, ']');
        return;
    case PT2_ARG_BOOL: pt2_strbuf_puts(sb, a->int_value ? "true" : "false"); return;
    case PT2_ARG_BOOLS:
        pt2_strbuf_putc(sb, '[');
        for (size_t i = 0; i < a->count; i++) pt2_strbuf_printf(sb, "%s%s", i ? ", " : "", a->ints[i] ? "true" : "false");
        pt2_strbuf_putc(sb, ']');
        return;
    case PT2_ARG_STRING: pt2_json_write_string(sb, a->string ? a->string : ""); return;
    case PT2_ARG_STRINGS:
        pt2_strbuf_putc(sb, '[');
        for (size_t i = 0; i < a->count; i++) {
            if (i) pt2_strbuf_puts(sb, ", ");
            pt2_json_write_string(sb, a->strings[i]);
        }
        pt2_strbuf_putc(sb, ']');
        return;
    case PT2_ARG_SYM_INT:
    case PT2_ARG_SYM_BOOL:
    case PT2_ARG_SYM_FLOAT:
        pt2_strbuf_puts(sb, "{\"sym\": ");
        pt2_json_write_string(sb, value_name(g, a->value_id));
        pt2_strbuf_putc(sb, '}');
        return;
    case PT2_ARG_SYM_INTS:
        pt2_strbuf_putc(sb, '[');
        for (size_t i = 0; i < a->count; i++) {
            if (i) pt2_strbuf_puts(sb, ", ");
            if (a->syms[i].is_value) {
                pt2_strbuf_puts(sb, "{\"sym\": ");
                pt2_json_write_string(sb, value_name(g, a->syms[i].value_id));
                pt2_strbuf_putc(sb, '}');
            } else {
                pt2_strbuf_printf(sb, "%lld", (long long)a->syms[i].constant);
            }
        }
        pt2_strbuf_putc(sb, ']');
        return;
    case PT2_ARG_SCALAR_TYPE:
        pt2_strbuf_printf(sb, "{\"dtype\": \"%s\"}", pt2_dtype_name(a->dtype));
        return;
    case PT2_ARG_MEMORY_FORMAT: pt2_strbuf_printf(sb, "{\"memory_format\": %lld}", (long long)a->int_value); return;
    case PT2_ARG_LAYOUT: pt2_strbuf_printf(sb, "{\"layout\": %lld}", (long long)a->int_value); return;
    case PT2_ARG_DEVICE:
        pt2_strbuf_puts(sb, "{\"device\": ");
        pt2_json_write_string(sb, a->string ? a->string : "");
        pt2_strbuf_putc(sb, '}');
        return;
    case PT2_ARG_OTHER:
        pt2_strbuf_puts(sb, "{\"other\": ");
        pt2_json_write_string(sb, a->string ? a->string : "");
        pt2_strbuf_putc(sb, '}');
        return;
    }
}

static const char *input_kind_name(pt2_input_kind kind) {
    switch (kind) {
    case PT2_INPUT_USER: return "user_input";
    case PT2_INPUT_PARAMETER: return "parameter";
    case PT2_INPUT_BUFFER: return "buffer";
    case PT2_INPUT_TENSOR_CONSTANT: return "constant";
    case PT2_INPUT_CUSTOM_OBJ: return "custom_obj";
    case PT2_INPUT_TOKEN: return "token";
    case PT2_INPUT_CONSTANT_INPUT: return "constant_input";
    }
    return "?";
}

/* Op histogram in first-appearance order (stable output without hashing). */
typedef struct op_count {
    const char *target;
    size_t count;
} op_count;

static pt2_status count_ops(pt2_arena *arena, const pt2_graph *g, op_count **out, size_t *count, pt2_error *err) {
    op_count *ops = pt2_arena_alloc_array(arena, g->num_nodes + 1, sizeof *ops, err);
    if (!ops) return err->status;
    size_t n = 0;
    for (size_t i = 0; i < g->num_nodes; i++) {
        size_t j = 0;
        while (j < n && strcmp(ops[j].target, g->nodes[i].target) != 0) j++;
        if (j == n) ops[n++].target = g->nodes[i].target;
        ops[j].count++;
    }
    *out = ops;
    *count = n;
    return PT2_OK;
}

/* Each user input's symbolic dims, matched against range constraints by symbol name. A size
 * such as 2*s44 counts as a use of s44, as a size s44 does. */
typedef void (*dim_visitor)(void *ctx, const pt2_graph *g, const char *symbol, const pt2_value *input, int axis);

static void visit_dynamic_dims(const pt2_graph *g, dim_visitor visit, void *ctx) {
    for (size_t i = 0; i < g->num_inputs; i++) {
        const pt2_graph_input *in = &g->inputs[i];
        if (in->kind != PT2_INPUT_USER || in->value_id < 0) continue;
        const pt2_value *v = &g->values[in->value_id];
        for (int a = 0; a < v->rank; a++) {
            if (!v->sizes[a].is_symbolic || !v->sizes[a].expr) continue;
            const char *symbols[16];
            size_t count = pt2_sym_symbols(v->sizes[a].expr, symbols, 16);
            for (size_t k = 0; k < count && k < 16; k++) visit(ctx, g, symbols[k], v, a);
        }
    }
}

typedef struct dim_list {
    const char *symbols[64];
    int64_t hints[64];
    size_t count;
} dim_list;

/* The symbol's value in the export's example, from a size that is an expression of it alone
 * (2*s44 = 20 gives s44 = 10): the first value in the symbol's range that reproduces the size. */
static int64_t solve_hint(const pt2_graph *g, const char *symbol, const pt2_dim *size) {
    if (size->value < 0) return -1;
    const char *symbols[2];
    if (pt2_sym_symbols(size->expr, symbols, 2) != 1) return -1;
    const pt2_range_constraint *r = pt2_graph_find_range(g, symbol);
    int64_t low = r && r->has_min ? r->min : 0, high = r && r->has_max ? r->max : size->value + 1;
    if (high - low > 1000000) high = low + 1000000;
    pt2_error ignored;
    for (int64_t s = low < 0 ? 0 : low; s <= high; s++) {
        pt2_sym_binding binding = {symbol, s};
        int64_t value;
        pt2_error_clear(&ignored);
        if (pt2_sym_eval(size->expr, &binding, 1, &value, &ignored) == PT2_OK && value == size->value) return s;
    }
    return -1;
}

static void collect_symbol(void *ctx, const pt2_graph *g, const char *symbol, const pt2_value *input, int axis) {
    dim_list *list = ctx;
    const pt2_dim *size = &input->sizes[axis];
    const char *bare = pt2_sym_as_symbol(size->expr);
    size_t i = 0;
    while (i < list->count && strcmp(list->symbols[i], symbol) != 0) i++;
    if (i == list->count) {
        if (list->count == 64) return;
        list->symbols[list->count] = symbol;
        list->hints[list->count++] = -1;
    }
    if (list->hints[i] < 0) list->hints[i] = bare ? size->value : solve_hint(g, symbol, size);
}

typedef struct usage_writer {
    pt2_strbuf *sb;
    const char *symbol;
    int first;
    int json;
} usage_writer;

static void write_usage(void *ctx, const pt2_graph *g, const char *symbol, const pt2_value *input, int axis) {
    (void)g;
    usage_writer *w = ctx;
    if (strcmp(symbol, w->symbol) != 0) return;
    pt2_strbuf usage;
    pt2_strbuf_init(&usage);
    pt2_strbuf_printf(&usage, "%s[%d]", input->name, axis);
    if (!pt2_sym_as_symbol(input->sizes[axis].expr)) { /* "x[2] = 2*s44" */
        pt2_strbuf_puts(&usage, " = ");
        pt2_sym_format(input->sizes[axis].expr, &usage);
    }
    if (!w->first) pt2_strbuf_puts(w->sb, ", ");
    if (w->json)
        pt2_json_write_string(w->sb, usage.data ? usage.data : "");
    else
        pt2_strbuf_puts(w->sb, usage.data ? usage.data : "");
    pt2_strbuf_free(&usage);
    w->first = 0;
}

static void write_optional_int(pt2_strbuf *sb, int present, int64_t value) {
    if (present)
        pt2_strbuf_printf(sb, "%lld", (long long)value);
    else
        pt2_strbuf_puts(sb, "null");
}

static const pt2_node *innermost_frame_owner(const pt2_node *node, const char **path, const char **type) {
    if (node->module_depth == 0) {
        *path = "";
        *type = "";
        return node;
    }
    *path = node->module_stack[node->module_depth - 1].path;
    *type = node->module_stack[node->module_depth - 1].type;
    return node;
}

static pt2_status inspect_pt2_json(pt2_arena *arena, const pt2_graph *g, const char *file_name, pt2_strbuf *sb,
                                   pt2_error *err) {
    pt2_strbuf_puts(sb, "{\n  \"file\": ");
    pt2_json_write_string(sb, file_name);
    pt2_strbuf_puts(sb, ",\n  \"format\": \"pt2\",\n  \"torch_version\": ");
    pt2_json_write_string(sb, g->torch_version ? g->torch_version : "");
    pt2_strbuf_printf(sb, ",\n  \"schema_version\": \"%d.%d\"", g->schema_major, g->schema_minor);

    /* inputs */
    pt2_strbuf_puts(sb, ",\n  \"inputs\": [");
    size_t user_index = 0;
    int first = 1;
    for (size_t i = 0; i < g->num_inputs; i++) {
        const pt2_graph_input *in = &g->inputs[i];
        if (in->kind != PT2_INPUT_USER || in->value_id < 0) continue;
        const pt2_value *v = &g->values[in->value_id];
        pt2_strbuf_puts(sb, first ? "\n    {\"name\": " : ",\n    {\"name\": ");
        first = 0;
        pt2_json_write_string(sb, v->name);
        pt2_strbuf_printf(sb, ", \"dtype\": \"%s\", \"shape\": ", pt2_dtype_name(v->dtype));
        write_value_shape_json(sb, v);
        pt2_strbuf_puts(sb, ", \"sample\": ");
        if (user_index < g->num_sample_inputs) {
            const pt2_tensor *t = &g->sample_inputs[user_index];
            char hex[65];
            pt2_status st = tensor_digest(arena, t, hex, err);
            if (st) return st;
            pt2_strbuf_printf(sb, "{\"dtype\": \"%s\", \"shape\": ", pt2_dtype_name(t->dtype));
            write_int_list(sb, t->shape, (size_t)t->rank);
            pt2_strbuf_printf(sb, ", \"sha256\": \"%s\"}", hex);
        } else {
            pt2_strbuf_puts(sb, "null");
        }
        pt2_strbuf_putc(sb, '}');
        user_index++;
    }
    pt2_strbuf_puts(sb, "\n  ]");

    /* outputs */
    pt2_strbuf_puts(sb, ",\n  \"outputs\": [");
    first = 1;
    for (size_t i = 0; i < g->num_outputs; i++) {
        const pt2_graph_output *out = &g->outputs[i];
        if (out->kind != PT2_OUTPUT_USER) continue;
        pt2_strbuf_puts(sb, first ? "\n    {\"name\": " : ",\n    {\"name\": ");
        first = 0;
        if (out->arg.kind == PT2_ARG_TENSOR) {
            const pt2_value *v = &g->values[out->arg.value_id];
            pt2_json_write_string(sb, v->name);
            pt2_strbuf_printf(sb, ", \"dtype\": \"%s\", \"shape\": ", pt2_dtype_name(v->dtype));
            write_value_shape_json(sb, v);
            if (out->name) { /* the program's name for it (its output spec's key) */
                pt2_strbuf_puts(sb, ", \"key\": ");
                pt2_json_write_string(sb, out->name);
            }
        } else {
            pt2_strbuf_puts(sb, "null, \"value\": ");
            write_arg_json(sb, g, &out->arg);
        }
        pt2_strbuf_putc(sb, '}');
    }
    pt2_strbuf_puts(sb, "\n  ]");

    /* dynamic dims */
    dim_list dims = {0};
    visit_dynamic_dims(g, collect_symbol, &dims);
    pt2_strbuf_puts(sb, ",\n  \"dynamic_dims\": [");
    for (size_t i = 0; i < dims.count; i++) {
        const pt2_range_constraint *r = pt2_graph_find_range(g, dims.symbols[i]);
        pt2_strbuf_puts(sb, i ? ",\n    {\"symbol\": " : "\n    {\"symbol\": ");
        pt2_json_write_string(sb, dims.symbols[i]);
        pt2_strbuf_puts(sb, ", \"min\": ");
        write_optional_int(sb, r && r->has_min, r ? r->min : 0);
        pt2_strbuf_puts(sb, ", \"max\": ");
        write_optional_int(sb, r && r->has_max, r ? r->max : 0);
        pt2_strbuf_puts(sb, ", \"hint\": ");
        write_optional_int(sb, dims.hints[i] >= 0, dims.hints[i]);
        pt2_strbuf_puts(sb, ", \"used_by\": [");
        usage_writer w = {sb, dims.symbols[i], 1, 1};
        visit_dynamic_dims(g, write_usage, &w);
        pt2_strbuf_puts(sb, "]}");
    }
    pt2_strbuf_puts(sb, dims.count ? "\n  ]" : "]");

    /* op histogram */
    op_count *ops;
    size_t num_ops;
    pt2_status st = count_ops(arena, g, &ops, &num_ops, err);
    if (st) return st;
    pt2_strbuf_puts(sb, ",\n  \"ops\": {");
    for (size_t i = 0; i < num_ops; i++) {
        pt2_strbuf_puts(sb, i ? ", " : "");
        pt2_json_write_string(sb, ops[i].target);
        pt2_strbuf_printf(sb, ": %zu", ops[i].count);
    }
    pt2_strbuf_puts(sb, "}");

    /* nodes */
    pt2_strbuf_puts(sb, ",\n  \"nodes\": [");
    for (size_t i = 0; i < g->num_nodes; i++) {
        const pt2_node *node = &g->nodes[i];
        const char *path, *type;
        innermost_frame_owner(node, &path, &type);
        pt2_strbuf_puts(sb, i ? ",\n    {\"name\": " : "\n    {\"name\": ");
        pt2_json_write_string(sb, node->name ? node->name : "");
        pt2_strbuf_puts(sb, ", \"target\": ");
        pt2_json_write_string(sb, node->target);
        pt2_strbuf_puts(sb, ", \"module_path\": ");
        pt2_json_write_string(sb, path);
        pt2_strbuf_puts(sb, ", \"module_type\": ");
        pt2_json_write_string(sb, type);
        pt2_strbuf_puts(sb, ", \"args\": {");
        for (size_t a = 0; a < node->num_inputs; a++) {
            pt2_strbuf_puts(sb, a ? ", " : "");
            pt2_json_write_string(sb, node->inputs[a].name ? node->inputs[a].name : "");
            pt2_strbuf_puts(sb, ": ");
            write_arg_json(sb, g, &node->inputs[a].arg);
        }
        pt2_strbuf_puts(sb, "}, \"source_line\": ");
        if (node->source_line)
            pt2_json_write_string(sb, node->source_line);
        else
            pt2_strbuf_puts(sb, "null");
        pt2_strbuf_putc(sb, '}');
    }
    pt2_strbuf_puts(sb, g->num_nodes ? "\n  ]" : "]");

    /* modules */
    pt2_module_tree tree;
    if ((st = pt2_module_tree_build(arena, g, &tree, err))) return st;
    pt2_strbuf_puts(sb, ",\n  \"modules\": [");
    for (size_t i = 0; i < tree.count; i++) {
        const pt2_module_info *m = &tree.modules[i];
        pt2_strbuf_puts(sb, i ? ",\n    {\"path\": " : "\n    {\"path\": ");
        pt2_json_write_string(sb, m->path);
        pt2_strbuf_puts(sb, ", \"type\": ");
        pt2_json_write_string(sb, m->type);
        pt2_strbuf_printf(sb, ", \"ops\": %zu}", m->num_ops);
    }
    pt2_strbuf_puts(sb, tree.count ? "\n  ]" : "]");

    /* tensors */
    pt2_strbuf_puts(sb, ",\n  \"tensors\": [");
    first = 1;
    for (size_t i = 0; i < g->num_inputs; i++) {
        const pt2_graph_input *in = &g->inputs[i];
        if (!in->has_data) continue;
        pt2_strbuf_puts(sb, first ? "\n    " : ",\n    ");
        first = 0;
        if ((st = write_tensor_json(arena, sb, in->target, input_kind_name(in->kind), &in->data, err))) return st;
    }
    pt2_strbuf_puts(sb, first ? "]\n}\n" : "\n  ]\n}\n");
    return PT2_OK;
}

static pt2_status inspect_pt2_text(pt2_arena *arena, const pt2_graph *g, const char *file_name, pt2_strbuf *sb,
                                   pt2_error *err) {
    pt2_strbuf_printf(sb, "%s: torch.export program (torch %s, schema %d.%d)\n", file_name,
                      g->torch_version ? g->torch_version : "?", g->schema_major, g->schema_minor);
    pt2_strbuf_puts(sb, "\nInputs:\n");
    size_t user_index = 0;
    for (size_t i = 0; i < g->num_inputs; i++) {
        const pt2_graph_input *in = &g->inputs[i];
        if (in->kind != PT2_INPUT_USER || in->value_id < 0) continue;
        const pt2_value *v = &g->values[in->value_id];
        pt2_strbuf_printf(sb, "  %-20s %-8s ", v->name, pt2_dtype_name(v->dtype));
        write_value_shape_text(sb, v);
        if (user_index < g->num_sample_inputs) {
            char shape[160];
            const pt2_tensor *t = &g->sample_inputs[user_index];
            pt2_shape_format(t->shape, t->rank, shape, sizeof shape);
            pt2_strbuf_printf(sb, "   (example %s)", shape);
        }
        pt2_strbuf_putc(sb, '\n');
        user_index++;
    }
    pt2_strbuf_puts(sb, "\nOutputs:\n");
    for (size_t i = 0; i < g->num_outputs; i++) {
        const pt2_graph_output *out = &g->outputs[i];
        if (out->kind != PT2_OUTPUT_USER || out->arg.kind != PT2_ARG_TENSOR) continue;
        const pt2_value *v = &g->values[out->arg.value_id];
        pt2_strbuf_printf(sb, "  %-20s %-8s ", v->name, pt2_dtype_name(v->dtype));
        write_value_shape_text(sb, v);
        if (out->name) pt2_strbuf_printf(sb, "   (%s)", out->name);
        pt2_strbuf_putc(sb, '\n');
    }
    dim_list dims = {0};
    visit_dynamic_dims(g, collect_symbol, &dims);
    pt2_strbuf_puts(sb, "\nDynamic dims:\n");
    if (!dims.count) pt2_strbuf_puts(sb, "  (none: every size is static)\n");
    for (size_t i = 0; i < dims.count; i++) {
        const pt2_range_constraint *r = pt2_graph_find_range(g, dims.symbols[i]);
        pt2_strbuf_printf(sb, "  %-8s range ", dims.symbols[i]);
        if (r && r->has_min) pt2_strbuf_printf(sb, "%lld", (long long)r->min); else pt2_strbuf_puts(sb, "-inf");
        pt2_strbuf_puts(sb, "..");
        if (r && r->has_max) pt2_strbuf_printf(sb, "%lld", (long long)r->max); else pt2_strbuf_puts(sb, "inf");
        if (dims.hints[i] >= 0) pt2_strbuf_printf(sb, ", example %lld", (long long)dims.hints[i]);
        pt2_strbuf_puts(sb, ", used by ");
        usage_writer w = {sb, dims.symbols[i], 1, 0};
        visit_dynamic_dims(g, write_usage, &w);
        pt2_strbuf_putc(sb, '\n');
    }
    op_count *ops;
    size_t num_ops;
    pt2_status st = count_ops(arena, g, &ops, &num_ops, err);
    if (st) return st;
    pt2_strbuf_printf(sb, "\nOps (%zu node%s, %zu kind%s):\n", g->num_nodes, g->num_nodes == 1 ? "" : "s", num_ops,
                      num_ops == 1 ? "" : "s");
    for (size_t i = 0; i < num_ops; i++) pt2_strbuf_printf(sb, "  %5zu  %s\n", ops[i].count, ops[i].target);

    pt2_module_tree tree;
    if ((st = pt2_module_tree_build(arena, g, &tree, err))) return st;
    pt2_strbuf_puts(sb, "\nModule tree:\n");
    for (size_t i = 0; i < tree.count; i++) {
        const pt2_module_info *m = &tree.modules[i];
        pt2_strbuf_indent(sb, 2 + 2 * m->depth);
        pt2_strbuf_printf(sb, "%s  %s", m->path[0] ? m->path : "(root)", m->type);
        if (m->num_ops) pt2_strbuf_printf(sb, "  (%zu op%s)", m->num_ops, m->num_ops == 1 ? "" : "s");
        pt2_strbuf_putc(sb, '\n');
    }

    size_t count = 0;
    double total = 0;
    for (size_t i = 0; i < g->num_inputs; i++)
        if (g->inputs[i].has_data) {
            count++;
            total += (double)pt2_tensor_numel(&g->inputs[i].data) * (double)pt2_dtype_size(g->inputs[i].data.dtype);
        }
    char total_text[32];
    format_bytes(total_text, sizeof total_text, total);
    pt2_strbuf_printf(sb, "\nParameters, buffers and constants (%zu tensors, %s):\n", count, total_text);
    for (size_t i = 0; i < g->num_inputs; i++) {
        const pt2_graph_input *in = &g->inputs[i];
        if (in->has_data) write_tensor_text(sb, in->target, input_kind_name(in->kind), &in->data);
    }
    return PT2_OK;
}

/* ---------------------------------------------------------------- checkpoints */

static pt2_status write_tensor_list(pt2_arena *arena, const pt2_named_tensors *list, int json, pt2_strbuf *sb,
                                    pt2_error *err) {
    if (json) pt2_strbuf_puts(sb, ",\n  \"tensors\": [");
    double total = 0;
    for (size_t i = 0; i < list->count; i++) {
        const pt2_named_tensor *nt = &list->items[i];
        const char *kind = nt->is_parameter ? "parameter" : "tensor";
        total += (double)pt2_tensor_numel(&nt->tensor) * (double)pt2_dtype_size(nt->tensor.dtype);
        if (json) {
            pt2_strbuf_puts(sb, i ? ",\n    " : "\n    ");
            pt2_status st = write_tensor_json(arena, sb, nt->name, kind, &nt->tensor, err);
            if (st) return st;
        } else {
            write_tensor_text(sb, nt->name, kind, &nt->tensor);
        }
    }
    if (json) {
        pt2_strbuf_puts(sb, list->count ? "\n  ]" : "]");
    } else {
        char total_text[32];
        format_bytes(total_text, sizeof total_text, total);
        pt2_strbuf_printf(sb, "\n%zu tensors, %s\n", list->count, total_text);
    }
    return PT2_OK;
}

static pt2_status inspect_torch_save(pt2_arena *arena, const uint8_t *bytes, size_t length, const char *file_name,
                                     const pt2_inspect_options *options, pt2_strbuf *sb, pt2_error *err) {
    pt2_pyobj *root;
    const pt2_pyobj *selected = NULL;
    const char *key = options->checkpoint_key ? options->checkpoint_key : "";
    pt2_named_tensors list = {0};
    /* Selecting and flattening count against the file's reader memory bound too. */
    pt2_reader_bound bound;
    pt2_arena_reader_begin(arena, length, file_name, &bound);
    pt2_status st = pt2_torch_load(arena, bytes, length, file_name, &root, err);
    if (!st) st = pt2_pyobj_select(root, key, file_name, &selected, err);
    if (!st) st = pt2_pyobj_to_state_dict(arena, selected, &list, err);
    pt2_arena_reader_end(arena, &bound);
    if (st) return st;
    if (options->json) {
        pt2_strbuf_puts(sb, "{\n  \"file\": ");
        pt2_json_write_string(sb, file_name);
        pt2_strbuf_puts(sb, ",\n  \"format\": \"torch_save\",\n  \"key\": ");
        pt2_json_write_string(sb, key);
    } else {
        pt2_strbuf_printf(sb, "%s: torch.save checkpoint%s%s%s\n\n", file_name, key[0] ? " (key '" : "", key,
                          key[0] ? "')" : "");
    }
    if ((st = write_tensor_list(arena, &list, options->json, sb, err))) return st;
    if (options->json) pt2_strbuf_puts(sb, "\n}\n");
    return PT2_OK;
}

static pt2_status inspect_safetensors(pt2_arena *arena, const uint8_t *bytes, size_t length, const char *file_name,
                                      const pt2_inspect_options *options, pt2_strbuf *sb, pt2_error *err) {
    pt2_named_tensors list = {0};
    pt2_status st = pt2_safetensors_load(arena, bytes, length, file_name, &list, err);
    if (st) return st;
    if (options->json) {
        pt2_strbuf_puts(sb, "{\n  \"file\": ");
        pt2_json_write_string(sb, file_name);
        pt2_strbuf_puts(sb, ",\n  \"format\": \"safetensors\"");
    } else {
        pt2_strbuf_printf(sb, "%s: safetensors\n\n", file_name);
    }
    if ((st = write_tensor_list(arena, &list, options->json, sb, err))) return st;
    if (options->json) pt2_strbuf_puts(sb, "\n}\n");
    return PT2_OK;
}

pt2_status pt2_inspect(pt2_arena *arena, const uint8_t *bytes, size_t length, const char *file_name,
                       const pt2_inspect_options *options, pt2_strbuf *out, pt2_error *err) {
    pt2_file_format format = pt2_detect_format(arena, bytes, length);
    pt2_status st;
    switch (format) {
    case PT2_FORMAT_PT2: {
        pt2_graph graph;
        if ((st = pt2_archive_load(arena, bytes, length, file_name, &graph, err))) return st;
        st = options->json ? inspect_pt2_json(arena, &graph, file_name, out, err)
                           : inspect_pt2_text(arena, &graph, file_name, out, err);
        break;
    }
    case PT2_FORMAT_TORCH_SAVE: st = inspect_torch_save(arena, bytes, length, file_name, options, out, err); break;
    case PT2_FORMAT_SAFETENSORS: st = inspect_safetensors(arena, bytes, length, file_name, options, out, err); break;
    default:
        pt2_error_set_file(err, file_name);
        return pt2_fail(err, PT2_ERR_INPUT,
                        "not a recognised file: expected a .pt2 archive or torch.save checkpoint (a zip starting "
                        "with 'PK') or a .safetensors file (8-byte header length, then a JSON header)");
    }
    if (st == PT2_OK && out->failed) return pt2_fail(err, PT2_ERR_MEMORY, "out of memory writing the report");
    return st;
}
