/* The GPU ops that move data rather than compute on it: the gathering of
 * a batch's rows by index, and dropout (the CPU's counter-based mask, the
 * same both ways). */
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
