/* Which dims the interpreter's combine/compare take as one (pt2_rt_broadcast_infer), as RETURNN's
 * Data.get_common_data does: the same dim; two feature dims of one size; two static dims of one
 * size that layers made (allow_same_spatial_dim: a ResNet block's branch and shortcut); two
 * dynamic dims derived from the same one (derived_matches). Not: a static dim the input declares
 * (a Dim object of the Python config matches only itself), dims of other sizes, dynamic dims of
 * different roots; and each output dim is taken once per source (by rank: a dim not matched is
 * one more axis). */
#include <string.h>

#include "check.h"
#include "core/returnn/layers.h"

static pt2_rt_shape shape_of(int rank, const int *dims, int feature) {
    pt2_rt_shape s;
    memset(&s, 0, sizeof s);
    s.rank = rank;
    memcpy(s.dims, dims, sizeof(int) * (size_t)rank);
    s.feature_dim = feature;
    s.sparse_dim = -1;
    s.dtype = PT2_DTYPE_FLOAT32;
    return s;
}

/* The rank of the combine of a and b. */
static int combined_rank(pt2_arena *arena, pt2_rt_net *net, pt2_rt_shape a, pt2_rt_shape b) {
    pt2_rt_layer layer;
    memset(&layer, 0, sizeof layer);
    layer.name = "combine";
    layer.layer_class = "combine";
    pt2_rt_shape inputs[2] = {a, b}, out;
    pt2_error err;
    pt2_error_clear(&err);
    if (pt2_rt_broadcast_infer(arena, net, &layer, inputs, 2, &out, &err)) return -1;
    return out.rank;
}

int main(void) {
    pt2_arena arena;
    pt2_arena_init(&arena, 0);
    pt2_error err;
    pt2_error_clear(&err);
    pt2_rt_net net;
    memset(&net, 0, sizeof net);
    int batch, time, mels, feature, other_feature, height, shortcut_height, third_height, width, copy, other_time, strided;
    if (pt2_rt_add_dim(&arena, &net, "batch", PT2_RT_DIM_BATCH, -1, &batch, &err) ||
        pt2_rt_add_dim(&arena, &net, "time", PT2_RT_DIM_DYNAMIC, -1, &time, &err) ||
        pt2_rt_add_dim(&arena, &net, "mels", PT2_RT_DIM_STATIC, 4, &mels, &err) ||
        pt2_rt_add_dim(&arena, &net, "feature", PT2_RT_DIM_STATIC, 8, &feature, &err) ||
        pt2_rt_add_dim(&arena, &net, "other feature", PT2_RT_DIM_STATIC, 8, &other_feature, &err) ||
        pt2_rt_add_dim(&arena, &net, "conv:s0", PT2_RT_DIM_STATIC, 4, &height, &err) ||
        pt2_rt_add_dim(&arena, &net, "shortcut:conv:s0", PT2_RT_DIM_STATIC, 4, &shortcut_height, &err) ||
        pt2_rt_add_dim(&arena, &net, "pool:s0", PT2_RT_DIM_STATIC, 4, &third_height, &err) ||
        pt2_rt_add_dim(&arena, &net, "conv:s1", PT2_RT_DIM_STATIC, 5, &width, &err) ||
        pt2_rt_add_dim(&arena, &net, "other input's time", PT2_RT_DIM_DYNAMIC, -1, &other_time, &err) ||
        pt2_rt_derive_dim(&arena, &net, time, 1, 0, 2, "time / 2", &strided, &err) ||
        pt2_rt_add_dim(&arena, &net, "time merged with 1", PT2_RT_DIM_DYNAMIC, -1, &copy, &err)) {
        printf("FAIL: %s\n", err.message);
        return 1;
    }
    net.dims[copy].base = time; /* a copy of the time: its merge with a size-1 axis */
    int input[3] = {batch, mels, time};
    net.input = shape_of(3, input, -1);

    int a[4] = {batch, height, width, feature}, b[4] = {batch, shortcut_height, width, other_feature};
    CHECK(combined_rank(&arena, &net, shape_of(4, a, feature), shape_of(4, b, other_feature)) == 4,
          "a branch and its shortcut: two made heights of one size, two features of one size, one width");
    int c[3] = {batch, mels, feature}, d[3] = {batch, height, feature};
    CHECK(combined_rank(&arena, &net, shape_of(3, c, feature), shape_of(3, d, feature)) == 4,
          "the input's declared static dim is not a made static dim of its size");
    int e[3] = {batch, height, feature}, f[3] = {batch, width, feature};
    CHECK(combined_rank(&arena, &net, shape_of(3, e, feature), shape_of(3, f, feature)) == 4,
          "made static dims of different sizes stay two");
    int g[3] = {batch, height, feature}, h[3] = {batch, shortcut_height, third_height};
    CHECK(combined_rank(&arena, &net, shape_of(3, g, feature), shape_of(3, h, -1)) == 4,
          "each output dim is taken once per source: two made heights do not both match one");
    int k[2] = {batch, time}, l[2] = {batch, copy}, m[2] = {batch, strided};
    CHECK(combined_rank(&arena, &net, shape_of(2, k, -1), shape_of(2, l, -1)) == 2,
          "a copy of the time is the time again (derived_matches)");
    CHECK(combined_rank(&arena, &net, shape_of(2, k, -1), shape_of(2, m, -1)) == 2,
          "a dim derived from the time matches it (derived_matches)");
    int n[2] = {batch, other_time};
    CHECK(combined_rank(&arena, &net, shape_of(2, k, -1), shape_of(2, n, -1)) == 3,
          "the time of another root is another dim");
    pt2_arena_free(&arena);
    if (!failures) printf("broadcast_dims: all passed\n");
    return failures != 0;
}
