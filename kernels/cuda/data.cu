/* The GPU ops that move data rather than compute on it: the gathering of
 * a batch's rows by index, dropout (the CPU's counter-based mask, the
 * same both ways), and the token embedding's rows of a table by token id
 * (and the backward's sums into it). */
#include <limits.h>

#include "common.cuh"

/* dst row r = src row idx[r], 4-byte words */
__global__ void gather_rows_kernel(const uint32_t *src, size_t words, const int32_t *idx, int rows, uint32_t *dst)
{
    GRID_STRIDE(i, words * (size_t)rows) {
        size_t r = i / words, k = i - r * words;
        dst[i] = src[(size_t)idx[r] * words + k];
    }
}

/* the same in 16-byte words, a row a block row: no division by the row's
 * words, which bounds the 4-byte kernel */
__global__ void gather_rows16_kernel(const uint4 *src, unsigned words, const int32_t *idx, int rows, uint4 *dst)
{
    for (int r = blockIdx.y; r < rows; r += gridDim.y) {
        const uint4 *s = src + (size_t)idx[r] * words;
        uint4 *d = dst + (size_t)r * words;
        for (unsigned k = blockIdx.x * blockDim.x + threadIdx.x; k < words; k += gridDim.x * blockDim.x) d[k] = s[k];
    }
}

pt_status cu_gather_rows(pt_backend *be, const void *src, size_t row_bytes, const int32_t *idx, int rows,
                         void *dst)
{
    if (!rows || !row_bytes) return PT_OK;
    size_t w16 = row_bytes / 16;
    if (row_bytes % 16 == 0 && w16 <= 0xffffffffu && (uintptr_t)src % 16 == 0 && (uintptr_t)dst % 16 == 0) {
        dim3 grid((unsigned)((w16 + THREADS - 1) / THREADS < 64 ? (w16 + THREADS - 1) / THREADS : 64),
                  (unsigned)(rows < 65535 ? rows : 65535));
        gather_rows16_kernel<<<grid, THREADS, 0, S(be)>>>((const uint4 *)src, (unsigned)w16, idx, rows, (uint4 *)dst);
        PT_CUDA_CHECK_LAUNCH();
        return PT_OK;
    }
    gather_rows_kernel<<<blocks_for(row_bytes / 4 * (size_t)rows), THREADS, 0, S(be)>>>(
        (const uint32_t *)src, row_bytes / 4, idx, rows, (uint32_t *)dst);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

__global__ void dropout_kernel(const float *x, float *y, size_t n, uint32_t threshold, float keep_scale, uint64_t seed)
{
    GRID_STRIDE(i, n) {
        uint32_t r = (uint32_t)(pt_mix64(seed + 0x9e3779b97f4a7c15ull * (i + 1)) >> 32);
        y[i] = r >= threshold ? x[i] * keep_scale : 0.0f;
    }
}

pt_status cu_dropout(pt_backend *be, const float *x, float *y, size_t n, float p, uint64_t seed, bool backward)
{
    (void)backward;
    uint32_t threshold = (uint32_t)((double)p * 4294967296.0);
    if (n) dropout_kernel<<<blocks_for(n), THREADS, 0, S(be)>>>(x, y, n, threshold, 1.0f / (1.0f - p), seed);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

/* The token embedding. A token id that is not an integer in [0, vocab)
 * writes nothing and records the first such position in *bad (the host
 * reads it after the forward: an error naming the token, as on the CPU). */
__device__ __forceinline__ int token_row(float v, int vocab)
{
    return v >= 0.0f && v < (float)vocab && v == (float)(int)v ? (int)v : -1;
}

__global__ void embedding_fwd_kernel(const float *table, const float *ids, float *y, int n, int d, int vocab, int *bad)
{
    for (int r = blockIdx.y; r < n; r += gridDim.y) {
        int t = token_row(ids[r], vocab);
        if (t < 0) {
            if (threadIdx.x == 0 && blockIdx.x == 0) atomicMin(bad, r);
            continue;
        }
        for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < d; j += gridDim.x * blockDim.x)
            y[(size_t)r * d + j] = table[(size_t)t * d + j];
    }
}

pt_status cu_embedding_fwd(pt_backend *be, const float *table, const float *ids, float *y, int n, int d, int vocab)
{
    if (!n) return PT_OK;
    cuda_backend *c = pt_cuda_impl(be);
    float *slot;
    pt_status st = pt_cuda_scratch(c, PT_SLOT_TOKENS, 1, &slot);
    if (st) return st;
    int *bad = (int *)slot, none = INT_MAX, first = INT_MAX;
    PT_CUDA_CHECK(cudaMemcpyAsync(bad, &none, sizeof none, cudaMemcpyHostToDevice, c->stream));
    dim3 grid((unsigned)((d + THREADS - 1) / THREADS), (unsigned)(n < 65535 ? n : 65535));
    embedding_fwd_kernel<<<grid, THREADS, 0, c->stream>>>(table, ids, y, n, d, vocab, bad);
    PT_CUDA_CHECK_LAUNCH();
    /* a wait a forward, for the message; the ids are the data's, checked at reading, so this fails only on
       a caller's bad buffer */
    PT_CUDA_CHECK(cudaMemcpyAsync(&first, bad, sizeof first, cudaMemcpyDeviceToHost, c->stream));
    PT_CUDA_CHECK(cudaStreamSynchronize(c->stream));
    if (first != INT_MAX) {
        float v = 0;
        PT_CUDA_CHECK(cudaMemcpy(&v, ids + first, sizeof v, cudaMemcpyDeviceToHost));
        return pt_fail(PT_ERR_INVALID, "embedding: token %d is %g, not a token id in [0, %d)", first, (double)v, vocab);
    }
    return PT_OK;
}

/* dtable row ids[r] += dy row r, the rows in order, a thread a column: the
 * CPU's sums, in its order (no atomics) */
__global__ void embedding_bwd_kernel(const float *ids, const float *dy, float *dtable, int n, int d, int vocab)
{
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= d) return;
    for (int r = 0; r < n; r++) {
        int t = token_row(ids[r], vocab);
        if (t >= 0) dtable[(size_t)t * d + j] += dy[(size_t)r * d + j];
    }
}

pt_status cu_embedding_bwd(pt_backend *be, const float *ids, const float *dy, float *dtable, int n, int d, int vocab)
{
    if (!n) return PT_OK;
    embedding_bwd_kernel<<<(unsigned)((d + THREADS - 1) / THREADS), THREADS, 0, S(be)>>>(ids, dy, dtable, n, d, vocab);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}
