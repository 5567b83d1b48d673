/* The training step of the Fashion-MNIST MLP (784-512-512-10, GELU, batch
 * 128, AdamW) on the CPU backend, fp32 and emulated bf16, against
 * PyTorch's CPU step measured in the same run (bench/torch_cpu_step.py
 * through Debian's python3-torch).
 * Targets (issue 4): our fp32 step no slower than PyTorch's; our emulated
 * bf16 step at most 1.5x our fp32 step.
 * usage: bench_cpu_step [steps, default 300] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "prectune/trainer.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double ms_per_step(const char *policy, int steps, const pt_data *data)
{
    pt_model_spec spec;
    pt_policy pol;
    pt_backend *be;
    pt_trainer *t;
    if (pt_model_spec_load(PT_SOURCE_DIR "/examples/fmnist-mlp/model.json", &spec) ||
        pt_policy_load(policy, &pol) || pt_backend_open("cpu", &be) ||
        pt_trainer_create(be, &spec, &pol, data, &t)) {
        fprintf(stderr, "bench_cpu_step: %s\n", pt_last_error());
        exit(1);
    }
    pt_step_record r;
    for (int i = 0; i < 20; i++) pt_trainer_step(t, &r);
    double t0 = now();
    for (int i = 0; i < steps; i++) pt_trainer_step(t, &r);
    double ms = (now() - t0) / steps * 1e3;
    pt_trainer_destroy(t);
    pt_backend_close(be);
    pt_policy_free(&pol);
    pt_model_spec_free(&spec);
    return ms;
}

int main(int argc, char **argv)
{
    int steps = argc > 1 ? atoi(argv[1]) : 300;
    pt_data_options o = pt_data_options_default();
    pt_data data;
    if (pt_data_open("fashion-mnist", &o, &data)) {
        fprintf(stderr, "bench_cpu_step: %s\n", pt_last_error());
        return 1;
    }
    double ours32 = ms_per_step(PT_SOURCE_DIR "/policies/presets/fp32.json", steps, &data);
    double ours16 = ms_per_step(PT_SOURCE_DIR "/policies/presets/bf16-amp.json", steps, &data);
    double ours8 = ms_per_step(PT_SOURCE_DIR "/policies/presets/fp8-hybrid.json", steps, &data);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/bench/torch_cpu_step.py %d", PT_SOURCE_DIR, steps);
    double torch32 = NAN, torch16 = NAN;
    char line[256], version[256] = "not run";
    FILE *p = popen(cmd, "r");
    while (p && fgets(line, sizeof line, p)) {
        double v;
        if (sscanf(line, "fp32 %lf", &v) == 1) torch32 = v;
        else if (sscanf(line, "bf16 %lf", &v) == 1) torch16 = v;
        else if (!strncmp(line, "torch", 5)) snprintf(version, sizeof version, "%.*s", (int)strcspn(line, "\n"), line);
    }
    if (p) pclose(p);
    printf("bench_cpu_step: fmnist-mlp 784-512-512-10, batch 128, AdamW, %d timed steps; %s\n", steps, version);
    printf("%-34s %10s %14s\n", "step", "ms/step", "ratio");
    printf("%-34s %10.2f %14s\n", "pytorch fp32 (reference)", torch32, "1.00");
    printf("%-34s %10.2f %14s\n", "pytorch bf16 autocast", torch16, "");
    printf("%-34s %10.2f %10.2f vs pytorch fp32 (target <= 1.00)\n", "prectune fp32", ours32, ours32 / torch32);
    printf("%-34s %10.2f %10.2f vs prectune fp32 (target <= 1.50)\n", "prectune bf16 (emulated)", ours16, ours16 / ours32);
    printf("%-34s %10.2f %10.2f vs prectune fp32\n", "prectune fp8 hybrid (emulated)", ours8, ours8 / ours32);
    pt_data_free(&data);
    return 0;
}
