/* Diagnosis from a run's telemetry (see diagnose.h). Everything comes from
 * the database: the model spec and policy of the run (for the execution
 * order and the formats), its steps (loss, scale, skips) and its per-layer
 * statistics, which the trainer records on every step that saw a
 * non-finite gradient as well as every --stats-every steps.
 *
 * One file past 600 lines, for a reason: the causes are found in order
 * from one context loaded from the database (ctx: the run's spec, policy,
 * steps and rows), each rule reading what the ones before it found; split,
 * that context would need a header of its own with no readers but these. */
#include "prectune/diagnose.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fp8_jump.h"
#include "prectune/model.h"
#include "prectune/telemetry.h"

static const char *const cause_names[PT_CAUSE_COUNT] = {
    [PT_CAUSE_NONE] = "none",
    [PT_CAUSE_BAD_INPUT] = "bad_input_data",
    [PT_CAUSE_ACTIVATION_OVERFLOW] = "activation_overflow",
    [PT_CAUSE_GRADIENT_OVERFLOW] = "gradient_overflow_not_absorbed",
    [PT_CAUSE_GRADIENT_UNDERFLOW] = "gradient_underflow",
    [PT_CAUSE_FP8_STALE_SCALE] = "fp8_scale_staleness",
    [PT_CAUSE_DEATH_SPIRAL] = "loss_scale_death_spiral",
    [PT_CAUSE_NOT_PRECISION] = "not_precision",
    [PT_CAUSE_VANISHING_CONSTANT] = "vanishing_constant",
    [PT_CAUSE_UNKNOWN] = "unknown",
};
_Static_assert(sizeof cause_names / sizeof cause_names[0] == PT_CAUSE_COUNT, "one name per cause");

const char *pt_cause_name(pt_cause c) { return (unsigned)c < PT_CAUSE_COUNT ? cause_names[c] : "?"; }

typedef struct row {
    int64_t step;
    int layer_index;
    char layer[64], role[4], format[16];
    pt_stats s;
} row;

typedef struct ctx {
    sqlite3 *db;
    const char *path;
    int64_t run;
    pt_model_spec spec;
    bool have_spec;
    pt_policy policy;
} ctx;

static pt_status db_fail(ctx *c, const char *what)
{
    return pt_fail(PT_ERR_INVALID, "%s: %s: %s", c->path, what, sqlite3_errmsg(c->db));
}

static void read_row(sqlite3_stmt *s, row *r)
{
    memset(r, 0, sizeof *r);
    r->step = sqlite3_column_int64(s, 0);
    r->layer_index = sqlite3_column_int(s, 1);
    snprintf(r->layer, sizeof r->layer, "%s", (const char *)sqlite3_column_text(s, 2));
    snprintf(r->role, sizeof r->role, "%s", (const char *)sqlite3_column_text(s, 3));
    const unsigned char *f = sqlite3_column_text(s, 4);
    snprintf(r->format, sizeof r->format, "%s", f ? (const char *)f : "");
    r->s.scale = (float)sqlite3_column_double(s, 5);
    r->s.count = (uint64_t)sqlite3_column_int64(s, 6);
    r->s.nan = (uint64_t)sqlite3_column_int64(s, 7);
    r->s.pos_inf = (uint64_t)sqlite3_column_int64(s, 8);
    r->s.neg_inf = (uint64_t)sqlite3_column_int64(s, 9);
    r->s.zero = (uint64_t)sqlite3_column_int64(s, 10);
    r->s.absmax = (float)sqlite3_column_double(s, 11);
    r->s.min_nonzero = (float)sqlite3_column_double(s, 12);
    for (int k = 0; k < PT_SFMT_COUNT; k++) {
        r->s.underflow[k] = (uint64_t)sqlite3_column_int64(s, 13 + k);
        r->s.overflow[k] = (uint64_t)sqlite3_column_int64(s, 17 + k);
    }
}

#define ROW_COLS "step, layer_index, layer, role, format, scale, count, nan, pos_inf, neg_inf, zero," \
                 " absmax, min_nonzero, underflow_fp16, underflow_bf16, underflow_e4m3, underflow_e5m2," \
                 " overflow_fp16, overflow_bf16, overflow_e4m3, overflow_e5m2"

/* Rows of one step, in execution order: forward (layers in order, x then
 * w), then backward (layers in reverse, dy then dw). */
static int load_step(ctx *c, int64_t step, row **out)
{
    sqlite3_stmt *s;
    const char *sql = "SELECT " ROW_COLS " FROM layer_stats WHERE run_id = ? AND step = ? ORDER BY"
                      " CASE WHEN role IN ('x', 'w') THEN 0 ELSE 1 END,"
                      " CASE WHEN role IN ('x', 'w') THEN layer_index ELSE -layer_index END,"
                      " CASE role WHEN 'x' THEN 0 WHEN 'w' THEN 1 WHEN 'dy' THEN 2 ELSE 3 END";
    if (sqlite3_prepare_v2(c->db, sql, -1, &s, NULL) != SQLITE_OK) return -1;
    sqlite3_bind_int64(s, 1, c->run);
    sqlite3_bind_int64(s, 2, step);
    int n = 0, cap = 0;
    row *rows = NULL;
    while (sqlite3_step(s) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            rows = realloc(rows, sizeof *rows * (size_t)cap);
        }
        read_row(s, &rows[n++]);
    }
    sqlite3_finalize(s);
    *out = rows;
    return n;
}

static bool nonfinite(const pt_stats *s) { return s->nan + s->pos_inf + s->neg_inf > 0; }

static int64_t query_int(ctx *c, const char *sql, int64_t dflt)
{
    sqlite3_stmt *s;
    int64_t v = dflt;
    if (sqlite3_prepare_v2(c->db, sql, -1, &s, NULL) != SQLITE_OK) return dflt;
    sqlite3_bind_int64(s, 1, c->run);
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

static int sfmt(const char *format)
{
    if (!strcmp(format, "bf16")) return PT_SFMT_BF16;
    if (!strcmp(format, "fp8_e4m3")) return PT_SFMT_E4M3;
    if (!strcmp(format, "fp8_e5m2")) return PT_SFMT_E5M2;
    return PT_SFMT_FP16;
}

static double format_max(const char *f)
{
    pt_format x = pt_format_from_name(f);
    return x == PT_FMT_COUNT ? 3.4e38 : pt_format_info(x)->max_finite;
}

/* absmax of one tensor over the recorded steps before `before`: the trend. */
static void trend(ctx *c, const char *layer, const char *role, int64_t before, const char *format, char *out, size_t n)
{
    sqlite3_stmt *s;
    const char *sql = "SELECT step, absmax, scale FROM layer_stats WHERE run_id = ? AND layer = ? AND role = ?"
                      " AND step < ? AND nan + pos_inf + neg_inf = 0 ORDER BY step";
    out[0] = '\0';
    if (sqlite3_prepare_v2(c->db, sql, -1, &s, NULL) != SQLITE_OK) return;
    sqlite3_bind_int64(s, 1, c->run);
    sqlite3_bind_text(s, 2, layer, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, role, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, before);
    int64_t s0 = -1, s1 = -1;
    double a0 = 0, a1 = 0;
    int count = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        int64_t st = sqlite3_column_int64(s, 0);
        double a = sqlite3_column_double(s, 1);
        if (s0 < 0) s0 = st, a0 = a;
        s1 = st, a1 = a;
        count++;
    }
    sqlite3_finalize(s);
    if (count < 2 || s1 <= s0 || !(a0 > 0)) {
        snprintf(out, n, "%s/%s went bad at the first statistics step%s: no trend to follow", layer, role,
                 count ? "s" : "");
        return;
    }
    double per100 = pow(a1 / a0, 100.0 / (double)(s1 - s0));
    snprintf(out, n, "absmax of %s/%s went from %.4g at step %lld to %.4g at step %lld (x%.3g per 100 steps); "
             "%s holds up to %.6g", layer, role, a0, (long long)s0, a1, (long long)s1, per100, format, format_max(format));
}

/* The patched policy: this layer's three GEMMs in `to`. */
static void promote(pt_diagnosis *d, const ctx *c, const char *layer, pt_format to, const char *why)
{
    pt_policy *p = &d->patch;
    int i = 0;
    for (; i < p->nlayers; i++)
        if (!strcmp(p->layers[i].name, layer)) break;
    if (i == p->nlayers) {
        p->layers = realloc(p->layers, sizeof *p->layers * (size_t)(p->nlayers + 1));
        memset(&p->layers[i], 0, sizeof p->layers[i]);
        snprintf(p->layers[i].name, sizeof p->layers[i].name, "%s", layer);
        p->nlayers++;
    }
    p->layers[i].f = (pt_layer_formats){to, to, to};
    snprintf(p->layers[i].reason, sizeof p->layers[i].reason, "diagnose: %s", why);
    d->has_patch = true;
    (void)c;
}

static void copy_policy(pt_policy *dst, const pt_policy *src)
{
    free(dst->layers); /* a patch written before */
    *dst = *src;
    dst->layers = NULL;
    if (src->nlayers) {
        dst->layers = malloc(sizeof *dst->layers * (size_t)src->nlayers);
        memcpy(dst->layers, src->layers, sizeof *dst->layers * (size_t)src->nlayers);
    }
    dst->validation.present = false;
    dst->est_speedup = 0;
}

/* The layer structure, from the model spec when the run has one (prectune
 * runs), else from the rows themselves (imported telemetry): layers in the
 * order they first appear form a chain; a layer with a weight row has a
 * GEMM; its forward format is the one recorded with its input. */
static int producer_of(const ctx *c, int li)
{
    return c->have_spec && li >= 0 && li < c->spec.nlayers ? c->spec.layers[li].in_index[0] : li - 1;
}

static const row *find_row(const row *rows, int n, int li, const char *role)
{
    for (int i = 0; i < n; i++)
        if (rows[i].layer_index == li && !strcmp(rows[i].role, role)) return &rows[i];
    return NULL;
}

static const char *layer_name(const ctx *c, const row *rows, int n, int li)
{
    if (c->have_spec && li >= 0 && li < c->spec.nlayers) return c->spec.layers[li].name;
    for (int i = 0; i < n; i++)
        if (rows[i].layer_index == li) return rows[i].layer;
    return "?";
}

static bool has_gemm(const ctx *c, const row *rows, int n, int li)
{
    if (c->have_spec && li >= 0 && li < c->spec.nlayers) return pt_layer_has_gemm(c->spec.layers[li].type);
    return find_row(rows, n, li, "w") != NULL;
}

static pt_format fwd_format(const ctx *c, const row *rows, int n, int li)
{
    if (c->have_spec) return pt_policy_formats(&c->policy, layer_name(c, rows, n, li)).fwd;
    const row *x = find_row(rows, n, li, "x");
    pt_format f = x ? pt_format_from_name(x->format) : PT_FMT_COUNT;
    return f == PT_FMT_COUNT ? PT_FMT_FP32 : f;
}

static pt_format bwd_format(const ctx *c, const row *rows, int n, int li, bool wgrad)
{
    if (c->have_spec) {
        pt_layer_formats f = pt_policy_formats(&c->policy, layer_name(c, rows, n, li));
        return wgrad ? f.wgrad : f.dgrad;
    }
    const row *r = find_row(rows, n, li, wgrad ? "dw" : "dy");
    pt_format f = r ? pt_format_from_name(r->format) : PT_FMT_COUNT;
    return f == PT_FMT_COUNT ? PT_FMT_FP32 : f;
}

/* Explains the first non-finite tensor of step `step`. */
static void explain_nonfinite(ctx *c, pt_diagnosis *d, const row *rows, int n, int first)
{
    const row *b = &rows[first];
    snprintf(d->layer, sizeof d->layer, "%s", b->layer);
    snprintf(d->role, sizeof d->role, "%s", b->role);
    snprintf(d->format, sizeof d->format, "%s", b->format);
    d->layer_index = b->layer_index;
    d->scale = b->s.scale;
    d->stats = b->s;
    int prod = producer_of(c, b->layer_index);
    /* what the NaN becomes downstream, in words (propagation) */
    char downstream[256] = "";
    for (int i = first + 1; i < n; i++)
        if (!strcmp(rows[i].role, "x") && rows[i].s.nan > 0 && b->s.nan == 0) {
            snprintf(downstream, sizeof downstream, "; from there it turns into NaN (first seen entering '%s'), which is "
                     "propagation, not another origin", rows[i].layer);
            break;
        }
    if (!strcmp(b->role, "x") && prod < 0) {
        d->cause = PT_CAUSE_BAD_INPUT;
        snprintf(d->origin_layer, sizeof d->origin_layer, "(input data)");
        snprintf(d->origin_role, sizeof d->origin_role, "x");
        snprintf(d->origin_why, sizeof d->origin_why, "the batch itself holds %llu NaN and %llu inf values",
                 (unsigned long long)b->s.nan, (unsigned long long)(b->s.pos_inf + b->s.neg_inf));
        snprintf(d->fix, sizeof d->fix, "clean the data: no precision change helps; the batch of step %lld has non-finite values",
                 (long long)d->step);
        return;
    }
    if (!strcmp(b->role, "x")) {
        /* the producer's inputs were finite (they come earlier in the order) */
        int j = prod;
        const char *pname = layer_name(c, rows, n, j);
        snprintf(d->origin_layer, sizeof d->origin_layer, "%s", pname);
        snprintf(d->origin_role, sizeof d->origin_role, "x");
        const row *px = NULL;
        for (int i = 0; i < first; i++)
            if (rows[i].layer_index == j && !strcmp(rows[i].role, "x")) px = &rows[i];
        pt_format ffwd = fwd_format(c, rows, n, j);
        const char *fname = pt_format_info(ffwd)->name;
        bool gemm = has_gemm(c, rows, n, j);
        const char *ptype = c->have_spec ? pt_layer_type_name(c->spec.layers[j].type) : (gemm ? "GEMM layer" : "layer");
        if (gemm && px && ffwd != PT_FMT_FP32 && ffwd != PT_FMT_TF32 &&
            (px->s.overflow[sfmt(fname)] > 0 || px->s.absmax * px->s.scale >= format_max(fname))) {
            d->cause = PT_CAUSE_ACTIVATION_OVERFLOW;
            snprintf(d->origin_why, sizeof d->origin_why,
                     "'%s' runs its forward GEMM in %s; its input reaches %.4g (%llu values beyond %s's %.6g), so the "
                     "cast to %s made inf and the GEMM's output is not finite%s",
                     pname, fname, (double)px->s.absmax, (unsigned long long)px->s.overflow[sfmt(fname)], fname,
                     format_max(fname), fname, downstream);
            trend(c, pname, "x", d->step + 1, fname, d->trend, sizeof d->trend);
            char why[200];
            snprintf(why, sizeof why, "input reached %.4g > %s max at step %lld", (double)px->s.absmax, fname,
                     (long long)d->step);
            promote(d, c, pname, PT_FMT_BF16, why);
            snprintf(d->fix, sizeof d->fix, "run '%s' in bf16 (same range as fp32), or fp32; or scale its input down", pname);
        } else if (gemm && ffwd == PT_FMT_FP16) {
            d->cause = PT_CAUSE_ACTIVATION_OVERFLOW;
            snprintf(d->origin_why, sizeof d->origin_why,
                     "'%s' runs its forward GEMM in fp16 with finite inputs, and its output overflowed fp16's 65504%s",
                     pname, downstream);
            promote(d, c, pname, PT_FMT_BF16, "forward output overflowed fp16");
            snprintf(d->fix, sizeof d->fix, "run '%s' in bf16, or fp32", pname);
        } else if (c->have_spec && c->spec.layers[j].type == PT_LAYER_LAYERNORM &&
                   pt_policy_norm_format(&c->policy, pname) != PT_FMT_FP32 &&
                   pt_round(pt_policy_norm_format(&c->policy, pname), c->spec.layers[j].eps, 0) == 0.0f) {
            pt_format nf = pt_policy_norm_format(&c->policy, pname);
            const pt_format_traits *ti = pt_format_info(nf);
            double tiny = ti->min_subnormal / 2; /* what rounds to 0 */
            d->cause = PT_CAUSE_VANISHING_CONSTANT;
            snprintf(d->origin_why, sizeof d->origin_why,
                     "'%s' (layer norm) computes in %s, where its eps %g is 0 (%s's smallest value is %.3g): a row "
                     "whose variance is 0 in %s (a constant row, or one whose values sit within %.2g of their mean) "
                     "gives 0 x 1/sqrt(0) = NaN; its inputs were finite%s",
                     pname, ti->name, (double)c->spec.layers[j].eps, ti->name, ti->min_subnormal, ti->name,
                     sqrt(tiny), downstream);
            char why[200];
            snprintf(why, sizeof why, "eps %g is 0 in %s (NaN at step %lld)", (double)c->spec.layers[j].eps, ti->name,
                     (long long)d->step);
            promote(d, c, pname, PT_FMT_FP32, why);
            snprintf(d->fix, sizeof d->fix, "compute '%s' in fp32 (what autocast does for norms), or raise its eps "
                     "to at least %.3g, %s's smallest normal value", pname, ti->min_normal, ti->name);
        } else {
            d->cause = PT_CAUSE_UNKNOWN;
            snprintf(d->origin_why, sizeof d->origin_why,
                     "'%s' (%s, computed in %s) turned finite inputs into non-finite outputs%s", pname, ptype,
                     gemm ? fname : "fp32", downstream);
        }
        return;
    }
    if (!strcmp(b->role, "w")) {
        d->cause = PT_CAUSE_UNKNOWN;
        snprintf(d->origin_layer, sizeof d->origin_layer, "%s", b->layer);
        snprintf(d->origin_role, sizeof d->origin_role, "w");
        snprintf(d->origin_why, sizeof d->origin_why,
                 "the master weights of '%s' are not finite: an earlier update applied a non-finite or huge step", b->layer);
        return;
    }
    /* backward: dy of a layer comes from the layer after it (its reader) */
    const pt_scaler_config *ls = &c->policy.loss_scale;
    int reader = -1;
    if (c->have_spec) {
        for (int i = 0; i < c->spec.nlayers; i++)
            for (int k = 0; k < 2; k++)
                if (c->spec.layers[i].in_index[k] == b->layer_index && k < pt_layer_ninputs(c->spec.layers[i].type))
                    reader = reader < 0 ? i : reader;
    } else if (find_row(rows, n, b->layer_index + 1, "dy")) {
        reader = b->layer_index + 1;
    }
    bool wgrad = !strcmp(b->role, "dw");
    int culprit_index = wgrad || reader < 0 ? b->layer_index : reader;
    const char *culprit = layer_name(c, rows, n, culprit_index);
    const char *gname = pt_format_info(bwd_format(c, rows, n, culprit_index, wgrad))->name;
    snprintf(d->origin_layer, sizeof d->origin_layer, "%s", culprit);
    snprintf(d->origin_role, sizeof d->origin_role, "dy");
    double scale = 1;
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(c->db, "SELECT scale FROM steps WHERE run_id = ? AND step = ?", -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, c->run);
        sqlite3_bind_int64(s, 2, d->step);
        if (sqlite3_step(s) == SQLITE_ROW) scale = sqlite3_column_double(s, 0);
        sqlite3_finalize(s);
    }
    double dy_abs = 0;
    for (int i = 0; i < n; i++)
        if (!strcmp(rows[i].role, "dy") && !nonfinite(&rows[i].s) && rows[i].s.absmax > dy_abs) dy_abs = rows[i].s.absmax;
    d->cause = PT_CAUSE_GRADIENT_OVERFLOW;
    snprintf(d->origin_why, sizeof d->origin_why,
             "the backward GEMM of '%s' in %s overflowed: the output gradients it reads reach %.4g at a loss scale of %g "
             "(unscaled %.4g); %s holds up to %.6g",
             d->origin_layer, gname, dy_abs, scale, dy_abs / scale, gname, format_max(gname));
    if (ls->mode == PT_SCALE_STATIC || ls->mode == PT_SCALE_NONE) {
        double s2 = exp2(floor(log2(format_max(gname) / (4 * (dy_abs / scale > 0 ? dy_abs / scale : 1)))));
        copy_policy(&d->patch, &c->policy);
        d->patch.loss_scale = pt_scaler_config_default(PT_SCALE_DYNAMIC);
        d->patch.loss_scale.init = fmin(fmax(s2, 1), d->patch.loss_scale.max_scale);
        d->has_patch = true;
        snprintf(d->fix, sizeof d->fix,
                 "the %s loss scale of %g is too high for these gradients: use dynamic scaling starting at %g", ls->mode == PT_SCALE_STATIC ? "static" : "fixed",
                 scale, d->patch.loss_scale.init);
    } else {
        promote(d, c, d->origin_layer, PT_FMT_BF16, "gradients overflow fp16 even after the scaler backs off");
        snprintf(d->fix, sizeof d->fix, "run '%s' in bf16, whose range holds these gradients", d->origin_layer);
    }
}

/* The fix of a divergence that is the learning rate's: the run's learning
 * rate times a power of two that brings it to 1/8 of the rate at the
 * incident step or below (the instability began before the loss showed it). */
static void lr_patch(ctx *c, pt_diagnosis *d)
{
    double at = NAN, peak = 0;
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(c->db, "SELECT (SELECT lr FROM steps WHERE run_id = ?1 AND step = ?2),"
                                  " (SELECT max(lr) FROM steps WHERE run_id = ?1)", -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, c->run);
        sqlite3_bind_int64(s, 2, d->step);
        if (sqlite3_step(s) == SQLITE_ROW) at = sqlite3_column_double(s, 0), peak = sqlite3_column_double(s, 1);
        sqlite3_finalize(s);
    }
    bool known = peak > 0 && at > 0; /* imported telemetry has no learning rate */
    if (!known) at = peak = 1;
    double factor = exp2(floor(log2(at / (8 * peak))));
    copy_policy(&d->patch, &c->policy);
    d->patch.lr_scale = fmax(c->policy.lr_scale * fmin(factor, 0.5), 1e-6);
    d->has_patch = true;
    if (known)
        snprintf(d->fix, sizeof d->fix, "lower the learning rate: the patch runs it at %g x the model's (peak %.4g "
                 "instead of %.4g; it was %.4g at step %lld); warm-up or gradient clipping also help. Precision is "
                 "not the cause (no precision event precedes it): an fp32 run of the same seed shows it",
                 d->patch.lr_scale, peak / c->policy.lr_scale * d->patch.lr_scale, peak, at, (long long)d->step);
    else
        snprintf(d->fix, sizeof d->fix, "lower the learning rate (8x is a start: the telemetry does not record it), "
                 "or add warm-up or gradient clipping. Precision is not the cause (no precision event precedes it): "
                 "an fp32 run of the same seed shows it");
}

/* An fp8 tensor whose values were clamped because its amax jumped past
 * what the delayed-scaling history's scale holds, by more than 2x (a
 * tensor growing by a few percent a step during warm-up clamps a sliver,
 * which is the recipe working as designed). The trainer records
 * statistics on every step where a cast clamped. */
static void fp8_saturation(ctx *c, pt_diagnosis *d)
{
    int64_t at = query_int(c, "SELECT min(step) FROM layer_stats WHERE run_id = ? AND " PT_FP8_JUMP_SQL, -1);
    if (at < 0) return;
    row *rows = NULL;
    int n = load_step(c, at, &rows), first = -1;
    for (int i = 0; i < n && first < 0; i++) {
        const row *r = &rows[i];
        double mx = format_max(r->format);
        if (!strncmp(r->format, "fp8", 3) && r->s.absmax * r->s.scale > 2 * mx &&
            r->s.overflow[PT_SFMT_E4M3] + r->s.overflow[PT_SFMT_E5M2] > 0)
            first = i;
    }
    if (first < 0 || pt_policy_fp8_recipe(&c->policy, rows[first].layer).kind != PT_FP8_DELAYED) {
        free(rows);
        return;
    }
    const row *b = &rows[first];
    d->incident = true;
    d->step = at;
    snprintf(d->kind, sizeof d->kind, "fp8 saturation");
    d->cause = PT_CAUSE_FP8_STALE_SCALE;
    snprintf(d->layer, sizeof d->layer, "%s", b->layer);
    snprintf(d->role, sizeof d->role, "%s", b->role);
    snprintf(d->format, sizeof d->format, "%s", b->format);
    snprintf(d->origin_layer, sizeof d->origin_layer, "%s", b->layer);
    snprintf(d->origin_role, sizeof d->origin_role, "%s", b->role);
    d->layer_index = b->layer_index;
    d->scale = b->s.scale;
    d->stats = b->s;
    double mx = format_max(b->format), bound = mx / b->s.scale;
    uint64_t clamped = b->s.overflow[PT_SFMT_E4M3] + b->s.overflow[PT_SFMT_E5M2];
    /* the amax history it was scaled by: the largest absmax recorded in the
     * steps just before (statistics steps only) */
    double loss = NAN, med = NAN;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(c->db, "SELECT loss FROM steps WHERE run_id = ?1 AND step = ?2", -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(q, 1, c->run);
        sqlite3_bind_int64(q, 2, at);
        if (sqlite3_step(q) == SQLITE_ROW) loss = sqlite3_column_double(q, 0);
        sqlite3_finalize(q);
    }
    if (sqlite3_prepare_v2(c->db, "SELECT loss FROM steps WHERE run_id = ?1 AND step < ?2 AND step >= ?2 - 64"
                                  " ORDER BY loss LIMIT 1 OFFSET (SELECT count(*) / 2 FROM steps WHERE run_id = ?1"
                                  " AND step < ?2 AND step >= ?2 - 64)", -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(q, 1, c->run);
        sqlite3_bind_int64(q, 2, at);
        if (sqlite3_step(q) == SQLITE_ROW) med = sqlite3_column_double(q, 0);
        sqlite3_finalize(q);
    }
    int64_t later = query_int(c, "SELECT count(DISTINCT step) FROM layer_stats WHERE run_id = ? AND " PT_FP8_JUMP_SQL, 0);
    char loss_s[200] = "";
    if (isfinite(loss) && isfinite(med) && loss <= 1.5 * med)
        snprintf(loss_s, sizeof loss_s, "; the step's loss was %.4g against a running median of %.4g: the "
                 "clamping silently hides these values from the model rather than breaking the step", loss, med);
    else if (isfinite(loss) && isfinite(med))
        snprintf(loss_s, sizeof loss_s, "; the step's loss rose to %.4g against a running median of %.4g", loss, med);
    snprintf(d->explanation, sizeof d->explanation,
             "at step %lld, %llu values of %s/%s were clamped in %s: its amax %.4g is %.3gx the %.4g that the scale "
             "(%g, from the largest amax of the last %d steps: delayed scaling) holds, so the scale was stale; "
             "this happened on %lld statistics steps of the run%s",
             (long long)at, (unsigned long long)clamped, b->layer, b->role, b->format, (double)b->s.absmax,
             (double)b->s.absmax / bound, bound, (double)b->s.scale, c->policy.fp8.amax_history, (long long)later,
             loss_s);
    /* the trend: the tensor's absmax on the statistics steps before, then the jump */
    int len = snprintf(d->trend, sizeof d->trend, "absmax of %s/%s:", b->layer, b->role);
    if (sqlite3_prepare_v2(c->db, "SELECT step, absmax FROM (SELECT step, absmax FROM layer_stats WHERE run_id = ?1"
                                  " AND layer = ?2 AND role = ?3 AND step < ?4 ORDER BY step DESC LIMIT 4)"
                                  " ORDER BY step", -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(q, 1, c->run);
        sqlite3_bind_text(q, 2, b->layer, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 3, b->role, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 4, at);
        while (sqlite3_step(q) == SQLITE_ROW && len < (int)sizeof d->trend - 64)
            len += snprintf(d->trend + len, sizeof d->trend - (size_t)len, " %.4g at step %lld,",
                            sqlite3_column_double(q, 1), (long long)sqlite3_column_int64(q, 0));
        sqlite3_finalize(q);
    }
    snprintf(d->trend + len, sizeof d->trend - (size_t)len, " then %.4g at step %lld: a jump, not a drift that the "
             "history could follow", (double)b->s.absmax, (long long)at);
    /* the patch: this layer alone to current scaling */
    copy_policy(&d->patch, &c->policy);
    pt_policy *p = &d->patch;
    int i = 0;
    while (i < p->nlayers && strcmp(p->layers[i].name, b->layer)) i++;
    if (i == p->nlayers) {
        p->layers = realloc(p->layers, sizeof *p->layers * (size_t)(p->nlayers + 1));
        memset(&p->layers[i], 0, sizeof p->layers[i]);
        snprintf(p->layers[i].name, sizeof p->layers[i].name, "%s", b->layer);
        p->layers[i].f = p->def;
        p->nlayers++;
    }
    p->layers[i].has_fp8_recipe = true;
    p->layers[i].fp8_recipe = PT_FP8_CURRENT;
    snprintf(p->layers[i].reason, sizeof p->layers[i].reason, "diagnose: amax of %s/%s jumped %.3gx past the "
             "delayed-scaling history at step %lld", b->layer, b->role, (double)b->s.absmax / bound, (long long)at);
    d->has_patch = true;
    snprintf(d->fix, sizeof d->fix, "switch '%s' to current scaling (its fp8 casts scaled by each tensor's own amax; "
             "the patch does this for this layer only), or keep it out of fp8 (bf16)", b->layer);
    free(rows);
}

pt_status pt_diagnose_db(const char *path, int64_t run, pt_diagnosis *d)
{
    memset(d, 0, sizeof *d);
    ctx c = {.path = path};
    if (sqlite3_open_v2(path, &c.db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        pt_status st = pt_fail(PT_ERR_IO, "%s: cannot open: %s", path, sqlite3_errmsg(c.db));
        sqlite3_close(c.db);
        return st;
    }
    pt_status st = pt_telemetry_check_readable(c.db, path);
    if (st) {
        sqlite3_close(c.db);
        return st;
    }
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(c.db, run ? "SELECT id, model, spec_json, policy_json FROM runs WHERE id = ?"
                                      : "SELECT id, model, spec_json, policy_json FROM runs ORDER BY id DESC LIMIT 1",
                           -1, &s, NULL) != SQLITE_OK) {
        st = db_fail(&c, "not a prectune telemetry database");
        sqlite3_close(c.db);
        return st;
    }
    if (run) sqlite3_bind_int64(s, 1, run);
    pt_policy_init_fp32(&c.policy);
    if (sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_finalize(s);
        sqlite3_close(c.db);
        return pt_fail(PT_ERR_INVALID, "%s: no run %lld in the database", path, (long long)run);
    }
    c.run = d->run = sqlite3_column_int64(s, 0);
    snprintf(d->model, sizeof d->model, "%s", (const char *)sqlite3_column_text(s, 1));
    const char *spec_json = (const char *)sqlite3_column_text(s, 2);
    const char *pol_json = (const char *)sqlite3_column_text(s, 3);
    c.have_spec = spec_json && pt_model_spec_parse(spec_json, "the run's model spec", &c.spec) == PT_OK;
    if (pol_json) {
        pt_policy_free(&c.policy);
        if (pt_policy_parse(pol_json, "the run's policy", &c.policy) != PT_OK) pt_policy_init_fp32(&c.policy);
    }
    sqlite3_finalize(s);
    copy_policy(&d->patch, &c.policy);
    snprintf(d->patch.source, sizeof d->patch.source, "prectune diagnose");

    int64_t first_nf = query_int(&c, "SELECT min(step) FROM layer_stats WHERE run_id = ? AND nan + pos_inf + neg_inf > 0", -1);
    int64_t first_skip = query_int(&c, "SELECT min(step) FROM steps WHERE run_id = ? AND skipped", -1);
    int64_t nsteps = query_int(&c, "SELECT count(*) FROM steps WHERE run_id = ?", 0);
    int64_t nskipped = query_int(&c, "SELECT count(*) FROM steps WHERE run_id = ? AND skipped", 0);
    int64_t last_step = query_int(&c, "SELECT max(step) FROM steps WHERE run_id = ?", -1);
    int64_t trailing = 0; /* consecutive skipped steps at the end */
    if (sqlite3_prepare_v2(c.db, "SELECT skipped FROM steps WHERE run_id = ? ORDER BY step DESC", -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, c.run);
        while (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int(s, 0)) trailing++;
        sqlite3_finalize(s);
    }
    /* the interval between the first two statistics steps (the --stats-every) */
    d->stats_interval = query_int(&c, "SELECT max(step) - min(step) FROM (SELECT DISTINCT step FROM layer_stats"
                                       " WHERE run_id = ?1 ORDER BY step LIMIT 2)", 0);
    int64_t step = first_nf;
    if (first_skip >= 0 && (step < 0 || first_skip < step)) step = first_skip;
    if (step >= 0) {
        d->incident = true;
        d->step = step;
        snprintf(d->kind, sizeof d->kind, "non-finite");
        /* statistics are recorded on every step with a non-finite gradient */
        int64_t at = query_int(&c, "SELECT min(step) FROM layer_stats WHERE run_id = ? AND nan + pos_inf + neg_inf > 0", -1);
        row *rows = NULL;
        int n = at >= 0 ? load_step(&c, at, &rows) : 0;
        int first = -1;
        for (int i = 0; i < n && first < 0; i++)
            if (nonfinite(&rows[i].s)) first = i;
        if (first >= 0) {
            d->step = at;
            explain_nonfinite(&c, d, rows, n, first);
        } else {
            d->cause = PT_CAUSE_UNKNOWN;
            snprintf(d->explanation, sizeof d->explanation, "steps were skipped for non-finite gradients but no "
                     "statistics were recorded at them (--stats-every 0?)");
        }
        free(rows);
        bool spiral = trailing >= 10 && nskipped > nsteps / 4;
        char tail[512] = "";
        if (spiral) {
            snprintf(tail, sizeof tail, " The loss scale then collapsed: the last %lld steps (of %lld) were all skipped, "
                     "so training made no progress (a death spiral); %s", (long long)trailing, (long long)nsteps,
                     first >= 0 ? "this is the symptom, the overflow above is the cause."
                                : "which tensor overflows is not in the telemetry: record statistics on the skipped "
                                  "steps to find it.");
        } else if (nskipped > 0 && trailing == nsteps) {
            snprintf(tail, sizeof tail, " Every one of the %lld steps was skipped until a guard stopped the run.",
                     (long long)nsteps);
        } else if (nskipped > 0) {
            snprintf(tail, sizeof tail, " %lld of %lld steps (%.2f%%) were skipped and training went on: %s.",
                     (long long)nskipped, (long long)nsteps, 100.0 * (double)nskipped / (double)(nsteps ? nsteps : 1),
                     (double)nskipped <= 0.01 * (double)nsteps ? "harmless, the dynamic scaler absorbed it"
                                                               : "more than 1% of steps: harmful");
            if ((double)nskipped <= 0.01 * (double)nsteps && d->cause == PT_CAUSE_GRADIENT_OVERFLOW) {
                d->has_patch = false;
                snprintf(d->fix, sizeof d->fix, "nothing to fix: occasional skips are how dynamic loss scaling finds its scale");
            }
        }
        snprintf(d->explanation + strlen(d->explanation), sizeof d->explanation - strlen(d->explanation), "%s", tail);
        if (spiral && d->cause == PT_CAUSE_UNKNOWN) d->cause = PT_CAUSE_DEATH_SPIRAL;
    } else {
        /* no non-finite value: a loss spike or divergence against a robust baseline */
        double *loss = NULL;
        int64_t *stp = NULL;
        int m = 0, cap = 0;
        if (sqlite3_prepare_v2(c.db, "SELECT step, loss FROM steps WHERE run_id = ? ORDER BY step", -1, &s, NULL) == SQLITE_OK) {
            sqlite3_bind_int64(s, 1, c.run);
            while (sqlite3_step(s) == SQLITE_ROW) {
                if (m == cap) {
                    cap = cap ? 2 * cap : 1024;
                    loss = realloc(loss, sizeof *loss * (size_t)cap);
                    stp = realloc(stp, sizeof *stp * (size_t)cap);
                }
                stp[m] = sqlite3_column_int64(s, 0);
                loss[m++] = sqlite3_column_double(s, 1);
            }
            sqlite3_finalize(s);
        }
        /* a sorted window of the last 64 losses: each step removes the
         * oldest and inserts the newest, O(64), and the median is in the middle */
        double win[64];
        int nw = 0;
        for (int i = 0; i < m; i++) {
            if (nw == 64) {
                double med = 0.5 * (win[31] + win[32]);
                if (loss[i] > 3 * med && loss[i] > med + 0.5) {
                    d->incident = true;
                    d->step = stp[i];
                    snprintf(d->kind, sizeof d->kind, "loss spike");
                    d->cause = PT_CAUSE_NOT_PRECISION;
                    snprintf(d->explanation, sizeof d->explanation,
                             "the training loss jumped to %.4g at step %lld, %.1fx its running median %.4g, with every "
                             "recorded tensor finite and in range: no precision event precedes it",
                             loss[i], (long long)stp[i], loss[i] / med, med);
                    d->loss_limit = fmax(3 * med, med + 0.5);
                    break;
                }
                double old = loss[i - 64];
                int k = 0;
                while (k < nw - 1 && win[k] != old) k++;
                memmove(win + k, win + k + 1, sizeof *win * (size_t)(nw - 1 - k));
                nw--;
            }
            int k = nw;
            while (k > 0 && win[k - 1] > loss[i]) k--;
            memmove(win + k + 1, win + k, sizeof *win * (size_t)(nw - k));
            win[k] = loss[i];
            nw++;
        }
        free(loss);
        free(stp);
        /* no single spike: the loss drifting up, as the detector recorded */
        if (!d->incident) {
            sqlite3_stmt *q;
            if (sqlite3_prepare_v2(c.db, "SELECT step, message FROM events WHERE run_id = ? AND kind = 'divergence'"
                                         " ORDER BY step LIMIT 1", -1, &q, NULL) == SQLITE_OK) {
                sqlite3_bind_int64(q, 1, c.run);
                if (sqlite3_step(q) == SQLITE_ROW) {
                    d->incident = true;
                    d->step = sqlite3_column_int64(q, 0);
                    snprintf(d->kind, sizeof d->kind, "divergence");
                    d->cause = PT_CAUSE_NOT_PRECISION;
                    snprintf(d->explanation, sizeof d->explanation, "the loss diverged by step %lld (%s), with every "
                             "recorded tensor finite and in range: no precision event precedes it",
                             (long long)d->step, (const char *)sqlite3_column_text(q, 1));
                }
                sqlite3_finalize(q);
            }
            if (d->incident) { /* the limit: twice the best 64-step mean before it */
                double best = INFINITY, sum = 0;
                int64_t k = 0;
                double ring[64];
                if (sqlite3_prepare_v2(c.db, "SELECT loss FROM steps WHERE run_id = ? AND step <= ? AND NOT skipped"
                                             " ORDER BY step", -1, &q, NULL) == SQLITE_OK) {
                    sqlite3_bind_int64(q, 1, c.run);
                    sqlite3_bind_int64(q, 2, d->step);
                    while (sqlite3_step(q) == SQLITE_ROW) {
                        double l = sqlite3_column_double(q, 0);
                        if (k >= 64) sum -= ring[k % 64];
                        ring[k % 64] = l, sum += l, k++;
                        if (k >= 64 && sum / 64 < best) best = sum / 64;
                    }
                    sqlite3_finalize(q);
                }
                d->loss_limit = isfinite(best) ? 2 * best : 0;
            }
        }
        if (d->incident && d->cause == PT_CAUSE_NOT_PRECISION) lr_patch(&c, d);
        /* a spike with an fp8 tensor saturated just then, whose amax jumped
         * past what the delayed-scaling history had seen */
        if (d->incident && c.policy.fp8.kind == PT_FP8_DELAYED) {
            sqlite3_stmt *q;
            const char *sql = "SELECT layer, role, step, absmax, overflow_e4m3, overflow_e5m2, format FROM layer_stats"
                              " WHERE run_id = ? AND step <= ? AND format LIKE 'fp8%' AND (overflow_e4m3 > 0 OR"
                              " overflow_e5m2 > 0) ORDER BY step DESC LIMIT 1";
            if (sqlite3_prepare_v2(c.db, sql, -1, &q, NULL) == SQLITE_OK) {
                sqlite3_bind_int64(q, 1, c.run);
                sqlite3_bind_int64(q, 2, d->step);
                if (sqlite3_step(q) == SQLITE_ROW) {
                    snprintf(d->origin_layer, sizeof d->origin_layer, "%s", (const char *)sqlite3_column_text(q, 0));
                    snprintf(d->origin_role, sizeof d->origin_role, "%s", (const char *)sqlite3_column_text(q, 1));
                    d->cause = PT_CAUSE_FP8_STALE_SCALE;
                    snprintf(d->explanation, sizeof d->explanation,
                             "at step %lld, %lld values of %s/%s (%s, absmax %.4g) saturated: its amax jumped past the "
                             "delayed-scaling history of %d steps, so the scale was stale; the loss spiked at step %lld",
                             (long long)sqlite3_column_int64(q, 2),
                             (long long)(sqlite3_column_int64(q, 4) + sqlite3_column_int64(q, 5)), d->origin_layer,
                             d->origin_role, (const char *)sqlite3_column_text(q, 6), sqlite3_column_double(q, 3),
                             c.policy.fp8.amax_history, (long long)d->step);
                    trend(&c, d->origin_layer, d->origin_role, d->step + 1, "fp8_e4m3", d->trend, sizeof d->trend);
                    copy_policy(&d->patch, &c.policy);
                    d->patch.fp8.kind = PT_FP8_CURRENT; /* the whole run: the spike names no one layer */
                    d->has_patch = true;
                    snprintf(d->fix, sizeof d->fix, "use current scaling for fp8 (the amax of each tensor as it is "
                             "cast), or a shorter amax history / a margin");
                }
                sqlite3_finalize(q);
            }
        }
        /* no spike: an fp8 tensor clamped by delayed scaling */
        if (!d->incident) fp8_saturation(&c, d);
        /* no spike: gradients flushed to zero, as the detector recorded */
        if (!d->incident) {
            sqlite3_stmt *q;
            if (sqlite3_prepare_v2(c.db, "SELECT step, message FROM events WHERE run_id = ? AND kind = 'gradient_underflow'"
                                         " ORDER BY step LIMIT 1", -1, &q, NULL) == SQLITE_OK) {
                sqlite3_bind_int64(q, 1, c.run);
                if (sqlite3_step(q) == SQLITE_ROW) {
                    d->incident = true;
                    d->step = sqlite3_column_int64(q, 0);
                    snprintf(d->kind, sizeof d->kind, "underflow");
                    d->cause = PT_CAUSE_GRADIENT_UNDERFLOW;
                    snprintf(d->explanation, sizeof d->explanation, "%s: small gradients vanish, so those weights stop "
                             "learning", (const char *)sqlite3_column_text(q, 1));
                    copy_policy(&d->patch, &c.policy);
                    if (d->patch.loss_scale.mode == PT_SCALE_NONE) {
                        d->patch.loss_scale = pt_scaler_config_default(PT_SCALE_DYNAMIC);
                    } else {
                        d->patch.loss_scale.mode = PT_SCALE_DYNAMIC;
                        d->patch.loss_scale.init = fmin(d->patch.loss_scale.init * 256, d->patch.loss_scale.max_scale);
                    }
                    d->has_patch = true;
                    snprintf(d->fix, sizeof d->fix, "raise the loss scale (dynamic, starting at %g), or run the "
                             "affected layers' gradients in bf16", d->patch.loss_scale.init);
                }
                sqlite3_finalize(q);
            }
        }
    }
    (void)last_step;
    bool all_fp32 = c.policy.def.fwd <= PT_FMT_TF32 && c.policy.def.dgrad <= PT_FMT_TF32 && c.policy.def.wgrad <= PT_FMT_TF32;
    for (int i = 0; i < c.policy.nlayers; i++)
        all_fp32 &= c.policy.layers[i].f.fwd <= PT_FMT_TF32 && c.policy.layers[i].f.dgrad <= PT_FMT_TF32;
    if (d->incident && all_fp32 && (d->cause == PT_CAUSE_UNKNOWN || d->cause == PT_CAUSE_GRADIENT_OVERFLOW) &&
        c.policy.loss_scale.mode == PT_SCALE_NONE) {
        d->cause = PT_CAUSE_NOT_PRECISION;
        lr_patch(&c, d);
        char tmp[sizeof d->fix + 80];
        snprintf(tmp, sizeof tmp, "the run is fp32 without loss scaling, so precision is not the cause: %s", d->fix);
        snprintf(d->fix, sizeof d->fix, "%.511s", tmp);
    }
    if (d->incident && !d->explanation[0])
        snprintf(d->explanation, sizeof d->explanation, "%s", d->origin_why);
    else if (d->incident && d->origin_why[0]) {
        char tmp[sizeof d->explanation + sizeof d->origin_why + 2];
        snprintf(tmp, sizeof tmp, "%s.%s", d->origin_why, d->explanation);
        snprintf(d->explanation, sizeof d->explanation, "%.2047s", tmp);
    }
    if (c.have_spec) pt_model_spec_free(&c.spec);
    pt_policy_free(&c.policy);
    sqlite3_close(c.db);
    if (!d->has_patch) pt_policy_free(&d->patch);
    return st;
}

void pt_diagnosis_free(pt_diagnosis *d)
{
    if (d->has_patch) pt_policy_free(&d->patch);
    d->has_patch = false;
}

void pt_diagnosis_print(const pt_diagnosis *d, FILE *f)
{
    if (!d->incident) {
        fprintf(f, "run %lld (%s): no incident: every recorded tensor stayed finite, no step was skipped, and the "
                   "loss shows no spike.\n", (long long)d->run, d->model);
        return;
    }
    fprintf(f, "run %lld (%s): %s at step %lld", (long long)d->run, d->model, d->kind, (long long)d->step);
    if (d->stats_interval > 1) fprintf(f, " (statistics every %lld steps around it)", (long long)d->stats_interval);
    fputs("\n", f);
    if (d->layer[0])
        fprintf(f, "  first bad tensor   %s / %s (%s, scale %g): %llu NaN, %llu +inf, %llu -inf of %llu; absmax %.4g\n",
                d->layer, d->role, d->format, d->scale, (unsigned long long)d->stats.nan,
                (unsigned long long)d->stats.pos_inf, (unsigned long long)d->stats.neg_inf,
                (unsigned long long)d->stats.count, (double)d->stats.absmax);
    if (d->origin_layer[0]) fprintf(f, "  origin             %s (%s)\n", d->origin_layer, d->origin_role);
    fprintf(f, "  cause              %s\n", pt_cause_name(d->cause));
    fprintf(f, "  why                %s\n", d->explanation);
    if (d->trend[0]) fprintf(f, "  trend              %s\n", d->trend);
    if (d->fix[0]) fprintf(f, "  fix                %s\n", d->fix);
}

char *pt_diagnosis_json(const pt_diagnosis *d)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "run", (double)d->run);
    cJSON_AddStringToObject(o, "model", d->model);
    cJSON_AddBoolToObject(o, "incident", d->incident);
    if (d->incident) {
        cJSON_AddStringToObject(o, "kind", d->kind);
        cJSON_AddNumberToObject(o, "step", (double)d->step);
        cJSON_AddNumberToObject(o, "stats_interval", (double)d->stats_interval);
        if (d->layer[0]) {
            cJSON *t = cJSON_AddObjectToObject(o, "first_bad_tensor");
            cJSON_AddStringToObject(t, "layer", d->layer);
            cJSON_AddStringToObject(t, "role", d->role);
            cJSON_AddStringToObject(t, "format", d->format);
            cJSON_AddNumberToObject(t, "scale", d->scale);
            cJSON_AddNumberToObject(t, "nan", (double)d->stats.nan);
            cJSON_AddNumberToObject(t, "pos_inf", (double)d->stats.pos_inf);
            cJSON_AddNumberToObject(t, "neg_inf", (double)d->stats.neg_inf);
            cJSON_AddNumberToObject(t, "count", (double)d->stats.count);
        }
        cJSON *og = cJSON_AddObjectToObject(o, "origin");
        cJSON_AddStringToObject(og, "layer", d->origin_layer);
        cJSON_AddStringToObject(og, "role", d->origin_role);
        cJSON_AddStringToObject(o, "cause", pt_cause_name(d->cause));
        cJSON_AddStringToObject(o, "explanation", d->explanation);
        cJSON_AddStringToObject(o, "trend", d->trend);
        cJSON_AddStringToObject(o, "fix", d->fix);
        cJSON_AddBoolToObject(o, "patch", d->has_patch);
    }
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    return s;
}
