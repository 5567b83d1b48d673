/* The emulated low-precision GEMM against a naive triple loop in fp64 over
 * the decoded inputs. The only differences allowed are the fp32
 * accumulation (|error| <= k * 2^-24 * sum_k |a||b|, the classic bound
 * gamma_k for recursive summation, which also covers blocked orders) and
 * the final rounding to the output format (half an ulp of the result, in
 * that format's precision). */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "kernels/ops.h"

static uint64_t rng_state = 77;
static double urand(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (double)((z ^ (z >> 31)) >> 11) / 9007199254740992.0;
}

static void check_gemm(pt_format f, int m, int n, int k, bool ta, bool tb, float beta,
                       bool with_bias)
{
    pt_backend *be;
    ck_assert_int_eq(pt_backend_open("cpu", &be), PT_OK);
    const pt_format_traits *t = pt_format_info(f);
    size_t es = (size_t)t->storage_bytes;
    float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * k * n);
    float *c = malloc(sizeof(float) * m * n), *c0 = malloc(sizeof(float) * m * n);
    float *bias = malloc(sizeof(float) * n);
    void *qa = malloc(es * m * k + 1), *qb = malloc(es * k * n + 1);
    for (int i = 0; i < m * k; i++) a[i] = (float)(urand() * 2 - 1) * 3;
    for (int i = 0; i < k * n; i++) b[i] = (float)(urand() * 2 - 1) * 3;
    for (int i = 0; i < n; i++) bias[i] = (float)(urand() - 0.5);
    for (int i = 0; i < m * n; i++) c[i] = c0[i] = (float)(urand() - 0.5);
    /* fp8 operands carry a scale; the GEMM multiplies by its inverse */
    float sa = (f == PT_FMT_E4M3 || f == PT_FMT_E5M2) ? 16.0f : 1.0f, sb = (f == PT_FMT_E4M3 || f == PT_FMT_E5M2) ? 8.0f : 1.0f;
    float ia = 1 / sa, ib = 1 / sb;
    pt_operand oa = {.data = a, .fmt = f, .trans = ta}, ob = {.data = b, .fmt = f, .trans = tb};
    if (f != PT_FMT_FP32 && f != PT_FMT_TF32) {
        ck_assert_int_eq(pt_backend_cast(be, f, a, qa, (size_t)m * k, &sa, NULL, PT_CAST_SATURATE), PT_OK);
        ck_assert_int_eq(pt_backend_cast(be, f, b, qb, (size_t)k * n, &sb, NULL, PT_CAST_SATURATE), PT_OK);
        oa = (pt_operand){.data = qa, .fmt = f, .scale_inv = &ia, .trans = ta};
        ob = (pt_operand){.data = qb, .fmt = f, .scale_inv = &ib, .trans = tb};
    }
    pt_format out = f == PT_FMT_E4M3 || f == PT_FMT_E5M2 ? PT_FMT_BF16 : f == PT_FMT_TF32 ? PT_FMT_FP32 : f;
    pt_gemm g = {
        .m = m, .n = n, .k = k, .a = oa, .b = ob, .bias = with_bias ? bias : NULL, .out_fmt = out, .beta = beta};
    ck_assert_int_eq(pt_backend_gemm(be, &g, c), PT_OK);
    /* the reference: decoded operands, fp64 accumulation */
    double u_out = ldexp(1.0, -pt_format_info(out)->man_bits - 1);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0, mag = 0;
            for (int p = 0; p < k; p++) {
                float av = ta ? a[p * m + i] : a[i * k + p];
                float bv = tb ? b[j * k + p] : b[p * n + j];
                double ad, bd;
                if (f == PT_FMT_FP32) ad = av, bd = bv;
                else if (f == PT_FMT_TF32) ad = pt_round(f, av, 0), bd = pt_round(f, bv, 0);
                else ad = pt_round(f, av * sa, PT_CAST_SATURATE) / sa, bd = pt_round(f, bv * sb, PT_CAST_SATURATE) / sb;
                s += ad * bd;
                mag += fabs(ad * bd);
            }
            if (with_bias) { /* added in the output format (pt_gemm) */
                double bj = pt_round(out, bias[j], 0);
                s += bj, mag += fabs(bj);
            }
            double want = s + beta * c0[i * n + j];
            double tol = (k + 2) * 0x1p-24 * mag + u_out * fabs(s) + 1e-30 + fabs(beta) * 0x1p-24 * fabs(c0[i * n + j]);
            double err = fabs(c[i * n + j] - want);
            if (err > tol)
                ck_abort_msg("%s m=%d n=%d k=%d ta=%d tb=%d: C[%d,%d] = %.9g, fp64 %.9g, error %.3g > bound %.3g",
                             t->name, m, n, k, ta, tb, i, j, (double)c[i * n + j], want, err, tol);
        }
    free(a), free(b), free(c), free(c0), free(bias), free(qa), free(qb);
    pt_backend_close(be);
}

START_TEST(test_all_formats)
{
    const int shapes[][3] = {{1, 1, 1}, {7, 5, 33}, {16, 24, 100}, {33, 17, 300}};
    for (int f = 0; f < PT_FMT_COUNT; f++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int tr = 0; tr < 4; tr++)
                check_gemm((pt_format)f, shapes[s][0], shapes[s][1], shapes[s][2], tr & 1, tr & 2,
                           tr == 3 ? 1.0f : 0.0f, s % 2 == 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gemm_emulation");
    TCase *tc = tcase_create("gemm_emulation");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_all_formats);
    suite_add_tcase(s, tc);
    return pt_check_run(s, CK_FORK_GETENV);
}
