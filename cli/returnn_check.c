/* convert --returnn --python PATH: step 7 from the CLI. The emitted files are loaded in real
 * RETURNN by the Python the user names (cli/run_in_returnn.py, carried in the binary), run on
 * the conversion's input, and the output is compared with the reference run's. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../core/base/npy.h"
#include "../core/verify/verify_layers.h"
#include "cli.h"

extern const unsigned char pt2_returnn_runner_script[];
extern const size_t pt2_returnn_runner_script_length;

static pt2_status write_all(const char *path, const void *data, size_t length, pt2_error *err) {
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(data, 1, length, f) == length;
    if (f && fclose(f) != 0) ok = 0;
    if (ok) return PT2_OK;
    pt2_error_set_file(err, path);
    return pt2_fail(err, PT2_ERR_IO, "cannot write: %s", strerror(errno));
}

/* Shell-quotes one argument ('...' with ' escaped). */
static void quote(pt2_strbuf *sb, const char *s) {
    pt2_strbuf_putc(sb, '\'');
    for (; *s; s++) {
        if (*s == '\'') pt2_strbuf_puts(sb, "'\\''");
        else pt2_strbuf_putc(sb, *s);
    }
    pt2_strbuf_putc(sb, '\'');
}

pt2_status pt2_cli_check_in_returnn(pt2_arena *arena, const char *python, const char *out_dir,
                                    pt2_convert_result *result, pt2_error *err) {
    char dir[] = "/tmp/pt2returnn-returnn-XXXXXX";
    if (!mkdtemp(dir)) return pt2_fail(err, PT2_ERR_IO, "cannot make a temporary directory: %s", strerror(errno));
    char script[64], input[64], jobs[64], output[2][64], error_file[160];
    snprintf(script, sizeof script, "%s/run_in_returnn.py", dir);
    snprintf(input, sizeof input, "%s/input.npy", dir);
    snprintf(jobs, sizeof jobs, "%s/jobs.json", dir);
    static const char *const forms[2] = {"py", "json"};
    pt2_strbuf npy, text, command;
    pt2_strbuf_init(&npy);
    pt2_strbuf_init(&text);
    pt2_strbuf_init(&command);
    pt2_status st = pt2_npy_write(arena, &result->input, &npy, err);
    if (!st) st = write_all(script, pt2_returnn_runner_script, pt2_returnn_runner_script_length, err);
    if (!st) st = write_all(input, npy.data, npy.length, err);
    pt2_strbuf_putc(&text, '[');
    for (int i = 0; i < 2; i++) {
        snprintf(output[i], sizeof output[i], "%s/output_%s.npy", dir, forms[i]);
        pt2_strbuf_puts(&text, i ? ", {\"out_dir\": " : "{\"out_dir\": ");
        pt2_json_write_string(&text, out_dir);
        pt2_strbuf_puts(&text, ", \"input\": ");
        pt2_json_write_string(&text, input);
        pt2_strbuf_puts(&text, ", \"output\": ");
        pt2_json_write_string(&text, output[i]);
        pt2_strbuf_printf(&text, ", \"config\": \"%s\"}", forms[i]);
    }
    pt2_strbuf_putc(&text, ']');
    if (!st) st = write_all(jobs, text.data, text.length, err);
    quote(&command, python);
    pt2_strbuf_putc(&command, ' ');
    quote(&command, script);
    pt2_strbuf_puts(&command, " --jobs ");
    quote(&command, jobs);
    pt2_strbuf_puts(&command, " >/dev/null 2>&1");
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    if (!st) {
        fprintf(stderr, "[returnn] loading the configs in RETURNN with %s\n", python);
        int code = system(command.data);
        if (code == -1 || !WIFEXITED(code) || WEXITSTATUS(code) != 0) {
            pt2_error_set_file(err, python);
            st = pt2_fail(err, PT2_ERR_INPUT, "the Python could not run the RETURNN check (is RETURNN with TensorFlow installed for it?)");
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    double seconds = (double)(end.tv_sec - start.tv_sec) + (end.tv_nsec - start.tv_nsec) * 1e-9;
    for (int i = 0; i < 2 && !st; i++) {
        /* Against PyTorch's own output when it was given, else the reference run's. */
        const pt2_tensor *expected = result->has_pytorch_output ? &result->pytorch_output : &result->reference_output;
        const char *what[2][2] = {
            {"returnn.config.py + checkpoint run in real RETURNN, against the reference run",
             "returnn.config.py + checkpoint run in real RETURNN, against PyTorch's outputs"},
            {"returnn.config.json + checkpoint run in real RETURNN, against the reference run",
             "returnn.config.json + checkpoint run in real RETURNN, against PyTorch's outputs"}};
        pt2_step_record step = {i ? "returnn-json" : "returnn-py", what[i][result->has_pytorch_output], seconds / 2, 1, 0,
                                INFINITY, INFINITY, INFINITY};
        const uint8_t *bytes;
        size_t length;
        pt2_tensor ours;
        pt2_error read_err;
        pt2_error_clear(&read_err);
        snprintf(error_file, sizeof error_file, "%s.error", output[i]);
        if (!pt2_cli_read_file(arena, output[i], &bytes, &length, &read_err) &&
            !pt2_npy_read(arena, bytes, length, output[i], &ours, &read_err)) {
            pt2_comparison cmp;
            pt2_compare_tensors(&ours, expected, result->atol, result->rtol, &cmp);
            step.passed = cmp.passed;
            step.max_abs = cmp.max_abs;
            step.max_rel = cmp.max_rel;
            step.worst_ratio = cmp.worst_ratio;
        } else {
            step.what = i ? "returnn.config.json could not be run in RETURNN (see the Python error above)"
                          : "returnn.config.py could not be run in RETURNN (see the Python error above)";
            const uint8_t *message;
            size_t message_length;
            if (!pt2_cli_read_file(arena, error_file, &message, &message_length, &read_err))
                fprintf(stderr, "%.*s", (int)message_length, (const char *)message);
        }
        st = pt2_convert_add_step(result, &step, err);
    }
    remove(script), remove(input), remove(jobs), remove(output[0]), remove(output[1]);
    for (int i = 0; i < 2; i++) {
        snprintf(error_file, sizeof error_file, "%s.error", output[i]);
        remove(error_file);
    }
    rmdir(dir);
    pt2_strbuf_free(&npy);
    pt2_strbuf_free(&text);
    pt2_strbuf_free(&command);
    return st;
}
