/* Diagnosis of NaN and divergence incidents from a run's telemetry: the
 * first step and the first tensor in execution order (forward in layer
 * order, then backward in reverse) that went non-finite or out of its
 * format's range; whether that tensor is the origin or only carries a
 * value that went bad upstream; the trend that led there; a classified
 * cause; and the policy change that fixes it. */
#ifndef PRECTUNE_DIAGNOSE_H
#define PRECTUNE_DIAGNOSE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "prectune/policy.h"
#include "prectune/stats.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pt_cause {
    PT_CAUSE_NONE = 0,
    PT_CAUSE_BAD_INPUT,            /* non-finite values in the batch itself */
    PT_CAUSE_ACTIVATION_OVERFLOW,  /* a forward tensor beyond its (fp16) format's range */
    PT_CAUSE_GRADIENT_OVERFLOW,    /* gradients overflow and the scaler does not absorb it */
    PT_CAUSE_GRADIENT_UNDERFLOW,   /* gradients flushed to zero (scale too low / format) */
    PT_CAUSE_FP8_STALE_SCALE,      /* amax jumped past the delayed-scaling history */
    PT_CAUSE_DEATH_SPIRAL,         /* loss scale at its minimum, steps still overflowing */
    PT_CAUSE_NOT_PRECISION,        /* spike/divergence also in fp32 (learning rate, data) */
    PT_CAUSE_VANISHING_CONSTANT,   /* a constant (norm epsilon) that is zero in the format */
    PT_CAUSE_UNKNOWN,
    PT_CAUSE_COUNT
} pt_cause;

const char *pt_cause_name(pt_cause c);

typedef struct pt_diagnosis {
    int64_t run;
    char model[64];
    bool incident;                 /* false: nothing went wrong */
    int64_t step;                  /* first step with the problem (within the stats interval) */
    int64_t stats_interval;        /* steps between recorded statistics around it */
    char kind[32];                 /* "non-finite", "out of range", "loss spike", "divergence", "skip storm" */
    /* the first bad tensor in execution order */
    char layer[64];
    int layer_index;
    char role[4];
    char format[16];
    double scale;
    pt_stats stats;
    /* the origin (equals the first bad tensor unless the value came from upstream) */
    char origin_layer[64];
    char origin_role[4];
    char origin_why[768];
    pt_cause cause;
    char explanation[2048];
    char trend[512];
    char fix[512];                 /* the change, in words */
    bool has_patch;
    pt_policy patch;               /* the patched policy (when has_patch) */
    double loss_limit;             /* loss spike / divergence: a loss above this is the incident
                                      (for divergence: the mean of the last 64 steps) */
} pt_diagnosis;

/* Diagnoses run `run` of a telemetry database (0: the latest run). */
pt_status pt_diagnose_db(const char *path, int64_t run, pt_diagnosis *out);
void pt_diagnosis_free(pt_diagnosis *d);
/* Imports a telemetry CSV of another framework (columns in the README)
 * into a new telemetry database at db_path. */
pt_status pt_diagnose_import_csv(const char *csv_path, const char *db_path);

typedef struct pt_replay_result {
    int64_t checkpoint_step, from_step, to_step;
    bool original, patched;       /* the incident showed under each policy */
    char original_what[400], patched_what[400];
} pt_replay_result;

struct pt_data_options;
/* Which data options a replay was given (the others come from the run). */
enum { PT_GIVEN_LABEL = 1, PT_GIVEN_HEADER = 2, PT_GIVEN_STANDARDIZE = 4, PT_GIVEN_VAL_FRACTION = 8 };
/* How a replay of run `run` reads its data: as the run recorded it (the
 * --data spec, when data_spec is NULL, and every option not given); an
 * option given that differs from the recorded one, or data of another
 * kind, is refused (PT_ERR_INVALID, naming the difference). A run that
 * recorded nothing (older databases) is replayed with what was given.
 * spec_out and label_out (which *out's label points into) hold the
 * result's strings. */
pt_status pt_replay_data(const char *db_path, int64_t run, const char *data_spec,
                         const struct pt_data_options *given, unsigned given_mask, char *spec_out,
                         size_t spec_n, char *label_out, size_t label_n, struct pt_data_options *out);
/* Re-runs the incident from the latest checkpoint in ckpt_dir at or before
 * its step, with statistics every step, under the run's policy and under
 * the patch (see replay.c). */
pt_status pt_diagnose_replay(const char *db_path, const pt_diagnosis *d, const char *data_spec,
                             const struct pt_data_options *dopt, const char *ckpt_dir, const char *device,
                             pt_replay_result *out);

/* Plain words for people, and JSON for tools (caller frees). */
void pt_diagnosis_print(const pt_diagnosis *d, FILE *f);
char *pt_diagnosis_json(const pt_diagnosis *d);

#ifdef __cplusplus
}
#endif
#endif
