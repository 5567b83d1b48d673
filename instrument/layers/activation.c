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

/* When the only reader of the output is a linear layer whose forward GEMM
 * takes a cast operand, that operand is written in the same pass. */
pt_status pt_activation_forward(pt_net *n, pt_net_layer *l, int rows)
{
    size_t cnt = (size_t)rows * (size_t)l->spec->size;
    pt_net_layer *c = l + 1 < n->L + n->nlayers ? l + 1 : NULL;
    if (c && l->consumers == 1 && c->spec->type == PT_LAYER_LINEAR && pt_layer_input(n, c, 0) == l->y &&
        fusable(c, c->fmt.fwd)) {
        pt_cast_plan p;
        pt_status st = pt_net_cast_plan(n, c, PT_OPND_X, c->fmt.fwd, NULL, cnt, c->saved, &p);
        if (!st) st = pt_backend_act_fwd_cast(n->be, act_of(l), pt_layer_input(n, l, 0), l->y, cnt, c->fmt.fwd,
                                              p.scale, p.amax, p.flags, c->saved);
        if (!st) st = pt_net_cast_done(n, c, PT_OPND_X, c->fmt.fwd, &p);
        c->x_ready = st == PT_OK;
        c->x_ready_inv = p.scale_inv;
        return st;
    }
    return pt_backend_act_fwd(n->be, act_of(l), pt_layer_input(n, l, 0), l->y, cnt);
}

/* When the input comes from a linear layer alone (no other reader adds to
 * its gradient) whose weight-gradient GEMM takes a cast operand, that
 * operand is written in the same pass. */
pt_status pt_activation_backward(pt_net *n, pt_net_layer *l, int rows)
{
    float *dx = pt_grad_target(n, l, 0);
    if (!dx) return PT_OK;
    size_t cnt = (size_t)rows * (size_t)l->spec->size;
    int pi = l->spec->in_index[0];
    pt_net_layer *p = pi >= 0 ? &n->L[pi] : NULL;
    if (p && p->spec->type == PT_LAYER_LINEAR && dx == p->dy && fusable(p, p->fmt.wgrad)) {
        pt_cast_plan cp;
        pt_status st = pt_net_cast_plan(n, p, PT_OPND_DY, p->fmt.wgrad, NULL, cnt, p->gbuf, &cp);
        if (!st) st = pt_backend_act_bwd_cast(n->be, act_of(l), pt_layer_input(n, l, 0), l->dy, dx, cnt,
                                              p->fmt.wgrad, cp.scale, cp.amax, cp.flags, p->gbuf);
        if (!st) st = pt_net_cast_done(n, p, PT_OPND_DY, p->fmt.wgrad, &cp);
        p->dy_ready = st == PT_OK;
        p->dy_ready_inv = cp.scale_inv;
        return st;
    }
    pt_status st = pt_backend_act_bwd(n->be, act_of(l), pt_layer_input(n, l, 0), l->dy, dx, cnt);
    return st ? st : pt_grad_done(n, l, 0, dx, cnt);
}
