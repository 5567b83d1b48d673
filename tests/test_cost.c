/* The cost model's rules for convolutions, checked against figures derived
 * by hand from the rules the trainer follows (tuner/cost.c,
 * the step plan's conv_direct): on a device whose convolutions go to cuDNN, one of 1
 * GFLOP a step or more runs fp32 at the fp32 rate and every other format at
 * the TF32 rate (operands decoded to fp32: exact products); a smaller one,
 * an fp8 one, or any on a device without cuDNN runs as im2col GEMMs at its
 * format's rate. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "check_run.h"
#include "prectune/policy.h"
#include "prectune/tuner.h"

/* one 3x3 convolution with padding, 64 -> 128 channels on 32x32, batch 256:
 * the forward is 2 * (256*32*32) * 128 * (64*9) = 38.7 GFLOP; the same
 * shape at batch 4 is 0.60 GFLOP */
static void conv_model(int batch, pt_model_spec *m)
{
    char json[512];
    snprintf(json, sizeof json,
             "{\"name\": \"c\", \"input\": [64, 32, 32], \"layers\": ["
             "{\"name\": \"conv\", \"type\": \"conv2d\", \"out\": 128, \"kernel\": 3, \"padding\": 1},"
             "{\"name\": \"flat\", \"type\": \"flatten\"}, {\"name\": \"head\", \"type\": \"linear\", \"out\": 10}],"
             "\"train\": {\"batch\": %d}}", batch);
    ck_assert_int_eq(pt_model_spec_parse(json, "c.json", m), PT_OK);
}

static void policy_all(pt_format f, pt_policy *p)
{
    pt_policy_init_fp32(p);
    p->def = (pt_layer_formats){f, f, f};
}

static double gemm_ms(const pt_model_spec *m, pt_format f, const pt_device_table *dev)
{
    pt_policy p;
    policy_all(f, &p);
    pt_cost c;
    pt_cost_estimate(m, &p, dev, &c);
    pt_policy_free(&p);
    return c.gemm_ms;
}

START_TEST(test_conv_rates)
{
    unsetenv("PRECTUNE_CUDNN");
    pt_device_table dev;
    pt_device_table_h100(&dev);
    ck_assert(dev.cudnn_conv);
    pt_model_spec big, small;
    conv_model(256, &big), conv_model(4, &small);
    /* the convolution's three GEMMs (its input gradient is none: it is the
     * first layer), plus the head's three, by hand */
    double conv_f = 2.0 * 256 * 1024 * 128 * 576, head_f = 2.0 * 256 * 10 * (128 * 1024);
    double want32 = 2 * conv_f / (dev.tflops[PT_FMT_FP32] * 1e9) + 3 * head_f / (dev.tflops[PT_FMT_FP32] * 1e9);
    ck_assert_double_eq_tol(gemm_ms(&big, PT_FMT_FP32, &dev), want32, 1e-9 * want32);
    /* bf16 and fp16 convolutions on cuDNN go at the TF32 rate; the head at its own */
    double want16 = 2 * conv_f / (dev.tflops[PT_FMT_TF32] * 1e9) + 3 * head_f / (dev.tflops[PT_FMT_BF16] * 1e9);
    ck_assert_double_eq_tol(gemm_ms(&big, PT_FMT_BF16, &dev), want16, 1e-9 * want16);
    /* fp8 stays on im2col + fp8 GEMMs */
    double want8 = 2 * conv_f / (dev.tflops[PT_FMT_E4M3] * 1e9) + 3 * head_f / (dev.tflops[PT_FMT_E4M3] * 1e9);
    ck_assert_double_eq_tol(gemm_ms(&big, PT_FMT_E4M3, &dev), want8, 1e-9 * want8);
    /* the small one is im2col GEMMs at bf16's rate */
    double cs = 2.0 * 4 * 1024 * 128 * 576, hs = 2.0 * 4 * 10 * (128 * 1024);
    double wants = 2 * cs / (dev.tflops[PT_FMT_BF16] * 1e9) + 3 * hs / (dev.tflops[PT_FMT_BF16] * 1e9);
    ck_assert_double_eq_tol(gemm_ms(&small, PT_FMT_BF16, &dev), wants, 1e-9 * wants);
    /* PRECTUNE_CUDNN=1 puts it on cuDNN too, =0 takes every one off */
    setenv("PRECTUNE_CUDNN", "1", 1);
    double wantd = 2 * cs / (dev.tflops[PT_FMT_TF32] * 1e9) + 3 * hs / (dev.tflops[PT_FMT_BF16] * 1e9);
    ck_assert_double_eq_tol(gemm_ms(&small, PT_FMT_BF16, &dev), wantd, 1e-9 * wantd);
    setenv("PRECTUNE_CUDNN", "0", 1);
    double wanti = 2 * conv_f / (dev.tflops[PT_FMT_BF16] * 1e9) + 3 * head_f / (dev.tflops[PT_FMT_BF16] * 1e9);
    ck_assert_double_eq_tol(gemm_ms(&big, PT_FMT_BF16, &dev), wanti, 1e-9 * wanti);
    unsetenv("PRECTUNE_CUDNN");
    /* a device without cuDNN (a table of an earlier version): im2col GEMMs */
    dev.cudnn_conv = false;
    ck_assert_double_eq_tol(gemm_ms(&big, PT_FMT_BF16, &dev), wanti, 1e-9 * wanti);
    pt_model_spec_free(&big), pt_model_spec_free(&small);
}
END_TEST

/* On cuDNN the passes are different ones: no columns (im2col, col2im) but
 * the operands' decodes. For a bf16 convolution both are hand-derived. */
START_TEST(test_conv_passes)
{
    unsetenv("PRECTUNE_CUDNN");
    pt_device_table dev;
    pt_device_table_h100(&dev);
    pt_model_spec m;
    conv_model(256, &m);
    pt_policy p;
    policy_all(PT_FMT_BF16, &p);
    pt_cost on, off;
    pt_cost_estimate(&m, &p, &dev, &on);
    dev.cudnn_conv = false;
    pt_cost_estimate(&m, &p, &dev, &off);
    double mm = 256.0 * 1024, n = 128, k = 576, xin = 256.0 * 64 * 1024, w = n * k, gbs = dev.gbs * 1e9;
    /* casts: cuDNN casts x, im2col its columns (2 + 4 bytes each); cuDNN
     * then decodes x and w, dy and x (2 + 4 bytes) */
    double d_cast = ((xin - mm * k) * 6 + ((xin + w) + (mm * n + xin)) * 6) / gbs * 1e3;
    ck_assert_double_eq_tol(on.cast_ms - off.cast_ms, d_cast, 1e-9 * fabs(d_cast) + 1e-12);
    /* passes: the bias gradient's rows (8 bytes) instead of im2col, col2im and the two layouts */
    double d_pass = (mm * n * 8 - (2 * (mm * k * 8) + 2 * (mm * n * 8))) / gbs * 1e3;
    ck_assert_double_eq_tol(on.pass_ms - off.pass_ms, d_pass, 1e-9 * fabs(d_pass) + 1e-12);
    /* the forward's input kept: x (2 bytes) instead of its columns */
    ck_assert_double_eq_tol(off.activation_bytes - on.activation_bytes, (mm * k - xin) * 2, 1e-6);
    pt_policy_free(&p);
    pt_model_spec_free(&m);
}
END_TEST

/* a token model's GEMMs: each linear layer's over batch x T rows, and
 * attention's two per head (qk: [T, hd] x [hd, T], pv: [T, T] x [T, hd]),
 * three GEMMs each (every layer here has an input gradient), by hand */
START_TEST(test_attention_flops)
{
    pt_model_spec m;
    ck_assert_int_eq(pt_model_spec_parse("{\"name\": \"g\", \"input\": [128], \"layers\": ["
                                         "{\"name\": \"wte\", \"type\": \"embedding\", \"vocab\": 512, \"out\": 64},"
                                         "{\"name\": \"a\", \"type\": \"attention\", \"heads\": 4},"
                                         "{\"name\": \"head\", \"type\": \"linear\", \"out\": 512, \"bias\": false}],"
                                         "\"train\": {\"batch\": 16}}",
                                         "g.json", &m),
                     PT_OK);
    pt_device_table dev;
    pt_device_table_h100(&dev);
    double b = 16, T = 128, d = 64, hd = 16, H = 4, V = 512;
    double flops = 3 * 2 * b * T * (3 * d * d + d * d + V * d) + 2 * 3 * 2 * b * H * T * T * hd;
    double want = flops / (dev.tflops[PT_FMT_FP32] * 1e9);
    ck_assert_double_eq_tol(gemm_ms(&m, PT_FMT_FP32, &dev), want, 1e-9 * want);
    ck_assert(gemm_ms(&m, PT_FMT_BF16, &dev) < 0.5 * want);
    pt_model_spec_free(&m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cost");
    TCase *tc = tcase_create("cost");
    tcase_add_test(tc, test_conv_rates);
    tcase_add_test(tc, test_attention_flops);
    tcase_add_test(tc, test_conv_passes);
    suite_add_tcase(s, tc);
    return pt_check_run(s, CK_NOFORK);
}
