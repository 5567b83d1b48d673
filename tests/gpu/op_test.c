/* The op tests' helpers (op_test.h): data, guarded buffers, comparisons. */
#include "op_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

pt_backend *op_cpu, *op_gpu;
bool op_on_device;
const op_case *op_cur;
uint64_t op_rng_state;

float op_urand(void)
{
    uint64_t z = (op_rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (float)((double)((z ^ (z >> 31)) >> 11) / 9007199254740992.0) * 2 - 1;
}

/* Guard bytes before and after every buffer: 256 keeps the buffer at the
 * alignment of the allocation under it (cudaMalloc's), so that kernels
 * taking an aligned path still do. */
enum { GUARD = 256, GUARD_BYTE = 0xa5 };

typedef struct buf {
    pt_backend *be; /* NULL: host */
    unsigned char *base;
    size_t bytes;
} buf;
static buf *bufs;
static size_t nbufs, capbufs;

static void *track(pt_backend *be, unsigned char *base, size_t bytes)
{
    if (nbufs == capbufs) {
        capbufs = capbufs ? 2 * capbufs : 64;
        bufs = realloc(bufs, capbufs * sizeof *bufs);
        ck_assert_ptr_nonnull(bufs);
    }
    bufs[nbufs++] = (buf){be, base, bytes};
    return base + GUARD;
}

void *op_host(size_t bytes)
{
    unsigned char *p = malloc(bytes + 2 * GUARD);
    ck_assert_ptr_nonnull(p);
    memset(p, GUARD_BYTE, bytes + 2 * GUARD);
    return track(NULL, p, bytes);
}

void *op_host0(size_t bytes)
{
    void *p = op_host(bytes);
    memset(p, 0, bytes);
    return p;
}

float *op_rnd(size_t n, float scale)
{
    float *x = op_host(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = op_urand() * scale;
    return x;
}

void *op_dev_on(pt_backend *be, size_t bytes)
{
    void *p;
    OP_OK(pt_backend_alloc(be, bytes + 2 * GUARD, &p));
    OP_OK(pt_backend_memset(be, p, GUARD_BYTE, bytes + 2 * GUARD));
    return track(be, p, bytes);
}

void *op_dev(size_t bytes) { return op_dev_on(op_gpu, bytes); }

void *op_up(const void *h, size_t bytes)
{
    void *d = op_dev(bytes);
    OP_OK(pt_backend_upload(op_gpu, d, h, bytes));
    return d;
}

void op_down_bytes(void *h, const void *d, size_t bytes)
{
    OP_OK(pt_backend_sync(op_gpu));
    OP_OK(pt_backend_download(op_gpu, h, d, bytes));
}

float *op_down(const void *d, size_t n)
{
    float *h = op_host(n * sizeof *h);
    op_down_bytes(h, d, n * sizeof *h);
    return h;
}

void op_release(void)
{
    /* the list is emptied first: a failed guard leaves nothing to check twice */
    buf *all = bufs;
    size_t n = nbufs;
    bufs = NULL, nbufs = capbufs = 0;
    bool synced = false;
    const char *fail = NULL;
    static char msg[256];
    for (size_t i = 0; i < n && !fail; i++) {
        unsigned char g[2][GUARD];
        const unsigned char *lo = all[i].base, *hi = all[i].base + GUARD + all[i].bytes;
        if (all[i].be) {
            if (!synced) synced = pt_backend_sync(all[i].be) == PT_OK;
            if (pt_backend_download(all[i].be, g[0], lo, GUARD) != PT_OK ||
                pt_backend_download(all[i].be, g[1], hi, GUARD) != PT_OK) {
                snprintf(msg, sizeof msg, "cannot read a buffer's guards back: %s", pt_last_error());
                fail = msg;
                break;
            }
            lo = g[0], hi = g[1];
        }
        for (int k = 0; k < GUARD && !fail; k++) {
            if (lo[k] != GUARD_BYTE || hi[k] != GUARD_BYTE) {
                bool before = lo[k] != GUARD_BYTE;
                snprintf(msg, sizeof msg, "a %s buffer of %zu bytes: its guard byte %d %s written (0x%02x)",
                         all[i].be ? "backend" : "host", all[i].bytes, before ? GUARD - k : k + 1,
                         before ? "before its start" : "past its end", before ? lo[k] : hi[k]);
                fail = msg;
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (all[i].be) pt_backend_free(all[i].be, all[i].base);
        else free(all[i].base);
    }
    free(all);
    if (fail) ck_abort_msg("%s: %s", op_cur ? op_cur->name : "op", fail);
}

/* NMSE = sum (a-b)^2 / sum b^2, after checking that non-finite values sit
 * at the same places with the same signs */
void op_compare(const char *what, const float *got, const float *want, size_t n, double max_nmse)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(want[i]) || !isfinite(got[i])) {
            OP_CHECK(isnan(want[i]) == isnan(got[i]) && (isnan(want[i]) || want[i] == got[i]),
                     "%s: element %zu: tested %g, cpu %g", what, i, (double)got[i], (double)want[i]);
            continue;
        }
        num += ((double)got[i] - want[i]) * ((double)got[i] - want[i]);
        den += (double)want[i] * want[i];
    }
    double nmse = den > 0 ? num / den : num;
    OP_CHECK(nmse <= max_nmse, "%s: NMSE %.3g > %.3g", what, nmse, max_nmse);
}

void op_check_twin(const char *who, const unsigned char *codes, const unsigned char *codes_t, int rows, int cols)
{
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            OP_CHECK(codes_t[(size_t)c * rows + r] == codes[(size_t)r * cols + c],
                     "%s's transposed codes at [%d][%d]: 0x%02x, its codes 0x%02x", who, c, r,
                     codes_t[(size_t)c * rows + r], codes[(size_t)r * cols + c]);
}

void op_decode(pt_backend *be, pt_format f, const void *codes, size_t n, float *out)
{
    OP_OK(pt_backend_decode(be, f, codes, out, n, NULL));
}
