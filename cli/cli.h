/* The native command-line front end: file I/O and the subcommands. The core never touches
 * files itself (the WASM build has none); the CLI reads bytes and writes results. */
#ifndef PT2_CLI_CLI_H
#define PT2_CLI_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "../core/base/arena.h"
#include "../core/base/error.h"
#include "../core/graph/graph.h"
#include "../core/load/load_model.h"
#include "../core/pipeline/convert.h"

/* Exit codes shared with the Node CLI: 0 success, 1 a verification step failed,
 * 2 bad input / unsupported / usage, 3 internal error or out of memory. */
int pt2_cli_exit_code(pt2_status status);
/* Prints "pt2returnn: <one-line error>" to stderr and returns the exit code. */
int pt2_cli_report_error(const pt2_error *err);
int pt2_cli_usage_error(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reads a whole file into the arena. Errors name the path. */
pt2_status pt2_cli_read_file(pt2_arena *arena, const char *path, const uint8_t **bytes, size_t *length,
                             pt2_error *err);
/* Writes to "<path>.tmp-<pid>" then renames, so a failure never leaves a half-written file. */
pt2_status pt2_cli_write_file_atomic(const char *path, const void *data, size_t length, pt2_error *err);
/* rename(tmp, path), a file of the same name removed first: on ext4, a rename over an existing
 * file makes the kernel allocate and start writing the new file's blocks then and there
 * (auto_da_alloc), which took 5 ms of a 46 ms conversion for a 5 MiB checkpoint, and grows with
 * the file; a rename to a free name leaves them to the usual writeback. 0 or -1 with errno. */
int pt2_cli_rename_into_place(const char *tmp, const char *path);

/* Reads the model (and a checkpoint, applied by key path: strictly unless
 * allow_checkpoint_mismatch), reporting on stderr what the checkpoint supplied. */
pt2_status pt2_cli_load_model(pt2_arena *arena, const char *model_path, const char *checkpoint_path,
                              const char *checkpoint_key, int allow_checkpoint_mismatch, pt2_graph *graph,
                              pt2_error *err);

/* convert --returnn: runs the written configs in real RETURNN with `python` and adds the steps
 * "returnn-py" and "returnn-json" to the result's reports (as_layer: the network is the
 * subnetwork layer of that name, --as-layer). */
pt2_status pt2_cli_check_in_returnn(pt2_arena *arena, const char *python, const char *out_dir, const char *as_layer,
                                    pt2_convert_result *result, pt2_error *err);

int pt2_cmd_inspect(int argc, char **argv);
int pt2_cmd_convert(int argc, char **argv);
int pt2_cmd_run(int argc, char **argv);


#endif
