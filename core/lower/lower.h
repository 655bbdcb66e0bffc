/* Step 4: lowering the graph to RETURNN layers. Every op group provides lowerings
 * (core/lower/lower_<group>.c, listed in core/lower/lowerings.c) that add layers for a node,
 * let the layer class infer each layer's output dims (core/returnn/layers.h) and record which
 * layer holds the node's output and which net dim each PyTorch axis is.
 *
 * Values that do not depend on the user input (parameters, buffers, and ops computed only
 * from them, such as a filter scaled by a constant) are not lowered: they are constants whose
 * value the reference run has, and a layer that needs one as a tensor gets a `variable`. */
#ifndef PT2_LOWER_LOWER_H
#define PT2_LOWER_LOWER_H

#include "../graph/graph.h"
#include "../returnn/layers.h"
#include "../run/executor.h"

/* Where a graph value lives in the RETURNN network. */
typedef struct pt2_lowered_value {
    int is_set;
    const char *layer;    /* the layer (or "data") whose output it is */
    pt2_rt_shape shape;   /* that layer's output as RETURNN sees it */
    int rank;
    int dims[PT2_MAX_RANK]; /* net dim per PyTorch axis */
} pt2_lowered_value;

typedef struct pt2_lower_context {
    pt2_arena *arena;
    const pt2_graph *graph;
    pt2_run_context *run; /* the reference run: parameter values as applied, sizes */
    pt2_rt_net *net;
    pt2_lowered_value *values;
    unsigned char *dynamic; /* per value: depends on the user input (a layer output or a size of it) */
    struct pt2_node_place *places; /* per node: its network and base name (core/naming) */
    /* Per value with broadcast axes (core/lower/axes.h): the same value with every axis real,
     * made once for the ops that need it so (pt2_axes_materialise); pt2_lower_input gives it to
     * the lowering of such an op (needs_real_axes). */
    pt2_lowered_value *real_values;
    int needs_real_axes;
    struct pt2_lower_progress *progress; /* where pt2_lower_advance stands */
} pt2_lower_context;

/* The nodes of one call of a module that a module lowering handles as a whole (e.g.
 * nn.MultiheadAttention, whose views merge the batch with the heads), in graph order. */
typedef struct pt2_module_call {
    const char *key, *path, *type;
    size_t count;
    const pt2_node **nodes;
} pt2_module_call;

/* Is the value computed inside the call? */
int pt2_module_call_computes(const pt2_module_call *call, int value_id);

/* Lowers every node. Unsupported ops are listed all at once (PT2_ERR_UNSUPPORTED). */
pt2_status pt2_lower_graph(pt2_arena *arena, const pt2_graph *graph, pt2_run_context *run, pt2_rt_net *net,
                           pt2_lower_context *out, pt2_error *err);

/* The same in steps, while the reference run goes, so that each layer can be checked as soon as
 * the run has the values it reads (core/pipeline/convert.c). The lowering reads the values'
 * shapes and the constants, which a releasing run keeps. Begin after the run has bound its inputs,
 * advance after each node the run computed, finish after the run. */
pt2_status pt2_lower_begin(pt2_arena *arena, const pt2_graph *graph, pt2_run_context *run, pt2_rt_net *net,
                           pt2_lower_context *out, pt2_error *err);
/* Per node: the last node the run must have computed before pt2_lower_advance lowers it
 * (nondecreasing in graph order: the nodes are lowered in order, and a module lowered as a whole
 * waits for its last node). */
void pt2_lower_plan(const pt2_lower_context *ctx, int32_t *lowered_after);
/* Lowers the nodes in order while their turn (pt2_lower_plan) is at most `ran`. */
pt2_status pt2_lower_advance(pt2_lower_context *ctx, size_t ran, pt2_error *err);
/* Lowers the rest; then the refusals, listed all at once, or the outputs' layers. */
pt2_status pt2_lower_finish(pt2_lower_context *ctx, pt2_error *err);

/* ---- helpers for op lowerings ---- */
pt2_status pt2_lower_fail(const pt2_node *node, pt2_error *err, const char *fmt, ...);
/* Is the node lowered at all (on the input's path and read on the way to an output)? A node whose
 * result nothing reads (nn.MultiheadAttention's averaged weights, unused) is not. */
int pt2_lower_node_is_lowered(const pt2_lower_context *ctx, const pt2_node *node);

/* Are two size expressions of the export equal for every input it accepts? Yes when the same
 * (torch.export unified them) or expressions of one symbol equal at every value of its range,
 * enumerated (inputs outside the range are refused before a run); no when unsure. */
int pt2_lower_sizes_equal(const pt2_graph *graph, const pt2_sym_expr *a, const pt2_sym_expr *b);
/* The lowered value of a tensor argument that depends on the input; NULL in *out when it is a
 * constant (then use pt2_lower_constant). */
pt2_status pt2_lower_input(pt2_lower_context *ctx, const pt2_node *node, const char *name,
                           const pt2_lowered_value **out, pt2_error *err);
/* The same with every axis real (pt2_axes_materialise): for an op that follows broadcast axes in
 * some arguments but needs real ones in this one (a product's operand, attention's query). */
pt2_status pt2_lower_real_input(pt2_lower_context *ctx, const pt2_node *node, const char *name,
                                const pt2_lowered_value **out, pt2_error *err);
/* The value of a constant tensor argument (a parameter, buffer or folded op), from the run.
 * *present = 0 for None. Fails when the argument depends on the input. */
pt2_status pt2_lower_constant(pt2_lower_context *ctx, const pt2_node *node, const char *name, pt2_tensor *out,
                              int *present, pt2_error *err);
/* A new layer named after the node's module call (unique in the network), with no sources. */
pt2_status pt2_lower_new_layer(pt2_lower_context *ctx, const pt2_node *node, const char *layer_class,
                               pt2_rt_layer **out, pt2_error *err);
/* A helper layer for `node` that computes no node of its own (node -1), in the node's network,
 * named `base` made unique. */
pt2_status pt2_lower_new_layer_named(pt2_lower_context *ctx, const pt2_node *node, const char *base,
                                     const char *layer_class, pt2_rt_layer **out, pt2_error *err);
pt2_status pt2_lower_add_source(pt2_lower_context *ctx, pt2_rt_layer *layer, const pt2_lowered_value *value,
                                pt2_error *err);
/* Lets the layer class infer the output dims from the sources (sets layer->shape). */
pt2_status pt2_lower_infer(pt2_lower_context *ctx, const pt2_node *node, pt2_rt_layer *layer, pt2_error *err);
/* Records node output 0 as the layer's output, with the net dim of each PyTorch axis (each
 * must be one of the layer's dims). */
pt2_status pt2_lower_set_output(pt2_lower_context *ctx, const pt2_node *node, pt2_rt_layer *layer, int rank,
                                const int *dims, pt2_error *err);
/* Node output 0 is the same data as `value` (ops that change nothing RETURNN sees). */
pt2_status pt2_lower_alias(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *value,
                           pt2_error *err);
/* A `variable` layer holding a constant that broadcasts against `like` in PyTorch's way
 * (aligned from the last axis): its size-1 axes are dropped, its other axes take the dims of
 * `like` at the same place. `like` NULL: the constant's own axes, its size-1 ones broadcast axes
 * (core/lower/axes.h). A bool constant is a float32 variable of its 0/1 and a compare != 0
 * after it: a lowering whose entry lists `variable` may add that compare too
 * (PT2_LOWER_CONSTANT_EMITS). Other dtypes but float32 are refused. */
#define PT2_LOWER_CONSTANT_EMITS "variable compare"
pt2_status pt2_lower_constant_layer(pt2_lower_context *ctx, const pt2_node *node, const pt2_tensor *constant,
                                    const pt2_lowered_value *like, pt2_lowered_value *out, pt2_error *err);
/* A number as an eval expression writes it for a source of `dtype`: an integer as a Python int for
 * an integer source (TF converts a Python float only to a float tensor's dtype). */
void pt2_lower_format_number(char *text, size_t size, double number, pt2_dtype dtype);
/* Writes an eval layer of one of the forms of pt2_rt_eval_form, `number` filling its "%s". */
pt2_status pt2_lower_eval(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in,
                          const char *form, double number, pt2_error *err);

#endif
