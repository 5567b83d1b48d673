/* One error-check definition for every GPU library: the failing
 * statement, the library's own words for the error, function, file and
 * line become a pt_status message (library code never exits). */
#ifndef PT_CUDA_CHECK_H
#define PT_CUDA_CHECK_H

#include <cuda_runtime.h>

#include "prectune/status.h"

#define PT_GPU_CHECK_(T, ok, describe, expr)                                            \
    do {                                                                                \
        T pt_e_ = (expr);                                                               \
        if (pt_e_ != (ok))                                                              \
            return pt_fail(PT_ERR_CUDA, "%s: %s [%s, %s:%d]", #expr, describe(pt_e_),   \
                           __func__, __FILE__, __LINE__);                               \
    } while (0)

#define PT_CUDA_CHECK(expr) PT_GPU_CHECK_(cudaError_t, cudaSuccess, cudaGetErrorString, expr)
/* After a kernel launch: launch-configuration errors surface here. */
#define PT_CUDA_CHECK_LAUNCH() PT_CUDA_CHECK(cudaGetLastError())

#ifdef CUBLAS_VER_MAJOR
#define PT_CUBLAS_CHECK(expr) \
    PT_GPU_CHECK_(cublasStatus_t, CUBLAS_STATUS_SUCCESS, cublasLtGetStatusString, expr)
#endif
#ifdef CUDNN_MAJOR
#define PT_CUDNN_CHECK(expr) \
    PT_GPU_CHECK_(cudnnStatus_t, CUDNN_STATUS_SUCCESS, cudnnGetErrorString, expr)
#endif

#endif
