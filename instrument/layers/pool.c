/* maxpool / avgpool over k x k windows (fp32). */
#include "../net.h"

static pt_pool pool_kind(const pt_net_layer *l)
{
    return l->spec->type == PT_LAYER_MAXPOOL ? PT_POOL_MAX : PT_POOL_AVG;
}

pt_status pt_pool_forward(pt_net *n, pt_net_layer *l, int rows)
{
    pt_conv_shape cs = l->cs;
    cs.n = rows;
    return pt_backend_pool_fwd(n->be, pool_kind(l), &cs,
                               pt_layer_input(n, l, 0), l->y, (int32_t *)l->aux);
}

pt_status pt_pool_backward(pt_net *n, pt_net_layer *l, int rows)
{
    pt_conv_shape cs = l->cs;
    cs.n = rows;
    float *dx = pt_grad_target(n, l, 0);
    if (!dx) return PT_OK;
    size_t nx = (size_t)rows * (size_t)l->in_size;
    pt_status st;
    if ((st = pt_backend_memset(n->be, dx, 0, nx * sizeof(float))) ||
        (st = pt_backend_pool_bwd(n->be, pool_kind(l), &cs, pt_layer_input(n, l, 0), l->y, l->dy,
                                  (const int32_t *)l->aux, dx)))
        return st;
    return pt_grad_done(n, l, 0, dx, nx);
}
