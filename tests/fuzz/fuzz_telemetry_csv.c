/* libFuzzer harness: the telemetry CSV importer (`diagnose run.csv`),
 * then the diagnosis of the database it made. */
#include "fuzz_util.h"
#include "prectune/diagnose.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *csv = fz_write("run.csv", data, size);
    const char *db = fz_path("run.db");
    unlink(db);
    if (pt_diagnose_import_csv(csv, db) == PT_OK) {
        pt_diagnosis d;
        if (pt_diagnose_db(db, 0, &d) == PT_OK) pt_diagnosis_free(&d);
    }
    unlink(db);
    return 0;
}
