/* `inspect`: what a file holds, as text for people or JSON for tools (schema in
 * docs/inspect-json.md). Understands .pt2 archives, torch.save checkpoints and safetensors. */
#ifndef PT2_INSPECT_INSPECT_H
#define PT2_INSPECT_INSPECT_H

#include <stddef.h>
#include <stdint.h>

#include "../base/arena.h"
#include "../base/error.h"
#include "../base/strbuf.h"

typedef enum pt2_file_format {
    PT2_FORMAT_UNKNOWN,
    PT2_FORMAT_PT2,
    PT2_FORMAT_TORCH_SAVE,
    PT2_FORMAT_SAFETENSORS
} pt2_file_format;

/* Recognises a file by its first bytes (and, for zips, by the entries inside). */
pt2_file_format pt2_detect_format(pt2_arena *arena, const uint8_t *bytes, size_t length);
const char *pt2_format_name(pt2_file_format format);

typedef struct pt2_inspect_options {
    int json;
    const char *checkpoint_key; /* torch.save only: list the subtree at this key path */
} pt2_inspect_options;

pt2_status pt2_inspect(pt2_arena *arena, const uint8_t *bytes, size_t length, const char *file_name,
                       const pt2_inspect_options *options, pt2_strbuf *out, pt2_error *err);

#endif
