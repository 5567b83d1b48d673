/* Every training op on the CUDA backend against the CPU reference, on the
 * same inputs, in the spirit of ggml's test-backend-ops: odd and larger
 * shapes, every format for the GEMM and the casts, NaN/inf positions
 * compared exactly, values by a scale-aware error (NMSE) with a threshold
 * per op whose origin is written beside it. Then a whole training run on
 * both backends. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_run.h"
#include "../../instrument/net.h"
#include "gpu_skip.h"
#include "kernels/ops.h"
#include "prectune/fp8.h"
#include "prectune/trainer.h"

static pt_backend *cpu, *gpu;
static uint64_t rs = 31;
static float urand(void)
{
    uint64_t z = (rs += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (float)((double)((z ^ (z >> 31)) >> 11) / 9007199254740992.0) * 2 - 1;
}

static float *rnd(size_t n, float scale)
{
    float *x = malloc(n * sizeof *x + 4);
    for (size_t i = 0; i < n; i++) x[i] = urand() * scale;
    return x;
}

static void *up(const void *h, size_t bytes)
{
    void *d;
    ck_assert_int_eq(pt_backend_alloc(gpu, bytes, &d), PT_OK);
    ck_assert_int_eq(pt_backend_upload(gpu, d, h, bytes), PT_OK);
    return d;
}

static float *down(const void *d, size_t n)
{
    float *h = malloc(n * sizeof *h + 4);
    ck_assert_int_eq(pt_backend_sync(gpu), PT_OK);
    ck_assert_int_eq(pt_backend_download(gpu, h, d, n * sizeof *h), PT_OK);
    return h;
}

/* NMSE = sum (a-b)^2 / sum b^2, after checking that non-finite values sit
 * at the same places with the same signs */
static void compare(const char *what, const float *got, const float *want, size_t n, double max_nmse)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(want[i]) || !isfinite(got[i])) {
            ck_assert_msg(isnan(want[i]) == isnan(got[i]) && (isnan(want[i]) || want[i] == got[i]),
                          "%s: element %zu: cuda %g, cpu %g", what, i, (double)got[i], (double)want[i]);
            continue;
        }
        num += ((double)got[i] - want[i]) * ((double)got[i] - want[i]);
        den += (double)want[i] * want[i];
    }
    double nmse = den > 0 ? num / den : num;
    ck_assert_msg(nmse <= max_nmse, "%s: NMSE %.3g > %.3g", what, nmse, max_nmse);
}

/* One GEMM on both backends: a in fa, b in fb (fp8 operands with scales
 * 16 and 8, as a recipe would give), op(A) and op(B) per ta/tb, with or
 * without bias, overwriting (beta 0, output rounded to the formats' output
 * format) or accumulating (beta 1, fp32 output). */
static bool misaligned_scales; /* descales at 4 bytes past an aligned address, as a net's may be */

static void gemm_case(pt_format fa, pt_format fb, int m, int n, int k, bool ta, bool tb, float beta, bool with_bias)
{
    const pt_format_traits *t = pt_format_info(fa), *tbf = pt_format_info(fb);
    float *a = rnd((size_t)m * k, 2), *b = rnd((size_t)k * n, 2), *c = rnd((size_t)m * n, 1), *bias = rnd(n, 1);
    float sa = t->bits == 8 ? 16.0f : 1.0f, sb = tbf->bits == 8 ? 8.0f : 1.0f, ia = 1 / sa, ib = 1 / sb;
    void *qa = malloc((size_t)m * k * t->storage_bytes + 4), *qb = malloc((size_t)k * n * tbf->storage_bytes + 4);
    const void *pa = a, *pb = b;
    if (fa != PT_FMT_FP32 && fa != PT_FMT_TF32) {
        pt_backend_cast(cpu, fa, a, qa, (size_t)m * k, &sa, NULL, PT_CAST_SATURATE);
        pa = qa;
    }
    if (fb != PT_FMT_FP32 && fb != PT_FMT_TF32) {
        pt_backend_cast(cpu, fb, b, qb, (size_t)k * n, &sb, NULL, PT_CAST_SATURATE);
        pb = qb;
    }
    bool fp8 = t->bits == 8;
    pt_format out = fp8 ? PT_FMT_BF16 : fa == PT_FMT_TF32 ? PT_FMT_FP32 : fa;
    if (beta != 0) out = PT_FMT_FP32;
    float *cc = malloc((size_t)m * n * 4);
    memcpy(cc, c, (size_t)m * n * 4);
    pt_gemm gc = {.m = m,
                  .n = n,
                  .k = k,
                  .a = {.data = pa, .fmt = fa, .scale_inv = t->bits == 8 ? &ia : NULL, .trans = ta},
                  .b = {.data = pb, .fmt = fb, .scale_inv = tbf->bits == 8 ? &ib : NULL, .trans = tb},
                  .bias = with_bias ? bias : NULL,
                  .out_fmt = out,
                  .beta = beta};
    ck_assert_int_eq(pt_backend_gemm(cpu, &gc, cc), PT_OK);
    void *da = up(pa, (size_t)m * k * t->storage_bytes), *db = up(pb, (size_t)k * n * tbf->storage_bytes);
    float *dc = up(c, (size_t)m * n * 4), *dbias = up(bias, (size_t)n * 4);
    float two_a[2] = {0, ia}, two_b[2] = {0, ib};
    float *dia = up(two_a, 8), *dib = up(two_b, 8);
    pt_gemm gg = gc;
    gg.a.data = da, gg.b.data = db, gg.bias = with_bias ? dbias : NULL;
    gg.a.scale_inv = t->bits == 8 ? dia + misaligned_scales : NULL;
    gg.b.scale_inv = tbf->bits == 8 ? dib + misaligned_scales : NULL;
    if (!misaligned_scales) {
        ck_assert_int_eq(pt_backend_upload(gpu, dia, &ia, 4), PT_OK);
        ck_assert_int_eq(pt_backend_upload(gpu, dib, &ib, 4), PT_OK);
    }
    int64_t emulated = pt_backend_fp8_emulated(gpu);
    ck_assert_msg(pt_backend_gemm(gpu, &gg, dc) == PT_OK, "%s", pt_last_error());
    bool fits = fp8 && m % 16 == 0 && n % 16 == 0 && k % 16 == 0 && !(fa == PT_FMT_E5M2 && fb == PT_FMT_E5M2);
    if (fp8) /* the fp8 kernels took every shape that fits them, and no other */
        ck_assert_int_eq(pt_backend_fp8_emulated(gpu) - emulated, fits ? 0 : 1);
    float *got = down(dc, (size_t)m * n);
    char what[128];
    snprintf(what, sizeof what, "gemm %s x %s %dx%dx%d ta=%d tb=%d beta=%g bias=%d", t->name, tbf->name, m, n, k, ta,
             tb, (double)beta, with_bias);
    /* fp32: accumulation order only (~k * 2^-24 relative); tf32: the hardware's
     * conversion of fp32 inputs may differ from round-to-nearest-even in the
     * last tf32 bit (2^-11); rounded outputs: one ulp of the output format;
     * fp8 kernels with an fp32 output: Hopper's fp8 tensor cores add partial
     * sums at reduced precision before promoting them to fp32 */
    double tol = out == PT_FMT_BF16 ? 1e-4 : out == PT_FMT_FP16 ? 1e-6 : fa == PT_FMT_TF32 ? 1e-5
               : fits ? 1e-6 : 1e-10;
    compare(what, got, cc, (size_t)m * n, tol);
    free(a), free(b), free(c), free(bias), free(qa), free(qb), free(cc), free(got);
    void *frees[] = {da, db, dc, dbias, dia, dib};
    for (int i = 0; i < 6; i++) pt_backend_free(gpu, frees[i]);
}

START_TEST(test_gemm)
{
    const int shapes[][3] = {{1, 1, 1}, {7, 5, 33}, {33, 17, 100}, {64, 48, 1000}, {300, 257, 129}, {64, 48, 1024},
                             {256, 128, 512}};
    const int nshapes = sizeof shapes / sizeof shapes[0];
    for (int f = 0; f < PT_FMT_COUNT; f++)
        for (int s = 0; s < nshapes; s++)
            for (int tr = 0; tr < 4; tr++)
                gemm_case((pt_format)f, (pt_format)f, shapes[s][0], shapes[s][1], shapes[s][2], tr & 1, tr & 2,
                          tr == 3 ? 1.0f : 0.0f, s % 2);
    /* the hybrid recipe's backward GEMMs: e5m2 gradients with e4m3 copies, both ways round */
    for (int s = 0; s < nshapes; s++)
        for (int tr = 0; tr < 4; tr++) {
            gemm_case(PT_FMT_E5M2, PT_FMT_E4M3, shapes[s][0], shapes[s][1], shapes[s][2], tr & 1, tr & 2,
                      tr == 3 ? 1.0f : 0.0f, false);
            gemm_case(PT_FMT_E4M3, PT_FMT_E5M2, shapes[s][0], shapes[s][1], shapes[s][2], tr & 1, tr & 2,
                      tr == 3 ? 1.0f : 0.0f, true);
        }
    /* descales that are not 16-byte aligned, and the issue-5 MLP's first layer (4096 x 4096 x 1024) */
    misaligned_scales = true;
    gemm_case(PT_FMT_E4M3, PT_FMT_E4M3, 256, 128, 512, false, true, 0.0f, true);
    gemm_case(PT_FMT_E4M3, PT_FMT_E4M3, 4096, 4096, 1024, false, true, 0.0f, true);
    misaligned_scales = false;
    gemm_case(PT_FMT_E4M3, PT_FMT_E4M3, 4096, 4096, 1024, false, true, 0.0f, true);
    gemm_case(PT_FMT_E5M2, PT_FMT_E4M3, 4096, 1024, 4096, true, false, 1.0f, false);
    /* tf32 with neither operand k-contiguous (a weight gradient): the smaller one is transposed first,
     * a where m <= n (the MLP's head, 16 x 4096 x 4096), else b (its first layer, 4096 x 1024 x 4096) */
    gemm_case(PT_FMT_TF32, PT_FMT_TF32, 48, 300, 129, true, false, 1.0f, true);
    gemm_case(PT_FMT_TF32, PT_FMT_TF32, 16, 4096, 4096, true, false, 0.0f, false);
    gemm_case(PT_FMT_TF32, PT_FMT_TF32, 4096, 1024, 4096, true, false, 1.0f, false);
}
END_TEST

/* act_fwd_cast / act_bwd_bias (one row, no sums) on the GPU against act_fwd /
 * act_bwd followed by the cast op on the GPU, for every cast format (fp8
 * with a scale, as a recipe gives): the same fp32 output (want), the same
 * codes, the same amax */
static void fused_cast_matches(bool bwd, pt_act a, const float *dx, const float *dy, float *dout, const float *want,
                               size_t n)
{
    const float sc = 16.0f;
    float *dscale = up(&sc, 4), *damax, *damax2;
    ck_assert_int_eq(pt_backend_alloc(gpu, 4, (void **)&damax), PT_OK);
    ck_assert_int_eq(pt_backend_alloc(gpu, 4, (void **)&damax2), PT_OK);
    for (int f = PT_FMT_BF16; f <= PT_FMT_E5M2; f++) {
        bool f8 = f >= PT_FMT_E4M3;
        size_t es = (size_t)pt_format_info((pt_format)f)->storage_bytes;
        void *dc, *dc2;
        ck_assert_int_eq(pt_backend_alloc(gpu, n * es, &dc), PT_OK);
        ck_assert_int_eq(pt_backend_alloc(gpu, n * es, &dc2), PT_OK);
        ck_assert_int_eq(pt_backend_memset(gpu, damax, 0, 4), PT_OK);
        ck_assert_int_eq(pt_backend_memset(gpu, damax2, 0, 4), PT_OK);
        unsigned flags = f8 ? PT_CAST_SATURATE : 0;
        const float *scale = f8 ? dscale : NULL;
        pt_status st = bwd
            ? pt_backend_act_bwd_bias(
                  gpu,
                  &(pt_act_bwd_desc){
                      .act = a,
                      .x = dx,
                      .dy = dy,
                      .dx = dout,
                      .n = n,
                      .cols = (int)n,
                      .cast = {.to = (pt_format)f, .scale = scale, .amax = damax, .flags = flags, .codes = dc}})
            : pt_backend_act_fwd_cast(
                  gpu,
                  &(pt_act_fwd_desc){
                      .act = a,
                      .x = dx,
                      .y = dout,
                      .n = n,
                      .cast = {.to = (pt_format)f, .scale = scale, .amax = damax, .flags = flags, .codes = dc}});
        ck_assert_msg(st == PT_OK, "%s", pt_last_error());
        ck_assert_int_eq(pt_backend_cast(gpu, (pt_format)f, dout, dc2, n, scale, damax2, flags), PT_OK);
        float *g2 = down(dout, n);
        ck_assert_msg(!memcmp(g2, want, n * 4), "act_%s_cast %d: output differs from act_%s's", bwd ? "bwd" : "fwd",
                      a, bwd ? "bwd" : "fwd");
        unsigned char *c1 = malloc(n * es), *c2 = malloc(n * es);
        float m1, m2;
        ck_assert_int_eq(pt_backend_download(gpu, c1, dc, n * es), PT_OK);
        ck_assert_int_eq(pt_backend_download(gpu, c2, dc2, n * es), PT_OK);
        ck_assert_int_eq(pt_backend_download(gpu, &m1, damax, 4), PT_OK);
        ck_assert_int_eq(pt_backend_download(gpu, &m2, damax2, 4), PT_OK);
        ck_assert_msg(!memcmp(c1, c2, n * es), "act_%s_cast %d to %s: codes differ from the cast op's",
                      bwd ? "bwd" : "fwd", a, pt_format_info((pt_format)f)->name);
        ck_assert_msg(!memcmp(&m1, &m2, 4), "act_%s_cast %d to %s: amax %g, the cast op's %g", bwd ? "bwd" : "fwd", a,
                      pt_format_info((pt_format)f)->name, (double)m1, (double)m2);
        free(g2), free(c1), free(c2);
        pt_backend_free(gpu, dc), pt_backend_free(gpu, dc2);
    }
    pt_backend_free(gpu, dscale), pt_backend_free(gpu, damax), pt_backend_free(gpu, damax2);
}

/* The fused ops of a GEMM layer's neighbourhood, CPU against CUDA, on odd
 * shapes (columns not a multiple of 4 take the one-value kernels) and a
 * large one, for relu and gelu, each cast format (fp32: none), seven tails
 * (none; bf16 with a bias, fp16 without, each written back; the same two
 * kept raw, the fp16 one with the output left unwritten where there is a
 * cast; a packed bf16 output kept raw, a packed fp16 one written), and
 * three passes (forward, tail on x; backward, tail on dy;
 * backward, tail on x):
 * - the tail's input: finished bit for bit, or left as it was;
 * - the output (NMSE 1e-6: erff and FMAs differ where gelu cancels), the
 *   codes (at most one step of the format apart, on at most 1% of values),
 *   amax (of its own output, exactly);
 * - backward: the bias sums added onto what db held (fp32 sums in another
 *   order);
 * - a GEMM with defer_tail: the fp32 sum alone, bias and rounding left;
 * - a GEMM with pack (bf16, fp16 and e4m3 inputs, and e4m3 on a shape that
 *   is decoded and packed by a pass of ours): codes of the values the
 *   CPU's GEMM and the GPU's unpacked GEMM write, but for a sum that the
 *   order of its terms puts on the other side of a rounding boundary (one
 *   step of the format, on at most 1% of values; fp8 against the CPU, 10%). */
static void decode_codes(pt_backend *be, pt_format f, const void *codes, size_t n, float *out)
{
    ck_assert_int_eq(pt_backend_decode(be, f, codes, out, n, NULL), PT_OK);
}

/* codes_t is codes ([rows, cols], 1-byte) transposed, byte for byte */
static void check_twin(const char *what, const char *who, const unsigned char *codes, const unsigned char *codes_t,
                       int rows, int cols)
{
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            ck_assert_msg(codes_t[(size_t)c * rows + r] == codes[(size_t)r * cols + c],
                          "%s: %s's transposed codes at [%d][%d]: 0x%02x, its codes 0x%02x", what, who, c, r,
                          codes_t[(size_t)c * rows + r], codes[(size_t)r * cols + c]);
}

static void tail_case(int rows, int cols, pt_act a, pt_format f, int tk, int pass)
{
    size_t n = (size_t)rows * cols, es = f == PT_FMT_FP32 ? 4 : (size_t)pt_format_info(f)->storage_bytes;
    float *x = rnd(n, 3), *dy = rnd(n, 1), *bias = rnd(cols, 1), *db = rnd(cols, 1), *y = malloc(n * 4);
    float *cd = malloc(n * 4), *gd = malloc(n * 4);
    x[0] = dy[0] = -0.0f; /* a GEMM's sum of -0: a tail without a bias keeps its sign, as the CPU's */
    void *codes = malloc(n * es);
    const float sc = 8.0f;
    /* tails 5 and 6: the GEMM's output packed (its finished values as 16-bit codes), kept raw or written */
    bool packed = tk >= 5, f8 = pt_format_is_fp8(f), keep = tk >= 3 && tk != 6, bwd = pass > 0,
         no_out = tk == 4 && f != PT_FMT_FP32;
    /* fp8: the codes also transposed (pt_operand.data_t) */
    unsigned char *codes_t = f8 ? malloc(n) : NULL;
    void *Dcodes_t = NULL;
    if (f8) pt_backend_alloc(gpu, n, &Dcodes_t);
    unsigned flags = f8 ? PT_CAST_SATURATE : 0;
    float hamax = 0, *Dx = up(x, n * 4), *Ddy = up(dy, n * 4), *Dbias = up(bias, cols * 4), *Ddb = up(db, cols * 4);
    float *Dscale = up(&sc, 4), *Damax = up(&hamax, 4), *Dy;
    void *Dcodes;
    pt_backend_alloc(gpu, n * 4, (void **)&Dy), pt_backend_alloc(gpu, n * es, &Dcodes);
    ck_assert_int_eq(pt_backend_memset(gpu, Dy, 0, n * 4), PT_OK);
    memset(y, 0, n * 4);
    pt_format tf = tk % 2 ? PT_FMT_BF16 : PT_FMT_FP16;
    const float *tb = tk % 2 && !packed ? bias : NULL, *Dtb = tk % 2 && !packed ? Dbias : NULL;
    char what[160];
    snprintf(what, sizeof what, "%dx%d act %d to %s, tail %d, %s", rows, cols, a, pt_format_info(f)->name, tk,
             pass == 0 ? "fwd" : pass == 1 ? "bwd (tail on dy)" : packed ? "bwd (packed x and dy)" : "bwd (tail on x)");
    float *hin = pass == 1 ? dy : x, *din = pass == 1 ? Ddy : Dx, *raw = malloc(n * 4);
    memcpy(raw, hin, n * 4);
    uint16_t *pk = packed ? malloc(n * 2) : NULL;
    for (size_t i = 0; packed && i < n; i++) pk[i] = (uint16_t)pt_encode(tf, hin[i], 0);
    void *Dpk = packed ? up(pk, n * 2) : NULL;
    pt_gemm_tail ht = {.c = hin, .bias = tb, .cols = cols, .fmt = tf, .keep_raw = keep, .packed = pk},
                 gt = {.c = din, .bias = Dtb, .cols = cols, .fmt = tf, .keep_raw = keep, .packed = Dpk};
    const pt_gemm_tail *hT = tk ? &ht : NULL, *gT = tk ? &gt : NULL;
    /* packed, backward, tail on x: dy packed as well (the kernel that reads both packed) */
    bool both = packed && pass == 2;
    uint16_t *pk2 = both ? malloc(n * 2) : NULL;
    for (size_t i = 0; both && i < n; i++) pk2[i] = (uint16_t)pt_encode(tf, dy[i], 0);
    void *Dpk2 = both ? up(pk2, n * 2) : NULL;
    pt_gemm_tail ho = {.c = dy, .cols = cols, .fmt = tf, .keep_raw = keep, .packed = pk2},
                 go = {.c = Ddy, .cols = cols, .fmt = tf, .keep_raw = keep, .packed = Dpk2};
    float *raw2 = malloc(n * 4);
    memcpy(raw2, dy, n * 4);
    pt_status sh, sg;
    if (!bwd) {
        sh = pt_backend_act_fwd_cast(cpu,
                                     &(pt_act_fwd_desc){.act = a,
                                                        .x = x,
                                                        .y = no_out ? NULL : y,
                                                        .n = n,
                                                        .cols = cols,
                                                        .cast = {.to = f,
                                                                 .scale = f8 ? &sc : NULL,
                                                                 .amax = &hamax,
                                                                 .flags = flags,
                                                                 .codes = codes,
                                                                 .codes_t = codes_t},
                                                        .x_tail = hT});
        sg = pt_backend_act_fwd_cast(gpu,
                                     &(pt_act_fwd_desc){.act = a,
                                                        .x = Dx,
                                                        .y = no_out ? NULL : Dy,
                                                        .n = n,
                                                        .cols = cols,
                                                        .cast = {.to = f,
                                                                 .scale = f8 ? Dscale : NULL,
                                                                 .amax = Damax,
                                                                 .flags = flags,
                                                                 .codes = Dcodes,
                                                                 .codes_t = Dcodes_t},
                                                        .x_tail = gT});
    } else {
        bool on_x = pass == 2;
        sh = pt_backend_act_bwd_bias(cpu,
                                     &(pt_act_bwd_desc){.act = a,
                                                        .x = x,
                                                        .dy = dy,
                                                        .dx = no_out ? NULL : y,
                                                        .n = n,
                                                        .cols = cols,
                                                        .cast = {.to = f,
                                                                 .scale = f8 ? &sc : NULL,
                                                                 .amax = &hamax,
                                                                 .flags = flags,
                                                                 .codes = codes,
                                                                 .codes_t = codes_t},
                                                        .db = db,
                                                        .db_beta = 1.0f,
                                                        .x_tail = on_x ? hT : NULL,
                                                        .dy_tail = on_x ? (both ? &ho : NULL) : hT});
        sg = pt_backend_act_bwd_bias(gpu,
                                     &(pt_act_bwd_desc){.act = a,
                                                        .x = Dx,
                                                        .dy = Ddy,
                                                        .dx = no_out ? NULL : Dy,
                                                        .n = n,
                                                        .cols = cols,
                                                        .cast = {.to = f,
                                                                 .scale = f8 ? Dscale : NULL,
                                                                 .amax = Damax,
                                                                 .flags = flags,
                                                                 .codes = Dcodes,
                                                                 .codes_t = Dcodes_t},
                                                        .db = Ddb,
                                                        .db_beta = 1.0f,
                                                        .x_tail = on_x ? gT : NULL,
                                                        .dy_tail = on_x ? (both ? &go : NULL) : gT});
    }
    ck_assert_msg(sh == PT_OK && sg == PT_OK, "%s: %s", what, pt_last_error());
    float *g = down(din, n);
    ck_assert_msg(!memcmp(g, hin, n * 4), "%s: the input finished by the tail differs", what);
    if (keep) ck_assert_msg(!memcmp(hin, raw, n * 4), "%s: the input kept raw was written", what);
    free(g);
    if (both) {
        g = down(Ddy, n);
        ck_assert_msg(!memcmp(g, dy, n * 4), "%s: dy finished by its packed tail differs", what);
        if (keep) ck_assert_msg(!memcmp(dy, raw2, n * 4), "%s: dy kept raw was written", what);
        free(g);
    }
    /* the codes' own check below stands for an output left unwritten: then
     * neither backend wrote y (both still zero) */
    g = down(Dy, n);
    compare(what, g, y, n, 1e-6);
    if (f != PT_FMT_FP32) {
        unsigned char *gc = malloc(n * es);
        float gamax;
        ck_assert_int_eq(pt_backend_download(gpu, gc, Dcodes, n * es), PT_OK);
        ck_assert_int_eq(pt_backend_download(gpu, &gamax, Damax, 4), PT_OK);
        decode_codes(cpu, f, codes, n, cd), decode_codes(cpu, f, gc, n, gd);
        /* the same codes, but for a value that those ulps put on the other side of
         * a rounding boundary: then one step of the format apart, and rare; or,
         * where gelu' cancels (cdf + x pdf near x = -0.75), a value far below
         * the tensor's scale, whose fp32 error is an ulp of that scale */
        size_t apart = 0;
        float tiny = 1e-6f * hamax * (f8 ? sc : 1.0f) + pt_format_info(f)->min_subnormal; /* codes hold v * scale */
        for (size_t i = 0; i < n; i++)
            if (gd[i] != cd[i]) {
                apart++;
                ck_assert_msg(fabsf(gd[i] - cd[i]) <= 0.25f * fabsf(cd[i]) + tiny,
                              "%s: code %zu: %g vs %g", what, i, (double)gd[i], (double)cd[i]);
            }
        ck_assert_msg(apart <= 1 + n / 100, "%s: %zu of %zu codes differ", what, apart, n);
        if (f8) {
            unsigned char *gct = malloc(n);
            ck_assert_int_eq(pt_backend_download(gpu, gct, Dcodes_t, n), PT_OK);
            check_twin(what, "cpu", codes, codes_t, rows, cols), check_twin(what, "cuda", gc, gct, rows, cols);
            free(gct);
        }
        if (!no_out) {
            /* each backend's amax is that of its own output, exactly (the
             * outputs themselves are compared above) */
            float gmax = 0, hmax = 0;
            for (size_t i = 0; i < n; i++) gmax = fmaxf(gmax, fabsf(g[i])), hmax = fmaxf(hmax, fabsf(y[i]));
            ck_assert_msg(gamax == gmax && hamax == hmax, "%s: amax cuda %g (of its output %g), cpu %g (%g)", what,
                          (double)gamax, (double)gmax, (double)hamax, (double)hmax);
        } else {
            ck_assert_msg(fabsf(gamax - hamax) <= 1e-3f * hamax, "%s: amax cuda %g, cpu %g", what, (double)gamax,
                          (double)hamax);
        }
        free(gc);
    }
    free(g);
    if (bwd) {
        g = down(Ddb, cols);
        compare(what, g, db, cols, 1e-12);
        free(g);
    }
    free(x), free(dy), free(bias), free(db), free(y), free(cd), free(gd), free(codes), free(raw), free(codes_t), free(pk);
    free(pk2), free(raw2);
    pt_backend_free(gpu, Dpk), pt_backend_free(gpu, Dpk2);
    void *fr[] = {Dx, Ddy, Dbias, Ddb, Dscale, Damax, Dy, Dcodes, Dcodes_t};
    for (int i = 0; i < 9; i++) pt_backend_free(gpu, fr[i]);
}

/* The activation passes on packed 16-bit inputs (act_packed.cu, which
 * takes 16-byte aligned codes) against nn.cu's rows kernels on the same
 * codes 8 bytes past that alignment: bit for bit, the fp32 output, the
 * codes, amax and the bias gradient (the same sums in the same order),
 * with beta 0 then 1 (the second call finding the last-block counters
 * reset by the first). */
static void packed_act_case(int rows, int cols, pt_act a, pt_format tf, pt_format f)
{
    size_t n = (size_t)rows * cols, es = f == PT_FMT_FP32 ? 0 : (size_t)pt_format_info(f)->storage_bytes;
    bool fp8 = es == 1; /* with the transposed codes */
    float *x = rnd(n, 3), *dy = rnd(n, 1), *db = rnd(cols, 1);
    uint16_t *px = calloc(n + 8, 2), *pd = calloc(n + 8, 2);
    for (size_t i = 0; i < n; i++) px[i + 4] = (uint16_t)pt_encode(tf, x[i], 0), pd[i + 4] = (uint16_t)pt_encode(tf, dy[i], 0);
    uint16_t *Dpx = up(px, (n + 8) * 2), *Dpd = up(pd, (n + 8) * 2);
    float *Dx = up(x, n * 4), *Ddy = up(dy, n * 4);
    char what[120];
    unsigned char *res[2][6] = {{0}};
    for (int path = 0; path < 2; path++) { /* 0: aligned (act_packed.cu), 1: 8 bytes past */
        if (path == 0) {
            ck_assert_int_eq(pt_backend_upload(gpu, Dpx, px + 4, n * 2), PT_OK);
            ck_assert_int_eq(pt_backend_upload(gpu, Dpd, pd + 4, n * 2), PT_OK);
        } else {
            ck_assert_int_eq(pt_backend_upload(gpu, Dpx, px, (n + 8) * 2), PT_OK);
            ck_assert_int_eq(pt_backend_upload(gpu, Dpd, pd, (n + 8) * 2), PT_OK);
        }
        const uint16_t *cx = path ? Dpx + 4 : Dpx, *cd = path ? Dpd + 4 : Dpd;
        pt_gemm_tail xt = {.c = Dx, .cols = cols, .fmt = tf, .keep_raw = true, .packed = cx},
                     dt = {.c = Ddy, .cols = cols, .fmt = tf, .keep_raw = true, .packed = cd};
        float zero = 0, *Damax = up(&zero, 4), *Ddb = up(db, cols * 4), *Dout;
        void *Dcodes = NULL, *Dcodes_t = NULL;
        pt_backend_alloc(gpu, n * 4, (void **)&Dout);
        if (es) pt_backend_alloc(gpu, n * es, &Dcodes);
        if (fp8) pt_backend_alloc(gpu, n, &Dcodes_t);
        size_t cw = (n * es + 3) / 4; /* the codes' size in floats */
        snprintf(what, sizeof what, "%dx%d act %d, %s codes to %s", rows, cols, a, pt_format_info(tf)->name,
                 pt_format_info(f)->name);
        pt_status st = pt_backend_act_fwd_cast(
            gpu,
            &(pt_act_fwd_desc){.act = a,
                               .x = Dx,
                               .y = Dout,
                               .n = n,
                               .cols = cols,
                               .cast = {.to = f, .amax = Damax, .codes = Dcodes, .codes_t = Dcodes_t},
                               .x_tail = &xt});
        ck_assert_msg(st == PT_OK, "%s fwd: %s", what, pt_last_error());
        unsigned char *y = (unsigned char *)down(Dout, n), *c = es ? (unsigned char *)down(Dcodes, cw) : NULL;
        res[path][4] = fp8 ? (unsigned char *)down(Dcodes_t, cw) : NULL;
        if (fp8) { /* without the transposed codes (a flat pass): the same codes */
            void *D2;
            pt_backend_alloc(gpu, n, &D2);
            ck_assert_int_eq(
                pt_backend_act_fwd_cast(
                    gpu,
                    &(pt_act_fwd_desc){
                        .act = a, .x = Dx, .n = n, .cols = cols, .cast = {.to = f, .codes = D2}, .x_tail = &xt}),
                PT_OK);
            unsigned char *c2 = (unsigned char *)down(D2, cw);
            ck_assert_msg(!memcmp(c2, c, n), "%s, path %d: the codes without the transposed ones differ", what, path);
            free(c2);
            pt_backend_free(gpu, D2);
        }
        for (int k = 0; k < 2 && !st; k++)
            st = pt_backend_act_bwd_bias(
                gpu,
                &(pt_act_bwd_desc){.act = a,
                                   .x = Dx,
                                   .dy = Ddy,
                                   .dx = Dout,
                                   .n = n,
                                   .cols = cols,
                                   .cast = {.to = f, .amax = Damax, .codes = Dcodes, .codes_t = Dcodes_t},
                                   .db = Ddb,
                                   .db_beta = (float)k,
                                   .x_tail = &xt,
                                   .dy_tail = &dt});
        ck_assert_msg(st == PT_OK, "%s bwd: %s", what, pt_last_error());
        res[path][5] = fp8 ? (unsigned char *)down(Dcodes_t, cw) : NULL;
        if (fp8) { /* the transposed codes are the codes' transpose */
            unsigned char *bc = (unsigned char *)down(Dcodes, cw);
            for (int r = 0; r < rows; r++)
                for (int j = 0; j < cols; j++)
                    ck_assert_msg(res[path][5][(size_t)j * rows + r] == bc[(size_t)r * cols + j],
                                  "%s, path %d: the backward's transposed codes at [%d][%d]", what, path, j, r);
            free(bc);
        }
        pt_backend_free(gpu, Dcodes_t);
        res[path][0] = y, res[path][1] = c;
        res[path][2] = (unsigned char *)down(Dout, n);
        res[path][3] = malloc(cols * 4 + 4); /* db, then amax */
        ck_assert_int_eq(pt_backend_download(gpu, res[path][3], Ddb, cols * 4), PT_OK);
        ck_assert_int_eq(pt_backend_download(gpu, res[path][3] + cols * 4, Damax, 4), PT_OK);
        pt_backend_free(gpu, Damax), pt_backend_free(gpu, Ddb), pt_backend_free(gpu, Dout), pt_backend_free(gpu, Dcodes);
    }
    ck_assert_msg(!memcmp(res[0][0], res[1][0], n * 4), "%s: the forward's fp32 output differs", what);
    ck_assert_msg(!es || !memcmp(res[0][1], res[1][1], n * es), "%s: codes differ", what);
    ck_assert_msg(!memcmp(res[0][2], res[1][2], n * 4), "%s: the backward's fp32 dx differs", what);
    ck_assert_msg(!memcmp(res[0][3], res[1][3], cols * 4), "%s: the bias gradient differs", what);
    ck_assert_msg(!es || !memcmp(res[0][3] + cols * 4, res[1][3] + cols * 4, 4), "%s: amax differs", what);
    ck_assert_msg(!fp8 || !memcmp(res[0][4], res[1][4], n), "%s: the forward's transposed codes differ", what);
    ck_assert_msg(!fp8 || !memcmp(res[0][5], res[1][5], n), "%s: the backward's transposed codes differ", what);
    for (int p = 0; p < 2; p++)
        for (int k = 0; k < 6; k++) free(res[p][k]);
    free(x), free(dy), free(db), free(px), free(pd);
    pt_backend_free(gpu, Dpx), pt_backend_free(gpu, Dpd), pt_backend_free(gpu, Dx), pt_backend_free(gpu, Ddy);
}

START_TEST(test_packed_act)
{
    /* 68 x 1000: a partial chunk of rows and a partial column group (fp8's transposed codes) */
    const int shapes[][2] = {{1, 8}, {7, 40}, {65, 1000}, {130, 4096}, {1024, 256}, {68, 1000}, {256, 4096}};
    const pt_format tfs[] = {PT_FMT_BF16, PT_FMT_FP16},
                    fs[] = {PT_FMT_FP32, PT_FMT_BF16, PT_FMT_FP16, PT_FMT_E4M3, PT_FMT_E5M2};
    for (int s = 0; s < 7; s++)
        for (int a = 0; a < 2; a++)
            for (int t = 0; t < 2; t++)
                for (int f = 0; f < 5; f++) packed_act_case(shapes[s][0], shapes[s][1], (pt_act)a, tfs[t], fs[f]);
}
END_TEST

START_TEST(test_fused_tails)
{
    /* 68 x 132: whole words of rows in a partial tile of the rows kernels */
    const int shapes[][2] = {{1, 1}, {7, 33}, {33, 100}, {5, 1000}, {68, 132}, {1024, 1024}};
    const pt_format fmts[] = {PT_FMT_FP32, PT_FMT_BF16, PT_FMT_FP16, PT_FMT_E4M3, PT_FMT_E5M2};
    for (int s = 0; s < 6; s++)
        for (int a = 0; a < 2; a++)
            for (int f = 0; f < 5; f++)
                for (int tk = 0; tk < 7; tk++)
                    for (int pass = 0; pass < 3; pass++) tail_case(shapes[s][0], shapes[s][1], (pt_act)a, fmts[f], tk, pass);
    /* a GEMM with its tail deferred leaves the fp32 sum alone, as the CPU's */
    const pt_format gf[] = {PT_FMT_BF16, PT_FMT_E4M3};
    for (int i = 0; i < 2; i++) {
        int m = 64, nn = 48, k = 32;
        float *a = rnd((size_t)m * k, 1), *b = rnd((size_t)nn * k, 1), *bias = rnd(nn, 1), *c = malloc((size_t)m * nn * 4);
        size_t es = (size_t)pt_format_info(gf[i])->storage_bytes;
        void *qa = malloc((size_t)m * k * es), *qb = malloc((size_t)nn * k * es);
        pt_backend_cast(cpu, gf[i], a, qa, (size_t)m * k, NULL, NULL, PT_CAST_SATURATE);
        pt_backend_cast(cpu, gf[i], b, qb, (size_t)nn * k, NULL, NULL, PT_CAST_SATURATE);
        pt_gemm g = {.m = m,
                     .n = nn,
                     .k = k,
                     .a = {.data = qa, .fmt = gf[i]},
                     .b = {.data = qb, .fmt = gf[i], .trans = true},
                     .bias = bias,
                     .out_fmt = pt_gemm_out_format(gf[i]),
                     .defer_tail = true};
        ck_assert_int_eq(pt_backend_gemm(cpu, &g, c), PT_OK);
        void *Da = up(qa, (size_t)m * k * es), *Db = up(qb, (size_t)nn * k * es);
        float *Dbias = up(bias, nn * 4), *Dc;
        pt_backend_alloc(gpu, (size_t)m * nn * 4, (void **)&Dc);
        g.a.data = Da, g.b.data = Db, g.bias = Dbias;
        ck_assert_msg(pt_backend_gemm(gpu, &g, Dc) == PT_OK, "%s", pt_last_error());
        float *got = down(Dc, (size_t)m * nn);
        compare(gf[i] == PT_FMT_BF16 ? "gemm bf16, tail deferred" : "gemm e4m3, tail deferred", got, c,
                (size_t)m * nn, 1e-6);
        free(a), free(b), free(bias), free(c), free(qa), free(qb), free(got);
        pt_backend_free(gpu, Da), pt_backend_free(gpu, Db), pt_backend_free(gpu, Dbias), pt_backend_free(gpu, Dc);
    }
    /* the last: fp8 on a shape cuBLASLt's fp8 kernels do not take, decoded, then packed by a pass */
    const pt_format pf[] = {PT_FMT_BF16, PT_FMT_FP16, PT_FMT_E4M3, PT_FMT_E4M3};
    for (int i = 0; i < 4; i++)
        for (int wb = 0; wb < 2; wb++) {
            int m = i < 3 ? 128 : 100, nn = i < 3 ? 96 : 36, k = i < 3 ? 256 : 40;
            size_t mn = (size_t)m * nn, es = (size_t)pt_format_info(pf[i])->storage_bytes;
            pt_format of = pt_gemm_out_format(pf[i]);
            float *a = rnd((size_t)m * k, 1), *b = rnd((size_t)nn * k, 1), *bias = rnd(nn, 1);
            float *c = malloc(mn * 4), *hp = malloc(mn * 4), *gp = malloc(mn * 4);
            void *qa = malloc((size_t)m * k * es), *qb = malloc((size_t)nn * k * es);
            uint16_t *hcodes = malloc(mn * 2), *gcodes = malloc(mn * 2);
            pt_backend_cast(cpu, pf[i], a, qa, (size_t)m * k, NULL, NULL, PT_CAST_SATURATE);
            pt_backend_cast(cpu, pf[i], b, qb, (size_t)nn * k, NULL, NULL, PT_CAST_SATURATE);
            pt_gemm g = {.m = m,
                         .n = nn,
                         .k = k,
                         .a = {.data = qa, .fmt = pf[i]},
                         .b = {.data = qb, .fmt = pf[i], .trans = true},
                         .bias = wb ? bias : NULL,
                         .out_fmt = of,
                         .pack = true};
            ck_assert_int_eq(pt_backend_gemm(cpu, &g, hcodes), PT_OK);
            void *Da = up(qa, (size_t)m * k * es), *Db = up(qb, (size_t)nn * k * es), *Dcodes;
            float *Dbias = up(bias, nn * 4), *Dc;
            pt_backend_alloc(gpu, mn * 4, (void **)&Dc), pt_backend_alloc(gpu, mn * 2, &Dcodes);
            g.a.data = Da, g.b.data = Db, g.bias = wb ? Dbias : NULL;
            int64_t emulated = pt_backend_fp8_emulated(gpu);
            ck_assert_msg(pt_backend_gemm(gpu, &g, Dcodes) == PT_OK, "%s", pt_last_error());
            /* the decoded fp8 GEMM counted once, as an unpacked one is */
            ck_assert_int_eq(pt_backend_fp8_emulated(gpu) - emulated, i == 3 ? 1 : 0);
            ck_assert_int_eq(pt_backend_download(gpu, gcodes, Dcodes, mn * 2), PT_OK);
            if (wb) { /* the bias given as its codes (the optimizer's 16-bit copy): the same output */
                uint16_t *bc = malloc((size_t)nn * 2), *again = malloc(mn * 2);
                for (int j = 0; j < nn; j++) bc[j] = (uint16_t)pt_encode(of, bias[j], 0);
                void *Dbc = up(bc, (size_t)nn * 2);
                g.bias_codes = Dbc;
                ck_assert_msg(pt_backend_gemm(gpu, &g, Dcodes) == PT_OK, "%s", pt_last_error());
                g.bias_codes = NULL;
                ck_assert_int_eq(pt_backend_download(gpu, again, Dcodes, mn * 2), PT_OK);
                ck_assert_msg(!memcmp(again, gcodes, mn * 2), "packed gemm %s: the output with the bias's codes given "
                              "differs", pt_format_info(pf[i])->name);
                free(bc), free(again);
                pt_backend_free(gpu, Dbc);
            }
            g.pack = false;
            ck_assert_msg(pt_backend_gemm(gpu, &g, Dc) == PT_OK, "%s", pt_last_error());
            float *unpacked = down(Dc, mn);
            decode_codes(cpu, of, hcodes, mn, hp), decode_codes(cpu, of, gcodes, mn, gp);
            const float *refs[2] = {hp, unpacked};
            /* the sum of the terms' magnitudes, which bounds what the order and
             * precision of the additions can move a sum by */
            float *absum = calloc(mn, sizeof(float)), *da = malloc((size_t)m * k * 4), *dbv = malloc((size_t)nn * k * 4);
            decode_codes(cpu, pf[i], qa, (size_t)m * k, da), decode_codes(cpu, pf[i], qb, (size_t)nn * k, dbv);
            for (int row = 0; row < m; row++)
                for (int col = 0; col < nn; col++)
                    for (int q = 0; q < k; q++)
                        absum[(size_t)row * nn + col] += fabsf(da[(size_t)row * k + q] * dbv[(size_t)col * k + q]);
            for (int r = 0; r < 2; r++) {
                size_t apart = 0;
                for (size_t j = 0; j < mn; j++)
                    if (gp[j] != refs[r][j]) {
                        apart++;
                        /* one step, or near a sum's cancellation the sums' own differences:
                         * fp32's, or the fp8 tensor cores' narrower accumulation (about 14
                         * bits kept, as DeepSeek-V3's report measured on Hopper: 2^-12 of
                         * the terms' magnitudes; a sum of 0.0144 from terms of about 64 came
                         * out 0.0117, 2^-14.5 of them) */
                        float slack = pt_format_is_fp8(pf[i]) ? 0x1p-12f * absum[j] : 1e-4f;
                        ck_assert_msg(fabsf(gp[j] - refs[r][j]) <= 0x1p-7f * fabsf(refs[r][j]) + slack,
                                      "packed gemm %s%s: [%zu] %g, %s %g", pt_format_info(pf[i])->name,
                                      wb ? " with bias" : "", j, (double)gp[j], r ? "unpacked" : "cpu",
                                      (double)refs[r][j]);
                    }
                /* fp8 against the CPU's fp32 sums: the tensor cores' narrower sums move more of them
                 * (4% measured on the H100), each within the bound above */
                size_t most = pt_format_is_fp8(pf[i]) && r == 0 ? mn / 10 : 1 + mn / 100;
                ck_assert_msg(apart <= most, "packed gemm %s%s: %zu of %zu values differ from the %s's",
                              pt_format_info(pf[i])->name, wb ? " with bias" : "", apart, mn,
                              r ? "unpacked GEMM" : "cpu");
            }
            free(a), free(b), free(bias), free(c), free(hp), free(gp), free(qa), free(qb), free(hcodes), free(gcodes);
            free(absum), free(da), free(dbv);
            free(unpacked);
            void *fr[] = {Da, Db, Dbias, Dc, Dcodes};
            for (int j = 0; j < 5; j++) pt_backend_free(gpu, fr[j]);
        }
}
END_TEST

/* pt_backend_cast_t, CPU against CUDA on shapes that take the rows kernel
 * (whole and partial tiles, words and bytes of rows) and those that do
 * not: the codes bit for bit (and the same as pt_backend_cast's), amax
 * (with a NaN, an inf and values past the format's range among the
 * inputs), and the transposed copy the transpose of the codes. */
START_TEST(test_cast_twins)
{
    const int shapes[][2] = {{1, 1}, {7, 33}, {5, 100}, {68, 132}, {130, 256}, {1024, 4096}};
    const pt_format fmts[] = {PT_FMT_E4M3, PT_FMT_E5M2};
    for (int s = 0; s < 6; s++)
        for (int fi = 0; fi < 2; fi++)
            for (int sat = 0; sat < 2; sat++) {
                int rows = shapes[s][0], cols = shapes[s][1];
                size_t n = (size_t)rows * cols;
                pt_format f = fmts[fi];
                unsigned flags = sat ? PT_CAST_SATURATE : 0;
                float *x = rnd(n, 4), sc = 16.0f, hamax = 0, gamax, gamax2;
                if (n > 3) x[n / 2] = 1e6f, x[n / 3] = -INFINITY;
                if (n > 7 && sat) x[n - 2] = NAN;
                unsigned char *hc = malloc(n), *hct = malloc(n), *gc = malloc(n), *gct = malloc(n), *gc2 = malloc(n);
                float *Dx = up(x, n * 4), *Dsc = up(&sc, 4), *Damax = up(&hamax, 4), *Damax2 = up(&hamax, 4);
                void *Dc, *Dct, *Dc2;
                pt_backend_alloc(gpu, n, &Dc), pt_backend_alloc(gpu, n, &Dct), pt_backend_alloc(gpu, n, &Dc2);
                char what[96];
                snprintf(what, sizeof what, "cast_t %dx%d to %s%s", rows, cols, pt_format_info(f)->name,
                         sat ? ", saturating" : "");
                ck_assert_msg(pt_backend_cast_t(cpu, f, x, rows, cols, hc, hct, &sc, &hamax, flags) == PT_OK &&
                                  pt_backend_cast_t(gpu, f, Dx, rows, cols, Dc, Dct, Dsc, Damax, flags) == PT_OK &&
                                  pt_backend_cast(gpu, f, Dx, Dc2, n, Dsc, Damax2, flags) == PT_OK,
                              "%s: %s", what, pt_last_error());
                ck_assert_int_eq(pt_backend_download(gpu, gc, Dc, n), PT_OK);
                ck_assert_int_eq(pt_backend_download(gpu, gct, Dct, n), PT_OK);
                ck_assert_int_eq(pt_backend_download(gpu, gc2, Dc2, n), PT_OK);
                ck_assert_int_eq(pt_backend_download(gpu, &gamax, Damax, 4), PT_OK);
                ck_assert_int_eq(pt_backend_download(gpu, &gamax2, Damax2, 4), PT_OK);
                ck_assert_msg(!memcmp(gc, hc, n), "%s: the codes differ from the cpu's", what);
                ck_assert_msg(!memcmp(gc, gc2, n), "%s: the codes differ from pt_backend_cast's", what);
                /* a NaN among the inputs makes each amax a NaN (their payloads may differ) */
                bool same = isnan(hamax) ? isnan(gamax) && isnan(gamax2) : gamax == hamax && gamax2 == hamax;
                ck_assert_msg(same,
                              "%s: amax %g, cpu %g, pt_backend_cast %g", what, (double)gamax, (double)hamax,
                              (double)gamax2);
                check_twin(what, "cpu", hc, hct, rows, cols), check_twin(what, "cuda", gc, gct, rows, cols);
                free(x), free(hc), free(hct), free(gc), free(gct), free(gc2);
                void *fr[] = {Dx, Dsc, Damax, Damax2, Dc, Dct, Dc2};
                for (int i = 0; i < 7; i++) pt_backend_free(gpu, fr[i]);
            }
}
END_TEST

/* The batched fp8 steps on the GPU against the CPU's, bit for bit (states
 * and 1/scale), through a history that sees a zero, a NaN and a clamp. */
START_TEST(test_fp8_many)
{
    enum { N = 3 };
    pt_fp8_recipe r[N] = {{PT_FP8_DELAYED, 4, true, 0}, {PT_FP8_DELAYED, 2, false, 1}, {PT_FP8_DELAYED, 16, true, 0}};
    const pt_format f[N] = {PT_FMT_E4M3, PT_FMT_E5M2, PT_FMT_E4M3};
    pt_fp8_state hs[N], gs[N];
    float hinv[N], hamax[N], ginv[N];
    for (int i = 0; i < N; i++) pt_fp8_state_init(&hs[i]);
    pt_fp8_state *Ds = up(hs, sizeof hs);
    float *Dinv, *Damax;
    pt_backend_alloc(gpu, sizeof hinv, (void **)&Dinv), pt_backend_alloc(gpu, sizeof hamax, (void **)&Damax);
    pt_fp8_entry he[N], ge[N];
    for (int i = 0; i < N; i++) {
        double mf = pt_format_info(f[i])->max_finite;
        float ov = pt_format_overflow_threshold(f[i]);
        he[i] = (pt_fp8_entry){r[i], &hs[i], &hinv[i], &hamax[i], mf, ov};
        ge[i] = (pt_fp8_entry){r[i], Ds + i, Dinv + i, Damax + i, mf, ov};
    }
    pt_fp8_entry *De = up(ge, sizeof ge);
    const float seq[] = {3.0f, 0.5f, 0.0f, 40.0f, NAN, 1e-30f, 7.0f, 2000.0f, 0.25f};
    for (int t = 0; t < 9; t++) {
        ck_assert_int_eq(pt_backend_fp8_scale_many(cpu, he, N), PT_OK);
        ck_assert_int_eq(pt_backend_fp8_scale_many(gpu, De, N), PT_OK);
        ck_assert_int_eq(pt_backend_sync(gpu), PT_OK);
        ck_assert_int_eq(pt_backend_download(gpu, ginv, Dinv, sizeof ginv), PT_OK);
        ck_assert_msg(!memcmp(ginv, hinv, sizeof ginv), "step %d: 1/scale differs", t);
        for (int i = 0; i < N; i++) hamax[i] = seq[(t + 2 * i) % 9] * (float)(i + 1);
        ck_assert_int_eq(pt_backend_upload(gpu, Damax, hamax, sizeof hamax), PT_OK);
        ck_assert_int_eq(pt_backend_fp8_record_many(cpu, he, N), PT_OK);
        ck_assert_int_eq(pt_backend_fp8_record_many(gpu, De, N), PT_OK);
        ck_assert_int_eq(pt_backend_sync(gpu), PT_OK);
        ck_assert_int_eq(pt_backend_download(gpu, gs, Ds, sizeof gs), PT_OK);
        ck_assert_msg(!memcmp(gs, hs, sizeof gs), "step %d: the states differ", t);
    }
    void *fr[] = {Ds, Dinv, Damax, De};
    for (int i = 0; i < 4; i++) pt_backend_free(gpu, fr[i]);
}
END_TEST

START_TEST(test_elementwise)
{
    /* multiples of 4 take the four-a-thread kernels, the others one value a thread */
    const size_t sizes[] = {1, 7, 33, 1000, 100003, 100000};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        size_t n = sizes[si];
        float *x = rnd(n, 4), *y = rnd(n, 1), *out = malloc(n * 4);
        if (n > 10) x[3] = NAN, x[5] = INFINITY;
        float *dx = up(x, n * 4), *dy = up(y, n * 4), *dout;
        ck_assert_int_eq(pt_backend_alloc(gpu, n * 4, (void **)&dout), PT_OK);
        char what[64];
        for (int a = 0; a < 2; a++) {
            pt_backend_act_fwd(cpu, (pt_act)a, x, out, n);
            pt_backend_act_fwd(gpu, (pt_act)a, dx, dout, n);
            float *g = down(dout, n);
            snprintf(what, sizeof what, "act_fwd %d n=%zu", a, n);
            compare(what, g, out, n, 1e-12); /* erff/expf of CUDA and glibc: within 2 ulp */
            /* the fused cast: y as act_fwd writes it, its codes and amax as the cast op makes them */
            fused_cast_matches(false, (pt_act)a, dx, NULL, dout, g, n);
            free(g);
            pt_backend_act_bwd(cpu, (pt_act)a, x, y, out, n);
            pt_backend_act_bwd(gpu, (pt_act)a, dx, dy, dout, n);
            g = down(dout, n);
            snprintf(what, sizeof what, "act_bwd %d n=%zu", a, n);
            compare(what, g, out, n, 1e-12);
            fused_cast_matches(true, (pt_act)a, dx, dy, dout, g, n);
            free(g);
        }
        { /* fp64 sums added to what is there: order differs, so within 1e-12 relative */
            double hs = 0.25, gs = 0.25, *dsum = up(&gs, 8);
            ck_assert_int_eq(pt_backend_sum(cpu, y, n, &hs), PT_OK);
            ck_assert_int_eq(pt_backend_sum(gpu, dy, n, dsum), PT_OK);
            ck_assert_int_eq(pt_backend_sync(gpu), PT_OK);
            ck_assert_int_eq(pt_backend_download(gpu, &gs, dsum, 8), PT_OK);
            ck_assert_msg(fabs(gs - hs) <= 1e-12 * fmax(1, fabs(hs)), "sum n=%zu: cuda %.17g, cpu %.17g", n, gs, hs);
            pt_backend_free(gpu, dsum);
        }
        pt_backend_add(cpu, x, y, out, n);
        pt_backend_add(gpu, dx, dy, dout, n);
        float *g = down(dout, n);
        compare("add", g, out, n, 0);
        free(g);
        pt_backend_dropout(cpu, y, out, n, 0.3f, 99, PT_PASS_FWD);
        pt_backend_dropout(gpu, dy, dout, n, 0.3f, 99, PT_PASS_FWD);
        g = down(dout, n);
        compare("dropout (same mask)", g, out, n, 0);
        free(g);
        for (int f = 0; f < PT_FMT_COUNT; f++) {
            memcpy(out, x, n * 4);
            pt_backend_round(cpu, (pt_format)f, out, n);
            pt_backend_upload(gpu, dout, x, n * 4);
            pt_backend_round(gpu, (pt_format)f, dout, n);
            g = down(dout, n);
            snprintf(what, sizeof what, "round %s", pt_format_info((pt_format)f)->name);
            compare(what, g, out, n, 0); /* the encoders agree bit for bit (test_cuda_formats) */
            free(g);
        }
        /* unscale + check: flag and sum of squares */
        float *gr = rnd(n, 100);
        if (n == 1000) gr[10] = INFINITY;
        float *dg = up(gr, n * 4);
        int32_t *flags;
        ck_assert_int_eq(pt_backend_alloc(gpu, 16, (void **)&flags), PT_OK);
        pt_backend_memset(gpu, flags, 0, 16);
        int32_t cflags[4] = {0};
        double csum = 0;
        /* read only first: the same flag and sum, the gradients untouched */
        pt_backend_unscale_check(gpu, dg, n, 1.0f / 64, PT_UNSCALE_READ, flags, (double *)((char *)flags + 8));
        g = down(dg, n);
        compare("unscale check without write", g, gr, n, 0);
        free(g);
        pt_backend_unscale_check(cpu, gr, n, 1.0f / 64, PT_UNSCALE_WRITE, cflags, &csum);
        pt_backend_memset(gpu, flags, 0, 16);
        pt_backend_unscale_check(gpu, dg, n, 1.0f / 64, PT_UNSCALE_WRITE, flags, (double *)((char *)flags + 8));
        int32_t gflag;
        double gsum;
        pt_backend_sync(gpu);
        pt_backend_download(gpu, &gflag, flags, 4);
        pt_backend_download(gpu, &gsum, (char *)flags + 8, 8);
        ck_assert_int_eq(gflag, cflags[0]);
        ck_assert_msg(isinf(csum) ? isinf(gsum) : fabs(gsum - csum) <= 1e-12 * csum, "sumsq %g vs %g", gsum, csum);
        g = down(dg, n);
        compare("unscale", g, gr, n, 0);
        free(g), free(gr);
        pt_backend_free(gpu, dg), pt_backend_free(gpu, flags);
        /* AdamW and SGD: the same float formulas */
        float *w = rnd(n, 1), *gg2 = rnd(n, 1), *m = calloc(n, 4), *v = calloc(n, 4);
        float *dw = up(w, n * 4), *dgg = up(gg2, n * 4), *dm = up(m, n * 4), *dv = up(v, n * 4);
        pt_adamw h = {1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 3, NULL, PT_FMT_FP32};
        pt_backend_adamw(cpu, &h, NULL, w, gg2, m, v, n);
        pt_backend_adamw(gpu, &h, NULL, dw, dgg, dm, dv, n);
        g = down(dw, n);
        compare("adamw", g, w, n, 1e-14);
        free(g);
        /* the weights' bf16 copy written by the update is the cast op's, bit for bit */
        {
            void *dcopy, *dcast;
            ck_assert_int_eq(pt_backend_alloc(gpu, n * 2, &dcopy), PT_OK);
            ck_assert_int_eq(pt_backend_alloc(gpu, n * 2, &dcast), PT_OK);
            pt_adamw hc = h;
            hc.copy = dcopy, hc.copy_fmt = PT_FMT_BF16, hc.step = 4;
            pt_adamw hcpu = h; /* the same step on the CPU, so that the comparisons below stay in step */
            hcpu.step = 4;
            pt_backend_adamw(cpu, &hcpu, NULL, w, gg2, m, v, n);
            ck_assert_int_eq(pt_backend_adamw(gpu, &hc, NULL, dw, dgg, dm, dv, n), PT_OK);
            ck_assert_int_eq(pt_backend_cast(gpu, PT_FMT_BF16, dw, dcast, n, NULL, NULL, 0), PT_OK);
            uint16_t *a16 = malloc(n * 2), *b16 = malloc(n * 2);
            ck_assert_int_eq(pt_backend_sync(gpu), PT_OK);
            ck_assert_int_eq(pt_backend_download(gpu, a16, dcopy, n * 2), PT_OK);
            ck_assert_int_eq(pt_backend_download(gpu, b16, dcast, n * 2), PT_OK);
            ck_assert_msg(!memcmp(a16, b16, n * 2), "adamw's bf16 copy differs from the cast of its weights");
            free(a16), free(b16);
            pt_backend_free(gpu, dcopy), pt_backend_free(gpu, dcast);
        }
        pt_backend_sgd(cpu, 0.1f, 0.9f, 0.01f, NULL, w, gg2, m, n);
        pt_backend_sgd(gpu, 0.1f, 0.9f, 0.01f, NULL, dw, dgg, dm, n);
        g = down(dw, n);
        compare("sgd", g, w, n, 1e-14);
        free(g);
        /* the gate, read on the device: a found flag skips the step; a
         * norm of 1000 against a clip of 1 scales the gradients */
        int32_t no = 0, yes = 1;
        double big = 1e6;
        int32_t *dno = up(&no, 4), *dyes = up(&yes, 4);
        double *dbig = up(&big, 8);
        pt_optim_gate cskip = {&yes, &big, 1.0, 0.0f}, gskip = {dyes, dbig, 1.0, 0.0f};
        pt_optim_gate cclip = {&no, &big, 1.0, 0.0f}, gclip = {dno, dbig, 1.0, 0.0f};
        float *before = down(dw, n);
        pt_backend_adamw(gpu, &h, &gskip, dw, dgg, dm, dv, n);
        pt_backend_sgd(gpu, 0.1f, 0.9f, 0.01f, &gskip, dw, dgg, dm, n);
        g = down(dw, n);
        compare("gated step skipped", g, before, n, 0);
        free(g), free(before);
        pt_backend_adamw(cpu, &h, &cskip, w, gg2, m, v, n); /* skipped too */
        pt_backend_adamw(cpu, &h, &cclip, w, gg2, m, v, n);
        pt_backend_adamw(gpu, &h, &gclip, dw, dgg, dm, dv, n);
        /* the same float formulas; nvcc contracts the clipped gradient's
         * multiply-adds into FMAs, so allow a little more than above */
        g = down(dw, n);
        compare("adamw clipped on the device", g, w, n, 1e-13);
        free(g);
        pt_backend_sgd(cpu, 0.1f, 0.9f, 0.01f, &cclip, w, gg2, m, n);
        pt_backend_sgd(gpu, 0.1f, 0.9f, 0.01f, &gclip, dw, dgg, dm, n);
        g = down(dw, n);
        compare("sgd clipped on the device", g, w, n, 1e-13);
        free(g);
        /* and unscaling the gradients as it reads them (a loss scale of 64) */
        pt_optim_gate cun = {&no, &big, 1.0, 1.0f / 64}, gun = {dno, dbig, 1.0, 1.0f / 64};
        pt_backend_adamw(cpu, &h, &cun, w, gg2, m, v, n);
        pt_backend_adamw(gpu, &h, &gun, dw, dgg, dm, dv, n);
        g = down(dw, n);
        compare("adamw unscaling on the device", g, w, n, 1e-13);
        free(g), free(w), free(gg2), free(m), free(v);
        pt_backend_free(gpu, dno), pt_backend_free(gpu, dyes), pt_backend_free(gpu, dbig);
        void *fr[] = {dw, dgg, dm, dv, dx, dy, dout};
        for (int i = 0; i < 7; i++) pt_backend_free(gpu, fr[i]);
        free(x), free(y), free(out);
    }
}
END_TEST

START_TEST(test_rows)
{
    const int rc[][2] = {{1, 3}, {7, 10}, {33, 129}, {512, 1000}, {300, 2048}};
    for (int t = 0; t < (int)(sizeof rc / sizeof rc[0]); t++) {
        int rows = rc[t][0], c = rc[t][1];
        size_t n = (size_t)rows * c;
        float *x = rnd(n, 3), *dyv = rnd(n, 1), *g = rnd(c, 1), *b = rnd(c, 1), *y = malloc(n * 4);
        float *mean = malloc(rows * 4), *rstd = malloc(rows * 4), *dx = malloc(n * 4), *dg = calloc(c, 4), *db = calloc(c, 4);
        float *Dx = up(x, n * 4), *Ddy = up(dyv, n * 4), *Dg = up(g, c * 4), *Db = up(b, c * 4), *Dy, *Dmean, *Drstd, *Ddx;
        float *Ddg = up(dg, c * 4), *Ddb = up(db, c * 4);
        pt_backend_alloc(gpu, n * 4, (void **)&Dy), pt_backend_alloc(gpu, n * 4, (void **)&Ddx);
        pt_backend_alloc(gpu, rows * 4, (void **)&Dmean), pt_backend_alloc(gpu, rows * 4, (void **)&Drstd);
        pt_backend_layernorm_fwd(cpu, x, g, b, 1e-5f, PT_FMT_FP32, y, mean, rstd, rows, c);
        pt_backend_layernorm_fwd(gpu, Dx, Dg, Db, 1e-5f, PT_FMT_FP32, Dy, Dmean, Drstd, rows, c);
        float *got = down(Dy, n);
        compare("layernorm_fwd", got, y, n, 1e-11); /* fp32 vs fp64 accumulated moments */
        free(got);
        /* computed in fp16 with an eps (1e-8) that is 0 there: a constant
         * first row is 0 * inf = NaN on both; the rest agrees to fp16's
         * rounding (the moments are summed in a different order) */
        {
            float *xc = malloc(n * 4), *yc = malloc(n * 4);
            memcpy(xc, x, n * 4);
            for (int j = 0; j < c; j++) xc[j] = 2.0f;
            float *Dxc = up(xc, n * 4);
            pt_backend_layernorm_fwd(cpu, xc, g, b, 1e-8f, PT_FMT_FP16, yc, mean, rstd, rows, c);
            pt_backend_layernorm_fwd(gpu, Dxc, Dg, Db, 1e-8f, PT_FMT_FP16, Dy, Dmean, Drstd, rows, c);
            ck_assert(isnan(yc[0]));
            got = down(Dy, n);
            compare("layernorm_fwd fp16", got, yc, n, 1e-5);
            free(got), free(xc), free(yc);
            pt_backend_free(gpu, Dxc);
            pt_backend_layernorm_fwd(cpu, x, g, b, 1e-5f, PT_FMT_FP32, y, mean, rstd, rows, c);
            pt_backend_layernorm_fwd(gpu, Dx, Dg, Db, 1e-5f, PT_FMT_FP32, Dy, Dmean, Drstd, rows, c);
        }
        pt_backend_layernorm_bwd(cpu, x, g, mean, rstd, dyv, dx, dg, db, rows, c);
        pt_backend_layernorm_bwd(gpu, Dx, Dg, Dmean, Drstd, Ddy, Ddx, Ddg, Ddb, rows, c);
        got = down(Ddx, n);
        compare("layernorm_bwd dx", got, dx, n, 1e-10);
        free(got);
        got = down(Ddg, c);
        compare("layernorm_bwd dgamma", got, dg, c, 1e-10);
        free(got);
        pt_backend_bias_grad(cpu, dyv, db, rows, c, 1.0f);
        pt_backend_bias_grad(gpu, Ddy, Ddb, rows, c, 1.0f);
        got = down(Ddb, c);
        compare("bias_grad", got, db, c, 1e-12);
        free(got);
        if (c >= 2) {
            int32_t *lab = malloc(rows * 4);
            for (int i = 0; i < rows; i++) lab[i] = i % c;
            int32_t *Dlab = up(lab, rows * 4);
            pt_backend_softmax_ce(cpu, x, lab, mean, y, rows, c, 0.5f);
            pt_backend_softmax_ce(gpu, Dx, Dlab, Dmean, Dy, rows, c, 0.5f);
            got = down(Dmean, rows);
            compare("softmax_ce loss", got, mean, rows, 1e-11);
            free(got);
            got = down(Dy, n);
            compare("softmax_ce dlogits", got, y, n, 1e-11);
            free(got);
            pt_backend_mse(cpu, x, dyv, mean, y, rows, c, 0.5f);
            pt_backend_mse(gpu, Dx, Ddy, Dmean, Dy, rows, c, 0.5f);
            got = down(Dy, n);
            compare("mse dy", got, y, n, 1e-12);
            free(got);
            free(lab), pt_backend_free(gpu, Dlab);
        }
        void *fr[] = {Dx, Ddy, Dg, Db, Dy, Dmean, Drstd, Ddx, Ddg, Ddb};
        for (int i = 0; i < 10; i++) pt_backend_free(gpu, fr[i]);
        free(x), free(dyv), free(g), free(b), free(y), free(mean), free(rstd), free(dx), free(dg), free(db);
    }
}
END_TEST

/* The convolution ops, CPU (im2col GEMMs) against CUDA (cuDNN), in every
 * format they take, on odd shapes (1 channel, a 1x1 output, stride 2
 * without padding, 7 and 33 channels) and a large one; and max pooling over
 * a ReLU's output, where windows tie at zero. */
static void conv_case(pt_format f, pt_conv_shape s, int o)
{
    const pt_format_traits *t = pt_format_info(f);
    size_t nx = (size_t)s.n * s.c * s.h * s.w, nw = (size_t)o * s.c * s.k * s.k, ny = (size_t)s.n * s.oh * s.ow * o;
    float *x = rnd(nx, 2), *w = rnd(nw, 0.5f), *b = rnd(o, 1), *dy = rnd(ny, 1);
    size_t sb = t->storage_bytes;
    void *qx = malloc(nx * sb + 4), *qw = malloc(nw * sb + 4), *qdy = malloc(ny * sb + 4);
    const void *px = x, *pw = w, *pdy = dy;
    if (sb == 2) {
        pt_backend_cast(cpu, f, x, qx, nx, NULL, NULL, 0), px = qx;
        pt_backend_cast(cpu, f, w, qw, nw, NULL, NULL, 0), pw = qw;
        pt_backend_cast(cpu, f, dy, qdy, ny, NULL, NULL, 0), pdy = qdy;
    }
    pt_format out = f == PT_FMT_TF32 ? PT_FMT_FP32 : f;
    float *y = malloc(ny * 4), *dx = malloc(nx * 4), *dw = rnd(nw, 1);
    pt_operand X = {.data = px, .fmt = f}, W = {.data = pw, .fmt = f, .trans = true}, DY = {.data = pdy, .fmt = f};
    void *Dx = up(px, nx * sb), *Dw = up(pw, nw * sb), *Ddy = up(pdy, ny * sb);
    float *Db = up(b, o * 4), *Ddw = up(dw, nw * 4), *Dy, *Ddx;
    pt_backend_alloc(gpu, ny * 4, (void **)&Dy), pt_backend_alloc(gpu, nx * 4, (void **)&Ddx);
    pt_operand GX = {.data = Dx, .fmt = f}, GW = {.data = Dw, .fmt = f, .trans = true}, GDY = {.data = Ddy, .fmt = f};
    ck_assert_int_eq(pt_backend_conv_fwd(cpu, &s, o, &X, &W, b, out, y), PT_OK);
    ck_assert_msg(pt_backend_conv_fwd(gpu, &s, o, &GX, &GW, Db, out, Dy) == PT_OK, "%s", pt_last_error());
    ck_assert_int_eq(pt_backend_conv_bwd_data(cpu, &s, o, &DY, &W, out, dx), PT_OK);
    ck_assert_msg(pt_backend_conv_bwd_data(gpu, &s, o, &GDY, &GW, out, Ddx) == PT_OK, "%s", pt_last_error());
    ck_assert_int_eq(pt_backend_conv_bwd_filter(cpu, &s, o, &DY, &X, 1.0f, dw), PT_OK);
    ck_assert_msg(pt_backend_conv_bwd_filter(gpu, &s, o, &GDY, &GX, 1.0f, Ddw) == PT_OK, "%s", pt_last_error());
    /* fp32: accumulation order (FMA kernels); tf32/bf16/fp16 operands: exact
     * products on TF32 tensor cores, so again accumulation order, plus one
     * ulp of a rounded output */
    double tol = out == PT_FMT_BF16 ? 1e-4 : out == PT_FMT_FP16 ? 1e-6 : 1e-10;
    char what[160];
    const char *names[] = {"conv fwd", "conv bwd_data", "conv bwd_filter"};
    float *got[3] = {down(Dy, ny), down(Ddx, nx), down(Ddw, nw)}, *want[3] = {y, dx, dw};
    size_t cnt[3] = {ny, nx, nw};
    for (int i = 0; i < 3; i++) {
        snprintf(what, sizeof what, "%s %s, %dx%dx%dx%d, %d filters %dx%d, stride %d, pad %d", names[i], t->name, s.n,
                 s.c, s.h, s.w, o, s.k, s.k, s.stride, s.pad);
        compare(what, got[i], want[i], cnt[i], i == 2 ? (f == PT_FMT_FP32 ? 1e-10 : 1e-9) : tol);
        free(got[i]);
    }
    free(x), free(w), free(b), free(dy), free(qx), free(qw), free(qdy), free(y), free(dx), free(dw);
    void *fr[] = {Dx, Dw, Ddy, Db, Ddw, Dy, Ddx};
    for (int i = 0; i < 7; i++) pt_backend_free(gpu, fr[i]);
}

START_TEST(test_conv)
{
    if (!pt_backend_supports(gpu, PT_OP_CONV, PT_FMT_FP32)) {
        printf("SKIP convolutions: this build has no cuDNN\n");
        return;
    }
    const pt_conv_shape shapes[] = {{2, 3, 7, 7, 3, 1, 1, 7, 7},   {3, 1, 9, 8, 3, 2, 0, 4, 3},
                                    {1, 7, 5, 5, 5, 1, 0, 1, 1},   {4, 33, 12, 12, 3, 1, 1, 12, 12},
                                    {64, 16, 28, 28, 3, 1, 1, 28, 28}};
    const int outs[] = {4, 1, 33, 7, 32};
    const pt_format fmts[] = {PT_FMT_FP32, PT_FMT_TF32, PT_FMT_BF16, PT_FMT_FP16};
    for (int f = 0; f < 4; f++)
        for (int i = 0; i < 5; i++) conv_case(fmts[f], shapes[i], outs[i]);
    ck_assert(!pt_backend_supports(gpu, PT_OP_CONV, PT_FMT_E4M3));
    /* max pooling of ReLU outputs: most windows hold several zeros */
    pt_conv_shape s = {8, 16, 28, 28, 2, 2, 0, 14, 14};
    size_t nx = (size_t)s.n * s.c * s.h * s.w, ny = (size_t)s.n * s.c * s.oh * s.ow;
    float *x = rnd(nx, 1), *dyv = rnd(ny, 1), *y = malloc(ny * 4), *dx = calloc(nx, 4);
    for (size_t i = 0; i < nx; i++) x[i] = x[i] > 0.3f ? x[i] : 0.0f;
    int32_t *arg = malloc(ny * 4), *Darg;
    float *Dx = up(x, nx * 4), *Ddy = up(dyv, ny * 4), *Ddx = up(dx, nx * 4), *Dy;
    pt_backend_alloc(gpu, ny * 4, (void **)&Dy), pt_backend_alloc(gpu, ny * 4, (void **)&Darg);
    pt_backend_pool_fwd(cpu, PT_POOL_MAX, &s, x, y, arg);
    pt_backend_pool_fwd(gpu, PT_POOL_MAX, &s, Dx, Dy, Darg);
    pt_backend_pool_bwd(cpu, PT_POOL_MAX, &s, x, y, dyv, arg, dx);
    pt_backend_pool_bwd(gpu, PT_POOL_MAX, &s, Dx, Dy, Ddy, Darg, Ddx);
    float *got = down(Ddx, nx);
    compare("maxpool bwd, tied windows", got, dx, nx, 0);
    free(got), free(x), free(dyv), free(y), free(dx), free(arg);
    void *fr[] = {Dx, Ddy, Ddx, Dy, Darg};
    for (int i = 0; i < 5; i++) pt_backend_free(gpu, fr[i]);
}
END_TEST

START_TEST(test_conv_pool)
{
    pt_conv_shape shapes[] = {{2, 3, 7, 7, 3, 1, 1, 7, 7}, {3, 2, 9, 8, 3, 2, 0, 4, 3}, {1, 4, 28, 28, 2, 2, 0, 14, 14}};
    for (int t = 0; t < 3; t++) {
        pt_conv_shape s = shapes[t];
        size_t nx = (size_t)s.n * s.c * s.h * s.w, ncol = (size_t)s.n * s.oh * s.ow * s.c * s.k * s.k;
        size_t ny = (size_t)s.n * s.c * s.oh * s.ow;
        float *x = rnd(nx, 2), *cols = malloc(ncol * 4), *dx = calloc(nx, 4), *y = malloc(ny * 4), *dyv = rnd(ny, 1);
        int32_t *arg = malloc(ny * 4);
        float *Dx = up(x, nx * 4), *Dcols, *Ddx = up(dx, nx * 4), *Dy, *Ddy = up(dyv, ny * 4);
        int32_t *Darg;
        pt_backend_alloc(gpu, ncol * 4, (void **)&Dcols), pt_backend_alloc(gpu, ny * 4, (void **)&Dy);
        pt_backend_alloc(gpu, ny * 4, (void **)&Darg);
        pt_backend_im2col(cpu, &s, x, cols);
        pt_backend_im2col(gpu, &s, Dx, Dcols);
        float *got = down(Dcols, ncol);
        compare("im2col", got, cols, ncol, 0);
        free(got);
        pt_backend_col2im(cpu, &s, cols, dx);
        pt_backend_col2im(gpu, &s, Dcols, Ddx);
        got = down(Ddx, nx);
        compare("col2im", got, dx, nx, 1e-13); /* sums in another order */
        free(got);
        for (int mx = 0; mx < 2; mx++) {
            pt_backend_pool_fwd(cpu, mx ? PT_POOL_MAX : PT_POOL_AVG, &s, x, y, arg);
            pt_backend_pool_fwd(gpu, mx ? PT_POOL_MAX : PT_POOL_AVG, &s, Dx, Dy, Darg);
            got = down(Dy, ny);
            compare(mx ? "maxpool fwd" : "avgpool fwd", got, y, ny, 1e-13);
            free(got);
            memset(dx, 0, nx * 4);
            pt_backend_memset(gpu, Ddx, 0, nx * 4);
            pt_backend_pool_bwd(cpu, mx ? PT_POOL_MAX : PT_POOL_AVG, &s, x, y, dyv, arg, dx);
            pt_backend_pool_bwd(gpu, mx ? PT_POOL_MAX : PT_POOL_AVG, &s, Dx, Dy, Ddy, Darg, Ddx);
            got = down(Ddx, nx);
            compare(mx ? "maxpool bwd" : "avgpool bwd", got, dx, nx, 1e-13);
            free(got);
        }
        int c = 5, p = (int)(ny / 5 / s.n);
        if (p > 0) {
            size_t nr = (size_t)s.n * c * p;
            pt_backend_rows_to_nchw(cpu, x, y, s.n, c, p, PT_PASS_FWD);
            pt_backend_rows_to_nchw(gpu, Dx, Dy, s.n, c, p, PT_PASS_FWD);
            got = down(Dy, nr);
            compare("rows_to_nchw", got, y, nr, 0);
            free(got);
        }
        void *fr[] = {Dx, Dcols, Ddx, Dy, Ddy, Darg};
        for (int i = 0; i < 6; i++) pt_backend_free(gpu, fr[i]);
        free(x), free(cols), free(dx), free(y), free(dyv), free(arg);
    }
}
END_TEST

/* The same training on both backends in fp32, 200 steps; the losses agree
 * within 1e-3 relative at every step (the bound; differences come
 * from GEMM accumulation order). */
/* `steps` steps on both backends under a policy (NULL: fp32), the losses
 * compared at every step. */
static void train_both_policy(const pt_model_spec *spec, const pt_data *data, const char *what, const char *policy,
                              int steps, double tol, int early, double early_tol)
{
    pt_policy pol;
    if (policy) ck_assert_int_eq(pt_policy_load(policy, &pol), PT_OK);
    else pt_policy_init_fp32(&pol);
    pt_trainer *tc, *tg;
    ck_assert_int_eq(pt_trainer_create(cpu, spec, &pol, data, &tc), PT_OK);
    ck_assert_msg(pt_trainer_create(gpu, spec, &pol, data, &tg) == PT_OK, "%s", pt_last_error());
    double worst = 0;
    int first_past = -1; /* the first step past the MLP's 1e-3 */
    for (int i = 0; i < steps; i++) {
        pt_step_record a, b;
        ck_assert_int_eq(pt_trainer_step(tc, &a), PT_OK);
        ck_assert_msg(pt_trainer_step(tg, &b) == PT_OK, "%s", pt_last_error());
        double rel = fabs(a.loss - b.loss) / fabs(a.loss);
        if (rel > worst) worst = rel;
        if (rel > 1e-3 && first_past < 0) first_past = i;
        ck_assert_msg(rel < (i < early ? early_tol : tol), "%s, step %d: cpu loss %.8g, cuda %.8g", what, i, a.loss,
                      b.loss);
        ck_assert_int_eq(a.skipped, b.skipped);
        /* after the first step, the recipe's states of the tensors that the two
         * backends hold bit for bit alike (the data entering the first layer,
         * every weight) are equal bit for bit: the same arithmetic on the device */
        for (int l = 0; i == 0 && policy && l < spec->nlayers; l++) {
            const pt_net_layer *lc = &pt_trainer_net(tc)->L[l], *lg = &pt_trainer_net(tg)->L[l];
            for (int r = 0; r < PT_OPND_COUNT; r++) {
                if (r == PT_OPND_DY || (r == PT_OPND_X && l > 0) || !pt_format_is_fp8(lc->fmt.fwd)) continue;
                const pt_fp8_state *c = &lc->fp8[r], *g = &lg->fp8[r];
                ck_assert_msg(c->scale == g->scale && c->filled == g->filled && c->pos == g->pos &&
                              !memcmp(c->history, g->history, sizeof c->history) && c->clamped == g->clamped &&
                              c->saturated == g->saturated,
                              "%s, layer %d role %d: fp8 state differs (scale cpu %g cuda %g, amax %g %g)", what, l, r,
                              (double)c->scale, (double)g->scale, (double)c->last_amax, (double)g->last_amax);
            }
        }
    }
    printf("train agreement, %s: %d %s steps, worst relative loss difference %.3g (first past 1e-3: step %d)\n",
           what, steps, policy ? pol.source : "fp32", worst, first_past);
    pt_trainer_destroy(tc), pt_trainer_destroy(tg);
    pt_policy_free(&pol);
}

static void train_both(const pt_model_spec *spec, const pt_data *data, const char *what)
{
    train_both_policy(spec, data, what, NULL, 200, 1e-3, 0, 0);
}

/* Rows picked by index (a data set kept on the device): exact copies. */
START_TEST(test_gather_rows)
{
    const int widths[] = {1, 7, 784, 1024, 5000};
    for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++) {
        int dim = widths[w], n = 1000, rows = 333;
        float *tab = rnd((size_t)n * dim, 10.0f), *want = malloc((size_t)rows * dim * sizeof(float));
        int32_t *idx = malloc(rows * sizeof(int32_t));
        for (int r = 0; r < rows; r++) idx[r] = (int32_t)((r * 7919u + 13u) % (unsigned)n);
        ck_assert_int_eq(pt_backend_gather_rows(cpu, tab, dim * sizeof(float), idx, rows, want), PT_OK);
        for (int r = 0; r < rows; r++)
            ck_assert(!memcmp(want + (size_t)r * dim, tab + (size_t)idx[r] * dim, dim * sizeof(float)));
        float *Dtab = up(tab, (size_t)n * dim * sizeof(float)), *Dout;
        int32_t *Didx = up(idx, rows * sizeof(int32_t));
        ck_assert_int_eq(pt_backend_alloc(gpu, (size_t)rows * dim * sizeof(float), (void **)&Dout), PT_OK);
        ck_assert_int_eq(pt_backend_gather_rows(gpu, Dtab, dim * sizeof(float), Didx, rows, Dout), PT_OK);
        float *got = down(Dout, (size_t)rows * dim);
        ck_assert_msg(!memcmp(got, want, (size_t)rows * dim * sizeof(float)), "gather_rows, %d columns", dim);
        free(got), free(tab), free(want), free(idx);
        pt_backend_free(gpu, Dtab), pt_backend_free(gpu, Didx), pt_backend_free(gpu, Dout);
    }
    ck_assert_int_eq(pt_backend_gather_rows(gpu, NULL, 6, NULL, 1, NULL), PT_ERR_INVALID);
}
END_TEST

/* A small MLP with a layer norm on a synthetic CSV (drawn from the shared
 * generator where the tests before it leave it: a test added before this
 * one changes the data, and the fp8 runs' agreement with them; one such
 * change moved it to 12% at step 88). */
START_TEST(test_train_agrees)
{
    char csv[64];
    snprintf(csv, sizeof csv, "/tmp/pt_agree_%d.csv", getpid());
    FILE *f = fopen(csv, "w");
    for (int i = 0; i < 4000; i++) {
        float a = urand(), b = urand(), c = urand(), d = urand();
        fprintf(f, "%.6f,%.6f,%.6f,%.6f,%d\n", a, b, c, d, (a + b * c - d > 0) + (a - d > 0.5f));
    }
    fclose(f);
    pt_model_spec spec;
    ck_assert_int_eq(pt_model_spec_parse("{\"name\": \"agree\", \"input\": [4], \"layers\": ["
                                         "{\"name\": \"fc1\", \"type\": \"linear\", \"out\": 256}, {\"name\": \"g1\", \"type\": \"gelu\"},"
                                         "{\"name\": \"fc2\", \"type\": \"linear\", \"out\": 256}, {\"name\": \"ln\", \"type\": \"layernorm\"},"
                                         "{\"name\": \"g2\", \"type\": \"gelu\"}, {\"name\": \"head\", \"type\": \"linear\", \"out\": 3}],"
                                         "\"train\": {\"batch\": 64, \"steps\": 200, \"warmup\": 10}}", "agree", &spec), PT_OK);
    pt_data_options o = pt_data_options_default();
    char ds[96];
    snprintf(ds, sizeof ds, "csv:%s", csv);
    pt_data data;
    ck_assert_int_eq(pt_data_open(ds, &o, &data), PT_OK);
    train_both(&spec, &data, "synthetic csv");
    /* fp8 hybrid, delayed scaling: the recipe on the device against the host's
     * (bit for bit after the first step, above); the losses within 5%: the
     * trajectories drift apart because cuBLASLt's fp8 kernels (the 256-wide
     * layers; the 4- and 3-wide ones run emulated) add partial sums at
     * reduced precision where the CPU adds exactly in fp32, and each
     * difference moves the next amax and scale. How far they drift depends
     * on the algorithm cuBLASLt picks, which differed between H100 machines
     * of the same name: worst over 100 steps 3.3-4.7% (delayed) and
     * 3.9-6.0% (current) on ten machines, each repeatable on its machine
     * bit for bit. Hence 10%: what this checks is that the device
     * recipe follows the host's, not that two accumulation orders agree. */
    train_both_policy(&spec, &data, "synthetic csv", PT_SOURCE_DIR "/policies/presets/fp8-hybrid.json", 100, 0.1, 0, 0);
    char cur[64];
    snprintf(cur, sizeof cur, "/tmp/pt_current_%d.json", getpid());
    FILE *pf = fopen(cur, "w");
    fputs("{\"prectune_policy\": 1, \"default\": {\"fwd\": \"fp8_e4m3\", \"dgrad\": \"fp8_e5m2\", \"wgrad\": "
          "\"fp8_e5m2\"}, \"fp8\": {\"recipe\": \"current\"}}", pf);
    fclose(pf);
    train_both_policy(&spec, &data, "synthetic csv", cur, 100, 0.1, 0, 0);
    unlink(cur);
    pt_data_free(&data), pt_model_spec_free(&spec);
    unlink(csv);
}
END_TEST

/* The Fashion-MNIST MLP of the examples, where the data set is installed
 * (PT_TEST_FMNIST may name it as an idx: data spec). */
START_TEST(test_train_agrees_fmnist)
{
    const char *ds = getenv("PT_TEST_FMNIST") ? getenv("PT_TEST_FMNIST") : "fashion-mnist";
    pt_data_options o = pt_data_options_default();
    pt_data data;
    if (pt_data_open(ds, &o, &data) != PT_OK) {
        printf("SKIP Fashion-MNIST agreement: %s\n", pt_last_error());
        return;
    }
    pt_model_spec spec;
    ck_assert_int_eq(pt_model_spec_load(PT_SOURCE_DIR "/examples/fmnist-mlp/model.json", &spec), PT_OK);
    train_both(&spec, &data, "fashion-mnist mlp");
    pt_data_free(&data), pt_model_spec_free(&spec);
}
END_TEST

/* The Fashion-MNIST CNN of the examples (convolutions and pooling through
 * cuDNN, dropout), fp32 for 200 steps and bf16 (the bf16-amp preset: bf16
 * convolutions on TF32 tensor cores, exact products) for 100, where the
 * data set is installed (PRECTUNE_CUDNN=1: its convolutions are below the
 * size where cuDNN is chosen by itself); and the same fp32 run with the
 * convolutions as im2col GEMMs (PRECTUNE_CUDNN=0). A CNN holds the MLP's 1e-3 only for a
 * while: a ReLU before a max pooling turns a last-bit difference of
 * accumulation order into another winner of a window, the gradient takes
 * another path, and the runs part. On an H100 both GPU paths first passed
 * 1e-3 at step 119 (worst over 200 steps: cuDNN 3.8%, im2col 2.3%), and
 * bf16 passed 1e-2 at step 62. So: fp32 within 1e-3 for 100 steps, bf16
 * within 1e-2 for 50, then within 10% (no divergence). A wrong convolution
 * fails at the first steps. (On a synthetic set the CNN learns next to
 * nothing, AdamW follows the signs of gradients that are noise, and the
 * runs part by step 73.) */
START_TEST(test_train_agrees_cnn)
{
    const char *ds = getenv("PT_TEST_FMNIST") ? getenv("PT_TEST_FMNIST") : "fashion-mnist";
    pt_data_options o = pt_data_options_default();
    pt_data data;
    if (pt_data_open(ds, &o, &data) != PT_OK) {
        printf("SKIP Fashion-MNIST CNN agreement: %s\n", pt_last_error());
        return;
    }
    pt_model_spec spec;
    ck_assert_int_eq(pt_model_spec_load(PT_SOURCE_DIR "/examples/fmnist-cnn/model.json", &spec), PT_OK);
    setenv("PRECTUNE_CUDNN", "1", 1); /* its convolutions are small: cuDNN only when asked */
    train_both_policy(&spec, &data, "fashion-mnist cnn, cuDNN", NULL, 200, 0.1, 100, 1e-3);
    pt_backend *dnn = gpu;
    setenv("PRECTUNE_CUDNN", "0", 1);
    ck_assert_int_eq(pt_backend_open("cuda", &gpu), PT_OK);
    train_both_policy(&spec, &data, "fashion-mnist cnn, im2col GEMMs", NULL, 200, 0.1, 100, 1e-3);
    pt_backend_close(gpu);
    gpu = dnn;
    setenv("PRECTUNE_CUDNN", "1", 1);
    train_both_policy(&spec, &data, "fashion-mnist cnn", PT_SOURCE_DIR "/policies/presets/bf16-amp.json",
                      100, 0.1, 50, 1e-2);
    unsetenv("PRECTUNE_CUDNN");
    pt_data_free(&data), pt_model_spec_free(&spec);
}
END_TEST

int main(void)
{
    pt_test_require_gpu("test_backend_ops");
    if (pt_backend_open("cuda", &gpu) != PT_OK || pt_backend_open("cpu", &cpu) != PT_OK) {
        fprintf(stderr, "cannot open backends: %s\n", pt_last_error());
        return EXIT_FAILURE;
    }
    Suite *s = suite_create("backend_ops");
    TCase *tc = tcase_create("backend_ops");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_elementwise);
    tcase_add_test(tc, test_rows);
    tcase_add_test(tc, test_gather_rows);
    tcase_add_test(tc, test_conv_pool);
    tcase_add_test(tc, test_conv);
    tcase_add_test(tc, test_train_agrees_cnn);
    tcase_add_test(tc, test_gemm);
    tcase_add_test(tc, test_train_agrees);
    tcase_add_test(tc, test_train_agrees_fmnist);
    /* last: the tests before it draw from the shared generator, and
     * test_train_agrees's data set (and so its measured fp8 bound) is what
     * they leave it at */
    tcase_add_test(tc, test_fused_tails);
    tcase_add_test(tc, test_packed_act);
    tcase_add_test(tc, test_fp8_many);
    tcase_add_test(tc, test_cast_twins);
    suite_add_tcase(s, tc);
    int rc = pt_check_run(s, CK_NOFORK);
    pt_backend_close(gpu);
    pt_backend_close(cpu);
    return rc;
}
