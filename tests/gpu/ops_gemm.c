/* The GEMM cases, CPU against the backend under test: every format pair a
 * net uses, transposes, accumulation, bias; a GEMM that defers its tail;
 * a GEMM that packs its output as 16-bit codes. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../../instrument/net.h"
#include "op_test.h"

/* One GEMM on both backends: a in fa, b in fb (fp8 operands with scales 16
 * and 8, as a recipe would give), op(A) and op(B) per arg[0]/arg[1], with
 * or without bias, overwriting (arg[2] 0: beta 0, the output rounded to the
 * formats' output format) or accumulating (beta 1, fp32 output). The fp8
 * kernels must take every shape that fits them, and no other. */
void op_gemm(const op_case *cs)
{
    int m = cs->shape[0], n = cs->shape[1], k = cs->shape[2];
    pt_format fa = cs->fa, fb = cs->fb;
    bool ta = cs->arg[0], tb = cs->arg[1], with_bias = cs->flags & OP_BIAS, misaligned = cs->flags & OP_MISALIGNED;
    float beta = cs->arg[2] ? 1.0f : 0.0f;
    const pt_format_traits *t = pt_format_info(fa), *tbf = pt_format_info(fb);
    float *a = op_rnd((size_t)m * k, 2), *b = op_rnd((size_t)k * n, 2), *c = op_rnd((size_t)m * n, 1),
          *bias = op_rnd(n, 1);
    float sa = t->bits == 8 ? 16.0f : 1.0f, sb = tbf->bits == 8 ? 8.0f : 1.0f, ia = 1 / sa, ib = 1 / sb;
    void *qa = op_host((size_t)m * k * t->storage_bytes), *qb = op_host((size_t)k * n * tbf->storage_bytes);
    const void *pa = a, *pb = b;
    if (fa != PT_FMT_FP32 && fa != PT_FMT_TF32) {
        OP_OK(pt_backend_cast(op_cpu, fa, a, qa, (size_t)m * k, &sa, NULL, PT_CAST_SATURATE));
        pa = qa;
    }
    if (fb != PT_FMT_FP32 && fb != PT_FMT_TF32) {
        OP_OK(pt_backend_cast(op_cpu, fb, b, qb, (size_t)k * n, &sb, NULL, PT_CAST_SATURATE));
        pb = qb;
    }
    bool fp8 = t->bits == 8;
    pt_format out = fp8 ? PT_FMT_BF16 : fa == PT_FMT_TF32 ? PT_FMT_FP32 : fa;
    if (beta != 0) out = PT_FMT_FP32;
    float *cc = op_host((size_t)m * n * 4);
    memcpy(cc, c, (size_t)m * n * 4);
    pt_gemm gc = {.m = m, .n = n, .k = k,
                  .a = {.data = pa, .fmt = fa, .scale_inv = t->bits == 8 ? &ia : NULL, .trans = ta},
                  .b = {.data = pb, .fmt = fb, .scale_inv = tbf->bits == 8 ? &ib : NULL, .trans = tb},
                  .bias = with_bias ? bias : NULL, .out_fmt = out, .beta = beta};
    OP_OK(pt_backend_gemm(op_cpu, &gc, cc));
    void *da = op_up(pa, (size_t)m * k * t->storage_bytes), *db = op_up(pb, (size_t)k * n * tbf->storage_bytes);
    float *dc = op_up(c, (size_t)m * n * 4), *dbias = op_up(bias, (size_t)n * 4);
    float two_a[2] = {0, ia}, two_b[2] = {0, ib};
    float *dia = op_up(two_a, 8), *dib = op_up(two_b, 8);
    pt_gemm gg = gc;
    gg.a.data = da, gg.b.data = db, gg.bias = with_bias ? dbias : NULL;
    gg.a.scale_inv = t->bits == 8 ? dia + misaligned : NULL;
    gg.b.scale_inv = tbf->bits == 8 ? dib + misaligned : NULL;
    if (!misaligned) {
        OP_OK(pt_backend_upload(op_gpu, dia, &ia, 4));
        OP_OK(pt_backend_upload(op_gpu, dib, &ib, 4));
    }
    int64_t emulated = pt_backend_fp8_emulated(op_gpu);
    OP_OK(pt_backend_gemm(op_gpu, &gg, dc));
    bool fits = fp8 && m % 16 == 0 && n % 16 == 0 && k % 16 == 0 && !(fa == PT_FMT_E5M2 && fb == PT_FMT_E5M2);
    if (fp8 && op_on_device) /* the fp8 kernels took every shape that fits them, and no other */
        OP_CHECK(pt_backend_fp8_emulated(op_gpu) - emulated == (fits ? 0 : 1), "%lld fp8 GEMMs emulated, not %d",
                 (long long)(pt_backend_fp8_emulated(op_gpu) - emulated), fits ? 0 : 1);
    float *got = op_down(dc, (size_t)m * n);
    op_compare("c", got, cc, (size_t)m * n, cs->nmse);
}

/* A GEMM with its tail deferred leaves the fp32 sum alone, as the CPU's. */
void op_gemm_deferred(const op_case *cs)
{
    int m = cs->shape[0], nn = cs->shape[1], k = cs->shape[2];
    pt_format f = cs->fa;
    float *a = op_rnd((size_t)m * k, 1), *b = op_rnd((size_t)nn * k, 1), *bias = op_rnd(nn, 1),
          *c = op_host((size_t)m * nn * 4);
    size_t es = (size_t)pt_format_info(f)->storage_bytes;
    void *qa = op_host((size_t)m * k * es), *qb = op_host((size_t)nn * k * es);
    OP_OK(pt_backend_cast(op_cpu, f, a, qa, (size_t)m * k, NULL, NULL, PT_CAST_SATURATE));
    OP_OK(pt_backend_cast(op_cpu, f, b, qb, (size_t)nn * k, NULL, NULL, PT_CAST_SATURATE));
    pt_gemm g = {.m = m, .n = nn, .k = k, .a = {.data = qa, .fmt = f}, .b = {.data = qb, .fmt = f, .trans = true},
                 .bias = bias, .out_fmt = pt_gemm_out_format(f), .beta = 0.0f, .defer_tail = true};
    OP_OK(pt_backend_gemm(op_cpu, &g, c));
    void *Da = op_up(qa, (size_t)m * k * es), *Db = op_up(qb, (size_t)nn * k * es);
    float *Dbias = op_up(bias, nn * 4), *Dc = op_dev((size_t)m * nn * 4);
    g.a.data = Da, g.b.data = Db, g.bias = Dbias;
    OP_OK(pt_backend_gemm(op_gpu, &g, Dc));
    float *got = op_down(Dc, (size_t)m * nn);
    op_compare("the deferred sum", got, c, (size_t)m * nn, cs->nmse);
}

/* A GEMM with pack (bf16, fp16 and e4m3 inputs, and e4m3 on a shape that
 * cuBLASLt's fp8 kernels do not take, decoded and packed by a pass of
 * ours): codes of the values the CPU's GEMM and the backend's unpacked
 * GEMM write, but for a sum that the order of its terms puts on the other
 * side of a rounding boundary (one step of the format, on at most 1% of
 * values; fp8 against the CPU, 10%); with the bias also given as its codes,
 * the same output. */
void op_gemm_packed(const op_case *cs)
{
    int m = cs->shape[0], nn = cs->shape[1], k = cs->shape[2];
    pt_format pf = cs->fa;
    bool wb = cs->flags & OP_BIAS, emulated_shape = cs->arg[0];
    size_t mn = (size_t)m * nn, es = (size_t)pt_format_info(pf)->storage_bytes;
    pt_format of = pt_gemm_out_format(pf);
    float *a = op_rnd((size_t)m * k, 1), *b = op_rnd((size_t)nn * k, 1), *bias = op_rnd(nn, 1);
    float *hp = op_host(mn * 4), *gp = op_host(mn * 4);
    void *qa = op_host((size_t)m * k * es), *qb = op_host((size_t)nn * k * es);
    uint16_t *hcodes = op_host(mn * 2), *gcodes = op_host(mn * 2);
    OP_OK(pt_backend_cast(op_cpu, pf, a, qa, (size_t)m * k, NULL, NULL, PT_CAST_SATURATE));
    OP_OK(pt_backend_cast(op_cpu, pf, b, qb, (size_t)nn * k, NULL, NULL, PT_CAST_SATURATE));
    pt_gemm g = {.m = m, .n = nn, .k = k, .a = {.data = qa, .fmt = pf}, .b = {.data = qb, .fmt = pf, .trans = true},
                 .bias = wb ? bias : NULL, .out_fmt = of, .beta = 0.0f, .pack = true};
    OP_OK(pt_backend_gemm(op_cpu, &g, hcodes));
    void *Da = op_up(qa, (size_t)m * k * es), *Db = op_up(qb, (size_t)nn * k * es), *Dcodes = op_dev(mn * 2);
    float *Dbias = op_up(bias, nn * 4), *Dc = op_dev(mn * 4);
    g.a.data = Da, g.b.data = Db, g.bias = wb ? Dbias : NULL;
    int64_t emulated = pt_backend_fp8_emulated(op_gpu);
    OP_OK(pt_backend_gemm(op_gpu, &g, Dcodes));
    /* the decoded fp8 GEMM counted once, as an unpacked one is */
    if (op_on_device)
        OP_CHECK(pt_backend_fp8_emulated(op_gpu) - emulated == (emulated_shape ? 1 : 0),
                 "%lld fp8 GEMMs emulated, not %d", (long long)(pt_backend_fp8_emulated(op_gpu) - emulated),
                 emulated_shape ? 1 : 0);
    op_down_bytes(gcodes, Dcodes, mn * 2);
    if (wb) { /* the bias given as its codes (the optimizer's 16-bit copy): the same output */
        uint16_t *bc = op_host((size_t)nn * 2), *again = op_host(mn * 2);
        for (int j = 0; j < nn; j++) bc[j] = (uint16_t)pt_encode(of, bias[j], 0);
        void *Dbc = op_up(bc, (size_t)nn * 2);
        g.bias_codes = Dbc;
        OP_OK(pt_backend_gemm(op_gpu, &g, Dcodes));
        g.bias_codes = NULL;
        op_down_bytes(again, Dcodes, mn * 2);
        OP_CHECK(!memcmp(again, gcodes, mn * 2), "the output with the bias's codes given differs");
    }
    g.pack = false;
    OP_OK(pt_backend_gemm(op_gpu, &g, Dc));
    float *unpacked = op_down(Dc, mn);
    op_decode(op_cpu, of, hcodes, mn, hp), op_decode(op_cpu, of, gcodes, mn, gp);
    const float *refs[2] = {hp, unpacked};
    /* the sum of the terms' magnitudes, which bounds what the order and
     * precision of the additions can move a sum by */
    float *absum = op_host0(mn * sizeof(float)), *da = op_host((size_t)m * k * 4), *dbv = op_host((size_t)nn * k * 4);
    op_decode(op_cpu, pf, qa, (size_t)m * k, da), op_decode(op_cpu, pf, qb, (size_t)nn * k, dbv);
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
                float slack = pt_format_is_fp8(pf) ? 0x1p-12f * absum[j] : 1e-4f;
                OP_CHECK(fabsf(gp[j] - refs[r][j]) <= 0x1p-7f * fabsf(refs[r][j]) + slack, "[%zu] %g, %s %g", j,
                         (double)gp[j], r ? "unpacked" : "cpu", (double)refs[r][j]);
            }
        /* fp8 against the CPU's fp32 sums: the tensor cores' narrower sums move more of them
         * (4% measured on the H100), each within the bound above */
        size_t most = pt_format_is_fp8(pf) && r == 0 ? mn / 10 : 1 + mn / 100;
        OP_CHECK(apart <= most, "%zu of %zu values differ from the %s's", apart, mn, r ? "unpacked GEMM" : "cpu");
    }
}
