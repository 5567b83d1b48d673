/* The key tables of the GPU's table-driven statistics, checked on the CPU:
 * counting keys exactly as the kernel does (pt_stats_key, the same
 * absmax/min arithmetic) and turning them into statistics must give what
 * the CPU reference computes, for many scales; and scales the table cannot
 * describe must be refused (they take the exact kernel). */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "stats_keys.h"

static uint64_t rng_state = 99;
static uint64_t rng(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* What one thread of the kernel does, over the whole tensor. */
static void emulate(const pt_stats_table *t, const float *x, size_t n, pt_stats_keys_dev *d)
{
    memset(d, 0, sizeof *d);
    int32_t amax = PT_STATS_AMAX_INIT;
    uint32_t mn = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        d->count[pt_stats_key(t, u)]++;
        uint32_t m = pt_stats_c(u) >> 1;
        amax = pt_stats_amax_step(amax, m);
        mn = m - 1 < mn ? m - 1 : mn;
    }
    d->absmax_bits = (uint32_t)amax - 0x7fffffu;
    d->min_inv = ~mn;
}

static void assert_same(const pt_stats *a, const pt_stats *b, float scale)
{
    ck_assert_msg(memcmp(a->hist, b->hist, sizeof a->hist) == 0, "hist, scale %a", (double)scale);
    for (int k = 0; k < PT_SFMT_COUNT; k++)
        ck_assert_msg(a->underflow[k] == b->underflow[k] && a->overflow[k] == b->overflow[k],
                      "scale %a format %d: under %llu/%llu over %llu/%llu", (double)scale, k,
                      (unsigned long long)a->underflow[k], (unsigned long long)b->underflow[k],
                      (unsigned long long)a->overflow[k], (unsigned long long)b->overflow[k]);
    ck_assert(a->nan == b->nan && a->pos_inf == b->pos_inf && a->neg_inf == b->neg_inf);
    ck_assert(a->zero == b->zero && a->count == b->count);
    ck_assert(memcmp(&a->absmax, &b->absmax, 4) == 0);
    ck_assert_msg(memcmp(&a->min_nonzero, &b->min_nonzero, 4) == 0, "min %a vs %a",
                  (double)a->min_nonzero, (double)b->min_nonzero);
}

static float *make_tensor(size_t n)
{
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) {
        uint64_t r = rng();
        uint32_t u = (uint32_t)(r >> 16);
        switch (r % 8) {
        case 0: memcpy(&x[i], &u, 4); break; /* any pattern */
        case 1: x[i] = 0.0f; break;
        case 2: u &= 0x807fffffu; memcpy(&x[i], &u, 4); break; /* subnormal */
        default: x[i] = ldexpf((float)(r & 0xffff) / 65536.0f, (int)((r >> 20) % 160) - 80);
        }
    }
    /* values at and around every threshold of every format, for scale 1 */
    float edges[] = {0x1p-25f, 0x1p-134f, 0x1p-10f, 0x1p-17f, 65520.0f, 61440.0f, 464.0f,
                     0x1.ffp127f, 65504.0f, 448.0f, 57344.0f, INFINITY, -INFINITY, NAN};
    for (size_t j = 0; j < sizeof edges / sizeof edges[0] && 3 * j + 2 < n; j++) {
        x[3 * j] = edges[j];
        x[3 * j + 1] = nextafterf(edges[j], 0.0f);
        x[3 * j + 2] = -nextafterf(edges[j], INFINITY);
    }
    return x;
}

START_TEST(test_tables_match_reference)
{
    enum { N = 100000 };
    float *x = make_tensor(N);
    pt_stats_table *t = malloc(sizeof *t);
    pt_stats_keyinfo *ki = malloc(sizeof *ki);
    pt_stats_keys_dev *d = malloc(sizeof *d);
    float scales[40];
    int ns = 0;
    for (int e = -100; e <= 100; e += 10) scales[ns++] = ldexpf(1.0f, e);
    float odd[] = {1.0f / 3, 448.0f / 0.7f, 57344.0f / 1234.5f, 3.0e-5f, 7.0e4f, 1.0000001f,
                   0.99999994f};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) scales[ns++] = odd[i];
    for (int i = 0; i < ns; i++) {
        ck_assert_msg(pt_stats_table_build(scales[i], t, ki), "scale %a refused", (double)scales[i]);
        ck_assert_int_le(ki->nkeys, PT_STATS_KEYS);
        emulate(t, x, N, d);
        pt_stats got, want;
        pt_stats_keys_finish(d, ki, N, scales[i], &got);
        pt_stats_req r = {x, N, PT_FMT_FP32, scales[i]};
        ck_assert_int_eq(pt_stats_cpu(&r, 1, &want), PT_OK);
        assert_same(&want, &got, scales[i]);
    }
    free(x);
    free(t);
    free(ki);
    free(d);
}
END_TEST

START_TEST(test_key_ranges)
{
    /* keys tile c = [0, 2^32) without gaps or overlaps, in table order */
    pt_stats_table *t = malloc(sizeof *t);
    pt_stats_keyinfo *ki = malloc(sizeof *ki);
    ck_assert(pt_stats_table_build(1.0f, t, ki));
    uint64_t expect_lo = 0;
    for (int k = 0; k < ki->nkeys; k++) {
        ck_assert_uint_eq(ki->lo[k], expect_lo);
        ck_assert_uint_ge(ki->hi[k], ki->lo[k]);
        expect_lo = (uint64_t)ki->hi[k] + 1;
    }
    ck_assert(expect_lo == 0x100000000ull);
    /* zero and subnormals differ, +inf, -inf and NaN differ, signs agree */
    ck_assert_uint_eq(pt_stats_key(t, 0), pt_stats_key(t, 0x80000000u));
    ck_assert_uint_ne(pt_stats_key(t, 0), pt_stats_key(t, 1));
    ck_assert_uint_ne(pt_stats_key(t, 0x7f800000u), pt_stats_key(t, 0xff800000u));
    ck_assert_uint_ne(pt_stats_key(t, 0xff800000u), pt_stats_key(t, 0x7f800001u));
    ck_assert_uint_eq(pt_stats_key(t, 0xffffffffu), pt_stats_key(t, 0x7f800001u));
    ck_assert_uint_eq(pt_stats_key(t, 0x3f800000u), pt_stats_key(t, 0xbf800000u));
    /* 2^-25 underflows fp16 at scale 1, the next float does not */
    ck_assert_uint_ne(pt_stats_key(t, 0x33000000u), pt_stats_key(t, 0x33000001u));
    free(t);
    free(ki);
}
END_TEST

START_TEST(test_extreme_scale_refused)
{
    /* 2^120 pushes every underflow threshold below 2^-126: more split
     * points in the subnormal bin than a table row holds */
    pt_stats_table *t = malloc(sizeof *t);
    pt_stats_keyinfo *ki = malloc(sizeof *ki);
    ck_assert(!pt_stats_table_build(0x1p120f, t, ki));
    free(t);
    free(ki);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("stats_keys");
    TCase *tc = tcase_create("stats_keys");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_tables_match_reference);
    tcase_add_test(tc, test_key_ranges);
    tcase_add_test(tc, test_extreme_scale_refused);
    suite_add_tcase(s, tc);
    return pt_check_run(s, CK_FORK_GETENV);
}
