/* Exporters: what other tools read, from a policy. DeepSpeed's fp16/bf16
 * config block, a Transformer Engine precision-debug YAML that disables
 * fp8 GEMMs for the layers the policy keeps out of fp8, a PyTorch snippet
 * (autocast regions and GradScaler arguments), and CSV, one row a layer. */
#include "prectune/export.h"

#include "quote.h"
#include "../common/json_util.h"

#include <cjson/cJSON.h>
#include <csv.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_fp8(pt_format f) { return f == PT_FMT_E4M3 || f == PT_FMT_E5M2; }

/* The formats of every GEMM layer of the model under the policy. */
static int layer_list(const pt_policy *p, const pt_model_spec *m, int *idx, pt_layer_formats *f)
{
    int n = 0;
    for (int i = 0; i < m->nlayers; i++)
        if (pt_layer_has_gemm(m->layers[i].type)) {
            idx[n] = i;
            f[n] = pt_policy_formats(p, m->layers[i].name);
            n++;
        }
    return n;
}

static const char *reason_of(const pt_policy *p, const char *layer)
{
    for (int i = 0; i < p->nlayers; i++)
        if (!strcmp(p->layers[i].name, layer)) return p->layers[i].reason;
    return "";
}

static pt_status export_deepspeed(const pt_policy *p, const pt_model_spec *m, FILE *out)
{
    int idx[256];
    pt_layer_formats f[256];
    int n = layer_list(p, m, idx, f), fp16 = 0, bf16 = 0;
    for (int i = 0; i < n; i++) {
        fp16 += f[i].fwd == PT_FMT_FP16 || f[i].dgrad == PT_FMT_FP16;
        bf16 += f[i].fwd == PT_FMT_BF16 || f[i].dgrad == PT_FMT_BF16 || is_fp8(f[i].fwd);
    }
    cJSON *o = cJSON_CreateObject();
    if (fp16) {
        const pt_scaler_config *s = &p->loss_scale;
        cJSON *b = cJSON_AddObjectToObject(o, "fp16");
        cJSON_AddBoolToObject(b, "enabled", true);
        /* DeepSpeed: loss_scale 0 means dynamic */
        cJSON_AddNumberToObject(b, "loss_scale", s->mode == PT_SCALE_STATIC ? s->init : 0);
        cJSON_AddNumberToObject(b, "initial_scale_power", round(log2(s->init > 0 ? s->init : 65536)));
        cJSON_AddNumberToObject(b, "loss_scale_window", (double)s->growth_interval);
        cJSON_AddNumberToObject(b, "hysteresis", s->hysteresis);
        cJSON_AddNumberToObject(b, "min_loss_scale", s->min_scale);
    } else if (bf16) {
        cJSON *b = cJSON_AddObjectToObject(o, "bf16");
        cJSON_AddBoolToObject(b, "enabled", true);
    } else {
        cJSON *b = cJSON_AddObjectToObject(o, "fp16");
        cJSON_AddBoolToObject(b, "enabled", false);
    }
    char *s = cJSON_Print(o);
    fprintf(out, "%s\n", s);
    free(s);
    cJSON_Delete(o);
    return PT_OK;
}

/* A name or text as a literal of the output's language (Python and YAML
 * read the same escapes), or "" for none. */
static void quoted(FILE *out, const char *s) { pt_quote_literal(out, s ? s : ""); }

static pt_status export_te(const pt_policy *p, const pt_model_spec *m, FILE *out)
{
    int idx[256];
    pt_layer_formats f[256];
    int n = layer_list(p, m, idx, f), kept = 0;
    fputs("# Transformer Engine precision debug config (nvdlfw_inspect), written by prectune\n# from the policy for model ", out);
    quoted(out, m->name);
    fputs(" (", out);
    quoted(out, p->fingerprint[0] ? p->fingerprint : "no fingerprint");
    fputs("): the layers below run their GEMMs\n# in higher precision; every other layer keeps fp8.\n", out);
    for (int i = 0; i < n; i++) kept += !is_fp8(f[i].fwd);
    if (!kept) {
        fprintf(out, "# (no layer is kept out of fp8)\n");
        return PT_OK;
    }
    /* the names as a regular expression, each escaped, matching a module
     * named so or one whose dotted path ends in the name */
    size_t cap = 64;
    for (int i = 0; i < n; i++) cap += 2 * strlen(m->layers[idx[i]].name) + 1;
    char *re = malloc(cap);
    if (!re) return pt_fail(PT_ERR_NOMEM, "export: out of memory");
    size_t k = (size_t)snprintf(re, cap, "(?:.*\\.)?(?:");
    int first = 1;
    for (int i = 0; i < n; i++)
        if (!is_fp8(f[i].fwd)) {
            char *e = pt_regex_escape(m->layers[idx[i]].name);
            if (!e) {
                free(re);
                return pt_fail(PT_ERR_NOMEM, "export: out of memory");
            }
            k += (size_t)snprintf(re + k, cap - k, "%s%s", first ? "" : "|", e);
            first = 0;
            free(e);
        }
    snprintf(re + k, cap - k, ")\\Z");
    fputs("prectune_disable_fp8:\n  enabled: True\n  layers:\n    layer_name_regex_pattern: ", out);
    quoted(out, re);
    free(re);
    fputs("\n  transformer_engine:\n    DisableFP8Layer:\n      enabled: True\n", out);
    for (int i = 0; i < n; i++)
        if (!is_fp8(f[i].fwd)) {
            const char *r = reason_of(p, m->layers[idx[i]].name);
            fputs("# ", out);
            quoted(out, m->layers[idx[i]].name);
            fprintf(out, ": %s", pt_format_info(f[i].fwd)->name);
            if (r[0]) fputs(" - ", out), quoted(out, r);
            fputc('\n', out);
        }
    return PT_OK;
}

static pt_status export_torch(const pt_policy *p, const pt_model_spec *m, FILE *out)
{
    int idx[256];
    pt_layer_formats f[256];
    int n = layer_list(p, m, idx, f);
    const char *dtype = "torch.bfloat16";
    for (int i = 0; i < n; i++)
        if (f[i].fwd == PT_FMT_FP16) dtype = "torch.float16";
    const pt_scaler_config *s = &p->loss_scale;
    fputs("# PyTorch mixed precision for a model, from a prectune policy (", out);
    quoted(out, p->fingerprint[0] ? p->fingerprint : "no fingerprint");
    fputs(").\n# fp8 layers need Transformer Engine; here they run in the autocast dtype.\n", out);
    fputs("import torch\n\nMODEL_NAME = ", out);
    quoted(out, m->name);
    fprintf(out, "\nAUTOCAST_DTYPE = %s\n", dtype);
    fprintf(out, "# layers the policy keeps in fp32: autocast is disabled inside them\nFP32_LAYERS = set([");
    int k = 0;
    for (int i = 0; i < n; i++)
        if (f[i].fwd == PT_FMT_FP32 || f[i].fwd == PT_FMT_TF32) {
            if (k++) fputs(", ", out);
            quoted(out, m->layers[idx[i]].name);
        }
    fprintf(out, "])\n\n");
    if (s->mode == PT_SCALE_NONE)
        fprintf(out, "scaler = torch.amp.GradScaler(\"cuda\", enabled=False)\n");
    else
        fprintf(out, "scaler = torch.amp.GradScaler(\"cuda\", init_scale=%.17g, growth_factor=%.17g,\n"
                     "                              backoff_factor=%.17g, growth_interval=%lld)\n",
                s->init, s->growth_factor, s->backoff_factor, (long long)s->growth_interval);
    fprintf(out, "torch.backends.cuda.matmul.allow_tf32 = %s\n\n", p->tf32 ? "True" : "False");
    fprintf(out,
            "def apply_policy(model: torch.nn.Module) -> None:\n"
            "    \"\"\"Runs the modules named in FP32_LAYERS in fp32 inside an autocast region.\"\"\"\n"
            "    for name, module in model.named_modules():\n"
            "        if name.split('.')[-1] in FP32_LAYERS:\n"
            "            forward = module.forward\n"
            "            def fp32_forward(*args, _forward=forward, **kwargs):\n"
            "                with torch.autocast(\"cuda\", enabled=False):\n"
            "                    args = [a.float() if torch.is_tensor(a) and a.is_floating_point() else a for a in args]\n"
            "                    return _forward(*args, **kwargs)\n"
            "            module.forward = fp32_forward\n\n"
            "# in the training loop:\n"
            "#   with torch.autocast(\"cuda\", dtype=AUTOCAST_DTYPE):\n"
            "#       loss = loss_fn(model(x), y)\n"
            "#   scaler.scale(loss).backward()\n"
            "#   scaler.unscale_(optimizer)  # before clipping\n"
            "#   scaler.step(optimizer)\n"
            "#   scaler.update()\n");
    return PT_OK;
}

static void csv_row(FILE *out, const char *const *fields, int n)
{
    for (int i = 0; i < n; i++) {
        if (i) fputc(',', out);
        csv_fwrite(out, fields[i], strlen(fields[i]));
    }
    fputc('\n', out);
}

static pt_status export_csv(const pt_policy *p, const pt_model_spec *m, FILE *out)
{
    int idx[256];
    pt_layer_formats f[256];
    int n = layer_list(p, m, idx, f);
    const char *hdr[] = {"layer", "type", "fwd", "dgrad", "wgrad", "reason"};
    csv_row(out, hdr, 6);
    for (int i = 0; i < n; i++) {
        const char *row[] = {m->layers[idx[i]].name, pt_layer_type_name(m->layers[idx[i]].type),
                             pt_format_info(f[i].fwd)->name, pt_format_info(f[i].dgrad)->name,
                             pt_format_info(f[i].wgrad)->name, reason_of(p, m->layers[idx[i]].name)};
        csv_row(out, row, 6);
    }
    return PT_OK;
}

/* Every name and text the exports quote is UTF-8: Python and YAML read
 * text, and a literal cannot hold a byte that is not one. */
static pt_status check_text(const pt_policy *p, const pt_model_spec *m)
{
    if (!pt_utf8_valid(m->name)) return pt_fail(PT_ERR_INVALID, "export: the model's name is not UTF-8 text");
    for (int i = 0; i < m->nlayers; i++)
        if (!pt_utf8_valid(m->layers[i].name))
            return pt_fail(PT_ERR_INVALID, "export: model layers[%d].name is not UTF-8 text", i);
    if (!pt_utf8_valid(p->fingerprint))
        return pt_fail(PT_ERR_INVALID, "%s: model.fingerprint is not UTF-8 text", p->source);
    for (int i = 0; i < p->nlayers; i++)
        if (!pt_utf8_valid(p->layers[i].reason))
            return pt_fail(PT_ERR_INVALID, "%s: layers: the reason of layer %d is not UTF-8 text", p->source, i + 1);
    return PT_OK;
}

pt_status pt_policy_export(const pt_policy *p, const pt_model_spec *m, const char *to, FILE *out)
{
    pt_status st = check_text(p, m);
    if (st) return st;
    int ngemm = 0;
    for (int i = 0; i < m->nlayers; i++) ngemm += pt_layer_has_gemm(m->layers[i].type);
    if (ngemm > 256)
        return pt_fail(PT_ERR_UNSUPPORTED, "export: model '%s' has %d linear/conv2d layers (up to 256)", m->name, ngemm);
    if (!strcmp(to, "deepspeed")) return export_deepspeed(p, m, out);
    if (!strcmp(to, "te-debug")) return export_te(p, m, out);
    if (!strcmp(to, "torch")) return export_torch(p, m, out);
    if (!strcmp(to, "csv")) return export_csv(p, m, out);
    return pt_fail(PT_ERR_INVALID, "--to '%s': expected deepspeed, te-debug, torch or csv", to);
}
