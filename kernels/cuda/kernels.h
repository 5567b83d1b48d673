/* Launchers of the CUDA kernels, for the CUDA backend, the gpu tests and
 * the benchmarks. Every launcher takes an explicit stream, checks the
 * launch, and never synchronizes. */
#ifndef PT_CUDA_KERNELS_H
#define PT_CUDA_KERNELS_H

#include <cuda_runtime.h>
#include <stdint.h>

#include "prectune/stats.h"
#include "../stats_keys.h"

/* Statistics work is cut into chunks of this many elements; a block takes
 * a contiguous run of chunks, so it flushes its accumulators only when the
 * tensor changes (at most once per tensor plus once at its end). */
#define PT_STATS_CHUNK 16384
#define PT_STATS_THREADS 256

typedef struct pt_cuda_stats_req {
    const void *data;
    uint64_t n;
    uint64_t chunk_begin; /* first chunk of this tensor in the launch */
    uint64_t chunk_end;
    float scale;
    int dtype; /* pt_format: fp32, bf16 or fp16 */
    int table; /* table kernel: index of this tensor's key table */
} pt_cuda_stats_req;

/* Fills in chunk_begin/chunk_end and returns the total number of chunks. */
uint64_t pt_cuda_stats_plan(pt_cuda_stats_req *reqs, int n);

/* ---- the table kernel (the fast path; tables in stats_keys.h) ---------- */
int pt_cuda_stats_table_grid(int device, uint64_t chunks);

/* out[0..n) must be zeroed before the launch; tables in device memory. */
pt_status pt_cuda_stats_table_launch(const pt_cuda_stats_req *dev_reqs, int n, uint64_t chunks,
                                     int grid, const pt_stats_table *tables,
                                     pt_stats_keys_dev *out, cudaStream_t stream);


/* ---- the exact kernel (any scale) -----------------------------------------
 * Compares every value with the thresholds; slower, used only for tensors
 * whose scale the table cannot describe. */
typedef struct pt_stats_dev {
    unsigned long long nan, pos_inf, neg_inf, zero;
    unsigned long long underflow[PT_SFMT_COUNT], overflow[PT_SFMT_COUNT];
    unsigned long long hist[PT_HIST_BINS];
    unsigned int absmax_bits, min_inv;
} pt_stats_dev;

int pt_cuda_stats_grid(int device, uint64_t chunks);

pt_status pt_cuda_stats_launch(const pt_cuda_stats_req *dev_reqs, int n, uint64_t chunks,
                               int grid, pt_stats_dev *out, cudaStream_t stream);

void pt_cuda_stats_finish(const pt_stats_dev *d, uint64_t count, float scale, pt_stats *out);

/* Fused cast + amax; see pt_backend_cast. */
pt_status pt_cuda_cast_launch(int to, const float *in, void *out, size_t n, const float *scale,
                              float *amax, unsigned flags, cudaStream_t stream);

#endif
