/* conv2d as a GEMM over im2col rows: cols[N*P, C*k*k] x W^T[C*k*k, O] gives
 * the output as rows [N*P, O], turned into NCHW. The backward runs the
 * same two GEMMs as linear on those rows and folds the input gradient back
 * with col2im. */
#include "../net.h"

pt_status pt_conv2d_forward(pt_net *n, pt_net_layer *l, int rows)
{
    pt_conv_shape cs = l->cs;
    cs.n = rows;
    int p = cs.oh * cs.ow, o = l->spec->out, ckk = l->fan_in;
    size_t m = (size_t)rows * (size_t)p;
    pt_status st;
    if ((st = pt_backend_im2col(n->be, &cs, pt_layer_input(n, l, 0), l->cols)) ||
        (st = pt_net_operand(n, l, PT_OPND_X, l->cols, m * (size_t)ckk, l->fmt.fwd, l->saved, false,
                             &l->x_op)))
        return st;
    if (l->w_mirror && n->w16_valid) /* the optimizer wrote the cast (pt_adamw.copy) */
        l->w_op = (pt_operand){l->wbuf, l->fmt.fwd, NULL, true};
    else if ((st = pt_net_operand(n, l, PT_OPND_W, l->w, l->nw, l->fmt.fwd, l->wbuf, true, &l->w_op)))
        return st;
    pt_gemm g = {(int)m, o, ckk, l->x_op, l->w_op, l->b, pt_gemm_out_format(l->fmt.fwd), 0.0f};
    if ((st = pt_backend_gemm(n->be, &g, l->rows))) return st;
    return pt_backend_rows_to_nchw(n->be, l->rows, l->y, rows, o, p, false);
}

pt_status pt_conv2d_backward(pt_net *n, pt_net_layer *l, int rows)
{
    pt_conv_shape cs = l->cs;
    cs.n = rows;
    int p = cs.oh * cs.ow, o = l->spec->out, ckk = l->fan_in;
    int m = rows * p;
    pt_status st;
    if ((st = pt_backend_rows_to_nchw(n->be, l->drows, l->dy, rows, o, p, true))) return st;
    float *dx = pt_grad_target(n, l, 0);
    if ((st = pt_gemm_layer_backward(n, l, l->drows, m, o, ckk, dx ? l->dcols : NULL, false)))
        return st;
    if (!dx) return PT_OK;
    size_t nx = (size_t)rows * (size_t)l->in_size;
    if ((st = pt_backend_memset(n->be, dx, 0, nx * sizeof(float))) ||
        (st = pt_backend_col2im(n->be, &cs, l->dcols, dx)))
        return st;
    return pt_grad_done(n, l, 0, dx, nx);
}
