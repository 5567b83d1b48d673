/* The training ops: everything a layer or the trainer computes goes
 * through these, so that the CPU reference and the CUDA backend are
 * compared op by op. Internal (not installed): the op structs change with
 * every fusion the trainer makes, while include/prectune/backend.h, what
 * a library user calls, stays. Shapes are row-major; "rows" are batch
 * items (or output positions). Ops with many inputs take a descriptor
 * struct, filled with designated initializers (a field left out is zero:
 * none). */
#ifndef PT_KERNELS_OPS_H
#define PT_KERNELS_OPS_H

#include "prectune/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Whether the backend's fp8 GEMMs read both operands with k contiguous
 * (cuBLASLt's "TN" rule), so that a pass casting an fp8 operand should
 * also write its transpose (pt_operand.data_t): the backward's GEMMs then
 * need no transpose passes of their own. */
bool pt_backend_fp8_twins(const pt_backend *be);

/* One GEMM operand: values stored in `fmt`'s storage (4 bytes for fp32 and
 * tf32, 2 for bf16/fp16, 1 for fp8), each the encoding of value*scale;
 * `scale_inv` (backend memory, one float, NULL for 1) undoes the scale, as
 * cuBLASLt's per-tensor fp8 scale pointers do. fp32 data in fmt tf32 is
 * rounded to tf32 by the GEMM (tensor-core semantics). */
typedef struct pt_operand {
    const void *data;
    pt_format fmt;
    const float *scale_inv;
    bool trans; /* use the transpose of the stored matrix */
    /* NULL, or the same codes stored transposed (data [r][c], data_t
     * [c][r]), written by the pass that cast them (pt_backend_fp8_twins):
     * a GEMM may read either */
    const void *data_t;
} pt_operand;

/* C[m,n] = round_out(A'[m,k] x B'[k,n] + round_out(bias[n])) + beta * C,
 * accumulated in fp32 (A' is A or A^T per a.trans; stored A is [m,k] or
 * [k,m]). The bias is added in the output format, as autocast's linear
 * layers add it (and cuBLASLt's 16-bit epilogues take it): rounded to
 * out_fmt, then added to the fp32 sum, which is rounded once. C is fp32
 * storage. With defer_tail (beta 0), C is left as the fp32 sum alone: the
 * bias and the rounding are the next pass's to make (pt_gemm_tail), with
 * the same arithmetic. With pack (beta 0, out_fmt bf16 or fp16, no
 * defer_tail), C holds the same values as out_fmt's 16-bit codes, two
 * bytes a value: the output of a GEMM that a pass reading 16-bit inputs
 * alone reads (pt_gemm_tail.packed). */
typedef struct pt_gemm {
    int m, n, k;
    pt_operand a, b;
    const float *bias; /* n values, or NULL */
    pt_format out_fmt;
    float beta; /* 0: overwrite C, 1: accumulate (gradient accumulation) */
    bool defer_tail;
    bool pack;
    /* with pack: the bias as out_fmt's 16-bit codes where the caller has
     * them (the optimizer's 16-bit copy of the parameters, made with the
     * same rounding), or NULL: the backend rounds bias itself */
    const void *bias_codes;
} pt_gemm;

/* What a GEMM with defer_tail left undone, for the pass that reads its
 * output next: c[i] = round_fmt(c[i] + round_fmt(bias[i % cols])) (bias
 * may be NULL), made before that pass uses c[i], and written back, so
 * that c holds what the GEMM would have written; with keep_raw, not
 * written back: c keeps the fp32 sums, and the tail stays to be made by
 * every later reader. Or, with packed (the codes a GEMM with pack wrote;
 * bias NULL, fmt that GEMM's out_fmt), the values are finished there: the
 * pass reads them from packed, and writes them decoded into c unless
 * keep_raw (c is then neither read nor written). */
typedef struct pt_gemm_tail {
    float *c;
    const float *bias;
    int cols;
    pt_format fmt;
    bool keep_raw;
    const void *packed;
} pt_gemm_tail;
pt_status pt_backend_gemm(pt_backend *be, const pt_gemm *g, void *c);

/* x[i] = round_f(x[i]) in place (fp32 storage). */
pt_status pt_backend_round(pt_backend *be, pt_format f, float *x, size_t n);

typedef enum pt_act { PT_ACT_RELU = 0, PT_ACT_GELU } pt_act;
/* y = act(x); dx = dy * act'(x) (dx may alias dy). */
pt_status pt_backend_act_fwd(pt_backend *be, pt_act a, const float *x, float *y, size_t n);
/* A cast written by the pass that makes a value, exactly as
 * pt_backend_cast(to, value, codes, n, scale, amax, flags) would write it:
 * the next GEMM's operand, made in the same pass. to: bf16, fp16, e4m3 or
 * e5m2, or PT_FMT_FP32 (the zero default) for no cast (the other fields
 * unused). codes_t (fp8 only; else NULL): the codes also written
 * transposed, the value viewed as [n / cols, cols] (as pt_backend_cast_t). */
typedef struct pt_cast_out {
    pt_format to;
    const float *scale;
    float *amax;
    unsigned flags;
    void *codes;
    void *codes_t;
} pt_cast_out;

/* act_fwd with a cast of y (pt_cast_out) in the same pass. With x_tail
 * (its c is x), x is first finished as the GEMM that wrote it deferred
 * (pt_gemm_tail). y may be NULL where there is a cast: y is then not
 * written, the cast alone is. cols is read only with cast.codes_t. */
typedef struct pt_act_fwd_desc {
    pt_act act;
    const float *x;
    float *y;
    size_t n;
    int cols;
    pt_cast_out cast;
    const pt_gemm_tail *x_tail;
} pt_act_fwd_desc;
pt_status pt_backend_act_fwd_cast(pt_backend *be, const pt_act_fwd_desc *d);
pt_status pt_backend_act_bwd(pt_backend *be, pt_act a, const float *x, const float *dy, float *dx,
                             size_t n);
/* act_bwd with a cast of dx (pt_cast_out), and the column sums of dx, as
 * the bias gradient of the linear layer before the activation: dx viewed
 * as [n / cols, cols], db = db_beta * db + the sum over its rows, exactly
 * pt_backend_bias_grad(dx, db, n / cols, cols, db_beta), in the same pass
 * (db NULL: no sums). With x_tail (its c is x) and dy_tail (its c is dy),
 * x and dy are first finished as the GEMMs that wrote them deferred. dx
 * may be NULL where there is a cast: dx is then not written, the cast and
 * the sums alone are. */
typedef struct pt_act_bwd_desc {
    pt_act act;
    const float *x;
    const float *dy;
    float *dx;
    size_t n;
    int cols;
    pt_cast_out cast;
    float *db;
    float db_beta;
    const pt_gemm_tail *x_tail;
    const pt_gemm_tail *dy_tail;
} pt_act_bwd_desc;
pt_status pt_backend_act_bwd_bias(pt_backend *be, const pt_act_bwd_desc *d);
/* y = a + b;  y += a (accumulate, for a value read by two layers). */
pt_status pt_backend_add(pt_backend *be, const float *a, const float *b, float *y, size_t n);
pt_status pt_backend_acc(pt_backend *be, const float *a, float *y, size_t n);
/* db[n] = beta * db[n] + sum over rows of dy[rows, n] (beta 0: db is not read) */
pt_status pt_backend_bias_grad(pt_backend *be, const float *dy, float *db, int rows, int n,
                               float beta);

/* Layer norm over the last dimension (c) of x[rows, c]; mean and
 * rstd[rows] are saved for the backward. dgamma/dbeta accumulate. In fmt
 * fp32 (or tf32) in fp32 with fp64 moments; in another fmt every
 * intermediate (mean, variance, eps, variance + eps, 1/sqrt, output) is
 * rounded to fmt: the norm of a model cast to half, where an epsilon
 * below fmt's smallest value vanishes and a constant row gives 0 * inf. */
pt_status pt_backend_layernorm_fwd(pt_backend *be, const float *x, const float *gamma,
                                   const float *beta, float eps, pt_format fmt, float *y, float *mean,
                                   float *rstd, int rows, int c);
pt_status pt_backend_layernorm_bwd(pt_backend *be, const float *x, const float *gamma,
                                   const float *mean, const float *rstd, const float *dy,
                                   float *dx, float *dgamma, float *dbeta, int rows, int c);

/* RMS norm over the last dimension (c) of x[rows, c]: y = x * rstd *
 * gamma, rstd[rows] = 1 / sqrt(mean(x^2) + eps), saved for the backward;
 * dgamma accumulates. In fmt fp32 (or tf32) in fp32 with fp64 sums; in
 * another fmt every intermediate (the mean square, eps, their sum, 1/sqrt,
 * the output) is rounded to fmt, as layernorm_fwd does. The backward is
 * fp32. */
pt_status pt_backend_rmsnorm_fwd(pt_backend *be, const float *x, const float *gamma, float eps, pt_format fmt,
                                 float *y, float *rstd, int rows, int c);
pt_status pt_backend_rmsnorm_bwd(pt_backend *be, const float *x, const float *gamma, const float *rstd,
                                 const float *dy, float *dx, float *dgamma, int rows, int c);

/* Token embedding: y row r = table row ids[r] (ids[n] are token ids held
 * as floats, exact below 2^24; one that is not an integer in [0, vocab)
 * is an error), rows of d values; the backward adds dy row r into dtable
 * row ids[r], in order of r (zero dtable first to overwrite). */
pt_status pt_backend_embedding_fwd(pt_backend *be, const float *table, const float *ids, float *y, int n, int d,
                                   int vocab);
pt_status pt_backend_embedding_bwd(pt_backend *be, const float *ids, const float *dy, float *dtable, int n, int d,
                                   int vocab);

/* Softmax cross-entropy of logits[rows, c] against labels (int32); writes
 * loss[rows] (per row, fp32) and dlogits = (softmax - onehot) * grad_scale
 * (grad_scale: 1/rows times the loss scale). */
pt_status pt_backend_softmax_ce(pt_backend *be, const float *logits, const int32_t *labels,
                                float *loss, float *dlogits, int rows, int c, float grad_scale);
/* Squared error of y[rows, c] against t: loss[rows] = sum_j (y-t)^2 / c;
 * dy = 2 (y - t) / c * grad_scale. */
pt_status pt_backend_mse(pt_backend *be, const float *y, const float *t, float *loss, float *dy,
                         int rows, int c, float grad_scale);

/* An fp8 recipe's step on a scaling state in backend memory (pt_fp8_state,
 * the same arithmetic as pt_fp8_scale and pt_fp8_record), so that a device
 * scales without the host: fp8_scale sets s->scale (the current recipe from
 * *amax_now, backend memory; delayed from the history) and *scale_inv =
 * 1 / s->scale, then zeroes *amax_reset when given (the slot the next
 * cast's amax goes to; it may be amax_now); fp8_record adds *amax, the amax
 * of the cast just made with s->scale, to the history and counts a clamp. */
pt_status pt_backend_fp8_scale(pt_backend *be, const pt_fp8_recipe *r, pt_format f, pt_fp8_state *s,
                               const float *amax_now, float *scale_inv, float *amax_reset);
pt_status pt_backend_fp8_record(pt_backend *be, const pt_fp8_recipe *r, pt_format f, pt_fp8_state *s,
                                const float *amax);
/* Those steps for many scaling states in one launch each: for entry i,
 * fp8_scale_many makes pt_backend_fp8_scale(recipe, f, state, NULL,
 * scale_inv, amax) and fp8_record_many pt_backend_fp8_record(recipe, f,
 * state, amax), f the fp8 format whose max_finite and overflow threshold
 * the entry holds. The entries are in backend memory; a delayed recipe's
 * states (a current one's scale needs its tensor's amax first). */
typedef struct pt_fp8_entry {
    pt_fp8_recipe recipe;
    pt_fp8_state *state;
    float *scale_inv, *amax;
    double max_finite;
    float overflow;
} pt_fp8_entry;
pt_status pt_backend_fp8_scale_many(pt_backend *be, const pt_fp8_entry *e, int n);
pt_status pt_backend_fp8_record_many(pt_backend *be, const pt_fp8_entry *e, int n);

/* Rows of a table in backend memory, picked by index: dst row r = src row
 * idx[r], each row_bytes long (a multiple of 4). idx is in backend memory
 * too: a data set kept on the device is batched without the host. */
pt_status pt_backend_gather_rows(pt_backend *be, const void *src, size_t row_bytes,
                                 const int32_t *idx, int rows, void *dst);

/* Dropout with keep probability 1-p: mask from a counter-based hash of
 * (seed, index), so both backends and a resumed run draw the same mask.
 * y = x * mask / (1-p); dx = dy * mask / (1-p). */
typedef enum pt_pass { PT_PASS_FWD = 0, PT_PASS_BWD } pt_pass;
pt_status pt_backend_dropout(pt_backend *be, const float *x, float *y, size_t n, float p,
                             uint64_t seed, pt_pass pass);

/* Attention's head layout: src [rows, t, g, h, hd] (a sequence's positions,
 * each g groups of h heads: q, k and v with g = 3) written as dst
 * [g, rows, h, t, hd] (every (group, sample, head) one [t, hd] matrix);
 * PT_PASS_BWD the inverse (src head-major, dst token-major). */
pt_status pt_backend_heads(pt_backend *be, const float *src, float *dst, int rows, int t, int g, int h, int hd,
                           pt_pass pass);
/* Softmax over each row of x[rows, c] in fp32 (sums in fp64); with causal,
 * row r is query position r % c and sees columns j <= r % c alone, the
 * others getting probability 0. In fmt bf16 or fp16, as a softmax of a
 * half tensor is computed: x read rounded to fmt (an fp16 score past 65504
 * is inf, and its row NaN), the exponentials and their sum in fp32, the
 * output rounded to fmt. The backward, in fp32: dx = y (dy - sum_j y dy). */
pt_status pt_backend_softmax(pt_backend *be, const float *x, float *y, int rows, int c, bool causal, pt_format fmt);
pt_status pt_backend_softmax_bwd(pt_backend *be, const float *y, const float *dy, float *dx, int rows, int c);

/* im2col of x[N, C, H, W] for a k x k kernel: cols[N*OH*OW, C*k*k]; col2im
 * adds back into dx (which must be zeroed). */
typedef struct pt_conv_shape {
    int n, c, h, w, k, stride, pad, oh, ow;
} pt_conv_shape;
pt_status pt_backend_im2col(pt_backend *be, const pt_conv_shape *s, const float *x, float *cols);
pt_status pt_backend_col2im(pt_backend *be, const pt_conv_shape *s, const float *cols, float *dx);
/* A convolution as one op, so that a device runs it through cuDNN: x and
 * dx are [N, C, H, W], y and dy [N, O, OH, OW] (all NCHW), w is [O, C, k, k]
 * (o = O output channels). Operands as for pt_backend_gemm (values in
 * their format, their trans flags ignored), products exact and summed in
 * fp32; each output is rounded once to out_fmt (fp32 storage). Operands in
 * fp32, tf32, bf16 and fp16 (pt_backend_supports PT_OP_CONV); fp8
 * convolutions run as im2col GEMMs (pt_backend_im2col + pt_backend_gemm).
 *   fwd:        y = round_out(x (*) w + bias[O])     (y overwritten)
 *   bwd_data:   dx = round_out(dy (*)^T w)           (dx overwritten)
 *   bwd_filter: dw = beta * dw + dy^T (*) x          (dw [O, C*k*k], fp32)
 * On the CPU each is exactly the im2col GEMM (bwd_data: col2im of the fp32
 * column gradients, then one rounding). */
pt_status pt_backend_conv_fwd(pt_backend *be, const pt_conv_shape *s, int o, const pt_operand *x, const pt_operand *w,
                              const float *bias, pt_format out_fmt, float *y);
pt_status pt_backend_conv_bwd_data(pt_backend *be, const pt_conv_shape *s, int o, const pt_operand *dy,
                                   const pt_operand *w, pt_format out_fmt, float *dx);
pt_status pt_backend_conv_bwd_filter(pt_backend *be, const pt_conv_shape *s, int o, const pt_operand *dy,
                                     const pt_operand *x, float beta, float *dw);
/* Whether a convolution whose forward is fwd_flops a step runs as these
 * ops rather than as im2col GEMMs, given that the backend takes its formats
 * (supported): from 1 GFLOP a step, where cuDNN is faster than the im2col
 * GEMMs (below, its per-call overhead makes it slower; bench/RESULTS.md);
 * with PRECTUNE_CUDNN=1 always, =0 never. The trainer and the cost model
 * decide with it. */
bool pt_conv_runs_direct(bool supported, double fwd_flops);
/* PRECTUNE_CUDNN: 0 or 1 as set, -1 when unset (or set to anything else). */
int pt_cudnn_setting(void);

/* rows[N*P, C] -> NCHW [N, C, P] (P = H*W); PT_PASS_BWD: NCHW -> rows */
pt_status pt_backend_rows_to_nchw(pt_backend *be, const float *rows, float *nchw, int n, int c,
                                  int p, pt_pass pass);

/* Pooling k x k, stride s, padding pad, over x[N, C, H, W] -> y[N, C, OH,
 * OW] (fp32). Max pooling takes the first largest value of a window's
 * positions inside x (a NaN wins) and records its index (int32 per output)
 * in argmax; average pooling divides the window's sum by k*k, the padding
 * counted as zeros. The backward adds into dx
 * (zero it first): max pooling's gradient goes to the recorded index. A
 * backend that pools through cuDNN (CUDA) writes no argmax and finds the
 * place again from x and y; on ties it picks the same one (the GPU op
 * tests check it on ReLU outputs, where most windows tie at zero), and a
 * window with a NaN gives a NaN either way. */
typedef enum pt_pool { PT_POOL_AVG = 0, PT_POOL_MAX } pt_pool;
pt_status pt_backend_pool_fwd(pt_backend *be, pt_pool pool, const pt_conv_shape *s, const float *x,
                              float *y, int32_t *argmax);
pt_status pt_backend_pool_bwd(pt_backend *be, pt_pool pool, const pt_conv_shape *s, const float *x, const float *y,
                              const float *dy, const int32_t *argmax, float *dx);

/* flags[0] = 1 when any g * inv_scale is non-finite (the caller zeroes
 * it), sumsq[0] = the sum of squares of the g * inv_scale (fp64
 * accumulation); both in backend memory, so that a device decides
 * skip/no-skip without the host. With PT_UNSCALE_WRITE, g *= inv_scale as well (the
 * gradients unscaled in place); without, g is only read (the optimizer
 * then unscales as it reads: pt_optim_gate.unscale). */
typedef enum pt_unscale { PT_UNSCALE_READ = 0, PT_UNSCALE_WRITE } pt_unscale;
pt_status pt_backend_unscale_check(pt_backend *be, float *g, size_t n, float inv_scale, pt_unscale mode,
                                   int32_t *flags, double *sumsq);
/* *acc += the sum of x[0..n) in fp64 (on the CPU in index order; on a
 * device in a fixed order: the same sum every time). acc in backend memory:
 * a step's loss is summed where it was computed. */
pt_status pt_backend_sum(pt_backend *be, const float *x, size_t n, double *acc);
/* x *= s */
pt_status pt_backend_scale(pt_backend *be, float *x, size_t n, float s);

typedef struct pt_adamw {
    float lr, beta1, beta2, eps, weight_decay;
    int64_t step; /* 1-based: bias correction */
    /* when not NULL: every updated weight also written to copy in copy_fmt
     * (bf16 or fp16, as pt_backend_cast would write it), so that the next
     * step's GEMMs find their weights cast without a pass of their own */
    void *copy;
    pt_format copy_fmt;
} pt_adamw;
/* What decides an optimizer step where the gradients are, so that the
 * host need not wait for the step's flag before queuing its optimizer:
 * the step is skipped when *found != 0 (pt_backend_unscale_check's flag),
 * and with clip_norm > 0 the gradients are multiplied by
 * clip_norm / (sqrt(*sumsq) + 1e-6) when sqrt(*sumsq) > clip_norm (global
 * norm clipping, read from the gradients as they are; they are not
 * changed). found and sumsq are in backend memory, either may be NULL. */
typedef struct pt_optim_gate {
    const int32_t *found;
    const double *sumsq;
    double clip_norm;
    float unscale; /* 0 or 1: the gradients are unscaled; else each is multiplied by it first (g * unscale, then
                      the clipping), as pt_backend_unscale_check with PT_UNSCALE_READ leaves them */
} pt_optim_gate;

/* AdamW on fp32 master weights: w, m, v updated in place from g, behind
 * the gate (NULL: always, unclipped). */
pt_status pt_backend_adamw(pt_backend *be, const pt_adamw *h, const pt_optim_gate *gate, float *w,
                           const float *g, float *m, float *v, size_t n);
/* SGD with momentum (PyTorch semantics: buf = mu*buf + g + wd*w; w -= lr*buf). */
pt_status pt_backend_sgd(pt_backend *be, float lr, float momentum, float weight_decay,
                         const pt_optim_gate *gate, float *w, const float *g, float *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
