/* The CUDA backend's state, shared by backend.cu (memory, statistics,
 * casts) and nn.cu (the training ops). */
#ifndef PT_CUDA_BACKEND_H
#define PT_CUDA_BACKEND_H

#include <stdint.h>

#include <cublasLt.h>
#include <cuda_runtime.h>

#include "../backend_impl.h"

/* cuBLASLt's choice of algorithm for one GEMM shape, found once per run:
 * the heuristic query costs tens of microseconds per call, and one
 * algorithm per shape keeps a run's GEMMs the same from step to step. */
typedef struct pt_lt_plan {
    uint64_t m, n, k;
    int ta, tb, fmt_a, fmt_b, bias;
    cublasLtMatmulAlgo_t algo;
} pt_lt_plan;

#define PT_LT_PLANS 64

typedef struct cuda_backend {
    int device;
    cudaStream_t stream;
    cublasLtHandle_t lt;
    void *workspace;          /* cuBLASLt workspace */
    size_t workspace_bytes;
    float *scratch[3];        /* 0, 1: operands decoded for a GEMM that cuBLASLt cannot take as they
                                 are; 2: partial column sums of bias_grad */
    size_t scratch_cap[3];
    double *partials;         /* per-block partial sums (deterministic reductions) */
    pt_lt_plan plans[PT_LT_PLANS];
    int nplans;
    float *descales;          /* [0]: 1.0f, the descale of an fp8 operand given none; [4], [8]:
                                 16-byte aligned copies of the two operands' descales that are not */
    cudaEvent_t copied;       /* recorded behind the last pt_backend_download_async */
} cuda_backend;

static inline cuda_backend *pt_cuda_impl(const pt_backend *be) { return (cuda_backend *)be->impl; }

extern const pt_nn_ops pt_cuda_nn_ops;
pt_status pt_cuda_nn_init(cuda_backend *c);
void pt_cuda_nn_release(cuda_backend *c);

#endif
