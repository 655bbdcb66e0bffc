/* The vectorised per-layer comparison against a plain one-value-at-a-time comparison written
 * here (lengths that leave a tail, NaNs, zeros, infinities, a zero tolerance, a difference exactly
 * at the tolerance and one float above it; layouts read through their strides), and
 * pt2_arena_adopt (a large allocation moves between arenas with its bytes counted once; anything
 * else is refused), and pt2_arena_release_part (taken memory given back by parts: what the
 * callback gave counts out, the rest when the whole goes). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/base/arena.h"
#include "core/verify/verify_layers.h"

static void plain_compare(const float *a, const float *b, int64_t n, double atol, double rtol, pt2_comparison *out) {
    double max_abs = 0, max_rel = 0, worst = 0;
    int64_t failed = 0, nan = 0;
    for (int64_t k = 0; k < n; k++) {
        double diff = fabs((double)a[k] - (double)b[k]), scale = fabs((double)b[k]), allowed = atol + rtol * scale;
        double ratio = allowed > 0 ? diff / allowed : (diff > 0 ? INFINITY : 0.0);
        if (diff > max_abs) max_abs = diff;
        if (scale > 0 && diff / scale > max_rel) max_rel = diff / scale;
        if (ratio > worst) worst = ratio;
        failed += diff > allowed;
        nan += diff != diff;
    }
    out->max_abs = nan ? NAN : max_abs;
    out->max_rel = max_rel;
    out->worst_ratio = nan ? NAN : worst;
    out->passed = !failed && !nan;
}

static pt2_tensor vector_of(float *data, int64_t n) {
    pt2_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = PT2_DTYPE_FLOAT32;
    t.rank = 1;
    t.shape[0] = n;
    t.strides[0] = 1;
    t.storage = data;
    return t;
}

static int close_to(double got, double want) {
    if (isnan(want)) return isnan(got);
    if (isinf(want)) return isinf(got);
    return fabs(got - want) <= 1e-6 * fabs(want) + 1e-30;
}

/* pt2_compare_tensors of a and b against plain_compare: figures within 1e-6 of each other, or
 * (to_the_bit) equal; a disagreement is printed with the trial's number. */
static int agrees_with_plain(const float *a, const float *b, int64_t n, double atol, double rtol, int to_the_bit,
                             const char *what, int trial) {
    pt2_tensor ta = vector_of((float *)a, n), tb = vector_of((float *)b, n);
    pt2_comparison got, want;
    pt2_compare_tensors(&ta, &tb, atol, rtol, &got);
    plain_compare(a, b, n, atol, rtol, &want);
    int same = got.passed == want.passed &&
               (to_the_bit ? got.max_abs == want.max_abs && got.max_rel == want.max_rel && got.worst_ratio == want.worst_ratio
                           : close_to(got.max_abs, want.max_abs) && close_to(got.max_rel, want.max_rel) &&
                                 close_to(got.worst_ratio, want.worst_ratio));
    if (!same)
        printf("%s trial %d (n=%lld): passed %d/%d, max abs %.17g/%.17g, max rel %.17g/%.17g, ratio %.17g/%.17g\n", what,
               trial, (long long)n, got.passed, want.passed, got.max_abs, want.max_abs, got.max_rel, want.max_rel,
               got.worst_ratio, want.worst_ratio);
    return same;
}

static void compare_cases(void) {
    srand(7);
    enum { MAX = 100 };
    float a[MAX], b[MAX];
    for (int trial = 0; trial < 3000; trial++) {
        int64_t n = 1 + rand() % MAX;
        for (int64_t k = 0; k < n; k++) {
            b[k] = rand() % 5 == 0 ? 0.0f : (float)(rand() / (double)RAND_MAX - 0.5) * 4;
            a[k] = b[k] + (float)((rand() / (double)RAND_MAX - 0.5) * 1e-4 * (rand() % 3));
        }
        if (trial % 7 == 0) a[rand() % n] = NAN;
        if (trial % 13 == 0) a[rand() % n] = INFINITY;
        double atol = trial % 17 == 0 ? 0 : 1e-5, rtol = trial % 17 == 0 ? 0 : 1e-5;
        CHECK(agrees_with_plain(a, b, n, atol, rtol, 0, "random", trial), "the vectorised comparison agrees with the plain one");
    }
    /* Exactly at the tolerance passes with ratio 1; one float more fails with ratio above 1, in the
     * vector part (8 values) and in the tail (9th value). */
    for (int position = 0; position < 9; position++) {
        float x[9], y[9];
        for (int k = 0; k < 9; k++) x[k] = y[k] = 1.0f;
        x[position] = 1.25f;
        pt2_tensor tx = vector_of(x, 9), ty = vector_of(y, 9);
        pt2_comparison c;
        pt2_compare_tensors(&tx, &ty, 0.25, 0.0, &c);
        CHECK(c.passed && c.worst_ratio == 1.0 && c.max_abs == 0.25, "a difference equal to the tolerance passes");
        x[position] = nextafterf(1.25f, 2.0f);
        pt2_compare_tensors(&tx, &ty, 0.25, 0.0, &c);
        CHECK(!c.passed && c.worst_ratio > 1.0, "a difference one float above the tolerance fails");
    }
}

/* Differences of a unit or two in the last place, as a result computed another way has: many
 * equal the largest so far, which the screen lets pass only where the float subtraction was
 * exact. Mixed in, pairs far apart (opposite signs, a factor of three or more, a zero), whose
 * float difference may be rounded. The figures must be the plain comparison's to the bit. */
static void tie_cases(void) {
    srand(13);
    enum { MAX = 300 };
    float a[MAX], b[MAX];
    for (int trial = 0; trial < 3000; trial++) {
        int64_t n = 1 + rand() % MAX;
        for (int64_t k = 0; k < n; k++) {
            b[k] = (float)((rand() % 41) - 20) * 0.125f * (rand() % 3 == 0 ? 1e-3f : 1.0f);
            int kind = rand() % 10;
            a[k] = kind < 4 ? b[k] : kind < 7 ? nextafterf(b[k], INFINITY) : kind < 8 ? nextafterf(nextafterf(b[k], -INFINITY), -INFINITY)
                 : kind < 9 ? -b[k] * 3.0f + 1e-7f : 0.0f;
        }
        double atol = trial % 3 == 0 ? 1e-6 : 1e-4, rtol = trial % 5 == 0 ? 0 : 1e-4;
        CHECK(agrees_with_plain(a, b, n, atol, rtol, 1, "tie", trial),
              "differences tying the largest so far give the plain comparison's figures to the bit");
    }
    /* The float difference equals the largest so far, but rounded down: (1 + 2^-23) - (-1) is
     * 2 + 2^-23, 2.0 in float. The first block sets the figures (a largest difference of 2.0,
     * large relative and ratio figures so that only the difference could move), the second holds
     * that pair: a screen that took a tie without checking the subtraction was exact would keep
     * 2.0. */
    float x[16], y[16];
    for (int k = 0; k < 16; k++) x[k] = y[k] = 0.5f;
    x[0] = 4.0f, y[0] = 2.0f;   /* difference 2.0, exactly */
    x[1] = 1.8f, y[1] = 1e-30f; /* relative difference ~1.8e30, ratio 0.9 of atol 2 + rtol 1 * |y| */
    x[8] = 1.0f + 0x1p-23f, y[8] = -1.0f;
    CHECK(fabs((double)x[8] - (double)y[8]) == 2.0 + 0x1p-23 && agrees_with_plain(x, y, 16, 2.0, 1.0, 1, "rounded tie", 0),
          "a difference rounded down to the largest so far in float still moves it");
}

/* A result in another layout (RETURNN's [T, C] against PyTorch's [C, T], and a strided slice) is
 * compared in place, chunk by chunk: the same figures as the plain comparison of the same pairs,
 * over sizes that leave partial chunks and a difference planted anywhere. */
static void strided_cases(void) {
    srand(11);
    enum { MAX_T = 2100, MAX_C = 5 };
    static float stored[MAX_T * MAX_C], reference[MAX_T * MAX_C], ours_in_order[MAX_T * MAX_C];
    for (int trial = 0; trial < 60; trial++) {
        int64_t t = 1 + rand() % MAX_T, c = 1 + rand() % MAX_C;
        for (int64_t k = 0; k < t * c; k++) reference[k] = (float)(rand() / (double)RAND_MAX - 0.5);
        /* ours[ch, f] is stored at [f, ch] (time-major), a few in a hundred off by up to 2e-4 */
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t f = 0; f < t; f++) {
                float v = reference[ch * t + f] + (rand() % 100 == 0 ? (float)(rand() / (double)RAND_MAX * 2e-4) : 0.0f);
                if (trial % 5 == 0 && rand() % 997 == 0) v = NAN;
                stored[f * c + ch] = v;
                ours_in_order[ch * t + f] = v;
            }
        pt2_tensor ours, torch = vector_of(reference, t * c);
        memset(&ours, 0, sizeof ours);
        ours.dtype = PT2_DTYPE_FLOAT32;
        ours.rank = torch.rank = 2;
        ours.shape[0] = torch.shape[0] = c;
        ours.shape[1] = torch.shape[1] = t;
        ours.strides[0] = 1, ours.strides[1] = c;
        torch.strides[0] = t, torch.strides[1] = 1;
        ours.storage = stored;
        pt2_comparison got, want;
        pt2_compare_tensors(&ours, &torch, 1e-4, 1e-4, &got);
        plain_compare(ours_in_order, reference, t * c, 1e-4, 1e-4, &want);
        int same = got.passed == want.passed && close_to(got.max_abs, want.max_abs) &&
                   close_to(got.max_rel, want.max_rel) && close_to(got.worst_ratio, want.worst_ratio);
        if (!same)
            printf("strided trial %d (%lld x %lld): passed %d/%d, max abs %g/%g, ratio %g/%g\n", trial, (long long)c,
                   (long long)t, got.passed, want.passed, got.max_abs, want.max_abs, got.worst_ratio, want.worst_ratio);
        CHECK(same, "the comparison of a transposed layout agrees with the plain one");
        /* every other frame of both: strided on both sides */
        if (t >= 2) {
            pt2_tensor half_ours = ours, half_torch = torch;
            half_ours.shape[1] = half_torch.shape[1] = t / 2;
            half_ours.strides[1] *= 2;
            half_torch.strides[1] *= 2;
            static float a[MAX_T * MAX_C], b[MAX_T * MAX_C];
            int64_t n = 0;
            for (int64_t ch = 0; ch < c; ch++)
                for (int64_t f = 0; f < t / 2; f++, n++) a[n] = stored[2 * f * c + ch], b[n] = reference[ch * t + 2 * f];
            pt2_compare_tensors(&half_ours, &half_torch, 1e-4, 1e-4, &got);
            plain_compare(a, b, n, 1e-4, 1e-4, &want);
            CHECK(got.passed == want.passed && close_to(got.max_abs, want.max_abs) && close_to(got.worst_ratio, want.worst_ratio),
                  "the comparison of two strided views agrees with the plain one");
        }
    }
}

static void adopt_cases(void) {
    pt2_arena parent, from, to;
    pt2_error err;
    pt2_error_clear(&err);
    pt2_arena_init(&parent, 0);
    pt2_arena_init_child(&from, &parent);
    pt2_arena_init_child(&to, &parent);
    size_t big = (size_t)4 << 20;
    float *value = pt2_arena_alloc_uninit(&from, big, &err);
    char *small = pt2_arena_alloc(&from, 100, &err);
    CHECK(value && small, "allocations");
    if (!value || !small) return;
    for (size_t i = 0; i < big / sizeof(float); i++) value[i] = (float)i;
    size_t parent_used = parent.used_bytes, from_used = from.used_bytes;
    CHECK(!pt2_arena_adopt(&to, &from, small), "a small allocation shares a chunk: not moved");
    CHECK(!pt2_arena_adopt(&to, &from, value + 1), "a pointer inside a block: not moved");
    CHECK(pt2_arena_adopt(&to, &from, value), "a large allocation moves");
    CHECK(!pt2_arena_adopt(&to, &from, value), "and only once");
    CHECK(parent.used_bytes == parent_used, "the parent counts the moved bytes once");
    CHECK(from.used_bytes < from_used && to.used_bytes == from_used - from.used_bytes,
          "the bytes move from one child to the other");
    pt2_arena_free(&from); /* the moved value outlives the arena it was made in */
    int intact = 1;
    for (size_t i = 0; i < big / sizeof(float); i++) intact &= value[i] == (float)i;
    CHECK(intact, "the moved value is intact after its first arena is freed");
    pt2_arena_free(&to);
    CHECK(parent.used_bytes == 0, "freeing both children returns every byte");
    pt2_arena_free(&parent);
}

/* A stand-in for a mapped file's give_back_part: records the range and gives back its whole
 * 100-byte "pages" (the CLI's drop_pages gives whole pages of the mapping). */
static const char *parted_at;
static size_t parted_size, given_back_whole;
static size_t give_back_hundreds(void *data, size_t size) {
    parted_at = data, parted_size = size;
    return size / 100 * 100;
}
static void give_back_whole(void *data, size_t size) {
    (void)data;
    given_back_whole = size;
}

static void release_part_cases(void) {
    static char file[1000];
    pt2_arena parent, child;
    pt2_error err;
    pt2_error_clear(&err);
    pt2_arena_init(&parent, 0);
    pt2_arena_init_child(&child, &parent);
    CHECK(pt2_arena_take(&child, file, sizeof file, give_back_whole, give_back_hundreds, &err), "taken");
    size_t taken = parent.used_bytes;
    CHECK(taken > sizeof file, "the taken bytes (and a header) count in the parent");
    CHECK(pt2_arena_release_part(&child, file + 100, 250) == 200 && parted_at == file + 100 && parted_size == 250,
          "a part given back: the callback's bytes");
    CHECK(parent.used_bytes == taken - 200 && child.used_bytes == taken - 200, "counted out of the arena and its parent");
    CHECK(pt2_arena_release_part(&child, file + 900, 200) == 0, "a range past the memory's end: nothing");
    static char elsewhere[10];
    CHECK(pt2_arena_release_part(&child, elsewhere, 10) == 0, "memory the arena did not take: nothing");
    pt2_arena_free(&child);
    CHECK(given_back_whole == sizeof file && parent.used_bytes == 0, "the whole goes at the end; every byte counted out once");
    pt2_arena_free(&parent);
}

int main(void) {
    compare_cases();
    tie_cases();
    strided_cases();
    adopt_cases();
    release_part_cases();
    if (!failures) printf("compare and adopt: all passed\n");
    return failures != 0;
}
