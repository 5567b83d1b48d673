/* rmsnorm over the last dimension (each position of a sequence a row): y =
 * x / sqrt(mean(x^2) + eps) * gain; the gain is the layer's weight (no
 * bias). In fp32 unless the policy names the layer in bf16 or fp16
 * (l->fmt.fwd), as layernorm. */
#include "../net.h"

pt_status pt_rmsnorm_forward(pt_net *n, pt_net_layer *l, int rows)
{
    int c = (int)(l->spec->size / l->seq);
    return pt_backend_rmsnorm_fwd(n->be, pt_layer_input(n, l, 0), l->w, l->spec->eps, l->fmt.fwd, l->y, l->aux,
                                  rows * l->seq, c);
}

pt_status pt_rmsnorm_backward(pt_net *n, pt_net_layer *l, int rows)
{
    int c = (int)(l->spec->size / l->seq);
    rows *= l->seq;
    float *dx = pt_grad_target(n, l, 0);
    float *out = dx ? dx : n->scratch; /* the op always writes dx */
    pt_status st = PT_OK;
    if (n->grad_beta == 0.0f && (st = pt_backend_memset(n->be, l->gw, 0, l->nw * sizeof(float)))) return st;
    st = pt_backend_rmsnorm_bwd(n->be, pt_layer_input(n, l, 0), l->w, l->aux, l->dy, out, l->gw, rows, c);
    return st || !dx ? st : pt_grad_done(n, l, 0, dx, (size_t)rows * (size_t)c);
}
