/* The export's guards (core/run/guards.c): Python's integer arithmetic (floor division and
 * modulo towards minus infinity), chained comparisons, not/and/or, and L['name'].size()[k] of the
 * inputs; a form it does not know is "not understood" (-1), never a verdict. Expected values are
 * Python's own for the same expressions. */
#include <string.h>

#include "check.h"
#include "core/run/guards.h"

/* x: [1, 4, 800], wav: [2, 16000] */
static int sizes(void *user, const char *name, int axis, int64_t *size) {
    (void)user;
    static const int64_t x[] = {1, 4, 800}, wav[] = {2, 16000};
    if (!strcmp(name, "x") && axis >= 0 && axis < 3) return *size = x[axis], 1;
    if (!strcmp(name, "wav") && axis >= 0 && axis < 2) return *size = wav[axis], 1;
    return 0;
}

static int holds(const char *guard) { return pt2_guard_holds(guard, sizes, NULL); }

int main(void) {
    CHECK(holds("((7 + L['x'].size()[2]) // 8) == 100") == 1, "(7 + 800) // 8 is 100");
    CHECK(holds("((7 + L['x'].size()[2]) // 8) != 1") == 1, "!= 1 holds");
    CHECK(holds("L['x'].size()[2] >= 8") == 1 && holds("L['x'].size()[2] <= 4096") == 1, "range guards hold");
    CHECK(holds("L['x'].size()[2] != 800") == 0, "800 != 800 does not hold");
    CHECK(holds("(L['wav'].size()[1] // 320) == 51") == 0, "16000 // 320 is 50");
    CHECK(holds("L['wav'].size()[1] % 320 == 0") == 1, "16000 is a multiple of 320");
    CHECK(holds("(-7) // 2 == -4") == 1 && holds("(-7) % 2 == 1") == 1 && holds("7 % -2 == -1") == 1,
          "floor division and modulo as Python's");
    CHECK(holds("8 <= L['x'].size()[2] <= 4096") == 1 && holds("8 <= L['x'].size()[2] <= 100") == 0,
          "chained comparisons");
    CHECK(holds("not L['x'].size()[0] == 2 and (L['x'].size()[1] == 4 or False)") == 1, "not, and, or");
    CHECK(holds("2 * L['x'].size()[2] - 1 == 1599") == 1, "products and sums");
    CHECK(holds("L['y'].size()[0] == 1") == -1, "an unknown input is not understood");
    CHECK(holds("L['x'].size()[3] == 1") == -1, "an axis past the rank is not understood");
    CHECK(holds("L['x'].stride()[0] == 3200") == -1, "strides are not understood");
    CHECK(holds("Max(1, L['x'].size()[2]) == 800") == -1, "functions are not understood");
    CHECK(holds("L['x'].size()[2] // 0 == 1") == -1, "division by zero is not understood");
    CHECK(holds("L['x'].size()[2] == 800 junk") == -1, "trailing text is not understood");
    CHECK(holds("99999999999999999999 == 1") == -1, "a number past int64 is not understood");
    CHECK(holds("4611686018427387904 * 4 == 1") == -1 && holds("9223372036854775807 + 1 == 0") == -1 &&
              holds("-9223372036854775807 - 2 == 0") == -1 && holds("-(-4611686018427387904 * 2) == 1") == -1 &&
              holds("(-4611686018427387904 * 2) // -1 == 1") == -1,
          "overflow is not understood");
    return failures != 0;
}
