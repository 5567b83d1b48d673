/* The cast cases, CPU against the backend under test: pt_backend_cast_t
 * (the codes and their transposed copy in one pass) and the batched fp8
 * recipe steps. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "prectune/fp8.h"
#include "op_test.h"

/* cast_t on shapes that take the rows kernel (whole and partial tiles,
 * words and bytes of rows) and those that do not: the codes bit for bit
 * (and the same as pt_backend_cast's), amax (with a NaN, an inf and values
 * past the format's range among the inputs), and the transposed copy the
 * transpose of the codes. arg[0]: saturating. */
void op_cast_t(const op_case *c)
{
    int rows = c->shape[0], cols = c->shape[1];
    size_t n = (size_t)rows * cols;
    pt_format f = c->fa;
    bool sat = c->arg[0];
    unsigned flags = sat ? PT_CAST_SATURATE : 0;
    float *x = op_rnd(n, 4), sc = 16.0f, hamax = 0, gamax, gamax2;
    if (n > 3) x[n / 2] = 1e6f, x[n / 3] = -INFINITY;
    if (n > 7 && sat) x[n - 2] = NAN;
    unsigned char *hc = op_host(n), *hct = op_host(n), *gc = op_host(n), *gct = op_host(n), *gc2 = op_host(n);
    float *Dx = op_up(x, n * 4), *Dsc = op_up(&sc, 4), *Damax = op_up(&hamax, 4), *Damax2 = op_up(&hamax, 4);
    void *Dc = op_dev(n), *Dct = op_dev(n), *Dc2 = op_dev(n);
    OP_OK(pt_backend_cast_t(op_cpu, f, x, rows, cols, hc, hct, &sc, &hamax, flags));
    OP_OK(pt_backend_cast_t(op_gpu, f, Dx, rows, cols, Dc, Dct, Dsc, Damax, flags));
    OP_OK(pt_backend_cast(op_gpu, f, Dx, Dc2, n, Dsc, Damax2, flags));
    op_down_bytes(gc, Dc, n), op_down_bytes(gct, Dct, n), op_down_bytes(gc2, Dc2, n);
    op_down_bytes(&gamax, Damax, 4), op_down_bytes(&gamax2, Damax2, 4);
    OP_CHECK(!memcmp(gc, hc, n), "the codes differ from the cpu's");
    OP_CHECK(!memcmp(gc, gc2, n), "the codes differ from pt_backend_cast's");
    /* a NaN among the inputs makes each amax a NaN (their payloads may differ) */
    bool same = isnan(hamax) ? isnan(gamax) && isnan(gamax2) : gamax == hamax && gamax2 == hamax;
    OP_CHECK(same, "amax %g, cpu %g, pt_backend_cast %g", (double)gamax, (double)hamax, (double)gamax2);
    op_check_twin("cpu", hc, hct, rows, cols), op_check_twin("tested", gc, gct, rows, cols);
}

/* The batched fp8 steps against the CPU's, bit for bit (states and
 * 1/scale), through a history that sees a zero, a NaN and a clamp. */
void op_fp8_many(const op_case *c)
{
    (void)c;
    enum { N = 3 };
    pt_fp8_recipe r[N] = {{PT_FP8_DELAYED, 4, true, 0}, {PT_FP8_DELAYED, 2, false, 1}, {PT_FP8_DELAYED, 16, true, 0}};
    const pt_format f[N] = {PT_FMT_E4M3, PT_FMT_E5M2, PT_FMT_E4M3};
    pt_fp8_state hs[N], gs[N];
    float hinv[N], hamax[N], ginv[N];
    for (int i = 0; i < N; i++) pt_fp8_state_init(&hs[i]);
    pt_fp8_state *Ds = op_up(hs, sizeof hs);
    float *Dinv = op_dev(sizeof hinv), *Damax = op_dev(sizeof hamax);
    pt_fp8_entry he[N], ge[N];
    for (int i = 0; i < N; i++) {
        double mf = pt_format_info(f[i])->max_finite;
        float ov = pt_format_overflow_threshold(f[i]);
        he[i] = (pt_fp8_entry){r[i], &hs[i], &hinv[i], &hamax[i], mf, ov};
        ge[i] = (pt_fp8_entry){r[i], Ds + i, Dinv + i, Damax + i, mf, ov};
    }
    pt_fp8_entry *De = op_up(ge, sizeof ge);
    const float seq[] = {3.0f, 0.5f, 0.0f, 40.0f, NAN, 1e-30f, 7.0f, 2000.0f, 0.25f};
    for (int t = 0; t < 9; t++) {
        OP_OK(pt_backend_fp8_scale_many(op_cpu, he, N));
        OP_OK(pt_backend_fp8_scale_many(op_gpu, De, N));
        op_down_bytes(ginv, Dinv, sizeof ginv);
        OP_CHECK(!memcmp(ginv, hinv, sizeof ginv), "step %d: 1/scale differs", t);
        for (int i = 0; i < N; i++) hamax[i] = seq[(t + 2 * i) % 9] * (float)(i + 1);
        OP_OK(pt_backend_upload(op_gpu, Damax, hamax, sizeof hamax));
        OP_OK(pt_backend_fp8_record_many(op_cpu, he, N));
        OP_OK(pt_backend_fp8_record_many(op_gpu, De, N));
        op_down_bytes(gs, Ds, sizeof gs);
        OP_CHECK(!memcmp(gs, hs, sizeof gs), "step %d: the states differ", t);
    }
}
