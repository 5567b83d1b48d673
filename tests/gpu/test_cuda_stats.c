/* CUDA statistics equal the CPU reference exactly (every count, every
 * histogram bin, absmax and min bit for bit) on tensors with NaN, Inf,
 * zeros and subnormals mixed in, sizes from 1 to 2^28, fp32/bf16/fp16,
 * aligned and misaligned, one tensor or many per launch. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "gpu_skip.h"
#include "prectune/backend.h"

static uint64_t rng_state = 777;
static uint64_t rng(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Values of every kind: specials, fp32 subnormals, a wide exponent range. */
static float random_value(void)
{
    uint64_t r = rng();
    uint32_t u;
    float x;
    switch (r % 16) {
    case 0: return NAN;
    case 1: return (r >> 8) & 1 ? INFINITY : -INFINITY;
    case 2: case 3: return (r >> 8) & 1 ? 0.0f : -0.0f;
    case 4: u = (uint32_t)(r >> 16) & 0x807fffffu; break; /* fp32 subnormal */
    case 5: u = (uint32_t)(r >> 20); break;               /* any bit pattern */
    default: return ldexpf((float)((r >> 8) & 0xffffff) / 0x1p24f - 0.5f, (int)((r >> 40) % 120) - 60);
    }
    memcpy(&x, &u, 4);
    return x;
}

static void fill(void *h, pt_format dt, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float x = random_value();
        if (dt == PT_FMT_FP32) ((float *)h)[i] = x;
        else ((uint16_t *)h)[i] = (uint16_t)pt_encode(dt, x, 0);
    }
    if (dt != PT_FMT_FP32 && n > 4) { /* NaN payloads and subnormals of the 16-bit format */
        ((uint16_t *)h)[0] = 0x7fc1;
        ((uint16_t *)h)[1] = 0x0001;
        ((uint16_t *)h)[2] = 0x8003;
    }
}

static void assert_same(const pt_stats *a, const pt_stats *b, const char *what)
{
    ck_assert_msg(a->count == b->count, "%s: count", what);
    ck_assert_msg(a->nan == b->nan, "%s: nan %llu vs %llu", what, (unsigned long long)a->nan,
                  (unsigned long long)b->nan);
    ck_assert_msg(a->pos_inf == b->pos_inf && a->neg_inf == b->neg_inf, "%s: inf", what);
    ck_assert_msg(a->zero == b->zero, "%s: zero", what);
    for (int k = 0; k < PT_SFMT_COUNT; k++)
        ck_assert_msg(a->underflow[k] == b->underflow[k] && a->overflow[k] == b->overflow[k],
                      "%s: under/overflow[%d]: cpu %llu/%llu gpu %llu/%llu", what, k,
                      (unsigned long long)a->underflow[k], (unsigned long long)a->overflow[k],
                      (unsigned long long)b->underflow[k], (unsigned long long)b->overflow[k]);
    for (int i = 0; i < PT_HIST_BINS; i++)
        ck_assert_msg(a->hist[i] == b->hist[i], "%s: hist[%d] cpu %llu gpu %llu", what, i,
                      (unsigned long long)a->hist[i], (unsigned long long)b->hist[i]);
    ck_assert_msg(memcmp(&a->absmax, &b->absmax, 4) == 0, "%s: absmax %a vs %a", what,
                  (double)a->absmax, (double)b->absmax);
    ck_assert_msg(memcmp(&a->min_nonzero, &b->min_nonzero, 4) == 0, "%s: min %a vs %a", what,
                  (double)a->min_nonzero, (double)b->min_nonzero);
}

static pt_backend *gpu;

/* One tensor: CPU reference vs CUDA, at element offset `skew` (misaligned
 * when skew is odd). */
static void compare_one(pt_format dt, size_t n, size_t skew, float scale)
{
    size_t es = (size_t)pt_format_info(dt)->storage_bytes;
    void *h = malloc((n + skew) * es);
    ck_assert_ptr_nonnull(h);
    fill(h, dt, n + skew);
    void *d;
    ck_assert_int_eq(pt_backend_alloc(gpu, (n + skew) * es, &d), PT_OK);
    ck_assert_int_eq(pt_backend_upload(gpu, d, h, (n + skew) * es), PT_OK);
    pt_stats_req rc = {(char *)h + skew * es, n, dt, scale};
    pt_stats_req rg = {(char *)d + skew * es, n, dt, scale};
    pt_stats want;
    ck_assert_int_eq(pt_stats_cpu(&rc, 1, &want), PT_OK);
    pt_stats_batch *b;
    ck_assert_int_eq(pt_stats_batch_create(gpu, 1, &b), PT_OK);
    ck_assert_int_eq(pt_backend_stats(gpu, b, &rg, 1), PT_OK);
    const pt_stats *got;
    int nres;
    ck_assert_int_eq(pt_stats_batch_wait(b, &got, &nres), PT_OK);
    ck_assert(pt_stats_batch_ready(b));
    char what[96];
    snprintf(what, sizeof what, "%s n=%zu skew=%zu scale=%g", pt_format_info(dt)->name, n, skew,
             (double)scale);
    assert_same(&want, &got[0], what);
    pt_stats_batch_destroy(b);
    pt_backend_free(gpu, d);
    free(h);
}

START_TEST(test_sizes)
{
    const size_t sizes[] = {1, 2, 7, 33, 1000, 16383, 16384, 16385, 100003, (1u << 20) + 5,
                            1u << 24};
    const pt_format dts[] = {PT_FMT_FP32, PT_FMT_BF16, PT_FMT_FP16};
    for (size_t d = 0; d < 3; d++)
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            compare_one(dts[d], sizes[i], 0, 1.0f);
            compare_one(dts[d], sizes[i], 1, 1024.0f);
            /* a scale no key table describes: the exact kernel */
            if (i % 3 == 0) compare_one(dts[d], sizes[i], 0, 0x1p120f);
        }
}
END_TEST

START_TEST(test_largest)
{
    compare_one(PT_FMT_FP32, 1u << 28, 0, 65536.0f);
    compare_one(PT_FMT_BF16, 1u << 28, 0, 1.0f / 64);
    printf("2^28-element tensors agree (fp32, bf16)\n");
}
END_TEST

START_TEST(test_many_in_one_launch)
{
    enum { T = 64 };
    size_t n[T], total = 0;
    for (int i = 0; i < T; i++) {
        n[i] = i % 9 == 4 ? 0 : (size_t)(rng() % (i % 5 == 0 ? 300000 : 5000)) + 1;
        total += n[i] + 1;
    }
    float *h = malloc(total * 4);
    fill(h, PT_FMT_FP32, total);
    float *d;
    ck_assert_int_eq(pt_backend_alloc(gpu, total * 4, (void **)&d), PT_OK);
    ck_assert_int_eq(pt_backend_upload(gpu, d, h, total * 4), PT_OK);
    pt_stats_req rc[T], rg[T];
    size_t off = 0;
    for (int i = 0; i < T; i++) {
        /* mixed scales, every seventh beyond what a key table describes, so
         * both kernels run in one launch */
        float sc = i % 7 == 3 ? 0x1p121f : ldexpf(1.0f + (float)(rng() % 100) / 100, (int)(rng() % 40) - 20);
        rc[i] = (pt_stats_req){h + off, n[i], PT_FMT_FP32, sc};
        rg[i] = (pt_stats_req){d + off, n[i], PT_FMT_FP32, sc};
        off += n[i] + 1; /* odd offsets: most tensors are misaligned */
    }
    pt_stats want[T];
    ck_assert_int_eq(pt_stats_cpu(rc, T, want), PT_OK);
    pt_stats_batch *b;
    ck_assert_int_eq(pt_stats_batch_create(gpu, T, &b), PT_OK);
    for (int rep = 0; rep < 2; rep++) { /* a batch can be launched again */
        ck_assert_int_eq(pt_backend_stats(gpu, b, rg, T), PT_OK);
        const pt_stats *got;
        int nres;
        ck_assert_int_eq(pt_stats_batch_wait(b, &got, &nres), PT_OK);
        ck_assert_int_eq(nres, T);
        for (int i = 0; i < T; i++) {
            char what[64];
            snprintf(what, sizeof what, "tensor %d of %d (n=%zu)", i, T, n[i]);
            assert_same(&want[i], &got[i], what);
        }
    }
    pt_stats_batch_destroy(b);
    pt_backend_free(gpu, d);
    free(h);
}
END_TEST

int main(void)
{
    pt_test_require_gpu("test_cuda_stats");
    if (pt_backend_open("cuda", &gpu) != PT_OK) {
        fprintf(stderr, "cannot open cuda: %s\n", pt_last_error());
        return EXIT_FAILURE;
    }
    printf("device: %s\n", pt_backend_name(gpu));
    Suite *s = suite_create("cuda_stats");
    TCase *tc = tcase_create("cuda_stats");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, test_sizes);
    tcase_add_test(tc, test_many_in_one_launch);
    tcase_add_test(tc, test_largest);
    suite_add_tcase(s, tc);
    int rc = pt_check_run(s, CK_NOFORK);
    pt_backend_close(gpu);
    return rc;
}
