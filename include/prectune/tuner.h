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
    bool cudnn_conv;             /* large convolutions run on cuDNN (pt_conv2d_direct), not as im2col GEMMs */
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

/* The validation criteria (DESIGN.md, from the seed articles): final
 * training loss within loss_rel of fp32's (relative), held-out accuracy at
 * most accuracy_drop below it (a fraction: 0.005 is half a point), at most
 * `skipped` of the steps skipped for overflow, no non-finite master
 * weight. With noise_floor, a policy that misses the loss or accuracy
 * criterion is measured against fp32's own seed-to-seed spread at the
 * same length (a second fp32 run, seed + 1), and the criterion widens to
 * that spread: a difference fp32 shows between two of its own seeds is no
 * evidence against the policy. For token data (a language model) the loss
 * held is the held-out loss and accuracy is not used (pt_run_policy gives
 * it as NaN, which pt_judge passes); the policy's evidence says which
 * (pt_policy_evidence.heldout_loss). */
typedef struct pt_criteria {
    double loss_rel, accuracy_drop, skipped;
    bool noise_floor;
} pt_criteria;

pt_criteria pt_criteria_default(void);

/* The judgement of a policy run against the fp32 run of the same seed,
 * and, when given, the fp32 run of the next seed (the noise floor). */
typedef struct pt_verdict {
    double loss_rel, acc_drop;          /* policy against fp32, same seed */
    bool noise_measured;
    double noise_loss_rel, noise_acc;   /* |fp32 seed s - fp32 seed s+1| (0 when not measured) */
    double tol_loss, tol_acc;           /* the criteria, widened to the noise floor */
    bool ok_loss, ok_acc, ok_skip, ok_finite;
    bool within_noise;                  /* passes only through the widened tolerance */
    bool passed;
} pt_verdict;

struct pt_probe_result;
void pt_judge(const pt_criteria *c, const struct pt_probe_result *base, const struct pt_probe_result *policy,
              const struct pt_probe_result *noise, pt_verdict *v);
/* Whether the noise floor could change the verdict: the criteria allow
 * it, none is measured yet, and the policy misses only the loss or the
 * accuracy criterion (a divergence, a skip storm or a non-finite weight
 * is never noise). */
bool pt_verdict_wants_noise(const pt_criteria *c, const pt_verdict *v);
/* Whether fp32's own seed-to-seed spread (relative loss, accuracy as a
 * fraction) is ten times the criteria or more: then a policy that passes
 * within it is only as good as an fp32 that cannot reproduce itself, and
 * the user should hear that the model's training is what needs a look. */
bool pt_noise_dominates(const pt_criteria *c, double noise_loss_rel, double noise_acc);

typedef struct pt_tune_options {
    bool allowed[PT_FMT_COUNT]; /* formats the tuner may use (fp8 means e4m3 + e5m2) */
    int64_t probe_steps;
    int64_t validate_steps;     /* the validation's length; 0: the spec's train.steps */
    int budget_runs;            /* probe runs at most (validation not counted) */
    double budget_seconds;      /* 0: no limit */
    pt_criteria crit;
    pt_device_table device;     /* the cost model's target */
    bool progress;              /* progress lines on stderr */
} pt_tune_options;

pt_tune_options pt_tune_options_default(void);

typedef struct pt_tune_summary {
    int probes_run, probes_reused;
    double seconds;
    pt_cost fp32_cost, policy_cost;
} pt_tune_summary;

/* One training run of `steps` steps under a policy with seed `seed`:
 * final loss (mean of the last tenth of the steps; for token data, the
 * held-out loss, and accuracy NaN: the loss is what a language model's
 * criteria hold), held-out accuracy,
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
