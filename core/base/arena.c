#include "arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Small allocations share chunks; big ones (a quarter of a chunk and more) get a block of their
 * own. A chunk's unused end is memory too: with 1 MiB chunks the conversion of a small network
 * held a MiB or two of chunk ends (a BLSTM's, before the emit: 2 chunks, 1.06 MiB used); at
 * 256 KiB the peak convert reports went down by 0.5-2.2 MiB (2.4-13%) for each benchmark model. */
#define CHUNK_BYTES ((size_t)1 << 18)
#define ALIGN 64

struct pt2_arena_block {
    pt2_arena_block *next;
    void *allocation; /* what malloc returned: the block starts at its first ALIGN boundary */
    size_t size; /* usable bytes after the header */
    size_t used;
    int own;         /* holds one large allocation (not a chunk of small ones) */
    uint64_t serial; /* when it was taken (pt2_arena_mark), so a step can free the large blocks it made */
    /* memory taken from elsewhere (pt2_arena_take): `external` holds its `size` bytes, and
     * `give_back` returns them when the arena frees the block */
    void *external;
    void (*give_back)(void *data, size_t size);
    size_t (*give_back_part)(void *data, size_t size);
    size_t given_back; /* of external's bytes, given back by parts already (counted out) */
    /* data follows, ALIGN-aligned */
};

static size_t header_size(void) { return (sizeof(pt2_arena_block) + ALIGN - 1) & ~(size_t)(ALIGN - 1); }

void pt2_arena_init(pt2_arena *arena, size_t limit_bytes) {
    memset(arena, 0, sizeof *arena);
    arena->limit_bytes = limit_bytes ? limit_bytes : PT2_ARENA_DEFAULT_LIMIT;
}

static void free_block(pt2_arena_block *b) {
    if (b->external) {
        b->give_back(b->external, b->size);
        free(b); /* the header alone came from calloc */
        return;
    }
    free(b->allocation);
}

static void free_list(pt2_arena_block *b) {
    while (b) {
        pt2_arena_block *next = b->next;
        free_block(b);
        b = next;
    }
}

void pt2_arena_init_child(pt2_arena *child, pt2_arena *parent) {
    pt2_arena_init(child, parent->limit_bytes);
    child->parent = parent;
}

void pt2_arena_free(pt2_arena *arena) {
    free_list(arena->head);
    free_list(arena->spare);
    arena->head = arena->spare = NULL;
    for (pt2_arena *p = arena->parent; p; p = p->parent) p->used_bytes -= arena->used_bytes;
    arena->used_bytes = 0;
}

void pt2_arena_reset(pt2_arena *arena) {
    while (arena->head) {
        pt2_arena_block *b = arena->head;
        arena->head = b->next;
        if (b->external) { /* not memory to reuse: given back */
            for (pt2_arena *q = arena; q; q = q->parent) q->used_bytes -= b->size - b->given_back + header_size();
            free_block(b);
            continue;
        }
        b->used = 0;
        b->next = arena->spare;
        arena->spare = b;
    }
}

int pt2_arena_adopt(pt2_arena *to, pt2_arena *from, const void *p) {
    for (pt2_arena_block **link = &from->head; *link; link = &(*link)->next) {
        pt2_arena_block *b = *link;
        /* a block of its own only: a chunk moved would take its other allocations along */
        if ((const char *)b + header_size() != (const char *)p || !b->own) continue;
        *link = b->next;
        b->next = to->head ? to->head->next : NULL; /* behind the current chunk, as a big block goes */
        if (to->head) to->head->next = b;
        else to->head = b;
        size_t total = b->size + header_size();
        for (pt2_arena *q = from; q; q = q->parent) q->used_bytes -= total;
        for (pt2_arena *q = to; q; q = q->parent) {
            q->used_bytes += total;
            if (q->used_bytes > q->peak_bytes) q->peak_bytes = q->used_bytes;
        }
        return 1;
    }
    return 0;
}

static int may_take(pt2_arena *arena, size_t size, size_t total, pt2_error *err);
static void count_taken(pt2_arena *arena, size_t total);

int pt2_arena_take(pt2_arena *arena, void *data, size_t size, void (*give_back)(void *data, size_t size),
                   size_t (*give_back_part)(void *data, size_t size), pt2_error *err) {
    /* A header of its own that counts the memory's bytes (the limit and the reader bound hold);
     * the memory itself stays where it is. */
    size_t total;
    if (!pt2_add_size(size, header_size(), &total)) total = SIZE_MAX;
    if (!may_take(arena, size, total, err)) return 0;
    pt2_arena_block *b = calloc(1, sizeof *b);
    if (!b) {
        pt2_fail(err, PT2_ERR_MEMORY, "out of memory");
        return 0;
    }
    b->size = b->used = size;
    b->external = data;
    b->give_back = give_back;
    b->give_back_part = give_back_part;
    b->serial = arena->next_serial++;
    b->next = arena->head ? arena->head->next : NULL; /* behind the current chunk, as a big block goes */
    if (arena->head) arena->head->next = b;
    else arena->head = b;
    count_taken(arena, total);
    return 1;
}

/* A block of its own: one large allocation fills it (chunks hold many small ones). */
static int is_own_block(const pt2_arena_block *b) { return b->own; }

size_t pt2_arena_release_part(pt2_arena *arena, const void *p, size_t size) {
    for (pt2_arena_block *b = arena->head; b; b = b->next) {
        uintptr_t start = (uintptr_t)b->external, at = (uintptr_t)p; /* addresses of other objects compared */
        if (!b->external || !b->give_back_part || at < start || size > b->size || at - start > b->size - size) continue;
        size_t given = b->give_back_part((void *)p, size);
        if (given > b->size - b->given_back) given = b->size - b->given_back;
        b->given_back += given;
        for (pt2_arena *a = arena; a; a = a->parent) a->used_bytes -= given;
        return given;
    }
    return 0;
}

static void release_block(pt2_arena *arena, pt2_arena_block **link) {
    pt2_arena_block *b = *link;
    *link = b->next;
    size_t total = b->size - b->given_back + header_size();
    for (pt2_arena *q = arena; q; q = q->parent) q->used_bytes -= total;
    free_block(b);
}

int pt2_arena_release(pt2_arena *arena, const void *p) {
    for (pt2_arena_block **link = &arena->head; *link; link = &(*link)->next) {
        pt2_arena_block *b = *link;
        int holds = b->external ? b->external == p : (const char *)b + header_size() == (const char *)p && is_own_block(b);
        if (!holds) continue;
        release_block(arena, link);
        return 1;
    }
    return 0;
}

uint64_t pt2_arena_mark(const pt2_arena *arena) { return arena->next_serial; }

size_t pt2_arena_release_since(pt2_arena *arena, uint64_t mark, const void *const *keep, size_t num_keep) {
    size_t released = 0;
    for (pt2_arena_block **link = &arena->head; *link;) {
        pt2_arena_block *b = *link;
        const char *start = (const char *)b + header_size(), *end = start + b->size;
        int kept = b->serial < mark || !is_own_block(b);
        for (size_t k = 0; k < num_keep && !kept; k++) kept = (const char *)keep[k] >= start && (const char *)keep[k] < end;
        if (kept) {
            link = &b->next;
            continue;
        }
        released += b->size + header_size();
        release_block(arena, link);
    }
    return released;
}

int pt2_mul_size(size_t a, size_t b, size_t *out) {
    if (a && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

int pt2_add_size(size_t a, size_t b, size_t *out) {
    if (b > SIZE_MAX - a) return 0;
    *out = a + b;
    return 1;
}

int pt2_mul_i64(int64_t a, int64_t b, int64_t *out) {
    if (a < 0 || b < 0) return 0;
    if (a && b > INT64_MAX / a) return 0;
    *out = a * b;
    return 1;
}

void pt2_arena_reader_begin(pt2_arena *arena, size_t input_bytes, const char *file_name, pt2_reader_bound *bound) {
    bound->active = 0;
    for (const pt2_arena *q = arena; q; q = q->parent)
        if (q->bound_bytes) return; /* an outer reader's bound holds (on this arena or a parent) */
    size_t allowed;
    if (!pt2_mul_size(input_bytes, PT2_READER_MEMORY_MULTIPLE, &allowed) ||
        !pt2_add_size(allowed, PT2_READER_MEMORY_ALLOWANCE, &allowed) ||
        !pt2_add_size(allowed, arena->used_bytes, &allowed))
        allowed = SIZE_MAX;
    arena->bound_bytes = allowed;
    arena->bound_file = file_name;
    bound->active = 1;
}

void pt2_arena_reader_end(pt2_arena *arena, const pt2_reader_bound *bound) {
    if (!bound->active) return;
    arena->bound_bytes = 0;
    arena->bound_file = NULL;
}

/* Past the reader bound the file is at fault, not the machine: exit 2, naming the file. */
static void fail_over_bound(pt2_arena *arena, pt2_error *err) {
    pt2_error_set_file(err, arena->bound_file);
    pt2_fail(err, PT2_ERR_INPUT,
             "reading this file needs more memory than its size justifies (a reader may use %d times the "
             "file's size plus %zu MiB); the file is damaged or hostile",
             PT2_READER_MEMORY_MULTIPLE, PT2_READER_MEMORY_ALLOWANCE >> 20);
}

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PT2_ARENA_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define PT2_ARENA_SANITIZED 1
#endif

/* `total` bytes at an ALIGN boundary; *allocation is what free takes. malloc, aligned here, not
 * posix_memalign: glibc serves an aligned request from a free chunk only with room for the
 * alignment to spare, so a tensor freed and the next one of its size never met, each going to the
 * heap's top (a 2-D front end's 11 MiB of live memory spread over 35 MiB of heap, all of it
 * resident, and the first touch of every new page a fault). A sanitizer build keeps the exact
 * bounds of posix_memalign, so that a write just past a block is still caught. */
static pt2_arena_block *aligned_block(size_t total, void **allocation) {
#ifdef PT2_ARENA_SANITIZED
    return posix_memalign(allocation, ALIGN, total) == 0 ? *allocation : NULL;
#else
    size_t padded;
    *allocation = pt2_add_size(total, ALIGN, &padded) ? malloc(padded) : NULL;
    if (!*allocation) return NULL;
    return (pt2_arena_block *)(((uintptr_t)*allocation + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1));
#endif
}

static pt2_arena_block *new_block(pt2_arena *arena, size_t size, pt2_error *err) {
    /* A kept block that is large enough (the smallest such) serves before new memory. */
    pt2_arena_block **best = NULL;
    for (pt2_arena_block **link = &arena->spare; *link; link = &(*link)->next)
        if ((*link)->size >= size && (!best || (*link)->size < (*best)->size)) best = link;
    if (best) {
        pt2_arena_block *b = *best;
        *best = b->next;
        b->next = NULL;
        b->serial = arena->next_serial++;
        return b;
    }
    size_t total;
    if (!pt2_add_size(size, header_size(), &total)) total = SIZE_MAX;
    if (!may_take(arena, size, total, err)) return NULL;
    void *raw = NULL;
    pt2_arena_block *b = aligned_block(total, &raw);
    if (!b) {
        pt2_fail(err, PT2_ERR_MEMORY, "out of memory allocating %zu bytes", size);
        return NULL;
    }
    memset(b, 0, sizeof *b);
    b->allocation = raw;
    b->size = size;
    b->serial = arena->next_serial++;
    count_taken(arena, total);
    return b;
}

/* Whether `total` more bytes (an allocation of `size`) stay within the reader bound and the limit. */
static int may_take(pt2_arena *arena, size_t size, size_t total, pt2_error *err) {
    /* A child's bytes count in its parents' use, so a reader's bound on a parent holds for the
     * children it parses into as well (a tree freed once read) */
    for (pt2_arena *q = arena; q; q = q->parent)
        if (q->bound_bytes && (q->used_bytes > q->bound_bytes || total > q->bound_bytes - q->used_bytes)) {
            fail_over_bound(q, err);
            return 0;
        }
    const pt2_arena *root = arena;
    while (root->parent) root = root->parent;
    if (total > root->limit_bytes - root->used_bytes || root->used_bytes > root->limit_bytes) {
        pt2_fail(err, PT2_ERR_MEMORY, "allocation of %zu bytes exceeds the memory limit of %zu bytes", size,
                 root->limit_bytes);
        return 0;
    }
    return 1;
}

static void count_taken(pt2_arena *arena, size_t total) {
    for (pt2_arena *p = arena; p; p = p->parent) {
        p->used_bytes += total;
        if (p->used_bytes > p->peak_bytes) p->peak_bytes = p->used_bytes;
    }
}

static void *arena_alloc(pt2_arena *arena, size_t size, int zero, pt2_error *err) {
    size_t rounded;
    if (!pt2_add_size(size, ALIGN - 1, &rounded)) {
        if (arena->bound_bytes) {
            fail_over_bound(arena, err);
            return NULL;
        }
        pt2_fail(err, PT2_ERR_MEMORY, "allocation size overflows");
        return NULL;
    }
    rounded &= ~(size_t)(ALIGN - 1);
    if (rounded == 0) rounded = ALIGN;
    pt2_arena_block *b = arena->head;
    if (!b || b->size - b->used < rounded) {
        if (rounded >= (arena->own_block_bytes ? arena->own_block_bytes : CHUNK_BYTES / 4)) {
            /* A big allocation gets its own block, linked behind the current chunk so the
             * chunk's free space stays usable. */
            pt2_arena_block *big = new_block(arena, rounded, err);
            if (!big) return NULL;
            big->used = big->size;
            big->own = 1;
            if (arena->head) {
                big->next = arena->head->next;
                arena->head->next = big;
            } else {
                big->next = NULL;
                arena->head = big;
            }
            char *p = (char *)big + header_size();
            if (zero) memset(p, 0, rounded);
            return p;
        }
        pt2_arena_block *chunk = new_block(arena, CHUNK_BYTES, err);
        if (!chunk) return NULL;
        chunk->own = 0;
        chunk->next = arena->head;
        arena->head = chunk;
        b = chunk;
    }
    char *p = (char *)b + header_size() + b->used;
    b->used += rounded;
    if (zero) memset(p, 0, rounded);
    return p;
}

void *pt2_arena_alloc(pt2_arena *arena, size_t size, pt2_error *err) { return arena_alloc(arena, size, 1, err); }

void *pt2_arena_alloc_uninit(pt2_arena *arena, size_t size, pt2_error *err) { return arena_alloc(arena, size, 0, err); }

void *pt2_arena_alloc_array(pt2_arena *arena, size_t n, size_t size, pt2_error *err) {
    size_t total;
    if (!pt2_mul_size(n, size, &total)) {
        if (arena->bound_bytes) {
            fail_over_bound(arena, err);
            return NULL;
        }
        pt2_fail(err, PT2_ERR_MEMORY, "array of %zu x %zu bytes overflows", n, size);
        return NULL;
    }
    return pt2_arena_alloc(arena, total, err);
}

char *pt2_arena_strndup(pt2_arena *arena, const char *s, size_t n, pt2_error *err) {
    char *p = pt2_arena_alloc(arena, n + 1, err);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *pt2_arena_strdup(pt2_arena *arena, const char *s, pt2_error *err) {
    return pt2_arena_strndup(arena, s, strlen(s), err);
}

char *pt2_arena_printf(pt2_arena *arena, pt2_error *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        pt2_fail(err, PT2_ERR_INTERNAL, "bad format string");
        return NULL;
    }
    char *p = pt2_arena_alloc(arena, (size_t)n + 1, err);
    if (!p) return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void *pt2_arena_grow(pt2_arena *arena, void *items, size_t count, size_t *capacity, size_t item_size,
                     pt2_error *err) {
    if (count < *capacity) return items;
    size_t new_capacity = *capacity ? *capacity * 2 : 8;
    void *grown = pt2_arena_alloc_array(arena, new_capacity, item_size, err);
    if (!grown) return NULL;
    if (count) memcpy(grown, items, count * item_size);
    *capacity = new_capacity;
    return grown;
}
