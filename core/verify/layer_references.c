#include "layer_references.h"

pt2_status pt2_layer_reference_of(pt2_arena *arena, const pt2_lower_context *lowered, const pt2_rt_layer *layer,
                                  pt2_layer_reference *r, pt2_error *err) {
    const pt2_rt_net *net = lowered->net;
    const pt2_node *node = &lowered->graph->nodes[layer->node];
    r->layer = layer->name;
    r->layer_class = layer->layer_class;
    /* A broadcast axis (core/lower/axes.h; an expand may have made it of any size) is
     * compared at its first entry, as RETURNN's value lacks it. */
    int checked = layer->output_value >= 0 ? layer->output_value : node->outputs[0].value_id;
    pt2_tensor value = lowered->run->values[checked].tensor;
    for (int a = 0; a < layer->torch_rank && a < value.rank; a++)
        if (layer->torch_dims[a] < 0) value.shape[a] = 1;
    pt2_status st = pt2_tensor_contiguous(arena, &value, 1, &r->value, err);
    if (st) return st;
    for (int a = 0; a < layer->torch_rank; a++) {
        int dim = layer->torch_dims[a];
        if (dim < 0) { /* a size-1 axis RETURNN does not have */
            r->axes[a].kind = PT2_RT_DIM_STATIC;
            r->axes[a].size = -1;
            r->axes[a].name = NULL;
            continue;
        }
        r->axes[a].kind = net->dims[dim].kind;
        r->axes[a].size = net->dims[dim].size;
        r->axes[a].is_feature = dim == layer->shape.feature_dim;
        r->axes[a].name = net->dims[dim].description;
    }
    return PT2_OK;
}
