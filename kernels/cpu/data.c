/* The CPU ops that move data rather than compute on it: dropout (a mask
 * from a counter-based hash of the seed, the same both ways), the
 * gathering of a batch's rows by index, and the token embedding's rows of
 * a table by token id (and the backward's scatter-add). */
#include <string.h>

#include "../backend_impl.h"
#include "../../common/rng.h"
#include "cpu.h"

pt_status cpu_dropout(pt_backend *be, const float *x, float *y, size_t n, float p,
                      uint64_t seed, bool backward)
{
    (void)be;
    (void)backward; /* same mask, same scaling both ways */
    float keep_scale = 1.0f / (1.0f - p);
    uint32_t threshold = (uint32_t)((double)p * 4294967296.0);
    for (size_t i = 0; i < n; i++) {
        uint32_t r = (uint32_t)(pt_mix64(seed + 0x9e3779b97f4a7c15ull * (i + 1)) >> 32);
        y[i] = r >= threshold ? x[i] * keep_scale : 0.0f;
    }
    return PT_OK;
}
pt_status cpu_gather_rows(pt_backend *be, const void *src, size_t row_bytes, const int32_t *idx,
                          int rows, void *dst)
{
    (void)be;
    for (int r = 0; r < rows; r++)
        memcpy((char *)dst + (size_t)r * row_bytes, (const char *)src + (size_t)idx[r] * row_bytes, row_bytes);
    return PT_OK;
}

/* the token id ids[r] as a row of a table of vocab rows, or -1 */
static int token_row(const float *ids, int r, int vocab)
{
    float v = ids[r];
    return v >= 0.0f && v < (float)vocab && v == (float)(int)v ? (int)v : -1;
}

/* every id a row of the table, else the first that is not, named */
static pt_status check_ids(const float *ids, int n, int vocab)
{
    for (int r = 0; r < n; r++)
        if (token_row(ids, r, vocab) < 0)
            return pt_fail(PT_ERR_INVALID, "embedding: token %d is %g, not a token id in [0, %d)", r, (double)ids[r],
                           vocab);
    return PT_OK;
}

pt_status cpu_embedding_fwd(pt_backend *be, const float *table, const float *ids, float *y, int n, int d, int vocab)
{
    (void)be;
    pt_status st = check_ids(ids, n, vocab);
    for (int r = 0; r < n && !st; r++)
        memcpy(y + (size_t)r * d, table + (size_t)token_row(ids, r, vocab) * d, (size_t)d * sizeof(float));
    return st;
}

pt_status cpu_embedding_bwd(pt_backend *be, const float *ids, const float *dy, float *dtable, int n, int d,
                            int vocab)
{
    (void)be;
    pt_status st = check_ids(ids, n, vocab);
    for (int r = 0; r < n && !st; r++) {
        int t = token_row(ids, r, vocab);
        float *g = dtable + (size_t)t * d;
        const float *e = dy + (size_t)r * d;
        for (int j = 0; j < d; j++) g[j] += e[j];
    }
    return st;
}
