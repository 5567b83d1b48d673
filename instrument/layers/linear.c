/* linear: y[rows, out] = x[rows, in] W^T + b, in the layer's formats. */
#include "../net.h"

pt_status pt_linear_forward(pt_net *n, pt_net_layer *l, int rows)
{
    const float *x = pt_layer_input(n, l, 0);
    int in = (int)l->in_size, out = l->spec->out;
    pt_status st = PT_OK;
    if (l->x_ready) /* the activation before wrote it (pt_activation_forward) */
        l->x_op = (pt_operand){.data = l->saved, .fmt = l->fmt.fwd, .scale_inv = l->x_ready_inv, .data_t = l->saved_t};
    else
        st = pt_net_operand_t(n, l, PT_OPND_X, x, rows, in, l->fmt.fwd, l->saved, l->saved_t, false, &l->x_op);
    l->x_ready = false;
    if (st) return st;
    if (l->w_mirror && n->w16_valid) /* the optimizer wrote the cast (pt_adamw.copy) */
        l->w_op = (pt_operand){.data = l->wbuf, .fmt = l->fmt.fwd, .trans = true};
    else if ((st = pt_net_operand_t(n, l, PT_OPND_W, l->w, out, in, l->fmt.fwd, l->wbuf, l->wbuf_t, true, &l->w_op)))
        return st;
    /* an activation reading the output alone reads it as the GEMM's 16-bit
     * codes (l->y16, pt_gemm.pack), forward and backward; else, where it
     * has no such copy, it adds the bias and rounds the GEMM's fp32 sums in
     * its own passes. y itself is left until something else reads it
     * (pt_net_materialize). */
    pt_format out_fmt = pt_gemm_out_format(l->fmt.fwd);
    bool after = out_fmt != PT_FMT_FP32 && pt_model_activation_after(n->spec, l->index), pack = after && l->y16;
    pt_net_layer *c = l + 1;
    pt_gemm g = {.m = rows, .n = out, .k = in, .a = l->x_op, .b = l->w_op, .bias = l->b, .out_fmt = out_fmt,
                 .defer_tail = after && !pack, .pack = pack};
    /* the bias's codes from the optimizer's copy, where it wrote them in the output's format */
    if (pack && l->b && l->w_mirror && n->w16_valid && n->w16_fmt == out_fmt)
        g.bias_codes = pt_net_w16_of(n, l->b);
    if ((st = pt_backend_gemm(n->be, &g, pack ? l->y16 : (void *)l->y))) return st;
    if (after)
        c->x_tail = (pt_gemm_tail){.c = l->y, .bias = pack ? NULL : l->b, .cols = out, .fmt = out_fmt,
                                   .keep_raw = true, .packed = pack ? l->y16 : NULL};
    return PT_OK;
}

pt_status pt_linear_backward(pt_net *n, pt_net_layer *l, int rows)
{
    int in = (int)l->in_size, out = l->spec->out;
    float *dx = pt_grad_target(n, l, 0);
    pt_status st = pt_gemm_layer_backward(n, l, l->dy, rows, out, in, dx, false, NULL, false);
    if (!st && dx) st = pt_grad_done(n, l, 0, dx, (size_t)rows * in);
    return st;
}
