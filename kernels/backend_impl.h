/* The vtable behind pt_backend. A backend fills one of these; backend.c
 * checks arguments once and dispatches, so implementations only do work. */
#ifndef PT_BACKEND_IMPL_H
#define PT_BACKEND_IMPL_H

#include "ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The training ops (see ops.h); a backend that lacks one leaves it NULL
 * and callers get PT_ERR_UNSUPPORTED naming the op. The flags that ops.h
 * names (pt_pass, pt_pool, pt_unscale) arrive here as bools: backward,
 * max, write. */
typedef struct pt_nn_ops {
    pt_status (*gemm)(pt_backend *be, const pt_gemm *g, void *c);
    pt_status (*decode)(pt_backend *be, pt_format from, const void *in, float *out, size_t n,
                        const float *scale_inv);
    pt_status (*round)(pt_backend *be, pt_format f, float *x, size_t n);
    pt_status (*act_fwd)(pt_backend *be, pt_act a, const float *x, float *y, size_t n);
    pt_status (*act_bwd)(pt_backend *be, pt_act a, const float *x, const float *dy, float *dx,
                         size_t n);
    pt_status (*act_fwd_cast)(pt_backend *be, const pt_act_fwd_desc *d);
    pt_status (*act_bwd_bias)(pt_backend *be, const pt_act_bwd_desc *d);
    pt_status (*cast_t)(pt_backend *be, pt_format to, const float *in, int rows, int cols, void *out, void *out_t,
                        const float *scale, float *amax, unsigned flags);
    pt_status (*add)(pt_backend *be, const float *a, const float *b, float *y, size_t n);
    pt_status (*acc)(pt_backend *be, const float *a, float *y, size_t n);
    pt_status (*bias_grad)(pt_backend *be, const float *dy, float *db, int rows, int n, float beta);
    pt_status (*layernorm_fwd)(pt_backend *be, const float *x, const float *gamma,
                               const float *beta, float eps, pt_format fmt, float *y, float *mean,
                               float *rstd,
                               int rows, int c);
    pt_status (*layernorm_bwd)(pt_backend *be, const float *x, const float *gamma,
                               const float *mean, const float *rstd, const float *dy, float *dx,
                               float *dgamma, float *dbeta, int rows, int c);
    pt_status (*softmax_ce)(pt_backend *be, const float *logits, const int32_t *labels,
                            float *loss, float *dlogits, int rows, int c, float grad_scale);
    pt_status (*mse)(pt_backend *be, const float *y, const float *t, float *loss, float *dy,
                     int rows, int c, float grad_scale);
    pt_status (*dropout)(pt_backend *be, const float *x, float *y, size_t n, float p,
                         uint64_t seed, bool backward);
    pt_status (*gather_rows)(pt_backend *be, const void *src, size_t row_bytes, const int32_t *idx,
                             int rows, void *dst);
    pt_status (*fp8_scale)(pt_backend *be, const pt_fp8_recipe *r, pt_format f, pt_fp8_state *s,
                           const float *amax_now, float *scale_inv, float *amax_reset);
    pt_status (*fp8_record)(pt_backend *be, const pt_fp8_recipe *r, pt_format f, pt_fp8_state *s,
                            const float *amax);
    pt_status (*fp8_scale_many)(pt_backend *be, const pt_fp8_entry *e, int n);
    pt_status (*fp8_record_many)(pt_backend *be, const pt_fp8_entry *e, int n);
    pt_status (*im2col)(pt_backend *be, const pt_conv_shape *s, const float *x, float *cols);
    pt_status (*col2im)(pt_backend *be, const pt_conv_shape *s, const float *cols, float *dx);
    pt_status (*conv_fwd)(pt_backend *be, const pt_conv_shape *s, int o, const pt_operand *x, const pt_operand *w,
                          const float *bias, pt_format out_fmt, float *y);
    pt_status (*conv_bwd_data)(pt_backend *be, const pt_conv_shape *s, int o, const pt_operand *dy,
                               const pt_operand *w, pt_format out_fmt, float *dx);
    pt_status (*conv_bwd_filter)(pt_backend *be, const pt_conv_shape *s, int o, const pt_operand *dy,
                                 const pt_operand *x, float beta, float *dw);
    pt_status (*rows_to_nchw)(pt_backend *be, const float *rows, float *nchw, int n, int c, int p,
                              bool backward);
    pt_status (*pool_fwd)(pt_backend *be, bool max, const pt_conv_shape *s, const float *x,
                          float *y, int32_t *argmax);
    pt_status (*pool_bwd)(pt_backend *be, bool max, const pt_conv_shape *s, const float *x, const float *y,
                          const float *dy, const int32_t *argmax, float *dx);
    pt_status (*unscale_check)(pt_backend *be, float *g, size_t n, float inv_scale, bool write,
                               int32_t *flags, double *sumsq);
    pt_status (*scale)(pt_backend *be, float *x, size_t n, float s);
    pt_status (*sum)(pt_backend *be, const float *x, size_t n, double *acc);
    pt_status (*adamw)(pt_backend *be, const pt_adamw *h, const pt_optim_gate *gate, float *w,
                       const float *g, float *m, float *v, size_t n);
    pt_status (*sgd)(pt_backend *be, float lr, float momentum, float weight_decay, const pt_optim_gate *gate,
                     float *w, const float *g, float *buf, size_t n);
    /* the transformer's ops (kept last: a backend table written in order ends before them and lacks them) */
    pt_status (*rmsnorm_fwd)(pt_backend *be, const float *x, const float *gamma, float eps, pt_format fmt, float *y,
                             float *rstd, int rows, int c);
    pt_status (*rmsnorm_bwd)(pt_backend *be, const float *x, const float *gamma, const float *rstd, const float *dy,
                             float *dx, float *dgamma, int rows, int c);
    pt_status (*embedding_fwd)(pt_backend *be, const float *table, const float *ids, float *y, int n, int d,
                               int vocab);
    pt_status (*embedding_bwd)(pt_backend *be, const float *ids, const float *dy, float *dtable, int n, int d,
                               int vocab);
    pt_status (*heads)(pt_backend *be, const float *src, float *dst, int rows, int t, int g, int h, int hd,
                       bool backward);
    pt_status (*softmax)(pt_backend *be, const float *x, float *y, int rows, int c, bool causal, pt_format fmt);
    pt_status (*softmax_bwd)(pt_backend *be, const float *y, const float *dy, float *dx, int rows, int c);
} pt_nn_ops;

typedef struct pt_backend_ops {
    void (*destroy)(pt_backend *be);
    bool (*supports)(const pt_backend *be, pt_op op, pt_format f);
    pt_status (*alloc)(pt_backend *be, size_t bytes, void **ptr);
    void (*free)(pt_backend *be, void *ptr);
    pt_status (*upload)(pt_backend *be, void *dst, const void *src, size_t bytes);
    pt_status (*download)(pt_backend *be, void *dst, const void *src, size_t bytes);
    pt_status (*memset)(pt_backend *be, void *dst, int byte, size_t bytes);
    pt_status (*copy)(pt_backend *be, void *dst, const void *src, size_t bytes);
    pt_status (*sync)(pt_backend *be);
    pt_status (*alloc_host)(pt_backend *be, size_t bytes, void **ptr);
    void (*free_host)(pt_backend *be, void *ptr);
    pt_status (*download_async)(pt_backend *be, void *dst, const void *src, size_t bytes);
    pt_status (*wait_copies)(pt_backend *be);
    pt_status (*batch_create)(pt_backend *be, pt_stats_batch *b);
    void (*batch_destroy)(pt_stats_batch *b);
    pt_status (*stats)(pt_backend *be, pt_stats_batch *b, const pt_stats_req *reqs, int n);
    bool (*batch_ready)(pt_stats_batch *b);
    pt_status (*batch_wait)(pt_stats_batch *b);
    pt_status (*cast)(pt_backend *be, pt_format to, const float *in, void *out, size_t n,
                      const float *scale, float *amax, unsigned flags);
    const pt_nn_ops *nn;
} pt_backend_ops;

struct pt_backend {
    const pt_backend_ops *ops;
    bool is_device;
    bool fp8_twins; /* pt_backend_fp8_twins */
    char name[320];
    void *impl;
    pt_op_profile *prof; /* NULL unless pt_backend_profile(be, true) */
    int64_t fp8_emulated; /* device backends: fp8 GEMMs run decoded to fp32 (see backend.h) */
    /* what pt_backend_alloc handed out and is not freed (pt_backend_memory) */
    struct pt_alloc_rec {
        void *p;
        size_t bytes;
    } *allocs;
    size_t nallocs, cap_allocs, live_bytes, peak_bytes;
};

struct pt_stats_batch {
    pt_backend *be;
    int capacity;
    int n;          /* tensors in the last launch */
    pt_stats *host; /* results (pinned on cuda) */
    void *impl;
};

/* With the op profile on (pt_backend_profile), each op is bracketed by
 * these: a sync of the backend and the host's clock. */
double pt_prof_begin(pt_backend *be);
void pt_prof_end(pt_backend *be, const char *op, double t0);

/* return call's status, timed under the op profile's row `name` */
#define PT_PROFILED(be, name, call)              \
    do {                                         \
        double t0_ = pt_prof_begin(be);          \
        pt_status st_ = (call);                  \
        pt_prof_end((be), (name), t0_);          \
        return st_;                              \
    } while (0)

/* return be's training op `op` on the arguments after be, or
 * PT_ERR_UNSUPPORTED where the backend lacks it */
#define PT_NN_CALL(be, op, ...)                                                                 \
    do {                                                                                        \
        if (!(be)->ops->nn || !(be)->ops->nn->op)                                               \
            return pt_fail(PT_ERR_UNSUPPORTED, "%s: operation '%s' is not available on this "   \
                           "backend", (be)->name, #op);                                         \
        PT_PROFILED((be), #op, (be)->ops->nn->op((be), __VA_ARGS__));                           \
    } while (0)

pt_status pt_backend_cpu_create(pt_backend **out);
extern const pt_nn_ops pt_cpu_nn_ops;
#ifdef PT_HAVE_CUDA
pt_status pt_backend_cuda_create(int device, pt_backend **out);
int pt_cuda_count_devices(void);
#endif

#ifdef __cplusplus
}
#endif
#endif
