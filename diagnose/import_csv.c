/* Telemetry from other frameworks: a CSV with one row per step, layer and
 * tensor role (the columns are in the README and examples/torch_telemetry.py
 * writes them from PyTorch hooks), imported into a prectune telemetry
 * database so that the same diagnosis runs on it. Malformed files stop
 * with the file, line and column. */
#include <csv.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prectune/diagnose.h"
#include "prectune/telemetry.h"
#include "../common/json_util.h"

enum { C_STEP, C_LAYER, C_ROLE, C_FORMAT, C_SCALE, C_COUNT, C_NAN, C_PINF, C_NINF, C_ZERO, C_ABSMAX, C_MIN,
       C_LOSS, C_LOSS_SCALE, C_SKIPPED, C_UF16, C_OF16, C_NCOLS };
static const char *const col_names[C_NCOLS] = {
    "step", "layer", "role", "format", "scale", "count", "nan", "pos_inf", "neg_inf", "zero", "absmax",
    "min_nonzero", "loss", "loss_scale", "skipped", "underflow_fp16", "overflow_fp16"};
static const bool required[C_NCOLS] = {[C_STEP] = true, [C_LAYER] = true, [C_ROLE] = true, [C_COUNT] = true,
                                       [C_NAN] = true, [C_PINF] = true, [C_NINF] = true, [C_ABSMAX] = true};

/* Columns of counts and steps: integers, checked before any cast. */
static const bool integer[C_NCOLS] = {[C_STEP] = true, [C_COUNT] = true, [C_NAN] = true, [C_PINF] = true,
                                      [C_NINF] = true, [C_ZERO] = true, [C_SKIPPED] = true, [C_UF16] = true,
                                      [C_OF16] = true};

/* The largest telemetry CSV read (4 GiB): /dev/zero is not one. */
#define PT_TELEMETRY_CSV_MAX ((uint64_t)4 << 30)

typedef struct imp {
    const char *path;
    pt_telemetry *tel;
    int64_t run;
    long line;
    int col, ncols_file;
    int map[64];               /* file column -> C_* (-1: ignored) */
    char field[C_NCOLS][128];
    bool header_done;
    pt_status st;
    char layers[256][64];
    int nlayers;
    int64_t last_step;
} imp;

static void on_field(void *s, size_t len, void *ctx)
{
    imp *m = ctx;
    if (m->st) return;
    char v[128];
    snprintf(v, sizeof v, "%.*s", (int)(len < 127 ? len : 127), s ? (const char *)s : "");
    if (!m->header_done) {
        int k = -1;
        for (int i = 0; i < C_NCOLS; i++)
            if (!strcmp(v, col_names[i])) k = i;
        if (m->col < 64) m->map[m->col] = k;
    } else if (m->col < 64 && m->col < m->ncols_file && m->map[m->col] >= 0) {
        strcpy(m->field[m->map[m->col]], v);
    }
    m->col++;
}

static bool num(imp *m, int c, double *out, double dflt)
{
    const char *v = m->field[c];
    if (!v[0]) {
        if (required[c]) {
            m->st = pt_fail(PT_ERR_INVALID, "%s:%ld: column '%s' is empty (expected a number)", m->path, m->line, col_names[c]);
            return false;
        }
        *out = dflt;
        return true;
    }
    char *end;
    errno = 0;
    *out = strtod(v, &end);
    bool bad = *end || end == v; /* a real column may be NaN or inf (a loss that went NaN) */
    if (!bad && integer[c]) bad = !(*out >= 0 && *out <= 0x1p53 && *out == floor(*out));
    if (bad) {
        int fc = 0;
        for (int i = 0; i < m->ncols_file && i < 64; i++)
            if (m->map[i] == c) fc = i + 1;
        m->st = pt_fail(PT_ERR_INVALID, "%s:%ld:%d: %s '%s' is not %s", m->path, m->line, fc, col_names[c], v,
                        integer[c] ? "an integer from 0 to 2^53" : "a number");
        return false;
    }
    return true;
}

static void on_row(int term, void *ctx)
{
    (void)term;
    imp *m = ctx;
    if (m->st) return;
    if (!m->header_done) {
        m->ncols_file = m->col;
        for (int c = 0; c < C_NCOLS; c++) {
            bool found = false;
            for (int i = 0; i < m->col && i < 64; i++) found |= m->map[i] == c;
            if (required[c] && !found) {
                m->st = pt_fail(PT_ERR_INVALID, "%s:1: no '%s' column (needed: step, layer, role, count, nan, pos_inf, neg_inf, absmax)",
                                m->path, col_names[c]);
                return;
            }
        }
        m->header_done = true;
    } else {
        if (m->col != m->ncols_file) {
            m->st = pt_fail(PT_ERR_INVALID, "%s:%ld: %d fields, the header has %d", m->path, m->line, m->col, m->ncols_file);
            return;
        }
        double step, scale, count, nan_, pinf, ninf, zero, absmax, mn, loss, lscale, skipped, uf, of;
        if (!num(m, C_STEP, &step, 0) || !num(m, C_SCALE, &scale, 1) || !num(m, C_COUNT, &count, 0) ||
            !num(m, C_NAN, &nan_, 0) || !num(m, C_PINF, &pinf, 0) || !num(m, C_NINF, &ninf, 0) ||
            !num(m, C_ZERO, &zero, 0) || !num(m, C_ABSMAX, &absmax, 0) || !num(m, C_MIN, &mn, 0) ||
            !num(m, C_LOSS, &loss, NAN) || !num(m, C_LOSS_SCALE, &lscale, 1) || !num(m, C_SKIPPED, &skipped, 0) ||
            !num(m, C_UF16, &uf, 0) || !num(m, C_OF16, &of, 0))
            return;
        const char *role = m->field[C_ROLE];
        if (strcmp(role, "x") && strcmp(role, "w") && strcmp(role, "dy") && strcmp(role, "dw")) {
            m->st = pt_fail(PT_ERR_INVALID, "%s:%ld: role '%s' (expected x, w, dy or dw)", m->path, m->line, role);
            return;
        }
        const char *format = m->field[C_FORMAT][0] ? m->field[C_FORMAT] : "fp32";
        if (pt_format_from_name(format) == PT_FMT_COUNT) {
            m->st = pt_fail(PT_ERR_INVALID, "%s:%ld: format '%s' (expected one of %s)", m->path, m->line, format, pt_format_names());
            return;
        }
        int li = -1;
        for (int i = 0; i < m->nlayers; i++)
            if (!strcmp(m->layers[i], m->field[C_LAYER])) li = i;
        if (li < 0) {
            if (m->nlayers == 256) {
                m->st = pt_fail(PT_ERR_INVALID, "%s:%ld: layer '%s': more than 256 layers (the most an imported "
                                "telemetry CSV may have)", m->path, m->line, m->field[C_LAYER]);
                return;
            }
            if (!pt_utf8_valid(m->field[C_LAYER])) {
                m->st = pt_fail(PT_ERR_INVALID, "%s:%ld: layer: the name is not valid UTF-8 text", m->path, m->line);
                return;
            }
            li = m->nlayers++;
            snprintf(m->layers[li], sizeof m->layers[li], "%.63s", m->field[C_LAYER]);
        }
        if ((int64_t)step != m->last_step) { /* the step's own record, from its first row */
            pt_step_record r = {.step = (int64_t)step, .loss = loss, .scale = lscale, .skipped = skipped != 0,
                                .skip_reason = skipped != 0 ? "non-finite gradient" : NULL};
            m->st = pt_telemetry_step(m->tel, m->run, &r);
            m->last_step = (int64_t)step;
        }
        pt_stats s;
        memset(&s, 0, sizeof s);
        s.count = (uint64_t)count, s.nan = (uint64_t)nan_, s.pos_inf = (uint64_t)pinf, s.neg_inf = (uint64_t)ninf;
        s.zero = (uint64_t)zero, s.absmax = (float)absmax, s.min_nonzero = (float)mn, s.scale = (float)scale;
        s.underflow[PT_SFMT_FP16] = (uint64_t)uf, s.overflow[PT_SFMT_FP16] = (uint64_t)of;
        pt_role rl = !strcmp(role, "x") ? PT_ROLE_X : !strcmp(role, "w") ? PT_ROLE_W : !strcmp(role, "dy") ? PT_ROLE_DY : PT_ROLE_DW;
        if (!m->st) m->st = pt_telemetry_layer_stats(m->tel, m->run, (int64_t)step, li, m->layers[li], rl, format, &s);
    }
    memset(m->field, 0, sizeof m->field);
    m->col = 0;
    m->line++;
}

pt_status pt_diagnose_import_csv(const char *csv_path, const char *db_path)
{
    FILE *f = fopen(csv_path, "rb");
    if (!f) return pt_fail(PT_ERR_IO, "%s: cannot open: %s", csv_path, strerror(errno));
    imp *m = calloc(1, sizeof *m);
    m->path = csv_path;
    m->line = 1;
    m->last_step = -1;
    for (int i = 0; i < 64; i++) m->map[i] = -1;
    pt_status st = pt_telemetry_open(db_path, &m->tel);
    pt_run_info info = {"imported", csv_path, NULL, NULL, NULL, "imported telemetry", "external", csv_path,
                        "prectune diagnose", 0, 0, NULL};
    if (!st) st = pt_telemetry_begin_run(m->tel, &info, &m->run);
    struct csv_parser p;
    csv_init(&p, CSV_APPEND_NULL);
    /* a field's buffer grows 64 KiB at a time, not libcsv's 128 bytes: a
     * long field is then not copied once for every 128 bytes it grows */
    csv_set_blk_size(&p, (size_t)64 << 10);
    char buf[65536];
    size_t n;
    uint64_t total = 0, line_start = 0;
    long last_line = m->line;
    while (!st && !m->st && (n = fread(buf, 1, sizeof buf, f)) > 0) {
        total += n;
        if (csv_parse(&p, buf, n, on_field, on_row, m) != n && !m->st)
            m->st = pt_fail(PT_ERR_INVALID, "%s:%ld: %s", csv_path, m->line, csv_strerror(csv_error(&p)));
        if (m->line != last_line) last_line = m->line, line_start = total;
        if (!m->st && total > PT_TELEMETRY_CSV_MAX)
            m->st = pt_fail(PT_ERR_INVALID, "%s: larger than 4 GiB, the limit for a telemetry CSV", csv_path);
        if (!m->st && total - line_start > ((uint64_t)16 << 20))
            m->st = pt_fail(PT_ERR_INVALID, "%s:%ld: a record longer than 16 MiB, the limit for a telemetry CSV line",
                            csv_path, m->line);
    }
    if (!st && !m->st) csv_fini(&p, on_field, on_row, m);
    csv_free(&p);
    fclose(f);
    if (!st) st = m->st;
    if (!st && !m->header_done) st = pt_fail(PT_ERR_INVALID, "%s: empty file (expected a header row)", csv_path);
    if (!st && m->last_step < 0) st = pt_fail(PT_ERR_INVALID, "%s: a header but no data rows", csv_path);
    if (m->tel) {
        if (!st) st = pt_telemetry_end_run(m->tel, m->run, "imported");
        pt_status s2 = pt_telemetry_close(m->tel);
        if (!st) st = s2;
    }
    free(m);
    return st;
}
