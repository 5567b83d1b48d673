/* The fp8 scaling recipe on the device: the next scale from the amax
 * history and the recording of an amax and overflow, one thread each
 * with the host's arithmetic (fp8_logic.h), one tensor or many. */
#include "common.cuh"

/* ---- fp8 recipes on the device: one thread, the host's arithmetic ------------ */

__global__ void fp8_scale_kernel(pt_fp8_recipe r, double fmax, pt_fp8_state *s, const float *amax_now, float *inv,
                                 float *amax_reset)
{
    *inv = 1.0f / pt_fp8_scale_logic(s, &r, fmax, amax_now ? *amax_now : 0.0f);
    if (amax_reset) *amax_reset = 0.0f;
}

__global__ void fp8_record_kernel(pt_fp8_recipe r, float overflow, pt_fp8_state *s, const float *amax)
{
    pt_fp8_record_logic(s, &r, overflow, *amax);
}

pt_status cu_fp8_scale(pt_backend *be, const pt_fp8_recipe *r, pt_format f, pt_fp8_state *s,
                       const float *amax_now, float *scale_inv, float *amax_reset)
{
    fp8_scale_kernel<<<1, 1, 0, S(be)>>>(*r, pt_format_info(f)->max_finite, s, amax_now, scale_inv, amax_reset);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

/* fp8_scale_kernel and fp8_record_kernel for many states, a thread each */
__global__ void fp8_scale_many_kernel(const pt_fp8_entry *e, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    pt_fp8_entry x = e[i];
    *x.scale_inv = 1.0f / pt_fp8_scale_logic(x.state, &x.recipe, x.max_finite, 0.0f);
    *x.amax = 0.0f;
}

__global__ void fp8_record_many_kernel(const pt_fp8_entry *e, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    pt_fp8_entry x = e[i];
    pt_fp8_record_logic(x.state, &x.recipe, x.overflow, *x.amax);
}

pt_status cu_fp8_scale_many(pt_backend *be, const pt_fp8_entry *e, int n)
{
    fp8_scale_many_kernel<<<(n + 63) / 64, 64, 0, S(be)>>>(e, n);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

pt_status cu_fp8_record_many(pt_backend *be, const pt_fp8_entry *e, int n)
{
    fp8_record_many_kernel<<<(n + 63) / 64, 64, 0, S(be)>>>(e, n);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

pt_status cu_fp8_record(pt_backend *be, const pt_fp8_recipe *r, pt_format f, pt_fp8_state *s,
                        const float *amax)
{
    fp8_record_kernel<<<1, 1, 0, S(be)>>>(*r, pt_format_overflow_threshold(f), s, amax);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}
