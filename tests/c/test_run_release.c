/* A releasing reference run (core/run/executor.h) gives the same output as one that keeps every
 * value, keeps exactly what its plan keeps (shapes of the released ones for the lowering), and the
 * lowering and per-layer checks during one releasing run (pt2_run_lowering_checking) give the same
 * layers, verdicts and figures as on a run that kept everything (that the checks catch a wrong
 * weight layout: tests/c/test_verify_layers.c). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/load/pt2_archive.h"
#include "core/ops/elementwise.h"
#include "core/verify/layer_references.h"
#include "core/verify/verify_layers.h"

static int failures;
static size_t folded_constants; /* values made by nodes that do not depend on the input, over all models */

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
    pt2_rt_net kept_net;
    pt2_lower_context kept_lowered;
    pt2_layer_checks all_kept;
    if (load(&kept_arena, dir, name, &kept_graph, &err) || load(&released_arena, dir, name, &graph, &err) ||
        pt2_run_graph(&kept_arena, &kept_graph, kept_graph.sample_inputs, kept_graph.num_sample_inputs, &options, &kept, &err)) {
        printf("FAIL: %s: %s (fixtures made by tests/fixtures/make_fixtures.py?)\n", name, err.message);
        failures++;
        return;
    }
    int32_t *plan = pt2_arena_alloc_array(&released_arena, graph.num_values + 1, sizeof *plan, &err);
    unsigned char *dynamic = pt2_arena_alloc(&released_arena, graph.num_values + 1, &err);
    pt2_run_plan_release(&graph, plan, dynamic);
    pt2_run_release release = {plan, NULL, NULL, 0, NULL, NULL, NULL};
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

    /* A run taking the first's values that do not depend on the input: the same output, and the
     * values computed by nodes (folded constants) are the first run's own, not computed again. */
    pt2_run_context again;
    pt2_run_release reuse = {plan, NULL, NULL, 0, NULL, &run, dynamic};
    pt2_tensor y_again;
    if (pt2_run_graph_releasing(&released_arena, &graph, graph.sample_inputs, graph.num_sample_inputs, &options, &reuse,
                                &again, &err) ||
        pt2_run_output(&again, 0, &y_again, &err)) {
        printf("FAIL: %s: run taking the constants: %s\n", name, err.message);
        failures++;
        return;
    }
    CHECK(same_tensor(&y_kept, &y_again), "%s: the run taking the constants gives another output", name);
    for (size_t v = 0; v < graph.num_values; v++) {
        if (graph.values[v].kind != PT2_VALUE_TENSOR || dynamic[v] || graph.values[v].producer < 0 || !run.values[v].is_set)
            continue;
        int view_of_parameter = 0; /* a view (a transposed weight) shares the parameter's storage in any run */
        for (size_t i = 0; i < graph.num_inputs; i++)
            view_of_parameter |= graph.inputs[i].has_data && graph.inputs[i].data.storage == run.values[v].tensor.storage;
        if (!view_of_parameter) {
            folded_constants++;
            CHECK(again.values[v].tensor.storage == run.values[v].tensor.storage, "%s: constant '%s' was computed again",
                  name, graph.values[v].name);
        }
    }
    CHECK(release.peak_live_bytes > 0 && release.peak_live_bytes < all_bytes,
          "%s: largest live set %zu bytes, all the input's values %zu bytes", name, release.peak_live_bytes, all_bytes);

    if (pt2_lower_graph(&kept_arena, &kept_graph, &kept, &kept_net, &kept_lowered, &err) ||
        pt2_verify_layers(&kept_arena, &kept_lowered, 1e-4, 1e-4, &all_kept, &err)) {
        printf("FAIL: %s: lowering: %s\n", name, err.message);
        failures++;
        return;
    }
    /* The same lowering and checks, during one releasing run. */
    pt2_checked_run *checked = pt2_arena_alloc(&released_arena, sizeof *checked, &err);
    if (!checked) return;
    checked->keep_references = 1;
    if (pt2_run_lowering_checking(&released_arena, &graph, graph.sample_inputs, graph.num_sample_inputs, &options, 1e-4,
                                  1e-4, checked, &err)) {
        printf("FAIL: %s: checks during the run: %s\n", name, err.message);
        failures++;
        return;
    }
    const pt2_layer_checks *during = &checked->checks;
    const pt2_layer_reference *references = checked->references;
    CHECK(checked->net.num_layers == kept_net.num_layers, "%s: the lowering during the run differs", name);
    CHECK(during->count == all_kept.count && during->count > 0 && during->failed == 0,
          "%s: %zu checks during the run (%zu failed), %zu on the kept run", name, during->count, during->failed, all_kept.count);
    for (size_t i = 0; i < during->count && i < all_kept.count; i++) {
        CHECK(!strcmp(during->items[i].layer, all_kept.items[i].layer) && during->items[i].max_abs == all_kept.items[i].max_abs,
              "%s: check %zu: %s max abs %g during the run, %s %g on the kept run", name, i, during->items[i].layer,
              during->items[i].max_abs, all_kept.items[i].layer, all_kept.items[i].max_abs);
        CHECK(references && !strcmp(references[i].layer, during->items[i].layer) && references[i].value.storage,
              "%s: reference %zu is not layer '%s'", name, i, during->items[i].layer);
    }
    /* Every dynamic value is gone after its checks; the peak counted by the run's own plan is the
     * plain releasing run's. */
    for (size_t v = 0; v < graph.num_values; v++)
        if (graph.values[v].kind == PT2_VALUE_TENSOR && plan[v] != PT2_RUN_KEEP && checked->run.values[v].is_set)
            CHECK(checked->run.values[v].released, "%s: value '%s' held after the checks", name, graph.values[v].name);
    CHECK(checked->peak_values_bytes == release.peak_live_bytes, "%s: peak of values %zu bytes with the checks, %zu without",
          name, checked->peak_values_bytes, release.peak_live_bytes);
    pt2_tensor y_checked;
    CHECK(!pt2_run_output(&checked->run, 0, &y_checked, &err) && same_tensor(&y_checked, &y_kept),
          "%s: the checked run's output is not the keeping run's", name);
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
    const char *models[] = {"conv_stack", "linear_ln_gelu", "with_buffers", "tied_weights", "folded_weight"};
    for (size_t i = 0; i < sizeof models / sizeof *models; i++) check_model(argv[1], models[i]);
    CHECK(folded_constants > 0, "no model had a folded constant to take from another run");
    if (!failures) printf("run_release: all passed\n");
    return failures != 0;
}
