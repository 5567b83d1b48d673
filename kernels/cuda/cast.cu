/* fp32 -> format casts with the input's amax in the same pass: fp8
 * scaling needs amax of exactly the tensor it casts, and a second read of
 * the tensor to find it would cost as much as the cast itself. Each thread
 * takes 16 floats (four 16-byte loads in flight) and writes them with
 * 16-byte stores where the output alignment allows. Beside them the
 * backend's other format conversions: decode to fp32, rounding in place,
 * and the cast that also writes an fp8 operand's transposed codes. */
#include "check.h"
#include "encode.cuh"
#include "kernels.h"
#include "cuda_backend.h"
#include "common.cuh"

#define CAST_THREADS 256
#define CAST_VEC 16

template <typename T> struct words { static constexpr int n = CAST_VEC * (int)sizeof(T) / 4; };

template <int F, typename T>
__global__ void __launch_bounds__(CAST_THREADS)
cast_kernel(const float *__restrict__ in, T *__restrict__ out, size_t n, size_t nvec,
            const float *scale_p, float *amax_p, int sat)
{
    float scale = scale_p ? *scale_p : 1.0f;
    unsigned amax = 0;
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t v = (size_t)blockIdx.x * blockDim.x + threadIdx.x; v < nvec; v += stride) {
        const float4 *p = (const float4 *)(in + v * CAST_VEC);
        float4 x[4];
#pragma unroll
        for (int j = 0; j < 4; j++) x[j] = __ldcs(p + j);
        const float *f = (const float *)x;
        uint32_t w[words<T>::n];
#pragma unroll
        for (int j = 0; j < words<T>::n; j++) w[j] = 0;
#pragma unroll
        for (int j = 0; j < CAST_VEC; j++) {
            amax = max(amax, __float_as_uint(f[j]) & 0x7fffffffu);
            uint32_t c = pt_dev_encode<F>(f[j] * scale, sat);
            constexpr int per_word = 4 / (int)sizeof(T);
            if (per_word == 1) w[j] = c;
            else w[j / per_word] |= c << (8 * (int)sizeof(T) * (j % per_word));
        }
        uint4 *o = (uint4 *)(out + v * CAST_VEC);
#pragma unroll
        for (int j = 0; j < words<T>::n / 4; j++)
            __stcs(o + j, make_uint4(w[4 * j], w[4 * j + 1], w[4 * j + 2], w[4 * j + 3]));
    }
    for (size_t i = nvec * CAST_VEC + (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += stride) {
        float f = in[i];
        amax = max(amax, __float_as_uint(f) & 0x7fffffffu);
        out[i] = (T)pt_dev_encode<F>(f * scale, sat);
    }
    if (amax_p) {
        /* NaN's bits exceed inf's, so an unsigned max keeps a NaN visible */
        amax = __reduce_max_sync(0xffffffffu, amax);
        if ((threadIdx.x & 31) == 0 && amax) atomicMax((unsigned *)amax_p, amax);
    }
}

template <int F, typename T>
static pt_status launch(const float *in, void *out, size_t n, const float *scale, float *amax,
                        int sat, cudaStream_t stream)
{
    bool aligned = ((uintptr_t)in & 15) == 0 && ((uintptr_t)out & 15) == 0;
    size_t nvec = aligned ? n / CAST_VEC : 0;
    int dev = 0, sms = 1;
    PT_CUDA_CHECK(cudaGetDevice(&dev));
    PT_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    size_t work = nvec ? nvec : n;
    size_t blocks = (work + CAST_THREADS - 1) / CAST_THREADS;
    size_t max_blocks = (size_t)sms * 8;
    if (blocks > max_blocks) blocks = max_blocks;
    if (blocks == 0) blocks = 1;
    cast_kernel<F, T><<<(unsigned)blocks, CAST_THREADS, 0, stream>>>(in, (T *)out, n, nvec, scale,
                                                                     amax, sat);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

pt_status pt_cuda_cast_launch(int to, const float *in, void *out, size_t n, const float *scale,
                              float *amax, unsigned flags, cudaStream_t stream)
{
    int sat = (flags & PT_CAST_SATURATE) != 0;
    switch (to) {
    case PT_FMT_FP32: return launch<PT_FMT_FP32, uint32_t>(in, out, n, scale, amax, sat, stream);
    case PT_FMT_TF32: return launch<PT_FMT_TF32, uint32_t>(in, out, n, scale, amax, sat, stream);
    case PT_FMT_BF16: return launch<PT_FMT_BF16, uint16_t>(in, out, n, scale, amax, sat, stream);
    case PT_FMT_FP16: return launch<PT_FMT_FP16, uint16_t>(in, out, n, scale, amax, sat, stream);
    case PT_FMT_E4M3: return launch<PT_FMT_E4M3, uint8_t>(in, out, n, scale, amax, sat, stream);
    case PT_FMT_E5M2: return launch<PT_FMT_E5M2, uint8_t>(in, out, n, scale, amax, sat, stream);
    default: return pt_fail(PT_ERR_UNSUPPORTED, "cuda cast: unknown format %d", to);
    }
}

/* ---- the backend's decode, round and cast with transposed codes ---------- */

template <int F> __global__ void decode_kernel(const void *in, float *out, size_t n, const float *scale_inv)
{
    float s = scale_inv ? *scale_inv : 1.0f;
    GRID_STRIDE(i, n) out[i] = dev_decode<F>(in, i) * s;
}

template <int F> __global__ void round_kernel(float *x, size_t n)
{
    GRID_STRIDE(i, n) x[i] = dev_round<F>(x[i]);
}

pt_status cu_decode(pt_backend *be, pt_format from, const void *in, float *out, size_t n, const float *scale_inv)
{
    if (!n) return PT_OK;
    DISPATCH_FMT(from, decode_kernel, blocks_for(n), S(be), in, out, n, scale_inv);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

pt_status cu_round(pt_backend *be, pt_format f, float *x, size_t n)
{
    if (!n) return PT_OK;
    DISPATCH_FMT(f, round_kernel, blocks_for(n), S(be), x, n);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

/* a cast to fp8 with the codes also transposed: the forward rows kernel
 * with no activation where the shapes allow, else a cast and a transpose */
pt_status cu_cast_t(pt_backend *be, pt_format to, const float *in, int rows, int cols, void *out, void *out_t,
                    const float *scale, float *amax, unsigned flags)
{
    size_t n = (size_t)rows * (size_t)cols;
    pt_status st = PT_OK;
    if (act_fwd_rows(be, ACT_IDENTITY, in, NULL, n, cols, to, scale, amax, (flags & PT_CAST_SATURATE) != 0, out,
                     out_t, NULL, &st))
        return st;
    st = pt_cuda_cast_launch((int)to, in, out, n, scale, amax, flags, S(be));
    return st ? st : transpose_codes(S(be), out, out_t, rows, cols);
}
