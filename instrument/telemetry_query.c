/* What the trainer, the tuner and diagnose ask of a telemetry database
 * (see telemetry.h): claims of it by one process at a time, the tuner's
 * probe cache, a layer's statistics over a run, how a run read its data.
 * Values read back are checked as values read from a file are: a
 * database is a file a user can hand us. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prectune/prectune.h"
#include "telemetry_impl.h"

/* When process pid started, in clock ticks since boot (field 22 of
 * /proc/PID/stat, after the command's name in parentheses), into buf; ""
 * where the system does not say. */
static void process_start(long pid, char *buf, size_t n)
{
    buf[0] = '\0';
    char path[64], stat[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return;
    size_t len = fread(stat, 1, sizeof stat - 1, f);
    fclose(f);
    stat[len] = '\0';
    char *p = strrchr(stat, ')');
    for (int field = 2; p && field < 22; field++) p = strchr(p + 1, ' ');
    if (p) snprintf(buf, n, "%.*s", (int)strcspn(p + 1, " "), p + 1);
}

/* Whether the process of a claim still runs: on this host, the pid with
 * the start time recorded; on another, assumed. */
static bool holder_alive(long pid, const char *start, const char *host, const char *my_host)
{
    if (strcmp(host, my_host) != 0) return true;
    if (kill((pid_t)pid, 0) != 0 && errno != EPERM) return false;
    char now[32];
    process_start(pid, now, sizeof now);
    return !start[0] || !now[0] || strcmp(start, now) == 0;
}

static const char *col_text(sqlite3_stmt *s, int i)
{
    const unsigned char *v = sqlite3_column_text(s, i);
    return v ? (const char *)v : "";
}

pt_status pt_telemetry_claim(pt_telemetry *t, const char *what)
{
    pt_status st = pt_telemetry_flush(t);
    if (st) return st;
    char host[256] = "", start[32];
    gethostname(host, sizeof host - 1);
    long me = (long)getpid();
    process_start(me, start, sizeof start);
    pthread_mutex_lock(&t->mu);
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_exec(t->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc == SQLITE_BUSY) {
        pthread_mutex_unlock(&t->mu);
        return pt_fail(PT_ERR_IO, "%s: another prectune is writing this database (it stayed locked for 5 s): "
                       "one %s at a time, or another --db", t->path, what);
    }
    bool held = false;
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(t->db, "SELECT pid, coalesce(pid_start, ''), coalesce(host, ''), since FROM claims "
                                "WHERE what = ?", -1, &s, NULL);
    if (rc == SQLITE_OK) {
        pt_tel_bind_text(s, 1, what);
        if (sqlite3_step(s) == SQLITE_ROW) {
            long pid = (long)sqlite3_column_int64(s, 0);
            if (pid != me && holder_alive(pid, col_text(s, 1), col_text(s, 2), host)) {
                held = true;
                st = pt_fail(PT_ERR_IO,
                             "%s: another prectune %s (pid %ld on %s, since %s UTC) is using this database: "
                             "wait for it to finish, then run this again (it reuses that tune's probes), or "
                             "give another --db",
                             t->path, what, pid, col_text(s, 2), col_text(s, 3));
            }
        }
        sqlite3_finalize(s);
        s = NULL;
    }
    if (rc == SQLITE_OK && !held)
        rc = sqlite3_prepare_v2(t->db, "INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, datetime('now'))", -1, &s,
                                NULL);
    if (rc == SQLITE_OK && !held) {
        pt_tel_bind_text(s, 1, what), sqlite3_bind_int64(s, 2, me), pt_tel_bind_text(s, 3, start), pt_tel_bind_text(s, 4, host);
        rc = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(t->db);
        sqlite3_finalize(s);
    }
    if (rc == SQLITE_OK && !held) rc = sqlite3_exec(t->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) st = pt_tel_db_fail(t, "claiming the database");
    if ((rc != SQLITE_OK || held) && !sqlite3_get_autocommit(t->db)) sqlite3_exec(t->db, "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_unlock(&t->mu);
    return st;
}

pt_status pt_telemetry_release(pt_telemetry *t, const char *what)
{
    pt_status st = pt_telemetry_flush(t);
    if (st) return st;
    pthread_mutex_lock(&t->mu);
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(t->db, "DELETE FROM claims WHERE what = ? AND pid = ?", -1, &s, NULL);
    if (rc == SQLITE_OK) {
        pt_tel_bind_text(s, 1, what), sqlite3_bind_int64(s, 2, (long)getpid());
        rc = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(t->db);
        sqlite3_finalize(s);
    }
    if (rc != SQLITE_OK) st = pt_tel_db_fail(t, "releasing the database's claim");
    pthread_mutex_unlock(&t->mu);
    return st;
}

/* A stored probe's values, as a probe run makes them: the tuner decides
 * on them, so a row edited or damaged in the file is refused, naming it,
 * not believed. */
static pt_status probe_bad(pt_telemetry *t, const char *key, const char *field, double v, const char *expected)
{
    return pt_fail(PT_ERR_INVALID, "%s: probes row '%.200s': %s is %g, expected %s (a damaged database? delete the "
                   "row, or the file, to run the probe again)", t->path, key, field, v, expected);
}

static pt_status probe_check(pt_telemetry *t, const char *key, const pt_probe_result *r)
{
    if (r->run_id < 1) return probe_bad(t, key, "run_id", (double)r->run_id, "a run id of 1 or more");
    if (!(r->skipped_fraction >= 0 && r->skipped_fraction <= 1))
        return probe_bad(t, key, "skipped_fraction", r->skipped_fraction, "0 to 1");
    if (r->nonfinite < 0) return probe_bad(t, key, "nonfinite", (double)r->nonfinite, "0 or more");
    if (!(r->seconds >= 0) || isinf(r->seconds)) return probe_bad(t, key, "seconds", r->seconds, "a finite 0 or more");
    if (!isnan(r->accuracy) && !(r->accuracy >= 0 && r->accuracy <= 1))
        return probe_bad(t, key, "accuracy", r->accuracy, "0 to 1, or NULL");
    return PT_OK;
}

pt_status pt_telemetry_probe_get(pt_telemetry *t, const char *key, pt_probe_result *r, bool *found)
{
    *found = false;
    pt_status st = pt_telemetry_flush(t);
    if (st) return st;
    sqlite3_stmt *s;
    pthread_mutex_lock(&t->mu);
    int rc = sqlite3_prepare_v2(t->db, "SELECT run_id, final_loss, accuracy, skipped_fraction, nonfinite,"
                                " diverged, seconds FROM probes WHERE key = ?", -1, &s, NULL);
    if (rc == SQLITE_OK) {
        pt_tel_bind_text(s, 1, key);
        if (sqlite3_step(s) == SQLITE_ROW) {
            r->run_id = sqlite3_column_int64(s, 0);
            /* SQLite stores NaN as NULL: a probe that ended in NaN */
            r->final_loss = sqlite3_column_type(s, 1) == SQLITE_NULL ? NAN : sqlite3_column_double(s, 1);
            r->accuracy = sqlite3_column_type(s, 2) == SQLITE_NULL ? NAN : sqlite3_column_double(s, 2);
            r->skipped_fraction = sqlite3_column_double(s, 3);
            r->nonfinite = sqlite3_column_int64(s, 4);
            r->diverged = sqlite3_column_int(s, 5) != 0;
            r->seconds = sqlite3_column_double(s, 6);
            *found = true;
            st = probe_check(t, key, r);
        }
        sqlite3_finalize(s);
    } else {
        st = pt_tel_db_fail(t, "reading probes");
    }
    pthread_mutex_unlock(&t->mu);
    return st;
}

pt_status pt_telemetry_probe_put(pt_telemetry *t, const char *key, const pt_probe_result *r)
{
    pt_status st = pt_telemetry_flush(t); /* the probe's own rows first */
    if (st) return st;
    sqlite3_stmt *s;
    pthread_mutex_lock(&t->mu);
    int rc = sqlite3_prepare_v2(t->db, "INSERT OR REPLACE INTO probes VALUES (?,?,?,?,?,?,?,?)", -1, &s, NULL);
    if (rc == SQLITE_OK) {
        pt_tel_bind_text(s, 1, key);
        sqlite3_bind_int64(s, 2, r->run_id);
        sqlite3_bind_double(s, 3, r->final_loss);
        if (r->accuracy == r->accuracy) sqlite3_bind_double(s, 4, r->accuracy);
        else sqlite3_bind_null(s, 4);
        sqlite3_bind_double(s, 5, r->skipped_fraction);
        sqlite3_bind_int64(s, 6, r->nonfinite);
        sqlite3_bind_int(s, 7, r->diverged);
        sqlite3_bind_double(s, 8, r->seconds);
        rc = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
        sqlite3_finalize(s);
    }
    if (rc != SQLITE_OK) st = pt_tel_db_fail(t, "storing a probe result");
    pthread_mutex_unlock(&t->mu);
    return st;
}

pt_status pt_telemetry_layer_summary(pt_telemetry *t, int64_t run, int layer_index, pt_role role,
                                     pt_stats *out, bool *found)
{
    *found = false;
    memset(out, 0, sizeof *out);
    pt_status st = pt_telemetry_flush(t);
    if (st) return st;
    sqlite3_stmt *s;
    pthread_mutex_lock(&t->mu);
    int rc = sqlite3_prepare_v2(t->db, "SELECT count, nan, pos_inf, neg_inf, zero, absmax, min_nonzero,"
                                " underflow_fp16, underflow_bf16, underflow_e4m3, underflow_e5m2,"
                                " overflow_fp16, overflow_bf16, overflow_e4m3, overflow_e5m2, hist, scale"
                                " FROM layer_stats WHERE run_id = ? AND layer_index = ? AND role = ?",
                                -1, &s, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, run);
        sqlite3_bind_int(s, 2, layer_index);
        sqlite3_bind_text(s, 3, pt_role_name(role), -1, SQLITE_STATIC);
        while (sqlite3_step(s) == SQLITE_ROW) {
            pt_stats one;
            memset(&one, 0, sizeof one);
            one.count = (uint64_t)sqlite3_column_int64(s, 0);
            one.nan = (uint64_t)sqlite3_column_int64(s, 1);
            one.pos_inf = (uint64_t)sqlite3_column_int64(s, 2);
            one.neg_inf = (uint64_t)sqlite3_column_int64(s, 3);
            one.zero = (uint64_t)sqlite3_column_int64(s, 4);
            one.absmax = (float)sqlite3_column_double(s, 5);
            one.min_nonzero = (float)sqlite3_column_double(s, 6);
            for (int k = 0; k < PT_SFMT_COUNT; k++) {
                one.underflow[k] = (uint64_t)sqlite3_column_int64(s, 7 + k);
                one.overflow[k] = (uint64_t)sqlite3_column_int64(s, 11 + k);
            }
            const unsigned char *b = sqlite3_column_blob(s, 15);
            if (b && sqlite3_column_bytes(s, 15) == PT_HIST_BINS * 8)
                for (int i = 0; i < PT_HIST_BINS; i++)
                    for (int k = 0; k < 8; k++) one.hist[i] |= (uint64_t)b[8 * i + k] << (8 * k);
            one.scale = (float)sqlite3_column_double(s, 16);
            if (!*found) *out = one;
            else pt_stats_merge(out, &one);
            *found = true;
        }
        sqlite3_finalize(s);
    } else {
        st = pt_tel_db_fail(t, "reading layer statistics");
    }
    pthread_mutex_unlock(&t->mu);
    return st;
}

pt_status pt_telemetry_run_data(const char *db_path, int64_t run, pt_data_read *out, bool *recorded)
{
    memset(out, 0, sizeof *out);
    *recorded = false;
    sqlite3 *db;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        pt_status st = pt_fail(PT_ERR_IO, "%s: cannot open: %s", db_path, sqlite3_errmsg(db));
        sqlite3_close(db);
        return st;
    }
    sqlite3_stmt *s;
    /* a database from before schema version 3 has no data_* columns:
     * nothing recorded; before version 5, no token data (context, vocab
     * and digest read as 0) */
    bool v5 = sqlite3_prepare_v2(db, "SELECT data_spec, data_label, data_header, data_standardize, data_val_fraction,"
                                     " data_seed, data_context, data_vocab, data_digest FROM runs WHERE id = ?", -1, &s,
                                 NULL) == SQLITE_OK;
    if (v5 || sqlite3_prepare_v2(db, "SELECT data_spec, data_label, data_header, data_standardize, data_val_fraction,"
                                     " data_seed FROM runs WHERE id = ?", -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, run);
        if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) {
            const unsigned char *spec = sqlite3_column_text(s, 0), *label = sqlite3_column_text(s, 1);
            snprintf(out->spec, sizeof out->spec, "%s", spec ? (const char *)spec : "");
            snprintf(out->label, sizeof out->label, "%s", label ? (const char *)label : "");
            out->header = sqlite3_column_int(s, 2);
            out->standardize = sqlite3_column_int(s, 3) != 0;
            out->val_fraction = sqlite3_column_double(s, 4);
            out->seed = (uint64_t)sqlite3_column_int64(s, 5);
            if (v5) {
                out->context = sqlite3_column_int(s, 6), out->vocab = sqlite3_column_int(s, 7);
                out->digest = (uint64_t)sqlite3_column_int64(s, 8);
            }
            *recorded = true;
        }
        sqlite3_finalize(s);
    }
    sqlite3_close(db);
    return PT_OK;
}
