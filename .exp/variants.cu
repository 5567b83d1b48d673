// throwaway: act_bwd_bias and unscale variants timed on 4096x4096 (not part of the product)
#include <cstdio>
#include <cuda_runtime.h>
#define INV_SQRT2 0.70710678118654752440f
#define INV_SQRT2PI 0.39894228040143267794f
__device__ __forceinline__ float g1(float x, float dy) {
    float cdf = 0.5f * (1.0f + erff(x * INV_SQRT2)), pdf = INV_SQRT2PI * expf(-0.5f * x * x);
    return dy * (cdf + x * pdf);
}
__device__ __forceinline__ float4 g4(float4 x, float4 d) { return make_float4(g1(x.x,d.x), g1(x.y,d.y), g1(x.z,d.z), g1(x.w,d.w)); }
template <int CHUNK, int UNR>
__global__ void __launch_bounds__(256) k2d(const float4 *x, const float4 *dy, float4 *dx, int rows, int n4, float4 *part) {
    __shared__ float4 sh[8][33];
    int j = blockIdx.x * 32 + threadIdx.x, r0 = blockIdx.y * CHUNK, r1 = min(rows, r0 + CHUNK);
    float4 s = make_float4(0,0,0,0);
    if (j < n4)
#pragma unroll UNR
        for (int i = r0 + threadIdx.y; i < r1; i += 8) {
            size_t k = (size_t)i * n4 + j;
            float4 v = g4(x[k], dy[k]); dx[k] = v;
            s.x += v.x, s.y += v.y, s.z += v.z, s.w += v.w;
        }
    sh[threadIdx.y][threadIdx.x] = s; __syncthreads();
    if (threadIdx.y == 0 && j < n4) { float4 t = sh[0][threadIdx.x]; for (int y = 1; y < 8; y++) { float4 u = sh[y][threadIdx.x]; t.x += u.x, t.y += u.y, t.z += u.z, t.w += u.w; } part[(size_t)blockIdx.y * n4 + j] = t; }
}
// 2D, loads of UNR rows issued before compute
template <int CHUNK, int UNR>
__global__ void __launch_bounds__(256) k2dp(const float4 *x, const float4 *dy, float4 *dx, int rows, int n4, float4 *part) {
    __shared__ float4 sh[8][33];
    int j = blockIdx.x * 32 + threadIdx.x, r0 = blockIdx.y * CHUNK;
    float4 s = make_float4(0,0,0,0);
    if (j < n4)
        for (int i = r0 + threadIdx.y; i < r0 + CHUNK; i += 8 * UNR) {
            float4 xa[UNR], da[UNR];
#pragma unroll
            for (int u = 0; u < UNR; u++) { size_t k = (size_t)(i + 8 * u) * n4 + j; xa[u] = x[k]; da[u] = dy[k]; }
#pragma unroll
            for (int u = 0; u < UNR; u++) { size_t k = (size_t)(i + 8 * u) * n4 + j; float4 v = g4(xa[u], da[u]); dx[k] = v; s.x += v.x, s.y += v.y, s.z += v.z, s.w += v.w; }
        }
    sh[threadIdx.y][threadIdx.x] = s; __syncthreads();
    if (threadIdx.y == 0 && j < n4) { float4 t = sh[0][threadIdx.x]; for (int y = 1; y < 8; y++) { float4 u = sh[y][threadIdx.x]; t.x += u.x, t.y += u.y, t.z += u.z, t.w += u.w; } part[(size_t)blockIdx.y * n4 + j] = t; }
}
__global__ void k1d(const float4 *x, const float4 *dy, float4 *dx, size_t n4) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n4; i += (size_t)gridDim.x * blockDim.x) dx[i] = g4(x[i], dy[i]);
}
__global__ void copy4(const float4 *a, float4 *b, size_t n4) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n4; i += (size_t)gridDim.x * blockDim.x) b[i] = a[i];
}
template <int GRID, int UNR>
__global__ void unsc(const float4 *g, size_t n4, double *partials) {
    __shared__ double sh[256];
    double s[UNR]; for (int u = 0; u < UNR; u++) s[u] = 0;
    size_t stride = (size_t)gridDim.x * blockDim.x;
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    for (; i + (UNR - 1) * stride < n4; i += UNR * stride) {
        float4 v[UNR];
#pragma unroll
        for (int u = 0; u < UNR; u++) v[u] = g[i + u * stride];
#pragma unroll
        for (int u = 0; u < UNR; u++) s[u] += (double)v[u].x * v[u].x + (double)v[u].y * v[u].y + (double)v[u].z * v[u].z + (double)v[u].w * v[u].w;
    }
    for (; i < n4; i += stride) { float4 v = g[i]; s[0] += (double)v.x * v.x + (double)v.y * v.y + (double)v.z * v.z + (double)v.w * v.w; }
    double t = 0; for (int u = 0; u < UNR; u++) t += s[u];
    sh[threadIdx.x] = t; __syncthreads();
    for (int o = 128; o; o >>= 1) { if (threadIdx.x < o) sh[threadIdx.x] += sh[threadIdx.x + o]; __syncthreads(); }
    if (!threadIdx.x) partials[blockIdx.x] = sh[0];
}
#define TIME(label, bytes, launch) do { launch; cudaDeviceSynchronize(); cudaEventRecord(a); for (int r = 0; r < 20; r++) { launch; } cudaEventRecord(b); cudaEventSynchronize(b); float ms; cudaEventElapsedTime(&ms, a, b); ms /= 20; printf("%-28s %8.4f ms  %7.1f GB/s\n", label, ms, (bytes) / ms / 1e6); } while (0)
int main() {
    int rows = 4096, cols = 4096, n4 = cols / 4; size_t n = (size_t)rows * cols;
    float4 *x, *dy, *dx, *part; cudaMalloc(&x, n * 4); cudaMalloc(&dy, n * 4); cudaMalloc(&dx, n * 4); cudaMalloc(&part, (size_t)512 * cols * 4);
    cudaMemset(x, 0, n * 4); cudaMemset(dy, 0, n * 4);
    double *pp; cudaMalloc(&pp, 8192 * 8);
    float4 *g; size_t ng = 54u << 20; cudaMalloc(&g, ng * 4); cudaMemset(g, 0, ng * 4);
    cudaEvent_t a, b; cudaEventCreate(&a); cudaEventCreate(&b);
    double B = 12.0 * n;
    TIME("copy (8B/elt ref)", 8.0 * n, (copy4<<<4096, 256>>>(x, dx, n / 4)));
    TIME("1d act_bwd", B, (k1d<<<4096, 256>>>(x, dy, dx, n / 4)));
    TIME("2d chunk128 unr4 (now)", B, (k2d<128, 4><<<dim3(n4 / 32, rows / 128), dim3(32, 8)>>>(x, dy, dx, rows, n4, part)));
    TIME("2d chunk64 unr4", B, (k2d<64, 4><<<dim3(n4 / 32, rows / 64), dim3(32, 8)>>>(x, dy, dx, rows, n4, part)));
    TIME("2d chunk32 unr4", B, (k2d<32, 4><<<dim3(n4 / 32, rows / 32), dim3(32, 8)>>>(x, dy, dx, rows, n4, part)));
    TIME("2d chunk256 unr8", B, (k2d<256, 8><<<dim3(n4 / 32, rows / 256), dim3(32, 8)>>>(x, dy, dx, rows, n4, part)));
    TIME("2dp chunk128 unr2", B, (k2dp<128, 2><<<dim3(n4 / 32, rows / 128), dim3(32, 8)>>>(x, dy, dx, rows, n4, part)));
    TIME("2dp chunk128 unr4", B, (k2dp<128, 4><<<dim3(n4 / 32, rows / 128), dim3(32, 8)>>>(x, dy, dx, rows, n4, part)));
    TIME("2dp chunk64 unr2", B, (k2dp<64, 2><<<dim3(n4 / 32, rows / 64), dim3(32, 8)>>>(x, dy, dx, rows, n4, part)));
    TIME("2dp chunk64 unr4", B, (k2dp<64, 4><<<dim3(n4 / 32, rows / 64), dim3(32, 8)>>>(x, dy, dx, rows, n4, part)));
    TIME("unscale grid1024 unr1 (now)", 4.0 * ng, (unsc<1024, 1><<<1024, 256>>>(g, ng / 4, pp)));
    TIME("unscale grid1024 unr4", 4.0 * ng, (unsc<1024, 4><<<1024, 256>>>(g, ng / 4, pp)));
    TIME("unscale grid2048 unr2", 4.0 * ng, (unsc<2048, 2><<<2048, 256>>>(g, ng / 4, pp)));
    TIME("unscale grid4096 unr1", 4.0 * ng, (unsc<4096, 1><<<4096, 256>>>(g, ng / 4, pp)));
    TIME("unscale grid1056 unr4", 4.0 * ng, (unsc<1056, 4><<<1056, 256>>>(g, ng / 4, pp)));
    printf("%s\n", cudaGetErrorString(cudaGetLastError()));
}
