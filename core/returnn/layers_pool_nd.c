/* pool over one or two spatial dims (in_spatial_dims, in pool_size order; the time axis when the
 * option is absent), mode max or avg, as RETURNN's PoolLayer computes it with tf.nn.pool:
 *   - padding "valid": windows inside the data only;
 *   - padding "same": ceil(n / stride) windows, the total padding max((out-1)*s + k - n, 0) split
 *     with the smaller half before (TF); max ignores padded places, avg divides by the places
 *     inside the data (TF's SAME pooling);
 *   - padding p (int): the data padded by p on both sides of each spatial dim with -inf (max) or
 *     0 (avg, which then counts the padding, as RETURNN pads before a VALID pool).
 * use_time_mask: the places after each sequence's end of a dynamic spatial dim read as -inf (max)
 * or 0 (avg, still counted as places of the data), RETURNN's mask values.
 * Every dim other than the spatial dims and the feature is a batch dim. */
#include <math.h>
#include <string.h>

#include "layers.h"

#define MAX_POOL_DIMS 2

typedef struct pool_spec {
    int n;                       /* spatial dims */
    int spatial[MAX_POOL_DIMS];  /* their net dims */
    int64_t kernel[MAX_POOL_DIMS], stride[MAX_POOL_DIMS], dilation[MAX_POOL_DIMS];
    int same;                    /* padding "same" */
    int64_t pad;                 /* integer padding (0 for "valid") */
    int max;
} pool_spec;

static int64_t item(const pt2_rt_value *v, int i, int64_t fallback) {
    if (!v) return fallback;
    if (v->kind == PT2_RT_INT) return v->int_value;
    if (v->kind == PT2_RT_LIST && (size_t)i < v->count && v->items[i].kind == PT2_RT_INT) return v->items[i].int_value;
    return fallback;
}

static pt2_status read_spec(const pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *in, pool_spec *p,
                            pt2_error *err) {
    const pt2_rt_value *spatial = pt2_rt_get_option(layer, "in_spatial_dims");
    const pt2_rt_value *sizes = pt2_rt_get_option(layer, "pool_size"), *strides = pt2_rt_get_option(layer, "strides");
    const pt2_rt_value *dilation = pt2_rt_get_option(layer, "dilation_rate"), *padding = pt2_rt_get_option(layer, "padding");
    const char *mode = pt2_rt_string_option(layer, "mode", "");
    memset(p, 0, sizeof *p);
    p->max = !strcmp(mode, "max");
    if (!p->max && strcmp(mode, "avg")) return pt2_rt_layer_fail(layer, err, "mode must be \"max\" or \"avg\", not \"%s\"", mode);
    if (!sizes || (sizes->kind != PT2_RT_LIST && sizes->kind != PT2_RT_INT))
        return pt2_rt_layer_fail(layer, err, "pool_size is missing");
    p->n = sizes->kind == PT2_RT_LIST ? (int)sizes->count : 1;
    if (p->n < 1 || p->n > MAX_POOL_DIMS) return pt2_rt_layer_fail(layer, err, "pooling over %d dims is not interpreted", p->n);
    if (spatial) {
        if (spatial->kind != PT2_RT_LIST || (int)spatial->count != p->n)
            return pt2_rt_layer_fail(layer, err, "in_spatial_dims must name as many axes as pool_size has");
        for (int i = 0; i < p->n; i++) {
            if (spatial->items[i].kind != PT2_RT_STRING) return pt2_rt_layer_fail(layer, err, "in_spatial_dims must name axes");
            pt2_status st = pt2_rt_resolve_axis(net, in, spatial->items[i].string, &p->spatial[i], err);
            if (st) return st;
        }
    } else {
        int axis = pt2_rt_shape_time_axis(net, in);
        if (p->n != 1 || axis < 0) return pt2_rt_layer_fail(layer, err, "without in_spatial_dims, pool acts on the time axis");
        p->spatial[0] = in->dims[axis];
    }
    for (int i = 0; i < p->n; i++) {
        p->kernel[i] = item(sizes, i, -1);
        p->stride[i] = item(strides, i, p->kernel[i]);
        p->dilation[i] = item(dilation, i, 1);
        if (p->kernel[i] < 1 || p->stride[i] < 1 || p->dilation[i] < 1)
            return pt2_rt_layer_fail(layer, err, "pool_size, strides and dilation_rate must be positive");
        if (p->spatial[i] == in->feature_dim) return pt2_rt_layer_fail(layer, err, "the feature dim cannot be pooled over");
    }
    if (padding && padding->kind == PT2_RT_STRING && !strcmp(padding->string, "valid")) p->pad = 0;
    else if (padding && padding->kind == PT2_RT_STRING && !strcmp(padding->string, "same")) p->same = 1;
    else if (padding && padding->kind == PT2_RT_INT && padding->int_value >= 0) p->pad = padding->int_value;
    else return pt2_rt_layer_fail(layer, err, "padding must be \"valid\", \"same\" or a non-negative int");
    if (p->same && p->dilation[0] * p->dilation[p->n - 1] != 1)
        return pt2_rt_layer_fail(layer, err, "padding \"same\" is interpreted without dilation");
    return PT2_OK;
}

static int64_t span(const pool_spec *p, int i) { return p->dilation[i] * (p->kernel[i] - 1) + 1; }

/* Output length and the padding before the first window, for input length n. */
static void out_length(const pool_spec *p, int i, int64_t n, int64_t *out, int64_t *before) {
    if (p->same) {
        *out = (n + p->stride[i] - 1) / p->stride[i];
        int64_t total = (*out - 1) * p->stride[i] + p->kernel[i] - n;
        *before = total > 0 ? total / 2 : 0;
    } else {
        int64_t padded = n + 2 * p->pad - span(p, i);
        *out = padded >= 0 ? padded / p->stride[i] + 1 : 0;
        *before = p->pad;
    }
}

static pt2_status pool_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *inputs,
                             size_t num_inputs, pt2_rt_shape *out, pt2_error *err) {
    pool_spec p;
    pt2_status st = pt2_rt_single_input(layer, num_inputs, err);
    if (!st) st = read_spec(net, layer, &inputs[0], &p, err);
    if (st) return st;
    /* The output: the source's other dims in their order, then the pooled dims in
     * in_spatial_dims order (compute finds them there whatever order its source comes in). */
    int pooled[MAX_POOL_DIMS];
    for (int i = 0; i < p.n; i++) {
        const pt2_rt_dim *d = &net->dims[p.spatial[i]];
        const char *description = pt2_arena_printf(arena, err, "%s:conv:s%d", layer->name, i);
        int derived;
        if (!description) return err->status;
        if (d->kind == PT2_RT_DIM_DYNAMIC && p.same)
            st = pt2_rt_derive_dim(arena, net, p.spatial[i], 1, 0, p.stride[i], description, &derived, err);
        else if (d->kind == PT2_RT_DIM_DYNAMIC)
            st = pt2_rt_derive_dim(arena, net, p.spatial[i], 1, 2 * p.pad - span(&p, i) + 1, p.stride[i], description, &derived, err);
        else if (d->kind == PT2_RT_DIM_STATIC) {
            int64_t n, before;
            out_length(&p, i, d->size, &n, &before);
            if (n < 1) return pt2_rt_layer_fail(layer, err, "spatial axis '%s' does not fit the window", d->description);
            st = pt2_rt_add_dim(arena, net, description, PT2_RT_DIM_STATIC, n, &derived, err);
        } else return pt2_rt_layer_fail(layer, err, "the batch cannot be pooled over");
        if (st) return st;
        pooled[i] = derived;
    }
    *out = inputs[0];
    out->rank = 0;
    for (int a = 0; a < inputs[0].rank; a++)
        if (inputs[0].dims[a] != p.spatial[0] && inputs[0].dims[a] != p.spatial[p.n - 1]) out->dims[out->rank++] = inputs[0].dims[a];
    for (int i = 0; i < p.n; i++) out->dims[out->rank++] = pooled[i];
    return PT2_OK;
}

static pt2_status pool_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                               const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *out, pt2_error *err) {
    (void)num_inputs;
    pool_spec p;
    pt2_status st = read_spec(net, layer, &inputs[0].shape, &p, err);
    if (st) return st;
    /* The source as [every other axis (in the output's order), spatial dims...]; the output's
     * spatial dims are those at the source's spatial axes' places. */
    int order[PT2_MAX_RANK], out_order[PT2_MAX_RANK], rank = 0;
    const pt2_rt_shape *in = &inputs[0].shape;
    for (int a = 0; a < layer->shape.rank; a++) {
        int d = layer->shape.dims[a];
        if (pt2_rt_shape_axis(in, d) >= 0) order[rank] = out_order[rank] = d, rank++;
    }
    int outer_rank = rank;
    for (int i = 0; i < p.n; i++) {
        order[rank] = p.spatial[i];
        out_order[rank++] = layer->shape.dims[layer->shape.rank - p.n + i];
    }
    if (outer_rank + p.n != in->rank) return pt2_rt_layer_fail(layer, err, "the output's dims do not follow the source's");
    pt2_tensor x;
    if ((st = pt2_rt_transpose_to(arena, &inputs[0], rank, order, &x, err))) return st;
    int64_t outer = 1, len[MAX_POOL_DIMS] = {1, 1}, olen[MAX_POOL_DIMS] = {1, 1}, before[MAX_POOL_DIMS] = {0, 0};
    int64_t kernel[MAX_POOL_DIMS] = {1, 1}, stride[MAX_POOL_DIMS] = {1, 1}, dil[MAX_POOL_DIMS] = {1, 1};
    for (int a = 0; a < outer_rank; a++) outer *= x.shape[a];
    for (int i = 0; i < p.n; i++) {
        len[i] = x.shape[outer_rank + i];
        out_length(&p, i, len[i], &olen[i], &before[i]);
        kernel[i] = p.kernel[i], stride[i] = p.stride[i], dil[i] = p.dilation[i];
    }
    int64_t sizes[PT2_MAX_RANK];
    memcpy(sizes, x.shape, sizeof(int64_t) * (size_t)outer_rank);
    for (int i = 0; i < p.n; i++) sizes[outer_rank + i] = olen[i];
    pt2_tensor natural;
    if ((st = pt2_tensor_alloc(arena, PT2_DTYPE_FLOAT32, rank, sizes, &natural, err))) return st;
    const float *px = pt2_tensor_data(&x);
    float *po = pt2_tensor_data(&natural);
    int mask = (int)pt2_rt_int_option(layer, "use_time_mask", 0), batch_axis = -1;
    int64_t after_batch = 1;
    for (int a = 0; a < outer_rank; a++)
        if (net->dims[order[a]].kind == PT2_RT_DIM_BATCH) batch_axis = a;
    for (int a = batch_axis + 1; a < outer_rank; a++) after_batch *= x.shape[a];
    for (int64_t o = 0; o < outer; o++) {
        int64_t b = batch_axis >= 0 ? (o / after_batch) % x.shape[batch_axis] : 0, end[MAX_POOL_DIMS] = {1, 1};
        for (int i = 0; i < p.n; i++) end[i] = mask ? pt2_rt_sequence_length(net, p.spatial[i], b, len[i]) : len[i];
        for (int64_t i = 0; i < olen[0]; i++)
            for (int64_t j = 0; j < olen[1]; j++) {
                double v = p.max ? -INFINITY : 0.0;
                int64_t inside = 0;
                for (int64_t a = 0; a < kernel[0]; a++) {
                    int64_t y = i * stride[0] + a * dil[0] - before[0];
                    if (y < 0 || y >= len[0]) continue;
                    for (int64_t b = 0; b < kernel[1]; b++) {
                        int64_t z = j * stride[1] + b * dil[1] - before[1];
                        if (z < 0 || z >= len[1]) continue;
                        inside++;
                        if (y >= end[0] || z >= end[1]) continue; /* masked: -inf or 0 */
                        double s = px[(o * len[0] + y) * len[1] + z];
                        v = p.max ? (s > v ? s : v) : v + s;
                    }
                }
                /* avg: TF's SAME divides by the places inside the data; a padded VALID pool
                 * divides by the whole window, padding included. */
                if (!p.max) v /= p.same ? (double)(inside ? inside : 1) : (double)(kernel[0] * kernel[1]);
                po[(o * olen[0] + i) * olen[1] + j] = (float)v;
            }
    }
    pt2_rt_tensor result = {natural, layer->shape, 0};
    result.shape.rank = rank;
    memcpy(result.shape.dims, out_order, sizeof(int) * (size_t)rank);
    return pt2_rt_transpose_to(arena, &result, layer->shape.rank, layer->shape.dims, out, err);
}

const pt2_rt_layer_class pt2_rt_layers_pool_nd[] = {{"pool", pool_infer, pool_compute}, {NULL, NULL, NULL}};
