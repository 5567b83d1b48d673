/* relu and gelu (exact, erf), in fp32. */
#include "../net.h"

static pt_act act_of(const pt_net_layer *l)
{
    return l->spec->type == PT_LAYER_RELU ? PT_ACT_RELU : PT_ACT_GELU;
}

/* Whether the operand cast of a GEMM in format f can be made in the
 * activation's pass: bf16, fp16, and fp8 under delayed scaling (current
 * scaling needs the tensor's amax before its cast). */
static bool fusable(const pt_net_layer *g, pt_format f)
{
    return f == PT_FMT_BF16 || f == PT_FMT_FP16 ||
           ((f == PT_FMT_E4M3 || f == PT_FMT_E5M2) && g->recipe.kind == PT_FP8_DELAYED);
}

bool pt_layer_is_activation(const pt_net_layer *l)
{
    return l->spec->type == PT_LAYER_RELU || l->spec->type == PT_LAYER_GELU;
}

/* The activation's forward pass, finishing its input as the GEMM before it
 * deferred (l->x_tail), and writing also the x operand of the linear layer
 * g after it cast to f (when g is not NULL), with the recipe's scale and
 * amax; g then finds it ready. */
static pt_status fused_fwd(pt_net *n, pt_net_layer *l, pt_net_layer *g, size_t cnt)
{
    pt_format f = g ? g->fmt.fwd : PT_FMT_FP32;
    pt_cast_plan p = {NULL, NULL, 0, NULL};
    const pt_gemm_tail *tail = l->x_tail.c ? &l->x_tail : NULL;
    pt_status st = g ? pt_net_cast_plan(n, g, PT_OPND_X, f, NULL, cnt, g->saved, &p) : PT_OK;
    if (!st)
        st = pt_backend_act_fwd_cast(n->be, act_of(l), pt_layer_input(n, l, 0), l->y, cnt, f, p.scale, p.amax, p.flags,
                                     g ? g->saved : NULL, tail);
    l->x_tail.c = NULL;
    if (!g) return st;
    if (!st) st = pt_net_cast_done(n, g, PT_OPND_X, f, &p);
    g->x_ready = st == PT_OK;
    g->x_ready_inv = p.scale_inv;
    return st;
}

/* When the only reader of the output is a linear layer whose forward GEMM
 * takes a cast operand, that operand is written in the same pass. */
pt_status pt_activation_forward(pt_net *n, pt_net_layer *l, int rows)
{
    size_t cnt = (size_t)rows * (size_t)l->spec->size;
    pt_net_layer *c = l + 1 < n->L + n->nlayers ? l + 1 : NULL;
    if (c && l->consumers == 1 && c->spec->type == PT_LAYER_LINEAR && pt_layer_input(n, c, 0) == l->y &&
        fusable(c, c->fmt.fwd))
        return fused_fwd(n, l, c, cnt);
    if (l->x_tail.c) return fused_fwd(n, l, NULL, cnt);
    return pt_backend_act_fwd(n->be, act_of(l), pt_layer_input(n, l, 0), l->y, cnt);
}

/* The activation's backward pass, finishing dy as the GEMM that wrote it
 * deferred (l->dy_tail), and writing dx; when dx is p's dy (p the linear
 * layer before it; else p is NULL), also what p's backward would read it
 * again for: dy cast to p's wgrad format (where that cast can be fused)
 * and p's bias gradient. p then finds them ready (dy_ready, db_ready). */
static pt_status fused_bwd(pt_net *n, pt_net_layer *l, pt_net_layer *p, float *dx, size_t cnt)
{
    pt_format f = p && fusable(p, p->fmt.wgrad) ? p->fmt.wgrad : PT_FMT_FP32;
    pt_cast_plan pl = {NULL, NULL, 0, NULL};
    const float *x = pt_layer_input(n, l, 0);
    const pt_gemm_tail *tail = l->dy_tail.c ? &l->dy_tail : NULL;
    int cols = p ? p->spec->out : (int)l->spec->size;
    pt_status st = f == PT_FMT_FP32 ? PT_OK : pt_net_cast_plan(n, p, PT_OPND_DY, f, NULL, cnt, p->gbuf, &pl);
    if (!st)
        st = pt_backend_act_bwd_bias(n->be, act_of(l), x, l->dy, dx, cnt, f, pl.scale, pl.amax, pl.flags,
                                     f == PT_FMT_FP32 ? NULL : p->gbuf, cols, p ? p->gb : NULL, n->grad_beta, tail);
    l->dy_tail.c = NULL;
    if (!p) return st;
    if (!st && f != PT_FMT_FP32) st = pt_net_cast_done(n, p, PT_OPND_DY, f, &pl);
    p->dy_ready = st == PT_OK && f != PT_FMT_FP32;
    p->dy_ready_inv = pl.scale_inv;
    p->db_ready = st == PT_OK && p->gb;
    return st;
}

/* When the input comes from a linear layer alone (no other reader adds to
 * its gradient), its weight gradient's cast operand (where fusable) and
 * its bias gradient are made in the activation's pass. */
pt_status pt_activation_backward(pt_net *n, pt_net_layer *l, int rows)
{
    float *dx = pt_grad_target(n, l, 0);
    if (!dx) {
        l->dy_tail.c = NULL;
        return PT_OK;
    }
    size_t cnt = (size_t)rows * (size_t)l->spec->size;
    int pi = l->spec->in_index[0];
    pt_net_layer *p = pi >= 0 ? &n->L[pi] : NULL;
    if (p && p->spec->type == PT_LAYER_LINEAR && dx == p->dy && (fusable(p, p->fmt.wgrad) || p->gb))
        return fused_bwd(n, l, p, dx, cnt);
    pt_status st = l->dy_tail.c ? fused_bwd(n, l, NULL, dx, cnt)
                                : pt_backend_act_bwd(n->be, act_of(l), pt_layer_input(n, l, 0), l->dy, dx, cnt);
    return st ? st : pt_grad_done(n, l, 0, dx, cnt);
}
