/* Step 2 of the pipeline: run the graph with PyTorch semantics.
 * The executor walks the nodes in order, looks each target up in the op registry
 * (core/ops/registry.c) and lets the op family compute its outputs into the value store.
 * pt2_run_graph keeps every value; pt2_run_graph_releasing frees each value's data after its
 * last reader (an op, or a check the caller runs between nodes), keeping its shape, so a run
 * holds no more than the values alive at once. */
#ifndef PT2_RUN_EXECUTOR_H
#define PT2_RUN_EXECUTOR_H

#include <stddef.h>
#include <stdint.h>

#include "../base/arena.h"
#include "../base/error.h"
#include "../base/tensor.h"
#include "../graph/graph.h"

/* The runtime value of one graph value. */
typedef struct pt2_run_value {
    int is_set;
    int released; /* a releasing run freed its data: shape, strides and dtype remain, storage is NULL */
    pt2_tensor tensor;  /* TENSOR values */
    int64_t int_value;  /* SYM_INT / SYM_BOOL */
    double float_value; /* SYM_FLOAT */
} pt2_run_value;

typedef struct pt2_run_options {
    int num_threads;   /* native XNNPACK threads; 0 or 1 = single-threaded */
    int portable_only; /* skip XNNPACK and fused multiply-adds: the WASM build's kernels and bits (checks, benchmarks) */
} pt2_run_options;

typedef struct pt2_run_context {
    pt2_arena *arena;
    const pt2_graph *graph;
    pt2_run_value *values; /* graph->num_values */
    pt2_sym_binding *bindings; /* symbol values derived from the user inputs' shapes */
    size_t num_bindings;
    size_t bindings_capacity; /* data-dependent symbols (u0, ...) are bound from op outputs */
    pt2_run_options options;
    void *backend; /* XNNPACK state in the native build, NULL otherwise */
    const pt2_node *current_node; /* for error context */
    /* NULL, or per value: the index of the one node that reads it, when nothing else sees the
     * value (a releasing run without a hook, the value not kept nor an output), else -1 */
    const int32_t *sole_reader;
    unsigned char *taken; /* per node: an earlier op did its work (pt2_run_take_node) */
} pt2_run_context;

/* Runs the whole graph. `inputs` are the user inputs in signature order (e.g. the archive's
 * sample inputs or .npy files); their shapes bind the graph's symbols, which are checked
 * against the range constraints. Outputs: context->values of the graph's user outputs. */
pt2_status pt2_run_graph(pt2_arena *arena, const pt2_graph *graph, const pt2_tensor *inputs, size_t num_inputs,
                         const pt2_run_options *options, pt2_run_context *out, pt2_error *err);

/* ---- releasing runs ---- */

#define PT2_RUN_KEEP INT32_MAX /* release_after: the value is never released */

/* A visitor (pt2_arg_each_read) that keeps each value it is called with until at least `node`
 * (release_after[id] raised to it; a kept value stays kept). */
typedef struct pt2_run_last_reader {
    int32_t *release_after;
    int32_t node;
} pt2_run_last_reader;
void pt2_run_note_reader(void *user, int id);

typedef pt2_status (*pt2_run_node_hook)(void *user, pt2_run_context *context, size_t node_index, pt2_error *err);

typedef struct pt2_run_release {
    /* Per graph value: the index of the node after which its data goes (PT2_RUN_KEEP: never). A
     * storage shared by several values (a view) goes with the last of them. */
    const int32_t *release_after;
    pt2_run_node_hook after_node; /* called after each node that ran, before the releases; may be NULL */
    void *user;
    /* Out: the largest bytes the run's values (not the parameters) held at once, counted after
     * each node with its inputs and outputs alive. */
    size_t peak_live_bytes;
    /* NULL, or per value: the node after which it stops counting in peak_live_bytes (a plan
     * without the caller's checks, when release_after keeps values longer for them). */
    const int32_t *counted_until;
    /* NULL, or a finished run of the same graph whose values not depending on the input
     * (depends_on_input[v] 0, as pt2_run_plan_release gives it) this run takes instead of computing
     * them again: a node that neither reads nor makes a value depending on the input does not run
     * (the padded batch's runs take the main run's folded constants, such as weight norms). */
    const pt2_run_context *constants_from;
    const unsigned char *depends_on_input;
} pt2_run_release;

/* The run's own plan into release_after[graph->num_values]: each value goes after its last
 * reading node; the user inputs, the parameters, the graph's outputs and every value that does
 * not depend on the user input (a constant the lowering reads) are kept. `depends_on_input`
 * (graph->num_values entries) receives which values depend on the user input. */
void pt2_run_plan_release(const pt2_graph *graph, int32_t *release_after, unsigned char *depends_on_input);
/* The same plan in arrays allocated from `arena` (one entry more than the graph's values). */
pt2_status pt2_run_plan_new(pt2_arena *arena, const pt2_graph *graph, int32_t **release_after,
                            unsigned char **depends_on_input, pt2_error *err);


/* pt2_run_graph, releasing as `release` says. Large temporaries an op leaves in the arena are
 * freed when it ends as well. */
pt2_status pt2_run_graph_releasing(pt2_arena *arena, const pt2_graph *graph, const pt2_tensor *inputs, size_t num_inputs,
                                   const pt2_run_options *options, pt2_run_release *release, pt2_run_context *out,
                                   pt2_error *err);

/* The node that alone reads value `id`, when nobody else sees the value: its producer may do the
 * reader's work as well (a linear layer its relu) and write only the result. NULL otherwise. */
const pt2_node *pt2_run_sole_reader(const pt2_run_context *context, int id);
/* The op running now did `reader`'s work too and has set its outputs: the run does not run it. */
void pt2_run_take_node(pt2_run_context *context, const pt2_node *reader);

/* The tensor of a user output after a run. */
pt2_status pt2_run_output(const pt2_run_context *context, size_t index, pt2_tensor *out, pt2_error *err);

/* ---- helpers for op implementations (core/ops/) ---- */

/* Tensor argument by schema name; fails naming the node and argument when absent or None. */
pt2_status pt2_op_tensor(pt2_run_context *ctx, const pt2_node *node, const char *name, pt2_tensor *out,
                         pt2_error *err);
/* Optional tensor: *present = 0 for None. */
pt2_status pt2_op_optional_tensor(pt2_run_context *ctx, const pt2_node *node, const char *name,
                                  pt2_tensor *out, int *present, pt2_error *err);
/* List of tensors (e.g. cat's "tensors"); arena-allocated array. Entries of an optional
 * list that are None come back with rank -1. */
pt2_status pt2_op_tensor_list(pt2_run_context *ctx, const pt2_node *node, const char *name, pt2_tensor **out,
                              size_t *count, pt2_error *err);
/* Integer (int, SymInt resolved with the current bindings, or bool). */
pt2_status pt2_op_int(pt2_run_context *ctx, const pt2_node *node, const char *name, int64_t *out,
                      pt2_error *err);
/* Optional integer: *present = 0 for None. */
pt2_status pt2_op_optional_int(pt2_run_context *ctx, const pt2_node *node, const char *name, int64_t *out,
                               int *present, pt2_error *err);
/* Integer list (ints, SymInts, or a single int broadcast by the schema). Up to `max` items. */
pt2_status pt2_op_ints(pt2_run_context *ctx, const pt2_node *node, const char *name, int64_t *out, size_t max,
                       size_t *count, pt2_error *err);
/* A Scalar / float argument (accepts int, float, bool, SymInt, SymFloat). */
pt2_status pt2_op_scalar(pt2_run_context *ctx, const pt2_node *node, const char *name, double *out,
                         pt2_error *err);
/* Optional scalar / float: *present = 0 for None. */
pt2_status pt2_op_optional_scalar(pt2_run_context *ctx, const pt2_node *node, const char *name, double *out,
                                  int *present, pt2_error *err);
/* Is a Scalar argument integral (an int/bool literal, or a SymInt)? For type promotion. */
int pt2_op_scalar_is_integral(const pt2_node *node, const char *name);
pt2_status pt2_op_bool(pt2_run_context *ctx, const pt2_node *node, const char *name, int *out, pt2_error *err);
/* String argument (e.g. gelu's "approximate"); *out = NULL when None. */
pt2_status pt2_op_string(pt2_run_context *ctx, const pt2_node *node, const char *name, const char **out,
                         pt2_error *err);
/* ScalarType argument; *present = 0 when None. */
pt2_status pt2_op_dtype(pt2_run_context *ctx, const pt2_node *node, const char *name, pt2_dtype *out,
                        int *present, pt2_error *err);

/* Stores output `index` of the node (tensor outputs; integer outputs for sym ops). */
pt2_status pt2_op_set_output(pt2_run_context *ctx, const pt2_node *node, size_t index, const pt2_tensor *value,
                             pt2_error *err);
pt2_status pt2_op_set_int_output(pt2_run_context *ctx, const pt2_node *node, size_t index, int64_t value,
                                 pt2_error *err);
/* SymFloat outputs (e.g. _operator.truediv, torch.sym_float). */
pt2_status pt2_op_set_float_output(pt2_run_context *ctx, const pt2_node *node, size_t index, double value,
                                   pt2_error *err);

#endif
