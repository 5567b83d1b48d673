/* The elementwise sums on the GPU: y = a + b and y += a (residual adds,
 * gradient accumulation), and the bias gradient, the column sums of
 * dy [rows, n] in a fixed order (no atomics in the sums). */
#include "common.cuh"

__global__ void add_kernel(const float *a, const float *b, float *y, size_t n) { GRID_STRIDE(i, n) y[i] = a[i] + b[i]; }
__global__ void acc_kernel(const float *a, float *y, size_t n) { GRID_STRIDE(i, n) y[i] += a[i]; }

pt_status cu_add(pt_backend *be, const float *a, const float *b, float *y, size_t n)
{
    if (n) add_kernel<<<blocks_for(n), THREADS, 0, S(be)>>>(a, b, y, n);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}
pt_status cu_acc(pt_backend *be, const float *a, float *y, size_t n)
{
    if (n) acc_kernel<<<blocks_for(n), THREADS, 0, S(be)>>>(a, y, n);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

/* Column sums in two ordered steps (no atomics in the sums: the same sum
 * every time): blocks of 32 columns x BG_CHUNK rows each write a partial
 * sum per column, 8 row lanes per column added in a fixed order; then the
 * block of a column group that finishes last adds the chunks in order
 * (bias_sums_last), or, with no rows, bias_grad_sum_kernel. One thread per
 * column over all rows leaves most of the GPU idle, and a launch of its
 * own for the chunks' sums costs a launch's latency. */

__global__ void bias_grad_partial_kernel(const float *dy, float *part, int rows, int n, float *db, float beta,
                                         unsigned *done)
{
    __shared__ float sh[8][33];
    int j = blockIdx.x * 32 + threadIdx.x, r0 = blockIdx.y * BG_CHUNK;
    int r1 = min(rows, r0 + BG_CHUNK);
    float s = 0.0f;
    if (j < n)
        for (int i = r0 + threadIdx.y; i < r1; i += 8) s += dy[(size_t)i * n + j];
    sh[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && j < n) {
        float t = sh[0][threadIdx.x];
        for (int y = 1; y < 8; y++) t += sh[y][threadIdx.x];
        part[(size_t)blockIdx.y * n + j] = t;
    }
    bias_sums_last(part, n, gridDim.y, db, beta, done, blockIdx.x, threadIdx.y == 0 ? j : n);
}

/* the same, four columns a thread (each column's rows added in the same
 * order as above: the same sums) */
__global__ void bias_grad_partial4_kernel(const float4 *dy, float4 *part, int rows, int n4, float *db, float beta,
                                          unsigned *done)
{
    __shared__ float4 sh[8][33];
    int j = blockIdx.x * 32 + threadIdx.x, r0 = blockIdx.y * BG_CHUNK;
    int r1 = min(rows, r0 + BG_CHUNK);
    float4 s = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    if (j < n4)
        for (int i = r0 + threadIdx.y; i < r1; i += 8) {
            float4 v = dy[(size_t)i * n4 + j];
            s.x += v.x, s.y += v.y, s.z += v.z, s.w += v.w;
        }
    sh[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && j < n4) {
        float4 t = sh[0][threadIdx.x];
        for (int y = 1; y < 8; y++) {
            float4 u = sh[y][threadIdx.x];
            t.x += u.x, t.y += u.y, t.z += u.z, t.w += u.w;
        }
        part[(size_t)blockIdx.y * n4 + j] = t;
    }
    int tid = threadIdx.y * 32 + threadIdx.x;
    bias_sums_last((const float *)part, 4 * n4, gridDim.y, db, beta, done, blockIdx.x,
                   tid < 128 ? blockIdx.x * 128 + tid : 4 * n4);
}

__global__ void bias_grad_sum_kernel(const float *part, int chunks, float *db, int n, float beta)
{
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= n) return;
    float s = 0.0f;
    for (int c = 0; c < chunks; c++) s += part[(size_t)c * n + j];
    db[j] = beta == 0.0f ? s : db[j] * beta + s; /* 0: db is not read */
}

pt_status cu_bias_grad(pt_backend *be, const float *dy, float *db, int rows, int n, float beta)
{
    if (!n) return PT_OK;
    int chunks = (rows + BG_CHUNK - 1) / BG_CHUNK;
    float *part;
    unsigned *done;
    pt_status st = pt_cuda_scratch(pt_cuda_impl(be), PT_SLOT_BIAS_PARTS, (size_t)(chunks ? chunks : 1) * (size_t)n, &part);
    if (!st) st = pt_cuda_done_counters(pt_cuda_impl(be), (n + 31) / 32, &done);
    if (st) return st;
    if (!chunks) {
        PT_CUDA_CHECK(cudaMemsetAsync(part, 0, (size_t)n * sizeof(float), S(be)));
        bias_grad_sum_kernel<<<(n + THREADS - 1) / THREADS, THREADS, 0, S(be)>>>(part, 1, db, n, beta);
    } else if (vec4((size_t)n, dy, part, part)) {
        int n4 = n / 4;
        bias_grad_partial4_kernel<<<dim3((unsigned)(n4 + 31) / 32, (unsigned)chunks), dim3(32, 8), 0, S(be)>>>(
            (const float4 *)dy, (float4 *)part, rows, n4, db, beta, done);
    } else {
        bias_grad_partial_kernel<<<dim3((unsigned)(n + 31) / 32, (unsigned)chunks), dim3(32, 8), 0, S(be)>>>(
            dy, part, rows, n, db, beta, done);
    }
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}
