#include "net.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* RETURNN names a dim a layer makes after the layer's own name in its (sub)network, without the
 * path of the subnetworks around it ("unsqueeze_expand_dims", not "model/encoder/..."); a "stag:"
 * axis description must be part of that name to find the dim. */
static const char *local_description(const char *description) {
    const char *end = strchr(description, ':'), *local = description;
    for (const char *c = description; *c && (!end || c < end); c++)
        if (*c == '/') local = c + 1;
    return local;
}

pt2_status pt2_rt_add_dim(pt2_arena *arena, pt2_rt_net *net, const char *description, pt2_rt_dim_kind kind,
                          int64_t size, int *out, pt2_error *err) {
    description = local_description(description);
    pt2_rt_dim *dims = pt2_arena_grow(arena, net->dims, net->num_dims, &net->dims_capacity, sizeof *dims, err);
    if (!dims) return err->status;
    net->dims = dims;
    pt2_rt_dim *d = &dims[net->num_dims];
    memset(d, 0, sizeof *d);
    d->description = description;
    d->kind = kind;
    d->size = size;
    d->base = -1;
    d->mul = d->div = 1;
    *out = (int)net->num_dims++;
    return PT2_OK;
}

pt2_status pt2_rt_derive_dim(pt2_arena *arena, pt2_rt_net *net, int base, int64_t mul, int64_t add, int64_t div,
                             const char *description, int *out, pt2_error *err) {
    if (base < 0 || (size_t)base >= net->num_dims || net->dims[base].kind != PT2_RT_DIM_DYNAMIC || mul < 1 || div < 1)
        return pt2_fail(err, PT2_ERR_INTERNAL, "dim arithmetic on a dim that is not dynamic");
    /* Fold a chain of exact (div 1) steps into one step from the root. */
    const pt2_rt_dim *b = &net->dims[base];
    if (b->base >= 0 && b->div == 1) {
        add += b->add * mul;
        mul *= b->mul;
        base = b->base;
    }
    if (mul == 1 && add == 0 && div == 1) {
        *out = base;
        return PT2_OK;
    }
    for (size_t i = 0; i < net->num_dims; i++) {
        const pt2_rt_dim *d = &net->dims[i];
        if (d->base == base && d->mul == mul && d->add == add && d->div == div) {
            *out = (int)i;
            return PT2_OK;
        }
    }
    pt2_status st = pt2_rt_add_dim(arena, net, description, PT2_RT_DIM_DYNAMIC, -1, out, err);
    if (st) return st;
    pt2_rt_dim *d = &net->dims[*out];
    d->base = base;
    d->mul = mul;
    d->add = add;
    d->div = div;
    return PT2_OK;
}

int64_t pt2_rt_dim_size(const pt2_rt_net *net, int dim, int64_t root_size) {
    const pt2_rt_dim *d = &net->dims[dim];
    if (d->kind == PT2_RT_DIM_STATIC) return d->size;
    if (d->base < 0) return root_size;
    int64_t n = pt2_rt_dim_size(net, d->base, root_size) * d->mul + d->add;
    return n <= 0 ? 0 : (n + d->div - 1) / d->div;
}

int64_t pt2_rt_sequence_length(const pt2_rt_net *net, int dim, int64_t batch, int64_t full) {
    if (!net->sequence_lengths || dim < 0 || net->dims[dim].kind != PT2_RT_DIM_DYNAMIC || batch < 0 ||
        batch >= net->num_sequences)
        return full;
    int64_t n = pt2_rt_dim_size(net, dim, net->sequence_lengths[batch]);
    return n < full ? n : full;
}

pt2_status pt2_rt_add_layer(pt2_arena *arena, pt2_rt_net *net, const char *name, const char *layer_class,
                            pt2_rt_layer **out, pt2_error *err) {
    pt2_rt_layer *layers =
        pt2_arena_grow(arena, net->layers, net->num_layers, &net->layers_capacity, sizeof *layers, err);
    if (!layers) return err->status;
    net->layers = layers;
    pt2_rt_layer *l = &layers[net->num_layers++];
    memset(l, 0, sizeof *l);
    l->name = name;
    l->layer_class = layer_class;
    l->node = -1;
    l->output_value = -1;
    l->shape.feature_dim = l->shape.sparse_dim = -1;
    *out = l;
    return PT2_OK;
}

const pt2_rt_layer *pt2_rt_find_layer(const pt2_rt_net *net, const char *name) {
    for (size_t i = 0; i < net->num_layers; i++)
        if (!strcmp(net->layers[i].name, name)) return &net->layers[i];
    return NULL;
}

int pt2_rt_shape_axis(const pt2_rt_shape *shape, int dim) {
    for (int a = 0; a < shape->rank; a++)
        if (shape->dims[a] == dim) return a;
    return -1;
}

int pt2_rt_shape_time_axis(const pt2_rt_net *net, const pt2_rt_shape *shape) {
    for (int a = 0; a < shape->rank; a++)
        if (net->dims[shape->dims[a]].kind == PT2_RT_DIM_DYNAMIC) return a;
    return -1;
}

int pt2_rt_shape_dynamic_axes(const pt2_rt_net *net, const pt2_rt_shape *shape) {
    int count = 0;
    for (int a = 0; a < shape->rank; a++) count += net->dims[shape->dims[a]].kind == PT2_RT_DIM_DYNAMIC;
    return count;
}

static int contains_ignoring_case(const char *haystack, const char *needle) {
    size_t n = strlen(needle);
    for (const char *h = haystack; *h; h++) {
        size_t i = 0;
        while (i < n && h[i] && tolower((unsigned char)h[i]) == tolower((unsigned char)needle[i])) i++;
        if (i == n) return 1;
    }
    return n == 0;
}

/* RETURNN's stag matching: a spatial axis (neither the batch nor the feature) whose dim's
 * description contains `name`. */
static int spatial_match(const pt2_rt_net *net, const pt2_rt_shape *shape, int axis, const char *name) {
    const pt2_rt_dim *d = &net->dims[shape->dims[axis]];
    return d->kind != PT2_RT_DIM_BATCH && shape->dims[axis] != shape->feature_dim && contains_ignoring_case(d->description, name);
}

pt2_status pt2_rt_axis_description(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_shape *shape, int dim,
                                   const char **out, pt2_error *err) {
    int axis = pt2_rt_shape_axis(shape, dim);
    if (axis < 0) return pt2_fail(err, PT2_ERR_INTERNAL, "dim '%s' is not an axis of the layer", net->dims[dim].description);
    const pt2_rt_dim *d = &net->dims[dim];
    /* F before T: a dynamic dim merged with the feature (merge_dims) is RETURNN's feature, and
     * RETURNN then has no time axis. */
    int dynamic_axes = 0;
    for (int a = 0; a < shape->rank; a++) dynamic_axes += net->dims[shape->dims[a]].kind == PT2_RT_DIM_DYNAMIC;
    if (d->kind == PT2_RT_DIM_BATCH) *out = "B";
    else if (dim == shape->feature_dim) *out = "F";
    /* RETURNN keeps marking the input's time as its time axis; a derived dynamic dim may have
     * lost that mark (e.g. split back out of a merge), so it is named as the one dynamic axis. */
    else if (axis == pt2_rt_shape_time_axis(net, shape) && d->base < 0) *out = "T";
    else if (d->kind == PT2_RT_DIM_DYNAMIC && dynamic_axes == 1) *out = "dyn";
    else {
        int same_size = 0, same_description = 0;
        for (int a = 0; a < shape->rank; a++) {
            const pt2_rt_dim *other = &net->dims[shape->dims[a]];
            same_size += other->kind == PT2_RT_DIM_STATIC && other->size == d->size;
            same_description += contains_ignoring_case(other->description, d->description);
        }
        if (d->kind == PT2_RT_DIM_STATIC && same_size == 1)
            *out = pt2_arena_printf(arena, err, "dim:%lld", (long long)d->size);
        else if (same_description == 1)
            *out = pt2_arena_printf(arena, err, "stag:%s", d->description);
        /* A dim whose description is part of another's (a copy of it: "x*1") is told from that
         * one by its place among the spatial axes matching it, as RETURNN's own
         * get_axis_description does (counted from the end, RETURNN's more robust form). */
        else if (d->kind == PT2_RT_DIM_DYNAMIC && same_description > 1) {
            int index = -1, count = 0;
            for (int a = 0; a < shape->rank; a++)
                if (spatial_match(net, shape, a, d->description)) {
                    if (a == axis) index = count;
                    count++;
                }
            if (index < 0) return pt2_fail(err, PT2_ERR_INTERNAL, "axis '%s' does not match itself", d->description);
            *out = pt2_arena_printf(arena, err, "stag-single:%d:%s", index - count, d->description);
        } else
            return pt2_fail(err, PT2_ERR_UNSUPPORTED, "axis '%s' cannot be named by a RETURNN axis description",
                            d->description);
        if (!*out) return err->status;
    }
    return PT2_OK;
}

pt2_status pt2_rt_resolve_axis(const pt2_rt_net *net, const pt2_rt_shape *shape, const char *description, int *dim,
                               pt2_error *err) {
    int axis = -1, matches = 0;
    if (!strcmp(description, "B") || !strcmp(description, "batch")) {
        for (int a = 0; a < shape->rank; a++)
            if (net->dims[shape->dims[a]].kind == PT2_RT_DIM_BATCH) axis = a, matches++;
    } else if (!strcmp(description, "T") || !strcmp(description, "time")) {
        axis = pt2_rt_shape_time_axis(net, shape);
        matches = axis >= 0;
    } else if (!strcmp(description, "dyn") || !strcmp(description, "dynamic")) {
        for (int a = 0; a < shape->rank; a++)
            if (net->dims[shape->dims[a]].kind == PT2_RT_DIM_DYNAMIC) axis = a, matches++;
    } else if (!strcmp(description, "F") || !strcmp(description, "feature")) {
        axis = shape->feature_dim >= 0 ? pt2_rt_shape_axis(shape, shape->feature_dim) : -1;
        matches = axis >= 0;
    } else if (!strncmp(description, "dim:", 4)) {
        for (int a = 0; a < shape->rank; a++) {
            const pt2_rt_dim *d = &net->dims[shape->dims[a]];
            if (d->kind == PT2_RT_DIM_STATIC && d->size == strtoll(description + 4, NULL, 10)) axis = a, matches++;
        }
    } else if (!strncmp(description, "stag-single:", 12)) {
        char *rest;
        long index = strtol(description + 12, &rest, 10);
        if (*rest == ':') {
            int found[PT2_MAX_RANK], count = 0;
            for (int a = 0; a < shape->rank; a++)
                if (spatial_match(net, shape, a, rest + 1)) found[count++] = a;
            if (index < 0) index += count;
            if (index >= 0 && index < count) axis = found[index], matches = 1;
        }
    } else if (!strncmp(description, "stag:", 5)) {
        for (int a = 0; a < shape->rank; a++)
            if (contains_ignoring_case(net->dims[shape->dims[a]].description, description + 5)) axis = a, matches++;
    }
    if (matches != 1)
        return pt2_fail(err, PT2_ERR_INPUT, "axis description \"%s\" names %d axes of the layer's output, expected 1",
                        description, matches);
    *dim = shape->dims[axis];
    return PT2_OK;
}

static pt2_rt_value *new_option(pt2_rt_layer *layer, const char *key, pt2_error *err) {
    for (size_t i = 0; i < layer->num_options; i++)
        if (!strcmp(layer->options[i].key, key)) return &layer->options[i].value;
    if (layer->num_options == PT2_RT_MAX_OPTIONS) {
        pt2_fail(err, PT2_ERR_INTERNAL, "layer '%s' has more than %d options", layer->name, PT2_RT_MAX_OPTIONS);
        return NULL;
    }
    pt2_rt_option *o = &layer->options[layer->num_options++];
    memset(o, 0, sizeof *o);
    o->key = key;
    return &o->value;
}

pt2_status pt2_rt_set_value(pt2_rt_layer *layer, const char *key, const pt2_rt_value *value, pt2_error *err) {
    pt2_rt_value *v = new_option(layer, key, err);
    if (!v) return err->status;
    *v = *value;
    return PT2_OK;
}

pt2_status pt2_rt_set_string(pt2_rt_layer *layer, const char *key, const char *value, pt2_error *err) {
    pt2_rt_value v = {.kind = value ? PT2_RT_STRING : PT2_RT_NONE, .string = value};
    return pt2_rt_set_value(layer, key, &v, err);
}

pt2_status pt2_rt_set_none(pt2_rt_layer *layer, const char *key, pt2_error *err) {
    return pt2_rt_set_string(layer, key, NULL, err);
}

pt2_status pt2_rt_set_int(pt2_rt_layer *layer, const char *key, int64_t value, pt2_error *err) {
    pt2_rt_value v = {.kind = PT2_RT_INT, .int_value = value};
    return pt2_rt_set_value(layer, key, &v, err);
}

pt2_status pt2_rt_set_float(pt2_rt_layer *layer, const char *key, double value, pt2_error *err) {
    pt2_rt_value v = {.kind = PT2_RT_FLOAT, .float_value = value};
    return pt2_rt_set_value(layer, key, &v, err);
}

pt2_status pt2_rt_set_bool(pt2_rt_layer *layer, const char *key, int value, pt2_error *err) {
    pt2_rt_value v = {.kind = PT2_RT_BOOL, .int_value = value != 0};
    return pt2_rt_set_value(layer, key, &v, err);
}

static pt2_status set_list(pt2_arena *arena, pt2_rt_layer *layer, const char *key, size_t count, pt2_rt_value **items,
                           pt2_error *err) {
    pt2_rt_value v = {.kind = PT2_RT_LIST, .count = count};
    v.items = pt2_arena_alloc_array(arena, count + 1, sizeof *v.items, err);
    if (!v.items) return err->status;
    *items = v.items;
    return pt2_rt_set_value(layer, key, &v, err);
}

pt2_status pt2_rt_set_int_list(pt2_arena *arena, pt2_rt_layer *layer, const char *key, const int64_t *values,
                               size_t count, pt2_error *err) {
    pt2_rt_value *items = NULL;
    pt2_status st = set_list(arena, layer, key, count, &items, err);
    for (size_t i = 0; !st && i < count; i++) {
        items[i].kind = PT2_RT_INT;
        items[i].int_value = values[i];
    }
    return st;
}

pt2_status pt2_rt_set_string_list(pt2_arena *arena, pt2_rt_layer *layer, const char *key, const char *const *values,
                                  size_t count, pt2_error *err) {
    pt2_rt_value *items = NULL;
    pt2_status st = set_list(arena, layer, key, count, &items, err);
    for (size_t i = 0; !st && i < count; i++) {
        items[i].kind = PT2_RT_STRING;
        items[i].string = values[i];
    }
    return st;
}

pt2_status pt2_rt_add_param_blocks(pt2_rt_layer *layer, const char *name, const pt2_tensor *value,
                                   const pt2_block_order *blocks, pt2_error *err) {
    if (layer->num_params == PT2_RT_MAX_PARAMS)
        return pt2_fail(err, PT2_ERR_INTERNAL, "layer '%s' has too many parameters", layer->name);
    pt2_rt_param *param = &layer->params[layer->num_params++];
    param->name = name;
    param->value = *value;
    param->blocks = blocks && blocks->count ? blocks : NULL;
    return PT2_OK;
}

pt2_status pt2_rt_add_param(pt2_rt_layer *layer, const char *name, const pt2_tensor *value, pt2_error *err) {
    return pt2_rt_add_param_blocks(layer, name, value, NULL, err);
}

pt2_status pt2_rt_add_from(pt2_rt_layer *layer, const char *source, int graph_value, pt2_error *err) {
    if (layer->num_from == PT2_RT_MAX_FROM)
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "layer '%s' has more than %d sources", layer->name, PT2_RT_MAX_FROM);
    layer->input_values[layer->num_from] = graph_value;
    layer->from[layer->num_from++] = source;
    return PT2_OK;
}

const pt2_rt_value *pt2_rt_get_option(const pt2_rt_layer *layer, const char *key) {
    for (size_t i = 0; i < layer->num_options; i++)
        if (!strcmp(layer->options[i].key, key)) return &layer->options[i].value;
    return NULL;
}

int64_t pt2_rt_int_option(const pt2_rt_layer *layer, const char *key, int64_t fallback) {
    const pt2_rt_value *v = pt2_rt_get_option(layer, key);
    if (!v) return fallback;
    if (v->kind == PT2_RT_INT || v->kind == PT2_RT_BOOL) return v->int_value;
    if (v->kind == PT2_RT_LIST && v->count == 1 && v->items[0].kind == PT2_RT_INT) return v->items[0].int_value;
    return fallback;
}

double pt2_rt_float_option(const pt2_rt_layer *layer, const char *key, double fallback) {
    const pt2_rt_value *v = pt2_rt_get_option(layer, key);
    if (!v) return fallback;
    if (v->kind == PT2_RT_FLOAT) return v->float_value;
    if (v->kind == PT2_RT_INT) return (double)v->int_value;
    return fallback;
}

const char *pt2_rt_string_option(const pt2_rt_layer *layer, const char *key, const char *fallback) {
    const pt2_rt_value *v = pt2_rt_get_option(layer, key);
    return v && v->kind == PT2_RT_STRING ? v->string : fallback;
}

const char *pt2_rt_local_name(const char *layer_name) {
    const char *slash = strrchr(layer_name, '/');
    return slash ? slash + 1 : layer_name;
}

const pt2_rt_param *pt2_rt_find_param(const pt2_rt_layer *layer, const char *name) {
    for (size_t i = 0; i < layer->num_params; i++)
        if (!strcmp(layer->params[i].name, name)) return &layer->params[i];
    return NULL;
}

const pt2_tensor *pt2_rt_get_param(const pt2_rt_layer *layer, const char *name) {
    const pt2_rt_param *param = pt2_rt_find_param(layer, name);
    return param ? &param->value : NULL;
}
