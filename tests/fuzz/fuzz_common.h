/* Shared by the fuzz harnesses: the checks every harness makes on what a reader hands back,
 * and the small framing helpers that split one fuzz input into several files.
 *
 * A harness is a LLVMFuzzerTestOneInput. The PT2_FUZZ build links it with libFuzzer (clang,
 * -fsanitize=fuzzer,address,undefined); every native build also links it with replay_main.c,
 * a plain main() that replays files and directories (the regression inputs under gcc + ASan). */
#ifndef PT2_TESTS_FUZZ_COMMON_H
#define PT2_TESTS_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/arena.h"
#include "core/base/error.h"
#include "core/base/tensor.h"

/* Far above the reader bound for any input libFuzzer makes (-max_len stays in the megabytes):
 * a reader that reaches it instead of the bound is a finding. */
#define FUZZ_ARENA_LIMIT ((size_t)1 << 30)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline void fuzz_die(const char *what, const char *detail) {
    fprintf(stderr, "fuzz check failed: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

/* A reader's failure must be the input's fault (2: bad input, unsupported) with one non-empty
 * line; out-of-memory, over-the-limit or internal errors on a file are defects. */
static inline void fuzz_check_status(pt2_status st, const pt2_error *err) {
    if (st == PT2_OK) return;
    char line[4096];
    pt2_error_format(err, line, sizeof line);
    if (st != PT2_ERR_INPUT && st != PT2_ERR_UNSUPPORTED && st != PT2_ERR_VERIFY) fuzz_die("reader failed with a status other than bad input", line);
    if (st != err->status) fuzz_die("returned status differs from the recorded one", line);
    if (!err->message[0]) fuzz_die("failure without a message", NULL);
    if (strchr(line, '\n')) fuzz_die("error is more than one line", line);
}

static volatile uint8_t fuzz_sink;

/* Every tensor a reader returns lies inside its storage, is aligned to its element type, and
 * every byte its view covers is read (so ASan sees any byte outside the buffer). */
static inline void fuzz_check_tensor(const pt2_tensor *t) {
    pt2_error err;
    pt2_error_clear(&err);
    if (pt2_tensor_check_bounds(t, &err) != PT2_OK) fuzz_die("tensor outside its storage", err.message);
    size_t elsize = pt2_dtype_size(t->dtype);
    if (t->storage && (uintptr_t)t->storage % elsize != 0) fuzz_die("storage not aligned to its element type", pt2_dtype_name(t->dtype));
    int64_t numel = 1, last = t->storage_offset;
    for (int i = 0; i < t->rank; i++) numel *= t->shape[i];
    if (numel == 0) return;
    for (int i = 0; i < t->rank; i++) last += (t->shape[i] - 1) * t->strides[i];
    const uint8_t *bytes = t->storage;
    uint8_t acc = 0;
    for (size_t b = (size_t)t->storage_offset * elsize; b < (size_t)(last + 1) * elsize; b++) acc ^= bytes[b];
    fuzz_sink ^= acc;
}

/* Framing: a little-endian u32 length, then that many bytes (cut to what is left). */
typedef struct fuzz_reader {
    const uint8_t *p;
    size_t left;
} fuzz_reader;

static inline uint32_t fuzz_u32(fuzz_reader *r) {
    uint32_t v = 0;
    for (int i = 0; i < 4 && r->left; i++, r->p++, r->left--) v |= (uint32_t)r->p[0] << (8 * i);
    return v;
}

static inline const uint8_t *fuzz_bytes(fuzz_reader *r, size_t n, size_t *got) {
    if (n > r->left) n = r->left;
    const uint8_t *p = r->p;
    r->p += n;
    r->left -= n;
    *got = n;
    return p;
}

/* One arena for every run of the process, reset between runs: a fresh arena's first chunk is a
 * 1 MiB mmap/munmap under ASan, which cost more than the reading itself (3/4 of a run's time
 * was system time). Past 256 MiB kept, it is released and made anew. */
static pt2_arena fuzz_arena_storage;
static int fuzz_arena_ready;
static void *fuzz_owned[8]; /* exact-size copies made by fuzz_copy, freed by fuzz_arena_end */
static size_t fuzz_owned_count;

static inline pt2_arena *fuzz_arena_begin(void) {
    if (!fuzz_arena_ready) {
        pt2_arena_init(&fuzz_arena_storage, FUZZ_ARENA_LIMIT);
        fuzz_arena_ready = 1;
    }
    return &fuzz_arena_storage;
}

static inline void fuzz_arena_end(pt2_arena *arena) {
    if (arena->used_bytes > ((size_t)256 << 20)) {
        pt2_arena_free(arena);
        pt2_arena_init(arena, FUZZ_ARENA_LIMIT);
    } else {
        pt2_arena_reset(arena);
    }
    while (fuzz_owned_count) free(fuzz_owned[--fuzz_owned_count]);
}

static inline uint8_t *fuzz_alloc(pt2_arena *arena, size_t n) {
    pt2_error err;
    pt2_error_clear(&err);
    uint8_t *p = pt2_arena_alloc(arena, n ? n : 1, &err); /* zeroed */
    if (!p) fuzz_die("harness allocation", err.message);
    return p;
}

static inline uint8_t *fuzz_zeroed(size_t n) {
    if (fuzz_owned_count == sizeof fuzz_owned / sizeof fuzz_owned[0]) fuzz_die("too many harness copies", NULL);
    uint8_t *p = calloc(n ? n : 1, 1);
    if (!p) fuzz_die("harness allocation", NULL);
    fuzz_owned[fuzz_owned_count++] = p;
    return p;
}

/* A malloc'd copy of exactly the bytes a file would have (not in the arena, which rounds up),
 * so that ASan catches a read one past its end: each part of a split input gets its own. */
static inline uint8_t *fuzz_copy(pt2_arena *arena, const uint8_t *p, size_t n) {
    (void)arena;
    if (fuzz_owned_count == sizeof fuzz_owned / sizeof fuzz_owned[0]) fuzz_die("too many harness copies", NULL);
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy) fuzz_die("harness allocation", NULL);
    if (n) memcpy(copy, p, n);
    fuzz_owned[fuzz_owned_count++] = copy;
    return copy;
}

#endif
