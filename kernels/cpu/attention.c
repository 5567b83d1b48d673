/* The CPU ops of attention that are not GEMMs: the layout of q, k and v
 * by head (so that each head's products are plain GEMMs), and the row
 * softmax with its causal mask, forward and backward, in fp32 with fp64
 * sums. */
#include <math.h>
#include <string.h>

#include "../backend_impl.h"
#include "../formats_impl.h"
#include "cpu.h"

pt_status cpu_heads(pt_backend *be, const float *src, float *dst, int rows, int t, int g, int h, int hd,
                    bool backward)
{
    (void)be;
    for (int b = 0; b < rows; b++)
        for (int p = 0; p < t; p++)
            for (int k = 0; k < g; k++)
                for (int j = 0; j < h; j++) {
                    size_t tok = ((((size_t)b * t + p) * g + k) * h + j) * hd;
                    size_t head = ((((size_t)k * rows + b) * h + j) * t + p) * hd;
                    if (backward) memcpy(dst + tok, src + head, (size_t)hd * sizeof(float));
                    else memcpy(dst + head, src + tok, (size_t)hd * sizeof(float));
                }
    return PT_OK;
}

pt_status cpu_softmax(pt_backend *be, const float *x, float *y, int rows, int c, bool causal, pt_format fmt)
{
    (void)be;
    bool r = fmt != PT_FMT_FP32;
#define RND(v) (r ? pt_round(fmt, (v), 0) : (v))
    for (int i = 0; i < rows; i++) {
        const float *xi = x + (size_t)i * c;
        float *yi = y + (size_t)i * c;
        int n = causal ? i % c + 1 : c; /* the columns this row sees */
        float mx = RND(xi[0]);
        for (int j = 1; j < n; j++) mx = RND(xi[j]) > mx ? RND(xi[j]) : mx;
        double se = 0;
        for (int j = 0; j < n; j++) se += exp((double)(RND(xi[j]) - mx));
        for (int j = 0; j < n; j++) yi[j] = RND((float)(exp((double)(RND(xi[j]) - mx)) / se));
        for (int j = n; j < c; j++) yi[j] = 0.0f;
    }
#undef RND
    return PT_OK;
}

pt_status cpu_softmax_bwd(pt_backend *be, const float *y, const float *dy, float *dx, int rows, int c)
{
    (void)be;
    for (int i = 0; i < rows; i++) {
        const float *yi = y + (size_t)i * c, *gi = dy + (size_t)i * c;
        double dot = 0;
        for (int j = 0; j < c; j++) dot += (double)yi[j] * gi[j];
        for (int j = 0; j < c; j++) dx[(size_t)i * c + j] = yi[j] * (gi[j] - (float)dot);
    }
    return PT_OK;
}
