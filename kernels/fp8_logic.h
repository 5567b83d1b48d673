/* The fp8 scaling recipes' arithmetic (see prectune/fp8.h), shared by the
 * host (instrument/fp8.c, the CPU backend) and the CUDA backend's
 * one-thread kernels, so that a run's scales are the same bit for bit
 * wherever its recipe runs. fmax is the format's largest finite value;
 * overflow the smallest |x| that overflows it (pt_format_overflow_threshold). */
#ifndef PT_FP8_LOGIC_H
#define PT_FP8_LOGIC_H

#include <math.h>

#include "prectune/fp8.h"

#include "../common/hd.h"

/* Beyond this a scale only multiplies noise (and x * scale overflows fp32
 * for ordinary x), so a tiny amax is clamped to it. */
#define PT_FP8_MAX_SCALE 0x1p64f

static inline PT_HD float pt_fp8_scale_from(pt_fp8_state *s, const pt_fp8_recipe *r, double fmax, float amax)
{
    if (isnan(amax) || isinf(amax)) {
        s->nan_amax++;
        return s->scale;
    }
    if (!(amax > 0.0f)) { /* an all-zero tensor: nothing to scale */
        s->clamped++;
        return s->scale;
    }
    double sc = fmax / (double)amax / ldexp(1.0, r->margin);
    if (!(sc <= PT_FP8_MAX_SCALE)) {
        s->clamped++;
        sc = PT_FP8_MAX_SCALE;
    }
    return (float)sc;
}

static inline PT_HD float pt_fp8_scale_logic(pt_fp8_state *s, const pt_fp8_recipe *r, double fmax, float amax_now)
{
    if (r->kind == PT_FP8_CURRENT) {
        s->last_amax = amax_now;
        s->scale = pt_fp8_scale_from(s, r, fmax, amax_now);
        return s->scale;
    }
    if (s->filled == 0) return s->scale; /* no history yet: the initial scale */
    float a;
    if (r->amax_max) {
        a = 0.0f;
        for (int i = 0; i < s->filled; i++) a = isnan(s->history[i]) || s->history[i] > a ? s->history[i] : a;
    } else {
        a = s->history[(s->pos + r->amax_history - 1) % r->amax_history];
    }
    s->scale = pt_fp8_scale_from(s, r, fmax, a);
    return s->scale;
}

/* After the cast with s->scale produced `amax`: the delayed recipe's
 * history, and whether the cast clamped (the amax past what the scale
 * holds: the history was stale). */
static inline PT_HD void pt_fp8_record_logic(pt_fp8_state *s, const pt_fp8_recipe *r, float overflow, float amax)
{
    s->last_amax = amax;
    if (r->kind != PT_FP8_DELAYED) return;
    if (amax * s->scale >= overflow) {
        s->saturated++;
        s->sat_amax = amax;
    }
    int h = r->amax_history > 0 && r->amax_history <= PT_FP8_HISTORY_MAX ? r->amax_history : 16;
    s->history[s->pos] = amax;
    s->pos = (s->pos + 1) % h;
    if (s->filled < h) s->filled++;
}

#endif
