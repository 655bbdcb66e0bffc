/* A RETURNN network as pt2returnn builds it (step 4), writes it (step 5) and reads it back
 * (step 6): layers with their options and parameters, and the dim tags of their outputs.
 *
 * Dims are tracked by identity, as RETURNN's Dim objects are: the batch, dynamic spatial dims
 * (the input's time and the dims derived from it by arithmetic, e.g. T + 2 after a pad or
 * T * 8 after an upsampling), and static dims. A derived dim is kept in a normal form and made
 * once, so T + 3 - 3 is T itself and two layers that compute T * 8 share one dim, the way
 * RETURNN's dim arithmetic simplifies and caches. */
#ifndef PT2_RETURNN_NET_H
#define PT2_RETURNN_NET_H

#include <stddef.h>
#include <stdint.h>

#include "../base/arena.h"
#include "../base/error.h"
#include "../base/strbuf.h"
#include "../base/tensor.h"

typedef enum pt2_rt_dim_kind { PT2_RT_DIM_BATCH, PT2_RT_DIM_DYNAMIC, PT2_RT_DIM_STATIC } pt2_rt_dim_kind;

typedef struct pt2_rt_dim {
    const char *description; /* RETURNN's description, found by "stag:" */
    pt2_rt_dim_kind kind;
    int64_t size; /* static size; -1 for batch and dynamic dims */
    /* Dynamic dims derived from another: size = ceil((size(base) * mul + add) / div). base -1 = a root. */
    int base;
    int64_t mul, add, div;
} pt2_rt_dim;

/* A layer output's dims in RETURNN's axis order, with its feature dim (RETURNN's "F"; -1 for
 * none). Its time axis ("T") is the first dynamic axis, as RETURNN's default. */
typedef struct pt2_rt_shape {
    int rank;
    int dims[PT2_MAX_RANK];
    int feature_dim;
    pt2_dtype dtype;
    int sparse_dim; /* int indices into this dim (an embedding's input); -1 for dense data */
} pt2_rt_shape;

typedef enum pt2_rt_value_kind {
    PT2_RT_NONE,
    PT2_RT_STRING,
    PT2_RT_INT,
    PT2_RT_FLOAT,
    PT2_RT_BOOL,
    PT2_RT_LIST,
    PT2_RT_DICT /* items are the values, keys[] their names */
} pt2_rt_value_kind;

typedef struct pt2_rt_value pt2_rt_value;
struct pt2_rt_value {
    pt2_rt_value_kind kind;
    const char *string;
    int64_t int_value;
    double float_value;
    size_t count;
    pt2_rt_value *items;
    const char **keys;
};

typedef struct pt2_rt_option {
    const char *key;
    pt2_rt_value value;
} pt2_rt_option;

typedef struct pt2_rt_param {
    const char *name; /* the variable's name inside the layer's scope, e.g. "W", "bias" */
    pt2_tensor value; /* in RETURNN's layout, or with its blocks in another order: */
    /* NULL, or how value's blocks are reordered to give RETURNN's layout (a view of PyTorch's
     * LSTM weight for NativeLstm2's gate order: pt2_tensor_contiguous_blocks makes the copy) */
    const pt2_block_order *blocks;
} pt2_rt_param;

#define PT2_RT_MAX_OPTIONS 20
#define PT2_RT_MAX_PARAMS 16 /* a GRU rec unit: 6 linears with W and b */
#define PT2_RT_MAX_FROM 8

typedef struct pt2_rt_layer {
    const char *name;
    const char *layer_class;
    size_t num_from;
    const char *from[PT2_RT_MAX_FROM];
    size_t num_options;
    pt2_rt_option options[PT2_RT_MAX_OPTIONS];
    size_t num_params;
    pt2_rt_param params[PT2_RT_MAX_PARAMS];
    pt2_rt_shape shape; /* its output, as the layer class infers it */
    /* A layer of a module called again: the first call's twin whose parameters it shares
     * (reuse_params); its own params are the same tensors, kept for the checks. NULL otherwise. */
    const char *reuse;
    /* What the lowering made it from (for the per-layer check): the graph node, the graph
     * values its sources hold, and its output's net dims in the PyTorch tensor's axis order. */
    int node; /* -1 for none */
    int output_value; /* the graph value it is checked against; -1: the node's first output */
    const char *op_label; /* what the report names as its op; NULL: the node's target */
    int input_values[PT2_RT_MAX_FROM];
    int torch_rank;
    int torch_dims[PT2_MAX_RANK];
} pt2_rt_layer;

/* One of the network's results (a program's user output): the first is the layer "output",
 * every further one a copy layer marked is_output_layer (RETURNN builds it although no layer
 * reads it). */
#define PT2_RT_MAX_OUTPUTS 16

typedef struct pt2_rt_output {
    const char *layer;
    const char *name; /* what reports call it: the program's name for it, else the layer's */
    int torch_rank;   /* its axes in PyTorch's order (net dims) */
    int torch_dims[PT2_MAX_RANK];
} pt2_rt_output;

typedef struct pt2_rt_net {
    size_t num_dims, dims_capacity;
    pt2_rt_dim *dims;
    size_t num_layers, layers_capacity;
    pt2_rt_layer *layers;
    pt2_rt_shape input;     /* extern data "data", in the PyTorch input's axis order */
    const char *output;     /* the layer that is the network's result */
    int output_torch_rank;  /* the result's axes in PyTorch's order (net dims) */
    int output_torch_dims[PT2_MAX_RANK];
    /* Every result, the first being `output` above (arena-owned). */
    size_t num_outputs;
    pt2_rt_output *outputs;
    /* A padded-batch run (step 6): the input time length of each batch entry, the rest of the
     * tensor being padding. NULL: every entry fills its tensor (the per-layer checks). */
    const int64_t *sequence_lengths;
    int64_t num_sequences;
    /* The threads a layer's matrix products may split over (the run's --threads; 0 or 1: one),
     * as the reference run's do (core/ops/parallel.h): the same bits at any count. */
    int threads;
} pt2_rt_net;

pt2_status pt2_rt_add_dim(pt2_arena *arena, pt2_rt_net *net, const char *description, pt2_rt_dim_kind kind,
                          int64_t size, int *out, pt2_error *err);
/* The dynamic dim ceil((base * mul + add) / div), in normal form, made once. */
pt2_status pt2_rt_derive_dim(pt2_arena *arena, pt2_rt_net *net, int base, int64_t mul, int64_t add, int64_t div,
                             const char *description, int *out, pt2_error *err);
/* Its size, given the sizes of the root dims (the input's time length). */
int64_t pt2_rt_dim_size(const pt2_rt_net *net, int dim, int64_t root_size);
/* The length of `dim` in batch entry `batch` of a tensor whose axis of that dim has size `full`:
 * a dynamic dim's per-sequence length in a padded-batch run (at most `full`), else `full`. */
int64_t pt2_rt_sequence_length(const pt2_rt_net *net, int dim, int64_t batch, int64_t full);

pt2_status pt2_rt_add_layer(pt2_arena *arena, pt2_rt_net *net, const char *name, const char *layer_class,
                            pt2_rt_layer **out, pt2_error *err);
const pt2_rt_layer *pt2_rt_find_layer(const pt2_rt_net *net, const char *name);

/* Axis of `dim` in a shape, or -1. */
int pt2_rt_shape_axis(const pt2_rt_shape *shape, int dim);
/* RETURNN's time axis of a shape (its first dynamic axis), or -1. */
int pt2_rt_shape_time_axis(const pt2_rt_net *net, const pt2_rt_shape *shape);
/* How many dynamic axes (sizes per sequence, RETURNN's size_placeholder) a shape has. */
int pt2_rt_shape_dynamic_axes(const pt2_rt_net *net, const pt2_rt_shape *shape);
/* A string that names `dim` among the shape's axes the way RETURNN resolves axis descriptions:
 * "B", "F", "T" (the input's time), "dyn" (the one dynamic axis), "dim:N" (unique static size) or
 * "stag:<description>". */
pt2_status pt2_rt_axis_description(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_shape *shape, int dim,
                                   const char **out, pt2_error *err);
/* The inverse: the dim a description names in a shape. */
pt2_status pt2_rt_resolve_axis(const pt2_rt_net *net, const pt2_rt_shape *shape, const char *description, int *dim,
                               pt2_error *err);

/* Options; keys keep the order they are set in, setting a key again replaces it. */
pt2_status pt2_rt_set_string(pt2_rt_layer *layer, const char *key, const char *value, pt2_error *err);
pt2_status pt2_rt_set_none(pt2_rt_layer *layer, const char *key, pt2_error *err);
pt2_status pt2_rt_set_int(pt2_rt_layer *layer, const char *key, int64_t value, pt2_error *err);
pt2_status pt2_rt_set_float(pt2_rt_layer *layer, const char *key, double value, pt2_error *err);
pt2_status pt2_rt_set_bool(pt2_rt_layer *layer, const char *key, int value, pt2_error *err);
pt2_status pt2_rt_set_int_list(pt2_arena *arena, pt2_rt_layer *layer, const char *key, const int64_t *values,
                               size_t count, pt2_error *err);
pt2_status pt2_rt_set_string_list(pt2_arena *arena, pt2_rt_layer *layer, const char *key, const char *const *items,
                                  size_t count, pt2_error *err);
/* Sets any value (used by the config reader). */
pt2_status pt2_rt_set_value(pt2_rt_layer *layer, const char *key, const pt2_rt_value *value, pt2_error *err);
pt2_status pt2_rt_add_param(pt2_rt_layer *layer, const char *name, const pt2_tensor *value, pt2_error *err);
/* The same for a value whose blocks `blocks` (static, or living as long as the net) reorders. */
pt2_status pt2_rt_add_param_blocks(pt2_rt_layer *layer, const char *name, const pt2_tensor *value,
                                   const pt2_block_order *blocks, pt2_error *err);
pt2_status pt2_rt_add_from(pt2_rt_layer *layer, const char *source, int graph_value, pt2_error *err);

/* Option readers for the layer classes; `fallback` when absent. Lists of one int read as that int. */
const pt2_rt_value *pt2_rt_get_option(const pt2_rt_layer *layer, const char *key);
int64_t pt2_rt_int_option(const pt2_rt_layer *layer, const char *key, int64_t fallback);
double pt2_rt_float_option(const pt2_rt_layer *layer, const char *key, double fallback);
const char *pt2_rt_string_option(const pt2_rt_layer *layer, const char *key, const char *fallback);
const pt2_tensor *pt2_rt_get_param(const pt2_rt_layer *layer, const char *name);
/* The whole parameter (its value and block order); NULL when the layer has none of that name. */
const pt2_rt_param *pt2_rt_find_param(const pt2_rt_layer *layer, const char *name);
/* A layer's name inside its subnetwork ("c" of "a/b/c"), as RETURNN's layer.name. */
const char *pt2_rt_local_name(const char *layer_name);

#endif
