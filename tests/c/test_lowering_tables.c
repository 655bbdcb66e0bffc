/* The op tables agree: every lowered target has a run (reference) implementation, every layer
 * class a lowering lists exists in the RETURNN-layer interpreter, and every eval form it lists is
 * one the interpreter knows. Module lowerings are held to the same. */
#include <stdio.h>
#include <string.h>

#include "core/lower/lowerings.h"
#include "core/ops/registry.h"
#include "core/returnn/layers.h"

static int failures, lowerings_seen, classes_seen, forms_seen;
#define CHECK(cond, ...)                                \
    do {                                                \
        if (!(cond)) {                                  \
            printf("FAIL %s:%d: ", __FILE__, __LINE__); \
            printf(__VA_ARGS__);                        \
            printf("\n");                               \
            failures++;                                 \
        }                                               \
    } while (0)

static void check_lowering(const pt2_op_lowering *lowering, void *user) {
    (void)user;
    lowerings_seen++;
    int is_module = lowering->lower == NULL; /* module lowerings come with their type as target */
    if (!is_module) CHECK(pt2_op_find(lowering->target) != NULL, "%s is lowered but has no run implementation", lowering->target);
    CHECK(lowering->emits != NULL, "%s does not declare the layers it emits", lowering->target);
    if (!lowering->emits) return;
    char token[128];
    for (const char *p = lowering->emits; *p;) {
        while (*p == ' ') p++;
        size_t n = strcspn(p, " ");
        if (!n) break;
        snprintf(token, sizeof token, "%.*s", (int)n, p);
        p += n;
        if (!strncmp(token, "eval:", 5)) {
            forms_seen++;
            CHECK(pt2_rt_eval_form(token + 5) != NULL, "%s emits eval form '%s', unknown to the interpreter", lowering->target,
                  token + 5);
        } else {
            classes_seen++;
            CHECK(pt2_rt_find_layer_class(token) != NULL, "%s emits layer class '%s', unknown to the interpreter",
                  lowering->target, token);
        }
    }
}

int main(void) {
    pt2_for_each_lowering(check_lowering, NULL);
    CHECK(lowerings_seen > 50 && classes_seen > 20 && forms_seen > 5, "only %d lowerings, %d classes, %d forms seen",
          lowerings_seen, classes_seen, forms_seen);
    /* The checks can fail: unknown names are not found. */
    CHECK(pt2_rt_find_layer_class("no_such_layer_class") == NULL, "an unknown layer class was found");
    CHECK(pt2_rt_eval_form("no_such_form") == NULL, "an unknown eval form was found");
    CHECK(pt2_op_find("aten.no_such_op.default") == NULL, "an unknown op was found");
    CHECK(pt2_lowering_emits("dot expand_dims merge_dims", "merge_dims"), "a listed class is not found");
    CHECK(!pt2_lowering_emits("dot expand_dims", "expand"), "a prefix of a listed class counts as listed");
    CHECK(!pt2_lowering_emits("", "copy"), "an empty list lists a class");
    CHECK(pt2_lowering_emits("combine eval:add_scalar", "eval") && !pt2_lowering_emits("combine", "eval"),
          "an eval layer is listed by its forms");
    printf("%d lowerings, %d layer classes and %d eval forms checked\n", lowerings_seen, classes_seen, forms_seen);
    if (!failures) printf("test_lowering_tables: all passed\n");
    return failures != 0;
}
