/* Byte format (see ../shared/reference/returnn-tf-layers-and-checkpoint.md §5): the index is a
 * table of blocks (prefix-compressed entries, restart points, a 5-byte trailer with a masked
 * CRC-32C), a metaindex block, an index block and a 48-byte footer. Entry values are protobufs:
 * BundleHeaderProto under the key "", BundleEntryProto under each tensor name. */
#include "tf_checkpoint.h"

#include <stdlib.h>
#include <string.h>

#include "../base/crc32c.h"

#define BLOCK_SIZE 262144
#define RESTART_INTERVAL 16
#define FOOTER_SIZE 48
static const uint8_t table_magic[8] = {0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb};

/* ---------------------------------------------------------------- encoding */

static void put_varint(pt2_strbuf *sb, uint64_t v) {
    uint8_t buf[10];
    size_t n = 0;
    do {
        buf[n++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
        v >>= 7;
    } while (v);
    pt2_strbuf_append(sb, buf, n);
}

static void put_fixed32(pt2_strbuf *sb, uint32_t v) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    pt2_strbuf_append(sb, b, 4);
}

static int tf_dtype(pt2_dtype dtype) {
    switch (dtype) {
    case PT2_DTYPE_FLOAT32: return 1;
    case PT2_DTYPE_FLOAT64: return 2;
    case PT2_DTYPE_INT32: return 3;
    case PT2_DTYPE_UINT8: return 4;
    case PT2_DTYPE_INT16: return 5;
    case PT2_DTYPE_INT8: return 6;
    case PT2_DTYPE_INT64: return 9;
    case PT2_DTYPE_BOOL: return 10;
    case PT2_DTYPE_BFLOAT16: return 14;
    case PT2_DTYPE_FLOAT16: return 19;
    default: return 0;
    }
}

static pt2_dtype from_tf_dtype(uint64_t code) {
    static const pt2_dtype map[20] = {[1] = PT2_DTYPE_FLOAT32, [2] = PT2_DTYPE_FLOAT64, [3] = PT2_DTYPE_INT32,
                                      [4] = PT2_DTYPE_UINT8,   [5] = PT2_DTYPE_INT16,   [6] = PT2_DTYPE_INT8,
                                      [9] = PT2_DTYPE_INT64,   [10] = PT2_DTYPE_BOOL,   [14] = PT2_DTYPE_BFLOAT16,
                                      [19] = PT2_DTYPE_FLOAT16};
    return code < 20 ? map[code] : PT2_DTYPE_INVALID;
}

/* BundleEntryProto, fields in number order, proto3 zero values omitted (as TF writes them). */
static void encode_entry(pt2_strbuf *sb, const pt2_tensor *t, uint64_t offset, uint64_t size, uint32_t masked_crc) {
    pt2_strbuf shape;
    pt2_strbuf_init(&shape);
    for (int i = 0; i < t->rank; i++) {
        pt2_strbuf dim;
        pt2_strbuf_init(&dim);
        if (t->shape[i]) {
            pt2_strbuf_putc(&dim, 0x08);
            put_varint(&dim, (uint64_t)t->shape[i]);
        }
        pt2_strbuf_putc(&shape, 0x12);
        put_varint(&shape, dim.length);
        pt2_strbuf_append(&shape, dim.data, dim.length);
        pt2_strbuf_free(&dim);
    }
    pt2_strbuf_putc(sb, 0x08);
    put_varint(sb, (uint64_t)tf_dtype(t->dtype));
    pt2_strbuf_putc(sb, 0x12); /* TF always sets the shape, even for scalars */
    put_varint(sb, shape.length);
    pt2_strbuf_append(sb, shape.data, shape.length);
    pt2_strbuf_free(&shape);
    if (offset) {
        pt2_strbuf_putc(sb, 0x20);
        put_varint(sb, offset);
    }
    if (size) {
        pt2_strbuf_putc(sb, 0x28);
        put_varint(sb, size);
    }
    if (masked_crc) {
        pt2_strbuf_putc(sb, 0x35);
        put_fixed32(sb, masked_crc);
    }
}

typedef struct block_builder {
    pt2_strbuf buffer;
    uint32_t restarts[BLOCK_SIZE / 8 + 2];
    size_t num_restarts;
    size_t counter;
    int restart_interval;
    pt2_strbuf last_key;
    size_t entries;
} block_builder;

static void block_reset(block_builder *b) {
    b->buffer.length = 0;
    b->num_restarts = 1;
    b->restarts[0] = 0;
    b->counter = 0;
    b->last_key.length = 0;
    b->entries = 0;
}

static void block_add(block_builder *b, const char *key, size_t key_length, const void *value, size_t value_length) {
    size_t shared = 0;
    if (b->counter < (size_t)b->restart_interval) {
        size_t limit = b->last_key.length < key_length ? b->last_key.length : key_length;
        while (shared < limit && b->last_key.data[shared] == key[shared]) shared++;
    } else {
        b->restarts[b->num_restarts++] = (uint32_t)b->buffer.length;
        b->counter = 0;
    }
    put_varint(&b->buffer, shared);
    put_varint(&b->buffer, key_length - shared);
    put_varint(&b->buffer, value_length);
    pt2_strbuf_append(&b->buffer, key + shared, key_length - shared);
    pt2_strbuf_append(&b->buffer, value, value_length);
    b->last_key.length = 0;
    pt2_strbuf_append(&b->last_key, key, key_length);
    b->counter++;
    b->entries++;
}

static size_t block_size_estimate(const block_builder *b) { return b->buffer.length + b->num_restarts * 4 + 4; }

/* Appends the finished block and its trailer to `file`; returns its handle. */
static void write_block(block_builder *b, pt2_strbuf *file, uint64_t *offset, uint64_t *size) {
    for (size_t i = 0; i < b->num_restarts; i++) put_fixed32(&b->buffer, b->restarts[i]);
    put_fixed32(&b->buffer, (uint32_t)b->num_restarts);
    *offset = file->length;
    *size = b->buffer.length;
    pt2_strbuf_append(file, b->buffer.data, b->buffer.length);
    uint8_t type = 0; /* no compression */
    uint32_t crc = pt2_crc32c_extend(pt2_crc32c(b->buffer.data, b->buffer.length), &type, 1);
    pt2_strbuf_putc(file, (char)type);
    put_fixed32(file, pt2_crc32c_mask(crc));
    block_reset(b);
}

/* LevelDB's separators: the shortest key >= `start` and < `limit`, so index keys stay short. */
static void shortest_separator(pt2_strbuf *start, const char *limit, size_t limit_length) {
    size_t n = start->length < limit_length ? start->length : limit_length, i = 0;
    while (i < n && start->data[i] == limit[i]) i++;
    if (i >= n) return;
    uint8_t byte = (uint8_t)start->data[i];
    if (byte < 0xff && byte + 1 < (uint8_t)limit[i]) {
        start->data[i] = (char)(byte + 1);
        start->length = i + 1;
    }
}

static void short_successor(pt2_strbuf *key) {
    for (size_t i = 0; i < key->length; i++)
        if ((uint8_t)key->data[i] != 0xff) {
            key->data[i] = (char)((uint8_t)key->data[i] + 1);
            key->length = i + 1;
            return;
        }
}

static void put_handle(pt2_strbuf *sb, uint64_t offset, uint64_t size) {
    put_varint(sb, offset);
    put_varint(sb, size);
}

/* Where a variable's bytes went in the data file. */
typedef struct placed_variable {
    const pt2_tf_variable *variable; /* its tensor's shape and dtype make the entry; its bytes are in the data */
    uint64_t offset, size;
    uint32_t masked_crc;
} placed_variable;

static int compare_placed(const void *a, const void *b) {
    /* strcmp compares as unsigned char: the bytewise order of the table's keys */
    return strcmp(((const placed_variable *)a)->variable->name, ((const placed_variable *)b)->variable->name);
}

pt2_status pt2_tf_checkpoint_write(pt2_arena *scratch, const pt2_tf_variable *variables, size_t count,
                                   pt2_strbuf *index_out, pt2_strbuf *data_out, pt2_error *err) {
    return pt2_tf_checkpoint_write_releasing(scratch, variables, count, NULL, NULL, index_out, data_out, err);
}

/* Whether a variable after `i` has i's storage. */
static int storage_read_later(const pt2_tf_variable *variables, size_t i, size_t count) {
    for (size_t j = i + 1; j < count; j++)
        if (variables[j].tensor.storage == variables[i].tensor.storage) return 1;
    return 0;
}

/* The memory `owner`'s root arena uses now (its children count in it). */
static size_t root_used(const pt2_arena *owner) {
    while (owner->parent) owner = owner->parent;
    return owner->used_bytes;
}

pt2_status pt2_tf_checkpoint_write_releasing(pt2_arena *scratch, const pt2_tf_variable *variables, size_t count,
                                             pt2_arena *owner, size_t *peak, pt2_strbuf *index_out,
                                             pt2_strbuf *data_out, pt2_error *err) {
    /* Data in the caller's order (as TensorFlow's BundleWriter does), index entries sorted by key. */
    placed_variable *sorted = pt2_arena_alloc_array(scratch, count + 1, sizeof *sorted, err);
    if (!sorted) return err->status;
    /* Every variable is gathered straight into the data (below); only reordered blocks along an
     * inner axis go through memory of one block, freed before the next variable. The data's room
     * is reserved once. */
    size_t total = 0;
    for (size_t i = 0; i < count; i++) {
        size_t bytes;
        if (pt2_mul_size((size_t)pt2_tensor_numel(&variables[i].tensor), pt2_dtype_size(variables[i].tensor.dtype), &bytes) &&
            pt2_add_size(total, bytes, &total))
            continue;
        total = 0; /* a size that overflows fails below, when it is copied */
        break;
    }
    pt2_strbuf_reserve(data_out, total);
    pt2_arena one_variable;
    pt2_arena_init_child(&one_variable, scratch);
    pt2_status st = PT2_OK;
    for (size_t i = 0; i < count && !st; i++, pt2_arena_free(&one_variable)) {
        if (!variables[i].name || !variables[i].name[0]) {
            st = pt2_fail(err, PT2_ERR_INTERNAL, "checkpoint variable %zu has an empty name", i);
            break;
        }
        if (!tf_dtype(variables[i].tensor.dtype)) {
            st = pt2_fail(err, PT2_ERR_UNSUPPORTED, "checkpoint variable '%s': dtype %s has no TensorFlow type",
                          variables[i].name, pt2_dtype_name(variables[i].tensor.dtype));
            break;
        }
        placed_variable *p = &sorted[i];
        p->variable = &variables[i];
        /* Written in place at the data's end, a strided view (a transposed weight) or reordered
         * blocks (an LSTM's gates) gathered straight there: no copy of the variable beside it. */
        p->size = (uint64_t)pt2_tensor_numel(&variables[i].tensor) * pt2_dtype_size(variables[i].tensor.dtype);
        p->offset = data_out->length;
        char *bytes = pt2_strbuf_extend(data_out, (size_t)p->size);
        if (!bytes) {
            st = pt2_fail(err, PT2_ERR_MEMORY, "out of memory writing checkpoint variable '%s'", variables[i].name);
            break;
        }
        if ((st = pt2_tensor_copy_dense_blocks(&one_variable, &variables[i].tensor, variables[i].blocks, bytes, err))) break;
        p->masked_crc = pt2_crc32c_mask(pt2_crc32c(bytes, (size_t)p->size));
        if (owner && peak && root_used(owner) + data_out->length > *peak) *peak = root_used(owner) + data_out->length;
        /* the variable's storage, read no more: a copy the lowering made goes; a weight of a
         * mapped model file gives back its pages */
        if (owner && variables[i].tensor.storage && !storage_read_later(variables, i, count) &&
            !pt2_arena_release(owner, variables[i].tensor.storage))
            pt2_arena_release_part(owner, variables[i].tensor.storage, variables[i].tensor.storage_bytes);
    }
    pt2_arena_free(&one_variable);
    if (st) return st;
    qsort(sorted, count, sizeof *sorted, compare_placed);
    for (size_t i = 1; i < count; i++)
        if (!strcmp(sorted[i].variable->name, sorted[i - 1].variable->name))
            return pt2_fail(err, PT2_ERR_INTERNAL, "checkpoint variable '%s' appears twice", sorted[i].variable->name);

    block_builder *data_block = pt2_arena_alloc(scratch, sizeof *data_block, err);
    block_builder *index_block = pt2_arena_alloc(scratch, sizeof *index_block, err);
    if (!data_block || !index_block) return err->status;
    data_block->restart_interval = RESTART_INTERVAL;
    index_block->restart_interval = 1;
    block_reset(data_block);
    block_reset(index_block);
    pt2_strbuf value, pending_key, handle;
    pt2_strbuf_init(&value);
    pt2_strbuf_init(&pending_key);
    pt2_strbuf_init(&handle);
    int pending = 0;
    uint64_t block_offset = 0, block_length = 0;
    st = PT2_OK;

    /* Header: num_shards = 1, version { producer: 1 }. */
    static const uint8_t header[] = {0x08, 0x01, 0x1a, 0x02, 0x08, 0x01};
    for (size_t i = 0; i <= count && !st; i++) {
        const char *key = i ? sorted[i - 1].variable->name : "";
        size_t key_length = strlen(key);
        value.length = 0;
        if (i == 0) {
            pt2_strbuf_append(&value, header, sizeof header);
        } else {
            const placed_variable *p = &sorted[i - 1];
            encode_entry(&value, &p->variable->tensor, p->offset, p->size, p->masked_crc);
        }
        if (pending) {
            shortest_separator(&pending_key, key, key_length);
            handle.length = 0;
            put_handle(&handle, block_offset, block_length);
            block_add(index_block, pending_key.data, pending_key.length, handle.data, handle.length);
            pending = 0;
        }
        block_add(data_block, key, key_length, value.data, value.length);
        if (block_size_estimate(data_block) >= BLOCK_SIZE) {
            pending_key.length = 0;
            pt2_strbuf_append(&pending_key, data_block->last_key.data, data_block->last_key.length);
            write_block(data_block, index_out, &block_offset, &block_length);
            pending = 1;
        }
    }
    if (!st) {
        if (data_block->entries) {
            pending_key.length = 0;
            pt2_strbuf_append(&pending_key, data_block->last_key.data, data_block->last_key.length);
            write_block(data_block, index_out, &block_offset, &block_length);
            pending = 1;
        }
        block_builder *meta_block = data_block; /* empty now: the metaindex */
        uint64_t meta_offset, meta_length, index_offset, index_length;
        write_block(meta_block, index_out, &meta_offset, &meta_length);
        if (pending) {
            short_successor(&pending_key);
            handle.length = 0;
            put_handle(&handle, block_offset, block_length);
            block_add(index_block, pending_key.data, pending_key.length, handle.data, handle.length);
        }
        write_block(index_block, index_out, &index_offset, &index_length);
        size_t footer_start = index_out->length;
        put_handle(index_out, meta_offset, meta_length);
        put_handle(index_out, index_offset, index_length);
        while (index_out->length < footer_start + 40) pt2_strbuf_putc(index_out, 0);
        pt2_strbuf_append(index_out, table_magic, sizeof table_magic);
    }
    pt2_strbuf_free(&data_block->buffer);
    pt2_strbuf_free(&data_block->last_key);
    pt2_strbuf_free(&index_block->buffer);
    pt2_strbuf_free(&index_block->last_key);
    pt2_strbuf_free(&value);
    pt2_strbuf_free(&pending_key);
    pt2_strbuf_free(&handle);
    if (!st && (index_out->failed || data_out->failed)) st = pt2_fail(err, PT2_ERR_MEMORY, "out of memory writing the checkpoint");
    return st;
}

/* ---------------------------------------------------------------- reading */

typedef struct reader {
    const uint8_t *p;
    size_t length;
    size_t pos;
} reader;

static int get_varint(reader *r, uint64_t *out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && r->pos < r->length; shift += 7) {
        uint8_t b = r->p[r->pos++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 1;
        }
    }
    return 0;
}

static uint32_t get_fixed32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static pt2_status corrupt(pt2_error *err, const char *what) {
    return pt2_fail(err, PT2_ERR_INPUT, "corrupt TensorFlow checkpoint index: %s", what);
}

/* A block's contents after checking its trailer's CRC. */
static pt2_status read_block(const uint8_t *index, size_t index_length, uint64_t offset, uint64_t size,
                             reader *out, pt2_error *err) {
    if (offset > index_length || size > index_length - offset || index_length - offset - size < 5)
        return corrupt(err, "a block handle points outside the file (truncated?)");
    const uint8_t *block = index + offset;
    uint32_t crc = pt2_crc32c_extend(pt2_crc32c(block, (size_t)size), block + size, 1);
#ifndef PT2_FUZZ_NO_CHECKSUMS /* the fuzz build skips checksums so that mutations reach the parser */
    if (pt2_crc32c_unmask(get_fixed32(block + size + 1)) != crc) return corrupt(err, "block checksum mismatch");
#else
    (void)crc;
#endif
    if (block[size] != 0) return pt2_fail(err, PT2_ERR_UNSUPPORTED, "compressed checkpoint blocks are not supported");
    if (size < 4) return corrupt(err, "block too short");
    uint32_t restarts = get_fixed32(block + size - 4);
    if (restarts > (size - 4) / 4) return corrupt(err, "bad restart count");
    out->p = block;
    out->length = (size_t)size - 4 - (size_t)restarts * 4;
    out->pos = 0;
    return PT2_OK;
}

typedef pt2_status (*entry_visitor)(void *context, const char *key, size_t key_length, const uint8_t *value,
                                    size_t value_length, pt2_error *err);

static pt2_status visit_block(pt2_arena *arena, reader *block, entry_visitor visit, void *context, pt2_error *err) {
    char *key = NULL;
    size_t key_length = 0, key_capacity = 0;
    while (block->pos < block->length) {
        uint64_t shared, unshared, value_length;
        if (!get_varint(block, &shared) || !get_varint(block, &unshared) || !get_varint(block, &value_length) ||
            shared > key_length || unshared > block->length - block->pos ||
            value_length > block->length - block->pos - unshared)
            return corrupt(err, "bad block entry");
        if (shared + unshared + 1 > key_capacity) {
            key_capacity = (size_t)(shared + unshared) * 2 + 16;
            char *grown = pt2_arena_alloc(arena, key_capacity, err);
            if (!grown) return err->status;
            if (key_length) memcpy(grown, key, key_length);
            key = grown;
        }
        memcpy(key + shared, block->p + block->pos, (size_t)unshared);
        key_length = (size_t)(shared + unshared);
        key[key_length] = 0;
        block->pos += (size_t)unshared;
        pt2_status st = visit(context, key, key_length, block->p + block->pos, (size_t)value_length, err);
        if (st) return st;
        block->pos += (size_t)value_length;
    }
    return PT2_OK;
}

typedef struct read_context {
    pt2_arena *arena;
    const uint8_t *index;
    size_t index_length;
    const uint8_t *data;
    size_t data_length;
    pt2_tf_data_crc data_crc;
    pt2_tf_variable *variables;
    size_t count, capacity;
    int saw_header;
} read_context;

static pt2_status visit_entry(void *context, const char *key, size_t key_length, const uint8_t *value,
                              size_t value_length, pt2_error *err) {
    read_context *c = context;
    if (key_length == 0) {
        c->saw_header = 1;
        return PT2_OK;
    }
    reader r = {value, value_length, 0};
    uint64_t dtype = 0, offset = 0, size = 0, shard = 0;
    uint32_t masked = 0;
    pt2_tensor t = {0};
    while (r.pos < r.length) {
        uint64_t tag, v;
        if (!get_varint(&r, &tag)) return corrupt(err, "bad entry tag");
        if ((tag & 7) == 0) {
            if (!get_varint(&r, &v)) return corrupt(err, "bad varint");
            if (tag >> 3 == 1) dtype = v;
            else if (tag >> 3 == 3) shard = v;
            else if (tag >> 3 == 4) offset = v;
            else if (tag >> 3 == 5) size = v;
        } else if ((tag & 7) == 5) {
            if (r.length - r.pos < 4) return corrupt(err, "truncated fixed32");
            if (tag >> 3 == 6) masked = get_fixed32(r.p + r.pos);
            r.pos += 4;
        } else if ((tag & 7) == 2) {
            if (!get_varint(&r, &v) || v > r.length - r.pos) return corrupt(err, "bad length-delimited field");
            if (tag >> 3 == 2) { /* TensorShapeProto: repeated Dim dim = 2 */
                reader shape = {r.p + r.pos, (size_t)v, 0};
                while (shape.pos < shape.length) {
                    uint64_t dim_tag, dim_length;
                    if (!get_varint(&shape, &dim_tag) || !get_varint(&shape, &dim_length) ||
                        dim_length > shape.length - shape.pos)
                        return corrupt(err, "bad shape");
                    if (dim_tag == 0x12) {
                        reader dim = {shape.p + shape.pos, (size_t)dim_length, 0};
                        int64_t dim_size = 0;
                        while (dim.pos < dim.length) {
                            uint64_t field, fv;
                            if (!get_varint(&dim, &field)) return corrupt(err, "bad dim");
                            if ((field & 7) == 0) {
                                if (!get_varint(&dim, &fv)) return corrupt(err, "bad dim size");
                                if (field >> 3 == 1) dim_size = (int64_t)fv;
                            } else if ((field & 7) == 2) {
                                if (!get_varint(&dim, &fv) || fv > dim.length - dim.pos) return corrupt(err, "bad dim name");
                                dim.pos += (size_t)fv;
                            } else {
                                return corrupt(err, "bad dim field");
                            }
                        }
                        if (t.rank == PT2_MAX_RANK) return pt2_fail(err, PT2_ERR_UNSUPPORTED, "tensor rank above %d", PT2_MAX_RANK);
                        t.shape[t.rank++] = dim_size;
                    }
                    shape.pos += (size_t)dim_length;
                }
            }
            r.pos += (size_t)v;
        } else {
            return corrupt(err, "unexpected wire type");
        }
    }
    pt2_error_set_entry(err, key);
    t.dtype = from_tf_dtype(dtype);
    if (!t.dtype) return pt2_fail(err, PT2_ERR_UNSUPPORTED, "TensorFlow dtype %llu is not supported", (unsigned long long)dtype);
    if (shard != 0) return pt2_fail(err, PT2_ERR_UNSUPPORTED, "sharded checkpoints are not supported");
    int64_t numel;
    if (!pt2_shape_numel(t.shape, t.rank, &numel, err)) return err->status;
    int64_t byte_count; /* checked: a shape of [2^62] float32 must not wrap around to a size of 0 */
    if (!pt2_mul_i64(numel, (int64_t)pt2_dtype_size(t.dtype), &byte_count) || (uint64_t)byte_count != size)
        return pt2_fail(err, PT2_ERR_INPUT, "entry's size (%llu bytes) is not its shape's element count times %zu bytes",
                        (unsigned long long)size, pt2_dtype_size(t.dtype));
    if (offset > c->data_length || size > c->data_length - offset)
        return pt2_fail(err, PT2_ERR_INPUT, "entry's size or offset does not fit the data file (%zu bytes)", c->data_length);
#ifndef PT2_FUZZ_NO_CHECKSUMS
    if (c->data_crc == PT2_TF_CHECK_DATA_CRC && pt2_crc32c_unmask(masked) != pt2_crc32c(c->data + offset, (size_t)size))
        return pt2_fail(err, PT2_ERR_INPUT, "CRC-32C mismatch in the data file");
#else
    (void)masked;
#endif
    pt2_contiguous_strides(t.shape, t.rank, t.strides);
    t.storage = (void *)(c->data + offset);
    t.storage_bytes = (size_t)size;
    /* TF packs tensors back to back: an int64 after a float32 of odd length is misaligned. */
    pt2_status st = pt2_storage_align(c->arena, t.dtype, &t.storage, t.storage_bytes, err);
    if (st) return st;
    pt2_tf_variable *grown = pt2_arena_grow(c->arena, c->variables, c->count, &c->capacity, sizeof *grown, err);
    if (!grown) return err->status;
    c->variables = grown;
    c->variables[c->count].name = pt2_arena_strndup(c->arena, key, key_length, err);
    if (!c->variables[c->count].name) return err->status;
    c->variables[c->count++].tensor = t;
    err->entry[0] = 0;
    return PT2_OK;
}

typedef struct index_context {
    read_context *read;
} index_context;

static pt2_status visit_index_entry(void *context, const char *key, size_t key_length, const uint8_t *value,
                                    size_t value_length, pt2_error *err) {
    (void)key;
    (void)key_length;
    read_context *c = ((index_context *)context)->read;
    reader handle = {value, value_length, 0};
    uint64_t offset, size;
    if (!get_varint(&handle, &offset) || !get_varint(&handle, &size)) return corrupt(err, "bad block handle");
    reader block;
    pt2_status st = read_block(c->index, c->index_length, offset, size, &block, err);
    if (st) return st;
    return visit_block(c->arena, &block, visit_entry, c, err);
}

static pt2_status read_bundle(pt2_arena *arena, const uint8_t *index, size_t index_length, const uint8_t *data,
                              size_t data_length, pt2_tf_data_crc data_crc, const char *file_name,
                              pt2_tf_variable **variables, size_t *count, pt2_error *err);

pt2_status pt2_tf_checkpoint_read(pt2_arena *arena, const uint8_t *index, size_t index_length, const uint8_t *data,
                                  size_t data_length, pt2_tf_data_crc data_crc, const char *file_name,
                                  pt2_tf_variable **variables, size_t *count, pt2_error *err) {
    pt2_reader_bound bound;
    size_t input_bytes = index_length + data_length; /* both are in memory, so this cannot wrap */
    pt2_arena_reader_begin(arena, input_bytes, file_name, &bound);
    pt2_status st = read_bundle(arena, index, index_length, data, data_length, data_crc, file_name, variables, count, err);
    pt2_arena_reader_end(arena, &bound);
    return st;
}

static pt2_status read_bundle(pt2_arena *arena, const uint8_t *index, size_t index_length, const uint8_t *data,
                              size_t data_length, pt2_tf_data_crc data_crc, const char *file_name,
                              pt2_tf_variable **variables, size_t *count, pt2_error *err) {
    pt2_error_set_file(err, file_name);
    if (index_length < FOOTER_SIZE) return corrupt(err, "shorter than its 48-byte footer (truncated)");
    const uint8_t *footer = index + index_length - FOOTER_SIZE;
    if (memcmp(footer + 40, table_magic, 8) != 0) return corrupt(err, "bad magic number (not a TensorFlow checkpoint index)");
    reader f = {footer, 40, 0};
    uint64_t meta_offset, meta_size, index_offset, index_size;
    if (!get_varint(&f, &meta_offset) || !get_varint(&f, &meta_size) || !get_varint(&f, &index_offset) ||
        !get_varint(&f, &index_size))
        return corrupt(err, "bad footer");
    read_context c = {arena, index, index_length - FOOTER_SIZE, data, data_length, data_crc, NULL, 0, 0, 0};
    reader index_block;
    pt2_status st = read_block(index, index_length - FOOTER_SIZE, index_offset, index_size, &index_block, err);
    if (st) return st;
    index_context ic = {&c};
    if ((st = visit_block(arena, &index_block, visit_index_entry, &ic, err))) return st;
    if (!c.saw_header) return corrupt(err, "no header entry");
    *variables = c.variables;
    *count = c.count;
    return PT2_OK;
}
