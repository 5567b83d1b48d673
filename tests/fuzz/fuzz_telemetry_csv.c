/* libFuzzer harness: the telemetry CSV importer (`diagnose run.csv`),
 * then the diagnosis of the database it made. The database it imports
 * into starts each time as a copy of an empty one made once: creating
 * the schema is the same work every time, not what is fuzzed, and was
 * most of an execution. */
#include "fuzz_util.h"
#include "prectune/diagnose.h"
#include "prectune/telemetry.h"

static uint8_t *tmpl;
static size_t tmpl_len;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    const char *p = fz_path("template.db");
    pt_telemetry *t;
    if (pt_telemetry_open(p, &t) || pt_telemetry_close(t)) abort();
    FILE *f = fopen(p, "rb");
    if (!f || fseek(f, 0, SEEK_END)) abort();
    tmpl_len = (size_t)ftell(f);
    rewind(f);
    tmpl = malloc(tmpl_len);
    if (!tmpl || fread(tmpl, 1, tmpl_len, f) != tmpl_len) abort();
    fclose(f);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *csv = fz_write("run.csv", data, size);
    unlink(fz_path("run.db-wal")), unlink(fz_path("run.db-shm"));
    const char *db = fz_write("run.db", tmpl, tmpl_len);
    if (pt_diagnose_import_csv(csv, db) == PT_OK) {
        pt_diagnosis d;
        if (pt_diagnose_db(db, 0, &d) == PT_OK) pt_diagnosis_free(&d);
    }
    return 0;
}
