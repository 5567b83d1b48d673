/* Reading policy files (the parts training needs), strictly: unknown keys,
 * unknown formats and out-of-range settings are errors naming the file and
 * the JSON path. */
#include "prectune/policy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/json_util.h"

void pt_policy_init_fp32(pt_policy *p)
{
    memset(p, 0, sizeof *p);
    snprintf(p->source, sizeof p->source, "built-in fp32");
    p->def = (pt_layer_formats){PT_FMT_FP32, PT_FMT_FP32, PT_FMT_FP32};
    p->loss_scale = pt_scaler_config_default(PT_SCALE_NONE);
    p->fp8 = pt_fp8_recipe_default();
    p->lr_scale = 1.0;
}

void pt_policy_free(pt_policy *p)
{
    free(p->layers);
    p->layers = NULL;
    p->nlayers = 0;
}

static pt_status get_format(const pt_jctx *c, const cJSON *obj, const char *path, const char *key,
                            pt_format *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return PT_OK;
    char p[256];
    snprintf(p, sizeof p, "%s.%s", path, key);
    pt_format f = cJSON_IsString(v) ? pt_format_from_name(v->valuestring) : PT_FMT_COUNT;
    if (f == PT_FMT_COUNT)
        return pt_jfail(c, p, "expected a format name, one of: %s", pt_format_names());
    *out = f;
    return PT_OK;
}

static pt_status get_formats(const pt_jctx *c, const cJSON *v, const char *path,
                             pt_layer_formats *f, char *reason, size_t reason_n)
{
    static const char *const keys[] = {"fwd", "dgrad", "wgrad", "reason", NULL};
    static const char *const layer_keys[] = {"fwd", "dgrad", "wgrad", "reason", "fp8_recipe", NULL};
    pt_status st;
    if ((st = pt_jexpect_object(c, v, path)) || (st = pt_jcheck_keys(c, v, path, reason ? layer_keys : keys)) ||
        (st = get_format(c, v, path, "fwd", &f->fwd)) ||
        (st = get_format(c, v, path, "dgrad", &f->dgrad)) ||
        (st = get_format(c, v, path, "wgrad", &f->wgrad)))
        return st;
    if (reason) return pt_jget_string(c, v, path, "reason", reason, reason_n);
    return PT_OK;
}

static pt_status get_loss_scale(const pt_jctx *c, const cJSON *v, pt_scaler_config *s)
{
    static const char *const keys[] = {"mode", "init", "growth_factor", "backoff_factor",
                                       "growth_interval", "hysteresis", "min", "max",
                                       "max_stuck", NULL};
    static const char *const modes[] = {"none", "static", "dynamic", NULL};
    pt_status st;
    if ((st = pt_jexpect_object(c, v, "loss_scale")) ||
        (st = pt_jcheck_keys(c, v, "loss_scale", keys)))
        return st;
    int mode = (int)s->mode;
    if ((st = pt_jget_enum(c, v, "loss_scale", "mode", modes, &mode))) return st;
    *s = pt_scaler_config_default((pt_scale_mode)mode);
    int64_t interval = s->growth_interval, hyst = s->hysteresis, stuck = s->max_stuck;
    if ((st = pt_jget_float(c, v, "loss_scale", "init", 0.0, 3e38, true, &s->init)) ||
        (st = pt_jget_float(c, v, "loss_scale", "growth_factor", 1.0, 1e6, false, &s->growth_factor)) ||
        (st = pt_jget_float(c, v, "loss_scale", "backoff_factor", 0.0, 1.0, true, &s->backoff_factor)) ||
        (st = pt_jget_int(c, v, "loss_scale", "growth_interval", 1, INT64_MAX, &interval)) ||
        (st = pt_jget_int(c, v, "loss_scale", "hysteresis", 1, 1000000, &hyst)) ||
        (st = pt_jget_float(c, v, "loss_scale", "min", 0.0, 3e38, true, &s->min_scale)) ||
        (st = pt_jget_float(c, v, "loss_scale", "max", 0.0, 3e38, true, &s->max_scale)) ||
        (st = pt_jget_int(c, v, "loss_scale", "max_stuck", 0, INT64_MAX, &stuck)))
        return st;
    if (s->min_scale > s->max_scale)
        return pt_jfail(c, "loss_scale.min", "%g is more than loss_scale.max (%g)", s->min_scale,
                        s->max_scale);
    if (s->mode == PT_SCALE_DYNAMIC && (s->init < s->min_scale || s->init > s->max_scale))
        return pt_jfail(c, "loss_scale.init", "%g is outside [min, max] = [%g, %g]", s->init,
                        s->min_scale, s->max_scale);
    if (s->backoff_factor >= 1.0)
        return pt_jfail(c, "loss_scale.backoff_factor", "must be below 1");
    s->growth_interval = interval, s->hysteresis = (int)hyst, s->max_stuck = stuck;
    return PT_OK;
}

static pt_status get_fp8(const pt_jctx *c, const cJSON *v, pt_fp8_recipe *r)
{
    static const char *const keys[] = {"recipe", "amax_history", "amax_compute", "margin", NULL};
    static const char *const kinds[] = {"delayed", "current", NULL};
    static const char *const computes[] = {"most_recent", "max", NULL};
    pt_status st;
    int kind = (int)r->kind, compute = r->amax_max ? 1 : 0;
    int64_t hist = r->amax_history, margin = r->margin;
    if ((st = pt_jexpect_object(c, v, "fp8")) || (st = pt_jcheck_keys(c, v, "fp8", keys)) ||
        (st = pt_jget_enum(c, v, "fp8", "recipe", kinds, &kind)) ||
        (st = pt_jget_enum(c, v, "fp8", "amax_compute", computes, &compute)) ||
        (st = pt_jget_int(c, v, "fp8", "amax_history", 1, PT_FP8_HISTORY_MAX, &hist)) ||
        (st = pt_jget_int(c, v, "fp8", "margin", 0, 64, &margin)))
        return st;
    r->kind = (pt_fp8_recipe_kind)kind;
    r->amax_max = compute == 1;
    r->amax_history = (int)hist;
    r->margin = (int)margin;
    return PT_OK;
}

pt_status pt_policy_parse(const char *json, const char *where, pt_policy *p)
{
    static const char *const top[] = {"prectune_policy", "model", "device", "default", "layers",
                                      "loss_scale", "fp8", "tf32", "lr_scale", "validation",
                                      "estimate", "description", NULL};
    pt_jctx c = {where};
    pt_policy_init_fp32(p);
    snprintf(p->source, sizeof p->source, "%s", where);
    cJSON *root;
    pt_status st = pt_jparse(&c, json, &root);
    if (st) return st;
    int64_t version = 0;
    const cJSON *v;
    if ((st = pt_jexpect_object(&c, root, "")) || (st = pt_jcheck_keys(&c, root, "", top)) ||
        (st = pt_jget_int(&c, root, "", "prectune_policy", 0, 1000, &version)))
        goto out;
    if (version != 1) {
        st = pt_jfail(&c, "prectune_policy",
                      version ? "version %lld is not known to this prectune (expected 1)"
                              : "missing (expected \"prectune_policy\": 1)",
                      (long long)version);
        goto out;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "model"))) {
        static const char *const mkeys[] = {"name", "fingerprint", "parameters", NULL};
        int64_t params = 0;
        if ((st = pt_jexpect_object(&c, v, "model")) || (st = pt_jcheck_keys(&c, v, "model", mkeys)) ||
            (st = pt_jget_string(&c, v, "model", "name", p->model, sizeof p->model)) ||
            (st = pt_jget_string(&c, v, "model", "fingerprint", p->fingerprint, sizeof p->fingerprint)) ||
            (st = pt_jget_int(&c, v, "model", "parameters", 0, INT64_MAX, &params)))
            goto out;
        if (p->fingerprint[0] && strncmp(p->fingerprint, "xxh64:", 6) != 0) {
            st = pt_jfail(&c, "model.fingerprint", "'%s' is not of the form xxh64:<16 hex digits>", p->fingerprint);
            goto out;
        }
        p->parameters = params;
    }
    if ((st = pt_jget_string(&c, root, "", "device", p->device, sizeof p->device))) goto out;
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "estimate"))) {
        static const char *const ekeys[] = {"speedup", "memory_saving", "device_table", NULL};
        if ((st = pt_jexpect_object(&c, v, "estimate")) || (st = pt_jcheck_keys(&c, v, "estimate", ekeys)) ||
            (st = pt_jget_float(&c, v, "estimate", "speedup", 0, 1e6, false, &p->est_speedup)) ||
            (st = pt_jget_float(&c, v, "estimate", "memory_saving", -10, 1, false, &p->est_memory_saving)))
            goto out;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "validation"))) {
        static const char *const vkeys[] = {"device", "steps",        "seeds",  "baseline", "policy",
                                            "criteria", "noise",      "within_noise", "passed", NULL};
        pt_policy_evidence *e = &p->validation;
        if ((st = pt_jexpect_object(&c, v, "validation")) || (st = pt_jcheck_keys(&c, v, "validation", vkeys)) ||
            (st = pt_jget_string(&c, v, "validation", "device", e->device, sizeof e->device)) ||
            (st = pt_jget_int(&c, v, "validation", "steps", 0, INT64_MAX, &e->steps)) ||
            (st = pt_jget_bool(&c, v, "validation", "passed", &e->passed)) ||
            (st = pt_jget_bool(&c, v, "validation", "within_noise", &e->within_noise)))
            goto out;
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(v, "baseline");
        const cJSON *q = cJSON_GetObjectItemCaseSensitive(v, "policy");
        const cJSON *cr = cJSON_GetObjectItemCaseSensitive(v, "criteria");
        static const char *const bkeys[] = {"final_loss", "accuracy", NULL};
        static const char *const qkeys[] = {"final_loss", "accuracy", "skipped_fraction", "nonfinite_params", NULL};
        static const char *const ckeys[] = {"metric", "loss_rel", "accuracy_drop", "skipped_fraction", "noise_floor", NULL};
        static const char *const metrics[] = {"training_loss", "heldout_loss", NULL}; /* absent: training_loss */
        int metric = 0;
        static const char *const nkeys[] = {"seed", "diverged", "final_loss", "accuracy", NULL};
        const cJSON *nz = cJSON_GetObjectItemCaseSensitive(v, "noise");
        int64_t nf = 0;
        if ((b && ((st = pt_jexpect_object(&c, b, "validation.baseline")) || (st = pt_jcheck_keys(&c, b, "validation.baseline", bkeys)) ||
                   (st = pt_jget_float(&c, b, "validation.baseline", "final_loss", -1e30, 1e30, false, &e->base_loss)) ||
                   (st = pt_jget_float(&c, b, "validation.baseline", "accuracy", 0, 1, false, &e->base_accuracy)))) ||
            (q && ((st = pt_jexpect_object(&c, q, "validation.policy")) || (st = pt_jcheck_keys(&c, q, "validation.policy", qkeys)) ||
                   (st = pt_jget_float(&c, q, "validation.policy", "final_loss", -1e30, 1e30, false, &e->loss)) ||
                   (st = pt_jget_float(&c, q, "validation.policy", "accuracy", 0, 1, false, &e->accuracy)) ||
                   (st = pt_jget_float(&c, q, "validation.policy", "skipped_fraction", 0, 1, false, &e->skipped_fraction)) ||
                   (st = pt_jget_int(&c, q, "validation.policy", "nonfinite_params", 0, INT64_MAX, &nf)))) ||
            (cr && ((st = pt_jexpect_object(&c, cr, "validation.criteria")) || (st = pt_jcheck_keys(&c, cr, "validation.criteria", ckeys)) ||
                    (st = pt_jget_enum(&c, cr, "validation.criteria", "metric", metrics, &metric)) ||
                    (st = pt_jget_float(&c, cr, "validation.criteria", "loss_rel", 0, 1e3, false, &e->crit_loss_rel)) ||
                    (st = pt_jget_float(&c, cr, "validation.criteria", "accuracy_drop", 0, 1, false, &e->crit_accuracy_drop)) ||
                    (st = pt_jget_float(&c, cr, "validation.criteria", "skipped_fraction", 0, 1, false, &e->crit_skipped)) ||
                    (st = pt_jget_bool(&c, cr, "validation.criteria", "noise_floor", &e->crit_noise_floor)))) ||
            (nz && ((st = pt_jexpect_object(&c, nz, "validation.noise")) ||
                    (st = pt_jcheck_keys(&c, nz, "validation.noise", nkeys)) ||
                    (st = pt_jget_bool(&c, nz, "validation.noise", "diverged", &e->noise_diverged)) ||
                    (st = pt_jget_float(&c, nz, "validation.noise", "final_loss", -1e30, 1e30, false, &e->noise_loss)) ||
                    (st = pt_jget_float(&c, nz, "validation.noise", "accuracy", 0, 1, false, &e->noise_accuracy)))))
            goto out;
        e->noise_present = nz != NULL;
        e->nonfinite = nf;
        e->heldout_loss = metric == 1;
        const cJSON *seeds = cJSON_GetObjectItemCaseSensitive(v, "seeds");
        if (seeds) {
            if (!cJSON_IsArray(seeds) || cJSON_GetArraySize(seeds) > 2) {
                st = pt_jfail(&c, "validation.seeds", "expected an array of up to 2 seeds");
                goto out;
            }
            for (int i = 0; i < cJSON_GetArraySize(seeds); i++) {
                const cJSON *sd = cJSON_GetArrayItem(seeds, i);
                double d = cJSON_GetNumberValue(sd);
                if (!cJSON_IsNumber(sd) || d != floor(d) || d < 0 || d >= 0x1p63) {
                    char sp[64];
                    snprintf(sp, sizeof sp, "validation.seeds[%d]", i);
                    st = pt_jfail(&c, sp, "expected an integer from 0 to %lld", (long long)INT64_MAX);
                    goto out;
                }
                e->seeds[e->nseeds++] = (int64_t)d;
            }
        }
        e->present = true;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "default")) &&
        (st = get_formats(&c, v, "default", &p->def, NULL, 0)))
        goto out;
    if ((st = pt_jget_bool(&c, root, "", "tf32", &p->tf32))) goto out;
    if ((st = pt_jget_float(&c, root, "", "lr_scale", 0.0, 1.0, true, &p->lr_scale))) goto out;
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "loss_scale")) &&
        (st = get_loss_scale(&c, v, &p->loss_scale)))
        goto out;
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "fp8")) && (st = get_fp8(&c, v, &p->fp8)))
        goto out;
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "layers"))) {
        if ((st = pt_jexpect_object(&c, v, "layers"))) goto out;
        p->nlayers = cJSON_GetArraySize(v);
        p->layers = calloc((size_t)p->nlayers + 1, sizeof *p->layers);
        if (!p->layers) {
            st = pt_fail(PT_ERR_NOMEM, "%s: out of memory", where);
            goto out;
        }
        int i = 0;
        for (const cJSON *l = v->child; l; l = l->next, i++) {
            char path[128];
            snprintf(path, sizeof path, "layers.%s", l->string);
            if (strlen(l->string) >= PT_NAME_MAX) {
                st = pt_jfail(&c, path, "layer name too long");
                goto out;
            }
            strcpy(p->layers[i].name, l->string);
            p->layers[i].f = p->def;
            if ((st = get_formats(&c, l, path, &p->layers[i].f, p->layers[i].reason,
                                  sizeof p->layers[i].reason)))
                goto out;
            static const char *const recipes[] = {"delayed", "current", NULL};
            int kind = -1;
            if ((st = pt_jget_enum(&c, l, path, "fp8_recipe", recipes, &kind))) goto out;
            p->layers[i].has_fp8_recipe = kind >= 0;
            p->layers[i].fp8_recipe = kind == 1 ? PT_FP8_CURRENT : PT_FP8_DELAYED;
        }
    }
out:
    cJSON_Delete(root);
    if (st) pt_policy_free(p);
    return st;
}

pt_status pt_policy_load(const char *path, pt_policy *p)
{
    char *text;
    pt_status st = pt_read_file(path, &text, NULL);
    if (st) return st;
    st = pt_policy_parse(text, path, p);
    free(text);
    return st;
}

pt_status pt_policy_check_model(const pt_policy *p, const pt_model_spec *m)
{
    for (int i = 0; i < p->nlayers; i++) {
        int j = pt_model_spec_find(m, p->layers[i].name);
        if (j < 0)
            return pt_fail(PT_ERR_INVALID, "%s: layers.%s: model '%s' has no layer of that name",
                           p->source, p->layers[i].name, m->name);
        if (pt_layer_has_compute_format(m->layers[j].type)) {
            pt_format f = p->layers[i].f.fwd;
            if (f != PT_FMT_FP32 && f != PT_FMT_BF16 && f != PT_FMT_FP16)
                return pt_fail(PT_ERR_INVALID, "%s: layers.%s.fwd: a %s computes in fp32, bf16 or fp16, "
                               "not %s", p->source, p->layers[i].name,
                               m->layers[j].type == PT_LAYER_ATTN_SOFTMAX ? "softmax" : "layer norm",
                               pt_format_info(f)->name);
            continue;
        }
        if (!pt_layer_has_gemm(m->layers[j].type))
            return pt_fail(PT_ERR_INVALID,
                           "%s: layers.%s: a %s layer has no GEMM to give formats to (only "
                           "linear and conv2d layers do, and layer norms, whose fwd format is the one "
                           "they compute in)",
                           p->source, p->layers[i].name, pt_layer_type_name(m->layers[j].type));
    }
    return PT_OK;
}

int pt_policy_warnings(const pt_policy *p, const pt_model_spec *m, const char *prefix, FILE *f)
{
    int n = 0;
    for (int i = 0; i < m->nlayers; i++) {
        const pt_layer_spec *l = &m->layers[i];
        pt_format nf = pt_policy_norm_format(p, l->name);
        if ((l->type != PT_LAYER_LAYERNORM && l->type != PT_LAYER_RMSNORM) || nf == PT_FMT_FP32) continue;
        const pt_format_traits *t = pt_format_info(nf);
        float e = pt_round(nf, l->eps, 0);
        if (e == 0.0f)
            fprintf(f, "%swarning: layers.%s: computed in %s, its eps %g is 0 (%s's smallest value is %.3g): a "
                    "constant row, or one whose variance underflows %s, will give NaN\n", prefix, l->name, t->name,
                    (double)l->eps, t->name, t->min_subnormal, t->name), n++;
        else if (fabs(e - l->eps) > 0.01 * l->eps)
            fprintf(f, "%swarning: layers.%s: computed in %s, its eps %g becomes %g\n", prefix, l->name, t->name,
                    (double)l->eps, (double)e), n++;
    }
    return n;
}

pt_fp8_recipe pt_policy_fp8_recipe(const pt_policy *p, const char *layer)
{
    pt_fp8_recipe r = p->fp8;
    for (int i = 0; i < p->nlayers; i++)
        if (strcmp(p->layers[i].name, layer) == 0 && p->layers[i].has_fp8_recipe) r.kind = p->layers[i].fp8_recipe;
    return r;
}

pt_format pt_policy_norm_format(const pt_policy *p, const char *layer)
{
    for (int i = 0; i < p->nlayers; i++)
        if (strcmp(p->layers[i].name, layer) == 0) return p->layers[i].f.fwd;
    return PT_FMT_FP32;
}

pt_layer_formats pt_policy_formats(const pt_policy *p, const char *layer)
{
    pt_layer_formats f = p->def;
    for (int i = 0; i < p->nlayers; i++)
        if (strcmp(p->layers[i].name, layer) == 0) f = p->layers[i].f;
    if (p->tf32) {
        if (f.fwd == PT_FMT_FP32) f.fwd = PT_FMT_TF32;
        if (f.dgrad == PT_FMT_FP32) f.dgrad = PT_FMT_TF32;
        if (f.wgrad == PT_FMT_FP32) f.wgrad = PT_FMT_TF32;
    }
    return f;
}

/* Problems a parseable policy can still have. */
static pt_status sanity(const pt_policy *p)
{
    bool fp16_grads = p->def.dgrad == PT_FMT_FP16 || p->def.wgrad == PT_FMT_FP16;
    for (int i = 0; i < p->nlayers; i++)
        fp16_grads |= p->layers[i].f.dgrad == PT_FMT_FP16 || p->layers[i].f.wgrad == PT_FMT_FP16;
    if (fp16_grads && p->loss_scale.mode == PT_SCALE_NONE)
        return pt_fail(PT_ERR_INVALID,
                       "%s: loss_scale.mode: gradients run in fp16 but loss scaling is off: values "
                       "below 6e-8 vanish (use \"dynamic\"; --force trains with it anyway)",
                       p->source);
    if (p->loss_scale.mode == PT_SCALE_STATIC && p->loss_scale.init > 16777216)
        return pt_fail(PT_ERR_INVALID,
                       "%s: loss_scale.init: a static scale of %g leaves almost no headroom below "
                       "fp16's 65504 for gradients (expected at most 2^24 = 16777216, or dynamic scaling, "
                       "which finds its own; --force trains with it anyway)",
                       p->source, p->loss_scale.init);
    return PT_OK;
}

pt_status pt_policy_validate(const pt_policy *p, const pt_model_spec *m, const char *model_path, bool force)
{
    pt_status st = force ? PT_OK : sanity(p);
    if (!st && m && !force) st = pt_policy_check_fingerprint(p, m, model_path);
    if (!st && m) st = pt_policy_check_model(p, m);
    return st;
}

pt_status pt_policy_check_fingerprint(const pt_policy *p, const pt_model_spec *m, const char *model_path)
{
    if (!p->fingerprint[0]) return PT_OK;
    char fp[24];
    pt_model_fingerprint(m, fp);
    if (strcmp(fp, p->fingerprint) == 0) return PT_OK;
    return pt_fail(PT_ERR_INVALID,
                   "%s: model.fingerprint: the policy was made for model '%s' (%s), but %s is '%s' "
                   "(%s): its layers or shapes differ. Tune it again, or pass --force to use it anyway",
                   p->source, p->model[0] ? p->model : "?", p->fingerprint, model_path, m->name, fp);
}
