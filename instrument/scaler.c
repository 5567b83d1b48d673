/* Loss scaling (see scaler.h). The update order follows
 * torch.amp.GradScaler.update / _amp_update_scale_ exactly; hysteresis
 * follows DeepSpeed's DynamicLossScaler (consecutive_hysteresis = False:
 * the allowance is restored when the scale grows). */
#include "prectune/scaler.h"

#include <math.h>

pt_scaler_config pt_scaler_config_default(pt_scale_mode mode)
{
    pt_scaler_config c = {
        .mode = mode,
        .init = mode == PT_SCALE_NONE ? 1.0 : 65536.0,
        .growth_factor = 2.0,
        .backoff_factor = 0.5,
        .growth_interval = 2000,
        .hysteresis = 1,
        .min_scale = 1.0,
        .max_scale = 16777216.0,
        .max_stuck = 50,
    };
    return c;
}

void pt_scaler_init(pt_scaler *s, const pt_scaler_config *cfg)
{
    s->cfg = *cfg;
    s->scale = cfg->mode == PT_SCALE_NONE ? 1.0 : cfg->init;
    s->growth_tracker = 0;
    s->hysteresis_left = cfg->hysteresis > 0 ? cfg->hysteresis : 1;
    s->stuck = 0;
}

double pt_scaler_scale(const pt_scaler *s) { return s->cfg.mode == PT_SCALE_NONE ? 1.0 : s->scale; }

pt_step_outcome pt_scaler_update(pt_scaler *s, bool found_nonfinite)
{
    const pt_scaler_config *c = &s->cfg;
    if (!found_nonfinite) {
        s->stuck = 0;
        if (c->mode != PT_SCALE_DYNAMIC) return PT_STEP_APPLIED;
        if (++s->growth_tracker == c->growth_interval) {
            double grown = s->scale * c->growth_factor;
            if (isfinite(grown)) s->scale = grown < c->max_scale ? grown : c->max_scale;
            s->growth_tracker = 0;
            s->hysteresis_left = c->hysteresis > 0 ? c->hysteresis : 1;
        }
        return PT_STEP_APPLIED;
    }
    /* a non-finite gradient: the optimizer step is skipped in every mode */
    bool at_floor = c->mode != PT_SCALE_DYNAMIC;
    if (c->mode == PT_SCALE_DYNAMIC) {
        if (s->hysteresis_left > 1) {
            s->hysteresis_left--;
        } else {
            double backed = s->scale * c->backoff_factor;
            at_floor = backed <= c->min_scale;
            s->scale = backed > c->min_scale ? backed : c->min_scale;
        }
        s->growth_tracker = 0;
        if (s->scale <= c->min_scale) at_floor = true;
    }
    s->stuck = at_floor ? s->stuck + 1 : 0;
    if (c->max_stuck > 0 && s->stuck >= c->max_stuck) return PT_STEP_DEATH_SPIRAL;
    return PT_STEP_SKIPPED_OVERFLOW;
}
