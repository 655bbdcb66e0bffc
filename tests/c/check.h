/* The one assertion macro of the C tests: report the failing line and keep going, so a run
 * lists every failure; main returns `failures != 0`. */
#ifndef PT2_TESTS_CHECK_H
#define PT2_TESTS_CHECK_H

#include <stdio.h>

static int failures;

#define CHECK(cond, msg)                                         \
    do {                                                         \
        if (!(cond)) {                                           \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, msg); \
            failures++;                                          \
        }                                                        \
    } while (0)

#endif
