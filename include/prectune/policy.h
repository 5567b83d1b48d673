/* Precision policies: which format each layer's three GEMMs run in, the
 * loss-scale settings, the fp8 recipe and tf32 (DESIGN.md, "The policy
 * file"): what training reads, and what the tuner writes with it (the
 * evidence, estimates, fingerprint checks, writing and exporters). */
#ifndef PRECTUNE_POLICY_H
#define PRECTUNE_POLICY_H

#include <stdbool.h>
#include <stdio.h>

#include "prectune/formats.h"
#include "prectune/fp8.h"
#include "prectune/model.h"
#include "prectune/scaler.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pt_layer_formats {
    pt_format fwd, dgrad, wgrad;
} pt_layer_formats;

typedef struct pt_policy_layer {
    char name[PT_NAME_MAX];
    pt_layer_formats f;
    char reason[512];
    bool has_fp8_recipe;            /* this layer's fp8 casts use fp8_recipe, not the policy's */
    pt_fp8_recipe_kind fp8_recipe;
} pt_policy_layer;

/* The validation evidence a tuned policy carries. */
typedef struct pt_policy_evidence {
    bool present;
    char device[160];           /* where the validation ran (a backend's name) */
    int64_t steps;
    int64_t seeds[2];
    int nseeds;
    double base_loss, base_accuracy;
    double loss, accuracy, skipped_fraction;
    int64_t nonfinite;
    double crit_loss_rel, crit_accuracy_drop, crit_skipped;
    bool crit_noise_floor;      /* the criteria widen to fp32's seed-to-seed spread */
    /* the loss held (criteria.metric): the held-out loss (token data: the
     * losses above are held-out losses, and no accuracy is used, written or
     * read), or when false the final training loss */
    bool heldout_loss;
    /* fp32 with the second seed at full length, run when the policy missed
     * the loss or accuracy criterion (the noise floor) */
    bool noise_present, noise_diverged;
    double noise_loss, noise_accuracy;
    bool within_noise;          /* passed only within that spread */
    bool passed;
} pt_policy_evidence;

typedef struct pt_policy {
    char source[256];           /* the file it came from ("built-in fp32" if none) */
    char model[PT_NAME_MAX];    /* "" when the policy names no model (presets) */
    char fingerprint[32];
    char device[160];
    int64_t parameters;
    pt_policy_evidence validation;
    double est_speedup, est_memory_saving; /* 0 when not estimated */
    pt_layer_formats def;       /* layers not listed */
    pt_policy_layer *layers;
    int nlayers;
    pt_scaler_config loss_scale;
    pt_fp8_recipe fp8;
    bool tf32;                  /* fp32 GEMMs run in tf32 */
    double lr_scale;            /* the model's learning rate (whole schedule) times this; 1 by default.
                                   Not a precision setting, but the fix that diagnose writes when
                                   a divergence is the learning rate's */
} pt_policy;

/* fp32 everywhere, no loss scaling. */
void pt_policy_init_fp32(pt_policy *p);
pt_status pt_policy_load(const char *path, pt_policy *p);
pt_status pt_policy_parse(const char *json, const char *where, pt_policy *p);
void pt_policy_free(pt_policy *p);

/* Writes the policy as JSON, atomically (temp file, fsync, rename). */
pt_status pt_policy_write(const pt_policy *p, const char *path);
/* The policy as JSON text (caller frees). */
char *pt_policy_to_json(const pt_policy *p);

/* The policy was made for this model: its fingerprint (when it names one)
 * equals the model's. */
pt_status pt_policy_check_fingerprint(const pt_policy *p, const pt_model_spec *m,
                                      const char *model_path);

/* Every layer the policy names exists in the model and has a GEMM, or is
 * a layer norm given fp32, bf16 or fp16. */
pt_status pt_policy_check_model(const pt_policy *p, const pt_model_spec *m);

/* The one validation of a loaded policy before it is used (policy check,
 * train, validate, export): the loss scale's sanity for fp16 gradients
 * (fp16 without loss scaling, a static scale above 2^24) and, with a model
 * m (from model_path), its fingerprint and layer names. force: the sanity
 * and fingerprint checks are skipped (a run that reproduces an incident on
 * purpose); the layer names are always checked. */
pt_status pt_policy_validate(const pt_policy *p, const pt_model_spec *m, const char *model_path, bool force);

/* Hazards that are not errors: a layer norm named in a format where its
 * eps is 0 (or changed by more than 1%). Writes one line per hazard to f
 * (each prefixed by `prefix`); returns how many. */
int pt_policy_warnings(const pt_policy *p, const pt_model_spec *m, const char *prefix, FILE *f);

/* The fp8 recipe of a layer: the policy's, with the layer's own
 * delayed/current choice where it names one. */
pt_fp8_recipe pt_policy_fp8_recipe(const pt_policy *p, const char *layer);

/* The format a layer norm computes in: fp32 unless the policy names the
 * layer (the default formats never apply to norms, as autocast keeps
 * them in fp32; naming one in fp16 reproduces a model cast to half). */
pt_format pt_policy_norm_format(const pt_policy *p, const char *layer);

/* The formats of a layer (tf32 applied to fp32 when the policy says so). */
pt_layer_formats pt_policy_formats(const pt_policy *p, const char *layer);


#ifdef __cplusplus
}
#endif
#endif
