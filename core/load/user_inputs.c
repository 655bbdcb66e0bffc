#include "user_inputs.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* The input's file, not the model (which the archive's reader already named), is what is wrong. */
static void name_file(pt2_error *err, const char *file) {
    snprintf(err->file, sizeof err->file, "%s", file);
}

static int is_integer(pt2_dtype d) {
    return d == PT2_DTYPE_INT64 || d == PT2_DTYPE_INT32 || d == PT2_DTYPE_INT16 || d == PT2_DTYPE_INT8 ||
           d == PT2_DTYPE_UINT8 || d == PT2_DTYPE_BOOL;
}

static int64_t read_integer(const void *data, pt2_dtype d, int64_t i) {
    switch (d) {
    case PT2_DTYPE_INT64: return ((const int64_t *)data)[i];
    case PT2_DTYPE_INT32: return ((const int32_t *)data)[i];
    case PT2_DTYPE_INT16: return ((const int16_t *)data)[i];
    case PT2_DTYPE_INT8: return ((const int8_t *)data)[i];
    case PT2_DTYPE_UINT8:
    case PT2_DTYPE_BOOL: return ((const uint8_t *)data)[i];
    default: return 0;
    }
}

static double read_real(const void *data, pt2_dtype d, int64_t i) {
    if (d == PT2_DTYPE_FLOAT64) return ((const double *)data)[i];
    if (d == PT2_DTYPE_FLOAT32) return ((const float *)data)[i];
    return (double)read_integer(data, d, i);
}

/* The one user input's metadata of the graph, in signature order. */
static const pt2_value *user_input(const pt2_graph *graph, size_t index) {
    size_t k = 0;
    for (size_t i = 0; i < graph->num_inputs; i++) {
        const pt2_graph_input *in = &graph->inputs[i];
        if (in->kind != PT2_INPUT_USER || in->has_data || in->value_id < 0) continue;
        if (k++ == index) return &graph->values[in->value_id];
    }
    return NULL;
}

static pt2_status cast_one(pt2_arena *arena, const pt2_value *meta, pt2_tensor *input, const char *name,
                           pt2_strbuf *notes, pt2_error *err) {
    pt2_dtype from = input->dtype, to = meta->dtype;
    int to_float32 = to == PT2_DTYPE_FLOAT32 && (from == PT2_DTYPE_FLOAT64 || is_integer(from));
    int to_int = (to == PT2_DTYPE_INT64 || to == PT2_DTYPE_INT32) &&
                 (is_integer(from) || from == PT2_DTYPE_FLOAT64 || from == PT2_DTYPE_FLOAT32);
    if (from == to || !(to_float32 || to_int)) return PT2_OK;
    pt2_tensor source, cast;
    pt2_status st = pt2_tensor_contiguous(arena, input, 0, &source, err);
    if (!st) st = pt2_tensor_alloc(arena, to, source.rank, source.shape, &cast, err);
    if (st) return st;
    const void *in = pt2_tensor_data(&source);
    void *out = pt2_tensor_data(&cast);
    int64_t n = pt2_tensor_numel(&source);
    double largest_change = 0;
    const char *label = name ? name : meta->name;
    for (int64_t i = 0; i < n; i++) {
        if (to == PT2_DTYPE_FLOAT32) {
            /* Integers are exact in float32 up to 2^24; float64 is rounded (numpy's default). */
            double v = is_integer(from) ? 0 : read_real(in, from, i);
            int64_t w = is_integer(from) ? read_integer(in, from, i) : 0;
            if (is_integer(from) && (w > (1 << 24) || w < -(1 << 24))) {
                name_file(err, label);
                return pt2_fail(err, PT2_ERR_INPUT, "input '%s' must be float32; its %s value %lld at index %lld is "
                                "not exact in float32", meta->name, pt2_dtype_name(from), (long long)w, (long long)i);
            }
            if (is_integer(from)) v = (double)w;
            float f = (float)v;
            if (isfinite(v) && !isfinite(f)) {
                name_file(err, label);
                return pt2_fail(err, PT2_ERR_INPUT, "input '%s' must be float32; its float64 value %g at index %lld "
                                "overflows float32", meta->name, v, (long long)i);
            }
            double change = fabs((double)f - v);
            if (change > largest_change) largest_change = change;
            ((float *)out)[i] = f;
        } else {
            /* To an integer dtype only when nothing changes: every value whole and in range. */
            int64_t w;
            if (is_integer(from)) {
                w = read_integer(in, from, i);
            } else {
                double v = read_real(in, from, i);
                if (!(v == floor(v)) || !(fabs(v) <= 9007199254740992.0)) {
                    name_file(err, label);
                    return pt2_fail(err, PT2_ERR_INPUT, "input '%s' must be %s; its %s value %g at index %lld is not "
                                    "a whole number", meta->name, pt2_dtype_name(to), pt2_dtype_name(from), v, (long long)i);
                }
                w = (int64_t)v;
            }
            if (to == PT2_DTYPE_INT32 && (w > INT32_MAX || w < INT32_MIN)) {
                name_file(err, label);
                return pt2_fail(err, PT2_ERR_INPUT, "input '%s' must be int32; its value %lld at index %lld does not fit",
                                meta->name, (long long)w, (long long)i);
            }
            if (to == PT2_DTYPE_INT64) ((int64_t *)out)[i] = w;
            else ((int32_t *)out)[i] = (int32_t)w;
        }
    }
    pt2_strbuf_printf(notes, "input '%s' (%s): %s cast to %s, ", meta->name, label, pt2_dtype_name(from), pt2_dtype_name(to));
    if (largest_change > 0) pt2_strbuf_printf(notes, "rounded (largest change %.3g)\n", largest_change);
    else pt2_strbuf_puts(notes, "lossless\n");
    *input = cast;
    return PT2_OK;
}

pt2_status pt2_cast_user_inputs(pt2_arena *arena, const pt2_graph *graph, pt2_tensor *inputs, size_t count,
                                const char *const *names, pt2_strbuf *notes, pt2_error *err) {
    for (size_t i = 0; i < count; i++) {
        const pt2_value *meta = user_input(graph, i);
        if (!meta) break; /* too many inputs: the executor says how many the program takes */
        pt2_status st = cast_one(arena, meta, &inputs[i], names ? names[i] : NULL, notes, err);
        if (st) return st;
    }
    return PT2_OK;
}
