/* The acceptance runs of the trainer on Fashion-MNIST (the MLP of
 * examples/fmnist-mlp, 3000 steps of 128): fp32 reaches at least 88% test
 * accuracy; bf16 everywhere lands within 0.5 points of fp32; fp16 with
 * dynamic loss scaling ends with every master weight finite. Skips when
 * Debian's dataset-fashion-mnist is not installed. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "check_run.h"
#include "prectune/trainer.h"

static double run(const char *policy_path, int64_t *skipped, int64_t *nonfinite)
{
    pt_model_spec spec;
    ck_assert_msg(pt_model_spec_load(PT_SOURCE_DIR "/examples/fmnist-mlp/model.json", &spec) == PT_OK,
                  "%s", pt_last_error());
    pt_policy pol;
    ck_assert_msg(pt_policy_load(policy_path, &pol) == PT_OK, "%s", pt_last_error());
    pt_data_options o = pt_data_options_default();
    pt_data data;
    ck_assert_msg(pt_data_open("fashion-mnist", &o, &data) == PT_OK, "%s", pt_last_error());
    pt_backend *be;
    ck_assert_int_eq(pt_backend_open("cpu", &be), PT_OK);
    pt_trainer *t;
    ck_assert_msg(pt_trainer_create(be, &spec, &pol, &data, &t) == PT_OK, "%s", pt_last_error());
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int64_t i = 0; i < spec.train.steps; i++) {
        pt_step_record r;
        ck_assert_msg(pt_trainer_step(t, &r) == PT_OK, "%s", pt_last_error());
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    pt_eval_result ev;
    ck_assert_int_eq(pt_trainer_eval(t, &ev), PT_OK);
    *skipped = pt_trainer_skipped(t);
    ck_assert_int_eq(pt_trainer_nonfinite_params(t, nonfinite), PT_OK);
    printf("%-28s accuracy %.2f%%, loss %.4f, %lld skipped, %.1f s\n", policy_path + sizeof PT_SOURCE_DIR,
           100 * ev.accuracy, ev.loss, (long long)*skipped,
           (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec));
    pt_trainer_destroy(t);
    pt_backend_close(be);
    pt_data_free(&data);
    pt_policy_free(&pol);
    pt_model_spec_free(&spec);
    return ev.accuracy;
}

START_TEST(test_fmnist_mlp)
{
    int64_t skipped, nonfinite;
    double fp32 = run(PT_SOURCE_DIR "/policies/presets/fp32.json", &skipped, &nonfinite);
    ck_assert_msg(fp32 >= 0.88, "fp32 accuracy %.4f < 0.88", fp32);
    ck_assert_int_eq(nonfinite, 0);
    double bf16 = run(PT_SOURCE_DIR "/policies/presets/bf16-amp.json", &skipped, &nonfinite);
    ck_assert_msg(fabs(bf16 - fp32) <= 0.005, "bf16 %.4f vs fp32 %.4f: more than 0.5 points", bf16, fp32);
    double fp16 = run(PT_SOURCE_DIR "/policies/presets/fp16-amp.json", &skipped, &nonfinite);
    ck_assert_msg(nonfinite == 0, "fp16: %lld non-finite master weights", (long long)nonfinite);
    ck_assert_msg(fp16 >= 0.88, "fp16 accuracy %.4f", fp16);
}
END_TEST

int main(void)
{
    if (access(PT_FASHION_MNIST_DIR "/train-images-idx3-ubyte.gz", R_OK) != 0) {
        printf("SKIP test_train_fmnist: Debian's dataset-fashion-mnist is not installed\n");
        return 77;
    }
    Suite *s = suite_create("train_fmnist");
    TCase *tc = tcase_create("train_fmnist");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, test_fmnist_mlp);
    suite_add_tcase(s, tc);
    return pt_check_run(s, CK_FORK_GETENV);
}
