/* pt2returnn.max_pool1d.default: what pt2returnn.export writes for F.max_pool1d so that the
 * length stays dynamic (python/pt2returnn/ops.py). It has aten::max_pool1d's arguments and
 * semantics, so it runs as aten.max_pool1d.default does (core/ops/pool.c). */
#include "registry.h"

static pt2_status run_routed_max_pool1d(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    const pt2_op_def *aten = pt2_op_find("aten.max_pool1d.default");
    if (!aten) return pt2_fail(err, PT2_ERR_INTERNAL, "aten.max_pool1d.default has no run implementation");
    return aten->run(ctx, node, err);
}

const pt2_op_def pt2_ops_routed_pool[] = {{"pt2returnn.max_pool1d.default", run_routed_max_pool1d}, {NULL, NULL}};
