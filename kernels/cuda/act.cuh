/* Device helpers of the activation passes, shared by act.cu (the general
 * kernels), elementwise.cu (the bias gradient) and act_packed.cu (those on
 * packed 16-bit GEMM outputs): the activations and their gradients, and
 * the four-value casts and decodes. */
#ifndef PT_CUDA_ACT_CUH
#define PT_CUDA_ACT_CUH

#include <cuda_fp16.h>
#include <stdint.h>

#include "encode.cuh"
#include "../ops.h"

#define INV_SQRT2 0.70710678118654752440f
#define INV_SQRT2PI 0.39894228040143267794f

/* not a pt_act: the value as it is (a plain cast through the activation's rows kernel) */
#define ACT_IDENTITY (-1)

__device__ __forceinline__ float act_val(int a, float x)
{
    if (a == ACT_IDENTITY) return x;
    return a == PT_ACT_RELU ? (x > 0.0f ? x : 0.0f) : 0.5f * x * (1.0f + erff(x * INV_SQRT2));
}

__device__ __forceinline__ float act_grad(int a, float x, float dy)
{
    if (a == PT_ACT_RELU) return x > 0.0f ? dy : 0.0f;
    float cdf = 0.5f * (1.0f + erff(x * INV_SQRT2)), pdf = INV_SQRT2PI * expf(-0.5f * x * x);
    return dy * (cdf + x * pdf);
}

__device__ __forceinline__ float4 act4(bool bwd, int a, float4 x, float4 dy)
{
    if (bwd) return make_float4(act_grad(a, x.x, dy.x), act_grad(a, x.y, dy.y), act_grad(a, x.z, dy.z), act_grad(a, x.w, dy.w));
    return make_float4(act_val(a, x.x), act_val(a, x.y), act_val(a, x.z), act_val(a, x.w));
}

/* four bf16 or fp16 codes (the first in the low bits) decoded: exact */
__device__ __forceinline__ float4 unpack4(int fmt, uint2 p)
{
    if (fmt == PT_FMT_BF16)
        return make_float4(__uint_as_float(p.x << 16), __uint_as_float(p.x & 0xffff0000u), __uint_as_float(p.y << 16),
                           __uint_as_float(p.y & 0xffff0000u));
    return make_float4(__half2float(__ushort_as_half((unsigned short)(p.x & 0xffffu))),
                       __half2float(__ushort_as_half((unsigned short)(p.x >> 16))),
                       __half2float(__ushort_as_half((unsigned short)(p.y & 0xffffu))),
                       __half2float(__ushort_as_half((unsigned short)(p.y >> 16))));
}

/* four codes stored together (8 or 4 bytes) */
template <typename T> struct __align__(4 * sizeof(T)) codes4 {
    T v[4];
};

/* four values cast as the cast kernel casts them (codes of v * scale), their
 * largest magnitude taken into amax as bits (a NaN's exceed an inf's) */
template <int F, typename T> __device__ __forceinline__ codes4<T> cast4(float4 v, float scale, int sat, unsigned &amax)
{
    amax = max(amax, max(max(__float_as_uint(v.x) & 0x7fffffffu, __float_as_uint(v.y) & 0x7fffffffu),
                         max(__float_as_uint(v.z) & 0x7fffffffu, __float_as_uint(v.w) & 0x7fffffffu)));
    codes4<T> c;
    c.v[0] = (T)pt_dev_encode<F>(v.x * scale, sat), c.v[1] = (T)pt_dev_encode<F>(v.y * scale, sat);
    c.v[2] = (T)pt_dev_encode<F>(v.z * scale, sat), c.v[3] = (T)pt_dev_encode<F>(v.w * scale, sat);
    return c;
}

/* a warp's amax into *amax_p (bits; NaN's exceed inf's), where there is
 * one; every lane of the warp calls it */
__device__ __forceinline__ void amax_flush(unsigned amax, float *amax_p)
{
    if (!amax_p) return;
    amax = __reduce_max_sync(0xffffffffu, amax);
    if ((threadIdx.x & 31) == 0 && amax) atomicMax((unsigned *)amax_p, amax);
}

/* A kernel's launch for cast format f: LAUNCH(F, T, CAST), with the
 * format, its code type and whether there is a cast (fp32: none; the
 * launch then passes no codes, scale or amax); OTHER, the statement for
 * a format with no cast kernel (tf32, or not a format), reports it */
#define CAST_DISPATCH(f, LAUNCH, OTHER)                            \
    switch (f) {                                                  \
    case PT_FMT_FP32: LAUNCH(PT_FMT_FP32, uint8_t, false); break; \
    case PT_FMT_BF16: LAUNCH(PT_FMT_BF16, uint16_t, true); break; \
    case PT_FMT_FP16: LAUNCH(PT_FMT_FP16, uint16_t, true); break; \
    case PT_FMT_E4M3: LAUNCH(PT_FMT_E4M3, uint8_t, true); break;  \
    case PT_FMT_E5M2: LAUNCH(PT_FMT_E5M2, uint8_t, true); break;  \
    default: OTHER;                                               \
    }

/* The rows of a bias gradient's chunk: every kernel that sums one (elementwise.cu's
 * bias_grad_partial kernels, act.cu's act_bwd_bias4 kernel, act_packed.cu's backward)
 * adds a chunk's rows in 8 row lanes a column (lane y adds rows y, y + 8,
 * ... in order), the lanes in order; the same chunks, so the same sums.
 * Also the rows of a codes_tile. */
#define BG_CHUNK 64

/* The fp8 codes of a block's BG_CHUNK rows x 4 W columns, gathered in
 * shared memory as its threads cast them (tile_put), then written
 * transposed into out_t ([cols, rows]) by the whole block (tile_store):
 * the transposed copy of an operand (pt_operand.data_t) made in the pass
 * that casts it, where a transpose pass of its own would read and write it
 * all again. Rows of 4 W + 4 bytes. act.cu's rows kernels: W 32;
 * act_packed.cu's: W 64. */
template <int W> struct codes_tile {
    uint32_t w[BG_CHUNK][W + 1];
};

/* four codes at row r, word c4 (fp8 only: wider codes are not transposed) */
template <int W, typename T> __device__ __forceinline__ void tile_put(codes_tile<W> &t, int r, int c4, codes4<T> c)
{
    if (sizeof(T) == 1) t.w[r][c4] = *(const uint32_t *)c.v;
}

/* after a __syncthreads; r0, c0: the tile's first row and (byte) column.
 * Words where the rows allow, 16 threads a transposed row; else bytes. */
template <int W>
__device__ void tile_store(const codes_tile<W> &t, uint8_t *out_t, int rows, int cols, int r0, int c0)
{
    enum { P = 4 * (W + 1), C = 4 * W, WR = BG_CHUNK / 4 };
    const uint8_t *tb = (const uint8_t *)t.w;
    int tid = threadIdx.y * blockDim.x + threadIdx.x, nt = blockDim.x * blockDim.y, nr = min(BG_CHUNK, rows - r0);
    if (rows % 4 == 0 && (uintptr_t)out_t % 4 == 0) {
        for (int i = tid; i < C * WR; i += nt) {
            int c = i / WR, w = i % WR;
            if (c0 + c >= cols || 4 * w >= nr) continue;
            const uint8_t *b = tb + 4 * w * P + c;
            uint32_t v = (uint32_t)b[0] | (uint32_t)b[P] << 8 | (uint32_t)b[2 * P] << 16 | (uint32_t)b[3 * P] << 24;
            *(uint32_t *)(out_t + (size_t)(c0 + c) * rows + r0 + 4 * w) = v;
        }
    } else {
        for (int i = tid; i < C * BG_CHUNK; i += nt) {
            int c = i / BG_CHUNK, r = i % BG_CHUNK;
            if (c0 + c < cols && r < nr) out_t[(size_t)(c0 + c) * rows + r0 + r] = tb[r * P + c];
        }
    }
}

/* The bias gradient's chunk sums (part, [chunks, cols]) added into db by
 * the block of a column group that finishes last (done[group] counts the
 * group's blocks, and is reset by that block): what bias_grad_sum_kernel
 * would add in a launch of its own, in the same order (chunk by chunk).
 * Every thread of the block calls it once its part is written; c is the
 * column it adds (one past cols: none). */
__device__ __forceinline__ void bias_sums_last(const float *part, int cols, unsigned chunks, float *db, float beta,
                                               unsigned *done, unsigned group, int c)
{
    __shared__ bool last;
    bool first = threadIdx.x == 0 && threadIdx.y == 0;
    __threadfence();
    __syncthreads();
    if (first) last = atomicAdd(&done[group], 1u) == chunks - 1;
    __syncthreads();
    if (!last) return;
    if (c < cols) {
        float sum = 0.0f;
        for (unsigned ch = 0; ch < chunks; ch++) sum += __ldcg(part + (size_t)ch * cols + c);
        db[c] = beta == 0.0f ? sum : db[c] * beta + sum; /* 0: db is not read */
    }
    if (first) done[group] = 0;
}

#endif
