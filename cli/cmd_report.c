/* `prectune report RUN.db`: the runs in a telemetry database; any table as
 * CSV (--csv TABLE); or one self-contained HTML page with inline SVG
 * charts (--html FILE): loss against the fp32 baseline, the loss scale
 * with skipped steps, under/overflow heat maps per role, exponent
 * histograms against each format's range, and drift per layer. */
#include <csv.h>
#include <getopt.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/atomic_file.h"
#include "cli.h"
#include "prectune/formats.h"
#include "prectune/stats.h"
#include "prectune/telemetry.h"
#include "svg.h"

static const char *const tables[] = {"runs", "steps", "layer_stats", "drift", "evals", "events", NULL};

static void help(void)
{
    printf("usage: prectune report RUN.db [--run ID] [--csv TABLE | --html FILE]\n"
           "\n"
           "Without options: the runs in the database. --csv TABLE writes one table as CSV on\n"
           "stdout (runs, steps, layer_stats, drift, evals, events; histograms as hex);\n"
           "--html FILE writes a self-contained report of one run (default: the latest).\n");
}

static int db_error(sqlite3 *db, const char *path)
{
    fprintf(stderr, "prectune report: %s: %s\n", path, sqlite3_errmsg(db));
    return PT_EXIT_USAGE;
}

/* One field. A text cell that a spreadsheet would read as a formula (it
 * starts with =, +, -, @, a tab or a carriage return: a layer named
 * =HYPERLINK(...) in someone else's database) is written with a leading
 * apostrophe, which spreadsheets show as text; numbers are written as
 * they are. */
static void csv_field(FILE *f, const char *s, bool first, bool text)
{
    if (!first) fputc(',', f);
    if (text && s[0] && strchr("=+-@\t\r", s[0])) {
        size_t n = strlen(s);
        char *q = malloc(n + 2);
        if (q) {
            q[0] = '\'';
            memcpy(q + 1, s, n + 1);
            csv_fwrite(f, q, n + 1);
            free(q);
            return;
        }
    }
    csv_fwrite(f, s, strlen(s));
}

static int export_csv(sqlite3 *db, const char *path, const char *table, long long run)
{
    bool known = false;
    for (int i = 0; tables[i]; i++) known |= strcmp(tables[i], table) == 0;
    if (!known)
        return pt_cli_usage_error("report", "--csv '%s': unknown table (expected runs, steps, "
                                  "layer_stats, drift, evals or events)", table);
    char sql[256];
    if (run && strcmp(table, "runs") != 0)
        snprintf(sql, sizeof sql, "SELECT * FROM %s WHERE run_id = %lld", table, run);
    else if (run)
        snprintf(sql, sizeof sql, "SELECT * FROM runs WHERE id = %lld", run);
    else
        snprintf(sql, sizeof sql, "SELECT * FROM %s", table);
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) return db_error(db, path);
    int nc = sqlite3_column_count(s);
    for (int c = 0; c < nc; c++) csv_field(stdout, sqlite3_column_name(s, c), c == 0, true);
    fputc('\n', stdout);
    while (sqlite3_step(s) == SQLITE_ROW) {
        for (int c = 0; c < nc; c++) {
            char buf[64];
            const char *v = "";
            char *hex = NULL;
            switch (sqlite3_column_type(s, c)) {
            case SQLITE_INTEGER: snprintf(buf, sizeof buf, "%lld", (long long)sqlite3_column_int64(s, c)); v = buf; break;
            case SQLITE_FLOAT: snprintf(buf, sizeof buf, "%.17g", sqlite3_column_double(s, c)); v = buf; break;
            case SQLITE_TEXT: v = (const char *)sqlite3_column_text(s, c); break;
            case SQLITE_BLOB: {
                int n = sqlite3_column_bytes(s, c);
                const unsigned char *b = sqlite3_column_blob(s, c);
                hex = malloc((size_t)n * 2 + 1);
                if (!hex) {
                    sqlite3_finalize(s);
                    fprintf(stderr, "prectune report: out of memory\n");
                    return PT_EXIT_FAILED;
                }
                for (int i = 0; i < n; i++) sprintf(hex + 2 * i, "%02x", b[i]);
                hex[2 * n] = '\0';
                v = hex;
                break;
            }
            default: break;
            }
            csv_field(stdout, v, c == 0, sqlite3_column_type(s, c) == SQLITE_TEXT);
            free(hex);
        }
        fputc('\n', stdout);
    }
    sqlite3_finalize(s);
    return PT_EXIT_OK;
}

static int list_runs(sqlite3 *db, const char *path)
{
    sqlite3_stmt *s;
    const char *sql =
        "SELECT r.id, r.kind, coalesce(r.status, ''), r.model, coalesce(r.policy_source, ''),"
        " (SELECT count(*) FROM steps WHERE run_id = r.id),"
        " (SELECT sum(skipped) FROM steps WHERE run_id = r.id),"
        " (SELECT accuracy FROM evals WHERE run_id = r.id ORDER BY step DESC LIMIT 1), r.started"
        " FROM runs r ORDER BY r.id";
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) return db_error(db, path);
    printf("%-4s %-8s %-11s %-16s %-34s %7s %7s %8s  %s\n", "run", "kind", "status", "model", "policy",
           "steps", "skipped", "accuracy", "started");
    while (sqlite3_step(s) == SQLITE_ROW) {
        char acc[16] = "-";
        if (sqlite3_column_type(s, 7) != SQLITE_NULL)
            snprintf(acc, sizeof acc, "%.2f%%", 100 * sqlite3_column_double(s, 7));
        printf("%-4lld %-8s %-11s %-16s %-34s %7lld %7lld %8s  %s\n", (long long)sqlite3_column_int64(s, 0),
               sqlite3_column_text(s, 1), sqlite3_column_text(s, 2), sqlite3_column_text(s, 3),
               sqlite3_column_text(s, 4), (long long)sqlite3_column_int64(s, 5),
               (long long)sqlite3_column_int64(s, 6), acc, sqlite3_column_text(s, 8));
    }
    sqlite3_finalize(s);
    return PT_EXIT_OK;
}

/* ---- HTML ------------------------------------------------------------------ */

typedef struct series {
    double *x, *y;
    int n, cap;
} series;

static void push(series *s, double x, double y)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 256;
        s->x = realloc(s->x, sizeof(double) * (size_t)s->cap);
        s->y = realloc(s->y, sizeof(double) * (size_t)s->cap);
    }
    s->x[s->n] = x, s->y[s->n] = y, s->n++;
}

static void series_free(series *s) { free(s->x), free(s->y), memset(s, 0, sizeof *s); }

static void range(const series *s, int n, double *lo, double *hi, bool positive)
{
    *lo = INFINITY, *hi = -INFINITY;
    for (int k = 0; k < n; k++)
        for (int i = 0; i < s[k].n; i++) {
            double v = s[k].y[i];
            if (!isfinite(v) || (positive && v <= 0)) continue;
            if (v < *lo) *lo = v;
            if (v > *hi) *hi = v;
        }
    if (!isfinite(*lo)) *lo = 0, *hi = 1;
    if (*hi <= *lo) *hi = *lo + (positive ? *lo : 1);
}

static series query_series(sqlite3 *db, const char *sql, long long run)
{
    series s = {0};
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return s;
    sqlite3_bind_int64(st, 1, run);
    while (sqlite3_step(st) == SQLITE_ROW)
        push(&s, sqlite3_column_double(st, 0),
             sqlite3_column_type(st, 1) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 1));
    sqlite3_finalize(st);
    return s;
}

static const char *text_col(sqlite3_stmt *s, int c)
{
    const unsigned char *t = sqlite3_column_text(s, c);
    return t ? (const char *)t : "";
}

/* Index into pt_stats' per-format counts for a role's format (fp32/tf32
 * roles show what fp16 would do, for reference). */
static int sfmt_of(const char *format)
{
    if (!strcmp(format, "bf16")) return PT_SFMT_BF16;
    if (!strcmp(format, "fp8_e4m3")) return PT_SFMT_E4M3;
    if (!strcmp(format, "fp8_e5m2")) return PT_SFMT_E5M2;
    return PT_SFMT_FP16;
}

static const char *const sfmt_name[PT_SFMT_COUNT] = {"fp16", "bf16", "fp8_e4m3", "fp8_e5m2"};

static void heatmaps(FILE *f, sqlite3 *db, long long run, int nlayers, char (*names)[64])
{
    static const char *const roles[] = {"x", "w", "dy", "dw"};
    static const char *const role_desc[] = {"input activation (x)", "weight (w)", "output gradient (dy)",
                                            "weight gradient (dw)"};
    sqlite3_stmt *s;
    int nsteps = 0;
    long long steps[400];
    if (sqlite3_prepare_v2(db, "SELECT DISTINCT step FROM layer_stats WHERE run_id = ? ORDER BY step",
                           -1, &s, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_int64(s, 1, run);
    long long *all = NULL;
    int nall = 0, cap = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        if (nall == cap) {
            cap = cap ? 2 * cap : 1024;
            long long *na = realloc(all, sizeof *all * (size_t)cap);
            if (!na) break;
            all = na;
        }
        all[nall++] = sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
    if (!nall) {
        free(all);
        fputs("<p>No per-layer statistics in this run (--stats-every 0).</p>\n", f);
        return;
    }
    int stride = nall > 400 ? (nall + 399) / 400 : 1;
    for (int i = 0; i < nall; i += stride) steps[nsteps++] = all[i];
    free(all);
    fputs("<p>Fraction of each tensor's values that would underflow to zero or overflow in the "
          "format of the GEMM that reads it, at the scale it is cast with (fp32 and tf32 roles show "
          "fp16, for reference). Rows: layers; columns: steps with statistics. Hover a cell for the "
          "numbers.</p>\n", f);
    fputs("<div class=\"grid\">\n", f);
    for (int r = 0; r < 4; r++) {
        for (int kind = 0; kind < 2; kind++) {
            int cw = nsteps > 0 ? (560 / nsteps > 0 ? 560 / nsteps : 1) : 1, ch = 16;
            int w = 130 + cw * nsteps + 20, h = 40 + ch * nlayers + 34;
            fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                       "font-family=\"sans-serif\" font-size=\"11\">\n", w, h);
            fprintf(f, "<text x=\"4\" y=\"16\" font-size=\"12\" font-weight=\"bold\">%s fraction: %s</text>\n",
                    kind ? "overflow" : "underflow", role_desc[r]);
            for (int l = 0; l < nlayers; l++) {
                fprintf(f, "<text x=\"124\" y=\"%d\" text-anchor=\"end\">", 40 + ch * l + 12);
                svg_escape(f, names[l]);
                fputs("</text>\n", f);
            }
            if (sqlite3_prepare_v2(db,
                                   "SELECT step, layer_index, format, count, underflow_fp16, underflow_bf16,"
                                   " underflow_e4m3, underflow_e5m2, overflow_fp16, overflow_bf16,"
                                   " overflow_e4m3, overflow_e5m2 FROM layer_stats"
                                   " WHERE run_id = ? AND role = ?",
                                   -1, &s, NULL) != SQLITE_OK)
                continue;
            sqlite3_bind_int64(s, 1, run);
            sqlite3_bind_text(s, 2, roles[r], -1, SQLITE_STATIC);
            while (sqlite3_step(s) == SQLITE_ROW) {
                long long st = sqlite3_column_int64(s, 0);
                int col = -1;
                for (int i = 0; i < nsteps; i++)
                    if (steps[i] == st) col = i;
                if (col < 0) continue;
                int li = sqlite3_column_int(s, 1), k = sfmt_of(text_col(s, 2));
                if (li < 0 || li >= nlayers) continue; /* past the layers drawn */
                double cnt = sqlite3_column_double(s, 3);
                double v = sqlite3_column_double(s, 4 + 4 * kind + k);
                double frac = cnt > 0 ? v / cnt : 0;
                char color[16];
                svg_heat_color(frac, color);
                fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\" stroke=\"#eee\" "
                           "stroke-width=\"0.5\"><title>", 130 + cw * col, 40 + ch * li - 2, cw, ch, color);
                svg_escape(f, li >= 0 && li < nlayers ? names[li] : "?");
                fprintf(f, ", step %lld, %s: %.3g of %.0f values (%s)</title></rect>\n", st,
                        kind ? "overflow" : "underflow", frac, cnt, sfmt_name[k]);
            }
            sqlite3_finalize(s);
            fprintf(f, "<text x=\"130\" y=\"%d\">step %lld</text><text x=\"%d\" y=\"%d\" text-anchor=\"end\">step %lld</text>\n",
                    h - 18, steps[0], 130 + cw * nsteps, h - 18, steps[nsteps - 1]);
            fputs("</svg>\n", f);
        }
    }
    fputs("</div>\n", f);
    /* the color scale */
    fputs("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"420\" height=\"40\" font-family=\"sans-serif\" "
          "font-size=\"11\"><text x=\"4\" y=\"14\">fraction:</text>\n", f);
    for (int i = 0; i <= 6; i++) {
        char color[16];
        double frac = i == 0 ? 0 : pow(10, -6 + i);
        svg_heat_color(frac, color);
        fprintf(f, "<rect x=\"%d\" y=\"4\" width=\"40\" height=\"14\" fill=\"%s\" stroke=\"#999\"/>"
                   "<text x=\"%d\" y=\"32\" text-anchor=\"middle\">%s</text>\n",
                70 + 48 * i, color, 90 + 48 * i,
                i == 0 ? "0" : i == 6 ? "1" : (const char *[]){"", "1e-5", "1e-4", "1e-3", "1e-2", "0.1"}[i]);
    }
    fputs("</svg>\n", f);
}

static void histograms(FILE *f, sqlite3 *db, long long run)
{
    sqlite3_stmt *s;
    const char *sql = "SELECT layer, role, format, scale, hist, step FROM layer_stats WHERE run_id = ?1 AND"
                      " step = (SELECT max(step) FROM layer_stats WHERE run_id = ?1)"
                      " ORDER BY layer_index, CASE role WHEN 'x' THEN 0 WHEN 'w' THEN 1"
                      " WHEN 'dy' THEN 2 ELSE 3 END";
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) return;
    sqlite3_bind_int64(s, 1, run);
    bool any = false;
    /* representable ranges (exponents of |x * scale|): subnormal start, normal start, max exponent */
    static const struct { const char *name; int sub, norm, top; const char *color; } fr[] = {
        {"fp16", -24, -14, 15, "#1f77b4"}, {"bf16", -133, -126, 127, "#2ca02c"},
        {"fp8_e4m3", -9, -6, 8, "#d62728"}, {"fp8_e5m2", -16, -14, 15, "#9467bd"}};
    while (sqlite3_step(s) == SQLITE_ROW) {
        if (!any) {
            fprintf(f, "<p>Binary exponents of each tensor's values at step %lld (bars: share of the "
                       "values in each power of two, log scale), and below them the range each format "
                       "represents at the tensor's scale (light: subnormal, dark: normal). Values left "
                       "of a band underflow in that format, right of it overflow.</p>\n<div class=\"grid\">\n",
                    (long long)sqlite3_column_int64(s, 5));
            any = true;
        }
        const char *layer = text_col(s, 0), *role = text_col(s, 1), *format = text_col(s, 2);
        double scale = sqlite3_column_double(s, 3);
        const unsigned char *blob = sqlite3_column_blob(s, 4);
        if (sqlite3_column_bytes(s, 4) != PT_HIST_BINS * 8) continue;
        double h[PT_HIST_BINS], total = 0;
        for (int b = 0; b < PT_HIST_BINS; b++) {
            uint64_t v = 0;
            for (int k = 0; k < 8; k++) v |= (uint64_t)blob[b * 8 + k] << (8 * k);
            h[b] = (double)v;
            total += h[b];
        }
        char title[192];
        snprintf(title, sizeof title, "%s / %s (%s, scale %g)", layer, role, format, scale);
        svg_plot p;
        int e0 = PT_HIST_MIN_EXP - 1, e1 = PT_HIST_MAX_EXP + 2;
        /* y: log10 of the share, -7..0 for the bars; below -7 the format bands */
        svg_begin(&p, f, 420, 240, e0, e1, -8.6, 0, false, title, "binary exponent of |value| (log2)",
                  "share of values (log10)");
        p.right = 20;
        double ybase = svg_y(&p, -7);
        for (int b = 0; b < PT_HIST_BINS; b++) {
            if (!(h[b] > 0) || b == PT_HIST_ZERO) continue;
            int e = b == PT_HIST_BELOW ? e0 : b == PT_HIST_ABOVE ? PT_HIST_MAX_EXP + 1
                                                               : b - PT_HIST_FIRST + PT_HIST_MIN_EXP;
            double share = h[b] / total, lg = log10(share) > -6.9 ? log10(share) : -6.9;
            double x = svg_x(&p, e), x2 = svg_x(&p, e + 1), y = svg_y(&p, lg);
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#555\"><title>2^%d: %.3g of the values</title></rect>\n",
                    x, y, x2 - x - 0.5, ybase - y, e, share);
        }
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#444\"/>\n", p.left, ybase,
                p.w - p.right, ybase);
        double shift = scale > 0 ? log2(scale) : 0;
        for (int k = 0; k < 4; k++) {
            double a = fmax(fr[k].sub - shift, e0), m = fmax(fr[k].norm - shift, e0), z = fmin(fr[k].top + 1 - shift, e1);
            double yy = svg_y(&p, -7.15 - 0.37 * k);
            if (m > a)
                fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"5\" fill=\"%s\" opacity=\"0.35\"/>\n",
                        svg_x(&p, a), yy, svg_x(&p, m) - svg_x(&p, a), fr[k].color);
            if (z > m)
                fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"5\" fill=\"%s\"><title>%s</title></rect>\n",
                        svg_x(&p, m), yy, svg_x(&p, z) - svg_x(&p, m), fr[k].color, fr[k].name);
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"9\" fill=\"%s\">%s</text>\n",
                    svg_x(&p, z > e0 ? z : e0) + 3, yy + 5, fr[k].color, fr[k].name);
        }
        if (h[PT_HIST_ZERO] > 0)
            fprintf(f, "<text x=\"%d\" y=\"%d\">zeros: %.3g</text>\n", p.left + 4, p.top + 14,
                    h[PT_HIST_ZERO] / total);
        svg_end(&p);
    }
    sqlite3_finalize(s);
    if (any) fputs("</div>\n", f);
    else fputs("<p>No per-layer statistics in this run.</p>\n", f);
}

static int write_html(sqlite3 *db, const char *path, long long run, const char *out)
{
    sqlite3_stmt *s;
    if (!run) {
        if (sqlite3_prepare_v2(db, "SELECT max(id) FROM runs", -1, &s, NULL) != SQLITE_OK)
            return db_error(db, path);
        if (sqlite3_step(s) == SQLITE_ROW) run = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
    }
    if (sqlite3_prepare_v2(db, "SELECT model, fingerprint, coalesce(policy_source,''), coalesce(device,''),"
                               " coalesce(data,''), coalesce(status,''), started, steps, kind FROM runs WHERE id = ?",
                           -1, &s, NULL) != SQLITE_OK)
        return db_error(db, path);
    sqlite3_bind_int64(s, 1, run);
    if (sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_finalize(s);
        fprintf(stderr, "prectune report: %s: no run %lld (see prectune report %s)\n", path, run, path);
        return PT_EXIT_USAGE;
    }
    char model[128], fp[64], policy[512], device[256], data[512], status[32], started[64];
    snprintf(model, sizeof model, "%s", text_col(s, 0));
    snprintf(fp, sizeof fp, "%s", text_col(s, 1));
    snprintf(policy, sizeof policy, "%s", text_col(s, 2));
    snprintf(device, sizeof device, "%s", text_col(s, 3));
    snprintf(data, sizeof data, "%s", text_col(s, 4));
    snprintf(status, sizeof status, "%s", text_col(s, 5));
    snprintf(started, sizeof started, "%s", text_col(s, 6));
    sqlite3_finalize(s);
    /* the page is made in memory and written whole (pt_write_file_atomic):
     * a full disk leaves no half page, and the previous one as it was */
    char *page = NULL;
    size_t page_len = 0;
    FILE *f = open_memstream(&page, &page_len);
    if (!f) {
        fprintf(stderr, "prectune report: %s: out of memory for the page\n", out);
        return PT_EXIT_FAILED;
    }
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>prectune report: ", f);
    svg_escape(f, model);
    fputs("</title>\n<style>body{font-family:sans-serif;margin:24px;color:#222;max-width:1300px}"
          "h2{border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:32px}"
          "table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}"
          ".grid{display:flex;flex-wrap:wrap;gap:8px}svg{background:#fff}</style></head><body>\n", f);
    fputs("<h1>prectune run report: ", f);
    svg_escape(f, model);
    fprintf(f, " (run %lld)</h1>\n<table>", run);
    const char *rows[][2] = {{"policy", policy}, {"device", device}, {"data", data},
                             {"fingerprint", fp}, {"status", status}, {"started", started}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        fprintf(f, "<tr><th>%s</th><td>", rows[i][0]);
        svg_escape(f, rows[i][1]);
        fputs("</td></tr>", f);
    }
    fputs("</table>\n", f);

    /* evaluations */
    if (sqlite3_prepare_v2(db, "SELECT step, loss, accuracy, samples FROM evals WHERE run_id = ? ORDER BY step",
                           -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, run);
        fputs("<h2>Held-out evaluation</h2>\n<table><tr><th>step</th><th>loss</th><th>accuracy</th><th>samples</th></tr>\n", f);
        while (sqlite3_step(s) == SQLITE_ROW) {
            char acc[32] = "-";
            if (sqlite3_column_type(s, 2) != SQLITE_NULL)
                snprintf(acc, sizeof acc, "%.2f%%", 100 * sqlite3_column_double(s, 2));
            fprintf(f, "<tr><td>%lld</td><td>%.4f</td><td>%s</td><td>%lld</td></tr>\n",
                    (long long)sqlite3_column_int64(s, 0), sqlite3_column_double(s, 1), acc,
                    (long long)sqlite3_column_int64(s, 3));
        }
        fputs("</table>\n", f);
        sqlite3_finalize(s);
    }

    /* loss against the fp32 baseline */
    series loss[2] = {query_series(db, "SELECT step, loss FROM steps WHERE run_id = ? ORDER BY step", run)};
    long long base = 0;
    if (sqlite3_prepare_v2(db, "SELECT id FROM runs WHERE fingerprint = ?1 AND id != ?2 AND"
                               " (kind = 'baseline' OR policy_source = 'built-in fp32' OR policy_source LIKE '%fp32.json')"
                               " ORDER BY id DESC LIMIT 1", -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_text(s, 1, fp, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, run);
        if (sqlite3_step(s) == SQLITE_ROW) base = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
    }
    if (base) loss[1] = query_series(db, "SELECT step, loss FROM steps WHERE run_id = ? ORDER BY step", base);
    fputs("<h2>Training loss</h2>\n", f);
    if (loss[0].n) {
        double lo, hi;
        range(loss, base ? 2 : 1, &lo, &hi, false);
        double xmax = loss[0].x[loss[0].n - 1];
        if (base && loss[1].n && loss[1].x[loss[1].n - 1] > xmax) xmax = loss[1].x[loss[1].n - 1];
        svg_plot p;
        svg_begin(&p, f, 900, 320, 0, xmax > 0 ? xmax : 1, lo < 0 ? lo : 0, hi * 1.05, false,
                  "training loss per step", "step", "loss (cross-entropy or MSE, per sample)");
        svg_line(&p, loss[0].x, loss[0].y, loss[0].n, svg_color(0), 1.2, NULL);
        svg_legend(&p, 0, svg_color(0), "this run", false);
        if (base) {
            svg_line(&p, loss[1].x, loss[1].y, loss[1].n, "#333", 1.2, "5,3");
            char lbl[64];
            snprintf(lbl, sizeof lbl, "fp32 baseline (run %lld)", base);
            svg_legend(&p, 1, "#333", lbl, true);
        }
        svg_end(&p);
        if (!base) fputs("<p>No fp32 run of this model in the database to compare with.</p>\n", f);
    }

    /* loss scale and skipped steps */
    series sc = query_series(db, "SELECT step, scale FROM steps WHERE run_id = ? ORDER BY step", run);
    series sk = query_series(db, "SELECT step, scale FROM steps WHERE run_id = ? AND skipped ORDER BY step", run);
    fprintf(f, "<h2>Loss scale</h2>\n<p>%d of %d steps skipped for a non-finite gradient.</p>\n", sk.n, sc.n);
    if (sc.n) {
        double lo, hi;
        range(&sc, 1, &lo, &hi, true);
        svg_plot p;
        svg_begin(&p, f, 900, 260, 0, sc.x[sc.n - 1] > 0 ? sc.x[sc.n - 1] : 1, lo / 2, hi * 2, true,
                  "loss scale per step (skipped steps marked)", "step", "loss scale");
        svg_line(&p, sc.x, sc.y, sc.n, svg_color(0), 1.5, NULL);
        for (int i = 0; i < sk.n && i < 5000; i++) {
            char t[64];
            snprintf(t, sizeof t, "step %.0f skipped at scale %g", sk.x[i], sk.y[i]);
            svg_marker(&p, sk.x[i], sk.y[i], "#d62728", t);
        }
        svg_legend(&p, 0, svg_color(0), "loss scale", false);
        svg_legend(&p, 1, "#d62728", "skipped step (dot)", false);
        svg_end(&p);
    }

    /* layers */
    char names[256][64];
    memset(names, 0, sizeof names);
    int nlayers = 0;
    if (sqlite3_prepare_v2(db, "SELECT DISTINCT layer_index, layer FROM layer_stats WHERE run_id = ?"
                               " UNION SELECT DISTINCT layer_index, layer FROM drift WHERE run_id = ?"
                               " ORDER BY 1", -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, run);
        sqlite3_bind_int64(s, 2, run);
        while (sqlite3_step(s) == SQLITE_ROW) {
            int li = sqlite3_column_int(s, 0);
            if (li >= 0 && li < 256) {
                snprintf(names[li], 64, "%s", text_col(s, 1));
                if (li + 1 > nlayers) nlayers = li + 1;
            }
        }
        sqlite3_finalize(s);
    }
    fputs("<h2>Underflow and overflow per layer and role</h2>\n", f);
    heatmaps(f, db, run, nlayers, names);
    fputs("<h2>Exponent histograms against the formats' ranges</h2>\n", f);
    histograms(f, db, run);

    /* drift */
    fputs("<h2>Drift against the fp32 shadow</h2>\n<p>Signal-to-quantization-noise ratio of each layer's "
          "output against the same layer in an fp32 copy of the model (same weights, same batch); higher "
          "is closer to fp32, +inf (not drawn) is identical.</p>\n", f);
    series dr[256];
    int nd = 0;
    for (int l = 0; l < nlayers && l < 256; l++) {
        if (sqlite3_prepare_v2(db, "SELECT step, sqnr_db FROM drift WHERE run_id = ? AND layer_index = ? ORDER BY step",
                               -1, &s, NULL) != SQLITE_OK)
            break;
        dr[l] = (series){0};
        sqlite3_bind_int64(s, 1, run);
        sqlite3_bind_int(s, 2, l);
        while (sqlite3_step(s) == SQLITE_ROW) push(&dr[l], sqlite3_column_double(s, 0), sqlite3_column_double(s, 1));
        sqlite3_finalize(s);
        nd = l + 1;
    }
    bool any_drift = false;
    for (int l = 0; l < nd; l++) any_drift |= dr[l].n > 0;
    if (any_drift) {
        double lo, hi, xmax = 0;
        range(dr, nd, &lo, &hi, false);
        for (int l = 0; l < nd; l++)
            if (dr[l].n && dr[l].x[dr[l].n - 1] > xmax) xmax = dr[l].x[dr[l].n - 1];
        svg_plot p;
        svg_begin(&p, f, 900, 320, 0, xmax > 0 ? xmax : 1, floor(lo / 10) * 10, ceil(hi / 10) * 10 + 10,
                  false, "output SQNR per layer against fp32", "step", "SQNR (dB)");
        for (int l = 0; l < nd; l++) {
            svg_line(&p, dr[l].x, dr[l].y, dr[l].n, svg_color(l), 1.5, NULL);
            svg_legend(&p, l, svg_color(l), names[l], false);
        }
        svg_end(&p);
    } else {
        fputs("<p>No drift measurements in this run (--drift-every 0), or every layer is identical to fp32.</p>\n", f);
    }
    for (int l = 0; l < nd; l++) series_free(&dr[l]);

    /* events */
    if (sqlite3_prepare_v2(db, "SELECT step, severity, kind, message FROM events WHERE run_id = ? ORDER BY id LIMIT 200",
                           -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, run);
        fputs("<h2>Events</h2>\n<table><tr><th>step</th><th>severity</th><th>kind</th><th>message</th></tr>\n", f);
        int n = 0;
        while (sqlite3_step(s) == SQLITE_ROW) {
            fprintf(f, "<tr><td>%lld</td><td>", (long long)sqlite3_column_int64(s, 0));
            svg_escape(f, text_col(s, 1));
            fputs("</td><td>", f);
            svg_escape(f, text_col(s, 2));
            fputs("</td><td>", f);
            svg_escape(f, text_col(s, 3));
            fputs("</td></tr>\n", f);
            n++;
        }
        if (!n) fputs("<tr><td colspan=\"4\">none</td></tr>\n", f);
        fputs("</table>\n", f);
        sqlite3_finalize(s);
    }
    fputs("<p style=\"color:#777\">Written by prectune report from ", f);
    svg_escape(f, path);
    fputs(".</p>\n</body></html>\n", f);
    series_free(&loss[0]), series_free(&loss[1]), series_free(&sc), series_free(&sk);
    if (fclose(f) != 0) {
        free(page);
        fprintf(stderr, "prectune report: %s: out of memory for the page\n", out);
        return PT_EXIT_FAILED;
    }
    pt_status st = pt_write_file_atomic(out, page, page_len);
    free(page);
    if (st) return pt_cli_lib_error("report", st);
    fprintf(stderr, "wrote %s (run %lld)\n", out, run);
    return PT_EXIT_OK;
}

int pt_cmd_report(int argc, char **argv)
{
    static const struct option opts[] = {
        {"csv", required_argument, 0, 'c'}, {"html", required_argument, 0, 'H'},
        {"run", required_argument, 0, 'r'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    const char *csv = NULL, *html = NULL;
    long long run = 0;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': csv = optarg; break;
        case 'H': html = optarg; break;
        case 'r':
        {
            long long v;
            if (pt_cli_int_option("report", "run", optarg, 1, &v)) return PT_EXIT_USAGE;
            run = v;
            break;
        }
        case 'h': help(); return PT_EXIT_OK;
        default:
            return pt_cli_usage_error("report", "unknown or incomplete option '%s' (see --help)", argv[optind - 1]);
        }
    }
    if (optind != argc - 1) return pt_cli_usage_error("report", "expected one RUN.db (see --help)");
    if (csv && html) return pt_cli_usage_error("report", "--csv and --html: one at a time");
    const char *path = argv[optind];
    sqlite3 *db;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "prectune report: %s: cannot open: %s\n", path, sqlite3_errmsg(db));
        sqlite3_close(db);
        return PT_EXIT_USAGE;
    }
    sqlite3_stmt *s;
    int ok = sqlite3_prepare_v2(db, "SELECT count(*) FROM runs", -1, &s, NULL) == SQLITE_OK;
    if (ok) sqlite3_finalize(s);
    if (!ok) {
        fprintf(stderr, "prectune report: %s: not a prectune telemetry database (no runs table)\n", path);
        sqlite3_close(db);
        return PT_EXIT_USAGE;
    }
    pt_status st = pt_telemetry_check_readable(db, path);
    if (st) {
        sqlite3_close(db);
        return pt_cli_lib_error("report", st);
    }
    int code = csv ? export_csv(db, path, csv, run) : html ? write_html(db, path, run, html)
                                                          : list_runs(db, path);
    sqlite3_close(db);
    return code;
}
