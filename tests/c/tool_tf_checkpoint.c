/* Test-only tool for the TensorFlow interop tests:
 *   tool_tf_checkpoint write PREFIX NAME=FILE.npy ...   writes PREFIX.index + PREFIX.data-00000-of-00001
 *   tool_tf_checkpoint dump PREFIX OUTDIR                writes OUTDIR/<name with / as __>.npy + names.txt */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/base/npy.h"
#include "core/emit/tf_checkpoint.h"

#define MAX_VARIABLES 256

/* Everything the commands allocate lives here, so main releases it on every path and the
 * tool exits cleanly under LeakSanitizer (the interop tests may run the sanitizer build). */
typedef struct tool_state {
    pt2_arena arena;
    pt2_error err;
    pt2_strbuf index, data, names, npy;
    char path[4096];
} tool_state;

static int write_checkpoint(tool_state *s, const char *prefix, int pair_count, char **pairs) {
    pt2_tf_variable vars[MAX_VARIABLES] = {0};
    size_t count = 0;
    if (pair_count > MAX_VARIABLES) {
        fprintf(stderr, "tool_tf_checkpoint: at most %d variables, got %d\n", MAX_VARIABLES, pair_count);
        return 2;
    }
    for (int i = 0; i < pair_count; i++) {
        char *eq = strchr(pairs[i], '=');
        if (!eq) {
            fprintf(stderr, "tool_tf_checkpoint: expected NAME=FILE.npy, got '%s'\n", pairs[i]);
            return 2;
        }
        *eq = 0;
        const uint8_t *bytes;
        size_t length;
        if (pt2_cli_read_file(&s->arena, eq + 1, &bytes, &length, &s->err) ||
            pt2_npy_read(&s->arena, bytes, length, eq + 1, &vars[count].tensor, &s->err))
            return 1;
        vars[count++].name = pairs[i];
    }
    pt2_error_set_file(&s->err, prefix);
    if (pt2_tf_checkpoint_write(&s->arena, vars, count, &s->index, &s->data, &s->err)) return 1;
    snprintf(s->path, sizeof s->path, "%s.index", prefix);
    if (pt2_cli_write_file_atomic(s->path, s->index.data, s->index.length, &s->err)) return 1;
    snprintf(s->path, sizeof s->path, "%s.data-00000-of-00001", prefix);
    if (pt2_cli_write_file_atomic(s->path, s->data.data, s->data.length, &s->err)) return 1;
    return 0;
}

static int dump_checkpoint(tool_state *s, const char *prefix, const char *out_dir) {
    const uint8_t *index, *data;
    size_t index_length, data_length, count;
    pt2_tf_variable *vars;
    snprintf(s->path, sizeof s->path, "%s.index", prefix);
    if (pt2_cli_read_file(&s->arena, s->path, &index, &index_length, &s->err)) return 1;
    snprintf(s->path, sizeof s->path, "%s.data-00000-of-00001", prefix);
    if (pt2_cli_read_file(&s->arena, s->path, &data, &data_length, &s->err)) return 1;
    if (pt2_tf_checkpoint_read(&s->arena, index, index_length, data, data_length, PT2_TF_CHECK_DATA_CRC, prefix, &vars, &count, &s->err))
        return 1;
    for (size_t i = 0; i < count; i++) {
        /* Slashes become "__" so every variable is one file directly in OUTDIR. */
        char file[1024];
        size_t n = 0;
        for (const char *c = vars[i].name; *c && n + 3 < sizeof file; c++) {
            if (*c == '/') {
                file[n++] = '_';
                file[n++] = '_';
            } else {
                file[n++] = *c;
            }
        }
        file[n] = 0;
        s->npy.length = 0;
        snprintf(s->path, sizeof s->path, "%s/%s.npy", out_dir, file);
        if (pt2_npy_write(&s->arena, &vars[i].tensor, &s->npy, &s->err) ||
            pt2_cli_write_file_atomic(s->path, s->npy.data, s->npy.length, &s->err))
            return 1;
        pt2_strbuf_printf(&s->names, "%s\n", vars[i].name);
    }
    snprintf(s->path, sizeof s->path, "%s/names.txt", out_dir);
    if (pt2_cli_write_file_atomic(s->path, s->names.data ? s->names.data : "", s->names.length, &s->err)) return 1;
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: tool_tf_checkpoint write PREFIX NAME=FILE.npy ... | dump PREFIX OUTDIR\n");
        return 2;
    }
    static tool_state state;
    pt2_arena_init(&state.arena, 0);
    pt2_error_clear(&state.err);
    pt2_strbuf_init(&state.index);
    pt2_strbuf_init(&state.data);
    pt2_strbuf_init(&state.names);
    pt2_strbuf_init(&state.npy);
    int result;
    if (!strcmp(argv[1], "write")) {
        result = write_checkpoint(&state, argv[2], argc - 3, argv + 3);
    } else if (!strcmp(argv[1], "dump") && argc == 4) {
        result = dump_checkpoint(&state, argv[2], argv[3]);
    } else {
        fprintf(stderr, "tool_tf_checkpoint: unknown command '%s' or wrong argument count\n", argv[1]);
        result = 2;
    }
    if (result == 1) {
        char line[2048];
        pt2_error_format(&state.err, line, sizeof line);
        fprintf(stderr, "tool_tf_checkpoint: %s\n", line);
        result = 2;
    }
    pt2_strbuf_free(&state.index);
    pt2_strbuf_free(&state.data);
    pt2_strbuf_free(&state.names);
    pt2_strbuf_free(&state.npy);
    pt2_arena_free(&state.arena);
    return result;
}
