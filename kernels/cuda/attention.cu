/* The GPU ops of attention that are not GEMMs, as kernels/cpu/attention.c
 * computes them: the layout of q, k and v by head, and the row softmax
 * with its causal mask, forward and backward, with fp64 sums (a warp per
 * row; the CPU sums in order, so the last bits of a sum may differ and the
 * op tests compare by NMSE). */
#include "common.cuh"

/* src [rows, t, g, h, hd] -> dst [g, rows, h, t, hd] (backward: the inverse) */
__global__ void heads_kernel(const float *src, float *dst, int rows, int t, int g, int h, int hd, bool backward)
{
    size_t n = (size_t)rows * t * g * h * hd;
    GRID_STRIDE(i, n) {
        size_t e = i % hd, rest = i / hd; /* i indexes the token-major layout */
        int j = (int)(rest % h);
        rest /= h;
        int k = (int)(rest % g);
        rest /= g;
        int p = (int)(rest % t);
        int b = (int)(rest / t);
        size_t head = ((((size_t)k * rows + b) * h + j) * t + p) * hd + e;
        if (backward) dst[i] = src[head];
        else dst[head] = src[i];
    }
}

pt_status cu_heads(pt_backend *be, const float *src, float *dst, int rows, int t, int g, int h, int hd, bool backward)
{
    size_t n = (size_t)rows * t * g * h * hd;
    if (!n) return PT_OK;
    heads_kernel<<<blocks_for(n), THREADS, 0, S(be)>>>(src, dst, rows, t, g, h, hd, backward);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

/* F fp32: the values as they are; bf16 or fp16: x read rounded to F, the
 * output rounded to F (the exponentials and their sum in fp64 as on the CPU) */
template <int F>
__global__ void softmax_kernel(const float *x, float *y, int rows, int c, bool causal)
{
    int r = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x & 31;
    if (r >= rows) return;
    const float *xr = x + (size_t)r * c;
    float *yr = y + (size_t)r * c;
    int n = causal ? r % c + 1 : c;
    float mx = -INFINITY;
    for (int j = lane; j < n; j += 32) mx = fmaxf(mx, dev_round<F>(xr[j]));
    mx = warp_max(mx); /* fmaxf passes over a NaN, but its exponential makes the sum NaN, as on the CPU */
    double se = 0;
    for (int j = lane; j < n; j += 32) se += exp((double)(dev_round<F>(xr[j]) - mx));
    se = warp_sum_d(se);
    for (int j = lane; j < c; j += 32)
        yr[j] = j < n ? dev_round<F>((float)(exp((double)(dev_round<F>(xr[j]) - mx)) / se)) : 0.0f;
}

pt_status cu_softmax(pt_backend *be, const float *x, float *y, int rows, int c, bool causal, pt_format fmt)
{
    if (!rows) return PT_OK;
    unsigned grid = (unsigned)(rows + 7) / 8;
    switch (fmt) {
    case PT_FMT_FP32: softmax_kernel<PT_FMT_FP32><<<grid, 256, 0, S(be)>>>(x, y, rows, c, causal); break;
    case PT_FMT_BF16: softmax_kernel<PT_FMT_BF16><<<grid, 256, 0, S(be)>>>(x, y, rows, c, causal); break;
    case PT_FMT_FP16: softmax_kernel<PT_FMT_FP16><<<grid, 256, 0, S(be)>>>(x, y, rows, c, causal); break;
    default: return pt_cuda_no_kernel("softmax_kernel", fmt);
    }
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

/* dx = y (dy - sum_j y dy), the sum in fp64 */
__global__ void softmax_bwd_kernel(const float *y, const float *dy, float *dx, int rows, int c)
{
    int r = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x & 31;
    if (r >= rows) return;
    const float *yr = y + (size_t)r * c, *gr = dy + (size_t)r * c;
    double dot = 0;
    for (int j = lane; j < c; j += 32) dot += (double)yr[j] * gr[j];
    float d = (float)warp_sum_d(dot);
    for (int j = lane; j < c; j += 32) dx[(size_t)r * c + j] = yr[j] * (gr[j] - d);
}

pt_status cu_softmax_bwd(pt_backend *be, const float *y, const float *dy, float *dx, int rows, int c)
{
    if (!rows) return PT_OK;
    softmax_bwd_kernel<<<(unsigned)(rows + 7) / 8, 256, 0, S(be)>>>(y, dy, dx, rows, c);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}
