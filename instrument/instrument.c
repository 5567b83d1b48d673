/* What the trainer records besides its own step: per-layer statistics of
 * the four tensor roles, and drift against an fp32 shadow. Statistics are
 * launched through the backend (one launch for every tensor of the step)
 * and collected one launch later, so a device backend never waits for
 * them inside a step. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prectune/telemetry.h"
#include "trainer_state.h"

typedef struct stat_meta {
    int layer;
    pt_role role;
    pt_format format;
} stat_meta;

static int max_requests(const pt_net *n) { return 4 * n->nlayers; }

pt_status pt_trainer_instrument(pt_trainer *t, struct pt_telemetry *tel, int64_t run,
                                int64_t stats_every, int64_t drift_every)
{
    pt_instrument_free(t);
    t->tel = tel;
    t->last_saturation = -1;
    t->fp8_emulated0 = pt_backend_fp8_emulated(t->be);
    t->run = run;
    t->stats_every = stats_every;
    t->drift_every = drift_every;
    pt_incident_config ic = pt_incident_config_default();
    pt_incident_init(&t->detector, &ic);
    if (!tel) return PT_OK;
    pt_status st = pt_stats_batch_create(t->be, max_requests(t->net), &t->stats);
    if (st) return st;
    t->meta = calloc((size_t)max_requests(t->net), sizeof *t->meta);
    if (!t->meta) return pt_fail(PT_ERR_NOMEM, "out of memory");
    if (drift_every) {
        pt_policy_init_fp32(&t->shadow_policy);
        snprintf(t->shadow_policy.source, sizeof t->shadow_policy.source, "fp32 shadow");
        if ((st = pt_net_create(t->be, t->spec, &t->shadow_policy, t->spec->train.batch, &t->shadow)))
            return st;
        size_t most = 0;
        for (int i = 0; i < t->net->nlayers; i++)
            if ((size_t)t->net->L[i].spec->size > most) most = (size_t)t->net->L[i].spec->size;
        most *= (size_t)t->spec->train.batch;
        t->drift_a = malloc(most * sizeof(float));
        t->drift_b = malloc(most * sizeof(float));
        if (!t->drift_a || !t->drift_b) return pt_fail(PT_ERR_NOMEM, "out of memory");
    }
    return PT_OK;
}

void pt_instrument_free(pt_trainer *t)
{
    if (t->stats) pt_stats_batch_destroy(t->stats);
    pt_net_destroy(t->shadow);
    free(t->meta);
    free(t->drift_a);
    free(t->drift_b);
    t->stats = NULL, t->shadow = NULL, t->meta = NULL, t->drift_a = t->drift_b = NULL;
    t->pending = 0;
}

pt_status pt_trainer_flush_stats(pt_trainer *t)
{
    if (!t->tel || !t->pending) return PT_OK;
    const pt_stats *res;
    int n;
    pt_status st = pt_stats_batch_wait(t->stats, &res, &n);
    uint64_t under = 0, count = 0;
    int first_bad = -1; /* the first non-finite tensor in execution order */
    for (int i = 0; !st && i < n; i++) {
        const stat_meta *m = &t->meta[i];
        st = pt_telemetry_layer_stats(t->tel, t->run, t->pending_step, m->layer,
                                      t->net->L[m->layer].spec->name, m->role,
                                      pt_format_info(m->format)->name, &res[i]);
        /* output gradients that flush to zero in the format their GEMM reads them in */
        int k = m->format == PT_FMT_FP16 ? PT_SFMT_FP16 : m->format == PT_FMT_E5M2 ? PT_SFMT_E5M2
              : m->format == PT_FMT_E4M3 ? PT_SFMT_E4M3 : m->format == PT_FMT_BF16 ? PT_SFMT_BF16 : -1;
        if (m->role == PT_ROLE_DY && k >= 0) under += res[i].underflow[k], count += res[i].count - res[i].zero;
        if (first_bad < 0 && res[i].nan + res[i].pos_inf + res[i].neg_inf > 0 && (m->role == PT_ROLE_X || m->role == PT_ROLE_W))
            first_bad = i; /* forward tensors: the requests are in layer order, x and w first */
    }
    t->pending = 0;
    pt_incident inc;
    if (!st && first_bad >= 0 && !t->reported_nonfinite) {
        const stat_meta *m = &t->meta[first_bad];
        inc.kind = "nonfinite_tensor";
        snprintf(inc.message, sizeof inc.message, "%llu NaN and %llu inf in %s/%s",
                 (unsigned long long)res[first_bad].nan,
                 (unsigned long long)(res[first_bad].pos_inf + res[first_bad].neg_inf),
                 t->net->L[m->layer].spec->name, pt_role_name(m->role));
        t->reported_nonfinite = true; /* once: the skip-storm detector follows it from there */
        st = pt_instrument_incident(t, t->pending_step, &inc);
    }
    if (!st && pt_incident_underflow(&t->detector, t->pending_step, under, count, &inc))
        st = pt_instrument_incident(t, t->pending_step, &inc);
    return st;
}

static float role_scale(const pt_net_layer *l, int opnd, pt_format f)
{
    return pt_format_is_fp8(f) ? l->fp8[opnd].scale : 1.0f;
}

pt_status pt_instrument_step(pt_trainer *t, int64_t step, bool nonfinite, const char *saturated)
{
    pt_status st;
    /* once per run: fp8 GEMMs that ran decoded to fp32 on a device (the
     * count only grows, so the first step that adds to it is the one) */
    int64_t emulated = t->fp8_emulated0 >= 0 ? pt_backend_fp8_emulated(t->be) - t->fp8_emulated0 : 0;
    if (emulated > 0) {
        char msg[320];
        snprintf(msg, sizeof msg, "%lld fp8 GEMMs of step %lld could not run in %s's fp8 kernels (a dimension "
                 "not a multiple of 16) and ran decoded to fp32: the same values, at fp32 speed",
                 (long long)emulated, (long long)step, pt_backend_name(t->be));
        if ((st = pt_telemetry_event(t->tel, t->run, step, "warning", "fp8_gemm_emulated", msg))) return st;
        t->fp8_emulated0 = -1;
    }
    bool due = pt_instrument_stats_due(t, step);
    if (!due && !nonfinite && !saturated) return PT_OK;
    if ((st = pt_trainer_flush_stats(t))) return st;
    /* one event per 100 steps at most: a recipe that clamps every step
     * says so without filling the database */
    if (saturated && (t->last_saturation < 0 || step - t->last_saturation >= 100)) {
        char msg[320];
        snprintf(msg, sizeof msg, "fp8 values clamped: %s", saturated);
        if ((st = pt_telemetry_event(t->tel, t->run, step, "warning", "fp8_saturation", msg))) return st;
        t->last_saturation = step;
    }
    if (nonfinite) {
        char msg[128];
        snprintf(msg, sizeof msg, "non-finite gradient at loss scale %g: optimizer step skipped",
                 pt_scaler_scale(&t->scaler));
        if ((st = pt_telemetry_event(t->tel, t->run, step, "warning", "nonfinite_gradient", msg)))
            return st;
    }
    pt_net *n = t->net;
    int rows = t->spec->train.batch;
    if ((st = pt_net_materialize(n))) return st;
    pt_stats_req req[4 * 64];
    pt_stats_req *reqs = n->nlayers <= 64 ? req : malloc(sizeof *reqs * (size_t)max_requests(n));
    if (!reqs) return pt_fail(PT_ERR_NOMEM, "out of memory");
    int k = 0;
    for (int i = 0; i < n->nlayers; i++) {
        pt_net_layer *l = &n->L[i];
        size_t in = (size_t)rows * (size_t)l->in_size, out = (size_t)rows * (size_t)l->spec->size;
        pt_format fx = l->fmt.fwd, fg = l->fmt.dgrad;
        /* the w operand and its gradient: the weight, or for attention's
         * GEMMs the k (qk) or v (pv) they multiply, head-major as they
         * read it, and its gradient (what their wgrad GEMM writes) */
        const float *w = l->w, *gw = l->gw;
        size_t nw = l->nw;
        pt_layer_type ty = l->spec->type;
        if (ty == PT_LAYER_ATTN_QK || ty == PT_LAYER_ATTN_PV) {
            nw = ty == PT_LAYER_ATTN_QK ? in / 3 : out;
            size_t off = ty == PT_LAYER_ATTN_QK ? nw : 2 * nw;
            w = l->heads + off, gw = l->dheads + off;
        }
        reqs[k] = (pt_stats_req){pt_layer_input(n, l, 0), in, PT_FMT_FP32, role_scale(l, PT_OPND_X, fx)};
        t->meta[k++] = (stat_meta){i, PT_ROLE_X, fx};
        if (nw) {
            reqs[k] = (pt_stats_req){w, nw, PT_FMT_FP32, role_scale(l, PT_OPND_W, fx)};
            t->meta[k++] = (stat_meta){i, PT_ROLE_W, fx};
        }
        reqs[k] = (pt_stats_req){l->dy, out, PT_FMT_FP32, role_scale(l, PT_OPND_DY, fg)};
        t->meta[k++] = (stat_meta){i, PT_ROLE_DY, fg};
        if (nw) {
            reqs[k] = (pt_stats_req){gw, nw, PT_FMT_FP32, 1.0f};
            t->meta[k++] = (stat_meta){i, PT_ROLE_DW, l->fmt.wgrad};
        }
    }
    st = pt_backend_stats(t->be, t->stats, reqs, k);
    if (reqs != req) free(reqs);
    if (st) return st;
    t->pending = k;
    t->pending_step = step;
    return PT_OK;
}

pt_status pt_instrument_drift(pt_trainer *t, int64_t step)
{
    pt_net *n = t->net, *s = t->shadow;
    int rows = t->spec->train.batch;
    int64_t in_size = 1;
    for (int d = 0; d < t->spec->ninput; d++) in_size *= t->spec->input[d];
    pt_status st;
    if ((st = pt_backend_copy(t->be, s->params, n->params, n->nparams * sizeof(float))) ||
        (st = pt_backend_copy(t->be, s->input, n->input, (size_t)rows * in_size * sizeof(float))) ||
        (st = pt_backend_copy(t->be, s->labels, n->labels, (size_t)rows * (size_t)t->labels_per * sizeof(int32_t))) ||
        (st = pt_backend_copy(t->be, s->targets, n->targets, (size_t)rows * sizeof(float))))
        return st;
    n->train = s->train = false;
    if ((st = pt_net_forward(n, rows, 0.0f)) || (st = pt_net_forward(s, rows, 0.0f)) ||
        (st = pt_net_materialize(n)) || (st = pt_net_materialize(s)))
        return st;
    for (int i = 0; i < n->nlayers; i++) {
        size_t cnt = (size_t)rows * (size_t)n->L[i].spec->size;
        if ((st = pt_backend_download(t->be, t->drift_a, n->L[i].y, cnt * sizeof(float))) ||
            (st = pt_backend_download(t->be, t->drift_b, s->L[i].y, cnt * sizeof(float))))
            return st;
        double sig = 0, noise = 0, ref_max = 0, err_max = 0;
        for (size_t j = 0; j < cnt; j++) {
            double r = t->drift_b[j], e = (double)t->drift_a[j] - r;
            sig += r * r;
            noise += e * e;
            if (fabs(r) > ref_max) ref_max = fabs(r);
            if (fabs(e) > err_max || isnan(e)) err_max = isnan(e) ? INFINITY : fabs(e);
        }
        /* SQNR of the layer's output against its fp32 shadow; identical
         * outputs have no noise and are recorded as +inf dB */
        double sqnr = noise > 0 ? 10.0 * log10(sig / noise) : INFINITY;
        double rel = ref_max > 0 ? err_max / ref_max : (err_max > 0 ? INFINITY : 0.0);
        if ((st = pt_telemetry_drift(t->tel, t->run, step, i, n->L[i].spec->name, sqnr, rel)))
            return st;
    }
    n->train = true;
    return PT_OK;
}

pt_status pt_instrument_incident(pt_trainer *t, int64_t step, const pt_incident *inc)
{
    t->incidents++;
    snprintf(t->last_incident, sizeof t->last_incident, "%s at step %lld: %s", inc->kind, (long long)step, inc->message);
    return t->tel ? pt_telemetry_event(t->tel, t->run, step, "incident", inc->kind, inc->message) : PT_OK;
}

int64_t pt_trainer_incidents(const pt_trainer *t, const char **last)
{
    if (last) *last = t->last_incident;
    return t->incidents;
}
