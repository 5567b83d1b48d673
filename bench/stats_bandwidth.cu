/* Statistics and fused cast+amax bandwidth on the GPU, each against a
 * plain kernel measured in the same run over the same 1 GiB fp32 tensor:
 * the statistics pass against a sum reduction (same bytes read, nothing
 * else to do), the casts against a plain copy (bytes read + written).
 * Targets (issue 3): statistics >= 0.90 of the reduction, cast+amax >=
 * 0.85 of the copy.
 * usage: stats_bandwidth [log2 of the element count, default 28 = 1 GiB] */
#include <stdio.h>
#include <stdlib.h>

#include "cuda/kernels.h"
#include "prectune/formats.h"

#define CK(x)                                                                            \
    do {                                                                                 \
        cudaError_t e_ = (x);                                                            \
        if (e_ != cudaSuccess) {                                                         \
            fprintf(stderr, "%s: %s (%s:%d)\n", #x, cudaGetErrorString(e_), __FILE__, __LINE__); \
            exit(1);                                                                     \
        }                                                                                \
    } while (0)

__global__ void fill_kernel(float *x, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        unsigned long long z = (i + 1) * 0x9e3779b97f4a7c15ull;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z ^= z >> 31;
        /* roughly normal-looking spread of magnitudes, like activations */
        x[i] = ldexpf((float)(z & 0xffffff) / 16777216.0f - 0.5f, (int)((z >> 32) % 24) - 12);
    }
}

/* The reference: read everything once, sum it (16-byte loads, four in
 * flight, warp shuffle, one atomic per warp). */
__global__ void sum_kernel(const float4 *x, size_t n4, float *out)
{
    float s = 0;
    size_t stride = (size_t)gridDim.x * blockDim.x;
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    for (; i + 3 * stride < n4; i += 4 * stride) {
        float4 a = __ldg(x + i), b = __ldg(x + i + stride), c = __ldg(x + i + 2 * stride),
               d = __ldg(x + i + 3 * stride);
        s += (a.x + a.y + a.z + a.w) + (b.x + b.y + b.z + b.w) + (c.x + c.y + c.z + c.w) +
             (d.x + d.y + d.z + d.w);
    }
    for (; i < n4; i += stride) {
        float4 a = __ldg(x + i);
        s += a.x + a.y + a.z + a.w;
    }
    for (int o = 16; o; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    if ((threadIdx.x & 31) == 0) atomicAdd(out, s);
}

__global__ void copy_kernel(const float4 *x, float4 *y, size_t n4)
{
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n4; i += stride)
        y[i] = __ldcs(x + i);
}

template <typename F> static float time_ms(F f, int reps)
{
    cudaEvent_t a, b;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    for (int i = 0; i < 3; i++) f();
    CK(cudaEventRecord(a));
    for (int i = 0; i < reps; i++) f();
    CK(cudaEventRecord(b));
    CK(cudaEventSynchronize(b));
    float ms;
    CK(cudaEventElapsedTime(&ms, a, b));
    CK(cudaGetLastError());
    return ms / reps;
}

int main(int argc, char **argv)
{
    int lg = argc > 1 ? atoi(argv[1]) : 28;
    size_t n = (size_t)1 << lg;
    int dev = 0, sms;
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, dev));
    CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    float *x, *y, *sum;
    CK(cudaMalloc(&x, n * 4));
    CK(cudaMalloc(&y, n * 4));
    CK(cudaMalloc(&sum, 4));
    fill_kernel<<<sms * 8, 256>>>(x, n);
    CK(cudaDeviceSynchronize());
    const int reps = 20;
    double bytes = (double)n * 4;

    float t_sum = time_ms([&] { sum_kernel<<<sms * 8, 256>>>((const float4 *)x, n / 4, sum); }, reps);
    float t_copy = time_ms([&] { copy_kernel<<<sms * 8, 256>>>((const float4 *)x, (float4 *)y, n / 4); }, reps);

    /* the statistics as the backend runs them: the table kernel, with the
     * output zeroed first; the exact kernel for comparison */
    pt_stats_table *tables;
    pt_stats_keyinfo ki;
    static pt_stats_table htab[2];
    if (!pt_stats_table_build(65536.0f, &htab[0], &ki) || !pt_stats_table_build(1.0f, &htab[1], &ki)) {
        fprintf(stderr, "table build failed\n");
        return 1;
    }
    CK(cudaMalloc(&tables, sizeof htab));
    CK(cudaMemcpy(tables, htab, sizeof htab, cudaMemcpyHostToDevice));
    pt_cuda_stats_req req = {x, n, 0, 0, 65536.0f, PT_FMT_FP32, 0};
    uint64_t chunks = pt_cuda_stats_plan(&req, 1);
    pt_cuda_stats_req *dreq;
    pt_stats_keys_dev *dkeys;
    pt_stats_dev *dout;
    CK(cudaMalloc(&dreq, sizeof req));
    CK(cudaMalloc(&dkeys, sizeof *dkeys));
    CK(cudaMalloc(&dout, sizeof *dout));
    CK(cudaMemcpy(dreq, &req, sizeof req, cudaMemcpyHostToDevice));
    int grid = pt_cuda_stats_table_grid(dev, chunks);
    float t_stats = time_ms([&] {
        cudaMemsetAsync(dkeys, 0, sizeof *dkeys, 0);
        pt_cuda_stats_table_launch(dreq, 1, chunks, grid, tables, dkeys, 0);
    }, reps);
    int grid_exact = pt_cuda_stats_grid(dev, chunks);
    float t_exact = time_ms([&] {
        cudaMemsetAsync(dout, 0, sizeof *dout, 0);
        pt_cuda_stats_launch(dreq, 1, chunks, grid_exact, dout, 0);
    }, reps);

    /* bf16 input (the tensor reinterpreted): half the bytes */
    pt_cuda_stats_req req16 = {x, n, 0, 0, 1.0f, PT_FMT_BF16, 1};
    uint64_t chunks16 = pt_cuda_stats_plan(&req16, 1);
    CK(cudaMemcpy(dreq, &req16, sizeof req16, cudaMemcpyHostToDevice));
    int grid16 = pt_cuda_stats_table_grid(dev, chunks16);
    float t_stats16 = time_ms([&] {
        cudaMemsetAsync(dkeys, 0, sizeof *dkeys, 0);
        pt_cuda_stats_table_launch(dreq, 1, chunks16, grid16, tables, dkeys, 0);
    }, reps);

    printf("stats_bandwidth: %s, %d SMs, tensor of 2^%d fp32 (%.2f GiB), mean of %d runs\n",
           prop.name, sms, lg, bytes / (1 << 30), reps);
    printf("%-28s %9s %10s %12s %s\n", "kernel", "ms", "GB/s", "vs ref", "reference");
    double bw_sum = bytes / t_sum / 1e6, bw_copy = 2 * bytes / t_copy / 1e6;
    printf("%-28s %9.3f %10.1f %12s\n", "sum reduction (ref)", t_sum, bw_sum, "1.000");
    printf("%-28s %9.3f %10.1f %12s\n", "copy (ref)", t_copy, bw_copy, "1.000");
    double bw_stats = bytes / t_stats / 1e6;
    printf("%-28s %9.3f %10.1f %12.3f %s\n", "stats fp32 (table kernel)", t_stats, bw_stats, bw_stats / bw_sum,
           "sum reduction (target >= 0.90)");
    double bw_exact = bytes / t_exact / 1e6;
    printf("%-28s %9.3f %10.1f %12.3f %s\n", "stats fp32, exact kernel", t_exact, bw_exact,
           bw_exact / bw_sum, "sum reduction (fallback for scales > 2^100)");
    double bw_stats16 = (double)n * 2 / t_stats16 / 1e6;
    printf("%-28s %9.3f %10.1f %12.3f %s\n", "stats bf16 (same bytes)", t_stats16, bw_stats16,
           bw_stats16 / bw_sum, "sum reduction");

    float *scale, *amax;
    CK(cudaMalloc(&scale, 4));
    CK(cudaMalloc(&amax, 4));
    float one = 1.0f;
    CK(cudaMemcpy(scale, &one, 4, cudaMemcpyHostToDevice));
    const pt_format fs[] = {PT_FMT_BF16, PT_FMT_FP16, PT_FMT_E4M3, PT_FMT_E5M2};
    for (int k = 0; k < 4; k++) {
        float t = time_ms([&] {
            cudaMemsetAsync(amax, 0, 4, 0);
            pt_cuda_cast_launch(fs[k], x, y, n, scale, amax, 0, 0);
        }, reps);
        double moved = bytes + (double)n * pt_format_info(fs[k])->storage_bytes;
        double bw = moved / t / 1e6;
        char name[64];
        snprintf(name, sizeof name, "cast+amax -> %s", pt_format_info(fs[k])->name);
        printf("%-28s %9.3f %10.1f %12.3f %s\n", name, t, bw, bw / bw_copy,
               "copy (target >= 0.85)");
    }
    return 0;
}
