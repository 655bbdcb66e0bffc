#include "apply_checkpoint.h"

#include <math.h>
#include <stdio.h>
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
                            "looks like the model's '%s' under the prefix '%.*s' (select that sub-dict with "
                            "--checkpoint-key %.*s)",
                            name, first, (int)(length - first_length), name, (int)(length - first_length - 1), name);
    }
    return pt2_fail(err, PT2_ERR_INPUT,
                    "no tensor of the checkpoint matches a model parameter by name (the model's first is '%s', the "
                    "checkpoint's first is '%s')",
                    first, state->count ? state->items[0].name : "(none: the state dict is empty)");
}

/* weight_norm's pair for `name`: "<name>_g"/"<name>_v" (torch.nn.utils.weight_norm) or
 * "<module>.parametrizations.<param>.original0"/"original1" (the parametrizations API). */
static int weight_norm_pair(const pt2_named_tensors *state, const char *name, const pt2_named_tensor **g,
                            const pt2_named_tensor **v, char names[2][512]) {
    snprintf(names[0], sizeof names[0], "%s_g", name);
    snprintf(names[1], sizeof names[1], "%s_v", name);
    *g = pt2_named_tensors_find(state, names[0]);
    *v = pt2_named_tensors_find(state, names[1]);
    if (*g && *v) return 1;
    const char *dot = strrchr(name, '.');
    int module = dot ? (int)(dot - name) : 0;
    snprintf(names[0], sizeof names[0], "%.*s%sparametrizations.%s.original0", module, name, dot ? "." : "", dot ? dot + 1 : name);
    snprintf(names[1], sizeof names[1], "%.*s%sparametrizations.%s.original1", module, name, dot ? "." : "", dot ? dot + 1 : name);
    *g = pt2_named_tensors_find(state, names[0]);
    *v = pt2_named_tensors_find(state, names[1]);
    return *g && *v;
}

/* A checkpoint saved with weight norm holds g and v where the model (after remove_weight_norm)
 * has the weight: w = g * v / ||v||, the norm over every axis but the one g keeps (dim). */
static pt2_status fold_weight_norm(pt2_arena *arena, const pt2_graph_input *in, const pt2_tensor *g_in,
                                   const pt2_tensor *v_in, const char *checkpoint_name, pt2_tensor *out,
                                   pt2_error *err) {
    pt2_tensor g, v;
    int ok = g_in->dtype == PT2_DTYPE_FLOAT32 && v_in->dtype == PT2_DTYPE_FLOAT32 && g_in->rank == v_in->rank &&
             same_shape(v_in, &in->data);
    int dim = -1;
    for (int a = 0; ok && a < g_in->rank; a++)
        if (g_in->shape[a] != 1) {
            ok = dim < 0 && g_in->shape[a] == v_in->shape[a];
            dim = a;
        }
    if (!ok) {
        pt2_error_set_file(err, checkpoint_name);
        pt2_error_set_entry(err, in->target);
        return pt2_fail(err, PT2_ERR_INPUT, "weight norm g and v do not fit the model's weight");
    }
    pt2_status st = pt2_tensor_contiguous(arena, g_in, 0, &g, err);
    if (!st) st = pt2_tensor_contiguous(arena, v_in, 0, &v, err);
    if (!st) st = pt2_tensor_alloc(arena, PT2_DTYPE_FLOAT32, v.rank, v.shape, out, err);
    if (st) return st;
    int64_t groups = dim < 0 ? 1 : v.shape[dim], inner = 1, total = pt2_tensor_numel(&v);
    for (int a = dim + 1; a < v.rank; a++) inner *= v.shape[a];
    double *norm = pt2_arena_alloc_array(arena, (size_t)groups, sizeof *norm, err);
    if (!norm) return err->status;
    const float *pv = pt2_tensor_data(&v), *pg = pt2_tensor_data(&g);
    float *pw = pt2_tensor_data(out);
    for (int64_t i = 0; i < total; i++) norm[dim < 0 ? 0 : (i / inner) % groups] += (double)pv[i] * pv[i];
    for (int64_t i = 0; i < total; i++) {
        int64_t k = dim < 0 ? 0 : (i / inner) % groups;
        pw[i] = (float)(pg[k] * (double)pv[i] / sqrt(norm[k]));
    }
    return PT2_OK;
}

/* The name a graph tensor has in the checkpoint: its FQN without `prefix`, or NULL when it lies
 * outside the module the checkpoint is for. */
static const char *name_in_checkpoint(const char *target, const char *prefix) {
    size_t n = strlen(prefix);
    return strncmp(target, prefix, n) ? NULL : target + n;
}

/* The error record holds about 1000 characters: past this, the rest of a long list is counted
 * rather than cut mid-name (the inspect of the checkpoint, or --no-strict's report, lists all). */
#define NAMES_BUDGET 640

static int fits(const pt2_graph_input *in, const pt2_tensor *found) {
    return found->dtype == in->data.dtype && same_shape(found, &in->data);
}

/* Every tensor whose dtype or shape differs, named with both: PyTorch refuses these whether
 * strict or not, and so do we. */
static pt2_status fail_mismatches(const pt2_graph *graph, const char *prefix, const pt2_named_tensors *state,
                                  const char *checkpoint_name, pt2_error *err) {
    pt2_strbuf list;
    pt2_strbuf_init(&list);
    size_t count = 0, unlisted = 0;
    const char *first = NULL;
    for (size_t i = 0; i < graph->num_inputs; i++) {
        const pt2_graph_input *in = &graph->inputs[i];
        const char *name = name_in_checkpoint(in->target, prefix);
        const pt2_named_tensor *found = in_state_dict(in) && name ? pt2_named_tensors_find(state, name) : NULL;
        if (!found || fits(in, &found->tensor)) continue;
        char want[160], got[160];
        pt2_shape_format(in->data.shape, in->data.rank, want, sizeof want);
        pt2_shape_format(found->tensor.shape, found->tensor.rank, got, sizeof got);
        if (list.length + strlen(in->target) <= NAMES_BUDGET)
            pt2_strbuf_printf(&list, "%s'%s' is %s %s in the checkpoint, but the model expects %s %s", count ? "; " : "",
                              in->target, pt2_dtype_name(found->tensor.dtype), got, pt2_dtype_name(in->data.dtype), want);
        else
            unlisted++;
        if (!count++) first = in->target;
    }
    pt2_error_set_file(err, checkpoint_name);
    pt2_error_set_entry(err, first);
    if (unlisted) pt2_strbuf_printf(&list, "; and %zu more", unlisted);
    pt2_status st = pt2_fail(err, PT2_ERR_INPUT, "%zu tensor%s of the checkpoint do%s not fit the model: %s", count,
                             count == 1 ? "" : "s", count == 1 ? "es" : "", list.data ? list.data : "");
    pt2_strbuf_free(&list);
    return st;
}

/* Appends " N: a, b, c" to `out`. */
static void append_names(pt2_strbuf *out, const char *what, const char **names, size_t count) {
    if (!count) return;
    pt2_strbuf_printf(out, "%s%zu %s:", out->length ? "; " : "", count, what);
    for (size_t i = 0; i < count; i++) {
        if (out->length + strlen(names[i]) > NAMES_BUDGET) {
            pt2_strbuf_printf(out, " and %zu more (report.json lists every one with --no-strict)", count - i);
            return;
        }
        pt2_strbuf_printf(out, "%s '%s'", i ? "," : "", names[i]);
    }
}

/* load_state_dict(strict=True): every missing and every unexpected key, in one message. */
static pt2_status fail_strict(const pt2_apply_report *report, const char *checkpoint_name, pt2_error *err) {
    pt2_strbuf list;
    pt2_strbuf_init(&list);
    append_names(&list, "missing (in the model, not in the checkpoint)", report->missing, report->num_missing);
    append_names(&list, "unexpected (in the checkpoint, not in the model)", report->unexpected, report->num_unexpected);
    pt2_error_set_file(err, checkpoint_name);
    pt2_error_set_entry(err, report->num_missing ? report->missing[0] : report->unexpected[0]);
    pt2_status st = pt2_fail(err, PT2_ERR_INPUT,
                             "the checkpoint does not fit the model (strict, as load_state_dict(strict=True)): %s "
                             "(to load it anyway, opt out with --no-strict or strict=False: missing keys keep the archive's "
                             "values, unexpected ones are ignored)",
                             list.data ? list.data : "");
    pt2_strbuf_free(&list);
    return st;
}

/* A checkpoint may hold the state dict of a submodule of the exported model (the generator of
 * a generator + PQMF wrapper): when no name matches as is, the module path prefix under which
 * the most names match ("generator.") is where it applies. */
static const char *submodule_prefix(pt2_arena *arena, const pt2_graph *graph, const pt2_named_tensors *state,
                                    pt2_error *err) {
    size_t best = 0;
    const char *best_prefix = "";
    for (size_t i = 0; i < graph->num_inputs; i++) {
        const pt2_graph_input *in = &graph->inputs[i];
        if (!in_state_dict(in)) continue;
        if (pt2_named_tensors_find(state, in->target)) return "";
        for (const char *dot = strchr(in->target, '.'); dot; dot = strchr(dot + 1, '.')) {
            size_t length = (size_t)(dot - in->target) + 1, count = 0;
            for (size_t k = 0; k < graph->num_inputs; k++) {
                const char *t = graph->inputs[k].target;
                if (in_state_dict(&graph->inputs[k]) && !strncmp(t, in->target, length) && pt2_named_tensors_find(state, t + length))
                    count++;
            }
            if (count > best) {
                best = count;
                best_prefix = pt2_arena_strndup(arena, in->target, length, err);
                if (!best_prefix) return NULL;
            }
        }
    }
    return best_prefix;
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

    const char *prefix = submodule_prefix(arena, graph, state, err);
    if (!prefix) return err->status;
    report->prefix = prefix;
    pt2_status st;
    for (size_t i = 0; i < n; i++) {
        pt2_graph_input *in = &graph->inputs[i];
        const char *name = name_in_checkpoint(in->target, prefix);
        if (!in_state_dict(in) || !name) continue;
        const pt2_named_tensor *found = pt2_named_tensors_find(state, name);
        if (!found) continue;
        if (!fits(in, &found->tensor)) return fail_mismatches(graph, prefix, state, checkpoint_name, err);
        in->data = found->tensor;
        in->has_data = 1;
        loaded[i] = 1;
        report->num_loaded++;
    }
    for (size_t i = 0; i < n; i++) {
        pt2_graph_input *in = &graph->inputs[i];
        /* A checkpoint of a submodule is that submodule's state dict, as
         * model.generator.load_state_dict(...): what lies outside it is not missing. */
        if (!in_state_dict(in) || loaded[i] || !name_in_checkpoint(in->target, prefix)) continue;
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
        const pt2_named_tensor *g, *v;
        char pair[2][512];
        const char *name = name_in_checkpoint(in->target, prefix);
        if (name && weight_norm_pair(state, name, &g, &v, pair)) {
            if ((st = fold_weight_norm(arena, in, &g->tensor, &v->tensor, checkpoint_name, &in->data, err))) return st;
            loaded[i] = 3;
            report->num_loaded++;
            report->num_weight_norm++;
            continue;
        }
        report->missing[report->num_missing++] = in->target;
    }
    for (size_t k = 0; k < state->count; k++) {
        int known = 0;
        for (size_t i = 0; i < n && !known; i++) {
            const pt2_graph_input *in = &graph->inputs[i];
            const char *name = name_in_checkpoint(in->target, prefix);
            if (!name) continue;
            known = in_state_dict(in) && !strcmp(name, state->items[k].name);
            const pt2_named_tensor *g, *v;
            char pair[2][512];
            if (!known && loaded[i] == 3 && weight_norm_pair(state, name, &g, &v, pair))
                known = !strcmp(pair[0], state->items[k].name) || !strcmp(pair[1], state->items[k].name);
        }
        if (!known) report->unexpected[report->num_unexpected++] = state->items[k].name;
    }
    if (report->num_loaded == 0) return fail_no_match(graph, state, checkpoint_name, err);
    if ((report->num_missing || report->num_unexpected) && !allow_missing) return fail_strict(report, checkpoint_name, err);
    return PT2_OK;
}

void pt2_apply_report_format(const pt2_apply_report *report, const char *checkpoint_name, pt2_strbuf *out) {
    pt2_strbuf_printf(out, "checkpoint %s: loaded %zu tensors", checkpoint_name ? checkpoint_name : "",
                      report->num_loaded);
    if (report->prefix && report->prefix[0]) pt2_strbuf_printf(out, " into the submodule %.*s", (int)strlen(report->prefix) - 1, report->prefix);
    if (report->num_tied) pt2_strbuf_printf(out, " (%zu through tied weights)", report->num_tied);
    if (report->num_weight_norm)
        pt2_strbuf_printf(out, " (%zu weights folded from weight norm's g and v)", report->num_weight_norm);
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
