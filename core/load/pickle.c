/* The allow-listed unpickler. It interprets pickle opcodes with a value stack, as Python's
 * does, but never calls anything: each GLOBAL must be on the allow-list below (what
 * torch.load(weights_only=True) accepts) and REDUCE/NEWOBJ/BUILD on those globals are
 * carried out by our own code. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "pyobj.h"

typedef enum global_kind {
    GLOBAL_ORDERED_DICT,
    GLOBAL_REBUILD_TENSOR,    /* _rebuild_tensor_v2 / _rebuild_tensor */
    GLOBAL_REBUILD_PARAMETER, /* _rebuild_parameter(_with_state) */
    GLOBAL_PARAMETER,         /* torch.nn.parameter.Parameter */
    GLOBAL_STORAGE_CLASS,     /* torch.FloatStorage, ... */
    GLOBAL_DTYPE,             /* torch.float32, ... */
    GLOBAL_SIZE,
    GLOBAL_DEVICE,
    GLOBAL_CODECS_ENCODE,
    GLOBAL_BYTEARRAY,
    GLOBAL_SET,
    GLOBAL_REBUILD_FROM_TYPE, /* torch._tensor._rebuild_from_type_v2 (tensors saved with Python attributes) */
    GLOBAL_TENSOR_TYPE        /* torch.Tensor, only as _rebuild_from_type_v2's type */
} global_kind;

static const struct {
    const char *name;
    global_kind kind;
    pt2_dtype dtype;
} allowed_globals[] = {
    {"collections.OrderedDict", GLOBAL_ORDERED_DICT, 0},
    {"torch._utils._rebuild_tensor_v2", GLOBAL_REBUILD_TENSOR, 0},
    {"torch._utils._rebuild_tensor", GLOBAL_REBUILD_TENSOR, 0},
    {"torch._utils._rebuild_parameter", GLOBAL_REBUILD_PARAMETER, 0},
    {"torch._utils._rebuild_parameter_with_state", GLOBAL_REBUILD_PARAMETER, 0},
    {"torch.nn.parameter.Parameter", GLOBAL_PARAMETER, 0},
    {"torch.FloatStorage", GLOBAL_STORAGE_CLASS, PT2_DTYPE_FLOAT32},
    {"torch.DoubleStorage", GLOBAL_STORAGE_CLASS, PT2_DTYPE_FLOAT64},
    {"torch.HalfStorage", GLOBAL_STORAGE_CLASS, PT2_DTYPE_FLOAT16},
    {"torch.BFloat16Storage", GLOBAL_STORAGE_CLASS, PT2_DTYPE_BFLOAT16},
    {"torch.LongStorage", GLOBAL_STORAGE_CLASS, PT2_DTYPE_INT64},
    {"torch.IntStorage", GLOBAL_STORAGE_CLASS, PT2_DTYPE_INT32},
    {"torch.ShortStorage", GLOBAL_STORAGE_CLASS, PT2_DTYPE_INT16},
    {"torch.CharStorage", GLOBAL_STORAGE_CLASS, PT2_DTYPE_INT8},
    {"torch.ByteStorage", GLOBAL_STORAGE_CLASS, PT2_DTYPE_UINT8},
    {"torch.BoolStorage", GLOBAL_STORAGE_CLASS, PT2_DTYPE_BOOL},
    {"torch.float32", GLOBAL_DTYPE, PT2_DTYPE_FLOAT32},
    {"torch.float64", GLOBAL_DTYPE, PT2_DTYPE_FLOAT64},
    {"torch.float16", GLOBAL_DTYPE, PT2_DTYPE_FLOAT16},
    {"torch.bfloat16", GLOBAL_DTYPE, PT2_DTYPE_BFLOAT16},
    {"torch.int64", GLOBAL_DTYPE, PT2_DTYPE_INT64},
    {"torch.int32", GLOBAL_DTYPE, PT2_DTYPE_INT32},
    {"torch.int16", GLOBAL_DTYPE, PT2_DTYPE_INT16},
    {"torch.int8", GLOBAL_DTYPE, PT2_DTYPE_INT8},
    {"torch.uint8", GLOBAL_DTYPE, PT2_DTYPE_UINT8},
    {"torch.bool", GLOBAL_DTYPE, PT2_DTYPE_BOOL},
    {"torch.Size", GLOBAL_SIZE, 0},
    {"torch.device", GLOBAL_DEVICE, 0},
    {"_codecs.encode", GLOBAL_CODECS_ENCODE, 0},
    {"builtins.bytearray", GLOBAL_BYTEARRAY, 0},
    {"builtins.set", GLOBAL_SET, 0},
    {"torch._tensor._rebuild_from_type_v2", GLOBAL_REBUILD_FROM_TYPE, 0},
    {"torch.Tensor", GLOBAL_TENSOR_TYPE, 0},
};

typedef struct unpickler {
    pt2_arena *arena;
    const pt2_pickle_source *source;
    pt2_error *err;
    const uint8_t *p;
    size_t pos;
    size_t length;
    pt2_pyobj **stack;
    size_t stack_count, stack_capacity;
    size_t *marks;
    size_t mark_count, mark_capacity;
    pt2_pyobj **memo;
    size_t memo_capacity;
    size_t memo_next; /* MEMOIZE's implicit key */
    pt2_pyobj *none, *true_value, *false_value;
    struct dict_slot *dict_keys; /* string and int keys of every dict, hashed: see find_dict_key */
    size_t dict_keys_count, dict_keys_capacity;
} unpickler;

static pt2_status unpickle(pt2_arena *arena, const pt2_pickle_source *source, pt2_pyobj **out, pt2_error *err);

static pt2_status fail(unpickler *u, pt2_status status, const char *fmt, const char *detail) {
    pt2_error_set_file(u->err, u->source->file_name);
    pt2_error_set_entry(u->err, u->source->entry_name);
    return pt2_fail(u->err, status, fmt, detail);
}

static pt2_status fail_at(unpickler *u, const char *what) {
    char text[200];
    snprintf(text, sizeof text, "%s (pickle byte %zu)", what, u->pos);
    return fail(u, PT2_ERR_INPUT, "invalid pickle: %s", text);
}

static pt2_pyobj *new_obj(unpickler *u, pt2_pyobj_kind kind) {
    pt2_pyobj *o = pt2_arena_alloc(u->arena, sizeof *o, u->err);
    if (o) o->kind = kind;
    return o;
}

static pt2_status push(unpickler *u, pt2_pyobj *o) {
    if (!o) return u->err->status;
    pt2_pyobj **grown =
        pt2_arena_grow(u->arena, u->stack, u->stack_count, &u->stack_capacity, sizeof *grown, u->err);
    if (!grown) return u->err->status;
    u->stack = grown;
    u->stack[u->stack_count++] = o;
    return PT2_OK;
}

static pt2_status pop(unpickler *u, pt2_pyobj **out) {
    size_t floor = u->mark_count ? u->marks[u->mark_count - 1] : 0;
    if (u->stack_count <= floor) return fail_at(u, "stack underflow");
    *out = u->stack[--u->stack_count];
    return PT2_OK;
}

static pt2_status top(unpickler *u, pt2_pyobj **out) {
    if (!u->stack_count) return fail_at(u, "stack underflow");
    *out = u->stack[u->stack_count - 1];
    return PT2_OK;
}

/* Pops everything above the last MARK; *items points into the stack (copy before pushing). */
static pt2_status pop_mark(unpickler *u, pt2_pyobj ***items, size_t *count) {
    if (!u->mark_count) return fail_at(u, "no MARK on the stack");
    size_t start = u->marks[--u->mark_count];
    /* An empty stack has no array yet: NULL + 0 is undefined behaviour in C. */
    *items = u->stack ? u->stack + start : NULL;
    *count = u->stack_count - start;
    u->stack_count = start;
    return PT2_OK;
}

static int need(unpickler *u, size_t n) { return u->length - u->pos >= n; }

static pt2_status read_bytes(unpickler *u, size_t n, const uint8_t **out) {
    if (!need(u, n)) {
        char text[160];
        snprintf(text, sizeof text, "length field claims %zu bytes but only %zu remain (truncated)", n,
                 u->length - u->pos);
        return fail_at(u, text);
    }
    *out = u->p + u->pos;
    u->pos += n;
    return PT2_OK;
}

static uint64_t little_endian(const uint8_t *b, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | b[i];
    return v;
}

static int container_depth(const pt2_pyobj *o) { return o ? o->depth : 0; }

static pt2_status note_child(unpickler *u, pt2_pyobj *parent, pt2_pyobj *child) {
    if (!child) return PT2_OK;
    child->is_contained = 1;
    int d = container_depth(child) + 1;
    if (d > parent->depth) parent->depth = d;
    if (parent->depth > PT2_PICKLE_MAX_DEPTH) {
        char text[64];
        snprintf(text, sizeof text, "%d", PT2_PICKLE_MAX_DEPTH);
        return fail(u, PT2_ERR_INPUT, "pickle is nested deeper than %s levels", text);
    }
    return PT2_OK;
}

static pt2_status make_sequence(unpickler *u, pt2_pyobj_kind kind, pt2_pyobj **items, size_t count,
                                pt2_pyobj **out) {
    pt2_pyobj *o = new_obj(u, kind);
    if (!o) return u->err->status;
    if (count) {
        o->items = pt2_arena_alloc_array(u->arena, count, sizeof *o->items, u->err);
        if (!o->items) return u->err->status;
        memcpy(o->items, items, count * sizeof *items);
    }
    o->count = o->capacity = count;
    o->depth = 1;
    for (size_t i = 0; i < count; i++) {
        pt2_status st = note_child(u, o, items[i]);
        if (st) return st;
    }
    *out = o;
    return PT2_OK;
}

/* A repeated dict key replaces the value, as in Python. Scanning a dict's keys for each new one
 * would be quadratic (a fuzzed 16 KB pickle of 15000 keys took seconds), so the string and int
 * keys of all dicts sit in one open-addressing table, by (dict, key). Other keys (None, tuples)
 * never compare equal here. */
typedef struct dict_slot {
    const pt2_pyobj *dict; /* NULL: empty slot */
    uint64_t hash;
    size_t index; /* into dict->keys */
} dict_slot;

static int hashable_key(const pt2_pyobj *key) { return key->kind == PT2_PY_STRING || key->kind == PT2_PY_INT; }

static uint64_t dict_key_hash(const pt2_pyobj *dict, const pt2_pyobj *key) {
    uint64_t h = 14695981039346656037ull; /* FNV-1a */
    uintptr_t d = (uintptr_t)dict;
    for (size_t i = 0; i < sizeof d; i++) h = (h ^ ((d >> (8 * i)) & 0xff)) * 1099511628211ull;
    h = (h ^ (uint64_t)key->kind) * 1099511628211ull;
    if (key->kind == PT2_PY_STRING)
        for (size_t i = 0; i < key->length; i++) h = (h ^ (uint8_t)key->string[i]) * 1099511628211ull;
    else
        for (int i = 0; i < 8; i++) h = (h ^ (((uint64_t)key->int_value >> (8 * i)) & 0xff)) * 1099511628211ull;
    return h;
}

static int same_key(const pt2_pyobj *a, const pt2_pyobj *b) {
    return a->kind == b->kind &&
           ((a->kind == PT2_PY_STRING && a->length == b->length && !memcmp(a->string, b->string, a->length)) ||
            (a->kind == PT2_PY_INT && a->int_value == b->int_value));
}

/* The slot holding `key` in `dict`, or the empty slot where it would go. */
static dict_slot *find_dict_key(unpickler *u, const pt2_pyobj *dict, const pt2_pyobj *key, uint64_t hash) {
    size_t mask = u->dict_keys_capacity - 1;
    for (size_t i = (size_t)hash & mask;; i = (i + 1) & mask) {
        dict_slot *slot = &u->dict_keys[i];
        if (!slot->dict || (slot->dict == dict && slot->hash == hash && same_key(dict->keys[slot->index], key)))
            return slot;
    }
}

static pt2_status remember_dict_key(unpickler *u, const pt2_pyobj *dict, const pt2_pyobj *key, uint64_t hash,
                                    size_t index) {
    if ((u->dict_keys_count + 1) * 2 > u->dict_keys_capacity) { /* at most half full */
        size_t capacity = u->dict_keys_capacity ? u->dict_keys_capacity * 2 : 64;
        dict_slot *old = u->dict_keys;
        size_t old_capacity = u->dict_keys_capacity;
        u->dict_keys = pt2_arena_alloc_array(u->arena, capacity, sizeof *u->dict_keys, u->err);
        if (!u->dict_keys) return u->err->status;
        u->dict_keys_capacity = capacity;
        for (size_t i = 0; i < old_capacity; i++)
            if (old[i].dict) {
                size_t mask = capacity - 1, j = (size_t)old[i].hash & mask;
                while (u->dict_keys[j].dict) j = (j + 1) & mask;
                u->dict_keys[j] = old[i];
            }
    }
    dict_slot *slot = find_dict_key(u, dict, key, hash);
    *slot = (dict_slot){dict, hash, index};
    u->dict_keys_count++;
    return PT2_OK;
}

static pt2_status append_item(unpickler *u, pt2_pyobj *container, pt2_pyobj *key, pt2_pyobj *value) {
    /* Python's pickler fills a container before placing it in its parent; only cyclic data
     * (a list holding itself, ...) changes one afterwards. Refusing that keeps every object a
     * finite tree-like DAG whose `depth` stays exact. */
    if (container->is_contained || value == container || key == container)
        return fail_at(u, "a container is changed after being placed inside another (cyclic data is not supported)");
    if (key) {
        pt2_status st = note_child(u, container, key);
        if (st) return st;
    }
    uint64_t hash = 0;
    int hashed = container->kind == PT2_PY_DICT && key && hashable_key(key);
    if (hashed) {
        hash = dict_key_hash(container, key);
        const dict_slot *slot = u->dict_keys_capacity ? find_dict_key(u, container, key, hash) : NULL;
        if (slot && slot->dict) {
            container->items[slot->index] = value;
            return note_child(u, container, value);
        }
    }
    if (container->count == container->capacity) {
        size_t capacity = container->capacity;
        pt2_pyobj **items =
            pt2_arena_grow(u->arena, container->items, container->count, &capacity, sizeof *items, u->err);
        if (!items) return u->err->status;
        if (container->kind == PT2_PY_DICT) {
            size_t key_capacity = container->capacity;
            pt2_pyobj **keys =
                pt2_arena_grow(u->arena, container->keys, container->count, &key_capacity, sizeof *keys, u->err);
            if (!keys) return u->err->status;
            container->keys = keys;
        }
        container->items = items;
        container->capacity = capacity;
    }
    if (container->kind == PT2_PY_DICT) container->keys[container->count] = key;
    container->items[container->count++] = value;
    if (hashed) {
        pt2_status st = remember_dict_key(u, container, key, hash, container->count - 1);
        if (st) return st;
    }
    return note_child(u, container, value);
}

static pt2_status memo_put(unpickler *u, uint64_t key) {
    pt2_pyobj *value = NULL;
    pt2_status st = top(u, &value);
    if (st) return st;
    /* Python numbers memo keys by the objects stored so far, and every object costs at least one
     * byte, so a key never exceeds the bytes read: the table grows only with input consumed. */
    if (key > u->pos) return fail_at(u, "memo key larger than the number of objects read so far");
    while (key >= u->memo_capacity) {
        size_t capacity = u->memo_capacity;
        pt2_pyobj **memo = pt2_arena_grow(u->arena, u->memo, u->memo_capacity, &capacity, sizeof *memo, u->err);
        if (!memo) return u->err->status;
        u->memo = memo;
        u->memo_capacity = capacity;
    }
    u->memo[key] = value;
    return PT2_OK;
}

static pt2_status memo_get(unpickler *u, uint64_t key) {
    if (key >= u->memo_capacity || !u->memo[key]) return fail_at(u, "memo key used before it was stored");
    return push(u, u->memo[key]);
}

static pt2_status push_string(unpickler *u, size_t n, pt2_pyobj_kind kind) {
    const uint8_t *b;
    pt2_status st = read_bytes(u, n, &b);
    if (st) return st;
    pt2_pyobj *o = new_obj(u, kind);
    if (!o) return u->err->status;
    o->string = pt2_arena_strndup(u->arena, (const char *)b, n, u->err);
    if (!o->string) return u->err->status;
    o->length = n;
    return push(u, o);
}

static pt2_status push_global(unpickler *u, const char *module, size_t module_length, const char *name,
                              size_t name_length) {
    /* Names longer than any allowed one are cut for the message and can never match. */
    char full[200];
    int shown_module = module_length > 90 ? 90 : (int)module_length;
    int shown_name = name_length > 90 ? 90 : (int)name_length;
    snprintf(full, sizeof full, "%.*s.%.*s", shown_module, module, shown_name, name);
    int cut = (size_t)shown_module != module_length || (size_t)shown_name != name_length;
    for (size_t i = 0; !cut && i < sizeof allowed_globals / sizeof allowed_globals[0]; i++) {
        if (strcmp(allowed_globals[i].name, full) != 0) continue;
        pt2_pyobj *o;
        if (allowed_globals[i].kind == GLOBAL_DTYPE) {
            o = new_obj(u, PT2_PY_DTYPE);
            if (!o) return u->err->status;
            o->dtype = allowed_globals[i].dtype;
        } else {
            o = new_obj(u, PT2_PY_GLOBAL);
            if (!o) return u->err->status;
            o->int_value = (int64_t)i; /* index into allowed_globals */
            o->dtype = allowed_globals[i].dtype;
        }
        o->string = allowed_globals[i].name;
        return push(u, o);
    }
    for (char *c = full; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f) *c = '?';
    /* Tensor kinds torch.load(weights_only=True) reads but pt2returnn does not: say so plainly
     * rather than call a genuine checkpoint hostile. Nothing is interpreted either way. */
    static const char *const known_unsupported[] = {
        "torch._utils._rebuild_tensor_v3", "torch.UntypedStorage", "torch.ComplexFloatStorage",
        "torch.ComplexDoubleStorage", "torch.QInt8Storage", "torch.QUInt8Storage", "torch.QInt32Storage",
        "torch._utils._rebuild_qtensor", "torch._utils._rebuild_sparse_tensor",
        "torch._utils._rebuild_meta_tensor_no_storage", "torch._utils._rebuild_wrapper_subclass",
        "torch._utils._rebuild_nested_tensor",
    };
    for (size_t i = 0; !cut && i < sizeof known_unsupported / sizeof known_unsupported[0]; i++)
        if (!strcmp(full, known_unsupported[i]))
            return fail(u, PT2_ERR_UNSUPPORTED,
                        "pickle uses '%s': tensors of this kind (complex, quantized, sparse or dtypes without a "
                        "storage class, such as uint16 and float8) are not supported; supported dtypes are "
                        "float32/64/16, bfloat16, int64/32/16/8, uint8 and bool",
                        full);
    return fail(u, PT2_ERR_INPUT,
                "pickle global '%s' is not allowed: pt2returnn only reads what torch.load(weights_only=True) "
                "accepts (tensors, dicts, lists, numbers, strings); nothing in the pickle was executed",
                full);
}

static int get_int(const pt2_pyobj *o, int64_t *out) {
    if (!o || (o->kind != PT2_PY_INT && o->kind != PT2_PY_BOOL)) return 0;
    *out = o->int_value;
    return 1;
}

static int get_int_sequence(const pt2_pyobj *o, int64_t *out, int max, int *count) {
    if (!o || (o->kind != PT2_PY_TUPLE && o->kind != PT2_PY_LIST && o->kind != PT2_PY_SIZE)) return 0;
    if (o->count > (size_t)max) return 0;
    for (size_t i = 0; i < o->count; i++)
        if (!get_int(o->items[i], &out[i])) return 0;
    *count = (int)o->count;
    return 1;
}

static pt2_status rebuild_tensor(unpickler *u, const pt2_pyobj *args, pt2_pyobj **out) {
    if (args->kind != PT2_PY_TUPLE || args->count < 4 || args->items[0]->kind != PT2_PY_STORAGE)
        return fail(u, PT2_ERR_INPUT, "invalid pickle: %s expects (storage, offset, size, stride, ...)",
                    "_rebuild_tensor");
    const pt2_pyobj *storage = args->items[0];
    pt2_pyobj *o = new_obj(u, PT2_PY_TENSOR);
    if (!o) return u->err->status;
    int rank = 0, stride_rank = 0;
    if (!get_int(args->items[1], &o->tensor.storage_offset) ||
        !get_int_sequence(args->items[2], o->tensor.shape, PT2_MAX_RANK, &rank) ||
        !get_int_sequence(args->items[3], o->tensor.strides, PT2_MAX_RANK, &stride_rank) || rank != stride_rank)
        return fail(u, PT2_ERR_INPUT, "invalid pickle: %s has a bad offset, size or stride (or rank above 8)",
                    "_rebuild_tensor");
    o->tensor.rank = rank;
    o->tensor.dtype = storage->tensor.dtype;
    o->tensor.storage = storage->tensor.storage;
    o->tensor.storage_bytes = storage->tensor.storage_bytes;
    o->storage_key = storage->storage_key;
    if (args->count >= 5 && args->items[4]->kind == PT2_PY_BOOL) o->requires_grad = (int)args->items[4]->int_value;
    pt2_error_set_file(u->err, u->source->file_name);
    pt2_status st = pt2_tensor_check_bounds(&o->tensor, u->err);
    if (st) {
        pt2_error_set_entry(u->err, u->source->entry_name);
        return st;
    }
    *out = o;
    return PT2_OK;
}

static int is_empty_state(const pt2_pyobj *state) {
    if (state->kind == PT2_PY_NONE) return 1;
    return (state->kind == PT2_PY_DICT || state->kind == PT2_PY_TUPLE || state->kind == PT2_PY_LIST) && !state->count;
}

/* Protocol 2 writes bytes as _codecs.encode(text, "latin1") (each character U+0000..U+00FF is
 * one byte; the text arrives as UTF-8) and bytearray as bytearray(that bytes) or bytearray(). */
static pt2_status make_bytes(unpickler *u, const pt2_pyobj *callable, const pt2_pyobj *args, pt2_pyobj **out) {
    int is_encode = allowed_globals[callable->int_value].kind == GLOBAL_CODECS_ENCODE;
    const pt2_pyobj *text = args->count ? args->items[0] : NULL;
    if (is_encode) {
        const pt2_pyobj *codec = args->count == 2 ? args->items[1] : NULL;
        if (!text || text->kind != PT2_PY_STRING || !codec || codec->kind != PT2_PY_STRING ||
            (strcmp(codec->string, "latin1") != 0 && strcmp(codec->string, "latin-1") != 0))
            return fail_at(u, "_codecs.encode expects (str, 'latin1')");
    } else if (args->count > 1 || (text && text->kind != PT2_PY_BYTES)) {
        return fail_at(u, "builtins.bytearray expects no argument or one bytes object");
    }
    pt2_pyobj *result = new_obj(u, PT2_PY_BYTES);
    if (!result) return u->err->status;
    size_t length = text ? text->length : 0;
    char *bytes = pt2_arena_alloc(u->arena, length + 1, u->err);
    if (!bytes) return u->err->status;
    size_t n = 0;
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)text->string[i];
        if (is_encode && c >= 0x80) {
            unsigned char next = i + 1 < length ? (unsigned char)text->string[i + 1] : 0;
            if ((c != 0xC2 && c != 0xC3) || (next & 0xC0) != 0x80)
                return fail_at(u, "_codecs.encode text has a character outside latin1");
            c = (unsigned char)(((c & 0x03) << 6) | (next & 0x3F));
            i++;
        }
        bytes[n++] = (char)c;
    }
    result->string = bytes;
    result->length = n;
    *out = result;
    return PT2_OK;
}

/* REDUCE / NEWOBJ: apply an allow-listed callable to an argument tuple, in C. */
static pt2_status apply_global(unpickler *u, const pt2_pyobj *callable, const pt2_pyobj *args) {
    if (callable->kind != PT2_PY_GLOBAL || args->kind != PT2_PY_TUPLE)
        return fail_at(u, "REDUCE needs an allowed global and an argument tuple");
    global_kind kind = allowed_globals[callable->int_value].kind;
    pt2_pyobj *result = NULL;
    pt2_status st;
    switch (kind) {
    case GLOBAL_ORDERED_DICT:
        if (args->count != 0) return fail_at(u, "OrderedDict() with arguments is not supported");
        result = new_obj(u, PT2_PY_DICT);
        if (result) result->depth = 1;
        break;
    case GLOBAL_REBUILD_TENSOR:
        if ((st = rebuild_tensor(u, args, &result))) return st;
        break;
    case GLOBAL_REBUILD_FROM_TYPE: {
        /* _rebuild_from_type_v2(func, type, args, state): torch.export writes it for tensors that
         * carry Python attributes (e.g. `_specialize_on` of a Dim.DYNAMIC input). The function must
         * be an allowed tensor rebuild, the type a plain tensor or Parameter; the attribute state is
         * Python metadata that pt2returnn does not need, so it is skipped, not interpreted. */
        if (args->count != 4 || args->items[0]->kind != PT2_PY_GLOBAL || args->items[1]->kind != PT2_PY_GLOBAL)
            return fail_at(u, "_rebuild_from_type_v2 expects (function, type, arguments, state)");
        global_kind func = allowed_globals[args->items[0]->int_value].kind;
        global_kind type = allowed_globals[args->items[1]->int_value].kind;
        if ((func != GLOBAL_REBUILD_TENSOR && func != GLOBAL_REBUILD_PARAMETER) ||
            (type != GLOBAL_TENSOR_TYPE && type != GLOBAL_PARAMETER))
            return fail(u, PT2_ERR_INPUT, "invalid pickle: _rebuild_from_type_v2 of %s (expected a tensor rebuild, "
                        "as torch.Tensor or Parameter)", args->items[0]->string);
        if ((st = apply_global(u, args->items[0], args->items[2]))) return st;
        if (type == GLOBAL_PARAMETER) u->stack[u->stack_count - 1]->is_parameter = 1;
        return PT2_OK;
    }
    case GLOBAL_TENSOR_TYPE:
        return fail_at(u, "torch.Tensor can only be the type of _rebuild_from_type_v2");
    case GLOBAL_REBUILD_PARAMETER:
    case GLOBAL_PARAMETER:
        if (args->count < 1 || args->items[0]->kind != PT2_PY_TENSOR)
            return fail(u, PT2_ERR_INPUT, "invalid pickle: %s expects a tensor first", callable->string);
        /* _rebuild_parameter_with_state's 4th argument holds extra Python attributes set on the
         * Parameter; torch writes None or an empty dict/tuple when there are none. */
        if (args->count >= 4 && !is_empty_state(args->items[3]))
            return fail(u, PT2_ERR_UNSUPPORTED,
                        "pickle: %s carries Python attribute state, which pt2returnn does not read", callable->string);
        result = new_obj(u, PT2_PY_TENSOR);
        if (!result) return u->err->status;
        *result = *args->items[0];
        result->is_contained = 0;
        result->is_parameter = 1;
        if (args->count >= 2 && args->items[1]->kind == PT2_PY_BOOL) result->requires_grad = (int)args->items[1]->int_value;
        break;
    case GLOBAL_SIZE:
        if (args->count != 1 || (args->items[0]->kind != PT2_PY_TUPLE && args->items[0]->kind != PT2_PY_LIST))
            return fail_at(u, "torch.Size expects one tuple");
        result = new_obj(u, PT2_PY_SIZE);
        if (!result) return u->err->status;
        result->items = args->items[0]->items;
        result->count = result->capacity = args->items[0]->count;
        result->depth = args->items[0]->depth;
        break;
    case GLOBAL_DEVICE:
        if (args->count < 1 || args->items[0]->kind != PT2_PY_STRING) return fail_at(u, "torch.device expects a string");
        result = new_obj(u, PT2_PY_DEVICE);
        if (result) result->string = args->items[0]->string;
        break;
    case GLOBAL_CODECS_ENCODE:
    case GLOBAL_BYTEARRAY:
        if ((st = make_bytes(u, callable, args, &result))) return st;
        break;
    case GLOBAL_SET: {
        const pt2_pyobj *from = args->count ? args->items[0] : NULL;
        if (args->count > 1 || (from && from->kind != PT2_PY_LIST && from->kind != PT2_PY_TUPLE))
            return fail_at(u, "builtins.set expects no argument or one list");
        if ((st = make_sequence(u, PT2_PY_SET, from ? from->items : NULL, from ? from->count : 0, &result)))
            return st;
        break;
    }
    case GLOBAL_STORAGE_CLASS:
    case GLOBAL_DTYPE:
        return fail(u, PT2_ERR_UNSUPPORTED, "pickle calls %s, which pt2returnn does not interpret",
                    callable->string);
    }
    if (!result) return u->err->status;
    return push(u, result);
}

/* BINPERSID: ('storage', StorageClass, key, location, numel) -> the storage's bytes. */
static pt2_status persistent_load(unpickler *u, const pt2_pyobj *pid) {
    if (pid->kind != PT2_PY_TUPLE || pid->count < 5 || pid->items[0]->kind != PT2_PY_STRING ||
        strcmp(pid->items[0]->string, "storage") != 0 || pid->items[1]->kind != PT2_PY_GLOBAL ||
        allowed_globals[pid->items[1]->int_value].kind != GLOBAL_STORAGE_CLASS ||
        pid->items[2]->kind != PT2_PY_STRING || pid->items[4]->kind != PT2_PY_INT || pid->items[4]->int_value < 0)
        return fail_at(u, "persistent id is not ('storage', <Storage class>, key, location, numel)");
    if (!u->source->resolve_storage) return fail_at(u, "the pickle references a storage but none can be loaded here");
    pt2_pyobj *o = new_obj(u, PT2_PY_STORAGE);
    if (!o) return u->err->status;
    o->tensor.dtype = pid->items[1]->dtype;
    o->storage_key = pid->items[2]->string;
    pt2_status st = u->source->resolve_storage(u->source->resolver_context, o->storage_key, o->tensor.dtype,
                                               (uint64_t)pid->items[4]->int_value, &o->tensor.storage,
                                               &o->tensor.storage_bytes, u->err);
    if (st) return st;
    return push(u, o);
}

static pt2_status build(unpickler *u) {
    pt2_pyobj *state = NULL, *target = NULL;
    pt2_status st = pop(u, &state);
    if (!st) st = top(u, &target);
    if (st) return st;
    /* OrderedDict state carries the state-dict `_metadata`; tensors may carry an empty state. */
    if (target->kind == PT2_PY_DICT || target->kind == PT2_PY_TENSOR) return PT2_OK;
    return fail_at(u, "BUILD on an object that is not a dict or tensor");
}

static const char *opcode_name(uint8_t op) {
    switch (op) {
    case 'i': return "INST";
    case 'l': return "LIST";
    case 'd': return "DICT";
    case 'o': return "OBJ";
    case 0x82: return "EXT1";
    case 0x83: return "EXT2";
    case 0x84: return "EXT4";
    case 'P': return "PERSID";
    case 0x92: return "NEWOBJ_EX";
    case 'S': return "STRING";
    case 'V': return "UNICODE";
    case 'I': return "INT";
    case 'L': return "LONG";
    case 'F': return "FLOAT";
    case 'g': return "GET";
    case 'p': return "PUT";
    case 0x96: return "BYTEARRAY8";
    case 0x97: return "NEXT_BUFFER";
    case 0x98: return "READONLY_BUFFER";
    }
    return NULL;
}

static pt2_status step(unpickler *u, uint8_t op, int *done) {
    const uint8_t *b = NULL;
    pt2_pyobj *a = NULL, *c = NULL, *o = NULL;
    pt2_pyobj **items = NULL;
    size_t count = 0;
    pt2_status st;
    switch (op) {
    case 0x80: /* PROTO */
        if ((st = read_bytes(u, 1, &b))) return st;
        if (b[0] > 5) return fail_at(u, "unknown pickle protocol");
        return PT2_OK;
    case 0x95: /* FRAME: only a size hint */
        return read_bytes(u, 8, &b);
    case '.': *done = 1; return PT2_OK;
    case '(': /* MARK */
        if (u->mark_count >= PT2_PICKLE_MAX_DEPTH) {
            char text[64];
            snprintf(text, sizeof text, "%d", PT2_PICKLE_MAX_DEPTH);
            return fail(u, PT2_ERR_INPUT, "pickle is nested deeper than %s levels (MARK stack)", text);
        }
        {
            size_t capacity = u->mark_capacity;
            size_t *marks = pt2_arena_grow(u->arena, u->marks, u->mark_count, &capacity, sizeof *marks, u->err);
            if (!marks) return u->err->status;
            u->marks = marks;
            u->mark_capacity = capacity;
            u->marks[u->mark_count++] = u->stack_count;
        }
        return PT2_OK;
    case '0': return pop(u, &a);
    case '1': return pop_mark(u, &items, &count);
    case '}': o = new_obj(u, PT2_PY_DICT); if (o) o->depth = 1; return push(u, o);
    case ']': o = new_obj(u, PT2_PY_LIST); if (o) o->depth = 1; return push(u, o);
    case ')': o = new_obj(u, PT2_PY_TUPLE); if (o) o->depth = 1; return push(u, o);
    case 0x8f: o = new_obj(u, PT2_PY_SET); if (o) o->depth = 1; return push(u, o);
    case 'N':
    case 0x88:
    case 0x89: {
        /* One shared object each: a pickle of a million Nones should not cost a million objects. */
        pt2_pyobj **shared = op == 'N' ? &u->none : op == 0x88 ? &u->true_value : &u->false_value;
        if (!*shared) {
            *shared = new_obj(u, op == 'N' ? PT2_PY_NONE : PT2_PY_BOOL);
            if (*shared) (*shared)->int_value = op == 0x88;
        }
        return push(u, *shared);
    }
    case 't':
        if ((st = pop_mark(u, &items, &count))) return st;
        if ((st = make_sequence(u, PT2_PY_TUPLE, items, count, &o))) return st;
        return push(u, o);
    case 0x85:
    case 0x86:
    case 0x87: {
        size_t n = (size_t)(op - 0x84);
        size_t floor = u->mark_count ? u->marks[u->mark_count - 1] : 0;
        if (u->stack_count < floor + n) return fail_at(u, "stack underflow in TUPLE1/2/3");
        u->stack_count -= n;
        if ((st = make_sequence(u, PT2_PY_TUPLE, u->stack + u->stack_count, n, &o))) return st;
        return push(u, o);
    }
    case 'a':
        if ((st = pop(u, &a)) || (st = top(u, &c))) return st;
        if (c->kind != PT2_PY_LIST) return fail_at(u, "APPEND to something that is not a list");
        return append_item(u, c, NULL, a);
    case 'e':
    case 0x90: /* APPENDS, ADDITEMS */
        if ((st = pop_mark(u, &items, &count)) || (st = top(u, &c))) return st;
        if (c->kind != (op == 'e' ? PT2_PY_LIST : PT2_PY_SET)) return fail_at(u, "APPENDS/ADDITEMS to the wrong type");
        for (size_t i = 0; i < count; i++)
            if ((st = append_item(u, c, NULL, items[i]))) return st;
        return PT2_OK;
    case 's':
        if ((st = pop(u, &a)) || (st = pop(u, &o)) || (st = top(u, &c))) return st;
        if (c->kind != PT2_PY_DICT) return fail_at(u, "SETITEM on something that is not a dict");
        return append_item(u, c, o, a);
    case 'u':
        if ((st = pop_mark(u, &items, &count)) || (st = top(u, &c))) return st;
        if (c->kind != PT2_PY_DICT || count % 2) return fail_at(u, "SETITEMS needs a dict and key/value pairs");
        for (size_t i = 0; i < count; i += 2)
            if ((st = append_item(u, c, items[i], items[i + 1]))) return st;
        return PT2_OK;
    case 'J':
    case 'K':
    case 'M': {
        size_t n = op == 'J' ? 4 : op == 'K' ? 1 : 2;
        if ((st = read_bytes(u, n, &b))) return st;
        o = new_obj(u, PT2_PY_INT);
        if (!o) return u->err->status;
        uint64_t v = little_endian(b, (int)n);
        o->int_value = op == 'J' ? (int64_t)(int32_t)(uint32_t)v : (int64_t)v;
        return push(u, o);
    }
    case 0x8a:
    case 0x8b: { /* LONG1 / LONG4: little-endian two's complement */
        size_t n;
        if ((st = read_bytes(u, op == 0x8a ? 1 : 4, &b))) return st;
        n = op == 0x8a ? b[0] : (size_t)little_endian(b, 4);
        if (n > 8) return fail(u, PT2_ERR_UNSUPPORTED, "pickle integer wider than 64 bits (%s)", "LONG");
        if ((st = read_bytes(u, n, &b))) return st;
        o = new_obj(u, PT2_PY_INT);
        if (!o) return u->err->status;
        uint64_t v = little_endian(b, (int)n);
        if (n && n < 8 && (b[n - 1] & 0x80)) v |= ~(uint64_t)0 << (8 * n);
        o->int_value = (int64_t)v;
        return push(u, o);
    }
    case 'G': {
        if ((st = read_bytes(u, 8, &b))) return st;
        uint64_t bits = 0;
        for (int i = 0; i < 8; i++) bits = bits << 8 | b[i]; /* big-endian */
        double d;
        memcpy(&d, &bits, sizeof d);
        o = new_obj(u, PT2_PY_FLOAT);
        if (o) o->float_value = d;
        return push(u, o);
    }
    case 'X':
    case 0x8c:
    case 0x8d:
    case 'U':
    case 'T':
    case 'B':
    case 'C':
    case 0x8e: {
        size_t width = (op == 0x8c || op == 'U' || op == 'C') ? 1 : (op == 0x8d || op == 0x8e) ? 8 : 4;
        if ((st = read_bytes(u, width, &b))) return st;
        uint64_t n = little_endian(b, (int)width);
        if (n > u->length - u->pos) {
            char text[160];
            snprintf(text, sizeof text, "length field claims %llu bytes but only %zu remain (truncated)",
                     (unsigned long long)n, u->length - u->pos);
            return fail_at(u, text);
        }
        return push_string(u, (size_t)n, (op == 'B' || op == 'C' || op == 0x8e) ? PT2_PY_BYTES : PT2_PY_STRING);
    }
    case 'q':
        if ((st = read_bytes(u, 1, &b))) return st;
        return memo_put(u, b[0]);
    case 'r':
        if ((st = read_bytes(u, 4, &b))) return st;
        return memo_put(u, little_endian(b, 4));
    case 0x94: return memo_put(u, u->memo_next++);
    case 'h':
        if ((st = read_bytes(u, 1, &b))) return st;
        return memo_get(u, b[0]);
    case 'j':
        if ((st = read_bytes(u, 4, &b))) return st;
        return memo_get(u, little_endian(b, 4));
    case 'c': { /* GLOBAL "module\nname\n" */
        const char *start = (const char *)u->p + u->pos;
        const char *nl1 = memchr(start, '\n', u->length - u->pos);
        if (!nl1) return fail_at(u, "GLOBAL without a newline");
        const char *nl2 = memchr(nl1 + 1, '\n', u->length - u->pos - (size_t)(nl1 + 1 - start));
        if (!nl2) return fail_at(u, "GLOBAL without a second newline");
        u->pos += (size_t)(nl2 + 1 - start);
        return push_global(u, start, (size_t)(nl1 - start), nl1 + 1, (size_t)(nl2 - nl1 - 1));
    }
    case 0x93: /* STACK_GLOBAL */
        if ((st = pop(u, &a)) || (st = pop(u, &o))) return st;
        if (a->kind != PT2_PY_STRING || o->kind != PT2_PY_STRING) return fail_at(u, "STACK_GLOBAL needs two strings");
        return push_global(u, o->string, o->length, a->string, a->length);
    case 'R':
    case 0x81: /* REDUCE, NEWOBJ */
        if ((st = pop(u, &a)) || (st = pop(u, &c))) return st;
        return apply_global(u, c, a);
    case 'b': return build(u);
    case 'Q':
        if ((st = pop(u, &a))) return st;
        return persistent_load(u, a);
    }
    const char *name = opcode_name(op);
    char text[120];
    if (name)
        snprintf(text, sizeof text, "opcode %s (0x%02x) at byte %zu", name, op, u->pos - 1);
    else
        snprintf(text, sizeof text, "opcode 0x%02x at byte %zu", op, u->pos - 1);
    return fail(u, PT2_ERR_UNSUPPORTED,
                "pickle uses %s, which torch.load(weights_only=True) does not accept either", text);
}

pt2_status pt2_unpickle(pt2_arena *arena, const pt2_pickle_source *source, pt2_pyobj **out, pt2_error *err) {
    pt2_reader_bound bound;
    pt2_arena_reader_begin(arena, source->length, source->file_name, &bound);
    pt2_status st = unpickle(arena, source, out, err);
    pt2_arena_reader_end(arena, &bound);
    return st;
}

static pt2_status unpickle(pt2_arena *arena, const pt2_pickle_source *source, pt2_pyobj **out, pt2_error *err) {
    unpickler u = {0};
    u.arena = arena;
    u.source = source;
    u.err = err;
    u.p = source->bytes;
    u.length = source->length;
    int done = 0;
    while (!done) {
        if (u.pos >= u.length) return fail_at(&u, "truncated: the pickle ends without STOP");
        uint8_t op = u.p[u.pos++];
        pt2_status st = step(&u, op, &done);
        if (st) return st;
    }
    if (u.stack_count != 1) return fail_at(&u, "STOP with other than one value on the stack");
    *out = u.stack[0];
    return PT2_OK;
}

const pt2_pyobj *pt2_pyobj_dict_get(const pt2_pyobj *dict, const char *key) {
    if (!dict || dict->kind != PT2_PY_DICT) return NULL;
    size_t n = strlen(key);
    for (size_t i = 0; i < dict->count; i++) {
        const pt2_pyobj *k = dict->keys[i];
        if (k && k->kind == PT2_PY_STRING && k->length == n && memcmp(k->string, key, n) == 0) return dict->items[i];
    }
    return NULL;
}

const char *pt2_pyobj_kind_name(pt2_pyobj_kind kind) {
    static const char *names[] = {"None",   "bool", "int",    "float", "str",   "bytes", "list",   "tuple",
                                  "set",    "dict", "tensor", "storage", "dtype", "device", "Size", "global"};
    return (kind >= 0 && (size_t)kind < sizeof names / sizeof names[0]) ? names[kind] : "?";
}
