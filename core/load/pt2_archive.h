/* The .pt2 archive of torch.export.save (torch >= 2.8): graph JSON into the graph IR, the
 * weights through the payload configs, and the example inputs. */
#ifndef PT2_LOAD_PT2_ARCHIVE_H
#define PT2_LOAD_PT2_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>

#include "../base/arena.h"
#include "../base/error.h"
#include "../graph/graph.h"

pt2_status pt2_archive_load(pt2_arena *arena, const uint8_t *bytes, size_t length, const char *file_name,
                            pt2_graph *out, pt2_error *err);

#endif
