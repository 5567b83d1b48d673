/* Causal multi-head self-attention, the parts between its two linear
 * layers (NAME.qkv writes q, k, v as [T, 3 x width]; NAME.proj reads the
 * heads' outputs as [T, width]):
 *   attention_qk:      S = (Q / sqrt(head_dim)) K^T per (sample, head), a GEMM
 *                      layer: x is Q, w is K, dy is dS; fwd, dgrad (dQ = dS K)
 *                      and wgrad (dK = dS^T Q) formats as a linear layer's
 *   attention_softmax: P = the causal softmax of each row of S, in fp32 unless
 *                      the policy names the layer in bf16 or fp16 (l->fmt.fwd)
 *   attention_pv:      O = P V per (sample, head), a GEMM layer: x is P, w is
 *                      V, dy is dO; dgrad dP = dO V^T, wgrad dV = P^T dO.
 * The 1/sqrt(head_dim) is folded into Q before its cast (exact where
 * head_dim is a power of 4), so the scores are rounded once. q, k and v
 * are laid out by head (pt_backend_heads) into fp32 buffers of the layer's
 * own, each head's products then plain GEMMs on slices of one cast per
 * operand (one fp8 scale a tensor); a backward operand in another format
 * than the forward's is cast from those fp32 values. The scores above the
 * diagonal are computed and kept (the softmax ignores them): a GEMM's
 * output as it is. The gradients of q, k and v are activation gradients,
 * rounded to each backward GEMM's output format. */
#include <math.h>

#include "../net.h"

typedef struct dims {
    int b, t, h, hd, d;
    size_t nd, ns; /* elements of q (or k, v): b*t*d; of the scores: b*h*t*t */
} dims;

static dims dims_of(const pt_net_layer *l, int rows)
{
    const pt_layer_spec *s = l->spec;
    dims m = {.b = rows, .h = s->heads};
    if (s->type == PT_LAYER_ATTN_QK) m.t = s->shape[1], m.d = l->in_cols / 3;
    else m.t = s->shape[0], m.d = s->shape[1];
    m.hd = m.d / m.h;
    m.nd = (size_t)rows * (size_t)m.t * (size_t)m.d;
    m.ns = (size_t)rows * (size_t)m.h * (size_t)m.t * (size_t)m.t;
    return m;
}

/* op moved on by `off` values of its storage */
static pt_operand at(pt_operand op, size_t off)
{
    size_t bytes = op.fmt == PT_FMT_FP32 || op.fmt == PT_FMT_TF32 ? 4 : (size_t)pt_format_info(op.fmt)->storage_bytes;
    op.data = (const char *)op.data + off * bytes;
    op.data_t = NULL;
    return op;
}

/* count GEMMs c_i[m, nn] = a_i b_i, a_i at a + i*sa, b_i at b + i*sb, c_i at c + i*sc */
static pt_status batched(pt_net *n, int count, int m, int nn, int k, pt_operand a, size_t sa, pt_operand b, size_t sb,
                         pt_format out, float *c, size_t sc)
{
    pt_status st = PT_OK;
    for (int i = 0; i < count && !st; i++) {
        pt_gemm g = {.m = m, .n = nn, .k = k, .a = at(a, (size_t)i * sa), .b = at(b, (size_t)i * sb), .out_fmt = out};
        st = pt_backend_gemm(n->be, &g, c + (size_t)i * sc);
    }
    return st;
}

pt_status pt_attn_qk_forward(pt_net *n, pt_net_layer *l, int rows)
{
    dims m = dims_of(l, rows);
    float *q = l->heads, *k = l->heads + m.nd;
    pt_status st = pt_backend_heads(n->be, pt_layer_input(n, l, 0), l->heads, rows, m.t, 3, m.h, m.hd, PT_PASS_FWD);
    if (!st) st = pt_backend_scale(n->be, q, m.nd, 1.0f / sqrtf((float)m.hd));
    if (!st) st = pt_net_operand(n, l, PT_OPND_X, q, m.nd, l->fmt.fwd, l->saved, false, &l->x_op);
    if (!st) st = pt_net_operand(n, l, PT_OPND_W, k, m.nd, l->fmt.fwd, l->wbuf, true, &l->w_op);
    size_t th = (size_t)m.t * m.hd, tt = (size_t)m.t * m.t;
    if (!st)
        st = batched(n, rows * m.h, m.t, m.t, m.hd, l->x_op, th, l->w_op, th, pt_gemm_out_format(l->fmt.fwd), l->y, tt);
    return st;
}

pt_status pt_attn_qk_backward(pt_net *n, pt_net_layer *l, int rows)
{
    dims m = dims_of(l, rows);
    pt_layer_formats f = l->fmt;
    float *q = l->heads, *k = l->heads + m.nd, *dq = l->dheads, *dk = l->dheads + m.nd;
    size_t th = (size_t)m.t * m.hd, tt = (size_t)m.t * m.t;
    int count = rows * m.h;
    pt_operand g, x, gd, wd;
    /* wgrad: dK = dS^T (Q / sqrt(head_dim)) */
    pt_status st = pt_net_operand(n, l, PT_OPND_DY, l->dy, m.ns, f.wgrad, l->gbuf, true, &g);
    if (st) return st;
    if (pt_gemm_reuses_forward(f.fwd, f.wgrad)) x = l->x_op;
    else if ((st = pt_net_operand(n, l, PT_OPND_X, q, m.nd, f.wgrad, l->xbuf, false, &x))) return st;
    x.trans = false;
    if ((st = batched(n, count, m.t, m.hd, m.t, g, tt, x, th, pt_gemm_out_format(f.wgrad), dk, th))) return st;
    /* dgrad: dQ = dS K / sqrt(head_dim) */
    if (f.dgrad == f.wgrad) gd = g, gd.trans = false;
    else if ((st = pt_net_operand(n, l, PT_OPND_DY, l->dy, m.ns, f.dgrad, l->gbuf, false, &gd))) return st;
    if (pt_gemm_reuses_forward(f.fwd, f.dgrad)) wd = l->w_op;
    else if ((st = pt_net_operand(n, l, PT_OPND_W, k, m.nd, f.dgrad, l->wbuf, false, &wd))) return st;
    wd.trans = false;
    if ((st = batched(n, count, m.t, m.hd, m.t, gd, tt, wd, th, pt_gemm_out_format(f.dgrad), dq, th)) ||
        (st = pt_backend_scale(n->be, dq, m.nd, 1.0f / sqrtf((float)m.hd))) ||
        (st = pt_backend_memset(n->be, l->dheads + 2 * m.nd, 0, m.nd * sizeof(float)))) /* v: pv's */
        return st;
    float *dx = pt_grad_target(n, l, 0);
    if (!dx) return PT_OK;
    st = pt_backend_heads(n->be, l->dheads, dx, rows, m.t, 3, m.h, m.hd, PT_PASS_BWD);
    return st ? st : pt_grad_done(n, l, 0, dx, 3 * m.nd);
}

pt_status pt_attn_softmax_forward(pt_net *n, pt_net_layer *l, int rows)
{
    return pt_backend_softmax(n->be, pt_layer_input(n, l, 0), l->y, rows * l->seq, l->spec->shape[1], true,
                              l->fmt.fwd);
}

pt_status pt_attn_softmax_backward(pt_net *n, pt_net_layer *l, int rows)
{
    float *dx = pt_grad_target(n, l, 0);
    if (!dx) return PT_OK;
    size_t cnt = (size_t)rows * (size_t)l->spec->size;
    pt_status st = pt_backend_softmax_bwd(n->be, l->y, l->dy, dx, rows * l->seq, l->spec->shape[1]);
    return st ? st : pt_grad_done(n, l, 0, dx, cnt);
}

pt_status pt_attn_pv_forward(pt_net *n, pt_net_layer *l, int rows)
{
    dims m = dims_of(l, rows);
    const float *p = pt_layer_input(n, l, 0);
    float *v = l->heads + 2 * m.nd;
    size_t th = (size_t)m.t * m.hd, tt = (size_t)m.t * m.t;
    pt_status st = pt_backend_heads(n->be, pt_layer_input(n, l, 1), l->heads, rows, m.t, 3, m.h, m.hd, PT_PASS_FWD);
    if (!st) st = pt_net_operand(n, l, PT_OPND_X, p, m.ns, l->fmt.fwd, l->saved, false, &l->x_op);
    if (!st) st = pt_net_operand(n, l, PT_OPND_W, v, m.nd, l->fmt.fwd, l->wbuf, false, &l->w_op);
    if (!st)
        st = batched(n, rows * m.h, m.t, m.hd, m.t, l->x_op, tt, l->w_op, th, pt_gemm_out_format(l->fmt.fwd), l->ho,
                     th);
    if (!st) st = pt_backend_heads(n->be, l->ho, l->y, rows, m.t, 1, m.h, m.hd, PT_PASS_BWD);
    return st;
}

pt_status pt_attn_pv_backward(pt_net *n, pt_net_layer *l, int rows)
{
    dims m = dims_of(l, rows);
    pt_layer_formats f = l->fmt;
    const float *p = pt_layer_input(n, l, 0);
    float *v = l->heads + 2 * m.nd;
    size_t th = (size_t)m.t * m.hd, tt = (size_t)m.t * m.t;
    int count = rows * m.h;
    pt_operand g, x, gd, wd;
    pt_status st = pt_backend_heads(n->be, l->dy, l->dho, rows, m.t, 1, m.h, m.hd, PT_PASS_FWD);
    /* wgrad: dV = P^T dO */
    if (!st) st = pt_net_operand(n, l, PT_OPND_DY, l->dho, m.nd, f.wgrad, l->gbuf, false, &g);
    if (st) return st;
    if (pt_gemm_reuses_forward(f.fwd, f.wgrad)) x = l->x_op;
    else if ((st = pt_net_operand(n, l, PT_OPND_X, p, m.ns, f.wgrad, l->xbuf, false, &x))) return st;
    x.trans = true;
    if ((st = batched(n, count, m.t, m.hd, m.t, x, tt, g, th, pt_gemm_out_format(f.wgrad), l->dheads + 2 * m.nd, th)) ||
        (st = pt_backend_memset(n->be, l->dheads, 0, 2 * m.nd * sizeof(float)))) /* q and k: qk's */
        return st;
    /* dgrad: dP = dO V^T */
    float *dp = pt_grad_target(n, l, 0);
    if (dp) {
        if (f.dgrad == f.wgrad) gd = g, gd.trans = false;
        else if ((st = pt_net_operand(n, l, PT_OPND_DY, l->dho, m.nd, f.dgrad, l->gbuf, false, &gd))) return st;
        if (pt_gemm_reuses_forward(f.fwd, f.dgrad)) wd = l->w_op;
        else if ((st = pt_net_operand(n, l, PT_OPND_W, v, m.nd, f.dgrad, l->wbuf, false, &wd))) return st;
        wd.trans = true;
        if ((st = batched(n, count, m.t, m.t, m.hd, gd, th, wd, th, pt_gemm_out_format(f.dgrad), dp, tt)) ||
            (st = pt_grad_done(n, l, 0, dp, m.ns)))
            return st;
    }
    float *dx = pt_grad_target(n, l, 1);
    if (!dx) return PT_OK;
    st = pt_backend_heads(n->be, l->dheads, dx, rows, m.t, 3, m.h, m.hd, PT_PASS_BWD);
    return st ? st : pt_grad_done(n, l, 1, dx, 3 * m.nd);
}
