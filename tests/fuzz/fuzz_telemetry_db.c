/* libFuzzer harness: a telemetry database as `diagnose` and `report` read
 * it. The input is SQL, run against a fresh database with prectune's
 * schema (ATTACH refused, long statements interrupted), so that the
 * fuzzer writes the rows and values the readers then meet; the readers are
 * the library's diagnosis and the report command's run list, HTML page and
 * CSV export. */
#include <sqlite3.h>

#include "fuzz_util.h"
#include "cli/cli.h"
#include "prectune/diagnose.h"
#include "prectune/telemetry.h"

static uint8_t *tmpl;
static size_t tmpl_len;

static int deny_attach(void *u, int op, const char *a, const char *b, const char *c, const char *d)
{
    return op == SQLITE_ATTACH || op == SQLITE_DETACH ? SQLITE_DENY : SQLITE_OK;
}

static int stop_long(void *u) { return ++*(int *)u > 2000; }

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *p = fz_path("template.db");
    pt_telemetry *t;
    if (pt_telemetry_open(p, &t) || pt_telemetry_close(t)) abort();
    FILE *f = fopen(p, "rb");
    fseek(f, 0, SEEK_END);
    tmpl_len = (size_t)ftell(f);
    rewind(f);
    tmpl = malloc(tmpl_len);
    if (fread(tmpl, 1, tmpl_len, f) != tmpl_len) abort();
    fclose(f);
    if (!freopen("/dev/null", "w", stdout)) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unlink(fz_path("run.db-journal")), unlink(fz_path("run.db-wal")), unlink(fz_path("run.db-shm"));
    const char *db_path = fz_write("run.db", tmpl, tmpl_len);
    sqlite3 *db;
    if (sqlite3_open(db_path, &db) != SQLITE_OK) abort();
    int ticks = 0;
    sqlite3_set_authorizer(db, deny_attach, NULL);
    sqlite3_progress_handler(db, 1000, stop_long, &ticks);
    char *sql = fz_string(data, size);
    sqlite3_exec(db, sql, NULL, NULL, NULL);
    free(sql);
    sqlite3_close(db);

    pt_diagnosis d;
    if (pt_diagnose_db(db_path, 0, &d) == PT_OK) pt_diagnosis_free(&d);
    char *list[] = {"report", (char *)db_path, NULL};
    pt_cmd_report(2, list);
    char *html[] = {"report", "--html", (char *)fz_path("report.html"), (char *)db_path, NULL};
    pt_cmd_report(4, html);
    char *csv[] = {"report", "--csv", "layer_stats", (char *)db_path, NULL};
    pt_cmd_report(4, csv);
    return 0;
}
