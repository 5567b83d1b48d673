/* relu and gelu (exact, erf), in fp32. */
#include "../net.h"

static pt_act act_of(const pt_net_layer *l)
{
    return l->spec->type == PT_LAYER_RELU ? PT_ACT_RELU : PT_ACT_GELU;
}

/* When the only reader of the output is a linear layer whose forward GEMM
 * runs in bf16 or fp16, its operand is written in the same pass. */
pt_status pt_activation_forward(pt_net *n, pt_net_layer *l, int rows)
{
    size_t cnt = (size_t)rows * (size_t)l->spec->size;
    pt_net_layer *c = l + 1 < n->L + n->nlayers ? l + 1 : NULL;
    if (c && l->consumers == 1 && c->spec->type == PT_LAYER_LINEAR && pt_layer_input(n, c, 0) == l->y &&
        (c->fmt.fwd == PT_FMT_BF16 || c->fmt.fwd == PT_FMT_FP16)) {
        pt_status st = pt_backend_act_fwd_cast(n->be, act_of(l), pt_layer_input(n, l, 0), l->y, cnt, c->fmt.fwd,
                                               c->saved);
        c->x_ready = st == PT_OK;
        return st;
    }
    return pt_backend_act_fwd(n->be, act_of(l), pt_layer_input(n, l, 0), l->y, cnt);
}

/* When the input comes from a linear layer alone (no other reader adds to
 * its gradient) whose weight-gradient GEMM runs in bf16 or fp16, that
 * GEMM's output-gradient operand is written in the same pass. */
pt_status pt_activation_backward(pt_net *n, pt_net_layer *l, int rows)
{
    float *dx = pt_grad_target(n, l, 0);
    if (!dx) return PT_OK;
    size_t cnt = (size_t)rows * (size_t)l->spec->size;
    int pi = l->spec->in_index[0];
    pt_net_layer *p = pi >= 0 ? &n->L[pi] : NULL;
    if (p && p->spec->type == PT_LAYER_LINEAR && dx == p->dy &&
        (p->fmt.wgrad == PT_FMT_BF16 || p->fmt.wgrad == PT_FMT_FP16)) {
        pt_status st = pt_backend_act_bwd_cast(n->be, act_of(l), pt_layer_input(n, l, 0), l->dy, dx, cnt,
                                               p->fmt.wgrad, p->gbuf);
        p->dy_ready = st == PT_OK;
        return st;
    }
    pt_status st = pt_backend_act_bwd(n->be, act_of(l), pt_layer_input(n, l, 0), l->dy, dx, cnt);
    return st ? st : pt_grad_done(n, l, 0, dx, cnt);
}
