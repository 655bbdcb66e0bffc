#include "returnn_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net_layout.h"

#define BEHAVIOR_VERSION 21

static void python_string(pt2_strbuf *sb, const char *s) {
    pt2_strbuf_putc(sb, '"');
    for (const char *c = s; *c; c++) {
        if (*c == '"' || *c == '\\') pt2_strbuf_putc(sb, '\\');
        if (*c == '\n') {
            pt2_strbuf_puts(sb, "\\n");
            continue;
        }
        pt2_strbuf_putc(sb, *c);
    }
    pt2_strbuf_putc(sb, '"');
}

/* The two config forms differ only in their literals and in how a dim tag is written. */
typedef struct config_style {
    int json;
    const char *as_layer; /* NULL: the layers are the network; else one subnetwork layer of this name */
} config_style;

static void write_string(pt2_strbuf *sb, const config_style *style, const char *s) {
    if (style->json)
        pt2_json_write_string(sb, s);
    else
        python_string(sb, s);
}

static pt2_status write_value(pt2_strbuf *sb, const config_style *style, const pt2_rt_net *net, const pt2_rt_value *v,
                              pt2_error *err) {
    char number[40];
    switch (v->kind) {
    case PT2_RT_NONE: pt2_strbuf_puts(sb, style->json ? "null" : "None"); return PT2_OK;
    case PT2_RT_STRING: write_string(sb, style, v->string); return PT2_OK;
    case PT2_RT_INT: pt2_strbuf_printf(sb, "%lld", (long long)v->int_value); return PT2_OK;
    case PT2_RT_FLOAT:
        pt2_format_double(number, sizeof number, v->float_value);
        pt2_strbuf_puts(sb, number);
        return PT2_OK;
    case PT2_RT_BOOL:
        pt2_strbuf_puts(sb, v->int_value ? (style->json ? "true" : "True") : (style->json ? "false" : "False"));
        return PT2_OK;
    case PT2_RT_DICT:
        pt2_strbuf_putc(sb, '{');
        for (size_t i = 0; i < v->count; i++) {
            if (i) pt2_strbuf_puts(sb, ", ");
            write_string(sb, style, v->keys[i]);
            pt2_strbuf_puts(sb, ": ");
            pt2_status st = write_value(sb, style, net, &v->items[i], err);
            if (st) return st;
        }
        pt2_strbuf_putc(sb, '}');
        return PT2_OK;
    case PT2_RT_LIST:
        pt2_strbuf_putc(sb, '[');
        for (size_t i = 0; i < v->count; i++) {
            if (i) pt2_strbuf_puts(sb, ", ");
            pt2_status st = write_value(sb, style, net, &v->items[i], err);
            if (st) return st;
        }
        pt2_strbuf_putc(sb, ']');
        return PT2_OK;
    }
    return PT2_OK;
}

static void write_reference(pt2_strbuf *out, const config_style *style, const pt2_rt_net *net, const char *network,
                            const char *target) {
    char ref[600];
    write_string(out, style, pt2_layout_reference(net, network, target, ref, sizeof ref));
}

static pt2_status write_layer(const pt2_rt_net *net, const config_style *style, const char *network,
                              const pt2_rt_layer *l, pt2_strbuf *out, pt2_error *err) {
    pt2_strbuf_puts(out, "{\"class\": ");
    write_string(out, style, l->layer_class);
    pt2_strbuf_puts(out, ", \"from\": ");
    /* concat reads [layer, axis] pairs; the axes are held in the option "from_axes". */
    const pt2_rt_value *from_axes = pt2_rt_get_option(l, "from_axes");
    if (!strcmp(l->layer_class, "switch")) {
        /* RETURNN's switch takes no "from": its layers are condition, true_from, false_from. */
        pt2_strbuf_puts(out, "[]");
        const char *keys[3] = {"condition", "true_from", "false_from"};
        for (size_t k = 0, f = 0; k < 3 && f < l->num_from; k++) {
            if (k && pt2_rt_get_option(l, keys[k])) continue; /* a constant branch, among the options */
            pt2_strbuf_puts(out, ", ");
            write_string(out, style, keys[k]);
            pt2_strbuf_puts(out, ": ");
            write_reference(out, style, net, network, l->from[f++]);
        }
    } else if (!strcmp(l->layer_class, "gather") && l->num_from == 2) {
        /* RETURNN's gather takes its position layer as the option "position" (the second source here). */
        write_reference(out, style, net, network, l->from[0]);
        pt2_strbuf_puts(out, ", ");
        write_string(out, style, "position");
        pt2_strbuf_puts(out, ": ");
        write_reference(out, style, net, network, l->from[1]);
    } else if (!strcmp(l->layer_class, "concat") && from_axes && from_axes->kind == PT2_RT_LIST && from_axes->count == l->num_from) {
        pt2_strbuf_putc(out, '[');
        for (size_t f = 0; f < l->num_from; f++) {
            pt2_strbuf_puts(out, f ? ", [" : "[");
            write_reference(out, style, net, network, l->from[f]);
            pt2_strbuf_puts(out, ", ");
            write_string(out, style, from_axes->items[f].kind == PT2_RT_STRING ? from_axes->items[f].string : "");
            pt2_strbuf_putc(out, ']');
        }
        pt2_strbuf_putc(out, ']');
    } else if (l->num_from == 1) {
        write_reference(out, style, net, network, l->from[0]);
    } else {
        pt2_strbuf_putc(out, '[');
        for (size_t f = 0; f < l->num_from; f++) {
            if (f) pt2_strbuf_puts(out, ", ");
            write_reference(out, style, net, network, l->from[f]);
        }
        pt2_strbuf_putc(out, ']');
    }
    for (size_t o = 0; o < l->num_options; o++) {
        if (!strcmp(l->options[o].key, "from_axes")) continue; /* written in "from" */
        pt2_strbuf_puts(out, ", ");
        write_string(out, style, l->options[o].key);
        pt2_strbuf_puts(out, ": ");
        const pt2_rt_value *v = &l->options[o].value;
        if (!strcmp(l->options[o].key, "size_base") && v->kind == PT2_RT_STRING) { /* a layer, named from here */
            write_reference(out, style, net, network, v->string);
            continue;
        }
        pt2_status st = write_value(out, style, net, v, err);
        if (st) return st;
    }
    const pt2_rt_layer *twin = pt2_layout_reused(net, l);
    if (twin) {
        char ref[600];
        pt2_strbuf_puts(out, ", \"reuse_params\": ");
        write_string(out, style, pt2_layout_layer_reference(net, network, twin->name, ref, sizeof ref));
    }
    pt2_strbuf_putc(out, '}');
    return PT2_OK;
}

/* The layers of `network` (a path; "" for the root), each entry after the entries it reads
 * (pt2_layout_order), a subnetwork whole, and for a subnetwork its "output". */
static pt2_status write_layers(const pt2_rt_net *net, const config_style *style, const char *network, int indent,
                               pt2_strbuf *out, pt2_error *err) {
    size_t prefix = network[0] ? strlen(network) + 1 : 0, count;
    size_t *order = malloc((net->num_layers + 1) * sizeof *order);
    if (!order) return pt2_fail(err, PT2_ERR_MEMORY, "out of memory writing the network");
    pt2_status st = pt2_layout_order(net, network, order, &count, err);
    pt2_strbuf_puts(out, "{\n");
    for (size_t k = 0; k < count && !st; k++) {
        const pt2_rt_layer *l = &net->layers[order[k]];
        const char *local = l->name + prefix, *slash = strchr(local, '/');
        char sub[512];
        if (k) pt2_strbuf_puts(out, ",\n");
        pt2_strbuf_indent(out, indent + 4);
        if (slash) { /* a subnetwork of this network, whole */
            snprintf(sub, sizeof sub, "%.*s", (int)(slash - l->name), l->name);
            write_string(out, style, sub + prefix);
            pt2_strbuf_puts(out, ": {\"class\": \"subnetwork\", \"from\": ");
            const char *source = pt2_layout_source_of(net, sub);
            if (source) write_reference(out, style, net, network, source);
            else pt2_strbuf_puts(out, "[]");
            pt2_strbuf_puts(out, ", \"subnetwork\": ");
            st = write_layers(net, style, sub, indent + 4, out, err);
            pt2_strbuf_putc(out, '}');
        } else {
            write_string(out, style, local);
            pt2_strbuf_puts(out, ": ");
            st = write_layer(net, style, network, l, out, err);
        }
    }
    free(order);
    if (st) return st;
    if (network[0]) {
        pt2_strbuf_puts(out, ",\n");
        pt2_strbuf_indent(out, indent + 4);
        pt2_strbuf_puts(out, "\"output\": {\"class\": \"copy\", \"from\": ");
        write_reference(out, style, net, network, pt2_layout_result_of(net, network));
        pt2_strbuf_putc(out, '}');
    }
    pt2_strbuf_putc(out, '\n');
    pt2_strbuf_indent(out, indent);
    pt2_strbuf_puts(out, "}");
    return PT2_OK;
}

/* The subnetwork layer --as-layer NAME gives: the whole network inside, reading its "data" from
 * the layer's own "from". */
static pt2_status write_subnetwork_layer(const pt2_rt_net *net, const config_style *style, int indent, pt2_strbuf *out,
                                         pt2_error *err) {
    pt2_strbuf_puts(out, "{\"class\": \"subnetwork\", \"from\": \"data\", \"subnetwork\": ");
    pt2_status st = write_layers(net, style, "", indent, out, err);
    pt2_strbuf_puts(out, "}");
    return st;
}

static pt2_status write_network(const pt2_rt_net *net, const config_style *style, pt2_strbuf *out, pt2_error *err) {
    if (!style->as_layer) return write_layers(net, style, "", 0, out, err);
    pt2_strbuf_puts(out, "{\n    ");
    write_string(out, style, style->as_layer);
    pt2_strbuf_puts(out, ": ");
    pt2_status st = write_subnetwork_layer(net, style, 4, out, err);
    pt2_strbuf_puts(out, ",\n    \"output\": {\"class\": \"copy\", \"from\": ");
    write_string(out, style, style->as_layer);
    pt2_strbuf_puts(out, "}\n}");
    return st;
}

pt2_status pt2_emit_layer_dict(const pt2_rt_net *net, const char *as_layer, int json, pt2_strbuf *out, pt2_error *err) {
    config_style style = {json, as_layer};
    pt2_status st = write_subnetwork_layer(net, &style, 0, out, err);
    pt2_strbuf_putc(out, '\n');
    return st;
}

/* RETURNN axis descriptions of one result's axes, in the PyTorch tensor's order. */
static pt2_status write_axes_of(pt2_arena *arena, const pt2_rt_net *net, const char *layer_name, int rank,
                                const int *dims, pt2_strbuf *out, pt2_error *err) {
    const pt2_rt_layer *layer = layer_name ? pt2_rt_find_layer(net, layer_name) : NULL;
    if (!layer) return pt2_fail(err, PT2_ERR_INTERNAL, "the network has no output layer '%s'", layer_name ? layer_name : "output");
    pt2_strbuf_putc(out, '[');
    for (int a = 0; a < rank; a++) {
        const char *description;
        pt2_status st = pt2_rt_axis_description(arena, net, &layer->shape, dims[a], &description, err);
        if (st) return st;
        if (a) pt2_strbuf_puts(out, ", ");
        pt2_json_write_string(out, description);
    }
    pt2_strbuf_putc(out, ']');
    return PT2_OK;
}

/* The first result's axes: pt2returnn_output_axes, as every config has had it. */
static pt2_status write_output_axes(pt2_arena *arena, const pt2_rt_net *net, pt2_strbuf *out, pt2_error *err) {
    return write_axes_of(arena, net, net->output, net->output_torch_rank, net->output_torch_dims, out, err);
}

/* With several results, pt2returnn_outputs lists each one in the program's order: its layer, its
 * name, its axes (the first is "output", whose axes are pt2returnn_output_axes too). A config
 * without the list has the one result "output". With --as-layer the further results are layers
 * inside the subnetwork, so their layer is named "<NAME>/<layer>". The Python config's literals are
 * JSON's, which Python reads alike (strings and lists only). */
static pt2_status write_outputs_list(pt2_arena *arena, const pt2_rt_net *net, const char *as_layer, int json,
                                     pt2_strbuf *out, pt2_error *err) {
    pt2_strbuf_putc(out, '[');
    for (size_t k = 0; k < net->num_outputs; k++) {
        const pt2_rt_output *o = &net->outputs[k];
        pt2_strbuf_puts(out, k ? (json ? ",\n  {\"layer\": " : ",\n    {\"layer\": ") : (json ? "\n  {\"layer\": " : "\n    {\"layer\": "));
        char layer[600];
        snprintf(layer, sizeof layer, "%s%s%s", k && as_layer ? as_layer : "", k && as_layer ? "/" : "", o->layer);
        pt2_json_write_string(out, layer);
        pt2_strbuf_puts(out, ", \"name\": ");
        pt2_json_write_string(out, o->name);
        pt2_strbuf_puts(out, ", \"axes\": ");
        pt2_status st = write_axes_of(arena, net, o->layer, o->torch_rank, o->torch_dims, out, err);
        if (st) return st;
        pt2_strbuf_putc(out, '}');
    }
    pt2_strbuf_puts(out, "]");
    return PT2_OK;
}

pt2_status pt2_emit_python_config(pt2_arena *arena, const pt2_rt_net *net, const char *model_name, const char *as_layer,
                                  pt2_strbuf *out, pt2_error *err) {
    const config_style python = {0, as_layer};
    const pt2_rt_shape *in = &net->input;
    pt2_strbuf_puts(out, "#!rnn.py\n");
    pt2_strbuf_puts(out, "# RETURNN config written by pt2returnn from ");
    pt2_strbuf_puts(out, model_name);
    pt2_strbuf_puts(out, ".\n# The TensorFlow checkpoint beside it (model.001) holds every parameter.\n");
    pt2_strbuf_puts(out, "from returnn.tensor import Dim, batch_dim\n\n");
    pt2_strbuf_puts(out, "backend = \"tensorflow-net-dict\"\n");
    pt2_strbuf_printf(out, "behavior_version = %d\n\n", BEHAVIOR_VERSION);
    pt2_strbuf_puts(out, "# Dims of the input, in the PyTorch tensor's axis order.\n");
    for (int a = 0; a < in->rank; a++) {
        const pt2_rt_dim *d = &net->dims[in->dims[a]];
        if (d->kind == PT2_RT_DIM_BATCH) continue;
        pt2_strbuf_printf(out, "input_dim%d = Dim(", a);
        if (d->size < 0) pt2_strbuf_puts(out, "None");
        else pt2_strbuf_printf(out, "%lld", (long long)d->size);
        pt2_strbuf_puts(out, ", name=");
        python_string(out, d->description);
        /* The feature dim as RETURNN's shape-based extern data makes it (kind Feature, not declared
         * by the user), so that layers match it with another layer's feature dim of one size, as
         * they do in the JSON form. The time dim stays the user's: then reinterpret_data's
         * size_base can declare two paths' time dims the same (JSON cannot; there the lowering makes
         * such paths meet in one dim, see lower_conv.c). */
        if (in->dims[a] == in->feature_dim) pt2_strbuf_puts(out, ", kind=Dim.Types.Feature, auto_generated=True");
        pt2_strbuf_puts(out, ")\n");
    }
    if (in->sparse_dim >= 0)
        pt2_strbuf_printf(out, "input_sparse_dim = Dim(%lld, name=\"%s\")\n", (long long)net->dims[in->sparse_dim].size,
                          net->dims[in->sparse_dim].description);
    pt2_strbuf_puts(out, "extern_data = {\"data\": {\"dim_tags\": [");
    for (int a = 0; a < in->rank; a++) {
        if (a) pt2_strbuf_puts(out, ", ");
        if (net->dims[in->dims[a]].kind == PT2_RT_DIM_BATCH) pt2_strbuf_puts(out, "batch_dim");
        else pt2_strbuf_printf(out, "input_dim%d", a);
    }
    pt2_strbuf_puts(out, "]");
    if (in->sparse_dim >= 0) pt2_strbuf_puts(out, ", \"sparse_dim\": input_sparse_dim");
    pt2_strbuf_printf(out, ", \"dtype\": \"%s\", \"available_for_inference\": True}}\n\n", pt2_dtype_name(in->dtype));
    pt2_strbuf_puts(out, "network = ");
    pt2_status st = write_network(net, &python, out, err);
    if (st) return st;
    pt2_strbuf_puts(out, "\n\n");
    pt2_strbuf_puts(out, "# The output's axes in the PyTorch tensor's order, as RETURNN axis descriptions.\n");
    pt2_strbuf_puts(out, "pt2returnn_output_axes = ");
    if ((st = write_output_axes(arena, net, out, err))) return st;
    pt2_strbuf_putc(out, '\n');
    if (net->num_outputs > 1) {
        pt2_strbuf_puts(out, "# Every result of the program, in its order: the layer, the program's name, the axes in the\n"
                             "# PyTorch tensor's order.\n");
        pt2_strbuf_puts(out, "pt2returnn_outputs = ");
        if ((st = write_outputs_list(arena, net, as_layer, 0, out, err))) return st;
        pt2_strbuf_putc(out, '\n');
    }
    return out->failed ? pt2_fail(err, PT2_ERR_MEMORY, "out of memory writing the config") : PT2_OK;
}

pt2_status pt2_emit_json_config(pt2_arena *arena, const pt2_rt_net *net, const char *as_layer, pt2_strbuf *out,
                                pt2_error *err) {
    const config_style json = {1, as_layer};
    const pt2_rt_shape *in = &net->input;
    /* JSON has no Dim objects: the input is described the old way, by its shape without the
     * batch axis (null for the time axis), its feature size (or vocabulary size when sparse)
     * and its feature axis. */
    pt2_strbuf_printf(out, "{\n\"backend\": \"tensorflow-net-dict\",\n\"behavior_version\": %d,\n", BEHAVIOR_VERSION);
    pt2_strbuf_puts(out, "\"extern_data\": {\"data\": {\"shape\": [");
    int feature_axis = -1, last_static = -1;
    for (int a = 1; a < in->rank; a++) {
        const pt2_rt_dim *d = &net->dims[in->dims[a]];
        if (d->kind == PT2_RT_DIM_BATCH) return pt2_fail(err, PT2_ERR_UNSUPPORTED, "the batch must be the input's first axis");
        if (d->size < 0) pt2_strbuf_printf(out, "%snull", a > 1 ? ", " : "");
        else pt2_strbuf_printf(out, "%s%lld", a > 1 ? ", " : "", (long long)d->size), last_static = a;
        if (in->dims[a] == in->feature_dim) feature_axis = a;
    }
    pt2_strbuf_puts(out, "]");
    if (in->sparse_dim >= 0)
        pt2_strbuf_printf(out, ", \"sparse\": true, \"dim\": %lld", (long long)net->dims[in->sparse_dim].size);
    else if (feature_axis >= 0) {
        pt2_strbuf_printf(out, ", \"dim\": %lld", (long long)net->dims[in->feature_dim].size);
        if (feature_axis != last_static) pt2_strbuf_printf(out, ", \"feature_dim_axis\": %d", feature_axis);
    }
    pt2_strbuf_printf(out, ", \"dtype\": \"%s\", \"available_for_inference\": true}},\n\"network\": ",
                      pt2_dtype_name(in->dtype));
    pt2_status st = write_network(net, &json, out, err);
    if (st) return st;
    pt2_strbuf_puts(out, ",\n\"pt2returnn_output_axes\": ");
    if ((st = write_output_axes(arena, net, out, err))) return st;
    if (net->num_outputs > 1) {
        pt2_strbuf_puts(out, ",\n\"pt2returnn_outputs\": ");
        if ((st = write_outputs_list(arena, net, as_layer, 1, out, err))) return st;
    }
    pt2_strbuf_puts(out, "\n}\n");
    return out->failed ? pt2_fail(err, PT2_ERR_MEMORY, "out of memory writing the config") : PT2_OK;
}

pt2_status pt2_emit_checkpoint_variables(pt2_arena *arena, const pt2_rt_net *net, const char *as_layer,
                                         pt2_tf_variable **out, size_t *count, pt2_error *err) {
    size_t total = 1;
    for (size_t i = 0; i < net->num_layers; i++) total += net->layers[i].num_params;
    pt2_tf_variable *vars = pt2_arena_alloc_array(arena, total, sizeof *vars, err);
    int64_t *step = pt2_arena_alloc(arena, sizeof *step, err);
    if (!vars || !step) return err->status;
    size_t n = 0;
    for (size_t i = 0; i < net->num_layers; i++)
        for (size_t p = 0; p < net->layers[i].num_params && !pt2_layout_reused(net, &net->layers[i]); p++) {
            vars[n].name = pt2_arena_printf(arena, err, "%s%s%s/%s", as_layer ? as_layer : "", as_layer ? "/" : "",
                                            net->layers[i].name, net->layers[i].params[p].name);
            if (!vars[n].name) return err->status;
            vars[n].blocks = net->layers[i].params[p].blocks;
            vars[n++].tensor = net->layers[i].params[p].value;
        }
    vars[n].name = "global_step";
    vars[n].tensor.dtype = PT2_DTYPE_INT64;
    vars[n].tensor.storage = step;
    vars[n++].tensor.storage_bytes = sizeof *step;
    *out = vars;
    *count = n;
    return PT2_OK;
}
