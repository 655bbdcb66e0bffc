#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/base/clock.h"
#include "../core/base/npy.h"
#include "../core/base/strbuf.h"
#include "../core/inspect/output_summary.h"
#include "../core/load/user_inputs.h"
#include "../core/run/executor.h"
#include "cli.h"

static const char run_help[] =
    "usage: pt2returnn run MODEL.pt2 [--checkpoint FILE [--checkpoint-key KEY.PATH] [--no-strict]]\n"
    "                      [--input FILE.npy]... [--output OUT.npy] [--threads N] [--repeat K]\n"
    "                      [--portable]\n"
    "\n"
    "Runs the exported program with PyTorch semantics in C (step 2 of the pipeline).\n"
    "Without --input it runs on the archive's own example inputs (data/sample_inputs);\n"
    "with --input, one .npy per user input in order; a dynamic axis may take any size\n"
    "within the range the export allows. Without --output it prints one line per output:\n"
    "its name, dtype, shape, min, max and mean.\n"
    "\n"
    "options:\n"
    "  --checkpoint FILE       load weights from a torch.save file or .safetensors first\n"
    "  --checkpoint-key PATH   where the state dict sits in a torch.save file (e.g. model.generator)\n"
    "  --no-strict             let the checkpoint lack parameters (the archive's values stay) or\n"
    "                          have extra ones (ignored); by default either is an error naming every key\n"
    "  --input FILE.npy        a user input (repeat for several inputs); float64 or integer arrays are\n"
    "                          cast to the export's dtype when nothing is lost or it is float64 for\n"
    "                          float32 (numpy's default), and a line on stderr says so\n"
    "  --output OUT.npy        write the first output there, further ones to OUT.1.npy, OUT.2.npy, ...\n"
    "  --threads N             threads for the native kernels (default 1)\n"
    "  --repeat K              time K more runs (after an untimed one) and print 'forward_seconds: X'\n"
    "                          (their mean) and 'forward_seconds_best: Y' (the fastest; for benchmarks)\n"
    "  --portable              do not use XNNPACK: run the portable kernels the WebAssembly build runs\n"
    "  -h, --help              show this help\n"
    "\n"
    "exit codes: 0 ok, 2 bad or unsupported input (all unsupported ops are listed), 3 internal error\n";

#define MAX_INPUTS 64

static void output_path(const char *base, size_t index, char *buf, size_t size) {
    if (index == 0) {
        snprintf(buf, size, "%s", base);
        return;
    }
    size_t len = strlen(base);
    if (len > 4 && !strcmp(base + len - 4, ".npy"))
        snprintf(buf, size, "%.*s.%zu.npy", (int)(len - 4), base, index);
    else
        snprintf(buf, size, "%s.%zu.npy", base, index);
}

int pt2_cmd_run(int argc, char **argv) {
    const char *model_path = NULL, *checkpoint_path = NULL, *checkpoint_key = NULL, *output = NULL;
    const char *input_paths[MAX_INPUTS];
    size_t num_inputs = 0;
    long threads = 1, repeat = 0;
    int portable = 0, allow_checkpoint_mismatch = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *value = (i + 1 < argc) ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(run_help, stdout);
            return 0;
        }
#define NEED_VALUE()                                                                   \
    do {                                                                               \
        if (!value) return pt2_cli_usage_error("run", "%s needs a value", a);          \
        i++;                                                                           \
    } while (0)
        if (!strcmp(a, "--checkpoint")) {
            NEED_VALUE();
            checkpoint_path = value;
        } else if (!strcmp(a, "--checkpoint-key")) {
            NEED_VALUE();
            checkpoint_key = value;
        } else if (!strcmp(a, "--input")) {
            NEED_VALUE();
            if (num_inputs == MAX_INPUTS) return pt2_cli_usage_error("run", "at most %d inputs", MAX_INPUTS);
            input_paths[num_inputs++] = value;
        } else if (!strcmp(a, "--output")) {
            NEED_VALUE();
            output = value;
        } else if (!strcmp(a, "--threads")) {
            NEED_VALUE();
            threads = strtol(value, NULL, 10);
            if (threads < 1 || threads > 256) return pt2_cli_usage_error("run", "--threads takes 1..256");
        } else if (!strcmp(a, "--repeat")) {
            NEED_VALUE();
            repeat = strtol(value, NULL, 10);
            if (repeat < 1 || repeat > 100000) return pt2_cli_usage_error("run", "--repeat takes 1..100000");
        } else if (!strcmp(a, "--portable")) {
            portable = 1;
        } else if (!strcmp(a, "--no-strict")) {
            allow_checkpoint_mismatch = 1;
        } else if (a[0] == '-' && a[1]) {
            return pt2_cli_usage_error("run", "unknown option '%s'", a);
        } else if (!model_path) {
            model_path = a;
        } else {
            return pt2_cli_usage_error("run", "one MODEL.pt2 expected, got '%s' as well", a);
        }
#undef NEED_VALUE
    }
    if (!model_path) return pt2_cli_usage_error("run", "missing MODEL.pt2");
    if (checkpoint_key && !checkpoint_path) return pt2_cli_usage_error("run", "--checkpoint-key needs --checkpoint");
    if (allow_checkpoint_mismatch && !checkpoint_path) return pt2_cli_usage_error("run", "--no-strict needs --checkpoint");

    pt2_arena arena;
    pt2_arena_init(&arena, (size_t)16 << 30);
    pt2_error err;
    pt2_error_clear(&err);
    pt2_status st;
    int code = 0;
    pt2_graph graph;
    pt2_tensor inputs[MAX_INPUTS];
    const pt2_tensor *run_inputs;
    size_t run_count;
    pt2_run_context run;
    pt2_run_options options = {(int)threads, portable};

    if ((st = pt2_cli_load_model(&arena, model_path, checkpoint_path, checkpoint_key, allow_checkpoint_mismatch, &graph,
                                 &err)))
        goto fail;

    for (size_t i = 0; i < num_inputs; i++) {
        const uint8_t *bytes;
        size_t length;
        if ((st = pt2_cli_read_file(&arena, input_paths[i], &bytes, &length, &err))) goto fail;
        if ((st = pt2_npy_read(&arena, bytes, length, input_paths[i], &inputs[i], &err))) goto fail;
    }
    {
        pt2_strbuf notes;
        pt2_strbuf_init(&notes);
        st = pt2_cast_user_inputs(&arena, &graph, inputs, num_inputs, input_paths, &notes, &err);
        if (notes.data) fputs(notes.data, stderr);
        pt2_strbuf_free(&notes);
        if (st) goto fail;
    }
    run_inputs = num_inputs ? inputs : graph.sample_inputs;
    run_count = num_inputs ? num_inputs : graph.num_sample_inputs;

    {
        /* Each value goes after its last reader (the outputs stay), as in convert's reference run:
         * a run that kept them all held every intermediate at once (MelGAN 384: 410 MiB, each
         * page faulted in first, against 40 MiB for the whole conversion). */
        int32_t *release_after;
        unsigned char *depends_on_input;
        if ((st = pt2_run_plan_new(&arena, &graph, &release_after, &depends_on_input, &err))) goto fail;
        pt2_run_release release;
        memset(&release, 0, sizeof release);
        release.release_after = release_after;
        double start = pt2_now_seconds();
        if ((st = pt2_run_graph_releasing(&arena, &graph, run_inputs, run_count, &options, &release, &run, &err))) goto fail;
        double elapsed = pt2_now_seconds() - start;
        if (repeat > 0) {
            /* The first run above warms caches and creates backend operators; time the rest. */
            /* One scratch arena, reset between runs: like PyTorch's caching allocator, memory
             * mapped by one run is reused by the next. Its first run (r = -1) is not timed: it
             * page-faults every block in (MelGAN 384: 0.40 s against 0.17 s for the next ones),
             * which PyTorch's warm-up forward does for its allocator too. */
            double total = 0, best = 0;
            pt2_arena scratch;
            pt2_arena_init(&scratch, (size_t)16 << 30);
            for (long r = -1; r < repeat && !st; r++) {
                pt2_run_context again;
                pt2_arena_reset(&scratch);
                start = pt2_now_seconds();
                st = pt2_run_graph_releasing(&scratch, &graph, run_inputs, run_count, &options, &release, &again, &err);
                double seconds = pt2_now_seconds() - start;
                if (r >= 0) total += seconds;
                if (r >= 0 && (r == 0 || seconds < best)) best = seconds;
            }
            pt2_arena_free(&scratch);
            if (st) goto fail;
            printf("forward_seconds: %.6f\n", total / (double)repeat);
            printf("forward_seconds_best: %.6f\n", best);
            printf("first_run_seconds: %.6f\n", elapsed);
        }
    }

    if (!output) { /* nothing asked for a file: say what came out */
        size_t index = 0;
        for (size_t i = 0; i < graph.num_outputs; i++) {
            if (graph.outputs[i].kind != PT2_OUTPUT_USER || graph.outputs[i].arg.kind != PT2_ARG_TENSOR) continue;
            pt2_tensor t;
            pt2_strbuf line;
            pt2_strbuf_init(&line);
            st = pt2_run_output(&run, index++, &t, &err);
            if (!st) st = pt2_output_summary(&arena, graph.values[graph.outputs[i].arg.value_id].name, &t, &line, &err);
            if (!st && line.data) fputs(line.data, stdout);
            pt2_strbuf_free(&line);
            if (st) goto fail;
        }
    }
    if (output) {
        size_t index = 0;
        for (size_t i = 0; i < graph.num_outputs; i++) {
            if (graph.outputs[i].kind != PT2_OUTPUT_USER || graph.outputs[i].arg.kind != PT2_ARG_TENSOR) continue;
            pt2_tensor t;
            if ((st = pt2_run_output(&run, index, &t, &err))) goto fail;
            pt2_strbuf npy;
            pt2_strbuf_init(&npy);
            st = pt2_npy_write(&arena, &t, &npy, &err);
            char path[4096];
            output_path(output, index, path, sizeof path);
            if (!st) st = pt2_cli_write_file_atomic(path, npy.data, npy.length, &err);
            pt2_strbuf_free(&npy);
            if (st) goto fail;
            index++;
        }
    }
    pt2_arena_free(&arena);
    return 0;

fail:
    code = pt2_cli_report_error(&err);
    pt2_arena_free(&arena);
    return code;
}
