/* Device-side encoders: the hardware conversion intrinsics themselves.
 * The CPU emulation in kernels/formats_impl.h must equal these bit for
 * bit (tests/gpu/test_cuda_formats checks all 2^32 inputs). Saturation of
 * the IEEE-like formats is applied on the result, as the CPU does. */
#ifndef PT_CUDA_ENCODE_CUH
#define PT_CUDA_ENCODE_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <stdint.h>

#include "prectune/formats.h"

__device__ __forceinline__ uint32_t pt_dev_enc_fp32(float y, int sat)
{
    uint32_t u = __float_as_uint(y);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fffffffu; /* canonical NaN */
    if (sat && (u & 0x7fffffffu) == 0x7f800000u) u = (u & 0x80000000u) | 0x7f7fffffu;
    return u;
}

__device__ __forceinline__ uint32_t pt_dev_enc_tf32(float y, int sat)
{
    uint32_t r;
    asm("cvt.rn.tf32.f32 %0, %1;" : "=r"(r) : "f"(y));
    if (sat && (r & 0x7fffffffu) == 0x7f800000u) r = (r & 0x80000000u) | 0x7f7fe000u;
    return r;
}

__device__ __forceinline__ uint32_t pt_dev_enc_bf16(float y, int sat)
{
    uint32_t r = __bfloat16_as_ushort(__float2bfloat16_rn(y));
    if (sat && (r & 0x7fffu) == 0x7f80u) r = (r & 0x8000u) | 0x7f7fu;
    return r;
}

__device__ __forceinline__ uint32_t pt_dev_enc_fp16(float y, int sat)
{
    uint32_t r = __half_as_ushort(__float2half_rn(y));
    if (sat && (r & 0x7fffu) == 0x7c00u) r = (r & 0x8000u) | 0x7bffu;
    return r;
}

__device__ __forceinline__ uint32_t pt_dev_enc_e4m3(float y, int sat)
{
    (void)sat;
    return (uint32_t)__nv_cvt_float_to_fp8(y, __NV_SATFINITE, __NV_E4M3);
}

/* Hopper converts to e5m2 in hardware only with .satfinite; the
 * non-saturating intrinsic is emulated in software (0.65 of copy bandwidth
 * against 1.0, bench/stats_bandwidth). So convert saturating and turn a
 * clamped overflow (|y| at or past the overflow threshold 61440, inf
 * included) back into inf, which is exactly the non-saturating result. */
__device__ __forceinline__ uint32_t pt_dev_enc_e5m2(float y, int sat)
{
    uint32_t c = (uint32_t)__nv_cvt_float_to_fp8(y, __NV_SATFINITE, __NV_E5M2);
    if (!sat && fabsf(y) >= 61440.0f) c = (c & 0x80u) | 0x7cu;
    return c;
}

template <int F>
__device__ __forceinline__ uint32_t pt_dev_encode(float y, int sat)
{
    if (F == PT_FMT_FP32) return pt_dev_enc_fp32(y, sat);
    if (F == PT_FMT_TF32) return pt_dev_enc_tf32(y, sat);
    if (F == PT_FMT_BF16) return pt_dev_enc_bf16(y, sat);
    if (F == PT_FMT_FP16) return pt_dev_enc_fp16(y, sat);
    if (F == PT_FMT_E4M3) return pt_dev_enc_e4m3(y, sat);
    return pt_dev_enc_e5m2(y, sat);
}

#endif
