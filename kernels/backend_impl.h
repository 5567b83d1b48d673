/* The vtable behind pt_backend. A backend fills one of these; backend.c
 * checks arguments once and dispatches, so implementations only do work. */
#ifndef PT_BACKEND_IMPL_H
#define PT_BACKEND_IMPL_H

#include "prectune/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pt_backend_ops {
    void (*destroy)(pt_backend *be);
    bool (*supports)(const pt_backend *be, pt_op op, pt_format f);
    pt_status (*alloc)(pt_backend *be, size_t bytes, void **ptr);
    void (*free)(pt_backend *be, void *ptr);
    pt_status (*upload)(pt_backend *be, void *dst, const void *src, size_t bytes);
    pt_status (*download)(pt_backend *be, void *dst, const void *src, size_t bytes);
    pt_status (*memset)(pt_backend *be, void *dst, int byte, size_t bytes);
    pt_status (*sync)(pt_backend *be);
    pt_status (*batch_create)(pt_backend *be, pt_stats_batch *b);
    void (*batch_destroy)(pt_stats_batch *b);
    pt_status (*stats)(pt_backend *be, pt_stats_batch *b, const pt_stats_req *reqs, int n);
    bool (*batch_ready)(pt_stats_batch *b);
    pt_status (*batch_wait)(pt_stats_batch *b);
    pt_status (*cast)(pt_backend *be, pt_format to, const float *in, void *out, size_t n,
                      const float *scale, float *amax, unsigned flags);
} pt_backend_ops;

struct pt_backend {
    const pt_backend_ops *ops;
    bool is_device;
    char name[320];
    void *impl;
};

struct pt_stats_batch {
    pt_backend *be;
    int capacity;
    int n;          /* tensors in the last launch */
    pt_stats *host; /* results (pinned on cuda) */
    void *impl;
};

pt_status pt_backend_cpu_create(pt_backend **out);
#ifdef PT_HAVE_CUDA
pt_status pt_backend_cuda_create(int device, pt_backend **out);
int pt_cuda_count_devices(void);
#endif

#ifdef __cplusplus
}
#endif
#endif
