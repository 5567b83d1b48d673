/* CPU reference of the training ops: plain loops in fp32 (fp64 where a
 * reduction's error would otherwise depend on length), written to be read
 * and checked, not to be clever. The GEMM is OpenBLAS sgemm on operands
 * decoded from their storage format, which is exactly "round the inputs to
 * the format, accumulate in fp32". */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../backend_impl.h"
#include "../formats_impl.h"
#include "../../common/rng.h"
#include "cpu.h"
#include "../fp8_logic.h"
#include "../optim_gate.h"

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
static pt_status tail_input(pt_backend *be, const pt_gemm_tail *t, const float *x, size_t n, int slot,
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

static pt_status cpu_decode(pt_backend *be, pt_format from, const void *in, float *out, size_t n,
                            const float *scale_inv)
{
    (void)be;
    pt_decode_array(from, in, out, n, scale_inv ? *scale_inv : 1.0f);
    return PT_OK;
}

static pt_status cpu_round(pt_backend *be, pt_format f, float *x, size_t n)
{
    (void)be;
    pt_round_array(f, x, n, 0);
    return PT_OK;
}

#define INV_SQRT2 0.70710678118654752440f
#define INV_SQRT2PI 0.39894228040143267794f

static pt_status cpu_act_fwd(pt_backend *be, pt_act a, const float *x, float *y, size_t n)
{
    (void)be;
    if (a == PT_ACT_RELU)
        for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
    else /* exact GELU, as torch.nn.GELU() */
        for (size_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * INV_SQRT2));
    return PT_OK;
}

/* the activation, then the backend's own cast of its result: the same
 * codes and amax as the two ops one after the other, by construction */
/* out[c][r] = in[r][c] for 1-byte codes: the transposed copy of an fp8 operand */
static void transpose_codes(const uint8_t *in, uint8_t *out, int rows, int cols)
{
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) out[(size_t)c * rows + r] = in[(size_t)r * cols + c];
}

/* a cast, and (out_t not NULL) its codes transposed, y being [n / cols, cols] */
static pt_status cast_twins(pt_backend *be, pt_format f, const float *y, void *out, void *out_t, size_t n, int cols,
                            const float *scale, float *amax, unsigned flags)
{
    pt_status st = be->ops->cast(be, f, y, out, n, scale, amax, flags);
    if (!st && out_t) transpose_codes(out, out_t, (int)(n / (size_t)cols), cols);
    return st;
}

static pt_status cpu_cast_t(pt_backend *be, pt_format to, const float *in, int rows, int cols, void *out,
                            void *out_t, const float *scale, float *amax, unsigned flags)
{
    return cast_twins(be, to, in, out, out_t, (size_t)rows * (size_t)cols, cols, scale, amax, flags);
}

static pt_status cpu_act_fwd_cast(pt_backend *be, const pt_act_fwd_desc *d)
{
    const float *x = d->x;
    float *y = d->y;
    size_t n = d->n;
    const pt_cast_out *c = &d->cast;
    pt_status st = tail_input(be, d->x_tail, x, n, CPU_SLOT_X, &x);
    if (!st && !y) st = pt_cpu_scratch(be, CPU_SLOT_OUT, n, &y);
    if (st) return st;
    cpu_act_fwd(be, d->act, x, y, n);
    return c->to == PT_FMT_FP32 ? PT_OK
                                : cast_twins(be, c->to, y, c->codes, c->codes_t, n, d->cols, c->scale, c->amax,
                                             c->flags);
}

static pt_status cpu_act_bwd(pt_backend *be, pt_act a, const float *x, const float *dy, float *dx,
                             size_t n)
{
    (void)be;
    if (a == PT_ACT_RELU)
        for (size_t i = 0; i < n; i++) dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
    else
        for (size_t i = 0; i < n; i++) {
            float cdf = 0.5f * (1.0f + erff(x[i] * INV_SQRT2));
            float pdf = INV_SQRT2PI * expf(-0.5f * x[i] * x[i]);
            dx[i] = dy[i] * (cdf + x[i] * pdf);
        }
    return PT_OK;
}

static pt_status cpu_add(pt_backend *be, const float *a, const float *b, float *y, size_t n)
{
    (void)be;
    for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i];
    return PT_OK;
}

static pt_status cpu_acc(pt_backend *be, const float *a, float *y, size_t n)
{
    (void)be;
    for (size_t i = 0; i < n; i++) y[i] += a[i];
    return PT_OK;
}

static pt_status cpu_bias_grad(pt_backend *be, const float *dy, float *db, int rows, int n,
                               float beta)
{
    (void)be;
    for (int j = 0; j < n; j++) db[j] = beta == 0.0f ? 0.0f : db[j] * beta; /* 0: db is not read */
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < n; j++) db[j] += dy[(size_t)i * n + j];
    return PT_OK;
}

/* In fmt other than fp32, every intermediate (mean, variance, eps,
 * variance + eps, 1/sqrt, output) is rounded to fmt: a norm computed in
 * that format, as a hand-written norm under model.half() is. */
static pt_status cpu_layernorm_fwd(pt_backend *be, const float *x, const float *gamma,
                                   const float *beta, float eps, pt_format fmt, float *y, float *mean,
                                   float *rstd, int rows, int c)
{
    (void)be;
    bool r = fmt != PT_FMT_FP32 && fmt != PT_FMT_TF32;
#define RND(v) (r ? pt_round(fmt, (v), 0) : (v))
    float e = RND(eps);
    for (int i = 0; i < rows; i++) {
        const float *xi = x + (size_t)i * c;
        double s = 0, s2 = 0;
        for (int j = 0; j < c; j++) s += xi[j];
        float mu = RND((float)(s / c));
        for (int j = 0; j < c; j++) s2 += (double)(xi[j] - mu) * (xi[j] - mu);
        float var = RND((float)(s2 / c));
        float rs = RND(1.0f / sqrtf(RND(var + e)));
        mean[i] = mu;
        rstd[i] = rs;
        for (int j = 0; j < c; j++) y[(size_t)i * c + j] = RND((xi[j] - mu) * rs * gamma[j] + beta[j]);
    }
#undef RND
    return PT_OK;
}

static pt_status cpu_layernorm_bwd(pt_backend *be, const float *x, const float *gamma,
                                   const float *mean, const float *rstd, const float *dy,
                                   float *dx, float *dgamma, float *dbeta, int rows, int c)
{
    (void)be;
    for (int i = 0; i < rows; i++) {
        const float *xi = x + (size_t)i * c, *dyi = dy + (size_t)i * c;
        double sum_g = 0, sum_gx = 0;
        for (int j = 0; j < c; j++) {
            float xhat = (xi[j] - mean[i]) * rstd[i];
            float g = dyi[j] * gamma[j];
            sum_g += g;
            sum_gx += (double)g * xhat;
            dgamma[j] += dyi[j] * xhat;
            dbeta[j] += dyi[j];
        }
        float mg = (float)(sum_g / c), mgx = (float)(sum_gx / c);
        for (int j = 0; j < c; j++) {
            float xhat = (xi[j] - mean[i]) * rstd[i];
            dx[(size_t)i * c + j] = rstd[i] * (dyi[j] * gamma[j] - mg - xhat * mgx);
        }
    }
    return PT_OK;
}

static pt_status cpu_softmax_ce(pt_backend *be, const float *logits, const int32_t *labels,
                                float *loss, float *dlogits, int rows, int c, float grad_scale)
{
    (void)be;
    for (int i = 0; i < rows; i++) {
        const float *z = logits + (size_t)i * c;
        int y = labels[i];
        if (y < 0 || y >= c)
            return pt_fail(PT_ERR_INVALID, "softmax_ce: label %d of row %d outside [0, %d)", y, i, c);
        float mx = z[0];
        for (int j = 1; j < c; j++) mx = z[j] > mx ? z[j] : mx;
        double se = 0;
        for (int j = 0; j < c; j++) se += exp((double)(z[j] - mx));
        float lse = mx + (float)log(se);
        loss[i] = lse - z[y];
        if (dlogits)
            for (int j = 0; j < c; j++) {
                float p = expf(z[j] - lse);
                dlogits[(size_t)i * c + j] = (p - (j == y ? 1.0f : 0.0f)) * grad_scale;
            }
    }
    return PT_OK;
}

static pt_status cpu_mse(pt_backend *be, const float *y, const float *t, float *loss, float *dy,
                         int rows, int c, float grad_scale)
{
    (void)be;
    for (int i = 0; i < rows; i++) {
        double s = 0;
        for (int j = 0; j < c; j++) {
            float d = y[(size_t)i * c + j] - t[(size_t)i * c + j];
            s += (double)d * d;
            if (dy) dy[(size_t)i * c + j] = 2.0f * d / (float)c * grad_scale;
        }
        loss[i] = (float)(s / c);
    }
    return PT_OK;
}

static pt_status cpu_dropout(pt_backend *be, const float *x, float *y, size_t n, float p,
                             uint64_t seed, bool backward)
{
    (void)be;
    (void)backward; /* same mask, same scaling both ways */
    float keep_scale = 1.0f / (1.0f - p);
    uint32_t threshold = (uint32_t)((double)p * 4294967296.0);
    for (size_t i = 0; i < n; i++) {
        uint32_t r = (uint32_t)(pt_mix64(seed + 0x9e3779b97f4a7c15ull * (i + 1)) >> 32);
        y[i] = r >= threshold ? x[i] * keep_scale : 0.0f;
    }
    return PT_OK;
}

pt_status pt_cpu_im2col(pt_backend *be, const pt_conv_shape *s, const float *x, float *cols)
{
    (void)be;
    int kk = s->k * s->k, width = s->c * kk;
    for (int n = 0; n < s->n; n++)
        for (int oy = 0; oy < s->oh; oy++)
            for (int ox = 0; ox < s->ow; ox++) {
                float *row = cols + ((size_t)(n * s->oh + oy) * s->ow + ox) * width;
                for (int c = 0; c < s->c; c++)
                    for (int ky = 0; ky < s->k; ky++)
                        for (int kx = 0; kx < s->k; kx++) {
                            int iy = oy * s->stride - s->pad + ky, ix = ox * s->stride - s->pad + kx;
                            float v = 0.0f;
                            if (iy >= 0 && iy < s->h && ix >= 0 && ix < s->w)
                                v = x[(((size_t)n * s->c + c) * s->h + iy) * s->w + ix];
                            row[c * kk + ky * s->k + kx] = v;
                        }
            }
    return PT_OK;
}

pt_status pt_cpu_col2im(pt_backend *be, const pt_conv_shape *s, const float *cols, float *dx)
{
    (void)be;
    int kk = s->k * s->k, width = s->c * kk;
    for (int n = 0; n < s->n; n++)
        for (int oy = 0; oy < s->oh; oy++)
            for (int ox = 0; ox < s->ow; ox++) {
                const float *row = cols + ((size_t)(n * s->oh + oy) * s->ow + ox) * width;
                for (int c = 0; c < s->c; c++)
                    for (int ky = 0; ky < s->k; ky++)
                        for (int kx = 0; kx < s->k; kx++) {
                            int iy = oy * s->stride - s->pad + ky, ix = ox * s->stride - s->pad + kx;
                            if (iy >= 0 && iy < s->h && ix >= 0 && ix < s->w)
                                dx[(((size_t)n * s->c + c) * s->h + iy) * s->w + ix] +=
                                    row[c * kk + ky * s->k + kx];
                        }
            }
    return PT_OK;
}

pt_status pt_cpu_rows_to_nchw(pt_backend *be, const float *rows, float *nchw, int n, int c,
                                  int p, bool backward)
{
    (void)be;
    for (int b = 0; b < n; b++)
        for (int q = 0; q < p; q++)
            for (int ch = 0; ch < c; ch++) {
                size_t r = ((size_t)b * p + q) * c + ch, t = ((size_t)b * c + ch) * p + q;
                if (backward) ((float *)rows)[r] = nchw[t];
                else nchw[t] = rows[r];
            }
    return PT_OK;
}

static pt_status cpu_pool_fwd(pt_backend *be, bool max, const pt_conv_shape *s, const float *x,
                              float *y, int32_t *argmax)
{
    (void)be;
    for (int n = 0; n < s->n; n++)
        for (int c = 0; c < s->c; c++) {
            const float *xc = x + ((size_t)n * s->c + c) * s->h * s->w;
            for (int oy = 0; oy < s->oh; oy++)
                for (int ox = 0; ox < s->ow; ox++) {
                    float best = -INFINITY, sum = 0.0f;
                    int arg = -1, cnt = 0;
                    for (int ky = 0; ky < s->k; ky++)
                        for (int kx = 0; kx < s->k; kx++) {
                            int iy = oy * s->stride - s->pad + ky, ix = ox * s->stride - s->pad + kx;
                            if (iy < 0 || iy >= s->h || ix < 0 || ix >= s->w) continue;
                            float v = xc[iy * s->w + ix];
                            if (arg < 0 || v > best || isnan(v)) best = v, arg = iy * s->w + ix;
                            sum += v;
                            cnt++;
                        }
                    size_t o = (((size_t)n * s->c + c) * s->oh + oy) * s->ow + ox;
                    if (max) {
                        y[o] = best;
                        argmax[o] = arg;
                    } else {
                        y[o] = cnt ? sum / (float)(s->k * s->k) : 0.0f;
                    }
                }
        }
    return PT_OK;
}

static pt_status cpu_pool_bwd(pt_backend *be, bool max, const pt_conv_shape *s, const float *x, const float *y,
                              const float *dy, const int32_t *argmax, float *dx)
{
    (void)be, (void)x, (void)y;
    for (int n = 0; n < s->n; n++)
        for (int c = 0; c < s->c; c++) {
            float *dxc = dx + ((size_t)n * s->c + c) * s->h * s->w;
            for (int oy = 0; oy < s->oh; oy++)
                for (int ox = 0; ox < s->ow; ox++) {
                    size_t o = (((size_t)n * s->c + c) * s->oh + oy) * s->ow + ox;
                    if (max) {
                        if (argmax[o] >= 0) dxc[argmax[o]] += dy[o];
                        continue;
                    }
                    float g = dy[o] / (float)(s->k * s->k);
                    for (int ky = 0; ky < s->k; ky++)
                        for (int kx = 0; kx < s->k; kx++) {
                            int iy = oy * s->stride - s->pad + ky, ix = ox * s->stride - s->pad + kx;
                            if (iy >= 0 && iy < s->h && ix >= 0 && ix < s->w) dxc[iy * s->w + ix] += g;
                        }
                }
        }
    return PT_OK;
}

static pt_status cpu_unscale_check(pt_backend *be, float *g, size_t n, float inv_scale, bool write,
                                   int32_t *flags, double *sumsq)
{
    (void)be;
    double s = 0;
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        float v = g[i] * inv_scale;
        if (write) g[i] = v;
        bad |= !isfinite(v);
        s += (double)v * v;
    }
    if (bad) flags[0] = 1;
    *sumsq = s;
    return PT_OK;
}

static pt_status cpu_sum(pt_backend *be, const float *x, size_t n, double *acc)
{
    (void)be;
    for (size_t i = 0; i < n; i++) *acc += x[i];
    return PT_OK;
}

static pt_status cpu_scale(pt_backend *be, float *x, size_t n, float s)
{
    (void)be;
    for (size_t i = 0; i < n; i++) x[i] *= s;
    return PT_OK;
}

static pt_status cpu_adamw(pt_backend *be, const pt_adamw *h, const pt_optim_gate *gate, float *w,
                           const float *g, float *m, float *v, size_t n)
{
    (void)be;
    float f, u;
    bool clip;
    if (!pt_gate_open(gate, &f, &clip, &u)) return PT_OK;
    /* torch.optim.AdamW (non-fused): decoupled decay, then the Adam step
     * with bias corrections folded into step size and denominator */
    float bc1 = 1.0f - powf(h->beta1, (float)h->step);
    float bc2 = 1.0f - powf(h->beta2, (float)h->step);
    float step_size = h->lr / bc1, bc2_sqrt = sqrtf(bc2);
    float decay = 1.0f - h->lr * h->weight_decay;
    for (size_t i = 0; i < n; i++) {
        float gi = pt_gate_grad(g[i], u, clip, f);
        w[i] *= decay;
        m[i] = h->beta1 * m[i] + (1.0f - h->beta1) * gi;
        v[i] = h->beta2 * v[i] + (1.0f - h->beta2) * gi * gi;
        float denom = sqrtf(v[i]) / bc2_sqrt + h->eps;
        w[i] -= step_size * m[i] / denom;
    }
    if (h->copy) pt_encode_array(h->copy_fmt, w, h->copy, n, 1.0f, 0);
    return PT_OK;
}

static pt_status cpu_sgd(pt_backend *be, float lr, float momentum, float weight_decay, const pt_optim_gate *gate,
                         float *w, const float *g, float *buf, size_t n)
{
    (void)be;
    float f, u;
    bool clip;
    if (!pt_gate_open(gate, &f, &clip, &u)) return PT_OK;
    for (size_t i = 0; i < n; i++) {
        float d = pt_gate_grad(g[i], u, clip, f) + weight_decay * w[i];
        buf[i] = momentum * buf[i] + d;
        w[i] -= lr * (momentum != 0.0f ? buf[i] : d);
    }
    return PT_OK;
}

static pt_status cpu_gather_rows(pt_backend *be, const void *src, size_t row_bytes, const int32_t *idx,
                                 int rows, void *dst)
{
    (void)be;
    for (int r = 0; r < rows; r++)
        memcpy((char *)dst + (size_t)r * row_bytes, (const char *)src + (size_t)idx[r] * row_bytes, row_bytes);
    return PT_OK;
}

static pt_status cpu_fp8_scale(pt_backend *be, const pt_fp8_recipe *r, pt_format f, pt_fp8_state *s,
                               const float *amax_now, float *scale_inv, float *amax_reset)
{
    (void)be;
    *scale_inv = 1.0f / pt_fp8_scale_logic(s, r, pt_format_info(f)->max_finite, amax_now ? *amax_now : 0.0f);
    if (amax_reset) *amax_reset = 0.0f;
    return PT_OK;
}

static pt_status cpu_fp8_record(pt_backend *be, const pt_fp8_recipe *r, pt_format f, pt_fp8_state *s,
                                const float *amax)
{
    (void)be;
    pt_fp8_record_logic(s, r, pt_format_overflow_threshold(f), *amax);
    return PT_OK;
}

static pt_status cpu_fp8_scale_many(pt_backend *be, const pt_fp8_entry *e, int n)
{
    (void)be;
    for (int i = 0; i < n; i++) {
        *e[i].scale_inv = 1.0f / pt_fp8_scale_logic(e[i].state, &e[i].recipe, e[i].max_finite, 0.0f);
        *e[i].amax = 0.0f;
    }
    return PT_OK;
}

static pt_status cpu_fp8_record_many(pt_backend *be, const pt_fp8_entry *e, int n)
{
    (void)be;
    for (int i = 0; i < n; i++) pt_fp8_record_logic(e[i].state, &e[i].recipe, e[i].overflow, *e[i].amax);
    return PT_OK;
}

/* the two passes in sequence: the same values as the activation's backward
 * followed by the bias gradient of its result */
static pt_status cpu_act_bwd_bias(pt_backend *be, const pt_act_bwd_desc *d)
{
    const float *x = d->x, *dy = d->dy;
    float *dx = d->dx;
    size_t n = d->n;
    int cols = d->cols;
    const pt_cast_out *c = &d->cast;
    pt_status st = tail_input(be, d->x_tail, x, n, CPU_SLOT_X, &x);
    if (!st) st = tail_input(be, d->dy_tail, dy, n, CPU_SLOT_DY, &dy);
    if (!st && !dx) st = pt_cpu_scratch(be, CPU_SLOT_OUT, n, &dx);
    if (st) return st;
    cpu_act_bwd(be, d->act, x, dy, dx, n);
    if (c->to != PT_FMT_FP32 &&
        (st = cast_twins(be, c->to, dx, c->codes, c->codes_t, n, cols, c->scale, c->amax, c->flags)))
        return st;
    return d->db ? cpu_bias_grad(be, dx, d->db, (int)(n / (size_t)cols), cols, d->db_beta) : PT_OK;
}

const pt_nn_ops pt_cpu_nn_ops = {
    .gemm = pt_cpu_gemm,
    .decode = cpu_decode,
    .round = cpu_round,
    .act_fwd = cpu_act_fwd,
    .act_bwd = cpu_act_bwd,
    .act_fwd_cast = cpu_act_fwd_cast,
    .act_bwd_bias = cpu_act_bwd_bias,
    .cast_t = cpu_cast_t,
    .add = cpu_add,
    .acc = cpu_acc,
    .bias_grad = cpu_bias_grad,
    .layernorm_fwd = cpu_layernorm_fwd,
    .layernorm_bwd = cpu_layernorm_bwd,
    .softmax_ce = cpu_softmax_ce,
    .mse = cpu_mse,
    .dropout = cpu_dropout,
    .gather_rows = cpu_gather_rows,
    .fp8_scale = cpu_fp8_scale,
    .fp8_record = cpu_fp8_record,
    .fp8_scale_many = cpu_fp8_scale_many,
    .fp8_record_many = cpu_fp8_record_many,
    .im2col = pt_cpu_im2col,
    .col2im = pt_cpu_col2im,
    .conv_fwd = pt_cpu_conv_fwd,
    .conv_bwd_data = pt_cpu_conv_bwd_data,
    .conv_bwd_filter = pt_cpu_conv_bwd_filter,
    .rows_to_nchw = pt_cpu_rows_to_nchw,
    .pool_fwd = cpu_pool_fwd,
    .pool_bwd = cpu_pool_bwd,
    .unscale_check = cpu_unscale_check,
    .scale = cpu_scale,
    .sum = cpu_sum,
    .adamw = cpu_adamw,
    .sgd = cpu_sgd,
};
