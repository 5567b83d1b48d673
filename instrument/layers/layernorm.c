/* layernorm over the features of each sample, in fp32 (the numerics
 * contract keeps norms out of low precision) unless the policy names the
 * layer in bf16 or fp16 (l->fmt.fwd): then computed in that format, as in
 * a model cast to half; gamma and beta are the layer's weight and bias.
 * On a sequence, each position is a row. */
#include "../net.h"

pt_status pt_layernorm_forward(pt_net *n, pt_net_layer *l, int rows)
{
    int c = (int)(l->spec->size / l->seq);
    return pt_backend_layernorm_fwd(n->be, pt_layer_input(n, l, 0), l->w, l->b, l->spec->eps, l->fmt.fwd, l->y,
                                    l->aux, l->aux + (size_t)n->batch * l->seq, rows * l->seq, c);
}

pt_status pt_layernorm_backward(pt_net *n, pt_net_layer *l, int rows)
{
    int c = (int)(l->spec->size / l->seq);
    rows *= l->seq;
    float *dx = pt_grad_target(n, l, 0);
    float *out = dx ? dx : n->scratch; /* the op always writes dx */
    pt_status st = PT_OK;
    if (n->grad_beta == 0.0f && /* the op adds to dgamma and dbeta: start them at zero */
        ((st = pt_backend_memset(n->be, l->gw, 0, l->nw * sizeof(float))) ||
         (st = pt_backend_memset(n->be, l->gb, 0, l->nb * sizeof(float)))))
        return st;
    st = pt_backend_layernorm_bwd(n->be, pt_layer_input(n, l, 0), l->w, l->aux,
                                            l->aux + (size_t)n->batch * l->seq, l->dy, out, l->gw, l->gb, rows, c);
    return st || !dx ? st : pt_grad_done(n, l, 0, dx, (size_t)rows * (size_t)c);
}
