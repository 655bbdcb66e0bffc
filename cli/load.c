#include <stdio.h>

#include "../core/base/strbuf.h"
#include "cli.h"

pt2_status pt2_cli_load_model(pt2_arena *arena, const char *model_path, const char *checkpoint_path,
                              const char *checkpoint_key, int allow_checkpoint_mismatch, pt2_graph *graph,
                              pt2_error *err) {
    pt2_model_source source = {0};
    pt2_load_report report;
    pt2_status st = pt2_cli_read_file(arena, model_path, &source.model_bytes, &source.model_length, err);
    if (st) return st;
    source.model_name = model_path;
    if (checkpoint_path) {
        if ((st = pt2_cli_read_file(arena, checkpoint_path, &source.checkpoint_bytes, &source.checkpoint_length, err)))
            return st;
        source.checkpoint_name = checkpoint_path;
        source.checkpoint_key = checkpoint_key;
        source.allow_checkpoint_mismatch = allow_checkpoint_mismatch;
    }
    if ((st = pt2_load_model(arena, &source, graph, &report, err))) return st;
    pt2_strbuf text;
    pt2_strbuf_init(&text);
    pt2_load_report_format(&report, &text);
    if (text.data) fputs(text.data, stderr);
    pt2_strbuf_free(&text);
    return PT2_OK;
}
