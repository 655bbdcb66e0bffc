/* A recursive-descent evaluator for the Python subset torch.export writes its guards in:
 * integers, L['name'].size()[k], + - * // %, comparisons (chained as Python chains them), not,
 * and, or, parentheses, True/False. Anything else makes the guard "not understood". */
#include "guards.h"

#include <ctype.h>
#include <string.h>

#include "../base/python_int.h"

typedef struct parser {
    const char *at;
    pt2_guard_size_fn size;
    void *user;
    int failed;
} parser;

static void skip_space(parser *p) {
    while (*p->at == ' ') p->at++;
}

/* The next token is `word` (a keyword ends where a name would not go on). */
static int accept(parser *p, const char *word) {
    skip_space(p);
    size_t n = strlen(word);
    if (strncmp(p->at, word, n)) return 0;
    int keyword = 1; /* and, or, not, True, False: not the start of a longer name */
    for (size_t i = 0; i < n; i++) keyword &= isalpha((unsigned char)word[i]) != 0;
    if (keyword && (isalnum((unsigned char)p->at[n]) || p->at[n] == '_')) return 0;
    p->at += n;
    return 1;
}

static int64_t parse_or(parser *p);

/* L['name'].size()[k] */
static int64_t parse_size(parser *p) {
    if (!accept(p, "L['")) {
        p->failed = 1;
        return 0;
    }
    char name[128];
    size_t n = 0;
    while (*p->at && *p->at != '\'' && n + 1 < sizeof name) name[n++] = *p->at++;
    name[n] = 0;
    int64_t axis = 0, size = 0;
    if (!accept(p, "']") || !accept(p, ".size()") || !accept(p, "[")) {
        p->failed = 1;
        return 0;
    }
    skip_space(p);
    if (!isdigit((unsigned char)*p->at)) {
        p->failed = 1;
        return 0;
    }
    while (isdigit((unsigned char)*p->at) && axis < 64) axis = axis * 10 + (*p->at++ - '0');
    if (!accept(p, "]") || !p->size(p->user, name, (int)axis, &size)) p->failed = 1;
    return size;
}

static int64_t parse_primary(parser *p) {
    skip_space(p);
    if (accept(p, "(")) {
        int64_t v = parse_or(p);
        if (!accept(p, ")")) p->failed = 1;
        return v;
    }
    if (accept(p, "True")) return 1;
    if (accept(p, "False")) return 0;
    if (isdigit((unsigned char)*p->at)) {
        int64_t v = 0;
        while (isdigit((unsigned char)*p->at)) {
            if (v > (INT64_MAX - 9) / 10) { /* past int64: not understood, not wrapped */
                p->failed = 1;
                return 0;
            }
            v = v * 10 + (*p->at++ - '0');
        }
        return v;
    }
    return parse_size(p);
}

static int64_t parse_unary(parser *p) {
    if (accept(p, "-")) {
        int64_t v = parse_unary(p);
        if (v == INT64_MIN) p->failed = 1;
        return p->failed ? 0 : -v;
    }
    return parse_primary(p);
}

/* A product, sum or difference past int64 makes the guard not understood rather than wrapped. */
static int64_t multiply(parser *p, int64_t a, int64_t b) {
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r)) p->failed = 1;
    return p->failed ? 0 : r;
}

static int64_t add(parser *p, int64_t a, int64_t b, int sign) {
    int64_t r;
    if (sign > 0 ? __builtin_add_overflow(a, b, &r) : __builtin_sub_overflow(a, b, &r)) p->failed = 1;
    return p->failed ? 0 : r;
}

static int64_t parse_term(parser *p) {
    int64_t v = parse_unary(p);
    for (;;) {
        if (accept(p, "//")) {
            int64_t d = parse_unary(p);
            if (!d || (v == INT64_MIN && d == -1)) p->failed = 1;
            else v = pt2_floor_div(v, d);
        } else if (accept(p, "*")) {
            int64_t w = parse_unary(p);
            v = multiply(p, v, w);
        } else if (accept(p, "%")) {
            int64_t d = parse_unary(p);
            if (!d || (v == INT64_MIN && d == -1)) p->failed = 1;
            else v = pt2_floor_mod(v, d); /* Python's: the sign of the divisor */
        } else {
            return v;
        }
        if (p->failed) return 0;
    }
}

static int64_t parse_sum(parser *p) {
    int64_t v = parse_term(p);
    for (;;) {
        if (accept(p, "+")) {
            int64_t w = parse_term(p);
            v = add(p, v, w, 1);
        } else if (accept(p, "-")) {
            int64_t w = parse_term(p);
            v = add(p, v, w, -1);
        } else {
            return v;
        }
        if (p->failed) return 0;
    }
}

/* a < b <= c is a < b and b <= c, as in Python. */
static int64_t parse_comparison(parser *p) {
    int64_t left = parse_sum(p), result = -1;
    for (;;) {
        int op = accept(p, "==") ? 1 : accept(p, "!=") ? 2 : accept(p, "<=") ? 3 : accept(p, ">=") ? 4
                 : accept(p, "<") ? 5 : accept(p, ">") ? 6 : 0;
        if (!op) return result < 0 ? left : result;
        int64_t right = parse_sum(p);
        int holds = op == 1 ? left == right : op == 2 ? left != right : op == 3 ? left <= right
                    : op == 4 ? left >= right : op == 5 ? left < right : left > right;
        result = (result < 0 ? 1 : result) && holds;
        left = right;
    }
}

static int64_t parse_not(parser *p) {
    if (accept(p, "not")) return !parse_not(p);
    return parse_comparison(p);
}

static int64_t parse_and(parser *p) {
    int64_t v = parse_not(p);
    while (accept(p, "and")) {
        int64_t w = parse_not(p);
        v = v && w;
    }
    return v;
}

static int64_t parse_or(parser *p) {
    int64_t v = parse_and(p);
    while (accept(p, "or")) {
        int64_t w = parse_and(p);
        v = v || w;
    }
    return v;
}

int pt2_guard_holds(const char *guard, pt2_guard_size_fn size, void *user) {
    parser p = {guard, size, user, 0};
    int64_t v = parse_or(&p);
    skip_space(&p);
    if (p.failed || *p.at) return -1;
    return v != 0;
}
