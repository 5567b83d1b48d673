/* The optimizer step on the GPU and what precedes it: the loss scale's
 * unscale and overflow check of the gradients with their sum of squares
 * (per-block partial sums in fp64, added in a fixed tree), the sum and
 * scaling of a tensor, and the AdamW and SGD updates behind the
 * optimizer gate. */
#include "common.cuh"

__global__ void scale_kernel(float *x, size_t n, float s) { GRID_STRIDE(i, n) x[i] *= s; }

pt_status cu_scale(pt_backend *be, float *x, size_t n, float s)
{
    if (n) scale_kernel<<<blocks_for(n), THREADS, 0, S(be)>>>(x, n, s);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

/* ---- unscale + check, optimizers ------------------------------------------ */

/* fixed grid, per-block partial sums in fp64, then one block adds them in
 * order: the same sum every time. Without write (no loss scale, or the
 * optimizer unscaling as it reads) the gradients are only read, and the
 * pass moves half the bytes.
 *
 * A block's end of the pass: the flag if any value was bad, and the
 * block's sum of squares, added in a fixed tree */
__device__ void unscale_block_end(double s, int bad, int32_t *flags, double *partials)
{
    __shared__ double sh[THREADS];
    if (bad) flags[0] = 1;
    sh[threadIdx.x] = s;
    __syncthreads();
    for (int o = THREADS / 2; o; o >>= 1) {
        if (threadIdx.x < o) sh[threadIdx.x] += sh[threadIdx.x + o];
        __syncthreads();
    }
    if (!threadIdx.x) partials[blockIdx.x] = sh[0];
}

__global__ void unscale_kernel(float *g, size_t n, float inv, bool write, int32_t *flags, double *partials)
{
    double s = 0;
    int bad = 0;
    GRID_STRIDE(i, n) {
        float v = g[i] * inv;
        if (write) g[i] = v;
        bad |= !isfinite(v);
        s += (double)v * v;
    }
    unscale_block_end(s, bad, flags, partials);
}

/* the same, four values a thread (the sum's order is another fixed one),
 * two float4s loaded before either is used */
__device__ __forceinline__ double unscale4(float4 *g, size_t i, float4 v, float inv, bool write, int &bad)
{
    v.x *= inv, v.y *= inv, v.z *= inv, v.w *= inv;
    if (write) g[i] = v;
    bad |= !isfinite(v.x) | !isfinite(v.y) | !isfinite(v.z) | !isfinite(v.w);
    return (double)v.x * v.x + (double)v.y * v.y + (double)v.z * v.z + (double)v.w * v.w;
}

__global__ void unscale4_kernel(float4 *g, size_t n4, float inv, bool write, int32_t *flags, double *partials)
{
    double s = 0;
    int bad = 0;
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n4; i += 2 * stride) {
        float4 a = g[i], b = i + stride < n4 ? g[i + stride] : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        s += unscale4(g, i, a, inv, write, bad);
        if (i + stride < n4) s += unscale4(g, i + stride, b, inv, write, bad);
    }
    unscale_block_end(s, bad, flags, partials);
}

/* the blocks' sums added in a fixed tree by one block of PARTIALS threads
 * (one thread adding them in a row waits on each load in turn) */
__global__ void sum_partials_kernel(const double *partials, int n, double *out)
{
    __shared__ double sh[PARTIALS];
    sh[threadIdx.x] = (int)threadIdx.x < n ? partials[threadIdx.x] : 0.0;
    __syncthreads();
    for (int o = PARTIALS / 2; o; o >>= 1) {
        if (threadIdx.x < o) sh[threadIdx.x] += sh[threadIdx.x + o];
        __syncthreads();
    }
    if (!threadIdx.x) *out = sh[0];
}

pt_status cu_unscale_check(pt_backend *be, float *g, size_t n, float inv, bool write, int32_t *flags,
                           double *sumsq)
{
    bool v4 = vec4(n, g, g, g);
    unsigned grid = blocks_for(v4 ? n / 4 : n) < PARTIALS ? blocks_for(v4 ? n / 4 : n) : PARTIALS;
    if (v4) unscale4_kernel<<<grid, THREADS, 0, S(be)>>>((float4 *)g, n / 4, inv, write, flags, pt_cuda_impl(be)->partials);
    else unscale_kernel<<<grid, THREADS, 0, S(be)>>>(g, n, inv, write, flags, pt_cuda_impl(be)->partials);
    PT_CUDA_CHECK_LAUNCH();
    sum_partials_kernel<<<1, PARTIALS, 0, S(be)>>>(pt_cuda_impl(be)->partials, (int)grid, sumsq);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

/* one block: per-thread sums of a fixed stride, then a fixed tree */
__global__ void sum_kernel(const float *x, size_t n, double *acc)
{
    __shared__ double sh[THREADS];
    double s = 0;
    for (size_t i = threadIdx.x; i < n; i += THREADS) s += x[i];
    sh[threadIdx.x] = s;
    __syncthreads();
    for (int o = THREADS / 2; o; o >>= 1) {
        if (threadIdx.x < o) sh[threadIdx.x] += sh[threadIdx.x + o];
        __syncthreads();
    }
    if (!threadIdx.x) *acc += sh[0];
}

pt_status cu_sum(pt_backend *be, const float *x, size_t n, double *acc)
{
    if (n) sum_kernel<<<1, THREADS, 0, S(be)>>>(x, n, acc);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

/* one weight's AdamW step (the same float arithmetic in both kernels) */
__device__ __forceinline__ void adamw_one(float lr, float b1, float b2, float eps, float decay, float step_size,
                                          float bc2_sqrt, float u, bool clip, float f, float &w, float g, float &m,
                                          float &v)
{
    float gi = pt_gate_grad(g, u, clip, f);
    float wi = w * decay;
    m = b1 * m + (1.0f - b1) * gi;
    v = b2 * v + (1.0f - b2) * gi * gi;
    float denom = sqrtf(v) / bc2_sqrt + eps;
    w = wi - step_size * m / denom;
}

__device__ __forceinline__ uint16_t copy_code(float w, int copy_fmt)
{
    return (uint16_t)(copy_fmt == PT_FMT_BF16 ? pt_dev_encode<PT_FMT_BF16>(w, 0) : pt_dev_encode<PT_FMT_FP16>(w, 0));
}

__global__ void adamw_kernel(float lr, float b1, float b2, float eps, float decay, float step_size, float bc2_sqrt,
                             pt_optim_gate gate, bool gated, float *w, const float *g, float *m, float *v, size_t n,
                             uint16_t *copy, int copy_fmt)
{
    float f, u;
    bool clip;
    if (!pt_gate_open(gated ? &gate : NULL, &f, &clip, &u)) return;
    GRID_STRIDE(i, n) {
        float wi = w[i], mi = m[i], vi = v[i];
        adamw_one(lr, b1, b2, eps, decay, step_size, bc2_sqrt, u, clip, f, wi, g[i], mi, vi);
        w[i] = wi, m[i] = mi, v[i] = vi;
        if (copy) copy[i] = copy_code(wi, copy_fmt);
    }
}

/* the same, four weights a thread (n4 float4s; the tail by adamw_kernel) */
__global__ void adamw4_kernel(float lr, float b1, float b2, float eps, float decay, float step_size, float bc2_sqrt,
                              pt_optim_gate gate, bool gated, float4 *w, const float4 *g, float4 *m, float4 *v,
                              size_t n4, codes4<uint16_t> *copy, int copy_fmt)
{
    float f, u;
    bool clip;
    if (!pt_gate_open(gated ? &gate : NULL, &f, &clip, &u)) return;
    GRID_STRIDE(i, n4) {
        float4 wi = w[i], gi = g[i], mi = m[i], vi = v[i];
        adamw_one(lr, b1, b2, eps, decay, step_size, bc2_sqrt, u, clip, f, wi.x, gi.x, mi.x, vi.x);
        adamw_one(lr, b1, b2, eps, decay, step_size, bc2_sqrt, u, clip, f, wi.y, gi.y, mi.y, vi.y);
        adamw_one(lr, b1, b2, eps, decay, step_size, bc2_sqrt, u, clip, f, wi.z, gi.z, mi.z, vi.z);
        adamw_one(lr, b1, b2, eps, decay, step_size, bc2_sqrt, u, clip, f, wi.w, gi.w, mi.w, vi.w);
        w[i] = wi, m[i] = mi, v[i] = vi;
        if (copy) {
            codes4<uint16_t> c;
            c.v[0] = copy_code(wi.x, copy_fmt), c.v[1] = copy_code(wi.y, copy_fmt);
            c.v[2] = copy_code(wi.z, copy_fmt), c.v[3] = copy_code(wi.w, copy_fmt);
            copy[i] = c;
        }
    }
}

pt_status cu_adamw(pt_backend *be, const pt_adamw *h, const pt_optim_gate *gate, float *w, const float *g,
                  float *m, float *v, size_t n)
{
    pt_optim_gate gt = gate ? *gate : pt_optim_gate{};
    /* the same host arithmetic as the CPU backend */
    float bc1 = 1.0f - powf(h->beta1, (float)h->step), bc2 = 1.0f - powf(h->beta2, (float)h->step);
    float step_size = h->lr / bc1, bc2_sqrt = sqrtf(bc2), decay = 1.0f - h->lr * h->weight_decay;
    uint16_t *copy = (uint16_t *)h->copy;
    bool aligned = vec4(4, w, g, m) && (uintptr_t)v % 16 == 0 && (uintptr_t)copy % 8 == 0;
    size_t n4 = aligned ? n / 4 : 0, done = n4 * 4;
    if (n4) {
        adamw4_kernel<<<blocks_for(n4), THREADS, 0, S(be)>>>(h->lr, h->beta1, h->beta2, h->eps, decay, step_size,
                                                              bc2_sqrt, gt, gate != NULL, (float4 *)w, (const float4 *)g,
                                                              (float4 *)m, (float4 *)v, n4, (codes4<uint16_t> *)copy,
                                                              (int)h->copy_fmt);
        PT_CUDA_CHECK_LAUNCH();
    }
    if (n > done) {
        adamw_kernel<<<blocks_for(n - done), THREADS, 0, S(be)>>>(h->lr, h->beta1, h->beta2, h->eps, decay, step_size,
                                                                   bc2_sqrt, gt, gate != NULL, w + done, g + done,
                                                                   m + done, v + done, n - done,
                                                                   copy ? copy + done : NULL, (int)h->copy_fmt);
        PT_CUDA_CHECK_LAUNCH();
    }
    return PT_OK;
}

__global__ void sgd_kernel(float lr, float mom, float wd, pt_optim_gate gate, bool gated, float *w, const float *g,
                           float *buf, size_t n)
{
    float f, u;
    bool clip;
    if (!pt_gate_open(gated ? &gate : NULL, &f, &clip, &u)) return;
    GRID_STRIDE(i, n) {
        float d = pt_gate_grad(g[i], u, clip, f) + wd * w[i];
        buf[i] = mom * buf[i] + d;
        w[i] -= lr * (mom != 0.0f ? buf[i] : d);
    }
}

pt_status cu_sgd(pt_backend *be, float lr, float mom, float wd, const pt_optim_gate *gate, float *w,
                const float *g, float *buf, size_t n)
{
    pt_optim_gate gt = gate ? *gate : pt_optim_gate{};
    if (n) sgd_kernel<<<blocks_for(n), THREADS, 0, S(be)>>>(lr, mom, wd, gt, gate != NULL, w, g, buf, n);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}
