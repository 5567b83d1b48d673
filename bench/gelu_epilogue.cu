/* Which GELU cuBLASLt's GELU epilogue computes, and what fusing it would
 * save: an fp32 GEMM (4096 x 4096 x 4096, k-contiguous operands, tf32
 * compute) with CUBLASLT_EPILOGUE_GELU_AUX_BIAS (the activation and its
 * input written by the GEMM), its output against erf's GELU (nn.GELU(),
 * prectune's "gelu") and the tanh approximation, both computed on the host
 * in double from the epilogue's own aux output (the pre-activation); and
 * the GEMM's time with that epilogue against the plain bias epilogue in
 * the same run. The measurement behind prectune keeping GELU in its own
 * activation passes.
 * usage: bench_gelu_epilogue */
#include <cublasLt.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define CK(x)                                                                         \
    do {                                                                              \
        int e_ = (int)(x);                                                            \
        if (e_) {                                                                     \
            fprintf(stderr, "bench_gelu_epilogue: %s failed (%d)\n", #x, e_);         \
            exit(1);                                                                  \
        }                                                                             \
    } while (0)

enum { S = 4096 };

/* us a GEMM with epilogue epi (aux: the pre-activation's output, or NULL) */
static double gemm(cublasLtHandle_t lt, cublasLtEpilogue_t epi, const float *A, const float *B, const float *bias,
                   float *D, float *aux, void *ws, size_t wsb, cudaStream_t st)
{
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t la, lb, lc;
    cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    CK(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F_FAST_TF32, CUDA_R_32F));
    CK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    CK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    CK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
    CK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
    if (aux) {
        int64_t ld = S;
        CK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &aux, sizeof aux));
        CK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, &ld, sizeof ld));
    }
    CK(cublasLtMatrixLayoutCreate(&la, CUDA_R_32F, S, S, S));
    CK(cublasLtMatrixLayoutCreate(&lb, CUDA_R_32F, S, S, S));
    CK(cublasLtMatrixLayoutCreate(&lc, CUDA_R_32F, S, S, S));
    cublasLtMatmulPreference_t pref;
    CK(cublasLtMatmulPreferenceCreate(&pref));
    CK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &wsb, sizeof wsb));
    cublasLtMatmulHeuristicResult_t h;
    int found = 0;
    CK(cublasLtMatmulAlgoGetHeuristic(lt, op, la, lb, lc, lc, pref, 1, &h, &found));
    if (!found) {
        fprintf(stderr, "bench_gelu_epilogue: no algorithm\n");
        exit(1);
    }
    float alpha = 1.0f, beta = 0.0f;
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    for (int i = 0; i < 3; i++)
        CK(cublasLtMatmul(lt, op, &alpha, A, la, B, lb, &beta, D, lc, D, lc, &h.algo, ws, wsb, st));
    CK(cudaEventRecord(e0, st));
    for (int i = 0; i < 20; i++)
        CK(cublasLtMatmul(lt, op, &alpha, A, la, B, lb, &beta, D, lc, D, lc, &h.algo, ws, wsb, st));
    CK(cudaEventRecord(e1, st));
    CK(cudaEventSynchronize(e1));
    float ms;
    CK(cudaEventElapsedTime(&ms, e0, e1));
    cublasLtMatmulPreferenceDestroy(pref);
    cublasLtMatrixLayoutDestroy(la), cublasLtMatrixLayoutDestroy(lb), cublasLtMatrixLayoutDestroy(lc);
    cublasLtMatmulDescDestroy(op);
    cudaEventDestroy(e0), cudaEventDestroy(e1);
    return ms * 1e3 / 20;
}

int main(void)
{
    size_t n = (size_t)S * S;
    float *h = (float *)malloc(n * sizeof(float)), *y = (float *)malloc(n * sizeof(float)),
          *x = (float *)malloc(n * sizeof(float));
    srand(1);
    for (size_t i = 0; i < n; i++) h[i] = (float)rand() / RAND_MAX * 2.0f - 1.0f; /* sums of 4096: |x| up to ~100 */
    float *A, *B, *bias, *D, *aux;
    void *ws;
    size_t wsb = 32u << 20;
    CK(cudaMalloc((void **)&A, n * 4));
    CK(cudaMalloc((void **)&B, n * 4));
    CK(cudaMalloc((void **)&D, n * 4));
    CK(cudaMalloc((void **)&aux, n * 4));
    CK(cudaMalloc((void **)&bias, S * 4));
    CK(cudaMalloc(&ws, wsb));
    CK(cudaMemcpy(A, h, n * 4, cudaMemcpyHostToDevice));
    for (size_t i = 0; i < n; i++) h[i] *= 0.05f; /* pre-activations mostly within [-3, 3], where the forms differ */
    CK(cudaMemcpy(B, h, n * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(bias, h, S * 4, cudaMemcpyHostToDevice));
    cublasLtHandle_t lt;
    cudaStream_t st;
    CK(cublasLtCreate(&lt));
    CK(cudaStreamCreate(&st));
    double t_bias = gemm(lt, CUBLASLT_EPILOGUE_BIAS, A, B, bias, D, NULL, ws, wsb, st);
    double t_gelu = gemm(lt, CUBLASLT_EPILOGUE_GELU_AUX_BIAS, A, B, bias, D, aux, ws, wsb, st);
    CK(cudaMemcpy(y, D, n * 4, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(x, aux, n * 4, cudaMemcpyDeviceToHost));
    double de = 0, dt = 0, amax = 0;
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        double erf_form = 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
        double tanh_form = 0.5 * v * (1.0 + tanh(sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
        if (fabs(y[i] - erf_form) > de) de = fabs(y[i] - erf_form);
        if (fabs(y[i] - tanh_form) > dt) dt = fabs(y[i] - tanh_form);
        if (fabs(v) > amax) amax = fabs(v);
    }
    int dev;
    cudaDeviceProp p;
    CK(cudaGetDevice(&dev));
    CK(cudaGetDeviceProperties(&p, dev));
    printf("bench_gelu_epilogue: 4096^3 tf32 GEMM, cuBLASLt %d, %s; pre-activations up to |%.2f|\n",
           (int)cublasLtGetVersion(), p.name, amax);
    printf("GELU epilogue's output against erf's GELU:  max |diff| %.3e\n", de);
    printf("GELU epilogue's output against tanh's form: max |diff| %.3e\n", dt);
    printf("GEMM with the bias epilogue %.1f us, with GELU_AUX_BIAS %.1f us (%.2fx; an activation pass of "
           "ours on fp32: about 45 us)\n", t_bias, t_gelu, t_gelu / t_bias);
    return 0;
}
