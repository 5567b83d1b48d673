/* The network the trainer runs: layers in spec order, their buffers and
 * parameter views, all in backend memory. A layer file only calls the
 * backend interface (kernels never appear here). */
#ifndef PT_NET_H
#define PT_NET_H

#include "../kernels/ops.h"
#include "prectune/fp8.h"
#include "prectune/model.h"
#include "prectune/policy.h"

#include "plan.h"

/* fp8 scaling state per GEMM operand role */
enum { PT_OPND_X = 0, PT_OPND_W, PT_OPND_DY, PT_OPND_COUNT };

typedef struct pt_net pt_net;

/* A layer's scales buffer (pt_net_layer.scales), in floats: each role's
 * 1/scale (the GEMM's descale, which cuBLASLt reads from an aligned
 * address) and amax (what its cast reduces into) start 16-byte slots of
 * their own. */
#define PT_SCALE_DESCALE(role) (8 * (role) + 4)
#define PT_SCALE_AMAX(role) (8 * PT_OPND_COUNT + 4 * (role))
#define PT_SCALE_SLOTS (12 * PT_OPND_COUNT)

typedef struct pt_net_layer {
    const pt_layer_spec *spec;
    int index;
    pt_layer_formats fmt;
    int64_t in_size;          /* per-sample elements of input 0 */
    int seq;                  /* rows of one sample's output (a sequence's positions; 1 for flat outputs) */
    int in_seq, in_cols;      /* input 0 as [in_seq, in_cols] a sample: a GEMM's rows and k */
    bool w_shared;            /* a tied head: w and gw are the embedding's table and its gradient */
    bool grad_shared;         /* an embedding whose table gradient a tied head writes first in the backward */
    int consumers;            /* layers reading this output (the loss counts as one) */
    /* parameters: views into the net's master weights / gradients */
    float *w, *b, *gw, *gb;
    size_t nw, nb;
    int fan_in;
    /* activations (fp32, [batch, size]) and their gradients */
    float *y, *dy;
    /* the GEMM input kept for the backward, in the forward format's storage */
    void *saved;
    void *wbuf;               /* weights cast to a GEMM format (a slice of n->w16 with plan w_from_copy) */
    void *gbuf, *xbuf;        /* dy / x cast for the backward GEMMs */
    void *saved_t, *wbuf_t, *gbuf_t; /* fp8 linear layers on a backend that wants them
                                        (pt_backend_fp8_twins): x, w and dy's casts transposed,
                                        made with them (pt_operand.data_t); else NULL */
    float *cols, *dcols;      /* conv2d: im2col rows and their gradient */
    float *rows, *drows;      /* conv2d: output as rows [N*P, O] */
    float *aux;               /* layernorm: mean, rstd; rmsnorm: rstd; pools: argmax */
    float *heads, *dheads;    /* attention_qk, _pv: q, k, v head-major [3, batch, heads, T, head_dim] and the
                                 gradient */
    float *ho, *dho;          /* attention_pv: its output head-major [batch, heads, T, head_dim] and the gradient */
    pt_conv_shape cs;
    pt_operand x_op, w_op;    /* the forward GEMM's operands, reused by the backward */
    const pt_plan_layer *plan; /* this layer's entry of the step plan (n->plan) */
    /* where the plan has this layer's passes write for, or read from, a
     * neighbour: buffers bound once at pt_net_create, so that a layer
     * reads and writes its own fields only */
    void *y16;                /* linear, plan y_codes: the forward GEMM's 16-bit codes */
    void *dy16;               /* activation, plan dy_codes: the input-gradient GEMM's codes of dy */
    void *dx16;               /* linear, plan dx_codes: where its input-gradient GEMM writes them */
    pt_gemm_tail x_tail;      /* activation, plan x_codes: its input as the GEMM before left it */
    pt_gemm_tail dy_tail;     /* activation, plan dy_codes: its dy so */
    void *cast_out, *cast_out_t; /* activation, plan cast_for: that layer's x cast and transposed copy */
    pt_format cast_fmt;       /* ... in its forward format */
    int cast_cols;            /* ... its input's columns */
    void *grad_out, *grad_out_t; /* activation, plan in_grad_of: that layer's dy cast and transposed copy */
    float *db_out;            /* ... and its bias gradient (NULL: none) */
    int grad_cols;            /* ... its output's columns */
    float *dx_out;            /* activation, plan in_grad_of: its input gradient (that layer's dy) */
    pt_fp8_state fp8[PT_OPND_COUNT];
    pt_fp8_recipe recipe;     /* the policy's, or the layer's own delayed/current */
    bool fp8_batched[PT_OPND_COUNT]; /* the role's one fp8 cast a micro-batch is scaled and recorded with
                                        the others (n->fp8_batch) */
    float *scales;            /* backend memory: 1/scale and amax per operand role (PT_SCALE_*) */
} pt_net_layer;

struct pt_net {
    pt_backend *be;
    const pt_model_spec *spec;
    const pt_policy *policy;
    int batch;                /* rows allocated */
    int rows;                 /* rows of the last forward */
    pt_net_layer *L;
    int nlayers;
    pt_plan plan;             /* the step plan (plan.h) */
    bool fwd_unwritten;       /* the last forward left tensors to pt_net_materialize */
    bool bwd_unwritten;       /* ... and the last backward */
    float *params, *grads, *opt_m, *opt_v; /* fp32 master state, contiguous */
    /* the weights in the one 16-bit format of the layers whose forward and
     * input-gradient GEMMs read them in it (NULL when none): AdamW writes it
     * with the update, and while w16_valid it is their cast, with no pass
     * of its own; anything else that writes params clears w16_valid */
    void *w16;
    pt_format w16_fmt;
    bool w16_valid;
    size_t nparams;
    float *input;             /* [batch, input size] */
    int32_t *labels;
    float *targets;
    float *loss_rows;
    float *scratch;           /* a gradient to accumulate, largest layer */
    bool train;               /* dropout on */
    float grad_beta;          /* 1: parameter gradients add to n->grads; 0: they overwrite it
                                 (the first micro-batch of a step, so the step need not zero it) */
    uint64_t dropout_seed;    /* per micro-batch */
    /* fp8: the scaling states in backend memory (nlayers x PT_OPND_COUNT;
     * NULL when no layer uses fp8), and what pt_net_fp8_pull read of them */
    pt_fp8_state *fp8_dev;
    pt_fp8_state *fp8_host;           /* the staging copy of fp8_dev for pull and push */
    /* the delayed recipe's roles cast once in fp8 a training micro-batch:
     * scaled in one launch as the forward starts and recorded in one as the
     * backward ends (pt_backend_fp8_scale_many), not one launch a cast each
     * (backend memory; NULL when none) */
    pt_fp8_entry *fp8_batch;
    int fp8_nbatch;
    int64_t fp8_clamps, fp8_nan_amax; /* totals so far */
    int64_t fp8_saturated;            /* operands whose cast clamped since the previous pull */
    char sat_what[200];               /* the first of them, in words */
};

/* The net under the step plan PRECTUNE_FUSE selects (pt_plan_fusion_setting). */
pt_status pt_net_create(pt_backend *be, const pt_model_spec *spec, const pt_policy *policy,
                        int batch, pt_net **out);
/* ... under the fused plan or the plan with no fusion. */
pt_status pt_net_create_plan(pt_backend *be, const pt_model_spec *spec, const pt_policy *policy, int batch,
                             bool fused, pt_net **out);
/* The plan's view of a backend's capabilities. */
void pt_plan_caps_of(pt_backend *be, pt_plan_caps *caps);
void pt_net_destroy(pt_net *n);
/* Initial weights as PyTorch's defaults do it (uniform +-1/sqrt(fan_in)). */
pt_status pt_net_init_params(pt_net *n, uint64_t seed);

/* The weights and fp8 states of a checkpoint written by the trainer for
 * this model (instrument/checkpoint.c), its step in *step; the training
 * state in it (optimizer, data position, scaler) is not read. */
pt_status pt_net_load_checkpoint(pt_net *n, const char *path, int64_t *step);

/* Forward of `rows` samples already in n->input; the loss per row lands in
 * n->loss_rows; with grad_scale != 0 the loss gradient (times grad_scale)
 * is written for the backward. */
pt_status pt_net_forward(pt_net *n, int rows, float grad_scale);
/* Backward: parameter gradients accumulate into n->grads. */
pt_status pt_net_backward(pt_net *n, int rows);
/* The step plan leaves some tensors unwritten or as codes where the step
 * itself does not read them (plan.h): an activation's input and dy as the
 * GEMMs' 16-bit codes, its output and input gradient where only their
 * casts are read. This makes every y and dy hold its values, for a reader
 * outside the step (statistics, drift, downloads): the same values the
 * step used, made by the same passes. Call it before the optimizer changes
 * the biases and before the next forward (after which the last backward's
 * gradients stay as it left them). */
pt_status pt_net_materialize(pt_net *n);

/* The layers (one file each under layers/) */
pt_status pt_layer_forward(pt_net *n, pt_net_layer *l, int rows);
pt_status pt_layer_backward(pt_net *n, pt_net_layer *l, int rows);
/* Input i of a layer (the model input for index -1) */
float *pt_layer_input(pt_net *n, pt_net_layer *l, int i);
/* Where this layer's input gradient goes: the producer's dy, written
 * directly when this is its only consumer, else accumulated (*acc = true). */
float *pt_layer_input_grad(pt_net *n, pt_net_layer *l, int i, bool *acc);

/* A GEMM operand of fp32 data `x` (count values) in format f, cast into
 * buf when f is not fp32 (fp8: scaled per the policy's recipe, with the
 * layer's state for `role`). */
pt_status pt_net_operand(pt_net *n, pt_net_layer *l, int role, const float *x, size_t count,
                         pt_format f, void *buf, bool trans, pt_operand *op);
/* The same for x as [rows, cols], with buf_t (not NULL: f is fp8) the
 * cast's transposed copy, made in the same pass (op->data_t). */
pt_status pt_net_operand_t(pt_net *n, pt_net_layer *l, int role, const float *x, int rows, int cols, pt_format f,
                           void *buf, void *buf_t, bool trans, pt_operand *op);
/* How an operand of a layer's GEMM is cast to f (see pt_backend_cast): the
 * scale, amax and flags of the cast, after the fp8 recipe's scale step
 * (x, the tensor itself, is needed only by current scaling: NULL where a
 * fused kernel makes the tensor and its cast in one pass, which delayed
 * scaling allows); then pt_net_cast_done records the cast's amax. For
 * bf16/fp16 the plan is a plain cast. */
typedef struct pt_cast_plan {
    const float *scale;
    float *amax;
    unsigned flags;
    const float *scale_inv; /* the GEMM's descale */
} pt_cast_plan;
pt_status pt_net_cast_plan(pt_net *n, pt_net_layer *l, int role, pt_format f, const float *x, size_t count,
                           void *buf, pt_cast_plan *p);
pt_status pt_net_cast_done(pt_net *n, pt_net_layer *l, int role, pt_format f, const pt_cast_plan *p);

/* The host copies of the fp8 scaling states (l->fp8) from backend memory
 * (waits for the backend), with the counts of what happened since the
 * last pull; and back (after a checkpoint is loaded). */
pt_status pt_net_fp8_pull(pt_net *n);
pt_status pt_net_fp8_push(pt_net *n);
/* pt_net_fp8_pull in two halves: the copy queued behind the work so far,
 * and (after pt_backend_wait_copies) the host's reading of it. */
pt_status pt_net_fp8_pull_start(pt_net *n);
pt_status pt_net_fp8_pull_finish(pt_net *n);

/* the codes of parameter p (a pointer into n->params) in n->w16, the
 * weights' 16-bit copy */
void *pt_net_w16_of(const pt_net *n, const float *p);
/* The descale a GEMM reads for role's operand cast in f (NULL unless fp8),
 * and the amax slot its cast reduces into. */
float *pt_net_descale(const pt_net_layer *l, int role, pt_format f);
float *pt_net_amax_slot(const pt_net_layer *l, int role);

/* The GEMM layers' shared backward: given dy as rows [m_rows, out] and the
 * forward operands in l->x_op / l->w_op, accumulates the weight (and bias)
 * gradients and writes dx_rows [m_rows, k_in] (unless dx_rows is NULL).
 * With conv (a conv2d layer whose formats the backend convolves directly:
 * plan conv_direct), dy, x_op and dx_rows are the layer's NCHW tensors, the
 * two GEMMs are the backend's convolutions, and the bias gradient is left
 * to the caller. With dx_fp32, dx_rows is left unrounded (an im2col
 * convolution rounds its input gradient once, after col2im). */
pt_status pt_gemm_layer_backward(pt_net *n, pt_net_layer *l, const float *dy_rows, int m_rows,
                                 int out, int k_in, float *dx_rows, bool dx_acc, const pt_conv_shape *conv,
                                 bool dx_fp32);
pt_status pt_linear_forward(pt_net *n, pt_net_layer *l, int rows);
pt_status pt_linear_backward(pt_net *n, pt_net_layer *l, int rows);
pt_status pt_conv2d_forward(pt_net *n, pt_net_layer *l, int rows);
pt_status pt_conv2d_backward(pt_net *n, pt_net_layer *l, int rows);
pt_status pt_pool_forward(pt_net *n, pt_net_layer *l, int rows);
pt_status pt_pool_backward(pt_net *n, pt_net_layer *l, int rows);
pt_status pt_activation_forward(pt_net *n, pt_net_layer *l, int rows);
pt_status pt_activation_backward(pt_net *n, pt_net_layer *l, int rows);
/* pt_net_materialize for an activation: its forward's (x, y), or its backward's (dy, dx), where the plan
 * left them unwritten */
pt_status pt_activation_materialize(pt_net *n, pt_net_layer *l, int rows, bool backward);
pt_status pt_layernorm_forward(pt_net *n, pt_net_layer *l, int rows);
pt_status pt_layernorm_backward(pt_net *n, pt_net_layer *l, int rows);
pt_status pt_dropout_forward(pt_net *n, pt_net_layer *l, int rows);
pt_status pt_dropout_backward(pt_net *n, pt_net_layer *l, int rows);
pt_status pt_add_forward(pt_net *n, pt_net_layer *l, int rows);
pt_status pt_add_backward(pt_net *n, pt_net_layer *l, int rows);
pt_status pt_embedding_forward(pt_net *n, pt_net_layer *l, int rows);
pt_status pt_embedding_backward(pt_net *n, pt_net_layer *l, int rows);
pt_status pt_position_forward(pt_net *n, pt_net_layer *l, int rows);
pt_status pt_position_backward(pt_net *n, pt_net_layer *l, int rows);
pt_status pt_rmsnorm_forward(pt_net *n, pt_net_layer *l, int rows);
pt_status pt_rmsnorm_backward(pt_net *n, pt_net_layer *l, int rows);
pt_status pt_attn_qk_forward(pt_net *n, pt_net_layer *l, int rows);
pt_status pt_attn_qk_backward(pt_net *n, pt_net_layer *l, int rows);
pt_status pt_attn_softmax_forward(pt_net *n, pt_net_layer *l, int rows);
pt_status pt_attn_softmax_backward(pt_net *n, pt_net_layer *l, int rows);
pt_status pt_attn_pv_forward(pt_net *n, pt_net_layer *l, int rows);
pt_status pt_attn_pv_backward(pt_net *n, pt_net_layer *l, int rows);
pt_status pt_flatten_forward(pt_net *n, pt_net_layer *l, int rows);
pt_status pt_flatten_backward(pt_net *n, pt_net_layer *l, int rows);

/* Where a layer writes the gradient of its input i: the producer's dy when
 * this layer is its only reader, else the net's scratch, which
 * pt_grad_done then adds into dy. NULL when no gradient is needed (the
 * model input). */
float *pt_grad_target(pt_net *n, pt_net_layer *l, int i);
pt_status pt_grad_done(pt_net *n, pt_net_layer *l, int i, const float *g, size_t count);

#endif
