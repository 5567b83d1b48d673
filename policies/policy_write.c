/* Writing policy files: the JSON of DESIGN.md ("The policy file"), keys in
 * a fixed order so that policies diff well, written atomically. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../common/atomic_file.h"
#include "prectune/policy.h"

static cJSON *formats_obj(const pt_layer_formats *f)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "fwd", pt_format_info(f->fwd)->name);
    cJSON_AddStringToObject(o, "dgrad", pt_format_info(f->dgrad)->name);
    cJSON_AddStringToObject(o, "wgrad", pt_format_info(f->wgrad)->name);
    return o;
}

static const char *const scale_modes[] = {"none", "static", "dynamic"};

char *pt_policy_to_json(const pt_policy *p)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "prectune_policy", 1);
    if (p->model[0]) {
        cJSON *m = cJSON_AddObjectToObject(o, "model");
        cJSON_AddStringToObject(m, "name", p->model);
        if (p->fingerprint[0]) cJSON_AddStringToObject(m, "fingerprint", p->fingerprint);
        if (p->parameters) cJSON_AddNumberToObject(m, "parameters", (double)p->parameters);
    }
    if (p->device[0]) cJSON_AddStringToObject(o, "device", p->device);
    cJSON_AddItemToObject(o, "default", formats_obj(&p->def));
    cJSON *layers = cJSON_AddObjectToObject(o, "layers");
    for (int i = 0; i < p->nlayers; i++) {
        cJSON *l = formats_obj(&p->layers[i].f);
        if (p->layers[i].reason[0]) cJSON_AddStringToObject(l, "reason", p->layers[i].reason);
        if (p->layers[i].has_fp8_recipe)
            cJSON_AddStringToObject(l, "fp8_recipe", p->layers[i].fp8_recipe == PT_FP8_CURRENT ? "current" : "delayed");
        cJSON_AddItemToObject(layers, p->layers[i].name, l);
    }
    const pt_scaler_config *s = &p->loss_scale;
    cJSON *ls = cJSON_AddObjectToObject(o, "loss_scale");
    cJSON_AddStringToObject(ls, "mode", scale_modes[s->mode]);
    if (s->mode != PT_SCALE_NONE) {
        cJSON_AddNumberToObject(ls, "init", s->init);
        if (s->mode == PT_SCALE_DYNAMIC) {
            cJSON_AddNumberToObject(ls, "growth_factor", s->growth_factor);
            cJSON_AddNumberToObject(ls, "backoff_factor", s->backoff_factor);
            cJSON_AddNumberToObject(ls, "growth_interval", (double)s->growth_interval);
            cJSON_AddNumberToObject(ls, "hysteresis", s->hysteresis);
            cJSON_AddNumberToObject(ls, "min", s->min_scale);
            cJSON_AddNumberToObject(ls, "max", s->max_scale);
        }
        cJSON_AddNumberToObject(ls, "max_stuck", (double)s->max_stuck);
    }
    cJSON *f8 = cJSON_AddObjectToObject(o, "fp8");
    cJSON_AddStringToObject(f8, "recipe", p->fp8.kind == PT_FP8_DELAYED ? "delayed" : "current");
    cJSON_AddNumberToObject(f8, "amax_history", p->fp8.amax_history);
    cJSON_AddStringToObject(f8, "amax_compute", p->fp8.amax_max ? "max" : "most_recent");
    cJSON_AddNumberToObject(f8, "margin", p->fp8.margin);
    cJSON_AddBoolToObject(o, "tf32", p->tf32);
    if (p->lr_scale != 1.0) cJSON_AddNumberToObject(o, "lr_scale", p->lr_scale);
    const pt_policy_evidence *e = &p->validation;
    if (e->present) {
        cJSON *v = cJSON_AddObjectToObject(o, "validation");
        if (e->device[0]) cJSON_AddStringToObject(v, "device", e->device);
        cJSON_AddNumberToObject(v, "steps", (double)e->steps);
        cJSON *seeds = cJSON_AddArrayToObject(v, "seeds");
        for (int i = 0; i < e->nseeds; i++) cJSON_AddItemToArray(seeds, cJSON_CreateNumber((double)e->seeds[i]));
        bool acc = !e->heldout_loss; /* token data: no accuracy is held, none is written */
        cJSON *b = cJSON_AddObjectToObject(v, "baseline");
        cJSON_AddNumberToObject(b, "final_loss", e->base_loss);
        if (acc) cJSON_AddNumberToObject(b, "accuracy", e->base_accuracy);
        cJSON *q = cJSON_AddObjectToObject(v, "policy");
        cJSON_AddNumberToObject(q, "final_loss", e->loss);
        if (acc) cJSON_AddNumberToObject(q, "accuracy", e->accuracy);
        cJSON_AddNumberToObject(q, "skipped_fraction", e->skipped_fraction);
        cJSON_AddNumberToObject(q, "nonfinite_params", (double)e->nonfinite);
        cJSON *c = cJSON_AddObjectToObject(v, "criteria");
        if (e->heldout_loss) cJSON_AddStringToObject(c, "metric", "heldout_loss");
        cJSON_AddNumberToObject(c, "loss_rel", e->crit_loss_rel);
        if (acc) cJSON_AddNumberToObject(c, "accuracy_drop", e->crit_accuracy_drop);
        cJSON_AddNumberToObject(c, "skipped_fraction", e->crit_skipped);
        cJSON_AddBoolToObject(c, "noise_floor", e->crit_noise_floor);
        if (e->noise_present) {
            cJSON *n = cJSON_AddObjectToObject(v, "noise");
            cJSON_AddNumberToObject(n, "seed", (double)(e->nseeds > 1 ? e->seeds[1] : e->seeds[0] + 1));
            cJSON_AddBoolToObject(n, "diverged", e->noise_diverged);
            if (!e->noise_diverged) {
                cJSON_AddNumberToObject(n, "final_loss", e->noise_loss);
                if (acc) cJSON_AddNumberToObject(n, "accuracy", e->noise_accuracy);
            }
        }
        cJSON_AddBoolToObject(v, "within_noise", e->within_noise);
        cJSON_AddBoolToObject(v, "passed", e->passed);
    }
    if (p->est_speedup > 0) {
        cJSON *est = cJSON_AddObjectToObject(o, "estimate");
        cJSON_AddNumberToObject(est, "speedup", round(p->est_speedup * 1000) / 1000);
        cJSON_AddNumberToObject(est, "memory_saving", round(p->est_memory_saving * 1000) / 1000);
    }
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    return text;
}

pt_status pt_policy_write(const pt_policy *p, const char *path)
{
    char *text = pt_policy_to_json(p);
    if (!text) return pt_fail(PT_ERR_NOMEM, "%s: out of memory", path);
    size_t n = strlen(text);
    text[n] = '\n'; /* cJSON's buffer ends in the NUL we overwrite; length n + 1 */
    pt_status st = pt_write_file_atomic(path, text, n + 1);
    free(text);
    return st;
}
