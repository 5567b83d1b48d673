/* The activation passes on a GEMM's packed 16-bit output
 * (pt_gemm_tail.packed) with their result cast to a 16-bit format: the
 * forward of a bf16 or fp16 MLP layer, and its backward with the bias
 * gradient. Eight values a thread, in 16-byte loads and stores, the
 * loads issued before their arithmetic: nn.cu's rows kernels, four values
 * a thread in 8-byte accesses, ran these passes at 1.5-1.6 TB/s on the
 * H100. The same values as those kernels: the activation, the cast, the
 * amax, and the bias gradient's sums in the same order. */
#include "act.cuh"
#include "check.h"
#include "cuda_backend.h"

#define ACT_THREADS 256
#define ACT_FWD_ITEMS 2 /* eight-value items a thread of the forward */

/* eight codes stored together (16 or 8 bytes) */
template <typename T> struct __align__(8 * sizeof(T)) codes8 {
    codes4<T> lo, hi;
};

/* the eight values of a 16-byte load of codes, as two float4s */
__device__ __forceinline__ void unpack8(int fmt, uint4 r, float4 &lo, float4 &hi)
{
    lo = unpack4(fmt, make_uint2(r.x, r.y));
    hi = unpack4(fmt, make_uint2(r.z, r.w));
}

/* y = act(x) over n8 items of eight values: codes in F (CAST) and fp32
 * out (where not NULL) */
template <int F, typename T, bool CAST>
__global__ void act_fwd_packed_kernel(int a, int xfmt, const uint4 *x, float4 *out, codes8<T> *codes, size_t n8,
                                      const float *scale_p, float *amax_p, int sat)
{
    float scale = CAST && scale_p ? *scale_p : 1.0f;
    unsigned amax = 0;
    size_t i0 = blockIdx.x * (size_t)(ACT_FWD_ITEMS * ACT_THREADS) + threadIdx.x;
    uint4 r[ACT_FWD_ITEMS];
#pragma unroll
    for (int u = 0; u < ACT_FWD_ITEMS; u++)
        if (i0 + u * ACT_THREADS < n8) r[u] = x[i0 + u * ACT_THREADS];
#pragma unroll
    for (int u = 0; u < ACT_FWD_ITEMS; u++) {
        size_t i = i0 + u * ACT_THREADS;
        if (i >= n8) break;
        float4 lo, hi;
        unpack8(xfmt, r[u], lo, hi);
        lo = act4(false, a, lo, lo), hi = act4(false, a, hi, hi);
        if (out) out[2 * i] = lo, out[2 * i + 1] = hi;
        if (CAST) codes[i] = codes8<T>{cast4<F, T>(lo, scale, sat, amax), cast4<F, T>(hi, scale, sat, amax)};
    }
    if (CAST) amax_flush(amax, amax_p);
}

/* whether a packed tail is read as it is: codes alone, 16-byte aligned,
 * nothing written back */
static bool plain_packed(const pt_gemm_tail *t)
{
    return t && t->packed && !t->bias && t->keep_raw && (uintptr_t)t->packed % 16 == 0 &&
           (t->fmt == PT_FMT_BF16 || t->fmt == PT_FMT_FP16);
}

/* the outputs these kernels write: fp32, or codes in bf16 or fp16 */
static bool wide_out(pt_format f) { return f == PT_FMT_FP32 || f == PT_FMT_BF16 || f == PT_FMT_FP16; }

bool pt_cuda_act_fwd_packed(pt_backend *be, int a, const pt_gemm_tail *t, float *out, size_t n, pt_format f,
                            const float *scale, float *amax, int sat, void *codes, pt_status *st)
{
    if (!n || n % 8 || !plain_packed(t) || !wide_out(f) || (uintptr_t)out % 16 || (uintptr_t)codes % 16 ||
        (f == PT_FMT_FP32 && !out))
        return false;
    size_t n8 = n / 8, per = ACT_FWD_ITEMS * ACT_THREADS;
    unsigned grid = (unsigned)((n8 + per - 1) / per);
    cudaStream_t s = pt_cuda_impl(be)->stream;
    const uint4 *x = (const uint4 *)t->packed;
    float4 *o = (float4 *)out;
    if (f == PT_FMT_FP32)
        act_fwd_packed_kernel<PT_FMT_FP32, uint16_t, false><<<grid, ACT_THREADS, 0, s>>>(a, t->fmt, x, o, NULL, n8,
                                                                                        NULL, NULL, 0);
    else if (f == PT_FMT_BF16)
        act_fwd_packed_kernel<PT_FMT_BF16, uint16_t, true><<<grid, ACT_THREADS, 0, s>>>(
            a, t->fmt, x, o, (codes8<uint16_t> *)codes, n8, scale, amax, sat);
    else
        act_fwd_packed_kernel<PT_FMT_FP16, uint16_t, true><<<grid, ACT_THREADS, 0, s>>>(
            a, t->fmt, x, o, (codes8<uint16_t> *)codes, n8, scale, amax, sat);
    cudaError_t e = cudaGetLastError();
    *st = e == cudaSuccess ? PT_OK : pt_fail(PT_ERR_CUDA, "act_fwd_packed_kernel: %s", cudaGetErrorString(e));
    return true;
}

/* dx = act'(x) dy, codes in F (CAST) and fp32 dx (where not NULL), with the
 * partial column sums of the chunk into part ([chunks, cols]). A block:
 * 32 items of eight columns x BG_CHUNK rows. Where db is not NULL, the
 * last block of a column group to finish (done[blockIdx.x], reset after)
 * adds the chunks into db, in order: bias_grad_sum_kernel's launch saved. */
template <int F, typename T, bool CAST>
__global__ void __launch_bounds__(ACT_THREADS)
    act_bwd_packed_kernel(int a, int xfmt, int dfmt, const uint4 *x, const uint4 *dy, float4 *dx, codes8<T> *codes,
                          int rows, int n8, float4 *part, float *db, float beta, unsigned *done, const float *scale_p,
                          float *amax_p, int sat)
{
    enum { AHEAD = 4 };
    __shared__ float4 sh[8][2][33];
    float scale = CAST && scale_p ? *scale_p : 1.0f;
    unsigned amax = 0;
    int j = blockIdx.x * 32 + threadIdx.x, r0 = blockIdx.y * BG_CHUNK, r1 = min(rows, r0 + BG_CHUNK);
    float4 s0 = make_float4(0.0f, 0.0f, 0.0f, 0.0f), s1 = s0;
    for (int i0 = r0 + threadIdx.y; j < n8 && i0 < r1; i0 += 8 * AHEAD) {
        uint4 xr[AHEAD], dr[AHEAD];
#pragma unroll
        for (int u = 0; u < AHEAD; u++)
            if (i0 + 8 * u < r1) {
                size_t k = (size_t)(i0 + 8 * u) * n8 + j;
                xr[u] = x[k], dr[u] = dy[k];
            }
#pragma unroll
        for (int u = 0; u < AHEAD; u++) {
            if (i0 + 8 * u >= r1) break;
            size_t k = (size_t)(i0 + 8 * u) * n8 + j;
            float4 xl, xh, dl, dh;
            unpack8(xfmt, xr[u], xl, xh);
            unpack8(dfmt, dr[u], dl, dh);
            float4 lo = act4(true, a, xl, dl), hi = act4(true, a, xh, dh);
            if (dx) dx[2 * k] = lo, dx[2 * k + 1] = hi;
            s0.x += lo.x, s0.y += lo.y, s0.z += lo.z, s0.w += lo.w;
            s1.x += hi.x, s1.y += hi.y, s1.z += hi.z, s1.w += hi.w;
            if (CAST) codes[k] = codes8<T>{cast4<F, T>(lo, scale, sat, amax), cast4<F, T>(hi, scale, sat, amax)};
        }
    }
    if (CAST) amax_flush(amax, amax_p);
    if (!part) return;
    sh[threadIdx.y][0][threadIdx.x] = s0, sh[threadIdx.y][1][threadIdx.x] = s1;
    __syncthreads();
    if (threadIdx.y < 2 && j < n8) { /* row 0 the low four columns, row 1 the high */
        int h = threadIdx.y;
        float4 t = sh[0][h][threadIdx.x];
        for (int y = 1; y < 8; y++) {
            float4 u = sh[y][h][threadIdx.x];
            t.x += u.x, t.y += u.y, t.z += u.z, t.w += u.w;
        }
        part[(size_t)blockIdx.y * 2 * n8 + 2 * j + h] = t;
    }
    if (db)
        bias_sums_last((const float *)part, 8 * n8, gridDim.y, db, beta, done, blockIdx.x,
                       blockIdx.x * 256 + threadIdx.y * 32 + threadIdx.x);
}

pt_status pt_cuda_done_counters(cuda_backend *c, int groups, unsigned **out)
{
    if (c->done_cap < groups) {
        cudaFree(c->done);
        c->done = NULL;
        c->done_cap = 0;
        PT_CUDA_CHECK(cudaMalloc((void **)&c->done, (size_t)groups * sizeof(unsigned)));
        PT_CUDA_CHECK(cudaMemsetAsync(c->done, 0, (size_t)groups * sizeof(unsigned), c->stream));
        c->done_cap = groups;
    }
    *out = c->done;
    return PT_OK;
}

bool pt_cuda_act_bwd_packed(pt_backend *be, int a, const pt_gemm_tail *xt, const pt_gemm_tail *dyt, float *dx,
                            size_t n, int cols, pt_format f, const float *scale, float *amax, int sat, void *codes,
                            float *db, float beta, pt_status *st)
{
    int rows = cols > 0 ? (int)(n / (size_t)cols) : 0;
    if (!rows || cols % 8 || n % (size_t)cols || !plain_packed(xt) || !plain_packed(dyt) || xt->cols != cols ||
        dyt->cols != cols || !wide_out(f) || (uintptr_t)dx % 16 || (uintptr_t)codes % 16 ||
        (f == PT_FMT_FP32 && !dx) || (rows + BG_CHUNK - 1) / BG_CHUNK > 65535)
        return false;
    cuda_backend *c = pt_cuda_impl(be);
    int n8 = cols / 8, chunks = (rows + BG_CHUNK - 1) / BG_CHUNK, groups = (n8 + 31) / 32;
    float *part = NULL;
    unsigned *done = NULL;
    if (db && ((*st = pt_cuda_scratch(c, 2, (size_t)chunks * (size_t)cols, &part)) ||
               (*st = pt_cuda_done_counters(c, groups, &done))))
        return true;
    dim3 grid((unsigned)groups, (unsigned)chunks), block(32, 8);
    const uint4 *x = (const uint4 *)xt->packed, *d = (const uint4 *)dyt->packed;
    float4 *o = (float4 *)dx, *p = (float4 *)part;
    if (f == PT_FMT_FP32)
        act_bwd_packed_kernel<PT_FMT_FP32, uint16_t, false><<<grid, block, 0, c->stream>>>(
            a, xt->fmt, dyt->fmt, x, d, o, NULL, rows, n8, p, db, beta, done, NULL, NULL, 0);
    else if (f == PT_FMT_BF16)
        act_bwd_packed_kernel<PT_FMT_BF16, uint16_t, true><<<grid, block, 0, c->stream>>>(
            a, xt->fmt, dyt->fmt, x, d, o, (codes8<uint16_t> *)codes, rows, n8, p, db, beta, done, scale, amax, sat);
    else
        act_bwd_packed_kernel<PT_FMT_FP16, uint16_t, true><<<grid, block, 0, c->stream>>>(
            a, xt->fmt, dyt->fmt, x, d, o, (codes8<uint16_t> *)codes, rows, n8, p, db, beta, done, scale, amax, sat);
    cudaError_t e = cudaGetLastError();
    *st = e == cudaSuccess ? PT_OK : pt_fail(PT_ERR_CUDA, "act_bwd_packed_kernel: %s", cudaGetErrorString(e));
    return true;
}
