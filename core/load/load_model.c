#include "load_model.h"

#include <string.h>

#include "../graph/functionalize.h"
#include "../graph/recompose.h"
#include "../inspect/inspect.h"
#include "named_tensors.h"
#include "pt2_archive.h"
#include "safetensors.h"
#include "torch_save.h"

static pt2_status read_checkpoint(pt2_arena *arena, const pt2_model_source *source, pt2_named_tensors *out,
                                  pt2_error *err) {
    pt2_file_format format = pt2_detect_format(arena, source->checkpoint_bytes, source->checkpoint_length);
    if (format == PT2_FORMAT_SAFETENSORS) {
        if (source->checkpoint_key && source->checkpoint_key[0]) {
            pt2_error_set_file(err, source->checkpoint_name);
            return pt2_fail(err, PT2_ERR_INPUT, "--checkpoint-key applies to torch.save files, not to safetensors");
        }
        return pt2_safetensors_load(arena, source->checkpoint_bytes, source->checkpoint_length, source->checkpoint_name,
                                    out, err);
    }
    if (format != PT2_FORMAT_TORCH_SAVE) {
        pt2_error_set_file(err, source->checkpoint_name);
        return pt2_fail(err, PT2_ERR_INPUT, "a checkpoint must be a torch.save file or a .safetensors file");
    }
    return pt2_torch_load_state_dict(arena, source->checkpoint_bytes, source->checkpoint_length,
                                     source->checkpoint_name, source->checkpoint_key, out, err);
}

pt2_status pt2_load_model(pt2_arena *arena, const pt2_model_source *source, pt2_graph *graph,
                          pt2_load_report *report, pt2_error *err) {
    memset(report, 0, sizeof *report);
    pt2_status st = pt2_archive_load(arena, source->model_bytes, source->model_length, source->model_name, graph, err);
    if (st) return st;
    pt2_graph_functionalize(graph);
    size_t recomposed;
    if ((st = pt2_graph_recompose(arena, graph, &recomposed, err))) return st;
    if (!source->checkpoint_bytes) return PT2_OK;
    /* The archive's reader named the model as the file of any later error; a checkpoint error
     * names the checkpoint instead, and the model is named again once it is applied. */
    err->file[0] = 0;
    pt2_named_tensors state = {0};
    if ((st = read_checkpoint(arena, source, &state, err))) return st;
    report->apply.allow_missing = source->allow_checkpoint_mismatch;
    report->checkpoint_name = source->checkpoint_name;
    if ((st = pt2_graph_apply_state_dict(arena, graph, &state, source->checkpoint_name, &report->apply, err))) return st;
    report->checkpoint_applied = 1;
    pt2_error_set_file(err, source->model_name);
    return PT2_OK;
}

void pt2_load_report_format(const pt2_load_report *report, pt2_strbuf *out) {
    if (!report->checkpoint_applied) return;
    pt2_apply_report_format(&report->apply, report->checkpoint_name, out);
    pt2_strbuf_putc(out, '\n');
}
