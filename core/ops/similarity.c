/* cosine_similarity with PyTorch's semantics (ATen's cosine_similarity): the operands broadcast,
 * each is divided by its 2-norm along `dim` clamped to at least eps, and the products are summed
 * along `dim`, which disappears. Sums are taken in double. */
#include <math.h>
#include <string.h>

#include "elementwise.h"
#include "op_util.h"
#include "registry.h"

static pt2_status run_cosine_similarity(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x1, x2;
    int64_t dim = 1;
    double eps = 1e-8;
    pt2_status st = pt2_op_float_tensor(ctx, node, "x1", &x1, err);
    if (!st) st = pt2_op_float_tensor(ctx, node, "x2", &x2, err);
    if (!st && pt2_node_arg(node, "dim")) st = pt2_op_int(ctx, node, "dim", &dim, err);
    if (!st && pt2_node_arg(node, "eps")) st = pt2_op_scalar(ctx, node, "eps", &eps, err);
    if (st) return st;
    int rank, axis;
    int64_t shape[PT2_MAX_RANK];
    if ((st = pt2_broadcast_shapes(x1.rank, x1.shape, x2.rank, x2.shape, &rank, shape, err))) return st;
    if (rank == 0) return pt2_fail(err, PT2_ERR_UNSUPPORTED, "%s needs at least one axis", node->target);
    if ((st = pt2_op_wrap_dim(dim, rank, &axis, err))) return st;
    pt2_tensor a, b;
    pt2_broadcast_view(&x1, rank, shape, &a);
    pt2_broadcast_view(&x2, rank, shape, &b);
    int64_t out_shape[PT2_MAX_RANK], outer = 1, inner = 1, n = shape[axis];
    for (int i = 0, k = 0; i < rank; i++)
        if (i != axis) out_shape[k++] = shape[i];
    for (int i = 0; i < axis; i++) outer *= shape[i];
    for (int i = axis + 1; i < rank; i++) inner *= shape[i];
    pt2_tensor out;
    if ((st = pt2_op_new_float(ctx, rank - 1, out_shape, &out, err))) return st;
    const float *pa = pt2_f32(&a), *pb = pt2_f32(&b);
    float *po = pt2_f32(&out);
    /* Element (o, i, j) of the broadcast views, through their strides. */
    int64_t index[PT2_MAX_RANK];
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < inner; j++) {
            int64_t rest = o;
            for (int d = axis - 1; d >= 0; d--) {
                index[d] = rest % shape[d];
                rest /= shape[d];
            }
            rest = j;
            for (int d = rank - 1; d > axis; d--) {
                index[d] = rest % shape[d];
                rest /= shape[d];
            }
            int64_t base_a = 0, base_b = 0;
            for (int d = 0; d < rank; d++)
                if (d != axis) base_a += index[d] * a.strides[d], base_b += index[d] * b.strides[d];
            double sa = 0, sb = 0;
            for (int64_t i = 0; i < n; i++) {
                double va = pa[base_a + i * a.strides[axis]], vb = pb[base_b + i * b.strides[axis]];
                sa += va * va;
                sb += vb * vb;
            }
            float na = (float)sqrt(sa), nb = (float)sqrt(sb);
            if (na < eps) na = (float)eps;
            if (nb < eps) nb = (float)eps;
            double sum = 0;
            for (int64_t i = 0; i < n; i++)
                sum += (double)(pa[base_a + i * a.strides[axis]] / na) * (double)(pb[base_b + i * b.strides[axis]] / nb);
            po[o * inner + j] = (float)sum;
        }
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

const pt2_op_def pt2_ops_similarity[] = {
    {"aten.cosine_similarity.default", run_cosine_similarity},
    {NULL, NULL}};
