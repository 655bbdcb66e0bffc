/* cumsum: RETURNN's CumsumLayer outside a rec loop, tf.cumsum along the named `axis` (reverse
 * False). Frames past a sequence's end only follow the last real one, so nothing is masked. */
#include <string.h>

#include "layers.h"

static pt2_status cumsum_axis(const pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *in, int *dim,
                              pt2_error *err) {
    if (pt2_rt_int_option(layer, "reverse", 0) || pt2_rt_get_option(layer, "additional_left_summand_per_element"))
        return pt2_rt_layer_fail(layer, err, "cumsum is interpreted without reverse or additional_left_summand_per_element");
    if (in->dtype != PT2_DTYPE_FLOAT32 && in->dtype != PT2_DTYPE_INT64 && in->dtype != PT2_DTYPE_INVALID)
        return pt2_rt_layer_fail(layer, err, "cumsum is interpreted on float32 and int64 sources");
    return pt2_rt_resolve_axis(net, in, pt2_rt_string_option(layer, "axis", "T"), dim, err);
}

static pt2_status cumsum_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *inputs,
                               size_t num_inputs, pt2_rt_shape *out, pt2_error *err) {
    (void)arena;
    int dim;
    pt2_status st = pt2_rt_single_input(layer, num_inputs, err);
    if (!st) st = cumsum_axis(net, layer, &inputs[0], &dim, err);
    if (st) return st;
    *out = inputs[0];
    return PT2_OK;
}

static pt2_status cumsum_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                 const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *out, pt2_error *err) {
    (void)num_inputs;
    int dim;
    pt2_status st = cumsum_axis(net, layer, &inputs[0].shape, &dim, err);
    if (!st) st = pt2_rt_transpose_to(arena, &inputs[0], layer->shape.rank, layer->shape.dims, out, err);
    if (st) return st;
    int axis = pt2_rt_shape_axis(&layer->shape, dim);
    int64_t outer = 1, n = out->shape[axis], inner = 1;
    for (int a = 0; a < axis; a++) outer *= out->shape[a];
    for (int a = axis + 1; a < out->rank; a++) inner *= out->shape[a];
    /* transpose_to may return the source's own data: write into a copy. */
    pt2_tensor y;
    if ((st = pt2_tensor_alloc(arena, out->dtype, out->rank, out->shape, &y, err))) return st;
    /* TF accumulates in the data's type */
#define CUMSUM(T)                                                                                                      \
    do {                                                                                                               \
        const T *px = pt2_tensor_data(out);                                                                            \
        T *py = pt2_tensor_data(&y);                                                                                   \
        for (int64_t o = 0; o < outer; o++)                                                                            \
            for (int64_t i = 0; i < inner; i++) {                                                                      \
                T sum = 0;                                                                                             \
                for (int64_t t = 0; t < n; t++) {                                                                      \
                    sum += px[(o * n + t) * inner + i];                                                                \
                    py[(o * n + t) * inner + i] = sum;                                                                 \
                }                                                                                                      \
            }                                                                                                          \
    } while (0)
    if (out->dtype == PT2_DTYPE_INT64) CUMSUM(int64_t);
    else CUMSUM(float);
#undef CUMSUM
    *out = y;
    return PT2_OK;
}

const pt2_rt_layer_class pt2_rt_layers_cumsum[] = {{"cumsum", cumsum_infer, cumsum_compute}, {NULL, NULL, NULL}};
