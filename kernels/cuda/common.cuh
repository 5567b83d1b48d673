/* What the CUDA op files (gemm.cu, act.cu, cast.cu, elementwise.cu,
 * norm.cu, loss.cu, data.cu, conv.cu, pool.cu, optim.cu, fp8.cu) share:
 * their launch geometry (grid-stride loops of THREADS threads, the
 * PARTIALS per-block sums of the ordered reductions: reductions whose
 * result feeds training are ordered, never atomics, so that a run and its
 * resumption agree bit for bit on the same device), a format's decode and
 * rounding on the device, the four-values-a-thread helpers that finish a
 * GEMM's tail in the pass that reads its output, the warp sums of the
 * row kernels, and the window lookup of col2im and the pooling backward.
 * Each op is checked against its kernels/cpu counterpart op by op
 * (tests/gpu/test_backend_ops.c). */
#ifndef PT_CUDA_COMMON_CUH
#define PT_CUDA_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <math.h>
#include <stdlib.h>

#include "../../common/rng.h"
#include "check.h"
#include "cuda_backend.h"
#include "act.cuh"
#include "encode.cuh"
#include "kernels.h"
#include "../fp8_logic.h"
#include "../optim_gate.h"

#define PT_CUBLAS_CHECK(expr) \
    PT_GPU_CHECK_(cublasStatus_t, CUBLAS_STATUS_SUCCESS, cublasLtGetStatusString, expr)

#define THREADS 256
#define PARTIALS 1024

static inline cudaStream_t S(pt_backend *be) { return pt_cuda_impl(be)->stream; }

static inline unsigned blocks_for(size_t n)
{
    size_t b = (n + THREADS - 1) / THREADS;
    return (unsigned)(b < 4096 ? (b ? b : 1) : 4096);
}

#define GRID_STRIDE(i, n) \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)

/* ---- decode / round ------------------------------------------------------- */

template <int F> __device__ __forceinline__ float dev_decode(const void *p, size_t i)
{
    if (F == PT_FMT_FP32 || F == PT_FMT_TF32) return ((const float *)p)[i];
    if (F == PT_FMT_BF16) return __uint_as_float((uint32_t)((const unsigned short *)p)[i] << 16);
    if (F == PT_FMT_FP16) return __half2float(__ushort_as_half(((const unsigned short *)p)[i]));
    __half_raw h = __nv_cvt_fp8_to_halfraw(((const __nv_fp8_storage_t *)p)[i], F == PT_FMT_E4M3 ? __NV_E4M3 : __NV_E5M2);
    return __half2float(__half(h));
}

/* x stored in F and read back */
template <int F> __device__ __forceinline__ float dev_round(float x)
{
    uint32_t c = pt_dev_encode<F>(x, 0);
    if (F == PT_FMT_FP32 || F == PT_FMT_TF32) return __uint_as_float(c);
    if (F == PT_FMT_BF16) return __uint_as_float(c << 16);
    if (F == PT_FMT_FP16) return __half2float(__ushort_as_half((unsigned short)c));
    return __half2float(__half(__nv_cvt_fp8_to_halfraw((__nv_fp8_storage_t)c, F == PT_FMT_E4M3 ? __NV_E4M3 : __NV_E5M2)));
}

/* dev_round on a format known at run time (one branch, the same for a whole launch) */
__device__ __forceinline__ float round_rt(int f, float v)
{
    switch (f) {
    case PT_FMT_BF16: return dev_round<PT_FMT_BF16>(v);
    case PT_FMT_FP16: return dev_round<PT_FMT_FP16>(v);
    case PT_FMT_TF32: return dev_round<PT_FMT_TF32>(v);
    case PT_FMT_E4M3: return dev_round<PT_FMT_E4M3>(v);
    case PT_FMT_E5M2: return dev_round<PT_FMT_E5M2>(v);
    case PT_FMT_FP32: return v;
    default: return __int_as_float(0x7fffffff); /* not a format (the host checks them): NaN, never silent */
    }
}

/* A GEMM's tail on four values of a row: the bias added, then the
 * rounding; the GEMM's own (bias_round4_kernel), or one it deferred
 * (pt_gemm_tail) to the pass that reads its output, written back unless
 * that tail keeps c raw. */
struct tail4 {
    float4 *c;          /* NULL: no tail */
    const float4 *bias; /* NULL: none */
    size_t cols4;
    int fmt;
    bool write;
    const uint2 *packed; /* the finished values as four 16-bit codes (pt_gemm_tail.packed), or NULL */
};

static inline tail4 tail4_of(const pt_gemm_tail *t)
{
    if (!t) return tail4{};
    return tail4{(float4 *)t->c, (const float4 *)t->bias, (size_t)t->cols / 4, (int)t->fmt, !t->keep_raw,
                 (const uint2 *)t->packed};
}

/* whether the four-a-thread kernels can take the tail (whole float4s of a row) */
static inline bool tail_vec(const pt_gemm_tail *t)
{
    return !t || (t->cols % 4 == 0 && (uintptr_t)t->bias % 16 == 0 && (uintptr_t)t->packed % 8 == 0);
}

/* an op's input at float4 i: as stored in x, or its packed tail's values */
__device__ __forceinline__ float4 load4(const tail4 &t, const float4 *x, size_t i)
{
    return t.packed ? unpack4(t.fmt, t.packed[i]) : x[i];
}

/* The rows kernels' loads issued ahead of their arithmetic: float4s of
 * x, or with PK (a packed tail) its four 16-bit codes, unpacked at use, so
 * that twice the rows are in flight in the same registers: a pass reading
 * 2-byte values is bound by how many loads it keeps in flight. */
template <bool PK> struct raw4 {
    typedef float4 type;
};
template <> struct raw4<true> {
    typedef uint2 type;
};
template <bool PK>
__device__ __forceinline__ typename raw4<PK>::type load_raw(const tail4 &t, const float4 *x, size_t i);
template <> __device__ __forceinline__ float4 load_raw<false>(const tail4 &t, const float4 *x, size_t i)
{
    return x[i];
}
template <> __device__ __forceinline__ uint2 load_raw<true>(const tail4 &t, const float4 *x, size_t i)
{
    return t.packed[i];
}
__device__ __forceinline__ float4 as4(int fmt, float4 v) { return v; }
__device__ __forceinline__ float4 as4(int fmt, uint2 v) { return unpack4(fmt, v); }

/* a bias's four values rounded to the GEMM's output format, as it adds them */
__device__ __forceinline__ float4 round4(int fmt, float4 b)
{
    return make_float4(round_rt(fmt, b.x), round_rt(fmt, b.y), round_rt(fmt, b.z), round_rt(fmt, b.w));
}

/* the bias column of float4 i: a 32-bit remainder where the indices allow
 * (narrow; a 64-bit one costs more than the rest of an activation's pass) */
__device__ __forceinline__ size_t col4(const tail4 &t, size_t i, bool narrow)
{
    if (!t.bias) return 0;
    return narrow ? (size_t)((unsigned)i % (unsigned)t.cols4) : i % t.cols4;
}

/* v (a packed tail's: load4's, finished) written back where the tail says */
__device__ __forceinline__ float4 finish4(const tail4 &t, size_t i, size_t col, float4 v)
{
    if (!t.packed) {
        if (t.bias) {
            float4 b = round4(t.fmt, t.bias[col]);
            v.x += b.x, v.y += b.y, v.z += b.z, v.w += b.w;
        }
        v = round4(t.fmt, v);
    }
    if (t.write) t.c[i] = v;
    return v;
}

/* KERNEL<F> for the format f known at run time, launched with `grid`
 * blocks of THREADS on `stream`; a format with no instance makes the
 * calling function (which returns pt_status) return pt_cuda_no_kernel's
 * error. */
#define DISPATCH_FMT(f, KERNEL, grid, stream, ...)                                                   \
    switch (f) {                                                                                     \
    case PT_FMT_FP32: KERNEL<PT_FMT_FP32><<<(grid), THREADS, 0, (stream)>>>(__VA_ARGS__); break;     \
    case PT_FMT_TF32: KERNEL<PT_FMT_TF32><<<(grid), THREADS, 0, (stream)>>>(__VA_ARGS__); break;     \
    case PT_FMT_BF16: KERNEL<PT_FMT_BF16><<<(grid), THREADS, 0, (stream)>>>(__VA_ARGS__); break;     \
    case PT_FMT_FP16: KERNEL<PT_FMT_FP16><<<(grid), THREADS, 0, (stream)>>>(__VA_ARGS__); break;     \
    case PT_FMT_E4M3: KERNEL<PT_FMT_E4M3><<<(grid), THREADS, 0, (stream)>>>(__VA_ARGS__); break;     \
    case PT_FMT_E5M2: KERNEL<PT_FMT_E5M2><<<(grid), THREADS, 0, (stream)>>>(__VA_ARGS__); break;     \
    default: return pt_cuda_no_kernel(#KERNEL, (int)(f));                                            \
    }

/* The elementwise passes four values a thread (16-byte loads and stores:
 * more of the bandwidth than one float a thread, by the op profile), where
 * the tensors allow it: the same values. */
static inline bool vec4(size_t n, const void *a, const void *b, const void *c)
{
    return n % 4 == 0 && (uintptr_t)a % 16 == 0 && (uintptr_t)b % 16 == 0 && (uintptr_t)c % 16 == 0;
}

#define CAST_ARG(CAST, x) ((CAST) ? (x) : NULL)
/* a rows kernel's launch L(F, T, CAST, PK) with PK (packed inputs) as packed says */
#define PK_SPLIT(L, packed, F, T, CAST) \
    if (packed) L(F, T, CAST, true);    \
    else L(F, T, CAST, false)

__device__ __forceinline__ float warp_sum(float v)
{
    for (int o = 16; o; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v)
{
    for (int o = 16; o; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* The output position (oy, ox) whose window has input (iy, ix) at its
 * offset (ky, kx); false when no window does (padding, stride, edges). */
__device__ __forceinline__ bool window_at(const pt_conv_shape &s, int iy, int ix, int ky, int kx, int *oy, int *ox)
{
    int ty = iy + s.pad - ky, tx = ix + s.pad - kx;
    if (ty < 0 || tx < 0 || ty % s.stride || tx % s.stride) return false;
    *oy = ty / s.stride, *ox = tx / s.stride;
    return *oy < s.oh && *ox < s.ow;
}

#endif
