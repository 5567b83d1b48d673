/* The backend a library user opens: a device by name, its memory and
 * copies, statistics of tensors, casts between formats, the op profile.
 * The training ops that layers run on it (GEMMs, activations, norms,
 * losses, optimizers) are internal (kernels/ops.h): they change with the
 * trainer. Pointers passed to a backend's operations are that backend's
 * memory (host memory for cpu, device memory for cuda) unless a parameter
 * says otherwise. Operations are asynchronous on device backends: they
 * are ordered on the backend's stream, and results are visible after
 * pt_backend_sync() or, for statistics, after pt_stats_batch_wait(). */
#ifndef PRECTUNE_BACKEND_H
#define PRECTUNE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "prectune/formats.h"
#include "prectune/fp8.h"
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
    PT_OP_GEMM,
    PT_OP_NN, /* the elementwise, normalization, loss and optimizer ops */
    PT_OP_CONV, /* convolutions as one op (cuDNN), with operands in this format */
    PT_OP_COUNT
} pt_op;

/* "cpu", "cuda" or "cuda:N". */
pt_status pt_backend_open(const char *device, pt_backend **out);
void pt_backend_close(pt_backend *be);

/* "cpu" or "cuda:0 (<the device's name>)". */
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
/* The bytes pt_backend_alloc has handed out and not taken back (live), and
 * the most live at once since the last reset (peak); reset_peak starts a
 * new peak at the live bytes. The backend's own scratch (GEMM workspace,
 * decode buffers) is not counted: this is the memory of the tensors its
 * user (a trainer: weights, gradients, optimizer state, activations,
 * cast copies) asked for. */
void pt_backend_memory(pt_backend *be, size_t *live, size_t *peak, bool reset_peak);
pt_status pt_backend_upload(pt_backend *be, void *dst, const void *host_src, size_t bytes);
pt_status pt_backend_download(pt_backend *be, void *host_dst, const void *src, size_t bytes);
pt_status pt_backend_memset(pt_backend *be, void *dst, int byte, size_t bytes);
/* Copy within the backend's memory (queued like any operation). */
pt_status pt_backend_copy(pt_backend *be, void *dst, const void *src, size_t bytes);
/* Waits for all work queued on the backend. */
pt_status pt_backend_sync(pt_backend *be);
/* Host memory the backend copies into without staging (pinned on CUDA,
 * plain memory on the CPU): what pt_backend_download_async writes to. */
pt_status pt_backend_alloc_host(pt_backend *be, size_t bytes, void **ptr);
void pt_backend_free_host(pt_backend *be, void *ptr);
/* A copy to host memory (from pt_backend_alloc_host) queued behind the
 * work before it. The data are there once pt_backend_wait_copies returns,
 * which waits for the copies queued so far and not for the work queued
 * after them: a step reads its flags while its optimizer runs. */
pt_status pt_backend_download_async(pt_backend *be, void *host_dst, const void *src, size_t bytes);
pt_status pt_backend_wait_copies(pt_backend *be);

/* fp8 GEMMs so far that a device backend could not give its fp8 kernels
 * (cuBLASLt's need dimensions that are multiples of 16) and ran decoded
 * to fp32 instead: the same values, at fp32 speed. Always 0 on the CPU,
 * whose every GEMM is that exact emulation. */
int64_t pt_backend_fp8_emulated(const pt_backend *be);

/* The op profile: with it on, every backend op waits for the work before
 * it and for itself, and its time is added to its row (GEMMs and casts by
 * format). Off by default; for finding where a step's time goes
 * (`prectune train --profile-ops`), not for timing a step. */
#define PT_PROFILE_OPS 48
typedef struct pt_op_time {
    char name[48];
    int64_t calls;
    double ms;
} pt_op_time;
typedef struct pt_op_profile {
    pt_op_time op[PT_PROFILE_OPS];
    int n;
} pt_op_profile;
pt_status pt_backend_profile(pt_backend *be, bool on);
/* NULL while the profile is off. */
const pt_op_profile *pt_backend_profile_get(const pt_backend *be);
/* The table of ops by time, per step over `steps` profiled steps. */
void pt_backend_profile_print(const pt_backend *be, int64_t steps, FILE *f);

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
/* pt_backend_cast of a [rows, cols] matrix to an fp8 format (1-byte codes)
 * that also writes the codes transposed into out_t ([cols, rows]): both
 * layouts of a GEMM operand in one pass. */
pt_status pt_backend_cast_t(pt_backend *be, pt_format to, const float *in, int rows, int cols, void *out,
                            void *out_t, const float *scale, float *amax, unsigned flags);
/* out[i] = decode(in[i]) * scale_inv (scale_inv in backend memory, or NULL). */
pt_status pt_backend_decode(pt_backend *be, pt_format from, const void *in, float *out, size_t n,
                            const float *scale_inv);

#ifdef __cplusplus
}
#endif
#endif
