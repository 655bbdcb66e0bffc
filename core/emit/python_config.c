#include "python_config.h"

#include <string.h>

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

static void python_value(pt2_strbuf *sb, const pt2_rt_net *net, const pt2_rt_value *v) {
    char number[40];
    switch (v->kind) {
    case PT2_RT_NONE: pt2_strbuf_puts(sb, "None"); return;
    case PT2_RT_STRING: python_string(sb, v->string); return;
    case PT2_RT_INT: pt2_strbuf_printf(sb, "%lld", (long long)v->int_value); return;
    case PT2_RT_FLOAT:
        pt2_format_double(number, sizeof number, v->float_value);
        pt2_strbuf_puts(sb, number);
        return;
    case PT2_RT_BOOL: pt2_strbuf_puts(sb, v->int_value ? "True" : "False"); return;
    case PT2_RT_DIM: pt2_strbuf_puts(sb, net->dims[v->dim].variable); return;
    case PT2_RT_LIST:
        pt2_strbuf_putc(sb, '[');
        for (size_t i = 0; i < v->count; i++) {
            if (i) pt2_strbuf_puts(sb, ", ");
            python_value(sb, net, &v->items[i]);
        }
        pt2_strbuf_putc(sb, ']');
        return;
    }
}

static const char *axis_description(const pt2_rt_dim *d) {
    switch (d->kind) {
    case PT2_RT_DIM_BATCH: return "B";
    case PT2_RT_DIM_TIME: return "T";
    case PT2_RT_DIM_FEATURE: return "F";
    case PT2_RT_DIM_STATIC: break;
    }
    return NULL;
}

pt2_status pt2_emit_python_config(const pt2_rt_net *net, const char *model_name, pt2_strbuf *out, pt2_error *err) {
    pt2_strbuf_puts(out, "#!rnn.py\n");
    pt2_strbuf_puts(out, "# RETURNN config written by pt2returnn from ");
    pt2_strbuf_puts(out, model_name);
    pt2_strbuf_puts(out, ".\n# The TensorFlow checkpoint beside it (model.001) holds every parameter.\n");
    pt2_strbuf_puts(out, "from returnn.tensor import Dim, batch_dim\n\n");
    pt2_strbuf_puts(out, "backend = \"tensorflow-net-dict\"\n");
    pt2_strbuf_printf(out, "behavior_version = %d\n\n", BEHAVIOR_VERSION);
    pt2_strbuf_puts(out, "# Dims of the input, in the PyTorch tensor's axis order.\n");
    for (int a = 0; a < net->input_rank; a++) {
        const pt2_rt_dim *d = &net->dims[net->input_dims[a]];
        if (d->kind == PT2_RT_DIM_BATCH) continue;
        pt2_strbuf_printf(out, "%s = Dim(", d->variable);
        if (d->size < 0) pt2_strbuf_puts(out, "None");
        else pt2_strbuf_printf(out, "%lld", (long long)d->size);
        pt2_strbuf_puts(out, ", name=");
        python_string(out, d->description);
        pt2_strbuf_puts(out, ")\n");
    }
    pt2_strbuf_puts(out, "extern_data = {\"data\": {\"dim_tags\": [");
    for (int a = 0; a < net->input_rank; a++)
        pt2_strbuf_printf(out, "%s%s", a ? ", " : "", net->dims[net->input_dims[a]].variable);
    pt2_strbuf_printf(out, "], \"dtype\": \"%s\", \"available_for_inference\": True}}\n\n", pt2_dtype_name(net->input_dtype));
    pt2_strbuf_puts(out, "network = {\n");
    for (size_t i = 0; i < net->num_layers; i++) {
        const pt2_rt_layer *l = &net->layers[i];
        pt2_strbuf_puts(out, "    ");
        python_string(out, l->name);
        pt2_strbuf_puts(out, ": {\"class\": ");
        python_string(out, l->layer_class);
        pt2_strbuf_puts(out, ", \"from\": ");
        if (l->num_from == 1) {
            python_string(out, l->from[0]);
        } else {
            pt2_strbuf_putc(out, '[');
            for (size_t f = 0; f < l->num_from; f++) {
                if (f) pt2_strbuf_puts(out, ", ");
                python_string(out, l->from[f]);
            }
            pt2_strbuf_putc(out, ']');
        }
        for (size_t o = 0; o < l->num_options; o++) {
            pt2_strbuf_puts(out, ", ");
            python_string(out, l->options[o].key);
            pt2_strbuf_puts(out, ": ");
            python_value(out, net, &l->options[o].value);
        }
        pt2_strbuf_puts(out, "},\n");
    }
    pt2_strbuf_puts(out, "}\n\n");
    const pt2_rt_layer *output = net->num_layers ? &net->layers[net->num_layers - 1] : NULL;
    if (!output) return pt2_fail(err, PT2_ERR_INTERNAL, "the network has no layers");
    pt2_strbuf_puts(out, "# The output's axes in the PyTorch tensor's order, as RETURNN axis descriptions.\n");
    pt2_strbuf_puts(out, "pt2returnn_output_axes = [");
    for (int a = 0; a < output->rank; a++) {
        const char *description = axis_description(&net->dims[output->dims[a]]);
        if (!description) return pt2_fail(err, PT2_ERR_UNSUPPORTED, "output axis %d has no RETURNN description", a);
        pt2_strbuf_printf(out, "%s\"%s\"", a ? ", " : "", description);
    }
    pt2_strbuf_puts(out, "]\n");
    return out->failed ? pt2_fail(err, PT2_ERR_MEMORY, "out of memory writing the config") : PT2_OK;
}

pt2_status pt2_emit_checkpoint_variables(pt2_arena *arena, const pt2_rt_net *net, pt2_tf_variable **out,
                                         size_t *count, pt2_error *err) {
    size_t total = 1;
    for (size_t i = 0; i < net->num_layers; i++) total += net->layers[i].num_params;
    pt2_tf_variable *vars = pt2_arena_alloc_array(arena, total, sizeof *vars, err);
    int64_t *step = pt2_arena_alloc(arena, sizeof *step, err);
    if (!vars || !step) return err->status;
    size_t n = 0;
    for (size_t i = 0; i < net->num_layers; i++)
        for (size_t p = 0; p < net->layers[i].num_params; p++) {
            vars[n].name = pt2_arena_printf(arena, err, "%s/%s", net->layers[i].name, net->layers[i].params[p].name);
            if (!vars[n].name) return err->status;
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
