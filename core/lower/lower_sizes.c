/* Size arithmetic on the input's shape (sym_size, Python's operators on SymInts, runtime
 * asserts) produces no data: no layer. The ops that use such sizes read their values from the
 * reference run and map them onto dims themselves. */
#include "lower.h"
#include "lowerings.h"

static pt2_status lower_size_only(pt2_lower_context *ctx, const pt2_node *node, pt2_error *err) {
    (void)ctx;
    for (size_t o = 0; o < node->num_outputs; o++)
        if (node->outputs[o].kind == PT2_ARG_TENSOR)
            return pt2_lower_fail(node, err, "a size op with a tensor output");
    return PT2_OK;
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
    {NULL, NULL, NULL}};
