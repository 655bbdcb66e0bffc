/* The .pt2 reader on the fixtures that real PyTorch exported (argv[1]), and applying a state
 * dict to the graph it builds: FQN matching, missing / unexpected names, mismatches, tied
 * weights, a key prefix. */
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/load/apply_checkpoint.h"
#include "core/load/pt2_archive.h"
#include "check.h"

static char path_buf[1024];

static const char *fixture(const char *dir, const char *name) {
    snprintf(path_buf, sizeof path_buf, "%s/%s", dir, name);
    return path_buf;
}

static int load(pt2_arena *arena, const char *path, pt2_graph *graph) {
    pt2_error err;
    pt2_error_clear(&err);
    const uint8_t *bytes;
    size_t length;
    if (pt2_cli_read_file(arena, path, &bytes, &length, &err) ||
        pt2_archive_load(arena, bytes, length, path, graph, &err)) {
        printf("FAIL loading %s: %s\n", path, err.message);
        failures++;
        return 0;
    }
    return 1;
}

static const pt2_graph_input *find_input(const pt2_graph *g, pt2_input_kind kind, const char *target) {
    for (size_t i = 0; i < g->num_inputs; i++)
        if (g->inputs[i].kind == kind && !strcmp(g->inputs[i].target, target)) return &g->inputs[i];
    return NULL;
}

static const pt2_graph_input *input_of_value(const pt2_graph *g, int value_id) {
    for (size_t i = 0; i < g->num_inputs; i++)
        if (g->inputs[i].value_id == value_id) return &g->inputs[i];
    return NULL;
}

static void check_conv_stack(const char *dir) {
    pt2_arena arena;
    pt2_arena_init(&arena, 0);
    pt2_graph g;
    if (!load(&arena, fixture(dir, "conv_stack.pt2"), &g)) goto done;
    CHECK(g.num_nodes > 0, "conv_stack has nodes");
    CHECK(g.torch_version && g.schema_major == 8, "torch_version and schema major 8");

    /* A conv1d whose weight is a parameter carrying data of the value's shape. */
    int convs = 0;
    for (size_t n = 0; n < g.num_nodes; n++) {
        const pt2_node *node = &g.nodes[n];
        if (strcmp(node->target, "aten.conv1d.default") != 0) continue;
        convs++;
        CHECK(node->has_schema && node->num_inputs == 7, "conv1d in schema order, 7 arguments");
        const pt2_arg *weight = pt2_node_arg(node, "weight");
        const pt2_arg *stride = pt2_node_arg(node, "stride");
        const pt2_arg *groups = pt2_node_arg(node, "groups");
        CHECK(weight && weight->kind == PT2_ARG_TENSOR, "conv1d weight is a tensor");
        CHECK(stride && stride->kind == PT2_ARG_INTS && stride->count == 1, "conv1d stride is one int");
        CHECK(groups && groups->kind == PT2_ARG_INT, "conv1d groups is an int");
        CHECK(!strcmp(node->inputs[0].name, "input") && !strcmp(node->inputs[6].name, "groups"), "argument names");
        if (!weight || weight->kind != PT2_ARG_TENSOR) continue;
        const pt2_value *wv = &g.values[weight->value_id];
        const pt2_graph_input *in = input_of_value(&g, weight->value_id);
        CHECK(in && in->kind == PT2_INPUT_PARAMETER && in->has_data, "conv1d weight is a parameter with data");
        CHECK(wv->rank == 3, "conv1d weight has rank 3");
        if (in && in->has_data && wv->rank == 3) {
            int same = in->data.rank == 3;
            for (int d = 0; d < 3 && same; d++) same = !wv->sizes[d].is_symbolic && in->data.shape[d] == wv->sizes[d].value;
            CHECK(same, "the weight data has the shape of the graph value");
            CHECK(in->data.dtype == PT2_DTYPE_FLOAT32, "the weight is float32");
        }
        CHECK(node->module_depth >= 2 && node->module_stack[node->module_depth - 1].type &&
                  strstr(node->module_stack[node->module_depth - 1].type, "Conv1d"),
              "conv1d's innermost module is a Conv1d");
        CHECK(node->source_line && strchr(node->source_line, ':'), "conv1d has a source line");
    }
    CHECK(convs > 0, "conv_stack has an aten.conv1d.default node");

    /* A user input with a symbolic time axis whose symbol has a range constraint. */
    int symbolic = 0;
    size_t user_inputs = 0;
    for (size_t i = 0; i < g.num_inputs; i++) {
        if (g.inputs[i].kind != PT2_INPUT_USER) continue;
        user_inputs++;
        const pt2_value *v = &g.values[g.inputs[i].value_id];
        for (int d = 0; d < v->rank; d++) {
            const char *symbol = v->sizes[d].is_symbolic ? pt2_sym_as_symbol(v->sizes[d].expr) : NULL;
            if (!symbol) continue;
            const pt2_range_constraint *r = pt2_graph_find_range(&g, symbol);
            CHECK(r && r->has_min && r->min >= 2, "the symbol has a range with a minimum");
            CHECK(v->sizes[d].value > 0, "the symbolic size has a hint");
            symbolic++;
        }
    }
    CHECK(symbolic > 0, "an input has a symbolic dimension");
    CHECK(g.num_sample_inputs == user_inputs && user_inputs > 0, "one sample input per user input");
    for (size_t i = 0, k = 0; i < g.num_inputs && k < g.num_sample_inputs; i++) {
        if (g.inputs[i].kind != PT2_INPUT_USER) continue;
        const pt2_value *v = &g.values[g.inputs[i].value_id];
        const pt2_tensor *sample = &g.sample_inputs[k++];
        int same = sample->dtype == v->dtype && sample->rank == v->rank;
        for (int d = 0; d < v->rank && same; d++) same = sample->shape[d] == v->sizes[d].value; /* value or hint */
        CHECK(same, "the sample input has the input's dtype and (hinted) shape");
    }
    CHECK(g.num_outputs > 0 && g.outputs[0].kind == PT2_OUTPUT_USER, "a user output");
done:
    pt2_arena_free(&arena);
}

/* A state dict built from the archive's own tensors, under `prefix`, without `skip`. */
static void state_from_graph(pt2_arena *arena, const pt2_graph *g, const char *prefix, const char *skip,
                             pt2_named_tensors *out) {
    pt2_error err;
    pt2_error_clear(&err);
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < g->num_inputs; i++) {
        const pt2_graph_input *in = &g->inputs[i];
        if (!(in->kind == PT2_INPUT_PARAMETER || (in->kind == PT2_INPUT_BUFFER && in->persistent))) continue;
        if (skip && !strcmp(in->target, skip)) continue;
        const char *name = pt2_arena_printf(arena, &err, "%s%s", prefix, in->target);
        CHECK(name && pt2_named_tensors_push(arena, out, name, &in->data, in->kind == PT2_INPUT_PARAMETER, &err) == PT2_OK,
              "state dict push");
    }
}

static void check_apply(const char *dir) {
    pt2_arena arena;
    pt2_arena_init(&arena, 0);
    pt2_graph g;
    pt2_error err;
    pt2_apply_report report;
    pt2_named_tensors state;
    if (!load(&arena, fixture(dir, "conv_stack.pt2"), &g)) goto done;
    const char *first = NULL;
    size_t params = 0;
    for (size_t i = 0; i < g.num_inputs; i++)
        if (g.inputs[i].kind == PT2_INPUT_PARAMETER) {
            if (!first) first = g.inputs[i].target;
            params++;
        }
    if (!first) {
        CHECK(0, "conv_stack has parameters");
        goto done;
    }

    /* Everything present, plus a harmless extra entry. */
    state_from_graph(&arena, &g, "", NULL, &state);
    pt2_tensor counter = {0};
    counter.dtype = PT2_DTYPE_INT64;
    pt2_error_clear(&err);
    pt2_named_tensors_push(&arena, &state, "bn.num_batches_tracked", &counter, 0, &err);
    /* Strict by default, as load_state_dict(strict=True): the extra entry is refused by name. */
    memset(&report, 0, sizeof report);
    CHECK(pt2_graph_apply_state_dict(&arena, &g, &state, "ckpt.pt", &report, &err) == PT2_ERR_INPUT &&
              strstr(err.message, "unexpected") && strstr(err.message, "'bn.num_batches_tracked'"),
          "strict: an unexpected entry is an error naming it");
    memset(&report, 0, sizeof report);
    report.allow_missing = 1;
    pt2_error_clear(&err);
    CHECK(pt2_graph_apply_state_dict(&arena, &g, &state, "ckpt.pt", &report, &err) == PT2_OK, "full state dict applies");
    CHECK(report.num_loaded == params && report.num_missing == 0, "every parameter loaded");
    CHECK(report.num_unexpected == 1 && !strcmp(report.unexpected[0], "bn.num_batches_tracked"),
          "not strict: num_batches_tracked reported as unexpected");

    /* One missing: an error naming it, unless allowed. */
    state_from_graph(&arena, &g, "", first, &state);
    memset(&report, 0, sizeof report);
    pt2_error_clear(&err);
    CHECK(pt2_graph_apply_state_dict(&arena, &g, &state, "ckpt.pt", &report, &err) == PT2_ERR_INPUT &&
              strstr(err.message, first),
          "a missing parameter is an error naming it");
    memset(&report, 0, sizeof report);
    report.allow_missing = 1;
    pt2_error_clear(&err);
    CHECK(pt2_graph_apply_state_dict(&arena, &g, &state, "ckpt.pt", &report, &err) == PT2_OK &&
              report.num_missing == 1 && !strcmp(report.missing[0], first),
          "a missing parameter is reported when allowed");
    pt2_strbuf line;
    pt2_strbuf_init(&line);
    pt2_apply_report_format(&report, "ckpt.pt", &line);
    CHECK(strstr(line.data, first) && strstr(line.data, "missing"), "the report line names the missing tensor");
    pt2_strbuf_free(&line);

    /* Shape and dtype mismatches name the tensor and both shapes. */
    state_from_graph(&arena, &g, "", NULL, &state);
    pt2_named_tensor *victim = NULL;
    for (size_t k = 0; k < state.count; k++)
        if (!strcmp(state.items[k].name, first)) victim = &state.items[k];
    if (victim) {
        victim->tensor.shape[0] += 1;
        memset(&report, 0, sizeof report);
        pt2_error_clear(&err);
        CHECK(pt2_graph_apply_state_dict(&arena, &g, &state, "ckpt.pt", &report, &err) == PT2_ERR_INPUT &&
                  strstr(err.message, first) && strstr(err.message, "expects"),
              "a shape mismatch is an error naming the tensor");
        victim->tensor.shape[0] -= 1;
        victim->tensor.dtype = PT2_DTYPE_FLOAT64;
        memset(&report, 0, sizeof report);
        pt2_error_clear(&err);
        CHECK(pt2_graph_apply_state_dict(&arena, &g, &state, "ckpt.pt", &report, &err) == PT2_ERR_INPUT &&
                  strstr(err.message, "float64") && strstr(err.message, "float32"),
              "a dtype mismatch names both dtypes");
    }

    /* Names under a prefix match nothing; the error points at the prefix. */
    state_from_graph(&arena, &g, "model.", NULL, &state);
    memset(&report, 0, sizeof report);
    pt2_error_clear(&err);
    CHECK(pt2_graph_apply_state_dict(&arena, &g, &state, "ckpt.pt", &report, &err) == PT2_ERR_INPUT &&
              strstr(err.message, "'model.'"),
          "a key prefix is named");

    /* Tied weights: a checkpoint naming only one of the pair serves both. */
    pt2_graph tied;
    if (load(&arena, fixture(dir, "tied_weights.pt2"), &tied)) {
        const pt2_graph_input *emb = find_input(&tied, PT2_INPUT_PARAMETER, "emb.weight");
        const pt2_graph_input *out = find_input(&tied, PT2_INPUT_PARAMETER, "out.weight");
        CHECK(emb && out && emb->data.storage == out->data.storage, "tied weights share one file in the archive");
        if (emb && out) {
            state_from_graph(&arena, &tied, "", "out.weight", &state);
            float replacement[100 * 32] = {0};
            replacement[0] = 42;
            state.items[0].tensor.storage = replacement;
            state.items[0].tensor.storage_offset = 0;
            state.items[0].tensor.storage_bytes = sizeof replacement;
            memset(&report, 0, sizeof report);
            pt2_error_clear(&err);
            CHECK(pt2_graph_apply_state_dict(&arena, &tied, &state, "ckpt.pt", &report, &err) == PT2_OK &&
                      report.num_tied == 1 && report.num_missing == 0,
                  "one name of a tied pair loads both");
            CHECK(out->data.storage == (void *)replacement, "the twin takes the checkpoint's tensor");
        }
    }
done:
    pt2_arena_free(&arena);
}

/* Every .pt2 of the fixtures loads (the bad-input fixtures live in a subfolder). */
static void check_all(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    int count = 0;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".pt2") != 0) continue;
        pt2_arena arena;
        pt2_arena_init(&arena, 0);
        pt2_graph g;
        if (load(&arena, fixture(dir, e->d_name), &g)) {
            count++;
            for (size_t k = 0; k < g.num_nodes; k++)
                if (!strncmp(g.nodes[k].target, "aten.", 5) && !g.nodes[k].has_schema) {
                    printf("note: %s: no schema for %s\n", e->d_name, g.nodes[k].target);
                }
        }
        pt2_arena_free(&arena);
    }
    closedir(d);
    printf("loaded %d .pt2 fixtures\n", count);
}

static void check_not_an_archive(void) {
    pt2_arena arena;
    pt2_arena_init(&arena, 0);
    pt2_graph g;
    pt2_error err;
    pt2_error_clear(&err);
    static const uint8_t junk[] = "this is not a zip file at all";
    CHECK(pt2_archive_load(&arena, junk, sizeof junk, "junk.pt2", &g, &err) != PT2_OK && err.message[0],
          "junk is refused with a message");
    pt2_arena_free(&arena);
}

int main(int argc, char **argv) {
    check_not_an_archive();
    const char *dir = argc > 1 ? argv[1] : NULL;
    FILE *probe = dir ? fopen(fixture(dir, "conv_stack.pt2"), "rb") : NULL;
    if (probe) {
        fclose(probe);
        check_conv_stack(dir);
        check_apply(dir);
        check_all(dir);
    } else {
        printf("no conv_stack.pt2 in %s: fixture checks skipped\n", dir ? dir : "(no fixtures dir)");
    }
    if (!failures) printf("pt2_archive: all passed\n");
    return failures != 0;
}
