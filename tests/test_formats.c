/* Formats against independent oracles: the golden tables made with
 * ml_dtypes (decode of every code, encode of boundary and random cases),
 * and a search-based oracle that rounds by finding the nearest value in
 * the golden decode table (ties to the even code), which shares nothing
 * with the bit-manipulation encoder under test. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "golden.h"
#include "prectune/formats.h"

static uint32_t f2u(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }
static float u2f(uint32_t u) { float x; memcpy(&x, &u, 4); return x; }

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void) /* splitmix64 */
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* ---- the oracle -------------------------------------------------------- */

typedef struct oracle {
    pt_format f;
    const float *table; /* golden decode of every code */
    uint32_t max_code;  /* largest finite positive code */
    uint32_t sign_bit, inf_code;
    double virt;        /* the value the next code up would have (overflow) */
    int always_sat;
} oracle;

static int is_nan_code(pt_format f, uint32_t c)
{
    return isnan(pt_decode(f, c));
}

/* Expected encoding of x by nearest search; returns the code, or
 * UINT32_MAX for NaN input (any NaN code is right). */
static uint32_t oracle_encode(const oracle *o, float x, int sat)
{
    if (isnan(x)) return UINT32_MAX;
    uint32_t sign = signbit(x) ? o->sign_bit : 0;
    double a = fabs((double)x);
    sat = sat || o->always_sat;
    if (isinf(x)) return sign | (sat ? o->max_code : o->inf_code);
    /* largest code with value <= a (positive codes increase with value) */
    uint32_t lo = 0, hi = o->max_code;
    if (a >= o->table[o->max_code]) lo = o->max_code;
    else {
        while (lo < hi) {
            uint32_t mid = (lo + hi + 1) / 2;
            if (o->table[mid] <= a) lo = mid; else hi = mid - 1;
        }
    }
    double vlo = o->table[lo];
    if (vlo == a) return sign | lo;
    double vhi = lo == o->max_code ? o->virt : o->table[lo + 1];
    double dlo = a - vlo, dhi = vhi - a;
    uint32_t pick = dlo < dhi ? lo : dhi < dlo ? lo + 1 : ((lo & 1) ? lo + 1 : lo);
    if (pick > o->max_code) return sign | (sat ? o->max_code : o->inf_code);
    return sign | pick;
}

static float *tables[PT_FMT_COUNT];

static oracle make_oracle(pt_format f)
{
    oracle o = {.f = f};
    switch (f) {
    case PT_FMT_BF16:
        o.table = tables[f] = tables[f] ? tables[f] : golden_read_floats("decode_bf16.bin", 65536);
        o.max_code = 0x7f7f; o.sign_bit = 0x8000; o.inf_code = 0x7f80; o.virt = 0x1p128;
        break;
    case PT_FMT_FP16:
        o.table = tables[f] = tables[f] ? tables[f] : golden_read_floats("decode_fp16.bin", 65536);
        o.max_code = 0x7bff; o.sign_bit = 0x8000; o.inf_code = 0x7c00; o.virt = 65536.0;
        break;
    case PT_FMT_E4M3:
        o.table = tables[f] = tables[f] ? tables[f] : golden_read_floats("decode_e4m3.bin", 256);
        o.max_code = 0x7e; o.sign_bit = 0x80; o.inf_code = 0x7e; o.virt = 480.0;
        o.always_sat = 1;
        break;
    case PT_FMT_E5M2:
        o.table = tables[f] = tables[f] ? tables[f] : golden_read_floats("decode_e5m2.bin", 256);
        o.max_code = 0x7b; o.sign_bit = 0x80; o.inf_code = 0x7c; o.virt = 65536.0;
        break;
    default: ck_abort_msg("no oracle for format %d", f);
    }
    return o;
}

static const pt_format small_formats[] = {PT_FMT_BF16, PT_FMT_FP16, PT_FMT_E4M3, PT_FMT_E5M2};

static void check_against_oracle(const oracle *o, float x, int sat)
{
    uint32_t want = oracle_encode(o, x, sat);
    uint32_t got = pt_encode(o->f, x, sat ? PT_CAST_SATURATE : 0);
    /* plain ifs: every ck_assert is a message to Check's parent process,
     * too slow for 10^7 cases */
    if (want == UINT32_MAX) {
        if (!is_nan_code(o->f, got))
            ck_abort_msg("%s: NaN input gave non-NaN code 0x%x", pt_format_info(o->f)->name, got);
    } else if (got != want) {
        ck_abort_msg("%s%s: encode(%a = 0x%08x) = 0x%x, oracle 0x%x", pt_format_info(o->f)->name,
                     sat ? " (saturating)" : "", (double)x, f2u(x), got, want);
    }
}

/* tf32: the neighbours of x on the tf32 grid are its fp32 bits with the
 * low 13 bits cleared and that plus one tf32 step; nearest wins, ties go
 * to the even tf32 code. */
static uint32_t tf32_oracle(float x)
{
    uint32_t u = f2u(x), sign = u & 0x80000000u, a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return UINT32_MAX;
    if (a == 0x7f800000u) return u;
    /* (NaN: the canonical code 0x7fffe000 is checked against the GPU) */
    uint32_t lo = a & ~0x1fffu, hi = lo + 0x2000u;
    double dlo = (double)u2f(a) - (double)u2f(lo);
    double dhi = (hi >= 0x7f800000u ? 0x1p128 : (double)u2f(hi)) - (double)u2f(a);
    uint32_t pick = dlo < dhi ? lo : dhi < dlo ? hi : ((lo >> 13) & 1 ? hi : lo);
    return sign | pick;
}

/* ---- tests ------------------------------------------------------------- */

START_TEST(test_traits)
{
    for (int f = 0; f < PT_FMT_COUNT; f++) {
        const pt_format_traits *t = pt_format_info((pt_format)f);
        ck_assert_ptr_nonnull(t);
        ck_assert_int_eq(pt_format_from_name(t->name), f);
        ck_assert(t->epsilon == ldexp(1.0, -t->man_bits));
        /* max finite, min normal, min subnormal encode exactly and decode back */
        ck_assert(pt_decode((pt_format)f, t->max_code) == (float)t->max_finite);
        ck_assert(pt_round((pt_format)f, (float)t->min_normal, 0) == (float)t->min_normal);
        ck_assert(pt_round((pt_format)f, (float)t->min_subnormal, 0) == (float)t->min_subnormal);
        ck_assert(pt_round((pt_format)f, (float)t->min_subnormal / 2, 0) == 0.0f);
        ck_assert(isnan(pt_decode((pt_format)f, t->nan_code)));
    }
    ck_assert_int_eq(pt_format_from_name("e4m3"), PT_FMT_E4M3);
    ck_assert_int_eq(pt_format_from_name("fp64"), PT_FMT_COUNT);
    ck_assert_int_eq(pt_format_from_name(NULL), PT_FMT_COUNT);
    ck_assert_ptr_null(pt_format_info(PT_FMT_COUNT));
    /* DESIGN.md's table */
    ck_assert(pt_format_info(PT_FMT_FP16)->max_finite == 65504.0);
    ck_assert(pt_format_info(PT_FMT_FP16)->min_subnormal == 0x1p-24);
    ck_assert(pt_format_info(PT_FMT_E4M3)->max_finite == 448.0);
    ck_assert(pt_format_info(PT_FMT_E4M3)->min_normal == 0x1p-6);
    ck_assert(pt_format_info(PT_FMT_E4M3)->min_subnormal == 0x1p-9);
    ck_assert(pt_format_info(PT_FMT_E5M2)->max_finite == 57344.0);
    ck_assert(pt_format_info(PT_FMT_E5M2)->min_subnormal == 0x1p-16);
    ck_assert(pt_format_info(PT_FMT_BF16)->max_finite == 0x1.fep127);
    ck_assert(pt_format_info(PT_FMT_BF16)->min_subnormal == 0x1p-133);
}
END_TEST

START_TEST(test_thresholds)
{
    /* the threshold is exactly where encoding starts to overflow */
    for (int f = 0; f < PT_FMT_COUNT; f++) {
        float t = pt_format_overflow_threshold((pt_format)f);
        const pt_format_traits *tr = pt_format_info((pt_format)f);
        if (isinf(t)) continue;
        float below = nextafterf(t, 0.0f);
        ck_assert_msg(pt_round((pt_format)f, below, 0) == (float)tr->max_finite,
                      "%s: %a should round to max", tr->name, (double)below);
        ck_assert(pt_format_overflows((pt_format)f, t));
        ck_assert(!pt_format_overflows((pt_format)f, below));
        float r = pt_round((pt_format)f, t, 0);
        if (tr->has_inf) ck_assert_msg(isinf(r), "%s: %a should overflow", tr->name, (double)t);
        else ck_assert(r == (float)tr->max_finite);
        float u = pt_format_underflow_threshold((pt_format)f);
        if (u > 0) {
            ck_assert(pt_round((pt_format)f, u, 0) == 0.0f);
            ck_assert(pt_round((pt_format)f, nextafterf(u, 1.0f), 0) != 0.0f);
        }
    }
}
END_TEST

START_TEST(test_acceptance_examples)
{
    ck_assert_uint_eq(pt_encode(PT_FMT_E4M3, 500.0f, 0), 0x7e);
    ck_assert(pt_decode(PT_FMT_E4M3, 0x7e) == 448.0f);
    ck_assert_uint_eq(pt_encode(PT_FMT_FP16, 70000.0f, 0), 0x7c00);
    ck_assert_uint_eq(pt_encode(PT_FMT_BF16, 1.00390625f, 0), 0x3f80);
    ck_assert_uint_eq(pt_encode(PT_FMT_BF16, 1.01171875f, 0), 0x3f82); /* tie up to even */
    ck_assert_uint_eq(pt_encode(PT_FMT_E5M2, 70000.0f, 0), 0x7c);
    ck_assert_uint_eq(pt_encode(PT_FMT_E5M2, 70000.0f, PT_CAST_SATURATE), 0x7b);
    ck_assert_uint_eq(pt_encode(PT_FMT_E4M3, -INFINITY, 0), 0xfe);
    ck_assert_uint_eq(pt_encode(PT_FMT_FP16, 0x1p-25f, 0), 0x0000); /* tie to even zero */
    ck_assert_uint_eq(pt_encode(PT_FMT_FP16, 0x1.8p-25f, 0), 0x0001);
    ck_assert_uint_eq(pt_encode(PT_FMT_FP16, -0.0f, 0), 0x8000);
    ck_assert_uint_eq(pt_encode(PT_FMT_TF32, 1.0f + 0x1p-11f, 0), 0x3f800000u); /* tie to even */
}
END_TEST

START_TEST(test_decode_exhaustive)
{
    for (size_t k = 0; k < 4; k++) {
        pt_format f = small_formats[k];
        oracle o = make_oracle(f);
        uint32_t ncodes = pt_format_info(f)->bits == 16 ? 65536 : 256;
        for (uint32_t c = 0; c < ncodes; c++) {
            float want = o.table[c], got = pt_decode(f, c);
            if (isnan(want)) ck_assert_msg(isnan(got), "%s: code 0x%x", pt_format_info(f)->name, c);
            else
                ck_assert_msg(f2u(got) == f2u(want), "%s: decode(0x%x) = %a, golden %a",
                              pt_format_info(f)->name, c, (double)got, (double)want);
        }
    }
}
END_TEST

START_TEST(test_encode_golden)
{
    size_t n;
    golden_case *c = golden_read_cases(&n);
    ck_assert_uint_gt(n, 100000);
    for (size_t i = 0; i < n; i++) {
        float x = c[i].x;
        uint32_t got[5] = {pt_encode(PT_FMT_BF16, x, 0), pt_encode(PT_FMT_FP16, x, 0),
                           pt_encode(PT_FMT_E4M3, x, 0), pt_encode(PT_FMT_E5M2, x, 0),
                           pt_encode(PT_FMT_E5M2, x, PT_CAST_SATURATE)};
        uint32_t want[5] = {c[i].bf16, c[i].fp16, c[i].e4m3, c[i].e5m2, c[i].e5m2_sat};
        pt_format fmt[5] = {PT_FMT_BF16, PT_FMT_FP16, PT_FMT_E4M3, PT_FMT_E5M2, PT_FMT_E5M2};
        for (int k = 0; k < 5; k++) {
            if (c[i].flags & 1)
                ck_assert_msg(is_nan_code(fmt[k], got[k]), "NaN input, format %d", k);
            else
                ck_assert_msg(got[k] == want[k], "case %zu: x=%a format#%d got 0x%x golden 0x%x",
                              i, (double)x, k, got[k], want[k]);
        }
    }
    free(c);
}
END_TEST

START_TEST(test_encode_boundaries)
{
    /* every finite code v: v, its fp32 neighbours, the midpoint to the next
     * code and the midpoint's fp32 neighbours, both signs, saturating or not */
    for (size_t k = 0; k < 4; k++) {
        oracle o = make_oracle(small_formats[k]);
        for (uint32_t c = 0; c <= o.max_code; c++) {
            double v = o.table[c];
            double next = c == o.max_code ? o.virt : o.table[c + 1];
            float mid = (float)((v + next) / 2); /* exact: both are dyadic, short */
            float xs[6] = {(float)v, nextafterf((float)v, INFINITY), nextafterf((float)v, 0.0f),
                           mid, nextafterf(mid, INFINITY), nextafterf(mid, 0.0f)};
            for (int i = 0; i < 6; i++)
                for (int s = 0; s < 2; s++)
                    for (int sat = 0; sat < 2; sat++)
                        check_against_oracle(&o, s ? -xs[i] : xs[i], sat);
        }
        float specials[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, 0x1p-149f, 0x1p-126f,
                            0x1.fffffep127f, 1e-30f, 1e30f};
        for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++)
            for (int sat = 0; sat < 2; sat++) check_against_oracle(&o, specials[i], sat);
    }
}
END_TEST

START_TEST(test_encode_random)
{
    /* 10^7 random fp32 values per format: half uniform over all bit
     * patterns, half log-uniform over the format's interesting range */
    oracle os[4];
    for (int k = 0; k < 4; k++) os[k] = make_oracle(small_formats[k]);
    const int N = 10000000;
    for (int i = 0; i < N; i++) {
        uint64_t r = rng();
        float x;
        if (i & 1) x = u2f((uint32_t)r);
        else {
            int e = (int)((r >> 32) % 60) - 30; /* 2^-30 .. 2^29 */
            x = ldexpf(1.0f + (float)(r & 0xffffff) / 0x1p24f, e);
            if (r >> 63) x = -x;
        }
        for (int k = 0; k < 4; k++) check_against_oracle(&os[k], x, (int)(r >> 62) & 1);
        uint32_t want = tf32_oracle(x), got = pt_encode(PT_FMT_TF32, x, 0);
        if (want == UINT32_MAX ? !isnan(u2f(got)) : got != want)
            ck_abort_msg("tf32: %a -> 0x%08x, oracle 0x%08x", (double)x, got, want);
    }
}
END_TEST

START_TEST(test_bulk)
{
    enum { N = 1003 };
    float *in = malloc(N * sizeof *in), *back = malloc(N * sizeof *back);
    uint32_t *out = malloc(N * 4);
    for (int i = 0; i < N; i++) in[i] = ldexpf((float)(int)(rng() % 2001 - 1000), (int)(rng() % 40) - 30);
    for (int f = 0; f < PT_FMT_COUNT; f++) {
        const pt_format_traits *t = pt_format_info((pt_format)f);
        float scale = 3.0f;
        float amax = pt_encode_array((pt_format)f, in, out, N, scale, PT_CAST_SATURATE);
        float want_amax = 0;
        for (int i = 0; i < N; i++) want_amax = fmaxf(want_amax, fabsf(in[i]));
        ck_assert(amax == want_amax);
        for (int i = 0; i < N; i++) {
            uint32_t code = t->storage_bytes == 4 ? out[i]
                          : t->storage_bytes == 2 ? ((uint16_t *)out)[i]
                                                  : ((uint8_t *)out)[i];
            ck_assert_uint_eq(code, pt_encode((pt_format)f, in[i] * scale, PT_CAST_SATURATE));
        }
        pt_decode_array((pt_format)f, out, back, N, 1.0f / scale);
        for (int i = 0; i < N; i++) {
            float want = pt_round((pt_format)f, in[i] * scale, PT_CAST_SATURATE) * (1.0f / scale);
            ck_assert(f2u(back[i]) == f2u(want));
        }
        memcpy(back, in, N * sizeof *in);
        pt_round_array((pt_format)f, back, N, 0);
        for (int i = 0; i < N; i++)
            ck_assert(f2u(back[i]) == f2u(pt_round((pt_format)f, in[i], 0)));
    }
    in[17] = NAN; /* a NaN is never hidden by the amax reduction */
    ck_assert(isnan(pt_encode_array(PT_FMT_E4M3, in, out, N, 1.0f, 0)));
    free(in);
    free(back);
    free(out);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("formats");
    TCase *tc = tcase_create("formats");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_traits);
    tcase_add_test(tc, test_thresholds);
    tcase_add_test(tc, test_acceptance_examples);
    tcase_add_test(tc, test_decode_exhaustive);
    tcase_add_test(tc, test_encode_golden);
    tcase_add_test(tc, test_encode_boundaries);
    tcase_add_test(tc, test_encode_random);
    tcase_add_test(tc, test_bulk);
    suite_add_tcase(s, tc);
    return pt_check_run(s, CK_FORK_GETENV);
}
