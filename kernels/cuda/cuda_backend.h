/* The CUDA backend's state, shared by backend.cu (memory, statistics,
 * casts, the table of training ops) and the op files (gemm.cu, act.cu, ...),
 * and the ops that table lists, one file per op family. */
#ifndef PT_CUDA_BACKEND_H
#define PT_CUDA_BACKEND_H

#include <stdint.h>

#include <cublasLt.h>
#include <cuda_runtime.h>

#include "../backend_impl.h"

/* cuBLASLt's choice of algorithm for one GEMM shape, with its descriptors,
 * made once per run: the heuristic query costs tens of microseconds per
 * call, the descriptors a few more (a small model's step is launch-bound),
 * and one algorithm per shape keeps a run's GEMMs the same from step to
 * step. A call sets only its pointers (bias, fp8 descales) on them. */
typedef struct pt_lt_plan {
    uint64_t m, n, k;
    int ta, tb, fmt_a, fmt_b, bias, out; /* out: the output's cudaDataType_t */
    cublasLtMatmulAlgo_t algo;
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t la, lb, lc;
} pt_lt_plan;

#define PT_LT_PLANS 64

/* cuDNN's choice of algorithm for one convolution (kernels/cuda/conv.cu),
 * found once per shape and kind. */
typedef struct pt_dnn_plan {
    int kind; /* 0 forward, 1 backward data, 2 backward filter */
    int n, c, h, w, k, stride, pad, o;
    bool fma; /* fp32: no tensor cores */
    int algo, math;
    size_t workspace;
    void *descs; /* its cuDNN descriptors, made once (conv.cu) */
} pt_dnn_plan;

/* A pooling shape's cuDNN descriptors, made once. */
typedef struct pt_dnn_pool {
    bool max;
    pt_conv_shape s;
    void *descs;
} pt_dnn_pool;

#define PT_DNN_PLANS 64
#define PT_DNN_POOLS 16
/* The scratch buffers (pt_cuda_scratch), each grown to the largest use:
 * a GEMM's two operands decoded where cuBLASLt cannot take them as they
 * are, or made k-contiguous, or a convolution's operands in fp32
 * (PT_SLOT_A, PT_SLOT_B); partial column sums of a bias gradient
 * (PT_SLOT_BIAS_PARTS); cuDNN's workspace (PT_SLOT_DNN); the activation
 * passes' buffers where they cannot fuse the GEMMs' tails: a raw input
 * finished (x forward, dy backward), x backward, and an output nobody
 * keeps (PT_SLOT_IN, PT_SLOT_X, PT_SLOT_OUT); a packed GEMM's bias codes,
 * and its fp32 output where cuBLASLt cannot write the codes itself
 * (PT_SLOT_BIAS, PT_SLOT_PACK). */
typedef enum pt_cuda_slot {
    PT_SLOT_A = 0,
    PT_SLOT_B,
    PT_SLOT_BIAS_PARTS,
    PT_SLOT_DNN,
    PT_SLOT_IN,
    PT_SLOT_X,
    PT_SLOT_OUT,
    PT_SLOT_BIAS,
    PT_SLOT_PACK,
    PT_CUDA_SCRATCH
} pt_cuda_slot;

/* The floats of cuda_backend.descales, each at a 16-byte aligned address
 * as cuBLASLt reads its scale pointers: the device 1.0f (the descale of an
 * fp8 operand given none), and aligned copies of the two operands'
 * descales that are not. */
enum { PT_DESCALE_ONE = 0, PT_DESCALE_A = 4, PT_DESCALE_B = 8, PT_DESCALE_FLOATS = 12 };

typedef struct cuda_backend {
    int device;
    cudaStream_t stream;
    cublasLtHandle_t lt;
    void *workspace;          /* cuBLASLt workspace */
    size_t workspace_bytes;
    float *scratch[PT_CUDA_SCRATCH]; /* by pt_cuda_slot */
    size_t scratch_cap[PT_CUDA_SCRATCH];
    double *partials;         /* per-block partial sums (deterministic reductions) */
    unsigned *done;           /* act_packed.cu's counters of blocks finished, a column group each */
    int done_cap;
    pt_lt_plan plans[PT_LT_PLANS];
    int nplans;
    float *descales;          /* PT_DESCALE_FLOATS floats, at PT_DESCALE_* */
    cudaEvent_t copied;       /* recorded behind the last pt_backend_download_async */
    bool have_cudnn;          /* built with cuDNN: convolutions and pooling go through it */
    void *dnn;                /* cudnnHandle_t, made at the first convolution or pooling */
    pt_dnn_plan dnn_plans[PT_DNN_PLANS];
    int ndnn_plans;
    pt_dnn_pool dnn_pools[PT_DNN_POOLS];
    int ndnn_pools;
} cuda_backend;

static inline cuda_backend *pt_cuda_impl(const pt_backend *be) { return (cuda_backend *)be->impl; }

extern const pt_nn_ops pt_cuda_nn_ops;
pt_status pt_cuda_nn_init(cuda_backend *c);
void pt_cuda_nn_release(cuda_backend *c);

/* the training ops of pt_cuda_nn_ops (backend.cu), by the file that
 * defines them; transpose_codes, act_fwd_rows and lt_plan_free are shared
 * between the files */
/* gemm.cu */
pt_status transpose_codes(cudaStream_t stream, const void *in, void *out, int rows, int cols);
pt_status cu_gemm(pt_backend *be, const pt_gemm *g, void *out);
void lt_plan_free(pt_lt_plan *p);

/* act.cu */
pt_status cu_act_fwd(pt_backend *be, pt_act a, const float *x, float *y, size_t n);
bool act_fwd_rows(pt_backend *be, int a, const float *x, float *out, size_t n, int cols, pt_format f,
                  const float *scale, float *amax, int sat, void *codes, void *codes_t, const pt_gemm_tail *t,
                  pt_status *st);
pt_status cu_act_fwd_cast(pt_backend *be, const pt_act_fwd_desc *d);
pt_status cu_act_bwd(pt_backend *be, pt_act a, const float *x, const float *dy, float *dx, size_t n);
pt_status cu_act_bwd_bias(pt_backend *be, const pt_act_bwd_desc *d);

/* elementwise.cu */
pt_status cu_add(pt_backend *be, const float *a, const float *b, float *y, size_t n);
pt_status cu_acc(pt_backend *be, const float *a, float *y, size_t n);
pt_status cu_bias_grad(pt_backend *be, const float *dy, float *db, int rows, int n, float beta);

/* norm.cu */
pt_status cu_layernorm_fwd(pt_backend *be, const float *x, const float *g, const float *b, float eps,
                           pt_format fmt, float *y, float *mean, float *rstd, int rows, int c);
pt_status cu_layernorm_bwd(pt_backend *be, const float *x, const float *g, const float *mean,
                           const float *rstd, const float *dy, float *dx, float *dg, float *db, int rows, int c);

/* loss.cu */
pt_status cu_softmax_ce(pt_backend *be, const float *z, const int32_t *labels, float *loss, float *dz,
                        int rows, int c, float gs);
pt_status cu_mse(pt_backend *be, const float *y, const float *t, float *loss, float *dy, int rows, int c, float gs);

/* data.cu */
pt_status cu_gather_rows(pt_backend *be, const void *src, size_t row_bytes, const int32_t *idx, int rows,
                         void *dst);
pt_status cu_dropout(pt_backend *be, const float *x, float *y, size_t n, float p, uint64_t seed, bool backward);

/* fp8.cu */
pt_status cu_fp8_scale(pt_backend *be, const pt_fp8_recipe *r, pt_format f, pt_fp8_state *s,
                       const float *amax_now, float *scale_inv, float *amax_reset);
pt_status cu_fp8_scale_many(pt_backend *be, const pt_fp8_entry *e, int n);
pt_status cu_fp8_record_many(pt_backend *be, const pt_fp8_entry *e, int n);
pt_status cu_fp8_record(pt_backend *be, const pt_fp8_recipe *r, pt_format f, pt_fp8_state *s,
                        const float *amax);

/* pool.cu */
pt_status cu_pool_fwd(pt_backend *be, bool max, const pt_conv_shape *s, const float *x, float *y, int32_t *argmax);
pt_status cu_pool_bwd(pt_backend *be, bool max, const pt_conv_shape *s, const float *x, const float *y,
                      const float *dy, const int32_t *argmax, float *dx);

/* optim.cu */
pt_status cu_scale(pt_backend *be, float *x, size_t n, float s);
pt_status cu_unscale_check(pt_backend *be, float *g, size_t n, float inv, bool write, int32_t *flags,
                           double *sumsq);
pt_status cu_sum(pt_backend *be, const float *x, size_t n, double *acc);
pt_status cu_adamw(pt_backend *be, const pt_adamw *h, const pt_optim_gate *gate, float *w, const float *g,
                  float *m, float *v, size_t n);
pt_status cu_sgd(pt_backend *be, float lr, float mom, float wd, const pt_optim_gate *gate, float *w,
                const float *g, float *buf, size_t n);

/* cast.cu */
pt_status cu_decode(pt_backend *be, pt_format from, const void *in, float *out, size_t n, const float *scale_inv);
pt_status cu_round(pt_backend *be, pt_format f, float *x, size_t n);
pt_status cu_cast_t(pt_backend *be, pt_format to, const float *in, int rows, int cols, void *out, void *out_t,
                    const float *scale, float *amax, unsigned flags);

/* conv.cu */
pt_status cu_im2col(pt_backend *be, const pt_conv_shape *s, const float *x, float *cols);
pt_status cu_col2im(pt_backend *be, const pt_conv_shape *s, const float *cols, float *dx);
pt_status cu_rows_to_nchw(pt_backend *be, const float *rows, float *nchw, int n, int c, int p, bool backward);

/* gemm.cu, shared with conv.cu */
pt_status pt_cuda_scratch(cuda_backend *c, pt_cuda_slot slot, size_t n, float **out);
/* The error of a format that a kernel has no instance for (a dispatch
 * never sends it to another format's kernel). */
pt_status pt_cuda_no_kernel(const char *kernel, int f);
pt_status pt_cuda_operand_f32(pt_backend *be, pt_cuda_slot slot, const pt_operand *o, size_t n, const float **out);
/* c[rows, cols] = round_out(c + bias[col]) (bias may be NULL): a GEMM's tail */
pt_status pt_cuda_bias_round(pt_backend *be, float *c, int rows, int cols, const float *bias, pt_format out_fmt);
/* y[n, c, p] = round_out(y + bias[c]) over NCHW (bias may be NULL): a convolution's tail */
pt_status pt_cuda_nchw_bias_round(pt_backend *be, float *y, int n, int c, int p, const float *bias, pt_format out_fmt);

/* act_packed.cu: the activation passes on a GEMM's packed 16-bit output,
 * with their result cast to bf16, fp16 or fp8 (with codes_t, fp8's
 * transposed codes, [cols, n / cols]), or fp32 alone: the forward
 * (ops.h's act_fwd_cast with tail t) and the backward with the bias
 * gradient (act_bwd_bias with tails xt and dyt). false where the shapes,
 * alignments or tails do not suit them (the general kernels then run);
 * true with *st the launch's status. */
bool pt_cuda_act_fwd_packed(pt_backend *be, int a, const pt_gemm_tail *t, float *out, size_t n, int cols,
                            pt_format f, const float *scale, float *amax, int sat, void *codes, void *codes_t,
                            pt_status *st);
/* the counters of bias_sums_last (act.cuh), a column group each, zeroed */
pt_status pt_cuda_done_counters(cuda_backend *c, int groups, unsigned **out);
bool pt_cuda_act_bwd_packed(pt_backend *be, int a, const pt_gemm_tail *xt, const pt_gemm_tail *dyt, float *dx,
                            size_t n, int cols, pt_format f, const float *scale, float *amax, int sat, void *codes,
                            void *codes_t, float *db, float beta, pt_status *st);

/* conv.cu: convolutions and pooling through cuDNN (ops.h); without
 * cuDNN (have_cudnn false) the convolutions are unsupported and pooling
 * runs on pool.cu's own kernels. */
bool pt_cuda_conv_supports(const cuda_backend *c, pt_format f);
pt_status pt_cuda_conv_fwd(pt_backend *be, const pt_conv_shape *s, int o, const pt_operand *x, const pt_operand *w,
                           const float *bias, pt_format out_fmt, float *y);
pt_status pt_cuda_conv_bwd_data(pt_backend *be, const pt_conv_shape *s, int o, const pt_operand *dy,
                                const pt_operand *w, pt_format out_fmt, float *dx);
pt_status pt_cuda_conv_bwd_filter(pt_backend *be, const pt_conv_shape *s, int o, const pt_operand *dy,
                                  const pt_operand *x, float beta, float *dw);
pt_status pt_cuda_pool_fwd(pt_backend *be, bool max, const pt_conv_shape *s, const float *x, float *y);
pt_status pt_cuda_pool_bwd(pt_backend *be, bool max, const pt_conv_shape *s, const float *x, const float *y,
                           const float *dy, float *dx);
void pt_cuda_conv_release(cuda_backend *c);

#endif
