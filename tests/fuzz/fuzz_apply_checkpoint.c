/* Checkpoint application onto a model: a .pt2 archive plus a torch.save or safetensors
 * checkpoint selected by key path, matched by name, tied weights and weight norm folded.
 * Input: [u32 model length][model .pt2][u32 key length][key path][checkpoint]. */
#include "core/load/load_model.h"
#include "fuzz_graph_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_reader r = {data, size};
    size_t model_length, key_length, checkpoint_length;
    const uint8_t *model = fuzz_bytes(&r, fuzz_u32(&r), &model_length);
    const uint8_t *key = fuzz_bytes(&r, fuzz_u32(&r), &key_length);
    const uint8_t *checkpoint = fuzz_bytes(&r, r.left, &checkpoint_length);
    pt2_arena *arena = fuzz_arena_begin();
    pt2_model_source source = {0};
    source.model_bytes = fuzz_copy(arena, model, model_length);
    source.model_length = model_length;
    source.model_name = "fuzz.pt2";
    source.checkpoint_bytes = fuzz_copy(arena, checkpoint, checkpoint_length);
    source.checkpoint_length = checkpoint_length;
    source.checkpoint_name = "fuzz.pt";
    char *key_path = (char *)fuzz_alloc(arena, key_length + 1);
    if (key_length) memcpy(key_path, key, key_length);
    source.checkpoint_key = key_path;
    pt2_error err;
    pt2_error_clear(&err);
    pt2_graph graph;
    pt2_load_report report;
    pt2_status st = pt2_load_model(arena, &source, &graph, &report, &err);
    fuzz_check_status(st, &err);
    if (st == PT2_OK) {
        fuzz_check_graph(&graph);
        pt2_strbuf text;
        pt2_strbuf_init(&text);
        pt2_load_report_format(&report, &text);
        pt2_strbuf_free(&text);
    }
    fuzz_arena_end(arena);
    return 0;
}
