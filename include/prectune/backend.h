/* The backend interface: every numeric primitive prectune runs, behind one
 * vtable, so that layers and the trainer never know whether the CPU
 * reference or the CUDA backend does the work. Pointers passed to a
 * backend's operations are that backend's memory (host memory for cpu,
 * device memory for cuda) unless a parameter says otherwise. Operations
 * are asynchronous on device backends: they are ordered on the backend's
 * stream, and results are visible after pt_backend_sync() or, for
 * statistics, after pt_stats_batch_wait(). */
#ifndef PRECTUNE_BACKEND_H
#define PRECTUNE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include "prectune/formats.h"
#include "prectune/stats.h"
#include "prectune/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pt_backend pt_backend;
typedef struct pt_stats_batch pt_stats_batch;

typedef enum pt_op {
    PT_OP_STATS = 0,
    PT_OP_CAST,
    PT_OP_COUNT
} pt_op;

/* "cpu", "cuda" or "cuda:N". */
pt_status pt_backend_open(const char *device, pt_backend **out);
void pt_backend_close(pt_backend *be);

/* "cpu" or "cuda:0 (NVIDIA H100 80GB HBM3)". */
const char *pt_backend_name(const pt_backend *be);
/* True when the backend's memory is not host memory. */
bool pt_backend_is_device(const pt_backend *be);
/* Whether an operation is available for this format on this backend. */
bool pt_backend_supports(const pt_backend *be, pt_op op, pt_format f);
/* True when this binary was built with the CUDA backend. */
bool pt_have_cuda(void);
/* Number of CUDA devices visible (0 when none or when built without CUDA). */
int pt_cuda_device_count(void);

pt_status pt_backend_alloc(pt_backend *be, size_t bytes, void **ptr);
void pt_backend_free(pt_backend *be, void *ptr);
pt_status pt_backend_upload(pt_backend *be, void *dst, const void *host_src, size_t bytes);
pt_status pt_backend_download(pt_backend *be, void *host_dst, const void *src, size_t bytes);
pt_status pt_backend_memset(pt_backend *be, void *dst, int byte, size_t bytes);
/* Waits for all work queued on the backend. */
pt_status pt_backend_sync(pt_backend *be);

/* Statistics of up to `capacity` tensors per launch. The results are
 * reduced where the data lives and copied back without stalling the
 * caller: pt_backend_stats() only queues the work. A batch holds one
 * launch at a time; launching again replaces the previous results. */
pt_status pt_stats_batch_create(pt_backend *be, int capacity, pt_stats_batch **out);
void pt_stats_batch_destroy(pt_stats_batch *b);
pt_status pt_backend_stats(pt_backend *be, pt_stats_batch *b, const pt_stats_req *reqs, int n);
/* Non-blocking: have the results of the last launch arrived? */
bool pt_stats_batch_ready(pt_stats_batch *b);
/* Waits for the last launch (its event only, never the whole device) and
 * returns its results (valid until the next launch or destroy). */
pt_status pt_stats_batch_wait(pt_stats_batch *b, const pt_stats **results, int *n);

/* out = encode_to(in[i] * scale) for n values; the storage of out is the
 * format's (pt_format_info(to)->storage_bytes per value). scale is a
 * pointer into backend memory (NULL for 1), as fp8 scaling keeps it
 * there. When amax is not NULL (backend memory, one float), it becomes
 * max(*amax, max|in[i]|) in the same pass; a NaN input makes it NaN, so a
 * NaN is never hidden by the reduction. */
pt_status pt_backend_cast(pt_backend *be, pt_format to, const float *in, void *out, size_t n,
                          const float *scale, float *amax, unsigned flags);

#ifdef __cplusplus
}
#endif
#endif
