/* Loss scaling replayed step by step against the rules users know:
 * PyTorch's GradScaler (torch.amp.GradScaler docs: "if no inf/NaN
 * gradients are found for growth_interval consecutive iterations, the
 * scale is multiplied by growth_factor"; "if inf/NaN ... optimizer.step()
 * is skipped and the scale is multiplied by backoff_factor"; the growth
 * counter restarts after either), DeepSpeed's hysteresis ("delayed_shift":
 * overflows tolerated before the scale is reduced) and min_loss_scale, and
 * the death-spiral guard. */
#include <check.h>
#include <stdlib.h>

#include "check_run.h"
#include "prectune/fp8.h"
#include "prectune/scaler.h"

typedef struct expect {
    int overflow;    /* this step's gradients are non-finite */
    int skipped;     /* expected: optimizer step skipped */
    double scale;    /* expected scale for the next step */
} expect;

static void replay(pt_scaler_config cfg, const expect *e, int n)
{
    pt_scaler s;
    pt_scaler_init(&s, &cfg);
    for (int i = 0; i < n; i++) {
        pt_step_outcome o = pt_scaler_update(&s, e[i].overflow);
        ck_assert_msg((o != PT_STEP_APPLIED) == e[i].skipped, "step %d: skipped %d, expected %d", i,
                      o != PT_STEP_APPLIED, e[i].skipped);
        ck_assert_msg(pt_scaler_scale(&s) == e[i].scale, "step %d: scale %g, expected %g", i,
                      pt_scaler_scale(&s), e[i].scale);
    }
}

START_TEST(test_gradscaler_semantics)
{
    pt_scaler_config c = pt_scaler_config_default(PT_SCALE_DYNAMIC);
    c.init = 65536;
    c.growth_interval = 3;
    c.max_scale = 1e30;
    const expect e[] = {
        {0, 0, 65536},  {0, 0, 65536},  {0, 0, 131072}, /* 3 good steps: grow */
        {0, 0, 131072}, {1, 1, 65536},                  /* overflow: skip, back off, reset */
        {0, 0, 65536},  {0, 0, 65536},  {1, 1, 32768},  /* reset: 2 good steps are not enough */
        {0, 0, 32768},  {0, 0, 32768},  {0, 0, 65536},
    };
    replay(c, e, sizeof e / sizeof e[0]);
}
END_TEST

START_TEST(test_hysteresis_and_bounds)
{
    pt_scaler_config c = pt_scaler_config_default(PT_SCALE_DYNAMIC);
    c.init = 1024;
    c.growth_interval = 2;
    c.hysteresis = 2; /* DeepSpeed: the first overflow is tolerated (still skipped) */
    c.min_scale = 256;
    c.max_scale = 2048;
    const expect e[] = {
        {1, 1, 1024}, {1, 1, 512},  /* second overflow backs off */
        {1, 1, 256},  {1, 1, 256},  /* clamped at min */
        {0, 0, 256},  {0, 0, 512},  /* growth restores the allowance */
        {1, 1, 512},  {0, 0, 512}, {0, 0, 1024}, {0, 0, 1024}, {0, 0, 2048},
        {0, 0, 2048}, {0, 0, 2048}, /* clamped at max */
    };
    replay(c, e, sizeof e / sizeof e[0]);
}
END_TEST

START_TEST(test_death_spiral)
{
    pt_scaler_config c = pt_scaler_config_default(PT_SCALE_DYNAMIC);
    c.init = 4;
    c.min_scale = 1;
    c.max_stuck = 3;
    pt_scaler s;
    pt_scaler_init(&s, &c);
    ck_assert_int_eq(pt_scaler_update(&s, true), PT_STEP_SKIPPED_OVERFLOW); /* 2 */
    ck_assert_int_eq(pt_scaler_update(&s, true), PT_STEP_SKIPPED_OVERFLOW); /* 1, at floor: 1 */
    ck_assert_int_eq(pt_scaler_update(&s, true), PT_STEP_SKIPPED_OVERFLOW); /* 2 */
    ck_assert_int_eq(pt_scaler_update(&s, true), PT_STEP_DEATH_SPIRAL);     /* 3: stop */
    ck_assert(pt_scaler_scale(&s) == 1.0);
    /* a good step in between resets the guard */
    pt_scaler_init(&s, &c);
    for (int i = 0; i < 3; i++) pt_scaler_update(&s, true);
    ck_assert_int_eq(pt_scaler_update(&s, false), PT_STEP_APPLIED);
    ck_assert_int_eq(pt_scaler_update(&s, true), PT_STEP_SKIPPED_OVERFLOW);
    /* static scaling: never changes; repeated overflows stop the run */
    pt_scaler_config st = pt_scaler_config_default(PT_SCALE_STATIC);
    st.init = 128;
    st.max_stuck = 2;
    pt_scaler_init(&s, &st);
    ck_assert_int_eq(pt_scaler_update(&s, true), PT_STEP_SKIPPED_OVERFLOW);
    ck_assert_int_eq(pt_scaler_update(&s, true), PT_STEP_DEATH_SPIRAL);
    ck_assert(pt_scaler_scale(&s) == 128.0);
    /* mode none: scale 1, a non-finite gradient still skips the step */
    pt_scaler_config none = pt_scaler_config_default(PT_SCALE_NONE);
    pt_scaler_init(&s, &none);
    ck_assert(pt_scaler_scale(&s) == 1.0);
    ck_assert_int_eq(pt_scaler_update(&s, true), PT_STEP_SKIPPED_OVERFLOW);
}
END_TEST

START_TEST(test_fp8_recipes)
{
    pt_fp8_recipe r = pt_fp8_recipe_default(); /* delayed, H = 16, max, margin 0 */
    r.amax_history = 3;
    pt_fp8_state s;
    pt_fp8_state_init(&s);
    ck_assert(pt_fp8_scale(&s, &r, PT_FMT_E4M3, 0) == 1.0f); /* no history yet */
    pt_fp8_record(&s, &r, PT_FMT_E4M3, 2.0f);
    ck_assert(pt_fp8_scale(&s, &r, PT_FMT_E4M3, 0) == 224.0f); /* 448 / 2 */
    pt_fp8_record(&s, &r, PT_FMT_E4M3, 8.0f);
    ck_assert(s.saturated == 1 && s.sat_amax == 8.0f); /* 8 x 224 is past 448: the cast clamped */
    pt_fp8_record(&s, &r, PT_FMT_E4M3, 1.0f);
    ck_assert(pt_fp8_scale(&s, &r, PT_FMT_E4M3, 0) == 56.0f); /* max of {2, 8, 1} */
    pt_fp8_record(&s, &r, PT_FMT_E4M3, 1.0f);
    pt_fp8_record(&s, &r, PT_FMT_E4M3, 1.0f); /* 8 leaves the history of 3 */
    ck_assert(pt_fp8_scale(&s, &r, PT_FMT_E4M3, 0) == 448.0f);
    r.amax_max = false; /* most recent */
    pt_fp8_record(&s, &r, PT_FMT_E5M2, 4.0f);
    ck_assert(pt_fp8_scale(&s, &r, PT_FMT_E5M2, 0) == 57344.0f / 4);
    r.margin = 2;
    ck_assert(pt_fp8_scale(&s, &r, PT_FMT_E5M2, 0) == 57344.0f / 16);
    /* a zero amax keeps the scale and is counted; a tiny one is clamped */
    pt_fp8_recipe cur = {PT_FP8_CURRENT, 1, true, 0};
    pt_fp8_state z;
    pt_fp8_state_init(&z);
    ck_assert(pt_fp8_scale(&z, &cur, PT_FMT_E4M3, 4.0f) == 112.0f);
    ck_assert(pt_fp8_scale(&z, &cur, PT_FMT_E4M3, 0.0f) == 112.0f);
    ck_assert_int_eq(z.clamped, 1);
    float sc = pt_fp8_scale(&z, &cur, PT_FMT_E4M3, 1e-38f);
    ck_assert(sc == 0x1p64f && z.clamped == 2);
    /* a NaN amax is never hidden: scale kept, event counted */
    ck_assert(pt_fp8_scale(&z, &cur, PT_FMT_E4M3, __builtin_nanf("")) == 0x1p64f);
    ck_assert_int_eq(z.nan_amax, 1);
    /* ... also inside a delayed history, whatever the other entries */
    pt_fp8_state d;
    pt_fp8_state_init(&d);
    pt_fp8_recipe del = pt_fp8_recipe_default();
    pt_fp8_record(&d, &del, PT_FMT_E4M3, 3.0f);
    pt_fp8_record(&d, &del, PT_FMT_E4M3, __builtin_nanf(""));
    pt_fp8_record(&d, &del, PT_FMT_E4M3, 5.0f);
    pt_fp8_scale(&d, &del, PT_FMT_E4M3, 0);
    ck_assert_int_eq(d.nan_amax, 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scaler");
    TCase *tc = tcase_create("scaler");
    tcase_add_test(tc, test_gradscaler_semantics);
    tcase_add_test(tc, test_hysteresis_and_bounds);
    tcase_add_test(tc, test_death_spiral);
    tcase_add_test(tc, test_fp8_recipes);
    suite_add_tcase(s, tc);
    return pt_check_run(s, CK_FORK_GETENV);
}
