#include <stdio.h>
#include <string.h>

#include "../core/base/strbuf.h"
#include "../core/inspect/inspect.h"
#include "cli.h"

static const char inspect_help[] =
    "usage: pt2returnn inspect FILE [--json] [--checkpoint-key KEY.PATH]\n"
    "\n"
    "Shows what FILE holds. FILE is a torch.export archive (.pt2), a torch.save\n"
    "checkpoint or a .safetensors file; the kind is recognised from the bytes.\n"
    "\n"
    "  .pt2         inputs with their dims (which are dynamic, and their ranges),\n"
    "               outputs, an op histogram, the module tree, the parameters\n"
    "  torch.save   every tensor by its key path (e.g. model.generator.conv.weight)\n"
    "  safetensors  every tensor\n"
    "\n"
    "options:\n"
    "  --json                  print the same as JSON (schema: docs/inspect-json.md)\n"
    "  --checkpoint-key PATH   torch.save only: list the entry at this dotted key path\n"
    "  -h, --help              show this help\n"
    "\n"
    "Pickles are never executed: only what torch.load(weights_only=True) accepts is read.\n"
    "exit codes: 0 ok, 2 bad or unsupported input, 3 internal error\n";

int pt2_cmd_inspect(int argc, char **argv) {
    const char *path = NULL;
    pt2_inspect_options options = {0};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(inspect_help, stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            options.json = 1;
        } else if (!strcmp(a, "--checkpoint-key")) {
            if (i + 1 >= argc) return pt2_cli_usage_error("inspect", "--checkpoint-key needs a value");
            options.checkpoint_key = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            return pt2_cli_usage_error("inspect", "unknown option '%s'", a);
        } else if (!path) {
            path = a;
        } else {
            return pt2_cli_usage_error("inspect", "one FILE expected, got '%s' as well", a);
        }
    }
    if (!path) return pt2_cli_usage_error("inspect", "missing FILE");

    pt2_arena arena;
    pt2_arena_init(&arena, (size_t)16 << 30);
    pt2_error err;
    pt2_error_clear(&err);
    pt2_strbuf out;
    pt2_strbuf_init(&out);
    const uint8_t *bytes;
    size_t length;
    pt2_status st = pt2_cli_read_file(&arena, path, &bytes, &length, &err);
    if (!st) st = pt2_inspect(&arena, bytes, length, path, &options, &out, &err);
    int code = 0;
    if (st) {
        pt2_error_set_file(&err, path);
        code = pt2_cli_report_error(&err);
    } else {
        fwrite(out.data, 1, out.length, stdout);
    }
    pt2_strbuf_free(&out);
    pt2_arena_free(&arena);
    return code;
}
