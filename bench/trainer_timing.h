/* Milliseconds per training step of a model under a policy on a backend,
 * shared by the step benchmarks. 20 warm-up steps, then `steps` timed.
 * pt_trainer_step returns after the device finished the step (it reads the
 * step's overflow flag and loss back), so no extra synchronization is needed. */
#ifndef PT_BENCH_TRAINER_TIMING_H
#define PT_BENCH_TRAINER_TIMING_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/clock.h"
#include "prectune/trainer.h"

/* A trainer of a model under a policy on a device; exits on failure. */
typedef struct bench_trainer {
    pt_model_spec spec;
    pt_policy pol;
    pt_backend *be;
    pt_trainer *t;
} bench_trainer;

static inline void bench_trainer_open(const char *device, const char *model, const char *policy,
                                      const pt_data *data, bench_trainer *b)
{
    if (pt_model_spec_load(model, &b->spec) || pt_policy_load(policy, &b->pol) ||
        pt_backend_open(device, &b->be) || pt_trainer_create(b->be, &b->spec, &b->pol, data, &b->t)) {
        fprintf(stderr, "%s, %s on %s: %s\n", model, policy, device, pt_last_error());
        exit(1);
    }
}

static inline void bench_trainer_close(bench_trainer *b)
{
    pt_trainer_destroy(b->t);
    pt_backend_close(b->be);
    pt_policy_free(&b->pol);
    pt_model_spec_free(&b->spec);
}

static inline double bench_ms_per_step(const char *device, const char *model, const char *policy, int steps,
                                       const pt_data *data)
{
    bench_trainer b;
    bench_trainer_open(device, model, policy, data, &b);
    double t0 = 0;
    pt_step_record r;
    for (int i = 0; i < 20 + steps; i++) {
        if (i == 20) t0 = pt_now_s();
        if (pt_trainer_step(b.t, &r)) {
            fprintf(stderr, "%s, %s on %s: step %d: %s\n", model, policy, device, i, pt_last_error());
            exit(1);
        }
    }
    double ms = (pt_now_s() - t0) / steps * 1e3;
    bench_trainer_close(&b);
    return ms;
}

/* The op profile of `steps` steps after 5 warm-up steps (see
 * pt_backend_profile), printed to stdout. */
static inline void bench_profile(const char *device, const char *model, const char *policy, int steps,
                                 const pt_data *data)
{
    bench_trainer b;
    bench_trainer_open(device, model, policy, data, &b);
    pt_step_record r;
    for (int i = 0; i < 5; i++) pt_trainer_step(b.t, &r);
    pt_backend_profile(b.be, true);
    for (int i = 0; i < steps; i++) pt_trainer_step(b.t, &r);
    printf("%s:\n", policy);
    pt_backend_profile_print(b.be, steps, stdout);
    bench_trainer_close(&b);
}

/* Random data as in the PyTorch references (--data random:N,DIM,CLASSES):
 * n samples of dim N(0,1) features and uniform labels of `classes`. */
static inline int bench_random_data(int64_t n, int64_t dim, int classes, pt_data *d)
{
    char spec[96];
    snprintf(spec, sizeof spec, "random:%lld,%lld,%d", (long long)n, (long long)dim, classes);
    pt_data_options o = pt_data_options_default();
    o.classification = true;
    if (pt_data_open(spec, &o, d) == PT_OK) return 0;
    fprintf(stderr, "%s\n", pt_last_error());
    return -1;
}

static inline void bench_random_data_free(pt_data *d) { pt_data_free(d); }

#endif
