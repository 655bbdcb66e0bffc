#include "returnn_net.h"

#include <string.h>

pt2_status pt2_rt_add_dim(pt2_arena *arena, pt2_rt_net *net, const char *variable, const char *description,
                          pt2_rt_dim_kind kind, int64_t size, int *out, pt2_error *err) {
    pt2_rt_dim *dims = pt2_arena_grow(arena, net->dims, net->num_dims, &net->dims_capacity, sizeof *dims, err);
    if (!dims) return err->status;
    net->dims = dims;
    pt2_rt_dim *d = &dims[net->num_dims];
    d->variable = variable;
    d->description = description;
    d->kind = kind;
    d->size = size;
    *out = (int)net->num_dims++;
    return PT2_OK;
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
    l->input_value = -1;
    *out = l;
    return PT2_OK;
}

static pt2_rt_value *new_option(pt2_rt_layer *layer, const char *key) {
    /* Setting a key twice replaces it, so options stay unique. */
    for (size_t i = 0; i < layer->num_options; i++)
        if (!strcmp(layer->options[i].key, key)) return &layer->options[i].value;
    if (layer->num_options == PT2_RT_MAX_OPTIONS) return NULL;
    pt2_rt_option *o = &layer->options[layer->num_options++];
    memset(o, 0, sizeof *o);
    o->key = key;
    return &o->value;
}

void pt2_rt_set_string(pt2_rt_layer *layer, const char *key, const char *value) {
    pt2_rt_value *v = new_option(layer, key);
    if (v) {
        v->kind = value ? PT2_RT_STRING : PT2_RT_NONE; /* NULL is Python's None */
        v->string = value;
    }
}

void pt2_rt_set_int(pt2_rt_layer *layer, const char *key, int64_t value) {
    pt2_rt_value *v = new_option(layer, key);
    if (v) {
        v->kind = PT2_RT_INT;
        v->int_value = value;
    }
}

void pt2_rt_set_bool(pt2_rt_layer *layer, const char *key, int value) {
    pt2_rt_value *v = new_option(layer, key);
    if (v) {
        v->kind = PT2_RT_BOOL;
        v->int_value = value != 0;
    }
}

void pt2_rt_set_dim(pt2_rt_layer *layer, const char *key, int dim) {
    pt2_rt_value *v = new_option(layer, key);
    if (v) {
        v->kind = PT2_RT_DIM;
        v->dim = dim;
    }
}

static pt2_status set_list(pt2_arena *arena, pt2_rt_layer *layer, const char *key, size_t count, pt2_rt_value **items,
                           pt2_error *err) {
    pt2_rt_value *v = new_option(layer, key);
    if (!v) return pt2_fail(err, PT2_ERR_INTERNAL, "layer '%s' has too many options", layer->name);
    v->kind = PT2_RT_LIST;
    v->count = count;
    v->items = pt2_arena_alloc_array(arena, count + 1, sizeof *v->items, err);
    *items = v->items;
    return v->items ? PT2_OK : err->status;
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

pt2_status pt2_rt_set_dim_list(pt2_arena *arena, pt2_rt_layer *layer, const char *key, const int *dims, size_t count,
                               pt2_error *err) {
    pt2_rt_value *items = NULL;
    pt2_status st = set_list(arena, layer, key, count, &items, err);
    for (size_t i = 0; !st && i < count; i++) {
        items[i].kind = PT2_RT_DIM;
        items[i].dim = dims[i];
    }
    return st;
}

pt2_status pt2_rt_set_string_list(pt2_arena *arena, pt2_rt_layer *layer, const char *key, const char *item,
                                  pt2_error *err) {
    pt2_rt_value *items = NULL;
    pt2_status st = set_list(arena, layer, key, 1, &items, err);
    if (!st) {
        items[0].kind = PT2_RT_STRING;
        items[0].string = item;
    }
    return st;
}

pt2_status pt2_rt_add_param(pt2_rt_layer *layer, const char *name, const pt2_tensor *value, pt2_error *err) {
    if (layer->num_params == PT2_RT_MAX_PARAMS)
        return pt2_fail(err, PT2_ERR_INTERNAL, "layer '%s' has too many parameters", layer->name);
    layer->params[layer->num_params].name = name;
    layer->params[layer->num_params++].value = *value;
    return PT2_OK;
}
