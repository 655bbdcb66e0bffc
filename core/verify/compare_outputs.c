#include "compare_outputs.h"

#include <string.h>

pt2_status pt2_compare_outputs(pt2_arena *arena, const pt2_tensor *ours, const pt2_tensor *reference, const char *ours_name,
                               const char *reference_name, double atol, double rtol, pt2_comparison *out,
                               const char **mismatch, pt2_error *err) {
    *mismatch = NULL;
    int same = ours->rank == reference->rank;
    for (int a = 0; a < ours->rank && same; a++) same = ours->shape[a] == reference->shape[a];
    if (same) return pt2_compare_tensors(ours, reference, atol, rtol, out);
    memset(out, 0, sizeof *out);
    char mine[160], theirs[160];
    pt2_shape_format(ours->shape, ours->rank, mine, sizeof mine);
    pt2_shape_format(reference->shape, reference->rank, theirs, sizeof theirs);
    *mismatch = pt2_arena_printf(arena, err, "shape mismatch: %s gives %s, %s %s", ours_name, mine, reference_name, theirs);
    return *mismatch ? PT2_OK : err->status;
}
