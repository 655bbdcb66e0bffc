/* Step 4: lowering the graph to RETURNN layers. Every node's op family provides a lowering
 * (core/ops/<family>.c, registered in core/ops/registry.c) that adds layers for the node and
 * records which layer holds each of its outputs, with the dims of every axis. */
#ifndef PT2_LOWER_LOWER_H
#define PT2_LOWER_LOWER_H

#include "../graph/graph.h"
#include "../run/executor.h"
#include "returnn_net.h"

/* Where a graph value lives in the RETURNN network. */
typedef struct pt2_lowered_value {
    int is_set;
    const char *layer; /* the layer (or "data") whose output it is */
    int rank;
    int dims[PT2_MAX_RANK]; /* net dim per PyTorch axis */
} pt2_lowered_value;

typedef struct pt2_lower_context {
    pt2_arena *arena;
    const pt2_graph *graph;
    const pt2_run_context *run; /* the reference run: parameter values as applied */
    pt2_rt_net *net;
    pt2_lowered_value *values;
    const char *output_layer;
} pt2_lower_context;

pt2_status pt2_lower_graph(pt2_arena *arena, const pt2_graph *graph, const pt2_run_context *run, pt2_rt_net *net,
                           pt2_lower_context *out, pt2_error *err);

/* ---- helpers for op lowerings ---- */
/* The lowered value of a tensor argument; fails when it is a constant rather than a layer output. */
pt2_status pt2_lower_input(pt2_lower_context *ctx, const pt2_node *node, const char *name,
                           const pt2_lowered_value **out, pt2_error *err);
/* The value of a constant tensor argument (a parameter, buffer or constant), from the run. */
pt2_status pt2_lower_constant(pt2_lower_context *ctx, const pt2_node *node, const char *name, pt2_tensor *out,
                              int *present, pt2_error *err);
/* A new layer named after the node's module call (unique in the network). */
pt2_status pt2_lower_new_layer(pt2_lower_context *ctx, const pt2_node *node, const char *layer_class,
                               const pt2_lowered_value *from, pt2_rt_layer **out, pt2_error *err);
/* Records the node's output 0 as the layer's output with these dims. */
pt2_status pt2_lower_set_output(pt2_lower_context *ctx, const pt2_node *node, pt2_rt_layer *layer, int rank,
                                const int *dims, pt2_error *err);

#endif
