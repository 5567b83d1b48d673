/* The activation passes on a GEMM's packed 16-bit output
 * (pt_gemm_tail.packed) with their result cast (bf16, fp16, or fp8 with
 * the transposed codes the backward's GEMMs read), or in fp32 alone: the
 * forward of an MLP layer, and its backward with the bias gradient. Eight
 * values a thread, in 16-byte loads, the loads issued before their
 * arithmetic: twice the bytes in flight of the rows kernels' four values
 * a thread in 8-byte accesses, which leave bandwidth unused
 * (bench/RESULTS.md). The same values as those kernels: the
 * activation, the cast, the amax, the bias gradient's sums in the same
 * order, and the same transposed codes. */
#include <limits.h>

#include "act.cuh"
#include "check.h"
#include "cuda_backend.h"

#define ACT_THREADS 256
#define ACT_FWD_ITEMS 2 /* eight-value items a thread of the forward */

/* eight codes stored together (16, 8 bytes for fp8) */
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

static bool is_fp8(pt_format f) { return f == PT_FMT_E4M3 || f == PT_FMT_E5M2; }

/* the outputs these kernels write: fp32 (out, 16-byte aligned), or codes
 * in bf16 or fp16 (16-byte aligned) or fp8 (8), with fp32 out or not */
static bool outputs_fit(pt_format f, const void *codes, const float *out)
{
    if ((uintptr_t)out % 16) return false;
    if (f == PT_FMT_FP32) return out != NULL;
    if (f != PT_FMT_BF16 && f != PT_FMT_FP16 && !is_fp8(f)) return false;
    return (uintptr_t)codes % (is_fp8(f) ? 8 : 16) == 0;
}

/* the rows kernel's shape: rows of cols (a multiple of 8), chunks a grid
 * column; codes_t with fp8 codes only */
static bool rows_fit(size_t n, int cols, pt_format f, const void *codes_t)
{
    if (cols <= 0 || cols % 8 || n % (size_t)cols) return false;
    size_t rows = n / (size_t)cols;
    if (!rows || rows > INT_MAX || (rows + BG_CHUNK - 1) / BG_CHUNK > 65535) return false;
    return !codes_t || is_fp8(f);
}

static bool launched(const char *kernel, pt_status *st)
{
    cudaError_t e = cudaGetLastError();
    *st = e == cudaSuccess ? PT_OK : pt_fail(PT_ERR_CUDA, "%s: %s", kernel, cudaGetErrorString(e));
    return true;
}

/* BWD: dx = act'(x) dy, else y = act(x); codes in F (CAST), fp32 out
 * (where not NULL), with codes_t (fp8 only, else NULL) the codes also
 * transposed, and in the backward the partial column sums of the chunk
 * into part ([chunks, cols]). A block: 32 items of eight columns x
 * BG_CHUNK rows. Where db is not NULL, the last block of a column group
 * to finish (done[blockIdx.x], reset after) adds the chunks into db, in
 * order: bias_grad_sum_kernel's launch saved. */
template <int F, typename T, bool CAST, bool BWD>
__global__ void __launch_bounds__(ACT_THREADS)
    act_rows8_kernel(int a, int xfmt, int dfmt, const uint4 *x, const uint4 *dy, float4 *out, codes8<T> *codes,
                     uint8_t *codes_t, int rows, int n8, float4 *part, float *db, float beta, unsigned *done,
                     const float *scale_p, float *amax_p, int sat)
{
    enum { AHEAD = 4, TR = CAST && sizeof(T) == 1 };
    __shared__ float4 sh[BWD ? 8 : 1][2][33];
    __shared__ codes_tile<TR ? 64 : 1> tile; /* 256 columns */
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
                xr[u] = x[k];
                if (BWD) dr[u] = dy[k];
            }
#pragma unroll
        for (int u = 0; u < AHEAD; u++) {
            if (i0 + 8 * u >= r1) break;
            size_t k = (size_t)(i0 + 8 * u) * n8 + j;
            float4 xl, xh, dl, dh;
            unpack8(xfmt, xr[u], xl, xh);
            if (BWD) unpack8(dfmt, dr[u], dl, dh);
            else dl = xl, dh = xh;
            float4 lo = act4(BWD, a, xl, dl), hi = act4(BWD, a, xh, dh);
            if (out) out[2 * k] = lo, out[2 * k + 1] = hi;
            if (BWD) {
                s0.x += lo.x, s0.y += lo.y, s0.z += lo.z, s0.w += lo.w;
                s1.x += hi.x, s1.y += hi.y, s1.z += hi.z, s1.w += hi.w;
            }
            if (CAST) {
                codes8<T> c{cast4<F, T>(lo, scale, sat, amax), cast4<F, T>(hi, scale, sat, amax)};
                codes[k] = c;
                if (TR && codes_t) {
                    tile_put(tile, i0 + 8 * u - r0, 2 * threadIdx.x, c.lo);
                    tile_put(tile, i0 + 8 * u - r0, 2 * threadIdx.x + 1, c.hi);
                }
            }
        }
    }
    if (CAST) amax_flush(amax, amax_p);
    if (TR && codes_t) {
        __syncthreads();
        tile_store(tile, codes_t, rows, 8 * n8, r0, 256 * blockIdx.x);
    }
    if (!BWD || !part) return;
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

bool pt_cuda_act_fwd_packed(pt_backend *be, int a, const pt_gemm_tail *t, float *out, size_t n, int cols,
                            pt_format f, const float *scale, float *amax, int sat, void *codes, void *codes_t,
                            pt_status *st)
{
    if (!n || n % 8 || !plain_packed(t) || !outputs_fit(f, codes, out) ||
        (codes_t && !rows_fit(n, cols, f, codes_t)))
        return false;
    cudaStream_t s = pt_cuda_impl(be)->stream;
    const uint4 *x = (const uint4 *)t->packed;
    float4 *o = (float4 *)out;
    if (!codes_t) { /* a flat pass */
        size_t n8 = n / 8, per = ACT_FWD_ITEMS * ACT_THREADS;
        unsigned grid = (unsigned)((n8 + per - 1) / per);
#define LAUNCH(F, T, CAST)                                                                                          \
    act_fwd_packed_kernel<F, T, CAST><<<grid, ACT_THREADS, 0, s>>>(a, t->fmt, x, o, (codes8<T> *)codes, n8, scale, \
                                                                   amax, sat)
        CAST_DISPATCH(f, LAUNCH, *st = pt_cuda_no_kernel("act_fwd_packed_kernel", f); return true)
#undef LAUNCH
        return launched("act_fwd_packed_kernel", st);
    }
    /* by rows, for the transposed codes */
    int rows = (int)(n / (size_t)cols), n8 = cols / 8;
    dim3 grid((unsigned)(n8 + 31) / 32, (unsigned)((rows + BG_CHUNK - 1) / BG_CHUNK)), block(32, 8);
    if (f == PT_FMT_E4M3)
        act_rows8_kernel<PT_FMT_E4M3, uint8_t, true, false><<<grid, block, 0, s>>>(
            a, t->fmt, 0, x, NULL, o, (codes8<uint8_t> *)codes, (uint8_t *)codes_t, rows, n8, NULL, NULL, 0.0f, NULL,
            scale, amax, sat);
    else
        act_rows8_kernel<PT_FMT_E5M2, uint8_t, true, false><<<grid, block, 0, s>>>(
            a, t->fmt, 0, x, NULL, o, (codes8<uint8_t> *)codes, (uint8_t *)codes_t, rows, n8, NULL, NULL, 0.0f, NULL,
            scale, amax, sat);
    return launched("act_rows8_kernel", st);
}

bool pt_cuda_act_bwd_packed(pt_backend *be, int a, const pt_gemm_tail *xt, const pt_gemm_tail *dyt, float *dx,
                            size_t n, int cols, pt_format f, const float *scale, float *amax, int sat, void *codes,
                            void *codes_t, float *db, float beta, pt_status *st)
{
    if (!rows_fit(n, cols, f, codes_t) || !plain_packed(xt) || !plain_packed(dyt) || xt->cols != cols ||
        dyt->cols != cols || !outputs_fit(f, codes, dx))
        return false;
    cuda_backend *c = pt_cuda_impl(be);
    int rows = (int)(n / (size_t)cols), n8 = cols / 8, chunks = (rows + BG_CHUNK - 1) / BG_CHUNK,
        groups = (n8 + 31) / 32;
    float *part = NULL;
    unsigned *done = NULL;
    if (db && ((*st = pt_cuda_scratch(c, PT_SLOT_BIAS_PARTS, (size_t)chunks * (size_t)cols, &part)) ||
               (*st = pt_cuda_done_counters(c, groups, &done))))
        return true;
    dim3 grid((unsigned)groups, (unsigned)chunks), block(32, 8);
    const uint4 *x = (const uint4 *)xt->packed, *d = (const uint4 *)dyt->packed;
    float4 *o = (float4 *)dx, *p = (float4 *)part;
#define LAUNCH(F, T, CAST)                                                                                        \
    act_rows8_kernel<F, T, CAST, true><<<grid, block, 0, c->stream>>>(a, xt->fmt, dyt->fmt, x, d, o,            \
                                                                      (codes8<T> *)codes, (uint8_t *)codes_t,   \
                                                                      rows, n8, p, db, beta, done, scale, amax, \
                                                                      sat)
    CAST_DISPATCH(f, LAUNCH, *st = pt_cuda_no_kernel("act_rows8_kernel", f); return true)
#undef LAUNCH
    return launched("act_rows8_kernel", st);
}
