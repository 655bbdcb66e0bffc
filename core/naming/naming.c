#include "naming.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

typedef struct module_call {
    const char *key, *path;
    size_t ops;
    const char *name;     /* its subnetwork's full path, once named */
    const char *network;  /* the network it sits in */
} module_call;

/* "L__self__block@1" -> length of "L__self__block": the first call's key. */
static size_t first_call_key_length(const char *key) {
    const char *at = strrchr(key, '@');
    return at ? (size_t)(at - key) : strlen(key);
}

static module_call *find_call(module_call *calls, size_t count, const char *key, size_t key_length) {
    for (size_t i = 0; i < count; i++)
        if (strlen(calls[i].key) == key_length && !strncmp(calls[i].key, key, key_length)) return &calls[i];
    return NULL;
}

/* The attribute a call has in its parent: "melgan.4.stack" under "melgan.4" is "stack"; digits
 * read "layer4"; dots of a path under an absent parent become '_'. */
static const char *attribute(pt2_arena *arena, const char *path, const char *parent, pt2_error *err) {
    size_t skip = parent[0] && !strncmp(path, parent, strlen(parent)) && path[strlen(parent)] == '.' ? strlen(parent) + 1 : 0;
    char out[256];
    size_t n = 0;
    for (const char *c = path + skip; *c && n + 8 < sizeof out;) {
        size_t len = strcspn(c, ".");
        int digits = len > 0;
        for (size_t i = 0; i < len; i++) digits &= isdigit((unsigned char)c[i]) != 0;
        if (n) out[n++] = '_';
        if (digits) n += (size_t)snprintf(out + n, sizeof out - n, "layer");
        for (size_t i = 0; i < len && n + 1 < sizeof out; i++) out[n++] = c[i];
        c += len;
        if (*c == '.') c++;
    }
    out[n] = 0;
    return pt2_arena_strdup(arena, n ? out : "module", err);
}

static int name_taken(const pt2_rt_net *net, const char *candidate) {
    size_t n = strlen(candidate);
    const char *last = strrchr(candidate, '/');
    const char *leaf = last ? last + 1 : candidate;
    if (!strcmp(leaf, "output") || !strcmp(leaf, "data")) return 1;
    for (size_t i = 0; i < net->num_layers; i++) {
        const char *name = net->layers[i].name;
        if (!strncmp(name, candidate, n) && (name[n] == 0 || name[n] == '/')) return 1;
    }
    return 0;
}

const char *pt2_naming_unique(pt2_arena *arena, const pt2_rt_net *net, const char *network, const char *base,
                              pt2_error *err) {
    for (int suffix = 0;; suffix++) {
        char candidate[512];
        snprintf(candidate, sizeof candidate, "%s%s%s", network, network[0] ? "/" : "", base);
        if (suffix) snprintf(candidate + strlen(candidate), sizeof candidate - strlen(candidate), "_%d", suffix);
        if (!name_taken(net, candidate)) return pt2_arena_strdup(arena, candidate, err);
    }
}

/* A subnetwork name unique among the layers and the other calls' subnetworks in `network`. */
static const char *unique_subnetwork(pt2_arena *arena, const module_call *calls, size_t count, const char *network,
                                     const char *base, pt2_error *err) {
    for (int suffix = 0;; suffix++) {
        char candidate[512];
        snprintf(candidate, sizeof candidate, "%s%s%s", network, network[0] ? "/" : "", base);
        if (suffix) snprintf(candidate + strlen(candidate), sizeof candidate - strlen(candidate), "_%d", suffix);
        /* "output" and "data" are RETURNN's own names in a subnetwork (a module called output,
         * as transformers' BertOutput, would be taken for the subnetwork's result). */
        int taken = !suffix && (!strcmp(base, "output") || !strcmp(base, "data"));
        for (size_t i = 0; i < count && !taken; i++) taken = calls[i].name && !strcmp(calls[i].name, candidate);
        if (!taken) return pt2_arena_strdup(arena, candidate, err);
    }
}

static const char *op_name(pt2_arena *arena, const char *target, pt2_error *err) {
    const char *dot = strchr(target, '.');
    const char *start = dot ? dot + 1 : target;
    return pt2_arena_strndup(arena, start, strcspn(start, "."), err);
}

pt2_status pt2_naming_place_nodes(pt2_arena *arena, const pt2_graph *graph, const unsigned char *considered,
                                  pt2_node_place **out, pt2_error *err) {
    module_call *calls = pt2_arena_alloc_array(arena, graph->num_nodes * 8 + 1, sizeof *calls, err);
    pt2_node_place *places = pt2_arena_alloc_array(arena, graph->num_nodes + 1, sizeof *places, err);
    if (!calls || !places) return err->status;
    size_t num_calls = 0;
    /* Ops per module call (a call counts the ops of the calls inside it). */
    for (size_t n = 0; n < graph->num_nodes; n++) {
        if (!considered[n]) continue;
        const pt2_node *node = &graph->nodes[n];
        for (size_t f = 0; f < node->module_depth; f++) {
            const pt2_module_frame *frame = &node->module_stack[f];
            if (!frame->path[0]) continue; /* the root module */
            module_call *call = find_call(calls, num_calls, frame->key, strlen(frame->key));
            if (!call) {
                if (num_calls == graph->num_nodes * 8) return pt2_fail(err, PT2_ERR_UNSUPPORTED, "module calls nest too deeply");
                call = &calls[num_calls++];
                call->key = frame->key;
                call->path = frame->path;
            }
            call->ops++;
        }
    }
    for (size_t n = 0; n < graph->num_nodes; n++) {
        if (!considered[n]) continue;
        const pt2_node *node = &graph->nodes[n];
        pt2_node_place *place = &places[n];
        const char *network = "", *first = "", *parent_path = "";
        int repeated = 0;
        place->base = NULL;
        for (size_t f = 0; f < node->module_depth && !place->base; f++) {
            const pt2_module_frame *frame = &node->module_stack[f];
            if (!frame->path[0]) continue;
            module_call *call = find_call(calls, num_calls, frame->key, strlen(frame->key));
            module_call *first_call = find_call(calls, num_calls, frame->key, first_call_key_length(frame->key));
            int again = first_call && first_call != call;
            const char *name = attribute(arena, frame->path, parent_path, err);
            if (!name) return err->status;
            if (call->ops >= 2) {
                if (!call->name) {
                    call->network = network;
                    if (!(call->name = unique_subnetwork(arena, calls, num_calls, network, name, err))) return err->status;
                }
                network = call->name;
                if (again && first_call->name) first = first_call->name, repeated = 1;
                else if (repeated) {
                    first = pt2_arena_printf(arena, err, "%s/%s", first, strrchr(call->name, '/') ? strrchr(call->name, '/') + 1 : call->name);
                    if (!first) return err->status;
                } else first = network;
            } else {
                place->base = name;
                place->repeated_layer = again;
                if (again) repeated = 1;
            }
            parent_path = frame->path;
        }
        if (!place->base && !(place->base = op_name(arena, node->target, err))) return err->status;
        place->network = network;
        place->first_network = repeated ? first : NULL;
    }
    *out = places;
    return PT2_OK;
}
