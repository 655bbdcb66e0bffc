/* Lowering of einsum (the equation parsed as the reference run parses it, core/ops/einsum.h).
 * Two operands become one RETURNN "dot", as matmul does (core/lower/lower_layout.c):
 *   - a letter in both operands and not in the output is reduced (red1/red2);
 *   - a letter in both and in the output is shared, batch-like (the same dim, or static dims
 *     of one size, which RETURNN matches);
 *   - a letter in one operand and in the output is kept (var1/var2);
 *   - a letter in one operand only that does not reach the output is summed first ("reduce").
 * The output's axis order is only the axis map's. A dim kept from both operands (queries' and
 * keys' time in "bthd,bshd->bhts") gets a second copy in the second operand, and a reduced
 * copy is declared the same dim as the original (the weights' keys' time against the values'
 * time in "bhts,bshd->bthd"), with matmul's helpers. A constant operand (a weight) becomes a
 * variable layer with static dims of its own. One operand is a reduce (or, with nothing summed,
 * a permutation of the axis map).
 * Not lowered: a letter repeated in one operand (a diagonal), a size-1 axis that broadcasts,
 * no summed letter (an outer product: RETURNN's dot needs one), three or more operands. */
#include <stdio.h>
#include <string.h>

#include "../naming/naming.h"
#include "../ops/einsum.h"
#include "axes.h"
#include "lower_layout.h"
#include "lowerings.h"

typedef struct einsum_operand {
    const pt2_lowered_value *value;
    pt2_lowered_value storage[4]; /* the helper layers' outputs, in the order they are made */
    int num_storage;
    pt2_rt_layer *summed; /* the reduce of its private letters, if any */
    const pt2_tensor *run_value; /* the reference run's tensor */
    int labels[PT2_MAX_RANK];
} einsum_operand;

static int axis_of(const pt2_lowered_value *v, const int *labels, int label) {
    for (int a = 0; a < v->rank; a++)
        if (labels[a] == label) return a;
    return -1;
}

static int has_label(const pt2_einsum_spec *spec, int operand, int label) {
    for (int a = 0; a < spec->rank[operand]; a++)
        if (spec->labels[operand][a] == label) return 1;
    return 0;
}

/* A variable layer holding a constant operand, its axes static dims of their own. */
static pt2_status constant_operand(pt2_lower_context *ctx, const pt2_node *node, const pt2_tensor *value,
                                   pt2_lowered_value *out, pt2_error *err) {
    char base[240];
    snprintf(base, sizeof base, "%s_operand", ctx->places[node - ctx->graph->nodes].base);
    pt2_rt_layer *layer;
    pt2_status st = pt2_lower_new_layer_named(ctx, node, base, "variable", &layer, err);
    if (!st) st = pt2_rt_set_int_list(ctx->arena, layer, "shape", value->shape, (size_t)value->rank, err);
    if (!st) st = pt2_rt_set_bool(layer, "add_batch_axis", 0, err);
    if (!st) st = pt2_rt_add_param(layer, pt2_rt_local_name(layer->name), value, err); /* RETURNN names it by the local name */
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    pt2_axes_value_of(layer, value->rank, layer->shape.dims, out);
    return PT2_OK;
}

/* The operand with the letters that reach neither the other operand nor the output summed. */
static pt2_status sum_private_letters(pt2_lower_context *ctx, const pt2_node *node, const pt2_einsum_spec *spec, int index,
                                      einsum_operand *op, pt2_error *err) {
    int64_t dims_arg[PT2_MAX_RANK];
    size_t count = 0;
    for (int a = 0; a < op->value->rank; a++) {
        int label = op->labels[a], elsewhere = pt2_einsum_in_output(spec, label);
        for (int o = 0; o < spec->num_operands; o++)
            if (o != index && has_label(spec, o, label)) elsewhere = 1;
        if (!elsewhere) dims_arg[count++] = a;
    }
    if (!count) return PT2_OK;
    const char *axes[PT2_MAX_RANK];
    int reduced[PT2_MAX_RANK];
    pt2_status st = pt2_axes_reduced(ctx, node, op->value, dims_arg, count, "summing", axes, reduced, err);
    if (st) return st;
    char base[240];
    snprintf(base, sizeof base, "%s_sum%d", ctx->places[node - ctx->graph->nodes].base, index);
    pt2_rt_layer *layer;
    if ((st = pt2_lower_new_layer_named(ctx, node, base, "reduce", &layer, err))) return st;
    if (!st) st = pt2_lower_add_source(ctx, layer, op->value, err);
    if (!st) st = pt2_rt_set_string(layer, "mode", "sum", err);
    if (!st) st = pt2_rt_set_string_list(ctx->arena, layer, "axes", axes, (int)count, err);
    if (!st) st = pt2_rt_set_bool(layer, "keep_dims", 0, err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    int dims[PT2_MAX_RANK], rank = 0;
    for (int a = 0; a < op->value->rank; a++)
        if (!reduced[a]) op->labels[rank] = op->labels[a], dims[rank++] = op->value->dims[a];
    op->summed = layer;
    pt2_axes_value_of(layer, rank, dims, &op->storage[op->num_storage]);
    op->value = &op->storage[op->num_storage++];
    return PT2_OK;
}

static pt2_status lower_einsum(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    const char *equation = NULL;
    pt2_status st = pt2_op_string(ctx->run, node, "equation", &equation, err);
    if (st) return st;
    const pt2_arg *tensors = pt2_node_arg(node, "tensors");
    if (!equation || !tensors || tensors->kind != PT2_ARG_TENSORS) return pt2_lower_fail(node, err, "einsum without an equation and a tensor list");
    int count = (int)tensors->count;
    if (count < 1 || count > 2) return pt2_lower_fail(node, err, "einsum of %d operands is not lowered (one or two are)", count);
    einsum_operand ops[2];
    int ranks[2];
    memset(ops, 0, sizeof ops);
    for (int i = 0; i < count; i++) {
        int id = tensors->value_ids[i];
        ops[i].run_value = &ctx->run->values[id].tensor;
        ranks[i] = ops[i].run_value->rank;
        if (ctx->values[id].is_set) ops[i].value = &ctx->values[id];
        else if (ctx->dynamic[id]) return pt2_lower_fail(node, err, "operand %d comes from an op that was not lowered", i);
    }
    pt2_einsum_spec spec;
    if ((st = pt2_einsum_parse(equation, ranks, count, &spec, err))) {
        char message[sizeof err->message];
        snprintf(message, sizeof message, "%s", err->message);
        return pt2_lower_fail(node, err, "%s", message);
    }
    /* each label's size; refused: diagonals and broadcasting */
    int64_t size[PT2_EINSUM_LABELS];
    int seen[PT2_EINSUM_LABELS] = {0};
    for (int i = 0; i < count; i++) {
        int here[PT2_EINSUM_LABELS] = {0};
        for (int a = 0; a < ranks[i]; a++) {
            int label = spec.labels[i][a];
            int64_t s = ops[i].run_value->shape[a];
            if (here[label]++) return pt2_lower_fail(node, err, "a letter repeated in operand %d (a diagonal) is not lowered", i);
            if (seen[label] && size[label] != s) return pt2_lower_fail(node, err, "a size-1 axis that broadcasts (operand %d, axis %d) is not lowered", i, a);
            seen[label] = 1, size[label] = s;
            ops[i].labels[a] = label;
        }
    }
    for (int i = 0; i < count; i++)
        if (!ops[i].value) {
            if (count == 1) return pt2_lower_fail(node, err, "einsum of a constant");
            for (int a = 0; a < ranks[i]; a++)
                if (!pt2_einsum_in_output(&spec, ops[i].labels[a]) && !has_label(&spec, 1 - i, ops[i].labels[a]))
                    return pt2_lower_fail(node, err, "a letter only in the constant operand %d is not lowered", i);
            if ((st = constant_operand(ctx, node, ops[i].run_value, &ops[i].storage[0], err))) return st;
            ops[i].value = &ops[i].storage[ops[i].num_storage++];
        } else if ((st = sum_private_letters(ctx, node, &spec, i, &ops[i], err))) {
            return st;
        }
    int out_dims[PT2_MAX_RANK];
    if (count == 1) {
        const einsum_operand *op = &ops[0];
        if (op->value->rank != spec.out_rank) return pt2_lower_fail(node, err, "the output's axes are not the operand's");
        for (int a = 0; a < spec.out_rank; a++) out_dims[a] = op->value->dims[axis_of(op->value, op->labels, spec.out_labels[a])];
        if (op->summed) /* a reduce summed letters: it is the result */
            return pt2_axes_set_layer_output_at(ctx, node, 0, op->summed, spec.out_rank, out_dims, err);
        pt2_lowered_value permuted = *op->value;
        memcpy(permuted.dims, out_dims, sizeof out_dims);
        return pt2_axes_set_output_at(ctx, node, 0, &permuted, err);
    }

    einsum_operand *a = &ops[0], *b = &ops[1];
    /* b's kept letters that are a dim of a too: a second copy of that (dynamic) axis in b */
    for (int y = 0; y < b->value->rank; y++) {
        int label = b->labels[y];
        if (has_label(&spec, 0, label)) continue;
        int clash = 0;
        for (int x = 0; x < a->value->rank; x++) clash |= a->value->dims[x] == b->value->dims[y];
        if (!clash) continue;
        if (b->num_storage >= 4) return pt2_lower_fail(node, err, "too many helper layers");
        if ((st = pt2_lower_second_copy_of_axis(ctx, node, b->value, y, &b->storage[b->num_storage], err))) return st;
        b->value = &b->storage[b->num_storage++];
    }
    const char *red1[PT2_MAX_RANK], *red2[PT2_MAX_RANK], *var1[PT2_MAX_RANK], *var2[PT2_MAX_RANK];
    int num_red = 0, num_var1 = 0, num_var2 = 0;
    for (int y = 0; y < b->value->rank; y++) {
        int label = b->labels[y], x = axis_of(a->value, a->labels, label);
        if (x < 0 || pt2_einsum_in_output(&spec, label)) continue;
        /* reduced against a different dim: b's axis declared a's (a copy's original, or static sizes) */
        if (a->value->dims[x] != b->value->dims[y]) {
            if (b->num_storage >= 4) return pt2_lower_fail(node, err, "too many helper layers");
            if ((st = pt2_lower_same_dim_as(ctx, node, b->value, y, a->value->dims[x], &b->storage[b->num_storage], err))) return st;
            if (b->storage[b->num_storage].is_set) b->value = &b->storage[b->num_storage++];
        }
    }
    for (int x = 0; x < a->value->rank; x++) {
        int label = a->labels[x], y = axis_of(b->value, b->labels, label);
        if (y >= 0 && !pt2_einsum_in_output(&spec, label)) {
            if ((st = pt2_axes_describe(ctx, node, a->value, x, &red1[num_red], err))) return st;
            if ((st = pt2_axes_describe(ctx, node, b->value, y, &red2[num_red++], err))) return st;
        } else if (y < 0) {
            if ((st = pt2_axes_describe(ctx, node, a->value, x, &var1[num_var1++], err))) return st;
        } else {
            const pt2_rt_dim *dx = &ctx->net->dims[a->value->dims[x]], *dy = &ctx->net->dims[b->value->dims[y]];
            /* one time length reached along two paths (UnivNet's windows of the upsampled signal,
             * one per mel frame, against its kernels per mel frame): one time dim */
            if (a->value->dims[x] != b->value->dims[y] && dx->kind == PT2_RT_DIM_DYNAMIC && dy->kind == PT2_RT_DIM_DYNAMIC &&
                b->num_storage < 4) {
                pt2_lowered_value *same = &b->storage[b->num_storage];
                if ((st = pt2_axes_same_time(ctx, node, a->value, b->value, same, err))) return st;
                if (same->is_set) { /* b's time is a's now: its map too */
                    for (int k = 0; k < same->rank; k++)
                        if (same->dims[k] == b->value->dims[y]) same->dims[k] = a->value->dims[x];
                    b->value = same, b->num_storage++;
                }
                dy = &ctx->net->dims[b->value->dims[y]];
            }
            if (a->value->dims[x] != b->value->dims[y] && !(dx->kind == PT2_RT_DIM_STATIC && dy->kind == PT2_RT_DIM_STATIC && dx->size == dy->size))
                return pt2_lower_fail(node, err, "letter of axis %d is a different dim in the two operands ('%s' and '%s')", x, dx->description, dy->description);
        }
    }
    for (int y = 0; y < b->value->rank; y++)
        if (axis_of(a->value, a->labels, b->labels[y]) < 0 && (st = pt2_axes_describe(ctx, node, b->value, y, &var2[num_var2++], err)))
            return st;
    if (!num_red) return pt2_lower_fail(node, err, "an einsum summing no letter of both operands (an outer product) is not lowered");
    pt2_rt_layer *layer;
    if ((st = pt2_lower_new_layer(ctx, node, "dot", &layer, err))) return st;
    if (!st) st = pt2_lower_add_source(ctx, layer, a->value, err);
    if (!st) st = pt2_lower_add_source(ctx, layer, b->value, err);
    if (!st) st = pt2_rt_set_string_list(ctx->arena, layer, "red1", red1, num_red, err);
    if (!st) st = pt2_rt_set_string_list(ctx->arena, layer, "red2", red2, num_red, err);
    if (!st) st = pt2_rt_set_string_list(ctx->arena, layer, "var1", var1, num_var1, err);
    if (!st) st = pt2_rt_set_string_list(ctx->arena, layer, "var2", var2, num_var2, err);
    if (!st) st = pt2_lower_infer(ctx, node, layer, err);
    if (st) return st;
    for (int o = 0; o < spec.out_rank; o++) {
        int label = spec.out_labels[o], x = axis_of(a->value, a->labels, label);
        out_dims[o] = x >= 0 ? a->value->dims[x] : b->value->dims[axis_of(b->value, b->labels, label)];
    }
    return pt2_lower_set_output(ctx, node, layer, spec.out_rank, out_dims, err);
}

const pt2_op_lowering pt2_lowerings_einsum[] = {
    {"aten.einsum.default", lower_einsum, "dot reduce variable expand_dims merge_dims reinterpret_data"},
    {NULL, NULL, NULL}};
