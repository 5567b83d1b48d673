/* The trainer's state, shared by trainer.c and checkpoint.c. */
#ifndef PT_TRAINER_STATE_H
#define PT_TRAINER_STATE_H

#include "net.h"
#include "prectune/incident.h"
#include "prectune/scaler.h"
#include "prectune/trainer.h"

struct pt_trainer {
    pt_backend *be;
    const pt_model_spec *spec;
    const pt_policy *policy;
    const pt_data *data;
    pt_net *net;
    pt_scaler scaler;
    int64_t step;        /* optimizer steps attempted */
    int64_t opt_step;    /* optimizer steps applied (AdamW's t) */
    int64_t sched_step;  /* position in the learning-rate schedule */
    int64_t skipped;
    int64_t epoch, cursor; /* data position */
    int labels_per;      /* labels a sample: 1, or a sequence's T (one a position) */
    int64_t *perm;
    /* the training split kept in device memory (NULL on the CPU, or when it
     * is too big): batches are gathered there by the epoch's permutation */
    void *dev_x, *dev_y;
    int32_t *dev_perm, *perm32;
    int64_t dev_perm_epoch; /* whose permutation dev_perm holds; -1: none */
    size_t dev_bytes;       /* what those three take in backend memory (0: not kept there) */
    float *x_host, *t_host, *out_host, *loss_host;
    int32_t *y_host;
    int32_t *flags;      /* backend memory: found-non-finite flag, then the fp64 gradient sum of squares and loss sum */
    unsigned char *flags_host; /* their copy (pt_backend_alloc_host), read while the optimizer runs */
    /* instrumentation (instrument.c) */
    struct pt_telemetry *tel;
    int64_t run, stats_every, drift_every;
    pt_stats_batch *stats;
    struct stat_meta *meta; /* what each request of the batch in flight is */
    int pending;            /* requests in flight, 0 when none */
    int64_t pending_step;
    pt_net *shadow;         /* fp32 copy of the model for drift */
    pt_policy shadow_policy;
    float *drift_a, *drift_b; /* host buffers */
    pt_incident_detector detector;
    int64_t incidents;        /* detected so far (recorded as events) */
    bool reported_nonfinite;  /* a non-finite forward tensor was reported */
    int64_t last_saturation;  /* step of the last fp8_saturation event; -1: none */
    int64_t fp8_emulated0;    /* the backend's emulated fp8 GEMMs when instrumenting began; -1: reported */
    char last_incident[320];
};

/* Called by pt_trainer_step (instrument.c). */
/* Statistics of this step when due, and always on a step with a
 * non-finite gradient or an fp8 cast that clamped (saturated: what it was). */
pt_status pt_instrument_step(pt_trainer *t, int64_t step, bool nonfinite, const char *saturated);
/* Whether pt_instrument_step takes statistics at `step` whatever happens in
 * it (the trainer queues its optimizer after them then) */
static inline bool pt_instrument_stats_due(const pt_trainer *t, int64_t step)
{
    return t->tel && t->stats_every && step % t->stats_every == 0;
}
pt_status pt_instrument_drift(pt_trainer *t, int64_t step);
pt_status pt_instrument_incident(pt_trainer *t, int64_t step, const pt_incident *inc);
void pt_instrument_free(pt_trainer *t);

#endif
