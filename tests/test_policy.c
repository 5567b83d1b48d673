/* Policy files: written and read back field by field; the exporters'
 * outputs parsed back (DeepSpeed JSON with cJSON, the Transformer Engine
 * YAML by its structure, CSV with libcsv) and checked field by field. */
#include <check.h>
#include <cjson/cJSON.h>
#include <csv.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_run.h"
#include "prectune/export.h"
#include "prectune/policy.h"
#include "prectune/telemetry.h"
#include "prectune/tuner.h"

static const char *model_json =
    "{\"name\": \"m\", \"input\": [8], \"layers\": [{\"name\": \"fc1\", \"type\": \"linear\", \"out\": 8},"
    "{\"name\": \"a\", \"type\": \"relu\"}, {\"name\": \"fc2\", \"type\": \"linear\", \"out\": 8},"
    "{\"name\": \"head\", \"type\": \"linear\", \"out\": 3}]}";

static void make(pt_policy *p, pt_model_spec *m)
{
    ck_assert_int_eq(pt_model_spec_parse(model_json, "m.json", m), PT_OK);
    pt_policy_init_fp32(p);
    snprintf(p->model, sizeof p->model, "m");
    pt_model_fingerprint(m, p->fingerprint);
    p->parameters = pt_model_parameters(m);
    p->def = (pt_layer_formats){PT_FMT_FP16, PT_FMT_FP16, PT_FMT_FP16};
    p->nlayers = 2;
    p->layers = calloc(2, sizeof *p->layers);
    snprintf(p->layers[0].name, PT_NAME_MAX, "fc1");
    p->layers[0].f = (pt_layer_formats){PT_FMT_FP32, PT_FMT_FP32, PT_FMT_FP32};
    snprintf(p->layers[0].reason, 256, "range: \"quoted\", with a comma");
    snprintf(p->layers[1].name, PT_NAME_MAX, "fc2");
    p->layers[1].f = (pt_layer_formats){PT_FMT_E4M3, PT_FMT_E5M2, PT_FMT_E5M2};
    p->loss_scale = pt_scaler_config_default(PT_SCALE_DYNAMIC);
    p->loss_scale.init = 1024, p->loss_scale.growth_interval = 500, p->loss_scale.hysteresis = 2;
    p->loss_scale.min_scale = 2;
    p->fp8 = (pt_fp8_recipe){PT_FP8_CURRENT, 8, false, 1};
    p->layers[1].has_fp8_recipe = true, p->layers[1].fp8_recipe = PT_FP8_DELAYED;
    p->lr_scale = 0.25;
    p->validation = (pt_policy_evidence){.present = true, .device = "cuda:0 (NVIDIA H100 80GB HBM3)", .steps = 3000, .seeds = {1, 2}, .nseeds = 2,
                                         .base_loss = 0.3, .base_accuracy = 0.88, .loss = 0.302,
                                         .accuracy = 0.879, .skipped_fraction = 0.001, .crit_loss_rel = 0.005,
                                         .crit_accuracy_drop = 0.005, .crit_skipped = 0.01,
                                         .crit_noise_floor = true, .noise_present = true, .noise_loss = 0.2985,
                                         .noise_accuracy = 0.8825, .within_noise = true, .passed = true};
    p->est_speedup = 2.5, p->est_memory_saving = 0.4;
}

START_TEST(test_round_trip)
{
    pt_policy p, q;
    pt_model_spec m;
    make(&p, &m);
    char path[64];
    snprintf(path, sizeof path, "/tmp/pt_policy_%d.json", getpid());
    ck_assert_int_eq(pt_policy_write(&p, path), PT_OK);
    ck_assert_msg(pt_policy_load(path, &q) == PT_OK, "%s", pt_last_error());
    ck_assert_str_eq(q.model, "m");
    ck_assert_str_eq(q.fingerprint, p.fingerprint);
    ck_assert_int_eq(q.parameters, p.parameters);
    ck_assert(q.def.fwd == PT_FMT_FP16 && q.def.wgrad == PT_FMT_FP16);
    ck_assert_int_eq(q.nlayers, 2);
    ck_assert_str_eq(q.layers[0].name, "fc1");
    ck_assert_str_eq(q.layers[0].reason, p.layers[0].reason);
    ck_assert(q.layers[1].f.fwd == PT_FMT_E4M3 && q.layers[1].f.dgrad == PT_FMT_E5M2);
    ck_assert(q.loss_scale.mode == PT_SCALE_DYNAMIC && q.loss_scale.init == 1024);
    ck_assert(q.loss_scale.growth_interval == 500 && q.loss_scale.hysteresis == 2 && q.loss_scale.min_scale == 2);
    ck_assert(q.fp8.kind == PT_FP8_CURRENT && q.fp8.amax_history == 8 && !q.fp8.amax_max && q.fp8.margin == 1);
    ck_assert(!q.layers[0].has_fp8_recipe && q.layers[1].has_fp8_recipe && q.layers[1].fp8_recipe == PT_FP8_DELAYED);
    ck_assert(pt_policy_fp8_recipe(&q, "fc2").kind == PT_FP8_DELAYED && pt_policy_fp8_recipe(&q, "fc1").kind == PT_FP8_CURRENT);
    ck_assert(q.lr_scale == 0.25);
    ck_assert(q.validation.present && q.validation.passed && q.validation.steps == 3000);
    ck_assert(q.validation.base_accuracy == 0.88 && q.validation.skipped_fraction == 0.001);
    ck_assert(q.validation.crit_noise_floor && q.validation.noise_present && !q.validation.noise_diverged);
    ck_assert(q.validation.noise_loss == 0.2985 && q.validation.noise_accuracy == 0.8825);
    ck_assert(q.validation.within_noise);
    ck_assert_str_eq(q.validation.device, "cuda:0 (NVIDIA H100 80GB HBM3)");
    ck_assert(q.est_speedup == 2.5 && q.est_memory_saving == 0.4);
    ck_assert_int_eq(pt_policy_check_fingerprint(&q, &m, "m.json"), PT_OK);
    ck_assert_int_eq(pt_policy_check_model(&q, &m), PT_OK);
    /* the written file is the same when written again: stable, diffable */
    char *a = pt_policy_to_json(&p), *b = pt_policy_to_json(&q);
    ck_assert_str_eq(a, b);
    free(a), free(b);
    unlink(path);
    pt_policy_free(&p), pt_policy_free(&q), pt_model_spec_free(&m);
}
END_TEST

/* A language model's policy: held to its held-out loss, the file says so
 * (validation.criteria.metric) and holds no accuracy; a classifier's file
 * names no metric (as before: the final training loss); another metric
 * is refused naming its path. */
START_TEST(test_heldout_metric)
{
    pt_policy p, q;
    pt_model_spec m;
    make(&p, &m);
    char *classic = pt_policy_to_json(&p);
    ck_assert(!strstr(classic, "\"metric\"") && strstr(classic, "\"accuracy_drop\""));
    p.validation.heldout_loss = true;
    char *text = pt_policy_to_json(&p);
    ck_assert(strstr(text, "\"metric\":") && strstr(text, "\"heldout_loss\""));
    ck_assert_msg(!strstr(text, "accuracy"), "%s", text);
    ck_assert_msg(pt_policy_parse(text, "lm.json", &q) == PT_OK, "%s", pt_last_error());
    ck_assert(q.validation.heldout_loss && q.validation.loss == p.validation.loss);
    char *again = pt_policy_to_json(&q);
    ck_assert_str_eq(text, again);
    pt_policy_free(&q);
    ck_assert_int_eq(pt_policy_parse(classic, "c.json", &q), PT_OK);
    ck_assert(!q.validation.heldout_loss);
    pt_policy_free(&q);
    char *bad = strstr(text, "heldout_loss");
    memcpy(bad, "heldout_lost", 12);
    ck_assert_int_eq(pt_policy_parse(text, "lm.json", &q), PT_ERR_INVALID);
    ck_assert_msg(strstr(pt_last_error(), "lm.json") && strstr(pt_last_error(), "validation.criteria.metric"), "%s",
                  pt_last_error());
    free(classic), free(text), free(again);
    pt_policy_free(&p), pt_model_spec_free(&m);
}
END_TEST

/* The validation verdict, by hand: fp32 seed s ends at loss 0.300 and
 * 88.0% held out; the policy at 0.302 is +0.667%, beyond the 0.5%
 * criterion. fp32 seed s+1 at 0.2975 spreads 0.833% from seed s, so the
 * criterion widens to 0.833% and the policy passes within the noise; at
 * 0.2995 (0.167%) it stays 0.5% and the policy fails. */
START_TEST(test_verdict)
{
    pt_criteria c = pt_criteria_default();
    ck_assert(c.loss_rel == 0.005 && c.accuracy_drop == 0.005 && c.skipped == 0.01 && c.noise_floor);
    pt_probe_result base = {.final_loss = 0.300, .accuracy = 0.880};
    pt_probe_result pol = {.final_loss = 0.302, .accuracy = 0.879, .skipped_fraction = 0.001};
    pt_probe_result wide = {.final_loss = 0.2975, .accuracy = 0.881}, narrow = {.final_loss = 0.2995, .accuracy = 0.880};
    pt_verdict v;
    pt_judge(&c, &base, &pol, NULL, &v);
    ck_assert(fabs(v.loss_rel - 0.002 / 0.3) < 1e-12 && fabs(v.acc_drop - 0.001) < 1e-12);
    ck_assert(!v.ok_loss && v.ok_acc && v.ok_skip && v.ok_finite && !v.passed && !v.noise_measured);
    ck_assert(pt_verdict_wants_noise(&c, &v));
    pt_judge(&c, &base, &pol, &wide, &v);
    ck_assert(v.noise_measured && fabs(v.noise_loss_rel - 0.0025 / 0.3) < 1e-12 && fabs(v.noise_acc - 0.001) < 1e-12);
    ck_assert(fabs(v.tol_loss - 0.0025 / 0.3) < 1e-12 && v.tol_acc == 0.005);
    ck_assert(v.ok_loss && v.passed && v.within_noise && !pt_verdict_wants_noise(&c, &v));
    pt_judge(&c, &base, &pol, &narrow, &v);
    ck_assert(v.tol_loss == 0.005 && !v.ok_loss && !v.passed && !v.within_noise);
    ck_assert(!pt_verdict_wants_noise(&c, &v)); /* measured already */
    /* --no-noise-floor: the spread is reported, the criteria hold */
    pt_criteria strict = c;
    strict.noise_floor = false;
    pt_judge(&strict, &base, &pol, NULL, &v);
    ck_assert(!v.passed && !pt_verdict_wants_noise(&strict, &v));
    pt_judge(&strict, &base, &pol, &wide, &v);
    ck_assert(v.noise_measured && v.tol_loss == 0.005 && !v.passed);
    /* accuracy: a 0.8-point drop passes within a 1-point fp32 spread */
    pt_probe_result acc = {.final_loss = 0.300, .accuracy = 0.872}, acc_noise = {.final_loss = 0.3001, .accuracy = 0.890};
    pt_judge(&c, &base, &acc, NULL, &v);
    ck_assert(v.ok_loss && !v.ok_acc && pt_verdict_wants_noise(&c, &v));
    pt_judge(&c, &base, &acc, &acc_noise, &v);
    ck_assert(fabs(v.tol_acc - 0.010) < 1e-12 && v.passed && v.within_noise);
    /* never noise: a divergence, a non-finite weight, a skip storm */
    pt_probe_result div = pol, nf = pol, skip = pol;
    div.diverged = true, div.final_loss = INFINITY;
    nf.nonfinite = 3;
    skip.skipped_fraction = 0.02;
    pt_judge(&c, &base, &div, NULL, &v);
    ck_assert(!v.passed && !v.ok_finite && !pt_verdict_wants_noise(&c, &v));
    pt_judge(&c, &base, &nf, NULL, &v);
    ck_assert(!v.passed && !pt_verdict_wants_noise(&c, &v));
    pt_judge(&c, &base, &skip, NULL, &v);
    ck_assert(!v.passed && !v.ok_skip && !pt_verdict_wants_noise(&c, &v));
    pt_judge(&c, &base, &skip, &wide, &v);
    ck_assert(!v.passed); /* widened loss, but the skips still fail */
    /* an fp32 run that diverged with the other seed sets no floor */
    pt_probe_result gone = {.final_loss = INFINITY, .diverged = true};
    pt_judge(&c, &base, &pol, &gone, &v);
    ck_assert(v.noise_measured && isnan(v.noise_loss_rel) && v.tol_loss == 0.005 && !v.passed);
    /* a spread ten times the criteria or more: fp32 does not reproduce itself */
    ck_assert(!pt_noise_dominates(&c, 0.0025 / 0.3, 0.001));
    ck_assert(pt_noise_dominates(&c, 0.05, 0.0) && pt_noise_dominates(&c, 0.0, 0.05));
    ck_assert(!pt_noise_dominates(&c, 0.0499, 0.0499));
    pt_criteria zero = c;
    zero.loss_rel = zero.accuracy_drop = 0; /* zero criteria: any spread is "ten times" them; not a warning */
    ck_assert(!pt_noise_dominates(&zero, 0.5, 0.5));
    /* no held-out accuracy (regression): accuracy never counts */
    pt_probe_result rb = {.final_loss = 2.0, .accuracy = NAN}, rp = {.final_loss = 1.99, .accuracy = NAN};
    pt_judge(&c, &rb, &rp, NULL, &v);
    ck_assert(v.passed && v.acc_drop == 0 && v.loss_rel < 0);
}
END_TEST

static char *export_text(const pt_policy *p, const pt_model_spec *m, const char *to)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_int_eq(pt_policy_export(p, m, to, f), PT_OK);
    fclose(f);
    return buf;
}

typedef struct cells { char v[16][6][300]; int row, col; } cells;
static void cb_field(void *s, size_t n, void *ctx)
{
    cells *c = ctx;
    if (c->row < 16 && c->col < 6) snprintf(c->v[c->row][c->col], 300, "%.*s", (int)n, (const char *)s);
    c->col++;
}
static void cb_row(int t, void *ctx) { (void)t; cells *c = ctx; c->row++, c->col = 0; }

START_TEST(test_exporters)
{
    pt_policy p;
    pt_model_spec m;
    make(&p, &m);
    /* DeepSpeed: fp16 block with the loss-scale settings */
    char *ds = export_text(&p, &m, "deepspeed");
    cJSON *j = cJSON_Parse(ds);
    ck_assert_ptr_nonnull(j);
    cJSON *fp16 = cJSON_GetObjectItem(j, "fp16");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(fp16, "enabled")));
    ck_assert(cJSON_GetObjectItem(fp16, "loss_scale")->valuedouble == 0); /* dynamic */
    ck_assert(cJSON_GetObjectItem(fp16, "initial_scale_power")->valuedouble == 10);
    ck_assert(cJSON_GetObjectItem(fp16, "loss_scale_window")->valuedouble == 500);
    ck_assert(cJSON_GetObjectItem(fp16, "hysteresis")->valuedouble == 2);
    ck_assert(cJSON_GetObjectItem(fp16, "min_loss_scale")->valuedouble == 2);
    cJSON_Delete(j);
    free(ds);
    /* TE debug YAML: one section disabling fp8 for the layers kept out of it */
    char *te = export_text(&p, &m, "te-debug");
    ck_assert_ptr_nonnull(strstr(te, "\nprectune_disable_fp8:\n  enabled: True\n  layers:\n    layer_name_regex_pattern: \"(?:.*\\\\.)?(?:fc1|head)\\\\Z\"\n"
                                     "  transformer_engine:\n    DisableFP8Layer:\n      enabled: True\n"));
    free(te);
    /* torch: GradScaler arguments and the fp32 layers */
    char *py = export_text(&p, &m, "torch");
    ck_assert_ptr_nonnull(strstr(py, "AUTOCAST_DTYPE = torch.float16"));
    ck_assert_ptr_nonnull(strstr(py, "FP32_LAYERS = set([\"fc1\"])"));
    ck_assert_ptr_nonnull(strstr(py, "init_scale=1024, growth_factor=2,"));
    ck_assert_ptr_nonnull(strstr(py, "growth_interval=500)"));
    free(py);
    /* CSV, parsed back with libcsv */
    char *csv = export_text(&p, &m, "csv");
    struct csv_parser cp;
    csv_init(&cp, 0);
    cells c;
    memset(&c, 0, sizeof c);
    csv_parse(&cp, csv, strlen(csv), cb_field, cb_row, &c);
    csv_fini(&cp, cb_field, cb_row, &c);
    csv_free(&cp);
    ck_assert_int_eq(c.row, 4);
    ck_assert_str_eq(c.v[0][5], "reason");
    ck_assert_str_eq(c.v[1][0], "fc1");
    ck_assert_str_eq(c.v[1][2], "fp32");
    ck_assert_str_eq(c.v[1][5], "range: \"quoted\", with a comma");
    ck_assert_str_eq(c.v[2][2], "fp8_e4m3");
    ck_assert_str_eq(c.v[2][3], "fp8_e5m2");
    ck_assert_str_eq(c.v[3][0], "head");
    ck_assert_str_eq(c.v[3][2], "fp16");
    free(csv);
    pt_policy_free(&p), pt_model_spec_free(&m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("policy");
    TCase *tc = tcase_create("policy");
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_heldout_metric);
    tcase_add_test(tc, test_exporters);
    tcase_add_test(tc, test_verdict);
    suite_add_tcase(s, tc);
    return pt_check_run(s, CK_FORK_GETENV);
}
