#include "layers.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

extern const pt2_rt_layer_class pt2_rt_layers_conv[];
extern const pt2_rt_layer_class pt2_rt_layers_elementwise[];
extern const pt2_rt_layer_class pt2_rt_layers_norm[];
extern const pt2_rt_layer_class pt2_rt_layers_shape[];
extern const pt2_rt_layer_class pt2_rt_layers_attention[];
extern const pt2_rt_layer_class pt2_rt_layers_pool[];
extern const pt2_rt_layer_class pt2_rt_layers_pool_nd[];
extern const pt2_rt_layer_class pt2_rt_layers_norm_axes[];
extern const pt2_rt_layer_class pt2_rt_layers_reduce[];
extern const pt2_rt_layer_class pt2_rt_layers_cumsum[];
extern const pt2_rt_layer_class pt2_rt_layers_math_norm[];
extern const pt2_rt_layer_class pt2_rt_layers_dims[];
extern const pt2_rt_layer_class pt2_rt_layers_window[];
extern const pt2_rt_layer_class pt2_rt_layers_math[];
extern const pt2_rt_layer_class pt2_rt_layers_rec[];
/* gather branch */
extern const pt2_rt_layer_class pt2_rt_layers_length[];
extern const pt2_rt_layer_class pt2_rt_layers_gather[];
extern const pt2_rt_layer_class pt2_rt_layers_range[];
extern const pt2_rt_layer_class pt2_rt_layers_resize[];
/* ops13 */
extern const pt2_rt_layer_class pt2_rt_layers_constant[];

/* rec first: its eval handles the sequence reversal and passes other expressions on. */
static const pt2_rt_layer_class *const families[] = {pt2_rt_layers_rec, pt2_rt_layers_conv, pt2_rt_layers_elementwise,
                                                     pt2_rt_layers_norm, pt2_rt_layers_shape, pt2_rt_layers_attention,
                                                     pt2_rt_layers_pool_nd, pt2_rt_layers_reduce, pt2_rt_layers_pool,
                                                     pt2_rt_layers_dims, pt2_rt_layers_window, pt2_rt_layers_math, pt2_rt_layers_norm_axes,
                                                     pt2_rt_layers_cumsum, pt2_rt_layers_math_norm,
                                                     /* gather branch */
                                                     pt2_rt_layers_length, pt2_rt_layers_gather,
                                                     pt2_rt_layers_range,
                                                     pt2_rt_layers_resize,
                                                     /* ops13 */
                                                     pt2_rt_layers_constant};

const pt2_rt_layer_class *pt2_rt_find_layer_class(const char *name) {
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        for (const pt2_rt_layer_class *c = families[f]; c->name; c++)
            if (!strcmp(c->name, name)) return c;
    return NULL;
}

int pt2_rt_layer_reads_source_data(const char *layer_class) {
    /* These two read their source's dims and sequence lengths, never its values. */
    return strcmp(layer_class, "range_in_axis") && strcmp(layer_class, "length");
}

pt2_status pt2_rt_layer_fail(const pt2_rt_layer *layer, pt2_error *err, const char *fmt, ...) {
    char message[768];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    return pt2_fail(err, PT2_ERR_UNSUPPORTED, "layer '%s' (class %s): %s", layer->name, layer->layer_class, message);
}

pt2_status pt2_rt_single_input(const pt2_rt_layer *layer, size_t num_inputs, pt2_error *err) {
    return num_inputs == 1 ? PT2_OK : pt2_rt_layer_fail(layer, err, "expected one source, got %zu", num_inputs);
}

pt2_status pt2_rt_infer_layer(pt2_arena *arena, pt2_rt_net *net, pt2_rt_layer *layer, const pt2_rt_shape *inputs,
                              size_t num_inputs, pt2_error *err) {
    const pt2_rt_layer_class *c = pt2_rt_find_layer_class(layer->layer_class);
    if (!c) return pt2_rt_layer_fail(layer, err, "this layer class is not known to pt2returnn");
    pt2_rt_shape out;
    memset(&out, 0, sizeof out);
    out.feature_dim = out.sparse_dim = -1;
    out.dtype = PT2_DTYPE_FLOAT32;
    pt2_status st = c->infer(arena, net, layer, inputs, num_inputs, &out, err);
    if (!st) layer->shape = out;
    return st;
}

pt2_status pt2_rt_compute_layer(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                const pt2_rt_tensor *inputs, size_t num_inputs, pt2_rt_tensor *out, pt2_error *err) {
    const pt2_rt_layer_class *c = pt2_rt_find_layer_class(layer->layer_class);
    if (!c) return pt2_rt_layer_fail(layer, err, "this layer class is not known to pt2returnn");
    out->shape = layer->shape;
    out->writable = 0; /* the caller's to say (a run's value at its last reader) */
    return c->compute(arena, net, layer, inputs, num_inputs, &out->tensor, err);
}

static pt2_status arrange(pt2_arena *arena, const pt2_rt_tensor *in, int rank, const int *dims, int always_copy,
                          pt2_tensor *out, pt2_error *err);

pt2_status pt2_rt_transpose_to(pt2_arena *arena, const pt2_rt_tensor *in, int rank, const int *dims, pt2_tensor *out,
                               pt2_error *err) {
    return arrange(arena, in, rank, dims, 1, out, err);
}

pt2_status pt2_rt_view_to(pt2_arena *arena, const pt2_rt_tensor *in, int rank, const int *dims, pt2_tensor *out,
                          pt2_error *err) {
    return arrange(arena, in, rank, dims, 0, out, err);
}

pt2_status pt2_rt_strided_view(const pt2_rt_tensor *in, int rank, const int *dims, pt2_tensor *out, pt2_error *err) {
    pt2_tensor view = in->tensor;
    view.rank = rank;
    int used = 0;
    for (int a = 0; a < rank; a++) {
        int source = pt2_rt_shape_axis(&in->shape, dims[a]);
        if (source < 0 || source >= in->tensor.rank) {
            /* A broadcast axis: size 1. */
            view.shape[a] = 1;
            view.strides[a] = 0;
            continue;
        }
        used++;
        view.shape[a] = in->tensor.shape[source];
        view.strides[a] = in->tensor.strides[source];
    }
    if (used != in->tensor.rank) {
        /* Axes of the input that the target lacks must be of size 1. */
        for (int b = 0; b < in->tensor.rank; b++) {
            int found = 0;
            for (int a = 0; a < rank; a++) found |= dims[a] == in->shape.dims[b];
            if (!found && in->tensor.shape[b] != 1)
                return pt2_fail(err, PT2_ERR_INTERNAL, "an axis of size %lld is missing when mapping RETURNN axes",
                                (long long)in->tensor.shape[b]);
        }
    }
    *out = view;
    return PT2_OK;
}

static pt2_status arrange(pt2_arena *arena, const pt2_rt_tensor *in, int rank, const int *dims, int always_copy,
                          pt2_tensor *out, pt2_error *err) {
    pt2_tensor view;
    pt2_status st = pt2_rt_strided_view(in, rank, dims, &view, err);
    return st ? st : pt2_tensor_contiguous(arena, &view, always_copy, out, err);
}

pt2_status pt2_rt_alloc_output(pt2_arena *arena, const pt2_rt_shape *shape, const int64_t *sizes, pt2_tensor *out,
                               pt2_error *err) {
    return pt2_tensor_alloc(arena, shape->dtype == PT2_DTYPE_INVALID ? PT2_DTYPE_FLOAT32 : shape->dtype, shape->rank,
                            sizes, out, err);
}

pt2_status pt2_rt_alloc_output_uninit(pt2_arena *arena, const pt2_rt_shape *shape, const int64_t *sizes,
                                      pt2_tensor *out, pt2_error *err) {
    return pt2_tensor_alloc_uninit(arena, shape->dtype == PT2_DTYPE_INVALID ? PT2_DTYPE_FLOAT32 : shape->dtype,
                                   shape->rank, sizes, out, err);
}
