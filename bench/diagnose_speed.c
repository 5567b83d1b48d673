/* How long `diagnose` takes on a long run: a telemetry database of 100,000
 * steps with per-layer statistics every 10 steps (16 tensors each, 160,000
 * rows) and a loss spike near the end, written through the telemetry API;
 * then pt_diagnose_db timed. Target (issue 8): under 5 s on the 2-core
 * CPU machine.
 * usage: bench_diagnose_speed [steps, default 100000] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/clock.h"
#include <unistd.h>

#include "prectune/diagnose.h"
#include "prectune/telemetry.h"

int main(int argc, char **argv)
{
    int64_t steps = argc > 1 ? atoll(argv[1]) : 100000;
    char path[64];
    snprintf(path, sizeof path, "/tmp/pt_diag_%d.db", getpid());
    unlink(path);
    pt_telemetry *t;
    int64_t run;
    pt_run_info info = {"train", "long-run", "xxh64:0000000000000000", NULL, NULL, "fp32", "cpu", "synthetic",
                        "bench", 1, steps, NULL};
    if (pt_telemetry_open(path, &t) || pt_telemetry_begin_run(t, &info, &run)) {
        fprintf(stderr, "%s\n", pt_last_error());
        return 1;
    }
    double t0 = pt_now_s();
    const char *layers[5] = {"fc1", "act1", "fc2", "act2", "head"};
    for (int64_t s = 0; s < steps; s++) {
        pt_step_record r = {.step = s, .loss = 2.0 * exp(-(double)s / 20000) + 0.1 + 0.01 * sin((double)s), .scale = 1};
        if (s == steps - steps / 10) r.loss = 50; /* the spike */
        pt_telemetry_step(t, run, &r);
        if (s % 10) continue;
        for (int l = 0; l < 5; l++)
            for (int role = 0; role < 4; role++) {
                if ((l == 1 || l == 3) && (role == 1 || role == 3)) continue;
                pt_stats st;
                memset(&st, 0, sizeof st);
                st.count = 65536, st.absmax = 1.0f + (float)l, st.min_nonzero = 1e-6f, st.scale = 1;
                st.hist[PT_HIST_FIRST + 40] = 65536;
                pt_telemetry_layer_stats(t, run, s, l, layers[l], (pt_role)role, "fp32", &st);
            }
    }
    pt_telemetry_end_run(t, run, "finished");
    pt_telemetry_close(t);
    double written = pt_now_s() - t0;
    t0 = pt_now_s();
    pt_diagnosis d;
    if (pt_diagnose_db(path, 0, &d)) {
        fprintf(stderr, "%s\n", pt_last_error());
        return 1;
    }
    double took = pt_now_s() - t0;
    printf("bench_diagnose_speed: %lld steps, statistics every 10 steps (16 tensors), written in %.1f s\n",
           (long long)steps, written);
    printf("diagnose: %.3f s (target < 5 s): %s at step %lld, cause %s\n", took,
           d.incident ? d.kind : "no incident", (long long)d.step, pt_cause_name(d.cause));
    pt_diagnosis_free(&d);
    unlink(path);
    return 0;
}
