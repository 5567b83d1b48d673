/* The training step of the Fashion-MNIST MLP (784-512-512-10, GELU, batch
 * 128, AdamW) on a backend, fp32, bf16 and fp8 hybrid, against PyTorch's
 * step on the same device measured in the same run (bench/torch_step.py;
 * on the CPU through Debian's python3-torch).
 * Targets on the CPU (issue 4): our fp32 step no slower than PyTorch's; our
 * emulated bf16 step at most 1.5x our fp32 step.
 * With --model cnn, the Fashion-MNIST CNN (examples/fmnist-cnn, batch 64),
 * or with --model cnn-wide bench/cnn-wide.json (batch 256, 16x32x32 input);
 * on cuda its convolutions go through cuDNN where they are large enough,
 * and the same steps with PRECTUNE_CUDNN=1 (all on cuDNN) and =0 (all as
 * im2col GEMMs) are measured too.
 * usage: bench_step [--device cpu|cuda] [--data SPEC] [--model mlp|cnn|cnn-wide] [steps, default 300]
 * (PT_PYTHON: the python that has torch; default /usr/bin/python3) */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "trainer_timing.h"

int main(int argc, char **argv)
{
    int steps = 300;
    const char *device = "cpu", *spec = "fashion-mnist", *which = "mlp";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--device") && i + 1 < argc) device = argv[++i];
        else if (!strcmp(argv[i], "--data") && i + 1 < argc) spec = argv[++i];
        else if (!strcmp(argv[i], "--model") && i + 1 < argc) which = argv[++i];
        else if ((steps = atoi(argv[i])) <= 0) {
            fprintf(stderr, "usage: bench_step [--device cpu|cuda] [--data SPEC] [--model mlp|cnn|cnn-wide] [steps]\n");
            return 2;
        }
    }
    bool wide = !strcmp(which, "cnn-wide"), cnn = wide || !strcmp(which, "cnn");
    const char *model = wide  ? PT_SOURCE_DIR "/bench/cnn-wide.json"
                        : cnn ? PT_SOURCE_DIR "/examples/fmnist-cnn/model.json"
                              : PT_SOURCE_DIR "/examples/fmnist-mlp/model.json";
    pt_data_options o = pt_data_options_default();
    pt_data data;
    if (pt_data_open(spec, &o, &data)) {
        fprintf(stderr, "bench_step: %s\n", pt_last_error());
        return 1;
    }
    double ours32 = bench_ms_per_step(device, model, PT_SOURCE_DIR "/policies/presets/fp32.json", steps, &data);
    double ours16 = bench_ms_per_step(device, model, PT_SOURCE_DIR "/policies/presets/bf16-amp.json", steps, &data);
    double ours8 = bench_ms_per_step(device, model, PT_SOURCE_DIR "/policies/presets/fp8-hybrid.json", steps, &data);
    double im32 = NAN, im16 = NAN, dnn32 = NAN, dnn16 = NAN;
    int cpu = strncmp(device, "cuda", 4) != 0;
    if (cnn && !cpu) { /* the same steps with every convolution on cuDNN, then as im2col GEMMs */
        setenv("PRECTUNE_CUDNN", "1", 1);
        dnn32 = bench_ms_per_step(device, model, PT_SOURCE_DIR "/policies/presets/fp32.json", steps, &data);
        dnn16 = bench_ms_per_step(device, model, PT_SOURCE_DIR "/policies/presets/bf16-amp.json", steps, &data);
        setenv("PRECTUNE_CUDNN", "0", 1);
        im32 = bench_ms_per_step(device, model, PT_SOURCE_DIR "/policies/presets/fp32.json", steps, &data);
        im16 = bench_ms_per_step(device, model, PT_SOURCE_DIR "/policies/presets/bf16-amp.json", steps, &data);
        unsetenv("PRECTUNE_CUDNN");
    }
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s/bench/torch_step.py %d %s %s",
             getenv("PT_PYTHON") ? getenv("PT_PYTHON") : "/usr/bin/python3", PT_SOURCE_DIR, steps,
             cpu ? "cpu" : "cuda", which);
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
    printf("bench_step: %s, AdamW, %d timed steps on %s; %s\n",
           wide  ? "cnn-wide (bench/cnn-wide.json: 3 conv 3x3 of 64-128 channels on 32x32, batch 256)"
           : cnn ? "fmnist-cnn (2 conv 3x3, max pooling, 2 linear), batch 64"
                 : "fmnist-mlp 784-512-512-10, batch 128",
           steps, device, version);
    printf("%-34s %10s %14s\n", "step", "ms/step", "ratio");
    printf("%-34s %10.2f %14s\n", "pytorch fp32 (reference)", torch32, "1.00");
    printf("%-34s %10.2f %14s\n", "pytorch bf16 autocast", torch16, "");
    printf("%-34s %10.3f %10.2f vs pytorch fp32%s\n", "prectune fp32", ours32, ours32 / torch32,
           cpu ? " (target <= 1.00)" : "");
    printf("%-34s %10.3f %10.2f vs pytorch bf16\n", "prectune bf16", ours16, ours16 / torch16);
    printf("%-34s %10.3f %10.2f vs prectune fp32%s\n", cpu ? "prectune bf16 (emulated)" : "prectune bf16",
           ours16, ours16 / ours32, cpu ? " (target <= 1.50)" : "");
    printf("%-34s %10.3f %10.2f vs prectune fp32\n", cpu ? "prectune fp8 hybrid (emulated)" : "prectune fp8 hybrid", ours8, ours8 / ours32);
    if (!isnan(im32)) {
        printf("%-34s %10.3f %10.2f vs im2col\n", "prectune fp32, all on cuDNN", dnn32, dnn32 / im32);
        printf("%-34s %10.3f %10.2f vs im2col\n", "prectune bf16, all on cuDNN", dnn16, dnn16 / im16);
        printf("%-34s %10.3f %10.2f: the default (by size) vs this\n", "prectune fp32, im2col GEMMs", im32,
               ours32 / im32);
        printf("%-34s %10.3f %10.2f: the default (by size) vs this\n", "prectune bf16, im2col GEMMs", im16,
               ours16 / im16);
    }
    pt_data_free(&data);
    return 0;
}
