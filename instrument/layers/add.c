/* add (residual): y = a + b; both inputs receive dy. */
#include "../net.h"

pt_status pt_add_forward(pt_net *n, pt_net_layer *l, int rows)
{
    return pt_backend_add(n->be, pt_layer_input(n, l, 0), pt_layer_input(n, l, 1), l->y,
                          (size_t)rows * (size_t)l->spec->size);
}

pt_status pt_add_backward(pt_net *n, pt_net_layer *l, int rows)
{
    size_t cnt = (size_t)rows * (size_t)l->spec->size;
    for (int i = 0; i < 2; i++) {
        float *dx = pt_grad_target(n, l, i);
        if (!dx) continue;
        pt_status st = pt_backend_copy(n->be, dx, l->dy, cnt * sizeof(float));
        if (!st) st = pt_grad_done(n, l, i, dx, cnt);
        if (st) return st;
    }
    return PT_OK;
}
