#include "load_model.h"

#include <string.h>

#include "../inspect/inspect.h"
#include "named_tensors.h"
#include "pt2_archive.h"
#include "safetensors.h"
#include "torch_save.h"

static pt2_status read_checkpoint(pt2_arena *arena, const pt2_model_source *source, pt2_named_tensors *out,
                                  pt2_error *err) {
    pt2_file_format format = pt2_detect_format(arena, source->checkpoint_bytes, source->checkpoint_length);
    pt2_status st;
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
    pt2_pyobj *root;
    if ((st = pt2_torch_load(arena, source->checkpoint_bytes, source->checkpoint_length, source->checkpoint_name,
                             &root, err)))
        return st;
    const pt2_pyobj *selected;
    if ((st = pt2_pyobj_select(root, source->checkpoint_key, source->checkpoint_name, &selected, err))) return st;
    if (selected->kind != PT2_PY_DICT) {
        pt2_error_set_file(err, source->checkpoint_name);
        return pt2_fail(err, PT2_ERR_INPUT, "checkpoint key '%s' selects a %s, expected a state dict",
                        source->checkpoint_key ? source->checkpoint_key : "", pt2_pyobj_kind_name(selected->kind));
    }
    return pt2_pyobj_to_state_dict(arena, selected, out, err);
}

static int same_shape(const pt2_tensor *a, const pt2_tensor *b) {
    if (a->rank != b->rank) return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

/* Matches the state dict to parameters and buffers by their FQN. A graph tensor the
 * checkpoint lacks keeps the archive's value and is reported as missing; checkpoint entries
 * the graph lacks (e.g. BatchNorm's num_batches_tracked) are reported as unexpected. */
static pt2_status apply_state_dict(pt2_arena *arena, pt2_graph *graph, const pt2_named_tensors *state,
                                   const char *checkpoint_name, pt2_load_report *report, pt2_error *err) {
    report->missing = pt2_arena_alloc_array(arena, graph->num_inputs + 1, sizeof(char *), err);
    report->unexpected = pt2_arena_alloc_array(arena, state->count + 1, sizeof(char *), err);
    if (!report->missing || !report->unexpected) return err->status;
    for (size_t i = 0; i < graph->num_inputs; i++) {
        pt2_graph_input *in = &graph->inputs[i];
        /* Non-persistent buffers are not part of a state dict: they keep the archive's value. */
        if (in->kind != PT2_INPUT_PARAMETER && !(in->kind == PT2_INPUT_BUFFER && in->persistent)) continue;
        const pt2_named_tensor *found = pt2_named_tensors_find(state, in->target);
        if (!found) {
            report->missing[report->num_missing++] = in->target;
            continue;
        }
        if (found->tensor.dtype != in->data.dtype || !same_shape(&found->tensor, &in->data)) {
            char want[160], got[160];
            pt2_shape_format(in->data.shape, in->data.rank, want, sizeof want);
            pt2_shape_format(found->tensor.shape, found->tensor.rank, got, sizeof got);
            pt2_error_set_file(err, checkpoint_name);
            pt2_error_set_entry(err, in->target);
            return pt2_fail(err, PT2_ERR_INPUT, "the checkpoint has %s %s, the model expects %s %s",
                            pt2_dtype_name(found->tensor.dtype), got, pt2_dtype_name(in->data.dtype), want);
        }
        in->data = found->tensor;
        report->num_loaded++;
    }
    for (size_t k = 0; k < state->count; k++) {
        int known = 0;
        for (size_t i = 0; i < graph->num_inputs && !known; i++)
            known = graph->inputs[i].kind != PT2_INPUT_USER && !strcmp(graph->inputs[i].target, state->items[k].name);
        if (!known) report->unexpected[report->num_unexpected++] = state->items[k].name;
    }
    report->checkpoint_applied = 1;
    return PT2_OK;
}

pt2_status pt2_load_model(pt2_arena *arena, const pt2_model_source *source, pt2_graph *graph,
                          pt2_load_report *report, pt2_error *err) {
    memset(report, 0, sizeof *report);
    pt2_status st = pt2_archive_load(arena, source->model_bytes, source->model_length, source->model_name, graph, err);
    if (st || !source->checkpoint_bytes) return st;
    pt2_named_tensors state = {0};
    if ((st = read_checkpoint(arena, source, &state, err))) return st;
    if ((st = apply_state_dict(arena, graph, &state, source->checkpoint_name, report, err))) return st;
    if (report->num_loaded == 0) {
        pt2_error_set_file(err, source->checkpoint_name);
        return pt2_fail(err, PT2_ERR_INPUT,
                        "no tensor of the checkpoint matches a parameter of the model (the first model parameter is "
                        "'%s'; is --checkpoint-key right?)",
                        report->num_missing ? report->missing[0] : "?");
    }
    return PT2_OK;
}

void pt2_load_report_format(const pt2_load_report *report, pt2_strbuf *out) {
    if (!report->checkpoint_applied) return;
    pt2_strbuf_printf(out, "checkpoint: loaded %zu tensors", report->num_loaded);
    if (report->num_missing) {
        pt2_strbuf_printf(out, "; %zu kept from the archive (missing in the checkpoint):", report->num_missing);
        for (size_t i = 0; i < report->num_missing; i++) pt2_strbuf_printf(out, " %s", report->missing[i]);
    }
    if (report->num_unexpected) {
        pt2_strbuf_printf(out, "; %zu unused (not in the model):", report->num_unexpected);
        for (size_t i = 0; i < report->num_unexpected; i++) pt2_strbuf_printf(out, " %s", report->unexpected[i]);
    }
    pt2_strbuf_putc(out, '\n');
}
