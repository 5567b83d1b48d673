/* Milliseconds per training step of a model under a policy on a backend,
 * shared by the step benchmarks. 20 warm-up steps, then `steps` timed.
 * pt_trainer_step returns after the device finished the step (it reads the
 * step's overflow flag and loss back), so no extra synchronization is needed. */
#ifndef PT_BENCH_TRAINER_TIMING_H
#define PT_BENCH_TRAINER_TIMING_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "prectune/trainer.h"

static double bench_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double bench_ms_per_step(const char *device, const char *model, const char *policy, int steps,
                                const pt_data *data)
{
    pt_model_spec spec;
    pt_policy pol;
    pt_backend *be;
    pt_trainer *t;
    if (pt_model_spec_load(model, &spec) || pt_policy_load(policy, &pol) ||
        pt_backend_open(device, &be) || pt_trainer_create(be, &spec, &pol, data, &t)) {
        fprintf(stderr, "%s, %s on %s: %s\n", model, policy, device, pt_last_error());
        exit(1);
    }
    pt_step_record r;
    for (int i = 0; i < 20; i++) pt_trainer_step(t, &r);
    double t0 = bench_now();
    for (int i = 0; i < steps; i++) pt_trainer_step(t, &r);
    double ms = (bench_now() - t0) / steps * 1e3;
    pt_trainer_destroy(t);
    pt_backend_close(be);
    pt_policy_free(&pol);
    pt_model_spec_free(&spec);
    return ms;
}

#endif
