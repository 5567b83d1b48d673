/* The fused cast + amax on the GPU equals the CPU reference byte for byte,
 * for every format, odd and large sizes, aligned or not, with the scale
 * read from device memory, and amax accumulating (NaN kept visible). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "gpu_skip.h"
#include "prectune/backend.h"

static pt_backend *gpu, *cpu;
static uint64_t rng_state = 4242;
static uint64_t rng(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void compare(pt_format f, size_t n, size_t skew, float scale, unsigned flags, int with_nan)
{
    size_t es = (size_t)pt_format_info(f)->storage_bytes;
    float *h = malloc((n + skew) * 4);
    for (size_t i = 0; i < n + skew; i++) {
        uint64_t r = rng();
        if (r % 50 == 0) { uint32_t u = (uint32_t)(r >> 20); memcpy(&h[i], &u, 4); }
        else h[i] = ldexpf((float)((r >> 8) & 0xffffff) / 0x1p24f - 0.5f, (int)((r >> 40) % 60) - 30);
        if (!with_nan && isnan(h[i])) h[i] = 1.0f;
    }
    if (with_nan) h[skew + n / 2] = NAN;
    void *outc = malloc(n * es + 1), *outg = malloc(n * es + 1);
    float amax_c = 0.5f;
    ck_assert_int_eq(pt_backend_cast(cpu, f, h + skew, outc, n, &scale, &amax_c, flags), PT_OK);
    float *din, *dscale, *damax;
    void *dout;
    ck_assert_int_eq(pt_backend_alloc(gpu, (n + skew) * 4, (void **)&din), PT_OK);
    ck_assert_int_eq(pt_backend_alloc(gpu, n * es + 16, &dout), PT_OK);
    ck_assert_int_eq(pt_backend_alloc(gpu, 4, (void **)&dscale), PT_OK);
    ck_assert_int_eq(pt_backend_alloc(gpu, 4, (void **)&damax), PT_OK);
    float half = 0.5f;
    ck_assert_int_eq(pt_backend_upload(gpu, din, h, (n + skew) * 4), PT_OK);
    ck_assert_int_eq(pt_backend_upload(gpu, dscale, &scale, 4), PT_OK);
    ck_assert_int_eq(pt_backend_upload(gpu, damax, &half, 4), PT_OK);
    /* the output is offset too when the input is, so both paths run */
    char *dst = (char *)dout + (skew ? es : 0);
    ck_assert_int_eq(pt_backend_cast(gpu, f, din + skew, dst, n, dscale, damax, flags), PT_OK);
    ck_assert_int_eq(pt_backend_sync(gpu), PT_OK);
    float amax_g;
    ck_assert_int_eq(pt_backend_download(gpu, outg, dst, n * es), PT_OK);
    ck_assert_int_eq(pt_backend_download(gpu, &amax_g, damax, 4), PT_OK);
    size_t first_bad = n;
    for (size_t i = 0; i < n * es; i++)
        if (((unsigned char *)outc)[i] != ((unsigned char *)outg)[i]) { first_bad = i / es; break; }
    ck_assert_msg(first_bad == n, "%s n=%zu skew=%zu: element %zu (x=%a) differs",
                  pt_format_info(f)->name, n, skew, first_bad,
                  first_bad < n ? (double)h[skew + first_bad] : 0.0);
    if (with_nan) ck_assert(isnan(amax_g) && isnan(amax_c));
    else ck_assert_msg(memcmp(&amax_c, &amax_g, 4) == 0, "amax cpu %a gpu %a", (double)amax_c,
                       (double)amax_g);
    pt_backend_free(gpu, din);
    pt_backend_free(gpu, dout);
    pt_backend_free(gpu, dscale);
    pt_backend_free(gpu, damax);
    free(h);
    free(outc);
    free(outg);
}

START_TEST(test_cast_all)
{
    const size_t sizes[] = {1, 7, 16, 17, 33, 1000, 4099, (1u << 20) + 3, 1u << 26};
    for (int f = 0; f < PT_FMT_COUNT; f++)
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            compare((pt_format)f, sizes[i], 0, 1.0f, 0, 0);
            compare((pt_format)f, sizes[i], 1, 0.0625f, PT_CAST_SATURATE, 0);
            compare((pt_format)f, sizes[i], 0, 300.0f, 0, 1);
        }
}
END_TEST

START_TEST(test_null_scale_and_amax)
{
    float *d;
    uint8_t *o;
    ck_assert_int_eq(pt_backend_alloc(gpu, 64 * 4, (void **)&d), PT_OK);
    ck_assert_int_eq(pt_backend_alloc(gpu, 64, (void **)&o), PT_OK);
    float h[64];
    for (int i = 0; i < 64; i++) h[i] = (float)i - 20.0f;
    ck_assert_int_eq(pt_backend_upload(gpu, d, h, sizeof h), PT_OK);
    ck_assert_int_eq(pt_backend_cast(gpu, PT_FMT_E4M3, d, o, 64, NULL, NULL, 0), PT_OK);
    uint8_t g[64];
    ck_assert_int_eq(pt_backend_download(gpu, g, o, 64), PT_OK);
    for (int i = 0; i < 64; i++) ck_assert_uint_eq(g[i], pt_encode(PT_FMT_E4M3, h[i], 0));
    pt_backend_free(gpu, d);
    pt_backend_free(gpu, o);
}
END_TEST

int main(void)
{
    pt_test_require_gpu("test_cuda_cast");
    if (pt_backend_open("cuda", &gpu) != PT_OK || pt_backend_open("cpu", &cpu) != PT_OK) {
        fprintf(stderr, "cannot open backends: %s\n", pt_last_error());
        return EXIT_FAILURE;
    }
    Suite *s = suite_create("cuda_cast");
    TCase *tc = tcase_create("cuda_cast");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_cast_all);
    tcase_add_test(tc, test_null_scale_and_amax);
    suite_add_tcase(s, tc);
    int rc = pt_check_run(s, CK_NOFORK);
    pt_backend_close(gpu);
    pt_backend_close(cpu);
    return rc;
}
