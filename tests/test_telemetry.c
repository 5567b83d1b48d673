/* Telemetry: the schema round-trips every field; a database from a newer
 * prectune is refused; kill -9 leaves a database that passes
 * PRAGMA integrity_check and holds every flushed step; and the per-layer
 * statistics a training run records equal statistics recomputed here,
 * independently, from the same tensors of the same steps. */
#include <check.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_run.h"
#include "instrument/net.h"
#include "prectune/telemetry.h"
#include "prectune/trainer.h"

static char db_path[128];

static void fresh_db(const char *tag)
{
    snprintf(db_path, sizeof db_path, "/tmp/pt_tel_%s_%d.db", tag, getpid());
    char p[160];
    unlink(db_path);
    snprintf(p, sizeof p, "%s-wal", db_path), unlink(p);
    snprintf(p, sizeof p, "%s-shm", db_path), unlink(p);
}

static sqlite3_stmt *query(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s;
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK, "%s", sqlite3_errmsg(db));
    return s;
}

START_TEST(test_round_trip)
{
    fresh_db("rt");
    pt_telemetry *t;
    ck_assert_msg(pt_telemetry_open(db_path, &t) == PT_OK, "%s", pt_last_error());
    pt_run_info info = {"train", "m", "xxh64:0123456789abcdef", "{}", NULL, "built-in fp32", "cpu",
                        "data", "prectune train m.json", 7, 100, NULL};
    int64_t run;
    ck_assert_int_eq(pt_telemetry_begin_run(t, &info, &run), PT_OK);
    pt_step_record r = {.step = 3, .loss = 0.25, .scale = 65536, .skipped = true,
                        .skip_reason = "non-finite gradient", .lr = 0, .grad_norm = INFINITY, .ms = 1.5,
                        .fp8_clamped = 2, .fp8_nan_amax = 1};
    ck_assert_int_eq(pt_telemetry_step(t, run, &r), PT_OK);
    pt_stats st;
    memset(&st, 0, sizeof st);
    st.count = 1000, st.nan = 1, st.pos_inf = 2, st.neg_inf = 3, st.zero = 4;
    for (int k = 0; k < PT_SFMT_COUNT; k++) st.underflow[k] = 10 + k, st.overflow[k] = 20 + k;
    for (int b = 0; b < PT_HIST_BINS; b++) st.hist[b] = (uint64_t)b * 1000003ull + ((uint64_t)1 << 40);
    st.absmax = 3.5f, st.min_nonzero = 0x1p-30f, st.scale = 448.0f;
    ck_assert_int_eq(pt_telemetry_layer_stats(t, run, 3, 1, "fc1", PT_ROLE_DY, "fp16", &st), PT_OK);
    ck_assert_int_eq(pt_telemetry_drift(t, run, 3, 1, "fc1", 42.5, 0.01), PT_OK);
    pt_eval_result e = {3, 0.5, 0.875, 10000, NAN, NAN};
    ck_assert_int_eq(pt_telemetry_eval(t, run, &e), PT_OK);
    ck_assert_int_eq(pt_telemetry_event(t, run, 3, "warning", "k", "m\"sg"), PT_OK);
    ck_assert_int_eq(pt_telemetry_end_run(t, run, "finished"), PT_OK);
    ck_assert_int_eq(pt_telemetry_close(t), PT_OK);

    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    sqlite3_stmt *s = query(db, "SELECT step, loss, scale, skipped, reason, lr, grad_norm, ms, fp8_clamped, fp8_nan_amax FROM steps");
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int(s, 0), 3);
    ck_assert(sqlite3_column_double(s, 1) == 0.25 && sqlite3_column_double(s, 2) == 65536);
    ck_assert_int_eq(sqlite3_column_int(s, 3), 1);
    ck_assert_str_eq((const char *)sqlite3_column_text(s, 4), "non-finite gradient");
    ck_assert(isinf(sqlite3_column_double(s, 6)));
    ck_assert(sqlite3_column_int(s, 8) == 2 && sqlite3_column_int(s, 9) == 1);
    sqlite3_finalize(s);
    s = query(db, "SELECT layer, role, format, scale, count, nan, pos_inf, neg_inf, zero, absmax, min_nonzero,"
                  " underflow_fp16, underflow_e5m2, overflow_bf16, overflow_e4m3, hist FROM layer_stats");
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(s, 0), "fc1");
    ck_assert_str_eq((const char *)sqlite3_column_text(s, 1), "dy");
    ck_assert_str_eq((const char *)sqlite3_column_text(s, 2), "fp16");
    ck_assert(sqlite3_column_double(s, 3) == 448.0);
    ck_assert(sqlite3_column_int(s, 4) == 1000 && sqlite3_column_int(s, 5) == 1 && sqlite3_column_int(s, 6) == 2);
    ck_assert(sqlite3_column_int(s, 7) == 3 && sqlite3_column_int(s, 8) == 4);
    ck_assert(sqlite3_column_double(s, 9) == 3.5 && sqlite3_column_double(s, 10) == 0x1p-30);
    ck_assert(sqlite3_column_int(s, 11) == 10 && sqlite3_column_int(s, 12) == 13);
    ck_assert(sqlite3_column_int(s, 13) == 21 && sqlite3_column_int(s, 14) == 22);
    ck_assert_int_eq(sqlite3_column_bytes(s, 15), PT_HIST_BINS * 8);
    const unsigned char *blob = sqlite3_column_blob(s, 15);
    for (int b = 0; b < PT_HIST_BINS; b++) {
        uint64_t v = 0;
        for (int k = 0; k < 8; k++) v |= (uint64_t)blob[8 * b + k] << (8 * k);
        ck_assert(v == st.hist[b]);
    }
    sqlite3_finalize(s);
    s = query(db, "SELECT (SELECT sqnr_db FROM drift), (SELECT accuracy FROM evals), (SELECT message FROM events),"
                  " (SELECT status FROM runs), (SELECT fingerprint FROM runs), (SELECT seed FROM runs)");
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    ck_assert(sqlite3_column_double(s, 0) == 42.5 && sqlite3_column_double(s, 1) == 0.875);
    ck_assert_str_eq((const char *)sqlite3_column_text(s, 2), "m\"sg");
    ck_assert_str_eq((const char *)sqlite3_column_text(s, 3), "finished");
    ck_assert_str_eq((const char *)sqlite3_column_text(s, 4), "xxh64:0123456789abcdef");
    ck_assert_int_eq(sqlite3_column_int(s, 5), 7);
    sqlite3_finalize(s);
    s = query(db, "PRAGMA user_version");
    sqlite3_step(s);
    ck_assert_int_eq(sqlite3_column_int(s, 0), PT_TELEMETRY_SCHEMA_VERSION);
    sqlite3_finalize(s);
    /* a newer schema is refused with a clear message */
    ck_assert_int_eq(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    ck_assert_int_eq(pt_telemetry_open(db_path, &t), PT_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(pt_last_error(), "newer prectune"));
    unlink(db_path);
}
END_TEST

START_TEST(test_data_read)
{
    /* a run records how it read its data; a database from before schema
     * version 3 reads as "not recorded", and opening it adds the columns
     * and keeps its runs */
    fresh_db("dataread");
    pt_telemetry *t;
    ck_assert_int_eq(pt_telemetry_open(db_path, &t), PT_OK);
    pt_data_read in = {"csv:sensors.csv", "state", 1, false, 0.25, 3, 0, 0, 0};
    pt_run_info info = {"train", "m", "xxh64:1", NULL, NULL, "p", "cpu", "d", "c", 3, 10, &in};
    int64_t run, run_tok;
    ck_assert_int_eq(pt_telemetry_begin_run(t, &info, &run), PT_OK);
    /* token data: the context, vocabulary and digest (all 64 bits) too */
    pt_data_read tin = {"tokens:a.bin", "", -1, true, 0.1, 5, 64, 50257, 0xfedcba9876543210ull};
    info.data_read = &tin;
    ck_assert_int_eq(pt_telemetry_begin_run(t, &info, &run_tok), PT_OK);
    ck_assert_int_eq(pt_telemetry_close(t), PT_OK);
    pt_data_read out;
    bool rec;
    ck_assert_int_eq(pt_telemetry_run_data(db_path, run, &out, &rec), PT_OK);
    ck_assert(rec);
    ck_assert_str_eq(out.spec, "csv:sensors.csv");
    ck_assert_str_eq(out.label, "state");
    ck_assert_int_eq(out.header, 1);
    ck_assert(!out.standardize);
    ck_assert(out.val_fraction == 0.25);
    ck_assert_int_eq((int)out.seed, 3);
    ck_assert(out.context == 0 && out.vocab == 0 && out.digest == 0);
    ck_assert_int_eq(pt_telemetry_run_data(db_path, run_tok, &out, &rec), PT_OK);
    ck_assert(rec);
    ck_assert_str_eq(out.spec, "tokens:a.bin");
    ck_assert(out.context == 64 && out.vocab == 50257 && out.digest == 0xfedcba9876543210ull);
    /* a database of schema version 4 (no token columns) records, with no token data */
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "ALTER TABLE runs DROP COLUMN data_context; ALTER TABLE runs DROP COLUMN data_vocab;"
                                  "ALTER TABLE runs DROP COLUMN data_digest; PRAGMA user_version = 4", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    ck_assert_int_eq(pt_telemetry_run_data(db_path, run_tok, &out, &rec), PT_OK);
    ck_assert(rec && out.seed == 5 && out.context == 0 && out.vocab == 0 && out.digest == 0);
    ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "DELETE FROM runs WHERE id > 1;"
                                  "ALTER TABLE runs DROP COLUMN data_spec; ALTER TABLE runs DROP COLUMN data_label;"
                                  "ALTER TABLE runs DROP COLUMN data_header; ALTER TABLE runs DROP COLUMN data_standardize;"
                                  "ALTER TABLE runs DROP COLUMN data_val_fraction; ALTER TABLE runs DROP COLUMN data_seed;"
                                  "PRAGMA user_version = 2", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    ck_assert_int_eq(pt_telemetry_run_data(db_path, run, &out, &rec), PT_OK);
    ck_assert(!rec);
    ck_assert_int_eq(pt_telemetry_open(db_path, &t), PT_OK);
    ck_assert_int_eq(pt_telemetry_close(t), PT_OK);
    ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    sqlite3_stmt *q = query(db, "SELECT count(*), min(data_spec IS NULL) FROM runs");
    ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int(q, 0), 1);
    ck_assert_int_eq(sqlite3_column_int(q, 1), 1);
    sqlite3_finalize(q);
    q = query(db, "PRAGMA user_version");
    ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int(q, 0), PT_TELEMETRY_SCHEMA_VERSION);
    sqlite3_finalize(q);
    sqlite3_close(db);
}
END_TEST

START_TEST(test_kill9)
{
    fresh_db("k9");
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        pt_telemetry *t;
        if (pt_telemetry_open(db_path, &t)) _exit(3);
        pt_telemetry_set_batch(t, 64, 5);
        pt_run_info info = {"train", "m", "xxh64:0", NULL, NULL, NULL, "cpu", "d", "c", 1, 1000000, NULL};
        int64_t run;
        if (pt_telemetry_begin_run(t, &info, &run)) _exit(4);
        for (int64_t i = 0;; i++) {
            pt_step_record r = {.step = i, .loss = 1.0 / (double)(i + 1), .scale = 1};
            pt_telemetry_step(t, run, &r);
            if (i % 997 == 0) {
                pt_telemetry_flush(t);
                int64_t done = i + 1; /* every step up to here is committed */
                if (write(fds[1], &done, sizeof done) != sizeof done) _exit(5);
            }
        }
    }
    close(fds[1]);
    int64_t flushed = 0, v;
    while (flushed < 20000 && read(fds[0], &v, sizeof v) == sizeof v) flushed = v;
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    while (read(fds[0], &v, sizeof v) == sizeof v) flushed = v; /* reports sent before the kill */
    close(fds[0]);
    ck_assert(WIFSIGNALED(status));
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    sqlite3_stmt *s = query(db, "PRAGMA integrity_check");
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(s, 0), "ok");
    sqlite3_finalize(s);
    s = query(db, "SELECT count(*), max(step) FROM steps");
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    int64_t count = sqlite3_column_int64(s, 0), max = sqlite3_column_int64(s, 1);
    sqlite3_finalize(s);
    printf("kill -9: %lld steps flushed before the kill, %lld in the database\n", (long long)flushed,
           (long long)count);
    ck_assert_msg(count >= flushed, "%lld steps in the database, %lld were flushed", (long long)count,
                  (long long)flushed);
    ck_assert_int_eq(max + 1, count); /* no holes: batches commit whole */
    sqlite3_close(db);
    unlink(db_path);
}
END_TEST

/* ---- recorded statistics against an independent recomputation ------------- */

typedef struct indep {
    int64_t count, nan, zero, under16, over16, under_e4m3, over_e4m3;
    double absmax;
    int64_t hist_bin0;  /* values in [1, 2) */
} indep;

static indep recompute(const float *x, size_t n, float scale)
{
    indep r = {0};
    r.count = (int64_t)n;
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        if (isnan(v)) { r.nan++; continue; }
        if (fabs(v) > r.absmax) r.absmax = fabs(v);
        if (v == 0) { r.zero++; continue; }
        if (isinf(v)) continue;
        int e;
        frexp(v, &e);
        r.hist_bin0 += e == 1;
        double y = fabs((double)(float)(fabsf(x[i]) * scale));
        r.under16 += y <= 0x1p-25;
        r.over16 += y >= 65520.0;
        r.under_e4m3 += y <= 0x1p-10;
        r.over_e4m3 += y > 464.0;
    }
    return r;
}

START_TEST(test_recorded_stats_match)
{
    fresh_db("st");
    /* a tiny model on a CSV, fp16 GEMMs with a loss scale, no clipping
     * (clipping would change the gradients after the statistics) */
    char csv[64];
    snprintf(csv, sizeof csv, "/tmp/pt_tel_%d.csv", getpid());
    FILE *f = fopen(csv, "w");
    uint64_t seed = 11;
    for (int i = 0; i < 256; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        double a = (double)(seed >> 40) / 16777216.0 * 8 - 4, b = (double)((seed >> 8) & 0xffff) / 65536.0;
        fprintf(f, "%.6f,%.6f,%d\n", a, b * 1e-3, a > 0);
    }
    fclose(f);
    pt_model_spec spec;
    ck_assert_int_eq(pt_model_spec_parse("{\"name\": \"t\", \"input\": [2], \"layers\": ["
                                         "{\"name\": \"fc\", \"type\": \"linear\", \"out\": 16},"
                                         "{\"name\": \"g\", \"type\": \"gelu\"},"
                                         "{\"name\": \"head\", \"type\": \"linear\", \"out\": 2}],"
                                         "\"train\": {\"batch\": 32, \"steps\": 5}}", "t", &spec), PT_OK);
    pt_policy pol;
    ck_assert_int_eq(pt_policy_parse("{\"prectune_policy\": 1, \"default\": {\"fwd\": \"fp16\", \"dgrad\": "
                                     "\"fp16\", \"wgrad\": \"fp16\"}, \"loss_scale\": {\"mode\": \"static\", "
                                     "\"init\": 1024}}", "p", &pol), PT_OK);
    pt_data_options o = pt_data_options_default();
    o.standardize = false;
    o.val_fraction = 0;
    char dspec[96];
    snprintf(dspec, sizeof dspec, "csv:%s", csv);
    pt_data data;
    ck_assert_msg(pt_data_open(dspec, &o, &data) == PT_OK, "%s", pt_last_error());
    pt_backend *be;
    ck_assert_int_eq(pt_backend_open("cpu", &be), PT_OK);
    pt_trainer *t;
    ck_assert_msg(pt_trainer_create(be, &spec, &pol, &data, &t) == PT_OK, "%s", pt_last_error());
    pt_telemetry *tel;
    ck_assert_int_eq(pt_telemetry_open(db_path, &tel), PT_OK);
    pt_run_info info = {"train", "t", "xxh64:1", NULL, NULL, "p", "cpu", "csv", "test", 1, 5, NULL};
    int64_t run;
    ck_assert_int_eq(pt_telemetry_begin_run(tel, &info, &run), PT_OK);
    ck_assert_int_eq(pt_trainer_instrument(t, tel, run, 1, 0), PT_OK);
    pt_net *n = pt_trainer_net(t);
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    float *w_before = malloc(n->nparams * sizeof(float));
    int compared = 0;
    for (int step = 0; step < 5; step++) {
        memcpy(w_before, n->params, n->nparams * sizeof(float)); /* what the statistics see */
        pt_step_record r;
        ck_assert_int_eq(pt_trainer_step(t, &r), PT_OK);
        ck_assert_int_eq(pt_trainer_flush_stats(t), PT_OK);
        ck_assert_int_eq(pt_telemetry_flush(tel), PT_OK);
        for (int li = 0; li < n->nlayers; li++) {
            pt_net_layer *l = &n->L[li];
            const float *tensors[4] = {pt_layer_input(n, l, 0), w_before + (l->w - n->params), l->dy, l->gw};
            size_t counts[4] = {32 * (size_t)l->in_size, l->nw, 32 * (size_t)l->spec->size, l->nw};
            const char *roles[4] = {"x", "w", "dy", "dw"};
            for (int rl = 0; rl < 4; rl++) {
                if (!counts[rl]) continue;
                char sql[256];
                snprintf(sql, sizeof sql, "SELECT count, nan, zero, absmax, underflow_fp16, overflow_fp16,"
                         " underflow_e4m3, overflow_e4m3, hist, scale FROM layer_stats WHERE run_id = %lld"
                         " AND step = %d AND layer_index = %d AND role = '%s'", (long long)run, step, li, roles[rl]);
                sqlite3_stmt *s = query(db, sql);
                ck_assert_msg(sqlite3_step(s) == SQLITE_ROW, "no row for step %d %s/%s", step, l->spec->name, roles[rl]);
                indep want = recompute(tensors[rl], counts[rl], (float)sqlite3_column_double(s, 9));
                const unsigned char *blob = sqlite3_column_blob(s, 8);
                uint64_t bin0 = 0;
                for (int k = 0; k < 8; k++) bin0 |= (uint64_t)blob[8 * (PT_HIST_FIRST - PT_HIST_MIN_EXP) + k] << (8 * k);
                ck_assert_msg(sqlite3_column_int64(s, 0) == want.count && sqlite3_column_int64(s, 1) == want.nan &&
                                  sqlite3_column_int64(s, 2) == want.zero &&
                                  sqlite3_column_double(s, 3) == want.absmax &&
                                  sqlite3_column_int64(s, 4) == want.under16 &&
                                  sqlite3_column_int64(s, 5) == want.over16 &&
                                  sqlite3_column_int64(s, 6) == want.under_e4m3 &&
                                  sqlite3_column_int64(s, 7) == want.over_e4m3 && (int64_t)bin0 == want.hist_bin0,
                              "step %d %s/%s: recorded and recomputed statistics differ", step, l->spec->name, roles[rl]);
                sqlite3_finalize(s);
                compared++;
            }
        }
    }
    printf("recorded statistics: %d tensors compared with an independent recomputation\n", compared);
    ck_assert_int_eq(compared, 5 * 10);
    free(w_before);
    sqlite3_close(db);
    pt_trainer_destroy(t);
    ck_assert_int_eq(pt_telemetry_close(tel), PT_OK);
    pt_backend_close(be);
    pt_data_free(&data);
    pt_policy_free(&pol);
    pt_model_spec_free(&spec);
    unlink(csv);
    unlink(db_path);
}
END_TEST

/* The probe cache round-trips a probe (a NaN loss too: SQLite keeps NaN as
 * NULL), and a stored probe whose values no probe run makes (an edited or
 * damaged row) is refused, naming the database, the key and the field. */
START_TEST(test_probe_cache)
{
    fresh_db("probe");
    pt_telemetry *t;
    ck_assert_msg(pt_telemetry_open(db_path, &t) == PT_OK, "%s", pt_last_error());
    pt_probe_result p = {.run_id = 3, .final_loss = NAN, .accuracy = 0.5, .skipped_fraction = 0.25,
                         .seconds = 1.5, .nonfinite = 2, .diverged = true};
    ck_assert_int_eq(pt_telemetry_probe_put(t, "k1", &p), PT_OK);
    pt_probe_result r;
    bool found;
    ck_assert_int_eq(pt_telemetry_probe_get(t, "k1", &r, &found), PT_OK);
    ck_assert(found && isnan(r.final_loss) && r.run_id == 3 && r.accuracy == 0.5 && r.skipped_fraction == 0.25 &&
              r.nonfinite == 2 && r.diverged && r.seconds == 1.5);
    ck_assert_int_eq(pt_telemetry_probe_get(t, "absent", &r, &found), PT_OK);
    ck_assert(!found);
    ck_assert_int_eq(pt_telemetry_close(t), PT_OK);
    static const struct { const char *set, *field; } bad[] = {
        {"skipped_fraction = 7", "skipped_fraction is 7"}, {"nonfinite = -1", "nonfinite is -1"},
        {"run_id = 0", "run_id is 0"},                     {"seconds = -2", "seconds is -2"},
        {"accuracy = 1.5", "accuracy is 1.5"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sqlite3 *db;
        ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
        char sql[160];
        snprintf(sql, sizeof sql, "UPDATE probes SET run_id = 3, skipped_fraction = 0.25, nonfinite = 2, seconds = 1.5,"
                                  " accuracy = 0.5; UPDATE probes SET %s", bad[i].set);
        ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
        ck_assert_msg(pt_telemetry_open(db_path, &t) == PT_OK, "%s", pt_last_error());
        ck_assert_int_eq(pt_telemetry_probe_get(t, "k1", &r, &found), PT_ERR_INVALID);
        ck_assert_msg(strstr(pt_last_error(), db_path) && strstr(pt_last_error(), "'k1'") &&
                      strstr(pt_last_error(), bad[i].field), "%s: %s", bad[i].set, pt_last_error());
        ck_assert_int_eq(pt_telemetry_close(t), PT_OK);
    }
    unlink(db_path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("telemetry");
    TCase *tc = tcase_create("telemetry");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_data_read);
    tcase_add_test(tc, test_kill9);
    tcase_add_test(tc, test_recorded_stats_match);
    tcase_add_test(tc, test_probe_cache);
    suite_add_tcase(s, tc);
    return pt_check_run(s, CK_NOFORK); /* test_kill9 forks its own child */
}
