#include "net_layout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *pt2_layout_network_of(const char *name, char *buf, size_t size) {
    const char *slash = strrchr(name, '/');
    size_t n = slash ? (size_t)(slash - name) : 0;
    if (n >= size) n = size - 1;
    memcpy(buf, name, n);
    buf[n] = 0;
    return buf;
}

int pt2_layout_inside(const char *name, const char *network) {
    size_t n = strlen(network);
    return n == 0 || (!strncmp(name, network, n) && name[n] == '/');
}

const char *pt2_layout_result_of(const pt2_rt_net *net, const char *network) {
    const char *result = NULL;
    for (size_t i = 0; i < net->num_layers; i++)
        if (pt2_layout_inside(net->layers[i].name, network)) result = net->layers[i].name;
    return result;
}

const char *pt2_layout_source_of(const pt2_rt_net *net, const char *network) {
    for (size_t i = 0; i < net->num_layers; i++) {
        const pt2_rt_layer *l = &net->layers[i];
        if (!pt2_layout_inside(l->name, network)) continue;
        for (size_t f = 0; f < l->num_from; f++)
            if (!strcmp(l->from[f], "data") || !pt2_layout_inside(l->from[f], network)) return l->from[f];
    }
    return NULL;
}

static int depth_of(const char *network) {
    if (!network[0]) return 0;
    int depth = 1;
    for (const char *c = network; *c; c++) depth += *c == '/';
    return depth;
}

static const char *reference(const pt2_rt_net *net, const char *network, const char *target, int as_source, char *buf,
                             size_t size) {
    char target_network[512];
    const char *source = as_source && network[0] ? pt2_layout_source_of(net, network) : NULL;
    if (source && !strcmp(source, target)) {
        snprintf(buf, size, "data");
        return buf;
    }
    /* As a source, a subnetwork's result is named by the subnetwork, from outside it. */
    char effective[512];
    snprintf(effective, sizeof effective, "%s", target);
    while (as_source) {
        pt2_layout_network_of(effective, target_network, sizeof target_network);
        if (!target_network[0] || pt2_layout_inside(network, target_network) || !strcmp(network, target_network)) break;
        const char *result = pt2_layout_result_of(net, target_network);
        if (!result || strcmp(result, effective)) break;
        snprintf(effective, sizeof effective, "%s", target_network);
    }
    /* Up to the common network with "base:", then down by "sub/inner". Only the target's
     * network components can be in common (its last component is the layer itself). */
    size_t common = 0; /* characters of `network` in common, at a component boundary */
    int common_depth = 0;
    if (strcmp(effective, "data")) {
        pt2_layout_network_of(effective, target_network, sizeof target_network);
        size_t i = 0;
        while (network[i] && target_network[i] && network[i] == target_network[i]) {
            i++;
            if ((network[i] == '/' || network[i] == 0) && (target_network[i] == '/' || target_network[i] == 0)) {
                common = i;
                common_depth++;
            }
        }
    }
    int ups = depth_of(network) - common_depth;
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; i < ups && n + 6 < size; i++) n += (size_t)snprintf(buf + n, size - n, "base:");
    const char *rest = effective + (common ? common + 1 : 0);
    snprintf(buf + n, size - n, "%s", rest);
    return buf;
}

const char *pt2_layout_reference(const pt2_rt_net *net, const char *network, const char *target, char *buf, size_t size) {
    return reference(net, network, target, 1, buf, size);
}

const char *pt2_layout_layer_reference(const pt2_rt_net *net, const char *network, const char *target, char *buf,
                                       size_t size) {
    return reference(net, network, target, 0, buf, size);
}

const pt2_rt_layer *pt2_layout_reused(const pt2_rt_net *net, const pt2_rt_layer *layer) {
    if (!layer->reuse || !layer->num_params) return NULL;
    const pt2_rt_layer *twin = pt2_rt_find_layer(net, layer->reuse);
    if (!twin || twin == layer || strcmp(twin->layer_class, layer->layer_class) || twin->num_params != layer->num_params)
        return NULL;
    for (size_t p = 0; p < layer->num_params; p++) {
        const pt2_tensor *a = &layer->params[p].value, *b = &twin->params[p].value;
        if (strcmp(layer->params[p].name, twin->params[p].name) || a->storage != b->storage ||
            a->storage_offset != b->storage_offset || a->rank != b->rank || layer->params[p].blocks != twin->params[p].blocks)
            return NULL;
        for (int d = 0; d < a->rank; d++)
            if (a->shape[d] != b->shape[d] || a->strides[d] != b->strides[d]) return NULL;
    }
    return twin;
}

/* The entry of `network` that holds layer i: the index of the first layer of that entry (a layer
 * of its own, or the first layer of the subnetwork it is in), or SIZE_MAX outside `network`. */
static size_t entry_of(const pt2_rt_net *net, const char *network, size_t i) {
    const char *name = net->layers[i].name;
    if (!pt2_layout_inside(name, network)) return SIZE_MAX;
    size_t prefix = network[0] ? strlen(network) + 1 : 0;
    const char *slash = strchr(name + prefix, '/');
    if (!slash) return i;
    size_t key = (size_t)(slash - name);
    for (size_t j = 0; j < i; j++)
        if (!strncmp(net->layers[j].name, name, key) && net->layers[j].name[key] == '/') return j;
    return i;
}

/* The layers a layer reads: its sources, its size_base, the twin whose parameters it reuses. */
static size_t layers_read(const pt2_rt_net *net, const pt2_rt_layer *l, size_t *read) {
    size_t count = 0;
    for (size_t f = 0; f < l->num_from; f++) {
        const pt2_rt_layer *source = pt2_rt_find_layer(net, l->from[f]);
        if (source) read[count++] = (size_t)(source - net->layers);
    }
    const pt2_rt_value *base = pt2_rt_get_option(l, "size_base");
    const pt2_rt_layer *found = base && base->kind == PT2_RT_STRING ? pt2_rt_find_layer(net, base->string) : NULL;
    if (found) read[count++] = (size_t)(found - net->layers);
    const pt2_rt_layer *twin = pt2_layout_reused(net, l);
    if (twin) read[count++] = (size_t)(twin - net->layers);
    return count;
}

pt2_status pt2_layout_order(const pt2_rt_net *net, const char *network, size_t *order, size_t *count, pt2_error *err) {
    size_t n = net->num_layers, edges = 0, members = 0, max_edges = n * (PT2_RT_MAX_FROM + 2) + 1;
    /* entries[i]: layer i's entry (SIZE_MAX outside the network); member[k]: the k-th layer inside */
    size_t *entries = malloc((n + 1) * sizeof *entries), *member = malloc((n + 1) * sizeof *member);
    size_t *waiting = calloc(n + 1, sizeof *waiting), *from = malloc(max_edges * sizeof *from), *to = malloc(max_edges * sizeof *to);
    unsigned char *written = calloc(n + 1, 1);
    pt2_status st = PT2_OK;
    if (!entries || !member || !waiting || !from || !to || !written) {
        st = pt2_fail(err, PT2_ERR_MEMORY, "out of memory ordering the network's layers");
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        if ((entries[i] = entry_of(net, network, i)) != SIZE_MAX) member[members++] = i;
    /* Edges between entries: entry from[k] holds a layer that a layer of entry to[k] reads. */
    for (size_t m = 0; m < members; m++) {
        size_t i = member[m], read[PT2_RT_MAX_FROM + 2], r = layers_read(net, &net->layers[i], read);
        for (size_t k = 0; k < r; k++)
            if (entries[read[k]] != SIZE_MAX && entries[read[k]] != entries[i]) {
                from[edges] = entries[read[k]], to[edges++] = entries[i];
                waiting[entries[i]]++;
            }
    }
    /* The first entry (in the lowering's order) that waits for none; where entries read each
     * other, the first left, as before. */
    *count = 0;
    for (;;) {
        size_t pick = SIZE_MAX, first_left = SIZE_MAX;
        for (size_t m = 0; m < members && pick == SIZE_MAX; m++) {
            size_t e = member[m];
            if (entries[e] != e || written[e]) continue;
            if (first_left == SIZE_MAX) first_left = e;
            if (!waiting[e]) pick = e;
        }
        if (first_left == SIZE_MAX) break;
        if (pick == SIZE_MAX) pick = first_left;
        written[pick] = 1;
        order[(*count)++] = pick;
        for (size_t k = 0; k < edges; k++)
            if (from[k] == pick && waiting[to[k]]) waiting[to[k]]--;
    }
done:
    free(entries), free(member), free(waiting), free(from), free(to), free(written);
    return st;
}
