/* Opening a backend by name and the argument checks shared by every
 * backend, so that a bad call fails the same way on cpu and cuda. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backend_impl.h"

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
    if (be) be->ops->destroy(be);
}

const char *pt_backend_name(const pt_backend *be) { return be->name; }
bool pt_backend_is_device(const pt_backend *be) { return be->is_device; }

bool pt_backend_supports(const pt_backend *be, pt_op op, pt_format f)
{
    return (unsigned)op < PT_OP_COUNT && (unsigned)f < PT_FMT_COUNT && be->ops->supports(be, op, f);
}

pt_status pt_backend_alloc(pt_backend *be, size_t bytes, void **ptr)
{
    *ptr = NULL;
    return be->ops->alloc(be, bytes ? bytes : 1, ptr);
}

void pt_backend_free(pt_backend *be, void *ptr)
{
    if (ptr) be->ops->free(be, ptr);
}

pt_status pt_backend_upload(pt_backend *be, void *dst, const void *src, size_t bytes)
{
    return bytes ? be->ops->upload(be, dst, src, bytes) : PT_OK;
}

pt_status pt_backend_download(pt_backend *be, void *dst, const void *src, size_t bytes)
{
    return bytes ? be->ops->download(be, dst, src, bytes) : PT_OK;
}

pt_status pt_backend_memset(pt_backend *be, void *dst, int byte, size_t bytes)
{
    return bytes ? be->ops->memset(be, dst, byte, bytes) : PT_OK;
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
    return be->ops->stats(be, b, reqs, n);
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
    return n ? be->ops->cast(be, to, in, out, n, scale, amax, flags) : PT_OK;
}
