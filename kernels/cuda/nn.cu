/* The training ops on the GPU, each the counterpart of kernels/cpu/nn.c
 * and checked against it op by op (tests/gpu/test_backend_ops.c). Simple,
 * one-pass kernels with grid-stride loops; reductions whose result feeds
 * training (sums of squares, parameter gradients) are ordered, never
 * atomics, so that a run and its resumption agree bit for bit on the same
 * device. GEMMs go to cuBLASLt. */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <math.h>
#include <stdlib.h>

#include "../../common/rng.h"
#include "check.h"
#include "cuda_backend.h"
#include "act.cuh"
#include "encode.cuh"
#include "kernels.h"
#include "../fp8_logic.h"
#include "../optim_gate.h"

#define PT_CUBLAS_CHECK(expr) \
    PT_GPU_CHECK_(cublasStatus_t, CUBLAS_STATUS_SUCCESS, cublasLtGetStatusString, expr)

#define THREADS 256
#define PARTIALS 1024

static cudaStream_t S(pt_backend *be) { return pt_cuda_impl(be)->stream; }

static unsigned blocks_for(size_t n)
{
    size_t b = (n + THREADS - 1) / THREADS;
    return (unsigned)(b < 4096 ? (b ? b : 1) : 4096);
}

#define GRID_STRIDE(i, n) \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)

pt_status pt_cuda_nn_init(cuda_backend *c)
{
    PT_CUBLAS_CHECK(cublasLtCreate(&c->lt));
    c->workspace_bytes = 32u << 20;
    PT_CUDA_CHECK(cudaMalloc(&c->workspace, c->workspace_bytes));
    PT_CUDA_CHECK(cudaMalloc((void **)&c->partials, PARTIALS * sizeof(double)));
    PT_CUDA_CHECK(cudaMalloc((void **)&c->descales, 12 * sizeof(float)));
    const float one = 1.0f;
    PT_CUDA_CHECK(cudaMemcpy(c->descales, &one, sizeof one, cudaMemcpyHostToDevice));
    PT_CUDA_CHECK(cudaEventCreateWithFlags(&c->copied, cudaEventDisableTiming));
#ifdef PT_HAVE_CUDNN
    /* PRECTUNE_CUDNN=0: convolutions as im2col GEMMs and pooling on our own
     * kernels (to compare, or to step around a cuDNN problem) */
    c->have_cudnn = pt_cudnn_setting() != 0;
#endif
    return PT_OK;
}

static void lt_plan_free(pt_lt_plan *p);

void pt_cuda_nn_release(cuda_backend *c)
{
    if (c->lt) cublasLtDestroy(c->lt);
    cudaFree(c->workspace);
    cudaFree(c->partials);
    cudaFree(c->done);
    for (int i = 0; i < PT_CUDA_SCRATCH; i++) cudaFree(c->scratch[i]);
    for (int i = 0; i < c->nplans; i++) lt_plan_free(&c->plans[i]);
    c->nplans = 0;
    pt_cuda_conv_release(c);
    cudaFree(c->descales);
    if (c->copied) cudaEventDestroy(c->copied);
}

/* ---- decode / round ------------------------------------------------------- */

template <int F> __device__ __forceinline__ float dev_decode(const void *p, size_t i)
{
    if (F == PT_FMT_FP32 || F == PT_FMT_TF32) return ((const float *)p)[i];
    if (F == PT_FMT_BF16) return __uint_as_float((uint32_t)((const unsigned short *)p)[i] << 16);
    if (F == PT_FMT_FP16) return __half2float(__ushort_as_half(((const unsigned short *)p)[i]));
    __half_raw h = __nv_cvt_fp8_to_halfraw(((const __nv_fp8_storage_t *)p)[i], F == PT_FMT_E4M3 ? __NV_E4M3 : __NV_E5M2);
    return __half2float(__half(h));
}

template <int F> __global__ void decode_kernel(const void *in, float *out, size_t n, const float *scale_inv)
{
    float s = scale_inv ? *scale_inv : 1.0f;
    GRID_STRIDE(i, n) out[i] = dev_decode<F>(in, i) * s;
}

/* x stored in F and read back */
template <int F> __device__ __forceinline__ float dev_round(float x)
{
    uint32_t c = pt_dev_encode<F>(x, 0);
    if (F == PT_FMT_FP32 || F == PT_FMT_TF32) return __uint_as_float(c);
    if (F == PT_FMT_BF16) return __uint_as_float(c << 16);
    if (F == PT_FMT_FP16) return __half2float(__ushort_as_half((unsigned short)c));
    return __half2float(__half(__nv_cvt_fp8_to_halfraw((__nv_fp8_storage_t)c, F == PT_FMT_E4M3 ? __NV_E4M3 : __NV_E5M2)));
}

template <int F> __global__ void round_kernel(float *x, size_t n)
{
    GRID_STRIDE(i, n) x[i] = dev_round<F>(x[i]);
}

/* dev_round on a format known at run time (one branch, the same for a whole launch) */
__device__ __forceinline__ float round_rt(int f, float v)
{
    switch (f) {
    case PT_FMT_BF16: return dev_round<PT_FMT_BF16>(v);
    case PT_FMT_FP16: return dev_round<PT_FMT_FP16>(v);
    case PT_FMT_TF32: return dev_round<PT_FMT_TF32>(v);
    case PT_FMT_E4M3: return dev_round<PT_FMT_E4M3>(v);
    case PT_FMT_E5M2: return dev_round<PT_FMT_E5M2>(v);
    default: return v;
    }
}

/* A GEMM's tail on four values of a row: the bias added, then the
 * rounding; the GEMM's own (bias_round4_kernel), or one it deferred
 * (pt_gemm_tail) to the pass that reads its output, written back unless
 * that tail keeps c raw. */
struct tail4 {
    float4 *c;          /* NULL: no tail */
    const float4 *bias; /* NULL: none */
    size_t cols4;
    int fmt;
    bool write;
    const uint2 *packed; /* the finished values as four 16-bit codes (pt_gemm_tail.packed), or NULL */
};

static tail4 tail4_of(const pt_gemm_tail *t)
{
    if (!t) return tail4{};
    return tail4{(float4 *)t->c, (const float4 *)t->bias, (size_t)t->cols / 4, (int)t->fmt, !t->keep_raw,
                 (const uint2 *)t->packed};
}

/* whether the four-a-thread kernels can take the tail (whole float4s of a row) */
static bool tail_vec(const pt_gemm_tail *t)
{
    return !t || (t->cols % 4 == 0 && (uintptr_t)t->bias % 16 == 0 && (uintptr_t)t->packed % 8 == 0);
}

/* an op's input at float4 i: as stored in x, or its packed tail's values */
__device__ __forceinline__ float4 load4(const tail4 &t, const float4 *x, size_t i)
{
    return t.packed ? unpack4(t.fmt, t.packed[i]) : x[i];
}

/* The rows kernels' loads issued ahead of their arithmetic: float4s of
 * x, or with PK (a packed tail) its four 16-bit codes, unpacked at use, so
 * that twice the rows are in flight in the same registers: a pass reading
 * 2-byte values is bound by how many loads it keeps in flight. */
template <bool PK> struct raw4 {
    typedef float4 type;
};
template <> struct raw4<true> {
    typedef uint2 type;
};
template <bool PK>
__device__ __forceinline__ typename raw4<PK>::type load_raw(const tail4 &t, const float4 *x, size_t i);
template <> __device__ __forceinline__ float4 load_raw<false>(const tail4 &t, const float4 *x, size_t i)
{
    return x[i];
}
template <> __device__ __forceinline__ uint2 load_raw<true>(const tail4 &t, const float4 *x, size_t i)
{
    return t.packed[i];
}
__device__ __forceinline__ float4 as4(int fmt, float4 v) { return v; }
__device__ __forceinline__ float4 as4(int fmt, uint2 v) { return unpack4(fmt, v); }

/* a bias's four values rounded to the GEMM's output format, as it adds them */
__device__ __forceinline__ float4 round4(int fmt, float4 b)
{
    return make_float4(round_rt(fmt, b.x), round_rt(fmt, b.y), round_rt(fmt, b.z), round_rt(fmt, b.w));
}

/* the bias column of float4 i: a 32-bit remainder where the indices allow
 * (narrow; a 64-bit one costs more than the rest of an activation's pass) */
__device__ __forceinline__ size_t col4(const tail4 &t, size_t i, bool narrow)
{
    if (!t.bias) return 0;
    return narrow ? (size_t)((unsigned)i % (unsigned)t.cols4) : i % t.cols4;
}

/* v (a packed tail's: load4's, finished) written back where the tail says */
__device__ __forceinline__ float4 finish4(const tail4 &t, size_t i, size_t col, float4 v)
{
    if (!t.packed) {
        if (t.bias) {
            float4 b = round4(t.fmt, t.bias[col]);
            v.x += b.x, v.y += b.y, v.z += b.z, v.w += b.w;
        }
        v = round4(t.fmt, v);
    }
    if (t.write) t.c[i] = v;
    return v;
}

#define DISPATCH_FMT(f, KERNEL, ...)                                                                   \
    switch (f) {                                                                                       \
    case PT_FMT_FP32: KERNEL<PT_FMT_FP32><<<blocks_for(n), THREADS, 0, S(be)>>>(__VA_ARGS__); break;   \
    case PT_FMT_TF32: KERNEL<PT_FMT_TF32><<<blocks_for(n), THREADS, 0, S(be)>>>(__VA_ARGS__); break;   \
    case PT_FMT_BF16: KERNEL<PT_FMT_BF16><<<blocks_for(n), THREADS, 0, S(be)>>>(__VA_ARGS__); break;   \
    case PT_FMT_FP16: KERNEL<PT_FMT_FP16><<<blocks_for(n), THREADS, 0, S(be)>>>(__VA_ARGS__); break;   \
    case PT_FMT_E4M3: KERNEL<PT_FMT_E4M3><<<blocks_for(n), THREADS, 0, S(be)>>>(__VA_ARGS__); break;   \
    default: KERNEL<PT_FMT_E5M2><<<blocks_for(n), THREADS, 0, S(be)>>>(__VA_ARGS__); break;            \
    }

static pt_status cu_decode(pt_backend *be, pt_format from, const void *in, float *out, size_t n, const float *scale_inv)
{
    if (!n) return PT_OK;
    DISPATCH_FMT(from, decode_kernel, in, out, n, scale_inv);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

static pt_status cu_round(pt_backend *be, pt_format f, float *x, size_t n)
{
    if (!n) return PT_OK;
    DISPATCH_FMT(f, round_kernel, x, n);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

/* x[r][c] = round_F(x[r][c] + bias[c]) (bias may be NULL), four values a
 * thread: the tail of a GEMM whose bias cuBLASLt could not add (fp8 with
 * an fp32 output), in one pass instead of a bias pass and a rounding pass */
template <int F> __global__ void bias_round4_kernel(float4 *x, const float4 *bias, size_t n4, size_t cols4)
{
    tail4 t = {x, bias, cols4, F, true};
    bool narrow = n4 <= 0xffffffffu;
    GRID_STRIDE(i, n4) finish4(t, i, col4(t, i, narrow), x[i]);
}

/* ---- GEMM through cuBLASLt ---------------------------------------------- */

pt_status pt_cuda_scratch(cuda_backend *c, int slot, size_t n, float **out)
{
    if (c->scratch_cap[slot] < n) {
        cudaFree(c->scratch[slot]);
        c->scratch[slot] = NULL;
        c->scratch_cap[slot] = 0;
        PT_CUDA_CHECK(cudaMalloc((void **)&c->scratch[slot], n * sizeof(float)));
        c->scratch_cap[slot] = n;
    }
    *out = c->scratch[slot];
    return PT_OK;
}

static cudaDataType_t lt_type(pt_format f)
{
    switch (f) {
    case PT_FMT_BF16: return CUDA_R_16BF;
    case PT_FMT_FP16: return CUDA_R_16F;
    case PT_FMT_E4M3: return CUDA_R_8F_E4M3;
    case PT_FMT_E5M2: return CUDA_R_8F_E5M2;
    default: return CUDA_R_32F;
    }
}

/* out[c][r] = in[r][c] for 1-byte codes or 4-byte values, through 32 x 32 tiles */
template <typename T> __global__ void transpose_kernel(const T *in, T *out, int rows, int cols)
{
    __shared__ T t[32][33];
    int c0 = blockIdx.x * 32, r0 = blockIdx.y * 32;
    for (int y = threadIdx.y; y < 32; y += 8) {
        int r = r0 + y, c = c0 + threadIdx.x;
        if (r < rows && c < cols) t[y][threadIdx.x] = in[(size_t)r * cols + c];
    }
    __syncthreads();
    for (int y = threadIdx.y; y < 32; y += 8) {
        int c = c0 + y, r = r0 + threadIdx.x;
        if (r < rows && c < cols) out[(size_t)c * rows + r] = t[threadIdx.x][y];
    }
}

/* y[rows, n] = round_F(y + round_F(bias[n])): a GEMM's tail, one value a thread */
template <int F> __global__ void bias_round_kernel(float *y, const float *bias, size_t n, int cols)
{
    GRID_STRIDE(i, n) y[i] = dev_round<F>(bias ? y[i] + dev_round<F>(bias[i % (size_t)cols]) : y[i]);
}

/* fp8 through cuBLASLt's fp8 kernels, which take only the "TN" layout
 * (in our row-major terms: both operands with k contiguous) and
 * dimensions that are multiples of 16: an operand in the other layout is
 * transposed into scratch (a byte copy: the values and their scale are
 * the same), a shape that does not fit returns false (the caller runs it
 * decoded to fp32, exactly, and counts it). */
static bool fp8_fits(const pt_gemm *g)
{
    bool f8a = g->a.fmt == PT_FMT_E4M3 || g->a.fmt == PT_FMT_E5M2, f8b = g->b.fmt == PT_FMT_E4M3 || g->b.fmt == PT_FMT_E5M2;
    return f8a && f8b && !(g->a.fmt == PT_FMT_E5M2 && g->b.fmt == PT_FMT_E5M2) && g->m % 16 == 0 &&
           g->n % 16 == 0 && g->k % 16 == 0 && (uintptr_t)g->a.data % 16 == 0 && (uintptr_t)g->b.data % 16 == 0;
}

/* The same for rows and cols multiples of 4 and word-aligned data (the fp8
 * GEMMs' shapes are multiples of 16): 64 x 64 tiles moved as 32-bit words,
 * four bytes of a column packed into each word written: the byte kernel
 * above reaches a third of the copy bandwidth, and the backward's fp8
 * GEMMs pay for three such transposes a layer (bench/RESULTS.md). */
__global__ void transpose_u8x4_kernel(const uint32_t *in, uint32_t *out, int rows, int cols)
{
    __shared__ uint32_t t[64][17]; /* 64 rows of 64 bytes, a row pitch of 68 bytes */
    int c0 = blockIdx.x * 64, r0 = blockIdx.y * 64, cw = cols / 4, rw = rows / 4;
    for (int y = threadIdx.y; y < 64; y += 16) {
        int r = r0 + y, w = c0 / 4 + threadIdx.x;
        t[y][threadIdx.x] = r < rows && w < cw ? in[(size_t)r * cw + w] : 0u;
    }
    __syncthreads();
    const uint8_t *tb = (const uint8_t *)t;
    for (int y = threadIdx.y; y < 64; y += 16) {
        int c = c0 + y, w = r0 / 4 + threadIdx.x; /* output row c, its word w: input rows 4w .. 4w + 3 */
        if (c >= cols || w >= rw) continue;
        const uint8_t *b = tb + 4 * threadIdx.x * 68 + y;
        out[(size_t)c * rw + w] = (uint32_t)b[0] | (uint32_t)b[68] << 8 | (uint32_t)b[136] << 16 | (uint32_t)b[204] << 24;
    }
}

/* out[c][r] = in[r][c] for 1-byte codes, [rows, cols] */
static pt_status transpose_codes(cudaStream_t stream, const void *in, void *out, int rows, int cols)
{
    if (rows % 4 == 0 && cols % 4 == 0 && (uintptr_t)in % 4 == 0 && (uintptr_t)out % 4 == 0)
        transpose_u8x4_kernel<<<dim3((unsigned)(cols + 63) / 64, (unsigned)(rows + 63) / 64), dim3(16, 16), 0,
                                stream>>>((const uint32_t *)in, (uint32_t *)out, rows, cols);
    else
        transpose_kernel<uint8_t><<<dim3((unsigned)(cols + 31) / 32, (unsigned)(rows + 31) / 32), dim3(32, 8), 0, stream>>>(
            (const uint8_t *)in, (uint8_t *)out, rows, cols);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

/* An fp8 operand stored [k][cols] (k rows) made k-contiguous: its twin
 * where the pass that cast it wrote one (pt_operand.data_t), else
 * transposed into scratch slot (a byte copy: the values and their scale
 * are the same); its trans flag flips with it. */
static pt_status k_contiguous(cuda_backend *cb, int slot, pt_operand *o, int k, int cols)
{
    if (o->data_t) {
        const void *d = o->data;
        o->data = o->data_t, o->data_t = d, o->trans = !o->trans;
        return PT_OK;
    }
    float *t;
    pt_status st = pt_cuda_scratch(cb, slot, ((size_t)k * cols + 3) / 4, &t);
    if (!st) st = transpose_codes(cb->stream, o->data, t, k, cols);
    if (st) return st;
    o->data = t, o->trans = !o->trans;
    return PT_OK;
}

/* A tf32 operand stored [k][cols] made k-contiguous in scratch slot (a
 * copy of the same fp32 values); its trans flag flips with it. Hopper's
 * tf32 tensor-core instructions read both operands k-contiguous; cuBLASLt's
 * kernels for one operand stored the other way run at about the speed of
 * those for none, but for both (a weight gradient, dy^T x) about 1.5x
 * slower than with one of them transposed first (bench/RESULTS.md; the
 * same with torch.matmul, the same cuBLASLt kernels). */
static pt_status k_contiguous_f32(cuda_backend *cb, int slot, pt_operand *o, int k, int cols)
{
    float *t;
    pt_status st = pt_cuda_scratch(cb, slot, (size_t)k * cols, &t);
    if (st) return st;
    transpose_kernel<float><<<dim3((unsigned)(cols + 31) / 32, (unsigned)(k + 31) / 32), dim3(32, 8), 0, cb->stream>>>(
        (const float *)o->data, t, k, cols);
    PT_CUDA_CHECK_LAUNCH();
    o->data = t, o->trans = !o->trans;
    return PT_OK;
}

/* cuBLASLt reads its scale pointers as 16-byte aligned: NULL becomes the
 * device 1.0f, a descale that is not aligned is copied to slot `at` */
static pt_status aligned_descale(cuda_backend *cb, int at, const float **s)
{
    if (!*s) *s = cb->descales;
    if ((uintptr_t)*s % 16) {
        PT_CUDA_CHECK(cudaMemcpyAsync(cb->descales + at, *s, sizeof(float), cudaMemcpyDeviceToDevice, cb->stream));
        *s = cb->descales + at;
    }
    return PT_OK;
}

static void lt_plan_free(pt_lt_plan *p)
{
    if (p->lc) cublasLtMatrixLayoutDestroy(p->lc);
    if (p->lb) cublasLtMatrixLayoutDestroy(p->lb);
    if (p->la) cublasLtMatrixLayoutDestroy(p->la);
    if (p->op) cublasLtMatmulDescDestroy(p->op);
    p->op = NULL, p->la = p->lb = p->lc = NULL;
}

/* A call's own pointers in the plan's descriptor: the bias (where cuBLASLt
 * adds it) and the fp8 descales (cuBLASLt's A is our b). st: the status so
 * far, returned unless this fails first. */
static pt_status call_pointers(cublasLtMatmulDesc_t op, const void *bias_ptr, const pt_gemm *g, const pt_operand *a,
                               const pt_operand *b, bool bias, bool fp8, pt_status st)
{
    cublasStatus_t e = CUBLAS_STATUS_SUCCESS;
    if (bias) e = cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias_ptr, sizeof bias_ptr);
    if (fp8 && e == CUBLAS_STATUS_SUCCESS)
        e = cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &b->scale_inv,
                                           sizeof b->scale_inv);
    if (fp8 && e == CUBLAS_STATUS_SUCCESS)
        e = cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &a->scale_inv,
                                           sizeof a->scale_inv);
    if (e != CUBLAS_STATUS_SUCCESS && !st)
        st = pt_fail(PT_ERR_CUDA, "cublasLtMatmulDescSetAttribute (the call's pointers): %s [gemm %dx%dx%d]",
                     cublasLtGetStatusString(e), g->m, g->n, g->k);
    return st;
}

/* out[i] = the 16-bit codes of x[i] (values already in F: exact) */
template <int F> __global__ void pack_kernel(const float *x, uint16_t *out, size_t n)
{
    GRID_STRIDE(i, n) out[i] = (uint16_t)pt_dev_encode<F>(x[i], 0);
}

static pt_status pack(pt_backend *be, pt_format f, const float *x, void *out, size_t n)
{
    if (!n) return PT_OK;
    if (f == PT_FMT_BF16) pack_kernel<PT_FMT_BF16><<<blocks_for(n), THREADS, 0, S(be)>>>(x, (uint16_t *)out, n);
    else pack_kernel<PT_FMT_FP16><<<blocks_for(n), THREADS, 0, S(be)>>>(x, (uint16_t *)out, n);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

/* bias[n] as out_fmt's 16-bit codes, in scratch: a packed GEMM's bias,
 * which cuBLASLt's 16-bit epilogue takes in the output's type (rounded:
 * the bias a GEMM writing that format adds) */
static pt_status bias_codes(pt_backend *be, const float *bias, int n, pt_format f, const void **out)
{
    float *buf;
    pt_status st = pt_cuda_scratch(pt_cuda_impl(be), PT_SLOT_BIAS, ((size_t)n + 1) / 2, &buf);
    if (!st) st = pack(be, f, bias, buf, (size_t)n);
    *out = buf;
    return st;
}

static pt_status cu_gemm(pt_backend *be, const pt_gemm *g, void *out);

/* A packed GEMM (pt_gemm.pack) as the finished fp32 output, then a pass
 * that packs it: where cuBLASLt does not write the 16-bit output itself
 * (operands it takes only decoded, or a shape with no such algorithm) */
static pt_status gemm_packed_by_pass(pt_backend *be, const pt_gemm *g, void *out)
{
    size_t n = (size_t)g->m * g->n;
    float *t;
    pt_gemm fin = *g;
    fin.pack = false;
    pt_status st = pt_cuda_scratch(pt_cuda_impl(be), PT_SLOT_PACK, n, &t);
    if (!st) st = cu_gemm(be, &fin, t);
    return st ? st : pack(be, g->out_fmt, t, out, n);
}

/* C[m,n] (row-major) = op(A)[m,k] op(B)[k,n]: in cuBLASLt's column-major
 * terms that is C^T[n,m] = op(B)^T op(A)^T, so B goes first. Operands
 * cuBLASLt takes as they are: fp32, tf32 (fp32 storage, tf32 compute),
 * bf16 and fp16 of the same format, and fp8 (e4m3 x e4m3, e4m3 x e5m2,
 * e5m2 x e4m3) with their descales, where fp8_fits; other fp8 shapes and
 * mixed formats are decoded to fp32 first (exact products, fp32
 * accumulation: the emulation of the GEMM). An fp32 output takes its bias
 * in cuBLASLt's epilogue; a 16-bit one rounded to its format first
 * (pt_gemm), in our tail pass, or for a packed output (pt_gemm.pack) as
 * codes in cuBLASLt's 16-bit epilogue (the caller's pt_gemm.bias_codes, or
 * made here), which writes the codes itself. */
static pt_status cu_gemm(pt_backend *be, const pt_gemm *g, void *out)
{
    float *c = (float *)out;
    cuda_backend *cb = pt_cuda_impl(be);
    if (!g->m || !g->n) return PT_OK;
    pt_operand a = g->a, b = g->b;
    bool fp8 = fp8_fits(g);
    bool native = fp8 || (a.fmt == b.fmt && (a.fmt == PT_FMT_FP32 || a.fmt == PT_FMT_TF32 || a.fmt == PT_FMT_BF16 ||
                                             a.fmt == PT_FMT_FP16) && !a.scale_inv && !b.scale_inv);
    /* operands cuBLASLt takes only decoded: the fp32 GEMM below, packed after (decoded and counted once) */
    if (g->pack && !native) return gemm_packed_by_pass(be, g, out);
    pt_status st = PT_OK;
    if (fp8) {
        /* TN: b stored [n][k], a stored [m][k] */
        if ((!b.trans && (st = k_contiguous(cb, 1, &b, g->k, g->n))) ||
            (a.trans && (st = k_contiguous(cb, 0, &a, g->k, g->m))) || (st = aligned_descale(cb, 4, &a.scale_inv)) ||
            (st = aligned_descale(cb, 8, &b.scale_inv)))
            return st;
    } else if (!native) {
        if (a.fmt == PT_FMT_E4M3 || a.fmt == PT_FMT_E5M2 || b.fmt == PT_FMT_E4M3 || b.fmt == PT_FMT_E5M2)
            be->fp8_emulated++;
        float *da, *db;
        size_t na = (size_t)g->m * g->k, nb = (size_t)g->k * g->n;
        if ((st = pt_cuda_scratch(cb, 0, na, &da)) || (st = pt_cuda_scratch(cb, 1, nb, &db)) ||
            (st = cu_decode(be, a.fmt, a.data, da, na, a.scale_inv)) ||
            (st = cu_decode(be, b.fmt, b.data, db, nb, b.scale_inv)))
            return st;
        a.data = da, b.data = db, a.fmt = b.fmt = PT_FMT_FP32;
        a.scale_inv = b.scale_inv = NULL;
    }
    /* tf32 with neither operand k-contiguous: the smaller one made so */
    if (!fp8 && native && a.fmt == PT_FMT_TF32 && a.trans && !b.trans && g->k > 1 &&
        (st = (size_t)g->m <= (size_t)g->n ? k_contiguous_f32(cb, 0, &a, g->k, g->m)
                                           : k_contiguous_f32(cb, 1, &b, g->k, g->n)))
        return st;
    pt_format f = a.fmt;
    cublasOperation_t ta = b.trans ? CUBLAS_OP_T : CUBLAS_OP_N, tb = a.trans ? CUBLAS_OP_T : CUBLAS_OP_N;
    uint64_t M = (uint64_t)g->n, N = (uint64_t)g->m, K = (uint64_t)g->k;
    float alpha = 1.0f, beta = g->beta;
    /* the bias in cuBLASLt's epilogue: an fp32 output's as it is (fp8 takes
     * none with an fp32 output), a packed output's as its codes */
    cudaDataType_t out_type = g->pack ? lt_type(g->out_fmt) : CUDA_R_32F;
    bool bias = g->bias != NULL && !g->defer_tail && (g->pack || (!fp8 && g->out_fmt == PT_FMT_FP32));
    /* a packed GEMM's bias codes: the caller's (16-byte aligned, as the scratch's are), else made here */
    bool given = g->bias_codes && (uintptr_t)g->bias_codes % 16 == 0;
    const void *bias_ptr = bias && g->pack && given ? g->bias_codes : g->bias;
    if (bias && g->pack && !given && (st = bias_codes(be, g->bias, g->n, g->out_fmt, &bias_ptr))) return st;
#define LT(x)                                                                                     \
    do {                                                                                          \
        cublasStatus_t e_ = (x);                                                                  \
        if (e_ != CUBLAS_STATUS_SUCCESS && !st)                                                   \
            st = pt_fail(PT_ERR_CUDA, "%s: %s [gemm %dx%dx%d, %s x %s]", #x, cublasLtGetStatusString(e_), g->m, \
                         g->n, g->k, pt_format_info(a.fmt)->name, pt_format_info(b.fmt)->name);   \
    } while (0)
    pt_lt_plan key = {M, N, K, (int)ta, (int)tb, (int)a.fmt, (int)b.fmt, bias, (int)out_type,
                      {}, NULL, NULL, NULL, NULL};
    pt_lt_plan *plan = NULL;
    for (int i = 0; i < cb->nplans && !plan; i++) {
        pt_lt_plan *p = &cb->plans[i];
        if (p->m == M && p->n == N && p->k == K && p->ta == key.ta && p->tb == key.tb && p->fmt_a == key.fmt_a &&
            p->fmt_b == key.fmt_b && p->bias == key.bias && p->out == key.out)
            plan = p;
    }
    if (!plan) { /* the descriptors and the algorithm of a new shape */
        cublasComputeType_t ct = f == PT_FMT_TF32 ? CUBLAS_COMPUTE_32F_FAST_TF32
                               : f == PT_FMT_FP32 ? CUBLAS_COMPUTE_32F_PEDANTIC : CUBLAS_COMPUTE_32F;
        int64_t lda = b.trans ? (int64_t)K : (int64_t)M, ldb = a.trans ? (int64_t)N : (int64_t)K;
        cublasLtEpilogue_t epi = bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
        cublasLtMatmulPreference_t pref = NULL;
        LT(cublasLtMatmulDescCreate(&key.op, ct, CUDA_R_32F));
        LT(cublasLtMatmulDescSetAttribute(key.op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
        LT(cublasLtMatmulDescSetAttribute(key.op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
        LT(cublasLtMatmulDescSetAttribute(key.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
        if (bias) {
            int32_t bt = (int32_t)out_type;
            LT(cublasLtMatmulDescSetAttribute(key.op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof bt));
        }
        LT(cublasLtMatrixLayoutCreate(&key.la, lt_type(b.fmt), ta == CUBLAS_OP_N ? M : K, ta == CUBLAS_OP_N ? K : M,
                                      lda));
        LT(cublasLtMatrixLayoutCreate(&key.lb, lt_type(a.fmt), tb == CUBLAS_OP_N ? K : N, tb == CUBLAS_OP_N ? N : K,
                                      ldb));
        LT(cublasLtMatrixLayoutCreate(&key.lc, out_type, M, N, (int64_t)M));
        LT(cublasLtMatmulPreferenceCreate(&pref));
        LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &cb->workspace_bytes,
                                                sizeof cb->workspace_bytes));
        /* the heuristic sees the pointers' attributes set (bias, descales), as the call will */
        st = call_pointers(key.op, bias_ptr, g, &a, &b, bias, fp8, st);
        cublasLtMatmulHeuristicResult_t heur;
        int found = 0;
        LT(cublasLtMatmulAlgoGetHeuristic(cb->lt, key.op, key.la, key.lb, key.lc, key.lc, pref, 1, &heur, &found));
        if (pref) cublasLtMatmulPreferenceDestroy(pref);
        if (!st && !found)
            st = pt_fail(PT_ERR_CUDA, "cuBLASLt has no algorithm for a %dx%dx%d %s x %s GEMM", g->m, g->n, g->k,
                         pt_format_info(a.fmt)->name, pt_format_info(b.fmt)->name);
        if (st) {
            lt_plan_free(&key);
            if (!g->pack) return st;
            pt_clear_error(); /* no 16-bit output for this shape: our own pass packs it */
            return gemm_packed_by_pass(be, g, out);
        }
        key.algo = heur.algo;
        if (cb->nplans == PT_LT_PLANS) { /* a run has few shapes; start over past that */
            for (int i = 0; i < cb->nplans; i++) lt_plan_free(&cb->plans[i]);
            cb->nplans = 0;
        }
        cb->plans[cb->nplans] = key;
        plan = &cb->plans[cb->nplans++];
    } else {
        st = call_pointers(plan->op, bias_ptr, g, &a, &b, bias, fp8, st);
    }
    if (!st)
        LT(cublasLtMatmul(cb->lt, plan->op, &alpha, b.data, plan->la, a.data, plan->lb, &beta, c, plan->lc, c, plan->lc,
                          &plan->algo, cb->workspace, cb->workspace_bytes, cb->stream));
#undef LT
    /* the bias cuBLASLt did not add, and the rounding of the output to out_fmt */
    if (st || g->defer_tail || g->pack) return st;
    return pt_cuda_bias_round(be, c, g->m, g->n, bias ? NULL : g->bias, g->out_fmt);
}

pt_status pt_cuda_bias_round(pt_backend *be, float *c, int rows, int cols, const float *bias, pt_format out_fmt)
{
    size_t n = (size_t)rows * cols;
    if (!bias && out_fmt == PT_FMT_FP32) return PT_OK;
    if (cols % 4 == 0 && (uintptr_t)c % 16 == 0 && (uintptr_t)bias % 16 == 0) {
        size_t n4 = n / 4;
        float4 *x4 = (float4 *)c;
        const float4 *b4 = (const float4 *)bias;
        {
            size_t n = n4; /* the grid: one thread per float4 */
            DISPATCH_FMT(out_fmt, bias_round4_kernel, x4, b4, n4, (size_t)cols / 4);
        }
        PT_CUDA_CHECK_LAUNCH();
        return PT_OK;
    }
    DISPATCH_FMT(out_fmt, bias_round_kernel, c, bias, n, cols);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

template <int F> __global__ void nchw_bias_round_kernel(float *y, const float *bias, size_t n, int c, int p)
{
    GRID_STRIDE(i, n) y[i] = dev_round<F>(bias ? y[i] + dev_round<F>(bias[(i / p) % c]) : y[i]);
}

pt_status pt_cuda_nchw_bias_round(pt_backend *be, float *y, int n_, int c, int p, const float *bias, pt_format out_fmt)
{
    size_t n = (size_t)n_ * c * p;
    if (!n || (!bias && out_fmt == PT_FMT_FP32)) return PT_OK;
    DISPATCH_FMT(out_fmt, nchw_bias_round_kernel, y, bias, n, c, p);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

/* The values of a GEMM or convolution operand in fp32 storage: fp32 as it
 * is, tf32 rounded and 16-bit or fp8 formats decoded (scaled back) into
 * scratch slot `slot`. */
pt_status pt_cuda_operand_f32(pt_backend *be, int slot, const pt_operand *o, size_t n, const float **out)
{
    if (o->fmt == PT_FMT_FP32 && !o->scale_inv) {
        *out = (const float *)o->data;
        return PT_OK;
    }
    float *buf;
    pt_status st = pt_cuda_scratch(pt_cuda_impl(be), slot, n, &buf);
    if (st) return st;
    if (o->fmt == PT_FMT_TF32 && !o->scale_inv) {
        PT_CUDA_CHECK(cudaMemcpyAsync(buf, o->data, n * sizeof(float), cudaMemcpyDeviceToDevice, S(be)));
        st = cu_round(be, PT_FMT_TF32, buf, n);
    } else {
        st = cu_decode(be, o->fmt, o->data, buf, n, o->scale_inv);
    }
    *out = buf;
    return st;
}

/* ---- elementwise ----------------------------------------------------------- */

__global__ void act_fwd_kernel(int a, const float *x, float *y, size_t n) { GRID_STRIDE(i, n) y[i] = act_val(a, x[i]); }

__global__ void act_bwd_kernel(int a, const float *x, const float *dy, float *dx, size_t n)
{
    GRID_STRIDE(i, n) dx[i] = act_grad(a, x[i], dy[i]);
}

/* The elementwise passes four values a thread (16-byte loads and stores:
 * more of the bandwidth than one float a thread, by the op profile), where
 * the tensors allow it: the same values. */
static bool vec4(size_t n, const void *a, const void *b, const void *c)
{
    return n % 4 == 0 && (uintptr_t)a % 16 == 0 && (uintptr_t)b % 16 == 0 && (uintptr_t)c % 16 == 0;
}

__global__ void act4_kernel(bool bwd, int a, const float4 *x, const float4 *dy, float4 *out, size_t n4)
{
    GRID_STRIDE(i, n4) out[i] = act4(bwd, a, x[i], bwd ? dy[i] : x[i]);
}

__global__ void add_kernel(const float *a, const float *b, float *y, size_t n) { GRID_STRIDE(i, n) y[i] = a[i] + b[i]; }
__global__ void acc_kernel(const float *a, float *y, size_t n) { GRID_STRIDE(i, n) y[i] += a[i]; }
__global__ void scale_kernel(float *x, size_t n, float s) { GRID_STRIDE(i, n) x[i] *= s; }

static pt_status cu_act_fwd(pt_backend *be, pt_act a, const float *x, float *y, size_t n)
{
    if (n && vec4(n, x, y, y))
        act4_kernel<<<blocks_for(n / 4), THREADS, 0, S(be)>>>(false, a, (const float4 *)x, NULL, (float4 *)y, n / 4);
    else if (n) act_fwd_kernel<<<blocks_for(n), THREADS, 0, S(be)>>>(a, x, y, n);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}


/* The activation (forward: bwd false) and its result cast to F in one pass,
 * with the cast kernel's arithmetic: codes of v * scale, amax of |v| as
 * bits (a NaN's exceed an inf's, so a NaN is never hidden). */
template <int F, typename T>
__global__ void act_cast_kernel(bool bwd, int a, const float *x, const float *dy, float *out, T *codes, size_t n,
                                const float *scale_p, float *amax_p, int sat)
{
    float scale = scale_p ? *scale_p : 1.0f;
    unsigned amax = 0;
    GRID_STRIDE(i, n) {
        float v = bwd ? act_grad(a, x[i], dy[i]) : act_val(a, x[i]);
        out[i] = v;
        amax = max(amax, __float_as_uint(v) & 0x7fffffffu);
        codes[i] = (T)pt_dev_encode<F>(v * scale, sat);
    }
    amax_flush(amax, amax_p);
}

#define CAST_ARG(CAST, x) ((CAST) ? (x) : NULL)
/* a rows kernel's launch L(F, T, CAST, PK) with PK (packed inputs) as packed says */
#define PK_SPLIT(L, packed, F, T, CAST) \
    if (packed) L(F, T, CAST, true);    \
    else L(F, T, CAST, false)

/* out NULL: not written (the codes alone); tail on the input (x forward, dy
 * backward) and xtail on x backward: the GEMMs' tails */
template <int F, typename T, bool CAST>
__device__ __forceinline__ void act_cast4_at(bool bwd, int a, size_t i, float4 xv, float4 dv, float4 *out,
                                             codes4<T> *codes, float scale, int sat, unsigned &amax,
                                             const tail4 &tail, const tail4 &xtail, bool narrow)
{
    if (tail.c) {
        if (bwd) dv = finish4(tail, i, col4(tail, i, narrow), dv);
        else xv = dv = finish4(tail, i, col4(tail, i, narrow), xv);
    }
    if (xtail.c) xv = finish4(xtail, i, col4(xtail, i, narrow), xv);
    float4 v = act4(bwd, a, xv, dv);
    if (out) out[i] = v;
    if (CAST) codes[i] = cast4<F, T>(v, scale, sat, amax);
}

/* two float4s a thread loaded before either is used */
template <int F, typename T, bool CAST = true>
__global__ void act_cast4_kernel(bool bwd, int a, const float4 *x, const float4 *dy, float4 *out, codes4<T> *codes,
                                 size_t n4, const float *scale_p, float *amax_p, int sat, tail4 tail, tail4 xtail)
{
    float scale = scale_p ? *scale_p : 1.0f;
    unsigned amax = 0;
    bool narrow = n4 <= 0xffffffffu;
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n4; i += 2 * stride) {
        size_t i2 = i + stride;
        const tail4 &tx = bwd ? xtail : tail; /* the tail on x */
        float4 xa = load4(tx, x, i), da = bwd ? load4(tail, dy, i) : xa, xb = xa, db = da;
        if (i2 < n4) xb = load4(tx, x, i2), db = bwd ? load4(tail, dy, i2) : xb;
        act_cast4_at<F, T, CAST>(bwd, a, i, xa, da, out, codes, scale, sat, amax, tail, xtail, narrow);
        if (i2 < n4) act_cast4_at<F, T, CAST>(bwd, a, i2, xb, db, out, codes, scale, sat, amax, tail, xtail, narrow);
    }
    amax_flush(amax, amax_p);
}

/* The forward with the tail of the GEMM that wrote x, by rows: a block of
 * 32 float4 columns x 64 rows, a thread one column, its bias loaded once
 * and four rows' loads issued before their arithmetic (the grid-stride
 * kernel above takes a remainder and a bias load per float4, and reaches
 * well under the copy bandwidth). */
template <int F, typename T, bool CAST, bool PK>
__global__ void act_fwd_rows4_kernel(int a, const float4 *x, float4 *out, codes4<T> *codes, uint8_t *codes_t,
                                     int rows, int n4, const float *scale_p, float *amax_p, int sat, tail4 tail)
{
    __shared__ codes_tile<32> tile;
    float scale = CAST && scale_p ? *scale_p : 1.0f;
    unsigned amax = 0;
    int j = blockIdx.x * 32 + threadIdx.x, r0 = blockIdx.y * 64, r1 = min(rows, r0 + 64);
    float4 b = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    if (j < n4 && tail.bias) b = round4(tail.fmt, tail.bias[j]);
    tail4 nb = tail; /* the bias added here, once loaded */
    nb.bias = NULL;
    enum { AHEAD = PK ? 8 : 4 };
    for (int i0 = r0 + threadIdx.y; j < n4 && i0 < r1; i0 += 8 * AHEAD) {
        typename raw4<PK>::type xa[AHEAD];
#pragma unroll
        for (int u = 0; u < AHEAD; u++)
            if (i0 + 8 * u < r1) xa[u] = load_raw<PK>(tail, x, (size_t)(i0 + 8 * u) * n4 + j);
#pragma unroll
        for (int u = 0; u < AHEAD; u++) {
            if (i0 + 8 * u >= r1) break;
            size_t k = (size_t)(i0 + 8 * u) * n4 + j;
            float4 v = as4(tail.fmt, xa[u]);
            if (tail.bias) v.x += b.x, v.y += b.y, v.z += b.z, v.w += b.w; /* none: -0 stays -0, as on the CPU */
            v = finish4(nb, k, 0, v);
            v = act4(false, a, v, v);
            if (out) out[k] = v;
            if (CAST) {
                codes4<T> c = cast4<F, T>(v, scale, sat, amax);
                codes[k] = c;
                if (codes_t) tile_put(tile, i0 + 8 * u - r0, threadIdx.x, c);
            }
        }
    }
    if (CAST && codes_t) {
        __syncthreads();
        tile_store(tile, codes_t, rows, 4 * n4, r0, 128 * blockIdx.x);
    }
    if (CAST) amax_flush(amax, amax_p);
}

static pt_status cu_act_bwd(pt_backend *be, pt_act a, const float *x, const float *dy, float *dx, size_t n);

/* The input x of a pass finished by the tail t (NULL: x as it is) in a
 * pass of its own: in place, or with t->keep_raw in scratch `slot`. */
static pt_status finished_input(pt_backend *be, const pt_gemm_tail *t, const float *x, size_t n, int slot,
                                const float **out)
{
    *out = x;
    if (!t) return PT_OK;
    float *c = t->c;
    pt_status st;
    if (t->keep_raw && (st = pt_cuda_scratch(pt_cuda_impl(be), slot, n, &c))) return st;
    *out = c;
    if (t->packed) return cu_decode(be, t->fmt, t->packed, c, n, NULL); /* finished values */
    if (t->keep_raw) PT_CUDA_CHECK(cudaMemcpyAsync(c, t->c, n * sizeof(float), cudaMemcpyDeviceToDevice, S(be)));
    return pt_cuda_bias_round(be, c, (int)(n / (size_t)t->cols), t->cols, t->bias, t->fmt);
}

/* The forward by rows (act_fwd_rows4_kernel) of x viewed as [n / cols,
 * cols], where the shapes allow it (else false): with t the tail of the
 * GEMM that wrote x (NULL: none; its rows are cols wide), a an activation
 * or ACT_IDENTITY (a cast), codes_t the transposed codes (or NULL). */
static bool act_fwd_rows(pt_backend *be, int a, const float *x, float *out, size_t n, int cols, pt_format f,
                         const float *scale, float *amax, int sat, void *codes, void *codes_t, const pt_gemm_tail *t,
                         pt_status *st)
{
    if (t && codes_t && t->cols != cols) return false;
    if (t) cols = t->cols;
    if (cols <= 0 || cols % 4 || n % (size_t)cols || n / (size_t)cols > 64 * 65535ull || !vec4(n, x, x, out) ||
        (uintptr_t)codes % 16 || !tail_vec(t))
        return false;
    int rows = (int)(n / (size_t)cols), n4 = cols / 4;
    dim3 grid((unsigned)(n4 + 31) / 32, (unsigned)(rows + 63) / 64), block(32, 8);
    const float4 *x4 = (const float4 *)x;
    float4 *o4 = (float4 *)out;
    tail4 t4 = tail4_of(t);
#define LAUNCH_PK(F, T, CAST, PK)                                                                           \
    act_fwd_rows4_kernel<F, T, CAST, PK><<<grid, block, 0, S(be)>>>(a, x4, o4, CAST_ARG(CAST, (codes4<T> *)codes), \
                                                                     CAST_ARG(CAST, (uint8_t *)codes_t), rows, n4,  \
                                                                     CAST_ARG(CAST, scale), CAST_ARG(CAST, amax),   \
                                                                     CAST ? sat : 0, t4)
#define LAUNCH(F, T, CAST) PK_SPLIT(LAUNCH_PK, t4.packed, F, T, CAST)
    CAST_DISPATCH(f, LAUNCH)
#undef LAUNCH
#undef LAUNCH_PK
    cudaError_t e = cudaGetLastError();
    *st = e == cudaSuccess ? PT_OK : pt_fail(PT_ERR_CUDA, "act_fwd_rows4_kernel: %s", cudaGetErrorString(e));
    return true;
}

/* The activation (or its backward) with its result cast to f (fp32: no
 * cast; out NULL: the codes alone), with t the tail of the GEMM that wrote
 * its input (x forward, dy backward) and xt that of x backward; codes_t
 * (fp8, or NULL): the codes also transposed, as [cols, n / cols]. */
static pt_status act_cast(pt_backend *be, bool bwd, pt_act a, const float *x, const float *dy, float *out, size_t n,
                          pt_format f, const float *scale, float *amax, unsigned flags, void *codes,
                          const pt_gemm_tail *t = NULL, const pt_gemm_tail *xt = NULL, void *codes_t = NULL,
                          int cols = 0)
{
    if (!n) return PT_OK;
    int sat = (flags & PT_CAST_SATURATE) != 0;
    pt_status st = PT_OK;
    if (!bwd && pt_cuda_act_fwd_packed(be, a, t, out, n, cols, f, scale, amax, sat, codes, codes_t, &st)) return st;
    if (!bwd && (t || codes_t) && act_fwd_rows(be, a, x, out, n, cols, f, scale, amax, sat, codes, codes_t, t, &st))
        return st;
    if (vec4(n, x, bwd ? dy : x, out) && (uintptr_t)codes % 16 == 0 && tail_vec(t) && tail_vec(xt)) {
        unsigned g4 = blocks_for(n / 4);
        const float4 *x4 = (const float4 *)x, *d4 = (const float4 *)dy;
        float4 *o4 = (float4 *)out;
        size_t n4 = n / 4;
        tail4 t4 = tail4_of(t), xt4 = tail4_of(xt);
#define LAUNCH(F, T, CAST)                                                                                          \
    act_cast4_kernel<F, T, CAST><<<g4, THREADS, 0, S(be)>>>(bwd, a, x4, d4, o4, CAST_ARG(CAST, (codes4<T> *)codes), \
                                                            n4, CAST_ARG(CAST, scale), CAST_ARG(CAST, amax),         \
                                                            CAST ? sat : 0, t4, xt4)
        CAST_DISPATCH(f, LAUNCH)
#undef LAUNCH
        PT_CUDA_CHECK_LAUNCH();
        return codes_t ? transpose_codes(S(be), codes, codes_t, (int)(n / (size_t)cols), cols) : PT_OK;
    }
    /* the tails as passes of their own, then the activation */
    const float *in;
    st = finished_input(be, t, bwd ? dy : x, n, PT_SLOT_IN, &in);
    if (!st && bwd) dy = in;
    else if (!st) x = in;
    if (!st && bwd) st = finished_input(be, xt, x, n, PT_SLOT_X, &x);
    if (!st && !out) st = pt_cuda_scratch(pt_cuda_impl(be), PT_SLOT_OUT, n, &out);
    if (st) return st;
    if (f == PT_FMT_FP32) return bwd ? cu_act_bwd(be, a, x, dy, out, n) : cu_act_fwd(be, a, x, out, n);
    unsigned g = blocks_for(n);
    switch (f) {
    case PT_FMT_BF16:
        act_cast_kernel<PT_FMT_BF16, uint16_t><<<g, THREADS, 0, S(be)>>>(bwd, a, x, dy, out, (uint16_t *)codes, n, scale, amax, sat);
        break;
    case PT_FMT_FP16:
        act_cast_kernel<PT_FMT_FP16, uint16_t><<<g, THREADS, 0, S(be)>>>(bwd, a, x, dy, out, (uint16_t *)codes, n, scale, amax, sat);
        break;
    case PT_FMT_E4M3:
        act_cast_kernel<PT_FMT_E4M3, uint8_t><<<g, THREADS, 0, S(be)>>>(bwd, a, x, dy, out, (uint8_t *)codes, n, scale, amax, sat);
        break;
    default:
        act_cast_kernel<PT_FMT_E5M2, uint8_t><<<g, THREADS, 0, S(be)>>>(bwd, a, x, dy, out, (uint8_t *)codes, n, scale, amax, sat);
        break;
    }
    PT_CUDA_CHECK_LAUNCH();
    return codes_t ? transpose_codes(S(be), codes, codes_t, (int)(n / (size_t)cols), cols) : PT_OK;
}

static pt_status cu_act_fwd_cast(pt_backend *be, const pt_act_fwd_desc *d)
{
    const pt_cast_out *c = &d->cast;
    return act_cast(be, false, d->act, d->x, NULL, d->y, d->n, c->to, c->scale, c->amax, c->flags, c->codes,
                    d->x_tail, NULL, c->codes_t, d->cols);
}

/* a cast to fp8 with the codes also transposed: the forward rows kernel
 * with no activation where the shapes allow, else a cast and a transpose */
static pt_status cu_cast_t(pt_backend *be, pt_format to, const float *in, int rows, int cols, void *out, void *out_t,
                           const float *scale, float *amax, unsigned flags)
{
    size_t n = (size_t)rows * (size_t)cols;
    pt_status st = PT_OK;
    if (act_fwd_rows(be, ACT_IDENTITY, in, NULL, n, cols, to, scale, amax, (flags & PT_CAST_SATURATE) != 0, out,
                     out_t, NULL, &st))
        return st;
    st = pt_cuda_cast_launch((int)to, in, out, n, scale, amax, flags, S(be));
    return st ? st : transpose_codes(S(be), out, out_t, rows, cols);
}

static pt_status cu_act_bwd(pt_backend *be, pt_act a, const float *x, const float *dy, float *dx, size_t n)
{
    if (n && vec4(n, x, dy, dx))
        act4_kernel<<<blocks_for(n / 4), THREADS, 0, S(be)>>>(true, a, (const float4 *)x, (const float4 *)dy,
                                                                (float4 *)dx, n / 4);
    else if (n) act_bwd_kernel<<<blocks_for(n), THREADS, 0, S(be)>>>(a, x, dy, dx, n);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}
static pt_status cu_add(pt_backend *be, const float *a, const float *b, float *y, size_t n)
{
    if (n) add_kernel<<<blocks_for(n), THREADS, 0, S(be)>>>(a, b, y, n);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}
static pt_status cu_acc(pt_backend *be, const float *a, float *y, size_t n)
{
    if (n) acc_kernel<<<blocks_for(n), THREADS, 0, S(be)>>>(a, y, n);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}
static pt_status cu_scale(pt_backend *be, float *x, size_t n, float s)
{
    if (n) scale_kernel<<<blocks_for(n), THREADS, 0, S(be)>>>(x, n, s);
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

static pt_status cu_bias_grad(pt_backend *be, const float *dy, float *db, int rows, int n, float beta)
{
    if (!n) return PT_OK;
    int chunks = (rows + BG_CHUNK - 1) / BG_CHUNK;
    float *part;
    unsigned *done;
    pt_status st = pt_cuda_scratch(pt_cuda_impl(be), 2, (size_t)(chunks ? chunks : 1) * (size_t)n, &part);
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

/* The activation's backward (and, with CAST, its result cast to F as
 * act_cast4_kernel casts it) with the bias gradient: a block of 32 float4
 * columns x BG_CHUNK rows, each column's rows added in
 * bias_grad_partial4_kernel's order, so the partial sums are the same, and
 * with db, the chunks added by bias_sums_last. */
template <int F, typename T, bool CAST, bool PK>
__global__ void act_bwd_bias4_kernel(int a, const float4 *x, const float4 *dy, float4 *dx, codes4<T> *codes,
                                     uint8_t *codes_t, int rows, int n4, float4 *part, float *db, float beta,
                                     unsigned *done, const float *scale_p, float *amax_p, int sat, tail4 tail,
                                     tail4 xtail)
{
    __shared__ float4 sh[8][33];
    __shared__ codes_tile<32> tile;
    float scale = CAST && scale_p ? *scale_p : 1.0f;
    unsigned amax = 0;
    int j = blockIdx.x * 32 + threadIdx.x, r0 = blockIdx.y * BG_CHUNK;
    int r1 = min(rows, r0 + BG_CHUNK);
    float4 s = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    /* x's bias loaded once (the GEMM's tail on x), then added as finish4 adds it */
    float4 xb = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    if (j < n4 && xtail.bias) xb = round4(xtail.fmt, xtail.bias[j]);
    tail4 xnb = xtail;
    xnb.bias = NULL;
    /* the loads of four rows issued before their arithmetic (faster than
     * row by row: the speed of the plain elementwise pass); the rows still
     * added in order */
    enum { AHEAD = PK ? 8 : 4 };
    for (int i0 = r0 + threadIdx.y; j < n4 && i0 < r1; i0 += 8 * AHEAD) {
        typename raw4<PK>::type xa[AHEAD], da[AHEAD];
#pragma unroll
        for (int u = 0; u < AHEAD; u++)
            if (i0 + 8 * u < r1) {
                size_t k = (size_t)(i0 + 8 * u) * n4 + j;
                xa[u] = load_raw<PK>(xtail, x, k), da[u] = load_raw<PK>(tail, dy, k);
            }
#pragma unroll
        for (int u = 0; u < AHEAD; u++) {
            if (i0 + 8 * u >= r1) break;
            size_t k = (size_t)(i0 + 8 * u) * n4 + j;
            float4 d = as4(tail.fmt, da[u]), xv = as4(xtail.fmt, xa[u]);
            if (tail.c) d = finish4(tail, k, j, d);
            if (xtail.c) {
                if (xtail.bias) xv.x += xb.x, xv.y += xb.y, xv.z += xb.z, xv.w += xb.w;
                xv = finish4(xnb, k, 0, xv);
            }
            float4 v = act4(true, a, xv, d);
            if (dx) dx[k] = v;
            s.x += v.x, s.y += v.y, s.z += v.z, s.w += v.w;
            if (CAST) {
                codes4<T> c = cast4<F, T>(v, scale, sat, amax);
                codes[k] = c;
                if (codes_t) tile_put(tile, i0 + 8 * u - r0, threadIdx.x, c);
            }
        }
    }
    sh[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (CAST && codes_t) tile_store(tile, codes_t, rows, 4 * n4, r0, 128 * blockIdx.x);
    if (part && threadIdx.y == 0 && j < n4) {
        float4 t = sh[0][threadIdx.x];
        for (int y = 1; y < 8; y++) {
            float4 u = sh[y][threadIdx.x];
            t.x += u.x, t.y += u.y, t.z += u.z, t.w += u.w;
        }
        part[(size_t)blockIdx.y * n4 + j] = t;
    }
    if (CAST) amax_flush(amax, amax_p);
    int tid = threadIdx.y * 32 + threadIdx.x;
    if (db) bias_sums_last((const float *)part, 4 * n4, gridDim.y, db, beta, done, blockIdx.x,
                           tid < 128 ? blockIdx.x * 128 + tid : 4 * n4);
}

static pt_status cu_act_bwd_bias(pt_backend *be, const pt_act_bwd_desc *d)
{
    pt_act a = d->act;
    const float *x = d->x, *dy = d->dy;
    float *dx = d->dx;
    size_t n = d->n;
    int cols = d->cols;
    pt_format f = d->cast.to;
    const float *scale = d->cast.scale;
    float *amax = d->cast.amax;
    unsigned flags = d->cast.flags;
    void *dxc = d->cast.codes, *dxc_t = d->cast.codes_t;
    float *db = d->db;
    float beta = d->db_beta;
    const pt_gemm_tail *x_tail = d->x_tail, *dy_tail = d->dy_tail;
    pt_status st;
    if (pt_cuda_act_bwd_packed(be, a, x_tail, dy_tail, dx, n, cols, f, scale, amax, (flags & PT_CAST_SATURATE) != 0,
                               dxc, dxc_t, db, beta, &st))
        return st;
    int rows = (int)(n / (size_t)cols);
    if (!rows || !vec4((size_t)cols, x, dy, dx) || (f != PT_FMT_FP32 && (uintptr_t)dxc % 16) || !tail_vec(dy_tail) ||
        !tail_vec(x_tail) || (dy_tail && dy_tail->cols != cols) || (x_tail && x_tail->cols != cols) ||
        (dy_tail && dy_tail->packed) != (x_tail && x_tail->packed)) {
        /* the passes one by one (the same values); also where one input alone is packed (the kernel
         * reads both packed or neither) */
        st = dx || !db ? PT_OK : pt_cuda_scratch(pt_cuda_impl(be), PT_SLOT_OUT, n, &dx);
        if (!st) st = act_cast(be, true, a, x, dy, dx, n, f, scale, amax, flags, dxc, dy_tail, x_tail, dxc_t, cols);
        return st || !db ? st : cu_bias_grad(be, dx, db, rows, cols, beta);
    }
    int chunks = (rows + BG_CHUNK - 1) / BG_CHUNK, n4 = cols / 4, sat = (flags & PT_CAST_SATURATE) != 0;
    float *part = NULL;
    unsigned *done = NULL;
    st = db ? pt_cuda_scratch(pt_cuda_impl(be), 2, (size_t)chunks * (size_t)cols, &part) : PT_OK;
    if (!st && db) st = pt_cuda_done_counters(pt_cuda_impl(be), (n4 + 31) / 32, &done);
    if (st) return st;
    tail4 t4 = tail4_of(dy_tail), xt4 = tail4_of(x_tail);
    dim3 grid((unsigned)(n4 + 31) / 32, (unsigned)chunks), block(32, 8);
    const float4 *x4 = (const float4 *)x, *d4 = (const float4 *)dy;
    float4 *o4 = (float4 *)dx, *p4 = (float4 *)part;
#define LAUNCH_PK(F, T, CAST, PK)                                                                           \
    act_bwd_bias4_kernel<F, T, CAST, PK><<<grid, block, 0, S(be)>>>(a, x4, d4, o4, CAST_ARG(CAST, (codes4<T> *)dxc), \
                                                                     CAST_ARG(CAST, (uint8_t *)dxc_t), rows, n4, p4, \
                                                                     db, beta, done,                                 \
                                                                     CAST_ARG(CAST, scale), CAST_ARG(CAST, amax),    \
                                                                     CAST ? sat : 0, t4, xt4)
#define LAUNCH(F, T, CAST) PK_SPLIT(LAUNCH_PK, t4.packed, F, T, CAST)
    CAST_DISPATCH(f, LAUNCH)
#undef LAUNCH
#undef LAUNCH_PK
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

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

static pt_status cu_gather_rows(pt_backend *be, const void *src, size_t row_bytes, const int32_t *idx, int rows,
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

/* ---- fp8 recipes on the device: one thread, the host's arithmetic ------------ */

__global__ void fp8_scale_kernel(pt_fp8_recipe r, double fmax, pt_fp8_state *s, const float *amax_now, float *inv,
                                 float *amax_reset)
{
    *inv = 1.0f / pt_fp8_scale_logic(s, &r, fmax, amax_now ? *amax_now : 0.0f);
    if (amax_reset) *amax_reset = 0.0f;
}

__global__ void fp8_record_kernel(pt_fp8_recipe r, float overflow, pt_fp8_state *s, const float *amax)
{
    pt_fp8_record_logic(s, &r, overflow, *amax);
}

static pt_status cu_fp8_scale(pt_backend *be, const pt_fp8_recipe *r, pt_format f, pt_fp8_state *s,
                              const float *amax_now, float *scale_inv, float *amax_reset)
{
    fp8_scale_kernel<<<1, 1, 0, S(be)>>>(*r, pt_format_info(f)->max_finite, s, amax_now, scale_inv, amax_reset);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

/* fp8_scale_kernel and fp8_record_kernel for many states, a thread each */
__global__ void fp8_scale_many_kernel(const pt_fp8_entry *e, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    pt_fp8_entry x = e[i];
    *x.scale_inv = 1.0f / pt_fp8_scale_logic(x.state, &x.recipe, x.max_finite, 0.0f);
    *x.amax = 0.0f;
}

__global__ void fp8_record_many_kernel(const pt_fp8_entry *e, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    pt_fp8_entry x = e[i];
    pt_fp8_record_logic(x.state, &x.recipe, x.overflow, *x.amax);
}

static pt_status cu_fp8_scale_many(pt_backend *be, const pt_fp8_entry *e, int n)
{
    fp8_scale_many_kernel<<<(n + 63) / 64, 64, 0, S(be)>>>(e, n);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

static pt_status cu_fp8_record_many(pt_backend *be, const pt_fp8_entry *e, int n)
{
    fp8_record_many_kernel<<<(n + 63) / 64, 64, 0, S(be)>>>(e, n);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

static pt_status cu_fp8_record(pt_backend *be, const pt_fp8_recipe *r, pt_format f, pt_fp8_state *s,
                               const float *amax)
{
    fp8_record_kernel<<<1, 1, 0, S(be)>>>(*r, pt_format_overflow_threshold(f), s, amax);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

/* ---- layer norm, losses: a warp per row ----------------------------------- */

__device__ __forceinline__ float warp_sum(float v)
{
    for (int o = 16; o; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v)
{
    for (int o = 16; o; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* F other than fp32: every intermediate rounded to F, as on the CPU */
template <int F>
__global__ void layernorm_fwd_kernel(const float *x, const float *g, const float *b, float eps, float *y,
                                     float *mean, float *rstd, int rows, int c)
{
    int r = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x & 31;
    if (r >= rows) return;
    const float *xr = x + (size_t)r * c;
    float s = 0;
    for (int j = lane; j < c; j += 32) s += xr[j];
    float mu = dev_round<F>(warp_sum(s) / c), v = 0;
    for (int j = lane; j < c; j += 32) v += (xr[j] - mu) * (xr[j] - mu);
    float var = dev_round<F>(warp_sum(v) / c);
    float rs = F == PT_FMT_FP32 ? rsqrtf(var + eps) : dev_round<F>(1.0f / sqrtf(dev_round<F>(var + dev_round<F>(eps))));
    for (int j = lane; j < c; j += 32) y[(size_t)r * c + j] = dev_round<F>((xr[j] - mu) * rs * g[j] + b[j]);
    if (!lane) mean[r] = mu, rstd[r] = rs;
}

__global__ void layernorm_bwd_dx_kernel(const float *x, const float *g, const float *mean, const float *rstd,
                                        const float *dy, float *dx, int rows, int c)
{
    int r = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x & 31;
    if (r >= rows) return;
    const float *xr = x + (size_t)r * c, *dr = dy + (size_t)r * c;
    float sg = 0, sgx = 0;
    for (int j = lane; j < c; j += 32) {
        float xh = (xr[j] - mean[r]) * rstd[r], gg = dr[j] * g[j];
        sg += gg, sgx += gg * xh;
    }
    float mg = warp_sum(sg) / c, mgx = warp_sum(sgx) / c;
    for (int j = lane; j < c; j += 32) {
        float xh = (xr[j] - mean[r]) * rstd[r];
        dx[(size_t)r * c + j] = rstd[r] * (dr[j] * g[j] - mg - xh * mgx);
    }
}

__global__ void layernorm_bwd_param_kernel(const float *x, const float *mean, const float *rstd, const float *dy,
                                           float *dg, float *dbeta, int rows, int c)
{
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= c) return;
    float a = dg[j], b = dbeta[j];
    for (int r = 0; r < rows; r++) {
        float d = dy[(size_t)r * c + j];
        a += d * (x[(size_t)r * c + j] - mean[r]) * rstd[r];
        b += d;
    }
    dg[j] = a, dbeta[j] = b;
}

static pt_status cu_layernorm_fwd(pt_backend *be, const float *x, const float *g, const float *b, float eps,
                                  pt_format fmt, float *y, float *mean, float *rstd, int rows, int c)
{
    if (!rows) return PT_OK;
    unsigned grid = (unsigned)(rows + 7) / 8;
    switch (fmt) {
    case PT_FMT_BF16: layernorm_fwd_kernel<PT_FMT_BF16><<<grid, 256, 0, S(be)>>>(x, g, b, eps, y, mean, rstd, rows, c); break;
    case PT_FMT_FP16: layernorm_fwd_kernel<PT_FMT_FP16><<<grid, 256, 0, S(be)>>>(x, g, b, eps, y, mean, rstd, rows, c); break;
    case PT_FMT_E4M3: layernorm_fwd_kernel<PT_FMT_E4M3><<<grid, 256, 0, S(be)>>>(x, g, b, eps, y, mean, rstd, rows, c); break;
    case PT_FMT_E5M2: layernorm_fwd_kernel<PT_FMT_E5M2><<<grid, 256, 0, S(be)>>>(x, g, b, eps, y, mean, rstd, rows, c); break;
    default: layernorm_fwd_kernel<PT_FMT_FP32><<<grid, 256, 0, S(be)>>>(x, g, b, eps, y, mean, rstd, rows, c); break;
    }
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

static pt_status cu_layernorm_bwd(pt_backend *be, const float *x, const float *g, const float *mean,
                                  const float *rstd, const float *dy, float *dx, float *dg, float *db, int rows, int c)
{
    if (!rows) return PT_OK;
    layernorm_bwd_dx_kernel<<<(rows + 7) / 8, 256, 0, S(be)>>>(x, g, mean, rstd, dy, dx, rows, c);
    PT_CUDA_CHECK_LAUNCH();
    layernorm_bwd_param_kernel<<<(c + THREADS - 1) / THREADS, THREADS, 0, S(be)>>>(x, mean, rstd, dy, dg, db, rows, c);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

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

static pt_status cu_softmax_ce(pt_backend *be, const float *z, const int32_t *labels, float *loss, float *dz,
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

static pt_status cu_mse(pt_backend *be, const float *y, const float *t, float *loss, float *dy, int rows, int c, float gs)
{
    if (rows) mse_kernel<<<(rows + THREADS - 1) / THREADS, THREADS, 0, S(be)>>>(y, t, loss, dy, rows, c, gs);
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

static pt_status cu_dropout(pt_backend *be, const float *x, float *y, size_t n, float p, uint64_t seed, bool backward)
{
    (void)backward;
    uint32_t threshold = (uint32_t)((double)p * 4294967296.0);
    if (n) dropout_kernel<<<blocks_for(n), THREADS, 0, S(be)>>>(x, y, n, threshold, 1.0f / (1.0f - p), seed);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

/* ---- convolution helpers and pooling --------------------------------------- */

__global__ void im2col_kernel(pt_conv_shape s, const float *x, float *cols, size_t total)
{
    int kk = s.k * s.k, width = s.c * kk;
    GRID_STRIDE(idx, total) {
        size_t row = idx / width;
        int col = (int)(idx % width), c = col / kk, ky = (col % kk) / s.k, kx = col % s.k;
        int ox = (int)(row % s.ow), oy = (int)((row / s.ow) % s.oh), n = (int)(row / ((size_t)s.ow * s.oh));
        int iy = oy * s.stride - s.pad + ky, ix = ox * s.stride - s.pad + kx;
        cols[idx] = iy >= 0 && iy < s.h && ix >= 0 && ix < s.w ? x[(((size_t)n * s.c + c) * s.h + iy) * s.w + ix] : 0.0f;
    }
}

/* The output position (oy, ox) whose window has input (iy, ix) at its
 * offset (ky, kx); false when no window does (padding, stride, edges). */
__device__ __forceinline__ bool window_at(const pt_conv_shape &s, int iy, int ix, int ky, int kx, int *oy, int *ox)
{
    int ty = iy + s.pad - ky, tx = ix + s.pad - kx;
    if (ty < 0 || tx < 0 || ty % s.stride || tx % s.stride) return false;
    *oy = ty / s.stride, *ox = tx / s.stride;
    return *oy < s.oh && *ox < s.ow;
}

/* gather: each input element sums the column entries it fed (no atomics) */
__global__ void col2im_kernel(pt_conv_shape s, const float *cols, float *dx, size_t total)
{
    int kk = s.k * s.k, width = s.c * kk;
    GRID_STRIDE(idx, total) {
        int ix = (int)(idx % s.w), iy = (int)((idx / s.w) % s.h), c = (int)((idx / ((size_t)s.w * s.h)) % s.c);
        int n = (int)(idx / ((size_t)s.w * s.h * s.c));
        float acc = 0;
        for (int ky = 0; ky < s.k; ky++)
            for (int kx = 0; kx < s.k; kx++) {
                int oy, ox;
                if (!window_at(s, iy, ix, ky, kx, &oy, &ox)) continue;
                acc += cols[(((size_t)n * s.oh + oy) * s.ow + ox) * width + c * kk + ky * s.k + kx];
            }
        dx[idx] += acc;
    }
}

static pt_status cu_im2col(pt_backend *be, const pt_conv_shape *s, const float *x, float *cols)
{
    size_t total = (size_t)s->n * s->oh * s->ow * s->c * s->k * s->k;
    if (total) im2col_kernel<<<blocks_for(total), THREADS, 0, S(be)>>>(*s, x, cols, total);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

static pt_status cu_col2im(pt_backend *be, const pt_conv_shape *s, const float *cols, float *dx)
{
    size_t total = (size_t)s->n * s->c * s->h * s->w;
    if (total) col2im_kernel<<<blocks_for(total), THREADS, 0, S(be)>>>(*s, cols, dx, total);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

__global__ void rows_nchw_kernel(const float *rows, float *nchw, int n, int c, int p, bool backward, size_t total)
{
    GRID_STRIDE(idx, total) {
        int ch = (int)(idx % c);
        size_t q = (idx / c) % p, b = idx / ((size_t)c * p);
        size_t t = (b * c + ch) * p + q;
        if (backward) ((float *)rows)[idx] = nchw[t];
        else nchw[t] = rows[idx];
    }
}

static pt_status cu_rows_to_nchw(pt_backend *be, const float *rows, float *nchw, int n, int c, int p, bool backward)
{
    size_t total = (size_t)n * c * p;
    if (total) rows_nchw_kernel<<<blocks_for(total), THREADS, 0, S(be)>>>(rows, nchw, n, c, p, backward, total);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

__global__ void pool_fwd_kernel(bool max, pt_conv_shape s, const float *x, float *y, int32_t *argmax, size_t total)
{
    GRID_STRIDE(o, total) {
        int ox = (int)(o % s.ow), oy = (int)((o / s.ow) % s.oh);
        size_t nc = o / ((size_t)s.ow * s.oh);
        const float *xc = x + nc * s.h * s.w;
        float best = -INFINITY, sum = 0;
        int arg = -1, cnt = 0;
        for (int ky = 0; ky < s.k; ky++)
            for (int kx = 0; kx < s.k; kx++) {
                int iy = oy * s.stride - s.pad + ky, ix = ox * s.stride - s.pad + kx;
                if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
                float v = xc[iy * s.w + ix];
                if (arg < 0 || v > best || isnan(v)) best = v, arg = iy * s.w + ix;
                sum += v;
                cnt++;
            }
        if (max) y[o] = best, argmax[o] = arg;
        else y[o] = cnt ? sum / (float)(s.k * s.k) : 0.0f;
    }
}

/* gather: each input element sums the gradients of the windows it won (max) or joined (avg) */
__global__ void pool_bwd_kernel(bool max, pt_conv_shape s, const float *dy, const int32_t *argmax, float *dx, size_t total)
{
    GRID_STRIDE(idx, total) {
        int ix = (int)(idx % s.w), iy = (int)((idx / s.w) % s.h);
        size_t nc = idx / ((size_t)s.w * s.h);
        float acc = 0;
        for (int ky = 0; ky < s.k; ky++)
            for (int kx = 0; kx < s.k; kx++) {
                int oy, ox;
                if (!window_at(s, iy, ix, ky, kx, &oy, &ox)) continue;
                size_t o = (nc * s.oh + oy) * s.ow + ox;
                if (max) acc += argmax[o] == iy * s.w + ix ? dy[o] : 0.0f;
                else acc += dy[o] / (float)(s.k * s.k);
            }
        dx[idx] += acc;
    }
}

static pt_status cu_pool_fwd(pt_backend *be, bool max, const pt_conv_shape *s, const float *x, float *y, int32_t *argmax)
{
    if (pt_cuda_impl(be)->have_cudnn) return pt_cuda_pool_fwd(be, max, s, x, y);
    size_t total = (size_t)s->n * s->c * s->oh * s->ow;
    if (total) pool_fwd_kernel<<<blocks_for(total), THREADS, 0, S(be)>>>(max, *s, x, y, argmax, total);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

static pt_status cu_pool_bwd(pt_backend *be, bool max, const pt_conv_shape *s, const float *x, const float *y,
                             const float *dy, const int32_t *argmax, float *dx)
{
    if (pt_cuda_impl(be)->have_cudnn) return pt_cuda_pool_bwd(be, max, s, x, y, dy, dx);
    size_t total = (size_t)s->n * s->c * s->h * s->w;
    if (total) pool_bwd_kernel<<<blocks_for(total), THREADS, 0, S(be)>>>(max, *s, dy, argmax, dx, total);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

/* ---- unscale + check, optimizers ------------------------------------------ */

/* fixed grid, per-block partial sums in fp64, then one block adds them in
 * order: the same sum every time. Without write (no loss scale, or the
 * optimizer unscaling as it reads) the gradients are only read, and the
 * pass moves half the bytes.
 *
 * A block's end of the pass: the flag if any value was bad, and the
 * block's sum of squares, added in a fixed tree */
__device__ void unscale_block_end(double s, int bad, int32_t *flags, double *partials)
{
    __shared__ double sh[THREADS];
    if (bad) flags[0] = 1;
    sh[threadIdx.x] = s;
    __syncthreads();
    for (int o = THREADS / 2; o; o >>= 1) {
        if (threadIdx.x < o) sh[threadIdx.x] += sh[threadIdx.x + o];
        __syncthreads();
    }
    if (!threadIdx.x) partials[blockIdx.x] = sh[0];
}

__global__ void unscale_kernel(float *g, size_t n, float inv, bool write, int32_t *flags, double *partials)
{
    double s = 0;
    int bad = 0;
    GRID_STRIDE(i, n) {
        float v = g[i] * inv;
        if (write) g[i] = v;
        bad |= !isfinite(v);
        s += (double)v * v;
    }
    unscale_block_end(s, bad, flags, partials);
}

/* the same, four values a thread (the sum's order is another fixed one),
 * two float4s loaded before either is used */
__device__ __forceinline__ double unscale4(float4 *g, size_t i, float4 v, float inv, bool write, int &bad)
{
    v.x *= inv, v.y *= inv, v.z *= inv, v.w *= inv;
    if (write) g[i] = v;
    bad |= !isfinite(v.x) | !isfinite(v.y) | !isfinite(v.z) | !isfinite(v.w);
    return (double)v.x * v.x + (double)v.y * v.y + (double)v.z * v.z + (double)v.w * v.w;
}

__global__ void unscale4_kernel(float4 *g, size_t n4, float inv, bool write, int32_t *flags, double *partials)
{
    double s = 0;
    int bad = 0;
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n4; i += 2 * stride) {
        float4 a = g[i], b = i + stride < n4 ? g[i + stride] : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        s += unscale4(g, i, a, inv, write, bad);
        if (i + stride < n4) s += unscale4(g, i + stride, b, inv, write, bad);
    }
    unscale_block_end(s, bad, flags, partials);
}

/* the blocks' sums added in a fixed tree by one block of PARTIALS threads
 * (one thread adding them in a row waits on each load in turn) */
__global__ void sum_partials_kernel(const double *partials, int n, double *out)
{
    __shared__ double sh[PARTIALS];
    sh[threadIdx.x] = (int)threadIdx.x < n ? partials[threadIdx.x] : 0.0;
    __syncthreads();
    for (int o = PARTIALS / 2; o; o >>= 1) {
        if (threadIdx.x < o) sh[threadIdx.x] += sh[threadIdx.x + o];
        __syncthreads();
    }
    if (!threadIdx.x) *out = sh[0];
}

static pt_status cu_unscale_check(pt_backend *be, float *g, size_t n, float inv, bool write, int32_t *flags,
                                  double *sumsq)
{
    bool v4 = vec4(n, g, g, g);
    unsigned grid = blocks_for(v4 ? n / 4 : n) < PARTIALS ? blocks_for(v4 ? n / 4 : n) : PARTIALS;
    if (v4) unscale4_kernel<<<grid, THREADS, 0, S(be)>>>((float4 *)g, n / 4, inv, write, flags, pt_cuda_impl(be)->partials);
    else unscale_kernel<<<grid, THREADS, 0, S(be)>>>(g, n, inv, write, flags, pt_cuda_impl(be)->partials);
    PT_CUDA_CHECK_LAUNCH();
    sum_partials_kernel<<<1, PARTIALS, 0, S(be)>>>(pt_cuda_impl(be)->partials, (int)grid, sumsq);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

/* one block: per-thread sums of a fixed stride, then a fixed tree */
__global__ void sum_kernel(const float *x, size_t n, double *acc)
{
    __shared__ double sh[THREADS];
    double s = 0;
    for (size_t i = threadIdx.x; i < n; i += THREADS) s += x[i];
    sh[threadIdx.x] = s;
    __syncthreads();
    for (int o = THREADS / 2; o; o >>= 1) {
        if (threadIdx.x < o) sh[threadIdx.x] += sh[threadIdx.x + o];
        __syncthreads();
    }
    if (!threadIdx.x) *acc += sh[0];
}

static pt_status cu_sum(pt_backend *be, const float *x, size_t n, double *acc)
{
    if (n) sum_kernel<<<1, THREADS, 0, S(be)>>>(x, n, acc);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

/* one weight's AdamW step (the same float arithmetic in both kernels) */
__device__ __forceinline__ void adamw_one(float lr, float b1, float b2, float eps, float decay, float step_size,
                                          float bc2_sqrt, float u, bool clip, float f, float &w, float g, float &m,
                                          float &v)
{
    float gi = pt_gate_grad(g, u, clip, f);
    float wi = w * decay;
    m = b1 * m + (1.0f - b1) * gi;
    v = b2 * v + (1.0f - b2) * gi * gi;
    float denom = sqrtf(v) / bc2_sqrt + eps;
    w = wi - step_size * m / denom;
}

__device__ __forceinline__ uint16_t copy_code(float w, int copy_fmt)
{
    return (uint16_t)(copy_fmt == PT_FMT_BF16 ? pt_dev_encode<PT_FMT_BF16>(w, 0) : pt_dev_encode<PT_FMT_FP16>(w, 0));
}

__global__ void adamw_kernel(float lr, float b1, float b2, float eps, float decay, float step_size, float bc2_sqrt,
                             pt_optim_gate gate, bool gated, float *w, const float *g, float *m, float *v, size_t n,
                             uint16_t *copy, int copy_fmt)
{
    float f, u;
    bool clip;
    if (!pt_gate_open(gated ? &gate : NULL, &f, &clip, &u)) return;
    GRID_STRIDE(i, n) {
        float wi = w[i], mi = m[i], vi = v[i];
        adamw_one(lr, b1, b2, eps, decay, step_size, bc2_sqrt, u, clip, f, wi, g[i], mi, vi);
        w[i] = wi, m[i] = mi, v[i] = vi;
        if (copy) copy[i] = copy_code(wi, copy_fmt);
    }
}

/* the same, four weights a thread (n4 float4s; the tail by adamw_kernel) */
__global__ void adamw4_kernel(float lr, float b1, float b2, float eps, float decay, float step_size, float bc2_sqrt,
                              pt_optim_gate gate, bool gated, float4 *w, const float4 *g, float4 *m, float4 *v,
                              size_t n4, codes4<uint16_t> *copy, int copy_fmt)
{
    float f, u;
    bool clip;
    if (!pt_gate_open(gated ? &gate : NULL, &f, &clip, &u)) return;
    GRID_STRIDE(i, n4) {
        float4 wi = w[i], gi = g[i], mi = m[i], vi = v[i];
        adamw_one(lr, b1, b2, eps, decay, step_size, bc2_sqrt, u, clip, f, wi.x, gi.x, mi.x, vi.x);
        adamw_one(lr, b1, b2, eps, decay, step_size, bc2_sqrt, u, clip, f, wi.y, gi.y, mi.y, vi.y);
        adamw_one(lr, b1, b2, eps, decay, step_size, bc2_sqrt, u, clip, f, wi.z, gi.z, mi.z, vi.z);
        adamw_one(lr, b1, b2, eps, decay, step_size, bc2_sqrt, u, clip, f, wi.w, gi.w, mi.w, vi.w);
        w[i] = wi, m[i] = mi, v[i] = vi;
        if (copy) {
            codes4<uint16_t> c;
            c.v[0] = copy_code(wi.x, copy_fmt), c.v[1] = copy_code(wi.y, copy_fmt);
            c.v[2] = copy_code(wi.z, copy_fmt), c.v[3] = copy_code(wi.w, copy_fmt);
            copy[i] = c;
        }
    }
}

static pt_status cu_adamw(pt_backend *be, const pt_adamw *h, const pt_optim_gate *gate, float *w, const float *g,
                         float *m, float *v, size_t n)
{
    pt_optim_gate gt = gate ? *gate : pt_optim_gate{};
    /* the same host arithmetic as the CPU backend */
    float bc1 = 1.0f - powf(h->beta1, (float)h->step), bc2 = 1.0f - powf(h->beta2, (float)h->step);
    float step_size = h->lr / bc1, bc2_sqrt = sqrtf(bc2), decay = 1.0f - h->lr * h->weight_decay;
    uint16_t *copy = (uint16_t *)h->copy;
    bool aligned = vec4(4, w, g, m) && (uintptr_t)v % 16 == 0 && (uintptr_t)copy % 8 == 0;
    size_t n4 = aligned ? n / 4 : 0, done = n4 * 4;
    if (n4) {
        adamw4_kernel<<<blocks_for(n4), THREADS, 0, S(be)>>>(h->lr, h->beta1, h->beta2, h->eps, decay, step_size,
                                                              bc2_sqrt, gt, gate != NULL, (float4 *)w, (const float4 *)g,
                                                              (float4 *)m, (float4 *)v, n4, (codes4<uint16_t> *)copy,
                                                              (int)h->copy_fmt);
        PT_CUDA_CHECK_LAUNCH();
    }
    if (n > done) {
        adamw_kernel<<<blocks_for(n - done), THREADS, 0, S(be)>>>(h->lr, h->beta1, h->beta2, h->eps, decay, step_size,
                                                                   bc2_sqrt, gt, gate != NULL, w + done, g + done,
                                                                   m + done, v + done, n - done,
                                                                   copy ? copy + done : NULL, (int)h->copy_fmt);
        PT_CUDA_CHECK_LAUNCH();
    }
    return PT_OK;
}

__global__ void sgd_kernel(float lr, float mom, float wd, pt_optim_gate gate, bool gated, float *w, const float *g,
                           float *buf, size_t n)
{
    float f, u;
    bool clip;
    if (!pt_gate_open(gated ? &gate : NULL, &f, &clip, &u)) return;
    GRID_STRIDE(i, n) {
        float d = pt_gate_grad(g[i], u, clip, f) + wd * w[i];
        buf[i] = mom * buf[i] + d;
        w[i] -= lr * (mom != 0.0f ? buf[i] : d);
    }
}

static pt_status cu_sgd(pt_backend *be, float lr, float mom, float wd, const pt_optim_gate *gate, float *w,
                       const float *g, float *buf, size_t n)
{
    pt_optim_gate gt = gate ? *gate : pt_optim_gate{};
    if (n) sgd_kernel<<<blocks_for(n), THREADS, 0, S(be)>>>(lr, mom, wd, gt, gate != NULL, w, g, buf, n);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

const pt_nn_ops pt_cuda_nn_ops = {
    /* .gemm = */ cu_gemm,
    /* .decode = */ cu_decode,
    /* .round = */ cu_round,
    /* .act_fwd = */ cu_act_fwd,
    /* .act_bwd = */ cu_act_bwd,
    /* .act_fwd_cast = */ cu_act_fwd_cast,
    /* .act_bwd_bias = */ cu_act_bwd_bias,
    /* .cast_t = */ cu_cast_t,
    /* .add = */ cu_add,
    /* .acc = */ cu_acc,
    /* .bias_grad = */ cu_bias_grad,
    /* .layernorm_fwd = */ cu_layernorm_fwd,
    /* .layernorm_bwd = */ cu_layernorm_bwd,
    /* .softmax_ce = */ cu_softmax_ce,
    /* .mse = */ cu_mse,
    /* .dropout = */ cu_dropout,
    /* .gather_rows = */ cu_gather_rows,
    /* .fp8_scale = */ cu_fp8_scale,
    /* .fp8_record = */ cu_fp8_record,
    /* .fp8_scale_many = */ cu_fp8_scale_many,
    /* .fp8_record_many = */ cu_fp8_record_many,
    /* .im2col = */ cu_im2col,
    /* .col2im = */ cu_col2im,
    /* .conv_fwd = */ pt_cuda_conv_fwd,
    /* .conv_bwd_data = */ pt_cuda_conv_bwd_data,
    /* .conv_bwd_filter = */ pt_cuda_conv_bwd_filter,
    /* .rows_to_nchw = */ cu_rows_to_nchw,
    /* .pool_fwd = */ cu_pool_fwd,
    /* .pool_bwd = */ cu_pool_bwd,
    /* .unscale_check = */ cu_unscale_check,
    /* .scale = */ cu_scale,
    /* .sum = */ cu_sum,
    /* .adamw = */ cu_adamw,
    /* .sgd = */ cu_sgd,
};
