/* Our own pooling kernels (max with its argmax, average) over NCHW,
 * forward and backward; the backward gathers (no atomics). With cuDNN
 * the pooling goes through conv.cu's descriptors instead. */
#include "common.cuh"

__global__ void pool_fwd_kernel(bool max, pt_conv_shape s, const float *x, float *y, int32_t *argmax, size_t total)
{
    GRID_STRIDE(o, total) {
        int ox = (int)(o % s.ow), oy = (int)((o / s.ow) % s.oh);
        size_t nc = o / ((size_t)s.ow * s.oh);
        const float *xc = x + nc * s.h * s.w;
        float best = -INFINITY, sum = 0;
        int arg = -1, cnt = 0;
        for (int ky = 0; ky < s.k; ky++)
            for (int kx = 0; kx < s.k; kx++) {
                int iy = oy * s.stride - s.pad + ky, ix = ox * s.stride - s.pad + kx;
                if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
                float v = xc[iy * s.w + ix];
                if (arg < 0 || v > best || isnan(v)) best = v, arg = iy * s.w + ix;
                sum += v;
                cnt++;
            }
        if (max) y[o] = best, argmax[o] = arg;
        else y[o] = cnt ? sum / (float)(s.k * s.k) : 0.0f;
    }
}

/* gather: each input element sums the gradients of the windows it won (max) or joined (avg) */
__global__ void pool_bwd_kernel(bool max, pt_conv_shape s, const float *dy, const int32_t *argmax, float *dx, size_t total)
{
    GRID_STRIDE(idx, total) {
        int ix = (int)(idx % s.w), iy = (int)((idx / s.w) % s.h);
        size_t nc = idx / ((size_t)s.w * s.h);
        float acc = 0;
        for (int ky = 0; ky < s.k; ky++)
            for (int kx = 0; kx < s.k; kx++) {
                int oy, ox;
                if (!window_at(s, iy, ix, ky, kx, &oy, &ox)) continue;
                size_t o = (nc * s.oh + oy) * s.ow + ox;
                if (max) acc += argmax[o] == iy * s.w + ix ? dy[o] : 0.0f;
                else acc += dy[o] / (float)(s.k * s.k);
            }
        dx[idx] += acc;
    }
}

pt_status cu_pool_fwd(pt_backend *be, bool max, const pt_conv_shape *s, const float *x, float *y, int32_t *argmax)
{
    if (pt_cuda_impl(be)->have_cudnn) return pt_cuda_pool_fwd(be, max, s, x, y);
    size_t total = (size_t)s->n * s->c * s->oh * s->ow;
    if (total) pool_fwd_kernel<<<blocks_for(total), THREADS, 0, S(be)>>>(max, *s, x, y, argmax, total);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

pt_status cu_pool_bwd(pt_backend *be, bool max, const pt_conv_shape *s, const float *x, const float *y,
                      const float *dy, const int32_t *argmax, float *dx)
{
    if (pt_cuda_impl(be)->have_cudnn) return pt_cuda_pool_bwd(be, max, s, x, y, dy, dx);
    size_t total = (size_t)s->n * s->c * s->h * s->w;
    if (total) pool_bwd_kernel<<<blocks_for(total), THREADS, 0, S(be)>>>(max, *s, dy, argmax, dx, total);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}
