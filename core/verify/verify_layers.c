#include "verify_layers.h"

#include <math.h>
#include <string.h>

#include "returnn_interpreter.h"

pt2_status pt2_verify_layers(pt2_arena *arena, const pt2_lower_context *lowered, double atol, double rtol,
                             pt2_layer_checks *out, pt2_error *err) {
    const pt2_rt_net *net = lowered->net;
    const pt2_graph *g = lowered->graph;
    memset(out, 0, sizeof *out);
    out->items = pt2_arena_alloc_array(arena, net->num_layers + 1, sizeof *out->items, err);
    if (!out->items) return err->status;
    for (size_t i = 0; i < net->num_layers; i++) {
        const pt2_rt_layer *layer = &net->layers[i];
        if (layer->node < 0 || layer->input_value < 0) continue;
        const pt2_node *node = &g->nodes[layer->node];
        const pt2_lowered_value *in_map = &lowered->values[layer->input_value];
        pt2_rt_tensor input = {0}, result;
        input.tensor = lowered->run->values[layer->input_value].tensor;
        memcpy(input.dims, in_map->dims, sizeof input.dims);
        pt2_status st = pt2_rt_interpret_layer(arena, net, layer, &input, &result, err);
        pt2_tensor ours, torch;
        if (!st) st = pt2_rt_transpose_to(arena, &result, layer->rank, layer->dims, &ours, err);
        if (!st) st = pt2_tensor_contiguous(arena, &lowered->run->values[node->outputs[0].value_id].tensor, 0, &torch, err);
        if (st) return st;
        pt2_layer_check *c = &out->items[out->count++];
        c->layer = layer->name;
        c->module_path = node->module_depth ? node->module_stack[node->module_depth - 1].path : "";
        c->op = node->target;
        c->passed = ours.rank == torch.rank;
        for (int a = 0; a < ours.rank && c->passed; a++) c->passed = ours.shape[a] == torch.shape[a];
        if (c->passed) {
            const float *a = pt2_tensor_data(&ours), *b = pt2_tensor_data(&torch);
            int64_t n = pt2_tensor_numel(&ours);
            for (int64_t k = 0; k < n; k++) {
                double diff = fabs((double)a[k] - b[k]), scale = fabs((double)b[k]);
                if (diff > c->max_abs) c->max_abs = diff;
                if (scale > 0 && diff / scale > c->max_rel) c->max_rel = diff / scale;
                if (!(diff <= atol + rtol * scale)) c->passed = 0;
            }
        } else {
            c->max_abs = c->max_rel = INFINITY;
        }
        if (!c->passed) out->failed++;
    }
    return PT2_OK;
}

void pt2_layer_checks_format(const pt2_layer_checks *checks, double atol, double rtol, pt2_strbuf *out) {
    pt2_strbuf_printf(out, "per-layer check (RETURNN semantics on PyTorch's inputs; |ours - torch| <= %g + %g*|torch|):\n",
                      atol, rtol);
    pt2_strbuf_printf(out, "  %-16s %-16s %-26s %12s %12s  %s\n", "layer", "module", "torch op", "max abs", "max rel",
                      "result");
    for (size_t i = 0; i < checks->count; i++) {
        const pt2_layer_check *c = &checks->items[i];
        pt2_strbuf_printf(out, "  %-16s %-16s %-26s %12.3g %12.3g  %s\n", c->layer, c->module_path, c->op, c->max_abs,
                          c->max_rel, c->passed ? "pass" : "FAIL");
    }
    pt2_strbuf_printf(out, "  %zu of %zu layers pass\n", checks->count - checks->failed, checks->count);
}
