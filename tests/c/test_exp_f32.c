/* pt2_exp_f32 (core/ops/exp_f32.h) against libm's double exp: within 2 ulp over the normal
 * range, gradual underflow below it, inf past overflow, and NaN / infinities as expf gives. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/ops/exp_f32.h"
#include "check.h"

/* The distance in representable floats between two finite floats of the same sign. */
static int64_t ulp_distance(float a, float b) {
    int32_t ia, ib;
    memcpy(&ia, &a, sizeof ia);
    memcpy(&ib, &b, sizeof ib);
    int64_t d = (int64_t)ia - (int64_t)ib;
    return d < 0 ? -d : d;
}

int main(int argc, char **argv) {
    (void)argc, (void)argv;
    char msg[200];
    int64_t worst = 0;
    float worst_x = 0;
    /* every 97th float bit pattern from -104 to 89 (both signs), about 22 million values */
    for (int sign = 0; sign < 2; sign++)
        for (uint32_t bits = 0; bits < 0x42b20000u; bits += 97) {
            uint32_t b = bits | (sign ? 0x80000000u : 0);
            float x;
            memcpy(&x, &b, sizeof x);
            if (x < -104.0f) continue;
            double exact = exp((double)x);
            float got = pt2_exp_f32(x), want = (float)exact;
            if (exact < 1.1754943508222875e-38) { /* subnormal results: absolute error in the last place */
                if (fabs((double)got - exact) > 1.5 * 1.401298464324817e-45) {
                    snprintf(msg, sizeof msg, "exp(%.9g) = %.9g, want %.9g (subnormal)", x, got, want);
                    CHECK(0, msg);
                }
                continue;
            }
            int64_t d = ulp_distance(got, want);
            if (d > worst) worst = d, worst_x = x;
        }
    snprintf(msg, sizeof msg, "largest error %lld ulp at x = %.9g", (long long)worst, worst_x);
    CHECK(worst <= 2, msg);
    printf("pt2_exp_f32: %s\n", msg);

    CHECK(pt2_exp_f32(0.0f) == 1.0f, "exp(0) is 1");
    CHECK(pt2_exp_f32(1.0f) == (float)exp(1.0) || ulp_distance(pt2_exp_f32(1.0f), (float)exp(1.0)) <= 1, "exp(1)");
    CHECK(isinf(pt2_exp_f32(89.0f)) && pt2_exp_f32(89.0f) > 0, "exp(89) overflows to inf");
    CHECK(isinf(pt2_exp_f32(INFINITY)), "exp(inf) is inf");
    CHECK(pt2_exp_f32(-INFINITY) == 0.0f, "exp(-inf) is 0");
    CHECK(pt2_exp_f32(-200.0f) == 0.0f, "exp(-200) is 0");
    CHECK(isnan(pt2_exp_f32(NAN)), "exp(NaN) is NaN");
    CHECK(isnan(pt2_exp_f32(-NAN)), "exp(-NaN) is NaN");
    float big = pt2_exp_f32(88.7f);
    CHECK(isfinite(big) && ulp_distance(big, (float)exp((double)88.7f)) <= 2, "exp(88.7) is finite, near FLT_MAX");

    if (failures) printf("%d failures\n", failures);
    else printf("test_exp_f32: all passed\n");
    return failures != 0;
}
