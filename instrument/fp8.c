/* fp8 scaling recipes (see fp8.h). */
#include "prectune/fp8.h"

#include <math.h>
#include <string.h>

/* Beyond this a scale only multiplies noise (and x * scale overflows fp32
 * for ordinary x), so a tiny amax is clamped to it. */
#define PT_FP8_MAX_SCALE 0x1p64f

pt_fp8_recipe pt_fp8_recipe_default(void)
{
    return (pt_fp8_recipe){.kind = PT_FP8_DELAYED, .amax_history = 16, .amax_max = true, .margin = 0};
}

void pt_fp8_state_init(pt_fp8_state *s)
{
    memset(s, 0, sizeof *s);
    s->scale = 1.0f;
}

static float scale_from(pt_fp8_state *s, const pt_fp8_recipe *r, pt_format f, float amax)
{
    if (isnan(amax) || isinf(amax)) {
        s->nan_amax++;
        return s->scale;
    }
    if (!(amax > 0.0f)) { /* an all-zero tensor: nothing to scale */
        s->clamped++;
        return s->scale;
    }
    double sc = pt_format_info(f)->max_finite / (double)amax / ldexp(1.0, r->margin);
    if (!(sc <= PT_FP8_MAX_SCALE)) {
        s->clamped++;
        sc = PT_FP8_MAX_SCALE;
    }
    return (float)sc;
}

float pt_fp8_scale(pt_fp8_state *s, const pt_fp8_recipe *r, pt_format f, float amax_now)
{
    if (r->kind == PT_FP8_CURRENT) {
        s->last_amax = amax_now;
        s->scale = scale_from(s, r, f, amax_now);
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
    s->scale = scale_from(s, r, f, a);
    return s->scale;
}

void pt_fp8_record(pt_fp8_state *s, const pt_fp8_recipe *r, float amax)
{
    s->last_amax = amax;
    if (r->kind != PT_FP8_DELAYED) return;
    int h = r->amax_history > 0 && r->amax_history <= PT_FP8_HISTORY_MAX ? r->amax_history : 16;
    s->history[s->pos] = amax;
    s->pos = (s->pos + 1) % h;
    if (s->filled < h) s->filled++;
}
