/* Every training op on the CUDA backend against the CPU reference, on the
 * same inputs, as a table of cases in the manner of ggml's
 * test-backend-ops: each case names its op, shape, formats, variant and
 * seed, and the bound of its comparison with where that bound comes from;
 * a small driver runs them (ops_*.c hold one function a kind of case).
 * Odd and larger shapes, every format for the GEMM and the casts, NaN/inf
 * positions compared exactly, values by a scale-aware error (NMSE), guard
 * bytes around every buffer (an op that writes past its output fails),
 * every return code checked. The fused activation passes are also
 * compared, on the CPU alone, with the unfused sequence of ops (act_seq).
 * The whole-training agreements are in test_train_agrees.c.
 *
 *   test_backend_ops [-o OP[,OP...]] [-f FORMAT] [--quick] [--cpu] [--list] [-v]
 *
 * -o: these op families only; -f: cases with this format (either
 * operand); --quick: the subset run after each change (every op family
 * and format, at one odd and one moderate shape); --cpu: the cases that
 * need no GPU; --list: the selected cases, with their seeds and bounds;
 * --cpu-as-device: the CPU backend in the tested one's place (a check of
 * the cases and the driver on a machine without a GPU; what the CUDA
 * backend alone does, such as the count of emulated fp8 GEMMs, is not
 * checked). Without a CUDA device, a selection with GPU cases exits 77
 * (CTest: skipped), saying why.
 *
 * Ops of the backend with no case here: pt_backend_acc, pt_backend_scale,
 * pt_backend_copy, pt_backend_fp8_scale and pt_backend_fp8_record one by
 * one (the batched _many forms are compared), pt_backend_decode on the
 * device (the cases decode on the CPU), pt_backend_rows_to_nchw's
 * backward, layer norm in bf16 (fp32 and fp16 are compared), the loss of
 * pt_backend_mse (its gradient is compared), pt_backend_cast alone (in
 * test_cuda_cast, and here against the fused passes and cast_t), and the
 * statistics (test_cuda_stats). */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "gpu_skip.h"
#include "op_test.h"

extern uint64_t op_rng_state;

static op_case *cases;
static int ncases, capcases;

/* the FNV-1a hash of a case's name: its seed, unless the table gives one */
static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

static const char *fmt_name(pt_format f) { return f == OP_NOFMT ? "-" : pt_format_info(f)->name; }

/* one case: its name is op, shape, formats, then the variant's words */
static void add(op_case c, const char *variant, ...)
{
    if (ncases == capcases) {
        capcases = capcases ? 2 * capcases : 256;
        cases = realloc(cases, capcases * sizeof *cases);
        if (!cases) abort();
    }
    int len = snprintf(c.name, sizeof c.name, "%s ", c.op), last = 8;
    while (last > 0 && !c.shape[last]) last--;
    for (int i = 0; i <= last; i++) len += snprintf(c.name + len, sizeof c.name - len, i ? "x%d" : "%d", c.shape[i]);
    len += snprintf(c.name + len, sizeof c.name - len, " %s", fmt_name(c.fa));
    if (c.fb != c.fa) len += snprintf(c.name + len, sizeof c.name - len, "/%s", fmt_name(c.fb));
    if (variant && *variant) {
        va_list ap;
        va_start(ap, variant);
        len += snprintf(c.name + len, sizeof c.name - len, " ");
        vsnprintf(c.name + len, sizeof c.name - len, variant, ap);
        va_end(ap);
    }
    if (!c.seed) c.seed = fnv1a(c.name);
    cases[ncases++] = c;
}

/* fp32: accumulation order only (~k * 2^-24 relative); tf32: the
 * hardware's conversion of fp32 inputs may differ from round-to-nearest-
 * even in the last tf32 bit (2^-11); rounded outputs: one ulp of the
 * output format (bf16 1e-4, fp16 1e-6); fp8 kernels with an fp32 output:
 * Hopper's fp8 tensor cores add partial sums at reduced precision before
 * promoting them to fp32 (1e-6) */
static double gemm_nmse(pt_format fa, pt_format fb, int m, int n, int k, bool beta1)
{
    bool fp8 = pt_format_info(fa)->bits == 8;
    pt_format out = beta1 ? PT_FMT_FP32 : fp8 ? PT_FMT_BF16 : fa == PT_FMT_TF32 ? PT_FMT_FP32 : fa;
    bool fits = fp8 && m % 16 == 0 && n % 16 == 0 && k % 16 == 0 && !(fa == PT_FMT_E5M2 && fb == PT_FMT_E5M2);
    return out == PT_FMT_BF16 ? 1e-4 : out == PT_FMT_FP16 ? 1e-6 : fa == PT_FMT_TF32 ? 1e-5 : fits ? 1e-6 : 1e-10;
}

static void gemm4(pt_format fa, pt_format fb, const int *s, bool bias, bool quick)
{
    for (int tr = 0; tr < 4; tr++) {
        bool beta1 = tr == 3;
        add((op_case){.op = "gemm", .run = op_gemm, .shape = {s[0], s[1], s[2]}, .fa = fa, .fb = fb,
                      .arg = {tr & 1, (tr & 2) != 0, beta1}, .flags = bias ? OP_BIAS : 0,
                      .nmse = gemm_nmse(fa, fb, s[0], s[1], s[2], beta1), .quick = quick},
            "ta=%d tb=%d beta=%d bias=%d", tr & 1, (tr & 2) != 0, beta1, bias);
    }
}

static void gemm_cases(void)
{
    /* 7x5x33: odd, emulated fp8; 64x48x1024: fp8 kernels fit (quick) */
    const int shapes[][3] = {{1, 1, 1}, {7, 5, 33}, {33, 17, 100}, {64, 48, 1000}, {300, 257, 129}, {64, 48, 1024},
                             {256, 128, 512}};
    for (int f = 0; f < PT_FMT_COUNT; f++)
        for (int s = 0; s < 7; s++) gemm4((pt_format)f, (pt_format)f, shapes[s], s % 2, s == 1 || s == 5);
    /* the hybrid recipe's backward GEMMs: e5m2 gradients with e4m3 copies, both ways round */
    for (int s = 0; s < 7; s++) {
        gemm4(PT_FMT_E5M2, PT_FMT_E4M3, shapes[s], false, s == 1 || s == 5);
        gemm4(PT_FMT_E4M3, PT_FMT_E5M2, shapes[s], true, s == 1 || s == 5);
    }
    /* descales that are not 16-byte aligned, and the benchmark MLP's first
     * layer (4096 x 4096 x 1024); its backward's fp8 GEMM */
    struct { int m, n, k, ta, tb, beta1, bias, misaligned; pt_format fa, fb; } big[] = {
        {256, 128, 512, 0, 1, 0, 1, 1, PT_FMT_E4M3, PT_FMT_E4M3},
        {4096, 4096, 1024, 0, 1, 0, 1, 1, PT_FMT_E4M3, PT_FMT_E4M3},
        {4096, 4096, 1024, 0, 1, 0, 1, 0, PT_FMT_E4M3, PT_FMT_E4M3},
        {4096, 1024, 4096, 1, 0, 1, 0, 0, PT_FMT_E5M2, PT_FMT_E4M3},
        /* tf32 with neither operand k-contiguous (a weight gradient): the smaller one is transposed first,
         * a where m <= n (the MLP's head, 16 x 4096 x 4096), else b (its first layer, 4096 x 1024 x 4096) */
        {48, 300, 129, 1, 0, 1, 1, 0, PT_FMT_TF32, PT_FMT_TF32},
        {16, 4096, 4096, 1, 0, 0, 0, 0, PT_FMT_TF32, PT_FMT_TF32},
        {4096, 1024, 4096, 1, 0, 1, 0, 0, PT_FMT_TF32, PT_FMT_TF32},
    };
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++)
        add((op_case){.op = "gemm", .run = op_gemm, .shape = {big[i].m, big[i].n, big[i].k}, .fa = big[i].fa,
                      .fb = big[i].fb, .arg = {big[i].ta, big[i].tb, big[i].beta1},
                      .flags = (big[i].bias ? OP_BIAS : 0) | (big[i].misaligned ? OP_MISALIGNED : 0),
                      .nmse = gemm_nmse(big[i].fa, big[i].fb, big[i].m, big[i].n, big[i].k, big[i].beta1),
                      .quick = i == 0},
            "ta=%d tb=%d beta=%d bias=%d%s", big[i].ta, big[i].tb, big[i].beta1, big[i].bias,
            big[i].misaligned ? " misaligned descales" : "");
    /* the fp32 sum alone: a rounding of bf16 inputs' products in another order (1e-6) */
    const pt_format gf[] = {PT_FMT_BF16, PT_FMT_E4M3};
    for (int i = 0; i < 2; i++)
        add((op_case){.op = "gemm_deferred", .run = op_gemm_deferred, .shape = {64, 48, 32}, .fa = gf[i], .fb = gf[i],
                      .nmse = 1e-6, .quick = true},
            "bias");
    /* the bounds are in op_gemm_packed; the last: fp8 on a shape cuBLASLt's fp8 kernels do not take */
    const pt_format pf[] = {PT_FMT_BF16, PT_FMT_FP16, PT_FMT_E4M3, PT_FMT_E4M3};
    for (int i = 0; i < 4; i++)
        for (int wb = 0; wb < 2; wb++) {
            int m = i < 3 ? 128 : 100, nn = i < 3 ? 96 : 36, k = i < 3 ? 256 : 40;
            add((op_case){.op = "gemm_packed", .run = op_gemm_packed, .shape = {m, nn, k}, .fa = pf[i], .fb = pf[i],
                          .arg = {i == 3}, .flags = wb ? OP_BIAS : 0, .quick = true},
                "bias=%d", wb);
        }
}

static void act_cases(void)
{
    const pt_format casts[] = {PT_FMT_FP32, PT_FMT_BF16, PT_FMT_FP16, PT_FMT_E4M3, PT_FMT_E5M2};
    /* 68 x 132: whole words of rows in a partial tile of the rows kernels;
     * quick: 7 x 33 (one-value kernels) and 68 x 132. The output: NMSE
     * 1e-6 (erff and FMAs differ where gelu cancels) */
    const int tails[][2] = {{1, 1}, {7, 33}, {33, 100}, {5, 1000}, {68, 132}, {1024, 1024}};
    static const char *pass_name[] = {"fwd", "bwd (tail on dy)", "bwd (tail on x)"};
    for (int s = 0; s < 6; s++)
        for (int a = 0; a < 2; a++)
            for (int f = 0; f < 5; f++)
                for (int tk = 0; tk < 7; tk++)
                    for (int pass = 0; pass < 3; pass++)
                        add((op_case){.op = "act_tail", .run = op_act_tail, .shape = {tails[s][0], tails[s][1]},
                                      .fa = casts[f], .fb = casts[f], .arg = {a, tk, pass}, .nmse = 1e-6,
                                      .quick = s == 1 || s == 4},
                            "%s tail %d %s", a ? "gelu" : "relu", tk, pass_name[pass]);
    /* 68 x 1000: a partial chunk of rows and a partial column group (fp8's
     * transposed codes); bit for bit; quick: 7 x 40 and 68 x 1000 */
    const int packed[][2] = {{1, 8}, {7, 40}, {65, 1000}, {130, 4096}, {1024, 256}, {68, 1000}, {256, 4096}};
    const pt_format tfs[] = {PT_FMT_BF16, PT_FMT_FP16};
    for (int s = 0; s < 7; s++)
        for (int a = 0; a < 2; a++)
            for (int t = 0; t < 2; t++)
                for (int f = 0; f < 5; f++)
                    add((op_case){.op = "act_packed", .run = op_act_packed, .shape = {packed[s][0], packed[s][1]},
                                  .fa = tfs[t], .fb = casts[f], .arg = {a}, .quick = s == 1 || s == 5},
                        "%s", a ? "gelu" : "relu");
    /* one row of n; multiples of 4 take the four-a-thread kernels, the
     * others one value a thread; NaN and inf among x. act: erff/expf of
     * CUDA and glibc, within 2 ulp (1e-12); act_cast: bit for bit */
    const int sizes[] = {1, 7, 33, 1000, 100003, 100000};
    for (int s = 0; s < 6; s++)
        for (int a = 0; a < 2; a++) {
            bool quick = sizes[s] == 33 || sizes[s] == 1000;
            add((op_case){.op = "act", .run = op_act, .shape = {sizes[s]}, .fa = PT_FMT_FP32, .fb = PT_FMT_FP32,
                          .arg = {a}, .flags = OP_SPECIALS, .nmse = 1e-12, .quick = quick},
                "%s", a ? "gelu" : "relu");
            for (int bwd = 0; bwd < 2; bwd++)
                for (int f = 1; f < 5; f++)
                    add((op_case){.op = "act_cast", .run = op_act_cast, .shape = {sizes[s]}, .fa = casts[f],
                                  .fb = casts[f], .arg = {a, bwd}, .flags = OP_SPECIALS, .quick = quick},
                        "%s %s", a ? "gelu" : "relu", bwd ? "bwd" : "fwd");
        }
    /* on the CPU: fused against the unfused sequence, bit for bit */
    const int seq[][2] = {{1, 1}, {7, 33}, {33, 100}, {68, 132}};
    for (int s = 0; s < 4; s++)
        for (int a = 0; a < 2; a++)
            for (int bwd = 0; bwd < 2; bwd++)
                for (int f = 0; f < 5; f++)
                    for (int no_out = 0; no_out < (f ? 2 : 1); no_out++)
                        add((op_case){.op = "act_seq", .run = op_act_seq, .shape = {seq[s][0], seq[s][1]},
                                      .fa = casts[f], .fb = casts[f], .arg = {a, bwd, no_out}, .cpu_only = true,
                                      .quick = s == 1 || s == 3},
                            "%s %s%s", a ? "gelu" : "relu", bwd ? "bwd" : "fwd", no_out ? " cast alone" : "");
}

static void cast_cases(void)
{
    /* bit for bit; quick: 7 x 33 (not the rows kernel) and 130 x 256 */
    const int shapes[][2] = {{1, 1}, {7, 33}, {5, 100}, {68, 132}, {130, 256}, {1024, 4096}};
    const pt_format fmts[] = {PT_FMT_E4M3, PT_FMT_E5M2};
    for (int s = 0; s < 6; s++)
        for (int fi = 0; fi < 2; fi++)
            for (int sat = 0; sat < 2; sat++)
                add((op_case){.op = "cast_t", .run = op_cast_t, .shape = {shapes[s][0], shapes[s][1]},
                              .fa = fmts[fi], .fb = fmts[fi], .arg = {sat}, .quick = s == 1 || s == 4},
                    "%s", sat ? "saturating" : "");
    add((op_case){.op = "fp8_many", .run = op_fp8_many, .shape = {3}, .fa = PT_FMT_E4M3, .fb = PT_FMT_E5M2,
                  .quick = true},
        "9 steps");
}

static void elementwise_cases(void)
{
    const int sizes[] = {1, 7, 33, 1000, 100003, 100000};
    for (int s = 0; s < 6; s++) {
        int n = sizes[s];
        bool quick = n == 33 || n == 1000;
        /* the encoders agree bit for bit (test_cuda_formats) */
        for (int f = 0; f < PT_FMT_COUNT; f++)
            add((op_case){.op = "round", .run = op_round, .shape = {n}, .fa = (pt_format)f, .fb = (pt_format)f,
                          .flags = OP_SPECIALS, .nmse = 0, .quick = quick},
                "");
        /* fp64 sums in another order: 1e-12 relative (nmse holds that bound) */
        add((op_case){.op = "sum", .run = op_sum, .shape = {n}, .fa = PT_FMT_FP32, .fb = PT_FMT_FP32, .nmse = 1e-12,
                      .quick = quick},
            "");
        add((op_case){.op = "add", .run = op_add, .shape = {n}, .fa = PT_FMT_FP32, .fb = PT_FMT_FP32,
                      .flags = OP_SPECIALS, .nmse = 0, .quick = quick},
            "");
        for (int bwd = 0; bwd < 2; bwd++) /* one mask, exactly */
            add((op_case){.op = "dropout", .run = op_dropout, .shape = {n}, .fa = PT_FMT_FP32, .fb = PT_FMT_FP32,
                          .arg = {bwd}, .nmse = 0, .quick = quick},
                "%s", bwd ? "bwd" : "fwd");
        /* exactly; an inf among the gradients at n = 1000 */
        add((op_case){.op = "unscale", .run = op_unscale, .shape = {n}, .fa = PT_FMT_FP32, .fb = PT_FMT_FP32,
                      .flags = n == 1000 ? OP_SPECIALS : 0, .nmse = 0, .quick = quick},
            "");
        /* the same float formulas: 1e-14 (the gated steps 1e-13: FMAs) */
        add((op_case){.op = "optim", .run = op_optim, .shape = {n}, .fa = PT_FMT_FP32, .fb = PT_FMT_BF16,
                      .nmse = 1e-14, .quick = quick},
            "adamw sgd gates");
    }
}

static void rows_cases(void)
{
    /* quick: 7 x 10 and 512 x 1000 */
    const int rc[][2] = {{1, 3}, {7, 10}, {33, 129}, {512, 1000}, {300, 2048}};
    for (int t = 0; t < 5; t++) {
        bool quick = t == 1 || t == 3;
        /* fp32 against fp64-accumulated moments */
        add((op_case){.op = "layernorm", .run = op_layernorm, .shape = {rc[t][0], rc[t][1]}, .fa = PT_FMT_FP32,
                      .fb = PT_FMT_FP16, .nmse = 1e-11, .quick = quick},
            "");
        add((op_case){.op = "bias_grad", .run = op_bias_grad, .shape = {rc[t][0], rc[t][1]}, .fa = PT_FMT_FP32,
                      .fb = PT_FMT_FP32, .nmse = 1e-12, .quick = quick},
            "beta=1");
        add((op_case){.op = "softmax_ce", .run = op_softmax_ce, .shape = {rc[t][0], rc[t][1]}, .fa = PT_FMT_FP32,
                      .fb = PT_FMT_FP32, .nmse = 1e-11, .quick = quick},
            "");
        add((op_case){.op = "mse", .run = op_mse, .shape = {rc[t][0], rc[t][1]}, .fa = PT_FMT_FP32,
                      .fb = PT_FMT_FP32, .nmse = 1e-12, .quick = quick},
            "");
    }
}

/* the transformer's ops (ops_attention.c says where each bound comes from) */
static void attention_cases(void)
{
    /* rows, t, g, h, hd: q, k, v of 2 samples; 3 samples of one group */
    const int hs[][5] = {{2, 5, 3, 4, 8}, {3, 17, 1, 2, 24}, {4, 64, 3, 12, 64}};
    for (int t = 0; t < 3; t++)
        add((op_case){.op = "heads", .run = op_heads, .shape = {hs[t][0], hs[t][1], hs[t][2], hs[t][3], hs[t][4]},
                      .fa = OP_NOFMT, .fb = OP_NOFMT, .quick = t == 0},
            "");
    const int sc[][2] = {{5, 5}, {96, 32}, {1024, 128}, {300, 257}};
    const pt_format sf[] = {PT_FMT_FP32, PT_FMT_BF16, PT_FMT_FP16};
    for (int t = 0; t < 4; t++)
        for (int f = 0; f < 3; f++)
            for (int causal = 0; causal < 2; causal++)
                add((op_case){.op = "softmax", .run = op_softmax, .shape = {sc[t][0], sc[t][1]}, .fa = sf[f],
                              .fb = sf[f], .arg = {causal, 0}, .nmse = f ? 1e-5 : 1e-12,
                              .quick = t == 1 && causal},
                    "causal=%d", causal);
    add((op_case){.op = "softmax", .run = op_softmax, .shape = {96, 32}, .fa = PT_FMT_FP16, .fb = PT_FMT_FP16,
                  .arg = {1, 1}, .nmse = 1e-5, .quick = true},
        "causal=1 an overflowing score");
    const int rc[][2] = {{1, 3}, {7, 10}, {512, 768}, {300, 2048}};
    for (int t = 0; t < 4; t++) {
        add((op_case){.op = "rmsnorm", .run = op_rmsnorm, .shape = {rc[t][0], rc[t][1]}, .fa = PT_FMT_FP32,
                      .fb = PT_FMT_FP32, .nmse = 1e-12, .quick = t == 1},
            "");
        add((op_case){.op = "rmsnorm", .run = op_rmsnorm, .shape = {rc[t][0], rc[t][1]}, .fa = PT_FMT_BF16,
                      .fb = PT_FMT_BF16, .nmse = 1e-5, .quick = t == 2},
            "");
    }
    const int es[][3] = {{10, 8, 7}, {1024, 768, 256}, {4096, 96, 50257}};
    for (int t = 0; t < 3; t++)
        add((op_case){.op = "embedding", .run = op_embedding, .shape = {es[t][0], es[t][1], es[t][2]},
                      .fa = OP_NOFMT, .fb = OP_NOFMT, .quick = t == 0},
            "");
}

static void conv_cases(void)
{
    /* 1 channel, a 1x1 output, stride 2 without padding, 7 and 33
     * channels, and a large one; quick: the stride-2 one and the 33-channel
     * one. fp32: accumulation order (FMA kernels); tf32/bf16/fp16 operands:
     * exact products on TF32 tensor cores, so again accumulation order
     * (1e-10), plus one ulp of a rounded output (bf16 1e-4, fp16 1e-6) */
    const int shapes[][9] = {{2, 3, 7, 7, 3, 1, 1, 7, 7},
                             {3, 1, 9, 8, 3, 2, 0, 4, 3},
                             {1, 7, 5, 5, 5, 1, 0, 1, 1},
                             {4, 33, 12, 12, 3, 1, 1, 12, 12},
                             {64, 16, 28, 28, 3, 1, 1, 28, 28}};
    const int outs[] = {4, 1, 33, 7, 32};
    const pt_format fmts[] = {PT_FMT_FP32, PT_FMT_TF32, PT_FMT_BF16, PT_FMT_FP16};
    for (int f = 0; f < 4; f++)
        for (int i = 0; i < 5; i++) {
            op_case c = {.op = "conv", .run = op_conv, .fa = fmts[f], .fb = fmts[f], .arg = {outs[i]},
                         .nmse = fmts[f] == PT_FMT_BF16 ? 1e-4 : fmts[f] == PT_FMT_FP16 ? 1e-6 : 1e-10,
                         .quick = i == 1 || i == 3};
            memcpy(c.shape, shapes[i], sizeof c.shape);
            add(c, "%d filters", outs[i]);
        }
    add((op_case){.op = "conv", .run = op_conv_unsupported, .fa = PT_FMT_E4M3, .fb = PT_FMT_E4M3, .quick = true},
        "unsupported");
    /* exactly */
    add((op_case){.op = "maxpool_tied", .run = op_maxpool_tied, .shape = {8, 16, 28, 28, 2, 2, 0, 14, 14},
                  .fa = PT_FMT_FP32, .fb = PT_FMT_FP32, .nmse = 0, .quick = true},
        "relu outputs");
    /* quick: the stride-2 one and 1 x 4 x 28 x 28 */
    const int small[][9] = {{2, 3, 7, 7, 3, 1, 1, 7, 7}, {3, 2, 9, 8, 3, 2, 0, 4, 3}, {1, 4, 28, 28, 2, 2, 0, 14, 14}};
    for (int t = 0; t < 3; t++) {
        op_case c = {.op = "im2col", .run = op_im2col, .fa = PT_FMT_FP32, .fb = PT_FMT_FP32,
                     .nmse = 1e-13 /* col2im's sums in another order */, .quick = t > 0};
        memcpy(c.shape, small[t], sizeof c.shape);
        add(c, "and col2im");
        for (int mx = 0; mx < 2; mx++) {
            c.op = "pool", c.run = op_pool, c.arg[0] = mx, c.nmse = 1e-13; /* averages and sums in another order */
            add(c, "%s", mx ? "max" : "avg");
        }
        /* rows [n * p, 5] of the shape's pooled size: exactly */
        int n = small[t][0], p = small[t][0] * small[t][1] * small[t][7] * small[t][8] / 5 / n;
        add((op_case){.op = "rows_to_nchw", .run = op_rows_to_nchw, .shape = {n, 5, p}, .fa = PT_FMT_FP32,
                      .fb = PT_FMT_FP32, .nmse = 0, .quick = t > 0},
            "");
    }
    const int widths[] = {1, 7, 784, 1024, 5000};
    for (int w = 0; w < 5; w++) /* exact copies */
        add((op_case){.op = "gather_rows", .run = op_gather_rows, .shape = {widths[w]}, .fa = PT_FMT_FP32,
                      .fb = PT_FMT_FP32, .quick = widths[w] == 7 || widths[w] == 784},
            "333 of 1000 rows");
}

static void build_cases(void)
{
    gemm_cases();
    act_cases();
    cast_cases();
    elementwise_cases();
    rows_cases();
    attention_cases();
    conv_cases();
}

static const op_case **sel;
static int nsel;
static bool verbose;
static pt_backend *tested; /* the backend under test */
static bool tested_is_device;

START_TEST(run_case)
{
    op_release(); /* what a failed case before this one left */
    op_cur = sel[_i];
    op_rng_state = op_cur->seed;
    /* set at every case: a failed one returns from anywhere */
    op_gpu = op_cur->cpu_only ? op_cpu : tested;
    op_on_device = !op_cur->cpu_only && tested_is_device;
    op_cur->run(op_cur);
    op_release();
    if (verbose) printf("ok %s\n", op_cur->name);
}
END_TEST

static bool listed(const char *list, const char *op)
{
    size_t n = strlen(op);
    for (const char *p = list; p && *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !strncmp(p, op, n)) return true;
        p = e ? e + 1 : NULL;
    }
    return false;
}

static int usage(const char *why)
{
    fprintf(stderr, "test_backend_ops: %s\nusage: test_backend_ops [-o OP[,OP...]] [-f FORMAT] [--quick] [--cpu] "
                    "[--cpu-as-device] [--list] [-v]\n", why);
    return 2;
}

int main(int argc, char **argv)
{
    const char *ops = NULL;
    pt_format fmt = OP_NOFMT;
    bool quick = false, list = false, cpu = false, cpu_as_device = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-o") && i + 1 < argc) ops = argv[++i];
        else if (!strcmp(argv[i], "-f") && i + 1 < argc) {
            fmt = pt_format_from_name(argv[++i]);
            if (fmt == OP_NOFMT) {
                fprintf(stderr, "test_backend_ops: -f %s: not a format (one of %s)\n", argv[i], pt_format_names());
                return 2;
            }
        } else if (!strcmp(argv[i], "--quick")) quick = true;
        else if (!strcmp(argv[i], "--list")) list = true;
        else if (!strcmp(argv[i], "--cpu")) cpu = true;
        else if (!strcmp(argv[i], "--cpu-as-device")) cpu_as_device = true;
        else if (!strcmp(argv[i], "-v")) verbose = true;
        else return usage(argv[i][0] == '-' ? "unknown option or missing value" : "unexpected argument");
    }
    build_cases();
    sel = malloc(ncases * sizeof *sel);
    bool need_gpu = false;
    for (int i = 0; i < ncases; i++) {
        const op_case *c = &cases[i];
        if ((ops && !listed(ops, c->op)) || (fmt != OP_NOFMT && c->fa != fmt && c->fb != fmt) ||
            (quick && !c->quick) || (cpu && !c->cpu_only))
            continue;
        sel[nsel++] = c;
        need_gpu |= !c->cpu_only && !cpu_as_device;
    }
    if (ops) /* a family that no case has is a typing error, not an empty run */
        for (const char *p = ops; *p;) {
            const char *e = strchr(p, ',');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            bool known = false;
            for (int i = 0; i < ncases && !known; i++) known = strlen(cases[i].op) == len && !strncmp(cases[i].op, p, len);
            if (!known) {
                fprintf(stderr, "test_backend_ops: -o %.*s: no such op (see --list)\n", (int)len, p);
                return 2;
            }
            p = e ? e + 1 : p + len;
        }
    if (list) {
        for (int i = 0; i < nsel; i++)
            printf("%4d  %-60s seed %016llx nmse %-6g%s%s\n", i, sel[i]->name, (unsigned long long)sel[i]->seed,
                   sel[i]->nmse, sel[i]->quick ? " quick" : "", sel[i]->cpu_only ? " cpu" : "");
        printf("%d of %d cases\n", nsel, ncases);
        return 0;
    }
    if (!nsel) return usage("no case matches the filters");
    if (need_gpu) pt_test_require_gpu("test_backend_ops");
    if (pt_backend_open("cpu", &op_cpu) != PT_OK ||
        pt_backend_open(need_gpu ? "cuda" : "cpu", &op_gpu) != PT_OK) {
        fprintf(stderr, "cannot open backends: %s\n", pt_last_error());
        return EXIT_FAILURE;
    }
    tested = op_gpu, tested_is_device = pt_backend_is_device(op_gpu);
    printf("test_backend_ops: %d of %d cases on %s\n", nsel, ncases, pt_backend_name(op_gpu));
    Suite *s = suite_create("backend_ops");
    TCase *tc = tcase_create("backend_ops");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, run_case, 0, nsel);
    suite_add_tcase(s, tc);
    int rc = pt_check_run(s, CK_NOFORK);
    pt_backend_close(tested);
    pt_backend_close(op_cpu);
    free(sel), free(cases);
    return rc;
}
