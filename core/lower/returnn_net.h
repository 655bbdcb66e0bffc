/* A RETURNN network as pt2returnn builds it (step 4) and writes it (step 5): layers with
 * their options and parameters, and the dim tags their outputs carry. */
#ifndef PT2_LOWER_RETURNN_NET_H
#define PT2_LOWER_RETURNN_NET_H

#include <stddef.h>
#include <stdint.h>

#include "../base/arena.h"
#include "../base/error.h"
#include "../base/strbuf.h"
#include "../base/tensor.h"

typedef enum pt2_rt_dim_kind { PT2_RT_DIM_BATCH, PT2_RT_DIM_TIME, PT2_RT_DIM_FEATURE, PT2_RT_DIM_STATIC } pt2_rt_dim_kind;

/* A dim tag: the batch, a dynamic time axis with sequence lengths, or a static size. */
typedef struct pt2_rt_dim {
    const char *variable; /* Python name in the config, e.g. "time_dim" */
    const char *description;
    pt2_rt_dim_kind kind;
    int64_t size; /* static size; -1 for batch and time */
} pt2_rt_dim;

typedef enum pt2_rt_value_kind {
    PT2_RT_NONE,
    PT2_RT_STRING,
    PT2_RT_INT,
    PT2_RT_FLOAT,
    PT2_RT_BOOL,
    PT2_RT_LIST,
    PT2_RT_DIM /* a dim tag: a Python variable in the .py config */
} pt2_rt_value_kind;

typedef struct pt2_rt_value pt2_rt_value;
struct pt2_rt_value {
    pt2_rt_value_kind kind;
    const char *string;
    int64_t int_value;
    double float_value;
    int dim; /* index into the net's dims */
    size_t count;
    pt2_rt_value *items;
};

typedef struct pt2_rt_option {
    const char *key;
    pt2_rt_value value;
} pt2_rt_option;

typedef struct pt2_rt_param {
    const char *name; /* the variable's name inside the layer's scope, e.g. "W", "bias" */
    pt2_tensor value; /* in RETURNN's layout */
} pt2_rt_param;

#define PT2_RT_MAX_OPTIONS 16
#define PT2_RT_MAX_PARAMS 8

typedef struct pt2_rt_layer {
    const char *name;
    const char *layer_class;
    size_t num_from;
    const char **from;
    size_t num_options;
    pt2_rt_option options[PT2_RT_MAX_OPTIONS];
    size_t num_params;
    pt2_rt_param params[PT2_RT_MAX_PARAMS];
    int node;        /* the graph node it computes, -1 for none */
    int input_value; /* the graph value it reads (for per-layer checks), -1 for none */
    int rank;
    int dims[PT2_MAX_RANK]; /* output dims in the PyTorch tensor's axis order */
} pt2_rt_layer;

typedef struct pt2_rt_net {
    size_t num_dims, dims_capacity;
    pt2_rt_dim *dims;
    size_t num_layers, layers_capacity;
    pt2_rt_layer *layers;
    int input_rank;
    int input_dims[PT2_MAX_RANK]; /* extern data "data", in the PyTorch input's axis order */
    pt2_dtype input_dtype;
} pt2_rt_net;

pt2_status pt2_rt_add_dim(pt2_arena *arena, pt2_rt_net *net, const char *variable, const char *description,
                          pt2_rt_dim_kind kind, int64_t size, int *out, pt2_error *err);
pt2_status pt2_rt_add_layer(pt2_arena *arena, pt2_rt_net *net, const char *name, const char *layer_class,
                            pt2_rt_layer **out, pt2_error *err);

/* Option setters; keys keep the order they are set in. */
void pt2_rt_set_string(pt2_rt_layer *layer, const char *key, const char *value);
void pt2_rt_set_int(pt2_rt_layer *layer, const char *key, int64_t value);
void pt2_rt_set_bool(pt2_rt_layer *layer, const char *key, int value);
void pt2_rt_set_dim(pt2_rt_layer *layer, const char *key, int dim);
pt2_status pt2_rt_set_int_list(pt2_arena *arena, pt2_rt_layer *layer, const char *key, const int64_t *values,
                               size_t count, pt2_error *err);
pt2_status pt2_rt_set_dim_list(pt2_arena *arena, pt2_rt_layer *layer, const char *key, const int *dims, size_t count,
                               pt2_error *err);
/* A list holding one string, e.g. in_spatial_dims = ["T"]. */
pt2_status pt2_rt_set_string_list(pt2_arena *arena, pt2_rt_layer *layer, const char *key, const char *item,
                                  pt2_error *err);
pt2_status pt2_rt_add_param(pt2_rt_layer *layer, const char *name, const pt2_tensor *value, pt2_error *err);

#endif
