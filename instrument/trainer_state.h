/* The trainer's state, shared by trainer.c and checkpoint.c. */
#ifndef PT_TRAINER_STATE_H
#define PT_TRAINER_STATE_H

#include "net.h"
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
    int64_t *perm;
    float *x_host, *t_host, *out_host, *loss_host;
    int32_t *y_host;
    int32_t *flags;      /* backend memory: found-non-finite flag, then fp64 scratch */
};

#endif
