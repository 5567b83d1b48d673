/* The CSV reader of data.h (`--data csv:FILE`) through libcsv: a header
 * row detected or told, a label column by name or index, numbers parsed
 * strictly (a text cell names its line and field), features standardized
 * on the training split, a held-out split drawn with the seed. */
#include <csv.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_csv.h"

typedef struct csv_state {
    const char *path;
    long line;           /* current record's line (1-based) */
    int col;             /* fields so far in the record */
    int ncols;           /* fields per record, from the first one */
    char **header;       /* first record's fields, kept until we know it is a header */
    bool first_numeric;  /* every field of the first record is a number */
    double *vals;        /* rows * ncols */
    int64_t rows, cap;
    double *cur;
    pt_status st;
    int header_mode;
    bool first_done;     /* the first record was read (header or data) */
} csv_state;

static bool parse_number(const char *s, size_t len, double *out)
{
    char tmp[128];
    if (len == 0 || len >= sizeof tmp) return false;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    char *end;
    errno = 0;
    *out = strtod(tmp, &end);
    while (*end == ' ' || *end == '\t') end++;
    return end != tmp && *end == '\0' && isfinite(*out);
}

static void csv_field(void *s, size_t len, void *ctx)
{
    csv_state *c = ctx;
    if (c->st) return;
    const char *str = s ? s : "";
    if (!c->first_done) { /* still in the first record */
        char **h = realloc(c->header, sizeof(char *) * (size_t)(c->col + 1));
        if (!h) { c->st = pt_fail(PT_ERR_NOMEM, "%s: out of memory", c->path); return; }
        c->header = h;
        h[c->col] = strndup(str, len);
        double v;
        if (!parse_number(str, len, &v)) c->first_numeric = false;
        c->col++;
        return;
    }
    if (c->col >= c->ncols) {
        c->st = pt_fail(PT_ERR_INVALID, "%s:%ld: more than the %d fields of the first row", c->path,
                        c->line, c->ncols);
        return;
    }
    double v;
    if (!parse_number(str, len, &v)) {
        c->st = pt_fail(PT_ERR_INVALID, "%s:%ld: field %d ('%.*s') is not a number", c->path,
                        c->line, c->col + 1, (int)(len > 40 ? 40 : len), str);
        return;
    }
    c->cur[c->col++] = v;
}

static pt_status csv_push_row(csv_state *c)
{
    if (c->rows == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 1024;
        double *nv = realloc(c->vals, sizeof(double) * (size_t)c->cap * (size_t)c->ncols);
        if (!nv) return pt_fail(PT_ERR_NOMEM, "%s: out of memory", c->path);
        c->vals = nv;
    }
    c->cur = c->vals + (size_t)c->rows * (size_t)c->ncols;
    return PT_OK;
}

static void csv_row(int term, void *ctx)
{
    (void)term;
    csv_state *c = ctx;
    if (c->st) return;
    if (!c->first_done) {
        /* the first record decides the width and whether it is a header */
        c->first_done = true;
        c->ncols = c->col;
        bool is_header = c->header_mode == 1 || (c->header_mode == -1 && !c->first_numeric);
        if ((c->st = csv_push_row(c))) return;
        if (!is_header) {
            for (int i = 0; i < c->ncols && !c->st; i++)
                if (!parse_number(c->header[i], strlen(c->header[i]), &c->cur[i]))
                    c->st = pt_fail(PT_ERR_INVALID,
                                    "%s:%ld: field %d ('%s') is not a number (and --no-header "
                                    "says this row is data)",
                                    c->path, c->line, i + 1, c->header[i]);
            for (int i = 0; i < c->ncols; i++) free(c->header[i]);
            free(c->header);
            c->header = NULL;
            if (c->st) return;
            c->rows = 1;
        }
        c->col = 0;
        c->line++;
        c->st = csv_push_row(c);
        return;
    }
    if (c->col != c->ncols) {
        c->st = pt_fail(PT_ERR_INVALID, "%s:%ld: %d fields, but the first row has %d (a ragged row)",
                        c->path, c->line, c->col, c->ncols);
        return;
    }
    c->rows++;
    c->col = 0;
    c->line++;
    c->st = csv_push_row(c);
}

/* The largest CSV data read (4 GiB), and its longest record (16 MiB):
 * /dev/zero is refused, not buffered. */
#define PT_CSV_MAX_BYTES ((uint64_t)4 << 30)
#define PT_CSV_MAX_LINE ((uint64_t)16 << 20)

pt_status pt_csv_open(const char *path, const pt_data_options *o, pt_data *d)
{
    FILE *f = fopen(path, "rb");
    if (!f) return pt_fail(PT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct csv_parser p;
    csv_init(&p, CSV_APPEND_NULL | CSV_EMPTY_IS_NULL);
    /* a field's buffer grows 64 KiB at a time, not libcsv's 128 bytes: a
     * long field is then not copied once for every 128 bytes it grows */
    csv_set_blk_size(&p, (size_t)64 << 10);
    csv_state c = {.path = path, .line = 1, .first_numeric = true, .header_mode = o->header};
    c.header = calloc(1, sizeof(char *));
    char buf[65536];
    size_t n;
    uint64_t total = 0, line_start = 0;
    long last_line = c.line;
    while (!c.st && (n = fread(buf, 1, sizeof buf, f)) > 0) {
        total += n;
        if (csv_parse(&p, buf, n, csv_field, csv_row, &c) != n && !c.st)
            c.st = pt_fail(PT_ERR_INVALID, "%s:%ld: %s", path, c.line, csv_strerror(csv_error(&p)));
        if (c.line != last_line) last_line = c.line, line_start = total;
        if (!c.st && total > PT_CSV_MAX_BYTES)
            c.st = pt_fail(PT_ERR_INVALID, "%s: larger than 4 GiB, the limit for a CSV data file", path);
        if (!c.st && total - line_start > PT_CSV_MAX_LINE)
            c.st = pt_fail(PT_ERR_INVALID, "%s:%ld: a record longer than 16 MiB, the limit for a CSV line", path,
                           c.line);
    }
    if (!c.st) csv_fini(&p, csv_field, csv_row, &c);
    csv_free(&p);
    fclose(f);
    pt_status st = c.st;
    char **names = c.header; /* non-NULL: a header row was read */
    if (!st && c.rows == 0) st = pt_fail(PT_ERR_INVALID, "%s: no data rows (an empty file?)", path);
    if (!st && c.ncols < 2)
        st = pt_fail(PT_ERR_INVALID, "%s: one column only: need features and a label column", path);
    int label = c.ncols - 1;
    if (!st && o->label) {
        char *end;
        long idx = strtol(o->label, &end, 10);
        if (*end == '\0' && end != o->label) {
            if (idx < 0 || idx >= c.ncols)
                st = pt_fail(PT_ERR_INVALID, "%s: --label %ld: the file has columns 0..%d", path,
                             idx, c.ncols - 1);
            label = (int)idx;
        } else if (!names) {
            st = pt_fail(PT_ERR_INVALID,
                         "%s: --label '%s': the file has no header row, so name the column by its "
                         "0-based index",
                         path, o->label);
        } else {
            label = -1;
            for (int i = 0; i < c.ncols; i++)
                if (strcmp(names[i], o->label) == 0) label = i;
            if (label < 0)
                st = pt_fail(PT_ERR_INVALID, "%s: --label '%s': no such column in the header row",
                             path, o->label);
        }
    }
    int64_t rows = c.rows, dim = c.ncols - 1;
    int nclasses = 0;
    if (!st && o->classification)
        for (int64_t r = 0; r < rows && !st; r++) {
            double v = c.vals[r * c.ncols + label];
            if (v < 0 || v != floor(v) || v > 100000)
                st = pt_fail(PT_ERR_INVALID,
                             "%s: data row %lld: label %g is not a class (an integer >= 0); for "
                             "regression use the mse loss",
                             path, (long long)r + 1, v);
            else if ((int)v + 1 > nclasses) nclasses = (int)v + 1;
        }
    if (!st) {
        /* hold out a validation split, chosen by the seed */
        int64_t *perm = malloc(sizeof(int64_t) * (size_t)rows);
        int64_t nval = (int64_t)floor(o->val_fraction * (double)rows);
        if (o->val_fraction > 0 && nval == 0 && rows > 1) nval = 1;
        pt_dataset *sets[2] = {&d->train, &d->test};
        int64_t counts[2] = {rows - nval, nval};
        if (!perm) st = pt_fail(PT_ERR_NOMEM, "%s: out of memory", path);
        for (int s = 0; s < 2 && !st; s++) {
            sets[s]->n = counts[s];
            sets[s]->dim = dim;
            sets[s]->x = malloc(sizeof(float) * (size_t)(counts[s] * dim + 1));
            if (o->classification) sets[s]->label = malloc(sizeof(int32_t) * (size_t)(counts[s] + 1));
            else sets[s]->target = malloc(sizeof(float) * (size_t)(counts[s] + 1));
            if (!sets[s]->x || (!sets[s]->label && !sets[s]->target))
                st = pt_fail(PT_ERR_NOMEM, "%s: out of memory", path);
        }
        if (!st) {
            pt_data_permutation(rows, o->seed, -1, perm);
            double *mean = calloc((size_t)dim, sizeof(double)), *sd = calloc((size_t)dim, sizeof(double));
            int64_t ntrain = rows - nval;
            for (int64_t r = 0; r < ntrain; r++)
                for (int j = 0, k = 0; j < c.ncols; j++)
                    if (j != label) mean[k++] += c.vals[perm[r] * c.ncols + j] / (double)ntrain;
            for (int64_t r = 0; r < ntrain; r++)
                for (int j = 0, k = 0; j < c.ncols; j++)
                    if (j != label) {
                        double dv = c.vals[perm[r] * c.ncols + j] - mean[k];
                        sd[k++] += dv * dv / (double)ntrain;
                    }
            for (int64_t k = 0; k < dim; k++) sd[k] = sd[k] > 0 ? sqrt(sd[k]) : 1.0;
            for (int64_t r = 0; r < rows; r++) {
                pt_dataset *ds = r < ntrain ? &d->train : &d->test;
                int64_t i = r < ntrain ? r : r - ntrain;
                const double *row = c.vals + perm[r] * c.ncols;
                for (int j = 0, k = 0; j < c.ncols; j++) {
                    if (j == label) continue;
                    double v = o->standardize ? (row[j] - mean[k]) / sd[k] : row[j];
                    ds->x[i * dim + k++] = (float)v;
                }
                if (ds->label) ds->label[i] = (int32_t)row[label];
                else ds->target[i] = (float)row[label];
            }
            free(mean);
            free(sd);
        }
        free(perm);
    }
    if (names) {
        for (int i = 0; i < c.ncols; i++) free(names[i]);
        free(names);
    }
    free(c.vals);
    d->nclasses = nclasses;
    d->shape[0] = (int)dim;
    d->ndim = 1;
    snprintf(d->desc, sizeof d->desc, "csv %s (%lld train, %lld held out, %lld features%s)", path,
             (long long)d->train.n, (long long)d->test.n, (long long)dim,
             o->classification ? ", classes" : ", regression");
    return st;
}

