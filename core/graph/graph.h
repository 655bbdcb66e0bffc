/* The graph IR: what a torch.export program says, in C structures owned by one arena.
 * Built by the .pt2 reader (core/load/pt2_archive.c), run by the executor, named and lowered
 * by the later steps. Node arguments are in schema order with omitted defaults filled in. */
#ifndef PT2_GRAPH_GRAPH_H
#define PT2_GRAPH_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "../base/arena.h"
#include "../base/error.h"
#include "../base/tensor.h"
#include "sym_expr.h"

/* One dimension of a tensor's size: a constant, or a symbolic expression with the hint
 * (the size it had in the export's example). */
typedef struct pt2_dim {
    int is_symbolic;
    int64_t value; /* the constant, or the hint when symbolic (-1 when no hint) */
    pt2_sym_expr *expr;
} pt2_dim;

typedef enum pt2_value_kind {
    PT2_VALUE_TENSOR,
    PT2_VALUE_SYM_INT,
    PT2_VALUE_SYM_BOOL,
    PT2_VALUE_SYM_FLOAT,
    PT2_VALUE_OTHER /* custom objects, tokens */
} pt2_value_kind;

/* A named value of the graph: a tensor (with its metadata) or a symbolic scalar. */
typedef struct pt2_value {
    const char *name;
    pt2_value_kind kind;
    pt2_dtype dtype; /* tensors */
    int rank;
    pt2_dim sizes[PT2_MAX_RANK];
    pt2_dim strides[PT2_MAX_RANK];
    int requires_grad;
    pt2_sym_expr *sym_expr; /* SYM_*: the value's expression where the file gives one */
    int64_t sym_hint;
    int producer; /* index of the node producing it, or -1 for graph inputs */
} pt2_value;

typedef enum pt2_arg_kind {
    PT2_ARG_NONE,
    PT2_ARG_TENSOR,           /* value_id */
    PT2_ARG_TENSORS,          /* value_ids[count] */
    PT2_ARG_OPTIONAL_TENSORS, /* value_ids[count], -1 for None */
    PT2_ARG_INT,              /* int_value */
    PT2_ARG_INTS,             /* ints[count] */
    PT2_ARG_FLOAT,            /* float_value */
    PT2_ARG_FLOATS,           /* floats[count] */
    PT2_ARG_BOOL,             /* int_value */
    PT2_ARG_BOOLS,            /* ints[count] */
    PT2_ARG_STRING,           /* string */
    PT2_ARG_STRINGS,          /* strings[count] */
    PT2_ARG_SYM_INT,          /* value_id of a SYM_INT value */
    PT2_ARG_SYM_INTS,         /* syms[count]: each a constant or a SYM_INT value */
    PT2_ARG_SYM_BOOL,         /* value_id */
    PT2_ARG_SYM_FLOAT,        /* value_id */
    PT2_ARG_SCALAR_TYPE,      /* dtype (PT2_DTYPE_INVALID for types we do not model; int_value keeps the raw enum) */
    PT2_ARG_MEMORY_FORMAT,    /* int_value: schema enum */
    PT2_ARG_LAYOUT,           /* int_value: schema enum */
    PT2_ARG_DEVICE,           /* string: "cpu", "cuda:0" */
    PT2_ARG_OTHER             /* anything else (graphs, custom objects): string holds the union key */
} pt2_arg_kind;

typedef struct pt2_sym_ref {
    int is_value; /* 1: value_id names a SYM_INT value; 0: constant */
    int value_id;
    int64_t constant;
} pt2_sym_ref;

typedef struct pt2_arg {
    pt2_arg_kind kind;
    int value_id;
    int64_t int_value;
    double float_value;
    const char *string;
    pt2_dtype dtype;
    size_t count;
    int *value_ids;
    int64_t *ints;
    double *floats;
    const char **strings;
    pt2_sym_ref *syms;
} pt2_arg;

typedef struct pt2_named_arg {
    const char *name; /* schema argument name, e.g. "stride" */
    pt2_arg arg;
    int from_default; /* 1: omitted in the file, filled from the op's schema */
    int keyword;      /* 1: passed as a keyword */
} pt2_named_arg;

/* One entry of nn_module_stack: the module call an op ran inside. */
typedef struct pt2_module_frame {
    const char *key;  /* opaque id, e.g. "L__self___conv" */
    const char *path; /* module FQN, e.g. "blocks.0.conv"; "" for the root */
    const char *type; /* class qualname, e.g. "torch.nn.modules.conv.Conv1d" */
} pt2_module_frame;

typedef struct pt2_node {
    const char *name;   /* FX node name, e.g. "conv1d" */
    const char *target; /* normalised op name, e.g. "aten.conv1d.default", "_operator.mul" */
    size_t num_inputs;
    pt2_named_arg *inputs; /* schema order when the schema is known, else file order */
    size_t num_outputs;
    pt2_arg *outputs; /* TENSOR / SYM_INT / ... with value ids; unused outputs are NONE */
    int has_schema;
    const char *stack_trace; /* raw text, may be NULL */
    const char *source_line; /* "model.py:14 h = self.conv(x)" derived from the innermost frame, or NULL */
    size_t module_depth;
    pt2_module_frame *module_stack; /* outermost first; [0] is usually the root module */
    const char *source_fn; /* from source_fn_stack, e.g. "torch.nn.modules.conv.Conv1d" */
} pt2_node;

typedef enum pt2_input_kind {
    PT2_INPUT_USER,
    PT2_INPUT_PARAMETER,
    PT2_INPUT_BUFFER,
    PT2_INPUT_TENSOR_CONSTANT,
    PT2_INPUT_CUSTOM_OBJ,
    PT2_INPUT_TOKEN,
    PT2_INPUT_CONSTANT_INPUT
} pt2_input_kind;

typedef struct pt2_graph_input {
    pt2_input_kind kind;
    int value_id;       /* the placeholder value (-1 for constant inputs) */
    const char *target; /* parameter/buffer/constant FQN ("conv.weight"); user input: the placeholder name */
    int persistent;     /* buffers */
    int has_data;       /* parameters, buffers and constants carry their tensor */
    pt2_tensor data;
} pt2_graph_input;

typedef enum pt2_output_kind {
    PT2_OUTPUT_USER,
    PT2_OUTPUT_BUFFER_MUTATION,
    PT2_OUTPUT_USER_INPUT_MUTATION,
    PT2_OUTPUT_OTHER
} pt2_output_kind;

typedef struct pt2_graph_output {
    pt2_output_kind kind;
    pt2_arg arg;        /* usually a TENSOR */
    const char *target; /* mutated buffer / input name where relevant */
    /* A user output's name from the program's output spec (core/load/output_names.h), or NULL. */
    const char *name;
} pt2_graph_output;

typedef struct pt2_range_constraint {
    const char *symbol; /* key of range_constraints, e.g. "s35" */
    int has_min, has_max;
    int64_t min, max;
} pt2_range_constraint;

typedef struct pt2_graph {
    const char *file_name;
    const char *torch_version;
    int schema_major, schema_minor;
    size_t num_values;
    pt2_value *values;
    size_t num_nodes;
    pt2_node *nodes;
    size_t num_inputs;
    pt2_graph_input *inputs; /* signature order */
    size_t num_outputs;
    pt2_graph_output *outputs;
    size_t num_ranges;
    pt2_range_constraint *ranges;
    /* model.json's guards_code: Python conditions on the inputs' sizes torch.export assumed
     * (core/run/guards.h); PyTorch's program refuses inputs that break one. */
    size_t num_guards;
    const char **guards;
    /* The archive's example inputs (data/sample_inputs), one per user input, in order. */
    size_t num_sample_inputs;
    pt2_tensor *sample_inputs;
} pt2_graph;

int pt2_graph_find_value(const pt2_graph *graph, const char *name); /* id or -1 */
const pt2_range_constraint *pt2_graph_find_range(const pt2_graph *graph, const char *symbol);
/* Lists the nodes whose target `is_supported` rejects, one entry per op, as
 * "aten.x.default (node 'n' in 'module.path' at file.py:12 code)", joined by "; ".
 * Returns how many nodes were rejected. */
size_t pt2_graph_describe_unsupported(const pt2_graph *graph, int (*is_supported)(const char *target), char *out,
                                      size_t out_size);
/* Fails with PT2_ERR_UNSUPPORTED listing every rejected node at once:
 * "N nodes use ops <what>: <list>". */
pt2_status pt2_graph_require_supported(const pt2_graph *graph, int (*is_supported)(const char *target),
                                       const char *what, pt2_error *err);
/* The same over the nodes with considered[i] != 0 (NULL: all). */
size_t pt2_graph_describe_unsupported_among(const pt2_graph *graph, const unsigned char *considered,
                                            int (*is_supported)(const char *target), char *out, size_t out_size);
pt2_status pt2_graph_require_supported_among(const pt2_graph *graph, const unsigned char *considered,
                                             int (*is_supported)(const char *target), const char *what, pt2_error *err);
/* Argument by schema name, or NULL. */
const pt2_arg *pt2_node_arg(const pt2_node *node, const char *name);
/* Does the argument (a tensor or a list of them) read tensor value `value_id`? Does any of the
 * node's arguments? */
int pt2_arg_reads(const pt2_arg *arg, int value_id);
/* Calls visit(user, value id) for every value the argument reads: tensors and symbolic sizes. */
void pt2_arg_each_read(const pt2_arg *arg, void (*visit)(void *user, int id), void *user);
int pt2_node_reads(const pt2_node *node, int value_id);

#endif
