/* Incident detection (see incident.h). The running median keeps a sorted
 * copy of the last `window` losses, updated in O(window) per step. */
#include "prectune/incident.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

pt_incident_config pt_incident_config_default(void)
{
    /* underflow: 2% of the non-zero gradients flushed to zero already loses
     * real signal (fp16 without loss scaling reaches 5% on the MLP of
     * examples/incidents) */
    return (pt_incident_config){3.0, 64, 10, 2.0, 0.02};
}

void pt_incident_init(pt_incident_detector *d, const pt_incident_config *cfg)
{
    memset(d, 0, sizeof *d);
    d->cfg = *cfg;
    if (d->cfg.window < 8 || d->cfg.window > 256) d->cfg.window = 64;
    d->best_mean = INFINITY;
    d->first_underflow = -1;
}

static void window_push(pt_incident_detector *d, double x)
{
    int w = d->cfg.window;
    if (d->n == w) { /* remove the oldest from the sorted copy */
        double old = d->win[d->pos];
        int k = 0;
        while (k < d->n - 1 && d->sorted[k] != old) k++;
        memmove(d->sorted + k, d->sorted + k + 1, sizeof(double) * (size_t)(d->n - 1 - k));
        d->n--;
    }
    d->win[d->pos] = x;
    d->pos = (d->pos + 1) % w;
    int k = d->n;
    while (k > 0 && d->sorted[k - 1] > x) k--;
    memmove(d->sorted + k + 1, d->sorted + k, sizeof(double) * (size_t)(d->n - k));
    d->sorted[k] = x;
    d->n++;
}

bool pt_incident_step(pt_incident_detector *d, const pt_step_record *r, pt_incident *out)
{
    if (r->skipped) {
        if (++d->skips == d->cfg.skip_storm) {
            out->kind = "skip_storm";
            snprintf(out->message, sizeof out->message,
                     "%lld consecutive steps skipped for non-finite gradients (loss scale now %g)",
                     (long long)d->skips, r->scale);
            return true;
        }
        return false;
    }
    d->skips = 0;
    if (!isfinite(r->loss)) {
        out->kind = "nonfinite_loss";
        snprintf(out->message, sizeof out->message, "the training loss is %g", r->loss);
        return true;
    }
    bool hit = false;
    if (d->n == d->cfg.window) {
        double med = 0.5 * (d->sorted[d->n / 2 - 1] + d->sorted[d->n / 2]);
        double mean = 0;
        for (int i = 0; i < d->n; i++) mean += d->win[i];
        mean /= d->n;
        if (r->loss > d->cfg.spike_factor * med && r->loss > med + 0.5) {
            out->kind = "loss_spike";
            snprintf(out->message, sizeof out->message, "loss %.4g is %.1fx its running median %.4g", r->loss,
                     r->loss / med, med);
            hit = true;
        } else if (mean > d->cfg.divergence * d->best_mean && mean > d->best_mean + 0.1) {
            out->kind = "divergence";
            snprintf(out->message, sizeof out->message,
                     "the mean loss of the last %d steps, %.4g, is %.1fx its best %.4g", d->n, mean,
                     mean / d->best_mean, d->best_mean);
            d->best_mean = mean; /* report a divergence once per doubling */
            hit = true;
        }
        if (mean < d->best_mean) d->best_mean = mean;
    }
    window_push(d, r->loss);
    return hit;
}

bool pt_incident_underflow(pt_incident_detector *d, int64_t step, uint64_t underflowed, uint64_t count,
                           pt_incident *out)
{
    if (!count) return false;
    double share = (double)underflowed / (double)count;
    if (d->first_underflow < 0) d->first_underflow = share;
    if (share > d->cfg.underflow && share > 1.5 * d->first_underflow + 0.01) {
        out->kind = "gradient_underflow";
        snprintf(out->message, sizeof out->message,
                 "%.0f%% of the output gradients flush to zero in their GEMM format at step %lld (%.0f%% at the "
                 "first statistics step)", 100 * share, (long long)step, 100 * d->first_underflow);
        d->first_underflow = share; /* report again only if it grows further */
        return true;
    }
    return false;
}
