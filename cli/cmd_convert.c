#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/base/npy.h"
#include "../core/load/reference_output.h"
#include "../core/base/strbuf.h"
#include "../core/pipeline/convert.h"
#include "cli.h"

static const char convert_help[] =
    "usage: pt2returnn convert MODEL.pt2 -o OUTDIR [--checkpoint FILE [--checkpoint-key KEY.PATH] [--no-strict]]\n"
    "                          [--input FILE.npy]... [--reference REF]... [--atol X] [--rtol Y]\n"
    "                          [--as-layer NAME] [--returnn --python PATH] [--json] [--threads N]\n"
    "                          [--portable]\n"
    "\n"
    "Converts an exported program to RETURNN, proving each step:\n"
    "  load       the archive (and the checkpoint, applied by key path)\n"
    "  reference  the graph run with PyTorch semantics in C, compared with REF (PyTorch's own\n"
    "             outputs) when given; without REF only the outputs' shapes are checked\n"
    "  layers     every op lowered to RETURNN layers; each layer run with RETURNN's semantics on\n"
    "             the exact input PyTorch's semantics gave its op, compared with that op's output\n"
    "  emit       the configs and the TensorFlow checkpoint\n"
    "  reload     the JSON config and checkpoint read back as a fresh network and run\n"
    "  padded-batch  that network on a padded batch: the input at three lengths within the\n"
    "             export's range, zeros after each end, each sequence compared within its length\n"
    "             with the reference run of it alone (as RETURNN trains and decodes)\n"
    "and writes\n"
    "  OUTDIR/returnn.config.py                     the network (#!rnn.py, Dim tags for the input)\n"
    "  OUTDIR/returnn.config.json                   the same network as JSON\n"
    "  OUTDIR/model.001.index, .data-00000-of-00001 a TensorFlow checkpoint with every parameter and\n"
    "                                               global_step (load_epoch 1 of model OUTDIR/model)\n"
    "  OUTDIR/report.json, OUTDIR/report.txt        every step and every layer with its differences,\n"
    "                                               and each output with its own figures\n"
    "A program with several outputs (a tuple, a dict, a dataclass such as transformers'\n"
    "BaseModelOutput) keeps them all: the first is RETURNN's \"output\" layer, each further one a\n"
    "layer output_<name> (its name in the program's output spec, else its position) marked\n"
    "is_output_layer; the configs list them in pt2returnn_outputs, and every step compares each.\n"
    "Comparisons pass when |ours - torch| <= atol + rtol * |torch| everywhere; each row shows the\n"
    "worst ratio |ours - torch| / (atol + rtol * |torch|), so a check passes when its ratio is <= 1.\n"
    "\n"
    "options:\n"
    "  -o, --output-dir OUTDIR  where to write (created if missing)\n"
    "  --checkpoint FILE        load weights from a torch.save file or .safetensors first\n"
    "  --checkpoint-key PATH    where the state dict sits in a torch.save file (e.g. model.generator)\n"
    "  --no-strict              load a checkpoint that lacks some of the model's parameters (they keep\n"
    "                           the archive's values) or has extra ones (ignored); by default either is\n"
    "                           an error naming every such key, as load_state_dict(strict=True).\n"
    "                           report.json lists them either way (checkpoint_keys)\n"
    "  --input FILE.npy         a user input instead of the archive's example inputs (repeat for\n"
    "                           several, in signature order); float64 or integer arrays are cast to\n"
    "                           the export's dtype, and the report says so\n"
    "  --reference REF          PyTorch's output for that input (.npy, or a torch.save'd tensor), to\n"
    "                           compare the reference run with; for several outputs repeat it once\n"
    "                           per output in order, or give one torch.save'd tuple/list/dict of them\n"
    "  --atol X, --rtol Y       tolerances (default 1e-4 each)\n"
    "  --as-layer NAME          emit the model as one subnetwork layer NAME to drop into another network:\n"
    "                           OUTDIR/NAME.layer.py and NAME.layer.json hold the layer dict, the\n"
    "                           checkpoint's variables are named NAME/<layer>/..., and the configs hold\n"
    "                           NAME plus an output layer (docs/as-layer.md shows an embedding)\n"
    "  --returnn --python PATH  then load both configs in real RETURNN with that Python (which must\n"
    "                           have RETURNN and TensorFlow), run them on the same input and compare\n"
    "                           each output with the reference run (steps returnn-py, returnn-json)\n"
    "                           and every layer with the reference run's value of its op (a table\n"
    "                           per config), then on the padded batch with its sequence lengths\n"
    "                           (steps returnn-py-padded, returnn-json-padded)\n"
    "  --json                   print report.json to stdout instead of the readable report\n"
    "  --threads N              threads for the native kernels (default 1)\n"
    "  --portable               run the portable kernels the WebAssembly build runs\n"
    "  -h, --help               show this help\n"
    "\n"
    "exit codes: 0 every step passed; 1 a check failed (files and report are written, the report\n"
    "says which step and layer); 2 bad input or unsupported ops (all listed with module path and\n"
    "source line; nothing is written); 3 internal error\n";

#define MAX_INPUTS 16

static const char *const output_names[] = {"model.001.data-00000-of-00001", "model.001.index", "returnn.config.json",
                                           "returnn.config.py", "report.json", "report.txt"};

/* All files go to temporary names first and are renamed only when every one is written. */
static pt2_status write_outputs(const char *dir, const char *as_layer, const pt2_convert_result *r, pt2_error *err) {
    enum { FIXED = sizeof output_names / sizeof output_names[0], COUNT = FIXED + 2 };
    const pt2_strbuf *contents[COUNT] = {&r->checkpoint_data, &r->checkpoint_index, &r->config_json, &r->config_py,
                                         &r->report_json,     &r->report_text,      &r->layer_json,  &r->layer_py};
    char names[COUNT][300], temporary[COUNT][4096], final_path[COUNT][4096];
    size_t count = as_layer ? COUNT : FIXED;
    for (size_t i = 0; i < FIXED; i++) snprintf(names[i], sizeof names[i], "%s", output_names[i]);
    if (as_layer) {
        snprintf(names[FIXED], sizeof names[FIXED], "%s.layer.json", as_layer);
        snprintf(names[FIXED + 1], sizeof names[FIXED + 1], "%s.layer.py", as_layer);
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        pt2_error_set_file(err, dir);
        return pt2_fail(err, PT2_ERR_IO, "cannot create the output directory: %s", strerror(errno));
    }
    size_t written = 0;
    pt2_status st = PT2_OK;
    for (; written < count && !st; written++) {
        snprintf(final_path[written], sizeof final_path[written], "%s/%s", dir, names[written]);
        snprintf(temporary[written], sizeof temporary[written], "%s/.%s.tmp-%ld", dir, names[written], (long)getpid());
        FILE *f = fopen(temporary[written], "wb");
        const pt2_strbuf *c = contents[written];
        int ok = f && (c->length == 0 || fwrite(c->data, 1, c->length, f) == c->length);
        if (f && fclose(f) != 0) ok = 0;
        if (!ok) {
            pt2_error_set_file(err, temporary[written]);
            st = pt2_fail(err, PT2_ERR_IO, "cannot write: %s", strerror(errno));
        }
    }
    for (size_t i = 0; i < written; i++) {
        if (st) {
            remove(temporary[i]);
        } else if (pt2_cli_rename_into_place(temporary[i], final_path[i]) != 0) {
            pt2_error_set_file(err, final_path[i]);
            st = pt2_fail(err, PT2_ERR_IO, "cannot rename into place: %s", strerror(errno));
        }
    }
    return st;
}

/* Every tensor of a --reference file, appended to out[*count]. */
static pt2_status read_references(pt2_arena *arena, const char *path, pt2_tensor *out, size_t capacity, size_t *count,
                                  pt2_error *err) {
    const uint8_t *bytes;
    size_t length;
    pt2_status st = pt2_cli_read_file(arena, path, &bytes, &length, err);
    return st ? st : pt2_load_reference_outputs(arena, bytes, length, path, out, capacity, count, err);
}

static void print_progress(void *user, const char *step, const char *message) {
    (void)user;
    fprintf(stderr, "[%s] %s\n", step, message);
}

static int parse_number(const char *flag, const char *value, double *out) {
    char *end;
    *out = strtod(value, &end);
    if (*end || !(*out >= 0)) return pt2_cli_usage_error("convert", "%s expects a non-negative number, got '%s'", flag, value);
    return 0;
}

int pt2_cmd_convert(int argc, char **argv) {
    const char *model_path = NULL, *out_dir = NULL, *checkpoint_path = NULL, *checkpoint_key = NULL;
    const char *reference_paths[MAX_INPUTS], *python = NULL, *input_paths[MAX_INPUTS];
    size_t num_reference_paths = 0;
    int returnn = 0;
    size_t num_inputs = 0;
    int json = 0;
    pt2_convert_options options = {0};
    options.atol = options.rtol = 1e-4;
    options.run.num_threads = 1;
    options.progress = print_progress;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(convert_help, stdout);
            return 0;
        } else if (!strcmp(a, "--returnn")) {
            returnn = 1;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--portable")) {
            options.run.portable_only = 1;
        } else if (!strcmp(a, "--no-strict")) {
            options.allow_checkpoint_mismatch = 1;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output-dir") || !strcmp(a, "--checkpoint") ||
                   !strcmp(a, "--checkpoint-key") || !strcmp(a, "--input") || !strcmp(a, "--reference") ||
                   !strcmp(a, "--atol") || !strcmp(a, "--rtol") || !strcmp(a, "--threads") || !strcmp(a, "--python") || !strcmp(a, "--as-layer")) {
            if (!value) return pt2_cli_usage_error("convert", "%s needs a value", a);
            i++;
            if (!strcmp(a, "-o") || !strcmp(a, "--output-dir")) out_dir = value;
            else if (!strcmp(a, "--checkpoint")) checkpoint_path = value;
            else if (!strcmp(a, "--checkpoint-key")) checkpoint_key = value;
            else if (!strcmp(a, "--reference")) {
                if (num_reference_paths == MAX_INPUTS)
                    return pt2_cli_usage_error("convert", "at most %d --reference files", MAX_INPUTS);
                reference_paths[num_reference_paths++] = value;
            }
            else if (!strcmp(a, "--python")) python = value;
            else if (!strcmp(a, "--as-layer")) options.as_layer = value;
            else if (!strcmp(a, "--input")) {
                if (num_inputs == MAX_INPUTS) return pt2_cli_usage_error("convert", "at most %d --input files", MAX_INPUTS);
                input_paths[num_inputs++] = value;
            } else if (!strcmp(a, "--threads")) {
                char *end;
                long n = strtol(value, &end, 10);
                if (*end || n < 1 || n > 256) return pt2_cli_usage_error("convert", "--threads expects 1..256, got '%s'", value);
                options.run.num_threads = (int)n;
            } else if (parse_number(a, value, !strcmp(a, "--atol") ? &options.atol : &options.rtol)) {
                return 2;
            }
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
    if (checkpoint_key && !checkpoint_path) return pt2_cli_usage_error("convert", "--checkpoint-key needs --checkpoint");
    if (options.allow_checkpoint_mismatch && !checkpoint_path) return pt2_cli_usage_error("convert", "--no-strict needs --checkpoint");
    if (returnn != (python != NULL)) return pt2_cli_usage_error("convert", "--returnn and --python PATH go together");

    pt2_arena arena;
    pt2_arena_init(&arena, (size_t)16 << 30);
    pt2_error err;
    pt2_error_clear(&err);
    pt2_model_source source = {0};
    pt2_convert_result result;
    pt2_convert_result_init(&result);
    pt2_tensor inputs[MAX_INPUTS], references[MAX_INPUTS];
    pt2_status st = pt2_cli_read_file(&arena, model_path, &source.model_bytes, &source.model_length, &err);
    source.model_name = model_path;
    if (!st && checkpoint_path) {
        st = pt2_cli_read_file(&arena, checkpoint_path, &source.checkpoint_bytes, &source.checkpoint_length, &err);
        source.checkpoint_name = checkpoint_path;
        source.checkpoint_key = checkpoint_key;
    }
    for (size_t i = 0; !st && i < num_inputs; i++) {
        const uint8_t *bytes;
        size_t length;
        st = pt2_cli_read_file(&arena, input_paths[i], &bytes, &length, &err);
        if (!st) st = pt2_npy_read(&arena, bytes, length, input_paths[i], &inputs[i], &err);
    }
    for (size_t i = 0; !st && i < num_reference_paths; i++) {
        st = read_references(&arena, reference_paths[i], references, MAX_INPUTS, &options.num_reference_outputs, &err);
        options.reference_outputs = references;
        options.reference_name = reference_paths[0];
    }
    if (num_inputs) options.inputs = inputs, options.num_inputs = num_inputs, options.input_names = input_paths;
    options.keep_layer_references = returnn; /* every layer is checked in RETURNN too */
    options.model_bytes_arena = &arena; /* the file's bytes go once the checkpoint is written */
    if (!st) st = pt2_convert(&arena, &source, &options, &result, &err);
    if (!st) st = write_outputs(out_dir, options.as_layer, &result, &err);
    /* The RETURNN check reads the written files, then the reports are written again with it. */
    if (!st && returnn && !(st = pt2_cli_check_in_returnn(&arena, python, out_dir, options.as_layer, &result, &err)))
        st = write_outputs(out_dir, options.as_layer, &result, &err);
    int code;
    if (st) {
        code = pt2_cli_report_error(&err);
    } else {
        const pt2_strbuf *report = json ? &result.report_json : &result.report_text;
        if (report->data) fputs(report->data, stdout);
        if (!json) printf("written to %s/\n", out_dir);
        code = result.failed_step ? 1 : 0;
        if (result.failed_step) fprintf(stderr, "pt2returnn: %s: the '%s' check failed (see %s/report.txt)\n", model_path,
                                        result.failed_step, out_dir);
    }
    pt2_convert_result_free(&result);
    pt2_arena_free(&arena);
    return code;
}
