/* The CPU fp8 scaling recipe: the next scale from the amax history, and
 * the recording of an amax and overflow, one tensor at a time or many. */
#include "../backend_impl.h"
#include "../fp8_logic.h"
#include "cpu.h"

pt_status cpu_fp8_scale(pt_backend *be, const pt_fp8_recipe *r, pt_format f, pt_fp8_state *s,
                        const float *amax_now, float *scale_inv, float *amax_reset)
{
    (void)be;
    *scale_inv = 1.0f / pt_fp8_scale_logic(s, r, pt_format_info(f)->max_finite, amax_now ? *amax_now : 0.0f);
    if (amax_reset) *amax_reset = 0.0f;
    return PT_OK;
}

pt_status cpu_fp8_record(pt_backend *be, const pt_fp8_recipe *r, pt_format f, pt_fp8_state *s,
                         const float *amax)
{
    (void)be;
    pt_fp8_record_logic(s, r, pt_format_overflow_threshold(f), *amax);
    return PT_OK;
}

pt_status cpu_fp8_scale_many(pt_backend *be, const pt_fp8_entry *e, int n)
{
    (void)be;
    for (int i = 0; i < n; i++) {
        *e[i].scale_inv = 1.0f / pt_fp8_scale_logic(e[i].state, &e[i].recipe, e[i].max_finite, 0.0f);
        *e[i].amax = 0.0f;
    }
    return PT_OK;
}

pt_status cpu_fp8_record_many(pt_backend *be, const pt_fp8_entry *e, int n)
{
    (void)be;
    for (int i = 0; i < n; i++) pt_fp8_record_logic(e[i].state, &e[i].recipe, e[i].overflow, *e[i].amax);
    return PT_OK;
}
