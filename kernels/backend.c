/* Opening a backend by name and the argument checks shared by every
 * backend, so that a bad call fails the same way on cpu and cuda. */
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "backend_impl.h"
#include "clock.h"

/* With the op profile on, every op is bracketed by a sync of the backend
 * and timed on the host, so that each op's share of a step can be read
 * off (the syncs add the launch latency of each op: the total is a bit
 * above an unprofiled step). */

static double prof_begin(pt_backend *be)
{
    if (!be->prof) return 0;
    be->ops->sync(be);
    return 1e3 * pt_now_s();
}

static void prof_end(pt_backend *be, const char *op, double t0)
{
    if (!be->prof) return;
    be->ops->sync(be);
    double ms = 1e3 * pt_now_s() - t0;
    pt_op_profile *p = be->prof;
    int i = 0;
    while (i < p->n && strcmp(p->op[i].name, op)) i++;
    if (i == p->n) {
        if (p->n == PT_PROFILE_OPS) return;
        snprintf(p->op[p->n++].name, sizeof p->op[0].name, "%s", op);
    }
    p->op[i].calls++;
    p->op[i].ms += ms;
}

pt_status pt_backend_profile(pt_backend *be, bool on)
{
    if (!on) {
        free(be->prof);
        be->prof = NULL;
        return PT_OK;
    }
    if (!be->prof && !(be->prof = calloc(1, sizeof *be->prof)))
        return pt_fail(PT_ERR_NOMEM, "op profile: out of memory");
    return PT_OK;
}

const pt_op_profile *pt_backend_profile_get(const pt_backend *be) { return be->prof; }

void pt_backend_profile_print(const pt_backend *be, int64_t steps, FILE *f)
{
    if (!be->prof || steps <= 0) return;
    pt_op_profile s = *be->prof;
    double sum = 0;
    for (int i = 0; i < s.n; i++) sum += s.op[i].ms;
    for (int i = 1; i < s.n; i++) /* by time, largest first */
        for (int j = i; j > 0 && s.op[j].ms > s.op[j - 1].ms; j--) {
            pt_op_time t = s.op[j];
            s.op[j] = s.op[j - 1];
            s.op[j - 1] = t;
        }
    fprintf(f, "op profile of %lld steps on %s: %.3f ms/step in ops, each op synchronized\n",
            (long long)steps, be->name, sum / (double)steps);
    fprintf(f, "  %-28s %10s %10s %7s\n", "op", "calls/step", "ms/step", "share");
    for (int i = 0; i < s.n; i++)
        fprintf(f, "  %-28s %10.1f %10.4f %6.1f%%\n", s.op[i].name, (double)s.op[i].calls / (double)steps,
                s.op[i].ms / (double)steps, 100 * s.op[i].ms / (sum > 0 ? sum : 1));
}

#define PROFILED(name, call)                 \
    do {                                     \
        double t0_ = prof_begin(be);         \
        pt_status st_ = (call);              \
        prof_end(be, (name), t0_);           \
        return st_;                          \
    } while (0)


bool pt_have_cuda(void)
{
#ifdef PT_HAVE_CUDA
    return true;
#else
    return false;
#endif
}

int pt_cuda_device_count(void)
{
#ifdef PT_HAVE_CUDA
    return pt_cuda_count_devices();
#else
    return 0;
#endif
}

pt_status pt_backend_open(const char *device, pt_backend **out)
{
    *out = NULL;
    if (!device || strcmp(device, "cpu") == 0) return pt_backend_cpu_create(out);
    if (strncmp(device, "cuda", 4) == 0 && (device[4] == '\0' || device[4] == ':')) {
        long idx = 0;
        if (device[4] == ':') {
            char *end;
            errno = 0;
            idx = strtol(device + 5, &end, 10);
            if (errno || end == device + 5 || *end || idx < 0)
                return pt_fail(PT_ERR_INVALID,
                               "device '%s': expected cuda:N with N a device index", device);
        }
#ifdef PT_HAVE_CUDA
        return pt_backend_cuda_create((int)idx, out);
#else
        return pt_fail(PT_ERR_UNSUPPORTED,
                       "device '%s': this prectune was built without CUDA (rebuild with nvcc on PATH)",
                       device);
#endif
    }
    return pt_fail(PT_ERR_INVALID, "device '%s': expected cpu, cuda or cuda:N", device);
}

void pt_backend_close(pt_backend *be)
{
    if (be) {
        pt_backend_profile(be, false);
        free(be->allocs);
        be->ops->destroy(be);
    }
}

const char *pt_backend_name(const pt_backend *be) { return be->name; }
int64_t pt_backend_fp8_emulated(const pt_backend *be) { return be->fp8_emulated; }
bool pt_backend_is_device(const pt_backend *be) { return be->is_device; }
bool pt_backend_fp8_twins(const pt_backend *be) { return be->fp8_twins; }

bool pt_backend_supports(const pt_backend *be, pt_op op, pt_format f)
{
    return (unsigned)op < PT_OP_COUNT && (unsigned)f < PT_FMT_COUNT && be->ops->supports(be, op, f);
}

pt_status pt_backend_alloc(pt_backend *be, size_t bytes, void **ptr)
{
    *ptr = NULL;
    if (be->nallocs == be->cap_allocs) {
        size_t cap = be->cap_allocs ? 2 * be->cap_allocs : 256;
        struct pt_alloc_rec *a = realloc(be->allocs, cap * sizeof *a);
        if (!a) return pt_fail(PT_ERR_NOMEM, "%s: out of host memory for the allocation ledger", be->name);
        be->allocs = a, be->cap_allocs = cap;
    }
    pt_status st = be->ops->alloc(be, bytes ? bytes : 1, ptr);
    if (st) return st;
    be->allocs[be->nallocs++] = (struct pt_alloc_rec){*ptr, bytes};
    be->live_bytes += bytes;
    if (be->live_bytes > be->peak_bytes) be->peak_bytes = be->live_bytes;
    return PT_OK;
}

void pt_backend_free(pt_backend *be, void *ptr)
{
    if (!ptr) return;
    for (size_t i = be->nallocs; i-- > 0;) /* the newest first */
        if (be->allocs[i].p == ptr) {
            be->live_bytes -= be->allocs[i].bytes;
            be->allocs[i] = be->allocs[--be->nallocs];
            break;
        }
    be->ops->free(be, ptr);
}

void pt_backend_memory(pt_backend *be, size_t *live, size_t *peak, bool reset_peak)
{
    if (live) *live = be->live_bytes;
    if (peak) *peak = be->peak_bytes;
    if (reset_peak) be->peak_bytes = be->live_bytes;
}

pt_status pt_backend_alloc_host(pt_backend *be, size_t bytes, void **ptr)
{
    *ptr = NULL;
    return be->ops->alloc_host(be, bytes ? bytes : 1, ptr);
}

void pt_backend_free_host(pt_backend *be, void *ptr)
{
    if (ptr) be->ops->free_host(be, ptr);
}

pt_status pt_backend_download_async(pt_backend *be, void *dst, const void *src, size_t bytes)
{
    if (!bytes) return PT_OK;
    PROFILED("download", be->ops->download_async(be, dst, src, bytes));
}

pt_status pt_backend_wait_copies(pt_backend *be) { return be->ops->wait_copies(be); }

pt_status pt_backend_upload(pt_backend *be, void *dst, const void *src, size_t bytes)
{
    if (!bytes) return PT_OK;
    PROFILED("upload", be->ops->upload(be, dst, src, bytes));
}

pt_status pt_backend_download(pt_backend *be, void *dst, const void *src, size_t bytes)
{
    if (!bytes) return PT_OK;
    PROFILED("download", be->ops->download(be, dst, src, bytes));
}

pt_status pt_backend_memset(pt_backend *be, void *dst, int byte, size_t bytes)
{
    if (!bytes) return PT_OK;
    PROFILED("memset", be->ops->memset(be, dst, byte, bytes));
}

pt_status pt_backend_copy(pt_backend *be, void *dst, const void *src, size_t bytes)
{
    if (!bytes || dst == src) return PT_OK;
    PROFILED("copy", be->ops->copy(be, dst, src, bytes));
}

pt_status pt_backend_sync(pt_backend *be) { return be->ops->sync(be); }

pt_status pt_stats_batch_create(pt_backend *be, int capacity, pt_stats_batch **out)
{
    *out = NULL;
    if (capacity <= 0)
        return pt_fail(PT_ERR_INVALID, "statistics batch: capacity %d must be > 0", capacity);
    pt_stats_batch *b = calloc(1, sizeof *b);
    if (!b) return pt_fail(PT_ERR_NOMEM, "statistics batch: out of host memory");
    b->be = be;
    b->capacity = capacity;
    pt_status st = be->ops->batch_create(be, b);
    if (st) {
        be->ops->batch_destroy(b); /* releases whatever was made */
        free(b);
        return st;
    }
    *out = b;
    return PT_OK;
}

void pt_stats_batch_destroy(pt_stats_batch *b)
{
    if (!b) return;
    b->be->ops->batch_destroy(b);
    free(b);
}

pt_status pt_backend_stats(pt_backend *be, pt_stats_batch *b, const pt_stats_req *reqs, int n)
{
    if (b->be != be)
        return pt_fail(PT_ERR_INVALID, "statistics batch belongs to backend %s, not %s",
                       b->be->name, be->name);
    if (n < 0 || n > b->capacity)
        return pt_fail(PT_ERR_INVALID, "statistics: %d tensors, batch capacity is %d", n,
                       b->capacity);
    for (int i = 0; i < n; i++) {
        pt_status st = pt_stats_req_check(&reqs[i], i);
        if (st) return st;
    }
    b->n = n;
    PROFILED("stats", be->ops->stats(be, b, reqs, n));
}

bool pt_stats_batch_ready(pt_stats_batch *b) { return b->be->ops->batch_ready(b); }

pt_status pt_stats_batch_wait(pt_stats_batch *b, const pt_stats **results, int *n)
{
    pt_status st = b->be->ops->batch_wait(b);
    if (st) return st;
    *results = b->host;
    *n = b->n;
    return PT_OK;
}

pt_status pt_backend_cast(pt_backend *be, pt_format to, const float *in, void *out, size_t n,
                          const float *scale, float *amax, unsigned flags)
{
    if (!pt_backend_supports(be, PT_OP_CAST, to))
        return pt_fail(PT_ERR_UNSUPPORTED, "cast to %s is not supported on %s",
                       pt_format_info(to) ? pt_format_info(to)->name : "?", be->name);
    if (n && (!in || !out)) return pt_fail(PT_ERR_INVALID, "cast: NULL input or output");
    if (!n) return PT_OK;
    char name[48] = "cast";
    if (be->prof) snprintf(name, sizeof name, "cast to %s%s", pt_format_info(to)->name, amax ? " + amax" : "");
    PROFILED(name, be->ops->cast(be, to, in, out, n, scale, amax, flags));
}

pt_status pt_backend_cast_t(pt_backend *be, pt_format to, const float *in, int rows, int cols, void *out,
                            void *out_t, const float *scale, float *amax, unsigned flags)
{
    if (to != PT_FMT_E4M3 && to != PT_FMT_E5M2)
        return pt_fail(PT_ERR_INVALID, "cast_t: to %s (a transposed copy of the codes is for fp8 formats)",
                       pt_format_info(to) ? pt_format_info(to)->name : "?");
    if (rows < 0 || cols < 0) return pt_fail(PT_ERR_INVALID, "cast_t: negative shape %dx%d", rows, cols);
    if (rows && cols && (!in || !out || !out_t)) return pt_fail(PT_ERR_INVALID, "cast_t: NULL input or output");
    if (!rows || !cols) return PT_OK;
    if (!be->ops->nn || !be->ops->nn->cast_t)
        return pt_fail(PT_ERR_UNSUPPORTED, "%s: operation 'cast_t' is not available on this backend", be->name);
    char name[48] = "cast_t";
    if (be->prof) snprintf(name, sizeof name, "cast_t to %s%s", pt_format_info(to)->name, amax ? " + amax" : "");
    PROFILED(name, be->ops->nn->cast_t(be, to, in, rows, cols, out, out_t, scale, amax, flags));
}

/* ---- training ops: dispatch ------------------------------------------------ */

#define NN_CALL(op, ...)                                                                  \
    do {                                                                                  \
        if (!be->ops->nn || !be->ops->nn->op)                                             \
            return pt_fail(PT_ERR_UNSUPPORTED, "%s: operation '%s' is not available on this " \
                           "backend", be->name, #op);                                     \
        PROFILED(#op, be->ops->nn->op(be, __VA_ARGS__));                                  \
    } while (0)

pt_status pt_backend_gemm(pt_backend *be, const pt_gemm *g, void *c)
{
    if (g->m < 0 || g->n < 0 || g->k < 0)
        return pt_fail(PT_ERR_INVALID, "gemm: negative shape %dx%dx%d", g->m, g->n, g->k);
    if (g->defer_tail && g->beta != 0.0f)
        return pt_fail(PT_ERR_INVALID, "gemm: a deferred tail needs beta 0 (got %g)", (double)g->beta);
    if (g->pack && (g->beta != 0.0f || g->defer_tail || (g->out_fmt != PT_FMT_BF16 && g->out_fmt != PT_FMT_FP16)))
        return pt_fail(PT_ERR_INVALID, "gemm: a packed output is bf16 or fp16, with beta 0 and its tail made (got "
                                       "%s, beta %g%s)",
                       pt_format_info(g->out_fmt) ? pt_format_info(g->out_fmt)->name : "?", (double)g->beta,
                       g->defer_tail ? ", deferred" : "");
    if (!be->ops->nn || !be->ops->nn->gemm)
        return pt_fail(PT_ERR_UNSUPPORTED, "%s: operation 'gemm' is not available on this backend", be->name);
    char name[48] = "gemm";
    if (be->prof)
        snprintf(name, sizeof name, "gemm %s%s%s", pt_format_info(g->a.fmt)->name,
                 g->a.fmt != g->b.fmt ? "x" : "", g->a.fmt != g->b.fmt ? pt_format_info(g->b.fmt)->name : "");
    PROFILED(name, be->ops->nn->gemm(be, g, c));
}
pt_status pt_backend_decode(pt_backend *be, pt_format from, const void *in, float *out, size_t n,
                            const float *scale_inv)
{
    NN_CALL(decode, from, in, out, n, scale_inv);
}
pt_status pt_backend_round(pt_backend *be, pt_format f, float *x, size_t n)
{
    NN_CALL(round, f, x, n);
}
pt_status pt_backend_act_fwd(pt_backend *be, pt_act a, const float *x, float *y, size_t n)
{
    NN_CALL(act_fwd, a, x, y, n);
}
pt_status pt_backend_act_bwd(pt_backend *be, pt_act a, const float *x, const float *dy, float *dx,
                             size_t n)
{
    NN_CALL(act_bwd, a, x, dy, dx, n);
}
static bool low_format(pt_format f)
{
    return f == PT_FMT_BF16 || f == PT_FMT_FP16 || f == PT_FMT_E4M3 || f == PT_FMT_E5M2;
}
static pt_status tail_check(const char *op, const pt_gemm_tail *t, const float *x, size_t n)
{
    if (t && (t->c != x || t->cols <= 0 || n % (size_t)t->cols || (unsigned)t->fmt >= PT_FMT_COUNT))
        return pt_fail(PT_ERR_INVALID, "%s: a GEMM's tail must be on the op's input, in rows of its bias", op);
    if (t && t->packed && (t->bias || (t->fmt != PT_FMT_BF16 && t->fmt != PT_FMT_FP16)))
        return pt_fail(PT_ERR_INVALID, "%s: a packed tail holds finished bf16 or fp16 values (no bias left)", op);
    return PT_OK;
}

/* a transposed copy of the codes: fp8 only, [n / cols, cols] */
static pt_status twin_check(const char *op, pt_format f, const void *codes_t, size_t n, int cols)
{
    if (!codes_t) return PT_OK;
    if (f != PT_FMT_E4M3 && f != PT_FMT_E5M2)
        return pt_fail(PT_ERR_INVALID, "%s: a transposed copy of the codes is for fp8 (1-byte) formats, not %s", op,
                       pt_format_info(f) ? pt_format_info(f)->name : "?");
    if (cols <= 0 || n % (size_t)cols || n / (size_t)cols > INT32_MAX)
        return pt_fail(PT_ERR_INVALID, "%s: %zu values are not rows of %d columns", op, n, cols);
    return PT_OK;
}

pt_status pt_backend_act_fwd_cast(pt_backend *be, pt_act a, const float *x, float *y, size_t n, pt_format f,
                                  const float *scale, float *amax, unsigned flags, void *yc, void *yc_t, int cols,
                                  const pt_gemm_tail *tail)
{
    if (f != PT_FMT_FP32 && !low_format(f))
        return pt_fail(PT_ERR_INVALID, "act_fwd_cast: to %s (fp32: no cast; bf16, fp16 or fp8)",
                       pt_format_info(f) ? pt_format_info(f)->name : "?");
    if (!y && f == PT_FMT_FP32) return pt_fail(PT_ERR_INVALID, "act_fwd_cast: no output (y NULL and no cast)");
    pt_status st = tail_check("act_fwd_cast", tail, x, n);
    if (!st) st = twin_check("act_fwd_cast", f, yc_t, n, cols);
    if (st) return st;
    NN_CALL(act_fwd_cast, a, x, y, n, f, scale, amax, flags, yc, yc_t, cols, tail);
}
pt_status pt_backend_act_bwd_bias(pt_backend *be, pt_act a, const float *x, const float *dy, float *dx, size_t n,
                                  pt_format f, const float *scale, float *amax, unsigned flags, void *dxc,
                                  void *dxc_t, int cols, float *db, float beta, const pt_gemm_tail *x_tail,
                                  const pt_gemm_tail *dy_tail)
{
    if (f != PT_FMT_FP32 && !low_format(f))
        return pt_fail(PT_ERR_INVALID, "act_bwd_bias: to %s (fp32: no cast; bf16, fp16 or fp8)",
                       pt_format_info(f) ? pt_format_info(f)->name : "?");
    if (cols <= 0 || n % (size_t)cols)
        return pt_fail(PT_ERR_INVALID, "act_bwd_bias: %zu values are not rows of %d columns", n, cols);
    if (!dx && f == PT_FMT_FP32) return pt_fail(PT_ERR_INVALID, "act_bwd_bias: no output (dx NULL and no cast)");
    if (dx == dy && dy_tail && dy_tail->keep_raw)
        return pt_fail(PT_ERR_INVALID, "act_bwd_bias: dx is dy, which its tail keeps raw");
    pt_status st = tail_check("act_bwd_bias", x_tail, x, n);
    if (!st) st = tail_check("act_bwd_bias", dy_tail, dy, n);
    if (!st) st = twin_check("act_bwd_bias", f, dxc_t, n, cols);
    if (st) return st;
    NN_CALL(act_bwd_bias, a, x, dy, dx, n, f, scale, amax, flags, dxc, dxc_t, cols, db, beta, x_tail, dy_tail);
}
pt_status pt_backend_add(pt_backend *be, const float *a, const float *b, float *y, size_t n)
{
    NN_CALL(add, a, b, y, n);
}
pt_status pt_backend_acc(pt_backend *be, const float *a, float *y, size_t n)
{
    NN_CALL(acc, a, y, n);
}
pt_status pt_backend_bias_grad(pt_backend *be, const float *dy, float *db, int rows, int n,
                               float beta)
{
    NN_CALL(bias_grad, dy, db, rows, n, beta);
}
pt_status pt_backend_layernorm_fwd(pt_backend *be, const float *x, const float *gamma,
                                   const float *beta, float eps, pt_format fmt, float *y, float *mean,
                                   float *rstd, int rows, int c)
{
    NN_CALL(layernorm_fwd, x, gamma, beta, eps, fmt, y, mean, rstd, rows, c);
}
pt_status pt_backend_layernorm_bwd(pt_backend *be, const float *x, const float *gamma,
                                   const float *mean, const float *rstd, const float *dy,
                                   float *dx, float *dgamma, float *dbeta, int rows, int c)
{
    NN_CALL(layernorm_bwd, x, gamma, mean, rstd, dy, dx, dgamma, dbeta, rows, c);
}
pt_status pt_backend_softmax_ce(pt_backend *be, const float *logits, const int32_t *labels,
                                float *loss, float *dlogits, int rows, int c, float grad_scale)
{
    NN_CALL(softmax_ce, logits, labels, loss, dlogits, rows, c, grad_scale);
}
pt_status pt_backend_mse(pt_backend *be, const float *y, const float *t, float *loss, float *dy,
                         int rows, int c, float grad_scale)
{
    NN_CALL(mse, y, t, loss, dy, rows, c, grad_scale);
}
pt_status pt_backend_dropout(pt_backend *be, const float *x, float *y, size_t n, float p,
                             uint64_t seed, bool backward)
{
    if (!(p >= 0.0f && p < 1.0f))
        return pt_fail(PT_ERR_INVALID, "dropout: p = %g must be in [0, 1)", (double)p);
    NN_CALL(dropout, x, y, n, p, seed, backward);
}
pt_status pt_backend_fp8_scale(pt_backend *be, const pt_fp8_recipe *r, pt_format f, pt_fp8_state *s,
                               const float *amax_now, float *scale_inv, float *amax_reset)
{
    if (f != PT_FMT_E4M3 && f != PT_FMT_E5M2) return pt_fail(PT_ERR_INVALID, "fp8_scale: %s is not an fp8 format",
                                                             pt_format_info(f) ? pt_format_info(f)->name : "?");
    NN_CALL(fp8_scale, r, f, s, amax_now, scale_inv, amax_reset);
}
pt_status pt_backend_fp8_record(pt_backend *be, const pt_fp8_recipe *r, pt_format f, pt_fp8_state *s,
                                const float *amax)
{
    if (f != PT_FMT_E4M3 && f != PT_FMT_E5M2) return pt_fail(PT_ERR_INVALID, "fp8_record: %s is not an fp8 format",
                                                             pt_format_info(f) ? pt_format_info(f)->name : "?");
    NN_CALL(fp8_record, r, f, s, amax);
}
pt_status pt_backend_fp8_scale_many(pt_backend *be, const pt_fp8_entry *e, int n)
{
    if (n <= 0) return PT_OK;
    NN_CALL(fp8_scale_many, e, n);
}
pt_status pt_backend_fp8_record_many(pt_backend *be, const pt_fp8_entry *e, int n)
{
    if (n <= 0) return PT_OK;
    NN_CALL(fp8_record_many, e, n);
}
pt_status pt_backend_gather_rows(pt_backend *be, const void *src, size_t row_bytes,
                                 const int32_t *idx, int rows, void *dst)
{
    if (row_bytes % 4 || rows < 0)
        return pt_fail(PT_ERR_INVALID, "gather_rows: rows of %zu bytes (a multiple of 4 is needed), %d rows",
                       row_bytes, rows);
    if (!rows || !row_bytes) return PT_OK;
    NN_CALL(gather_rows, src, row_bytes, idx, rows, dst);
}
static pt_status conv_check(const pt_backend *be, const char *what, const pt_conv_shape *s, int o,
                            const pt_operand *a, const pt_operand *b)
{
    if (s->n < 0 || s->c < 1 || s->k < 1 || s->stride < 1 || s->pad < 0 || s->oh < 0 || s->ow < 0 || o < 1)
        return pt_fail(PT_ERR_INVALID, "%s: bad shape (n %d, c %d, k %d, stride %d, pad %d, %d output channels)",
                       what, s->n, s->c, s->k, s->stride, s->pad, o);
    if (!pt_backend_supports(be, PT_OP_CONV, a->fmt) || !pt_backend_supports(be, PT_OP_CONV, b->fmt))
        return pt_fail(PT_ERR_UNSUPPORTED, "%s: %s x %s operands are not available on %s (fp8 convolutions run as "
                       "im2col GEMMs)", what, pt_format_info(a->fmt)->name, pt_format_info(b->fmt)->name, be->name);
    return PT_OK;
}

pt_status pt_backend_conv_fwd(pt_backend *be, const pt_conv_shape *s, int o, const pt_operand *x, const pt_operand *w,
                              const float *bias, pt_format out_fmt, float *y)
{
    pt_status st = conv_check(be, "conv_fwd", s, o, x, w);
    if (st) return st;
    NN_CALL(conv_fwd, s, o, x, w, bias, out_fmt, y);
}
pt_status pt_backend_conv_bwd_data(pt_backend *be, const pt_conv_shape *s, int o, const pt_operand *dy,
                                   const pt_operand *w, pt_format out_fmt, float *dx)
{
    pt_status st = conv_check(be, "conv_bwd_data", s, o, dy, w);
    if (st) return st;
    NN_CALL(conv_bwd_data, s, o, dy, w, out_fmt, dx);
}
pt_status pt_backend_conv_bwd_filter(pt_backend *be, const pt_conv_shape *s, int o, const pt_operand *dy,
                                     const pt_operand *x, float beta, float *dw)
{
    pt_status st = conv_check(be, "conv_bwd_filter", s, o, dy, x);
    if (st) return st;
    NN_CALL(conv_bwd_filter, s, o, dy, x, beta, dw);
}
int pt_cudnn_setting(void)
{
    const char *env = getenv("PRECTUNE_CUDNN");
    return env && !strcmp(env, "0") ? 0 : env && !strcmp(env, "1") ? 1 : -1;
}

bool pt_conv_runs_direct(bool supported, double fwd_flops)
{
    int set = pt_cudnn_setting();
    return supported && set != 0 && (set == 1 || fwd_flops >= 1e9);
}

pt_status pt_backend_im2col(pt_backend *be, const pt_conv_shape *s, const float *x, float *cols)
{
    NN_CALL(im2col, s, x, cols);
}
pt_status pt_backend_col2im(pt_backend *be, const pt_conv_shape *s, const float *cols, float *dx)
{
    NN_CALL(col2im, s, cols, dx);
}
pt_status pt_backend_rows_to_nchw(pt_backend *be, const float *rows, float *nchw, int n, int c,
                                  int p, bool backward)
{
    NN_CALL(rows_to_nchw, rows, nchw, n, c, p, backward);
}
pt_status pt_backend_pool_fwd(pt_backend *be, bool max, const pt_conv_shape *s, const float *x,
                              float *y, int32_t *argmax)
{
    NN_CALL(pool_fwd, max, s, x, y, argmax);
}
pt_status pt_backend_pool_bwd(pt_backend *be, bool max, const pt_conv_shape *s, const float *x, const float *y,
                              const float *dy, const int32_t *argmax, float *dx)
{
    NN_CALL(pool_bwd, max, s, x, y, dy, argmax, dx);
}
pt_status pt_backend_unscale_check(pt_backend *be, float *g, size_t n, float inv_scale, bool write,
                                   int32_t *flags, double *sumsq)
{
    NN_CALL(unscale_check, g, n, inv_scale, write && inv_scale != 1.0f, flags, sumsq);
}
pt_status pt_backend_sum(pt_backend *be, const float *x, size_t n, double *acc)
{
    NN_CALL(sum, x, n, acc);
}
pt_status pt_backend_scale(pt_backend *be, float *x, size_t n, float s)
{
    NN_CALL(scale, x, n, s);
}
pt_status pt_backend_adamw(pt_backend *be, const pt_adamw *h, const pt_optim_gate *gate, float *w,
                           const float *g, float *m, float *v, size_t n)
{
    if (h->copy && h->copy_fmt != PT_FMT_BF16 && h->copy_fmt != PT_FMT_FP16)
        return pt_fail(PT_ERR_INVALID, "adamw: the weights' copy is in bf16 or fp16, not %s",
                       pt_format_info(h->copy_fmt) ? pt_format_info(h->copy_fmt)->name : "?");
    NN_CALL(adamw, h, gate, w, g, m, v, n);
}
pt_status pt_backend_sgd(pt_backend *be, float lr, float momentum, float weight_decay,
                         const pt_optim_gate *gate, float *w, const float *g, float *buf, size_t n)
{
    NN_CALL(sgd, lr, momentum, weight_decay, gate, w, g, buf, n);
}
