/* Layers that change dims, as RETURNN's TF backend computes them: merge_dims (row-major flatten
 * of the listed axes in their listed order, keep_order=True), split_dims (row-major reshape of one
 * axis; a dynamic axis padded with zeros to a multiple of the static parts), expand_dims (a new
 * axis of size 1), squeeze, slice (x[start:end:step] on one axis; a dynamic axis's end counts
 * from its length), dot (batched matmul over red1/red2 with var1/var2 kept, the other dims
 * shared). Axes are named by RETURNN's axis descriptions. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../ops/kernels.h"
#include "../ops/parallel.h"
#include "layers.h"

/* RETURNN names a new dim after the layer's name in its own (sub)network: a layer in a
 * subnetwork ("enc/self/view") makes "view_split_dims0", which "stag:" options must match. */
static const char *local_name(const pt2_rt_layer *layer) {
    const char *slash = strrchr(layer->name, '/');
    return slash ? slash + 1 : layer->name;
}

static int dim_is_static(const pt2_rt_net *net, int dim) { return net->dims[dim].kind == PT2_RT_DIM_STATIC; }

/* RETURNN's default feature axis of data made from dims: the last static axis other than the
 * batch and the time (the first dynamic axis), else the last such axis at all. */
static int default_feature(const pt2_rt_net *net, const pt2_rt_shape *s) {
    int time = pt2_rt_shape_time_axis(net, s), last = -1;
    for (int a = s->rank - 1; a >= 0; a--) {
        if (a == time || net->dims[s->dims[a]].kind == PT2_RT_DIM_BATCH) continue;
        if (dim_is_static(net, s->dims[a])) return s->dims[a];
        if (last < 0) last = s->dims[a];
    }
    return last;
}

/* Two dynamic dims of one length: the same dim, or copies of one (a dim merged with a size-1 axis). */
static int root_of_copy(const pt2_rt_net *net, int d) {
    while (net->dims[d].base >= 0 && net->dims[d].mul == 1 && net->dims[d].add == 0 && net->dims[d].div == 1) d = net->dims[d].base;
    return d;
}

static pt2_status option_axis(const pt2_rt_net *net, const pt2_rt_layer *layer, const char *key, const pt2_rt_shape *in,
                              int *dim, pt2_error *err) {
    const pt2_rt_value *v = pt2_rt_get_option(layer, key);
    if (v && v->kind == PT2_RT_LIST && v->count == 1) v = &v->items[0];
    if (!v || v->kind != PT2_RT_STRING) return pt2_rt_layer_fail(layer, err, "option \"%s\" must name one axis", key);
    return pt2_rt_resolve_axis(net, in, v->string, dim, err);
}

static pt2_status option_axes(const pt2_rt_net *net, const pt2_rt_layer *layer, const char *key, const pt2_rt_shape *in,
                              int *dims, int *count, pt2_error *err) {
    const pt2_rt_value *v = pt2_rt_get_option(layer, key);
    if (v && v->kind == PT2_RT_STRING) {
        *count = 1;
        return pt2_rt_resolve_axis(net, in, v->string, &dims[0], err);
    }
    if (!v || v->kind != PT2_RT_LIST || v->count > PT2_MAX_RANK) return pt2_rt_layer_fail(layer, err, "option \"%s\" must list axes", key);
    *count = (int)v->count;
    for (size_t i = 0; i < v->count; i++) {
        if (v->items[i].kind != PT2_RT_STRING) return pt2_rt_layer_fail(layer, err, "option \"%s\" must list axis names", key);
        pt2_status st = pt2_rt_resolve_axis(net, in, v->items[i].string, &dims[i], err);
        if (st) return st;
    }
    return PT2_OK;
}

/* The tensor's data in the order `dims`, contiguous, then viewed with the layer's output sizes. */
static pt2_status reorder_and_reshape(pt2_arena *arena, const pt2_rt_layer *layer, const pt2_rt_tensor *in, int rank,
                                      const int *dims, const int64_t *out_sizes, pt2_tensor *out, pt2_error *err) {
    pt2_tensor x;
    pt2_status st = pt2_rt_transpose_to(arena, in, rank, dims, &x, err);
    if (st) return st;
    int64_t n = 1;
    for (int a = 0; a < layer->shape.rank; a++) n *= out_sizes[a];
    if (n != pt2_tensor_numel(&x)) return pt2_rt_layer_fail(layer, err, "the sizes do not match the data");
    *out = x;
    out->rank = layer->shape.rank;
    int64_t stride = 1;
    for (int a = out->rank - 1; a >= 0; a--) {
        out->shape[a] = out_sizes[a];
        out->strides[a] = stride;
        stride *= out_sizes[a];
    }
    return PT2_OK;
}

static int64_t size_of(const pt2_rt_tensor *t, int dim) {
    int a = pt2_rt_shape_axis(&t->shape, dim);
    return a >= 0 && a < t->tensor.rank ? t->tensor.shape[a] : 1;
}

/* ---- merge_dims ---- */

static pt2_status merge_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *inputs,
                              size_t num_inputs, pt2_rt_shape *out, pt2_error *err) {
    int axes[PT2_MAX_RANK], count, dynamic = -1, first = PT2_MAX_RANK;
    int64_t product = 1;
    pt2_status st = pt2_rt_single_input(layer, num_inputs, err);
    if (!st) st = option_axes(net, layer, "axes", &inputs[0], axes, &count, err);
    if (st) return st;
    if (count < 2) {
        *out = inputs[0];
        return PT2_OK;
    }
    int feature_merged = 0;
    for (int i = 0; i < count; i++) {
        const pt2_rt_dim *d = &net->dims[axes[i]];
        if (d->kind == PT2_RT_DIM_BATCH) return pt2_rt_layer_fail(layer, err, "merging the batch is not interpreted");
        if (d->kind == PT2_RT_DIM_DYNAMIC) {
            if (dynamic >= 0) return pt2_rt_layer_fail(layer, err, "merging two dynamic axes is not interpreted");
            dynamic = axes[i];
        } else product *= d->size;
        feature_merged |= axes[i] == inputs[0].feature_dim;
        int at = pt2_rt_shape_axis(&inputs[0], axes[i]);
        if (at < first) first = at;
    }
    char description[512];
    size_t used = 0;
    description[0] = 0;
    for (int i = 0; i < count && used < sizeof description; i++)
        used += (size_t)snprintf(description + used, sizeof description - used, "%s%s", i ? "*" : "", net->dims[axes[i]].description);
    const char *text = pt2_arena_strdup(arena, description, err);
    if (!text) return err->status;
    int merged;
    if (dynamic >= 0 && product == 1) {
        /* T merged with size-1 axes is a new dim of T's length (RETURNN's T*1 is not T): how a
         * second time axis of one length is made, e.g. the keys' time in attention. */
        st = pt2_rt_add_dim(arena, net, text, PT2_RT_DIM_DYNAMIC, -1, &merged, err);
        if (!st) net->dims[merged].base = dynamic;
    } else if (dynamic >= 0) st = pt2_rt_derive_dim(arena, net, dynamic, product, 0, 1, text, &merged, err);
    else st = pt2_rt_add_dim(arena, net, text, PT2_RT_DIM_STATIC, product, &merged, err);
    if (st) return st;
    *out = inputs[0];
    out->rank = 0;
    for (int a = 0; a < inputs[0].rank; a++) {
        int d = inputs[0].dims[a], is_merged = 0;
        for (int i = 0; i < count; i++) is_merged |= d == axes[i];
        if (a == first) out->dims[out->rank++] = merged;
        if (!is_merged) out->dims[out->rank++] = d;
    }
    if (feature_merged) out->feature_dim = merged;
    return PT2_OK;
}

static pt2_status merge_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *out, pt2_error *err) {
    (void)num_inputs;
    int axes[PT2_MAX_RANK], count, order[PT2_MAX_RANK], rank = 0;
    int64_t sizes[PT2_MAX_RANK];
    pt2_status st = option_axes(net, layer, "axes", &inputs[0].shape, axes, &count, err);
    if (st) return st;
    for (int a = 0; a < layer->shape.rank; a++) {
        int d = layer->shape.dims[a];
        if (pt2_rt_shape_axis(&inputs[0].shape, d) >= 0) {
            order[rank++] = d;
            sizes[a] = size_of(&inputs[0], d);
            continue;
        }
        sizes[a] = 1;
        for (int i = 0; i < count; i++) order[rank++] = axes[i], sizes[a] *= size_of(&inputs[0], axes[i]);
    }
    return reorder_and_reshape(arena, layer, &inputs[0], rank, order, sizes, out, err);
}

/* ---- split_dims ---- */

typedef struct split_spec {
    int axis_dim, count;
    int64_t parts[PT2_MAX_RANK]; /* -1: the remaining (dynamic) part */
} split_spec;

static pt2_status read_split(const pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *in, split_spec *s,
                             pt2_error *err) {
    pt2_status st = option_axis(net, layer, "axis", in, &s->axis_dim, err);
    if (st) return st;
    const pt2_rt_value *dims = pt2_rt_get_option(layer, "dims");
    if (!dims || dims->kind != PT2_RT_LIST || dims->count < 1 || dims->count > PT2_MAX_RANK)
        return pt2_rt_layer_fail(layer, err, "\"dims\" must list the sizes");
    s->count = (int)dims->count;
    int remaining = 0;
    for (int i = 0; i < s->count; i++) {
        if (dims->items[i].kind != PT2_RT_INT) return pt2_rt_layer_fail(layer, err, "\"dims\" must list ints");
        s->parts[i] = dims->items[i].int_value;
        remaining += s->parts[i] < 0;
    }
    if (remaining > 1) return pt2_rt_layer_fail(layer, err, "only one entry of \"dims\" can be -1");
    if (net->dims[s->axis_dim].kind != PT2_RT_DIM_STATIC && !remaining)
        return pt2_rt_layer_fail(layer, err, "splitting a dynamic axis needs a -1 part");
    return PT2_OK;
}

static pt2_status split_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *inputs,
                              size_t num_inputs, pt2_rt_shape *out, pt2_error *err) {
    split_spec s;
    pt2_status st = pt2_rt_single_input(layer, num_inputs, err);
    if (!st) st = read_split(net, layer, &inputs[0], &s, err);
    if (st) return st;
    const pt2_rt_dim *axis = &net->dims[s.axis_dim];
    if (axis->kind == PT2_RT_DIM_BATCH) return pt2_rt_layer_fail(layer, err, "splitting the batch is not interpreted");
    int64_t known = 1;
    for (int i = 0; i < s.count; i++)
        if (s.parts[i] > 0) known *= s.parts[i];
    int new_dims[PT2_MAX_RANK];
    for (int i = 0; i < s.count; i++) {
        const char *description = pt2_arena_printf(arena, err, "%s_split_dims%d", local_name(layer), i);
        if (!description) return err->status;
        if (s.parts[i] > 0) st = pt2_rt_add_dim(arena, net, description, PT2_RT_DIM_STATIC, s.parts[i], &new_dims[i], err);
        else if (axis->kind == PT2_RT_DIM_DYNAMIC)
            st = pt2_rt_derive_dim(arena, net, s.axis_dim, 1, 0, known, description, &new_dims[i], err);
        else {
            if (axis->size % known) return pt2_rt_layer_fail(layer, err, "%lld does not split by %lld", (long long)axis->size, (long long)known);
            st = pt2_rt_add_dim(arena, net, description, PT2_RT_DIM_STATIC, axis->size / known, &new_dims[i], err);
        }
        if (st) return st;
    }
    if (axis->kind == PT2_RT_DIM_STATIC) {
        int64_t total = 1;
        for (int i = 0; i < s.count; i++) total *= net->dims[new_dims[i]].size;
        if (total != axis->size) return pt2_rt_layer_fail(layer, err, "the parts do not multiply to %lld", (long long)axis->size);
    }
    *out = inputs[0];
    out->rank = 0;
    for (int a = 0; a < inputs[0].rank; a++) {
        if (inputs[0].dims[a] != s.axis_dim) {
            out->dims[out->rank++] = inputs[0].dims[a];
            continue;
        }
        if (out->rank + s.count - 1 > PT2_MAX_RANK) return pt2_rt_layer_fail(layer, err, "too many axes");
        for (int i = 0; i < s.count; i++) out->dims[out->rank++] = new_dims[i];
    }
    if (inputs[0].feature_dim == s.axis_dim) out->feature_dim = new_dims[s.count - 1]; /* RETURNN: the last part */
    return PT2_OK;
}

static pt2_status split_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *out, pt2_error *err) {
    (void)num_inputs;
    split_spec s;
    pt2_status st = read_split(net, layer, &inputs[0].shape, &s, err);
    if (st) return st;
    /* Source in the output's order, the split axis where its parts go. */
    int order[PT2_MAX_RANK], rank = 0, split_at = -1;
    for (int a = 0; a < layer->shape.rank; a++) {
        int d = layer->shape.dims[a];
        if (pt2_rt_shape_axis(&inputs[0].shape, d) >= 0 && d != s.axis_dim) order[rank++] = d;
        else if (split_at < 0) split_at = rank, order[rank++] = s.axis_dim;
    }
    pt2_tensor x;
    if ((st = pt2_rt_transpose_to(arena, &inputs[0], rank, order, &x, err))) return st;
    int64_t n = x.shape[split_at], known = 1;
    for (int i = 0; i < s.count; i++)
        if (s.parts[i] > 0) known *= s.parts[i];
    int64_t padded = (n + known - 1) / known * known; /* pad_to_multiples */
    int64_t sizes[PT2_MAX_RANK];
    for (int a = 0, k = 0; a < rank; a++) {
        if (a != split_at) {
            sizes[k++] = x.shape[a];
            continue;
        }
        for (int i = 0; i < s.count; i++) sizes[k++] = s.parts[i] > 0 ? s.parts[i] : padded / known;
    }
    if (padded != n) { /* zeros after the end */
        int64_t shape[PT2_MAX_RANK];
        memcpy(shape, x.shape, sizeof shape);
        shape[split_at] = padded;
        pt2_tensor p;
        if ((st = pt2_tensor_alloc(arena, x.dtype, rank, shape, &p, err))) return st;
        memset(pt2_tensor_data(&p), 0, (size_t)pt2_tensor_numel(&p) * sizeof(float));
        int64_t outer = 1, inner = 1;
        for (int a = 0; a < split_at; a++) outer *= x.shape[a];
        for (int a = split_at + 1; a < rank; a++) inner *= x.shape[a];
        const float *px = pt2_tensor_data(&x);
        float *pp = pt2_tensor_data(&p);
        for (int64_t o = 0; o < outer; o++) memcpy(pp + o * padded * inner, px + o * n * inner, sizeof(float) * (size_t)(n * inner));
        x = p;
    }
    pt2_rt_tensor source = {x, inputs[0].shape, 0};
    source.shape.rank = rank;
    memcpy(source.shape.dims, order, sizeof(int) * (size_t)rank);
    return reorder_and_reshape(arena, layer, &source, rank, order, sizes, out, err);
}

/* ---- expand_dims / squeeze ---- */

static pt2_status expand_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *inputs,
                               size_t num_inputs, pt2_rt_shape *out, pt2_error *err) {
    pt2_status st = pt2_rt_single_input(layer, num_inputs, err);
    if (st) return st;
    const char *axis = pt2_rt_string_option(layer, "axis", "");
    if (strcmp(axis, "spatial") && strcmp(axis, "T")) return pt2_rt_layer_fail(layer, err, "axis \"spatial\" or \"T\" is interpreted");
    if (pt2_rt_int_option(layer, "dim", 1) != 1) return pt2_rt_layer_fail(layer, err, "dim 1 is interpreted");
    if (inputs[0].rank == PT2_MAX_RANK) return pt2_rt_layer_fail(layer, err, "too many axes");
    const char *description = pt2_arena_printf(arena, err, "%s_expand_dims", local_name(layer));
    if (!description) return err->status;
    *out = inputs[0];
    return pt2_rt_add_dim(arena, net, description, PT2_RT_DIM_STATIC, 1, &out->dims[out->rank++], err);
}

static pt2_status same_data_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                    const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *out, pt2_error *err) {
    (void)net, (void)num_inputs;
    return pt2_rt_transpose_to(arena, &inputs[0], layer->shape.rank, layer->shape.dims, out, err);
}

static pt2_status squeeze_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *inputs,
                                size_t num_inputs, pt2_rt_shape *out, pt2_error *err) {
    (void)arena;
    int dim;
    pt2_status st = pt2_rt_single_input(layer, num_inputs, err);
    if (!st) st = option_axis(net, layer, "axis", &inputs[0], &dim, err);
    if (st) return st;
    if (net->dims[dim].kind != PT2_RT_DIM_STATIC || net->dims[dim].size != 1)
        return pt2_rt_layer_fail(layer, err, "the squeezed axis must have size 1");
    *out = inputs[0];
    out->rank = 0;
    for (int a = 0; a < inputs[0].rank; a++)
        if (inputs[0].dims[a] != dim) out->dims[out->rank++] = inputs[0].dims[a];
    if (out->feature_dim == dim) out->feature_dim = default_feature(net, out);
    return PT2_OK;
}

/* ---- slice ---- */

typedef struct slice_spec {
    int dim;
    int64_t start, end, step;
    int has_end;
} slice_spec;

static pt2_status read_slice(const pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *in, slice_spec *s,
                             pt2_error *err) {
    pt2_status st = option_axis(net, layer, "axis", in, &s->dim, err);
    if (st) return st;
    const pt2_rt_value *end = pt2_rt_get_option(layer, "slice_end");
    s->start = pt2_rt_int_option(layer, "slice_start", 0);
    s->step = pt2_rt_int_option(layer, "slice_step", 1);
    s->has_end = end && end->kind == PT2_RT_INT;
    s->end = s->has_end ? end->int_value : 0;
    /* slice_step -1 with no start or end is x[::-1]: a static axis reversed (flip). */
    if (s->step == -1 && !pt2_rt_get_option(layer, "slice_start") && !s->has_end) {
        if (net->dims[s->dim].kind != PT2_RT_DIM_STATIC) return pt2_rt_layer_fail(layer, err, "reversing a dynamic axis by a slice is not interpreted");
        return PT2_OK;
    }
    if (s->start < 0 || s->step < 1) return pt2_rt_layer_fail(layer, err, "slice_start >= 0 and slice_step >= 1 are interpreted");
    return PT2_OK;
}

static pt2_status slice_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *inputs,
                              size_t num_inputs, pt2_rt_shape *out, pt2_error *err) {
    slice_spec s;
    pt2_status st = pt2_rt_single_input(layer, num_inputs, err);
    if (!st) st = read_slice(net, layer, &inputs[0], &s, err);
    if (st) return st;
    if (s.step == -1) { /* a reversal keeps the dim (RETURNN: ceildiv_right(1) is the dim itself) */
        *out = inputs[0];
        return PT2_OK;
    }
    const pt2_rt_dim *d = &net->dims[s.dim];
    int dim;
    const char *description = pt2_arena_printf(arena, err, "%s:slice", local_name(layer));
    if (!description) return err->status;
    if (d->kind == PT2_RT_DIM_DYNAMIC && s.has_end && s.end >= 0) {
        /* [start, end) of a dynamic axis: RETURNN's new dim of end - start entries (static). */
        int64_t n = s.end > s.start ? (s.end - s.start + s.step - 1) / s.step : 0;
        if (n < 1) return pt2_rt_layer_fail(layer, err, "the slice is empty");
        const char *end_description = pt2_arena_printf(arena, err, "%s:slice-end", local_name(layer));
        if (!end_description) return err->status;
        st = pt2_rt_add_dim(arena, net, end_description, PT2_RT_DIM_STATIC, n, &dim, err);
    } else if (d->kind == PT2_RT_DIM_DYNAMIC) {
        st = pt2_rt_derive_dim(arena, net, s.dim, 1, (s.has_end ? s.end : 0) - s.start, s.step, description, &dim, err);
    } else if (d->kind == PT2_RT_DIM_STATIC) {
        int64_t end = s.has_end ? (s.end < 0 ? s.end + d->size : s.end) : d->size;
        if (end > d->size) end = d->size;
        int64_t n = end > s.start ? (end - s.start + s.step - 1) / s.step : 0;
        if (n < 1) return pt2_rt_layer_fail(layer, err, "the slice is empty");
        if (n == d->size) dim = s.dim;
        else st = pt2_rt_add_dim(arena, net, s.has_end && s.end >= 0 ? pt2_arena_printf(arena, err, "%s:slice-end", local_name(layer)) : description,
                                 PT2_RT_DIM_STATIC, n, &dim, err);
    } else return pt2_rt_layer_fail(layer, err, "slicing the batch is not interpreted");
    if (st) return st;
    *out = inputs[0];
    out->dims[pt2_rt_shape_axis(out, s.dim)] = dim;
    if (out->feature_dim == s.dim) out->feature_dim = dim;
    return PT2_OK;
}

/* x[::-1] on axis `at` of a contiguous tensor. */
static pt2_status reverse_axis(pt2_arena *arena, const pt2_tensor *x, int at, pt2_tensor *out, pt2_error *err) {
    pt2_status st = pt2_tensor_contiguous(arena, x, 1, out, err);
    if (st) return st;
    int64_t outer = 1, n = x->shape[at], inner = 1;
    for (int a = 0; a < at; a++) outer *= x->shape[a];
    for (int a = at + 1; a < x->rank; a++) inner *= x->shape[a];
    size_t item = pt2_dtype_size(x->dtype);
    const unsigned char *src = pt2_tensor_data(x);
    unsigned char *dst = pt2_tensor_data(out);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < n; i++)
            memcpy(dst + ((o * n + i) * inner) * item, src + ((o * n + n - 1 - i) * inner) * item, (size_t)inner * item);
    return PT2_OK;
}

static pt2_status slice_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *out, pt2_error *err) {
    (void)num_inputs;
    slice_spec s;
    pt2_status st = read_slice(net, layer, &inputs[0].shape, &s, err);
    if (st) return st;
    int order[PT2_MAX_RANK], at = -1;
    for (int a = 0; a < layer->shape.rank; a++) {
        int d = layer->shape.dims[a];
        if (pt2_rt_shape_axis(&inputs[0].shape, d) >= 0 && d != s.dim) order[a] = d;
        else at = a, order[a] = s.dim;
    }
    if (at < 0) return pt2_rt_layer_fail(layer, err, "the sliced axis is not found");
    pt2_tensor x;
    if (s.step == -1) {
        if ((st = pt2_rt_transpose_to(arena, &inputs[0], layer->shape.rank, order, &x, err))) return st;
        return reverse_axis(arena, &x, at, out, err);
    }
    /* A view of the source in any strides (a result may have any): never a copy. */
    if ((st = pt2_rt_strided_view(&inputs[0], layer->shape.rank, order, &x, err))) return st;
    int64_t n = x.shape[at];
    int64_t end = s.has_end ? (s.end < 0 ? s.end + n : s.end) : n;
    if (end > n) end = n;
    int64_t count = end > s.start ? (end - s.start + s.step - 1) / s.step : 0;
    pt2_tensor view = x;
    view.shape[at] = count;
    view.storage_offset += s.start * x.strides[at];
    view.strides[at] = x.strides[at] * s.step;
    *out = view;
    return PT2_OK;
}

/* ---- dot ---- */

typedef struct dot_spec {
    int red1[PT2_MAX_RANK], red2[PT2_MAX_RANK], var1[PT2_MAX_RANK], var2[PT2_MAX_RANK];
    int num_red1, num_red2, num_var1, num_var2;
    int shared[PT2_MAX_RANK], shared_b[PT2_MAX_RANK], num_shared;
} dot_spec;

static int in_list(const int *list, int n, int d) {
    for (int i = 0; i < n; i++)
        if (list[i] == d) return 1;
    return 0;
}

static pt2_status read_dot(const pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *a, const pt2_rt_shape *b,
                           dot_spec *s, pt2_error *err) {
    pt2_status st = option_axes(net, layer, "red1", a, s->red1, &s->num_red1, err);
    if (!st) st = option_axes(net, layer, "red2", b, s->red2, &s->num_red2, err);
    if (!st) st = option_axes(net, layer, "var1", a, s->var1, &s->num_var1, err);
    if (!st) st = option_axes(net, layer, "var2", b, s->var2, &s->num_var2, err);
    if (st) return st;
    if (s->num_red1 != s->num_red2) return pt2_rt_layer_fail(layer, err, "red1 and red2 differ in length");
    /* The other dims are shared: matched by identity, else (as RETURNN's find_matching_dim_map)
     * by an equal static size; the output has the first source's. */
    s->num_shared = 0;
    int used[PT2_MAX_RANK] = {0};
    for (int i = 0; i < b->rank; i++)
        used[i] = in_list(s->red2, s->num_red2, b->dims[i]) || in_list(s->var2, s->num_var2, b->dims[i]);
    for (int i = 0; i < a->rank; i++) {
        int d = a->dims[i], match = pt2_rt_shape_axis(b, d);
        if (in_list(s->red1, s->num_red1, d) || in_list(s->var1, s->num_var1, d)) continue;
        if (match >= 0 && used[match]) match = -1;
        for (int j = 0; j < b->rank && match < 0; j++)
            if (!used[j] && dim_is_static(net, d) && dim_is_static(net, b->dims[j]) && net->dims[d].size == net->dims[b->dims[j]].size)
                match = j;
        if (match < 0)
            return pt2_rt_layer_fail(layer, err, "dim '%s' of the first source is not shared with the second", net->dims[d].description);
        used[match] = 1;
        s->shared[s->num_shared] = d;
        s->shared_b[s->num_shared++] = b->dims[match];
    }
    if (s->num_shared + s->num_red2 + s->num_var2 != b->rank)
        return pt2_rt_layer_fail(layer, err, "the second source has dims that are neither shared, reduced nor kept");
    return PT2_OK;
}

static pt2_status dot_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *inputs,
                            size_t num_inputs, pt2_rt_shape *out, pt2_error *err) {
    (void)arena;
    dot_spec s;
    if (num_inputs != 2) return pt2_rt_layer_fail(layer, err, "expected two sources");
    pt2_status st = read_dot(net, layer, &inputs[0], &inputs[1], &s, err);
    if (st) return st;
    for (int i = 0; i < s.num_red1; i++) {
        const pt2_rt_dim *x = &net->dims[s.red1[i]], *y = &net->dims[s.red2[i]];
        int same_static = x->kind == PT2_RT_DIM_STATIC && y->kind == PT2_RT_DIM_STATIC && x->size == y->size;
        int same_dynamic = x->kind == PT2_RT_DIM_DYNAMIC && root_of_copy(net, s.red1[i]) == root_of_copy(net, s.red2[i]);
        if (s.red1[i] != s.red2[i] && !same_static && !same_dynamic)
            return pt2_rt_layer_fail(layer, err, "reduced dims '%s' and '%s' differ", x->description, y->description);
    }
    out->rank = 0;
    for (int i = 0; i < s.num_shared; i++) out->dims[out->rank++] = s.shared[i];
    for (int i = 0; i < s.num_var1; i++) out->dims[out->rank++] = s.var1[i];
    for (int i = 0; i < s.num_var2; i++) out->dims[out->rank++] = s.var2[i];
    for (int i = 0; i < out->rank; i++)
        for (int j = 0; j < i; j++)
            if (out->dims[i] == out->dims[j]) return pt2_rt_layer_fail(layer, err, "dim '%s' would be in the output twice", net->dims[out->dims[i]].description);
    out->dtype = inputs[0].dtype;
    out->feature_dim = default_feature(net, out);
    return PT2_OK;
}

/* The dot's products, one per shared index, split over threads: piece p takes p, p + pieces, ... */
typedef struct products_job {
    const float *a, *b;
    float *c, *scratch; /* scratch: one per piece */
    size_t scratch_floats;
    int64_t m, n, k, count, pieces;
} products_job;

static void multiply_products(void *context, size_t piece) {
    const products_job *j = context;
    float *scratch = j->scratch + piece * j->scratch_floats;
    for (int64_t q = (int64_t)piece; q < j->count; q += j->pieces) {
        pt2_matrix_view av = {j->a + q * j->m * j->k, j->k, 1}, bv = {j->b + q * j->k * j->n, j->n, 1};
        pt2_gemm_matrix(j->m, j->n, j->k, av, bv, j->c + q * j->m * j->n, j->n, 0, scratch);
    }
}

static pt2_status dot_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                              const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *out, pt2_error *err) {
    (void)num_inputs;
    dot_spec s;
    pt2_status st = read_dot(net, layer, &inputs[0].shape, &inputs[1].shape, &s, err);
    if (st) return st;
    /* The shared dims in the output's order (inferred on the sources' layouts, which a check's
     * input in PyTorch's axis order need not have). */
    for (int i = 0; i < s.num_shared && i < layer->shape.rank; i++)
        for (int j = i + 1; j < s.num_shared; j++)
            if (s.shared[j] == layer->shape.dims[i]) {
                int d = s.shared[i], e = s.shared_b[i];
                s.shared[i] = s.shared[j], s.shared_b[i] = s.shared_b[j];
                s.shared[j] = d, s.shared_b[j] = e;
            }
    int order_a[PT2_MAX_RANK], order_b[PT2_MAX_RANK], na = 0, nb = 0;
    int64_t batch = 1, m = 1, k = 1, n = 1;
    for (int i = 0; i < s.num_shared; i++) {
        order_a[na++] = s.shared[i], order_b[nb++] = s.shared_b[i];
        batch *= size_of(&inputs[0], s.shared[i]);
    }
    for (int i = 0; i < s.num_var1; i++) order_a[na++] = s.var1[i], m *= size_of(&inputs[0], s.var1[i]);
    for (int i = 0; i < s.num_red1; i++) {
        order_a[na++] = s.red1[i], order_b[nb++] = s.red2[i];
        k *= size_of(&inputs[0], s.red1[i]);
        if (size_of(&inputs[0], s.red1[i]) != size_of(&inputs[1], s.red2[i]))
            return pt2_rt_layer_fail(layer, err, "reduced axes of different lengths");
    }
    for (int i = 0; i < s.num_var2; i++) order_b[nb++] = s.var2[i], n *= size_of(&inputs[1], s.var2[i]);
    pt2_tensor a, b;
    if ((st = pt2_rt_transpose_to(arena, &inputs[0], na, order_a, &a, err))) return st;
    if ((st = pt2_rt_transpose_to(arena, &inputs[1], nb, order_b, &b, err))) return st;
    int64_t sizes[PT2_MAX_RANK];
    int64_t r = 0;
    for (int i = 0; i < s.num_shared; i++) sizes[r++] = size_of(&inputs[0], s.shared[i]);
    for (int i = 0; i < s.num_var1; i++) sizes[r++] = size_of(&inputs[0], s.var1[i]);
    for (int i = 0; i < s.num_var2; i++) sizes[r++] = size_of(&inputs[1], s.var2[i]);
    pt2_rt_shape natural = layer->shape;
    if ((st = pt2_rt_alloc_output(arena, &natural, sizes, out, err))) return st;
    const float *pa = pt2_tensor_data(&a), *pb = pt2_tensor_data(&b);
    float *po = pt2_tensor_data(out);
    /* per shared index one product [m, k] x [k, n] on the GEMM, in float32 as TF's matmul: the
     * products split over the run's threads, or one product within itself */
    if (batch == 1) {
        pt2_matrix_view av = {pa, k, 1}, bv = {pb, n, 1};
        return pt2_parallel_gemm_matrix(arena, net->threads, m, n, k, av, bv, po, n, 0, NULL, NULL, err);
    }
    size_t pieces = pt2_parallel_pieces_threads(net->threads, (size_t)batch);
    size_t scratch_floats = (pt2_gemm_scratch_floats() + 15) / 16 * 16;
    float *scratch = pt2_arena_alloc_array(arena, scratch_floats * pieces, sizeof(float), err);
    if (!scratch) return err->status;
    products_job job = {pa, pb, po, scratch, scratch_floats, m, n, k, batch, (int64_t)pieces};
    pt2_parallel_for_threads(net->threads, pieces, multiply_products, &job);
    return PT2_OK;
}

/* ---- softmax_over_spatial: softmax over one (dynamic) axis; RETURNN masks the frames past each
 * sequence's length, which a batch of full-length sequences does not have. ---- */

static pt2_status softmax_spatial_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer,
                                        const pt2_rt_shape *inputs, size_t num_inputs, pt2_rt_shape *out, pt2_error *err) {
    (void)arena;
    int dim;
    pt2_status st = pt2_rt_single_input(layer, num_inputs, err);
    if (!st) st = option_axis(net, layer, "axis", &inputs[0], &dim, err);
    if (st) return st;
    *out = inputs[0];
    return PT2_OK;
}

static pt2_status softmax_spatial_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                          const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *out, pt2_error *err) {
    (void)num_inputs;
    int dim, order[PT2_MAX_RANK], rank = 0;
    pt2_status st = option_axis(net, layer, "axis", &inputs[0].shape, &dim, err);
    if (st) return st;
    for (int a = 0; a < layer->shape.rank; a++)
        if (layer->shape.dims[a] != dim) order[rank++] = layer->shape.dims[a];
    order[rank++] = dim;
    pt2_tensor x;
    if ((st = pt2_rt_transpose_to(arena, &inputs[0], rank, order, &x, err))) return st;
    int64_t n = x.shape[rank - 1], rows = n ? pt2_tensor_numel(&x) / n : 0;
    int log_space = (int)pt2_rt_int_option(layer, "log_space", 0); /* tf.nn.log_softmax */
    const pt2_rt_value *factor = pt2_rt_get_option(layer, "energy_factor"); /* energies scaled first */
    float *p = pt2_tensor_data(&x);
    if (factor) {
        float f = (float)pt2_rt_float_option(layer, "energy_factor", 1.0);
        for (int64_t i = 0; i < rows * n; i++) p[i] *= f;
    }
    /* In a padded batch each row has its sequence's length on a dynamic axis: the frames after it
     * get probability 0 (log space: -inf), as RETURNN masks them. Rows run over the other axes in
     * `order`, so a row's batch entry follows from its index. */
    int64_t batch_stride = 0, batch_size = 1;
    for (int a = 0; a < rank - 1; a++)
        if (net->dims[order[a]].kind == PT2_RT_DIM_BATCH) {
            batch_size = x.shape[a], batch_stride = 1;
            for (int b = a + 1; b < rank - 1; b++) batch_stride *= x.shape[b];
        }
    for (int64_t r = 0; r < rows; r++) {
        int64_t valid = batch_stride ? pt2_rt_sequence_length(net, dim, (r / batch_stride) % batch_size, n) : n;
        float *row = p + r * n, top = valid ? row[0] : 0;
        for (int64_t i = 1; i < valid; i++) top = row[i] > top ? row[i] : top;
        double sum = 0;
        for (int64_t i = 0; i < valid; i++) sum += log_space ? exp((double)row[i] - top) : (row[i] = expf(row[i] - top));
        for (int64_t i = 0; i < valid; i++) row[i] = log_space ? (float)((double)row[i] - top - log(sum)) : (float)(row[i] / sum);
        for (int64_t i = valid; i < n; i++) row[i] = log_space ? -INFINITY : 0.0f;
    }
    pt2_rt_tensor result = {x, layer->shape, 0};
    result.shape.rank = rank;
    memcpy(result.shape.dims, order, sizeof(int) * (size_t)rank);
    return pt2_rt_transpose_to(arena, &result, layer->shape.rank, layer->shape.dims, out, err);
}

/* ---- concat: sources joined along one axis each (their "from_axes"); the other dims shared.
 * The joined dim is the sum: static, or derived from the time (m1*T + a1 + m2*T + a2). ---- */

static pt2_status concat_axes(const pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *inputs,
                              size_t num_inputs, int *dims, pt2_error *err) {
    const pt2_rt_value *axes = pt2_rt_get_option(layer, "from_axes");
    if (!axes || axes->kind != PT2_RT_LIST || axes->count != num_inputs || num_inputs < 1)
        return pt2_rt_layer_fail(layer, err, "expected one axis per source");
    for (size_t i = 0; i < num_inputs; i++) {
        if (axes->items[i].kind != PT2_RT_STRING) return pt2_rt_layer_fail(layer, err, "axes must be named");
        pt2_status st = pt2_rt_resolve_axis(net, &inputs[i], axes->items[i].string, &dims[i], err);
        if (st) return st;
    }
    return PT2_OK;
}

static pt2_status concat_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *inputs,
                               size_t num_inputs, pt2_rt_shape *out, pt2_error *err) {
    int dims[PT2_RT_MAX_FROM];
    pt2_status st = concat_axes(net, layer, inputs, num_inputs, dims, err);
    if (st) return st;
    int64_t size = 0, mul = 0, add = 0;
    int root = -1;
    for (size_t i = 0; i < num_inputs; i++) {
        const pt2_rt_dim *d = &net->dims[dims[i]];
        if (inputs[i].rank != inputs[0].rank) return pt2_rt_layer_fail(layer, err, "the sources differ in their number of axes");
        if (d->kind == PT2_RT_DIM_STATIC) {
            size += d->size, add += d->size;
            continue;
        }
        int r = d->base >= 0 ? d->base : dims[i];
        if (d->kind != PT2_RT_DIM_DYNAMIC || d->div != 1 || (root >= 0 && r != root) || net->dims[r].base >= 0)
            return pt2_rt_layer_fail(layer, err, "joining '%s' is not interpreted", d->description);
        root = r;
        mul += d->base >= 0 ? d->mul : 1, add += d->base >= 0 ? d->add : 0;
        for (int a = 0; a < inputs[i].rank; a++) /* the other dims are the first source's */
            if (inputs[i].dims[a] != dims[i] && pt2_rt_shape_axis(&inputs[0], inputs[i].dims[a]) < 0 &&
                !(dim_is_static(net, inputs[i].dims[a])))
                return pt2_rt_layer_fail(layer, err, "the sources differ in dim '%s'", net->dims[inputs[i].dims[a]].description);
    }
    const char *description = pt2_arena_printf(arena, err, "%s:concat", local_name(layer));
    if (!description) return err->status;
    int joined;
    if (root < 0) st = pt2_rt_add_dim(arena, net, description, PT2_RT_DIM_STATIC, size, &joined, err);
    else st = pt2_rt_derive_dim(arena, net, root, mul, add, 1, description, &joined, err);
    if (st) return st;
    *out = inputs[0];
    out->dims[pt2_rt_shape_axis(out, dims[0])] = joined;
    if (inputs[0].feature_dim == dims[0]) out->feature_dim = joined;
    return PT2_OK;
}

static pt2_status concat_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                 const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *out, pt2_error *err) {
    int dims[PT2_RT_MAX_FROM];
    pt2_rt_shape shapes[PT2_RT_MAX_FROM];
    for (size_t i = 0; i < num_inputs; i++) shapes[i] = inputs[i].shape;
    pt2_status st = concat_axes(net, layer, shapes, num_inputs, dims, err);
    if (st) return st;
    int at = -1;
    for (int a = 0; a < layer->shape.rank; a++)
        if (pt2_rt_shape_axis(&inputs[0].shape, layer->shape.dims[a]) < 0) at = a;
    if (at < 0) return pt2_rt_layer_fail(layer, err, "the joined axis is not found");
    pt2_tensor parts[PT2_RT_MAX_FROM];
    int64_t sizes[PT2_MAX_RANK], total = 0;
    for (size_t i = 0; i < num_inputs; i++) {
        int order[PT2_MAX_RANK];
        for (int a = 0; a < layer->shape.rank; a++) {
            int d = layer->shape.dims[a];
            if (a == at) order[a] = dims[i];
            else if (pt2_rt_shape_axis(&inputs[i].shape, d) >= 0) order[a] = d;
            else { /* a static dim of one size under another tag: the source's own */
                order[a] = -1;
                for (int b = 0; b < inputs[i].shape.rank && order[a] < 0; b++) {
                    int e = inputs[i].shape.dims[b];
                    if (e != dims[i] && pt2_rt_shape_axis(&layer->shape, e) < 0 && net->dims[e].size == net->dims[d].size) order[a] = e;
                }
            }
        }
        if ((st = pt2_rt_transpose_to(arena, &inputs[i], layer->shape.rank, order, &parts[i], err))) return st;
        total += parts[i].shape[at];
    }
    memcpy(sizes, parts[0].shape, sizeof sizes);
    sizes[at] = total;
    if ((st = pt2_rt_alloc_output(arena, &layer->shape, sizes, out, err))) return st;
    int64_t outer = 1, inner = 1;
    for (int a = 0; a < at; a++) outer *= sizes[a];
    for (int a = at + 1; a < layer->shape.rank; a++) inner *= sizes[a];
    float *po = pt2_tensor_data(out);
    int64_t offset = 0;
    for (size_t i = 0; i < num_inputs; i++) {
        int64_t n = parts[i].shape[at];
        const float *pp = pt2_tensor_data(&parts[i]);
        for (int64_t o = 0; o < outer; o++)
            memcpy(po + (o * total + offset) * inner, pp + o * n * inner, sizeof(float) * (size_t)(n * inner));
        offset += n;
    }
    return PT2_OK;
}

/* ---- tile: tf.tile of static axes ("multiples" {axis: n}); the tiled dim is n times as long. ---- */

static pt2_status tile_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_shape *inputs,
                             size_t num_inputs, pt2_rt_shape *out, pt2_error *err) {
    const pt2_rt_value *multiples = pt2_rt_get_option(layer, "multiples");
    pt2_status st = pt2_rt_single_input(layer, num_inputs, err);
    if (st) return st;
    if (!multiples || multiples->kind != PT2_RT_DICT) return pt2_rt_layer_fail(layer, err, "multiples must be a dict");
    *out = inputs[0];
    for (size_t i = 0; i < multiples->count; i++) {
        int dim, tiled;
        if (multiples->items[i].kind != PT2_RT_INT || multiples->items[i].int_value < 1)
            return pt2_rt_layer_fail(layer, err, "multiples must be positive ints");
        if ((st = pt2_rt_resolve_axis(net, &inputs[0], multiples->keys[i], &dim, err))) return st;
        int64_t m = multiples->items[i].int_value;
        if (m == 1) continue;
        if (!dim_is_static(net, dim)) return pt2_rt_layer_fail(layer, err, "RETURNN tiles static axes only");
        /* RETURNN's tiled dim is `m * dim`, described "m*<dim's description>", the description in
         * brackets when it holds one of "+-/ " (Dim._get_description): merge_dims and the
         * others find it by that name ("stag:2*x"). */
        const char *source = net->dims[dim].description;
        const char *description = strpbrk(source, "+-/ ") ? pt2_arena_printf(arena, err, "%lld*(%s)", (long long)m, source)
                                                          : pt2_arena_printf(arena, err, "%lld*%s", (long long)m, source);
        if (!description) return err->status;
        if ((st = pt2_rt_add_dim(arena, net, description, PT2_RT_DIM_STATIC, net->dims[dim].size * m, &tiled, err))) return st;
        out->dims[pt2_rt_shape_axis(out, dim)] = tiled;
        if (out->feature_dim == dim) out->feature_dim = tiled;
    }
    return PT2_OK;
}

static pt2_status tile_compute(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                               const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *out, pt2_error *err) {
    (void)num_inputs;
    int order[PT2_MAX_RANK];
    int64_t sizes[PT2_MAX_RANK];
    for (int a = 0; a < layer->shape.rank; a++) {
        int d = layer->shape.dims[a];
        order[a] = d;
        if (pt2_rt_shape_axis(&inputs[0].shape, d) >= 0) continue;
        for (int b = 0; b < inputs[0].shape.rank; b++) { /* the source dim it tiles: the one the output lacks */
            int e = inputs[0].shape.dims[b];
            if (pt2_rt_shape_axis(&layer->shape, e) < 0 && net->dims[d].size % net->dims[e].size == 0) order[a] = e;
        }
    }
    pt2_tensor x;
    pt2_status st = pt2_rt_transpose_to(arena, &inputs[0], layer->shape.rank, order, &x, err);
    if (st) return st;
    for (int a = 0; a < layer->shape.rank; a++)
        sizes[a] = order[a] == layer->shape.dims[a] ? x.shape[a] : net->dims[layer->shape.dims[a]].size;
    if ((st = pt2_rt_alloc_output(arena, &layer->shape, sizes, out, err))) return st;
    const float *px = pt2_tensor_data(&x);
    float *po = pt2_tensor_data(out);
    int64_t total = pt2_tensor_numel(out), index[PT2_MAX_RANK] = {0};
    for (int64_t flat = 0; flat < total; flat++) {
        int64_t offset = 0;
        for (int a = 0; a < x.rank; a++) offset += (index[a] % x.shape[a]) * x.strides[a];
        po[flat] = px[offset];
        for (int a = x.rank - 1; a >= 0; a--) {
            if (++index[a] < sizes[a]) break;
            index[a] = 0;
        }
    }
    return PT2_OK;
}

const pt2_rt_layer_class pt2_rt_layers_dims[] = {
    {"tile", tile_infer, tile_compute},
    {"concat", concat_infer, concat_compute},
    {"softmax_over_spatial", softmax_spatial_infer, softmax_spatial_compute},
    {"merge_dims", merge_infer, merge_compute},
    {"split_dims", split_infer, split_compute},
    {"expand_dims", expand_infer, same_data_compute},
    {"squeeze", squeeze_infer, same_data_compute},
    {"slice", slice_infer, slice_compute},
    {"dot", dot_infer, dot_compute},
    {NULL, NULL, NULL}};
