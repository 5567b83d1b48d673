/* Optimizers against hand-computed PyTorch formulas, and the schedule's
 * behaviour around skipped steps (a skipped step must not shift the
 * learning-rate schedule), SGD and gradient accumulation in a real run. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_run.h"
#include "prectune/trainer.h"
#include "kernels/ops.h"

START_TEST(test_adamw_sgd_formulas)
{
    pt_backend *be;
    ck_assert_int_eq(pt_backend_open("cpu", &be), PT_OK);
    float w[2] = {1.0f, -2.0f}, g[2] = {0.5f, -0.25f}, m[2] = {0}, v[2] = {0};
    pt_adamw h = {0.1f, 0.9f, 0.999f, 1e-8f, 0.01f, 1, NULL, PT_FMT_FP32};
    ck_assert_int_eq(pt_backend_adamw(be, &h, NULL, w, g, m, v, 2), PT_OK);
    /* torch.optim.AdamW step 1: w *= 1 - lr*wd; m = 0.1 g; v = 0.001 g^2;
     * w -= lr/(1-0.9) * m / (sqrt(v)/sqrt(1-0.999) + eps) = w - lr*sign(g) (nearly) */
    for (int i = 0; i < 2; i++) {
        double w0 = i ? -2.0 : 1.0, gi = g[i];
        double wd = w0 * (1 - 0.1 * 0.01);
        double mm = 0.1 * gi, vv = 0.001 * gi * gi;
        double want = wd - (0.1 / 0.1) * mm / (sqrt(vv) / sqrt(0.001) + 1e-8);
        ck_assert_msg(fabs(w[i] - want) < 1e-6, "adamw w[%d] = %.8f, want %.8f", i, w[i], want);
    }
    float ws[1] = {1.0f}, gs[1] = {0.5f}, buf[1] = {0};
    ck_assert_int_eq(pt_backend_sgd(be, 0.1f, 0.9f, 0.1f, NULL, ws, gs, buf, 1), PT_OK);
    /* d = g + wd*w = 0.6; buf = 0.6; w = 1 - 0.06 = 0.94 */
    ck_assert(fabsf(ws[0] - 0.94f) < 1e-6f);
    ck_assert_int_eq(pt_backend_sgd(be, 0.1f, 0.9f, 0.1f, NULL, ws, gs, buf, 1), PT_OK);
    /* d = 0.5 + 0.094 = 0.594; buf = 0.54 + 0.594 = 1.134; w = 0.94 - 0.1134 */
    ck_assert(fabsf(ws[0] - (0.94f - 0.1134f)) < 1e-6f);
    pt_backend_close(be);
}
END_TEST

/* One optimizer state, twice (1 and 2), kept equal bit for bit by the
 * gate test: the same step taken gated on 1 and ungated on 2. */
enum { GN = 5 };
typedef struct twin {
    float w[GN], m[GN], v[GN], w2[GN], m2[GN], v2[GN];
} twin;

/* AdamW (opt 0) or SGD (opt 1) on state 1 through the gate with gradients
 * g1, and on state 2 ungated with g2; then the two must be equal. */
static void step_twin(pt_backend *be, int opt, const pt_adamw *h, const pt_optim_gate *gate, const float *g1,
                      const float *g2, twin *t)
{
    if (opt == 0) {
        ck_assert_int_eq(pt_backend_adamw(be, h, gate, t->w, g1, t->m, t->v, GN), PT_OK);
        ck_assert_int_eq(pt_backend_adamw(be, h, NULL, t->w2, g2, t->m2, t->v2, GN), PT_OK);
    } else {
        ck_assert_int_eq(pt_backend_sgd(be, 0.1f, 0.9f, 0.01f, gate, t->w, g1, t->m, GN), PT_OK);
        ck_assert_int_eq(pt_backend_sgd(be, 0.1f, 0.9f, 0.01f, NULL, t->w2, g2, t->m2, GN), PT_OK);
    }
    ck_assert(!memcmp(t->w, t->w2, sizeof t->w) && !memcmp(t->m, t->m2, sizeof t->m) &&
              !memcmp(t->v, t->v2, sizeof t->v));
}

/* The optimizer's gate: a found flag skips the step (nothing moves);
 * clipping is the same, bit for bit, as scaling the gradients by
 * clip / (norm + 1e-6) first and stepping ungated; unscaling as it reads,
 * the same as unscaling first; a norm under the clip leaves the
 * gradients as they are. */
START_TEST(test_optim_gate)
{
    pt_backend *be;
    ck_assert_int_eq(pt_backend_open("cpu", &be), PT_OK);
    enum { N = GN };
    const float g0[N] = {3.0f, -4.0f, 0.125f, 1e-3f, -7.5f};
    double sumsq = 0;
    for (int i = 0; i < N; i++) sumsq += (double)g0[i] * g0[i];
    pt_adamw h = {0.01f, 0.9f, 0.999f, 1e-8f, 0.01f, 4, NULL, PT_FMT_FP32};
    for (int opt = 0; opt < 2; opt++) {
        twin t;
        for (int i = 0; i < N; i++)
            t.w[i] = t.w2[i] = 0.5f * (float)i - 1, t.m[i] = t.m2[i] = 0.01f * (float)i, t.v[i] = t.v2[i] = 1e-4f;
        int32_t found = 1;
        pt_optim_gate skip = {&found, &sumsq, 1.0, 0.0f};
        if (opt == 0) ck_assert_int_eq(pt_backend_adamw(be, &h, &skip, t.w, g0, t.m, t.v, N), PT_OK);
        else ck_assert_int_eq(pt_backend_sgd(be, 0.1f, 0.9f, 0.01f, &skip, t.w, g0, t.m, N), PT_OK);
        ck_assert(!memcmp(t.w, t.w2, sizeof t.w) && !memcmp(t.m, t.m2, sizeof t.m) && !memcmp(t.v, t.v2, sizeof t.v));
        found = 0;
        float g[N], gs64[N];
        memcpy(g, g0, sizeof g);
        ck_assert_int_eq(pt_backend_scale(be, g, N, (float)(1.0 / (sqrt(sumsq) + 1e-6))), PT_OK);
        pt_optim_gate clip = {&found, &sumsq, 1.0, 0.0f}; /* the norm is 9.35: clipped */
        step_twin(be, opt, &h, &clip, g0, g, &t);
        /* the check left the gradients scaled by 64: unscaled, then clipped */
        for (int i = 0; i < N; i++) gs64[i] = g0[i] * 64.0f;
        pt_optim_gate unscale = {&found, &sumsq, 1.0, 1.0f / 64};
        step_twin(be, opt, &h, &unscale, gs64, g, &t);
        pt_optim_gate loose = {&found, &sumsq, 100.0, 0.0f}; /* under the clip: as ungated */
        step_twin(be, opt, &h, &loose, g0, g0, &t);
    }
    /* the weights' 16-bit copy written with the update is the cast op's */
    for (int f = PT_FMT_BF16; f <= PT_FMT_FP16; f++) {
        float w[N], m[N] = {0}, v[N] = {0};
        for (int i = 0; i < N; i++) w[i] = 1.0f / (float)(i + 3) - 0.1f;
        uint16_t copy[N], cast[N];
        pt_adamw hc = h;
        hc.copy = copy, hc.copy_fmt = (pt_format)f;
        ck_assert_int_eq(pt_backend_adamw(be, &hc, NULL, w, g0, m, v, N), PT_OK);
        ck_assert_int_eq(pt_backend_cast(be, (pt_format)f, w, cast, N, NULL, NULL, 0), PT_OK);
        ck_assert(!memcmp(copy, cast, sizeof copy));
    }
    pt_adamw bad = h;
    bad.copy = &bad, bad.copy_fmt = PT_FMT_E4M3;
    float w1 = 1, g1 = 1, m1 = 0, v1 = 0;
    ck_assert_int_eq(pt_backend_adamw(be, &bad, NULL, &w1, &g1, &m1, &v1, 1), PT_ERR_INVALID);
    pt_backend_close(be);
}
END_TEST

static char csv_path[64];

static void make_csv(void)
{
    snprintf(csv_path, sizeof csv_path, "/tmp/pt_optim_%d.csv", getpid());
    FILE *f = fopen(csv_path, "w");
    uint64_t s = 3;
    for (int i = 0; i < 600; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        double a = (double)(s >> 40) / 16777216.0 - 0.5, b = (double)((s >> 16) & 0xffffff) / 16777216.0 - 0.5;
        fprintf(f, "%.6f,%.6f,%d\n", a, b, a + b > 0);
    }
    fclose(f);
}

static pt_trainer *make(const char *model_json, const char *policy_json, pt_model_spec *spec,
                        pt_policy *pol, pt_data *data, pt_backend **be)
{
    ck_assert_msg(pt_model_spec_parse(model_json, "model", spec) == PT_OK, "%s", pt_last_error());
    ck_assert_msg(pt_policy_parse(policy_json, "policy", pol) == PT_OK, "%s", pt_last_error());
    pt_data_options o = pt_data_options_default();
    char spec_s[96];
    snprintf(spec_s, sizeof spec_s, "csv:%s", csv_path);
    ck_assert_msg(pt_data_open(spec_s, &o, data) == PT_OK, "%s", pt_last_error());
    ck_assert_int_eq(pt_backend_open("cpu", be), PT_OK);
    pt_trainer *t;
    ck_assert_msg(pt_trainer_create(*be, spec, pol, data, &t) == PT_OK, "%s", pt_last_error());
    return t;
}

#define MODEL(TRAIN, OPT)                                                                         \
    "{\"name\": \"tiny\", \"input\": [2], \"layers\": [{\"name\": \"fc\", \"type\": \"linear\", " \
    "\"out\": 8}, {\"name\": \"a\", \"type\": \"gelu\"}, {\"name\": \"head\", \"type\": "          \
    "\"linear\", \"out\": 2}], \"optimizer\": " OPT ", \"train\": " TRAIN "}"

START_TEST(test_skipped_steps_keep_the_schedule)
{
    make_csv();
    pt_model_spec spec;
    pt_policy pol;
    pt_data data;
    pt_backend *be;
    /* fp16 with an absurd initial scale: the first steps overflow and are
     * skipped while the scale backs off */
    pt_trainer *t = make(MODEL("{\"batch\": 16, \"steps\": 400, \"warmup\": 10}",
                               "{\"type\": \"adamw\", \"lr\": 0.01}"),
                         "{\"prectune_policy\": 1, \"default\": {\"fwd\": \"fp16\", \"dgrad\": "
                         "\"fp16\", \"wgrad\": \"fp16\"}, \"loss_scale\": {\"mode\": \"dynamic\", "
                         "\"init\": 1e30, \"max\": 1e30, \"max_stuck\": 0}}",
                         &spec, &pol, &data, &be);
    pt_step_record r;
    int skipped = 0;
    do {
        ck_assert_int_eq(pt_trainer_step(t, &r), PT_OK);
        if (r.skipped) {
            ck_assert_str_eq(r.skip_reason, "non-finite gradient");
            ck_assert(r.lr == 0.0);
            skipped++;
        }
    } while (r.skipped);
    ck_assert_int_gt(skipped, 50);
    /* the first applied step is step 0 of the warm-up: lr / 10 */
    ck_assert_msg(fabs(r.lr - 0.001) < 1e-9, "first applied lr %g after %d skips", r.lr, skipped);
    ck_assert_int_eq(pt_trainer_skipped(t), skipped);
    pt_trainer_destroy(t);
    pt_backend_close(be);
    pt_data_free(&data);
    pt_policy_free(&pol);
    pt_model_spec_free(&spec);
}
END_TEST

START_TEST(test_sgd_accumulation_cosine)
{
    pt_model_spec spec;
    pt_policy pol;
    pt_data data;
    pt_backend *be;
    pt_trainer *t = make(MODEL("{\"batch\": 16, \"steps\": 300, \"accumulate\": 2, "
                               "\"schedule\": \"cosine\", \"min_lr_ratio\": 0.1}",
                               "{\"type\": \"sgd\", \"lr\": 0.2, \"momentum\": 0.9}"),
                         "{\"prectune_policy\": 1}", &spec, &pol, &data, &be);
    pt_step_record r, first;
    for (int i = 0; i < 300; i++) {
        ck_assert_int_eq(pt_trainer_step(t, &r), PT_OK);
        if (i == 0) first = r;
    }
    ck_assert(fabs(first.lr - 0.2) < 1e-7);          /* no warm-up: full lr */
    ck_assert(fabs(r.lr - 0.02) < 1e-3);             /* cosine to 0.1 x lr */
    ck_assert_msg(r.loss < 0.5 * first.loss, "loss %g -> %g", first.loss, r.loss);
    pt_eval_result ev;
    ck_assert_int_eq(pt_trainer_eval(t, &ev), PT_OK);
    ck_assert_msg(ev.accuracy > 0.9, "accuracy %g", ev.accuracy);
    pt_trainer_destroy(t);
    pt_backend_close(be);
    pt_data_free(&data);
    pt_policy_free(&pol);
    pt_model_spec_free(&spec);
    unlink(csv_path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("optim");
    TCase *tc = tcase_create("optim");
    tcase_add_test(tc, test_adamw_sgd_formulas);
    tcase_add_test(tc, test_optim_gate);
    tcase_add_test(tc, test_skipped_steps_keep_the_schedule);
    tcase_add_test(tc, test_sgd_accumulation_cosine);
    suite_add_tcase(s, tc);
    return pt_check_run(s, CK_NOFORK); /* the tests share the CSV file */
}
