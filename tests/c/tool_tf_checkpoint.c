/* Test-only tool for the TensorFlow interop tests:
 *   tool_tf_checkpoint write PREFIX NAME=FILE.npy ...   writes PREFIX.index + PREFIX.data-00000-of-00001
 *   tool_tf_checkpoint dump PREFIX OUTDIR                writes OUTDIR/<name with / as __>.npy + names.txt */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/base/npy.h"
#include "core/emit/tf_checkpoint.h"

static int fail(const pt2_error *err) {
    char line[2048];
    pt2_error_format(err, line, sizeof line);
    fprintf(stderr, "tool_tf_checkpoint: %s\n", line);
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: tool_tf_checkpoint write PREFIX NAME=FILE.npy ... | dump PREFIX OUTDIR\n");
        return 2;
    }
    pt2_arena arena;
    pt2_arena_init(&arena, 0);
    pt2_error err;
    pt2_error_clear(&err);
    char path[4096];
    if (!strcmp(argv[1], "write")) {
        pt2_tf_variable vars[256];
        size_t count = 0;
        for (int i = 3; i < argc && count < 256; i++) {
            char *eq = strchr(argv[i], '=');
            if (!eq) return 2;
            *eq = 0;
            const uint8_t *bytes;
            size_t length;
            if (pt2_cli_read_file(&arena, eq + 1, &bytes, &length, &err) ||
                pt2_npy_read(&arena, bytes, length, eq + 1, &vars[count].tensor, &err))
                return fail(&err);
            vars[count++].name = argv[i];
        }
        pt2_strbuf index, data;
        pt2_strbuf_init(&index);
        pt2_strbuf_init(&data);
        if (pt2_tf_checkpoint_write(&arena, vars, count, &index, &data, &err)) return fail(&err);
        snprintf(path, sizeof path, "%s.index", argv[2]);
        if (pt2_cli_write_file_atomic(path, index.data, index.length, &err)) return fail(&err);
        snprintf(path, sizeof path, "%s.data-00000-of-00001", argv[2]);
        if (pt2_cli_write_file_atomic(path, data.data, data.length, &err)) return fail(&err);
        return 0;
    }
    if (!strcmp(argv[1], "dump") && argc == 4) {
        const uint8_t *index, *data;
        size_t index_length, data_length, count;
        pt2_tf_variable *vars;
        snprintf(path, sizeof path, "%s.index", argv[2]);
        if (pt2_cli_read_file(&arena, path, &index, &index_length, &err)) return fail(&err);
        snprintf(path, sizeof path, "%s.data-00000-of-00001", argv[2]);
        if (pt2_cli_read_file(&arena, path, &data, &data_length, &err)) return fail(&err);
        if (pt2_tf_checkpoint_read(&arena, index, index_length, data, data_length, argv[2], &vars, &count, &err))
            return fail(&err);
        pt2_strbuf names;
        pt2_strbuf_init(&names);
        for (size_t i = 0; i < count; i++) {
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
            pt2_strbuf npy;
            pt2_strbuf_init(&npy);
            snprintf(path, sizeof path, "%s/%s.npy", argv[3], file);
            if (pt2_npy_write(&arena, &vars[i].tensor, &npy, &err) || pt2_cli_write_file_atomic(path, npy.data, npy.length, &err))
                return fail(&err);
            pt2_strbuf_free(&npy);
            pt2_strbuf_printf(&names, "%s\n", vars[i].name);
        }
        snprintf(path, sizeof path, "%s/names.txt", argv[3]);
        if (pt2_cli_write_file_atomic(path, names.data ? names.data : "", names.length, &err)) return fail(&err);
        return 0;
    }
    fprintf(stderr, "tool_tf_checkpoint: unknown command '%s'\n", argv[1]);
    return 2;
}
