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
    /* one statement a table: each row's first broken rule, in the rules'
     * order (a statement a rule parsed and ran 27 queries where 5 do) */
    size_t nrules = sizeof rules / sizeof rules[0];
    for (size_t first = 0; first < nrules;) {
        size_t end = first;
        while (end < nrules && strcmp(rules[end].table, rules[first].table) == 0) end++;
        char sql[8192];
        size_t len = (size_t)snprintf(sql, sizeof sql, "SELECT rowid, CASE");
        for (size_t i = first; i < end && len < sizeof sql; i++)
            len += (size_t)snprintf(sql + len, sizeof sql - len, " WHEN (%s) THEN %zu", rules[i].bad, i);
        if (len < sizeof sql)
            len += (size_t)snprintf(sql + len, sizeof sql - len, " END AS k FROM %s WHERE k IS NOT NULL LIMIT 1",
                                    rules[first].table);
        if (len >= sizeof sql) return pt_fail(PT_ERR_INVALID, "%s: internal: a check's SQL is too long", path);
        if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
            return pt_fail(PT_ERR_INVALID, "%s: table %s: cannot be read (%s): not a prectune telemetry database",
                           path, rules[first].table, sqlite3_errmsg(db));
        pt_status st = PT_OK;
        if (sqlite3_step(s) == SQLITE_ROW) {
            long long rowid = (long long)sqlite3_column_int64(s, 0);
            const col_rule *r = &rules[sqlite3_column_int(s, 1)];
            char q[256], value[48] = "?";
            snprintf(q, sizeof q, "SELECT quote(%s) FROM %s WHERE rowid = %lld", r->column, r->table, rowid);
            sqlite3_stmt *v;
            if (sqlite3_prepare_v2(db, q, -1, &v, NULL) == SQLITE_OK) {
                if (sqlite3_step(v) == SQLITE_ROW && sqlite3_column_text(v, 0))
                    snprintf(value, sizeof value, "%.40s", (const char *)sqlite3_column_text(v, 0));
                sqlite3_finalize(v);
            }
            st = pt_fail(PT_ERR_INVALID, "%s: table %s, column %s: %s (row %lld) is out of range (expected %s)", path,
                         r->table, r->column, value, rowid, r->expected);
        }
        sqlite3_finalize(s);
        if (st) return st;
        first = end;
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
