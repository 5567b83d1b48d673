/* The training ops' argument checks and dispatch (ops.h), shared by every
 * backend, so that a bad call fails the same way on cpu and cuda. */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "backend_impl.h"

bool pt_backend_fp8_twins(const pt_backend *be) { return be->fp8_twins; }

pt_status pt_backend_gemm(pt_backend *be, const pt_gemm *g, void *c)
{
    if (g->m < 0 || g->n < 0 || g->k < 0)
        return pt_fail(PT_ERR_INVALID, "gemm: negative shape %dx%dx%d", g->m, g->n, g->k);
    if ((unsigned)g->a.fmt >= PT_FMT_COUNT || (unsigned)g->b.fmt >= PT_FMT_COUNT || (unsigned)g->out_fmt >= PT_FMT_COUNT)
        return pt_fail(PT_ERR_INVALID, "gemm: formats %d x %d -> %d: each must be a pt_format", (int)g->a.fmt,
                       (int)g->b.fmt, (int)g->out_fmt);
    if (g->defer_tail && g->beta != 0.0f)
        return pt_fail(PT_ERR_INVALID, "gemm: a deferred tail needs beta 0 (got %g)", (double)g->beta);
    if (g->pack && (g->beta != 0.0f || g->defer_tail || (g->out_fmt != PT_FMT_BF16 && g->out_fmt != PT_FMT_FP16)))
        return pt_fail(PT_ERR_INVALID, "gemm: a packed output is bf16 or fp16, with beta 0 and its tail made (got "
                                       "%s, beta %g%s)",
                       pt_format_info(g->out_fmt) ? pt_format_info(g->out_fmt)->name : "?", (double)g->beta,
                       g->defer_tail ? ", deferred" : "");
    if (!be->ops->nn || !be->ops->nn->gemm)
        return pt_fail(PT_ERR_UNSUPPORTED, "%s: operation 'gemm' is not available on this backend", be->name);
    char name[48] = "gemm";
    if (be->prof)
        snprintf(name, sizeof name, "gemm %s%s%s", pt_format_info(g->a.fmt)->name,
                 g->a.fmt != g->b.fmt ? "x" : "", g->a.fmt != g->b.fmt ? pt_format_info(g->b.fmt)->name : "");
    PT_PROFILED(be, name, be->ops->nn->gemm(be, g, c));
}
pt_status pt_backend_round(pt_backend *be, pt_format f, float *x, size_t n)
{
    PT_NN_CALL(be, round, f, x, n);
}
pt_status pt_backend_act_fwd(pt_backend *be, pt_act a, const float *x, float *y, size_t n)
{
    PT_NN_CALL(be, act_fwd, a, x, y, n);
}
pt_status pt_backend_act_bwd(pt_backend *be, pt_act a, const float *x, const float *dy, float *dx,
                             size_t n)
{
    PT_NN_CALL(be, act_bwd, a, x, dy, dx, n);
}
static bool low_format(pt_format f)
{
    return f == PT_FMT_BF16 || f == PT_FMT_FP16 || f == PT_FMT_E4M3 || f == PT_FMT_E5M2;
}
static pt_status tail_check(const char *op, const pt_gemm_tail *t, const float *x, size_t n)
{
    if (t && (t->c != x || t->cols <= 0 || n % (size_t)t->cols || (unsigned)t->fmt >= PT_FMT_COUNT))
        return pt_fail(PT_ERR_INVALID, "%s: a GEMM's tail must be on the op's input, in rows of its bias", op);
    if (t && t->packed && (t->bias || (t->fmt != PT_FMT_BF16 && t->fmt != PT_FMT_FP16)))
        return pt_fail(PT_ERR_INVALID, "%s: a packed tail holds finished bf16 or fp16 values (no bias left)", op);
    return PT_OK;
}

/* a transposed copy of the codes: fp8 only, [n / cols, cols] */
static pt_status twin_check(const char *op, pt_format f, const void *codes_t, size_t n, int cols)
{
    if (!codes_t) return PT_OK;
    if (f != PT_FMT_E4M3 && f != PT_FMT_E5M2)
        return pt_fail(PT_ERR_INVALID, "%s: a transposed copy of the codes is for fp8 (1-byte) formats, not %s", op,
                       pt_format_info(f) ? pt_format_info(f)->name : "?");
    if (cols <= 0 || n % (size_t)cols || n / (size_t)cols > INT32_MAX)
        return pt_fail(PT_ERR_INVALID, "%s: %zu values are not rows of %d columns", op, n, cols);
    return PT_OK;
}

pt_status pt_backend_act_fwd_cast(pt_backend *be, const pt_act_fwd_desc *d)
{
    pt_format f = d->cast.to;
    if (f != PT_FMT_FP32 && !low_format(f))
        return pt_fail(PT_ERR_INVALID, "act_fwd_cast: to %s (fp32: no cast; bf16, fp16 or fp8)",
                       pt_format_info(f) ? pt_format_info(f)->name : "?");
    if (!d->y && f == PT_FMT_FP32) return pt_fail(PT_ERR_INVALID, "act_fwd_cast: no output (y NULL and no cast)");
    pt_status st = tail_check("act_fwd_cast", d->x_tail, d->x, d->n);
    if (!st) st = twin_check("act_fwd_cast", f, d->cast.codes_t, d->n, d->cols);
    if (st) return st;
    PT_NN_CALL(be, act_fwd_cast, d);
}
pt_status pt_backend_act_bwd_bias(pt_backend *be, const pt_act_bwd_desc *d)
{
    pt_format f = d->cast.to;
    size_t n = d->n;
    int cols = d->cols;
    if (f != PT_FMT_FP32 && !low_format(f))
        return pt_fail(PT_ERR_INVALID, "act_bwd_bias: to %s (fp32: no cast; bf16, fp16 or fp8)",
                       pt_format_info(f) ? pt_format_info(f)->name : "?");
    if (cols <= 0 || n % (size_t)cols)
        return pt_fail(PT_ERR_INVALID, "act_bwd_bias: %zu values are not rows of %d columns", n, cols);
    if (!d->dx && f == PT_FMT_FP32) return pt_fail(PT_ERR_INVALID, "act_bwd_bias: no output (dx NULL and no cast)");
    if (d->dx == d->dy && d->dy_tail && d->dy_tail->keep_raw)
        return pt_fail(PT_ERR_INVALID, "act_bwd_bias: dx is dy, which its tail keeps raw");
    pt_status st = tail_check("act_bwd_bias", d->x_tail, d->x, n);
    if (!st) st = tail_check("act_bwd_bias", d->dy_tail, d->dy, n);
    if (!st) st = twin_check("act_bwd_bias", f, d->cast.codes_t, n, cols);
    if (st) return st;
    PT_NN_CALL(be, act_bwd_bias, d);
}
pt_status pt_backend_add(pt_backend *be, const float *a, const float *b, float *y, size_t n)
{
    PT_NN_CALL(be, add, a, b, y, n);
}
pt_status pt_backend_acc(pt_backend *be, const float *a, float *y, size_t n)
{
    PT_NN_CALL(be, acc, a, y, n);
}
pt_status pt_backend_bias_grad(pt_backend *be, const float *dy, float *db, int rows, int n,
                               float beta)
{
    PT_NN_CALL(be, bias_grad, dy, db, rows, n, beta);
}
pt_status pt_backend_layernorm_fwd(pt_backend *be, const float *x, const float *gamma,
                                   const float *beta, float eps, pt_format fmt, float *y, float *mean,
                                   float *rstd, int rows, int c)
{
    PT_NN_CALL(be, layernorm_fwd, x, gamma, beta, eps, fmt, y, mean, rstd, rows, c);
}
pt_status pt_backend_layernorm_bwd(pt_backend *be, const float *x, const float *gamma,
                                   const float *mean, const float *rstd, const float *dy,
                                   float *dx, float *dgamma, float *dbeta, int rows, int c)
{
    PT_NN_CALL(be, layernorm_bwd, x, gamma, mean, rstd, dy, dx, dgamma, dbeta, rows, c);
}
pt_status pt_backend_rmsnorm_fwd(pt_backend *be, const float *x, const float *gamma, float eps, pt_format fmt,
                                 float *y, float *rstd, int rows, int c)
{
    PT_NN_CALL(be, rmsnorm_fwd, x, gamma, eps, fmt, y, rstd, rows, c);
}
pt_status pt_backend_rmsnorm_bwd(pt_backend *be, const float *x, const float *gamma, const float *rstd,
                                 const float *dy, float *dx, float *dgamma, int rows, int c)
{
    PT_NN_CALL(be, rmsnorm_bwd, x, gamma, rstd, dy, dx, dgamma, rows, c);
}
pt_status pt_backend_embedding_fwd(pt_backend *be, const float *table, const float *ids, float *y, int n, int d,
                                   int vocab)
{
    if (n < 0 || d < 1 || vocab < 1)
        return pt_fail(PT_ERR_INVALID, "embedding_fwd: %d tokens of width %d, vocabulary %d", n, d, vocab);
    PT_NN_CALL(be, embedding_fwd, table, ids, y, n, d, vocab);
}
pt_status pt_backend_embedding_bwd(pt_backend *be, const float *ids, const float *dy, float *dtable, int n, int d,
                                   int vocab)
{
    if (n < 0 || d < 1 || vocab < 1)
        return pt_fail(PT_ERR_INVALID, "embedding_bwd: %d tokens of width %d, vocabulary %d", n, d, vocab);
    PT_NN_CALL(be, embedding_bwd, ids, dy, dtable, n, d, vocab);
}
pt_status pt_backend_heads(pt_backend *be, const float *src, float *dst, int rows, int t, int g, int h, int hd,
                           pt_pass pass)
{
    if (rows < 0 || t < 1 || g < 1 || h < 1 || hd < 1)
        return pt_fail(PT_ERR_INVALID, "heads: shape [%d, %d, %d, %d, %d]", rows, t, g, h, hd);
    PT_NN_CALL(be, heads, src, dst, rows, t, g, h, hd, pass == PT_PASS_BWD);
}
pt_status pt_backend_softmax(pt_backend *be, const float *x, float *y, int rows, int c, bool causal, pt_format fmt)
{
    if (rows < 0 || c < 1) return pt_fail(PT_ERR_INVALID, "softmax: %d rows of %d", rows, c);
    if (fmt != PT_FMT_FP32 && fmt != PT_FMT_BF16 && fmt != PT_FMT_FP16)
        return pt_fail(PT_ERR_INVALID, "softmax: in %s (fp32, bf16 or fp16)",
                       pt_format_info(fmt) ? pt_format_info(fmt)->name : "?");
    PT_NN_CALL(be, softmax, x, y, rows, c, causal, fmt);
}
pt_status pt_backend_softmax_bwd(pt_backend *be, const float *y, const float *dy, float *dx, int rows, int c)
{
    if (rows < 0 || c < 1) return pt_fail(PT_ERR_INVALID, "softmax_bwd: %d rows of %d", rows, c);
    PT_NN_CALL(be, softmax_bwd, y, dy, dx, rows, c);
}
pt_status pt_backend_softmax_ce(pt_backend *be, const float *logits, const int32_t *labels,
                                float *loss, float *dlogits, int rows, int c, float grad_scale)
{
    PT_NN_CALL(be, softmax_ce, logits, labels, loss, dlogits, rows, c, grad_scale);
}
pt_status pt_backend_mse(pt_backend *be, const float *y, const float *t, float *loss, float *dy,
                         int rows, int c, float grad_scale)
{
    PT_NN_CALL(be, mse, y, t, loss, dy, rows, c, grad_scale);
}
pt_status pt_backend_dropout(pt_backend *be, const float *x, float *y, size_t n, float p,
                             uint64_t seed, pt_pass pass)
{
    if (!(p >= 0.0f && p < 1.0f))
        return pt_fail(PT_ERR_INVALID, "dropout: p = %g must be in [0, 1)", (double)p);
    PT_NN_CALL(be, dropout, x, y, n, p, seed, pass == PT_PASS_BWD);
}
pt_status pt_backend_fp8_scale(pt_backend *be, const pt_fp8_recipe *r, pt_format f, pt_fp8_state *s,
                               const float *amax_now, float *scale_inv, float *amax_reset)
{
    if (f != PT_FMT_E4M3 && f != PT_FMT_E5M2) return pt_fail(PT_ERR_INVALID, "fp8_scale: %s is not an fp8 format",
                                                             pt_format_info(f) ? pt_format_info(f)->name : "?");
    PT_NN_CALL(be, fp8_scale, r, f, s, amax_now, scale_inv, amax_reset);
}
pt_status pt_backend_fp8_record(pt_backend *be, const pt_fp8_recipe *r, pt_format f, pt_fp8_state *s,
                                const float *amax)
{
    if (f != PT_FMT_E4M3 && f != PT_FMT_E5M2) return pt_fail(PT_ERR_INVALID, "fp8_record: %s is not an fp8 format",
                                                             pt_format_info(f) ? pt_format_info(f)->name : "?");
    PT_NN_CALL(be, fp8_record, r, f, s, amax);
}
pt_status pt_backend_fp8_scale_many(pt_backend *be, const pt_fp8_entry *e, int n)
{
    if (n <= 0) return PT_OK;
    PT_NN_CALL(be, fp8_scale_many, e, n);
}
pt_status pt_backend_fp8_record_many(pt_backend *be, const pt_fp8_entry *e, int n)
{
    if (n <= 0) return PT_OK;
    PT_NN_CALL(be, fp8_record_many, e, n);
}
pt_status pt_backend_gather_rows(pt_backend *be, const void *src, size_t row_bytes,
                                 const int32_t *idx, int rows, void *dst)
{
    if (row_bytes % 4 || rows < 0)
        return pt_fail(PT_ERR_INVALID, "gather_rows: rows of %zu bytes (a multiple of 4 is needed), %d rows",
                       row_bytes, rows);
    if (!rows || !row_bytes) return PT_OK;
    PT_NN_CALL(be, gather_rows, src, row_bytes, idx, rows, dst);
}
static pt_status conv_check(const pt_backend *be, const char *what, const pt_conv_shape *s, int o,
                            const pt_operand *a, const pt_operand *b)
{
    if (s->n < 0 || s->c < 1 || s->k < 1 || s->stride < 1 || s->pad < 0 || s->oh < 0 || s->ow < 0 || o < 1)
        return pt_fail(PT_ERR_INVALID, "%s: bad shape (n %d, c %d, k %d, stride %d, pad %d, %d output channels)",
                       what, s->n, s->c, s->k, s->stride, s->pad, o);
    if (!pt_backend_supports(be, PT_OP_CONV, a->fmt) || !pt_backend_supports(be, PT_OP_CONV, b->fmt))
        return pt_fail(PT_ERR_UNSUPPORTED, "%s: %s x %s operands are not available on %s (fp8 convolutions run as "
                       "im2col GEMMs)", what, pt_format_info(a->fmt)->name, pt_format_info(b->fmt)->name, be->name);
    return PT_OK;
}

pt_status pt_backend_conv_fwd(pt_backend *be, const pt_conv_shape *s, int o, const pt_operand *x, const pt_operand *w,
                              const float *bias, pt_format out_fmt, float *y)
{
    pt_status st = conv_check(be, "conv_fwd", s, o, x, w);
    if (st) return st;
    PT_NN_CALL(be, conv_fwd, s, o, x, w, bias, out_fmt, y);
}
pt_status pt_backend_conv_bwd_data(pt_backend *be, const pt_conv_shape *s, int o, const pt_operand *dy,
                                   const pt_operand *w, pt_format out_fmt, float *dx)
{
    pt_status st = conv_check(be, "conv_bwd_data", s, o, dy, w);
    if (st) return st;
    PT_NN_CALL(be, conv_bwd_data, s, o, dy, w, out_fmt, dx);
}
pt_status pt_backend_conv_bwd_filter(pt_backend *be, const pt_conv_shape *s, int o, const pt_operand *dy,
                                     const pt_operand *x, float beta, float *dw)
{
    pt_status st = conv_check(be, "conv_bwd_filter", s, o, dy, x);
    if (st) return st;
    PT_NN_CALL(be, conv_bwd_filter, s, o, dy, x, beta, dw);
}
int pt_cudnn_setting(void)
{
    const char *env = getenv("PRECTUNE_CUDNN");
    return env && !strcmp(env, "0") ? 0 : env && !strcmp(env, "1") ? 1 : -1;
}

bool pt_conv_runs_direct(bool supported, double fwd_flops)
{
    int set = pt_cudnn_setting();
    return supported && set != 0 && (set == 1 || fwd_flops >= 1e9);
}

pt_status pt_backend_im2col(pt_backend *be, const pt_conv_shape *s, const float *x, float *cols)
{
    PT_NN_CALL(be, im2col, s, x, cols);
}
pt_status pt_backend_col2im(pt_backend *be, const pt_conv_shape *s, const float *cols, float *dx)
{
    PT_NN_CALL(be, col2im, s, cols, dx);
}
pt_status pt_backend_rows_to_nchw(pt_backend *be, const float *rows, float *nchw, int n, int c,
                                  int p, pt_pass pass)
{
    PT_NN_CALL(be, rows_to_nchw, rows, nchw, n, c, p, pass == PT_PASS_BWD);
}
pt_status pt_backend_pool_fwd(pt_backend *be, pt_pool pool, const pt_conv_shape *s, const float *x,
                              float *y, int32_t *argmax)
{
    PT_NN_CALL(be, pool_fwd, pool == PT_POOL_MAX, s, x, y, argmax);
}
pt_status pt_backend_pool_bwd(pt_backend *be, pt_pool pool, const pt_conv_shape *s, const float *x, const float *y,
                              const float *dy, const int32_t *argmax, float *dx)
{
    PT_NN_CALL(be, pool_bwd, pool == PT_POOL_MAX, s, x, y, dy, argmax, dx);
}
pt_status pt_backend_unscale_check(pt_backend *be, float *g, size_t n, float inv_scale, pt_unscale mode,
                                   int32_t *flags, double *sumsq)
{
    PT_NN_CALL(be, unscale_check, g, n, inv_scale, mode == PT_UNSCALE_WRITE && inv_scale != 1.0f, flags, sumsq);
}
pt_status pt_backend_sum(pt_backend *be, const float *x, size_t n, double *acc)
{
    PT_NN_CALL(be, sum, x, n, acc);
}
pt_status pt_backend_scale(pt_backend *be, float *x, size_t n, float s)
{
    PT_NN_CALL(be, scale, x, n, s);
}
pt_status pt_backend_adamw(pt_backend *be, const pt_adamw *h, const pt_optim_gate *gate, float *w,
                           const float *g, float *m, float *v, size_t n)
{
    if (h->copy && h->copy_fmt != PT_FMT_BF16 && h->copy_fmt != PT_FMT_FP16)
        return pt_fail(PT_ERR_INVALID, "adamw: the weights' copy is in bf16 or fp16, not %s",
                       pt_format_info(h->copy_fmt) ? pt_format_info(h->copy_fmt)->name : "?");
    PT_NN_CALL(be, adamw, h, gate, w, g, m, v, n);
}
pt_status pt_backend_sgd(pt_backend *be, float lr, float momentum, float weight_decay,
                         const pt_optim_gate *gate, float *w, const float *g, float *buf, size_t n)
{
    PT_NN_CALL(be, sgd, lr, momentum, weight_decay, gate, w, g, buf, n);
}
