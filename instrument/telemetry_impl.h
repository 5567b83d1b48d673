/* The telemetry writer's state, shared by its two files: telemetry.c
 * (the schema, the queue and the writer thread) and telemetry_query.c
 * (what the trainer and the tuner ask of an open database: claims, the
 * probe cache, layer summaries, how a run read its data). Internal. */
#ifndef PT_TELEMETRY_IMPL_H
#define PT_TELEMETRY_IMPL_H

#include <pthread.h>
#include <sqlite3.h>

#include "prectune/telemetry.h"
#include "prectune/stats.h"

typedef enum row_kind { ROW_STEP, ROW_STATS, ROW_DRIFT, ROW_EVAL, ROW_EVENT, ROW_END_RUN } row_kind;

typedef struct row {
    row_kind kind;
    int64_t run, step;
    int layer_index;
    char *text[4];     /* owned strings: layer/role/format, or severity/kind/message */
    double d[6];
    int64_t i[4];
    pt_stats stats;
} row;

enum { STMT_STEP, STMT_STATS, STMT_DRIFT, STMT_EVAL, STMT_EVENT, STMT_END, STMT_COUNT };

struct pt_telemetry {
    sqlite3 *db;
    char path[1024];
    sqlite3_stmt *stmt[STMT_COUNT];
    pthread_t writer;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    row *queue;
    size_t n, cap;
    uint64_t queued, committed;
    int batch_rows, max_wait_ms;
    bool stop, flush_wanted;
    pt_status err;
    char errmsg[1400];
};

/* SQLite's message, and the system's where a system call failed under it */
void pt_tel_db_error_text(sqlite3 *db, char *buf, size_t n);
/* PT_ERR_IO naming the database, what was being done and SQLite's message */
pt_status pt_tel_db_fail(pt_telemetry *t, const char *what);
/* binds v (NULL: SQL NULL) as text, copied */
int pt_tel_bind_text(sqlite3_stmt *s, int i, const char *v);

#endif
