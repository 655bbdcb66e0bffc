/* Arena: one conversion's memory. Everything a reader, the graph or a run allocates
 * lives here and is released by one pt2_arena_free. Allocations are zeroed. */
#ifndef PT2_BASE_ARENA_H
#define PT2_BASE_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct pt2_arena_block pt2_arena_block;

typedef struct pt2_arena {
    pt2_arena_block *head;
    pt2_arena_block *spare; /* blocks kept by pt2_arena_reset for reuse */
    size_t used_bytes;  /* sum of the blocks' sizes */
    size_t limit_bytes; /* hard cap; 0 means the default */
    size_t peak_bytes;
    struct pt2_arena *parent; /* a child arena's blocks count towards its parent's use, limit and peak */
    size_t bound_bytes;     /* while a reader runs: the most used_bytes may reach; 0 = no bound */
    const char *bound_file; /* the file that reader reads, named when the bound is hit */
    uint64_t next_serial;   /* blocks are numbered as they are taken (pt2_arena_mark) */
    /* Allocations of at least this many bytes get a block of their own, which pt2_arena_release
     * can free; 0 means the default (a quarter of a chunk). A run that releases its values lowers
     * it, so that small values do not stay behind in shared chunks. */
    size_t own_block_bytes;
} pt2_arena;

#define PT2_ARENA_DEFAULT_LIMIT ((size_t)1 << 31) /* 2 GiB: the WASM heap's practical ceiling */

void pt2_arena_init(pt2_arena *arena, size_t limit_bytes);
/* An arena for short-lived memory (one layer's temporaries, a value until its last use) that
 * is freed or reset long before `parent`, while its memory counts towards the parent's used
 * bytes, limit and peak, so the parent's peak_bytes is the conversion's peak. */
void pt2_arena_init_child(pt2_arena *child, pt2_arena *parent);
void pt2_arena_free(pt2_arena *arena);
/* Forgets every allocation but keeps the memory, so running the same work again (a benchmark's
 * repeats, a server's next request) reuses pages the system has already mapped. */
void pt2_arena_reset(pt2_arena *arena);

/* Moves the allocation starting at p from `from` to `to` when it has a block of its own (a large
 * one): a layer's output computed among its temporaries then outlives them without a copy.
 * Returns 1 when moved, 0 when p is not such an allocation of `from` (the caller copies). */
int pt2_arena_adopt(pt2_arena *to, pt2_arena *from, const void *p);

/* Takes `size` bytes of memory got elsewhere (a file mapped into memory) as an allocation of the
 * arena: they count towards its use, limit and peak as any allocation does, and the arena's
 * free (or reset) hands them to give_back. give_back_part (or NULL) gives back what it can of a
 * part of them before that, returning the bytes it gave (the whole pages of a mapped file's range),
 * which then count no more (pt2_arena_release_part). Returns 1, or 0 after filling err (the limit;
 * the memory is then still the caller's). */
int pt2_arena_take(pt2_arena *arena, void *data, size_t size, void (*give_back)(void *data, size_t size),
                   size_t (*give_back_part)(void *data, size_t size), pt2_error *err);
/* [p, p + size) of memory pt2_arena_take took with a give_back_part, read no more: handed to it
 * (a weight of the model file once the checkpoint holds it). Returns the bytes given back; 0 when
 * p lies in no such memory. Each range at most once: the bytes are counted out once. */
size_t pt2_arena_release_part(pt2_arena *arena, const void *p, size_t size);

/* Frees, at once, the allocation starting at p when it has a block of its own (a large one: a
 * value of the reference run released after its last reader; memory pt2_arena_take took).
 * Returns 1 when freed, 0 when p is no such allocation of `arena` (then nothing changes). */
int pt2_arena_release(pt2_arena *arena, const void *p);
/* A mark of "now": pt2_arena_release_since frees the blocks of their own (large allocations)
 * taken after it, except those that hold one of the `keep` addresses: a step's temporaries go
 * when the step ends, its results stay. Returns the bytes freed. */
uint64_t pt2_arena_mark(const pt2_arena *arena);
size_t pt2_arena_release_since(pt2_arena *arena, uint64_t mark, const void *const *keep, size_t num_keep);

/* The reader bound: reading a file may allocate at most PT2_READER_MEMORY_MULTIPLE times the
 * file's size plus PT2_READER_MEMORY_ALLOWANCE. A file that needs more (shared pickle references
 * expanded, a JSON of empty lists, ...) is damaged or hostile: the allocation fails with
 * PT2_ERR_INPUT (exit 2) naming the file, long before the arena's limit (which means exit 3).
 * docs/fuzzing.md states the bound. Nested readers (a pickle inside an archive) keep the outer
 * bound, which holds for the reader's child arenas too (their bytes count in its use). */
#define PT2_READER_MEMORY_MULTIPLE 32
#ifndef PT2_READER_MEMORY_ALLOWANCE /* the fuzz build lowers it, so that one input costs little time */
#define PT2_READER_MEMORY_ALLOWANCE ((size_t)64 << 20)
#endif

typedef struct pt2_reader_bound {
    int active; /* this begin set the bound (and its end lifts it) */
} pt2_reader_bound;

void pt2_arena_reader_begin(pt2_arena *arena, size_t input_bytes, const char *file_name, pt2_reader_bound *bound);
void pt2_arena_reader_end(pt2_arena *arena, const pt2_reader_bound *bound);

/* Returns zeroed memory aligned to 64 bytes (SIMD and XNNPACK friendly), or NULL after
 * filling `err` when the size overflows or the arena's limit would be exceeded. */
void *pt2_arena_alloc(pt2_arena *arena, size_t size, pt2_error *err);
/* The same without zeroing, for memory the caller overwrites entirely (a copy, a layer's
 * output): zeroing it first would be a second pass over memory that a reused block already has. */
void *pt2_arena_alloc_uninit(pt2_arena *arena, size_t size, pt2_error *err);
/* n * size with an overflow check. */
void *pt2_arena_alloc_array(pt2_arena *arena, size_t n, size_t size, pt2_error *err);
char *pt2_arena_strdup(pt2_arena *arena, const char *s, pt2_error *err);
char *pt2_arena_strndup(pt2_arena *arena, const char *s, size_t n, pt2_error *err);
char *pt2_arena_printf(pt2_arena *arena, pt2_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Checked arithmetic for sizes read from files. Return 0 on overflow. */
int pt2_mul_size(size_t a, size_t b, size_t *out);
int pt2_add_size(size_t a, size_t b, size_t *out);
int pt2_mul_i64(int64_t a, int64_t b, int64_t *out);

/* A growable array inside the arena: pointer + count + capacity; grows by doubling. */
void *pt2_arena_grow(pt2_arena *arena, void *items, size_t count, size_t *capacity, size_t item_size,
                     pt2_error *err);

#endif
