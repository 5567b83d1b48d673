/* Incident detection while training, from what every step already
 * produces (its record) and what the statistics steps add: a non-finite
 * loss, a loss spike against a robust running median, sustained divergence,
 * a storm of skipped steps, and growing gradient underflow. No extra pass
 * over the data and no extra host round trip. */
#ifndef PRECTUNE_INCIDENT_H
#define PRECTUNE_INCIDENT_H

#include <stdbool.h>
#include <stdint.h>

#include "prectune/stats.h"
#include "prectune/trainer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pt_incident_config {
    double spike_factor;     /* loss above this times the running median (default 3) */
    int window;              /* steps in the running median (64) */
    int64_t skip_storm;      /* consecutive skipped steps (10) */
    double divergence;       /* mean of the last window above this times its best (2) */
    double underflow;        /* share of gradient values flushed to zero (0.02), and growing */
} pt_incident_config;

pt_incident_config pt_incident_config_default(void);

typedef struct pt_incident_detector {
    pt_incident_config cfg;
    double win[256], sorted[256];
    int n, pos;
    double best_mean;
    int64_t skips;
    double first_underflow;  /* share at the first statistics step, -1 before */
} pt_incident_detector;

void pt_incident_init(pt_incident_detector *d, const pt_incident_config *cfg);

typedef struct pt_incident {
    const char *kind;        /* "nonfinite_loss", "loss_spike", "divergence", "skip_storm", "gradient_underflow" */
    char message[256];
} pt_incident;

/* After each step: true (and *out filled) when the step is an incident. */
bool pt_incident_step(pt_incident_detector *d, const pt_step_record *r, pt_incident *out);
/* After a statistics step: the output gradients' underflow in their GEMM
 * format (counts summed over layers). */
bool pt_incident_underflow(pt_incident_detector *d, int64_t step, uint64_t underflowed, uint64_t count,
                           pt_incident *out);

#ifdef __cplusplus
}
#endif
#endif
