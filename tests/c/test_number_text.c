/* Numbers as text, both ways. JSON numbers: each one's double is the one strtod gives for its text
 * (the parser reads integers of up to 18 digits itself and leaves the rest to strtod), and
 * integers keep their exact value. The writers' shortest text (pt2_format_shortest, a binary
 * search): the text of the fewest digits that reads back, as trying 1, 2, ... digits finds it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/base/json.h"
#include "../../core/base/strbuf.h"
#include "check.h"

static void expect_number(pt2_arena *arena, const char *text, int is_integer, long long integer) {
    pt2_error err;
    pt2_error_clear(&err);
    pt2_json *v = NULL;
    pt2_status st = pt2_json_parse(arena, text, strlen(text), "test.json", &v, &err);
    CHECK(!st && v && v->type == PT2_JSON_NUMBER, text);
    if (st || !v) return;
    double expected = strtod(text, NULL);
    CHECK(memcmp(&v->number, &expected, sizeof expected) == 0, text); /* the same bits: -0.0 too */
    CHECK(v->is_integer == is_integer, text);
    if (is_integer) CHECK(v->integer == integer, text);
}

/* The definition: the first precision, counting up, whose %g text reads back. */
static void shortest_by_counting(char *buf, size_t size, double v, int most, int single) {
    for (int digits = 1; digits <= most; digits++) {
        snprintf(buf, size, "%.*g", digits, v);
        if (single ? strtof(buf, NULL) == (float)v : strtod(buf, NULL) == v) return;
    }
}

static void test_shortest(void) {
    static const double fixed[] = {0.1, 0.5, 1.0 / 3.0, 4.76837158203125e-07, 1e7, 1e20, 123456789.0, 2.5e-300, -7.25,
                                   0.0001, 1e-05, 3.4028234663852886e+38};
    unsigned long long state = 12345;
    for (int i = 0; i < 20000; i++) {
        double v;
        if (i < (int)(sizeof fixed / sizeof fixed[0])) {
            v = fixed[i];
        } else { /* random bits of finite doubles, and round values of a few digits */
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            unsigned long long bits = state;
            memcpy(&v, &bits, sizeof v);
            if (!isfinite(v) || i % 3 == 0) v = (double)(long long)(state >> 44) / 1000.0;
        }
        for (int single = 0; single <= 1; single++) {
            double x = single ? (double)(float)v : v;
            if (single && !isfinite(x)) continue;
            char got[64], want[64];
            pt2_format_shortest(got, sizeof got, x, single ? 9 : 17, single);
            shortest_by_counting(want, sizeof want, x, single ? 9 : 17, single);
            if (strcmp(got, want)) {
                printf("  %.17g (%s): got %s, want %s\n", x, single ? "float32" : "double", got, want);
                CHECK(0, "shortest text");
                return;
            }
        }
    }
}

int main(void) {
    test_shortest();
    pt2_arena arena;
    pt2_arena_init(&arena, 0);
    expect_number(&arena, "0", 1, 0);
    expect_number(&arena, "-0", 1, 0);
    expect_number(&arena, "42", 1, 42);
    expect_number(&arena, "-7", 1, -7);
    expect_number(&arena, "9007199254740993", 1, 9007199254740993LL); /* 2^53 + 1: its double rounds */
    expect_number(&arena, "999999999999999999", 1, 999999999999999999LL); /* 18 digits */
    expect_number(&arena, "-999999999999999999", 1, -999999999999999999LL);
    expect_number(&arena, "9223372036854775807", 1, 9223372036854775807LL); /* 19 digits: strtoll */
    expect_number(&arena, "92233720368547758070", 0, 0); /* beyond int64: a double only */
    expect_number(&arena, "1.5", 0, 0);
    expect_number(&arena, "-2.5e-3", 0, 0);
    expect_number(&arena, "1e300", 0, 0);
    pt2_arena_free(&arena);
    if (!failures) printf("test_number_text: all passed\n");
    return failures != 0;
}
