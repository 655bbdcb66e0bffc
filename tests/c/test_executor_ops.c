/* The executor and the elementwise/shape/reduction ops on small hand-made graphs: broadcasting,
 * type promotion, non-contiguous inputs, negative dims, slicing with steps, symbol binding with
 * range checks, and the per-op shape check. Values are compared with hand-computed results. */
#include <math.h>
#include <string.h>

#include "../../core/ops/elementwise.h"
#include "../../core/run/executor.h"
#include "check.h"

#define MAX_VALUES 32
#define MAX_NODES 8
#define MAX_ARGS 8

typedef struct test_graph {
    pt2_arena arena;
    pt2_graph g;
    pt2_value values[MAX_VALUES];
    pt2_node nodes[MAX_NODES];
    pt2_named_arg args[MAX_NODES][MAX_ARGS];
    pt2_arg outs[MAX_NODES][2];
    pt2_graph_input inputs[4];
    pt2_graph_output outputs[2];
    pt2_range_constraint ranges[2];
} test_graph;

static void tg_init(test_graph *t) {
    memset(t, 0, sizeof *t);
    pt2_arena_init(&t->arena, 0);
    t->g.file_name = "handmade.pt2";
    t->g.values = t->values;
    t->g.nodes = t->nodes;
    t->g.inputs = t->inputs;
    t->g.outputs = t->outputs;
    t->g.ranges = t->ranges;
}

/* A tensor value; a size of -1 is the symbol "s0". */
static int tg_value(test_graph *t, const char *name, pt2_dtype dtype, int rank, const int64_t *shape) {
    int id = (int)t->g.num_values++;
    pt2_value *v = &t->values[id];
    v->name = name;
    v->kind = PT2_VALUE_TENSOR;
    v->dtype = dtype;
    v->rank = rank;
    v->producer = -1;
    for (int i = 0; i < rank; i++) {
        v->sizes[i].value = shape[i];
        if (shape[i] < 0) {
            pt2_error err;
            pt2_error_clear(&err);
            v->sizes[i].is_symbolic = 1;
            pt2_sym_parse(&t->arena, "Symbol('s0', integer=True, positive=True)", name, &v->sizes[i].expr, &err);
        }
    }
    return id;
}

static void tg_user_input(test_graph *t, int id) {
    pt2_graph_input *in = &t->inputs[t->g.num_inputs++];
    in->kind = PT2_INPUT_USER;
    in->value_id = id;
    in->target = t->values[id].name;
}

static void tg_user_output(test_graph *t, int id) {
    pt2_graph_output *out = &t->outputs[t->g.num_outputs++];
    out->kind = PT2_OUTPUT_USER;
    out->arg.kind = PT2_ARG_TENSOR;
    out->arg.value_id = id;
}

static pt2_node *tg_node(test_graph *t, const char *name, const char *target, int output_id) {
    size_t n = t->g.num_nodes++;
    pt2_node *node = &t->nodes[n];
    node->name = name;
    node->target = target;
    node->inputs = t->args[n];
    node->outputs = t->outs[n];
    node->num_outputs = 1;
    node->outputs[0].kind = PT2_ARG_TENSOR;
    node->outputs[0].value_id = output_id;
    t->values[output_id].producer = (int)n;
    return node;
}

static pt2_arg *tg_arg(pt2_node *node, const char *name, pt2_arg_kind kind) {
    pt2_named_arg *a = &node->inputs[node->num_inputs++];
    a->name = name;
    a->arg.kind = kind;
    return &a->arg;
}
static void arg_tensor(pt2_node *n, const char *name, int id) { tg_arg(n, name, PT2_ARG_TENSOR)->value_id = id; }
static void arg_int(pt2_node *n, const char *name, int64_t v) { tg_arg(n, name, PT2_ARG_INT)->int_value = v; }
static void arg_float(pt2_node *n, const char *name, double v) { tg_arg(n, name, PT2_ARG_FLOAT)->float_value = v; }
static void arg_bool(pt2_node *n, const char *name, int v) { tg_arg(n, name, PT2_ARG_BOOL)->int_value = v; }
static void arg_ints(test_graph *t, pt2_node *n, const char *name, size_t count, const int64_t *v) {
    pt2_arg *a = tg_arg(n, name, PT2_ARG_INTS);
    pt2_error err;
    pt2_error_clear(&err);
    a->ints = pt2_arena_alloc_array(&t->arena, count + 1, sizeof(int64_t), &err);
    memcpy(a->ints, v, count * sizeof(int64_t));
    a->count = count;
}

static pt2_tensor make_tensor(test_graph *t, pt2_dtype dtype, int rank, const int64_t *shape, const double *values) {
    pt2_tensor x;
    pt2_error err;
    pt2_error_clear(&err);
    pt2_tensor_alloc(&t->arena, dtype, rank, shape, &x, &err);
    pt2_tensor f64;
    pt2_tensor_alloc(&t->arena, PT2_DTYPE_FLOAT64, rank, shape, &f64, &err);
    memcpy(pt2_tensor_data(&f64), values, sizeof(double) * (size_t)pt2_tensor_numel(&f64));
    pt2_tensor_cast(&t->arena, &f64, dtype, &x, &err);
    return x;
}

/* Runs and checks the single output's dtype, shape and values (to 1e-6). */
static void run_and_expect(test_graph *t, const pt2_tensor *inputs, size_t n, pt2_dtype dtype, int rank,
                           const int64_t *shape, const double *expected, const char *what) {
    pt2_error err;
    pt2_error_clear(&err);
    pt2_run_context run;
    pt2_tensor out;
    pt2_status st = pt2_run_graph(&t->arena, &t->g, inputs, n, NULL, &run, &err);
    if (st) printf("  %s: %s\n", what, err.message);
    CHECK(!st, what);
    if (st) return;
    CHECK(!pt2_run_output(&run, 0, &out, &err), what);
    CHECK(out.dtype == dtype, what);
    CHECK(out.rank == rank && !memcmp(out.shape, shape, sizeof(int64_t) * (size_t)rank), what);
    pt2_tensor c;
    pt2_tensor_contiguous(&t->arena, &out, 0, &c, &err);
    for (int64_t i = 0; i < pt2_tensor_numel(&c); i++) {
        double got = pt2_tensor_get_double(&c, i);
        if (fabs(got - expected[i]) > 1e-6 * (1 + fabs(expected[i]))) {
            printf("  %s: element %lld is %g, expected %g\n", what, (long long)i, got, expected[i]);
            CHECK(0, what);
            break;
        }
    }
}

/* int64 [2,3] + float32 [3]: broadcast, and the float tensor decides the dtype. */
static void test_add_broadcast_promotion(void) {
    test_graph t;
    tg_init(&t);
    int a = tg_value(&t, "a", PT2_DTYPE_INT64, 2, (int64_t[]){2, 3});
    int b = tg_value(&t, "b", PT2_DTYPE_FLOAT32, 1, (int64_t[]){3});
    int y = tg_value(&t, "y", PT2_DTYPE_FLOAT32, 2, (int64_t[]){2, 3});
    tg_user_input(&t, a);
    tg_user_input(&t, b);
    pt2_node *n = tg_node(&t, "add", "aten.add.Tensor", y);
    arg_tensor(n, "self", a);
    arg_tensor(n, "other", b);
    arg_float(n, "alpha", 2);
    tg_user_output(&t, y);
    pt2_tensor in[2] = {make_tensor(&t, PT2_DTYPE_INT64, 2, (int64_t[]){2, 3}, (double[]){1, 2, 3, 4, 5, 6}),
                        make_tensor(&t, PT2_DTYPE_FLOAT32, 1, (int64_t[]){3}, (double[]){0.5, -1, 0.25})};
    run_and_expect(&t, in, 2, PT2_DTYPE_FLOAT32, 2, (int64_t[]){2, 3}, (double[]){2, 0, 3.5, 5, 3, 6.5},
                   "add int64 + float32 with alpha");
    pt2_arena_free(&t.arena);
}

/* A permuted (non-contiguous) view multiplied by a Python int keeps float32 and reads in view order;
 * then true division of int64 by int64 gives float32. */
static void test_noncontiguous_and_true_division(void) {
    test_graph t;
    tg_init(&t);
    int x = tg_value(&t, "x", PT2_DTYPE_FLOAT32, 2, (int64_t[]){2, 3});
    int p = tg_value(&t, "p", PT2_DTYPE_FLOAT32, 2, (int64_t[]){3, 2});
    int y = tg_value(&t, "y", PT2_DTYPE_FLOAT32, 2, (int64_t[]){3, 2});
    tg_user_input(&t, x);
    pt2_node *n = tg_node(&t, "permute", "aten.permute.default", p);
    arg_tensor(n, "self", x);
    arg_ints(&t, n, "dims", 2, (int64_t[]){-1, 0});
    n = tg_node(&t, "mul", "aten.mul.Tensor", y);
    arg_tensor(n, "self", p);
    arg_int(n, "other", 3);
    tg_user_output(&t, y);
    pt2_tensor in = make_tensor(&t, PT2_DTYPE_FLOAT32, 2, (int64_t[]){2, 3}, (double[]){1, 2, 3, 4, 5, 6});
    run_and_expect(&t, &in, 1, PT2_DTYPE_FLOAT32, 2, (int64_t[]){3, 2}, (double[]){3, 12, 6, 15, 9, 18},
                   "permute(-1, 0) then mul by 3");
    pt2_arena_free(&t.arena);

    tg_init(&t);
    int a = tg_value(&t, "a", PT2_DTYPE_INT64, 1, (int64_t[]){4});
    int q = tg_value(&t, "q", PT2_DTYPE_FLOAT32, 1, (int64_t[]){4});
    tg_user_input(&t, a);
    n = tg_node(&t, "div", "aten.div.Tensor", q);
    arg_tensor(n, "self", a);
    arg_int(n, "other", 4);
    tg_user_output(&t, q);
    pt2_tensor ia = make_tensor(&t, PT2_DTYPE_INT64, 1, (int64_t[]){4}, (double[]){-3, 2, 7, 9});
    run_and_expect(&t, &ia, 1, PT2_DTYPE_FLOAT32, 1, (int64_t[]){4}, (double[]){-0.75, 0.5, 1.75, 2.25},
                   "int64 / int true division");
    pt2_arena_free(&t.arena);
}

/* pt2_view_strides against the strides PyTorch's view gives (worked out by its rule: axes that lie
 * one after another in memory form a run; a new axis may split or merge within a run only). */
static void expect_view(const char *what, int rank, const int64_t *shape, const int64_t *strides, int new_rank,
                        const int64_t *new_shape, int viewable, const int64_t *expected) {
    pt2_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = PT2_DTYPE_FLOAT32;
    t.rank = rank;
    if (rank) { /* a scalar passes no arrays */
        memcpy(t.shape, shape, sizeof(int64_t) * (size_t)rank);
        memcpy(t.strides, strides, sizeof(int64_t) * (size_t)rank);
    }
    int64_t got[PT2_MAX_RANK];
    int result = pt2_view_strides(&t, new_shape, new_rank, got);
    CHECK(result == viewable, what);
    if (result && viewable && memcmp(got, expected, sizeof(int64_t) * (size_t)new_rank)) {
        printf("  %s: strides differ\n", what);
        CHECK(0, what);
    }
}

static void test_view_strides(void) {
    expect_view("contiguous [2,3,4] as [6,4]", 3, (int64_t[]){2, 3, 4}, (int64_t[]){12, 4, 1}, 2, (int64_t[]){6, 4}, 1,
                (int64_t[]){4, 1});
    /* x.t() of a [4, 6]: [6, 4] with strides (1, 6) */
    expect_view("transposed [6,4] as [6,2,2]", 2, (int64_t[]){6, 4}, (int64_t[]){1, 6}, 3, (int64_t[]){6, 2, 2}, 1,
                (int64_t[]){1, 12, 6});
    expect_view("transposed [6,4] as [3,2,4]", 2, (int64_t[]){6, 4}, (int64_t[]){1, 6}, 3, (int64_t[]){3, 2, 4}, 1,
                (int64_t[]){2, 1, 6});
    expect_view("transposed [6,4] flattened", 2, (int64_t[]){6, 4}, (int64_t[]){1, 6}, 1, (int64_t[]){24}, 0, NULL);
    /* q of a fused projection [5, 3 * 6], columns 0..5: its heads [5, 2, 3] */
    expect_view("a projection's columns as heads", 2, (int64_t[]){5, 6}, (int64_t[]){18, 1}, 3, (int64_t[]){5, 2, 3}, 1,
                (int64_t[]){18, 3, 1});
    expect_view("size-1 axis of any stride", 2, (int64_t[]){1, 4}, (int64_t[]){99, 1}, 2, (int64_t[]){4, 1}, 1,
                (int64_t[]){1, 1});
    /* expand of a [1, 4] to [3, 4]: stride 0 */
    expect_view("expanded rows split", 2, (int64_t[]){3, 4}, (int64_t[]){0, 1}, 3, (int64_t[]){3, 2, 2}, 1,
                (int64_t[]){0, 2, 1});
    expect_view("expanded rows flattened", 2, (int64_t[]){3, 4}, (int64_t[]){0, 1}, 1, (int64_t[]){12}, 0, NULL);
    expect_view("a scalar as [1,1]", 0, NULL, NULL, 2, (int64_t[]){1, 1}, 1, (int64_t[]){1, 1});
    expect_view("empty", 2, (int64_t[]){0, 4}, (int64_t[]){4, 1}, 1, (int64_t[]){0}, 0, NULL);
}

/* view of a transposed tensor: a view of the same storage where strides allow (the values read
 * through it in the new shape's order), a copy where they do not (reshape). */
static void test_view_of_transposed(void) {
    test_graph t;
    tg_init(&t);
    int x = tg_value(&t, "x", PT2_DTYPE_FLOAT32, 2, (int64_t[]){2, 4});
    int p = tg_value(&t, "p", PT2_DTYPE_FLOAT32, 2, (int64_t[]){4, 2});
    int v = tg_value(&t, "v", PT2_DTYPE_FLOAT32, 3, (int64_t[]){2, 2, 2});
    tg_user_input(&t, x);
    pt2_node *n = tg_node(&t, "t", "aten.permute.default", p);
    arg_tensor(n, "self", x);
    arg_ints(&t, n, "dims", 2, (int64_t[]){1, 0});
    n = tg_node(&t, "view", "aten.view.default", v);
    arg_tensor(n, "self", p);
    arg_ints(&t, n, "size", 3, (int64_t[]){2, 2, 2});
    tg_user_output(&t, v);
    pt2_tensor in = make_tensor(&t, PT2_DTYPE_FLOAT32, 2, (int64_t[]){2, 4}, (double[]){0, 1, 2, 3, 4, 5, 6, 7});
    /* x.t() is [[0,4],[1,5],[2,6],[3,7]]; split its rows in two pairs */
    run_and_expect(&t, &in, 1, PT2_DTYPE_FLOAT32, 3, (int64_t[]){2, 2, 2}, (double[]){0, 4, 1, 5, 2, 6, 3, 7},
                   "view of a transpose, rows split");
    pt2_error err;
    pt2_error_clear(&err);
    pt2_run_context run;
    pt2_tensor out;
    CHECK(!pt2_run_graph(&t.arena, &t.g, &in, 1, NULL, &run, &err) && !pt2_run_output(&run, 0, &out, &err),
          "view of a transpose runs");
    CHECK(out.storage == run.values[x].tensor.storage, "view of a transpose shares the input's storage");
    pt2_arena_free(&t.arena);

    tg_init(&t);
    x = tg_value(&t, "x", PT2_DTYPE_FLOAT32, 2, (int64_t[]){2, 4});
    p = tg_value(&t, "p", PT2_DTYPE_FLOAT32, 2, (int64_t[]){4, 2});
    v = tg_value(&t, "v", PT2_DTYPE_FLOAT32, 1, (int64_t[]){8});
    tg_user_input(&t, x);
    n = tg_node(&t, "t", "aten.permute.default", p);
    arg_tensor(n, "self", x);
    arg_ints(&t, n, "dims", 2, (int64_t[]){1, 0});
    n = tg_node(&t, "reshape", "aten.reshape.default", v);
    arg_tensor(n, "self", p);
    arg_ints(&t, n, "shape", 1, (int64_t[]){-1});
    tg_user_output(&t, v);
    in = make_tensor(&t, PT2_DTYPE_FLOAT32, 2, (int64_t[]){2, 4}, (double[]){0, 1, 2, 3, 4, 5, 6, 7});
    run_and_expect(&t, &in, 1, PT2_DTYPE_FLOAT32, 1, (int64_t[]){8}, (double[]){0, 4, 1, 5, 2, 6, 3, 7},
                   "reshape of a transpose flattened (a copy)");
    pt2_arena_free(&t.arena);
}

/* x[:, -5::2] on a [2, 7] tensor, end beyond the size: columns 2, 4, 6. */
static void test_slice_with_step(void) {
    test_graph t;
    tg_init(&t);
    int x = tg_value(&t, "x", PT2_DTYPE_FLOAT32, 2, (int64_t[]){2, 7});
    int s = tg_value(&t, "s", PT2_DTYPE_FLOAT32, 2, (int64_t[]){2, 3});
    tg_user_input(&t, x);
    pt2_node *n = tg_node(&t, "slice", "aten.slice.Tensor", s);
    arg_tensor(n, "self", x);
    arg_int(n, "dim", -1);
    arg_int(n, "start", -5);
    arg_int(n, "end", 100);
    arg_int(n, "step", 2);
    tg_user_output(&t, s);
    double values[14];
    for (int i = 0; i < 14; i++) values[i] = i;
    pt2_tensor in = make_tensor(&t, PT2_DTYPE_FLOAT32, 2, (int64_t[]){2, 7}, values);
    run_and_expect(&t, &in, 1, PT2_DTYPE_FLOAT32, 2, (int64_t[]){2, 3}, (double[]){2, 4, 6, 9, 11, 13},
                   "slice -5::2 with end past the size");
    pt2_arena_free(&t.arena);
}

/* sum over dim -1 with keepdim of a bool tensor counts (int64); softmax over dim 0. */
static void test_reductions(void) {
    test_graph t;
    tg_init(&t);
    int m = tg_value(&t, "m", PT2_DTYPE_BOOL, 2, (int64_t[]){2, 3});
    int s = tg_value(&t, "s", PT2_DTYPE_INT64, 2, (int64_t[]){2, 1});
    tg_user_input(&t, m);
    pt2_node *n = tg_node(&t, "sum", "aten.sum.dim_IntList", s);
    arg_tensor(n, "self", m);
    arg_ints(&t, n, "dim", 1, (int64_t[]){-1});
    arg_bool(n, "keepdim", 1);
    tg_user_output(&t, s);
    pt2_tensor in = make_tensor(&t, PT2_DTYPE_BOOL, 2, (int64_t[]){2, 3}, (double[]){1, 0, 1, 1, 1, 1});
    run_and_expect(&t, &in, 1, PT2_DTYPE_INT64, 2, (int64_t[]){2, 1}, (double[]){2, 3}, "sum of bools, keepdim");
    pt2_arena_free(&t.arena);

    tg_init(&t);
    int x = tg_value(&t, "x", PT2_DTYPE_FLOAT32, 2, (int64_t[]){2, 2});
    int y = tg_value(&t, "y", PT2_DTYPE_FLOAT32, 2, (int64_t[]){2, 2});
    tg_user_input(&t, x);
    n = tg_node(&t, "softmax", "aten._softmax.default", y);
    arg_tensor(n, "self", x);
    arg_int(n, "dim", 0);
    arg_bool(n, "half_to_float", 0);
    tg_user_output(&t, y);
    pt2_tensor xs = make_tensor(&t, PT2_DTYPE_FLOAT32, 2, (int64_t[]){2, 2}, (double[]){0, 1000, log(3.0), 1000});
    run_and_expect(&t, &xs, 1, PT2_DTYPE_FLOAT32, 2, (int64_t[]){2, 2}, (double[]){0.25, 0.5, 0.75, 0.5},
                   "softmax over dim 0, stable at 1000");
    pt2_arena_free(&t.arena);
}

/* A dynamic axis binds s0; a size outside the range is refused naming input, axis and range;
 * an op whose result disagrees with the export's shape fails naming the node and op. */
static void test_binding_and_shape_checks(void) {
    test_graph t;
    tg_init(&t);
    int x = tg_value(&t, "x", PT2_DTYPE_FLOAT32, 2, (int64_t[]){2, -1});
    int y = tg_value(&t, "y", PT2_DTYPE_FLOAT32, 2, (int64_t[]){-1, 2});
    tg_user_input(&t, x);
    pt2_node *n = tg_node(&t, "transpose", "aten.transpose.int", y);
    arg_tensor(n, "self", x);
    arg_int(n, "dim0", 0);
    arg_int(n, "dim1", -1);
    tg_user_output(&t, y);
    t.ranges[0] = (pt2_range_constraint){"s0", 1, 1, 2, 8};
    t.g.num_ranges = 1;
    double values[20] = {0};
    pt2_tensor ok = make_tensor(&t, PT2_DTYPE_FLOAT32, 2, (int64_t[]){2, 5}, values);
    run_and_expect(&t, &ok, 1, PT2_DTYPE_FLOAT32, 2, (int64_t[]){5, 2}, values, "dynamic axis of 5 within 2..8");

    pt2_tensor too_long = make_tensor(&t, PT2_DTYPE_FLOAT32, 2, (int64_t[]){2, 10}, values);
    pt2_error err;
    pt2_error_clear(&err);
    pt2_run_context run;
    CHECK(pt2_run_graph(&t.arena, &t.g, &too_long, 1, NULL, &run, &err) == PT2_ERR_INPUT, "size 10 outside 2..8");
    CHECK(strstr(err.message, "input 'x' axis 1 has size 10 but the export allows 2..8") != NULL, err.message);

    /* The export claims [s0, 3]: the transpose computes [s0, 2]. */
    t.values[y].sizes[1].value = 3;
    pt2_error_clear(&err);
    CHECK(pt2_run_graph(&t.arena, &t.g, &ok, 1, NULL, &run, &err) == PT2_ERR_INTERNAL, "shape mismatch is caught");
    CHECK(strstr(err.message, "node 'transpose'") && strstr(err.message, "[5, 2]") && strstr(err.message, "[5, 3]"),
          err.message);
    CHECK(!strcmp(err.op, "aten.transpose.int"), "the error names the op");
    pt2_arena_free(&t.arena);
}

/* where(x > 0, x, 0.0) on int64 x: the Python float lifts the result to float32. */
static void test_where_scalar_promotion(void) {
    test_graph t;
    tg_init(&t);
    int x = tg_value(&t, "x", PT2_DTYPE_INT64, 1, (int64_t[]){4});
    int c = tg_value(&t, "c", PT2_DTYPE_BOOL, 1, (int64_t[]){4});
    int y = tg_value(&t, "y", PT2_DTYPE_FLOAT32, 1, (int64_t[]){4});
    tg_user_input(&t, x);
    pt2_node *n = tg_node(&t, "gt", "aten.gt.Scalar", c);
    arg_tensor(n, "self", x);
    arg_int(n, "other", 0);
    n = tg_node(&t, "where", "aten.where.ScalarOther", y);
    arg_tensor(n, "condition", c);
    arg_tensor(n, "self", x);
    arg_float(n, "other", 0.5);
    tg_user_output(&t, y);
    pt2_tensor in = make_tensor(&t, PT2_DTYPE_INT64, 1, (int64_t[]){4}, (double[]){-2, 3, 0, 7});
    run_and_expect(&t, &in, 1, PT2_DTYPE_FLOAT32, 1, (int64_t[]){4}, (double[]){0.5, 3, 0.5, 7},
                   "where with a float scalar over int64");
    pt2_arena_free(&t.arena);
}

/* cat along dim -1 of float32 and int64 promotes; a non-contiguous input goes through a view. */
static void test_cat_negative_dim(void) {
    test_graph t;
    tg_init(&t);
    int a = tg_value(&t, "a", PT2_DTYPE_FLOAT32, 2, (int64_t[]){2, 1});
    int b = tg_value(&t, "b", PT2_DTYPE_INT64, 2, (int64_t[]){2, 2});
    int y = tg_value(&t, "y", PT2_DTYPE_FLOAT32, 2, (int64_t[]){2, 3});
    tg_user_input(&t, a);
    tg_user_input(&t, b);
    pt2_node *n = tg_node(&t, "cat", "aten.cat.default", y);
    pt2_arg *list = tg_arg(n, "tensors", PT2_ARG_TENSORS);
    static int ids[2];
    ids[0] = a;
    ids[1] = b;
    list->value_ids = ids;
    list->count = 2;
    arg_int(n, "dim", -1);
    tg_user_output(&t, y);
    pt2_tensor in[2] = {make_tensor(&t, PT2_DTYPE_FLOAT32, 2, (int64_t[]){2, 1}, (double[]){0.5, 1.5}),
                        make_tensor(&t, PT2_DTYPE_INT64, 2, (int64_t[]){2, 2}, (double[]){1, 2, 3, 4})};
    run_and_expect(&t, in, 2, PT2_DTYPE_FLOAT32, 2, (int64_t[]){2, 3}, (double[]){0.5, 1, 2, 1.5, 3, 4},
                   "cat float32 and int64 along -1");
    pt2_arena_free(&t.arena);
}

static void test_promotion_rules(void) {
    CHECK(pt2_promote_types(PT2_DTYPE_INT64, PT2_DTYPE_FLOAT32) == PT2_DTYPE_FLOAT32, "int64 + float32");
    CHECK(pt2_promote_types(PT2_DTYPE_UINT8, PT2_DTYPE_INT8) == PT2_DTYPE_INT16, "uint8 + int8");
    CHECK(pt2_promote_types(PT2_DTYPE_BOOL, PT2_DTYPE_INT32) == PT2_DTYPE_INT32, "bool + int32");
    pt2_result_type_state s = {0, 0, 0};
    pt2_tensor t = {.dtype = PT2_DTYPE_INT32, .rank = 2};
    pt2_result_type_add_tensor(&s, &t);
    pt2_result_type_add_number(&s, 1);
    CHECK(pt2_result_type(&s) == PT2_DTYPE_INT32, "int32 tensor + python int stays int32");
    pt2_result_type_add_number(&s, 2);
    CHECK(pt2_result_type(&s) == PT2_DTYPE_FLOAT32, "int32 tensor + python float is float32");
    pt2_result_type_state z = {0, 0, 0};
    pt2_tensor f = {.dtype = PT2_DTYPE_FLOAT32, .rank = 1}, d0 = {.dtype = PT2_DTYPE_FLOAT64, .rank = 0};
    pt2_result_type_add_tensor(&z, &f);
    pt2_result_type_add_tensor(&z, &d0);
    CHECK(pt2_result_type(&z) == PT2_DTYPE_FLOAT32, "a 0-d float64 does not lift a float32 tensor");
}

int main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    test_promotion_rules();
    test_add_broadcast_promotion();
    test_noncontiguous_and_true_division();
    test_slice_with_step();
    test_reductions();
    test_binding_and_shape_checks();
    test_where_scalar_promotion();
    test_cat_negative_dim();
    test_view_strides();
    test_view_of_transposed();
    if (!failures) printf("test_executor_ops: all passed\n");
    return failures != 0;
}
