/* Test driver for the reference run without the CLI's extras (checkpoints, benchmarks):
 *   tool_run_graph MODEL.pt2 [--input X.npy]... --output OUT.npy
 * Loads the archive, runs it on the given .npy inputs (or the archive's sample inputs) and
 * writes the first output to OUT.npy, further ones to OUT.1.npy, ... The op matrix harness uses
 * it instead of `pt2returnn run` when PT2_USE_TOOL_RUN=1. */
#include <stdio.h>
#include <string.h>

#include "../../cli/cli.h"
#include "../../core/base/npy.h"
#include "../../core/base/strbuf.h"
#include "../../core/load/pt2_archive.h"
#include "../../core/run/executor.h"

#define MAX_INPUTS 32

int main(int argc, char **argv) {
    const char *model = NULL, *output = NULL, *inputs[MAX_INPUTS];
    size_t num_inputs = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--input") && i + 1 < argc && num_inputs < MAX_INPUTS) inputs[num_inputs++] = argv[++i];
        else if (!strcmp(argv[i], "--output") && i + 1 < argc) output = argv[++i];
        else if (!model && argv[i][0] != '-') model = argv[i];
        else {
            fprintf(stderr, "usage: tool_run_graph MODEL.pt2 [--input X.npy]... --output OUT.npy\n");
            return 2;
        }
    }
    if (!model || !output) {
        fprintf(stderr, "usage: tool_run_graph MODEL.pt2 [--input X.npy]... --output OUT.npy\n");
        return 2;
    }
    pt2_arena arena;
    pt2_arena_init(&arena, 0);
    pt2_error err;
    pt2_error_clear(&err);
    pt2_graph graph;
    pt2_tensor tensors[MAX_INPUTS];
    pt2_run_context run;
    const uint8_t *bytes;
    size_t length;
    pt2_status st = pt2_cli_read_file(&arena, model, &bytes, &length, &err);
    if (!st) st = pt2_archive_load(&arena, bytes, length, model, &graph, &err);
    for (size_t i = 0; i < num_inputs && !st; i++) {
        st = pt2_cli_read_file(&arena, inputs[i], &bytes, &length, &err);
        if (!st) st = pt2_npy_read(&arena, bytes, length, inputs[i], &tensors[i], &err);
    }
    if (!st)
        st = pt2_run_graph(&arena, &graph, num_inputs ? tensors : graph.sample_inputs,
                           num_inputs ? num_inputs : graph.num_sample_inputs, NULL, &run, &err);
    for (size_t index = 0; !st; index++) {
        pt2_tensor t;
        pt2_error probe;
        pt2_error_clear(&probe);
        if (pt2_run_output(&run, index, &t, &probe)) break; /* no more outputs */
        char path[4096];
        size_t len = strlen(output);
        if (index == 0) snprintf(path, sizeof path, "%s", output);
        else if (len > 4 && !strcmp(output + len - 4, ".npy")) snprintf(path, sizeof path, "%.*s.%zu.npy", (int)(len - 4), output, index);
        else snprintf(path, sizeof path, "%s.%zu.npy", output, index);
        pt2_strbuf npy;
        pt2_strbuf_init(&npy);
        st = pt2_npy_write(&arena, &t, &npy, &err);
        if (!st) st = pt2_cli_write_file_atomic(path, npy.data, npy.length, &err);
        pt2_strbuf_free(&npy);
    }
    int code = st ? pt2_cli_report_error(&err) : 0;
    pt2_arena_free(&arena);
    return code;
}
