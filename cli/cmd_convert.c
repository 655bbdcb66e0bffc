#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "../core/base/strbuf.h"
#include "../core/emit/returnn_config.h"
#include "../core/emit/tf_checkpoint.h"
#include "../core/lower/lower.h"
#include "../core/run/executor.h"
#include "../core/verify/verify_layers.h"
#include "cli.h"

static const char convert_help[] =
    "usage: pt2returnn convert MODEL.pt2 -o OUTDIR [--checkpoint FILE [--checkpoint-key KEY.PATH]]\n"
    "\n"
    "Converts an exported program to RETURNN: runs it with PyTorch semantics on the archive's\n"
    "example input, lowers every op to RETURNN layers and writes\n"
    "  OUTDIR/returnn.config.py                     the network (#!rnn.py, Dim tags)\n"
    "  OUTDIR/returnn.config.json                   the same network as JSON\n"
    "  OUTDIR/model.001.index, .data-00000-of-00001 a TensorFlow checkpoint with every parameter\n"
    "                                               and global_step (load_epoch 1 of model OUTDIR/model)\n"
    "Nothing is written unless every step succeeds.\n"
    "\n"
    "This is the pipeline's first slice: conv1d and activations lower so far; every op that\n"
    "does not is listed, with its module path and source line (exit code 2). Every layer is\n"
    "checked: run with RETURNN's semantics on the input PyTorch's semantics gave its op, and\n"
    "compared with that op's output (exit code 1 when one fails; the files are kept).\n"
    "The reload and the real-RETURNN check in the CLI are the next steps.\n"
    "\n"
    "options:\n"
    "  -o, --output-dir OUTDIR  where to write (created if missing)\n"
    "  --checkpoint FILE        load weights from a torch.save file or .safetensors first\n"
    "  --checkpoint-key PATH    where the state dict sits in a torch.save file (e.g. model.generator)\n"
    "  -h, --help               show this help\n";

static pt2_status write_into(const char *dir, const char *name, const pt2_strbuf *content, pt2_error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return pt2_cli_write_file_atomic(path, content->data ? content->data : "", content->length, err);
}

int pt2_cmd_convert(int argc, char **argv) {
    const char *model_path = NULL, *out_dir = NULL, *checkpoint_path = NULL, *checkpoint_key = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(convert_help, stdout);
            return 0;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output-dir") || !strcmp(a, "--checkpoint") ||
                   !strcmp(a, "--checkpoint-key")) {
            if (!value) return pt2_cli_usage_error("convert", "%s needs a value", a);
            i++;
            if (a[1] == 'o' || a[2] == 'o') out_dir = value;
            else if (!strcmp(a, "--checkpoint")) checkpoint_path = value;
            else checkpoint_key = value;
        } else if (a[0] == '-' && a[1]) {
            return pt2_cli_usage_error("convert", "unknown option '%s'", a);
        } else if (!model_path) {
            model_path = a;
        } else {
            return pt2_cli_usage_error("convert", "one MODEL.pt2 expected, got '%s' as well", a);
        }
    }
    if (!model_path) return pt2_cli_usage_error("convert", "missing MODEL.pt2");
    if (!out_dir) return pt2_cli_usage_error("convert", "missing -o OUTDIR");

    pt2_arena arena;
    pt2_arena_init(&arena, (size_t)16 << 30);
    pt2_error err;
    pt2_error_clear(&err);
    pt2_graph graph;
    pt2_run_context run;
    pt2_rt_net net;
    pt2_lower_context lowered;
    pt2_tf_variable *variables;
    pt2_layer_checks checks = {0};
    const double atol = 1e-4, rtol = 1e-4;
    size_t num_variables;
    pt2_strbuf config, json_config, index, data;
    pt2_strbuf_init(&config);
    pt2_strbuf_init(&json_config);
    pt2_strbuf_init(&index);
    pt2_strbuf_init(&data);
    pt2_run_options options = {1, 0};
    pt2_status st = pt2_cli_load_model(&arena, model_path, checkpoint_path, checkpoint_key, &graph, &err);
    if (!st) {
        fprintf(stderr, "reference run on the archive's example input\n");
        st = pt2_run_graph(&arena, &graph, graph.sample_inputs, graph.num_sample_inputs, &options, &run, &err);
    }
    if (!st) st = pt2_lower_graph(&arena, &graph, &run, &net, &lowered, &err);
    if (!st) st = pt2_verify_layers(&arena, &lowered, atol, rtol, &checks, &err);
    if (!st) st = pt2_emit_python_config(&net, model_path, &config, &err);
    if (!st) st = pt2_emit_json_config(&net, &json_config, &err);
    if (!st) st = pt2_emit_checkpoint_variables(&arena, &net, &variables, &num_variables, &err);
    if (!st) st = pt2_tf_checkpoint_write(&arena, variables, num_variables, &index, &data, &err);
    /* Everything is in memory; only now touch the output directory. */
    if (!st && mkdir(out_dir, 0777) != 0 && errno != EEXIST) {
        pt2_error_set_file(&err, out_dir);
        st = pt2_fail(&err, PT2_ERR_IO, "cannot create the output directory: %s", strerror(errno));
    }
    if (!st) st = write_into(out_dir, "model.001.data-00000-of-00001", &data, &err);
    if (!st) st = write_into(out_dir, "model.001.index", &index, &err);
    if (!st) st = write_into(out_dir, "returnn.config.json", &json_config, &err);
    if (!st) st = write_into(out_dir, "returnn.config.py", &config, &err);
    int code = 0;
    if (st) {
        code = pt2_cli_report_error(&err);
    } else {
        pt2_strbuf text;
        pt2_strbuf_init(&text);
        pt2_layer_checks_format(&checks, atol, rtol, &text);
        if (text.data) fputs(text.data, stdout);
        pt2_strbuf_free(&text);
        /* A failed check keeps the files (to inspect them) but says so in the exit code. */
        if (checks.failed) {
            fprintf(stderr, "pt2returnn: %s: %zu layer%s failed the per-layer check\n", model_path, checks.failed,
                    checks.failed == 1 ? "" : "s");
            code = 1;
        }
        printf("%s: %zu RETURNN layers, %zu checkpoint variables written to %s/\n", model_path, net.num_layers,
               num_variables, out_dir);
        for (size_t i = 0; i < net.num_layers; i++) {
            const pt2_rt_layer *l = &net.layers[i];
            printf("  %-20s %-12s %s\n", l->name, l->layer_class, l->node >= 0 ? graph.nodes[l->node].target : "");
        }
    }
    pt2_strbuf_free(&config);
    pt2_strbuf_free(&json_config);
    pt2_strbuf_free(&index);
    pt2_strbuf_free(&data);
    pt2_arena_free(&arena);
    return code;
}
