/* conv2d. Where the layer runs as the backend's convolutions
 * (pt_conv2d_direct: fp32, tf32, bf16, fp16, cuDNN on a GPU, large enough
 * to gain from it), they take x, dy and the weights as they are (NCHW), and
 * only the bias gradient reads dy as rows [N*P, O]. Otherwise (fp8, small
 * convolutions) it is a GEMM over im2col rows: cols[N*P, C*k*k] x
 * W^T[C*k*k, O] gives the output as rows, turned into NCHW; the backward
 * runs the same two GEMMs as linear on those rows, folds the input
 * gradient back with col2im and rounds it once. Both give the same values:
 * an im2col GEMM is how the CPU convolves. */
#include "../net.h"

bool pt_conv2d_direct(const pt_net *n, const pt_net_layer *l)
{
    bool supported = pt_backend_supports(n->be, PT_OP_CONV, l->fmt.fwd) &&
                     pt_backend_supports(n->be, PT_OP_CONV, l->fmt.wgrad) &&
                     pt_backend_supports(n->be, PT_OP_CONV, l->fmt.dgrad);
    return pt_conv_runs_direct(supported, 2.0 * n->batch * l->cs.oh * l->cs.ow * (double)l->spec->out * l->fan_in);
}

pt_status pt_conv2d_forward(pt_net *n, pt_net_layer *l, int rows)
{
    pt_conv_shape cs = l->cs;
    cs.n = rows;
    int p = cs.oh * cs.ow, o = l->spec->out, ckk = l->fan_in;
    size_t m = (size_t)rows * (size_t)p;
    bool direct = l->conv_direct;
    const float *x = pt_layer_input(n, l, 0);
    pt_status st;
    if (direct)
        st = pt_net_operand(n, l, PT_OPND_X, x, (size_t)rows * l->in_size, l->fmt.fwd, l->saved, false, &l->x_op);
    else if (!(st = pt_backend_im2col(n->be, &cs, x, l->cols)))
        st = pt_net_operand(n, l, PT_OPND_X, l->cols, m * (size_t)ckk, l->fmt.fwd, l->saved, false, &l->x_op);
    if (st) return st;
    if (l->w_mirror && n->w16_valid) /* the optimizer wrote the cast (pt_adamw.copy) */
        l->w_op = (pt_operand){.data = l->wbuf, .fmt = l->fmt.fwd, .trans = true};
    else if ((st = pt_net_operand(n, l, PT_OPND_W, l->w, l->nw, l->fmt.fwd, l->wbuf, true, &l->w_op)))
        return st;
    pt_format out_fmt = pt_gemm_out_format(l->fmt.fwd);
    if (direct) return pt_backend_conv_fwd(n->be, &cs, o, &l->x_op, &l->w_op, l->b, out_fmt, l->y);
    pt_gemm g = {.m = (int)m, .n = o, .k = ckk, .a = l->x_op, .b = l->w_op, .bias = l->b, .out_fmt = out_fmt};
    st = pt_backend_gemm(n->be, &g, l->rows);
    return st ? st : pt_backend_rows_to_nchw(n->be, l->rows, l->y, rows, o, p, PT_PASS_FWD);
}

pt_status pt_conv2d_backward(pt_net *n, pt_net_layer *l, int rows)
{
    pt_conv_shape cs = l->cs;
    cs.n = rows;
    int p = cs.oh * cs.ow, o = l->spec->out, ckk = l->fan_in;
    int m = rows * p;
    bool direct = l->conv_direct;
    pt_status st;
    if ((!direct || l->gb) && (st = pt_backend_rows_to_nchw(n->be, l->drows, l->dy, rows, o, p, PT_PASS_BWD))) return st;
    float *dx = pt_grad_target(n, l, 0);
    size_t nx = (size_t)rows * (size_t)l->in_size;
    if (direct) {
        if ((l->gb && (st = pt_backend_bias_grad(n->be, l->drows, l->gb, m, o, n->grad_beta))) ||
            (st = pt_gemm_layer_backward(n, l, l->dy, m, o, ckk, dx, false, &cs, false)))
            return st;
    } else {
        /* the columns' gradient in fp32, folded back, then rounded once (as the backend's convolution) */
        pt_format dx_fmt = pt_gemm_out_format(l->fmt.dgrad);
        if ((st = pt_gemm_layer_backward(n, l, l->drows, m, o, ckk, dx ? l->dcols : NULL, false, NULL, true))) return st;
        if (dx && ((st = pt_backend_memset(n->be, dx, 0, nx * sizeof(float))) ||
                   (st = pt_backend_col2im(n->be, &cs, l->dcols, dx)) ||
                   (dx_fmt != PT_FMT_FP32 && (st = pt_backend_round(n->be, dx_fmt, dx, nx)))))
            return st;
    }
    return dx ? pt_grad_done(n, l, 0, dx, nx) : PT_OK;
}
