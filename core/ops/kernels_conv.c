/* Convolution and transposed convolution as GEMMs over the channels-first layout PyTorch uses.
 * Convolution: out[o, (oh,ow)] = sum over (c,kh,kw) of weight[o, (c,kh,kw)] * im2col[(c,kh,kw), (oh,ow)],
 * where im2col is never stored: the GEMM packs its tiles straight from the input.
 * Transposed convolution: cols[(o,kh,kw), (ih,iw)] = weight^T x input, then every column entry
 * is added to the output position it lands on (col2im). */
#include <string.h>

#include "kernels.h"

int64_t pt2_conv_out_size(int64_t in, int64_t kernel, int64_t stride, int64_t dilation, int64_t pad_before,
                          int64_t pad_after) {
    int64_t span = dilation * (kernel - 1) + 1, padded = in + pad_before + pad_after;
    if (stride < 1 || padded < span) return -1;
    return (padded - span) / stride + 1;
}

/* One run of output columns [ow0, ow1) of output row `oh` for im2col row (c, kh, kw). */
static void pack_im2col_run(const pt2_gemm_source *s, const float *channel, int64_t kh, int64_t kw, int64_t oh,
                            int64_t ow0, int64_t ow1, float *dst) {
    int64_t ih = oh * s->stride_h + kh * s->dilation_h - s->pad_top;
    if (ih < 0 || ih >= s->in_height) {
        memset(dst, 0, sizeof(float) * (size_t)(ow1 - ow0));
        return;
    }
    const float *row = channel + ih * s->in_width;
    /* Output column ow reads input column ow*stride + shift; keep that inside [0, in_width). */
    int64_t shift = kw * s->dilation_w - s->pad_left, stride = s->stride_w;
    int64_t first = shift >= 0 ? 0 : (-shift + stride - 1) / stride;
    int64_t end = s->in_width - shift <= 0 ? 0 : (s->in_width - shift - 1) / stride + 1;
    if (first < ow0) first = ow0;
    if (end > ow1) end = ow1;
    if (end < first) end = first;
    for (int64_t ow = ow0; ow < first && ow < ow1; ow++) dst[ow - ow0] = 0.0f;
    if (stride == 1)
        memcpy(dst + (first - ow0), row + first + shift, sizeof(float) * (size_t)(end - first));
    else
        for (int64_t ow = first; ow < end; ow++) dst[ow - ow0] = row[ow * stride + shift];
    for (int64_t ow = end > first ? end : first; ow < ow1; ow++) dst[ow - ow0] = 0.0f;
}

static void pack_im2col(const pt2_gemm_source *s, int64_t k0, int64_t kc, int64_t j0, int64_t nc, float *dst,
                        int64_t dst_stride) {
    int64_t taps = s->kernel_height * s->kernel_width, padded = pt2_gemm_padded_columns(nc, dst_stride);
    for (int64_t kk = 0; kk < kc; kk++) {
        int64_t r = k0 + kk, c = r / taps, tap = r % taps;
        int64_t kh = tap / s->kernel_width, kw = tap % s->kernel_width;
        const float *channel = s->input + c * s->channel_stride;
        float *out = dst + kk * dst_stride;
        int64_t j = j0;
        while (j < j0 + nc) {
            int64_t oh = j / s->out_width, ow0 = j % s->out_width;
            int64_t ow1 = s->out_width;
            if (ow1 - ow0 > j0 + nc - j) ow1 = ow0 + (j0 + nc - j);
            pack_im2col_run(s, channel, kh, kw, oh, ow0, ow1, out + (j - j0));
            j += ow1 - ow0;
        }
        for (int64_t jj = nc; jj < padded; jj++) out[jj] = 0.0f;
    }
}

void pt2_conv_im2col_source(const pt2_conv_geometry *g, const float *input, int64_t channels, int64_t channel_stride,
                            pt2_gemm_source *out) {
    memset(out, 0, sizeof *out);
    out->pack = pack_im2col;
    out->input = input;
    out->channels = channels;
    out->channel_stride = channel_stride;
    out->in_height = g->in_height;
    out->in_width = g->in_width;
    out->kernel_height = g->kernel_height;
    out->kernel_width = g->kernel_width;
    out->out_width = g->out_width;
    out->stride_h = g->stride_h;
    out->stride_w = g->stride_w;
    out->dilation_h = g->dilation_h;
    out->dilation_w = g->dilation_w;
    out->pad_top = g->pad_top;
    out->pad_left = g->pad_left;
}

size_t pt2_conv_scratch_floats(const pt2_conv_geometry *g) {
    (void)g;
    return pt2_gemm_scratch_floats();
}

void pt2_conv2d_channels(const pt2_conv_geometry *g, const float *x, const float *weight, const float *bias, float *out,
                         float *scratch, int64_t o0, int64_t o1) {
    int64_t group_in = g->in_channels / g->groups, group_out = g->out_channels / g->groups, count = o1 - o0;
    int64_t taps = g->kernel_height * g->kernel_width, in_plane = g->in_height * g->in_width;
    int64_t out_plane = g->out_height * g->out_width;
    int pointwise = taps == 1 && g->stride_h == 1 && g->stride_w == 1 && g->pad_top == 0 && g->pad_left == 0 &&
                    g->out_height == g->in_height && g->out_width == g->in_width;
    for (int64_t n = 0; n < g->batch; n++)
        for (int64_t grp = 0; grp < g->groups; grp++) {
            float *o = out + (n * g->out_channels + grp * group_out + o0) * out_plane;
            /* each output channel (a row of the GEMM) starts from its bias, added by the GEMM as
             * it stores the first slice; without a bias the rows start from zero */
            const float *row_bias = bias ? bias + grp * group_out + o0 : NULL;
            if (!bias)
                for (int64_t oc = 0; oc < count; oc++) memset(o + oc * out_plane, 0, sizeof(float) * (size_t)out_plane);
            const float *xg = x + (n * g->in_channels + grp * group_in) * in_plane;
            pt2_matrix_view a = {weight + (grp * group_out + o0) * group_in * taps, group_in * taps, 1};
            if (pointwise) {
                pt2_matrix_view b = {xg, in_plane, 1};
                if (row_bias) pt2_gemm_matrix_bias(count, out_plane, group_in, a, b, o, out_plane, row_bias, NULL, scratch);
                else pt2_gemm_matrix(count, out_plane, group_in, a, b, o, out_plane, 1, scratch);
                continue;
            }
            pt2_gemm_source s;
            pt2_conv_im2col_source(g, xg, group_in, in_plane, &s);
            if (row_bias) pt2_gemm_bias(count, out_plane, group_in * taps, a, &s, o, out_plane, row_bias, NULL, scratch);
            else pt2_gemm(count, out_plane, group_in * taps, a, &s, o, out_plane, 1, scratch);
        }
}

void pt2_conv2d(const pt2_conv_geometry *g, const float *x, const float *weight, const float *bias, float *out,
                float *scratch) {
    pt2_conv2d_channels(g, x, weight, bias, out, scratch, 0, g->out_channels / g->groups);
}

size_t pt2_conv_transpose_scratch_floats_channels(const pt2_conv_geometry *g, int64_t count) {
    int64_t group_in = g->in_channels / g->groups, taps = g->kernel_height * g->kernel_width;
    return pt2_gemm_scratch_floats() + (size_t)(count * taps * g->in_height * g->in_width) +
           (size_t)(count * taps * group_in);
}

size_t pt2_conv_transpose_scratch_floats(const pt2_conv_geometry *g) {
    return pt2_conv_transpose_scratch_floats_channels(g, g->out_channels / g->groups);
}

void pt2_transpose_matrix(const float *restrict m, int64_t rows, int64_t columns, int64_t row_stride,
                          float *restrict out) {
    enum { TILE = 16 };
    for (int64_t c0 = 0; c0 < columns; c0 += TILE)
        for (int64_t r0 = 0; r0 < rows; r0 += TILE) {
            int64_t c1 = c0 + TILE < columns ? c0 + TILE : columns, r1 = r0 + TILE < rows ? r0 + TILE : rows;
            /* whole 4 x 4 squares by vector shuffles, the tile's ragged edges one by one */
            int64_t c4 = c0 + (c1 - c0) / 4 * 4, r4 = r0 + (r1 - r0) / 4 * 4;
            for (int64_t c = c0; c < c4; c += 4)
                for (int64_t r = r0; r < r4; r += 4) pt2_transpose4(m + r * row_stride + c, row_stride, out + c * rows + r, rows);
            for (int64_t c = c0; c < c1; c++)
                for (int64_t r = c < c4 ? r4 : r0; r < r1; r++) out[c * rows + r] = m[r * row_stride + c];
        }
}

void pt2_conv_transpose2d_channels(const pt2_conv_geometry *g, const float *x, const float *weight,
                                   const float *bias, float *out, float *scratch, int64_t o0, int64_t o1) {
    int64_t group_in = g->in_channels / g->groups, group_out = g->out_channels / g->groups, count = o1 - o0;
    int64_t taps = g->kernel_height * g->kernel_width, in_plane = g->in_height * g->in_width;
    int64_t out_plane = g->out_height * g->out_width;
    float *cols = scratch + pt2_gemm_scratch_floats(), *weight_t = cols + count * taps * in_plane;
    for (int64_t n = 0; n < g->batch; n++)
        for (int64_t grp = 0; grp < g->groups; grp++) {
            float *o = out + (n * g->out_channels + grp * group_out + o0) * out_plane;
            for (int64_t oc = 0; oc < count; oc++) {
                float b = bias ? bias[grp * group_out + o0 + oc] : 0.0f;
                for (int64_t j = 0; j < out_plane; j++) o[oc * out_plane + j] = b;
            }
            /* weight[c, (o,kh,kw)] for o in [o0, o1) transposed: rows (o,kh,kw), columns c. */
            if (n == 0 || g->groups > 1)
                pt2_transpose_matrix(weight + grp * group_in * group_out * taps + o0 * taps, group_in, count * taps,
                                     group_out * taps, weight_t);
            pt2_matrix_view a = {weight_t, group_in, 1};
            pt2_matrix_view b = {x + (n * g->in_channels + grp * group_in) * in_plane, in_plane, 1};
            pt2_gemm_matrix(count * taps, in_plane, group_in, a, b, cols, in_plane, 0, scratch);
            for (int64_t oc = 0; oc < count; oc++)
                for (int64_t kh = 0; kh < g->kernel_height; kh++)
                    for (int64_t kw = 0; kw < g->kernel_width; kw++) {
                        const float *col = cols + ((oc * g->kernel_height + kh) * g->kernel_width + kw) * in_plane;
                        float *plane = o + oc * out_plane;
                        /* Input column iw lands on output column iw*stride + shift. */
                        int64_t shift = kw * g->dilation_w - g->pad_left, stride = g->stride_w;
                        int64_t first = shift >= 0 ? 0 : (-shift + stride - 1) / stride;
                        int64_t end = g->out_width - shift <= 0 ? 0 : (g->out_width - shift - 1) / stride + 1;
                        if (end > g->in_width) end = g->in_width;
                        for (int64_t ih = 0; ih < g->in_height; ih++) {
                            int64_t oh = ih * g->stride_h + kh * g->dilation_h - g->pad_top;
                            if (oh < 0 || oh >= g->out_height) continue;
                            float *restrict orow = plane + oh * g->out_width;
                            const float *restrict crow = col + ih * g->in_width;
                            if (stride == 1)
                                for (int64_t iw = first; iw < end; iw++) orow[iw + shift] += crow[iw];
                            else
                                for (int64_t iw = first; iw < end; iw++) orow[iw * stride + shift] += crow[iw];
                        }
                    }
        }
}

void pt2_conv_transpose2d(const pt2_conv_geometry *g, const float *x, const float *weight, const float *bias,
                          float *out, float *scratch) {
    pt2_conv_transpose2d_channels(g, x, weight, bias, out, scratch, 0, g->out_channels / g->groups);
}
