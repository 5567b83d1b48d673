/* The CPU GEMM: OpenBLAS sgemm on operands decoded from their storage
 * format, which is exactly "round the inputs to the format, accumulate in
 * fp32", then the GEMM's tail (bias, rounding to the output format, or the
 * packed codes). Also the fp32 view of an operand and the finishing of a
 * deferred tail, which the convolutions and the fused activations use. */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "../backend_impl.h"
#include "../formats_impl.h"
#include "cpu.h"

/* fp32 view of a GEMM operand: decoded, scaled back, and for tf32 rounded. */
pt_status pt_cpu_operand_f32(pt_backend *be, int slot, const pt_operand *o, size_t n, const float **out)
{
    if (o->fmt == PT_FMT_FP32 && !o->scale_inv) {
        *out = o->data;
        return PT_OK;
    }
    float *buf;
    pt_status st = pt_cpu_scratch(be, slot, n, &buf);
    if (st) return st;
    float inv = o->scale_inv ? *o->scale_inv : 1.0f;
    if (o->fmt == PT_FMT_TF32) {
        const float *x = o->data;
        for (size_t i = 0; i < n; i++) buf[i] = pt_u2f(pt_enc_tf32(x[i], 0)) * inv;
    } else {
        pt_decode_array(o->fmt, o->data, buf, n, inv);
    }
    *out = buf;
    return PT_OK;
}

/* a GEMM's tail on c: the bias rounded to the output format and added in
 * fp32, then the sum rounded to it; pt_cpu_gemm's own, or the one it
 * deferred (pt_gemm.defer_tail) */
static pt_status finish_tail(const pt_gemm_tail *t, float *c, size_t n)
{
    size_t cols = (size_t)t->cols;
    if (t->bias) {
        float *b = malloc(cols * sizeof *b);
        if (!b) return pt_fail(PT_ERR_NOMEM, "cpu gemm: out of memory for a bias of %zu values", cols);
        for (size_t j = 0; j < cols; j++) b[j] = pt_round(t->fmt, t->bias[j], 0);
        for (size_t r = 0; r < n; r += cols)
            for (size_t j = 0; j < cols; j++) c[r + j] += b[j];
        free(b);
    }
    pt_round_array(t->fmt, c, n, 0);
    return PT_OK;
}

/* The input x of a pass, finished by the tail t (NULL: x as it is): in
 * place, or with t->keep_raw in scratch slot `slot`, leaving x raw; a
 * packed tail's values decoded (into c, or with keep_raw into scratch). */
pt_status tail_input(pt_backend *be, const pt_gemm_tail *t, const float *x, size_t n, int slot,
                     const float **out)
{
    *out = x;
    if (!t) return PT_OK;
    float *c = t->c;
    if (t->keep_raw) {
        pt_status st = pt_cpu_scratch(be, slot, n, &c);
        if (st) return st;
        if (!t->packed) memcpy(c, t->c, n * sizeof *c);
    }
    *out = c;
    if (t->packed) {
        pt_decode_array(t->fmt, t->packed, c, n, 1.0f);
        return PT_OK;
    }
    return finish_tail(t, c, n);
}

pt_status pt_cpu_gemm(pt_backend *be, const pt_gemm *g, void *out)
{
    size_t mk = (size_t)g->m * g->k, kn = (size_t)g->k * g->n, mn = (size_t)g->m * g->n;
    const float *a, *b;
    float *c = out;
    pt_status st = pt_cpu_operand_f32(be, 0, &g->a, mk, &a);
    if (!st) st = pt_cpu_operand_f32(be, 1, &g->b, kn, &b);
    if (st) return st;
    int lda = g->a.trans ? g->m : g->k, ldb = g->b.trans ? g->k : g->n;
    CBLAS_TRANSPOSE ta = g->a.trans ? CblasTrans : CblasNoTrans;
    CBLAS_TRANSPOSE tb = g->b.trans ? CblasTrans : CblasNoTrans;
    if (((g->out_fmt == PT_FMT_FP32 && !g->bias) || g->defer_tail) && !g->pack) {
        if (g->m && g->n)
            cblas_sgemm(CblasRowMajor, ta, tb, g->m, g->n, g->k, 1.0f, a, lda, b, ldb, g->beta, c,
                        g->n);
        return PT_OK;
    }
    float *t;
    if ((st = pt_cpu_scratch(be, 2, mn, &t))) return st;
    if (g->m && g->n)
        cblas_sgemm(CblasRowMajor, ta, tb, g->m, g->n, g->k, 1.0f, a, lda, b, ldb, 0.0f, t, g->n);
    if ((st = finish_tail(&(pt_gemm_tail){.c = t, .bias = g->bias, .cols = g->n, .fmt = g->out_fmt}, t, mn)))
        return st;
    if (g->pack) pt_encode_array(g->out_fmt, t, out, mn, 1.0f, 0); /* finished values: exact */
    else if (g->beta == 0.0f) memcpy(c, t, mn * sizeof *c);
    else
        for (size_t i = 0; i < mn; i++) c[i] = t[i] + g->beta * c[i];
    return PT_OK;
}
