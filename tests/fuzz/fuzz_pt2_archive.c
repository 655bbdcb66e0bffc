/* The .pt2 archive as raw bytes: zip, graph JSON, payload configs, weights, sample inputs. */
#include "core/load/pt2_archive.h"
#include "fuzz_graph_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    pt2_arena *arena = fuzz_arena_begin();
    const uint8_t *bytes = fuzz_copy(arena, data, size);
    pt2_error err;
    pt2_error_clear(&err);
    pt2_graph graph;
    pt2_status st = pt2_archive_load(arena, bytes, size, "fuzz.pt2", &graph, &err);
    fuzz_check_status(st, &err);
    if (st == PT2_OK) fuzz_check_graph(&graph);
    fuzz_arena_end(arena);
    return 0;
}
