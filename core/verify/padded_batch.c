#include "padded_batch.h"

#include <math.h>
#include <string.h>

#include "verify_layers.h"

/* The input's dynamic axis (the extern data's time) and the range the export allows for it. */
static int dynamic_axis(const pt2_rt_net *net) {
    for (int a = 1; a < net->input.rank; a++)
        if (net->dims[net->input.dims[a]].kind == PT2_RT_DIM_DYNAMIC) return a;
    return -1;
}

/* Which lengths the export allows on the input's dynamic axis: its size is an expression of one
 * symbol (T, or 2*T for frame stacking) whose value lies in the symbol's range. */
typedef struct length_rule {
    const pt2_sym_expr *expr; /* NULL: any length from 1 */
    const char *symbol;
    int64_t lo, hi; /* the symbol's range */
} length_rule;

static void export_rule(const pt2_graph *graph, int axis, length_rule *rule) {
    memset(rule, 0, sizeof *rule);
    rule->lo = 1, rule->hi = INT64_MAX;
    for (size_t i = 0; i < graph->num_inputs; i++) {
        if (graph->inputs[i].kind != PT2_INPUT_USER) continue;
        const pt2_value *v = &graph->values[graph->inputs[i].value_id];
        if (axis >= v->rank || !v->sizes[axis].is_symbolic) return;
        const char *symbols[2];
        if (pt2_sym_symbols(v->sizes[axis].expr, symbols, 2) != 1) return;
        rule->expr = v->sizes[axis].expr;
        rule->symbol = symbols[0];
        const pt2_range_constraint *r = pt2_graph_find_range(graph, symbols[0]);
        if (r && r->has_min && r->min > rule->lo) rule->lo = r->min;
        if (r && r->has_max) rule->hi = r->max;
        return;
    }
}

/* Is `length` the expression's value for a symbol value in range? The sizes exports make grow
 * with the symbol, so the search stops once they pass `length`. */
static int allowed_length(const length_rule *rule, int64_t length) {
    if (length < 1) return 0;
    if (!rule->expr) return length >= rule->lo && length <= rule->hi;
    for (int64_t value = rule->lo, steps = 0; value <= rule->hi && steps < 100000; value++, steps++) {
        pt2_sym_binding binding = {rule->symbol, value};
        int64_t size;
        pt2_error err;
        pt2_error_clear(&err);
        if (pt2_sym_eval(rule->expr, &binding, 1, &size, &err)) return 0;
        if (size == length) return 1;
        if (size > length) return 0;
    }
    return 0;
}

/* Longer sequences add cost, not coverage: every layer ran on the full example in the per-layer
 * checks (the reload runs the longest sequence below alone, convert.c), and what
 * the batch is for (a pad, a conv, a norm, a mask reading frames after a sequence's end) shows at
 * any length; 16 frames keep every sequence apart in length (16, 11, 6), and the batch with its
 * three reference runs at about two thirds of a MelGAN's one forward (at 32 it was 1.3). */
#define LONGEST_PADDED 16

/* The example's length (at most LONGEST_PADDED, or three times the range's start when that is
 * more), about two thirds and one third of it; where the range leaves no room below, the nearest
 * other lengths (longer ones repeat the example). */
static size_t choose_lengths(int64_t example, const length_rule *rule, int64_t *lengths) {
    int64_t candidates[3 + 2 * 64];
    size_t n = 0, count = 0;
    /* A range starting high (audio samples through a conv front end: hundreds) leaves room for
     * thirds only from three times its start: lengths that far apart give different output
     * lengths, where the start and its neighbours would give one. */
    int64_t start = rule->lo, longest = LONGEST_PADDED;
    if (rule->expr) { /* the input's size at the symbol's smallest value */
        pt2_sym_binding binding = {rule->symbol, rule->lo};
        pt2_error err;
        pt2_error_clear(&err);
        if (pt2_sym_eval(rule->expr, &binding, 1, &start, &err)) start = 1;
    }
    if (start > LONGEST_PADDED / 3) longest = start > INT64_MAX / 3 ? start : 3 * start;
    if (longest < LONGEST_PADDED) longest = LONGEST_PADDED;
    if (example > longest) example = longest;
    candidates[n++] = example;
    candidates[n++] = (2 * example + 2) / 3;
    candidates[n++] = (example + 2) / 3;
    for (int64_t d = 1; d <= 64; d++) candidates[n++] = example - d, candidates[n++] = example + d;
    for (size_t i = 0; i < n && count < PT2_PADDED_BATCH_LENGTHS; i++) {
        int64_t c = candidates[i];
        int seen = !allowed_length(rule, c);
        for (size_t k = 0; k < count && !seen; k++) seen = lengths[k] == c;
        if (!seen) lengths[count++] = c;
    }
    return count;
}

/* Copies the example, cut or repeated to `length` frames on `axis`, into batch entries
 * [first, first + B) of `to` (whose time axis may be longer: the rest stays zero). */
static void place_sequence(const pt2_tensor *example, int axis, int64_t length, pt2_tensor *to, int64_t first) {
    size_t element = pt2_dtype_size(example->dtype);
    int64_t outer = 1, inner = 1, time = example->shape[axis], to_time = to->shape[axis];
    for (int a = 1; a < axis; a++) outer *= example->shape[a];
    for (int a = axis + 1; a < example->rank; a++) inner *= example->shape[a];
    const char *from = pt2_tensor_data(example);
    char *dest = pt2_tensor_data(to);
    for (int64_t b = 0; b < example->shape[0]; b++)
        for (int64_t o = 0; o < outer; o++)
            for (int64_t t = 0; t < length; t++)
                memcpy(dest + ((((first + b) * outer + o) * to_time + t) * inner) * element,
                       from + (((b * outer + o) * time + t % time) * inner) * element, (size_t)inner * element);
}

/* The runs' memory, freed after each: a child of the conversion's arena, so that it counts in
 * the conversion's peak and limit. */
static pt2_status scratch_arena(pt2_arena *main, pt2_arena *scratch) {
    pt2_arena_init_child(scratch, main);
    return PT2_OK;
}

/* The reference run of sequence `index` alone, each value released after its last reader by the
 * graph's plan (release_after, depends_on_input: pt2_run_plan_release, made once for every
 * sequence), the values not depending on the input taken from `main_run` when given; each output
 * copied into `arena`. */
static pt2_status reference_run(pt2_arena *arena, const pt2_graph *graph, const pt2_run_context *main_run,
                                int32_t *release_after, unsigned char *depends_on_input, const pt2_tensor *input,
                                const pt2_run_options *options, pt2_padded_batch *batch, size_t index, pt2_error *err) {
    pt2_arena scratch;
    scratch_arena(arena, &scratch);
    pt2_run_context run;
    pt2_tensor y;
    pt2_run_release release = {release_after, NULL, NULL, 0, NULL, main_run, depends_on_input};
    pt2_status st = pt2_run_graph_releasing(&scratch, graph, input, 1, options, &release, &run, err);
    for (size_t k = 0; k < batch->num_outputs && !st; k++) {
        if (!(st = pt2_run_output(&run, k, &y, err)))
            st = pt2_tensor_contiguous(arena, &y, 1, &batch->outputs[k].references[index], err);
    }
    pt2_arena_free(&scratch);
    return st;
}

/* One result against its references, sequence by sequence; the batch's figures take its worst. */
static void compare_result(pt2_arena *arena, pt2_padded_batch *batch, pt2_padded_batch_output *result,
                           const pt2_tensor *output, double atol, double rtol, pt2_error *err) {
    result->passed = 1;
    result->max_abs = result->max_rel = result->worst_ratio = 0;
    int ob = result->batch_axis;
    if (ob < 0) return;
    for (size_t i = 0; i < batch->num_sequences; i++) {
        pt2_padded_batch_sequence *s = &batch->sequences[i];
        const pt2_tensor *ref = &result->references[i];
        int64_t per = ref->shape[ob];
        int fits = output->rank == ref->rank && output->dtype == ref->dtype &&
                   output->shape[ob] == per * (int64_t)batch->num_sequences;
        for (int a = 0; a < ref->rank && fits; a++) fits = a == ob || output->shape[a] >= ref->shape[a];
        pt2_tensor view = *output, mine;
        pt2_comparison cmp = {INFINITY, INFINITY, INFINITY, 0};
        if (fits) {
            memcpy(view.shape, ref->shape, sizeof view.shape);
            view.storage_offset += (int64_t)i * per * output->strides[ob];
            if (pt2_tensor_contiguous(arena, &view, 1, &mine, err) == PT2_OK)
                pt2_compare_tensors(&mine, ref, atol, rtol, &cmp);
        } else if (!batch->problem) {
            pt2_strbuf text;
            pt2_strbuf_init(&text);
            if (batch->num_outputs > 1) pt2_strbuf_printf(&text, "result '%s': ", result->name);
            pt2_strbuf_puts(&text, "the padded batch's output has shape [");
            for (int a = 0; a < output->rank; a++) pt2_strbuf_printf(&text, a ? ", %lld" : "%lld", (long long)output->shape[a]);
            pt2_strbuf_printf(&text, "], which cannot hold %zu sequences of shape [", batch->num_sequences);
            for (int a = 0; a < ref->rank; a++) pt2_strbuf_printf(&text, a ? ", %lld" : "%lld", (long long)ref->shape[a]);
            pt2_strbuf_puts(&text, "]");
            batch->problem = text.data ? pt2_arena_strdup(arena, text.data, err) : NULL;
            pt2_strbuf_free(&text);
        }
        result->sequence_max_abs[i] = cmp.max_abs;
        if (!(cmp.max_abs <= result->max_abs)) result->max_abs = cmp.max_abs;
        if (!(cmp.max_rel <= result->max_rel)) result->max_rel = cmp.max_rel;
        if (!(cmp.worst_ratio <= result->worst_ratio)) result->worst_ratio = cmp.worst_ratio;
        if (!cmp.passed) result->passed = 0;
        if (!(cmp.max_abs <= s->max_abs)) s->max_abs = cmp.max_abs;
        if (!(cmp.max_rel <= s->max_rel)) s->max_rel = cmp.max_rel;
        if (!cmp.passed) s->passed = 0;
    }
    if (!(result->max_abs <= batch->max_abs)) batch->max_abs = result->max_abs;
    if (!(result->max_rel <= batch->max_rel)) batch->max_rel = result->max_rel;
    if (!(result->worst_ratio <= batch->worst_ratio)) batch->worst_ratio = result->worst_ratio;
    if (!result->passed) batch->passed = 0;
}

void pt2_padded_batch_compare(pt2_arena *arena, pt2_padded_batch *batch, const pt2_tensor *outputs, double atol,
                              double rtol, pt2_error *err) {
    batch->passed = 1;
    batch->max_abs = batch->max_rel = batch->worst_ratio = 0;
    for (size_t i = 0; i < batch->num_sequences; i++) {
        batch->sequences[i].max_abs = batch->sequences[i].max_rel = 0;
        batch->sequences[i].passed = 1;
    }
    for (size_t k = 0; k < batch->num_outputs && !err->status; k++)
        compare_result(arena, batch, &batch->outputs[k], &outputs[k], atol, rtol, err);
}

/* RETURNN's own length of each result's dynamic axes for each sequence, against PyTorch's. */
static pt2_status check_output_lengths(pt2_arena *arena, const pt2_reloaded_net *reloaded, pt2_padded_batch *batch,
                                       pt2_error *err) {
    const pt2_rt_net *net = &reloaded->net;
    for (size_t k = 0; k < batch->num_outputs; k++) {
        const pt2_reloaded_output *result = &reloaded->outputs[k];
        const pt2_rt_layer *layer = pt2_rt_find_layer(net, result->layer);
        if (!layer) return pt2_fail(err, PT2_ERR_VERIFY, "result '%s': no layer '%s'", result->name, result->layer);
        for (size_t a = 0; a < result->num_axes; a++) {
            int dim;
            pt2_status st = pt2_rt_resolve_axis(net, &layer->shape, result->axes[a], &dim, err);
            if (st) return st;
            if (net->dims[dim].kind != PT2_RT_DIM_DYNAMIC || batch->outputs[k].batch_axis < 0) continue;
            for (size_t i = 0; i < batch->num_sequences; i++) {
                int64_t ours = pt2_rt_dim_size(net, dim, batch->sequences[i].length);
                int64_t torch = batch->outputs[k].references[i].shape[a];
                if (k == 0) batch->sequences[i].output_length = torch;
                if (ours != torch && !batch->problem) {
                    batch->passed = 0;
                    batch->problem = pt2_arena_printf(arena, err,
                                                      "for a sequence of %lld frames RETURNN's %s%s%slength (dim '%s') is "
                                                      "%lld, PyTorch's %lld",
                                                      (long long)batch->sequences[i].length,
                                                      batch->num_outputs > 1 ? "result '" : "output ",
                                                      batch->num_outputs > 1 ? result->name : "",
                                                      batch->num_outputs > 1 ? "' " : "", net->dims[dim].description,
                                                      (long long)ours, (long long)torch);
                    if (!batch->problem) return err->status;
                }
            }
        }
    }
    return PT2_OK;
}

/* The lengths, each sequence's reference run and the batch, once out's results (names, batch
 * axes) are set. */
static pt2_status prepare_batch(pt2_arena *arena, const pt2_graph *graph, const pt2_run_context *main_run, int axis,
                                const pt2_tensor *example, const pt2_run_options *run_options, pt2_padded_batch *out,
                                pt2_error *err) {
    out->input_time_axis = axis;
    int64_t lengths[PT2_PADDED_BATCH_LENGTHS], longest = 0;
    length_rule rule;
    export_rule(graph, axis, &rule);
    out->num_sequences = choose_lengths(example->shape[axis], &rule, lengths);
    pt2_tensor contiguous;
    pt2_status st = pt2_tensor_contiguous(arena, example, 0, &contiguous, err);
    if (st) return st;
    int64_t per = example->shape[0], entries = per * (int64_t)out->num_sequences;
    int32_t *release_after;
    unsigned char *depends_on_input;
    if ((st = pt2_run_plan_new(arena, graph, &release_after, &depends_on_input, err))) return st;
    for (size_t i = 0; i < out->num_sequences; i++) {
        out->sequences[i].length = lengths[i];
        out->sequences[i].output_length = -1;
        if (lengths[i] > longest) longest = lengths[i];
        /* The sequence alone, through the reference run. */
        int64_t shape[PT2_MAX_RANK];
        memcpy(shape, example->shape, sizeof shape);
        shape[axis] = lengths[i];
        pt2_tensor alone;
        if ((st = pt2_tensor_alloc(arena, example->dtype, example->rank, shape, &alone, err))) return st;
        place_sequence(&contiguous, axis, lengths[i], &alone, 0);
        out->sequences[i].input = alone;
        if ((st = reference_run(arena, graph, main_run, release_after, depends_on_input, &alone, run_options, out, i, err)))
            return st;
    }
    int64_t shape[PT2_MAX_RANK];
    memcpy(shape, example->shape, sizeof shape);
    shape[0] = entries;
    shape[axis] = longest;
    out->entry_lengths = pt2_arena_alloc_array(arena, (size_t)entries, sizeof(int64_t), err);
    if (!out->entry_lengths) return err->status;
    if ((st = pt2_tensor_alloc(arena, example->dtype, example->rank, shape, &out->input, err))) return st;
    for (size_t i = 0; i < out->num_sequences; i++) {
        place_sequence(&contiguous, axis, lengths[i], &out->input, (int64_t)i * per);
        for (int64_t b = 0; b < per; b++) out->entry_lengths[(int64_t)i * per + b] = lengths[i];
    }
    return PT2_OK;
}

pt2_status pt2_padded_batch_prepare(pt2_arena *arena, const pt2_graph *graph, const pt2_run_context *main_run,
                                    const pt2_rt_net *net, const pt2_tensor *example, const pt2_run_options *run_options,
                                    pt2_padded_batch *out, pt2_error *err) {
    memset(out, 0, sizeof *out);
    out->passed = 1;
    int axis = dynamic_axis(net);
    if (axis < 0 || axis >= example->rank) return PT2_OK;
    /* Each result with a batch axis is compared sequence by sequence; with none, nothing is. */
    if (net->num_outputs > PT2_RT_MAX_OUTPUTS) return pt2_fail(err, PT2_ERR_INTERNAL, "too many results");
    out->num_outputs = net->num_outputs;
    for (size_t k = 0; k < out->num_outputs; k++) {
        const pt2_rt_output *o = &net->outputs[k];
        out->outputs[k].name = o->name;
        out->outputs[k].batch_axis = -1;
        for (int a = 0; a < o->torch_rank; a++)
            if (o->torch_dims[a] >= 0 && net->dims[o->torch_dims[a]].kind == PT2_RT_DIM_BATCH) out->outputs[k].batch_axis = a;
        if (out->outputs[k].batch_axis >= 0) out->applicable = 1;
    }
    if (!out->applicable) return PT2_OK;
    pt2_status st = prepare_batch(arena, graph, main_run, axis, example, run_options, out, err);
    if (st != PT2_ERR_INPUT) return st;
    /* The program refuses the batch's other lengths (an export's guard, a size torch.export
     * fixed): the batch does not apply, and the report says why. */
    out->applicable = 0;
    char file[sizeof err->file];
    memcpy(file, err->file, sizeof file);
    if (!(out->inapplicable = pt2_arena_strdup(arena, err->message, err))) return err->status;
    pt2_error_clear(err);
    pt2_error_set_file(err, file);
    return PT2_OK;
}

/* A result's batch axis by the reloaded config's axis names ("B"), or -1. */
static int reloaded_batch_axis(const pt2_reloaded_output *result) {
    for (size_t a = 0; a < result->num_axes; a++)
        if (!strcmp(result->axes[a], "B")) return (int)a;
    return -1;
}

pt2_status pt2_verify_padded_batch(pt2_arena *arena, pt2_reloaded_net *reloaded, double atol, double rtol,
                                   pt2_padded_batch *batch, pt2_error *err) {
    if (!batch->applicable) return PT2_OK;
    pt2_rt_net *net = &reloaded->net;
    /* The reloaded network must have the results the batch was prepared for, with the same batch axes. */
    int same = reloaded->num_outputs == batch->num_outputs && dynamic_axis(net) == batch->input_time_axis;
    for (size_t k = 0; k < batch->num_outputs && same; k++)
        same = reloaded_batch_axis(&reloaded->outputs[k]) == batch->outputs[k].batch_axis;
    if (!same) {
        batch->passed = 0;
        batch->problem = "the reloaded network's results or input axes are not the emitted network's";
        return PT2_OK;
    }
    for (size_t k = 0; k < batch->num_outputs; k++) batch->outputs[k].name = reloaded->outputs[k].name;
    /* The reloaded network on the batch, every layer seeing each entry's length. */
    pt2_arena scratch;
    scratch_arena(arena, &scratch);
    pt2_tensor y[PT2_RT_MAX_OUTPUTS], outputs[PT2_RT_MAX_OUTPUTS];
    int64_t entries = batch->input.shape[0];
    net->sequence_lengths = batch->entry_lengths;
    net->num_sequences = entries;
    pt2_status st = pt2_reload_run_outputs(&scratch, reloaded, &batch->input, y, err);
    net->sequence_lengths = NULL;
    net->num_sequences = 0;
    for (size_t k = 0; k < batch->num_outputs && !st; k++) st = pt2_tensor_contiguous(arena, &y[k], 1, &outputs[k], err);
    pt2_arena_free(&scratch);
    if (st) return st;
    for (size_t k = 0; k < batch->num_outputs; k++) batch->outputs[k].result = outputs[k];
    pt2_padded_batch_compare(arena, batch, outputs, atol, rtol, err);
    if (err->status) return err->status;
    return check_output_lengths(arena, reloaded, batch, err);
}

int pt2_padded_batch_first_sequence(const pt2_padded_batch *batch, pt2_tensor *results) {
    if (!batch->applicable || !batch->num_sequences || !batch->num_outputs) return 0;
    for (size_t i = 1; i < batch->num_sequences; i++)
        if (batch->sequences[i].length > batch->sequences[0].length) return 0;
    int64_t per = batch->input.shape[0] / (int64_t)batch->num_sequences;
    for (size_t k = 0; k < batch->num_outputs; k++) {
        const pt2_padded_batch_output *o = &batch->outputs[k];
        const pt2_tensor *alone = &o->references[0];
        if (!o->result.storage || o->batch_axis < 0 || o->result.rank != alone->rank ||
            o->result.shape[o->batch_axis] != per * (int64_t)batch->num_sequences)
            return 0;
        results[k] = o->result; /* entries 0 .. per-1 along the batch axis: the first sequence's */
        results[k].shape[o->batch_axis] = per;
        for (int a = 0; a < alone->rank; a++)
            if (results[k].shape[a] != alone->shape[a]) return 0;
    }
    return 1;
}

void pt2_padded_batch_format(const pt2_padded_batch *batch, pt2_strbuf *out) {
    pt2_strbuf_puts(out, "lengths ");
    for (size_t i = 0; i < batch->num_sequences; i++)
        pt2_strbuf_printf(out, i ? ", %lld" : "%lld", (long long)batch->sequences[i].length);
    pt2_strbuf_puts(out, ": ");
    for (size_t k = 0; k < batch->num_outputs; k++) {
        const pt2_padded_batch_output *result = &batch->outputs[k];
        if (batch->num_outputs > 1) pt2_strbuf_printf(out, "%s'%s' ", k ? "; " : "", result->name);
        if (result->batch_axis < 0) {
            pt2_strbuf_puts(out, "not compared (no batch axis)");
            continue;
        }
        pt2_strbuf_puts(out, "max abs ");
        for (size_t i = 0; i < batch->num_sequences; i++)
            pt2_strbuf_printf(out, i ? ", %.3g" : "%.3g", result->sequence_max_abs[i]);
    }
    if (batch->problem) pt2_strbuf_printf(out, "; %s", batch->problem);
}
