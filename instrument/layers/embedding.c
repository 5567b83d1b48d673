/* Token embedding (the model's first layer: token ids to rows of a table
 * [vocab, width]; the backward adds each position's gradient into its
 * token's row) and the learned position embedding (a table [context,
 * width] whose first T rows are added to every sample; its gradient is the
 * sum over the batch). A tied head's GEMM writes the table's gradient
 * first in the backward (it runs last forward, first backward): the
 * embedding then adds to it (grad_shared). */
#include "../net.h"

pt_status pt_embedding_forward(pt_net *n, pt_net_layer *l, int rows)
{
    int d = (int)(l->spec->size / l->seq);
    return pt_backend_embedding_fwd(n->be, l->w, pt_layer_input(n, l, 0), l->y, rows * l->seq, d, l->spec->vocab);
}

pt_status pt_embedding_backward(pt_net *n, pt_net_layer *l, int rows)
{
    int d = (int)(l->spec->size / l->seq);
    pt_status st = PT_OK;
    if (n->grad_beta == 0.0f && !l->grad_shared) st = pt_backend_memset(n->be, l->gw, 0, l->nw * sizeof(float));
    if (!st)
        st = pt_backend_embedding_bwd(n->be, pt_layer_input(n, l, 0), l->dy, l->gw, rows * l->seq, d,
                                      l->spec->vocab);
    return st;
}

pt_status pt_position_forward(pt_net *n, pt_net_layer *l, int rows)
{
    size_t sz = (size_t)l->spec->size; /* the table's first T rows: one sample */
    const float *x = pt_layer_input(n, l, 0);
    pt_status st = PT_OK;
    for (int r = 0; r < rows && !st; r++) st = pt_backend_add(n->be, x + r * sz, l->w, l->y + r * sz, sz);
    return st;
}

pt_status pt_position_backward(pt_net *n, pt_net_layer *l, int rows)
{
    size_t sz = (size_t)l->spec->size, cnt = (size_t)rows * sz;
    pt_status st = PT_OK;
    /* positions past this model's T get no gradient */
    if (n->grad_beta == 0.0f && l->nw > sz)
        st = pt_backend_memset(n->be, l->gw + sz, 0, (l->nw - sz) * sizeof(float));
    if (!st) st = pt_backend_bias_grad(n->be, l->dy, l->gw, rows, (int)sz, n->grad_beta);
    float *dx = pt_grad_target(n, l, 0);
    if (!st && dx) st = pt_backend_copy(n->be, dx, l->dy, cnt * sizeof(float));
    if (!st && dx) st = pt_grad_done(n, l, 0, dx, cnt);
    return st;
}
