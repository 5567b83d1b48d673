/* Replaying an incident: from the latest checkpoint at or before the
 * incident's step, the run is trained again to just past it, with
 * statistics on every step, once under its own policy (the incident must
 * come back, bit for bit: training is deterministic) and once under the
 * patched policy (it must not); the fp32 shadow runs on every applied step
 * of both, and the report says how far the layers' outputs were from it. */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/temp_dir.h"
#include "fp8_jump.h"
#include "prectune/diagnose.h"
#include "prectune/telemetry.h"
#include "prectune/trainer.h"

/* Whether the incident shows in [from, to) of a replay. */
static bool shows(const pt_diagnosis *d, const char *db, int64_t run, int64_t from, int64_t to, char *what, size_t n)
{
    sqlite3 *s3;
    if (sqlite3_open_v2(db, &s3, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) return false;
    char sql[512];
    bool hit = false;
    sqlite3_stmt *q;
    if (d->cause == PT_CAUSE_GRADIENT_UNDERFLOW) {
        snprintf(sql, sizeof sql, "SELECT step, 1.0 * sum(underflow_fp16) / max(1, sum(count - zero)) FROM layer_stats"
                 " WHERE run_id = %lld AND role = 'dy' AND format = 'fp16' AND step >= %lld AND step < %lld"
                 " GROUP BY step ORDER BY 2 DESC LIMIT 1", (long long)run, (long long)from, (long long)to);
        if (sqlite3_prepare_v2(s3, sql, -1, &q, NULL) == SQLITE_OK) {
            double share = 0;
            int64_t at = -1;
            if (sqlite3_step(q) == SQLITE_ROW) at = sqlite3_column_int64(q, 0), share = sqlite3_column_double(q, 1);
            sqlite3_finalize(q);
            hit = share > 0.02;
            snprintf(what, n, "at most %.1f%% of the fp16 output gradients flushed to zero%s%lld", 100 * share,
                     at >= 0 ? " (step " : "", (long long)at);
            if (at >= 0) strncat(what, ")", n - strlen(what) - 1);
        }
    } else if (d->cause == PT_CAUSE_FP8_STALE_SCALE && !strcmp(d->kind, "fp8 saturation")) {
        snprintf(sql, sizeof sql, "SELECT min(step), sum(overflow_e4m3 + overflow_e5m2) FROM layer_stats WHERE"
                 " run_id = %lld AND layer = '%s' AND role = '%s' AND %s AND step >= %lld AND step < %lld",
                 (long long)run, d->layer, d->role, PT_FP8_JUMP_SQL, (long long)from, (long long)to);
        if (sqlite3_prepare_v2(s3, sql, -1, &q, NULL) == SQLITE_OK) {
            if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL) {
                hit = true;
                snprintf(what, n, "%lld values of %s/%s clamped from step %lld", (long long)sqlite3_column_int64(q, 1),
                         d->layer, d->role, (long long)sqlite3_column_int64(q, 0));
            } else {
                snprintf(what, n, "no value of %s/%s clamped in steps %lld to %lld", d->layer, d->role,
                         (long long)from, (long long)to - 1);
            }
            sqlite3_finalize(q);
        }
    } else if (d->loss_limit > 0) { /* a loss spike or divergence: the loss against the limit */
        bool spike = strcmp(d->kind, "divergence") != 0;
        /* the diagnosis judges a spike against the median of the 64 losses
         * before it, so a step before the 64th is never a spike there: a
         * language model's first steps fall from ln(vocabulary) and jump
         * about on the way, and are not judged here either */
        int64_t judged = spike && from < 64 ? 64 : from;
        snprintf(sql, sizeof sql, spike ? "SELECT step, loss FROM steps WHERE run_id = %lld AND step >= %lld AND"
                 " step < %lld AND NOT (loss <= %.17g) ORDER BY step LIMIT 1"
                 : "SELECT max(step), avg(loss) FROM (SELECT step, loss FROM steps WHERE run_id = %lld AND"
                 " step >= %lld AND step < %lld ORDER BY step DESC LIMIT 64) HAVING avg(loss) > %.17g",
                 (long long)run, (long long)judged, (long long)to, d->loss_limit);
        if (sqlite3_prepare_v2(s3, sql, -1, &q, NULL) == SQLITE_OK) {
            if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL) {
                hit = true;
                snprintf(what, n, spike ? "the loss reached %.4g at step %lld (limit %.4g)"
                                        : "the mean loss of the last steps was %.4g at step %lld (limit %.4g)",
                         sqlite3_column_double(q, 1), (long long)sqlite3_column_int64(q, 0), d->loss_limit);
            } else {
                snprintf(what, n, "the loss stayed below %.4g in steps %lld to %lld", d->loss_limit, (long long)judged,
                         (long long)to - 1);
            }
            sqlite3_finalize(q);
        }
    } else {
        snprintf(sql, sizeof sql, "SELECT min(step), count(*) FROM layer_stats WHERE run_id = %lld AND"
                 " nan + pos_inf + neg_inf > 0 AND step >= %lld AND step < %lld", (long long)run, (long long)from,
                 (long long)to);
        if (sqlite3_prepare_v2(s3, sql, -1, &q, NULL) == SQLITE_OK) {
            if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int64(q, 1) > 0) {
                hit = true;
                snprintf(what, n, "non-finite values from step %lld", (long long)sqlite3_column_int64(q, 0));
            } else {
                snprintf(what, n, "every tensor finite in steps %lld to %lld", (long long)from, (long long)to - 1);
            }
            sqlite3_finalize(q);
        }
    }
    /* the fp32 shadow (every applied step): the layer output furthest from fp32 */
    snprintf(sql, sizeof sql, "SELECT layer, step, sqnr_db FROM drift WHERE run_id = %lld AND step >= %lld AND"
             " step < %lld AND sqnr_db IS NOT NULL ORDER BY sqnr_db LIMIT 1", (long long)run, (long long)from,
             (long long)to);
    if (sqlite3_prepare_v2(s3, sql, -1, &q, NULL) == SQLITE_OK) {
        size_t len = strlen(what);
        if (sqlite3_step(q) == SQLITE_ROW) {
            double sqnr = sqlite3_column_double(q, 2);
            if (isinf(sqnr))
                snprintf(what + len, n - len, "; every layer output equal to the fp32 shadow's");
            else
                snprintf(what + len, n - len, "; against the fp32 shadow the furthest layer output was '%s', %.1f dB "
                         "SQNR at step %lld", (const char *)sqlite3_column_text(q, 0), sqnr,
                         (long long)sqlite3_column_int64(q, 1));
        } else {
            snprintf(what + len, n - len, "; no step to compare with the fp32 shadow (none applied)");
        }
        sqlite3_finalize(q);
    }
    sqlite3_close(s3);
    return hit;
}

static pt_status replay_one(pt_backend *be, const pt_model_spec *spec, const pt_policy *pol, const pt_data *data,
                            const char *ckpt, int64_t to, const char *db, const pt_diagnosis *d, bool patched,
                            bool *hit, char *what, size_t n, int64_t *from)
{
    pt_trainer *t = NULL;
    pt_telemetry *tel = NULL;
    int64_t run = 0;
    unlink(db);
    pt_status st = pt_trainer_create(be, spec, pol, data, &t);
    if (!st) st = pt_trainer_load(t, ckpt);
    /* the patch's loss-scale settings start here; the original keeps the
     * checkpoint's scaler state, so that its replay is bit-identical */
    if (!st && patched) pt_trainer_reset_scaler(t);
    if (!st) st = pt_telemetry_open(db, &tel);
    pt_run_info info = {"replay", spec->name, NULL, NULL, NULL, pol->source, pt_backend_name(be), data->desc,
                        "prectune diagnose --replay", (int64_t)spec->train.seed, to, &data->read};
    if (!st) st = pt_telemetry_begin_run(tel, &info, &run);
    if (!st) st = pt_trainer_instrument(t, tel, run, 1, 1); /* statistics and the fp32 shadow every step */
    *from = t ? pt_trainer_steps_done(t) : 0;
    while (!st && pt_trainer_steps_done(t) < to) {
        pt_step_record r;
        st = pt_trainer_step(t, &r);
        if (st == PT_ERR_STOPPED) st = PT_OK; /* a guard stopping the replay is part of the incident */
        if (!st) st = pt_telemetry_step(tel, run, &r);
        if (r.skipped && st == PT_OK && pt_trainer_steps_done(t) >= to) break;
    }
    if (!st) st = pt_trainer_flush_stats(t);
    pt_trainer_destroy(t);
    if (tel) {
        pt_status s2 = pt_telemetry_close(tel);
        if (!st) st = s2;
    }
    if (!st) *hit = shows(d, db, run, *from, to, what, n);
    return st;
}

static const char *header_words(int h)
{
    return h == 1 ? "--header" : h == 0 ? "--no-header" : "header detection (neither --header nor --no-header)";
}

pt_status pt_replay_data(const char *db_path, int64_t run, const char *data_spec, const pt_data_options *given,
                         unsigned given_mask, char *spec_out, size_t spec_n, char *label_out, size_t label_n,
                         pt_data_options *out)
{
    pt_data_read rec;
    bool recorded;
    pt_status st = pt_telemetry_run_data(db_path, run, &rec, &recorded);
    if (st) return st;
    *out = *given;
    if (!recorded) {
        if (!data_spec)
            return pt_fail(PT_ERR_INVALID, "%s: run %lld did not record its data (a database from an older prectune): "
                           "give --data SPEC and the data options it was trained with", db_path, (long long)run);
        snprintf(spec_out, spec_n, "%s", data_spec);
        if (given->label) snprintf(label_out, label_n, "%s", given->label), out->label = label_out;
        return PT_OK;
    }
    const char *where = db_path;
    if (data_spec) {
        /* the same kind of data (the path may differ: another folder, a copy) */
        size_t a = strcspn(data_spec, ":"), b = strcspn(rec.spec, ":");
        if (a != b || strncmp(data_spec, rec.spec, a) != 0)
            return pt_fail(PT_ERR_INVALID, "--data %s: run %lld of %s trained on %s; replay it on that data (or "
                           "leave --data out)", data_spec, (long long)run, where, rec.spec);
    }
    snprintf(spec_out, spec_n, "%s", data_spec ? data_spec : rec.spec);
    if ((given_mask & PT_GIVEN_LABEL) && strcmp(given->label ? given->label : "", rec.label) != 0)
        return pt_fail(PT_ERR_INVALID, "--label %s: run %lld of %s read its labels from %s%s%s; leave --label out to "
                       "replay the data as the run read them", given->label ? given->label : "", (long long)run, where,
                       rec.label[0] ? "column '" : "the last column", rec.label, rec.label[0] ? "'" : "");
    if ((given_mask & PT_GIVEN_HEADER) && given->header != rec.header)
        return pt_fail(PT_ERR_INVALID, "%s: run %lld of %s read its data with %s; leave it out to replay the data as "
                       "the run read them", header_words(given->header), (long long)run, where, header_words(rec.header));
    if ((given_mask & PT_GIVEN_STANDARDIZE) && given->standardize != rec.standardize)
        return pt_fail(PT_ERR_INVALID, "--no-standardize: run %lld of %s standardized its features; leave it out to "
                       "replay the data as the run read them", (long long)run, where);
    if ((given_mask & PT_GIVEN_VAL_FRACTION) && given->val_fraction != rec.val_fraction)
        return pt_fail(PT_ERR_INVALID, "--val-fraction %g: run %lld of %s held out %g of its rows; leave it out to "
                       "replay the data as the run read them", given->val_fraction, (long long)run, where,
                       rec.val_fraction);
    snprintf(label_out, label_n, "%s", rec.label);
    out->label = rec.label[0] ? label_out : NULL;
    out->header = rec.header, out->standardize = rec.standardize;
    out->val_fraction = rec.val_fraction, out->seed = rec.seed;
    /* token data: the windows are cut with the run's context and checked
     * against its vocabulary, and the files must hash as the run's did */
    if (rec.context > 0) out->context = rec.context, out->vocab = rec.vocab, out->digest = rec.digest;
    return PT_OK;
}

pt_status pt_diagnose_replay(const char *db_path, const pt_diagnosis *d, const char *data_spec,
                             const pt_data_options *dopt, const char *ckpt_dir, const char *device,
                             pt_replay_result *out)
{
    memset(out, 0, sizeof *out);
    if (!d->incident) return pt_fail(PT_ERR_INVALID, "%s: no incident to replay", db_path);
    if (!d->has_patch)
        return pt_fail(PT_ERR_INVALID, "%s: the fix is not a policy change (%s): nothing to replay it with", db_path, d->fix);
    sqlite3 *s3;
    if (sqlite3_open_v2(db_path, &s3, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        return pt_fail(PT_ERR_IO, "%s: cannot open", db_path);
    sqlite3_stmt *q;
    char *spec_json = NULL, *pol_json = NULL;
    int64_t run_steps = 0; /* the run's length (train --steps), which its checkpoints are checked against */
    if (sqlite3_prepare_v2(s3, "SELECT spec_json, policy_json, steps FROM runs WHERE id = ?", -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(q, 1, d->run);
        if (sqlite3_step(q) == SQLITE_ROW) {
            if (sqlite3_column_text(q, 0)) spec_json = strdup((const char *)sqlite3_column_text(q, 0));
            if (sqlite3_column_text(q, 1)) pol_json = strdup((const char *)sqlite3_column_text(q, 1));
            run_steps = sqlite3_column_int64(q, 2);
        }
        sqlite3_finalize(q);
    }
    sqlite3_close(s3);
    pt_status st = PT_OK;
    if (!spec_json) st = pt_fail(PT_ERR_INVALID, "%s: run %lld has no model spec (imported telemetry cannot be replayed)",
                                 db_path, (long long)d->run);
    pt_model_spec spec;
    pt_policy pol;
    bool have_spec = false;
    pt_policy_init_fp32(&pol);
    if (!st) st = pt_model_spec_parse(spec_json, "the run's model spec", &spec), have_spec = !st;
    if (have_spec && run_steps > 0) spec.train.steps = run_steps;
    if (!st && pol_json) {
        pt_policy_free(&pol);
        st = pt_policy_parse(pol_json, "the run's policy", &pol);
    }
    /* the latest checkpoint at or before the incident */
    char best[4200] = "";
    int64_t best_step = -1;
    const char *names[] = {"checkpoint.ptck", "checkpoint-initial.ptck"};
    for (int i = 0; !st && i < 2; i++) {
        char p[4200];
        snprintf(p, sizeof p, "%s/%s", ckpt_dir, names[i]);
        int64_t s = pt_checkpoint_step(p);
        if (s >= 0 && s <= d->step && s > best_step) best_step = s, snprintf(best, sizeof best, "%s", p);
    }
    if (!st && best_step < 0)
        st = pt_fail(PT_ERR_INVALID, "%s: no checkpoint at or before step %lld (train with --checkpoint DIR, which "
                     "keeps the initial state and periodic checkpoints)", ckpt_dir, (long long)d->step);
    pt_data data;
    memset(&data, 0, sizeof data);
    pt_backend *be = NULL;
    /* the data as the run saw it: its held-out split and standardization
     * are drawn with the model's seed, as `prectune train` does */
    pt_data_options o = *dopt;
    if (have_spec) o.seed = spec.train.seed, o.classification = spec.loss == PT_LOSS_SOFTMAX_CE;
    if (have_spec && !o.context) o.context = spec.context, o.vocab = spec.vocab; /* else as the run recorded them */
    if (!st) st = pt_data_open(data_spec, &o, &data);
    if (!st) st = pt_backend_open(device, &be);
    int64_t to = d->step + (d->stats_interval > 1 ? d->stats_interval : 1) + 1;
    char tmpdir[4096] = "", db1[4200], db2[4200];
    if (!st) st = pt_temp_dir_create("prectune-replay", tmpdir, sizeof tmpdir);
    snprintf(db1, sizeof db1, "%s/original.db", tmpdir);
    snprintf(db2, sizeof db2, "%s/patched.db", tmpdir);
    out->checkpoint_step = best_step;
    out->to_step = to;
    if (!st) st = replay_one(be, &spec, &pol, &data, best, to, db1, d, false, &out->original, out->original_what,
                             sizeof out->original_what, &out->from_step);
    if (!st) st = replay_one(be, &spec, &d->patch, &data, best, to, db2, d, true, &out->patched, out->patched_what,
                             sizeof out->patched_what, &out->from_step);
    pt_temp_dir_remove(tmpdir);
    pt_backend_close(be);
    pt_data_free(&data);
    pt_policy_free(&pol);
    if (have_spec) pt_model_spec_free(&spec);
    free(spec_json);
    free(pol_json);
    return st;
}
