/* Normalisations: layer_norm / native_layer_norm over the trailing dims, group_norm /
 * native_group_norm, instance_norm, batch_norm in eval mode (running statistics) and
 * _native_batch_norm_legit_no_training, and the weight-norm reparametrisation
 * (_weight_norm, _weight_norm_interface). Statistics are summed in double, so long rows keep
 * float32 accuracy; variance is the biased one, as PyTorch normalises with. */
#include <math.h>
#include <string.h>

#include "op_util.h"
#include "parallel.h"
#include "registry.h"

/* Mean and 1/sqrt(var + eps) of one contiguous span. Each sum runs as eight running sums in
 * double added in a fixed order: the same bits every run and on every build, and eight
 * independent additions in flight (the compiler vectorises them) instead of one chain as long
 * as the span. */
static void span_statistics(const float *x, int64_t size, double eps, float *mean_out, float *rstd_out) {
    enum { LANES = 8 };
    double part[LANES] = {0}, squares_part[LANES] = {0};
    int64_t whole = size / LANES * LANES;
    for (int64_t i = 0; i < whole; i += LANES)
        for (int l = 0; l < LANES; l++) part[l] += x[i + l];
    for (int64_t i = whole; i < size; i++) part[i - whole] += x[i];
    double sum = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
    double mean = size ? sum / (double)size : 0;
    for (int64_t i = 0; i < whole; i += LANES)
        for (int l = 0; l < LANES; l++) {
            double d = x[i + l] - mean;
            squares_part[l] += d * d;
        }
    for (int64_t i = whole; i < size; i++) {
        double d = x[i] - mean;
        squares_part[i - whole] += d * d;
    }
    double squares = ((squares_part[0] + squares_part[1]) + (squares_part[2] + squares_part[3])) +
                     ((squares_part[4] + squares_part[5]) + (squares_part[6] + squares_part[7]));
    double var = size ? squares / (double)size : 0;
    *mean_out = (float)mean;
    *rstd_out = (float)(1.0 / sqrt(var + eps));
}

/* Stores an optional statistics output (mean or rstd) of the given shape. */
static pt2_status set_statistics(pt2_run_context *ctx, const pt2_node *node, size_t index, int rank,
                                 const int64_t *shape, const float *values, int64_t count, pt2_error *err) {
    if (index >= node->num_outputs || node->outputs[index].kind == PT2_ARG_NONE) return PT2_OK;
    pt2_tensor t;
    pt2_status st = pt2_op_new_float(ctx, rank, shape, &t, err);
    if (st) return st;
    if (count) memcpy(pt2_f32(&t), values, sizeof(float) * (size_t)count);
    return pt2_op_set_output(ctx, node, index, &t, err);
}

typedef struct layer_norm_job {
    const float *x, *weight, *bias;
    float *out, *means, *rstds;
    int64_t size, rows;
    double eps;
    int64_t rows_per_piece;
} layer_norm_job;

/* (x - mean) * rstd * weight + bias over one piece of rows; the loop with both affine parts is
 * written out apart so it vectorises, each element computed by the same operations either way. */
static void layer_norm_rows(void *context, size_t piece) {
    const layer_norm_job *job = context;
    int64_t r0 = (int64_t)piece * job->rows_per_piece, size = job->size;
    int64_t r1 = r0 + job->rows_per_piece < job->rows ? r0 + job->rows_per_piece : job->rows;
    const float *pw = job->weight, *pb = job->bias;
    for (int64_t r = r0; r < r1; r++) {
        const float *in = job->x + r * size;
        float *o = job->out + r * size;
        span_statistics(in, size, job->eps, &job->means[r], &job->rstds[r]);
        float mean = job->means[r], rstd = job->rstds[r];
        if (pw && pb) {
            for (int64_t i = 0; i < size; i++) o[i] = (in[i] - mean) * rstd * pw[i] + pb[i];
            continue;
        }
        for (int64_t i = 0; i < size; i++) {
            float v = (in[i] - mean) * rstd;
            o[i] = v * (pw ? pw[i] : 1.0f) + (pb ? pb[i] : 0.0f);
        }
    }
}

static pt2_status run_layer_norm(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x, w, b, out;
    int has_weight, has_bias;
    int64_t normalized[PT2_MAX_RANK];
    size_t count;
    double eps;
    pt2_status st = pt2_op_float_tensor(ctx, node, "input", &x, err);
    if (!st) st = pt2_op_ints(ctx, node, "normalized_shape", normalized, PT2_MAX_RANK, &count, err);
    if (!st) st = pt2_op_optional_float_tensor(ctx, node, "weight", &w, &has_weight, err);
    if (!st) st = pt2_op_optional_float_tensor(ctx, node, "bias", &b, &has_bias, err);
    if (!st) st = pt2_op_scalar(ctx, node, "eps", &eps, err);
    if (st) return st;
    if ((int)count > x.rank)
        return pt2_fail(err, PT2_ERR_INPUT, "layer_norm: normalized_shape has %zu dims, the input only %d", count, x.rank);
    int64_t size = 1;
    for (size_t i = 0; i < count; i++) {
        if (x.shape[x.rank - (int)count + (int)i] != normalized[i])
            return pt2_fail(err, PT2_ERR_INPUT, "layer_norm: normalized_shape does not match the input's last dims");
        size *= normalized[i];
    }
    if ((has_weight && pt2_tensor_numel(&w) != size) || (has_bias && pt2_tensor_numel(&b) != size))
        return pt2_fail(err, PT2_ERR_INPUT, "layer_norm: weight and bias must have %lld entries", (long long)size);
    if ((st = pt2_op_new_float(ctx, x.rank, x.shape, &out, err))) return st;
    int64_t rows = size ? pt2_tensor_numel(&x) / size : 0;
    float *means = pt2_arena_alloc_array(ctx->arena, (size_t)rows + 1, sizeof(float), err);
    float *rstds = pt2_arena_alloc_array(ctx->arena, (size_t)rows + 1, sizeof(float), err);
    if (!means || !rstds) return err->status;
    layer_norm_job job = {pt2_f32(&x), has_weight ? pt2_f32(&w) : NULL, has_bias ? pt2_f32(&b) : NULL, pt2_f32(&out),
                          means, rstds, size, rows, eps, 0};
    /* rows split over the run's threads in pieces of at least ROWS_MIN_ELEMENTS elements */
    enum { ROWS_MIN_ELEMENTS = 1 << 14 };
    size_t pieces = pt2_parallel_pieces(ctx, (size_t)(rows * size / ROWS_MIN_ELEMENTS > 0 ? rows * size / ROWS_MIN_ELEMENTS : 1));
    job.rows_per_piece = (rows + (int64_t)pieces - 1) / (int64_t)pieces;
    pt2_parallel_for(ctx, pieces, layer_norm_rows, &job);
    if ((st = pt2_op_set_output(ctx, node, 0, &out, err))) return st;
    /* native_layer_norm: mean and rstd keep the input's leading dims, 1 for the normalised ones */
    int64_t stat_shape[PT2_MAX_RANK];
    for (int i = 0; i < x.rank; i++) stat_shape[i] = i < x.rank - (int)count ? x.shape[i] : 1;
    if ((st = set_statistics(ctx, node, 1, x.rank, stat_shape, means, rows, err))) return st;
    return set_statistics(ctx, node, 2, x.rank, stat_shape, rstds, rows, err);
}

/* y = (x - mean_g) * rstd_g * weight_c + bias_c over groups of channels of [N, C, *]. */
static pt2_status group_normalize(pt2_run_context *ctx, const pt2_node *node, const pt2_tensor *x, int64_t groups,
                                  const float *weight, const float *bias, double eps, pt2_error *err) {
    if (x->rank < 2) return pt2_fail(err, PT2_ERR_INPUT, "group_norm needs [batch, channels, ...], got rank %d", x->rank);
    int64_t batch = x->shape[0], channels = x->shape[1], inner = 1;
    for (int i = 2; i < x->rank; i++) inner *= x->shape[i];
    if (groups < 1 || channels % groups)
        return pt2_fail(err, PT2_ERR_INPUT, "group_norm: %lld channels do not split into %lld groups", (long long)channels,
                        (long long)groups);
    pt2_tensor out;
    pt2_status st = pt2_op_new_float(ctx, x->rank, x->shape, &out, err);
    if (st) return st;
    int64_t per_group = channels / groups;
    float *means = pt2_arena_alloc_array(ctx->arena, (size_t)(batch * groups) + 1, sizeof(float), err);
    float *rstds = pt2_arena_alloc_array(ctx->arena, (size_t)(batch * groups) + 1, sizeof(float), err);
    if (!means || !rstds) return err->status;
    for (int64_t n = 0; n < batch; n++)
        for (int64_t g = 0; g < groups; g++) {
            const float *in = pt2_f32(x) + (n * channels + g * per_group) * inner;
            float *o = pt2_f32(&out) + (n * channels + g * per_group) * inner;
            float mean, rstd;
            span_statistics(in, per_group * inner, eps, &mean, &rstd);
            means[n * groups + g] = mean;
            rstds[n * groups + g] = rstd;
            for (int64_t c = 0; c < per_group; c++) {
                int64_t channel = g * per_group + c;
                float scale = rstd * (weight ? weight[channel] : 1.0f);
                float shift = (bias ? bias[channel] : 0.0f) - mean * scale;
                for (int64_t i = 0; i < inner; i++) o[c * inner + i] = in[c * inner + i] * scale + shift;
            }
        }
    if ((st = pt2_op_set_output(ctx, node, 0, &out, err))) return st;
    int64_t stat_shape[2] = {batch, groups};
    if ((st = set_statistics(ctx, node, 1, 2, stat_shape, means, batch * groups, err))) return st;
    return set_statistics(ctx, node, 2, 2, stat_shape, rstds, batch * groups, err);
}

static pt2_status affine_arguments(pt2_run_context *ctx, const pt2_node *node, int64_t channels, const float **weight,
                                   const float **bias, pt2_error *err) {
    pt2_tensor w, b;
    int has_weight, has_bias;
    pt2_status st = pt2_op_optional_float_tensor(ctx, node, "weight", &w, &has_weight, err);
    if (!st) st = pt2_op_optional_float_tensor(ctx, node, "bias", &b, &has_bias, err);
    if (st) return st;
    if ((has_weight && pt2_tensor_numel(&w) != channels) || (has_bias && pt2_tensor_numel(&b) != channels))
        return pt2_fail(err, PT2_ERR_INPUT, "weight and bias must have one entry per channel (%lld)", (long long)channels);
    *weight = has_weight ? pt2_f32(&w) : NULL;
    *bias = has_bias ? pt2_f32(&b) : NULL;
    return PT2_OK;
}

static pt2_status run_group_norm(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x;
    int64_t groups;
    double eps;
    const float *weight, *bias;
    int native = pt2_node_arg(node, "group") != NULL;
    pt2_status st = pt2_op_float_tensor(ctx, node, "input", &x, err);
    if (!st) st = pt2_op_int(ctx, node, native ? "group" : "num_groups", &groups, err);
    if (!st) st = pt2_op_scalar(ctx, node, "eps", &eps, err);
    if (!st) st = affine_arguments(ctx, node, x.rank >= 2 ? x.shape[1] : 0, &weight, &bias, err);
    if (st) return st;
    return group_normalize(ctx, node, &x, groups, weight, bias, eps, err);
}

/* y = (x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c with given statistics. */
static pt2_status normalize_with_running(pt2_run_context *ctx, const pt2_node *node, const pt2_tensor *x,
                                         const pt2_tensor *mean, const pt2_tensor *var, const float *weight,
                                         const float *bias, double eps, pt2_error *err) {
    if (x->rank < 2) return pt2_fail(err, PT2_ERR_INPUT, "batch_norm needs [batch, channels, ...], got rank %d", x->rank);
    int64_t channels = x->shape[1], inner = 1;
    if (pt2_tensor_numel(mean) != channels || pt2_tensor_numel(var) != channels)
        return pt2_fail(err, PT2_ERR_INPUT, "running_mean and running_var must have %lld entries", (long long)channels);
    for (int i = 2; i < x->rank; i++) inner *= x->shape[i];
    pt2_tensor out;
    pt2_status st = pt2_op_new_float(ctx, x->rank, x->shape, &out, err);
    if (st) return st;
    for (int64_t n = 0; n < x->shape[0]; n++)
        for (int64_t c = 0; c < channels; c++) {
            /* PyTorch's CPU kernel folds the statistics into one scale and shift per channel. */
            float invstd = (float)(1.0 / sqrt((double)pt2_f32(var)[c] + eps));
            float scale = invstd * (weight ? weight[c] : 1.0f);
            float shift = (bias ? bias[c] : 0.0f) - pt2_f32(mean)[c] * scale;
            const float *in = pt2_f32(x) + (n * channels + c) * inner;
            float *o = pt2_f32(&out) + (n * channels + c) * inner;
            for (int64_t i = 0; i < inner; i++) o[i] = in[i] * scale + shift;
        }
    if ((st = pt2_op_set_output(ctx, node, 0, &out, err))) return st;
    /* _native_batch_norm_legit_no_training's saved statistics are empty in eval mode */
    int64_t empty = 0;
    if ((st = set_statistics(ctx, node, 1, 1, &empty, NULL, 0, err))) return st;
    return set_statistics(ctx, node, 2, 1, &empty, NULL, 0, err);
}

static pt2_status run_batch_norm(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x, mean, var;
    int has_mean, has_var, training = 0;
    double eps;
    const float *weight, *bias;
    pt2_status st = pt2_op_float_tensor(ctx, node, "input", &x, err);
    if (!st) st = pt2_op_optional_float_tensor(ctx, node, "running_mean", &mean, &has_mean, err);
    if (!st) st = pt2_op_optional_float_tensor(ctx, node, "running_var", &var, &has_var, err);
    if (!st && pt2_node_arg(node, "training")) st = pt2_op_bool(ctx, node, "training", &training, err);
    if (!st) st = pt2_op_scalar(ctx, node, "eps", &eps, err);
    if (!st) st = affine_arguments(ctx, node, x.rank >= 2 ? x.shape[1] : 0, &weight, &bias, err);
    if (st) return st;
    if (training || !has_mean || !has_var)
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "batch_norm with batch statistics (training mode); export the model "
                        "after .eval()");
    return normalize_with_running(ctx, node, &x, &mean, &var, weight, bias, eps, err);
}

/* instance_norm: per-sample statistics (group norm with one channel per group) unless
 * use_input_stats is false, when the running statistics apply as in batch_norm. */
static pt2_status run_instance_norm(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor x, mean, var;
    int has_mean, has_var, use_input_stats;
    double eps;
    const float *weight, *bias;
    pt2_status st = pt2_op_float_tensor(ctx, node, "input", &x, err);
    if (!st) st = pt2_op_optional_float_tensor(ctx, node, "running_mean", &mean, &has_mean, err);
    if (!st) st = pt2_op_optional_float_tensor(ctx, node, "running_var", &var, &has_var, err);
    if (!st) st = pt2_op_bool(ctx, node, "use_input_stats", &use_input_stats, err);
    if (!st) st = pt2_op_scalar(ctx, node, "eps", &eps, err);
    if (!st) st = affine_arguments(ctx, node, x.rank >= 2 ? x.shape[1] : 0, &weight, &bias, err);
    if (st) return st;
    if (use_input_stats) return group_normalize(ctx, node, &x, x.rank >= 2 ? x.shape[1] : 1, weight, bias, eps, err);
    if (!has_mean || !has_var)
        return pt2_fail(err, PT2_ERR_INPUT, "instance_norm without input statistics needs running_mean and running_var");
    return normalize_with_running(ctx, node, &x, &mean, &var, weight, bias, eps, err);
}

/* w = g * v / ||v||, the norm taken over every dim of v except `dim` (all dims for dim = -1
 * as torch.nn.utils.weight_norm passes for dim=None). Output 1 of _weight_norm_interface is
 * the norm, shaped like g. */
static pt2_status run_weight_norm(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    pt2_tensor v, g, out;
    int64_t dim;
    pt2_status st = pt2_op_float_tensor(ctx, node, "v", &v, err);
    if (!st) st = pt2_op_float_tensor(ctx, node, "g", &g, err);
    if (!st) st = pt2_op_int(ctx, node, "dim", &dim, err);
    if (st) return st;
    if (v.rank < 1) return pt2_fail(err, PT2_ERR_INPUT, "weight norm needs a tensor of rank >= 1");
    int axis = -1;
    if (dim != -1 && (st = pt2_op_wrap_dim(dim, v.rank, &axis, err))) return st;
    int64_t outer = 1, size = axis < 0 ? 1 : v.shape[axis], inner = 1;
    for (int i = 0; i < axis; i++) outer *= v.shape[i];
    for (int i = axis + 1; i < v.rank; i++) inner *= v.shape[i];
    if (axis < 0) inner = pt2_tensor_numel(&v);
    if (pt2_tensor_numel(&g) != size)
        return pt2_fail(err, PT2_ERR_INPUT, "weight norm: g has %lld entries, expected %lld", (long long)pt2_tensor_numel(&g),
                        (long long)size);
    if ((st = pt2_op_new_float(ctx, v.rank, v.shape, &out, err))) return st;
    float *norms = pt2_arena_alloc_array(ctx->arena, (size_t)size + 1, sizeof(float), err);
    double *sums = pt2_arena_alloc_array(ctx->arena, (size_t)size + 1, sizeof(double), err);
    if (!norms || !sums) return err->status;
    const float *pv = pt2_f32(&v);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t s = 0; s < size; s++)
            for (int64_t i = 0; i < inner; i++) {
                double e = pv[(o * size + s) * inner + i];
                sums[s] += e * e;
            }
    for (int64_t s = 0; s < size; s++) norms[s] = (float)sqrt(sums[s]);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t s = 0; s < size; s++) {
            float scale = pt2_f32(&g)[s] / norms[s];
            for (int64_t i = 0; i < inner; i++)
                pt2_f32(&out)[(o * size + s) * inner + i] = pv[(o * size + s) * inner + i] * scale;
        }
    if ((st = pt2_op_set_output(ctx, node, 0, &out, err))) return st;
    return set_statistics(ctx, node, 1, g.rank, g.shape, norms, size, err);
}

const pt2_op_def pt2_ops_norm[] = {
    {"aten.layer_norm.default", run_layer_norm},
    {"aten.native_layer_norm.default", run_layer_norm},
    {"aten.group_norm.default", run_group_norm},
    {"aten.native_group_norm.default", run_group_norm},
    {"aten.batch_norm.default", run_batch_norm},
    {"aten._native_batch_norm_legit_no_training.default", run_batch_norm},
    {"aten.instance_norm.default", run_instance_norm},
    {"aten._weight_norm.default", run_weight_norm},
    {"aten._weight_norm_interface.default", run_weight_norm},
    {NULL, NULL}};
