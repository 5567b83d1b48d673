/* The fp32 training step of token models on the CPU against PyTorch's
 * step of the same model measured in the same run (bench/torch_gpt_step.py
 * through Debian's python3-torch): the character model of
 * examples/charlm-fortunes and bench/gpt-blocks.json, GPT-2-small-shaped
 * blocks (width 768, 12 heads, T 256; two blocks and a byte vocabulary, so
 * the blocks and not the head are what is timed). Target: our fp32 step no
 * slower than PyTorch's. Three warm-up steps, then the timed ones.
 * usage: bench_gpt_step [--model charlm|gpt-blocks|both] [steps, default 5]
 * (PT_PYTHON: the python that has torch; default /usr/bin/python3) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/clock.h"
#include "prectune/trainer.h"

/* ms per fp32 step of a model on the CPU, on random tokens of its vocabulary */
static double ours(const char *model, int steps, int *T, int *V, int *D, int *H, int *N, int *B)
{
    pt_model_spec spec;
    pt_policy pol;
    pt_backend *be = NULL;
    pt_trainer *t = NULL;
    pt_data data;
    pt_data_options o = pt_data_options_default();
    if (pt_model_spec_load(model, &spec)) goto fail;
    o.context = spec.context, o.vocab = spec.vocab;
    char ds[64];
    /* random: token windows need text; a synthetic text of random bytes is
     * written once to a temporary file */
    char path[] = "/tmp/bench_gpt_stepXXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) goto fail;
    FILE *f = fdopen(fd, "wb");
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (long i = 0; i < (long)(spec.train.batch + 8) * 9 * (spec.context + 1); i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        fputc((int)(s >> 56), f);
    }
    fclose(f);
    snprintf(ds, sizeof ds, "text:%s", path);
    pt_policy_init_fp32(&pol);
    if (pt_data_open(ds, &o, &data) || pt_backend_open("cpu", &be) || pt_trainer_create(be, &spec, &pol, &data, &t))
        goto fail;
    remove(path);
    pt_step_record r;
    double t0 = 0;
    for (int i = 0; i < 3 + steps; i++) {
        if (i == 3) t0 = pt_now_s();
        if (pt_trainer_step(t, &r)) goto fail;
    }
    double ms = (pt_now_s() - t0) / steps * 1e3;
    *T = spec.context, *V = spec.vocab, *B = spec.train.batch;
    *N = 0, *H = 0, *D = 0;
    for (int i = 0; i < spec.nlayers; i++) {
        const pt_layer_spec *l = &spec.layers[i];
        if (strstr(l->name, ".attn.qk") && !strstr(l->name, "qkv")) (*N)++;
    }
    *D = (int)(spec.layers[0].size / spec.context);
    for (int i = 0; i < spec.nlayers; i++)
        if (spec.layers[i].heads > 0) *H = spec.layers[i].heads;
    pt_trainer_destroy(t);
    pt_backend_close(be);
    pt_data_free(&data);
    pt_policy_free(&pol);
    pt_model_spec_free(&spec);
    return ms;
fail:
    fprintf(stderr, "bench_gpt_step: %s: %s\n", model, pt_last_error());
    exit(1);
}

static double torch_ms(int steps, int V, int D, int H, int N, int T, int B, char *version, size_t n)
{
    char cmd[1024], line[256];
    snprintf(cmd, sizeof cmd, "%s %s/bench/torch_gpt_step.py %d %d %d %d %d %d %d",
             getenv("PT_PYTHON") ? getenv("PT_PYTHON") : "/usr/bin/python3", PT_SOURCE_DIR, steps, V, D, H, N, T, B);
    double ms = NAN;
    FILE *p = popen(cmd, "r");
    while (p && fgets(line, sizeof line, p)) {
        double v;
        if (sscanf(line, "fp32 %lf", &v) == 1) ms = v;
        else if (!strncmp(line, "torch", 5)) snprintf(version, n, "%.*s", (int)strcspn(line, "\n"), line);
    }
    if (p) pclose(p);
    return ms;
}

int main(int argc, char **argv)
{
    int steps = 5;
    const char *which = "both";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc) which = argv[++i];
        else if ((steps = atoi(argv[i])) <= 0) {
            fprintf(stderr, "usage: bench_gpt_step [--model charlm|gpt-blocks|both] [steps]\n");
            return 2;
        }
    }
    const char *models[2][2] = {{"charlm", PT_SOURCE_DIR "/examples/charlm-fortunes/model.json"},
                                {"gpt-blocks", PT_SOURCE_DIR "/bench/gpt-blocks.json"}};
    printf("%-12s %5s %5s %5s %6s %5s %5s %12s %12s %8s\n", "model", "vocab", "width", "heads", "blocks", "T",
           "batch", "ours ms", "torch ms", "ratio");
    char version[256] = "torch not run";
    for (int m = 0; m < 2; m++) {
        if (strcmp(which, "both") && strcmp(which, models[m][0])) continue;
        int T, V, D, H, N, B;
        /* the charlm's steps are short: ten times as many timed */
        int k = m == 0 ? steps * 10 : steps;
        double a = ours(models[m][1], k, &T, &V, &D, &H, &N, &B);
        double b = torch_ms(k, V, D, H, N, T, B, version, sizeof version);
        printf("%-12s %5d %5d %5d %6d %5d %5d %12.2f %12.2f %8.2f%s\n", models[m][0], V, D, H, N, T, B, a, b, a / b,
               " (target <= 1.00)");
        fflush(stdout);
    }
    printf("fp32 on the CPU; %s\n", version);
    return 0;
}
