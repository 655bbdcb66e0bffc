/* The eval form "linear_align_corners_time" (core/lower/lower_resize.c): on a nearest upsampling
 * by f of the time (frame j is input frame floor(j / f), so input frame i is frame i f), each
 * sequence of n = length / f input frames interpolated linearly with align_corners=True, as
 * PyTorch's upsample_linear1d: source s = j * ((n - 1) / (n f - 1)) (float32, the scale first),
 * frame i = floor(s) (at most n - 1), weight w = s - i, out = x[i] (1 - w) + x[min(i + 1, n - 1)] w.
 * Frames past a sequence's end are computed as the TF expression computes them (not read). */
#include <math.h>
#include <string.h>

#include "layers.h"

pt2_status pt2_rt_linear_align_corners_time(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                            const pt2_rt_tensor *in, int64_t factor, pt2_tensor *out, pt2_error *err) {
    int time_axis = pt2_rt_shape_time_axis(net, &layer->shape), batch_axis = -1;
    for (int a = 0; a < layer->shape.rank; a++)
        if (net->dims[layer->shape.dims[a]].kind == PT2_RT_DIM_BATCH) batch_axis = a;
    if (time_axis < 0 || batch_axis < 0 || factor < 1) return pt2_rt_layer_fail(layer, err, "expected batch and time axes and a factor");
    pt2_tensor x; /* the input in the layer's order, read only */
    pt2_status st = pt2_rt_view_to(arena, in, layer->shape.rank, layer->shape.dims, &x, err);
    if (!st) st = pt2_tensor_alloc_uninit(arena, x.dtype, x.rank, x.shape, out, err);
    if (st) return st;
    if (x.dtype != PT2_DTYPE_FLOAT32) return pt2_rt_layer_fail(layer, err, "float32 is interpreted");
    int64_t time = x.shape[time_axis], time_step = 1, batch_step = 1, total = pt2_tensor_numel(&x);
    for (int a = time_axis + 1; a < x.rank; a++) time_step *= x.shape[a];
    for (int a = batch_axis + 1; a < x.rank; a++) batch_step *= x.shape[a];
    const float *px = pt2_tensor_data(&x);
    float *po = pt2_tensor_data(out);
    for (int64_t flat = 0; flat < total; flat++) {
        int64_t t = flat / time_step % time, b = flat / batch_step % x.shape[batch_axis];
        int64_t n = pt2_rt_sequence_length(net, layer->shape.dims[time_axis], b, time) / factor;
        int64_t last = n - 1 > 0 ? n - 1 : 0, denominator = n * factor - 1 > 1 ? n * factor - 1 : 1;
        float scale = (float)(n - 1) / (float)denominator;
        float s = (float)t * scale, fl = floorf(s), w = s - fl;
        int64_t i = (int64_t)fl < last ? (int64_t)fl : last, i1 = i + 1 < last ? i + 1 : last;
        float a = px[flat + (i * factor - t) * time_step], c = px[flat + (i1 * factor - t) * time_step];
        po[flat] = a * (1.0f - w) + c * w;
    }
    return PT2_OK;
}
