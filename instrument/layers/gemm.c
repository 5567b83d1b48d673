/* The backward of a GEMM layer (linear, conv2d), shared: the weight
 * gradient in the wgrad format, then the input gradient in the dgrad
 * format (for a conv2d that the backend convolves directly, its two
 * backward convolutions). In a backward GEMM the gradient takes the
 * backward format; the
 * other operand keeps its forward copy when the formats agree or both are
 * fp8 (the "hybrid" recipe: e4m3 forward copies, e5m2 gradients),
 * otherwise it is cast to the backward format. */
#include "../net.h"

bool pt_gemm_reuses_forward(pt_format fwd, pt_format bwd)
{
    return fwd == bwd || (pt_format_is_fp8(fwd) && pt_format_is_fp8(bwd));
}

pt_status pt_gemm_layer_backward(pt_net *n, pt_net_layer *l, const float *dy_rows, int m_rows,
                                 int out, int k_in, float *dx_rows, bool dx_acc, const pt_conv_shape *conv,
                                 bool dx_fp32)
{
    pt_layer_formats f = l->fmt;
    size_t ndy = (size_t)m_rows * (size_t)out;
    size_t nx = conv ? (size_t)conv->n * conv->c * conv->h * conv->w : (size_t)m_rows * (size_t)k_in;
    pt_status st;
    /* wgrad: gw[out, k_in] += dy^T [out, m_rows] x [m_rows, k_in] */
    pt_operand g_op, x_op;
    bool db_ready = l->db_ready && dy_rows == l->dy; /* its reader summed it (pt_activation_backward) */
    l->db_ready = false;
    if (l->dy_ready && dy_rows == l->dy) /* its reader wrote it (pt_activation_backward) */
        g_op = (pt_operand){.data = l->gbuf, .fmt = f.wgrad, .scale_inv = l->dy_ready_inv, .trans = true, .data_t = l->gbuf_t};
    else if ((st = pt_net_operand_t(n, l, PT_OPND_DY, dy_rows, m_rows, out, f.wgrad, l->gbuf, l->gbuf_t, true,
                                    &g_op)))
        return st;
    l->dy_ready = false;
    if (pt_gemm_reuses_forward(f.fwd, f.wgrad)) {
        x_op = l->x_op;
    } else {
        /* the forward kept x in its own format: that is all there is of it */
        const float *x32 = l->x_op.data;
        if (f.fwd != PT_FMT_FP32 && f.fwd != PT_FMT_TF32) {
            if ((st = pt_backend_decode(n->be, f.fwd, l->x_op.data, n->scratch, nx, l->x_op.scale_inv)))
                return st;
            x32 = n->scratch;
        }
        if ((st = pt_net_operand(n, l, PT_OPND_X, x32, nx, f.wgrad, l->xbuf, false, &x_op))) return st;
    }
    x_op.trans = false;
    pt_gemm gw = {.m = out, .n = k_in, .k = m_rows, .a = g_op, .b = x_op, .out_fmt = PT_FMT_FP32, .beta = n->grad_beta};
    st = conv ? pt_backend_conv_bwd_filter(n->be, conv, out, &g_op, &x_op, n->grad_beta, l->gw)
              : pt_backend_gemm(n->be, &gw, l->gw);
    if (st) return st;
    if (l->gb && !conv && !db_ready && (st = pt_backend_bias_grad(n->be, dy_rows, l->gb, m_rows, out, n->grad_beta)))
        return st;
    if (!dx_rows) return PT_OK;
    /* dgrad: dx[m_rows, k_in] = dy [m_rows, out] x W [out, k_in] */
    pt_operand gd, wd;
    if (f.dgrad == f.wgrad) {
        gd = g_op;
        gd.trans = false;
    } else if ((st = pt_net_operand(n, l, PT_OPND_DY, dy_rows, ndy, f.dgrad, l->gbuf, false, &gd))) {
        return st;
    }
    if (pt_gemm_reuses_forward(f.fwd, f.dgrad)) {
        wd = l->w_op;
    } else if ((st = pt_net_operand(n, l, PT_OPND_W, l->w, l->nw, f.dgrad, l->wbuf, false, &wd))) {
        return st;
    }
    wd.trans = false;
    pt_format out_fmt = dx_fp32 ? PT_FMT_FP32 : pt_gemm_out_format(f.dgrad);
    if (conv) return pt_backend_conv_bwd_data(n->be, conv, out, &gd, &wd, out_fmt, dx_rows);
    /* the activation before this layer, giving it its input alone, reads dx
     * as the GEMM's 16-bit codes (its dy16), or rounds dx in its own pass,
     * leaving it raw; dx itself is made when something else reads it
     * (pt_model_activation_before; dx is then that activation's dy) */
    bool after = out_fmt != PT_FMT_FP32 && pt_model_activation_before(n->spec, l->index);
    pt_net_layer *p = after ? &n->L[l->spec->in_index[0]] : NULL;
    if (after && (dx_acc || dx_rows != p->dy))
        return pt_fail(PT_ERR_INVALID, "layer '%s': the input gradient of a layer an activation alone feeds is "
                                       "not that activation's dy", l->spec->name);
    bool pack = after && p->dy16;
    pt_gemm gx = {.m = m_rows, .n = k_in, .k = out, .a = gd, .b = wd, .out_fmt = out_fmt, .beta = dx_acc ? 1.0f : 0.0f,
                  .defer_tail = after && !pack, .pack = pack};
    if ((st = pt_backend_gemm(n->be, &gx, pack ? p->dy16 : (void *)dx_rows))) return st;
    if (after)
        p->dy_tail = (pt_gemm_tail){.c = dx_rows, .cols = k_in, .fmt = out_fmt, .keep_raw = true,
                                    .packed = pack ? p->dy16 : NULL};
    return PT_OK;
}
