/* Lowering of upsampling (F.interpolate / nn.Upsample) over the last 1 or 2 axes of
 * [batch, channel, L] or [batch, channel, H, W] data.
 *
 * nearest: RETURNN's "resize" kind "nn" by an integer factor, one layer per resized axis (nearest
 * is separable). RETURNN calls tf.compat.v1.image.resize_nearest_neighbor without half-pixel
 * centres: out[t] = in[floor(t * n / (n f))] = in[floor(t / f)], PyTorch's "nearest" for an
 * integer factor whether given as scale_factor or as output size. On a dynamic axis the output
 * length is T * f for every T, and a frame reads only its own frame, so a padded batch is right.
 * A non-integer ratio is refused: RETURNN's float factor rounds the length up (PyTorch: down)
 * and PyTorch then picks sources by 1 / scale_factor, TF by n / out. */
#include <stdio.h>
#include <string.h>

#include "axes.h"
#include "lowerings.h"

/* The integer factor of each resized axis (the last `n`), from the run's sizes; scale_factors,
 * when given, must be that integer (else PyTorch's source positions differ). On a dynamic axis
 * only a scale factor says that every length is scaled alike. */
static pt2_status read_factors(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *v, int n,
                               int64_t *factors, pt2_error *err) {
    const char *input = pt2_node_arg(node, "input") ? "input" : "self";
    const pt2_tensor *x = &ctx->run->values[pt2_node_arg(node, input)->value_id].tensor;
    const pt2_tensor *y = &ctx->run->values[node->outputs[0].value_id].tensor;
    double scales[2] = {0, 0};
    int has_scales = 0;
    const pt2_arg *vec = pt2_node_arg(node, "scale_factors");
    if (vec && vec->kind == PT2_ARG_FLOATS && (int)vec->count == n) {
        has_scales = 1;
        for (int i = 0; i < n; i++) scales[i] = vec->floats[i];
    }
    for (int i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "scales_%c", n == 1 ? 'x' : "hw"[i]); /* the .default forms */
        const pt2_arg *s = pt2_node_arg(node, n == 1 ? "scales" : name);
        if (s && s->kind == PT2_ARG_FLOAT) has_scales = 1, scales[i] = s->float_value;
    }
    for (int i = 0; i < n; i++) {
        int axis = v->rank - n + i;
        int64_t in = x->shape[axis], out = y->shape[axis];
        factors[i] = in > 0 ? out / in : 0;
        int dynamic = ctx->net->dims[v->dims[axis]].kind == PT2_RT_DIM_DYNAMIC;
        if (factors[i] < 1 || out != in * factors[i] || (has_scales && scales[i] != (double)factors[i]))
            return pt2_lower_fail(node, err, "axis %d goes from %lld to %lld: lowered for an integer factor only", axis,
                                  (long long)in, (long long)out);
        if (dynamic && !has_scales)
            return pt2_lower_fail(node, err, "axis %d is the time: lowered with a scale_factor (an output size fixes the length)",
                                  axis);
    }
    return PT2_OK;
}

static pt2_status lower_upsample_nearest(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_lowered_value *v, *in;
    pt2_lowered_value storage;
    int n = strstr(node->target, "2d") ? 2 : 1;
    int64_t factors[2];
    pt2_status st = pt2_lower_input(ctx, node, pt2_node_arg(node, "input") ? "input" : "self", &v, err);
    if (st) return st;
    if (!v || v->rank != 2 + n || ctx->net->dims[v->dims[0]].kind != PT2_RT_DIM_BATCH)
        return pt2_lower_fail(node, err, "lowered for [batch, channel, %s] data from a layer", n == 1 ? "L" : "H, W");
    if ((st = read_factors(ctx, node, v, n, factors, err))) return st;
    /* The channel as the feature, so that no resized axis is RETURNN's feature dim. */
    if ((st = pt2_axes_require_feature(ctx, node, v, 1, &storage, &in, err))) return st;
    int last = -1;
    for (int i = 0; i < n; i++)
        if (factors[i] > 1) last = i;
    if (last < 0) return pt2_lower_alias(ctx, node, in, err);
    pt2_lowered_value current = *in;
    for (int i = 0; i <= last; i++) {
        if (factors[i] == 1) continue;
        int axis = v->rank - n + i;
        const char *description;
        pt2_rt_layer *layer;
        size_t first_layer = ctx->net->num_layers;
        if ((st = pt2_axes_describe(ctx, node, &current, axis, &description, err))) return st;
        if ((st = pt2_lower_new_layer(ctx, node, "resize", &layer, err))) return st;
        st = pt2_lower_add_source(ctx, layer, &current, err);
        if (!st) st = pt2_rt_set_string(layer, "axis", description, err);
        if (!st) st = pt2_rt_set_int(layer, "factor", factors[i], err);
        if (!st) st = pt2_rt_set_string(layer, "kind", "nn", err);
        if (!st) st = pt2_lower_infer(ctx, node, layer, err);
        if (st) return st;
        int dim = pt2_axes_new_dim(layer, &current);
        if ((st = pt2_axes_finish_replace(ctx, node, layer, &current, axis, dim, err))) return st;
        current = ctx->values[node->outputs[0].value_id];
        /* All but the last layer hold no value of the node's own. */
        if (i < last)
            for (size_t l = first_layer; l < ctx->net->num_layers; l++) ctx->net->layers[l].node = -1;
    }
    return PT2_OK;
}

const pt2_op_lowering pt2_lowerings_resize[] = {
    {"aten.upsample_nearest1d.vec", lower_upsample_nearest, "resize reinterpret_data"},
    {"aten.upsample_nearest1d.default", lower_upsample_nearest, "resize reinterpret_data"},
    {"aten.upsample_nearest2d.vec", lower_upsample_nearest, "resize reinterpret_data"},
    {"aten.upsample_nearest2d.default", lower_upsample_nearest, "resize reinterpret_data"},
    {NULL, NULL, NULL}};
