/* Python's // and % on int64, as PyTorch computes sizes (SymInts, the export's size expressions
 * and guards) and integer tensors: the quotient rounded down, the remainder with the divisor's
 * sign. b != 0 (the callers refuse it first); for b == -1 the most negative number's quotient
 * wraps (two's complement, as PyTorch's CPU kernels give it) instead of trapping. */
#ifndef PT2_BASE_PYTHON_INT_H
#define PT2_BASE_PYTHON_INT_H

#include <stdint.h>

static inline int64_t pt2_floor_div(int64_t a, int64_t b) {
    if (b == -1) return (int64_t)(0 - (uint64_t)a);
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static inline int64_t pt2_floor_mod(int64_t a, int64_t b) {
    if (b == -1) return 0;
    int64_t r = a % b;
    return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}

#endif
