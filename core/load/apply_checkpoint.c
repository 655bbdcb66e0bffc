#include "apply_checkpoint.h"

#include <string.h>

/* What a state dict holds, as torch.nn.Module.state_dict() writes it. */
static int in_state_dict(const pt2_graph_input *in) {
    return in->kind == PT2_INPUT_PARAMETER || (in->kind == PT2_INPUT_BUFFER && in->persistent);
}

static int same_shape(const pt2_tensor *a, const pt2_tensor *b) {
    if (a->rank != b->rank) return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

/* Tied weights share one storage in the archive: same bytes, same view. */
static int same_view(const pt2_tensor *a, const pt2_tensor *b) {
    if (!a->storage || a->storage != b->storage || a->storage_offset != b->storage_offset || a->dtype != b->dtype ||
        !same_shape(a, b))
        return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->strides[i] != b->strides[i]) return 0;
    return 1;
}

static pt2_status check_match(const pt2_graph_input *in, const pt2_tensor *found, const char *checkpoint_name,
                              pt2_error *err) {
    if (found->dtype == in->data.dtype && same_shape(found, &in->data)) return PT2_OK;
    char want[160], got[160];
    pt2_shape_format(in->data.shape, in->data.rank, want, sizeof want);
    pt2_shape_format(found->shape, found->rank, got, sizeof got);
    pt2_error_set_file(err, checkpoint_name);
    pt2_error_set_entry(err, in->target);
    return pt2_fail(err, PT2_ERR_INPUT, "'%s' is %s %s in the checkpoint, but the model expects %s %s", in->target,
                    pt2_dtype_name(found->dtype), got, pt2_dtype_name(in->data.dtype), want);
}

/* The usual reason nothing matches is a key prefix ("model.", "module."): name it. */
static pt2_status fail_no_match(const pt2_graph *graph, const pt2_named_tensors *state, const char *checkpoint_name,
                                pt2_error *err) {
    pt2_error_set_file(err, checkpoint_name);
    const char *first = NULL;
    for (size_t i = 0; i < graph->num_inputs && !first; i++)
        if (in_state_dict(&graph->inputs[i])) first = graph->inputs[i].target;
    if (!first) return pt2_fail(err, PT2_ERR_INPUT, "the model has no parameters or buffers to load a checkpoint into");
    size_t first_length = strlen(first);
    for (size_t k = 0; k < state->count; k++) {
        const char *name = state->items[k].name;
        size_t length = strlen(name);
        if (length > first_length + 1 && !strcmp(name + length - first_length, first) &&
            name[length - first_length - 1] == '.')
            return pt2_fail(err, PT2_ERR_INPUT,
                            "no tensor of the checkpoint matches a model parameter by name; the checkpoint's '%s' "
                            "looks like the model's '%s' under the prefix '%.*s' (select that sub-dict)",
                            name, first, (int)(length - first_length), name);
    }
    return pt2_fail(err, PT2_ERR_INPUT,
                    "no tensor of the checkpoint matches a model parameter by name (the model's first is '%s', the "
                    "checkpoint's first is '%s')",
                    first, state->count ? state->items[0].name : "(none: the state dict is empty)");
}

pt2_status pt2_graph_apply_state_dict(pt2_arena *arena, pt2_graph *graph, const pt2_named_tensors *state,
                                      const char *checkpoint_name, pt2_apply_report *report, pt2_error *err) {
    int allow_missing = report->allow_missing;
    memset(report, 0, sizeof *report);
    report->allow_missing = allow_missing;
    size_t n = graph->num_inputs;
    report->missing = pt2_arena_alloc_array(arena, n + 1, sizeof *report->missing, err);
    report->unexpected = pt2_arena_alloc_array(arena, state->count + 1, sizeof *report->unexpected, err);
    /* The archive's tensors before replacement, to find tied twins; and what was loaded. */
    pt2_tensor *archive = pt2_arena_alloc_array(arena, n + 1, sizeof *archive, err);
    char *loaded = pt2_arena_alloc_array(arena, n + 1, 1, err);
    if (!report->missing || !report->unexpected || !archive || !loaded) return err->status;
    for (size_t i = 0; i < n; i++) archive[i] = graph->inputs[i].data;

    pt2_status st;
    for (size_t i = 0; i < n; i++) {
        pt2_graph_input *in = &graph->inputs[i];
        if (!in_state_dict(in)) continue;
        const pt2_named_tensor *found = pt2_named_tensors_find(state, in->target);
        if (!found) continue;
        if ((st = check_match(in, &found->tensor, checkpoint_name, err))) return st;
        in->data = found->tensor;
        in->has_data = 1;
        loaded[i] = 1;
        report->num_loaded++;
    }
    for (size_t i = 0; i < n; i++) {
        pt2_graph_input *in = &graph->inputs[i];
        if (!in_state_dict(in) || loaded[i]) continue;
        /* safetensors and de-duplicating savers keep one name of a tied pair. */
        size_t twin = n;
        for (size_t k = 0; k < n && twin == n; k++)
            if (k != i && loaded[k] == 1 && same_view(&archive[i], &archive[k])) twin = k;
        if (twin < n) {
            in->data = graph->inputs[twin].data;
            loaded[i] = 2;
            report->num_loaded++;
            report->num_tied++;
            continue;
        }
        report->missing[report->num_missing++] = in->target;
    }
    for (size_t k = 0; k < state->count; k++) {
        int known = 0;
        for (size_t i = 0; i < n && !known; i++)
            known = in_state_dict(&graph->inputs[i]) && !strcmp(graph->inputs[i].target, state->items[k].name);
        if (!known) report->unexpected[report->num_unexpected++] = state->items[k].name;
    }
    if (report->num_loaded == 0) return fail_no_match(graph, state, checkpoint_name, err);
    if (report->num_missing && !allow_missing) {
        pt2_error_set_file(err, checkpoint_name);
        pt2_error_set_entry(err, report->missing[0]);
        return pt2_fail(err, PT2_ERR_INPUT,
                        "the checkpoint lacks %zu of the model's parameters and buffers, the first is '%s' (allow "
                        "missing tensors to keep the archive's values)",
                        report->num_missing, report->missing[0]);
    }
    return PT2_OK;
}

void pt2_apply_report_format(const pt2_apply_report *report, const char *checkpoint_name, pt2_strbuf *out) {
    pt2_strbuf_printf(out, "checkpoint %s: loaded %zu tensors", checkpoint_name ? checkpoint_name : "",
                      report->num_loaded);
    if (report->num_tied) pt2_strbuf_printf(out, " (%zu through tied weights)", report->num_tied);
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
