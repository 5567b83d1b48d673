/* The CPU ops that move data rather than compute on it: dropout (a mask
 * from a counter-based hash of the seed, the same both ways) and the
 * gathering of a batch's rows by index. */
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
