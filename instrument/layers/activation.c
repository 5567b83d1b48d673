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

/* The activation's pass writing also the operand of GEMM layer g for
 * `role` (x of its forward, or dy of its weight gradient) in format f into
 * buf, with the recipe's scale and amax; g then finds it ready. */
static pt_status fused_cast(pt_net *n, pt_net_layer *l, pt_net_layer *g, int role, pt_format f, void *buf, bool bwd,
                            const float *dy, float *out, size_t cnt, bool *ready, const float **ready_inv)
{
    pt_cast_plan p;
    pt_status st = pt_net_cast_plan(n, g, role, f, NULL, cnt, buf, &p);
    if (!st)
        st = bwd ? pt_backend_act_bwd_cast(n->be, act_of(l), pt_layer_input(n, l, 0), dy, out, cnt, f, p.scale,
                                           p.amax, p.flags, buf)
                 : pt_backend_act_fwd_cast(n->be, act_of(l), pt_layer_input(n, l, 0), out, cnt, f, p.scale, p.amax,
                                           p.flags, buf);
    if (!st) st = pt_net_cast_done(n, g, role, f, &p);
    *ready = st == PT_OK;
    *ready_inv = p.scale_inv;
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
        return fused_cast(n, l, c, PT_OPND_X, c->fmt.fwd, c->saved, false, NULL, l->y, cnt, &c->x_ready,
                          &c->x_ready_inv);
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
    if (p && p->spec->type == PT_LAYER_LINEAR && dx == p->dy && fusable(p, p->fmt.wgrad))
        return fused_cast(n, l, p, PT_OPND_DY, p->fmt.wgrad, p->gbuf, true, l->dy, dx, cnt, &p->dy_ready,
                          &p->dy_ready_inv);
    pt_status st = pt_backend_act_bwd(n->be, act_of(l), pt_layer_input(n, l, 0), l->dy, dx, cnt);
    return st ? st : pt_grad_done(n, l, 0, dx, cnt);
}
