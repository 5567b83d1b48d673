/* Opening a backend by name and the argument checks shared by every
 * backend, so that a bad call fails the same way on cpu and cuda. */
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "backend_impl.h"
#include "../common/clock.h"

/* With the op profile on, every op is bracketed by a sync of the backend
 * and timed on the host, so that each op's share of a step can be read
 * off (the syncs add the launch latency of each op: the total is a bit
 * above an unprofiled step). */

double pt_prof_begin(pt_backend *be)
{
    if (!be->prof) return 0;
    be->ops->sync(be);
    return 1e3 * pt_now_s();
}

void pt_prof_end(pt_backend *be, const char *op, double t0)
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
    PT_PROFILED(be, "download", be->ops->download_async(be, dst, src, bytes));
}

pt_status pt_backend_wait_copies(pt_backend *be) { return be->ops->wait_copies(be); }

pt_status pt_backend_upload(pt_backend *be, void *dst, const void *src, size_t bytes)
{
    if (!bytes) return PT_OK;
    PT_PROFILED(be, "upload", be->ops->upload(be, dst, src, bytes));
}

pt_status pt_backend_download(pt_backend *be, void *dst, const void *src, size_t bytes)
{
    if (!bytes) return PT_OK;
    PT_PROFILED(be, "download", be->ops->download(be, dst, src, bytes));
}

pt_status pt_backend_memset(pt_backend *be, void *dst, int byte, size_t bytes)
{
    if (!bytes) return PT_OK;
    PT_PROFILED(be, "memset", be->ops->memset(be, dst, byte, bytes));
}

pt_status pt_backend_copy(pt_backend *be, void *dst, const void *src, size_t bytes)
{
    if (!bytes || dst == src) return PT_OK;
    PT_PROFILED(be, "copy", be->ops->copy(be, dst, src, bytes));
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
    PT_PROFILED(be, "stats", be->ops->stats(be, b, reqs, n));
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
    PT_PROFILED(be, name, be->ops->cast(be, to, in, out, n, scale, amax, flags));
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
    PT_PROFILED(be, name, be->ops->nn->cast_t(be, to, in, rows, cols, out, out_t, scale, amax, flags));
}

pt_status pt_backend_decode(pt_backend *be, pt_format from, const void *in, float *out, size_t n,
                            const float *scale_inv)
{
    PT_NN_CALL(be, decode, from, in, out, n, scale_inv);
}
