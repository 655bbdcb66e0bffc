/* Size arithmetic on the input's shape (sym_size, Python's operators on SymInts, runtime
 * asserts) produces no data: no layer. The ops that use such sizes read their values from the
 * reference run and map them onto dims themselves. */
#include <string.h>

#include "lower.h"
#include "lowerings.h"

int pt2_lower_sizes_equal(const pt2_graph *graph, const pt2_sym_expr *a, const pt2_sym_expr *b) {
    if (pt2_sym_same(a, b)) return 1;
    const char *symbols[2], *other[2];
    if (pt2_sym_symbols(a, symbols, 2) != 1 || pt2_sym_symbols(b, other, 2) != 1 || strcmp(symbols[0], other[0])) return 0;
    const pt2_range_constraint *r = pt2_graph_find_range(graph, symbols[0]);
    enum { MOST_VALUES = 1 << 20 };
    if (!r || !r->has_min || !r->has_max || r->max < r->min || r->max - r->min > MOST_VALUES) return 0;
    for (int64_t value = r->min; value <= r->max; value++) {
        pt2_sym_binding binding = {symbols[0], value};
        int64_t x, y;
        pt2_error ignored;
        if (pt2_sym_eval(a, &binding, 1, &x, &ignored) || pt2_sym_eval(b, &binding, 1, &y, &ignored) || x != y) return 0;
    }
    return 1;
}

static pt2_status lower_size_only(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    (void)ctx;
    for (size_t o = 0; o < node->num_outputs; o++)
        if (node->outputs[o].kind == PT2_ARG_TENSOR)
            return pt2_lower_fail(node, err, "a size op with a tensor output");
    return PT2_OK;
}

/* The export's expression of a size argument: a symbolic size's, or a whole number's. */
static const pt2_sym_expr *size_expression(const pt2_lower_context *ctx, const pt2_arg *arg, pt2_sym_expr *number) {
    if (arg->kind == PT2_ARG_SYM_INT && arg->value_id >= 0) return ctx->graph->values[arg->value_id].sym_expr;
    if (arg->kind != PT2_ARG_INT) return NULL;
    memset(number, 0, sizeof *number);
    number->kind = PT2_SYM_INTEGER;
    number->value = arg->int_value;
    return number;
}

/* min or max of two sizes (SEW's min(position_embeddings.size(-1), pooled.size(-1))): a size
 * like the others where the two are equal for every input the export accepts, so that its
 * consumers map its value onto one dim; otherwise which one it is would change with the length. */
static pt2_status lower_size_extreme(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_sym_expr numbers[2];
    const pt2_sym_expr *a = node->num_inputs == 2 ? size_expression(ctx, &node->inputs[0].arg, &numbers[0]) : NULL;
    const pt2_sym_expr *b = node->num_inputs == 2 ? size_expression(ctx, &node->inputs[1].arg, &numbers[1]) : NULL;
    if (!a || !b || !pt2_lower_sizes_equal(ctx->graph, a, b))
        return pt2_lower_fail(node, err, "the minimum or maximum of two sizes is lowered only where they are equal for "
                              "every input the export accepts (which one it is would change with the length)");
    return lower_size_only(ctx, node, err);
}

const pt2_op_lowering pt2_lowerings_symbolic[] = {
    {"aten.sym_size.int", lower_size_only, ""},
    {"aten.sym_numel.default", lower_size_only, ""},
    {"aten.sym_stride.int", lower_size_only, ""},
    {"_operator.add", lower_size_only, ""},
    {"_operator.sub", lower_size_only, ""},
    {"_operator.mul", lower_size_only, ""},
    {"_operator.floordiv", lower_size_only, ""},
    {"_operator.mod", lower_size_only, ""},
    {"_operator.truediv", lower_size_only, ""},
    {"_operator.pow", lower_size_only, ""},
    {"_operator.neg", lower_size_only, ""},
    {"_operator.eq", lower_size_only, ""},
    {"_operator.ne", lower_size_only, ""},
    {"_operator.lt", lower_size_only, ""},
    {"_operator.le", lower_size_only, ""},
    {"_operator.gt", lower_size_only, ""},
    {"_operator.ge", lower_size_only, ""},
    {"aten._assert_scalar.default", lower_size_only, ""},
    {"aten.sym_constrain_range_for_size.default", lower_size_only, ""},
    {"torch.sym_min", lower_size_extreme, ""},
    {"torch.sym_max", lower_size_extreme, ""},
    {NULL, NULL, NULL}};
