#include "verify_layers.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../base/clock.h"
#include "../lower/axes.h"
#include "../ops/elementwise.h"
#include "../ops/parallel.h"
#include "../returnn/layers.h"
#include "layer_references.h"

/* The sources a check computed (a chain of helper layers a layer reads through, such as the
 * layers of a multi-layer LSTM below its checked output): each computed once per check, however
 * many of the layers above read it. */
enum { COMPUTED_SOURCES = 32 };
typedef struct computed_sources {
    const pt2_rt_layer *layer[COMPUTED_SOURCES];
    pt2_rt_tensor value[COMPUTED_SOURCES];
    int count;
} computed_sources;

/* A layer's source as the interpreter gets it: PyTorch's own tensor with the net dim of each
 * of its axes. A source that holds no graph value (a constant's variable layer, a
 * reinterpret_data) is computed from its own sources; so is one whose value the run released
 * already, which a lowering that reads another value than its op's can give (a mask looked
 * through its broadcasts): that source's own check compared it with PyTorch's value. A layer
 * reading only its source's shape (a range over a time axis, whose source the lowering chose
 * among all values of that length) takes a released value as it is: the shape stays. */
static pt2_status layer_input(pt2_arena *arena, const pt2_lower_context *lowered, const pt2_rt_layer *layer, size_t i,
                              int depth, computed_sources *computed, pt2_rt_tensor *out, pt2_error *err) {
    int value = layer->input_values[i];
    const pt2_run_value *held = value >= 0 ? &lowered->run->values[value] : NULL;
    if (held && !held->is_set)
        return pt2_fail(err, PT2_ERR_INTERNAL, "layer '%s': PyTorch's value of source '%s' is not computed yet", layer->name,
                        layer->from[i]);
    if (!held || (held->released && pt2_rt_layer_reads_source_data(layer->layer_class))) {
        const pt2_rt_layer *source = pt2_rt_find_layer(lowered->net, layer->from[i]);
        /* A chain of helper layers (a norm written out, its groups split and merged) is at most
         * a node's own layers deep. */
        if (!source || depth > 16)
            return pt2_fail(err, PT2_ERR_INTERNAL, "layer '%s': source '%s' has no PyTorch value", layer->name, layer->from[i]);
        for (int k = 0; k < computed->count; k++)
            if (computed->layer[k] == source) {
                *out = computed->value[k];
                return PT2_OK;
            }
        pt2_rt_tensor inputs[PT2_RT_MAX_FROM];
        for (size_t s = 0; s < source->num_from; s++) {
            pt2_status st = layer_input(arena, lowered, source, s, depth + 1, computed, &inputs[s], err);
            if (st) return st;
        }
        /* The source's temporaries (a recurrent layer's projections of every frame, a weight
         * turned) go once it is computed, its output stays: a chain of such sources (the four
         * directions of a two-layer BLSTM, one op with one PyTorch value) holds no more than
         * their outputs at once. */
        uint64_t mark = pt2_arena_mark(arena);
        pt2_status st = pt2_rt_compute_layer(arena, lowered->net, source, inputs, source->num_from, out, err);
        if (!st) {
            const void *keep = pt2_tensor_data(&out->tensor);
            pt2_arena_release_since(arena, mark, &keep, 1);
        }
        if (!st && computed->count < COMPUTED_SOURCES) {
            computed->layer[computed->count] = source;
            computed->value[computed->count++] = *out;
        }
        return st;
    }
    const pt2_lowered_value *map = &lowered->values[value];
    const pt2_tensor *torch = &lowered->run->values[value].tensor;
    out->tensor = *torch; /* PyTorch's value, compared later: never written over */
    out->writable = 0;
    out->shape = map->shape;
    out->shape.dtype = out->tensor.dtype;
    /* Broadcast axes (core/lower/axes.h) are not in the layer: PyTorch's value is constant
     * along them, so its first entry there is what RETURNN holds. */
    int rank = 0;
    for (int a = 0; a < map->rank; a++) {
        if (map->dims[a] < 0 || pt2_rt_shape_axis(&map->shape, map->dims[a]) < 0) continue;
        out->tensor.shape[rank] = torch->shape[a];
        out->tensor.strides[rank] = torch->strides[a];
        out->shape.dims[rank++] = map->dims[a];
    }
    /* A hidden batch (core/lower/axes.h: a run of one sequence) is PyTorch's one sequence. */
    int hidden = pt2_axes_hidden_batch(lowered, map);
    if (hidden >= 0) { /* first, where RETURNN keeps the batch */
        memmove(&out->tensor.shape[1], &out->tensor.shape[0], sizeof(out->tensor.shape[0]) * (size_t)rank);
        memmove(&out->tensor.strides[1], &out->tensor.strides[0], sizeof(out->tensor.strides[0]) * (size_t)rank);
        memmove(&out->shape.dims[1], &out->shape.dims[0], sizeof(out->shape.dims[0]) * (size_t)rank);
        out->tensor.shape[0] = 1;
        out->tensor.strides[0] = 0;
        out->shape.dims[0] = hidden;
        rank++;
    }
    out->tensor.rank = rank;
    out->shape.rank = rank;
    return PT2_OK;
}

/* The float comparison reads every value of every layer, so it is written for the vectoriser.
 * Every figure is computed exactly, in double, element by element (compare_exactly) - but only
 * for a block of values (the vector width) that may change one: a float screen of each block, with a margin
 * of 2^-20 far above its rounding, passes on the blocks whose every value is inside the
 * tolerance and below the maxima found so far (the common case: a block's figures then cannot
 * move). The figures are thus the same whatever the screen lets through, on every platform. */
/* The figures a comparison runs up, for floats and for any other dtype alike. */
typedef struct running_comparison {
    double max_abs, max_rel, worst_ratio;
    int64_t failed, nan;
} running_comparison;

typedef float f32x8 __attribute__((vector_size(32)));
typedef int32_t i32x8 __attribute__((vector_size(32)));
typedef float f32x4 __attribute__((vector_size(16)));
typedef int32_t i32x4 __attribute__((vector_size(16)));

/* One pair of values into the figures, in double: every comparison's element-wise rule (floats
 * where the screen lets them through, and tensors of any other dtype read as doubles). */
static inline void compare_element(double a, double b, double atol, double rtol, running_comparison *out) {
    /* Equal infinities agree (as torch.allclose has them): log(0) of a relative position's
     * bucket on both sides, whose difference would be NaN. An infinity against anything else
     * fails, where an infinite reference would allow any difference. */
    double diff = a == b ? 0.0 : fabs(a - b), scale = fabs(b), allowed = atol + rtol * scale;
    if (diff != 0 && (isinf(a) || isinf(b))) diff = INFINITY, allowed = 0;
    double ratio = allowed > 0 ? diff / allowed : (diff > 0 ? INFINITY : 0.0);
    if (diff > out->max_abs) out->max_abs = diff;
    if (scale > 0 && diff / scale > out->max_rel) out->max_rel = diff / scale;
    if (ratio > out->worst_ratio) out->worst_ratio = ratio;
    out->failed += diff > allowed;
    out->nan += diff != diff;
}

static void compare_exactly(const float *a, const float *b, int64_t n, double atol, double rtol, running_comparison *out) {
    for (int64_t k = 0; k < n; k++) compare_element(a[k], b[k], atol, rtol, out);
}

#define SCREEN_MARGIN (1.0f - 1.0f / (1 << 20))

/* A block of LANES values (the vector width of the target: 4 in SIMD128 and SSE, 8 in AVX2) in
 * registers; whether any lane of a comparison's mask is set, by folding the halves together
 * (AVX2: ANY_LANE_MOVEMASK_8 below). */
#define ANY_LANE_4(m) ((m) |= __builtin_shufflevector((m), (m), 2, 3, 0, 1), (m) |= __builtin_shufflevector((m), (m), 1, 0, 3, 2), (m)[0])

#define DEFINE_COMPARE_FLOATS(name, attributes, LANES, F32, I32, ANY_LANE)                                      \
    attributes static void name(const float *a, const float *b, int64_t n, double atol, double rtol,             \
                                running_comparison *out) {                                                          \
        memset(out, 0, sizeof *out);                                                                              \
        F32 fatol, frtol, t_abs, t_tie, t_rel, t_ratio;                                                           \
        I32 abs_mask;                                                                                             \
        for (int j = 0; j < LANES; j++) {                                                                         \
            fatol[j] = (float)atol, frtol[j] = (float)rtol, abs_mask[j] = INT32_MAX;                              \
            t_abs[j] = t_tie[j] = t_rel[j] = t_ratio[j] = 0;                                                      \
        }                                                                                                         \
        int64_t k = 0;                                                                                            \
        for (; k + LANES <= n; k += LANES) {                                                                      \
            F32 x, y;                                                                                             \
            memcpy(&x, a + k, sizeof x);                                                                          \
            memcpy(&y, b + k, sizeof y);                                                                          \
            F32 d = (F32)((I32)(x - y) & abs_mask), s = (F32)((I32)y & abs_mask), ax = (F32)((I32)x & abs_mask);  \
            /* t_ratio is at most the margin: one test catches a ratio above the worst so far and a  \
             * value outside the tolerance (failed counts each), and, written as ~(d <= ..), a NaN;  \
             * a difference from a zero of PyTorch's (t_rel * 0) goes to the exact rule too. A        \
             * difference equal to the largest so far (common: errors of one unit in the last place)  \
             * cannot move it either where the float subtraction was exact, as it is when d is below  \
             * both magnitudes (Sterbenz: x and y within a factor of two); t_tie is the largest float \
             * not above the maximum. */                                                              \
            I32 tie = (d <= t_tie) & (d < ax) & (d < s);                                                          \
            I32 moves = ((d > t_abs) & ~tie) | (d > t_rel * s) | ~(d <= t_ratio * (fatol + frtol * s));    \
            if (!ANY_LANE(moves)) continue;                                                                       \
            compare_exactly(a + k, b + k, LANES, atol, rtol, out);                                                \
            float ratio = (float)out->worst_ratio * SCREEN_MARGIN, tie_abs = (float)out->max_abs;                  \
            if ((double)tie_abs > out->max_abs) tie_abs = nextafterf(tie_abs, 0.0f);                              \
            for (int j = 0; j < LANES; j++) {                                                                     \
                t_tie[j] = tie_abs;                                                                               \
                t_abs[j] = (float)out->max_abs * SCREEN_MARGIN;                                                   \
                t_rel[j] = (float)out->max_rel * SCREEN_MARGIN;                                                   \
                t_ratio[j] = ratio < SCREEN_MARGIN ? ratio : SCREEN_MARGIN;                                       \
            }                                                                                                     \
        }                                                                                                         \
        compare_exactly(a + k, b + k, n - k, atol, rtol, out); /* the last few */                                \
    }

DEFINE_COMPARE_FLOATS(compare_floats_portable, , 4, f32x4, i32x4, ANY_LANE_4)
#ifdef __wasm_simd128__
/* SIMD128 tells whether any lane is set in one instruction (v128.any_true), where ANY_LANE_4
 * takes three shuffles, ors and an extract: the comparisons were 8% of a MelGAN's conversion
 * under Node, the largest part after the GEMM. */
#define ANY_LANE_WASM_4(m) __builtin_wasm_any_true_v128((__attribute__((vector_size(16))) long long)(m))
DEFINE_COMPARE_FLOATS(compare_floats_wasm, , 4, f32x4, i32x4, ANY_LANE_WASM_4)
#endif

#if defined(__x86_64__) && defined(__GNUC__)
/* AVX2 tells whether any lane is set in one instruction (the sign bits gathered), not three
 * shuffles and ors. */
#define ANY_LANE_MOVEMASK_8(m) (__builtin_ia32_movmskps256((f32x8)(m)) != 0)
DEFINE_COMPARE_FLOATS(compare_floats_avx2, __attribute__((target("avx2,fma"))), 8, f32x8, i32x8, ANY_LANE_MOVEMASK_8)
#endif

static void compare_floats(const float *a, const float *b, int64_t n, double atol, double rtol, running_comparison *out) {
#ifdef __wasm_simd128__
    compare_floats_wasm(a, b, n, atol, rtol, out);
    return;
#endif
#if defined(__x86_64__) && defined(__GNUC__)
    static int have_avx2 = -1;
    if (have_avx2 < 0) {
        __builtin_cpu_init();
        have_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    if (have_avx2) {
        compare_floats_avx2(a, b, n, atol, rtol, out);
        return;
    }
#endif
    compare_floats_portable(a, b, n, atol, rtol, out);
}

/* The same over two tensors of one shape in any strides (pt2_compare_tensors of views): rows
 * along the reference's innermost axis, `ours` gathered alongside a chunk at a time; the chunks'
 * figures merge exactly (maxima and counts). The per-layer check compares a result in another
 * layout piece by piece instead (compare_in_pieces below: a tiled transpose reads it faster). */
enum { COMPARE_CHUNK = 1024 };

static void merge_comparison(running_comparison *into, const running_comparison *c) {
    if (c->max_abs > into->max_abs) into->max_abs = c->max_abs;
    if (c->max_rel > into->max_rel) into->max_rel = c->max_rel;
    if (c->worst_ratio > into->worst_ratio) into->worst_ratio = c->worst_ratio;
    into->failed += c->failed;
    into->nan += c->nan;
}

/* compare_floats over the threads: a piece of the values each, the pieces' figures merged
 * (maxima and counts: the same figures whatever the split). */
typedef struct compare_job {
    const float *a, *b;
    int64_t n, per_piece;
    double atol, rtol;
    struct running_comparison *pieces;
} compare_job;

static void compare_piece(void *context, size_t index) {
    const compare_job *j = context;
    int64_t start = (int64_t)index * j->per_piece, count = j->n - start < j->per_piece ? j->n - start : j->per_piece;
    if (count > 0) compare_floats(j->a + start, j->b + start, count, j->atol, j->rtol, &j->pieces[index]);
    else memset(&j->pieces[index], 0, sizeof j->pieces[index]);
}

static void compare_floats_split(int threads, const float *a, const float *b, int64_t n, double atol, double rtol,
                                 running_comparison *out) {
    enum { PIECE_MIN = 1 << 16, MAX_PIECES = 64 };
    size_t pieces = pt2_parallel_pieces_threads(threads, (size_t)(n / PIECE_MIN));
    if (pieces > MAX_PIECES) pieces = MAX_PIECES;
    if (pieces <= 1) {
        compare_floats(a, b, n, atol, rtol, out);
        return;
    }
    running_comparison figures[MAX_PIECES];
    compare_job job = {a, b, n, ((n + (int64_t)pieces - 1) / (int64_t)pieces + 7) / 8 * 8, atol, rtol, figures};
    pt2_parallel_for_threads(threads, pieces, compare_piece, &job);
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < pieces; i++) merge_comparison(out, &figures[i]);
}

static void gather_floats(const float *base, int64_t stride, int64_t n, float *out) {
    if (stride == 1) memcpy(out, base, sizeof(float) * (size_t)n);
    else
        for (int64_t j = 0; j < n; j++) out[j] = base[j * stride];
}

static void compare_floats_strided(const pt2_tensor *a, const pt2_tensor *b, double atol, double rtol,
                                   running_comparison *out) {
    memset(out, 0, sizeof *out);
    int rank = a->rank, order[PT2_MAX_RANK];
    pt2_tensor_memory_order(b, order); /* rows along b's innermost axis, whether b is dense or not */
    int inner_axis = rank ? order[rank - 1] : 0;
    int64_t inner = rank ? a->shape[inner_axis] : 1, rows = inner ? pt2_tensor_numel(a) / inner : 0;
    int64_t index[PT2_MAX_RANK] = {0};
    const float *pa = pt2_tensor_data(a), *pb = pt2_tensor_data(b);
    float xa[COMPARE_CHUNK], xb[COMPARE_CHUNK];
    for (int64_t r = 0; r < rows; r++) {
        int64_t oa = 0, ob = 0;
        for (int i = 0; i + 1 < rank; i++) oa += index[i] * a->strides[order[i]], ob += index[i] * b->strides[order[i]];
        int64_t sa = rank ? a->strides[inner_axis] : 1, sb = rank ? b->strides[inner_axis] : 1;
        for (int64_t j = 0; j < inner; j += COMPARE_CHUNK) {
            int64_t n = inner - j < COMPARE_CHUNK ? inner - j : COMPARE_CHUNK;
            gather_floats(pa + oa + j * sa, sa, n, xa);
            gather_floats(pb + ob + j * sb, sb, n, xb);
            running_comparison c;
            compare_floats(xa, xb, n, atol, rtol, &c);
            merge_comparison(out, &c);
        }
        for (int i = rank - 2; i >= 0; i--) { /* the next row */
            if (++index[i] < a->shape[order[i]]) break;
            index[i] = 0;
        }
    }
}

/* A comparison's figures: the exact verdict bounds the reported ratio (all within means
 * <= 1, one outside means > 1), and a NaN anywhere is the largest difference. */
static void finish_comparison(const running_comparison *c, pt2_comparison *out) {
    double worst_ratio = c->worst_ratio;
    if (!c->failed && worst_ratio > 1) worst_ratio = 1;
    if (c->failed && worst_ratio <= 1) worst_ratio = nextafter(1.0, 2.0);
    out->max_abs = c->nan ? NAN : c->max_abs;
    out->max_rel = c->max_rel;
    out->worst_ratio = c->nan ? NAN : worst_ratio;
    out->passed = c->failed == 0 && !c->nan;
}

/* pt2_compare_tensors, its dense float comparison split over `threads` threads. */
static pt2_status compare_tensors(int threads, const pt2_tensor *ours, const pt2_tensor *torch, double atol, double rtol,
                                  pt2_comparison *out) {
    memset(out, 0, sizeof *out);
    out->passed = ours->rank == torch->rank;
    for (int a = 0; a < ours->rank && out->passed; a++) out->passed = ours->shape[a] == torch->shape[a];
    if (!out->passed) {
        out->max_abs = out->max_rel = out->worst_ratio = INFINITY;
        return PT2_OK;
    }
    int64_t n = pt2_tensor_numel(ours);
    running_comparison c = {0};
    if (ours->dtype == PT2_DTYPE_FLOAT32 && torch->dtype == PT2_DTYPE_FLOAT32) {
        if (pt2_tensor_is_contiguous(ours) && pt2_tensor_is_contiguous(torch))
            compare_floats_split(threads, pt2_tensor_data(ours), pt2_tensor_data(torch), n, atol, rtol, &c);
        else
            compare_floats_strided(ours, torch, atol, rtol, &c);
    } else { /* any other dtype (comparisons give bool, casts integers), read as doubles */
        for (int64_t k = 0; k < n; k++)
            compare_element(pt2_tensor_get_double(ours, k), pt2_tensor_get_double(torch, k), atol, rtol, &c);
    }
    finish_comparison(&c, out);
    return PT2_OK;
}

pt2_status pt2_compare_tensors(const pt2_tensor *ours, const pt2_tensor *torch, double atol, double rtol,
                               pt2_comparison *out) {
    return compare_tensors(1, ours, torch, atol, rtol, out);
}

/* A float result in another layout than PyTorch's contiguous value: piece by piece along the
 * value's outermost axis (about a MiB each), each piece put in PyTorch's order by the tiled
 * transpose of pt2_tensor_contiguous and freed after its comparison, so that a check holds no
 * full copy of its result. */
enum { PIECE_FLOATS = 1 << 18 };

static pt2_status compare_in_pieces(pt2_arena *arena, int threads, const pt2_tensor *ours, const pt2_tensor *torch,
                                    double atol, double rtol, pt2_comparison *out, pt2_error *err) {
    int same = ours->rank == torch->rank && ours->dtype == PT2_DTYPE_FLOAT32 && torch->dtype == PT2_DTYPE_FLOAT32 &&
               pt2_tensor_is_contiguous(torch);
    for (int a = 0; a < ours->rank && same; a++) same = ours->shape[a] == torch->shape[a];
    int64_t n = pt2_tensor_numel(ours);
    if (!same || n <= PIECE_FLOATS || pt2_tensor_is_contiguous(ours)) {
        pt2_tensor copy;
        pt2_status st = pt2_tensor_contiguous(arena, ours, 0, &copy, err);
        return st ? st : compare_tensors(threads, &copy, torch, atol, rtol, out);
    }
    int axis = 0;
    while (axis + 1 < ours->rank && ours->shape[axis] == 1) axis++;
    int64_t inner = n / ours->shape[axis], per = PIECE_FLOATS / inner > 0 ? PIECE_FLOATS / inner : 1;
    running_comparison total = {0};
    for (int64_t i0 = 0; i0 < ours->shape[axis]; i0 += per) {
        pt2_tensor piece = *ours, copy;
        piece.shape[axis] = ours->shape[axis] - i0 < per ? ours->shape[axis] - i0 : per;
        piece.storage_offset += i0 * ours->strides[axis];
        pt2_arena scratch;
        pt2_arena_init_child(&scratch, arena);
        pt2_status st = pt2_tensor_contiguous(&scratch, &piece, 1, &copy, err);
        if (!st) {
            running_comparison c;
            compare_floats_split(threads, pt2_tensor_data(&copy),
                                 (const float *)pt2_tensor_data(torch) + i0 * torch->strides[axis], pt2_tensor_numel(&copy),
                                 atol, rtol, &c);
            merge_comparison(&total, &c);
        }
        pt2_arena_free(&scratch);
        if (st) return st;
    }
    memset(out, 0, sizeof *out);
    finish_comparison(&total, out);
    return PT2_OK;
}

/* The graph value a checked layer is compared with (-1: the layer is not checked: it has no
 * PyTorch value of its own). */
static int checked_value(const pt2_lower_context *lowered, const pt2_rt_layer *layer) {
    if (layer->node < 0 || layer->torch_rank == 0) return -1;
    return layer->output_value >= 0 ? layer->output_value : lowered->graph->nodes[layer->node].outputs[0].value_id;
}

/* One layer's check into *c (the layer is one checked_value accepts). */
static pt2_status verify_layer(pt2_arena *arena, const pt2_lower_context *lowered, const pt2_rt_layer *layer,
                               double atol, double rtol, pt2_layer_check *c, pt2_error *err) {
    const pt2_rt_net *net = lowered->net;
    const pt2_graph *g = lowered->graph;
    const pt2_node *node = &g->nodes[layer->node];
    pt2_rt_tensor inputs[PT2_RT_MAX_FROM], result;
    pt2_status st = PT2_OK;
    computed_sources computed;
    computed.count = 0;
    for (size_t s = 0; s < layer->num_from && !st; s++) st = layer_input(arena, lowered, layer, s, 0, &computed, &inputs[s], err);
    if (!st) st = pt2_rt_compute_layer(arena, net, layer, inputs, layer->num_from, &result, err);
    pt2_tensor ours, torch;
    /* Float results are compared in their own layout (pt2_compare_tensors reads any strides). */
    if (!st && result.tensor.dtype == PT2_DTYPE_FLOAT32)
        st = pt2_rt_strided_view(&result, layer->torch_rank, layer->torch_dims, &ours, err);
    else if (!st)
        st = pt2_rt_view_to(arena, &result, layer->torch_rank, layer->torch_dims, &ours, err);
    /* A broadcast axis (core/lower/axes.h; PyTorch's value is constant along it) is compared at its
     * first entry. */
    const pt2_run_value *reference = &lowered->run->values[checked_value(lowered, layer)];
    if (!st && (!reference->is_set || reference->released))
        st = pt2_fail(err, PT2_ERR_INTERNAL, "layer '%s': PyTorch's value of its op is not held", layer->name);
    pt2_tensor expected = reference->tensor;
    for (int a = 0; a < layer->torch_rank && a < expected.rank; a++)
        if (layer->torch_dims[a] < 0) expected.shape[a] = 1;
    if (!st) st = pt2_tensor_contiguous(arena, &expected, 0, &torch, err);
    if (st) {
        /* Name the layer where the message does not (a view of its result that does not fit). */
        if (strncmp(err->message, "layer '", 7)) {
            char message[sizeof err->message];
            int n = snprintf(message, sizeof message, "layer '%.200s': ", layer->name);
            snprintf(message + n, sizeof message - (size_t)n, "%.*s", (int)(sizeof message - (size_t)n - 1), err->message);
            memcpy(err->message, message, sizeof message);
        }
        if (!err->module_path[0] && node->module_depth)
            snprintf(err->module_path, sizeof err->module_path, "%s", node->module_stack[node->module_depth - 1].path);
        return st;
    }
    c->layer = layer->name;
    c->layer_class = layer->layer_class;
    c->module_path = node->module_depth ? node->module_stack[node->module_depth - 1].path : "";
    c->op = layer->op_label ? layer->op_label : node->target;
    c->source_line = node->source_line;
    pt2_comparison cmp;
    if ((st = compare_in_pieces(arena, net->threads, &ours, &torch, atol, rtol, &cmp, err))) return st;
    c->max_abs = cmp.max_abs;
    c->max_rel = cmp.max_rel;
    c->worst_ratio = cmp.worst_ratio;
    c->passed = cmp.passed;
    return PT2_OK;
}

pt2_status pt2_verify_layers(pt2_arena *arena, const pt2_lower_context *lowered, double atol, double rtol,
                             pt2_layer_checks *out, pt2_error *err) {
    const pt2_rt_net *net = lowered->net;
    memset(out, 0, sizeof *out);
    out->items = pt2_arena_alloc_array(arena, net->num_layers + 1, sizeof *out->items, err);
    if (!out->items) return err->status;
    /* A layer's inputs in its layout, its output and the comparison's copies live only until its
     * verdict: one scratch arena, reset after each layer, whose pages the next layer reuses. */
    pt2_arena scratch_arena, *scratch = &scratch_arena;
    pt2_arena_init_child(scratch, arena);
    pt2_status st = PT2_OK;
    for (size_t i = 0; i < net->num_layers && !st; i++, pt2_arena_reset(scratch)) {
        if (checked_value(lowered, &net->layers[i]) < 0) continue;
        pt2_layer_check *c = &out->items[out->count];
        if ((st = verify_layer(scratch, lowered, &net->layers[i], atol, rtol, c, err))) break;
        out->count++;
        out->failed += !c->passed;
    }
    pt2_arena_free(scratch);
    return st;
}

/* ---------------------------------------------------------------- checks during the run */

/* The lowering and the checks, after each node of the reference run. */
typedef struct checks_during_run {
    pt2_lower_context *lowered;
    pt2_arena *arena, *scratch;
    double atol, rtol;
    size_t checked_layers; /* the network's layers before this one were checked (or have no check) */
    size_t capacity;
    pt2_layer_checks *out;
    pt2_layer_reference **references; /* NULL: none kept */
    double seconds;
} checks_during_run;

/* Room for one more check (and reference) in the arena: the number of layers is known only at the end. */
static pt2_status grow_checks(checks_during_run *c, pt2_error *err) {
    if (c->out->count < c->capacity) return PT2_OK;
    size_t capacity = c->capacity ? 2 * c->capacity : 64;
    pt2_layer_check *items = pt2_arena_alloc_array(c->arena, capacity, sizeof *items, err);
    if (!items) return err->status;
    if (c->out->count) memcpy(items, c->out->items, c->out->count * sizeof *items);
    c->out->items = items;
    if (c->references) {
        pt2_layer_reference *refs = pt2_arena_alloc_array(c->arena, capacity, sizeof *refs, err);
        if (!refs) return err->status;
        if (c->out->count) memcpy(refs, *c->references, c->out->count * sizeof *refs);
        *c->references = refs;
    }
    c->capacity = capacity;
    return PT2_OK;
}

static pt2_status check_new_layers(checks_during_run *c, pt2_error *err) {
    const pt2_rt_net *net = c->lowered->net;
    for (; c->checked_layers < net->num_layers; c->checked_layers++) {
        const pt2_rt_layer *layer = &net->layers[c->checked_layers];
        if (checked_value(c->lowered, layer) < 0) continue;
        pt2_status st = grow_checks(c, err);
        if (st) return st;
        pt2_layer_check *check = &c->out->items[c->out->count];
        st = verify_layer(c->scratch, c->lowered, layer, c->atol, c->rtol, check, err);
        /* Freed, not reset: kept blocks of every size some layer needed would add up to more
         * than any one layer's need. */
        pt2_arena_free(c->scratch);
        if (st) return st;
        c->out->failed += !check->passed;
        if (c->references &&
            (st = pt2_layer_reference_of(c->arena, c->lowered, layer, &(*c->references)[c->out->count], err)))
            return st;
        c->out->count++;
    }
    return PT2_OK;
}

static pt2_status lower_and_check(void *user, pt2_run_context *run, size_t node, pt2_error *err) {
    checks_during_run *c = user;
    (void)run;
    double start = pt2_now_seconds();
    pt2_status st = pt2_lower_advance(c->lowered, node, err);
    if (!st) st = check_new_layers(c, err);
    c->seconds += pt2_now_seconds() - start;
    return st;
}

/* A pt2_arg_each_read visitor: keeps a value an op reads or makes until its layers' checks. What
 * a lowering reads besides: a size (a symbolic int) stands for the tensors it was computed from;
 * an expand for its source (core/lower/lower_sdpa.c looks through the expand of a mask, which
 * shares the source's storage anyway). A layer reading any tensor of a length (range_in_axis)
 * needs no values (layer_input). */
typedef struct kept_for_check {
    const pt2_graph *graph;
    pt2_run_last_reader until;
    int depth;
} kept_for_check;

static void keep_for_check(void *user, int id) {
    kept_for_check *r = user;
    pt2_run_note_reader(&r->until, id);
    const pt2_graph *g = r->graph;
    if (g->values[id].producer < 0 || r->depth > 8) return;
    const pt2_node *producer = &g->nodes[g->values[id].producer];
    if (g->values[id].kind == PT2_VALUE_TENSOR && strcmp(producer->target, "aten.expand.default")) return;
    r->depth++;
    for (size_t a = 0; a < producer->num_inputs; a++) pt2_arg_each_read(&producer->inputs[a].arg, keep_for_check, r);
    r->depth--;
}

pt2_status pt2_run_lowering_checking(pt2_arena *arena, const pt2_graph *graph, const pt2_tensor *inputs,
                                     size_t num_inputs, const pt2_run_options *options, double atol, double rtol,
                                     pt2_checked_run *out, pt2_error *err) {
    pt2_layer_checks *checks = &out->checks;
    memset(checks, 0, sizeof *checks);
    out->references = NULL;
    pt2_status st = pt2_lower_begin(arena, graph, &out->run, &out->net, &out->lowered, err);
    if (st) return st;
    out->net.threads = options->num_threads;
    /* Each value goes after its last reader: an op, or the check of a layer of an op reading or
     * making it, which comes when the lowering reaches that op (pt2_lower_plan). The run's own
     * plan alone gives the peak of values alive at once that the report shows. */
    int32_t *run_plan;
    unsigned char *depends_on_input;
    if ((st = pt2_run_plan_new(arena, graph, &run_plan, &depends_on_input, err))) return st;
    int32_t *release_after = pt2_arena_alloc_array(arena, graph->num_values + 1, sizeof *release_after, err);
    int32_t *lowered_after = pt2_arena_alloc_array(arena, graph->num_nodes + 1, sizeof *lowered_after, err);
    if (!release_after || !lowered_after) return err->status;
    memcpy(release_after, run_plan, graph->num_values * sizeof *release_after);
    pt2_lower_plan(&out->lowered, lowered_after);
    for (size_t n = 0; n < graph->num_nodes; n++) {
        const pt2_node *node = &graph->nodes[n];
        kept_for_check r = {graph, {release_after, lowered_after[n]}, 0};
        for (size_t o = 0; o < node->num_outputs; o++) pt2_arg_each_read(&node->outputs[o], keep_for_check, &r);
        for (size_t a = 0; a < node->num_inputs; a++) pt2_arg_each_read(&node->inputs[a].arg, keep_for_check, &r);
    }
    pt2_arena scratch;
    pt2_arena_init_child(&scratch, arena);
    checks_during_run c = {&out->lowered, arena, &scratch, atol, rtol, 0, 0, checks,
                           out->keep_references ? &out->references : NULL, 0};
    pt2_run_release release = {release_after, lower_and_check, &c, 0, run_plan, NULL, NULL};
    double start = pt2_now_seconds();
    st = pt2_run_graph_releasing(arena, graph, inputs, num_inputs, options, &release, &out->run, err);
    out->run_seconds = pt2_now_seconds() - start - c.seconds;
    /* The outputs' layers (which have no check of their own), or a program without nodes. */
    if (!st) {
        start = pt2_now_seconds();
        st = pt2_lower_finish(&out->lowered, err);
        if (!st) st = check_new_layers(&c, err);
        c.seconds += pt2_now_seconds() - start;
    }
    pt2_arena_free(&scratch);
    out->peak_values_bytes = release.peak_live_bytes;
    out->checking_seconds = c.seconds;
    return st;
}

void pt2_layer_checks_format(const pt2_layer_checks *checks, double atol, double rtol, pt2_strbuf *out) {
    pt2_strbuf_printf(out, "per-layer check (RETURNN semantics on PyTorch's inputs; |ours - torch| <= %g + %g*|torch|;\n"
                      "  ratio is the worst |ours - torch| / (%g + %g*|torch|): a layer passes when it is <= 1):\n",
                      atol, rtol, atol, rtol);
    pt2_strbuf_printf(out, "  %-34s %-16s %-24s %-30s %10s %10s %10s  %s\n", "layer", "class", "module", "torch op", "max abs",
                      "max rel", "ratio", "result");
    for (size_t i = 0; i < checks->count; i++) {
        const pt2_layer_check *c = &checks->items[i];
        pt2_strbuf_printf(out, "  %-34s %-16s %-24s %-30s %10.3g %10.3g %10.3g  %s\n", c->layer, c->layer_class,
                          c->module_path[0] ? c->module_path : "(root)", c->op, c->max_abs, c->max_rel, c->worst_ratio,
                          c->passed ? "pass" : "FAIL");
    }
    pt2_strbuf_printf(out, "  %zu of %zu layers pass\n", checks->count - checks->failed, checks->count);
}
