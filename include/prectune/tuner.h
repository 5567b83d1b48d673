/* The tuner (DESIGN.md, "The tuner"): from a model spec and data to a
 * validated per-layer precision policy. fp32 baseline with two seeds
 * (noise floor), range analysis from the recorded histograms, per-layer
 * sensitivity, a search that starts from the cheapest feasible assignment
 * and promotes the responsible layers found by bisection, loss-scale
 * settings from the recorded gradient ranges, and a validation run. Every
 * probe run is stored in the database by what defines it, so a tune that
 * is interrupted and started again resumes and ends with the same policy. */
#ifndef PRECTUNE_TUNER_H
#define PRECTUNE_TUNER_H

#include <stdbool.h>
#include <stdint.h>

#include "prectune/backend.h"
#include "prectune/data.h"
#include "prectune/model.h"
#include "prectune/policy.h"

#ifdef __cplusplus
extern "C" {
#endif

struct pt_telemetry;

typedef struct pt_device_table {
    char name[128];
    double tflops[PT_FMT_COUNT]; /* dense GEMM TFLOP/s per format (fp8: both fp8 formats) */
    double gbs;                  /* memory bandwidth (read + write) GB/s */
} pt_device_table;

/* The shipped table: the H100 as measured by bench/device_throughput.py. */
void pt_device_table_h100(pt_device_table *t);
pt_status pt_device_table_load(const char *path, pt_device_table *t);
/* The table measured on a backend with prectune's own kernels (tune
 * --calibrate): each format's GEMM throughput over the forward, input-
 * gradient and weight-gradient layouts, and the copy bandwidth. */
pt_status pt_device_calibrate(pt_backend *be, pt_device_table *t);
/* Written as the tables of policies/devices/ are, atomically. */
pt_status pt_device_table_write(const pt_device_table *t, const char *path);

/* Estimated time of one training step of the model under a policy (the
 * GEMMs at each format's throughput, casts and fp32 optimizer traffic at
 * the bandwidth), and the bytes of activations kept for the backward. */
typedef struct pt_cost {
    double step_ms;
    double gemm_ms, cast_ms, optimizer_ms;
    double pass_ms;        /* the other passes over memory (activations, bias gradients, unscale) */
    double activation_bytes;
} pt_cost;
void pt_cost_estimate(const pt_model_spec *spec, const pt_policy *p, const pt_device_table *dev,
                      pt_cost *out);

typedef struct pt_tune_options {
    bool allowed[PT_FMT_COUNT]; /* formats the tuner may use (fp8 means e4m3 + e5m2) */
    int64_t probe_steps;
    int budget_runs;            /* probe runs at most (validation not counted) */
    double budget_seconds;      /* 0: no limit */
    double crit_loss_rel, crit_accuracy_drop, crit_skipped;
    pt_device_table device;     /* the cost model's target */
    bool progress;              /* progress lines on stderr */
} pt_tune_options;

pt_tune_options pt_tune_options_default(void);

typedef struct pt_tune_summary {
    int probes_run, probes_reused;
    double seconds;
    pt_cost fp32_cost, policy_cost;
} pt_tune_summary;

struct pt_probe_result;
/* One training run of `steps` steps under a policy with seed `seed`:
 * final loss (mean of the last tenth of the steps), held-out accuracy,
 * skipped fraction, non-finite master weights, wall time; recorded as a
 * run of `kind` in tel when given (with statistics when `stats`). */
pt_status pt_run_policy(pt_backend *be, const pt_model_spec *model, const pt_policy *pol,
                        const pt_data *data, struct pt_telemetry *tel, const char *kind,
                        const char *label, int64_t steps, uint64_t seed, bool stats,
                        struct pt_probe_result *r);

/* Runs the tuner; writes the result into *out (pt_policy_free it). Returns
 * PT_OK also when validation failed (out->validation.passed says). */
pt_status pt_tune(pt_backend *be, const pt_model_spec *spec, const pt_data *data,
                  struct pt_telemetry *tel, const pt_tune_options *o, pt_policy *out,
                  pt_tune_summary *summary);

#ifdef __cplusplus
}
#endif
#endif
