/* The steps CSV (see steps_csv.h), written and read back with libcsv. */
#include "steps_csv.h"

#include <csv.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prectune/model.h"

#define NCOLS 8
static const char *const header[NCOLS] = {"step", "loss", "scale", "skipped", "reason", "lr", "grad_norm", "ms"};

static pt_status write_failed(pt_steps_csv *c, int e)
{
    return pt_fail(PT_ERR_IO, "--steps-csv %s: write failed: %s", c->path, strerror(e ? e : EIO));
}

static pt_status write_row(pt_steps_csv *c, const char *const *fields)
{
    for (int i = 0; i < NCOLS; i++) {
        errno = 0;
        if ((i && fputc(',', c->f) == EOF) || csv_fwrite(c->f, fields[i], strlen(fields[i])) != 0)
            return write_failed(c, errno);
    }
    errno = 0;
    if (fputc('\n', c->f) == EOF || ferror(c->f)) return write_failed(c, errno);
    return PT_OK;
}

pt_status pt_steps_csv_row(pt_steps_csv *c, const pt_step_record *s)
{
    char v[NCOLS][48];
    snprintf(v[0], 48, "%lld", (long long)s->step);
    snprintf(v[1], 48, "%.9g", s->loss);
    snprintf(v[2], 48, "%.9g", s->scale);
    snprintf(v[3], 48, "%d", s->skipped);
    snprintf(v[4], 48, "%s", s->skip_reason ? s->skip_reason : "");
    snprintf(v[5], 48, "%.9g", s->lr);
    snprintf(v[6], 48, "%.9g", s->grad_norm);
    snprintf(v[7], 48, "%.4f", s->ms);
    const char *fields[NCOLS] = {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]};
    return write_row(c, fields);
}

pt_status pt_steps_csv_sync(pt_steps_csv *c)
{
    if (!c->f) return PT_OK;
    errno = 0;
    if (fflush(c->f) != 0 || fsync(fileno(c->f)) != 0) return write_failed(c, errno);
    return PT_OK;
}

pt_status pt_steps_csv_close(pt_steps_csv *c)
{
    if (!c->f) return PT_OK;
    errno = 0;
    bool bad = ferror(c->f) != 0;
    int e = errno;
    if (fclose(c->f) != 0 && !bad) bad = true, e = errno;
    c->f = NULL;
    return bad ? write_failed(c, e) : PT_OK;
}

/* The rows read back: their count, and whether one was not of ours. */
typedef struct reader {
    int field;
    int64_t rows; /* rows seen, the header included */
    bool bad;
    char first[32];
} reader;

static void on_field(void *s, size_t len, void *arg)
{
    reader *r = arg;
    if (r->field++ == 0) snprintf(r->first, sizeof r->first, "%.*s", (int)(len < 31 ? len : 31), (const char *)s);
}

static void on_row(int c, void *arg)
{
    (void)c;
    reader *r = arg;
    char want[32];
    if (r->rows == 0) snprintf(want, sizeof want, "%s", header[0]);
    else snprintf(want, sizeof want, "%lld", (long long)(r->rows - 1));
    if (r->field != NCOLS || strcmp(r->first, want) != 0) r->bad = true;
    r->field = 0;
    r->rows++;
}

/* The length of the file's first rows: its header and the rows of steps 0
 * to from_step - 1, each a whole line. */
static pt_status kept_length(const char *path, const char *text, size_t len, int64_t from_step, size_t *keep)
{
    struct csv_parser p;
    if (csv_init(&p, CSV_APPEND_NULL) != 0) return pt_fail(PT_ERR_NOMEM, "out of memory");
    reader r = {0};
    size_t off = 0;
    pt_status st = PT_OK;
    while (r.rows < from_step + 1) {
        const char *nl = memchr(text + off, '\n', len - off);
        if (!nl) {
            char had[64] = "no step's row";
            if (r.rows > 1) snprintf(had, sizeof had, "the rows of steps 0 to %lld only", (long long)r.rows - 2);
            st = pt_fail(PT_ERR_INVALID,
                         "--steps-csv %s: has %s, but the checkpoint resumes at step %lld: the steps "
                         "between would be missing (give a new file)",
                         path, had, (long long)from_step);
            break;
        }
        size_t n = (size_t)(nl - (text + off)) + 1;
        int64_t before = r.rows;
        if (csv_parse(&p, text + off, n, on_field, on_row, &r) != n || r.rows != before + 1 || r.bad) {
            char want[64] = "the header (step,loss,...)";
            if (before) snprintf(want, sizeof want, "the row of step %lld", (long long)before - 1);
            st = pt_fail(PT_ERR_INVALID,
                         "--steps-csv %s: line %lld: expected %s, %d fields as train writes them: not "
                         "this run's steps CSV (give a new file)",
                         path, (long long)before + 1, want, NCOLS);
            break;
        }
        off += n;
    }
    csv_free(&p);
    *keep = off;
    return st;
}

pt_status pt_steps_csv_open(pt_steps_csv *c, const char *path, int64_t from_step)
{
    c->f = NULL;
    c->path = path;
    if (from_step > 0 && access(path, F_OK) == 0) {
        char *text;
        size_t len, keep;
        pt_status st = pt_read_file(path, &text, &len);
        if (st) return st;
        st = kept_length(path, text, len, from_step, &keep);
        free(text);
        if (st) return st;
        /* rows written after the checkpoint (a crash came before the next)
         * go: the resumed steps write them again */
        if (truncate(path, (off_t)keep) != 0 || !(c->f = fopen(path, "a")))
            return pt_fail(PT_ERR_IO, "--steps-csv %s: cannot continue it: %s", path, strerror(errno));
        return PT_OK;
    }
    if (!(c->f = fopen(path, "w"))) return pt_fail(PT_ERR_IO, "--steps-csv %s: cannot create: %s", path, strerror(errno));
    return write_row(c, header);
}
