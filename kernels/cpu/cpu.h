/* What the CPU backend's files share. The CPU is the reference of the
 * training ops, one file per op family: plain loops in fp32 (fp64 where a
 * reduction's error would otherwise depend on length), written to be read
 * and checked, not to be clever. */
#ifndef PT_CPU_H
#define PT_CPU_H

#include "../backend_impl.h"

/* A scratch buffer of at least n floats, one per slot (0..8), owned by the
 * backend and reused across calls: the GEMM decodes its operands into 0
 * and 1 and rounds its output in 2; the convolutions keep their columns in
 * 3, a decoded x in 4 and their output rows in 5; the activation passes
 * finish a raw x and dy (pt_gemm_tail.keep_raw) in CPU_SLOT_X and
 * CPU_SLOT_DY, and write an output nobody keeps in CPU_SLOT_OUT. */
enum { CPU_SLOT_X = 6, CPU_SLOT_DY, CPU_SLOT_OUT, CPU_SCRATCH_SLOTS };
pt_status pt_cpu_scratch(pt_backend *be, int slot, size_t n, float **out);

/* fp32 view of a GEMM operand (in slot when it must be decoded). */
pt_status pt_cpu_operand_f32(pt_backend *be, int slot, const pt_operand *o, size_t n, const float **out);
pt_status pt_cpu_gemm(pt_backend *be, const pt_gemm *g, void *c);
pt_status pt_cpu_im2col(pt_backend *be, const pt_conv_shape *s, const float *x, float *cols);
pt_status pt_cpu_col2im(pt_backend *be, const pt_conv_shape *s, const float *cols, float *dx);
pt_status pt_cpu_rows_to_nchw(pt_backend *be, const float *rows, float *nchw, int n, int c, int p, bool backward);

/* The ops of pt_cpu_nn_ops (backend.c), one file per op family; tail_input
 * (gemm.c) and cast_twins (cast.c) are shared with the fused activations. */
/* gemm.c */
pt_status tail_input(pt_backend *be, const pt_gemm_tail *t, const float *x, size_t n, int slot,
                     const float **out);

/* cast.c */
pt_status cpu_decode(pt_backend *be, pt_format from, const void *in, float *out, size_t n,
                     const float *scale_inv);
pt_status cpu_round(pt_backend *be, pt_format f, float *x, size_t n);
pt_status cast_twins(pt_backend *be, pt_format f, const float *y, void *out, void *out_t, size_t n, int cols,
                     const float *scale, float *amax, unsigned flags);
pt_status cpu_cast_t(pt_backend *be, pt_format to, const float *in, int rows, int cols, void *out,
                     void *out_t, const float *scale, float *amax, unsigned flags);

/* act.c */
pt_status cpu_act_fwd(pt_backend *be, pt_act a, const float *x, float *y, size_t n);
pt_status cpu_act_fwd_cast(pt_backend *be, const pt_act_fwd_desc *d);
pt_status cpu_act_bwd(pt_backend *be, pt_act a, const float *x, const float *dy, float *dx,
                      size_t n);
pt_status cpu_act_bwd_bias(pt_backend *be, const pt_act_bwd_desc *d);

/* elementwise.c */
pt_status cpu_add(pt_backend *be, const float *a, const float *b, float *y, size_t n);
pt_status cpu_acc(pt_backend *be, const float *a, float *y, size_t n);
pt_status cpu_bias_grad(pt_backend *be, const float *dy, float *db, int rows, int n,
                        float beta);

/* norm.c */
pt_status cpu_layernorm_fwd(pt_backend *be, const float *x, const float *gamma,
                            const float *beta, float eps, pt_format fmt, float *y, float *mean,
                            float *rstd, int rows, int c);
pt_status cpu_layernorm_bwd(pt_backend *be, const float *x, const float *gamma,
                            const float *mean, const float *rstd, const float *dy,
                            float *dx, float *dgamma, float *dbeta, int rows, int c);

pt_status cpu_rmsnorm_fwd(pt_backend *be, const float *x, const float *gamma, float eps, pt_format fmt, float *y,
                          float *rstd, int rows, int c);
pt_status cpu_rmsnorm_bwd(pt_backend *be, const float *x, const float *gamma, const float *rstd, const float *dy,
                          float *dx, float *dgamma, int rows, int c);

/* attention.c */
pt_status cpu_heads(pt_backend *be, const float *src, float *dst, int rows, int t, int g, int h, int hd,
                    bool backward);
pt_status cpu_softmax(pt_backend *be, const float *x, float *y, int rows, int c, bool causal, pt_format fmt);
pt_status cpu_softmax_bwd(pt_backend *be, const float *y, const float *dy, float *dx, int rows, int c);

/* loss.c */
pt_status cpu_softmax_ce(pt_backend *be, const float *logits, const int32_t *labels,
                         float *loss, float *dlogits, int rows, int c, float grad_scale);
pt_status cpu_mse(pt_backend *be, const float *y, const float *t, float *loss, float *dy,
                  int rows, int c, float grad_scale);

/* data.c */
pt_status cpu_dropout(pt_backend *be, const float *x, float *y, size_t n, float p,
                      uint64_t seed, bool backward);
pt_status cpu_gather_rows(pt_backend *be, const void *src, size_t row_bytes, const int32_t *idx,
                          int rows, void *dst);
pt_status cpu_embedding_fwd(pt_backend *be, const float *table, const float *ids, float *y, int n, int d, int vocab);
pt_status cpu_embedding_bwd(pt_backend *be, const float *ids, const float *dy, float *dtable, int n, int d,
                            int vocab);

/* pool.c */
pt_status cpu_pool_fwd(pt_backend *be, bool max, const pt_conv_shape *s, const float *x,
                       float *y, int32_t *argmax);
pt_status cpu_pool_bwd(pt_backend *be, bool max, const pt_conv_shape *s, const float *x, const float *y,
                       const float *dy, const int32_t *argmax, float *dx);

/* optim.c */
pt_status cpu_unscale_check(pt_backend *be, float *g, size_t n, float inv_scale, bool write,
                            int32_t *flags, double *sumsq);
pt_status cpu_sum(pt_backend *be, const float *x, size_t n, double *acc);
pt_status cpu_scale(pt_backend *be, float *x, size_t n, float s);
pt_status cpu_adamw(pt_backend *be, const pt_adamw *h, const pt_optim_gate *gate, float *w,
                    const float *g, float *m, float *v, size_t n);
pt_status cpu_sgd(pt_backend *be, float lr, float momentum, float weight_decay, const pt_optim_gate *gate,
                  float *w, const float *g, float *buf, size_t n);

/* fp8.c */
pt_status cpu_fp8_scale(pt_backend *be, const pt_fp8_recipe *r, pt_format f, pt_fp8_state *s,
                        const float *amax_now, float *scale_inv, float *amax_reset);
pt_status cpu_fp8_record(pt_backend *be, const pt_fp8_recipe *r, pt_format f, pt_fp8_state *s,
                         const float *amax);
pt_status cpu_fp8_scale_many(pt_backend *be, const pt_fp8_entry *e, int n);
pt_status cpu_fp8_record_many(pt_backend *be, const pt_fp8_entry *e, int n);

/* conv.c: the convolutions as im2col GEMMs (ops.h) */
pt_status pt_cpu_conv_fwd(pt_backend *be, const pt_conv_shape *s, int o, const pt_operand *x, const pt_operand *w,
                          const float *bias, pt_format out_fmt, float *y);
pt_status pt_cpu_conv_bwd_data(pt_backend *be, const pt_conv_shape *s, int o, const pt_operand *dy,
                               const pt_operand *w, pt_format out_fmt, float *dx);
pt_status pt_cpu_conv_bwd_filter(pt_backend *be, const pt_conv_shape *s, int o, const pt_operand *dy,
                                 const pt_operand *x, float beta, float *dw);

#endif
