/* The CPU's convolutions: exactly the im2col GEMMs a conv2d layer would
 * run, over operands decoded to fp32 (their values in their format; im2col
 * and the NCHW <-> rows transposes only move them, so decoding before or
 * after is the same). The reference the CUDA backend's cuDNN convolutions
 * are compared against. Also the lowering they use: im2col, its adjoint
 * col2im, and the transposes between NCHW and GEMM rows. */
#include <string.h>

#include "../formats_impl.h"
#include "cpu.h"

/* cols [N*OH*OW, C*k*k] of x, in scratch slot 3 */
static pt_status columns(pt_backend *be, const pt_conv_shape *s, const pt_operand *x, float **cols)
{
    size_t nx = (size_t)s->n * s->c * s->h * s->w, ncol = (size_t)s->n * s->oh * s->ow * s->c * s->k * s->k;
    const float *x32;
    pt_status st = pt_cpu_operand_f32(be, 4, x, nx, &x32);
    if (!st) st = pt_cpu_scratch(be, 3, ncol, cols);
    return st ? st : pt_cpu_im2col(be, s, x32, *cols);
}

/* dy [N, O, OH, OW] as fp32 rows [N*OH*OW, O], in scratch slot 5 */
static pt_status dy_rows(pt_backend *be, const pt_conv_shape *s, int o, const pt_operand *dy, pt_operand *rows)
{
    int p = s->oh * s->ow;
    size_t ny = (size_t)s->n * p * o;
    const float *dy32;
    float *r;
    pt_status st = pt_cpu_operand_f32(be, 0, dy, ny, &dy32);
    if (!st) st = pt_cpu_scratch(be, 5, ny, &r);
    if (!st) st = pt_cpu_rows_to_nchw(be, r, (float *)dy32, s->n, o, p, true);
    *rows = (pt_operand){.data = r, .fmt = PT_FMT_FP32};
    return st;
}

pt_status pt_cpu_conv_fwd(pt_backend *be, const pt_conv_shape *s, int o, const pt_operand *x, const pt_operand *w,
                          const float *bias, pt_format out_fmt, float *y)
{
    int p = s->oh * s->ow;
    float *cols, *rows;
    pt_status st = columns(be, s, x, &cols);
    if (!st) st = pt_cpu_scratch(be, 5, (size_t)s->n * p * o, &rows);
    if (st) return st;
    pt_operand a = {.data = cols, .fmt = PT_FMT_FP32}, b = *w;
    b.trans = true;
    pt_gemm g = {.m = s->n * p, .n = o, .k = s->c * s->k * s->k, .a = a, .b = b, .bias = bias, .out_fmt = out_fmt};
    if ((st = pt_cpu_gemm(be, &g, rows))) return st;
    return pt_cpu_rows_to_nchw(be, rows, y, s->n, o, p, false);
}

pt_status pt_cpu_conv_bwd_data(pt_backend *be, const pt_conv_shape *s, int o, const pt_operand *dy,
                               const pt_operand *w, pt_format out_fmt, float *dx)
{
    int m = s->n * s->oh * s->ow, ckk = s->c * s->k * s->k;
    size_t nx = (size_t)s->n * s->c * s->h * s->w;
    float *dcols;
    pt_operand a, b = *w;
    pt_status st = dy_rows(be, s, o, dy, &a);
    if (!st) st = pt_cpu_scratch(be, 3, (size_t)m * ckk, &dcols);
    if (st) return st;
    b.trans = false;
    pt_gemm g = {.m = m, .n = ckk, .k = o, .a = a, .b = b, .out_fmt = PT_FMT_FP32};
    if ((st = pt_cpu_gemm(be, &g, dcols))) return st;
    memset(dx, 0, nx * sizeof *dx);
    if ((st = pt_cpu_col2im(be, s, dcols, dx))) return st;
    pt_round_array(out_fmt, dx, nx, 0);
    return PT_OK;
}

pt_status pt_cpu_conv_bwd_filter(pt_backend *be, const pt_conv_shape *s, int o, const pt_operand *dy,
                                 const pt_operand *x, float beta, float *dw)
{
    float *cols;
    pt_operand a;
    pt_status st = dy_rows(be, s, o, dy, &a);
    if (!st) st = columns(be, s, x, &cols);
    if (st) return st;
    pt_operand b = {.data = cols, .fmt = PT_FMT_FP32};
    a.trans = true;
    pt_gemm g = {.m = o, .n = s->c * s->k * s->k, .k = s->n * s->oh * s->ow, .a = a, .b = b, .out_fmt = PT_FMT_FP32,
                 .beta = beta};
    return pt_cpu_gemm(be, &g, dw);
}

pt_status pt_cpu_im2col(pt_backend *be, const pt_conv_shape *s, const float *x, float *cols)
{
    (void)be;
    int kk = s->k * s->k, width = s->c * kk;
    for (int n = 0; n < s->n; n++)
        for (int oy = 0; oy < s->oh; oy++)
            for (int ox = 0; ox < s->ow; ox++) {
                float *row = cols + ((size_t)(n * s->oh + oy) * s->ow + ox) * width;
                for (int c = 0; c < s->c; c++)
                    for (int ky = 0; ky < s->k; ky++)
                        for (int kx = 0; kx < s->k; kx++) {
                            int iy = oy * s->stride - s->pad + ky, ix = ox * s->stride - s->pad + kx;
                            float v = 0.0f;
                            if (iy >= 0 && iy < s->h && ix >= 0 && ix < s->w)
                                v = x[(((size_t)n * s->c + c) * s->h + iy) * s->w + ix];
                            row[c * kk + ky * s->k + kx] = v;
                        }
            }
    return PT_OK;
}

pt_status pt_cpu_col2im(pt_backend *be, const pt_conv_shape *s, const float *cols, float *dx)
{
    (void)be;
    int kk = s->k * s->k, width = s->c * kk;
    for (int n = 0; n < s->n; n++)
        for (int oy = 0; oy < s->oh; oy++)
            for (int ox = 0; ox < s->ow; ox++) {
                const float *row = cols + ((size_t)(n * s->oh + oy) * s->ow + ox) * width;
                for (int c = 0; c < s->c; c++)
                    for (int ky = 0; ky < s->k; ky++)
                        for (int kx = 0; kx < s->k; kx++) {
                            int iy = oy * s->stride - s->pad + ky, ix = ox * s->stride - s->pad + kx;
                            if (iy >= 0 && iy < s->h && ix >= 0 && ix < s->w)
                                dx[(((size_t)n * s->c + c) * s->h + iy) * s->w + ix] +=
                                    row[c * kk + ky * s->k + kx];
                        }
            }
    return PT_OK;
}

pt_status pt_cpu_rows_to_nchw(pt_backend *be, const float *rows, float *nchw, int n, int c,
                                  int p, bool backward)
{
    (void)be;
    for (int b = 0; b < n; b++)
        for (int q = 0; q < p; q++)
            for (int ch = 0; ch < c; ch++) {
                size_t r = ((size_t)b * p + q) * c + ch, t = ((size_t)b * c + ch) * p + q;
                if (backward) ((float *)rows)[r] = nchw[t];
                else nchw[t] = rows[r];
            }
    return PT_OK;
}
