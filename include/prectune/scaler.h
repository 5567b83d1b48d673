/* Loss scaling with the semantics users know from PyTorch's GradScaler
 * (growth after growth_interval consecutive finite steps, backoff and skip
 * on a non-finite gradient, counter reset) plus DeepSpeed's hysteresis
 * (overflows tolerated before backing off) and min/max scale, and a guard
 * against the death spiral: a scale stuck at its floor while steps keep
 * overflowing stops the run instead of looping forever. */
#ifndef PRECTUNE_SCALER_H
#define PRECTUNE_SCALER_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pt_scale_mode { PT_SCALE_NONE = 0, PT_SCALE_STATIC, PT_SCALE_DYNAMIC } pt_scale_mode;

typedef struct pt_scaler_config {
    pt_scale_mode mode;
    double init;            /* default 2^16 */
    double growth_factor;   /* 2 */
    double backoff_factor;  /* 0.5 */
    int64_t growth_interval;/* 2000 good steps */
    int hysteresis;         /* 1: back off at the first overflow (GradScaler) */
    double min_scale, max_scale;
    /* consecutive skipped steps, with the scale unable to go lower, that
     * stop the run (the death spiral); 0 disables the guard */
    int64_t max_stuck;
} pt_scaler_config;

pt_scaler_config pt_scaler_config_default(pt_scale_mode mode);

typedef struct pt_scaler {
    pt_scaler_config cfg;
    double scale;
    int64_t growth_tracker;  /* consecutive finite steps since the last change */
    int hysteresis_left;
    int64_t stuck;           /* consecutive skips with the scale at its floor */
} pt_scaler;

typedef enum pt_step_outcome {
    PT_STEP_APPLIED = 0,
    PT_STEP_SKIPPED_OVERFLOW,   /* non-finite gradient: optimizer step skipped */
    PT_STEP_DEATH_SPIRAL,       /* skipped, and the guard says stop */
} pt_step_outcome;

void pt_scaler_init(pt_scaler *s, const pt_scaler_config *cfg);
/* The factor the loss is multiplied by now (1 in mode none). */
double pt_scaler_scale(const pt_scaler *s);
/* After the gradients of one optimizer step were checked: decides skip or
 * apply and updates the scale for the next step. */
pt_step_outcome pt_scaler_update(pt_scaler *s, bool found_nonfinite);

#ifdef __cplusplus
}
#endif
#endif
