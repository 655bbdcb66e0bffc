/* The eval forms "prod_feature" and "prod_time" (core/returnn/layers_elementwise.c):
 * tf.reduce_prod over the source's feature axis, or over its time axis with the frames past each
 * sequence's end replaced by 1 (tf.where on the sequence mask), kept as a size-1 axis and
 * multiplied by ones_like(source): every position of the axis holds the product. The product is
 * taken in double and rounded once (TF multiplies in float32: a few ulps apart at most). */
#include <string.h>

#include "layers.h"

pt2_status pt2_rt_prod_broadcast(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                 const pt2_rt_tensor *in, int over_time, pt2_tensor *out, pt2_error *err) {
    int axis = over_time ? pt2_rt_shape_time_axis(net, &layer->shape) : pt2_rt_shape_axis(&layer->shape, layer->shape.feature_dim);
    if (axis < 0) return pt2_rt_layer_fail(layer, err, "the source has no %s axis", over_time ? "time" : "feature");
    pt2_tensor x;
    pt2_status st = pt2_rt_transpose_to(arena, in, layer->shape.rank, layer->shape.dims, &x, err);
    if (!st) st = pt2_rt_alloc_output_uninit(arena, &layer->shape, x.shape, out, err);
    if (st) return st;
    int batch_axis = -1;
    for (int a = 0; a < layer->shape.rank; a++)
        if (net->dims[layer->shape.dims[a]].kind == PT2_RT_DIM_BATCH) batch_axis = a;
    int64_t outer = 1, n = x.shape[axis], inner = 1;
    for (int a = 0; a < axis; a++) outer *= x.shape[a];
    for (int a = axis + 1; a < x.rank; a++) inner *= x.shape[a];
    const float *px = pt2_tensor_data(&x);
    float *po = pt2_tensor_data(out);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t length = n;
            if (over_time && batch_axis >= 0) {
                /* the batch entry of this row: its coordinate on the batch axis */
                int64_t flat = o * n * inner + i, stride = 1;
                for (int a = x.rank - 1; a > batch_axis; a--) stride *= x.shape[a];
                length = pt2_rt_sequence_length(net, layer->shape.dims[axis], (flat / stride) % x.shape[batch_axis], n);
            }
            double product = 1;
            for (int64_t t = 0; t < length; t++) product *= px[(o * n + t) * inner + i];
            for (int64_t t = 0; t < n; t++) po[(o * n + t) * inner + i] = (float)product;
        }
    return PT2_OK;
}
