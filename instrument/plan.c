/* Building the step plan (plan.h): each fusion decided once, here, by one
 * rule, for the trainer and the cost model alike. */
#include "plan.h"

#include "../kernels/ops.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

bool pt_format_is_fp8(pt_format f) { return f == PT_FMT_E4M3 || f == PT_FMT_E5M2; }

pt_format pt_gemm_out_format(pt_format f)
{
    return pt_format_is_fp8(f) ? PT_FMT_BF16 : f == PT_FMT_TF32 ? PT_FMT_FP32 : f;
}

bool pt_gemm_reuses_forward(pt_format fwd, pt_format bwd)
{
    return fwd == bwd || (pt_format_is_fp8(fwd) && pt_format_is_fp8(bwd));
}

bool pt_plan_fusion_setting(void)
{
    const char *e = getenv("PRECTUNE_FUSE");
    return !(e && strcmp(e, "0") == 0);
}

static bool is16(pt_format f) { return f == PT_FMT_BF16 || f == PT_FMT_FP16; }

/* Whether an activation's pass can make a GEMM operand's cast in format f
 * for layer g: bf16, fp16, and fp8 under delayed scaling (current scaling
 * needs the tensor's amax before its cast, a pass of its own). */
static bool cast_fusable(const pt_plan_layer *g, pt_format f)
{
    return is16(f) || (pt_format_is_fp8(f) && g->recipe.kind == PT_FP8_DELAYED);
}

/* The formats and recipe of each layer, as the policy gives them. */
static void formats(const pt_model_spec *spec, const pt_policy *policy, pt_plan *p)
{
    for (int i = 0; i < spec->nlayers; i++) {
        const pt_layer_spec *s = &spec->layers[i];
        pt_plan_layer *l = &p->L[i];
        l->fmt = pt_layer_has_gemm(s->type) ? pt_policy_formats(policy, s->name)
                                             : (pt_layer_formats){PT_FMT_FP32, PT_FMT_FP32, PT_FMT_FP32};
        if (pt_layer_has_compute_format(s->type)) l->fmt.fwd = pt_policy_norm_format(policy, s->name);
        l->recipe = pt_policy_fp8_recipe(policy, s->name);
        l->readers = pt_model_readers(spec, i);
        l->cast_for = l->in_grad_of = -1;
        l->in_grad_fmt = PT_FMT_FP32;
    }
}

/* A convolution runs as the backend's convolutions where the backend takes
 * all three of its formats, by pt_conv_runs_direct's rule on its size. */
static void conv_choice(const pt_model_spec *spec, const pt_plan_caps *caps, int batch, pt_plan *p)
{
    for (int i = 0; i < spec->nlayers; i++) {
        const pt_layer_spec *s = &spec->layers[i];
        if (s->type != PT_LAYER_CONV2D) continue;
        pt_plan_layer *l = &p->L[i];
        int j = s->in_index[0];
        const int *ish = j < 0 ? spec->input : spec->layers[j].shape;
        double fan_in = (double)ish[0] * s->kernel * s->kernel;
        bool supported = caps->conv[l->fmt.fwd] && caps->conv[l->fmt.wgrad] && caps->conv[l->fmt.dgrad];
        l->conv_direct = pt_conv_runs_direct(supported, 2.0 * batch * s->shape[1] * s->shape[2] * s->out * fan_in);
    }
}

/* The fusions of plan.h, between each activation and the linear layers
 * beside it. */
static void fusions(const pt_model_spec *spec, const pt_plan_caps *caps, pt_plan *p)
{
    int nl = spec->nlayers;
    p->w16_fmt = PT_FMT_FP32;
    for (int i = 0; i < nl; i++) {
        const pt_layer_spec *s = &spec->layers[i];
        pt_layer_formats f = p->L[i].fmt;
        if (pt_layer_has_weights(s->type) && is16(f.fwd) && f.dgrad == f.fwd) {
            p->w16_fmt = f.fwd; /* the first such layer's format */
            break;
        }
    }
    for (int i = 0; i < nl; i++) {
        const pt_layer_spec *s = &spec->layers[i];
        pt_plan_layer *l = &p->L[i];
        int j = s->in_index[0];
        if (pt_layer_has_weights(s->type))
            l->w_from_copy = p->w16_fmt != PT_FMT_FP32 && l->fmt.fwd == p->w16_fmt && l->fmt.dgrad == p->w16_fmt;
        if (s->type == PT_LAYER_LINEAR) {
            /* outputs that an activation alone reads, as the GEMMs' 16-bit codes */
            const pt_layer_spec *c = i + 1 < nl ? &spec->layers[i + 1] : NULL;
            bool act_after = c && pt_layer_is_act(c->type) && c->in_index[0] == i && l->readers == 1;
            bool act_before = j >= 0 && pt_layer_is_act(spec->layers[j].type) && p->L[j].readers == 1;
            pt_format fo = pt_gemm_out_format(l->fmt.fwd);
            l->y_codes = act_after && fo != PT_FMT_FP32;
            if (l->y_codes) p->L[i + 1].x_codes = true;
            l->bias_from_copy = l->y_codes && s->bias && l->w_from_copy && p->w16_fmt == fo;
            l->dx_codes = act_before && pt_gemm_out_format(l->fmt.dgrad) != PT_FMT_FP32;
            if (l->dx_codes) p->L[j].dy_codes = true;
            /* the transposed copies of the fp8 casts, where the backend's GEMMs want them */
            bool fx = pt_format_is_fp8(l->fmt.fwd);
            l->x_t = caps->fp8_twins && fx && pt_gemm_reuses_forward(l->fmt.fwd, l->fmt.wgrad);
            l->w_t = caps->fp8_twins && fx && pt_gemm_reuses_forward(l->fmt.fwd, l->fmt.dgrad) && j >= 0;
            l->dy_t = caps->fp8_twins && pt_format_is_fp8(l->fmt.wgrad);
        }
        if (!pt_layer_is_act(s->type)) continue;
        /* forward: the next layer's input cast, where it is that layer's alone */
        pt_plan_layer *g = i + 1 < nl ? &p->L[i + 1] : NULL;
        if (g && l->readers == 1 && spec->layers[i + 1].type == PT_LAYER_LINEAR && spec->layers[i + 1].in_index[0] == i &&
            cast_fusable(g, g->fmt.fwd)) {
            l->cast_for = i + 1;
            l->y_unwritten = true;
            g->x_cast_by_input = true;
        }
        /* backward: the weight-gradient cast and the bias gradient of the
         * linear layer before, whose output this alone reads */
        pt_plan_layer *q = j >= 0 ? &p->L[j] : NULL;
        if (q && spec->layers[j].type == PT_LAYER_LINEAR && q->readers == 1 &&
            (cast_fusable(q, q->fmt.wgrad) || spec->layers[j].bias)) {
            l->in_grad_of = j;
            l->in_grad_fmt = cast_fusable(q, q->fmt.wgrad) ? q->fmt.wgrad : PT_FMT_FP32;
            l->dx_unwritten = l->in_grad_fmt != PT_FMT_FP32 && q->fmt.dgrad == q->fmt.wgrad;
            q->dy_cast_by_output = l->in_grad_fmt != PT_FMT_FP32;
            q->db_by_output = spec->layers[j].bias;
        }
    }
}

pt_status pt_plan_build(const pt_model_spec *spec, const pt_policy *policy, const pt_plan_caps *caps, int batch,
                        bool fused, pt_plan *out)
{
    memset(out, 0, sizeof *out);
    out->L = calloc((size_t)spec->nlayers, sizeof *out->L);
    if (!out->L) return pt_fail(PT_ERR_NOMEM, "out of memory");
    out->nlayers = spec->nlayers;
    out->fused = fused;
    out->w16_fmt = PT_FMT_FP32;
    formats(spec, policy, out);
    conv_choice(spec, caps, batch, out);
    if (fused) fusions(spec, caps, out);
    return PT_OK;
}

void pt_plan_free(pt_plan *p)
{
    free(p->L);
    memset(p, 0, sizeof *p);
}

static const char *fname(pt_format f) { return pt_format_info(f)->name; }

/* One item of a layer's line, after a "; " from the one before. */
static void item(FILE *f, int *n, const char *fmt, ...)
{
    va_list ap;
    fputs((*n)++ ? "; " : " ", f);
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
}

void pt_plan_print(const pt_plan *p, const pt_model_spec *spec, FILE *f)
{
    fprintf(f, "step plan (%s)%s%s\n", p->fused ? "fused" : "no fusion",
            p->w16_fmt != PT_FMT_FP32 ? ": the optimizer writes the weights' copy in " : "",
            p->w16_fmt != PT_FMT_FP32 ? fname(p->w16_fmt) : "");
    for (int i = 0; i < p->nlayers; i++) {
        const pt_plan_layer *l = &p->L[i];
        const pt_layer_spec *s = &spec->layers[i];
        fprintf(f, "  %-16s %-10s", s->name, pt_layer_type_name(s->type));
        int n = 0;
        if (pt_layer_has_gemm(s->type))
            item(f, &n, "fwd %s, dgrad %s, wgrad %s", fname(l->fmt.fwd), fname(l->fmt.dgrad), fname(l->fmt.wgrad));
        if (l->conv_direct) item(f, &n, "the backend's convolutions");
        if (l->x_cast_by_input) item(f, &n, "x cast by %s", spec->layers[s->in_index[0]].name);
        if (l->w_from_copy) item(f, &n, "weights from the optimizer's copy");
        if (l->y_codes) item(f, &n, "y as %s codes%s", fname(pt_gemm_out_format(l->fmt.fwd)),
                                l->bias_from_copy ? " (bias from the copy)" : "");
        for (int k = 0; k < p->nlayers; k++)
            if (p->L[k].in_grad_of == i)
                item(f, &n, "%s%s%s by %s", l->dy_cast_by_output ? "dy cast" : "",
                        l->dy_cast_by_output && l->db_by_output ? " and " : "",
                        l->db_by_output ? "bias gradient" : "", spec->layers[k].name);
        if (l->dx_codes) item(f, &n, "dx as %s codes", fname(pt_gemm_out_format(l->fmt.dgrad)));
        if (l->x_t || l->w_t || l->dy_t)
            item(f, &n, "transposed copies:%s%s%s", l->x_t ? " x" : "", l->w_t ? " w" : "", l->dy_t ? " dy" : "");
        if (l->x_codes) item(f, &n, "reads x as codes");
        if (l->dy_codes) item(f, &n, "reads dy as codes");
        if (l->cast_for >= 0) item(f, &n, "writes %s's x cast (%s)", spec->layers[l->cast_for].name,
                                      fname(p->L[l->cast_for].fmt.fwd));
        if (l->in_grad_of >= 0)
            item(f, &n, "writes %s's %s%s%s", spec->layers[l->in_grad_of].name,
                    l->in_grad_fmt != PT_FMT_FP32 ? "dy cast" : "",
                    l->in_grad_fmt != PT_FMT_FP32 && p->L[l->in_grad_of].db_by_output ? " and " : "",
                    p->L[l->in_grad_of].db_by_output ? "bias gradient" : "");
        if (l->y_unwritten) item(f, &n, "y left to materialize");
        if (l->dx_unwritten) item(f, &n, "dx left to materialize");
        fputc('\n', f);
    }
}
