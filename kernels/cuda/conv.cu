/* Convolutions and pooling through cuDNN 9.
 *
 * The numerics are the CPU's (kernels/cpu/conv.c): operands whose values
 * lie in their format, exact products summed in fp32, one rounding of the
 * output. cuDNN's 16-bit configurations cannot give that: they write a
 * 16-bit output, so the bias would be added to an already rounded value,
 * and the filter gradient would be rounded before it accumulates. So every
 * tensor cuDNN sees is fp32 storage: a bf16 or fp16 operand is decoded
 * first (its values exactly), a tf32 one rounded, and the convolution runs
 * with TF32 tensor cores, whose products of values that fit in tf32 (all
 * bf16, fp16 and tf32 values do) are exact; an fp32 convolution is held
 * to FMA kernels (CUDNN_FMA_MATH), as an fp32 GEMM is to pedantic fp32.
 * The output is fp32, and its bias and rounding are one pass of our own.
 * Algorithms are cuDNN's heuristic choice among the deterministic ones,
 * found once per shape: a run and its resumption agree bit for bit.
 *
 * Every tensor is NCHW: cuDNN's deterministic backward-data algorithms
 * take no mixed layouts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef PT_HAVE_CUDNN
#include <cudnn.h> /* before check.h, which then defines PT_CUDNN_CHECK */
#endif
#include "check.h"
#include "cuda_backend.h"
#include "common.cuh"

#ifdef PT_HAVE_CUDNN

#define DNN(c) ((cudnnHandle_t)(c)->dnn)

static pt_status handle(pt_backend *be, cudnnHandle_t *h)
{
    cuda_backend *c = pt_cuda_impl(be);
    if (!c->dnn) {
        cudnnHandle_t made;
        PT_CUDNN_CHECK(cudnnCreate(&made));
        c->dnn = made;
        PT_CUDNN_CHECK(cudnnSetStream(made, c->stream));
    }
    *h = DNN(c);
    return PT_OK;
}

bool pt_cuda_conv_supports(const cuda_backend *c, pt_format f)
{
    return c->have_cudnn && (f == PT_FMT_FP32 || f == PT_FMT_TF32 || f == PT_FMT_BF16 || f == PT_FMT_FP16);
}


/* The descriptors of one convolution; destroyed by descs_free. */
typedef struct descs {
    cudnnTensorDescriptor_t x, y;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv;
} descs;

static void descs_free(descs *d)
{
    if (!d) return;
    if (d->x) cudnnDestroyTensorDescriptor(d->x);
    if (d->y) cudnnDestroyTensorDescriptor(d->y);
    if (d->w) cudnnDestroyFilterDescriptor(d->w);
    if (d->conv) cudnnDestroyConvolutionDescriptor(d->conv);
    free(d);
}

static pt_status descs_make(const pt_conv_shape *s, int o, descs *d)
{
    PT_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d->x));
    PT_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d->y));
    PT_CUDNN_CHECK(cudnnCreateFilterDescriptor(&d->w));
    PT_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&d->conv));
    PT_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, s->n, s->c, s->h, s->w));
    PT_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, s->n, o, s->oh, s->ow));
    PT_CUDNN_CHECK(cudnnSetFilter4dDescriptor(d->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, o, s->c, s->k, s->k));
    PT_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(d->conv, s->pad, s->pad, s->stride, s->stride, 1, 1,
                                                   CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    int n, c, h, w;
    PT_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(d->conv, d->x, d->w, &n, &c, &h, &w));
    if (n != s->n || c != o || h != s->oh || w != s->ow)
        return pt_fail(PT_ERR_INVALID, "conv: cuDNN's output is %dx%dx%dx%d, the shape says %dx%dx%dx%d", n, c, h, w,
                       s->n, o, s->oh, s->ow);
    return PT_OK;
}

/* An algorithm from cuDNN's ranked list: the first that is deterministic,
 * ran without error, and for fp32 uses FMA kernels only. */
#define PICK(perf, found, fma, out)                                                                 \
    do {                                                                                            \
        for (int i_ = 0, at_ = 0; i_ < (found) && at_ < (int)sizeof offered - 40; i_++)            \
            at_ += snprintf(offered + at_, sizeof offered - at_, "%s%d (%s, %s, math %d)", i_ ? "; " : "", \
                            (int)(perf)[i_].algo, cudnnGetErrorString((perf)[i_].status),           \
                            (perf)[i_].determinism == CUDNN_DETERMINISTIC ? "deterministic" : "not deterministic", \
                            (int)(perf)[i_].mathType);                                              \
        for (int i_ = 0; i_ < (found); i_++)                                                        \
            if ((perf)[i_].status == CUDNN_STATUS_SUCCESS && (perf)[i_].determinism == CUDNN_DETERMINISTIC && \
                (!(fma) || (perf)[i_].mathType == CUDNN_FMA_MATH)) {                                \
                (out)->algo = (int)(perf)[i_].algo, (out)->math = (int)(perf)[i_].mathType;         \
                (out)->workspace = (perf)[i_].memory;                                               \
                break;                                                                              \
            }                                                                                       \
    } while (0)

/* The first algorithm of cuDNN's ranked list that PICK takes, into out */
static pt_status pick(cudnnHandle_t h, int kind, const pt_conv_shape *s, int o, bool fma, descs *d, pt_dnn_plan *out)
{
    pt_dnn_plan key = *out;
    PT_CUDNN_CHECK(cudnnSetConvolutionMathType(d->conv, fma ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH));
    int found = 0;
    char offered[512] = "none";
    enum { N = 16 };
    if (kind == 0) {
        cudnnConvolutionFwdAlgoPerf_t perf[N];
        PT_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, d->x, d->w, d->conv, d->y, N, &found, perf));
        PICK(perf, found, fma, &key);
    } else if (kind == 1) {
        cudnnConvolutionBwdDataAlgoPerf_t perf[N];
        PT_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, d->w, d->y, d->conv, d->x, N, &found, perf));
        PICK(perf, found, fma, &key);
    } else {
        cudnnConvolutionBwdFilterAlgoPerf_t perf[N];
        PT_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, d->x, d->y, d->conv, d->w, N, &found, perf));
        PICK(perf, found, fma, &key);
    }
    static const char *what[] = {"forward", "backward-data", "backward-filter"};
    if (key.algo < 0)
        return pt_fail(PT_ERR_CUDA, "conv: cuDNN has no deterministic %s%s algorithm for %dx%dx%dx%d, %d filters "
                       "of %dx%d, stride %d, padding %d (cuDNN offered: %s)", fma ? "fp32 (FMA) " : "", what[kind],
                       s->n, s->c, s->h, s->w, o, s->k, s->k, s->stride, s->pad, offered);
    *out = key;
    return PT_OK;
}

/* The plan of a convolution, from the cache or made: the algorithm from
 * cuDNN's ranked list, and descriptors set to its math type. */
static pt_status plan_for(pt_backend *be, cudnnHandle_t h, int kind, const pt_conv_shape *s, int o, bool fma,
                          const pt_dnn_plan **out)
{
    cuda_backend *c = pt_cuda_impl(be);
    pt_dnn_plan key = {kind, s->n, s->c, s->h, s->w, s->k, s->stride, s->pad, o, fma, -1, 0, 0, NULL};
    for (int i = 0; i < c->ndnn_plans; i++) {
        const pt_dnn_plan *p = &c->dnn_plans[i];
        if (p->kind == kind && p->n == s->n && p->c == s->c && p->h == s->h && p->w == s->w && p->k == s->k &&
            p->stride == s->stride && p->pad == s->pad && p->o == o && p->fma == fma) {
            *out = p;
            return PT_OK;
        }
    }
    descs *d = (descs *)calloc(1, sizeof *d);
    if (!d) return pt_fail(PT_ERR_NOMEM, "out of memory");
    pt_status st = descs_make(s, o, d);
    if (st) {
        descs_free(d);
        return st;
    }
    key.descs = d;
    st = pick(h, kind, s, o, fma, d, &key);
    if (!st && cudnnSetConvolutionMathType(d->conv, (cudnnMathType_t)key.math) != CUDNN_STATUS_SUCCESS)
        st = pt_fail(PT_ERR_CUDA, "conv: cudnnSetConvolutionMathType failed");
    if (st) {
        descs_free(d);
        return st;
    }
    if (c->ndnn_plans == PT_DNN_PLANS) { /* a run has few shapes; start over past that */
        for (int i = 0; i < c->ndnn_plans; i++) descs_free((descs *)c->dnn_plans[i].descs);
        c->ndnn_plans = 0;
    }
    c->dnn_plans[c->ndnn_plans] = key;
    *out = &c->dnn_plans[c->ndnn_plans++];
    return PT_OK;
}


/* What a convolution needs before cuDNN runs: the handle, the plan with
 * its descriptors and workspace, and the values of its two operands (a, b;
 * na and nb of them) in fp32 storage. */
typedef struct conv_run {
    cudnnHandle_t h;
    const descs *d;
    const pt_dnn_plan *p;
    float *ws;
    const float *a, *b;
} conv_run;

static pt_status prepare(pt_backend *be, int kind, const pt_conv_shape *s, int o, const pt_operand *a, size_t na,
                         const pt_operand *b, size_t nb, conv_run *r)
{
    pt_status st = handle(be, &r->h);
    if (!st) st = plan_for(be, r->h, kind, s, o, a->fmt == PT_FMT_FP32, &r->p);
    if (st) return st;
    r->d = (const descs *)r->p->descs;
    r->ws = NULL;
    if (r->p->workspace && (st = pt_cuda_scratch(pt_cuda_impl(be), PT_SLOT_DNN, (r->p->workspace + 3) / 4, &r->ws))) return st;
    if (!(st = pt_cuda_operand_f32(be, PT_SLOT_A, a, na, &r->a))) st = pt_cuda_operand_f32(be, PT_SLOT_B, b, nb, &r->b);
    return st;
}

static size_t x_count(const pt_conv_shape *s) { return (size_t)s->n * s->c * s->h * s->w; }
static size_t y_count(const pt_conv_shape *s, int o) { return (size_t)s->n * o * s->oh * s->ow; }
static size_t w_count(const pt_conv_shape *s, int o) { return (size_t)o * s->c * s->k * s->k; }

pt_status pt_cuda_conv_fwd(pt_backend *be, const pt_conv_shape *s, int o, const pt_operand *x, const pt_operand *w,
                           const float *bias, pt_format out_fmt, float *y)
{
    if (!s->n) return PT_OK;
    conv_run r;
    const float one = 1.0f, zero = 0.0f;
    pt_status st = prepare(be, 0, s, o, x, x_count(s), w, w_count(s, o), &r);
    if (st) return st;
    PT_CUDNN_CHECK(cudnnConvolutionForward(r.h, &one, r.d->x, r.a, r.d->w, r.b, r.d->conv,
                                           (cudnnConvolutionFwdAlgo_t)r.p->algo, r.ws, r.p->workspace, &zero, r.d->y,
                                           y));
    return pt_cuda_nchw_bias_round(be, y, s->n, o, s->oh * s->ow, bias, out_fmt);
}

pt_status pt_cuda_conv_bwd_data(pt_backend *be, const pt_conv_shape *s, int o, const pt_operand *dy,
                                const pt_operand *w, pt_format out_fmt, float *dx)
{
    if (!s->n) return PT_OK;
    conv_run r;
    const float one = 1.0f, zero = 0.0f;
    pt_status st = prepare(be, 1, s, o, dy, y_count(s, o), w, w_count(s, o), &r);
    if (st) return st;
    PT_CUDNN_CHECK(cudnnConvolutionBackwardData(r.h, &one, r.d->w, r.b, r.d->y, r.a, r.d->conv,
                                                (cudnnConvolutionBwdDataAlgo_t)r.p->algo, r.ws, r.p->workspace, &zero,
                                                r.d->x, dx));
    return pt_cuda_nchw_bias_round(be, dx, s->n, s->c, s->h * s->w, NULL, out_fmt);
}

pt_status pt_cuda_conv_bwd_filter(pt_backend *be, const pt_conv_shape *s, int o, const pt_operand *dy,
                                  const pt_operand *x, float beta, float *dw)
{
    if (!s->n) return PT_OK;
    conv_run r;
    const float one = 1.0f;
    pt_status st = prepare(be, 2, s, o, dy, y_count(s, o), x, x_count(s), &r);
    if (st) return st;
    PT_CUDNN_CHECK(cudnnConvolutionBackwardFilter(r.h, &one, r.d->x, r.b, r.d->y, r.a, r.d->conv,
                                                  (cudnnConvolutionBwdFilterAlgo_t)r.p->algo, r.ws, r.p->workspace,
                                                  &beta, r.d->w, dw));
    return PT_OK;
}

/* ---- pooling --------------------------------------------------------------- */

typedef struct pool_descs {
    cudnnPoolingDescriptor_t pool;
    cudnnTensorDescriptor_t x, y;
} pool_descs;

static void pool_free(pool_descs *d)
{
    if (!d) return;
    if (d->pool) cudnnDestroyPoolingDescriptor(d->pool);
    if (d->x) cudnnDestroyTensorDescriptor(d->x);
    if (d->y) cudnnDestroyTensorDescriptor(d->y);
    free(d);
}

/* max: the deterministic max pooling, NaN propagated; average: divided by
 * k*k, padding included (the CPU's semantics) */
static pt_status pool_make(bool max, const pt_conv_shape *s, pool_descs *d)
{
    PT_CUDNN_CHECK(cudnnCreatePoolingDescriptor(&d->pool));
    PT_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d->x));
    PT_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d->y));
    PT_CUDNN_CHECK(cudnnSetPooling2dDescriptor(d->pool,
                                               max ? CUDNN_POOLING_MAX_DETERMINISTIC
                                                   : CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING,
                                               CUDNN_PROPAGATE_NAN, s->k, s->k, s->pad, s->pad, s->stride, s->stride));
    PT_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, s->n, s->c, s->h, s->w));
    PT_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, s->n, s->c, s->oh, s->ow));
    return PT_OK;
}

/* The descriptors of a pooling shape, from the cache or made */
static pt_status pool_for(pt_backend *be, bool max, const pt_conv_shape *s, const pool_descs **out)
{
    cuda_backend *c = pt_cuda_impl(be);
    for (int i = 0; i < c->ndnn_pools; i++) {
        const pt_dnn_pool *p = &c->dnn_pools[i];
        if (p->max == max && !memcmp(&p->s, s, sizeof *s)) {
            *out = (const pool_descs *)p->descs;
            return PT_OK;
        }
    }
    pool_descs *d = (pool_descs *)calloc(1, sizeof *d);
    if (!d) return pt_fail(PT_ERR_NOMEM, "out of memory");
    pt_status st = pool_make(max, s, d);
    if (st) {
        pool_free(d);
        return st;
    }
    if (c->ndnn_pools == PT_DNN_POOLS) {
        for (int i = 0; i < c->ndnn_pools; i++) pool_free((pool_descs *)c->dnn_pools[i].descs);
        c->ndnn_pools = 0;
    }
    c->dnn_pools[c->ndnn_pools++] = (pt_dnn_pool){max, *s, d};
    *out = d;
    return PT_OK;
}

pt_status pt_cuda_pool_fwd(pt_backend *be, bool max, const pt_conv_shape *s, const float *x, float *y)
{
    if (!s->n) return PT_OK;
    cudnnHandle_t h;
    const pool_descs *d;
    const float one = 1.0f, zero = 0.0f;
    pt_status st = handle(be, &h);
    if (!st) st = pool_for(be, max, s, &d);
    if (st) return st;
    PT_CUDNN_CHECK(cudnnPoolingForward(h, d->pool, &one, d->x, x, &zero, d->y, y));
    return PT_OK;
}

pt_status pt_cuda_pool_bwd(pt_backend *be, bool max, const pt_conv_shape *s, const float *x, const float *y,
                           const float *dy, float *dx)
{
    if (!s->n) return PT_OK;
    cudnnHandle_t h;
    const pool_descs *d;
    const float one = 1.0f;
    pt_status st = handle(be, &h);
    if (!st) st = pool_for(be, max, s, &d);
    if (st) return st;
    /* beta 1: added into dx, as the backend's pooling backward does */
    PT_CUDNN_CHECK(cudnnPoolingBackward(h, d->pool, &one, d->y, y, d->y, dy, d->x, x, &one, d->x, dx));
    return PT_OK;
}

void pt_cuda_conv_release(cuda_backend *c)
{
    for (int i = 0; i < c->ndnn_plans; i++) descs_free((descs *)c->dnn_plans[i].descs);
    for (int i = 0; i < c->ndnn_pools; i++) pool_free((pool_descs *)c->dnn_pools[i].descs);
    c->ndnn_plans = c->ndnn_pools = 0;
    if (c->dnn) cudnnDestroy(DNN(c));
    c->dnn = NULL;
}

#else /* built without cuDNN: no convolution ops; pooling on pool.cu's kernels */

bool pt_cuda_conv_supports(const cuda_backend *c, pt_format f) { return false; }
void pt_cuda_conv_release(cuda_backend *c) {}
static pt_status none(void) { return pt_fail(PT_ERR_UNSUPPORTED, "cuda: built without cuDNN"); }
pt_status pt_cuda_conv_fwd(pt_backend *, const pt_conv_shape *, int, const pt_operand *, const pt_operand *,
                           const float *, pt_format, float *) { return none(); }
pt_status pt_cuda_conv_bwd_data(pt_backend *, const pt_conv_shape *, int, const pt_operand *, const pt_operand *,
                                pt_format, float *) { return none(); }
pt_status pt_cuda_conv_bwd_filter(pt_backend *, const pt_conv_shape *, int, const pt_operand *, const pt_operand *,
                                  float, float *) { return none(); }
pt_status pt_cuda_pool_fwd(pt_backend *, bool, const pt_conv_shape *, const float *, float *) { return none(); }
pt_status pt_cuda_pool_bwd(pt_backend *, bool, const pt_conv_shape *, const float *, const float *, const float *,
                           float *) { return none(); }

#endif

/* ---- the lowering of a convolution to GEMMs: im2col, its adjoint col2im,
 * and the transposes between GEMM rows and NCHW ---------------------------- */

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

pt_status cu_im2col(pt_backend *be, const pt_conv_shape *s, const float *x, float *cols)
{
    size_t total = (size_t)s->n * s->oh * s->ow * s->c * s->k * s->k;
    if (total) im2col_kernel<<<blocks_for(total), THREADS, 0, S(be)>>>(*s, x, cols, total);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}

pt_status cu_col2im(pt_backend *be, const pt_conv_shape *s, const float *cols, float *dx)
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

pt_status cu_rows_to_nchw(pt_backend *be, const float *rows, float *nchw, int n, int c, int p, bool backward)
{
    size_t total = (size_t)n * c * p;
    if (total) rows_nchw_kernel<<<blocks_for(total), THREADS, 0, S(be)>>>(rows, nchw, n, c, p, backward, total);
    PT_CUDA_CHECK_LAUNCH();
    return PT_OK;
}
