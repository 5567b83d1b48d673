/* CPU statistics against hand-counted tensors and against an oracle that
 * recomputes every field another way: the histogram bin with frexp, and
 * underflow/overflow by actually encoding x*scale and looking at what
 * came out (zero, inf, or a clamped max). */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "prectune/stats.h"

static uint64_t rng_state = 12345;
static uint64_t rng(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void oracle_stats(const float *x, size_t n, float scale, pt_stats *s)
{
    memset(s, 0, sizeof *s);
    s->count = n;
    s->scale = scale;
    double amax = 0, amin = INFINITY;
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        if (isnan(v)) { s->nan++; continue; }
        if (fabs(v) > amax) amax = fabs(v);
        if (isinf(v)) { if (v > 0) s->pos_inf++; else s->neg_inf++; amin = fmin(amin, INFINITY); continue; }
        if (v == 0) { s->zero++; s->hist[PT_HIST_ZERO]++; continue; }
        amin = fmin(amin, fabs(v));
        int e;
        frexp(v, &e); /* v = m * 2^e, 0.5 <= |m| < 1: floor(log2|v|) = e - 1 */
        e -= 1;
        int bin = e < PT_HIST_MIN_EXP ? PT_HIST_BELOW
                : e > PT_HIST_MAX_EXP ? PT_HIST_ABOVE : PT_HIST_FIRST + e - PT_HIST_MIN_EXP;
        s->hist[bin]++;
        float y = fabsf(v) * scale;
        for (int k = 0; k < PT_SFMT_COUNT; k++) {
            pt_format f = pt_stats_formats[k];
            float r = pt_round(f, y, 0);
            s->underflow[k] += r == 0.0f;
            /* overflow: became inf, or (e4m3, no inf) lies beyond max by more
             * than half a step at max, so the cast clamped it */
            const pt_format_traits *t = pt_format_info(f);
            double half_step = ldexp(t->epsilon, ilogb(t->max_finite)) / 2;
            int clamped = !t->has_inf && (double)y - t->max_finite > half_step;
            s->overflow[k] += isinf(r) || clamped;
        }
    }
    s->absmax = (float)amax;
    s->min_nonzero = isinf(amin) && s->pos_inf + s->neg_inf == 0 ? 0.0f : (float)amin;
}

static void assert_stats_eq(const pt_stats *a, const pt_stats *b)
{
    ck_assert_uint_eq(a->count, b->count);
    ck_assert_uint_eq(a->nan, b->nan);
    ck_assert_uint_eq(a->pos_inf, b->pos_inf);
    ck_assert_uint_eq(a->neg_inf, b->neg_inf);
    ck_assert_uint_eq(a->zero, b->zero);
    for (int k = 0; k < PT_SFMT_COUNT; k++) {
        ck_assert_msg(a->underflow[k] == b->underflow[k], "underflow[%d] %llu vs %llu", k,
                      (unsigned long long)a->underflow[k], (unsigned long long)b->underflow[k]);
        ck_assert_msg(a->overflow[k] == b->overflow[k], "overflow[%d] %llu vs %llu", k,
                      (unsigned long long)a->overflow[k], (unsigned long long)b->overflow[k]);
    }
    for (int i = 0; i < PT_HIST_BINS; i++)
        ck_assert_msg(a->hist[i] == b->hist[i], "hist[%d] %llu vs %llu", i,
                      (unsigned long long)a->hist[i], (unsigned long long)b->hist[i]);
    ck_assert(memcmp(&a->absmax, &b->absmax, 4) == 0);
    ck_assert(memcmp(&a->min_nonzero, &b->min_nonzero, 4) == 0);
}

START_TEST(test_hand_counted)
{
    float x[] = {0.0f, -0.0f, 1.0f, -2.0f, 3.0f, NAN, INFINITY, -INFINITY, 70000.0f, 1e-8f,
                 0x1p-45f, 0x1p50f, 500.0f, 464.0f};
    pt_stats_req r = {x, sizeof x / sizeof x[0], PT_FMT_FP32, 1.0f};
    pt_stats s;
    ck_assert_int_eq(pt_stats_cpu(&r, 1, &s), PT_OK);
    ck_assert_uint_eq(s.count, 14);
    ck_assert_uint_eq(s.nan, 1);
    ck_assert_uint_eq(s.pos_inf, 1);
    ck_assert_uint_eq(s.neg_inf, 1);
    ck_assert_uint_eq(s.zero, 2);
    ck_assert_uint_eq(s.hist[PT_HIST_ZERO], 2);
    ck_assert_uint_eq(s.hist[PT_HIST_BELOW], 1);  /* 2^-45 */
    ck_assert_uint_eq(s.hist[PT_HIST_ABOVE], 1);  /* 2^50 */
    ck_assert_uint_eq(s.hist[PT_HIST_FIRST + 0 - PT_HIST_MIN_EXP], 1); /* 1.0 */
    ck_assert_uint_eq(s.hist[PT_HIST_FIRST + 1 - PT_HIST_MIN_EXP], 2); /* 2, 3 */
    /* fp16 overflows: 70000, 2^50; underflows: 1e-8 (< 2^-25), 2^-45 */
    ck_assert_uint_eq(s.overflow[PT_SFMT_FP16], 2);
    ck_assert_uint_eq(s.underflow[PT_SFMT_FP16], 2);
    /* e4m3: 500, 70000, 2^50 saturate; 464 rounds to 448 (tie to even) */
    ck_assert_uint_eq(s.overflow[PT_SFMT_E4M3], 3);
    ck_assert_uint_eq(s.overflow[PT_SFMT_BF16], 0);
    ck_assert_uint_eq(s.underflow[PT_SFMT_BF16], 0);
    ck_assert(isinf(s.absmax));
    ck_assert(s.min_nonzero == 0x1p-45f);
    /* a scale moves values into range: 1e-8 * 2^16 is an fp16 subnormal */
    r.scale = 65536.0f;
    ck_assert_int_eq(pt_stats_cpu(&r, 1, &s), PT_OK);
    ck_assert_uint_eq(s.underflow[PT_SFMT_FP16], 1);
}
END_TEST

START_TEST(test_against_oracle)
{
    enum { N = 200003 };
    float *x = malloc(N * sizeof *x);
    for (int i = 0; i < N; i++) {
        uint64_t r = rng();
        switch (r % 8) {
        case 0: memcpy(&x[i], &r, 4); break; /* any bit pattern: NaN, inf, subnormal */
        case 1: x[i] = 0.0f; break;
        default: x[i] = ldexpf((float)((r >> 8) & 0xffff) / 65536.0f, (int)((r >> 32) % 100) - 50);
        }
        if ((r >> 40) & 1) x[i] = -x[i];
    }
    const float scales[] = {1.0f, 1024.0f, 1.0f / 3.0f, 65536.0f * 256.0f};
    for (size_t k = 0; k < sizeof scales / sizeof scales[0]; k++) {
        pt_stats_req r = {x, N, PT_FMT_FP32, scales[k]};
        pt_stats got, want;
        ck_assert_int_eq(pt_stats_cpu(&r, 1, &got), PT_OK);
        oracle_stats(x, N, scales[k], &want);
        assert_stats_eq(&got, &want);
    }
    free(x);
}
END_TEST

START_TEST(test_half_inputs)
{
    /* bf16/fp16 tensors give the statistics of their decoded values */
    enum { N = 65536 };
    uint16_t *h = malloc(N * 2);
    float *x = malloc(N * 4);
    for (pt_format f = PT_FMT_BF16; f <= PT_FMT_FP16; f++) {
        for (int i = 0; i < N; i++) {
            h[i] = (uint16_t)i;
            x[i] = pt_decode(f, (uint32_t)i);
        }
        pt_stats_req rh = {h, N, f, 2.0f}, rf = {x, N, PT_FMT_FP32, 2.0f};
        pt_stats a, b;
        ck_assert_int_eq(pt_stats_cpu(&rh, 1, &a), PT_OK);
        ck_assert_int_eq(pt_stats_cpu(&rf, 1, &b), PT_OK);
        assert_stats_eq(&a, &b);
    }
    free(h);
    free(x);
}
END_TEST

START_TEST(test_merge_and_errors)
{
    float x[] = {1.0f, 2.0f, 0.0f, 0x1p-30f}, y[] = {NAN, 8.0f};
    pt_stats_req r[3] = {{x, 4, PT_FMT_FP32, 1.0f}, {y, 2, PT_FMT_FP32, 1.0f}, {NULL, 0, PT_FMT_FP32, 1.0f}};
    pt_stats s[3];
    ck_assert_int_eq(pt_stats_cpu(r, 3, s), PT_OK);
    ck_assert_uint_eq(s[2].count, 0);
    ck_assert(s[2].absmax == 0.0f && s[2].min_nonzero == 0.0f);
    pt_stats_merge(&s[0], &s[1]);
    ck_assert_uint_eq(s[0].count, 6);
    ck_assert_uint_eq(s[0].nan, 1);
    ck_assert(s[0].absmax == 8.0f);
    ck_assert(s[0].min_nonzero == 0x1p-30f);
    pt_stats_req bad = {x, 4, PT_FMT_E4M3, 1.0f};
    ck_assert_int_eq(pt_stats_cpu(&bad, 1, s), PT_ERR_UNSUPPORTED);
    bad.dtype = PT_FMT_FP32;
    bad.scale = 0.0f;
    ck_assert_int_eq(pt_stats_cpu(&bad, 1, s), PT_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(pt_last_error(), "scale"));
    bad.scale = INFINITY;
    ck_assert_int_eq(pt_stats_cpu(&bad, 1, s), PT_ERR_INVALID);
    ck_assert_int_eq(pt_hist_bin(1.0f), PT_HIST_FIRST + 40);
    ck_assert(pt_hist_bin_low(PT_HIST_FIRST) == 0x1p-40);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("stats");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_hand_counted);
    tcase_add_test(tc, test_against_oracle);
    tcase_add_test(tc, test_half_inputs);
    tcase_add_test(tc, test_merge_and_errors);
    suite_add_tcase(s, tc);
    return pt_check_run(s, CK_FORK_GETENV);
}
