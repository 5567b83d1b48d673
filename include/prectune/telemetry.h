/* Run telemetry in SQLite: what every run saw, for report, tune and
 * diagnose. One versioned schema (docs/telemetry.md shows it and example
 * queries); WAL mode; rows are queued by the training thread and written
 * in batched transactions by a writer thread, so a crash loses at most the
 * batch not yet committed and never corrupts the file. A database written
 * by a newer prectune is refused, not migrated down. */
#ifndef PRECTUNE_TELEMETRY_H
#define PRECTUNE_TELEMETRY_H

#include <stdbool.h>
#include <stdint.h>

#include "prectune/data.h"
#include "prectune/stats.h"
#include "prectune/status.h"
#include "prectune/trainer.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PT_TELEMETRY_SCHEMA_VERSION 5

typedef struct pt_telemetry pt_telemetry;

typedef enum pt_role { PT_ROLE_X = 0, PT_ROLE_W, PT_ROLE_DY, PT_ROLE_DW, PT_ROLE_COUNT } pt_role;
/* "x" (input activation), "w" (weight), "dy" (output gradient), "dw" (weight gradient) */
const char *pt_role_name(pt_role r);

typedef struct pt_run_info {
    const char *kind;        /* "train", "baseline", "probe", "validate" */
    const char *model;
    const char *fingerprint;
    const char *spec_json;
    const char *policy_json;
    const char *policy_source;
    const char *device;
    const char *data;
    const char *command;
    int64_t seed, steps;
    /* how the data were read (NULL: not recorded); a replay reads them so */
    const struct pt_data_read *data_read;
} pt_run_info;

/* How run `run` of the database at db_path read its data (the runs
 * table's data_* columns); *recorded is false for a run that recorded
 * none (an imported one, or one written before schema version 3). */
pt_status pt_telemetry_run_data(const char *db_path, int64_t run, struct pt_data_read *out, bool *recorded);

/* Opens or creates the database (and its schema). */
pt_status pt_telemetry_open(const char *path, pt_telemetry **out);

/* A database opened to be read (report, diagnose): its schema version is
 * one this prectune knows, and the values readers index or loop with are
 * in range (steps, layer indices, counts, scales, roles; names UTF-8).
 * An error names the database (path), the table and the column. */
struct sqlite3;
pt_status pt_telemetry_check_readable(struct sqlite3 *db, const char *path);
/* Flushes everything queued and closes. */
pt_status pt_telemetry_close(pt_telemetry *t);
/* Waits until everything queued so far is committed. */
pt_status pt_telemetry_flush(pt_telemetry *t);
/* Rows queued per transaction, and the longest a row waits (ms). */
void pt_telemetry_set_batch(pt_telemetry *t, int rows, int max_wait_ms);

/* A new run (written at once); its id. */
pt_status pt_telemetry_begin_run(pt_telemetry *t, const pt_run_info *info, int64_t *run_id);
pt_status pt_telemetry_end_run(pt_telemetry *t, int64_t run_id, const char *status);
/* The latest run of this model fingerprint that did not finish (0 if
 * none), reopened so that a run resumed at from_step (the checkpoint's
 * step) keeps writing into it: what the run recorded of step from_step
 * and later (rows written after that checkpoint, before a crash) is
 * removed in the same transaction, so that the resumed steps write each
 * row once. The events that say how the run ended before (interrupted,
 * stopped, failed) stay. */
pt_status pt_telemetry_reopen_run(pt_telemetry *t, const char *fingerprint, int64_t from_step, int64_t *run_id);

/* Claims the database for one process's `what` (a tune) in a BEGIN
 * IMMEDIATE transaction: refused, naming the holder, while another live
 * process holds the claim (its pid, checked on this host with its start
 * time, so that a reused pid does not count); a claim whose process is
 * gone (killed) is taken over. pt_telemetry_release gives it back. */
pt_status pt_telemetry_claim(pt_telemetry *t, const char *what);
pt_status pt_telemetry_release(pt_telemetry *t, const char *what);

/* Queued writes (they return at once; errors surface at flush/close). */
pt_status pt_telemetry_step(pt_telemetry *t, int64_t run, const pt_step_record *r);
pt_status pt_telemetry_layer_stats(pt_telemetry *t, int64_t run, int64_t step, int layer_index,
                                   const char *layer, pt_role role, const char *format,
                                   const pt_stats *s);
pt_status pt_telemetry_drift(pt_telemetry *t, int64_t run, int64_t step, int layer_index,
                             const char *layer, double sqnr_db, double max_rel_err);
pt_status pt_telemetry_eval(pt_telemetry *t, int64_t run, const pt_eval_result *e);
pt_status pt_telemetry_event(pt_telemetry *t, int64_t run, int64_t step, const char *severity,
                             const char *kind, const char *message);

/* The tuner's finished probe runs, keyed by what defines them (policy,
 * seed, steps), so that an interrupted tune resumes without redoing them. */
typedef struct pt_probe_result {
    int64_t run_id;
    double final_loss, accuracy, skipped_fraction, seconds;
    int64_t nonfinite;
    bool diverged;
    /* ms a step after warm-up (the first tenth of the steps, at most 10:
     * plans, heuristics, first allocations); not stored, 0 in a probe
     * reused from the database */
    double step_ms;
    /* the most backend memory the run's trainer held at once, less its
     * copy of the training data (pt_backend_memory); not stored, 0 in a
     * reused probe */
    double memory_bytes;
} pt_probe_result;
/* *found = false when no such probe is stored. */
pt_status pt_telemetry_probe_get(pt_telemetry *t, const char *key, pt_probe_result *r, bool *found);
pt_status pt_telemetry_probe_put(pt_telemetry *t, const char *key, const pt_probe_result *r);

/* One layer's statistics of one role over a whole run, merged (counts and
 * histograms summed, absmax the largest, min the smallest); *found = false
 * when the run recorded none. */
pt_status pt_telemetry_layer_summary(pt_telemetry *t, int64_t run, int layer_index, pt_role role,
                                     pt_stats *out, bool *found);

#ifdef __cplusplus
}
#endif
#endif
