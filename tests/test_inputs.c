/* Bad input gives an error that names the file, the field (JSON path or
 * line) and what was expected: model specs, policies and CSV data. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_run.h"
#include "../common/rng.h"
#include "prectune/data.h"
#include "prectune/model.h"
#include "prectune/policy.h"

static void spec_error(const char *json, const char *want1, const char *want2)
{
    pt_model_spec s;
    pt_status st = pt_model_spec_parse(json, "m.json", &s);
    ck_assert_msg(st == PT_ERR_INVALID, "accepted: %s", json);
    const char *msg = pt_last_error();
    ck_assert_msg(strstr(msg, "m.json") && strstr(msg, want1) && (!want2 || strstr(msg, want2)),
                  "message '%s' lacks '%s' / '%s'", msg, want1, want2 ? want2 : "");
}

#define L(x) "{\"name\": \"m\", \"input\": [4], \"layers\": [" x "]}"

START_TEST(test_spec_errors)
{
    spec_error("{\"name\": \"m\", \"input\": [4], \"layers\": [{\"name\": \"a\", \"type\": \"linear\", \"out\": 2}], \"optimzer\": {}}",
               "optimzer", "unknown key");
    spec_error(L("{\"name\": \"a\", \"type\": \"linear\"}"), "layers[0].out", "missing");
    spec_error(L("{\"name\": \"a\", \"type\": \"linear\", \"out\": \"2\"}"), "layers[0].out", "integer");
    spec_error(L("{\"name\": \"a\", \"type\": \"linear\", \"out\": 2, \"kernel\": 3}"), "layers[0].kernel", "unknown key");
    spec_error(L("{\"name\": \"a\", \"type\": \"lstm\"}"), "layers[0].type", "linear");
    spec_error(L("{\"name\": \"a\", \"type\": \"linear\", \"out\": 3}, {\"name\": \"a\", \"type\": \"relu\"}"),
               "layers[1].name", "already");
    spec_error(L("{\"name\": \"a\", \"type\": \"linear\", \"out\": 3}, {\"name\": \"s\", \"type\": \"add\", \"inputs\": [\"a\", \"zz\"]}"),
               "layers[1]", "'zz'");
    spec_error("{\"name\": \"m\", \"input\": [1, 8, 8], \"layers\": [{\"name\": \"a\", \"type\": \"linear\", \"out\": 2}]}",
               "layers[0]", "flatten");
    spec_error("{\"name\": \"m\", \"input\": [1, 4, 4], \"layers\": [{\"name\": \"c\", \"type\": \"conv2d\", \"out\": 2, \"kernel\": 5}, {\"name\": \"f\", \"type\": \"flatten\"}]}",
               "layers[0]", "does not fit");
    spec_error(L("{\"name\": \"a\", \"type\": \"linear\", \"out\": 3}, {\"name\": \"b\", \"type\": \"linear\", \"out\": 2}, {\"name\": \"s\", \"type\": \"add\", \"inputs\": [\"a\", \"b\"]}"),
               "layers[2]", "same shape");
    spec_error("{\"name\": \"m\", \"input\": [4], \"layers\": [], \"loss\": \"hinge\"}", "loss", "mse");
    spec_error("{\"name\": \"m\", \"input\": [4], \"layers\": [{\"name\": \"a\", \"type\": \"linear\", \"out\": 2}], \"train\": {\"batch\": 0}}",
               "train.batch", "out of range");
    spec_error("{\"name\": \"m\",\n \"input\": [4],\n \"layers\": [}", "m.json:3", "invalid JSON");
    /* and a good one parses, with shapes */
    pt_model_spec s;
    ck_assert_int_eq(pt_model_spec_parse("{\"name\": \"m\", \"input\": [1, 8, 8], \"layers\": ["
                                         "{\"name\": \"c\", \"type\": \"conv2d\", \"out\": 4, \"kernel\": 3, \"padding\": 1},"
                                         "{\"name\": \"p\", \"type\": \"maxpool\", \"kernel\": 2},"
                                         "{\"name\": \"f\", \"type\": \"flatten\"},"
                                         "{\"name\": \"z\", \"type\": \"linear\", \"out\": 10}]}",
                                         "ok.json", &s),
                     PT_OK);
    ck_assert_int_eq(s.layers[1].shape[1], 4);
    ck_assert_int_eq(s.layers[2].size, 64);
    pt_model_spec_free(&s);
}
END_TEST

START_TEST(test_policy_errors)
{
    pt_policy p;
    ck_assert_int_eq(pt_policy_parse("{\"prectune_policy\": 1, \"default\": {\"fwd\": \"fp12\"}}", "p.json", &p),
                     PT_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(pt_last_error(), "p.json: default.fwd"));
    ck_assert_int_eq(pt_policy_parse("{\"default\": {}}", "p.json", &p), PT_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(pt_last_error(), "prectune_policy"));
    ck_assert_int_eq(pt_policy_parse("{\"prectune_policy\": 1, \"loss_scale\": {\"mode\": \"dynamic\", \"min\": 8, \"max\": 4}}",
                                     "p.json", &p), PT_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(pt_last_error(), "loss_scale.min"));
    ck_assert_int_eq(pt_policy_parse("{\"prectune_policy\": 1, \"layers\": {\"fc9\": {\"fwd\": \"bf16\"}}}", "p.json", &p), PT_OK);
    pt_model_spec s;
    ck_assert_int_eq(pt_model_spec_parse(L("{\"name\": \"fc1\", \"type\": \"linear\", \"out\": 2}"), "m.json", &s), PT_OK);
    ck_assert_int_eq(pt_policy_check_model(&p, &s), PT_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(pt_last_error(), "layers.fc9"));
    pt_policy_free(&p);
    ck_assert_int_eq(pt_policy_parse("{\"prectune_policy\": 1, \"default\": {\"fwd\": \"bf16\"}, \"tf32\": true,"
                                     "\"layers\": {\"fc1\": {\"fwd\": \"fp32\", \"reason\": \"r\"}}}", "p.json", &p), PT_OK);
    ck_assert_int_eq(pt_policy_check_model(&p, &s), PT_OK);
    pt_layer_formats f = pt_policy_formats(&p, "fc1");
    ck_assert_int_eq(f.fwd, PT_FMT_TF32);   /* fp32 with tf32 on */
    ck_assert_int_eq(f.dgrad, PT_FMT_FP32 == p.def.dgrad ? PT_FMT_TF32 : p.def.dgrad);
    pt_policy_free(&p);
    pt_model_spec_free(&s);
    /* lr_scale in (0, 1]; a layer's fp8_recipe only in layers; a layer norm in fp32/bf16/fp16 */
    ck_assert_int_eq(pt_policy_parse("{\"prectune_policy\": 1, \"lr_scale\": 0}", "p.json", &p), PT_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(pt_last_error(), "p.json: lr_scale"));
    ck_assert_int_eq(pt_policy_parse("{\"prectune_policy\": 1, \"lr_scale\": 2}", "p.json", &p), PT_ERR_INVALID);
    ck_assert_int_eq(pt_policy_parse("{\"prectune_policy\": 1, \"layers\": {\"fc1\": {\"fp8_recipe\": \"late\"}}}",
                                     "p.json", &p), PT_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(pt_last_error(), "p.json: layers.fc1.fp8_recipe: 'late' is not one of: delayed, current"));
    ck_assert_int_eq(pt_policy_parse("{\"prectune_policy\": 1, \"default\": {\"fp8_recipe\": \"current\"}}", "p.json", &p),
                     PT_ERR_INVALID);
    ck_assert_int_eq(pt_model_spec_parse(L("{\"name\": \"fc1\", \"type\": \"linear\", \"out\": 2},"
                                           "{\"name\": \"ln\", \"type\": \"layernorm\"}"), "m.json", &s), PT_OK);
    ck_assert_int_eq(pt_policy_parse("{\"prectune_policy\": 1, \"layers\": {\"ln\": {\"fwd\": \"fp8_e4m3\"}}}",
                                     "p.json", &p), PT_OK);
    ck_assert_int_eq(pt_policy_check_model(&p, &s), PT_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(pt_last_error(), "layers.ln.fwd: a layer norm computes in fp32, bf16 or fp16"));
    pt_policy_free(&p);
    ck_assert_int_eq(pt_policy_parse("{\"prectune_policy\": 1, \"layers\": {\"ln\": {\"fwd\": \"fp16\"}}}",
                                     "p.json", &p), PT_OK);
    ck_assert_int_eq(pt_policy_check_model(&p, &s), PT_OK);
    ck_assert_int_eq(pt_policy_norm_format(&p, "ln"), PT_FMT_FP16);
    ck_assert_int_eq(pt_policy_norm_format(&p, "fc1"), PT_FMT_FP32);
    pt_policy_free(&p);
    pt_model_spec_free(&s);
}
END_TEST

static char *write_tmp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/pt_test_%d.csv", getpid());
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static void csv_error(const char *text, const char *label, const char *want)
{
    char spec[128];
    snprintf(spec, sizeof spec, "csv:%s", write_tmp(text));
    pt_data_options o = pt_data_options_default();
    o.label = label;
    pt_data d;
    ck_assert_msg(pt_data_open(spec, &o, &d) != PT_OK, "accepted: %s", text);
    ck_assert_msg(strstr(pt_last_error(), want) && strstr(pt_last_error(), "/tmp/pt_test_"),
                  "'%s' lacks '%s'", pt_last_error(), want);
}

START_TEST(test_csv)
{
    csv_error("a,b,y\n1,2,0\n3,4\n", NULL, ":3: 2 fields, but the first row has 3");
    csv_error("a,b,y\n1,2,0\n3,x,1\n", NULL, ":3: field 2 ('x') is not a number");
    csv_error("a,b,y\n1,2,0\n", "label", "no such column");
    csv_error("", NULL, "no data rows");
    csv_error("a,b,y\n1,2,0.5\n", NULL, "is not a class");
    csv_error("1,2,0\n", "y", "no header row");
    /* a good file: header detected, label by name, standardized on train */
    char spec[128];
    snprintf(spec, sizeof spec, "csv:%s",
             write_tmp("x1,label,x2\n1,0,10\n2,1,20\n3,0,30\n4,1,40\n5,0,50\n\"6\",1,60\n7,0,70\n8,1,80\n9,0,90\n10,1,100\n"));
    pt_data_options o = pt_data_options_default();
    o.label = "label";
    pt_data d;
    ck_assert_msg(pt_data_open(spec, &o, &d) == PT_OK, "%s", pt_last_error());
    ck_assert_int_eq(d.train.n, 8);
    ck_assert_int_eq(d.test.n, 2);
    ck_assert_int_eq(d.train.dim, 2);
    ck_assert_int_eq(d.nclasses, 2);
    double mean = 0;
    for (int i = 0; i < d.train.n; i++) mean += d.train.x[i * 2];
    ck_assert(fabs(mean / d.train.n) < 1e-6); /* standardized on the training split */
    for (int i = 0; i < d.train.n; i++) /* x2 = 10 x1, label = (x1+1) % 2 survive the split */
        ck_assert(fabs(d.train.x[i * 2 + 1] - d.train.x[i * 2]) < 1e-5);
    pt_data_free(&d);
    /* the same split every time with the same seed */
    pt_data d2;
    ck_assert_int_eq(pt_data_open(spec, &o, &d2), PT_OK);
    pt_data_free(&d2);
    unlink(spec + 4);
}
END_TEST

/* random:N,DIM,CLASSES: the sizes asked for, labels in range, N(0,1)
 * features (mean and variance within 5 standard errors), the same data
 * for the same seed; malformed specs refused with the expected form */
START_TEST(test_random_data)
{
    pt_data_options o = pt_data_options_default();
    o.classification = true;
    pt_data d, e;
    ck_assert_int_eq(pt_data_open("random:4000,5,7", &o, &d), PT_OK);
    ck_assert(d.train.n == 4000 && d.train.dim == 5 && d.test.n == 500 && d.nclasses == 7);
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < 20000; i++) sum += d.train.x[i], sq += (double)d.train.x[i] * d.train.x[i];
    ck_assert(fabs(sum / 20000) < 5 * sqrt(1.0 / 20000) && fabs(sq / 20000 - 1) < 5 * sqrt(2.0 / 20000));
    for (int64_t i = 0; i < 4000; i++) ck_assert(d.train.label[i] >= 0 && d.train.label[i] < 7);
    ck_assert_int_eq(pt_data_open("random:4000,5,7", &o, &e), PT_OK);
    ck_assert(!memcmp(d.train.x, e.train.x, 20000 * sizeof(float)));
    pt_data_free(&d), pt_data_free(&e);
    /* synthetic: a linear teacher's labels, learnable: a nearest-class-mean
     * classifier fitted on the training split beats chance (1/4) on the
     * held-out one by far; on random: labels it cannot */
    for (int learnable = 0; learnable < 2; learnable++) {
        ck_assert_int_eq(pt_data_open(learnable ? "synthetic:4000,5,4" : "random:4000,5,4", &o, &d), PT_OK);
        double mean[4][5] = {{0}};
        int cnt[4] = {0};
        for (int64_t i = 0; i < d.train.n; i++) {
            cnt[d.train.label[i]]++;
            for (int k = 0; k < 5; k++) mean[d.train.label[i]][k] += d.train.x[i * 5 + k];
        }
        int right = 0;
        for (int64_t i = 0; i < d.test.n; i++) {
            int best = 0;
            double bz = -1e300;
            for (int c = 0; c < 4; c++) {
                double z = 0;
                for (int k = 0; k < 5; k++) z += mean[c][k] / (cnt[c] ? cnt[c] : 1) * d.test.x[i * 5 + k];
                if (z > bz) bz = z, best = c;
            }
            right += best == d.test.label[i];
        }
        double acc = (double)right / (double)d.test.n;
        ck_assert_msg(learnable ? acc > 0.6 : acc < 0.35, "%s: nearest-mean accuracy %.3f",
                      learnable ? "synthetic" : "random", acc);
        pt_data_free(&d);
    }
    /* counter-based: every value is Box-Muller of two draws of the split's
     * stream, wherever it was made (150,000 values: the cores share them) */
    o.seed = 3;
    ck_assert_int_eq(pt_data_open("random:30000,5,7", &o, &d), PT_OK);
    uint64_t s = 3 * 0x2545f4914f6cdd1dull + 7, f0 = pt_mix64(pt_mix64(s + 1) ^ 0x66656174ull);
    int64_t bad_values = 0;
    for (uint64_t p = 0; p < 75000; p++) {
        double u0 = ((double)(pt_mix64(f0 + (2 * p + 1) * 0x9e3779b97f4a7c15ull) >> 11) + 0.5) / 9007199254740992.0;
        double u1 = ((double)(pt_mix64(f0 + (2 * p + 2) * 0x9e3779b97f4a7c15ull) >> 11) + 0.5) / 9007199254740992.0;
        double r = sqrt(-2 * log(u0));
        bad_values += d.train.x[2 * p] != (float)(r * cos(6.283185307179586 * u1));
        bad_values += d.train.x[2 * p + 1] != (float)(r * sin(6.283185307179586 * u1));
    }
    ck_assert_int_eq(bad_values, 0);
    pt_data_free(&d);
    const char *bad[] = {"random:10,5", "random:0,5,2", "random:10,5,1", "random:10,5,2x"};
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(pt_data_open(bad[i], &o, &d), PT_ERR_INVALID);
        ck_assert_ptr_nonnull(strstr(pt_last_error(), "expected random:N,DIM,CLASSES"));
    }
}
END_TEST

START_TEST(test_idx_errors)
{
    pt_data d;
    pt_data_options o = pt_data_options_default();
    char spec[160];
    const char *p = write_tmp("not an idx file at all");
    snprintf(spec, sizeof spec, "idx:%s,%s", p, p);
    ck_assert_int_eq(pt_data_open(spec, &o, &d), PT_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(pt_last_error(), "not an IDX file"));
    ck_assert_int_eq(pt_data_open("idx:/nonexistent/a,/nonexistent/b", &o, &d), PT_ERR_IO);
    /* a message that wraps the previous one keeps it whole */
    ck_assert_int_eq(pt_fail(PT_ERR_IO, "--data x: %s (hint)", pt_last_error()), PT_ERR_IO);
    ck_assert_str_eq(pt_last_error(), "--data x: /nonexistent/a: cannot open: No such file or directory (hint)");
    ck_assert_int_eq(pt_data_open("mnist", &o, &d), PT_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(pt_last_error(), "fashion-mnist"));
    unlink(p);
    int64_t a[100], b[100];
    pt_data_permutation(100, 7, 3, a);
    pt_data_permutation(100, 7, 3, b);
    ck_assert(memcmp(a, b, sizeof a) == 0);
    pt_data_permutation(100, 7, 4, b);
    ck_assert(memcmp(a, b, sizeof a) != 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("inputs");
    TCase *tc = tcase_create("inputs");
    tcase_add_test(tc, test_spec_errors);
    tcase_add_test(tc, test_policy_errors);
    tcase_add_test(tc, test_csv);
    tcase_add_test(tc, test_idx_errors);
    tcase_add_test(tc, test_random_data);
    suite_add_tcase(s, tc);
    return pt_check_run(s, CK_FORK_GETENV);
}
