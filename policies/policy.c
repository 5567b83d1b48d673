/* Reading policy files (the parts training needs), strictly: unknown keys,
 * unknown formats and out-of-range settings are errors naming the file and
 * the JSON path. */
#include "prectune/policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../instrument/json_util.h"

void pt_policy_init_fp32(pt_policy *p)
{
    memset(p, 0, sizeof *p);
    snprintf(p->source, sizeof p->source, "built-in fp32");
    p->def = (pt_layer_formats){PT_FMT_FP32, PT_FMT_FP32, PT_FMT_FP32};
    p->loss_scale = pt_scaler_config_default(PT_SCALE_NONE);
    p->fp8 = pt_fp8_recipe_default();
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
    pt_status st;
    if ((st = pt_jexpect_object(c, v, path)) || (st = pt_jcheck_keys(c, v, path, keys)) ||
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
                                      "loss_scale", "fp8", "tf32", "validation", "estimate",
                                      "description", NULL};
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
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "default")) &&
        (st = get_formats(&c, v, "default", &p->def, NULL, 0)))
        goto out;
    if ((st = pt_jget_bool(&c, root, "", "tf32", &p->tf32))) goto out;
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
        if (!pt_layer_has_gemm(m->layers[j].type))
            return pt_fail(PT_ERR_INVALID,
                           "%s: layers.%s: a %s layer has no GEMM to give formats to (only "
                           "linear and conv2d layers do)",
                           p->source, p->layers[i].name, pt_layer_type_name(m->layers[j].type));
    }
    return PT_OK;
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
