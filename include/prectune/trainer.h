/* The instrumented trainer: forward, loss, scaled backward, unscale and
 * non-finite check, clipping, optimizer, in the formats a policy gives
 * each layer, with every step's loss scale and skip decision recorded.
 * Deterministic: the same spec, policy, data and seed give the same
 * weights, and a run resumed from a checkpoint continues bit-identically. */
#ifndef PRECTUNE_TRAINER_H
#define PRECTUNE_TRAINER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "prectune/backend.h"
#include "prectune/data.h"
#include "prectune/model.h"
#include "prectune/policy.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pt_trainer pt_trainer;

typedef struct pt_step_record {
    int64_t step;          /* 0-based index of this optimizer step */
    double loss;           /* mean training loss of its micro-batches */
    double scale;          /* the loss scale the step used */
    bool skipped;
    const char *skip_reason; /* "non-finite gradient" or NULL */
    double lr;             /* learning rate applied (0 when skipped) */
    double grad_norm;      /* global norm of the unscaled gradients (before clipping) */
    double ms;             /* wall time of the step */
    int64_t fp8_clamped, fp8_nan_amax; /* fp8 scale events in this step */
    int64_t fp8_saturated; /* fp8 casts (delayed scaling) that clamped values: the amax jumped past the history */
} pt_step_record;

typedef struct pt_eval_result {
    int64_t step;
    double loss;
    double accuracy;       /* classification; NaN for regression and token sequences */
    int64_t samples;
    double perplexity;     /* token sequences: exp(loss), the loss a mean over tokens; else NaN */
    double bits_per_byte;  /* ... loss / ln 2 / the data's bytes a token, where known; else NaN */
} pt_eval_result;

pt_status pt_trainer_create(pt_backend *be, const pt_model_spec *spec, const pt_policy *policy,
                            const pt_data *data, pt_trainer **out);
void pt_trainer_destroy(pt_trainer *t);

/* One optimizer step (train.accumulate micro-batches). Returns
 * PT_ERR_STOPPED when the loss-scale guard stops the run (the message says
 * why); the record is filled either way. */
pt_status pt_trainer_step(pt_trainer *t, pt_step_record *rec);
/* Loss and accuracy on the held-out split (or the training split when
 * there is none), in the policy's formats, dropout off. */
pt_status pt_trainer_eval(pt_trainer *t, pt_eval_result *out);

int64_t pt_trainer_steps_done(const pt_trainer *t);
int64_t pt_trainer_skipped(const pt_trainer *t);
/* Bytes of the training split the trainer keeps in backend memory (on a
 * device, when it fits; 0 otherwise): memory a policy does not change. */
size_t pt_trainer_data_bytes(const pt_trainer *t);
/* fp32 master weights: count, copy to host, number that are not finite,
 * and a 64-bit hash of their bits (to compare runs). */
size_t pt_trainer_param_count(const pt_trainer *t);
pt_status pt_trainer_params(pt_trainer *t, float *host);
pt_status pt_trainer_set_params(pt_trainer *t, const float *host);
pt_status pt_trainer_nonfinite_params(pt_trainer *t, int64_t *count);
pt_status pt_trainer_weights_hash(pt_trainer *t, uint64_t *hash);
double pt_trainer_loss_scale(const pt_trainer *t);

/* Checkpoints: weights, optimizer, scaler and fp8 state, data position and
 * step, written atomically (temp file, fsync, rename). Loading checks that
 * the checkpoint belongs to this model. */
pt_status pt_trainer_save(pt_trainer *t, const char *path);
pt_status pt_trainer_load(pt_trainer *t, const char *path);

/* Replaces the initial weights (before the first step) with those of a
 * file of little-endian float32 values, layer by layer in model order:
 * each layer's weight in its PyTorch layout (linear [out, in], conv2d
 * [out, in, k, k], layer norm gamma, an embedding's table [vocab, width],
 * a position table [context, width], an rmsnorm's gain) then its bias
 * (layer norm beta), as torch's `torch.cat([p.flatten() for p in
 * model.parameters()])` writes them: a tied head's weight is the
 * embedding's, listed once. The file must hold exactly the model's
 * parameters. */
pt_status pt_trainer_init_from_file(pt_trainer *t, const char *path);
/* Restarts loss scaling from the policy's settings (after loading a
 * checkpoint written under another policy, as a replay with a patch does). */
void pt_trainer_reset_scaler(pt_trainer *t);
/* The step a checkpoint file was written at (-1 when it is not one). */
int64_t pt_checkpoint_step(const char *path);

struct pt_telemetry;
/* Instrumentation into run `run` of a telemetry database: per-layer
 * statistics of the four tensor roles every `stats_every` steps and on
 * every step that saw a non-finite gradient, and per-layer drift against
 * an fp32 shadow of the model (same weights, same batch) every
 * `drift_every` steps; 0 turns either off. Statistics are gathered where
 * the data lives and collected at the next launch or at the flush. */
pt_status pt_trainer_instrument(pt_trainer *t, struct pt_telemetry *tel, int64_t run,
                                int64_t stats_every, int64_t drift_every);
/* Incidents detected so far (non-finite loss, loss spike, divergence, skip
 * storm, growing gradient underflow; recorded as events of severity
 * "incident" when instrumented) and the last one's description. */
int64_t pt_trainer_incidents(const pt_trainer *t, const char **last);

/* Collects statistics still in flight and hands them to the telemetry. */
pt_status pt_trainer_flush_stats(pt_trainer *t);

/* The network, for tests that check gradients layer by layer. */
struct pt_net *pt_trainer_net(pt_trainer *t);

#ifdef __cplusplus
}
#endif
#endif
