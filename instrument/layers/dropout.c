/* dropout: on while training, the identity while evaluating. The mask is
 * a hash of (micro-batch seed, layer, element), so the backward and a
 * resumed run see the same mask without storing it. */
#include "../net.h"

static uint64_t layer_seed(const pt_net *n, const pt_net_layer *l)
{
    return n->dropout_seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)(l->index + 1));
}

pt_status pt_dropout_forward(pt_net *n, pt_net_layer *l, int rows)
{
    size_t cnt = (size_t)rows * (size_t)l->spec->size;
    const float *x = pt_layer_input(n, l, 0);
    if (!n->train || l->spec->p == 0.0f) return pt_backend_copy(n->be, l->y, x, cnt * sizeof(float));
    return pt_backend_dropout(n->be, x, l->y, cnt, l->spec->p, layer_seed(n, l), PT_PASS_FWD);
}

pt_status pt_dropout_backward(pt_net *n, pt_net_layer *l, int rows)
{
    float *dx = pt_grad_target(n, l, 0);
    if (!dx) return PT_OK;
    size_t cnt = (size_t)rows * (size_t)l->spec->size;
    pt_status st = !n->train || l->spec->p == 0.0f
                       ? pt_backend_copy(n->be, dx, l->dy, cnt * sizeof(float))
                       : pt_backend_dropout(n->be, l->dy, dx, cnt, l->spec->p, layer_seed(n, l), PT_PASS_BWD);
    return st ? st : pt_grad_done(n, l, 0, dx, cnt);
}
