/* Which dims the interpreter's 2-D conv gives its output's spatial axes, as RETURNN's ConvLayer
 * does (get_out_data_from_opts): the input's own dim where the axis is an identity (a 1x1 filter
 * unpadded, or "same" padding, at stride 1), else a new one ("<layer>:conv:s<i>"), also where the
 * size stays (a 3x3 filter padded by 1). A later layer names the axis by that dim: a squeeze-and-
 * excitation's 1x1 convs over the size-1 axes of a pooled value, whose next conv must find them. */
#include <string.h>

#include "check.h"
#include "core/returnn/layers.h"

typedef struct conv_case {
    int64_t kernel, stride;
    const char *padding; /* "valid", "same" or NULL for an int padding of 1 */
} conv_case;

/* The output's dims for the height (a static size-1 axis) and the time: out[0], out[1]. */
static int conv_dims(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_shape *in, conv_case c, int out[2]) {
    pt2_rt_layer layer;
    memset(&layer, 0, sizeof layer);
    layer.name = "gate";
    layer.layer_class = "conv";
    pt2_error err;
    pt2_error_clear(&err);
    const int64_t kernel[2] = {c.kernel, c.kernel}, stride[2] = {c.stride, c.stride};
    const char *spatial[2] = {"stag:pooled height", "T"};
    if (pt2_rt_set_int_list(arena, &layer, "filter_size", kernel, 2, &err) ||
        pt2_rt_set_int_list(arena, &layer, "strides", stride, 2, &err) ||
        (c.padding ? pt2_rt_set_string(&layer, "padding", c.padding, &err) : pt2_rt_set_int(&layer, "padding", 1, &err)) ||
        pt2_rt_set_string_list(arena, &layer, "in_spatial_dims", spatial, 2, &err) ||
        pt2_rt_set_int(&layer, "n_out", 2, &err) || pt2_rt_infer_layer(arena, net, &layer, in, 1, &err)) {
        printf("FAIL: %s\n", err.message);
        return 0;
    }
    /* [B, height, time, channel]: the spatial axes keep their places. */
    out[0] = layer.shape.dims[1], out[1] = layer.shape.dims[2];
    return 1;
}

int main(void) {
    pt2_arena arena;
    pt2_arena_init(&arena, 0);
    pt2_error err;
    pt2_error_clear(&err);
    pt2_rt_net net;
    memset(&net, 0, sizeof net);
    int batch, time, height, feature;
    if (pt2_rt_add_dim(&arena, &net, "batch", PT2_RT_DIM_BATCH, -1, &batch, &err) ||
        pt2_rt_add_dim(&arena, &net, "time", PT2_RT_DIM_DYNAMIC, -1, &time, &err) ||
        pt2_rt_add_dim(&arena, &net, "pooled height", PT2_RT_DIM_STATIC, 1, &height, &err) ||
        pt2_rt_add_dim(&arena, &net, "channels", PT2_RT_DIM_STATIC, 4, &feature, &err)) {
        printf("FAIL: %s\n", err.message);
        return 1;
    }
    pt2_rt_shape in;
    memset(&in, 0, sizeof in);
    in.rank = 4;
    in.dims[0] = batch, in.dims[1] = height, in.dims[2] = time, in.dims[3] = feature;
    in.feature_dim = feature;
    in.sparse_dim = -1;
    in.dtype = PT2_DTYPE_FLOAT32;
    net.input = in;

    int out[2];
    CHECK(conv_dims(&arena, &net, &in, (conv_case){1, 1, "valid"}, out) && out[0] == height && out[1] == time,
          "a 1x1 filter unpadded at stride 1 keeps both dims");
    CHECK(conv_dims(&arena, &net, &in, (conv_case){3, 1, "same"}, out) && out[0] == height && out[1] == time,
          "\"same\" padding at stride 1 keeps both dims");
    CHECK(conv_dims(&arena, &net, &in, (conv_case){3, 1, NULL}, out) && out[0] != height &&
              net.dims[out[0]].kind == PT2_RT_DIM_STATIC && net.dims[out[0]].size == 1 &&
              !strcmp(net.dims[out[0]].description, "gate:conv:s0"),
          "a 3x3 filter padded by 1 keeps the size, but RETURNN makes a new dim");
    CHECK(conv_dims(&arena, &net, &in, (conv_case){1, 2, "valid"}, out) && out[0] != height && out[1] != time,
          "stride 2 makes new dims");
    pt2_arena_free(&arena);
    if (!failures) printf("conv_dims: all passed\n");
    return failures != 0;
}
