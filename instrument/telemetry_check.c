/* A run database read as input: readers (report, diagnose) check its
 * schema version and the values they index or loop with, as they would a
 * file's, before using any of them, so that a hand-made or damaged
 * database gets an error naming the table and the column. */
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "../common/json_util.h"
#include "prectune/telemetry.h"

/* What a value must be: a column, the SQL that is true of a bad value,
 * and the expectation in words. */
typedef struct col_rule {
    const char *table, *column, *bad, *expected;
} col_rule;

#define INT_IN(c, lo, hi) "typeof(" c ") != 'integer' OR " c " < " #lo " OR " c " > " #hi
#define COUNT_OF(c) c " IS NOT NULL AND (typeof(" c ") != 'integer' OR " c " < 0 OR " c " > count)"

static const col_rule rules[] = {
    {"runs", "steps", "steps IS NOT NULL AND (typeof(steps) != 'integer' OR steps < 0)", "an integer >= 0"},
    {"steps", "step", INT_IN("step", 0, 9007199254740992), "an integer from 0 to 2^53"},
    {"steps", "scale", "scale IS NOT NULL AND NOT (scale > 0 AND scale <= 1.7976931348623157e308)",
     "a finite loss scale above 0"},
    {"steps", "loss", "loss IS NOT NULL AND typeof(loss) NOT IN ('real', 'integer')", "a number"},
    {"layer_stats", "step", INT_IN("step", 0, 9007199254740992), "an integer from 0 to 2^53"},
    {"layer_stats", "layer_index", INT_IN("layer_index", 0, 1048575), "an integer from 0 to 1048575"},
    {"layer_stats", "role", "role NOT IN ('x', 'w', 'dy', 'dw')", "one of x, w, dy, dw"},
    {"layer_stats", "count", "count IS NOT NULL AND (typeof(count) != 'integer' OR count < 0)", "an integer >= 0"},
    {"layer_stats", "nan", COUNT_OF("nan"), "an integer from 0 to count"},
    {"layer_stats", "pos_inf", COUNT_OF("pos_inf"), "an integer from 0 to count"},
    {"layer_stats", "neg_inf", COUNT_OF("neg_inf"), "an integer from 0 to count"},
    {"layer_stats", "zero", COUNT_OF("zero"), "an integer from 0 to count"},
    {"layer_stats", "underflow_fp16", COUNT_OF("underflow_fp16"), "an integer from 0 to count"},
    {"layer_stats", "underflow_bf16", COUNT_OF("underflow_bf16"), "an integer from 0 to count"},
    {"layer_stats", "underflow_e4m3", COUNT_OF("underflow_e4m3"), "an integer from 0 to count"},
    {"layer_stats", "underflow_e5m2", COUNT_OF("underflow_e5m2"), "an integer from 0 to count"},
    {"layer_stats", "overflow_fp16", COUNT_OF("overflow_fp16"), "an integer from 0 to count"},
    {"layer_stats", "overflow_bf16", COUNT_OF("overflow_bf16"), "an integer from 0 to count"},
    {"layer_stats", "overflow_e4m3", COUNT_OF("overflow_e4m3"), "an integer from 0 to count"},
    {"layer_stats", "overflow_e5m2", COUNT_OF("overflow_e5m2"), "an integer from 0 to count"},
    {"layer_stats", "scale", "scale IS NOT NULL AND NOT (scale >= 0 AND scale <= 1.7976931348623157e308)",
     "a finite scale >= 0"},
    {"layer_stats", "absmax", "absmax IS NOT NULL AND typeof(absmax) NOT IN ('real', 'integer')", "a number"},
    {"drift", "step", INT_IN("step", 0, 9007199254740992), "an integer from 0 to 2^53"},
    {"drift", "layer_index", INT_IN("layer_index", 0, 1048575), "an integer from 0 to 1048575"},
    {"evals", "step", INT_IN("step", 0, 9007199254740992), "an integer from 0 to 2^53"},
    {"evals", "accuracy", "accuracy IS NOT NULL AND NOT (accuracy >= 0 AND accuracy <= 1)", "a fraction from 0 to 1"},
};

/* Names printed in --json output and HTML: UTF-8, as a spec's are. */
static const col_rule text_rules[] = {
    {"runs", "model", NULL, NULL},
    {"layer_stats", "layer", NULL, NULL},
    {"drift", "layer", NULL, NULL},
};

pt_status pt_telemetry_check_readable(sqlite3 *db, const char *path)
{
    sqlite3_stmt *s;
    int version = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK) {
        if (sqlite3_step(s) == SQLITE_ROW) version = sqlite3_column_int(s, 0);
        sqlite3_finalize(s);
    }
    if (version < 1 || version > PT_TELEMETRY_SCHEMA_VERSION)
        return pt_fail(PT_ERR_INVALID,
                       "%s: telemetry schema version (PRAGMA user_version) %d is not one this prectune reads "
                       "(1 to %d)%s", path, version, PT_TELEMETRY_SCHEMA_VERSION,
                       version > PT_TELEMETRY_SCHEMA_VERSION ? ": written by a newer prectune" : "");
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        const col_rule *r = &rules[i];
        char sql[512];
        snprintf(sql, sizeof sql, "SELECT rowid, quote(%s) FROM %s WHERE %s LIMIT 1", r->column, r->table, r->bad);
        if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
            return pt_fail(PT_ERR_INVALID, "%s: table %s, column %s: cannot be read (%s): not a prectune telemetry "
                           "database", path, r->table, r->column, sqlite3_errmsg(db));
        pt_status st = PT_OK;
        if (sqlite3_step(s) == SQLITE_ROW)
            st = pt_fail(PT_ERR_INVALID, "%s: table %s, column %s: %.40s (row %lld) is out of range (expected %s)",
                         path, r->table, r->column, (const char *)sqlite3_column_text(s, 1),
                         (long long)sqlite3_column_int64(s, 0), r->expected);
        sqlite3_finalize(s);
        if (st) return st;
    }
    for (size_t i = 0; i < sizeof text_rules / sizeof text_rules[0]; i++) {
        const col_rule *r = &text_rules[i];
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT DISTINCT %s FROM %s", r->column, r->table);
        if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
            return pt_fail(PT_ERR_INVALID, "%s: table %s, column %s: cannot be read (%s)", path, r->table, r->column,
                           sqlite3_errmsg(db));
        pt_status st = PT_OK;
        while (!st && sqlite3_step(s) == SQLITE_ROW) {
            const char *t = (const char *)sqlite3_column_text(s, 0);
            if (t && !pt_utf8_valid(t))
                st = pt_fail(PT_ERR_INVALID, "%s: table %s, column %s: a name is not valid UTF-8 text", path,
                             r->table, r->column);
        }
        sqlite3_finalize(s);
        if (st) return st;
    }
    return PT_OK;
}
