/* The CPU pooling (max, with the argmax it keeps, and average) over NCHW
 * tensors, forward and backward. */
#include <math.h>

#include "../backend_impl.h"
#include "cpu.h"

pt_status cpu_pool_fwd(pt_backend *be, bool max, const pt_conv_shape *s, const float *x,
                       float *y, int32_t *argmax)
{
    (void)be;
    for (int n = 0; n < s->n; n++)
        for (int c = 0; c < s->c; c++) {
            const float *xc = x + ((size_t)n * s->c + c) * s->h * s->w;
            for (int oy = 0; oy < s->oh; oy++)
                for (int ox = 0; ox < s->ow; ox++) {
                    float best = -INFINITY, sum = 0.0f;
                    int arg = -1, cnt = 0;
                    for (int ky = 0; ky < s->k; ky++)
                        for (int kx = 0; kx < s->k; kx++) {
                            int iy = oy * s->stride - s->pad + ky, ix = ox * s->stride - s->pad + kx;
                            if (iy < 0 || iy >= s->h || ix < 0 || ix >= s->w) continue;
                            float v = xc[iy * s->w + ix];
                            if (arg < 0 || v > best || isnan(v)) best = v, arg = iy * s->w + ix;
                            sum += v;
                            cnt++;
                        }
                    size_t o = (((size_t)n * s->c + c) * s->oh + oy) * s->ow + ox;
                    if (max) {
                        y[o] = best;
                        argmax[o] = arg;
                    } else {
                        y[o] = cnt ? sum / (float)(s->k * s->k) : 0.0f;
                    }
                }
        }
    return PT_OK;
}

pt_status cpu_pool_bwd(pt_backend *be, bool max, const pt_conv_shape *s, const float *x, const float *y,
                       const float *dy, const int32_t *argmax, float *dx)
{
    (void)be, (void)x, (void)y;
    for (int n = 0; n < s->n; n++)
        for (int c = 0; c < s->c; c++) {
            float *dxc = dx + ((size_t)n * s->c + c) * s->h * s->w;
            for (int oy = 0; oy < s->oh; oy++)
                for (int ox = 0; ox < s->ow; ox++) {
                    size_t o = (((size_t)n * s->c + c) * s->oh + oy) * s->ow + ox;
                    if (max) {
                        if (argmax[o] >= 0) dxc[argmax[o]] += dy[o];
                        continue;
                    }
                    float g = dy[o] / (float)(s->k * s->k);
                    for (int ky = 0; ky < s->k; ky++)
                        for (int kx = 0; kx < s->k; kx++) {
                            int iy = oy * s->stride - s->pad + ky, ix = ox * s->stride - s->pad + kx;
                            if (iy >= 0 && iy < s->h && ix >= 0 && ix < s->w) dxc[iy * s->w + ix] += g;
                        }
                }
        }
    return PT_OK;
}
