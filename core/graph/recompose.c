#include "recompose.h"

#include <string.h>


static int is_target(const pt2_node *node, const char *const *targets) {
    for (; *targets; targets++)
        if (!strcmp(node->target, *targets)) return 1;
    return 0;
}

static const char *const reshape_ops[] = {"aten.view.default", "aten._unsafe_view.default", "aten.reshape.default",
                                          NULL};

/* The tensor an argument names, or -1. */
static int tensor_arg(const pt2_node *node, const char *name) {
    const pt2_arg *a = pt2_node_arg(node, name);
    return a && a->kind == PT2_ARG_TENSOR ? a->value_id : -1;
}

/* How many nodes and graph outputs read value `id`. */
static size_t readers(const pt2_graph *graph, int id, size_t *only_reader) {
    size_t count = 0;
    for (size_t n = 0; n < graph->num_nodes; n++)
        for (size_t a = 0; a < graph->nodes[n].num_inputs; a++)
            if (pt2_arg_reads(&graph->nodes[n].inputs[a].arg, id)) count++, *only_reader = n;
    for (size_t o = 0; o < graph->num_outputs; o++)
        if (pt2_arg_reads(&graph->outputs[o].arg, id)) count += 2;
    return count;
}

static int same_dim(const pt2_dim *a, const pt2_dim *b) {
    if (a->is_symbolic != b->is_symbolic) return 0;
    return a->is_symbolic ? pt2_sym_same(a->expr, b->expr) : a->value == b->value;
}

/* The reshape node producing `id` when it merges all of its input's leading axes but the last
 * `kept` into one (rank r >= kept + 2 -> kept + 1; with kept 0 every axis, a flatten) and keeps
 * the last `kept`, read by one node only; *source = its input. -1 otherwise. */
static int merging_reshape(const pt2_graph *graph, int id, int kept, int *source) {
    if (id < 0 || graph->values[id].producer < 0) return -1;
    int n = graph->values[id].producer;
    const pt2_node *node = &graph->nodes[n];
    size_t reader = 0;
    if (!is_target(node, reshape_ops) || readers(graph, id, &reader) != 1) return -1;
    int in = tensor_arg(node, "self");
    if (in < 0) return -1;
    const pt2_value *x = &graph->values[in], *y = &graph->values[id];
    if (x->rank < kept + 2 || y->rank != kept + 1) return -1;
    for (int k = 1; k <= kept; k++)
        if (!same_dim(&x->sizes[x->rank - k], &y->sizes[y->rank - k])) return -1;
    *source = in;
    return n;
}

/* The one reader of `id` when it is a reshape giving `id`'s trailing `kept` axes back the
 * leading axes of `like` (the values whose leading axes were merged): -1 otherwise. */
static int splitting_reshape(const pt2_graph *graph, int id, const pt2_value *like, int kept) {
    size_t reader = 0;
    if (readers(graph, id, &reader) != 1 || !is_target(&graph->nodes[reader], reshape_ops)) return -1;
    const pt2_node *node = &graph->nodes[reader];
    if (node->num_outputs < 1 || node->outputs[0].kind != PT2_ARG_TENSOR) return -1;
    const pt2_value *y = &graph->values[node->outputs[0].value_id], *merged = &graph->values[id];
    if (y->rank != like->rank || merged->rank != kept + 1) return -1;
    for (int a = 0; a < like->rank - kept; a++)
        if (!same_dim(&y->sizes[a], &like->sizes[a])) return -1;
    for (int k = 1; k <= kept; k++)
        if (!same_dim(&y->sizes[y->rank - k], &merged->sizes[merged->rank - k])) return -1;
    return (int)reader;
}

/* The op's result takes the unmerged shape: `like`'s leading axes, its own trailing `kept`. */
static void unmerge_result(pt2_graph *graph, const pt2_node *node, const pt2_value *like, int kept) {
    pt2_value *out = &graph->values[node->outputs[0].value_id];
    pt2_dim trailing[PT2_MAX_RANK];
    memcpy(trailing, &out->sizes[out->rank - kept], sizeof(pt2_dim) * (size_t)kept);
    int rank = like->rank;
    memcpy(out->sizes, like->sizes, sizeof(pt2_dim) * (size_t)(rank - kept));
    memcpy(&out->sizes[rank - kept], trailing, sizeof(pt2_dim) * (size_t)kept);
    out->rank = rank;
    int64_t stride = 1; /* contiguous, from the export's example sizes */
    for (int a = rank - 1; a >= 0; a--) {
        out->strides[a] = (pt2_dim){0, stride, NULL};
        stride *= out->sizes[a].value > 0 ? out->sizes[a].value : 1;
    }
}

static pt2_status set_inputs(pt2_arena *arena, pt2_node *node, const char *const *names, const int *values, size_t count,
                             pt2_error *err) {
    pt2_named_arg *inputs = pt2_arena_alloc_array(arena, count, sizeof *inputs, err);
    if (!inputs) return err->status;
    for (size_t i = 0; i < count; i++) {
        inputs[i].name = names[i];
        inputs[i].arg.kind = values[i] >= 0 ? PT2_ARG_TENSOR : PT2_ARG_NONE;
        inputs[i].arg.value_id = values[i];
    }
    node->inputs = inputs;
    node->num_inputs = count;
    return PT2_OK;
}

/* addmm's beta and alpha are 1 (a linear's bias added as is). */
static int plain_addmm(const pt2_node *node) {
    for (size_t a = 0; a < node->num_inputs; a++) {
        const pt2_named_arg *x = &node->inputs[a];
        if (strcmp(x->name, "beta") && strcmp(x->name, "alpha")) continue;
        if (x->arg.kind == PT2_ARG_INT && x->arg.int_value != 1) return 0;
        if (x->arg.kind == PT2_ARG_FLOAT && x->arg.float_value != 1.0) return 0;
    }
    return 1;
}

/* mm / addmm on a reshape that merged the leading axes: a matmul on the unmerged value (plus the
 * bias), the reshape back a view of the same sizes. */
static pt2_status recompose_linear(pt2_arena *arena, pt2_graph *graph, pt2_node *node, size_t *count, pt2_error *err) {
    int addmm = !strcmp(node->target, "aten.addmm.default");
    if (node->num_outputs < 1 || node->outputs[0].kind != PT2_ARG_TENSOR || (addmm && !plain_addmm(node))) return PT2_OK;
    int source, mat2 = tensor_arg(node, "mat2"), bias = addmm ? tensor_arg(node, "self") : -1;
    int merge = merging_reshape(graph, tensor_arg(node, addmm ? "mat1" : "self"), 1, &source);
    if (merge < 0 || mat2 < 0 || (addmm && bias < 0) || graph->values[mat2].rank != 2) return PT2_OK;
    const pt2_value *like = &graph->values[source];
    int id = node->outputs[0].value_id, back = splitting_reshape(graph, id, like, 1);
    if (back < 0) return PT2_OK;
    /* addmm(bias, x, w) = x @ w + bias and mm(x, w) = x @ w. With w a transposed weight (as the
     * decomposition of linear writes it) both are linear(x, wᵀ, bias); else mm is matmul(x, w),
     * and addmm is matmul(x, w) with the reshape back become the add of the bias (transformers'
     * Conv1D of GPT-2: addmm(bias, x.view(-1, nx), weight) with weight [nx, nf] as it is). */
    int producer = graph->values[mat2].producer;
    const pt2_node *t = producer >= 0 ? &graph->nodes[producer] : NULL;
    int weight = t && (!strcmp(t->target, "aten.t.default") || !strcmp(t->target, "aten.permute.default") ||
                       !strcmp(t->target, "aten.transpose.int"))
                     ? tensor_arg(t, "self") : -1;
    if (weight >= 0 && graph->values[weight].rank == 2) {
        static const char *const names[] = {"input", "weight", "bias"};
        int values[] = {source, weight, bias};
        pt2_status st = set_inputs(arena, node, names, values, 3, err);
        if (st) return st;
        node->target = "aten.linear.default";
    } else {
        static const char *const names[] = {"self", "other"};
        int values[] = {source, mat2}, sum[] = {id, bias};
        pt2_status st = set_inputs(arena, node, names, values, 2, err);
        if (!st && addmm) st = set_inputs(arena, &graph->nodes[back], names, sum, 2, err);
        if (st) return st;
        node->target = "aten.matmul.default";
        if (addmm) graph->nodes[back].target = "aten.add.Tensor";
    }
    unmerge_result(graph, node, like, 1);
    (*count)++;
    return PT2_OK;
}

/* bmm on two reshapes that merged the same leading axes (a decomposed batched matmul): a
 * matmul on the unmerged values. */
static pt2_status recompose_bmm(pt2_arena *arena, pt2_graph *graph, pt2_node *node, size_t *count, pt2_error *err) {
    if (node->num_outputs < 1 || node->outputs[0].kind != PT2_ARG_TENSOR) return PT2_OK;
    int a, b;
    if (merging_reshape(graph, tensor_arg(node, "self"), 2, &a) < 0 ||
        merging_reshape(graph, tensor_arg(node, "mat2"), 2, &b) < 0)
        return PT2_OK;
    const pt2_value *x = &graph->values[a], *y = &graph->values[b];
    if (x->rank != y->rank) return PT2_OK;
    for (int d = 0; d < x->rank - 2; d++)
        if (!same_dim(&x->sizes[d], &y->sizes[d])) return PT2_OK;
    if (splitting_reshape(graph, node->outputs[0].value_id, x, 2) < 0) return PT2_OK;
    static const char *const names[] = {"self", "other"};
    int values[] = {a, b};
    pt2_status st = set_inputs(arena, node, names, values, 2, err);
    if (st) return st;
    node->target = "aten.matmul.default";
    unmerge_result(graph, node, x, 2);
    (*count)++;
    return PT2_OK;
}

/* index_select(table, 0, ids flattened) read by one reshape back to ids' shape plus the table's
 * row (transformers' sinusoidal position embeddings: weights.index_select(0,
 * position_ids.view(-1)).view(bsz, seq_len, -1)): an embedding of the unflattened ids. */
static pt2_status recompose_index_select(pt2_arena *arena, pt2_graph *graph, pt2_node *node, size_t *count,
                                         pt2_error *err) {
    const pt2_arg *dim = pt2_node_arg(node, "dim");
    int table = tensor_arg(node, "self"), ids;
    if (node->num_outputs < 1 || node->outputs[0].kind != PT2_ARG_TENSOR || !dim || dim->kind != PT2_ARG_INT ||
        dim->int_value != 0 || table < 0 || graph->values[table].rank != 2 ||
        merging_reshape(graph, tensor_arg(node, "index"), 0, &ids) < 0 || graph->values[ids].rank >= PT2_MAX_RANK)
        return PT2_OK;
    /* What the reshape back must give: ids' axes, then the table's row. */
    pt2_value like = graph->values[ids];
    const pt2_value *rows = &graph->values[node->outputs[0].value_id];
    like.sizes[like.rank++] = rows->sizes[rows->rank - 1];
    if (splitting_reshape(graph, node->outputs[0].value_id, &like, 1) < 0) return PT2_OK;
    static const char *const names[] = {"weight", "indices"};
    int values[] = {table, ids};
    pt2_status st = set_inputs(arena, node, names, values, 2, err);
    if (st) return st;
    node->target = "aten.embedding.default";
    unmerge_result(graph, node, &like, 1);
    (*count)++;
    return PT2_OK;
}

pt2_status pt2_graph_recompose(pt2_arena *arena, pt2_graph *graph, size_t *count, pt2_error *err) {
    *count = 0;
    for (size_t n = 0; n < graph->num_nodes; n++) {
        pt2_node *node = &graph->nodes[n];
        pt2_status st = PT2_OK;
        if (!strcmp(node->target, "aten.mm.default") || !strcmp(node->target, "aten.addmm.default"))
            st = recompose_linear(arena, graph, node, count, err);
        else if (!strcmp(node->target, "aten.bmm.default"))
            st = recompose_bmm(arena, graph, node, count, err);
        else if (!strcmp(node->target, "aten.index_select.default"))
            st = recompose_index_select(arena, graph, node, count, err);
        if (st) return st;
    }
    return PT2_OK;
}
