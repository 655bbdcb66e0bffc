#include "output_summary.h"

#include <math.h>

static double element(const void *data, pt2_dtype dtype, int64_t i) {
    switch (dtype) {
    case PT2_DTYPE_FLOAT32: return ((const float *)data)[i];
    case PT2_DTYPE_FLOAT64: return ((const double *)data)[i];
    case PT2_DTYPE_INT64: return (double)((const int64_t *)data)[i];
    case PT2_DTYPE_INT32: return ((const int32_t *)data)[i];
    case PT2_DTYPE_INT16: return ((const int16_t *)data)[i];
    case PT2_DTYPE_INT8: return ((const int8_t *)data)[i];
    case PT2_DTYPE_UINT8:
    case PT2_DTYPE_BOOL: return ((const uint8_t *)data)[i];
    default: return NAN;
    }
}

pt2_status pt2_output_summary(pt2_arena *scratch, const char *name, const pt2_tensor *tensor, pt2_strbuf *out,
                              pt2_error *err) {
    pt2_tensor t;
    pt2_status st = pt2_tensor_contiguous(scratch, tensor, 0, &t, err);
    if (st) return st;
    char shape[200];
    pt2_shape_format(t.shape, t.rank, shape, sizeof shape);
    pt2_strbuf_printf(out, "output '%s': %s %s", name, pt2_dtype_name(t.dtype), shape);
    int64_t n = pt2_tensor_numel(&t), finite = 0, nan = 0, inf = 0;
    double low = INFINITY, high = -INFINITY, sum = 0;
    const void *data = pt2_tensor_data(&t);
    for (int64_t i = 0; i < n; i++) {
        double v = element(data, t.dtype, i);
        if (isnan(v)) { nan++; continue; }
        if (isinf(v)) inf++;
        if (v < low) low = v;
        if (v > high) high = v;
        if (isfinite(v)) { sum += v; finite++; }
    }
    if (n == 0) pt2_strbuf_puts(out, "  (empty)");
    else if (nan == n) pt2_strbuf_puts(out, "  every value is NaN");
    else pt2_strbuf_printf(out, "  min %.6g  max %.6g  mean %.6g", low, high, finite ? sum / (double)finite : NAN);
    if (nan && nan < n) pt2_strbuf_printf(out, "  (%lld NaN)", (long long)nan);
    if (inf) pt2_strbuf_printf(out, "  (%lld inf; the mean is over the finite values)", (long long)inf);
    pt2_strbuf_putc(out, '\n');
    return PT2_OK;
}
