/* SQLite telemetry (see telemetry.h). The training thread only appends
 * rows to a queue; a writer thread commits them in one transaction per
 * batch with prepared statements. The schema lives here, once; it is
 * documented in docs/telemetry.md. */
#include "prectune/telemetry.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "prectune/prectune.h"

static const char *const schema_sql =
    "CREATE TABLE IF NOT EXISTS runs ("
    " id INTEGER PRIMARY KEY, kind TEXT NOT NULL, started TEXT NOT NULL, finished TEXT,"
    " status TEXT, model TEXT NOT NULL, fingerprint TEXT, spec_json TEXT, policy_json TEXT,"
    " policy_source TEXT, device TEXT, data TEXT, command TEXT, seed INTEGER, steps INTEGER,"
    " prectune_version TEXT);"
    "CREATE TABLE IF NOT EXISTS steps ("
    " run_id INTEGER NOT NULL REFERENCES runs(id), step INTEGER NOT NULL, loss REAL,"
    " scale REAL, skipped INTEGER NOT NULL, reason TEXT, grad_norm REAL, lr REAL, ms REAL,"
    " fp8_clamped INTEGER, fp8_nan_amax INTEGER, PRIMARY KEY (run_id, step));"
    "CREATE TABLE IF NOT EXISTS layer_stats ("
    " run_id INTEGER NOT NULL REFERENCES runs(id), step INTEGER NOT NULL,"
    " layer_index INTEGER NOT NULL, layer TEXT NOT NULL, role TEXT NOT NULL, format TEXT,"
    " scale REAL, count INTEGER, nan INTEGER, pos_inf INTEGER, neg_inf INTEGER, zero INTEGER,"
    " absmax REAL, min_nonzero REAL,"
    " underflow_fp16 INTEGER, underflow_bf16 INTEGER, underflow_e4m3 INTEGER, underflow_e5m2 INTEGER,"
    " overflow_fp16 INTEGER, overflow_bf16 INTEGER, overflow_e4m3 INTEGER, overflow_e5m2 INTEGER,"
    " hist BLOB, PRIMARY KEY (run_id, step, layer_index, role));"
    "CREATE TABLE IF NOT EXISTS drift ("
    " run_id INTEGER NOT NULL REFERENCES runs(id), step INTEGER NOT NULL,"
    " layer_index INTEGER NOT NULL, layer TEXT NOT NULL, sqnr_db REAL, max_rel_err REAL,"
    " PRIMARY KEY (run_id, step, layer_index));"
    "CREATE TABLE IF NOT EXISTS evals ("
    " run_id INTEGER NOT NULL REFERENCES runs(id), step INTEGER NOT NULL, loss REAL,"
    " accuracy REAL, samples INTEGER, PRIMARY KEY (run_id, step));"
    "CREATE TABLE IF NOT EXISTS events ("
    " id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id), step INTEGER,"
    " severity TEXT NOT NULL, kind TEXT NOT NULL, message TEXT);";

/* Migrations: migration[v] takes a database from version v to v + 1. */
static const char *const migration[PT_TELEMETRY_SCHEMA_VERSION] = {
    [0] = NULL, /* version 0 is a new file: schema_sql plus every migration */
    [1] = "CREATE TABLE IF NOT EXISTS probes ("
          " key TEXT PRIMARY KEY, run_id INTEGER, final_loss REAL, accuracy REAL,"
          " skipped_fraction REAL, nonfinite INTEGER, diverged INTEGER, seconds REAL);",
    /* how each run read its data, for a replay to read it the same way */
    [2] = "ALTER TABLE runs ADD COLUMN data_spec TEXT;"
          "ALTER TABLE runs ADD COLUMN data_label TEXT;"
          "ALTER TABLE runs ADD COLUMN data_header INTEGER;"
          "ALTER TABLE runs ADD COLUMN data_standardize INTEGER;"
          "ALTER TABLE runs ADD COLUMN data_val_fraction REAL;"
          "ALTER TABLE runs ADD COLUMN data_seed INTEGER;",
    [3] = "CREATE TABLE IF NOT EXISTS claims ("
          " what TEXT PRIMARY KEY, pid INTEGER NOT NULL, pid_start TEXT, host TEXT, since TEXT NOT NULL);",
    /* token data: the context and vocabulary the run read them with, and
     * the digest of the files' bytes (a replay refuses other files) */
    [4] = "ALTER TABLE runs ADD COLUMN data_context INTEGER;"
          "ALTER TABLE runs ADD COLUMN data_vocab INTEGER;"
          "ALTER TABLE runs ADD COLUMN data_digest INTEGER;",
};

static const char *const role_names[PT_ROLE_COUNT] = {"x", "w", "dy", "dw"};
const char *pt_role_name(pt_role r) { return (unsigned)r < PT_ROLE_COUNT ? role_names[r] : "?"; }

#include "telemetry_impl.h"

/* SQLite's message, and the system's where a system call failed under it
 * ("database or disk is full (No space left on device)") */
void pt_tel_db_error_text(sqlite3 *db, char *buf, size_t n)
{
    int e = sqlite3_system_errno(db); /* SQLite keeps it for I/O errors, not for a full disk */
    if ((sqlite3_extended_errcode(db) & 0xff) == SQLITE_FULL)
        snprintf(buf, n, "%s (%s on the disk that holds it)", sqlite3_errmsg(db), strerror(ENOSPC));
    else if (e) snprintf(buf, n, "%s (%s)", sqlite3_errmsg(db), strerror(e));
    else snprintf(buf, n, "%s", sqlite3_errmsg(db));
}

pt_status pt_tel_db_fail(pt_telemetry *t, const char *what)
{
    char err[512];
    pt_tel_db_error_text(t->db, err, sizeof err);
    return pt_fail(PT_ERR_IO, "%s: %s: %s", t->path, what, err);
}

static void free_row(row *r)
{
    for (int k = 0; k < 4; k++) free(r->text[k]);
}

int pt_tel_bind_text(sqlite3_stmt *s, int i, const char *v)
{
    return v ? sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(s, i);
}

/* Writes one row; on failure its error's text goes to err (taken before
 * the statement's reset, which clears the system's errno). */
static int write_row(pt_telemetry *t, const row *r, char *err, size_t errlen)
{
    sqlite3_stmt *s = NULL;
    switch (r->kind) {
    case ROW_STEP:
        s = t->stmt[STMT_STEP];
        sqlite3_bind_int64(s, 1, r->run), sqlite3_bind_int64(s, 2, r->step);
        sqlite3_bind_double(s, 3, r->d[0]), sqlite3_bind_double(s, 4, r->d[1]);
        sqlite3_bind_int(s, 5, (int)r->i[0]), pt_tel_bind_text(s, 6, r->text[0]);
        sqlite3_bind_double(s, 7, r->d[2]), sqlite3_bind_double(s, 8, r->d[3]);
        sqlite3_bind_double(s, 9, r->d[4]);
        sqlite3_bind_int64(s, 10, r->i[1]), sqlite3_bind_int64(s, 11, r->i[2]);
        break;
    case ROW_STATS: {
        s = t->stmt[STMT_STATS];
        const pt_stats *st = &r->stats;
        int c = 1;
        sqlite3_bind_int64(s, c++, r->run), sqlite3_bind_int64(s, c++, r->step);
        sqlite3_bind_int(s, c++, r->layer_index);
        pt_tel_bind_text(s, c++, r->text[0]), pt_tel_bind_text(s, c++, r->text[1]), pt_tel_bind_text(s, c++, r->text[2]);
        sqlite3_bind_double(s, c++, st->scale);
        sqlite3_bind_int64(s, c++, (int64_t)st->count), sqlite3_bind_int64(s, c++, (int64_t)st->nan);
        sqlite3_bind_int64(s, c++, (int64_t)st->pos_inf), sqlite3_bind_int64(s, c++, (int64_t)st->neg_inf);
        sqlite3_bind_int64(s, c++, (int64_t)st->zero);
        sqlite3_bind_double(s, c++, st->absmax), sqlite3_bind_double(s, c++, st->min_nonzero);
        for (int k = 0; k < PT_SFMT_COUNT; k++) sqlite3_bind_int64(s, c++, (int64_t)st->underflow[k]);
        for (int k = 0; k < PT_SFMT_COUNT; k++) sqlite3_bind_int64(s, c++, (int64_t)st->overflow[k]);
        unsigned char blob[PT_HIST_BINS * 8];
        for (int b = 0; b < PT_HIST_BINS; b++)
            for (int k = 0; k < 8; k++) blob[b * 8 + k] = (unsigned char)(st->hist[b] >> (8 * k));
        sqlite3_bind_blob(s, c++, blob, sizeof blob, SQLITE_TRANSIENT);
        break;
    }
    case ROW_DRIFT:
        s = t->stmt[STMT_DRIFT];
        sqlite3_bind_int64(s, 1, r->run), sqlite3_bind_int64(s, 2, r->step);
        sqlite3_bind_int(s, 3, r->layer_index), pt_tel_bind_text(s, 4, r->text[0]);
        sqlite3_bind_double(s, 5, r->d[0]), sqlite3_bind_double(s, 6, r->d[1]);
        break;
    case ROW_EVAL:
        s = t->stmt[STMT_EVAL];
        sqlite3_bind_int64(s, 1, r->run), sqlite3_bind_int64(s, 2, r->step);
        sqlite3_bind_double(s, 3, r->d[0]);
        if (r->d[1] == r->d[1]) sqlite3_bind_double(s, 4, r->d[1]);
        else sqlite3_bind_null(s, 4);
        sqlite3_bind_int64(s, 5, r->i[0]);
        break;
    case ROW_EVENT:
        s = t->stmt[STMT_EVENT];
        sqlite3_bind_int64(s, 1, r->run), sqlite3_bind_int64(s, 2, r->step);
        pt_tel_bind_text(s, 3, r->text[0]), pt_tel_bind_text(s, 4, r->text[1]), pt_tel_bind_text(s, 5, r->text[2]);
        break;
    case ROW_END_RUN:
        s = t->stmt[STMT_END];
        pt_tel_bind_text(s, 1, r->text[0]), sqlite3_bind_int64(s, 2, r->run);
        break;
    }
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE) pt_tel_db_error_text(t->db, err, errlen);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static void *writer_main(void *arg)
{
    pt_telemetry *t = arg;
    pthread_mutex_lock(&t->mu);
    for (;;) {
        while (!t->stop && t->n == 0) pthread_cond_wait(&t->wake, &t->mu);
        if (t->n == 0) break; /* stopping, nothing left */
        /* a partial batch waits up to max_wait_ms for company, unless a
         * flush or close wants it now */
        if (!t->stop && !t->flush_wanted && t->n < (size_t)t->batch_rows) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += (long)t->max_wait_ms * 1000000L;
            ts.tv_sec += ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            while (!t->stop && !t->flush_wanted && t->n < (size_t)t->batch_rows &&
                   pthread_cond_timedwait(&t->wake, &t->mu, &ts) == 0) {
            }
        }
        row *batch = t->queue;
        size_t n = t->n;
        t->queue = NULL;
        t->n = t->cap = 0;
        pthread_mutex_unlock(&t->mu);
        char err[512] = "";
        int rc = sqlite3_exec(t->db, "BEGIN", NULL, NULL, NULL);
        for (size_t i = 0; i < n && rc == SQLITE_OK; i++) rc = write_row(t, &batch[i], err, sizeof err);
        rc = rc == SQLITE_OK ? sqlite3_exec(t->db, "COMMIT", NULL, NULL, NULL) : rc;
        if (rc != SQLITE_OK) {
            /* the failure's own message, before a rollback can replace it;
             * SQLite has rolled back itself after some (a full disk) */
            if (!err[0]) pt_tel_db_error_text(t->db, err, sizeof err);
            if (!sqlite3_get_autocommit(t->db)) sqlite3_exec(t->db, "ROLLBACK", NULL, NULL, NULL);
        }
        for (size_t i = 0; i < n; i++) free_row(&batch[i]);
        free(batch);
        pthread_mutex_lock(&t->mu);
        if (rc != SQLITE_OK && !t->err) {
            t->err = PT_ERR_IO;
            snprintf(t->errmsg, sizeof t->errmsg, "%s: writing telemetry: %s", t->path, err);
        }
        t->committed += n;
        if (t->committed >= t->queued) t->flush_wanted = false;
        pthread_cond_broadcast(&t->done);
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

static pt_status enqueue(pt_telemetry *t, row *r)
{
    pthread_mutex_lock(&t->mu);
    pt_status err = t->err;
    if (!err && t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        row *q = realloc(t->queue, cap * sizeof *q);
        if (!q) err = PT_ERR_NOMEM;
        else t->queue = q, t->cap = cap;
    }
    if (!err) {
        t->queue[t->n++] = *r;
        t->queued++;
        if (t->n >= (size_t)t->batch_rows) pthread_cond_signal(&t->wake);
    }
    pthread_mutex_unlock(&t->mu);
    if (err) {
        free_row(r);
        return err == PT_ERR_NOMEM ? pt_fail(err, "telemetry: out of memory")
                                   : pt_fail(err, "%s", t->errmsg);
    }
    return PT_OK;
}

static char *dup_text(const char *s) { return s ? strdup(s) : NULL; }

static pt_status prepare(pt_telemetry *t)
{
    static const char *const sql[STMT_COUNT] = {
        [STMT_STEP] = "INSERT OR REPLACE INTO steps VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        [STMT_STATS] = "INSERT OR REPLACE INTO layer_stats VALUES "
                       "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [STMT_DRIFT] = "INSERT OR REPLACE INTO drift VALUES (?,?,?,?,?,?)",
        [STMT_EVAL] = "INSERT OR REPLACE INTO evals VALUES (?,?,?,?,?)",
        [STMT_EVENT] = "INSERT INTO events (run_id, step, severity, kind, message) VALUES (?,?,?,?,?)",
        [STMT_END] = "UPDATE runs SET finished = datetime('now'), status = ? WHERE id = ?",
    };
    for (int i = 0; i < STMT_COUNT; i++)
        if (sqlite3_prepare_v2(t->db, sql[i], -1, &t->stmt[i], NULL) != SQLITE_OK)
            return pt_tel_db_fail(t, "preparing statements");
    return PT_OK;
}

static pt_status init_schema(pt_telemetry *t)
{
    sqlite3_stmt *s;
    int version = 0;
    if (sqlite3_prepare_v2(t->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
        return pt_tel_db_fail(t, "reading the schema version");
    if (sqlite3_step(s) == SQLITE_ROW) version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    if (version > PT_TELEMETRY_SCHEMA_VERSION)
        return pt_fail(PT_ERR_INVALID,
                       "%s: telemetry schema version %d was written by a newer prectune; this one "
                       "(%s) reads versions up to %d: upgrade prectune or use another --db",
                       t->path, version, pt_version(), PT_TELEMETRY_SCHEMA_VERSION);
    if (version == PT_TELEMETRY_SCHEMA_VERSION) return PT_OK;
    /* a new file gets the schema; an older one its migrations, in one
     * transaction */
    char *err = NULL;
    char sql[128];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", PT_TELEMETRY_SCHEMA_VERSION);
    int rc = sqlite3_exec(t->db, "BEGIN", NULL, NULL, &err);
    if (rc == SQLITE_OK && version == 0) rc = sqlite3_exec(t->db, schema_sql, NULL, NULL, &err);
    for (int v = version == 0 ? 1 : version; rc == SQLITE_OK && v < PT_TELEMETRY_SCHEMA_VERSION; v++)
        rc = sqlite3_exec(t->db, migration[v], NULL, NULL, &err);
    if (rc == SQLITE_OK) rc = sqlite3_exec(t->db, sql, NULL, NULL, &err);
    if (rc == SQLITE_OK) rc = sqlite3_exec(t->db, "COMMIT", NULL, NULL, &err);
    if (rc != SQLITE_OK) {
        char why[512];
        pt_tel_db_error_text(t->db, why, sizeof why);
        if (!sqlite3_get_autocommit(t->db)) sqlite3_exec(t->db, "ROLLBACK", NULL, NULL, NULL);
        pt_status st = pt_fail(PT_ERR_IO, "%s: creating the telemetry schema: %s", t->path, why);
        sqlite3_free(err);
        return st;
    }
    return PT_OK;
}

pt_status pt_telemetry_open(const char *path, pt_telemetry **out)
{
    *out = NULL;
    pt_telemetry *t = calloc(1, sizeof *t);
    if (!t) return pt_fail(PT_ERR_NOMEM, "telemetry: out of memory");
    snprintf(t->path, sizeof t->path, "%s", path);
    t->batch_rows = 512;
    t->max_wait_ms = 1000;
    pt_status st = PT_OK;
    struct stat sb;
    bool existed = stat(path, &sb) == 0;
    if (existed && !S_ISREG(sb.st_mode)) {
        free(t);
        return pt_fail(PT_ERR_INVALID, "%s: not a regular file (a telemetry database is one)", path);
    }
    if (sqlite3_open_v2(path, &t->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
        st = pt_tel_db_fail(t, "cannot open");
    /* the first statements write the file: a read-only folder or a full
     * disk shows here */
    if (!st && (sqlite3_exec(t->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) != SQLITE_OK ||
                sqlite3_exec(t->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL) != SQLITE_OK))
        st = pt_tel_db_fail(t, sqlite3_errcode(t->db) == SQLITE_NOTADB ? "not a SQLite database"
                                                                : "cannot write the telemetry database");
    if (!st) sqlite3_busy_timeout(t->db, 5000);
    if (!st) st = init_schema(t);
    if (!st) st = prepare(t);
    if (!st) {
        pthread_mutex_init(&t->mu, NULL);
        pthread_cond_init(&t->wake, NULL);
        pthread_cond_init(&t->done, NULL);
        if (pthread_create(&t->writer, NULL, writer_main, t) != 0)
            st = pt_fail(PT_ERR_IO, "telemetry: cannot start the writer thread");
    }
    if (st && sqlite3_errcode(t->db) != SQLITE_NOTADB) {
        /* SQLite says "unable to open database file" for a folder it cannot
         * create its -wal file in: the system's reason is clearer */
        char dir[1100];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash) slash[slash == dir ? 1 : 0] = '\0';
        const char *d = slash ? dir : ".";
        if ((existed && access(path, W_OK) != 0) || access(d, W_OK) != 0)
            st = pt_fail(PT_ERR_IO, "%s: cannot write the telemetry database: %s", path, strerror(errno));
    }
    if (st) {
        for (int i = 0; i < STMT_COUNT; i++) sqlite3_finalize(t->stmt[i]);
        sqlite3_close(t->db);
        if (!existed) { /* no database without its schema is left behind */
            static const char *const side[] = {"", "-wal", "-shm", "-journal"};
            char p[1100];
            for (int i = 0; i < 4; i++) snprintf(p, sizeof p, "%s%s", path, side[i]), unlink(p);
        }
        free(t);
        return st;
    }
    *out = t;
    return PT_OK;
}

void pt_telemetry_set_batch(pt_telemetry *t, int rows, int max_wait_ms)
{
    pthread_mutex_lock(&t->mu);
    t->batch_rows = rows > 0 ? rows : 1;
    t->max_wait_ms = max_wait_ms >= 0 ? max_wait_ms : 0;
    pthread_mutex_unlock(&t->mu);
}

pt_status pt_telemetry_flush(pt_telemetry *t)
{
    pthread_mutex_lock(&t->mu);
    uint64_t target = t->queued;
    if (t->committed < target) {
        t->flush_wanted = true;
        pthread_cond_signal(&t->wake);
    }
    while (t->committed < target && !t->err) pthread_cond_wait(&t->done, &t->mu);
    pt_status err = t->err;
    pthread_mutex_unlock(&t->mu);
    return err ? pt_fail(err, "%s", t->errmsg) : PT_OK;
}

pt_status pt_telemetry_close(pt_telemetry *t)
{
    if (!t) return PT_OK;
    pt_status st = pt_telemetry_flush(t);
    pthread_mutex_lock(&t->mu);
    t->stop = true;
    pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->writer, NULL);
    for (int i = 0; i < STMT_COUNT; i++) sqlite3_finalize(t->stmt[i]);
    if (sqlite3_close(t->db) != SQLITE_OK && !st) st = pt_fail(PT_ERR_IO, "%s: close failed", t->path);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->wake);
    pthread_cond_destroy(&t->done);
    free(t->queue);
    free(t);
    return st;
}

pt_status pt_telemetry_begin_run(pt_telemetry *t, const pt_run_info *in, int64_t *run_id)
{
    pt_status st = pt_telemetry_flush(t); /* the writer thread must not be mid-transaction */
    if (st) return st;
    sqlite3_stmt *s;
    pthread_mutex_lock(&t->mu);
    int rc = sqlite3_prepare_v2(
        t->db,
        "INSERT INTO runs (kind, started, status, model, fingerprint, spec_json, policy_json, "
        "policy_source, device, data, command, seed, steps, prectune_version, data_spec, data_label, "
        "data_header, data_standardize, data_val_fraction, data_seed, data_context, data_vocab, data_digest) VALUES "
        "(?, datetime('now'), 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        -1, &s, NULL);
    if (rc == SQLITE_OK) {
        pt_tel_bind_text(s, 1, in->kind ? in->kind : "train"), pt_tel_bind_text(s, 2, in->model);
        pt_tel_bind_text(s, 3, in->fingerprint), pt_tel_bind_text(s, 4, in->spec_json);
        pt_tel_bind_text(s, 5, in->policy_json), pt_tel_bind_text(s, 6, in->policy_source);
        pt_tel_bind_text(s, 7, in->device), pt_tel_bind_text(s, 8, in->data), pt_tel_bind_text(s, 9, in->command);
        sqlite3_bind_int64(s, 10, in->seed), sqlite3_bind_int64(s, 11, in->steps);
        pt_tel_bind_text(s, 12, pt_version());
        const pt_data_read *d = in->data_read;
        if (d) {
            pt_tel_bind_text(s, 13, d->spec), pt_tel_bind_text(s, 14, d->label);
            sqlite3_bind_int(s, 15, d->header), sqlite3_bind_int(s, 16, d->standardize);
            sqlite3_bind_double(s, 17, d->val_fraction), sqlite3_bind_int64(s, 18, (int64_t)d->seed);
            sqlite3_bind_int(s, 19, d->context), sqlite3_bind_int(s, 20, d->vocab);
            sqlite3_bind_int64(s, 21, (int64_t)d->digest);
        }
        rc = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
        sqlite3_finalize(s);
    }
    if (rc == SQLITE_OK) *run_id = sqlite3_last_insert_rowid(t->db);
    else st = pt_tel_db_fail(t, "recording the run");
    pthread_mutex_unlock(&t->mu);
    return st;
}

pt_status pt_telemetry_end_run(pt_telemetry *t, int64_t run_id, const char *status)
{
    row r = {.kind = ROW_END_RUN, .run = run_id};
    r.text[0] = dup_text(status);
    pt_status st = enqueue(t, &r);
    if (st != PT_ERR_IO) return st;
    /* the writer failed (a full disk): the rows it held are lost, but the
     * run must not stay marked running. Its status is written here, once
     * the writer has let go of the queue (a small update can fit where a
     * batch did not); the writer's error stays the one reported. */
    pthread_mutex_lock(&t->mu);
    while (t->committed < t->queued) pthread_cond_wait(&t->done, &t->mu);
    sqlite3_stmt *s = t->stmt[STMT_END];
    pt_tel_bind_text(s, 1, status), sqlite3_bind_int64(s, 2, run_id);
    sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    pthread_mutex_unlock(&t->mu);
    return pt_fail(st, "%s", t->errmsg);
}

pt_status pt_telemetry_step(pt_telemetry *t, int64_t run, const pt_step_record *s)
{
    row r = {.kind = ROW_STEP, .run = run, .step = s->step};
    r.d[0] = s->loss, r.d[1] = s->scale, r.d[2] = s->grad_norm, r.d[3] = s->lr, r.d[4] = s->ms;
    r.i[0] = s->skipped, r.i[1] = s->fp8_clamped, r.i[2] = s->fp8_nan_amax;
    r.text[0] = dup_text(s->skip_reason);
    return enqueue(t, &r);
}

pt_status pt_telemetry_layer_stats(pt_telemetry *t, int64_t run, int64_t step, int layer_index,
                                   const char *layer, pt_role role, const char *format,
                                   const pt_stats *s)
{
    row r = {.kind = ROW_STATS, .run = run, .step = step, .layer_index = layer_index};
    r.text[0] = dup_text(layer), r.text[1] = dup_text(pt_role_name(role)), r.text[2] = dup_text(format);
    r.stats = *s;
    return enqueue(t, &r);
}

pt_status pt_telemetry_drift(pt_telemetry *t, int64_t run, int64_t step, int layer_index,
                             const char *layer, double sqnr_db, double max_rel_err)
{
    row r = {.kind = ROW_DRIFT, .run = run, .step = step, .layer_index = layer_index};
    r.text[0] = dup_text(layer);
    r.d[0] = sqnr_db, r.d[1] = max_rel_err;
    return enqueue(t, &r);
}

pt_status pt_telemetry_eval(pt_telemetry *t, int64_t run, const pt_eval_result *e)
{
    row r = {.kind = ROW_EVAL, .run = run, .step = e->step};
    r.d[0] = e->loss, r.d[1] = e->accuracy, r.i[0] = e->samples;
    return enqueue(t, &r);
}

pt_status pt_telemetry_event(pt_telemetry *t, int64_t run, int64_t step, const char *severity,
                             const char *kind, const char *message)
{
    row r = {.kind = ROW_EVENT, .run = run, .step = step};
    r.text[0] = dup_text(severity), r.text[1] = dup_text(kind), r.text[2] = dup_text(message);
    return enqueue(t, &r);
}

pt_status pt_telemetry_reopen_run(pt_telemetry *t, const char *fingerprint, int64_t from_step, int64_t *run_id)
{
    pt_status st = pt_telemetry_flush(t);
    if (st) return st;
    *run_id = 0;
    sqlite3_stmt *s;
    pthread_mutex_lock(&t->mu);
    int rc = sqlite3_exec(t->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(t->db,
                                "SELECT id FROM runs WHERE fingerprint = ? AND "
                                "(status IS NULL OR status != 'finished') ORDER BY id DESC LIMIT 1",
                                -1, &s, NULL);
    if (rc == SQLITE_OK) {
        pt_tel_bind_text(s, 1, fingerprint);
        if (sqlite3_step(s) == SQLITE_ROW) *run_id = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
    }
    /* the step's rows are keyed by the step it ran (steps, statistics,
     * drift, its events); an evaluation by the steps done before it, so
     * the one at from_step is the checkpoint's own */
    static const char *const sql[] = {
        "UPDATE runs SET status = 'running', finished = NULL WHERE id = ?1",
        "DELETE FROM steps WHERE run_id = ?1 AND step >= ?2",
        "DELETE FROM layer_stats WHERE run_id = ?1 AND step >= ?2",
        "DELETE FROM drift WHERE run_id = ?1 AND step >= ?2",
        "DELETE FROM evals WHERE run_id = ?1 AND step > ?2",
        "DELETE FROM events WHERE run_id = ?1 AND step >= ?2 AND kind NOT IN ('interrupted', 'stopped', 'failed')",
    };
    for (size_t i = 0; rc == SQLITE_OK && *run_id && i < sizeof sql / sizeof sql[0]; i++) {
        rc = sqlite3_prepare_v2(t->db, sql[i], -1, &s, NULL);
        if (rc != SQLITE_OK) break;
        sqlite3_bind_int64(s, 1, *run_id);
        if (i) sqlite3_bind_int64(s, 2, from_step);
        rc = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(t->db);
        sqlite3_finalize(s);
    }
    if (rc == SQLITE_OK) rc = sqlite3_exec(t->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        st = pt_tel_db_fail(t, "reopening the run to resume");
        if (!sqlite3_get_autocommit(t->db)) sqlite3_exec(t->db, "ROLLBACK", NULL, NULL, NULL);
        *run_id = 0;
    }
    pthread_mutex_unlock(&t->mu);
    return st;
}

