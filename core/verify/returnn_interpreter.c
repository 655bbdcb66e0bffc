#include "returnn_interpreter.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const pt2_rt_value *option(const pt2_rt_layer *layer, const char *key) {
    for (size_t i = 0; i < layer->num_options; i++)
        if (!strcmp(layer->options[i].key, key)) return &layer->options[i].value;
    return NULL;
}

static int64_t int_option(const pt2_rt_layer *layer, const char *key, int64_t fallback) {
    const pt2_rt_value *v = option(layer, key);
    if (!v) return fallback;
    if (v->kind == PT2_RT_INT) return v->int_value;
    if (v->kind == PT2_RT_LIST && v->count == 1 && v->items[0].kind == PT2_RT_INT) return v->items[0].int_value;
    return fallback;
}

static const pt2_tensor *param(const pt2_rt_layer *layer, const char *name) {
    for (size_t i = 0; i < layer->num_params; i++)
        if (!strcmp(layer->params[i].name, name)) return &layer->params[i].value;
    return NULL;
}

static int axis_of_kind(const pt2_rt_net *net, const pt2_rt_tensor *t, pt2_rt_dim_kind kind) {
    for (int a = 0; a < t->tensor.rank; a++)
        if (net->dims[t->dims[a]].kind == kind) return a;
    return -1;
}

pt2_status pt2_rt_transpose_to(pt2_arena *arena, const pt2_rt_tensor *in, int rank, const int *dims, pt2_tensor *out,
                               pt2_error *err) {
    if (rank != in->tensor.rank) return pt2_fail(err, PT2_ERR_INTERNAL, "rank mismatch mapping RETURNN axes");
    pt2_tensor view = in->tensor;
    for (int a = 0; a < rank; a++) {
        int source = -1;
        for (int b = 0; b < rank; b++)
            if (in->dims[b] == dims[a]) source = b;
        if (source < 0) return pt2_fail(err, PT2_ERR_INTERNAL, "a dim is missing when mapping RETURNN axes");
        view.shape[a] = in->tensor.shape[source];
        view.strides[a] = in->tensor.strides[source];
    }
    return pt2_tensor_contiguous(arena, &view, 1, out, err);
}

/* TF's conv with RETURNN's integer padding: pad both sides, then VALID; feature-last. */
static pt2_status conv(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer, const pt2_rt_tensor *input,
                       pt2_rt_tensor *out, pt2_error *err) {
    int batch_axis = axis_of_kind(net, input, PT2_RT_DIM_BATCH), time_axis = axis_of_kind(net, input, PT2_RT_DIM_TIME),
        feature_axis = axis_of_kind(net, input, PT2_RT_DIM_FEATURE);
    const pt2_tensor *w = param(layer, "W"), *bias = param(layer, "bias");
    if (input->tensor.rank != 3 || batch_axis < 0 || time_axis < 0 || feature_axis < 0 || !w || w->rank != 3)
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "layer '%s': the interpreter runs 1-D conv on [B, T, F] only", layer->name);
    int order[3] = {input->dims[batch_axis], input->dims[time_axis], input->dims[feature_axis]};
    pt2_tensor x, weight;
    pt2_status st = pt2_rt_transpose_to(arena, input, 3, order, &x, err);
    if (!st) st = pt2_tensor_contiguous(arena, w, 1, &weight, err);
    if (st) return st;
    const pt2_rt_value *padding = option(layer, "padding");
    int64_t pad = padding && padding->kind == PT2_RT_INT ? padding->int_value : 0;
    int64_t stride = int_option(layer, "strides", 1), dilation = int_option(layer, "dilation_rate", 1);
    int64_t groups = int_option(layer, "groups", 1);
    int64_t batch = x.shape[0], time = x.shape[1], in_features = x.shape[2];
    int64_t kernel = weight.shape[0], group_in = weight.shape[1], out_features = weight.shape[2];
    if (group_in * groups != in_features)
        return pt2_fail(err, PT2_ERR_INTERNAL, "layer '%s': filter does not fit the input features", layer->name);
    int64_t padded = time + 2 * pad, span = dilation * (kernel - 1) + 1;
    int64_t out_time = padded >= span ? (padded - span) / stride + 1 : 0; /* VALID: ceil((T' - span + 1) / s) */
    int64_t shape[3] = {batch, out_time, out_features};
    if ((st = pt2_tensor_alloc(arena, PT2_DTYPE_FLOAT32, 3, shape, &out->tensor, err))) return st;
    const float *px = pt2_tensor_data(&x), *pw = pt2_tensor_data(&weight);
    const float *pb = bias ? pt2_tensor_data(bias) : NULL;
    float *po = pt2_tensor_data(&out->tensor);
    int64_t group_out = out_features / groups;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t t = 0; t < out_time; t++)
            for (int64_t o = 0; o < out_features; o++) {
                int64_t g = o / group_out;
                double sum = pb ? pb[o] : 0.0;
                for (int64_t k = 0; k < kernel; k++) {
                    int64_t source = t * stride + k * dilation - pad;
                    if (source < 0 || source >= time) continue;
                    for (int64_t i = 0; i < group_in; i++)
                        sum += (double)px[(b * time + source) * in_features + g * group_in + i] *
                               pw[(k * group_in + i) * out_features + o];
                }
                po[(b * out_time + t) * out_features + o] = (float)sum;
            }
    /* The layer's output dims in RETURNN's order. */
    for (int a = 0; a < 3; a++) {
        pt2_rt_dim_kind want = a == 0 ? PT2_RT_DIM_BATCH : a == 1 ? PT2_RT_DIM_TIME : PT2_RT_DIM_FEATURE;
        out->dims[a] = -1;
        for (int d = 0; d < layer->rank; d++)
            if (net->dims[layer->dims[d]].kind == want) out->dims[a] = layer->dims[d];
    }
    return PT2_OK;
}

/* activation and the eval layers pt2returnn writes: elementwise, dims unchanged. */
static pt2_status elementwise(pt2_arena *arena, const pt2_rt_layer *layer, const pt2_rt_tensor *input,
                              pt2_rt_tensor *out, pt2_error *err) {
    const pt2_rt_value *activation = option(layer, "activation"), *code = option(layer, "eval");
    const char *name = activation && activation->kind == PT2_RT_STRING ? activation->string : NULL;
    double alpha = 0;
    int leaky = 0;
    if (code && code->kind == PT2_RT_STRING) {
        const char *prefix = "tf.nn.leaky_relu(source(0), alpha=";
        if (strncmp(code->string, prefix, strlen(prefix)) != 0)
            return pt2_fail(err, PT2_ERR_UNSUPPORTED, "layer '%s': the interpreter does not know eval \"%s\"", layer->name,
                            code->string);
        alpha = strtod(code->string + strlen(prefix), NULL);
        leaky = 1;
    } else if (!name || (strcmp(name, "tanh") && strcmp(name, "relu") && strcmp(name, "sigmoid"))) {
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "layer '%s': the interpreter does not know this activation", layer->name);
    }
    pt2_status st = pt2_tensor_contiguous(arena, &input->tensor, 1, &out->tensor, err);
    if (st) return st;
    memcpy(out->dims, input->dims, sizeof out->dims);
    float *p = pt2_tensor_data(&out->tensor);
    int64_t n = pt2_tensor_numel(&out->tensor);
    for (int64_t i = 0; i < n; i++) {
        double v = p[i];
        if (leaky) v = v < 0 ? alpha * v : v; /* tf.nn.leaky_relu: max(alpha * x, x) for alpha < 1 */
        else if (!strcmp(name, "tanh")) v = tanh(v);
        else if (!strcmp(name, "relu")) v = v > 0 ? v : 0;
        else v = 1.0 / (1.0 + exp(-v));
        p[i] = (float)v;
    }
    return PT2_OK;
}

pt2_status pt2_rt_interpret_layer(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                  const pt2_rt_tensor *input, pt2_rt_tensor *out, pt2_error *err) {
    if (!strcmp(layer->layer_class, "conv")) return conv(arena, net, layer, input, out, err);
    if (!strcmp(layer->layer_class, "activation") || !strcmp(layer->layer_class, "eval"))
        return elementwise(arena, layer, input, out, err);
    if (!strcmp(layer->layer_class, "copy")) {
        *out = *input;
        return PT2_OK;
    }
    return pt2_fail(err, PT2_ERR_UNSUPPORTED, "layer '%s': the interpreter has no '%s' layer yet", layer->name,
                    layer->layer_class);
}
