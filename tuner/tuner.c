/* The tuner (see tuner.h). Probe runs are short trainings of the model
 * under a candidate policy, compared with the fp32 baseline of the same
 * seed; each is stored in the database under a key made of everything
 * that defines it, so a resumed tune finds it instead of running it. */
#include "prectune/tuner.h"

#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/clock.h"
#include "prectune/telemetry.h"
#include "prectune/trainer.h"

/* A rung of the ladder: the formats of a layer's three GEMMs. */
typedef struct rung {
    const char *name;
    pt_layer_formats f;
} rung;

typedef struct tuner {
    pt_backend *be;
    const pt_model_spec *spec;
    const pt_data *data;
    pt_telemetry *tel;
    const pt_tune_options *o;
    rung ladder[6];
    int nladder;
    int ngemm;
    int gemm[256];          /* spec indices of the GEMM layers */
    int min_rung[256];      /* cheapest rung the ranges allow */
    int rung_of[256];       /* current assignment */
    double sensitivity[256];
    char reason[256][512];
    pt_probe_result b1, b2; /* the probe-length fp32 baselines, seeds s and s+1 */
    double dy_absmax[256];
    int64_t base_run;
    int probes_run, probes_reused;
    double t0;
    char best[512];         /* the cheapest passing assignment so far */
    /* for the time-left estimate: seconds a step took in fp32 and in the
     * last low-precision probe, the phase (7: done), the work it still has */
    double fp32_step_s, low_step_s;
    int phase, sens_left;
    int64_t probe_steps, full_steps;
    bool val_base_done;
} tuner;

pt_tune_options pt_tune_options_default(void)
{
    pt_tune_options o;
    memset(&o, 0, sizeof o);
    for (int f = 0; f < PT_FMT_COUNT; f++) o.allowed[f] = f != PT_FMT_TF32;
    o.probe_steps = 300;
    o.budget_runs = 60;
    o.crit = pt_criteria_default();
    pt_device_table_h100(&o.device);
    return o;
}


static void say(tuner *T, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Seconds the tune still needs, from the step times measured so far: the
 * probes its phase has left (the search counted as two, its usual
 * length), then the full-length validation in fp32 and in the policy. A
 * guide, not a bound: failed validations add runs. -1 before any step was
 * timed. */
static double time_left(const tuner *T)
{
    if (T->phase > 6) return 0;
    if (!(T->fp32_step_s > 0)) return -1;
    double low = T->low_step_s > 0 ? T->low_step_s : T->fp32_step_s, ps = (double)T->probe_steps;
    double left = (T->val_base_done ? 0 : (double)T->full_steps * T->fp32_step_s) + (double)T->full_steps * low;
    if (T->phase <= 1) left += ps * T->fp32_step_s; /* the second seed */
    if (T->phase <= 3) left += (T->phase <= 2 ? T->ngemm : T->sens_left) * ps * low;
    if (T->phase <= 4) left += 2 * ps * low;
    return left;
}

static void say(tuner *T, const char *fmt, ...)
{
    if (!T->o->progress) return;
    va_list ap;
    va_start(ap, fmt);
    double el = pt_now_s() - T->t0, left = time_left(T);
    fprintf(stderr, "tune [%5.0fs, probe %d of at most %d", el, T->probes_run + T->probes_reused, T->o->budget_runs);
    if (T->o->budget_seconds > 0) fprintf(stderr, ", %.0fs of the budget left", fmax(0, T->o->budget_seconds - el));
    if (left >= 0) fprintf(stderr, ", about %.0fs to go", left);
    fputs("] ", stderr);
    vfprintf(stderr, fmt, ap);
    if (T->best[0]) fprintf(stderr, "  [best so far: %s]", T->best);
    fputc('\n', stderr);
    va_end(ap);
}

/* ", accuracy +x points" for a progress line, or nothing where the model
 * has no held-out accuracy (a regression). */
static const char *acc_change(const tuner *T, double drop, char *buf, size_t n)
{
    if (isnan(T->b1.accuracy)) return "";
    snprintf(buf, n, ", accuracy %+.2f points", -100 * drop);
    return buf;
}

/* The policy of an assignment (rung per GEMM layer) and a loss scale. */
static void make_policy(tuner *T, const int *rungs, const pt_scaler_config *ls, pt_policy *p)
{
    pt_policy_init_fp32(p);
    snprintf(p->source, sizeof p->source, "tuner candidate");
    p->layers = calloc((size_t)T->ngemm + 1, sizeof *p->layers);
    p->nlayers = T->ngemm;
    for (int i = 0; i < T->ngemm; i++) {
        snprintf(p->layers[i].name, sizeof p->layers[i].name, "%s", T->spec->layers[T->gemm[i]].name);
        p->layers[i].f = T->ladder[rungs[i]].f;
    }
    if (ls) p->loss_scale = *ls;
}

static void probe_key(tuner *T, const int *rungs, const pt_scaler_config *ls, uint64_t seed,
                      int64_t steps, char *key, size_t n)
{
    size_t k = (size_t)snprintf(key, n, "seed=%llu;steps=%lld;ls=%d:%g:%lld", (unsigned long long)seed,
                                (long long)steps, ls ? (int)ls->mode : 0, ls ? ls->init : 1.0,
                                ls ? (long long)ls->growth_interval : 0LL);
    for (int i = 0; i < T->ngemm && k < n; i++)
        k += (size_t)snprintf(key + k, n - k, ";%s=%s", T->spec->layers[T->gemm[i]].name, T->ladder[rungs[i]].name);
}

/* The step times behind the time-left estimate, from a probe run or
 * found in the database. */
static void note_step_time(tuner *T, const int *rungs, const pt_probe_result *r, int64_t steps)
{
    if (r->diverged || steps <= 0 || !(r->seconds > 0)) return;
    bool fp32 = true;
    for (int i = 0; i < T->ngemm; i++) fp32 &= rungs[i] == T->nladder - 1;
    if (fp32) T->fp32_step_s = r->seconds / (double)steps;
    else T->low_step_s = r->seconds / (double)steps;
}

static pt_status probe(tuner *T, const int *rungs, const pt_scaler_config *ls, uint64_t seed,
                       int64_t steps, bool stats, const char *kind, pt_probe_result *r)
{
    char key[4096];
    probe_key(T, rungs, ls, seed, steps, key, sizeof key);
    bool found = false;
    pt_status st = pt_telemetry_probe_get(T->tel, key, r, &found);
    if (st) return st;
    if (found) {
        T->probes_reused++;
        note_step_time(T, rungs, r, steps);
        return PT_OK;
    }
    bool validation = strcmp(kind, "validate") == 0 || strcmp(kind, "baseline") == 0;
    if (!validation && T->probes_run >= T->o->budget_runs)
        return pt_fail(PT_ERR_STOPPED, "the budget of %d probe runs is spent (--budget-runs)", T->o->budget_runs);
    if (!validation && T->o->budget_seconds > 0 && pt_now_s() - T->t0 > T->o->budget_seconds)
        return pt_fail(PT_ERR_STOPPED, "the time budget of %.0f s is spent (--budget-time)", T->o->budget_seconds);
    pt_policy pol;
    make_policy(T, rungs, ls, &pol);
    st = pt_run_policy(T->be, T->spec, &pol, T->data, T->tel, kind, key, steps, seed, stats, r);
    if (!st) st = pt_telemetry_probe_put(T->tel, key, r);
    pt_policy_free(&pol);
    if (!st) T->probes_run++;
    if (!st) note_step_time(T, rungs, r, steps);
    /* a crash at a fixed point, for the test of resuming after kill -9
     * (tests/cli_tune.sh): killed as kill -9 kills, once this many probes
     * are stored */
    const char *kill_at = getenv("PRECTUNE_TEST_KILL_AFTER_PROBES");
    if (!st && kill_at && T->probes_run >= atoi(kill_at)) raise(SIGKILL);
    /* stopped (SIGSTOP) once that many are stored, for the test of a
     * second tune on the database of a running one (tests/cli_io.sh) */
    const char *stop_at = getenv("PRECTUNE_TEST_STOP_AFTER_PROBES");
    if (!st && stop_at && T->probes_run == atoi(stop_at)) raise(SIGSTOP);
    return st;
}

pt_status pt_run_policy(pt_backend *be, const pt_model_spec *model, const pt_policy *pol,
                        const pt_data *data, struct pt_telemetry *tel, const char *kind,
                        const char *label, int64_t steps, uint64_t seed, bool stats,
                        pt_probe_result *r)
{
    pt_model_spec spec = *model; /* shallow: the layers are shared, read-only */
    spec.train.steps = steps;
    spec.train.seed = seed;
    spec.train.eval_every = 0;
    if (spec.train.warmup > steps / 4) spec.train.warmup = steps / 4;
    pt_trainer *t = NULL;
    memset(r, 0, sizeof *r);
    size_t live0, peak;
    pt_backend_memory(be, &live0, NULL, true);
    pt_status st = pt_trainer_create(be, &spec, pol, data, &t);
    char fp[24];
    pt_model_fingerprint(model, fp);
    char *pol_json = pt_policy_to_json(pol);
    pt_run_info info = {kind, spec.name, fp, NULL, pol_json, label, pt_backend_name(be), data->desc,
                        "prectune tune", (int64_t)seed, steps, &data->read};
    if (!st && tel) st = pt_telemetry_begin_run(tel, &info, &r->run_id);
    free(pol_json);
    if (!st && tel) st = pt_trainer_instrument(t, tel, r->run_id, stats ? 10 : 0, 0);
    double tail = 0, t0 = pt_now_s(), t_warm = t0;
    int64_t tail_n = 0, from = steps - (steps / 10 > 1 ? steps / 10 : 1);
    int64_t warm = steps / 10 < 10 ? steps / 10 : 10;
    for (int64_t i = 0; !st && i < steps; i++) {
        pt_step_record rec;
        if (i == warm) t_warm = pt_now_s();
        pt_status s2 = pt_trainer_step(t, &rec);
        if (!s2 && tel) s2 = pt_telemetry_step(tel, r->run_id, &rec);
        if (s2 == PT_ERR_STOPPED || (!s2 && !isfinite(rec.loss) && !rec.skipped)) {
            r->diverged = true;
            break;
        }
        st = s2;
        if (i >= from && isfinite(rec.loss)) tail += rec.loss, tail_n++;
    }
    r->seconds = pt_now_s() - t0;
    if (!st && !r->diverged) r->step_ms = (t0 + r->seconds - t_warm) / (double)(steps - warm) * 1e3;
    pt_eval_result ev = {0};
    if (!st && !r->diverged) st = pt_trainer_eval(t, &ev);
    if (!st) {
        r->final_loss = tail_n ? tail / (double)tail_n : INFINITY;
        r->accuracy = r->diverged ? 0 : ev.accuracy;
        if (data->tokens) /* a language model: the held-out loss, no accuracy (tuner.h) */
            r->final_loss = r->diverged ? INFINITY : ev.loss, r->accuracy = NAN;
        r->skipped_fraction = (double)pt_trainer_skipped(t) / (double)steps;
        st = pt_trainer_nonfinite_params(t, &r->nonfinite);
    }
    if (!st && tel) st = pt_trainer_flush_stats(t);
    if (!st && tel && !r->diverged) st = pt_telemetry_eval(tel, r->run_id, &ev);
    if (!st && tel) st = pt_telemetry_end_run(tel, r->run_id, r->diverged ? "stopped" : "finished");
    pt_backend_memory(be, NULL, &peak, false);
    r->memory_bytes = t ? (double)(peak - live0 - pt_trainer_data_bytes(t)) : 0;
    pt_trainer_destroy(t);
    return st;
}

/* A probe within the criteria. Probes are short runs: they always pass
 * within the baseline's own seed-to-seed noise at their length, so that
 * noise does not reject a candidate; the full-length validation widens
 * the criteria only as the options allow (pt_judge). */
static bool passes(const tuner *T, const pt_probe_result *r, double *loss_rel, double *acc_drop)
{
    pt_criteria c = T->o->crit;
    c.noise_floor = true;
    pt_verdict v;
    pt_judge(&c, &T->b1, r, &T->b2, &v);
    *loss_rel = v.loss_rel, *acc_drop = v.acc_drop;
    return v.passed;
}

/* The cost model's step time with every GEMM layer on one rung, with the
 * loss scaling fp16 gradients need. */
static double rung_cost(const tuner *T, const rung *r)
{
    pt_policy p;
    pt_policy_init_fp32(&p);
    p.def = r->f;
    if (r->f.dgrad == PT_FMT_FP16 || r->f.wgrad == PT_FMT_FP16) p.loss_scale = pt_scaler_config_default(PT_SCALE_DYNAMIC);
    pt_cost c;
    pt_cost_estimate(T->spec, &p, &T->o->device, &c);
    pt_policy_free(&p);
    return c.step_ms;
}

/* Rungs from the least to the most precise, each a promotion of the one
 * before: fp8, the two 16-bit formats, tf32, fp32. bf16 and fp16 run their
 * GEMMs alike, so their order is the cost model's (fp16's loss scaling
 * costs a pass that bf16 does not make): the cheaper one comes first. */
static void build_ladder(tuner *T)
{
    rung all[] = {
        {"fp8", {PT_FMT_E4M3, PT_FMT_E5M2, PT_FMT_E5M2}},
        {"bf16", {PT_FMT_BF16, PT_FMT_BF16, PT_FMT_BF16}},
        {"fp16", {PT_FMT_FP16, PT_FMT_FP16, PT_FMT_FP16}},
        {"tf32", {PT_FMT_TF32, PT_FMT_TF32, PT_FMT_TF32}},
    };
    if (rung_cost(T, &all[2]) < rung_cost(T, &all[1])) {
        rung t = all[1];
        all[1] = all[2], all[2] = t;
    }
    T->nladder = 0;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (T->o->allowed[all[i].f.fwd]) T->ladder[T->nladder++] = all[i];
    T->ladder[T->nladder++] = (rung){"fp32", {PT_FMT_FP32, PT_FMT_FP32, PT_FMT_FP32}};
}

/* Share of a tensor's non-zero finite values more than `span` binades
 * below its absmax: what a per-tensor scaling to amax cannot keep. */
static double below_span(const pt_stats *s, int span)
{
    double nz = 0, lost = 0;
    int top = (int)floor(log2(s->absmax > 0 ? s->absmax : 1));
    for (int b = PT_HIST_BELOW; b < PT_HIST_BINS; b++) {
        double c = (double)s->hist[b];
        nz += c;
        int e = b == PT_HIST_BELOW ? -1000 : b == PT_HIST_ABOVE ? 1000 : b - PT_HIST_FIRST + PT_HIST_MIN_EXP;
        if (e < top - span) lost += c;
    }
    return nz > 0 ? lost / nz : 0;
}

static bool loss_scale_for(tuner *T, const int *rungs, pt_scaler_config *ls);

/* What the recorded ranges of the fp32 baseline allow each layer. */
static pt_status range_analysis(tuner *T)
{
    for (int i = 0; i < T->ngemm; i++) {
        int li = T->gemm[i];
        const char *name = T->spec->layers[li].name;
        pt_stats x, w, dy;
        bool fx, fw, fd;
        pt_status st;
        if ((st = pt_telemetry_layer_summary(T->tel, T->base_run, li, PT_ROLE_X, &x, &fx)) ||
            (st = pt_telemetry_layer_summary(T->tel, T->base_run, li, PT_ROLE_W, &w, &fw)) ||
            (st = pt_telemetry_layer_summary(T->tel, T->base_run, li, PT_ROLE_DY, &dy, &fd)))
            return st;
        T->dy_absmax[i] = fd ? dy.absmax : 0;
        /* which rungs the ranges allow, and the first reason against each */
        bool feasible[8];
        for (int r = 0; r < T->nladder; r++) {
            pt_format f = T->ladder[r].f.fwd;
            char why[256] = "";
            if (f == PT_FMT_FP16) {
                if (fx && x.absmax >= 65504)
                    snprintf(why, sizeof why, "input activations reach %.4g, beyond fp16's 65504", (double)x.absmax);
                else if (fw && w.absmax >= 65504)
                    snprintf(why, sizeof why, "weights reach %.4g, beyond fp16's 65504", (double)w.absmax);
                else if (fd && dy.absmax >= 65504)
                    snprintf(why, sizeof why, "output gradients reach %.4g unscaled, beyond fp16's 65504", (double)dy.absmax);
            } else if (f == PT_FMT_E4M3) {
                /* e4m3 keeps 448 / 2^-9, about 2^17.8; e5m2 about 2^31.8 */
                double lx = fx ? below_span(&x, 17) : 0, lw = fw ? below_span(&w, 17) : 0,
                       ld = fd ? below_span(&dy, 31) : 0;
                if (lx > 0.05) snprintf(why, sizeof why, "%.0f%% of its input activations lie beyond e4m3's range below their amax", 100 * lx);
                else if (lw > 0.05) snprintf(why, sizeof why, "%.0f%% of its weights lie beyond e4m3's range below their amax", 100 * lw);
                else if (ld > 0.05) snprintf(why, sizeof why, "%.0f%% of its output gradients lie beyond e5m2's range below their amax", 100 * ld);
            }
            feasible[r] = !why[0];
            if (why[0] && !T->reason[i][0])
                snprintf(T->reason[i], sizeof T->reason[i], "range: %s (%s ruled out)", why, T->ladder[r].name);
        }
        /* the cheapest feasible rung by the cost model (for small GEMMs the
         * casts can cost more than a faster format saves) */
        int r = T->nladder - 1;
        double best = INFINITY;
        for (int k = 0; k < T->nladder; k++) {
            if (!feasible[k]) continue;
            int rungs[256];
            for (int q = 0; q < T->ngemm; q++) rungs[q] = T->nladder - 1;
            rungs[i] = k;
            pt_policy pol;
            pt_scaler_config ls; /* fp16 costs its loss scaling too */
            make_policy(T, rungs, loss_scale_for(T, rungs, &ls) ? &ls : NULL, &pol);
            pt_cost cost;
            pt_cost_estimate(T->spec, &pol, &T->o->device, &cost);
            pt_policy_free(&pol);
            if (cost.step_ms < best * (1 - 1e-9)) best = cost.step_ms, r = k;
        }
        int first = 0;
        while (first < T->nladder && !feasible[first]) first++;
        if (r != first) { /* the operative reason, after any range reasons that ruled out cheaper rungs */
            size_t k = strlen(T->reason[i]);
            snprintf(T->reason[i] + k, sizeof T->reason[i] - k,
                     "%scost model: %s is faster than %s for this layer's shape on %s (the casts cost more than the GEMM "
                     "saves)", k ? "; " : "", T->ladder[r].name, T->ladder[first].name, T->o->device.name);
        }
        T->min_rung[i] = r;
        say(T, "range analysis: %s can start at %s%s%s", name, T->ladder[r].name, T->reason[i][0] ? "; " : "",
            T->reason[i]);
    }
    return PT_OK;
}

/* Loss scaling when a layer's gradients are fp16: the largest power of two
 * that keeps the recorded gradient absmax 4x below fp16's max. */
static bool loss_scale_for(tuner *T, const int *rungs, pt_scaler_config *ls)
{
    double dmax = 0;
    bool fp16 = false;
    for (int i = 0; i < T->ngemm; i++) {
        pt_layer_formats f = T->ladder[rungs[i]].f;
        if (f.dgrad == PT_FMT_FP16 || f.wgrad == PT_FMT_FP16) {
            fp16 = true;
            dmax = fmax(dmax, T->dy_absmax[i]);
        }
    }
    *ls = pt_scaler_config_default(fp16 ? PT_SCALE_DYNAMIC : PT_SCALE_NONE);
    if (!fp16) return false;
    double s = dmax > 0 ? exp2(floor(log2(65504.0 / (4 * dmax)))) : 65536.0;
    ls->init = fmin(fmax(s, 1.0), ls->max_scale);
    return true;
}

pt_status pt_tune(pt_backend *be, const pt_model_spec *spec, const pt_data *data,
                  struct pt_telemetry *tel, const pt_tune_options *o, pt_policy *out,
                  pt_tune_summary *sum)
{
    int ngemm = 0;
    for (int i = 0; i < spec->nlayers; i++) ngemm += pt_layer_has_gemm(spec->layers[i].type);
    if (ngemm > 256)
        return pt_fail(PT_ERR_UNSUPPORTED, "model '%s' has %d linear/conv2d layers; the tuner handles up to 256",
                       spec->name, ngemm);
    tuner *T = calloc(1, sizeof *T);
    if (!T) return pt_fail(PT_ERR_NOMEM, "out of memory");
    T->be = be, T->spec = spec, T->data = data, T->tel = tel, T->o = o, T->t0 = pt_now_s();
    for (int i = 0; i < spec->nlayers && T->ngemm < 256; i++)
        if (pt_layer_has_gemm(spec->layers[i].type)) T->gemm[T->ngemm++] = i;
    build_ladder(T);
    uint64_t seed = spec->train.seed;
    int64_t ps = o->probe_steps < spec->train.steps ? o->probe_steps : spec->train.steps;
    int64_t vs = o->validate_steps > 0 ? o->validate_steps : spec->train.steps; /* the validation's length */
    int fp32_rungs[256];
    for (int i = 0; i < T->ngemm; i++) fp32_rungs[i] = T->nladder - 1;
    pt_status st;
    pt_probe_result *b1 = &T->b1, *b2 = &T->b2;
    T->phase = 1, T->probe_steps = ps, T->full_steps = vs;
    /* 1. the fp32 baseline, two seeds: the reference and its noise */
    say(T, "phase 1/6: fp32 baseline, seeds %llu and %llu, %lld steps", (unsigned long long)seed,
        (unsigned long long)seed + 1, (long long)ps);
    if ((st = probe(T, fp32_rungs, NULL, seed, ps, true, "baseline", b1)) ||
        (st = probe(T, fp32_rungs, NULL, seed + 1, ps, false, "baseline", b2)))
        goto out;
    if (b1->diverged) {
        st = pt_fail(PT_ERR_STOPPED, "fp32 itself diverged within the %lld steps of the baseline: there is no baseline to "
                     "hold a policy to. Look at the fp32 training first (prectune train, then prectune diagnose on its "
                     "run)", (long long)ps);
        goto out;
    }
    T->base_run = b1->run_id;
    double noise_loss = fabs(b1->final_loss - b2->final_loss) / fabs(b1->final_loss),
           noise_acc = isnan(b1->accuracy) ? 0 : fabs(b1->accuracy - b2->accuracy);
    if (isnan(b1->accuracy))
        say(T, "baseline: %s %.4f; seed-to-seed noise %.2f%% loss", data->tokens ? "held-out loss" : "loss",
            b1->final_loss, 100 * noise_loss);
    else
        say(T, "baseline: loss %.4f, accuracy %.2f%%; seed-to-seed noise %.2f%% loss, %.2f points", b1->final_loss,
            100 * b1->accuracy, 100 * noise_loss, 100 * noise_acc);
    /* 2. ranges */
    T->phase = 2;
    say(T, "phase 2/6: range analysis from the recorded histograms");
    if ((st = range_analysis(T))) goto out;
    /* 3. sensitivity: each layer alone at its cheapest rung */
    T->phase = 3;
    for (int i = 0; i < T->ngemm; i++) T->sens_left += T->min_rung[i] != T->nladder - 1;
    say(T, "phase 3/6: sensitivity, one probe per layer");
    for (int i = 0; i < T->ngemm; i++) {
        if (T->min_rung[i] == T->nladder - 1) continue;
        int rungs[256];
        memcpy(rungs, fp32_rungs, sizeof rungs);
        rungs[i] = T->min_rung[i];
        pt_scaler_config ls;
        bool scaled = loss_scale_for(T, rungs, &ls);
        pt_probe_result r;
        if ((st = probe(T, rungs, scaled ? &ls : NULL, seed, ps, false, "probe", &r))) goto out;
        T->sensitivity[i] = r.diverged ? INFINITY : (r.final_loss - b1->final_loss) / fabs(b1->final_loss);
        T->sens_left--;
        say(T, "sensitivity: %s alone in %s: loss %+.2f%%", spec->layers[T->gemm[i]].name,
            T->ladder[rungs[i]].name, 100 * T->sensitivity[i]);
    }
    /* 4. search from the cheapest feasible assignment */
    T->phase = 4;
    say(T, "phase 4/6: search from the cheapest feasible assignment");
    memcpy(T->rung_of, T->min_rung, sizeof T->rung_of);
    for (int round = 0; round < 16; round++) {
        pt_scaler_config ls;
        bool scaled = loss_scale_for(T, T->rung_of, &ls);
        pt_probe_result r;
        double lr, ad;
        if ((st = probe(T, T->rung_of, scaled ? &ls : NULL, seed, ps, false, "probe", &r))) goto out;
        if (passes(T, &r, &lr, &ad)) {
            size_t k = 0;
            for (int i = 0; i < T->ngemm && k < sizeof T->best; i++)
                k += (size_t)snprintf(T->best + k, sizeof T->best - k, "%s%s=%s", i ? " " : "",
                                      spec->layers[T->gemm[i]].name, T->ladder[T->rung_of[i]].name);
            char ab[64];
            say(T, "candidate passes: loss %+.2f%%%s", 100 * lr, acc_change(T, ad, ab, sizeof ab));
            break;
        }
        char ab[64];
        say(T, "candidate fails: loss %+.2f%%%s, %.1f%% skipped%s", 100 * lr, acc_change(T, ad, ab, sizeof ab),
            100 * r.skipped_fraction, r.diverged ? ", diverged" : "");
        /* the layers that can still move up, most sensitive first */
        int order[256], n = 0;
        for (int i = 0; i < T->ngemm; i++)
            if (T->rung_of[i] < T->nladder - 1) order[n++] = i;
        for (int a = 1; a < n; a++)
            for (int b = a; b > 0 && T->sensitivity[order[b]] > T->sensitivity[order[b - 1]]; b--) {
                int t = order[b];
                order[b] = order[b - 1];
                order[b - 1] = t;
            }
        if (n == 0) break;
        /* bisection: the fewest most-sensitive layers whose promotion passes */
        int lo = 1, hi = n, trial[256];
        bool all_pass = false;
        for (int pass_k = n;;) {
            memcpy(trial, T->rung_of, sizeof trial);
            for (int k = 0; k < pass_k; k++) trial[order[k]]++;
            scaled = loss_scale_for(T, trial, &ls);
            if ((st = probe(T, trial, scaled ? &ls : NULL, seed, ps, false, "probe", &r))) goto out;
            bool ok = passes(T, &r, &lr, &ad);
            if (pass_k == n) {
                all_pass = ok;
                if (!ok) break;
            } else if (ok) {
                hi = pass_k;
            } else {
                lo = pass_k + 1;
            }
            if (lo >= hi) break;
            pass_k = (lo + hi) / 2;
        }
        int k = all_pass ? lo : n;
        for (int j = 0; j < k; j++) {
            int i = order[j];
            snprintf(T->reason[i], sizeof T->reason[i],
                     "search: promoted from %s (sensitivity: loss %+.2f%% alone); with the %d most "
                     "sensitive layers in %s the candidate missed the criteria",
                     T->ladder[T->rung_of[i]].name, 100 * T->sensitivity[i], k, T->ladder[T->rung_of[i]].name);
            T->rung_of[i]++;
        }
        say(T, "bisection: promoted the %d most sensitive layer%s one rung", k, k > 1 ? "s" : "");
    }
    /* 5. loss scale for the final assignment */
    pt_scaler_config ls;
    bool scaled = loss_scale_for(T, T->rung_of, &ls);
    T->phase = 5;
    say(T, "phase 5/6: loss scale: %s", scaled ? "dynamic, from the recorded gradient ranges" : "none needed");
    /* 6. validation at full length against fp32 */
    T->phase = 6;
    say(T, "phase 6/6: validation, %lld steps, against fp32", (long long)vs);
    pt_probe_result vb, vp, vn;
    pt_verdict v = {0};
    bool noise = false;
    if ((st = probe(T, fp32_rungs, NULL, seed, vs, false, "baseline", &vb))) goto out;
    T->val_base_done = true;
    if (vb.diverged) {
        st = pt_fail(PT_ERR_STOPPED, "fp32 itself diverged over the %lld steps of the validation: there is no baseline "
                     "to hold a policy to. Look at the fp32 training first (prectune train, then prectune diagnose on "
                     "its run)", (long long)vs);
        goto out;
    }
    for (int attempt = 0; attempt < 4; attempt++) {
        scaled = loss_scale_for(T, T->rung_of, &ls);
        if ((st = probe(T, T->rung_of, scaled ? &ls : NULL, seed, vs, false, "validate", &vp)))
            goto out;
        pt_judge(&o->crit, &vb, &vp, noise ? &vn : NULL, &v);
        if (pt_verdict_wants_noise(&o->crit, &v)) {
            char ab[64];
            say(T, "validation: loss %+.2f%%%s against fp32; measuring fp32's own seed-to-seed spread at %lld steps "
                "(seed %llu)", 100 * v.loss_rel, acc_change(T, v.acc_drop, ab, sizeof ab), (long long)vs,
                (unsigned long long)seed + 1);
            if ((st = probe(T, fp32_rungs, NULL, seed + 1, vs, false, "baseline", &vn))) goto out;
            noise = true;
            pt_judge(&o->crit, &vb, &vp, &vn, &v);
        }
        if (v.passed || attempt == 3) T->phase = 7; /* nothing more to run */
        char acc[128] = "";
        if (!isnan(vb.accuracy))
            snprintf(acc, sizeof acc, ", accuracy %.2f%% vs %.2f%% (tolerance %.2f points)", 100 * vp.accuracy,
                     100 * vb.accuracy, 100 * v.tol_acc);
        say(T, "validation: %s %.4f vs %.4f (%+.2f%%, tolerance %.2f%%)%s, %.2f%% skipped: %s%s",
            data->tokens ? "held-out loss" : "loss", vp.final_loss,
            vb.final_loss, 100 * v.loss_rel, 100 * v.tol_loss, acc, 100 * vp.skipped_fraction,
            v.passed ? "passed" : "failed", v.within_noise ? " (within fp32's seed-to-seed spread)" : "");
        if (v.passed || attempt == 3) break; /* the policy written is the one validated */
        int best = -1; /* promote the most sensitive layer that can move */
        for (int i = 0; i < T->ngemm; i++)
            if (T->rung_of[i] < T->nladder - 1 && (best < 0 || T->sensitivity[i] > T->sensitivity[best])) best = i;
        if (best < 0) break;
        snprintf(T->reason[best], sizeof T->reason[best],
                 "validation: promoted from %s after the full-length run missed the criteria (loss %+.2f%%)",
                 T->ladder[T->rung_of[best]].name, 100 * v.loss_rel);
        T->rung_of[best]++;
    }
    /* the policy: the most common rung as the default, the others listed */
    int count[8] = {0}, def = 0;
    for (int i = 0; i < T->ngemm; i++) count[T->rung_of[i]]++;
    for (int r = 0; r < T->nladder; r++)
        if (count[r] > count[def]) def = r;
    make_policy(T, T->rung_of, scaled ? &ls : NULL, out);
    out->def = T->ladder[def].f;
    int kept = 0;
    /* listed: the layers off the default, and every layer the tuner kept
     * above its cheapest format (with the reason, also when that is the
     * default) */
    for (int i = 0; i < T->ngemm; i++) {
        bool above = T->rung_of[i] > 0 && T->reason[i][0];
        if (T->rung_of[i] == def && !above) continue;
        out->layers[kept] = out->layers[i];
        snprintf(out->layers[kept].reason, sizeof out->layers[kept].reason, "%s", above ? T->reason[i] : "");
        kept++;
    }
    out->nlayers = kept;
    snprintf(out->source, sizeof out->source, "tuned");
    snprintf(out->model, sizeof out->model, "%s", spec->name);
    pt_model_fingerprint(spec, out->fingerprint);
    snprintf(out->device, sizeof out->device, "%s", o->device.name);
    pt_policy_evidence *e = &out->validation;
    e->present = true;
    snprintf(e->device, sizeof e->device, "%s", pt_backend_name(be));
    e->steps = vs;
    e->seeds[0] = (int64_t)seed, e->seeds[1] = (int64_t)seed + 1, e->nseeds = 2;
    e->base_loss = vb.final_loss, e->base_accuracy = isnan(vb.accuracy) ? 0 : vb.accuracy;
    e->loss = vp.final_loss, e->accuracy = isnan(vp.accuracy) ? 0 : vp.accuracy;
    e->skipped_fraction = vp.skipped_fraction, e->nonfinite = vp.nonfinite;
    e->crit_loss_rel = o->crit.loss_rel, e->crit_accuracy_drop = o->crit.accuracy_drop;
    e->crit_skipped = o->crit.skipped;
    e->crit_noise_floor = o->crit.noise_floor;
    e->heldout_loss = data->tokens;
    if (noise) {
        e->noise_present = true;
        e->noise_loss = vn.final_loss, e->noise_accuracy = isnan(vn.accuracy) ? 0 : vn.accuracy;
        e->noise_diverged = vn.diverged;
    }
    e->within_noise = v.within_noise;
    e->passed = v.passed;
    pt_policy fp32;
    pt_policy_init_fp32(&fp32);
    pt_cost_estimate(spec, &fp32, &o->device, &sum->fp32_cost);
    pt_cost_estimate(spec, out, &o->device, &sum->policy_cost);
    out->est_speedup = sum->fp32_cost.step_ms / sum->policy_cost.step_ms;
    out->est_memory_saving = 1 - sum->policy_cost.activation_bytes / sum->fp32_cost.activation_bytes;
    out->parameters = pt_model_parameters(spec);
    st = PT_OK;
out:
    sum->probes_run = T->probes_run;
    sum->probes_reused = T->probes_reused;
    sum->seconds = pt_now_s() - T->t0;
    free(T);
    return st;
}
