/* Python objects as read from a pickle by the allow-listed unpickler: plain data and tensors.
 * Nothing from a pickle is executed; every GLOBAL must be on the allow-list of what
 * torch.load(weights_only=True) accepts, and is interpreted by pt2returnn's own code. */
#ifndef PT2_LOAD_PYOBJ_H
#define PT2_LOAD_PYOBJ_H

#include <stddef.h>
#include <stdint.h>

#include "../base/arena.h"
#include "../base/error.h"
#include "../base/tensor.h"

typedef enum pt2_pyobj_kind {
    PT2_PY_NONE,
    PT2_PY_BOOL,
    PT2_PY_INT,   /* fits int64 */
    PT2_PY_FLOAT,
    PT2_PY_STRING, /* str */
    PT2_PY_BYTES,  /* bytes / bytearray */
    PT2_PY_LIST,
    PT2_PY_TUPLE,
    PT2_PY_SET,
    PT2_PY_DICT, /* dict and collections.OrderedDict; keys in insertion order */
    PT2_PY_TENSOR, /* torch.Tensor or nn.Parameter (see is_parameter) */
    PT2_PY_STORAGE, /* a storage reference not (yet) wrapped in a tensor */
    PT2_PY_DTYPE,   /* torch.float32 etc. */
    PT2_PY_DEVICE,  /* torch.device("cpu") */
    PT2_PY_SIZE,    /* torch.Size: items hold the ints */
    PT2_PY_GLOBAL   /* an allow-listed class or function object before it is applied */
} pt2_pyobj_kind;

typedef struct pt2_pyobj pt2_pyobj;
struct pt2_pyobj {
    pt2_pyobj_kind kind;
    int64_t int_value;   /* BOOL, INT */
    double float_value;  /* FLOAT */
    const char *string;  /* STRING, BYTES (not NUL-safe for BYTES: use length), GLOBAL ("module.name"), DEVICE */
    size_t length;       /* STRING/BYTES byte length */
    size_t count;        /* LIST, TUPLE, SET, DICT (pairs), SIZE */
    size_t capacity;     /* allocated slots of items/keys (growing containers) */
    int depth;           /* nesting depth of containers below and including this one */
    pt2_pyobj **items;   /* LIST/TUPLE/SET/SIZE items; DICT values */
    pt2_pyobj **keys;    /* DICT keys */
    pt2_tensor tensor;   /* TENSOR; STORAGE uses dtype, storage, storage_bytes */
    pt2_dtype dtype;     /* DTYPE */
    int is_parameter;    /* TENSOR came from nn.Parameter / _rebuild_parameter */
    int requires_grad;
    const char *storage_key; /* STORAGE/TENSOR: the record key ("0", "1", ...) */
    int is_contained; /* placed inside a container: from then on it may not change, which keeps
                         `depth` exact and makes cycles impossible */
};

/* Resolves a persistent id ('storage', StorageClass, key, location, numel) to bytes. */
typedef pt2_status (*pt2_storage_resolver)(void *context, const char *key, pt2_dtype dtype, uint64_t numel,
                                          void **storage, size_t *storage_bytes, pt2_error *err);

typedef struct pt2_pickle_source {
    const uint8_t *bytes;
    size_t length;
    const char *file_name;  /* for errors */
    const char *entry_name; /* for errors, e.g. "model/data.pkl" */
    pt2_storage_resolver resolve_storage; /* may be NULL when no tensors are expected */
    void *resolver_context;
} pt2_pickle_source;

#define PT2_PICKLE_MAX_DEPTH 1000 /* nesting of containers and of the MARK stack */

pt2_status pt2_unpickle(pt2_arena *arena, const pt2_pickle_source *source, pt2_pyobj **out, pt2_error *err);

/* Dict lookup by string key; NULL if absent or not a dict. */
const pt2_pyobj *pt2_pyobj_dict_get(const pt2_pyobj *dict, const char *key);
const char *pt2_pyobj_kind_name(pt2_pyobj_kind kind);

#endif
