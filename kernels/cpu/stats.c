/* CPU reference for the statistics pass: plain, one element at a time,
 * and exact. The CUDA kernel must give identical counts and bit-identical
 * absmax / min; the gpu test compares the two on the same tensors. */
#include "prectune/stats.h"

#include <math.h>
#include <string.h>

#include "../formats_impl.h"

const pt_format pt_stats_formats[PT_SFMT_COUNT] = {
    [PT_SFMT_FP16] = PT_FMT_FP16,
    [PT_SFMT_BF16] = PT_FMT_BF16,
    [PT_SFMT_E4M3] = PT_FMT_E4M3,
    [PT_SFMT_E5M2] = PT_FMT_E5M2,
};

int pt_hist_bin(float x)
{
    uint32_t a = pt_f2u(x) & 0x7fffffffu;
    if (a == 0) return PT_HIST_ZERO;
    int e = (int)(a >> 23) - 127; /* fp32 subnormals have e = -127: below range */
    if (e < PT_HIST_MIN_EXP) return PT_HIST_BELOW;
    if (e > PT_HIST_MAX_EXP) return PT_HIST_ABOVE;
    return PT_HIST_FIRST + e - PT_HIST_MIN_EXP;
}

double pt_hist_bin_low(int bin)
{
    return ldexp(1.0, bin - PT_HIST_FIRST + PT_HIST_MIN_EXP);
}

pt_status pt_stats_req_check(const pt_stats_req *r, int index)
{
    if (r->dtype != PT_FMT_FP32 && r->dtype != PT_FMT_BF16 && r->dtype != PT_FMT_FP16)
        return pt_fail(PT_ERR_UNSUPPORTED,
                       "statistics request %d: dtype %s is not supported (expected fp32, bf16 or fp16)",
                       index, pt_format_info(r->dtype) ? pt_format_info(r->dtype)->name : "?");
    if (!(r->scale > 0.0f) || isinf(r->scale))
        return pt_fail(PT_ERR_INVALID,
                       "statistics request %d: scale %g must be finite and > 0", index,
                       (double)r->scale);
    if (r->n > 0 && !r->data)
        return pt_fail(PT_ERR_INVALID, "statistics request %d: data is NULL", index);
    return PT_OK;
}

static void stats_one(const pt_stats_req *r, pt_stats *s)
{
    float uth[PT_SFMT_COUNT], oth[PT_SFMT_COUNT];
    for (int k = 0; k < PT_SFMT_COUNT; k++) {
        uth[k] = pt_format_underflow_threshold(pt_stats_formats[k]);
        oth[k] = pt_format_overflow_threshold(pt_stats_formats[k]);
    }
    memset(s, 0, sizeof *s);
    s->count = r->n;
    s->scale = r->scale;
    uint32_t amax = 0, amin = 0xffffffffu;
    for (size_t i = 0; i < r->n; i++) {
        float x;
        switch (r->dtype) {
        case PT_FMT_BF16: x = pt_dec_bf16(((const uint16_t *)r->data)[i]); break;
        case PT_FMT_FP16: x = pt_dec_fp16(((const uint16_t *)r->data)[i]); break;
        default: x = ((const float *)r->data)[i]; break;
        }
        uint32_t u = pt_f2u(x), a = u & 0x7fffffffu;
        if (a > 0x7f800000u) { s->nan++; continue; }
        if (a > amax) amax = a;
        if (a == 0x7f800000u) {
            if (u >> 31) s->neg_inf++; else s->pos_inf++;
            if (a < amin) amin = a;
            continue;
        }
        if (a == 0) { s->zero++; s->hist[PT_HIST_ZERO]++; continue; }
        if (a < amin) amin = a;
        s->hist[pt_hist_bin(x)]++;
        float y = pt_u2f(a) * r->scale;
        for (int k = 0; k < PT_SFMT_COUNT; k++) {
            s->underflow[k] += y <= uth[k];
            s->overflow[k] += y >= oth[k];
        }
    }
    s->absmax = pt_u2f(amax);
    s->min_nonzero = amin == 0xffffffffu ? 0.0f : pt_u2f(amin);
}

pt_status pt_stats_cpu(const pt_stats_req *reqs, int n, pt_stats *out)
{
    for (int i = 0; i < n; i++) {
        pt_status st = pt_stats_req_check(&reqs[i], i);
        if (st) return st;
    }
    for (int i = 0; i < n; i++) stats_one(&reqs[i], &out[i]);
    return PT_OK;
}

void pt_stats_merge(pt_stats *a, const pt_stats *b)
{
    a->count += b->count;
    a->nan += b->nan;
    a->pos_inf += b->pos_inf;
    a->neg_inf += b->neg_inf;
    a->zero += b->zero;
    for (int k = 0; k < PT_SFMT_COUNT; k++) {
        a->underflow[k] += b->underflow[k];
        a->overflow[k] += b->overflow[k];
    }
    for (int k = 0; k < PT_HIST_BINS; k++) a->hist[k] += b->hist[k];
    if (b->absmax > a->absmax) a->absmax = b->absmax;
    if (b->min_nonzero != 0.0f && (a->min_nonzero == 0.0f || b->min_nonzero < a->min_nonzero))
        a->min_nonzero = b->min_nonzero;
}
