/* The layer norm on the GPU over the last dimension of x [rows, c], a
 * warp per row: the forward (keeping mean and 1/std) and the backward
 * (dx by rows, dgamma and dbeta by columns). */
#include "common.cuh"

/* F other than fp32: every intermediate rounded to F, as on the CPU */
template <int F>
__global__ void layernorm_fwd_kernel(const float *x, const float *g, const float *b, float eps, float *y,
                                     float *mean, float *rstd, int rows, int c)
{
    int r = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x & 31;
    if (r >= rows) return;
    const float *xr = x + (size_t)r * c;
    float s = 0;
    for (int j = lane; j < c; j += 32) s += xr[j];
    float mu = dev_round<F>(warp_sum(s) / c), v = 0;
    for (int j = lane; j < c; j += 32) v += (xr[j] - mu) * (xr[j] - mu);
    float var = dev_round<F>(warp_sum(v) / c);
    float rs = F == PT_FMT_FP32 ? rsqrtf(var + eps) : dev_round<F>(1.0f / sqrtf(dev_round<F>(var + dev_round<F>(eps))));
    for (int j = lane; j < c; j += 32) y[(size_t)r * c + j] = dev_round<F>((xr[j] - mu) * rs * g[j] + b[j]);
    if (!lane) mean[r] = mu, rstd[r] = rs;
}

__global__ void layernorm_bwd_dx_kernel(const float *x, const float *g, const float *mean, const float *rstd,
                                        const float *dy, float *dx, int rows, int c)
{
    int r = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x & 31;
    if (r >= rows) return;
    const float *xr = x + (size_t)r * c, *dr = dy + (size_t)r * c;
    float sg = 0, sgx = 0;
    for (int j = lane; j < c; j += 32) {
        float xh = (xr[j] - mean[r]) * rstd[r], gg = dr[j] * g[j];
        sg += gg, sgx += gg * xh;
    }
    float mg = warp_sum(sg) / c, mgx = warp_sum(sgx) / c;
    for (int j = lane; j < c; j += 32) {
        float xh = (xr[j] - mean[r]) * rstd[r];
        dx[(size_t)r * c + j] = rstd[r] * (dr[j] * g[j] - mg - xh * mgx);
    }
}

__global__ void layernorm_bwd_param_kernel(const float *x, const float *mean, const float *rstd, const float *dy,
                                           float *dg, float *dbeta, int rows, int c)
{
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= c) return;
    float a = dg[j], b = dbeta[j];
    for (int r = 0; r < rows; r++) {
        float d = dy[(size_t)r * c + j];
        a += d * (x[(size_t)r * c + j] - mean[r]) * rstd[r];
        b += d;
    }
    dg[j] = a, dbeta[j] = b;
}

pt_status cu_layernorm_fwd(pt_backend *be, const float *x, const float *g, const float *b, float eps,
                           pt_format fmt, float *y, float *mean, float *rstd, int rows, int c)
{
    if (!rows) return PT_OK;
    unsigned grid = (unsigned)(rows + 7) / 8;
    switch (fmt) {
    case PT_FMT_BF16: layernorm_fwd_kernel<PT_FMT_BF16><<<grid, 256, 0, S(be)>>>(x, g, b, eps, y, mean, rstd, rows, c); break;
    case PT_FMT_FP16: layernorm_fwd_kernel<PT_FMT_FP16><<<grid, 256, 0, S(be)>>>(x, g, b, eps, y, mean, rstd, rows, c); break;
    case PT_FMT_E4M3: layernorm_fwd_kernel<PT_FMT_E4M3><<<grid, 256, 0, S(be)>>>(x, g, b, eps, y, mean, rstd, rows, c); break;
    case PT_FMT_E5M2: layernorm_fwd_kernel<PT_FMT_E5M2><<<grid, 256, 0, S(be)>>>(x, g, b, eps, y, mean, rstd, rows, c); break;
    case PT_FMT_FP32:
    case PT_FMT_TF32: /* fp32 storage: no rounding, as the CPU reference */
        layernorm_fwd_kernel<PT_FMT_FP32><<<grid, 256, 0, S(be)>>>(x, g, b, eps, y, mean, rstd, rows, c); break;
    default: return pt_cuda_no_kernel("layernorm_fwd_kernel", fmt);
    }
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

pt_status cu_layernorm_bwd(pt_backend *be, const float *x, const float *g, const float *mean,
                           const float *rstd, const float *dy, float *dx, float *dg, float *db, int rows, int c)
{
    if (!rows) return PT_OK;
    layernorm_bwd_dx_kernel<<<(rows + 7) / 8, 256, 0, S(be)>>>(x, g, mean, rstd, dy, dx, rows, c);
    PT_CUDA_CHECK_LAUNCH();
    layernorm_bwd_param_kernel<<<(c + THREADS - 1) / THREADS, THREADS, 0, S(be)>>>(x, mean, rstd, dy, dg, db, rows, c);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}
