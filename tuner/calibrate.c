/* `prectune tune --calibrate FILE`: the cost model's device table measured
 * with prectune's own backend on the device that will train, instead of
 * the shipped one (measured with PyTorch): each format's GEMM throughput
 * over the three layouts a training step uses (forward, input gradient,
 * weight gradient; for fp8 the backward ones are e5m2 x e4m3, transposes
 * included), and the copy bandwidth. Written as policies/devices/ tables
 * are, atomically. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/atomic_file.h"
#include "../common/clock.h"
#include "../kernels/ops.h"
#include "prectune/tuner.h"
#include "prectune/version.h"


/* Seconds per call of `g` into c, after two warm-up calls. */
static pt_status time_gemm(pt_backend *be, const pt_gemm *g, float *c, int reps, double *secs)
{
    pt_status st = PT_OK;
    for (int i = 0; i < 2 && !st; i++) st = pt_backend_gemm(be, g, c);
    if (!st) st = pt_backend_sync(be);
    double t0 = pt_now_s();
    for (int i = 0; i < reps && !st; i++) st = pt_backend_gemm(be, g, c);
    if (!st) st = pt_backend_sync(be);
    *secs = (pt_now_s() - t0) / reps;
    return st;
}

pt_status pt_device_calibrate(pt_backend *be, pt_device_table *t)
{
    memset(t, 0, sizeof *t);
    /* a size where the device's GEMMs run near their peak (a CPU's in seconds) */
    int s = pt_backend_is_device(be) ? 4096 : 512, reps = pt_backend_is_device(be) ? 10 : 2;
    size_t nn = (size_t)s * s;
    void *a = NULL, *b = NULL, *a8 = NULL, *b8 = NULL, *g8 = NULL;
    float *c = NULL, *scale = NULL;
    pt_status st;
    if ((st = pt_backend_alloc(be, nn * 4, &a)) || (st = pt_backend_alloc(be, nn * 4, &b)) ||
        (st = pt_backend_alloc(be, nn * 4, (void **)&c)) || (st = pt_backend_alloc(be, nn * 4, &a8)) ||
        (st = pt_backend_alloc(be, nn * 4, &b8)) || (st = pt_backend_alloc(be, nn * 4, &g8)) ||
        (st = pt_backend_alloc(be, 16, (void **)&scale)))
        goto out;
    /* operands of 0.5: finite in every format, and every product too */
    float *h = malloc(nn * 4);
    if (!h) {
        st = pt_fail(PT_ERR_NOMEM, "calibration: out of memory");
        goto out;
    }
    for (size_t i = 0; i < nn; i++) h[i] = 0.5f;
    const float one[4] = {1, 1, 1, 1};
    st = pt_backend_upload(be, a, h, nn * 4);
    if (!st) st = pt_backend_upload(be, b, h, nn * 4);
    if (!st) st = pt_backend_upload(be, scale, one, sizeof one);
    free(h);
    const pt_format fmts[] = {PT_FMT_FP32, PT_FMT_TF32, PT_FMT_BF16, PT_FMT_FP16, PT_FMT_E4M3};
    for (size_t fi = 0; !st && fi < sizeof fmts / sizeof fmts[0]; fi++) {
        pt_format f = fmts[fi], fg = f == PT_FMT_E4M3 ? PT_FMT_E5M2 : f; /* the backward's gradient operand */
        bool cast = f != PT_FMT_FP32 && f != PT_FMT_TF32;
        const void *pa = a, *pb = b, *pg = a;
        if (cast) {
            if ((st = pt_backend_cast(be, f, a, a8, nn, NULL, NULL, 0)) ||
                (st = pt_backend_cast(be, f, b, b8, nn, NULL, NULL, 0)) ||
                (fg != f && (st = pt_backend_cast(be, fg, a, g8, nn, NULL, NULL, 0))))
                break;
            pa = a8, pb = b8, pg = fg == f ? a8 : g8;
        }
        const float *sc = f == PT_FMT_E4M3 ? scale : NULL;
        /* the transposed copies a training step's fp8 casts write for the
         * backward (pt_backend_fp8_twins): of a square matrix of one value,
         * the matrix itself */
        bool tw = f == PT_FMT_E4M3 && pt_backend_fp8_twins(be);
        const void *ta = tw ? pa : NULL, *tb = tw ? pb : NULL, *tg = tw ? pg : NULL;
        /* forward x W^T, input gradient dy W, weight gradient dy^T x */
        pt_gemm gs[3] = {
            {.m = s, .n = s, .k = s,
             .a = {.data = pa, .fmt = f, .scale_inv = sc, .data_t = ta},
             .b = {.data = pb, .fmt = f, .scale_inv = sc, .trans = true, .data_t = tb},
             .out_fmt = PT_FMT_FP32},
            {.m = s, .n = s, .k = s,
             .a = {.data = pg, .fmt = fg, .scale_inv = sc, .data_t = tg},
             .b = {.data = pb, .fmt = f, .scale_inv = sc, .data_t = tb},
             .out_fmt = PT_FMT_FP32},
            {.m = s, .n = s, .k = s,
             .a = {.data = pg, .fmt = fg, .scale_inv = sc, .trans = true, .data_t = tg},
             .b = {.data = pa, .fmt = f, .scale_inv = sc, .data_t = ta},
             .out_fmt = PT_FMT_FP32}};
        double total = 0;
        for (int k = 0; k < 3 && !st; k++) {
            double secs;
            st = time_gemm(be, &gs[k], c, reps, &secs);
            total += secs;
        }
        if (!st) t->tflops[f] = 3 * 2.0 * (double)s * s * s / total / 1e12;
    }
    t->tflops[PT_FMT_E5M2] = t->tflops[PT_FMT_E4M3];
    if (!st) { /* copy bandwidth, bytes read + written */
        size_t bytes = nn * 4;
        st = pt_backend_copy(be, c, a, bytes);
        if (!st) st = pt_backend_sync(be);
        double t0 = pt_now_s();
        for (int i = 0; i < 2 * reps && !st; i++) st = pt_backend_copy(be, i % 2 ? a : c, i % 2 ? c : a, bytes);
        if (!st) st = pt_backend_sync(be);
        t->gbs = 2.0 * (double)bytes * 2 * reps / (pt_now_s() - t0) / 1e9;
    }
    if (!st) {
        time_t now = time(NULL);
        char day[16];
        strftime(day, sizeof day, "%Y-%m-%d", localtime(&now));
        snprintf(t->name, sizeof t->name, "%s (calibrated by prectune %s, %s)", pt_backend_name(be), PT_VERSION_STRING,
                 day);
        /* a device whose convolutions go to cuDNN (on the CPU they are im2col GEMMs either way) */
        t->cudnn_conv = pt_backend_is_device(be) && pt_backend_supports(be, PT_OP_CONV, PT_FMT_BF16);
    }
out:
    pt_backend_free(be, a), pt_backend_free(be, b), pt_backend_free(be, c);
    pt_backend_free(be, a8), pt_backend_free(be, b8), pt_backend_free(be, g8), pt_backend_free(be, scale);
    return st;
}

pt_status pt_device_table_write(const pt_device_table *t, const char *path)
{
    cJSON *o = cJSON_CreateObject(), *g;
    cJSON_AddStringToObject(o, "device", t->name);
    cJSON_AddStringToObject(o, "measured_with", "prectune tune --calibrate (its own backend, 3 GEMM layouts)");
    g = cJSON_AddObjectToObject(o, "gemm_tflops");
    static const char *const keys[] = {"fp32", "tf32", "bf16", "fp16", "fp8_e4m3"};
    for (int f = 0; f < 5; f++) cJSON_AddNumberToObject(g, keys[f], t->tflops[f]);
    cJSON_AddNumberToObject(o, "copy_gb_per_s", t->gbs);
    cJSON_AddBoolToObject(o, "cudnn_convolutions", t->cudnn_conv);
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text) return pt_fail(PT_ERR_NOMEM, "%s: out of memory", path);
    pt_status st = pt_write_file_atomic(path, text, strlen(text));
    free(text);
    return st;
}
