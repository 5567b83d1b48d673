/* linear: y[rows, out] = x[rows, in] W^T + b, in the layer's formats; on
 * a sequence, over its last dimension (the GEMM's rows are batch x T). A
 * tied head's W is the embedding's table (l->w, bound at pt_net_create). */
#include "../net.h"

pt_status pt_linear_forward(pt_net *n, pt_net_layer *l, int rows)
{
    const pt_plan_layer *p = l->plan;
    const float *x = pt_layer_input(n, l, 0);
    int in = l->in_cols, out = l->spec->out;
    rows *= l->in_seq;
    pt_status st = PT_OK;
    if (p->x_cast_by_input) /* the activation before wrote it */
        l->x_op = (pt_operand){.data = l->saved, .fmt = l->fmt.fwd, .scale_inv = pt_net_descale(l, PT_OPND_X, l->fmt.fwd),
                               .data_t = l->saved_t};
    else if ((st = pt_net_operand_t(n, l, PT_OPND_X, x, rows, in, l->fmt.fwd, l->saved, l->saved_t, false, &l->x_op)))
        return st;
    bool w_copy = p->w_from_copy && n->w16_valid; /* the optimizer wrote the cast (pt_adamw.copy) */
    if (w_copy)
        l->w_op = (pt_operand){.data = l->wbuf, .fmt = l->fmt.fwd, .trans = true};
    else if ((st = pt_net_operand_t(n, l, PT_OPND_W, l->w, out, in, l->fmt.fwd, l->wbuf, l->wbuf_t, true, &l->w_op)))
        return st;
    /* with y_codes, the activation after reads the output as the GEMM's
     * 16-bit codes, forward and backward; y itself is left until something
     * else reads it (pt_net_materialize) */
    pt_gemm g = {.m = rows, .n = out, .k = in, .a = l->x_op, .b = l->w_op, .bias = l->b,
                 .out_fmt = pt_gemm_out_format(l->fmt.fwd), .pack = p->y_codes};
    if (p->bias_from_copy && w_copy) g.bias_codes = pt_net_w16_of(n, l->b);
    return pt_backend_gemm(n->be, &g, p->y_codes ? l->y16 : (void *)l->y);
}

pt_status pt_linear_backward(pt_net *n, pt_net_layer *l, int rows)
{
    int in = l->in_cols, out = l->spec->out;
    rows *= l->in_seq;
    float *dx = pt_grad_target(n, l, 0);
    pt_status st = pt_gemm_layer_backward(n, l, l->dy, rows, out, in, dx, false, NULL, false);
    if (!st && dx) st = pt_grad_done(n, l, 0, dx, (size_t)rows * in);
    return st;
}
