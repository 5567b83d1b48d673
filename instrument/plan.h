/* The step plan: what every pass of a training step writes and reads,
 * decided once from the model spec, the policy and what the backend can
 * do, before any step runs. A layer file is the layer's math: it asks its
 * own entry of the plan whether, for example, its input's cast is already
 * made by the pass that produced the input, and never decides (or writes)
 * that for a neighbour. The cost model counts passes and bytes from the
 * same plan, so the estimate and the trainer cannot disagree on a rule.
 *
 * The fusions, each with the pass that makes up for it:
 *   - an activation (relu, gelu) whose one reader is a linear layer writes
 *     that layer's input cast (its forward format, with the fp8 recipe's
 *     scale and amax, and the transposed copy) in its own forward pass;
 *     its own output is left unwritten (y_unwritten);
 *   - a linear layer whose output an activation alone reads writes it as
 *     its GEMM's 16-bit codes (the bias added by the GEMM's epilogue, in
 *     the output format), which the activation reads (x_codes);
 *   - the activation's backward pass writes the weight-gradient cast of the
 *     linear layer before it and that layer's bias gradient (in_grad_of);
 *     where the input-gradient GEMM takes the same cast, the activation's
 *     input gradient itself is left unwritten (dx_unwritten);
 *   - the input-gradient GEMM of a linear layer fed by an activation alone
 *     writes that gradient as 16-bit codes, which the activation reads
 *     (dy_codes);
 *   - the weights of layers whose forward and input-gradient GEMMs read
 *     them in one 16-bit format come from the copy the optimizer writes
 *     with its update (w_from_copy).
 * What is left unwritten is made by pt_net_materialize, with the same
 * passes and values, for a reader outside the step (statistics, drift).
 * The plan with no fusion (fused false) runs every op as a pass of its
 * own and gives bit-identical weights on the CPU: the tests compare the
 * two for every model and preset. */
#ifndef PT_PLAN_H
#define PT_PLAN_H

#include <stdbool.h>
#include <stdio.h>

#include "prectune/fp8.h"
#include "prectune/model.h"
#include "prectune/policy.h"

/* What the backend that runs the step can do, as far as the plan cares. */
typedef struct pt_plan_caps {
    bool fp8_twins;               /* fp8 casts also write their transposes (pt_backend_fp8_twins) */
    bool conv[PT_FMT_COUNT];      /* convolutions as one op in this format (PT_OP_CONV) */
} pt_plan_caps;

typedef struct pt_plan_layer {
    pt_layer_formats fmt;         /* fwd / dgrad / wgrad (fp32 for layers without a GEMM; a
                                     layer norm's own format in fwd) */
    pt_fp8_recipe recipe;
    int readers;                  /* layers reading the output (the loss counts as one) */
    /* GEMM layers */
    bool conv_direct;             /* conv2d: the backend's convolutions, not im2col GEMMs */
    bool x_cast_by_input;         /* the x operand's cast is written by the activation producing x */
    bool w_from_copy;             /* the weights' cast is the optimizer's 16-bit copy (while it is valid) */
    bool y_codes;                 /* the forward GEMM writes 16-bit codes (y16) for the activation after */
    bool bias_from_copy;          /* ... taking its bias as codes from the optimizer's copy */
    bool dy_cast_by_output;       /* dy's wgrad cast is written by the activation reading y */
    bool db_by_output;            /* the bias gradient is summed by that activation */
    bool dx_codes;                /* the input-gradient GEMM writes 16-bit codes for the activation before */
    bool x_t, w_t, dy_t;          /* fp8: the transposed copies of x, w and dy's casts, made with them */
    /* activations */
    int cast_for;                 /* the linear layer whose x cast the forward writes (-1: none) */
    int in_grad_of;               /* the linear layer whose dy cast / bias gradient the backward writes (-1) */
    pt_format in_grad_fmt;        /* ... the cast's format (fp32: the bias gradient alone) */
    bool x_codes;                 /* x is read from the producing GEMM's codes (its y16) */
    bool dy_codes;                /* dy is read from the input-gradient GEMM's codes (dy16) */
    bool y_unwritten;             /* the forward leaves y unwritten (its one reader took the cast) */
    bool dx_unwritten;            /* the backward leaves dx (in_grad_of's dy) unwritten */
} pt_plan_layer;

typedef struct pt_plan {
    bool fused;
    int nlayers;
    pt_format w16_fmt;            /* the optimizer's 16-bit weight copy (fp32: none) */
    pt_plan_layer *L;
} pt_plan;

/* The plan for a spec, a policy (checked against the spec by the caller)
 * and a backend's capabilities, for batches of `batch` rows (a convolution's
 * choice of kernels depends on its size); fused false: every op a pass of its own. */
pt_status pt_plan_build(const pt_model_spec *spec, const pt_policy *policy, const pt_plan_caps *caps, int batch,
                        bool fused, pt_plan *out);
void pt_plan_free(pt_plan *p);

/* The output format of a GEMM whose inputs are in f (fp8 GEMMs write bf16,
 * tf32 ones fp32). */
pt_format pt_gemm_out_format(pt_format f);
/* Whether a backward GEMM in format bwd reads the forward's cast of an
 * operand (the formats agree, or both are fp8: the hybrid recipe's e4m3
 * forward copies beside e5m2 gradients) rather than a cast of its own. */
bool pt_gemm_reuses_forward(pt_format fwd, pt_format bwd);
bool pt_format_is_fp8(pt_format f);

/* PRECTUNE_FUSE=0 selects the plan with no fusion (for checking that fusion
 * changes no value); unset or anything else, the fused plan. */
bool pt_plan_fusion_setting(void);

/* The plan in words, a line a layer: what each pass writes and who makes
 * what it leaves. */
void pt_plan_print(const pt_plan *p, const pt_model_spec *spec, FILE *f);

#endif
