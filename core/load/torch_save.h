/* torch.save checkpoints (the zip format): data.pkl through the allow-listed unpickler,
 * storages from data/<key>. Also selection of a nested entry by key path. */
#ifndef PT2_LOAD_TORCH_SAVE_H
#define PT2_LOAD_TORCH_SAVE_H

#include "../base/arena.h"
#include "../base/error.h"
#include "named_tensors.h"
#include "pyobj.h"
#include "zip.h"

/* Reads a whole torch.save file held in memory. A legacy (non-zip) file gets a clear error. */
pt2_status pt2_torch_load(pt2_arena *arena, const uint8_t *bytes, size_t length, const char *file_name,
                          pt2_pyobj **out, pt2_error *err);

/* The usual way to read a checkpoint: load, select `key_path` (NULL or "" for the root), require
 * a dict and flatten it, all under one reader memory bound for the file. */
pt2_status pt2_torch_load_state_dict(pt2_arena *arena, const uint8_t *bytes, size_t length, const char *file_name,
                                     const char *key_path, pt2_named_tensors *out, pt2_error *err);

/* Same, on an entry of an already opened zip holding a nested torch.save zip or a pickle
 * whose storages live in `zip` under "<root>/<storage_prefix><key>" (e.g. "data/"). */
pt2_status pt2_torch_load_pickle_in_zip(pt2_arena *arena, const pt2_zip *zip, const char *pickle_entry,
                                        const char *storage_prefix, pt2_pyobj **out, pt2_error *err);

/* Follows a dotted key path ("model.generator") through nested dicts; "" selects the root.
 * A key that itself contains dots is matched greedily (longest key first). On a miss the
 * error lists the keys available at that level. */
pt2_status pt2_pyobj_select(const pt2_pyobj *root, const char *key_path, const char *file_name,
                            const pt2_pyobj **out, pt2_error *err);

/* Flattens a (possibly nested) dict of tensors into "a.b.c" names; non-tensor leaves are
 * skipped (they are metadata such as "step"), and "_metadata" is ignored. */
pt2_status pt2_pyobj_to_state_dict(pt2_arena *arena, const pt2_pyobj *dict, pt2_named_tensors *out,
                                   pt2_error *err);

#endif
