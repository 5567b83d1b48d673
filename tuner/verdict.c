/* The validation verdict (see tuner.h): a policy run against the fp32
 * run of the same seed, with the criteria widened to fp32's own
 * seed-to-seed spread when that was measured. Shared by `tune` (its last
 * phase) and `validate`, so both judge a policy the same way. */
#include <math.h>

#include "prectune/telemetry.h"
#include "prectune/tuner.h"

pt_criteria pt_criteria_default(void)
{
    return (pt_criteria){0.005, 0.005, 0.01, true};
}

void pt_judge(const pt_criteria *c, const pt_probe_result *base, const pt_probe_result *policy,
              const pt_probe_result *noise, pt_verdict *v)
{
    *v = (pt_verdict){0};
    v->loss_rel = (policy->final_loss - base->final_loss) / fabs(base->final_loss);
    v->acc_drop = isnan(base->accuracy) ? 0 : base->accuracy - policy->accuracy;
    v->tol_loss = c->loss_rel, v->tol_acc = c->accuracy_drop;
    if (noise) {
        v->noise_measured = true;
        /* an fp32 run that diverged with the other seed sets no floor */
        bool usable = !noise->diverged && isfinite(noise->final_loss);
        v->noise_loss_rel = usable ? fabs(noise->final_loss - base->final_loss) / fabs(base->final_loss) : NAN;
        v->noise_acc = !usable ? NAN : isnan(base->accuracy) ? 0 : fabs(noise->accuracy - base->accuracy);
        if (usable && c->noise_floor) {
            v->tol_loss = fmax(v->tol_loss, v->noise_loss_rel);
            v->tol_acc = fmax(v->tol_acc, v->noise_acc);
        }
    }
    v->ok_finite = !policy->diverged && policy->nonfinite == 0;
    v->ok_skip = policy->skipped_fraction <= c->skipped;
    v->ok_loss = v->ok_finite && v->loss_rel <= v->tol_loss;
    v->ok_acc = v->ok_finite && v->acc_drop <= v->tol_acc;
    v->passed = v->ok_finite && v->ok_skip && v->ok_loss && v->ok_acc;
    v->within_noise = v->passed && (v->loss_rel > c->loss_rel || v->acc_drop > c->accuracy_drop);
}

bool pt_noise_dominates(const pt_criteria *c, double noise_loss_rel, double noise_acc)
{
    return (c->loss_rel > 0 && noise_loss_rel >= 10 * c->loss_rel) ||
           (c->accuracy_drop > 0 && noise_acc >= 10 * c->accuracy_drop);
}

bool pt_verdict_wants_noise(const pt_criteria *c, const pt_verdict *v)
{
    return c->noise_floor && !v->noise_measured && v->ok_finite && v->ok_skip && (!v->ok_loss || !v->ok_acc);
}
