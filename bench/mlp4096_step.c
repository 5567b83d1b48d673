/* The training step of the issue-5 benchmark MLP (1024 -> 4x4096 GELU ->
 * 16, batch 4096, cross-entropy, AdamW; bench/mlp4096.json) on CUDA, per
 * format, against PyTorch on the same GPU in the same run
 * (bench/torch_mlp4096.py: eager fp32, tf32, bf16, fp16 + GradScaler,
 * torch.compile bf16). The data are random, as in the PyTorch reference:
 * 16 batches of N(0,1) features and uniform labels, kept in the device's
 * memory by the trainer (PT_RESIDENT_BYTES), a batch gathered there each
 * step (PyTorch keeps one batch on the device; the gather, about 20 us, is
 * part of our figure).
 * usage: bench_mlp4096_step [--device cuda[:N]] [--profile] [--policy P.json] [steps, default 50]
 * (--profile: then the op profile of 10 steps of each format; --policy: a
 * tuned policy of bench/mlp4096.json timed too, against our bf16-amp and
 * fp32 steps of the same run, beside the speed-up over fp32 it estimates)
 * (PT_PYTHON: the python that has torch; default python3) */
#include <math.h>
#include <string.h>

#include "trainer_timing.h"

static const char *const modes[] = {"fp32", "tf32", "bf16", "fp16", "compile_bf16"};
enum { NMODES = 5 };

int main(int argc, char **argv)
{
    int steps = 50;
    const char *device = "cuda";
    bool profile = false;
    const char *tuned = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--device") && i + 1 < argc) device = argv[++i];
        else if (!strcmp(argv[i], "--policy") && i + 1 < argc) tuned = argv[++i];
        else if (!strcmp(argv[i], "--profile")) profile = true;
        else if ((steps = atoi(argv[i])) <= 0) {
            fprintf(stderr, "usage: bench_mlp4096_step [--device cuda[:N]] [--profile] [--policy P.json] [steps]\n");
            return 2;
        }
    }
    pt_data data;
    if (bench_random_data(16 * 4096, 1024, 16, &data)) return 1;

    static const char *const pols[][2] = {{"fp32", "fp32"}, {"tf32", "tf32"}, {"bf16", "bf16-amp"},
                                          {"fp16 dynamic scale", "fp16-amp"},
                                          {"fp8 hybrid, delayed", "fp8-hybrid"}};
    double ours[5];
    for (int i = 0; i < 5; i++) {
        char pol[1024];
        snprintf(pol, sizeof pol, PT_SOURCE_DIR "/policies/presets/%s.json", pols[i][1]);
        ours[i] = bench_ms_per_step(device, PT_SOURCE_DIR "/bench/mlp4096.json", pol, steps, &data);
    }
    double tuned_ms = NAN, est = NAN;
    if (tuned) {
        pt_policy tp;
        if (pt_policy_load(tuned, &tp)) {
            fprintf(stderr, "bench_mlp4096_step: %s\n", pt_last_error());
            return 2;
        }
        est = tp.est_speedup;
        pt_policy_free(&tp);
        tuned_ms = bench_ms_per_step(device, PT_SOURCE_DIR "/bench/mlp4096.json", tuned, steps, &data);
    }
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s/bench/torch_mlp4096.py %d",
             getenv("PT_PYTHON") ? getenv("PT_PYTHON") : "python3", PT_SOURCE_DIR, steps);
    double ref[NMODES];
    for (int i = 0; i < NMODES; i++) ref[i] = NAN;
    char line[256], version[256] = "not run";
    FILE *p = popen(cmd, "r");
    while (p && fgets(line, sizeof line, p)) {
        char name[64];
        double v;
        if (sscanf(line, "%63s %lf", name, &v) == 2)
            for (int i = 0; i < NMODES; i++)
                if (!strcmp(name, modes[i])) ref[i] = v;
        if (!strncmp(line, "torch", 5))
            snprintf(version, sizeof version, "%.*s", (int)strcspn(line, "\n"), line);
    }
    if (p) pclose(p);
    double gflop = 6.0 * 4096 * (1024.0 * 4096 + 3.0 * 4096 * 4096 + 4096.0 * 16) / 1e9;
    printf("bench_mlp4096_step: 1024-4x4096-16 GELU, batch 4096, AdamW, %d timed steps on %s; %s\n",
           steps, device, version);
    printf("%-30s %9s %9s\n", "step", "ms/step", "TFLOP/s");
    for (int i = 0; i < NMODES; i++)
        printf("pytorch %-22s %9.2f %9.1f\n", modes[i], ref[i], gflop / ref[i]);
    /* same-format references: fp32, tf32, bf16 autocast, fp16 + GradScaler */
    for (int i = 0; i < 5; i++) {
        printf("prectune %-21s %9.2f %9.1f", pols[i][0], ours[i], gflop / ours[i]);
        if (i < 4) printf("  %.2f of pytorch %s", ours[i] / ref[i], modes[i]);
        if (i == 2) printf(", %.2f of compile_bf16 (target <= 1.00)", ours[i] / ref[4]);
        if (i == 3) printf(", %.2f of our bf16 (target <= 1.05)", ours[i] / ours[2]);
        if (i == 4) printf("  %.2f of our bf16 (target <= 0.87)", ours[i] / ours[2]);
        printf("\n");
    }
    if (tuned) {
        double speedup = ours[0] / tuned_ms;
        printf("prectune %-21s %9.2f %9.1f  %.2f of our bf16 (target <= 1.00); %.2fx fp32 measured, %.2fx "
               "estimated (%+.0f%%, target within 15%%)\n", "tuned policy", tuned_ms, gflop / tuned_ms,
               tuned_ms / ours[2], speedup, est, 100 * (est - speedup) / speedup);
    }
    for (int i = 0; profile && i < 5; i++) {
        char pol[1024];
        snprintf(pol, sizeof pol, PT_SOURCE_DIR "/policies/presets/%s.json", pols[i][1]);
        bench_profile(device, PT_SOURCE_DIR "/bench/mlp4096.json", pol, 10, &data);
    }
    if (profile && tuned) bench_profile(device, PT_SOURCE_DIR "/bench/mlp4096.json", tuned, 10, &data);
    bench_random_data_free(&data);
    return 0;
}
