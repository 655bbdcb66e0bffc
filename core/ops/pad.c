/* F.pad on the trailing dims: constant, reflect, replicate and circular modes, any dtype. */
#include <stdint.h>
#include <string.h>

#include "elementwise.h"
#include "op_util.h"
#include "registry.h"

static int64_t source_index(const char *mode, int64_t i, int64_t size) {
    if (i >= 0 && i < size) return i;
    if (!strcmp(mode, "reflect")) return i < 0 ? -i : 2 * (size - 1) - i;
    if (!strcmp(mode, "replicate")) return i < 0 ? 0 : size - 1;
    if (!strcmp(mode, "circular")) return ((i % size) + size) % size;
    return -1; /* constant */
}

static pt2_status pad_tensor(pt2_run_context *ctx, const pt2_node *node, const char *mode, double value,
                             pt2_error *err) {
    pt2_tensor x, out;
    int64_t pads[2 * PT2_MAX_RANK];
    size_t count;
    pt2_status st = pt2_op_tensor(ctx, node, pt2_node_arg(node, "self") ? "self" : "input", &x, err);
    /* aten.pad and constant_pad_nd name the list "pad", the reflection/replication ops "padding" */
    if (!st) st = pt2_op_ints(ctx, node, pt2_node_arg(node, "pad") ? "pad" : "padding", pads, 2 * PT2_MAX_RANK, &count, err);
    if (st) return st;
    if (count % 2 || (int)(count / 2) > x.rank) return pt2_fail(err, PT2_ERR_INPUT, "pad needs pairs for up to %d dims", x.rank);
    int64_t before[PT2_MAX_RANK] = {0}, shape[PT2_MAX_RANK];
    memcpy(shape, x.shape, sizeof shape);
    /* pads list the last dim first: (left, right, top, bottom, ...). */
    for (size_t i = 0; i < count / 2; i++) {
        int d = x.rank - 1 - (int)i;
        before[d] = pads[2 * i];
        shape[d] += pads[2 * i] + pads[2 * i + 1];
        /* reflect needs pad < size; replicate and circular need a non-empty axis (circular: pad <= size). */
        int64_t limit = !strcmp(mode, "reflect") ? x.shape[d] - 1 : !strcmp(mode, "circular") ? x.shape[d] : INT64_MAX;
        if (strcmp(mode, "constant") &&
            (pads[2 * i] > limit || pads[2 * i + 1] > limit || x.shape[d] == 0 ||
             (!strcmp(mode, "replicate") ? 0 : (pads[2 * i] < 0 || pads[2 * i + 1] < 0))))
            return pt2_fail(err, PT2_ERR_INPUT, "%s padding of %lld/%lld is too large for a dimension of size %lld", mode,
                            (long long)pads[2 * i], (long long)pads[2 * i + 1], (long long)x.shape[d]);
        if (shape[d] < 0) return pt2_fail(err, PT2_ERR_INPUT, "padding makes dimension %d negative", d);
    }
    if (x.dtype != PT2_DTYPE_FLOAT32) {
        if ((st = pt2_tensor_alloc(ctx->arena, x.dtype, x.rank, shape, &out, err))) return st;
        if (value != 0 && !strcmp(mode, "constant")) pt2_tensor_fill(&out, value);
        int64_t total = pt2_tensor_numel(&out), index[PT2_MAX_RANK] = {0};
        size_t es = pt2_dtype_size(x.dtype);
        const char *px = pt2_tensor_data(&x);
        char *po = pt2_tensor_data(&out);
        for (int64_t n = 0; n < total; n++) {
            int64_t offset = 0;
            int outside = 0;
            for (int d = 0; d < x.rank; d++) {
                int64_t s = source_index(mode, index[d] - before[d], x.shape[d]);
                if (s < 0) outside = 1;
                offset += s * x.strides[d];
            }
            if (!outside) memcpy(po + (size_t)n * es, px + (size_t)offset * es, es);
            for (int d = x.rank - 1; d >= 0; d--) {
                if (++index[d] < shape[d]) break;
                index[d] = 0;
            }
        }
        return pt2_op_set_output(ctx, node, 0, &out, err);
    }
    if ((st = pt2_tensor_contiguous(ctx->arena, &x, 0, &x, err))) return st;
    /* Both paths below write every element: not zeroed first. */
    if ((st = pt2_tensor_alloc_uninit(ctx->arena, PT2_DTYPE_FLOAT32, x.rank, shape, &out, err))) return st;
    if (count == 2 && x.rank >= 1) {
        /* The common case (1-D audio padding): copy each row, then fill its two margins. */
        int64_t width = x.shape[x.rank - 1], left = pads[0], out_width = shape[x.rank - 1];
        int64_t rows = width ? pt2_tensor_numel(&x) / width : 0;
        for (int64_t r = 0; r < rows; r++) {
            const float *in = pt2_f32(&x) + r * width;
            float *o = pt2_f32(&out) + r * out_width;
            /* the margins only: [0, left) and [left + width, out_width) */
            int64_t left_end = left < out_width ? left : out_width, right_start = left + width > 0 ? left + width : 0;
            for (int64_t j = 0; j < left_end; j++) {
                int64_t source = source_index(mode, j - left, width);
                o[j] = source < 0 ? (float)value : in[source];
            }
            for (int64_t j = right_start; j < out_width; j++) {
                int64_t source = source_index(mode, j - left, width);
                o[j] = source < 0 ? (float)value : in[source];
            }
            int64_t start = left < 0 ? -left : 0, end = width < out_width - left ? width : out_width - left;
            if (end > start) memcpy(o + left + start, in + start, sizeof(float) * (size_t)(end - start));
        }
        return pt2_op_set_output(ctx, node, 0, &out, err);
    }
    int64_t total = pt2_tensor_numel(&out), index[PT2_MAX_RANK] = {0};
    const float *px = pt2_f32(&x);
    float *po = pt2_f32(&out);
    for (int64_t n = 0; n < total; n++) {
        int64_t offset = 0;
        int outside = 0;
        for (int d = 0; d < x.rank; d++) {
            int64_t s = source_index(mode, index[d] - before[d], x.shape[d]);
            if (s < 0) outside = 1;
            offset += s * x.strides[d];
        }
        po[n] = outside ? (float)value : px[offset];
        for (int d = x.rank - 1; d >= 0; d--) {
            if (++index[d] < shape[d]) break;
            index[d] = 0;
        }
    }
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

static pt2_status run_pad(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    const char *mode;
    double value = 0;
    int present = 0;
    pt2_status st = pt2_op_string(ctx, node, "mode", &mode, err);
    if (!st) st = pt2_op_optional_scalar(ctx, node, "value", &value, &present, err);
    if (st) return st;
    if (!mode) mode = "constant";
    if (strcmp(mode, "constant") && strcmp(mode, "reflect") && strcmp(mode, "replicate") && strcmp(mode, "circular"))
        return pt2_fail(err, PT2_ERR_UNSUPPORTED, "pad mode '%s' is not supported", mode);
    return pad_tensor(ctx, node, mode, present ? value : 0, err);
}

static pt2_status run_constant_pad(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    double value;
    pt2_status st = pt2_op_scalar(ctx, node, "value", &value, err);
    return st ? st : pad_tensor(ctx, node, "constant", value, err);
}

static pt2_status run_reflection_pad(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    return pad_tensor(ctx, node, "reflect", 0, err);
}

static pt2_status run_replication_pad(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    return pad_tensor(ctx, node, "replicate", 0, err);
}

static pt2_status run_circular_pad(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    return pad_tensor(ctx, node, "circular", 0, err);
}

const pt2_op_def pt2_ops_pad[] = {
    {"aten.pad.default", run_pad},
    {"aten.constant_pad_nd.default", run_constant_pad},
    {"aten.reflection_pad1d.default", run_reflection_pad},
    {"aten.reflection_pad2d.default", run_reflection_pad},
    {"aten.reflection_pad3d.default", run_reflection_pad},
    {"aten.replication_pad1d.default", run_replication_pad},
    {"aten.replication_pad2d.default", run_replication_pad},
    {"aten.replication_pad3d.default", run_replication_pad},
    {"aten._pad_circular.default", run_circular_pad},
    {NULL, NULL}};
