/* The CPU reference backend: host memory, plain loops, exact emulation.
 * Every CUDA kernel is compared against what this backend computes. */
#include <stdlib.h>
#include <string.h>

#include "../backend_impl.h"
#include "../formats_impl.h"
#include "../stats_keys.h"
#include "cpu.h"

typedef struct cpu_backend {
    float *scratch[CPU_SCRATCH_SLOTS];
    size_t cap[CPU_SCRATCH_SLOTS];
    pt_stats_table *table;   /* statistics key table for table_scale */
    pt_stats_keyinfo *keyinfo;
    float table_scale;
    int table_ok;
} cpu_backend;

pt_status pt_cpu_scratch(pt_backend *be, int slot, size_t n, float **out)
{
    cpu_backend *c = be->impl;
    if (c->cap[slot] < n) {
        free(c->scratch[slot]);
        c->scratch[slot] = malloc(n * sizeof(float));
        c->cap[slot] = c->scratch[slot] ? n : 0;
        if (!c->scratch[slot])
            return pt_fail(PT_ERR_NOMEM, "cpu: cannot allocate %zu scratch floats", n);
    }
    *out = c->scratch[slot];
    return PT_OK;
}

static void cpu_destroy(pt_backend *be)
{
    cpu_backend *c = be->impl;
    for (int i = 0; i < CPU_SCRATCH_SLOTS; i++) free(c->scratch[i]);
    free(c->table);
    free(c->keyinfo);
    free(c);
    free(be);
}

static bool cpu_supports(const pt_backend *be, pt_op op, pt_format f)
{
    (void)be;
    if (op == PT_OP_STATS) return f == PT_FMT_FP32 || f == PT_FMT_BF16 || f == PT_FMT_FP16;
    if (op == PT_OP_CONV) return f == PT_FMT_FP32 || f == PT_FMT_TF32 || f == PT_FMT_BF16 || f == PT_FMT_FP16;
    return true;
}

static pt_status cpu_alloc(pt_backend *be, size_t bytes, void **ptr)
{
    (void)be;
    /* 64-byte alignment: whole cache lines, and vector loads never split */
    size_t rounded = (bytes + 63) & ~(size_t)63;
    *ptr = aligned_alloc(64, rounded);
    return *ptr ? PT_OK : pt_fail(PT_ERR_NOMEM, "cpu: cannot allocate %zu bytes", bytes);
}

static void cpu_free(pt_backend *be, void *p) { (void)be; free(p); }

static pt_status cpu_copy(pt_backend *be, void *dst, const void *src, size_t bytes)
{
    (void)be;
    memmove(dst, src, bytes);
    return PT_OK;
}

static pt_status cpu_memset(pt_backend *be, void *dst, int byte, size_t bytes)
{
    (void)be;
    memset(dst, byte, bytes);
    return PT_OK;
}

static pt_status cpu_sync(pt_backend *be) { (void)be; return PT_OK; }

static pt_status cpu_alloc_host(pt_backend *be, size_t bytes, void **ptr)
{
    if (!(*ptr = malloc(bytes))) return pt_fail(PT_ERR_NOMEM, "%s: cannot allocate %zu bytes", be->name, bytes);
    return PT_OK;
}

static pt_status cpu_batch_create(pt_backend *be, pt_stats_batch *b)
{
    (void)be;
    b->host = calloc((size_t)b->capacity, sizeof *b->host);
    return b->host ? PT_OK : pt_fail(PT_ERR_NOMEM, "statistics batch: out of host memory");
}

static void cpu_batch_destroy(pt_stats_batch *b) { free(b->host); }

/* The backend's statistics use the key tables of the GPU kernel (one
 * table lookup and one increment per value; tests/test_stats_keys checks
 * them against pt_stats_cpu, the plain reference, which remains the path
 * for scales no table describes). */
static void stats_keys_one(const pt_stats_table *tab, const pt_stats_keyinfo *ki,
                           const pt_stats_req *r, uint64_t *counts, pt_stats *out)
{
    memset(counts, 0, sizeof(uint64_t) * PT_STATS_KEYS);
    int32_t amax = PT_STATS_AMAX_INIT;
    uint32_t mn = 0xffffffffu;
    for (size_t i = 0; i < r->n; i++) {
        uint32_t u;
        if (r->dtype == PT_FMT_FP32) u = ((const uint32_t *)r->data)[i];
        else if (r->dtype == PT_FMT_BF16) u = (uint32_t)((const uint16_t *)r->data)[i] << 16;
        else u = pt_f2u(pt_dec_fp16(((const uint16_t *)r->data)[i]));
        counts[pt_stats_key(tab, u)]++;
        uint32_t m = u & 0x7fffffffu;
        amax = pt_stats_amax_step(amax, m);
        mn = m - 1u < mn ? m - 1u : mn;
    }
    pt_stats_keys_dev d;
    for (int k = 0; k < PT_STATS_KEYS; k++) d.count[k] = counts[k];
    d.absmax_bits = (uint32_t)amax - 0x7fffffu;
    d.min_inv = ~mn;
    pt_stats_keys_finish(&d, ki, r->n, r->scale, out);
}

static pt_status cpu_stats(pt_backend *be, pt_stats_batch *b, const pt_stats_req *reqs, int n)
{
    cpu_backend *c = be->impl;
    if (!c->table) {
        c->table = malloc(sizeof *c->table);
        c->keyinfo = malloc(sizeof *c->keyinfo);
        if (!c->table || !c->keyinfo) return pt_fail(PT_ERR_NOMEM, "cpu: out of memory");
        c->table_scale = 0.0f;
    }
    uint64_t counts[PT_STATS_KEYS];
    for (int i = 0; i < n; i++) {
        if (reqs[i].scale != c->table_scale) {
            c->table_ok = pt_stats_table_build(reqs[i].scale, c->table, c->keyinfo);
            c->table_scale = reqs[i].scale;
        }
        if (c->table_ok) stats_keys_one(c->table, c->keyinfo, &reqs[i], counts, &b->host[i]);
        else {
            pt_status st = pt_stats_cpu(&reqs[i], 1, &b->host[i]);
            if (st) return st;
        }
    }
    return PT_OK;
}

static bool cpu_batch_ready(pt_stats_batch *b) { (void)b; return true; }
static pt_status cpu_batch_wait(pt_stats_batch *b) { (void)b; return PT_OK; }

static pt_status cpu_cast(pt_backend *be, pt_format to, const float *in, void *out, size_t n,
                          const float *scale, float *amax, unsigned flags)
{
    (void)be;
    float a = pt_encode_array(to, in, out, n, scale ? *scale : 1.0f, flags);
    if (amax) {
        uint32_t prev = pt_f2u(*amax) & 0x7fffffffu, cur = pt_f2u(a) & 0x7fffffffu;
        uint32_t m = prev > cur ? prev : cur; /* NaN bits win, as on the GPU */
        *amax = pt_u2f(m > 0x7f800000u ? 0x7fffffffu : m);
    }
    return PT_OK;
}

static const pt_backend_ops cpu_ops = {
    .destroy = cpu_destroy,
    .supports = cpu_supports,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_copy,
    .download = cpu_copy,
    .memset = cpu_memset,
    .copy = cpu_copy,
    .sync = cpu_sync,
    .alloc_host = cpu_alloc_host,
    .free_host = cpu_free,
    .download_async = cpu_copy,
    .wait_copies = cpu_sync,
    .batch_create = cpu_batch_create,
    .batch_destroy = cpu_batch_destroy,
    .stats = cpu_stats,
    .batch_ready = cpu_batch_ready,
    .batch_wait = cpu_batch_wait,
    .cast = cpu_cast,
    .nn = &pt_cpu_nn_ops,
};

pt_status pt_backend_cpu_create(pt_backend **out)
{
    pt_backend *be = calloc(1, sizeof *be);
    cpu_backend *c = calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        return pt_fail(PT_ERR_NOMEM, "cpu backend: out of host memory");
    }
    be->impl = c;
    be->ops = &cpu_ops;
    be->is_device = false;
    strcpy(be->name, "cpu");
    *out = be;
    return PT_OK;
}

/* The training ops, each defined in the file of its op family (cpu.h). */
const pt_nn_ops pt_cpu_nn_ops = {
    .gemm = pt_cpu_gemm,
    .decode = cpu_decode,
    .round = cpu_round,
    .act_fwd = cpu_act_fwd,
    .act_bwd = cpu_act_bwd,
    .act_fwd_cast = cpu_act_fwd_cast,
    .act_bwd_bias = cpu_act_bwd_bias,
    .cast_t = cpu_cast_t,
    .add = cpu_add,
    .acc = cpu_acc,
    .bias_grad = cpu_bias_grad,
    .layernorm_fwd = cpu_layernorm_fwd,
    .layernorm_bwd = cpu_layernorm_bwd,
    .softmax_ce = cpu_softmax_ce,
    .mse = cpu_mse,
    .dropout = cpu_dropout,
    .gather_rows = cpu_gather_rows,
    .fp8_scale = cpu_fp8_scale,
    .fp8_record = cpu_fp8_record,
    .fp8_scale_many = cpu_fp8_scale_many,
    .fp8_record_many = cpu_fp8_record_many,
    .im2col = pt_cpu_im2col,
    .col2im = pt_cpu_col2im,
    .conv_fwd = pt_cpu_conv_fwd,
    .conv_bwd_data = pt_cpu_conv_bwd_data,
    .conv_bwd_filter = pt_cpu_conv_bwd_filter,
    .rows_to_nchw = pt_cpu_rows_to_nchw,
    .pool_fwd = cpu_pool_fwd,
    .pool_bwd = cpu_pool_bwd,
    .unscale_check = cpu_unscale_check,
    .scale = cpu_scale,
    .sum = cpu_sum,
    .adamw = cpu_adamw,
    .sgd = cpu_sgd,
    .rmsnorm_fwd = cpu_rmsnorm_fwd,
    .rmsnorm_bwd = cpu_rmsnorm_bwd,
    .embedding_fwd = cpu_embedding_fwd,
    .embedding_bwd = cpu_embedding_bwd,
    .heads = cpu_heads,
    .softmax = cpu_softmax,
    .softmax_bwd = cpu_softmax_bwd,
};
