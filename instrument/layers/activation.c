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
    return pt_layer_is_act(l->spec->type);
}

/* The GEMM tail left on x (NULL: none). It is kept raw: the backward
 * pass finishes x again as it reads it. */
static const pt_gemm_tail *x_tail(const pt_net_layer *l)
{
    return l->x_tail.c ? &l->x_tail : NULL;
}

/* The activation's forward pass, finishing its input as the GEMM before it
 * deferred (l->x_tail), and writing also the x operand of the linear layer
 * g after it cast to f (when g is not NULL), with the recipe's scale and
 * amax; g then finds it ready, and y itself, which nothing else reads in
 * the step, is left to pt_net_materialize. */
static pt_status fused_fwd(pt_net *n, pt_net_layer *l, pt_net_layer *g, size_t cnt)
{
    pt_format f = g ? g->fmt.fwd : PT_FMT_FP32;
    pt_cast_plan p = {NULL, NULL, 0, NULL};
    pt_status st = g ? pt_net_cast_plan(n, g, PT_OPND_X, f, NULL, cnt, g->saved, &p) : PT_OK;
    if (!st)
        st = pt_backend_act_fwd_cast(
            n->be, &(pt_act_fwd_desc){.act = act_of(l),
                                      .x = pt_layer_input(n, l, 0),
                                      .y = g ? NULL : l->y,
                                      .n = cnt,
                                      .cols = g ? (int)g->in_size : 0,
                                      .cast = {.to = f,
                                               .scale = p.scale,
                                               .amax = p.amax,
                                               .flags = p.flags,
                                               .codes = g ? g->saved : NULL,
                                               .codes_t = g ? g->saved_t : NULL},
                                      .x_tail = x_tail(l)});
    l->y_lazy = g && st == PT_OK;
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
    l->y_lazy = false;
    if (c && l->consumers == 1 && c->spec->type == PT_LAYER_LINEAR && pt_layer_input(n, c, 0) == l->y &&
        fusable(c, c->fmt.fwd))
        return fused_fwd(n, l, c, cnt);
    if (l->x_tail.c) return fused_fwd(n, l, NULL, cnt);
    return pt_backend_act_fwd(n->be, act_of(l), pt_layer_input(n, l, 0), l->y, cnt);
}

/* The activation's backward pass, finishing x and dy as the GEMMs that
 * wrote them deferred (l->x_tail, l->dy_tail), and writing dx; when dx is
 * p's dy (p the linear layer before it; else p is NULL), also what p's
 * backward would read it again for: dy cast to p's wgrad format (where
 * that cast can be fused) and p's bias gradient. p then finds them ready
 * (dy_ready, db_ready), and when its input-gradient GEMM takes the same
 * cast, dx itself is left to pt_net_materialize. */
static pt_status fused_bwd(pt_net *n, pt_net_layer *l, pt_net_layer *p, float *dx, size_t cnt)
{
    pt_format f = p && fusable(p, p->fmt.wgrad) ? p->fmt.wgrad : PT_FMT_FP32;
    pt_cast_plan pl = {NULL, NULL, 0, NULL};
    const float *x = pt_layer_input(n, l, 0);
    const pt_gemm_tail *dyt = l->dy_tail.c ? &l->dy_tail : NULL;
    int cols = p ? p->spec->out : (int)l->spec->size;
    bool lazy = f != PT_FMT_FP32 && p->fmt.dgrad == p->fmt.wgrad;
    pt_status st = f == PT_FMT_FP32 ? PT_OK : pt_net_cast_plan(n, p, PT_OPND_DY, f, NULL, cnt, p->gbuf, &pl);
    if (!st)
        st = pt_backend_act_bwd_bias(
            n->be, &(pt_act_bwd_desc){.act = act_of(l),
                                      .x = x,
                                      .dy = l->dy,
                                      .dx = lazy ? NULL : dx,
                                      .n = cnt,
                                      .cols = cols,
                                      .cast = {.to = f,
                                               .scale = pl.scale,
                                               .amax = pl.amax,
                                               .flags = pl.flags,
                                               .codes = f == PT_FMT_FP32 ? NULL : p->gbuf,
                                               .codes_t = f == PT_FMT_FP32 ? NULL : p->gbuf_t},
                                      .db = p ? p->gb : NULL,
                                      .db_beta = n->grad_beta,
                                      .x_tail = x_tail(l),
                                      .dy_tail = dyt});
    l->dx_lazy = lazy && st == PT_OK;
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
    l->dx_lazy = false;
    if (!dx) return PT_OK;
    size_t cnt = (size_t)rows * (size_t)l->spec->size;
    int pi = l->spec->in_index[0];
    pt_net_layer *p = pi >= 0 ? &n->L[pi] : NULL;
    if (p && p->spec->type == PT_LAYER_LINEAR && dx == p->dy && (fusable(p, p->fmt.wgrad) || p->gb))
        return fused_bwd(n, l, p, dx, cnt);
    pt_status st = l->dy_tail.c || l->x_tail.c
                       ? fused_bwd(n, l, NULL, dx, cnt)
                       : pt_backend_act_bwd(n->be, act_of(l), pt_layer_input(n, l, 0), l->dy, dx, cnt);
    return st ? st : pt_grad_done(n, l, 0, dx, cnt);
}

pt_status pt_activation_materialize(pt_net *n, pt_net_layer *l, int rows, bool backward)
{
    size_t cnt = (size_t)rows * (size_t)l->spec->size;
    float *x = pt_layer_input(n, l, 0);
    pt_status st = PT_OK;
    if (!backward && (l->x_tail.c || l->y_lazy)) {
        /* x finished in place, and y written (again, where it was: the same values) */
        pt_gemm_tail t = l->x_tail;
        t.keep_raw = false;
        st = pt_backend_act_fwd_cast(
            n->be, &(pt_act_fwd_desc){.act = act_of(l), .x = x, .y = l->y, .n = cnt, .x_tail = t.c ? &t : NULL});
        l->x_tail.c = NULL, l->y_lazy = false;
    } else if (backward && l->dx_lazy) {
        /* dx into the linear layer's dy, which it is (fused_bwd); dy finished in place */
        pt_gemm_tail t = l->dy_tail;
        t.keep_raw = false;
        st = pt_backend_act_bwd_bias(n->be, &(pt_act_bwd_desc){.act = act_of(l),
                                                                .x = x,
                                                                .dy = l->dy,
                                                                .dx = n->L[l->spec->in_index[0]].dy,
                                                                .n = cnt,
                                                                .cols = (int)l->spec->size,
                                                                .dy_tail = t.c ? &t : NULL});
        l->dy_tail.c = NULL, l->dx_lazy = false;
    } else if (backward && l->dy_tail.c) {
        /* dx was written: dy alone to finish (the tail of an input-gradient GEMM has no bias), or to
         * decode from the GEMM's codes */
        st = l->dy_tail.packed ? pt_backend_decode(n->be, l->dy_tail.fmt, l->dy_tail.packed, l->dy, cnt, NULL)
                               : pt_backend_round(n->be, l->dy_tail.fmt, l->dy, cnt);
        l->dy_tail.c = NULL;
    }
    return st;
}
