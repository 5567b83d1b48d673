/* The cost model: what a training step costs on the target device under a
 * policy. GEMM FLOPs per layer and role at the measured throughput of the
 * role's format, the casts a low-precision GEMM needs (read fp32, write
 * the format) and the fp32 optimizer traffic (master weights, gradients,
 * two moments) at the measured bandwidth. The throughputs are the table
 * bench/device_throughput.py measured (policies/devices/). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/ops.h"
#include "prectune/tuner.h"

#include "../instrument/plan.h"

void pt_device_table_h100(pt_device_table *t)
{
    /* policies/devices/h100.json, 2026-11-23: 8192^3 GEMMs, torch 2.11 */
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "NVIDIA H100 80GB HBM3 (measured 2026-11-23)");
    t->tflops[PT_FMT_FP32] = 51.7;
    t->tflops[PT_FMT_TF32] = 395.7;
    t->tflops[PT_FMT_BF16] = 784.1;
    t->tflops[PT_FMT_FP16] = 754.6;
    t->tflops[PT_FMT_E4M3] = 1418.0;
    t->tflops[PT_FMT_E5M2] = 1418.0;
    t->gbs = 3000.7;
    t->cudnn_conv = true;
}

pt_status pt_device_table_load(const char *path, pt_device_table *t)
{
    char *text;
    pt_status st = pt_read_file(path, &text, NULL);
    if (st) return st;
    cJSON *root = cJSON_Parse(text);
    free(text);
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(root, "gemm_tflops");
    const cJSON *bw = cJSON_GetObjectItemCaseSensitive(root, "copy_gb_per_s");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "device");
    const cJSON *dnn = cJSON_GetObjectItemCaseSensitive(root, "cudnn_convolutions");
    memset(t, 0, sizeof *t);
    bool dnn_bad = dnn && !cJSON_IsBool(dnn);
    t->cudnn_conv = cJSON_IsTrue(dnn); /* absent (tables of earlier versions): im2col GEMMs */
    static const char *const keys[PT_FMT_COUNT] = {"fp32", "tf32", "bf16", "fp16", "fp8_e4m3", "fp8_e4m3"};
    for (int f = 0; g && f < PT_FMT_COUNT; f++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(g, keys[f]);
        t->tflops[f] = cJSON_IsNumber(v) ? v->valuedouble : 0;
    }
    t->gbs = cJSON_IsNumber(bw) ? bw->valuedouble : 0;
    snprintf(t->name, sizeof t->name, "%s", cJSON_IsString(name) ? name->valuestring : path);
    cJSON_Delete(root);
    for (int f = 0; f < PT_FMT_COUNT; f++)
        if (!(t->tflops[f] > 0))
            return pt_fail(PT_ERR_INVALID, "%s: gemm_tflops.%s: expected a positive number", path, keys[f]);
    if (!(t->gbs > 0)) return pt_fail(PT_ERR_INVALID, "%s: copy_gb_per_s: expected a positive number", path);
    if (dnn_bad) return pt_fail(PT_ERR_INVALID, "%s: cudnn_convolutions: expected true or false", path);
    return PT_OK;
}

static bool low(pt_format f) { return f != PT_FMT_FP32 && f != PT_FMT_TF32; }
static bool fp8(pt_format f) { return f == PT_FMT_E4M3 || f == PT_FMT_E5M2; }

/* A convolution's throughput: on cuDNN, fp32 runs on FMA kernels and every
 * other format on TF32 tensor cores (the operands decoded to fp32: exact
 * products); as im2col GEMMs, the format's own. */
static double conv_rate(const pt_device_table *dev, pt_format f, bool direct)
{
    return !direct ? dev->tflops[f] : f == PT_FMT_FP32 ? dev->tflops[PT_FMT_FP32] : dev->tflops[PT_FMT_TF32];
}

/* Bytes per value of making an operand fp32 for cuDNN: a 16-bit one read
 * and written as fp32; a tf32 one copied and rounded in place. */
static double decode_bytes(pt_format f)
{
    return f == PT_FMT_FP32 ? 0 : f == PT_FMT_TF32 ? 16 : 2 + 4;
}

/* The passes over memory a step makes besides the GEMMs, as the step plan
 * (instrument/plan.h) has the trainer make them: each costs its bytes at
 * the measured bandwidth. Per GEMM layer: the casts of its operands (read
 * fp32, write the format; counted so also where an activation makes the
 * cast in its own pass, which stands in for the launches this model does
 * not count), the rounding of a low-precision GEMM's fp32 output to its
 * output format (read + write; none where the GEMM writes 16-bit codes
 * for an activation), the bias gradient (read dy; none where the
 * activation sums it) and, for fp8, the byte transposes that put the
 * backward GEMMs' operands in the layout the fp8 kernels take (counted as
 * passes of their own, read + write, though the plan has the casts write
 * them: an over-count the model keeps, its fp8 estimates having measured
 * exact with it). Per other layer: the forward (read its input, write its
 * output: not where the plan leaves the output unwritten) and the
 * backward (read input and output gradient, write the input gradient: not
 * where the plan leaves it unwritten). Per step: the batch gather, the
 * gradients checked (read; and written back unscaled under a loss scale),
 * and AdamW over the fp32 master state (read w, g, m, v; write w, m, v),
 * which also writes the weights' 16-bit copy where the plan has one. */
void pt_cost_estimate(const pt_model_spec *spec, const pt_policy *p, const pt_device_table *dev,
                      pt_cost *out)
{
    memset(out, 0, sizeof *out);
    /* the trainer's plan on this device: convolutions on cuDNN where it
     * has them, in no fp8 format */
    pt_plan_caps caps = {.fp8_twins = true};
    for (int f = 0; f < PT_FMT_COUNT; f++) caps.conv[f] = dev->cudnn_conv && !fp8((pt_format)f);
    pt_plan plan;
    if (pt_plan_build(spec, p, &caps, spec->train.batch, true, &plan)) return; /* out of memory: no estimate */
    double b = spec->train.batch, params = 0, input = 1, pass_bytes = 0;
    pt_format w16 = plan.w16_fmt;
    for (int d = 0; d < spec->ninput; d++) input *= spec->input[d];
    for (int i = 0; i < spec->nlayers; i++) {
        const pt_layer_spec *l = &spec->layers[i];
        int j = l->in_index[0];
        double in = j < 0 ? input : (double)spec->layers[j].size;
        double out_sz = (double)l->size;
        double seq = l->seq > 1 ? l->seq : 1, in_seq = j >= 0 && spec->layers[j].seq > 1 ? spec->layers[j].seq : 1;
        double width = out_sz / seq;
        bool first = j < 0; /* no input gradient to compute */
        if (!pt_layer_has_gemm(l->type)) {
            out->activation_bytes += b * in * 4;
            if (l->type == PT_LAYER_LAYERNORM) params += 2 * width;
            if (l->type == PT_LAYER_RMSNORM) params += width;
            if (l->type == PT_LAYER_EMBEDDING) params += (double)l->vocab * width;
            if (l->type == PT_LAYER_POSITION) params += (double)l->context * width;
            if (l->type != PT_LAYER_FLATTEN) pass_bytes += b * (in + out_sz) * 4 + b * (in + 2 * out_sz) * 4;
            if (plan.L[i].y_unwritten) pass_bytes -= b * out_sz * 4;
            if (plan.L[i].dx_unwritten) pass_bytes -= b * in * 4;
            continue;
        }
        const pt_plan_layer *pl = &plan.L[i];
        pt_layer_formats f = pl->fmt;
        double m, n, k; /* GEMM shape of the forward */
        double xin = b * in; /* the layer's input */
        if (l->type == PT_LAYER_LINEAR) m = b * in_seq, n = l->out, k = in / in_seq;
        else if (l->type == PT_LAYER_ATTN_QK || l->type == PT_LAYER_ATTN_PV) {
            /* the heads' products, counted as one GEMM of the same flops and operand sizes:
             * qk [b h T, T] = [b h T, hd] x [hd, T]; pv [b h T, hd] = [b h T, T] x [T, hd] */
            double t = l->type == PT_LAYER_ATTN_QK ? l->shape[1] : l->shape[0];
            double d = l->type == PT_LAYER_ATTN_QK ? in / in_seq / 3 : l->shape[1], hd = d / l->heads;
            m = b * l->heads * t;
            n = l->type == PT_LAYER_ATTN_QK ? t : hd;
            k = l->type == PT_LAYER_ATTN_QK ? hd : t;
        } else {
            const int *ish = j < 0 ? spec->input : spec->layers[j].shape;
            m = b * l->shape[1] * l->shape[2], n = l->out, k = (double)ish[0] * l->kernel * l->kernel;
        }
        bool attn = l->type == PT_LAYER_ATTN_QK || l->type == PT_LAYER_ATTN_PV;
        /* the second operand: a weight, or attention's k or v (an activation, per sample and head) */
        double w = attn ? b * l->heads * k * n : n * k;
        if (pt_layer_has_weights(l->type)) params += (l->tie[0] ? 0 : w) + (l->bias ? n : 0);
        double flops = 2 * m * n * k;
        bool conv = l->type == PT_LAYER_CONV2D, direct = pl->conv_direct;
        double xop = conv && !direct ? m * k : xin; /* the x operand: im2col's columns, or x */
        out->gemm_ms += flops / (conv_rate(dev, f.fwd, direct) * 1e12) * 1e3;
        out->gemm_ms += flops / (conv_rate(dev, f.wgrad, direct) * 1e12) * 1e3;
        if (!first) out->gemm_ms += flops / (conv_rate(dev, f.dgrad, direct) * 1e12) * 1e3;
        /* casts: read fp32, write the format */
        double cast_bytes = 0;
        bool w_copy = pl->w_from_copy; /* AdamW writes its weights' cast */
        if (low(f.fwd)) cast_bytes += (xop + (w_copy ? 0 : w)) * (4 + pt_format_info(f.fwd)->storage_bytes);
        if (low(f.dgrad) && !first) cast_bytes += m * n * (4 + pt_format_info(f.dgrad)->storage_bytes);
        if (low(f.wgrad) && (f.wgrad != f.dgrad || first)) cast_bytes += m * n * (4 + pt_format_info(f.wgrad)->storage_bytes);
        /* outputs rounded to the output format (a pass, or none where the
         * activation rounds them as it reads them; a convolution's input
         * gradient once, after its columns are folded back); fp8 backward
         * operands transposed */
        if (low(f.fwd)) cast_bytes += m * n * (pl->y_codes ? 0 : 8);
        if (low(f.dgrad) && !first) cast_bytes += conv ? xin * 8 : m * k * (pl->dx_codes ? 0 : 8);
        if (fp8(f.wgrad)) cast_bytes += 2 * (m * k + m * n);
        if (fp8(f.dgrad) && !first) cast_bytes += 2 * w;
        /* on cuDNN, each convolution's two operands are made fp32 first */
        if (direct) {
            cast_bytes += (xin + w) * decode_bytes(f.fwd) + (m * n + xin) * decode_bytes(f.wgrad);
            if (!first) cast_bytes += (m * n + w) * decode_bytes(f.dgrad);
        }
        out->cast_ms += cast_bytes / (dev->gbs * 1e9) * 1e3;
        if (l->bias && !pl->db_by_output) pass_bytes += m * n * 4;
        if (conv) /* im2col, col2im and the output's two layouts; on cuDNN the bias gradient's rows */
            pass_bytes += direct ? (l->bias ? m * n * 8 : 0) : 2 * (m * k * 8) + 2 * (m * n * 8);
        /* the forward's input kept for the weight gradient, in its format */
        out->activation_bytes += xop * (low(f.fwd) ? pt_format_info(f.fwd)->storage_bytes : 4);
    }
    bool scaled = p->loss_scale.mode != PT_SCALE_NONE;
    pass_bytes += b * input * 8 + params * (scaled ? 8 : 4); /* gather; check (and unscale) */
    /* AdamW over fp32 master state: read w, g, m, v; write w, m, v (and the 16-bit copy) */
    out->optimizer_ms = params * (4 * 7 + (w16 != PT_FMT_FP32 ? 2 : 0)) / (dev->gbs * 1e9) * 1e3;
    out->pass_ms = pass_bytes / (dev->gbs * 1e9) * 1e3;
    out->step_ms = out->gemm_ms + out->cast_ms + out->pass_ms + out->optimizer_ms;
    pt_plan_free(&plan);
}
