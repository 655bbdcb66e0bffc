/* A releasing reference run (core/run/executor.h) gives the same output as one that keeps every
 * value, keeps exactly what its plan keeps (shapes of the released ones for the lowering), and the
 * per-layer checks run during a second run give the same verdicts and figures as the checks on a
 * run that kept everything, including catching a wrong weight layout. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/load/pt2_archive.h"
#include "core/ops/elementwise.h"
#include "core/verify/layer_references.h"
#include "core/verify/verify_layers.h"

static int failures;

#define CHECK(cond, ...)                 \
    do {                                 \
        if (!(cond)) {                   \
            printf("FAIL: " __VA_ARGS__); \
            printf("\n");                \
            failures++;                  \
        }                                \
    } while (0)

static int load(pt2_arena *arena, const char *dir, const char *name, pt2_graph *graph, pt2_error *err) {
    char path[4096];
    const uint8_t *bytes;
    size_t length;
    snprintf(path, sizeof path, "%s/%s.pt2", dir, name);
    return pt2_cli_read_file(arena, path, &bytes, &length, err) || pt2_archive_load(arena, bytes, length, path, graph, err);
}

static int same_tensor(const pt2_tensor *a, const pt2_tensor *b) {
    if (a->rank != b->rank || a->dtype != b->dtype || memcmp(a->shape, b->shape, sizeof(int64_t) * (size_t)a->rank)) return 0;
    int64_t n = pt2_tensor_numel(a);
    for (int64_t k = 0; k < n; k++)
        if (pt2_tensor_get_double(a, k) != pt2_tensor_get_double(b, k)) return 0;
    return 1;
}

static void check_model(const char *dir, const char *name) {
    pt2_arena kept_arena, released_arena;
    pt2_arena_init(&kept_arena, 0);
    pt2_arena_init(&released_arena, 0);
    pt2_error err;
    pt2_error_clear(&err);
    pt2_graph kept_graph, graph;
    pt2_run_context kept, run;
    pt2_run_options options = {1, 1};
    pt2_rt_net kept_net, net;
    pt2_lower_context kept_lowered, lowered;
    pt2_layer_checks all_kept, during;
    if (load(&kept_arena, dir, name, &kept_graph, &err) || load(&released_arena, dir, name, &graph, &err) ||
        pt2_run_graph(&kept_arena, &kept_graph, kept_graph.sample_inputs, kept_graph.num_sample_inputs, &options, &kept, &err)) {
        printf("FAIL: %s: %s (fixtures made by tests/fixtures/make_fixtures.py?)\n", name, err.message);
        failures++;
        return;
    }
    int32_t *plan = pt2_arena_alloc_array(&released_arena, graph.num_values + 1, sizeof *plan, &err);
    unsigned char *dynamic = pt2_arena_alloc(&released_arena, graph.num_values + 1, &err);
    pt2_run_plan_release(&graph, plan, dynamic);
    pt2_run_release release = {plan, NULL, NULL, NULL, 0};
    pt2_tensor y_kept, y;
    if (pt2_run_graph_releasing(&released_arena, &graph, graph.sample_inputs, graph.num_sample_inputs, &options, &release,
                                &run, &err) ||
        pt2_run_output(&kept, 0, &y_kept, &err) || pt2_run_output(&run, 0, &y, &err)) {
        printf("FAIL: %s: releasing run: %s\n", name, err.message);
        failures++;
        return;
    }
    CHECK(same_tensor(&y_kept, &y), "%s: the releasing run's output differs from the keeping run's", name);
    size_t released = 0, all_bytes = 0;
    for (size_t v = 0; v < graph.num_values; v++) {
        if (graph.values[v].kind != PT2_VALUE_TENSOR || !run.values[v].is_set) continue;
        const pt2_run_value *r = &run.values[v];
        if (plan[v] == PT2_RUN_KEEP) {
            CHECK(!r->released && r->tensor.storage, "%s: kept value '%s' was released", name, graph.values[v].name);
        } else {
            released++;
            CHECK(r->released && !r->tensor.storage, "%s: value '%s' was not released", name, graph.values[v].name);
            /* The lowering reads the shape of a released value: it stays. */
            CHECK(r->tensor.rank == kept.values[v].tensor.rank &&
                      !memcmp(r->tensor.shape, kept.values[v].tensor.shape, sizeof(int64_t) * (size_t)r->tensor.rank),
                  "%s: released value '%s' lost its shape", name, graph.values[v].name);
            CHECK(dynamic[v], "%s: released value '%s' does not depend on the input", name, graph.values[v].name);
        }
        if (dynamic[v]) all_bytes += kept.values[v].tensor.storage_bytes;
    }
    CHECK(released > 0, "%s: nothing was released", name);
    CHECK(release.peak_live_bytes > 0 && release.peak_live_bytes < all_bytes,
          "%s: largest live set %zu bytes, all the input's values %zu bytes", name, release.peak_live_bytes, all_bytes);

    if (pt2_lower_graph(&kept_arena, &kept_graph, &kept, &kept_net, &kept_lowered, &err) ||
        pt2_lower_graph(&released_arena, &graph, &run, &net, &lowered, &err) ||
        pt2_verify_layers(&kept_arena, &kept_lowered, 1e-4, 1e-4, &all_kept, &err)) {
        printf("FAIL: %s: lowering: %s\n", name, err.message);
        failures++;
        return;
    }
    CHECK(net.num_layers == kept_net.num_layers, "%s: the lowering of the released run differs", name);
    pt2_layer_reference *references = NULL;
    if (pt2_verify_layers_during_run(&released_arena, &lowered, plan, dynamic, 1e-4, 1e-4, &during, &references, NULL, &err)) {
        printf("FAIL: %s: checks during the run: %s\n", name, err.message);
        failures++;
        return;
    }
    CHECK(during.count == all_kept.count && during.count > 0 && during.failed == 0,
          "%s: %zu checks during the run (%zu failed), %zu on the kept run", name, during.count, during.failed, all_kept.count);
    for (size_t i = 0; i < during.count && i < all_kept.count; i++) {
        CHECK(!strcmp(during.items[i].layer, all_kept.items[i].layer) && during.items[i].max_abs == all_kept.items[i].max_abs,
              "%s: check %zu: %s max abs %g during the run, %s %g on the kept run", name, i, during.items[i].layer,
              during.items[i].max_abs, all_kept.items[i].layer, all_kept.items[i].max_abs);
        CHECK(references && !strcmp(references[i].layer, during.items[i].layer) && references[i].value.storage,
              "%s: reference %zu is not layer '%s'", name, i, during.items[i].layer);
    }
    /* Every dynamic value is gone again after the checks; the graph's output is the first run's. */
    for (size_t v = 0; v < graph.num_values; v++)
        if (graph.values[v].kind == PT2_VALUE_TENSOR && plan[v] != PT2_RUN_KEEP && run.values[v].is_set)
            CHECK(run.values[v].released, "%s: value '%s' held after the checks", name, graph.values[v].name);
    pt2_tensor y_after;
    CHECK(!pt2_run_output(&run, 0, &y_after, &err) && y_after.storage == y.storage && same_tensor(&y_after, &y_kept),
          "%s: the run's output after the checks is not the first run's", name);

    /* The checks during the run compare: a conv weight left in PyTorch's layout is caught. */
    if (!strcmp(name, "conv_stack")) {
        pt2_tensor *w = &net.layers[0].params[0].value;
        int64_t shape[3] = {w->shape[0], w->shape[1], w->shape[2]};
        pt2_contiguous_strides(shape, 3, w->strides);
        if (pt2_verify_layers_during_run(&released_arena, &lowered, plan, dynamic, 1e-4, 1e-4, &during, NULL, NULL, &err))
            printf("FAIL: conv_stack: checks during the run: %s\n", err.message), failures++;
        else
            CHECK(during.failed == 1 && !during.items[0].passed, "an unpermuted conv weight was not caught during the run");
    }
    pt2_arena_free(&kept_arena);
    pt2_arena_free(&released_arena);
}

static void check_arena_release(void) {
    pt2_arena arena;
    pt2_arena_init(&arena, 0);
    pt2_error err;
    pt2_error_clear(&err);
    void *small = pt2_arena_alloc(&arena, 100, &err);
    size_t before = arena.used_bytes;
    uint64_t mark = pt2_arena_mark(&arena);
    void *big = pt2_arena_alloc(&arena, 1 << 20, &err), *kept = pt2_arena_alloc(&arena, 1 << 20, &err);
    void *temporary = pt2_arena_alloc(&arena, 1 << 20, &err);
    CHECK(small && big && kept && temporary, "allocations failed");
    CHECK(!pt2_arena_release(&arena, small), "a small allocation (in a shared chunk) was released");
    CHECK(pt2_arena_release(&arena, big) && !pt2_arena_release(&arena, big), "a large allocation was not released once");
    const void *keep[1] = {(char *)kept + 4096};
    size_t freed = pt2_arena_release_since(&arena, mark, keep, 1);
    CHECK(freed >= (1 << 20) && freed < (2 << 20), "release_since freed %zu bytes, expected the one temporary", freed);
    CHECK(arena.used_bytes > before && arena.used_bytes < before + (2 << 20), "used bytes %zu after the releases", arena.used_bytes);
    memset(kept, 1, 1 << 20); /* still ours (ASan would tell) */
    pt2_arena_free(&arena);
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    check_arena_release();
    const char *models[] = {"conv_stack", "linear_ln_gelu", "with_buffers", "tied_weights"};
    for (size_t i = 0; i < sizeof models / sizeof *models; i++) check_model(argv[1], models[i]);
    if (!failures) printf("run_release: all passed\n");
    return failures != 0;
}
