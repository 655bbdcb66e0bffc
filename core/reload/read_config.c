#include "read_config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../base/json.h"
#include "../emit/tf_checkpoint.h"
#include "../returnn/layers.h"

#define CONFIG_NAME "returnn.config.json"

static pt2_status config_fail(pt2_error *err, const char *entry, const char *message) {
    pt2_error_set_file(err, CONFIG_NAME);
    pt2_error_set_entry(err, entry);
    return pt2_fail(err, PT2_ERR_VERIFY, "%s", message);
}

static pt2_status to_value(pt2_arena *arena, const pt2_json *j, pt2_rt_value *out, const char *entry, pt2_error *err) {
    memset(out, 0, sizeof *out);
    switch (j->type) {
    case PT2_JSON_NULL: out->kind = PT2_RT_NONE; return PT2_OK;
    case PT2_JSON_BOOL: out->kind = PT2_RT_BOOL, out->int_value = j->boolean; return PT2_OK;
    case PT2_JSON_STRING: out->kind = PT2_RT_STRING, out->string = j->string; return PT2_OK;
    case PT2_JSON_NUMBER:
        if (j->is_integer) out->kind = PT2_RT_INT, out->int_value = j->integer;
        else out->kind = PT2_RT_FLOAT, out->float_value = j->number;
        return PT2_OK;
    case PT2_JSON_ARRAY:
    case PT2_JSON_OBJECT:
        out->kind = j->type == PT2_JSON_ARRAY ? PT2_RT_LIST : PT2_RT_DICT;
        out->count = j->count;
        out->keys = j->keys;
        out->items = pt2_arena_alloc_array(arena, j->count + 1, sizeof *out->items, err);
        if (!out->items) return err->status;
        for (size_t i = 0; i < j->count; i++) {
            pt2_status st = to_value(arena, &j->items[i], &out->items[i], entry, err);
            if (st) return st;
        }
        return PT2_OK;
    }
    return config_fail(err, entry, "unexpected JSON value");
}

/* extern_data "data" from its shape, as RETURNN's shape-based extern data: the first dynamic
 * axis is the time, the feature axis is "feature_dim_axis" or the last static axis. */
static pt2_status read_extern_data(pt2_arena *arena, const pt2_json *config, pt2_rt_net *net, pt2_error *err) {
    const pt2_json *data = pt2_json_get(pt2_json_get(config, "extern_data"), "data");
    const pt2_json *shape = pt2_json_get(data, "shape");
    if (!pt2_json_is(shape, PT2_JSON_ARRAY) || shape->count + 1 > PT2_MAX_RANK)
        return config_fail(err, "extern_data.data.shape", "expected a list of sizes");
    pt2_rt_shape *in = &net->input;
    memset(in, 0, sizeof *in);
    in->feature_dim = in->sparse_dim = -1;
    in->rank = (int)shape->count + 1;
    const char *dtype = pt2_json_get_string(data, "dtype", "float32");
    in->dtype = !strcmp(dtype, "int64") ? PT2_DTYPE_INT64 : !strcmp(dtype, "int32") ? PT2_DTYPE_INT32 : PT2_DTYPE_FLOAT32;
    const pt2_json *sparse = pt2_json_get(data, "sparse");
    int is_sparse = sparse && sparse->type == PT2_JSON_BOOL && sparse->boolean;
    int64_t feature_axis = pt2_json_get_int(data, "feature_dim_axis", -1);
    pt2_status st = pt2_rt_add_dim(arena, net, "batch", PT2_RT_DIM_BATCH, -1, &in->dims[0], err);
    int last_static = -1;
    for (size_t i = 0; !st && i < shape->count; i++) {
        int a = (int)i + 1;
        const pt2_json *size = &shape->items[i];
        if (size->type == PT2_JSON_NULL) {
            st = pt2_rt_add_dim(arena, net, "time:var:extern_data:data", PT2_RT_DIM_DYNAMIC, -1, &in->dims[a], err);
        } else if (size->type == PT2_JSON_NUMBER && size->is_integer && size->integer > 0) {
            const char *description = pt2_arena_printf(arena, err, "spatial%d:static%lld:data", a - 1, (long long)size->integer);
            if (!description) return err->status;
            st = pt2_rt_add_dim(arena, net, description, PT2_RT_DIM_STATIC, size->integer, &in->dims[a], err);
            last_static = a;
        } else {
            return config_fail(err, "extern_data.data.shape", "expected null or a positive size");
        }
    }
    if (st) return st;
    if (is_sparse) {
        int64_t vocabulary = pt2_json_get_int(data, "dim", -1);
        if (vocabulary < 1) return config_fail(err, "extern_data.data.dim", "sparse data needs its vocabulary size");
        return pt2_rt_add_dim(arena, net, "sparse:data", PT2_RT_DIM_STATIC, vocabulary, &in->sparse_dim, err);
    }
    int axis = feature_axis >= 0 ? (int)feature_axis : last_static;
    if (axis >= 1 && axis < in->rank) {
        in->feature_dim = in->dims[axis];
        net->dims[in->feature_dim].description = "feature:data";
    }
    return PT2_OK;
}

static const pt2_rt_shape *source_shape(const pt2_rt_net *net, const char *name) {
    if (!strcmp(name, "data") || !strcmp(name, "data:data")) return &net->input;
    const pt2_rt_layer *l = pt2_rt_find_layer(net, name);
    return l ? &l->shape : NULL;
}

/* Where a subnetwork's layers sit in the flat network: "NAME/" before their names, their
 * "data" is the subnetwork layer's source, "base:x" is x outside. */
typedef struct scope scope;
struct scope {
    const char *prefix;  /* "" at the top */
    const char *data;    /* what "data" means */
    const scope *parent; /* what "base:" means; NULL at the top */
};

static const char *scoped_source(pt2_arena *arena, const scope *sc, const char *source, pt2_error *err) {
    if (!strncmp(source, "base:", 5) && sc->parent) return scoped_source(arena, sc->parent, source + 5, err);
    if (!strcmp(source, "data")) return sc->data;
    if (!sc->prefix[0]) return source;
    return pt2_arena_printf(arena, err, "%s%s", sc->prefix, source);
}

static pt2_status read_layer(pt2_arena *arena, pt2_rt_net *net, const char *name, const pt2_json *dict,
                             const pt2_tf_variable *variables, size_t num_variables, const scope *sc, int depth,
                             pt2_error *err);

/* A subnetwork layer NAME: its layers as "NAME/<layer>", then NAME itself as a copy of
 * "NAME/output" (the checkpoint names their variables "NAME/<layer>/..." already). */
static pt2_status read_subnetwork(pt2_arena *arena, pt2_rt_net *net, const char *name, const char *source,
                                  const pt2_json *dict, const pt2_tf_variable *variables, size_t num_variables,
                                  const scope *outer, int depth, const char *entry, pt2_error *err) {
    const pt2_json *inner = pt2_json_get(dict, "subnetwork");
    if (!pt2_json_is(inner, PT2_JSON_OBJECT) || depth > 32) return config_fail(err, entry, "expected a subnetwork dict");
    scope sc = {pt2_arena_printf(arena, err, "%s/", name), source, outer};
    const char *output = pt2_arena_printf(arena, err, "%s/output", name);
    if (!sc.prefix || !output) return err->status;
    for (size_t i = 0; i < inner->count; i++) {
        const char *inner_name = pt2_arena_printf(arena, err, "%s%s", sc.prefix, inner->keys[i]);
        if (!inner_name) return err->status;
        pt2_status st = read_layer(arena, net, inner_name, &inner->items[i], variables, num_variables, &sc, depth + 1, err);
        if (st) return st;
    }
    const pt2_rt_layer *result = pt2_rt_find_layer(net, output);
    if (!result) return config_fail(err, entry, "the subnetwork has no \"output\" layer");
    pt2_rt_shape shape = result->shape; /* before adding a layer moves the array */
    pt2_rt_layer *layer;
    pt2_status st = pt2_rt_add_layer(arena, net, name, "copy", &layer, err);
    if (!st) st = pt2_rt_add_from(layer, output, -1, err);
    if (!st) st = pt2_rt_infer_layer(arena, net, layer, &shape, 1, err);
    return st;
}

static pt2_status read_layer(pt2_arena *arena, pt2_rt_net *net, const char *name, const pt2_json *dict,
                             const pt2_tf_variable *variables, size_t num_variables, const scope *sc, int depth,
                             pt2_error *err) {
    const char *layer_class = pt2_json_get_string(dict, "class", NULL);
    const char *entry = pt2_arena_printf(arena, err, "network.%s", name);
    if (!entry) return err->status;
    if (!layer_class || !pt2_json_is(dict, PT2_JSON_OBJECT)) return config_fail(err, entry, "expected a layer dict with a class");
    const pt2_json *from = pt2_json_get(dict, "from");
    if (!strcmp(layer_class, "subnetwork")) {
        const char *source = "data";
        if (from && from->type == PT2_JSON_STRING) source = scoped_source(arena, sc, from->string, err);
        else if (!from || from->type != PT2_JSON_ARRAY || from->count)
            return config_fail(err, entry, "a subnetwork reads one source (or none)");
        if (!source) return err->status;
        return read_subnetwork(arena, net, name, source, dict, variables, num_variables, sc, depth, entry, err);
    }
    pt2_rt_layer *layer;
    pt2_status st = pt2_rt_add_layer(arena, net, name, layer_class, &layer, err);
    if (st) return st;
    if (from && from->type == PT2_JSON_STRING) {
        const char *source = scoped_source(arena, sc, from->string, err);
        st = source ? pt2_rt_add_from(layer, source, -1, err) : err->status;
    } else if (from && from->type == PT2_JSON_ARRAY && from->count && from->items[0].type == PT2_JSON_ARRAY) {
        /* concat: [layer, axis] pairs; the axes become the option "from_axes". */
        const char **axes = pt2_arena_alloc_array(arena, from->count + 1, sizeof *axes, err);
        if (!axes) return err->status;
        for (size_t i = 0; i < from->count && !st; i++) {
            const pt2_json *pair = &from->items[i];
            if (pair->type != PT2_JSON_ARRAY || pair->count != 2 || pair->items[0].type != PT2_JSON_STRING ||
                pair->items[1].type != PT2_JSON_STRING)
                return config_fail(err, entry, "\"from\" must hold [layer, axis] pairs");
            const char *source = scoped_source(arena, sc, pair->items[0].string, err);
            st = source ? pt2_rt_add_from(layer, source, -1, err) : err->status;
            axes[i] = pair->items[1].string;
        }
        if (!st) st = pt2_rt_set_string_list(arena, layer, "from_axes", axes, from->count, err);
    } else if (from && from->type == PT2_JSON_ARRAY) {
        for (size_t i = 0; i < from->count && !st; i++) {
            if (from->items[i].type != PT2_JSON_STRING) return config_fail(err, entry, "\"from\" must hold layer names");
            const char *source = scoped_source(arena, sc, from->items[i].string, err);
            st = source ? pt2_rt_add_from(layer, source, -1, err) : err->status;
        }
    } else {
        return config_fail(err, entry, "\"from\" must be given");
    }
    for (size_t i = 0; i < dict->count && !st; i++) {
        if (!strcmp(dict->keys[i], "class") || !strcmp(dict->keys[i], "from")) continue;
        pt2_rt_value v;
        /* An option naming another layer resolves in the same scope. */
        /* switch's layers (written in this order) are its sources, as pt2returnn builds it. */
        if (!strcmp(layer_class, "switch") && dict->items[i].type == PT2_JSON_STRING &&
            (!strcmp(dict->keys[i], "condition") || !strcmp(dict->keys[i], "true_from") || !strcmp(dict->keys[i], "false_from"))) {
            const char *source = scoped_source(arena, sc, dict->items[i].string, err);
            st = source ? pt2_rt_add_from(layer, source, -1, err) : err->status;
            continue;
        }
        /* gather's position layer (written right after "from") is its second source. */
        if (!strcmp(layer_class, "gather") && !strcmp(dict->keys[i], "position") && dict->items[i].type == PT2_JSON_STRING) {
            const char *source = scoped_source(arena, sc, dict->items[i].string, err);
            st = source ? pt2_rt_add_from(layer, source, -1, err) : err->status;
            continue;
        }
        if (!strcmp(dict->keys[i], "size_base") && dict->items[i].type == PT2_JSON_STRING) {
            const char *base = scoped_source(arena, sc, dict->items[i].string, err);
            if (!base) return err->status;
            st = pt2_rt_set_string(layer, "size_base", base, err);
            continue;
        }
        if (!strcmp(dict->keys[i], "reuse_params") && dict->items[i].type == PT2_JSON_STRING) {
            /* The twin's variables are this layer's: no checkpoint entries of its own. */
            const char *twin_name = scoped_source(arena, sc, dict->items[i].string, err);
            if (!twin_name) return err->status;
            const pt2_rt_layer *twin = pt2_rt_find_layer(net, twin_name);
            if (!twin) return config_fail(err, entry, "reuse_params names no layer before it");
            for (size_t p = 0; p < twin->num_params && !st; p++) st = pt2_rt_add_param(layer, twin->params[p].name, &twin->params[p].value, err);
            continue;
        }
        if (!(st = to_value(arena, &dict->items[i], &v, entry, err))) st = pt2_rt_set_value(layer, dict->keys[i], &v, err);
    }
    /* Its parameters: the checkpoint's "<layer>/<name>" variables. */
    size_t prefix = strlen(name);
    for (size_t i = 0; i < num_variables && !st; i++)
        if (!strncmp(variables[i].name, name, prefix) && variables[i].name[prefix] == '/')
            st = pt2_rt_add_param(layer, variables[i].name + prefix + 1, &variables[i].tensor, err);
    if (st) return st;
    pt2_rt_shape inputs[PT2_RT_MAX_FROM];
    for (size_t i = 0; i < layer->num_from; i++) {
        const pt2_rt_shape *s = source_shape(net, layer->from[i]);
        if (!s) {
            pt2_error_set_file(err, CONFIG_NAME);
            pt2_error_set_entry(err, entry);
            return pt2_fail(err, PT2_ERR_VERIFY, "source '%s' is not a layer before it", layer->from[i]);
        }
        inputs[i] = *s;
    }
    st = pt2_rt_infer_layer(arena, net, layer, inputs, layer->num_from, err);
    if (st) {
        pt2_error_set_file(err, CONFIG_NAME);
        pt2_error_set_entry(err, entry);
    }
    return st;
}

/* A list of axis descriptions (strings). */
static pt2_status read_axes_list(pt2_arena *arena, const pt2_json *axes, const char *entry, const char ***out,
                                 size_t *count, pt2_error *err) {
    if (!pt2_json_is(axes, PT2_JSON_ARRAY)) return config_fail(err, entry, "expected a list");
    *out = pt2_arena_alloc_array(arena, axes->count + 1, sizeof(char *), err);
    if (!*out) return err->status;
    for (size_t i = 0; i < axes->count; i++) {
        if (axes->items[i].type != PT2_JSON_STRING) return config_fail(err, entry, "expected strings");
        (*out)[i] = axes->items[i].string;
    }
    *count = axes->count;
    return PT2_OK;
}

/* pt2returnn_outputs: [{"layer", "name", "axes"}] for every result, "output" first; without it
 * (one result) the list is "output" with pt2returnn_output_axes. */
static pt2_status read_outputs(pt2_arena *arena, const pt2_json *config, pt2_reloaded_net *out, pt2_error *err) {
    const pt2_json *list = pt2_json_get(config, "pt2returnn_outputs");
    size_t count = list ? list->count : 1;
    if (list && (!pt2_json_is(list, PT2_JSON_ARRAY) || !list->count))
        return config_fail(err, "pt2returnn_outputs", "expected a list of {\"layer\", \"name\", \"axes\"} dicts");
    out->outputs = pt2_arena_alloc_array(arena, count, sizeof *out->outputs, err);
    if (!out->outputs) return err->status;
    out->num_outputs = count;
    if (!list) {
        out->outputs[0] = (pt2_reloaded_output){"output", "output", out->num_output_axes, out->output_axes};
        return PT2_OK;
    }
    for (size_t k = 0; k < count; k++) {
        char entry[80];
        snprintf(entry, sizeof entry, "pt2returnn_outputs[%zu]", k);
        const pt2_json *item = &list->items[k];
        pt2_reloaded_output *o = &out->outputs[k];
        o->layer = pt2_json_get_string(item, "layer", NULL);
        o->name = pt2_json_get_string(item, "name", NULL);
        if (!pt2_json_is(item, PT2_JSON_OBJECT) || !o->layer || !o->name)
            return config_fail(err, entry, "expected a dict with the strings \"layer\" and \"name\" and the list \"axes\"");
        if (!pt2_rt_find_layer(&out->net, o->layer)) return config_fail(err, entry, "names no layer of the network");
        if (k == 0 && strcmp(o->layer, "output")) return config_fail(err, entry, "the first result must be the layer \"output\"");
        pt2_status st = read_axes_list(arena, pt2_json_get(item, "axes"), entry, &o->axes, &o->num_axes, err);
        if (st) return st;
    }
    return PT2_OK;
}

static pt2_status reload_net(pt2_arena *arena, const char *json_config, size_t json_length, const uint8_t *index,
                             size_t index_length, const uint8_t *data, size_t data_length, pt2_tf_data_crc data_crc,
                             pt2_reloaded_net *out, pt2_error *err);

pt2_status pt2_reload_net(pt2_arena *arena, const char *json_config, size_t json_length, const uint8_t *index,
                          size_t index_length, const uint8_t *data, size_t data_length, pt2_tf_data_crc data_crc,
                          pt2_reloaded_net *out, pt2_error *err) {
    /* The three files are in memory, so their sizes' sum cannot wrap. */
    pt2_reader_bound bound;
    pt2_arena_reader_begin(arena, json_length + index_length + data_length, CONFIG_NAME, &bound);
    pt2_status st = reload_net(arena, json_config, json_length, index, index_length, data, data_length, data_crc, out, err);
    pt2_arena_reader_end(arena, &bound);
    return st;
}

static pt2_status reload_net(pt2_arena *arena, const char *json_config, size_t json_length, const uint8_t *index,
                             size_t index_length, const uint8_t *data, size_t data_length, pt2_tf_data_crc data_crc,
                             pt2_reloaded_net *out, pt2_error *err) {
    memset(out, 0, sizeof *out);
    pt2_json *config;
    pt2_tf_variable *variables;
    size_t num_variables;
    pt2_status st = pt2_json_parse(arena, json_config, json_length, CONFIG_NAME, &config, err);
    if (!st) st = pt2_tf_checkpoint_read(arena, index, index_length, data, data_length, data_crc, "model.001", &variables,
                                         &num_variables, err);
    if (!st) st = read_extern_data(arena, config, &out->net, err);
    if (st) return st;
    const pt2_json *network = pt2_json_get(config, "network");
    if (!pt2_json_is(network, PT2_JSON_OBJECT)) return config_fail(err, "network", "expected a dict of layers");
    /* pt2returnn writes every layer after its sources, so one pass in file order builds it. */
    static const scope top = {"", "data", NULL};
    for (size_t i = 0; i < network->count; i++)
        if ((st = read_layer(arena, &out->net, network->keys[i], &network->items[i], variables, num_variables, &top, 0, err)))
            return st;
    if (!pt2_rt_find_layer(&out->net, "output")) return config_fail(err, "network", "there is no \"output\" layer");
    out->net.output = "output";
    if ((st = read_axes_list(arena, pt2_json_get(config, "pt2returnn_output_axes"), "pt2returnn_output_axes",
                             &out->output_axes, &out->num_output_axes, err)))
        return st;
    return read_outputs(arena, config, out, err);
}

/* The reload's values: each layer's output in an arena of its own, freed after the last layer
 * that reads it (the output layer's at the end); every layer computes in one scratch arena that
 * is reset after it, so temporaries never pile up and their pages are reused. A result that is
 * a view of a source's data (a copy, a reinterpret_data) stays a view: its data is held by that
 * source's arena, which then lives until the view's last reader too. */
typedef struct pt2_reload_values {
    pt2_arena scratch;
    pt2_arena *value_arenas; /* one per layer */
    pt2_rt_tensor *outputs;
    size_t *sources;   /* sources[i * PT2_RT_MAX_FROM + s]: the layer of from[s], or SIZE_MAX for "data" */
    size_t *last_use;  /* the last layer reading layer i's output (or a view of it) */
    size_t *holder;    /* the layer whose arena holds layer i's data (SIZE_MAX: the input's) */
} pt2_reload_values;

static pt2_status reload_values_init(pt2_arena *arena, const pt2_rt_net *net, size_t output, pt2_reload_values *v,
                                     pt2_error *err) {
    memset(v, 0, sizeof *v);
    size_t n = net->num_layers;
    v->value_arenas = pt2_arena_alloc_array(arena, n + 1, sizeof *v->value_arenas, err);
    v->outputs = pt2_arena_alloc_array(arena, n + 1, sizeof *v->outputs, err);
    v->sources = pt2_arena_alloc_array(arena, (n + 1) * PT2_RT_MAX_FROM, sizeof *v->sources, err);
    v->last_use = pt2_arena_alloc_array(arena, n + 1, sizeof *v->last_use, err);
    v->holder = pt2_arena_alloc_array(arena, n + 1, sizeof *v->holder, err);
    if (!v->value_arenas || !v->outputs || !v->sources || !v->last_use || !v->holder) return err->status;
    for (size_t i = 0; i < n; i++) {
        const pt2_rt_layer *layer = &net->layers[i];
        v->last_use[i] = i;
        v->holder[i] = i;
        for (size_t s = 0; s < layer->num_from; s++) {
            size_t source = SIZE_MAX;
            if (strcmp(layer->from[s], "data") && strcmp(layer->from[s], "data:data")) {
                const pt2_rt_layer *found = pt2_rt_find_layer(net, layer->from[s]);
                if (!found || (size_t)(found - net->layers) >= i)
                    return pt2_fail(err, PT2_ERR_VERIFY, "layer '%s': source '%s' is not a layer before it", layer->name,
                                    layer->from[s]);
                source = (size_t)(found - net->layers);
                v->last_use[source] = i;
            }
            v->sources[i * PT2_RT_MAX_FROM + s] = source;
        }
    }
    v->last_use[output] = SIZE_MAX;
    for (size_t i = 0; i < n; i++) pt2_arena_init_child(&v->value_arenas[i], arena);
    pt2_arena_init_child(&v->scratch, arena);
    return PT2_OK;
}

static void reload_values_free(pt2_reload_values *v, size_t num_layers) {
    for (size_t i = 0; v->value_arenas && i < num_layers; i++) pt2_arena_free(&v->value_arenas[i]); /* zeroed ones too */
    pt2_arena_free(&v->scratch);
}

/* The layer holding the data that `result` views among layer i's sources (SIZE_MAX: the input);
 * 0 when it views none of them. */
static int viewed_source(const pt2_reload_values *v, const pt2_rt_layer *layer, size_t i, const pt2_tensor *input,
                         const pt2_tensor *result, size_t *holder) {
    for (size_t s = 0; s < layer->num_from; s++) {
        size_t source = v->sources[i * PT2_RT_MAX_FROM + s];
        const pt2_tensor *data = source == SIZE_MAX ? input : &v->outputs[source].tensor;
        if (data->storage == result->storage) {
            *holder = source == SIZE_MAX ? SIZE_MAX : v->holder[source];
            return 1;
        }
    }
    return 0;
}

/* Layer i on its sources' outputs; its output moves (or is copied) out of the scratch arena into its own,
 * or stays a view of a source's data, and the data no later layer reads is freed. */
static pt2_status run_layer(pt2_reload_values *v, const pt2_rt_net *net, size_t i, const pt2_tensor *input,
                            pt2_error *err) {
    const pt2_rt_layer *layer = &net->layers[i];
    pt2_rt_tensor inputs[PT2_RT_MAX_FROM], result;
    for (size_t s = 0; s < layer->num_from; s++) {
        size_t source = v->sources[i * PT2_RT_MAX_FROM + s];
        if (source == SIZE_MAX) inputs[s] = (pt2_rt_tensor){*input, net->input, 0};
        else inputs[s] = v->outputs[source];
        /* Data no later layer reads and no other source of this one shares may take the result. */
        size_t holder = source == SIZE_MAX ? SIZE_MAX : v->holder[source];
        inputs[s].writable = holder != SIZE_MAX && v->last_use[holder] == i;
        for (size_t t = 0; t < layer->num_from && inputs[s].writable; t++) {
            size_t other = v->sources[i * PT2_RT_MAX_FROM + t];
            if (t != s && other != SIZE_MAX && v->holder[other] == holder) inputs[s].writable = 0;
        }
    }
    pt2_status st = pt2_rt_compute_layer(&v->scratch, net, layer, inputs, layer->num_from, &result, err);
    /* An output of its own in the scratch arena (not a view of a source or a parameter; dense, in
     * any order of its axes: an elementwise layer keeps its source's) moves to the layer's arena;
     * anything else is copied there. */
    int order[PT2_MAX_RANK];
    size_t holder;
    if (!st && viewed_source(v, layer, i, input, &result.tensor, &holder)) {
        v->outputs[i].tensor = result.tensor;
        v->holder[i] = holder;
        if (holder != SIZE_MAX && v->last_use[holder] < v->last_use[i]) v->last_use[holder] = v->last_use[i];
    } else if (!st && pt2_tensor_memory_order(&result.tensor, order) && result.tensor.storage_offset == 0 &&
               pt2_arena_adopt(&v->value_arenas[i], &v->scratch, result.tensor.storage)) {
        v->outputs[i].tensor = result.tensor;
    } else if (!st) {
        st = pt2_tensor_contiguous(&v->value_arenas[i], &result.tensor, 1, &v->outputs[i].tensor, err);
    }
    v->outputs[i].shape = result.shape;
    pt2_arena_reset(&v->scratch);
    for (size_t s = 0; s < layer->num_from; s++) {
        size_t source = v->sources[i * PT2_RT_MAX_FROM + s];
        size_t held = source == SIZE_MAX ? SIZE_MAX : v->holder[source];
        if (held != SIZE_MAX && v->last_use[held] == i) pt2_arena_free(&v->value_arenas[held]);
    }
    return st;
}

/* The net dim of each of a result's axes, in PyTorch's order. */
static pt2_status result_dims(const pt2_rt_net *net, const pt2_reloaded_output *result, const pt2_rt_layer *layer,
                              int *dims, pt2_error *err) {
    if (result->num_axes != (size_t)layer->shape.rank)
        return pt2_fail(err, PT2_ERR_VERIFY, "the axes of result '%s' name %zu axes, its layer '%s' has %d", result->name,
                        result->num_axes, layer->name, layer->shape.rank);
    for (size_t a = 0; a < result->num_axes; a++) {
        pt2_status st = pt2_rt_resolve_axis(net, &layer->shape, result->axes[a], &dims[a], err);
        if (st) return st;
    }
    return PT2_OK;
}

/* Result k, layer i's output, in PyTorch's order of axes: a view of the layer's data, whose block
 * moves to `arena` before the run's values go (or is there already, for an earlier result of the
 * same data; the input outlives the run), not a copy in another layout beside it; a copy only when
 * the data is no block of its own (a small value in a shared chunk). */
static pt2_status keep_result(pt2_arena *arena, pt2_reload_values *v, size_t i, int rank, const int *dims, pt2_tensor *out,
                              size_t k, pt2_error *err) {
    const pt2_rt_tensor *value = &v->outputs[i];
    size_t holder = v->holder[i];
    pt2_status st = pt2_rt_strided_view(value, rank, dims, &out[k], err);
    if (st || holder == SIZE_MAX) return st;
    for (size_t j = 0; j < k; j++)
        if (out[j].storage == value->tensor.storage) return PT2_OK;
    if (pt2_arena_adopt(arena, &v->value_arenas[holder], value->tensor.storage)) return PT2_OK;
    return pt2_rt_transpose_to(arena, value, rank, dims, &out[k], err);
}

/* Runs the network, giving results [first, first + count) of reloaded->outputs. */
static pt2_status run_results(pt2_arena *arena, const pt2_reloaded_net *reloaded, const pt2_tensor *input, size_t first,
                              size_t count, pt2_tensor *out, pt2_error *err) {
    const pt2_rt_net *net = &reloaded->net;
    if (input->rank != net->input.rank) return pt2_fail(err, PT2_ERR_INPUT, "the input has %d axes, the config's extern data %d", input->rank, net->input.rank);
    const pt2_rt_layer *layers[PT2_RT_MAX_OUTPUTS];
    int dims[PT2_RT_MAX_OUTPUTS][PT2_MAX_RANK];
    if (!count || count > PT2_RT_MAX_OUTPUTS)
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "%zu results: expected 1 to %d", count, PT2_RT_MAX_OUTPUTS);
    for (size_t k = 0; k < count; k++) {
        const pt2_reloaded_output *result = &reloaded->outputs[first + k];
        if (!(layers[k] = pt2_rt_find_layer(net, result->layer)))
            return pt2_fail(err, PT2_ERR_VERIFY, "result '%s': no layer '%s'", result->name, result->layer);
        pt2_status st = result_dims(net, result, layers[k], dims[k], err);
        if (st) return st;
    }
    pt2_reload_values values;
    pt2_status st = reload_values_init(arena, net, (size_t)(layers[0] - net->layers), &values, err);
    for (size_t k = 1; k < count && !st; k++) values.last_use[layers[k] - net->layers] = SIZE_MAX; /* kept to the end too */
    for (size_t i = 0; i < net->num_layers && !st; i++) st = run_layer(&values, net, i, input, err);
    for (size_t k = 0; k < count && !st; k++) st = keep_result(arena, &values, (size_t)(layers[k] - net->layers),
                                                               layers[k]->shape.rank, dims[k], out, k, err);
    reload_values_free(&values, net->num_layers);
    return st;
}

pt2_status pt2_reload_run(pt2_arena *arena, const pt2_reloaded_net *reloaded, const pt2_tensor *input, pt2_tensor *out,
                          pt2_error *err) {
    return run_results(arena, reloaded, input, 0, 1, out, err);
}

pt2_status pt2_reload_run_outputs(pt2_arena *arena, const pt2_reloaded_net *reloaded, const pt2_tensor *input,
                                  pt2_tensor *out, pt2_error *err) {
    return run_results(arena, reloaded, input, 0, reloaded->num_outputs, out, err);
}
