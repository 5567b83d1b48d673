/* relu and gelu (exact, erf), in fp32. */
#include "../net.h"

static pt_act act_of(const pt_net_layer *l)
{
    return l->spec->type == PT_LAYER_RELU ? PT_ACT_RELU : PT_ACT_GELU;
}

pt_status pt_activation_forward(pt_net *n, pt_net_layer *l, int rows)
{
    return pt_backend_act_fwd(n->be, act_of(l), pt_layer_input(n, l, 0), l->y,
                              (size_t)rows * (size_t)l->spec->size);
}

pt_status pt_activation_backward(pt_net *n, pt_net_layer *l, int rows)
{
    float *dx = pt_grad_target(n, l, 0);
    if (!dx) return PT_OK;
    size_t cnt = (size_t)rows * (size_t)l->spec->size;
    pt_status st = pt_backend_act_bwd(n->be, act_of(l), pt_layer_input(n, l, 0), l->dy, dx, cnt);
    return st ? st : pt_grad_done(n, l, 0, dx, cnt);
}
