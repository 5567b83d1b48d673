/* flatten: [C, H, W] -> [C*H*W]; the NCHW data is already in that order. */
#include "../net.h"

pt_status pt_flatten_forward(pt_net *n, pt_net_layer *l, int rows)
{
    return pt_backend_copy(n->be, l->y, pt_layer_input(n, l, 0),
                           (size_t)rows * (size_t)l->spec->size * sizeof(float));
}

pt_status pt_flatten_backward(pt_net *n, pt_net_layer *l, int rows)
{
    float *dx = pt_grad_target(n, l, 0);
    if (!dx) return PT_OK;
    size_t cnt = (size_t)rows * (size_t)l->spec->size;
    pt_status st = pt_backend_copy(n->be, dx, l->dy, cnt * sizeof(float));
    return st ? st : pt_grad_done(n, l, 0, dx, cnt);
}
