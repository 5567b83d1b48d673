/* The CUDA backend: device memory, one stream per backend, and the
 * statistics results travelling back through a pinned buffer behind an
 * event, so that the host polls or waits on that event alone and never on
 * the whole device. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../backend_impl.h"
#include "check.h"
#include "kernels.h"

#include "cuda_backend.h"
#include "common.cuh"

/* One statistics launch: tensors whose scale has a key table go to the
 * table kernel, the others (extreme scales) to the exact kernel. */
typedef struct cuda_batch {
    pt_cuda_stats_req *host_reqs; /* pinned: table requests, then exact ones */
    pt_cuda_stats_req *dev_reqs;
    pt_stats_table *host_tables;  /* pinned */
    pt_stats_table *dev_tables;
    pt_stats_keyinfo *keyinfo;    /* per table */
    float *table_scale;           /* per table */
    pt_stats_keys_dev *dev_keys, *host_keys;
    pt_stats_dev *dev_exact, *host_exact;
    int *slot;                    /* per tensor: >= 0 table request, < 0 ~exact request */
    int *table_of;                /* per tensor: its table, -1 for exact */
    uint64_t *counts;
    int ntable_reqs, nexact_reqs;
    cudaEvent_t done;
    bool launched, finished;
} cuda_batch;

static cuda_backend *impl(const pt_backend *be) { return pt_cuda_impl(be); }

extern "C" int pt_cuda_count_devices(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError(); /* no driver / no device: clear the sticky error */
        return 0;
    }
    return n;
}

static void cuda_destroy(pt_backend *be)
{
    cuda_backend *c = impl(be);
    if (c) {
        cudaSetDevice(c->device);
        cudaStreamSynchronize(c->stream);
        pt_cuda_nn_release(c);
        cudaStreamDestroy(c->stream);
        free(c);
    }
    free(be);
}

static bool cuda_supports(const pt_backend *be, pt_op op, pt_format f)
{
    (void)be;
    if (op == PT_OP_STATS) return f == PT_FMT_FP32 || f == PT_FMT_BF16 || f == PT_FMT_FP16;
    if (op == PT_OP_CONV) return pt_cuda_conv_supports(impl(be), f);
    return true;
}

static pt_status cuda_alloc(pt_backend *be, size_t bytes, void **ptr)
{
    PT_CUDA_CHECK(cudaSetDevice(impl(be)->device));
    cudaError_t e = cudaMalloc(ptr, bytes);
    if (e == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        return pt_fail(PT_ERR_NOMEM, "%s: cannot allocate %zu bytes of device memory", be->name,
                       bytes);
    }
    PT_CUDA_CHECK(e);
    return PT_OK;
}

static void cuda_free(pt_backend *be, void *p)
{
    cudaSetDevice(impl(be)->device);
    cudaFree(p);
}

static pt_status cuda_upload(pt_backend *be, void *dst, const void *src, size_t bytes)
{
    PT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, impl(be)->stream));
    /* the caller may free or reuse src as soon as we return */
    PT_CUDA_CHECK(cudaStreamSynchronize(impl(be)->stream));
    return PT_OK;
}

static pt_status cuda_download(pt_backend *be, void *dst, const void *src, size_t bytes)
{
    PT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, impl(be)->stream));
    PT_CUDA_CHECK(cudaStreamSynchronize(impl(be)->stream));
    return PT_OK;
}

static pt_status cuda_memset(pt_backend *be, void *dst, int byte, size_t bytes)
{
    PT_CUDA_CHECK(cudaMemsetAsync(dst, byte, bytes, impl(be)->stream));
    return PT_OK;
}

static pt_status cuda_copy(pt_backend *be, void *dst, const void *src, size_t bytes)
{
    PT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, impl(be)->stream));
    return PT_OK;
}

static pt_status cuda_sync(pt_backend *be)
{
    PT_CUDA_CHECK(cudaStreamSynchronize(impl(be)->stream));
    return PT_OK;
}

static pt_status cuda_alloc_host(pt_backend *be, size_t bytes, void **ptr)
{
    cudaError_t e = cudaMallocHost(ptr, bytes);
    if (e == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        return pt_fail(PT_ERR_NOMEM, "%s: cannot allocate %zu bytes of pinned host memory", be->name, bytes);
    }
    PT_CUDA_CHECK(e);
    return PT_OK;
}

static void cuda_free_host(pt_backend *be, void *p)
{
    (void)be;
    cudaFreeHost(p);
}

static pt_status cuda_download_async(pt_backend *be, void *dst, const void *src, size_t bytes)
{
    PT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, impl(be)->stream));
    PT_CUDA_CHECK(cudaEventRecord(impl(be)->copied, impl(be)->stream));
    return PT_OK;
}

static pt_status cuda_wait_copies(pt_backend *be)
{
    PT_CUDA_CHECK(cudaEventSynchronize(impl(be)->copied));
    return PT_OK;
}

static void batch_release(cuda_batch *cb)
{
    if (!cb) return;
    if (cb->done) cudaEventSynchronize(cb->done), cudaEventDestroy(cb->done);
    cudaFreeHost(cb->host_reqs);
    cudaFreeHost(cb->host_tables);
    cudaFreeHost(cb->host_keys);
    cudaFreeHost(cb->host_exact);
    cudaFree(cb->dev_reqs);
    cudaFree(cb->dev_tables);
    cudaFree(cb->dev_keys);
    cudaFree(cb->dev_exact);
    free(cb->keyinfo);
    free(cb->table_scale);
    free(cb->slot);
    free(cb->table_of);
    free(cb->counts);
    free(cb);
}

static pt_status cuda_batch_create(pt_backend *be, pt_stats_batch *b)
{
    size_t n = (size_t)b->capacity;
    cuda_batch *cb = (cuda_batch *)calloc(1, sizeof *cb);
    if (!cb) return pt_fail(PT_ERR_NOMEM, "statistics batch: out of host memory");
    b->impl = cb;
    cb->keyinfo = (pt_stats_keyinfo *)calloc(n, sizeof *cb->keyinfo);
    cb->table_scale = (float *)calloc(n, sizeof *cb->table_scale);
    cb->slot = (int *)calloc(n, sizeof *cb->slot);
    cb->table_of = (int *)calloc(n, sizeof *cb->table_of);
    cb->counts = (uint64_t *)calloc(n, sizeof *cb->counts);
    b->host = (pt_stats *)calloc(n, sizeof *b->host);
    if (!cb->keyinfo || !cb->table_scale || !cb->slot || !cb->table_of || !cb->counts || !b->host)
        return pt_fail(PT_ERR_NOMEM, "statistics batch: out of host memory");
    PT_CUDA_CHECK(cudaSetDevice(impl(be)->device));
    PT_CUDA_CHECK(cudaMallocHost((void **)&cb->host_reqs, n * sizeof *cb->host_reqs));
    PT_CUDA_CHECK(cudaMallocHost((void **)&cb->host_tables, n * sizeof *cb->host_tables));
    PT_CUDA_CHECK(cudaMallocHost((void **)&cb->host_keys, n * sizeof *cb->host_keys));
    PT_CUDA_CHECK(cudaMallocHost((void **)&cb->host_exact, n * sizeof *cb->host_exact));
    PT_CUDA_CHECK(cudaMalloc((void **)&cb->dev_reqs, n * sizeof *cb->dev_reqs));
    PT_CUDA_CHECK(cudaMalloc((void **)&cb->dev_tables, n * sizeof *cb->dev_tables));
    PT_CUDA_CHECK(cudaMalloc((void **)&cb->dev_keys, n * sizeof *cb->dev_keys));
    PT_CUDA_CHECK(cudaMalloc((void **)&cb->dev_exact, n * sizeof *cb->dev_exact));
    PT_CUDA_CHECK(cudaEventCreateWithFlags(&cb->done, cudaEventDisableTiming));
    return PT_OK;
}

static void cuda_batch_destroy(pt_stats_batch *b)
{
    batch_release((cuda_batch *)b->impl);
    free(b->host);
}

/* The table for a scale: reused within the launch when scales repeat. */
static int table_for(cuda_batch *cb, int *ntables, float scale)
{
    for (int i = 0; i < *ntables; i++)
        if (cb->table_scale[i] == scale) return i;
    int i = *ntables;
    if (!pt_stats_table_build(scale, &cb->host_tables[i], &cb->keyinfo[i])) return -1;
    cb->table_scale[i] = scale;
    (*ntables)++;
    return i;
}

static pt_status cuda_stats(pt_backend *be, pt_stats_batch *b, const pt_stats_req *reqs, int n)
{
    cuda_backend *c = impl(be);
    cuda_batch *cb = (cuda_batch *)b->impl;
    /* the pinned buffers may still feed the previous launch's copies */
    if (cb->launched) PT_CUDA_CHECK(cudaEventSynchronize(cb->done));
    int ntables = 0, nt = 0, ne = 0;
    for (int i = 0; i < n; i++) {
        cb->table_of[i] = table_for(cb, &ntables, reqs[i].scale);
        cb->slot[i] = cb->table_of[i] >= 0 ? nt++ : ~(ne++);
    }
    /* table requests first, exact ones after them */
    for (int i = 0; i < n; i++) {
        int at = cb->slot[i] >= 0 ? cb->slot[i] : nt + ~cb->slot[i];
        pt_cuda_stats_req *r = &cb->host_reqs[at];
        r->data = reqs[i].data;
        r->n = reqs[i].n;
        r->scale = reqs[i].scale;
        r->dtype = (int)reqs[i].dtype;
        r->table = cb->table_of[i];
        cb->counts[i] = reqs[i].n;
        b->host[i].scale = reqs[i].scale;
    }
    cb->ntable_reqs = nt;
    cb->nexact_reqs = ne;
    uint64_t tchunks = pt_cuda_stats_plan(cb->host_reqs, nt);
    uint64_t echunks = pt_cuda_stats_plan(cb->host_reqs + nt, ne);
    PT_CUDA_CHECK(cudaSetDevice(c->device));
    PT_CUDA_CHECK(cudaMemcpyAsync(cb->dev_reqs, cb->host_reqs, (size_t)n * sizeof *cb->dev_reqs,
                                  cudaMemcpyHostToDevice, c->stream));
    if (nt) {
        PT_CUDA_CHECK(cudaMemcpyAsync(cb->dev_tables, cb->host_tables,
                                      (size_t)ntables * sizeof *cb->dev_tables,
                                      cudaMemcpyHostToDevice, c->stream));
        PT_CUDA_CHECK(cudaMemsetAsync(cb->dev_keys, 0, (size_t)nt * sizeof *cb->dev_keys, c->stream));
        pt_status st = pt_cuda_stats_table_launch(cb->dev_reqs, nt, tchunks,
                                                  pt_cuda_stats_table_grid(c->device, tchunks),
                                                  cb->dev_tables, cb->dev_keys, c->stream);
        if (st) return st;
        PT_CUDA_CHECK(cudaMemcpyAsync(cb->host_keys, cb->dev_keys, (size_t)nt * sizeof *cb->host_keys,
                                      cudaMemcpyDeviceToHost, c->stream));
    }
    if (ne) {
        PT_CUDA_CHECK(cudaMemsetAsync(cb->dev_exact, 0, (size_t)ne * sizeof *cb->dev_exact, c->stream));
        pt_status st = pt_cuda_stats_launch(cb->dev_reqs + nt, ne, echunks,
                                            pt_cuda_stats_grid(c->device, echunks), cb->dev_exact,
                                            c->stream);
        if (st) return st;
        PT_CUDA_CHECK(cudaMemcpyAsync(cb->host_exact, cb->dev_exact,
                                      (size_t)ne * sizeof *cb->host_exact, cudaMemcpyDeviceToHost,
                                      c->stream));
    }
    PT_CUDA_CHECK(cudaEventRecord(cb->done, c->stream));
    cb->launched = true;
    cb->finished = false;
    return PT_OK;
}

static void finish(pt_stats_batch *b)
{
    cuda_batch *cb = (cuda_batch *)b->impl;
    if (cb->finished) return;
    for (int i = 0; i < b->n; i++) {
        float scale = b->host[i].scale;
        if (cb->slot[i] >= 0) {
            pt_stats_keys_finish(&cb->host_keys[cb->slot[i]], &cb->keyinfo[cb->table_of[i]],
                                 cb->counts[i], scale, &b->host[i]);
        } else {
            pt_cuda_stats_finish(&cb->host_exact[~cb->slot[i]], cb->counts[i], scale, &b->host[i]);
        }
    }
    cb->finished = true;
}

static bool cuda_batch_ready(pt_stats_batch *b)
{
    cuda_batch *cb = (cuda_batch *)b->impl;
    if (!cb->launched) return true;
    cudaError_t e = cudaEventQuery(cb->done);
    if (e == cudaErrorNotReady) return false;
    if (e == cudaSuccess) finish(b);
    return true; /* an error surfaces in pt_stats_batch_wait */
}

static pt_status cuda_batch_wait(pt_stats_batch *b)
{
    cuda_batch *cb = (cuda_batch *)b->impl;
    if (!cb->launched) return PT_OK;
    PT_CUDA_CHECK(cudaEventSynchronize(cb->done));
    finish(b);
    return PT_OK;
}

static pt_status cuda_cast(pt_backend *be, pt_format to, const float *in, void *out, size_t n,
                           const float *scale, float *amax, unsigned flags)
{
    PT_CUDA_CHECK(cudaSetDevice(impl(be)->device));
    return pt_cuda_cast_launch((int)to, in, out, n, scale, amax, flags, impl(be)->stream);
}

static const pt_backend_ops cuda_ops = {
    /* .destroy = */ cuda_destroy,
    /* .supports = */ cuda_supports,
    /* .alloc = */ cuda_alloc,
    /* .free = */ cuda_free,
    /* .upload = */ cuda_upload,
    /* .download = */ cuda_download,
    /* .memset = */ cuda_memset,
    /* .copy = */ cuda_copy,
    /* .sync = */ cuda_sync,
    /* .alloc_host = */ cuda_alloc_host,
    /* .free_host = */ cuda_free_host,
    /* .download_async = */ cuda_download_async,
    /* .wait_copies = */ cuda_wait_copies,
    /* .batch_create = */ cuda_batch_create,
    /* .batch_destroy = */ cuda_batch_destroy,
    /* .stats = */ cuda_stats,
    /* .batch_ready = */ cuda_batch_ready,
    /* .batch_wait = */ cuda_batch_wait,
    /* .cast = */ cuda_cast,
    /* .nn = */ &pt_cuda_nn_ops,
};

extern "C" pt_status pt_backend_cuda_create(int device, pt_backend **out)
{
    int count = pt_cuda_count_devices();
    if (count == 0)
        return pt_fail(PT_ERR_NO_DEVICE, "cuda:%d: no CUDA device is present", device);
    if (device >= count)
        return pt_fail(PT_ERR_NO_DEVICE, "cuda:%d: only %d CUDA device(s) present (0..%d)",
                       device, count, count - 1);
    cudaDeviceProp prop;
    cudaStream_t stream;
    PT_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    PT_CUDA_CHECK(cudaSetDevice(device));
    PT_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    pt_backend *be = (pt_backend *)calloc(1, sizeof *be);
    cuda_backend *c = (cuda_backend *)calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        cudaStreamDestroy(stream);
        return pt_fail(PT_ERR_NOMEM, "cuda backend: out of host memory");
    }
    be->ops = &cuda_ops;
    be->is_device = true;
    be->fp8_twins = true; /* cuBLASLt's fp8 GEMMs take k-contiguous operands alone */
    be->impl = c;
    c->device = device;
    c->stream = stream;
    pt_status st = pt_cuda_nn_init(c);
    if (st) {
        pt_cuda_nn_release(c);
        cudaStreamDestroy(stream);
        free(c);
        free(be);
        return st;
    }
    snprintf(be->name, sizeof be->name, "cuda:%d (%s)", device, prop.name);
    *out = be;
    return PT_OK;
}

/* ---- the training ops: their resources, and the table of them (each op
 * defined in the file of its op family, cuda_backend.h) ------------------- */

pt_status pt_cuda_no_kernel(const char *kernel, int f)
{
    const pt_format_traits *t = pt_format_info((pt_format)f);
    return t ? pt_fail(PT_ERR_UNSUPPORTED, "%s: no kernel for format %s", kernel, t->name)
             : pt_fail(PT_ERR_INVALID, "%s: %d is not a format", kernel, f);
}

pt_status pt_cuda_nn_init(cuda_backend *c)
{
    PT_CUBLAS_CHECK(cublasLtCreate(&c->lt));
    c->workspace_bytes = 32u << 20;
    PT_CUDA_CHECK(cudaMalloc(&c->workspace, c->workspace_bytes));
    PT_CUDA_CHECK(cudaMalloc((void **)&c->partials, PARTIALS * sizeof(double)));
    PT_CUDA_CHECK(cudaMalloc((void **)&c->descales, PT_DESCALE_FLOATS * sizeof(float)));
    const float one = 1.0f;
    PT_CUDA_CHECK(cudaMemcpy(c->descales + PT_DESCALE_ONE, &one, sizeof one, cudaMemcpyHostToDevice));
    PT_CUDA_CHECK(cudaEventCreateWithFlags(&c->copied, cudaEventDisableTiming));
#ifdef PT_HAVE_CUDNN
    /* PRECTUNE_CUDNN=0: convolutions as im2col GEMMs and pooling on our own
     * kernels (to compare, or to step around a cuDNN problem) */
    c->have_cudnn = pt_cudnn_setting() != 0;
#endif
    return PT_OK;
}

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
