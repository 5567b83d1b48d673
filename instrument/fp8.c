/* fp8 scaling recipes (see fp8.h). */
#include "prectune/fp8.h"

#include <string.h>

#include "../kernels/fp8_logic.h"

pt_fp8_recipe pt_fp8_recipe_default(void)
{
    return (pt_fp8_recipe){.kind = PT_FP8_DELAYED, .amax_history = 16, .amax_max = true, .margin = 0};
}

void pt_fp8_state_init(pt_fp8_state *s)
{
    memset(s, 0, sizeof *s);
    s->scale = 1.0f;
}

float pt_fp8_scale(pt_fp8_state *s, const pt_fp8_recipe *r, pt_format f, float amax_now)
{
    return pt_fp8_scale_logic(s, r, pt_format_info(f)->max_finite, amax_now);
}

void pt_fp8_record(pt_fp8_state *s, const pt_fp8_recipe *r, pt_format f, float amax)
{
    pt_fp8_record_logic(s, r, pt_format_overflow_threshold(f), amax);
}
