/* A step's output against the reference (core/verify/compare_outputs.c): a shape mismatch is
 * reported as the two shapes, with no figure (not "max abs inf"); equal shapes give the figures;
 * equal infinities agree. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "core/verify/compare_outputs.h"

static void fill(pt2_tensor *t, float step) {
    float *p = pt2_tensor_data(t);
    for (int64_t i = 0; i < pt2_tensor_numel(t); i++) p[i] = step * (float)i;
}

int main(void) {
    pt2_arena arena;
    pt2_arena_init(&arena, 0);
    pt2_error err;
    pt2_error_clear(&err);
    int64_t short_shape[3] = {2, 5, 4}, long_shape[3] = {2, 6, 4}, flat_shape[2] = {2, 20};
    pt2_tensor ours, reference, flat, near;
    if (pt2_tensor_alloc(&arena, PT2_DTYPE_FLOAT32, 3, short_shape, &ours, &err) ||
        pt2_tensor_alloc(&arena, PT2_DTYPE_FLOAT32, 3, long_shape, &reference, &err) ||
        pt2_tensor_alloc(&arena, PT2_DTYPE_FLOAT32, 2, flat_shape, &flat, &err) ||
        pt2_tensor_alloc(&arena, PT2_DTYPE_FLOAT32, 3, short_shape, &near, &err)) {
        printf("FAIL: %s\n", err.message);
        return 1;
    }
    fill(&ours, 1.0f), fill(&reference, 1.0f), fill(&flat, 1.0f), fill(&near, 1.0f);
    pt2_comparison cmp;
    const char *mismatch;

    /* Another time length. */
    CHECK(!pt2_compare_outputs(&arena, &ours, &reference, "the reloaded network", "the reference run", 1e-4, 1e-4, &cmp,
                               &mismatch, &err), "compares");
    CHECK(!cmp.passed, "a shape mismatch fails");
    CHECK(isfinite(cmp.max_abs) && isfinite(cmp.worst_ratio), "no infinite figure for a shape mismatch");
    CHECK(mismatch && !strcmp(mismatch, "shape mismatch: the reloaded network gives [2, 5, 4], the reference run [2, 6, 4]"),
          mismatch ? mismatch : "no mismatch text");

    /* Another rank with the same number of values. */
    CHECK(!pt2_compare_outputs(&arena, &ours, &flat, "ours", "theirs", 1e-4, 1e-4, &cmp, &mismatch, &err), "compares");
    CHECK(!cmp.passed && mismatch && !strcmp(mismatch, "shape mismatch: ours gives [2, 5, 4], theirs [2, 20]"),
          mismatch ? mismatch : "no mismatch text");

    /* The same shape: figures, no mismatch text; one value off by 0.5. */
    ((float *)pt2_tensor_data(&near))[7] += 0.5f;
    CHECK(!pt2_compare_outputs(&arena, &near, &ours, "ours", "theirs", 1e-4, 1e-4, &cmp, &mismatch, &err), "compares");
    CHECK(!mismatch, "equal shapes are compared");
    CHECK(!cmp.passed && fabs(cmp.max_abs - 0.5) < 1e-6, "the difference is measured");
    CHECK(!pt2_compare_outputs(&arena, &ours, &ours, "ours", "theirs", 1e-4, 1e-4, &cmp, &mismatch, &err), "compares");
    CHECK(cmp.passed && cmp.max_abs == 0 && !mismatch, "equal tensors pass");

    /* Infinities: equal ones agree (log(0) on both sides), as torch.allclose has them; an infinity
     * against a number or against the other sign fails; a NaN fails. Values in a block of their own
     * and in the tail the vector screen leaves to the exact rule. */
    float *a = pt2_tensor_data(&near), *b = pt2_tensor_data(&ours);
    fill(&near, 1.0f);
    a[3] = b[3] = -INFINITY, a[38] = b[38] = INFINITY;
    CHECK(!pt2_compare_outputs(&arena, &near, &ours, "ours", "theirs", 1e-4, 1e-4, &cmp, &mismatch, &err), "compares");
    CHECK(cmp.passed && cmp.max_abs == 0 && cmp.worst_ratio == 0, "equal infinities agree");
    a[38] = -INFINITY;
    CHECK(!pt2_compare_outputs(&arena, &near, &ours, "ours", "theirs", 1e-4, 1e-4, &cmp, &mismatch, &err), "compares");
    CHECK(!cmp.passed, "infinities of opposite signs fail");
    a[38] = INFINITY, a[3] = 0.0f;
    CHECK(!pt2_compare_outputs(&arena, &near, &ours, "ours", "theirs", 1e-4, 1e-4, &cmp, &mismatch, &err), "compares");
    CHECK(!cmp.passed, "a number against an infinity fails");
    a[3] = b[3] = NAN;
    CHECK(!pt2_compare_outputs(&arena, &near, &ours, "ours", "theirs", 1e-4, 1e-4, &cmp, &mismatch, &err), "compares");
    CHECK(!cmp.passed, "NaN against NaN fails");

    pt2_arena_free(&arena);
    if (!failures) printf("compare_outputs: all passed\n");
    return failures != 0;
}
