/* TensorFlow checkpoints (V2 tensor bundle): `P.index`, a LevelDB-style table of entry protos,
 * and `P.data-00000-of-00001`, the tensors' bytes. The writer's output is byte-identical for
 * the same variables and matches what TensorFlow's BundleWriter writes. */
#ifndef PT2_EMIT_TF_CHECKPOINT_H
#define PT2_EMIT_TF_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "../base/arena.h"
#include "../base/error.h"
#include "../base/strbuf.h"
#include "../base/tensor.h"

typedef struct pt2_tf_variable {
    const char *name; /* e.g. "conv1/W", "global_step" */
    pt2_tensor tensor;
    const pt2_block_order *blocks; /* NULL, or the order of tensor's blocks to write (see tensor.h) */
} pt2_tf_variable;

/* Keys are sorted bytewise; tensors are written C-contiguous whatever their strides.
 * `scratch` holds temporary copies. Duplicate or empty names are errors. */
pt2_status pt2_tf_checkpoint_write(pt2_arena *scratch, const pt2_tf_variable *variables, size_t count,
                                   pt2_strbuf *index_out, pt2_strbuf *data_out, pt2_error *err);
/* The same, releasing each variable's memory from `owner` once its bytes are written and no later
 * variable shares its storage (pt2_arena_release: a block of its own there, a weight the lowering
 * made anew; pt2_arena_release_part: a view of a model file the arena took with a
 * give_back_part, the CLI's mapped file, whose pages then go): the weights are then held twice
 * (as the model's and in the checkpoint) one variable at a time, not all at once. The variables'
 * memory may not be read after this. *peak: the most that owner's root arena used plus the data
 * written so far reached while writing (the data's buffer is reserved whole at the start, but only
 * its written pages are memory). */
pt2_status pt2_tf_checkpoint_write_releasing(pt2_arena *scratch, const pt2_tf_variable *variables, size_t count,
                                             pt2_arena *owner, size_t *peak, pt2_strbuf *index_out,
                                             pt2_strbuf *data_out, pt2_error *err);

/* What the reader does with each entry's CRC-32C of its bytes in the data file: checks it (a
 * checkpoint from elsewhere), or takes it as written (bytes pt2_tf_checkpoint_write summed from
 * the data buffer a moment ago in this process: summing them again checks the same function on
 * the same bytes, and the reload compares the values they hold anyway; a wrong offset or size is
 * still caught). In WebAssembly, without a CRC instruction, a pass over the weights costs about
 * 0.8 ms a MiB. */
typedef enum { PT2_TF_CHECK_DATA_CRC, PT2_TF_DATA_CRC_AS_WRITTEN } pt2_tf_data_crc;

/* Reads a bundle held in memory, checking the footer magic, every block CRC, every entry's
 * offset, size and (PT2_TF_CHECK_DATA_CRC) CRC. Tensors point into `data`. */
pt2_status pt2_tf_checkpoint_read(pt2_arena *arena, const uint8_t *index, size_t index_length, const uint8_t *data,
                                  size_t data_length, pt2_tf_data_crc data_crc, const char *file_name,
                                  pt2_tf_variable **variables, size_t *count, pt2_error *err);

#endif
