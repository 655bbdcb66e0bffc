/* The per-layer check passes on a correct lowering of the conv fixture and fails when a
 * lowering gets a weight layout or an option wrong (so it can catch real mistakes). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/load/pt2_archive.h"
#include "core/verify/verify_layers.h"

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    char path[4096];
    snprintf(path, sizeof path, "%s/conv_stack.pt2", argv[1]);
    pt2_arena arena;
    pt2_arena_init(&arena, 0);
    pt2_error err;
    pt2_error_clear(&err);
    const uint8_t *bytes;
    size_t length;
    pt2_graph graph;
    pt2_run_context run;
    pt2_run_options options = {1, 1};
    pt2_rt_net net;
    pt2_lower_context lowered;
    pt2_layer_checks checks;
    if (pt2_cli_read_file(&arena, path, &bytes, &length, &err) ||
        pt2_archive_load(&arena, bytes, length, path, &graph, &err) ||
        pt2_run_graph(&arena, &graph, graph.sample_inputs, graph.num_sample_inputs, &options, &run, &err) ||
        pt2_lower_graph(&arena, &graph, &run, &net, &lowered, &err) ||
        pt2_verify_layers(&arena, &lowered, 1e-4, 1e-4, &checks, &err)) {
        printf("FAIL: %s (fixtures made by tests/fixtures/make_fixtures.py?)\n", err.message);
        return 1;
    }
    int failures = 0;
    if (checks.count != 5 || checks.failed != 0) {
        printf("FAIL: expected 5 passing layers, got %zu with %zu failing\n", checks.count, checks.failed);
        failures++;
    }
    /* A lowering that forgot to permute the conv weight: the same numbers in PyTorch's layout. */
    pt2_rt_layer *conv = &net.layers[0];
    pt2_tensor *w = &conv->params[0].value;
    int64_t shape[3] = {w->shape[0], w->shape[1], w->shape[2]};
    pt2_contiguous_strides(shape, 3, w->strides);
    if (pt2_verify_layers(&arena, &lowered, 1e-4, 1e-4, &checks, &err) || checks.failed != 1 || checks.items[0].passed) {
        printf("FAIL: an unpermuted conv weight was not caught\n");
        failures++;
    }
    /* A wrong leaky_relu slope in the emitted eval code. */
    for (size_t i = 0; i < net.layers[1].num_options; i++)
        if (!strcmp(net.layers[1].options[i].key, "eval")) net.layers[1].options[i].value.string = "tf.nn.leaky_relu(source(0), alpha=0.01)";
    if (pt2_verify_layers(&arena, &lowered, 1e-4, 1e-4, &checks, &err) || checks.failed != 2 || checks.items[1].passed) {
        printf("FAIL: a wrong activation slope was not caught\n");
        failures++;
    }
    pt2_arena_free(&arena);
    if (!failures) printf("verify_layers: all passed\n");
    return failures != 0;
}
