/* The losses on the GPU, a warp per row: softmax cross-entropy over
 * logits [rows, classes] with int labels, and mean squared error, each
 * giving the loss and its gradient. */
#include "common.cuh"

__global__ void softmax_ce_kernel(const float *z, const int32_t *labels, float *loss, float *dz, int rows, int c,
                                  float gs, int *bad)
{
    int r = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x & 31;
    if (r >= rows) return;
    const float *zr = z + (size_t)r * c;
    int y = labels[r];
    if (y < 0 || y >= c) {
        if (!lane) atomicExch(bad, r + 1);
        return;
    }
    float mx = -INFINITY;
    for (int j = lane; j < c; j += 32) mx = fmaxf(mx, zr[j]);
    mx = warp_max(mx);
    float se = 0;
    for (int j = lane; j < c; j += 32) se += expf(zr[j] - mx);
    float lse = mx + logf(warp_sum(se));
    if (!lane) loss[r] = lse - zr[y];
    if (dz)
        for (int j = lane; j < c; j += 32) dz[(size_t)r * c + j] = (expf(zr[j] - lse) - (j == y ? 1.0f : 0.0f)) * gs;
}

pt_status cu_softmax_ce(pt_backend *be, const float *z, const int32_t *labels, float *loss, float *dz,
                        int rows, int c, float gs)
{
    if (!rows) return PT_OK;
    double *partials = pt_cuda_impl(be)->partials; /* reused as the bad-label flag */
    int *bad = (int *)partials;
    PT_CUDA_CHECK(cudaMemsetAsync(bad, 0, sizeof(int), S(be)));
    softmax_ce_kernel<<<(rows + 7) / 8, 256, 0, S(be)>>>(z, labels, loss, dz, rows, c, gs, bad);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK; /* labels are validated when data is loaded; a bad one leaves its row untouched */
}

__global__ void mse_kernel(const float *y, const float *t, float *loss, float *dy, int rows, int c, float gs)
{
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows) return;
    float s = 0;
    for (int j = 0; j < c; j++) {
        float d = y[(size_t)r * c + j] - t[(size_t)r * c + j];
        s += d * d;
        if (dy) dy[(size_t)r * c + j] = 2.0f * d / (float)c * gs;
    }
    loss[r] = s / c;
}

pt_status cu_mse(pt_backend *be, const float *y, const float *t, float *loss, float *dy, int rows, int c, float gs)
{
    if (rows) mse_kernel<<<(rows + THREADS - 1) / THREADS, THREADS, 0, S(be)>>>(y, t, loss, dy, rows, c, gs);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}
