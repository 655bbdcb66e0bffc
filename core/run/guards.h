/* The export's guards (model.json's guards_code: Python conditions on the inputs' sizes that
 * torch.export assumed while tracing, e.g. "((7 + L['x'].size()[2]) // 8) == 100" where the code
 * branched on a length): PyTorch's program refuses an input that breaks one ("Guard failed"),
 * and so does the reference run, so that no check (the padded batch's other lengths) claims a
 * length where the model would have taken another branch. */
#ifndef PT2_RUN_GUARDS_H
#define PT2_RUN_GUARDS_H

#include <stdint.h>

#include "../base/error.h"

/* The size of axis `axis` of the input named `name` (as L['name'] names it); 0 when there is no
 * such input or axis. */
typedef int (*pt2_guard_size_fn)(void *user, const char *name, int axis, int64_t *size);

/* Evaluates one guard: 1 holds, 0 does not, -1 not understood (another form than integer
 * arithmetic and comparisons on L['name'].size()[k]; the caller then leaves it to the checks). */
int pt2_guard_holds(const char *guard, pt2_guard_size_fn size, void *user);

#endif
