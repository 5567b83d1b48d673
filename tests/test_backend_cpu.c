/* The backend interface on the CPU: opening by name, memory, the
 * asynchronous statistics API and the fused cast + amax, with the error
 * paths a caller can hit. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "kernels/ops.h"
#include "prectune/fp8.h"

START_TEST(test_open)
{
    pt_backend *be;
    ck_assert_int_eq(pt_backend_open("cpu", &be), PT_OK);
    ck_assert_str_eq(pt_backend_name(be), "cpu");
    ck_assert(!pt_backend_is_device(be));
    ck_assert(pt_backend_supports(be, PT_OP_STATS, PT_FMT_BF16));
    ck_assert(!pt_backend_supports(be, PT_OP_STATS, PT_FMT_E4M3));
    ck_assert(pt_backend_supports(be, PT_OP_CAST, PT_FMT_E4M3));
    pt_backend_close(be);
    ck_assert_int_eq(pt_backend_open("tpu", &be), PT_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(pt_last_error(), "tpu"));
    ck_assert_int_eq(pt_backend_open("cuda:x", &be), PT_ERR_INVALID);
    pt_status st = pt_backend_open("cuda:0", &be);
    if (!pt_have_cuda()) ck_assert_int_eq(st, PT_ERR_UNSUPPORTED);
    else if (pt_cuda_device_count() == 0) ck_assert_int_eq(st, PT_ERR_NO_DEVICE);
    else pt_backend_close(be);
}
END_TEST

/* The allocation ledger: live bytes, the peak since the last reset. */
START_TEST(test_memory)
{
    pt_backend *be;
    ck_assert_int_eq(pt_backend_open("cpu", &be), PT_OK);
    size_t live, peak;
    pt_backend_memory(be, &live, &peak, false);
    ck_assert(live == 0 && peak == 0);
    void *a, *b, *c[300];
    ck_assert_int_eq(pt_backend_alloc(be, 1000, &a), PT_OK);
    ck_assert_int_eq(pt_backend_alloc(be, 500, &b), PT_OK);
    pt_backend_free(be, a);
    pt_backend_memory(be, &live, &peak, true);
    ck_assert(live == 500 && peak == 1500);
    for (int i = 0; i < 300; i++) ck_assert_int_eq(pt_backend_alloc(be, 10, &c[i]), PT_OK); /* the ledger grows */
    pt_backend_memory(be, &live, &peak, false);
    ck_assert(live == 3500 && peak == 3500);
    for (int i = 0; i < 300; i++) pt_backend_free(be, c[i]);
    pt_backend_free(be, b);
    pt_backend_free(be, NULL);
    pt_backend_memory(be, &live, &peak, true);
    ck_assert(live == 0 && peak == 3500);
    pt_backend_memory(be, NULL, &peak, false);
    ck_assert(peak == 0);
    pt_backend_close(be);
}
END_TEST

/* A copy to host memory queued behind the work before it, read after
 * pt_backend_wait_copies: the values the work wrote. */
START_TEST(test_async_copy)
{
    pt_backend *be;
    ck_assert_int_eq(pt_backend_open("cpu", &be), PT_OK);
    float *d, *h;
    ck_assert_int_eq(pt_backend_alloc(be, 8 * sizeof(float), (void **)&d), PT_OK);
    ck_assert_int_eq(pt_backend_alloc_host(be, 8 * sizeof(float), (void **)&h), PT_OK);
    float x[8] = {1, -2, 3, -4, 5, -6, 7, -8};
    ck_assert_int_eq(pt_backend_upload(be, d, x, sizeof x), PT_OK);
    ck_assert_int_eq(pt_backend_act_fwd(be, PT_ACT_RELU, d, d, 8), PT_OK);
    ck_assert_int_eq(pt_backend_download_async(be, h, d, 8 * sizeof(float)), PT_OK);
    ck_assert_int_eq(pt_backend_wait_copies(be), PT_OK);
    for (int i = 0; i < 8; i++) ck_assert(h[i] == (x[i] > 0 ? x[i] : 0));
    pt_backend_free_host(be, h);
    pt_backend_free_host(be, NULL);
    pt_backend_free(be, d);
    pt_backend_close(be);
}
END_TEST

/* The op profile, read by a program: rows by op name (GEMMs and casts by
 * format), calls counted; NULL while it is off. */
START_TEST(test_profile)
{
    pt_backend *be;
    ck_assert_int_eq(pt_backend_open("cpu", &be), PT_OK);
    ck_assert_ptr_null(pt_backend_profile_get(be));
    ck_assert_int_eq(pt_backend_profile(be, true), PT_OK);
    float x[8] = {1, -2, 3, -4, 5, -6, 7, -8}, y[8];
    uint16_t h[8];
    for (int i = 0; i < 3; i++) ck_assert_int_eq(pt_backend_act_fwd(be, PT_ACT_RELU, x, y, 8), PT_OK);
    ck_assert_int_eq(pt_backend_cast(be, PT_FMT_BF16, x, h, 8, NULL, NULL, 0), PT_OK);
    const pt_op_profile *p = pt_backend_profile_get(be);
    ck_assert_ptr_nonnull(p);
    int act = -1, cast = -1;
    for (int i = 0; i < p->n; i++) {
        if (!strcmp(p->op[i].name, "act_fwd")) act = i;
        if (!strcmp(p->op[i].name, "cast to bf16")) cast = i;
    }
    ck_assert(act >= 0 && cast >= 0);
    ck_assert_int_eq(p->op[act].calls, 3);
    ck_assert_int_eq(p->op[cast].calls, 1);
    ck_assert(p->op[act].ms >= 0);
    ck_assert_int_eq(pt_backend_profile(be, false), PT_OK);
    ck_assert_ptr_null(pt_backend_profile_get(be));
    pt_backend_close(be);
}
END_TEST

START_TEST(test_stats_batch)
{
    pt_backend *be;
    ck_assert_int_eq(pt_backend_open("cpu", &be), PT_OK);
    pt_stats_batch *b;
    ck_assert_int_eq(pt_stats_batch_create(be, 0, &b), PT_ERR_INVALID);
    ck_assert_int_eq(pt_stats_batch_create(be, 2, &b), PT_OK);
    float x[4] = {1, -4, 0, NAN};
    pt_stats_req r[3] = {{x, 4, PT_FMT_FP32, 1}, {x, 2, PT_FMT_FP32, 1}, {x, 1, PT_FMT_FP32, 1}};
    ck_assert_int_eq(pt_backend_stats(be, b, r, 3), PT_ERR_INVALID); /* over capacity */
    ck_assert_int_eq(pt_backend_stats(be, b, r, 2), PT_OK);
    ck_assert(pt_stats_batch_ready(b));
    const pt_stats *s;
    int n;
    ck_assert_int_eq(pt_stats_batch_wait(b, &s, &n), PT_OK);
    ck_assert_int_eq(n, 2);
    ck_assert_uint_eq(s[0].nan, 1);
    ck_assert(s[0].absmax == 4.0f && s[1].absmax == 4.0f);
    ck_assert_uint_eq(s[1].count, 2);
    pt_stats_batch_destroy(b);
    pt_backend_close(be);
}
END_TEST

START_TEST(test_cast)
{
    pt_backend *be;
    ck_assert_int_eq(pt_backend_open("cpu", &be), PT_OK);
    float in[5] = {1.0f, -600.0f, 0.5f, 3.0f, 1e-3f}, amax = 0.0f, scale = 0.5f;
    uint8_t out[5];
    ck_assert_int_eq(pt_backend_cast(be, PT_FMT_E4M3, in, out, 5, &scale, &amax, 0), PT_OK);
    ck_assert(amax == 600.0f);
    ck_assert_uint_eq(out[1], pt_encode(PT_FMT_E4M3, -300.0f, 0)); /* scaled first */
    ck_assert(pt_decode(PT_FMT_E4M3, out[1]) == -288.0f);
    ck_assert_uint_eq(out[0], pt_encode(PT_FMT_E4M3, 0.5f, 0));
    /* amax accumulates across calls and a NaN is never hidden */
    float small[2] = {2.0f, -1.0f};
    ck_assert_int_eq(pt_backend_cast(be, PT_FMT_E4M3, small, out, 2, NULL, &amax, 0), PT_OK);
    ck_assert(amax == 600.0f);
    small[1] = NAN;
    ck_assert_int_eq(pt_backend_cast(be, PT_FMT_E4M3, small, out, 2, NULL, &amax, 0), PT_OK);
    ck_assert(isnan(amax));
    ck_assert_int_eq(pt_backend_cast(be, PT_FMT_COUNT, small, out, 2, NULL, NULL, 0),
                     PT_ERR_UNSUPPORTED);
    pt_backend_close(be);
}
END_TEST

/* The transposed copies of fp8 codes (pt_operand.data_t): cast_t's codes
 * are pt_backend_cast's, with the same amax, and its copy holds code
 * [r][c] at [c][r], for each encoding computed here by pt_encode; the
 * activation passes write the same copy of their own codes; a 16-bit
 * format has none. */
START_TEST(test_cast_twins)
{
    pt_backend *be;
    ck_assert_int_eq(pt_backend_open("cpu", &be), PT_OK);
    enum { R = 3, C = 5 };
    float x[R * C], y[R * C], amax = 0.0f, amax2 = 0.0f, scale = 4.0f;
    for (int i = 0; i < R * C; i++) x[i] = (float)(i - 7) * 0.37f;
    x[4] = 900.0f; /* past e4m3's 448 once scaled: saturates */
    uint8_t c1[R * C], ct[R * C], c2[R * C];
    ck_assert_int_eq(pt_backend_cast_t(be, PT_FMT_E4M3, x, R, C, c1, ct, &scale, &amax, PT_CAST_SATURATE), PT_OK);
    ck_assert_int_eq(pt_backend_cast(be, PT_FMT_E4M3, x, c2, R * C, &scale, &amax2, PT_CAST_SATURATE), PT_OK);
    ck_assert(!memcmp(c1, c2, sizeof c1) && amax == 900.0f && amax2 == 900.0f);
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) {
            ck_assert_uint_eq(c1[r * C + c], pt_encode(PT_FMT_E4M3, x[r * C + c] * scale, 1));
            ck_assert_uint_eq(ct[c * R + r], c1[r * C + c]);
        }
    /* the activation passes: relu's output is x's positive part */
    pt_act relu = PT_ACT_RELU;
    memset(ct, 0, sizeof ct);
    ck_assert_int_eq(
        pt_backend_act_fwd_cast(be,
                                &(pt_act_fwd_desc){.act = relu,
                                                   .x = x,
                                                   .y = y,
                                                   .n = R * C,
                                                   .cols = C,
                                                   .cast = {.to = PT_FMT_E5M2, .codes = c1, .codes_t = ct}}),
        PT_OK);
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) {
            ck_assert_uint_eq(c1[r * C + c], pt_encode(PT_FMT_E5M2, x[r * C + c] > 0 ? x[r * C + c] : 0.0f, 0));
            ck_assert_uint_eq(ct[c * R + r], c1[r * C + c]);
        }
    float dy[R * C], db[C] = {0};
    for (int i = 0; i < R * C; i++) dy[i] = 0.25f * (float)(i % 4) - 0.3f;
    memset(ct, 0, sizeof ct);
    ck_assert_int_eq(pt_backend_act_bwd_bias(be,
                                             &(pt_act_bwd_desc){.act = relu,
                                                                .x = x,
                                                                .dy = dy,
                                                                .dx = y,
                                                                .n = R * C,
                                                                .cols = C,
                                                                .cast = {.to = PT_FMT_E5M2, .codes = c1, .codes_t = ct},
                                                                .db = db}),
                     PT_OK);
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) {
            ck_assert_uint_eq(c1[r * C + c], pt_encode(PT_FMT_E5M2, x[r * C + c] > 0 ? dy[r * C + c] : 0.0f, 0));
            ck_assert_uint_eq(ct[c * R + r], c1[r * C + c]);
        }
    /* 16-bit codes have no transposed copy; rows must be whole */
    uint16_t h[R * C];
    ck_assert_int_eq(pt_backend_cast_t(be, PT_FMT_BF16, x, R, C, h, ct, NULL, NULL, 0), PT_ERR_INVALID);
    ck_assert_int_eq(
        pt_backend_act_fwd_cast(be,
                                &(pt_act_fwd_desc){.act = relu,
                                                   .x = x,
                                                   .y = y,
                                                   .n = R * C,
                                                   .cols = C,
                                                   .cast = {.to = PT_FMT_BF16, .codes = h, .codes_t = ct}}),
        PT_ERR_INVALID);
    ck_assert_int_eq(
        pt_backend_act_fwd_cast(be,
                                &(pt_act_fwd_desc){.act = relu,
                                                   .x = x,
                                                   .y = y,
                                                   .n = R * C,
                                                   .cols = 4,
                                                   .cast = {.to = PT_FMT_E4M3, .codes = c1, .codes_t = ct}}),
        PT_ERR_INVALID);
    pt_backend_close(be);
}
END_TEST

/* The convolution ops against a direct convolution written out in double
 * (an oracle that shares no code with im2col): forward with bias, both
 * backwards, on shapes with padding, stride 2 and one output row; then in
 * bf16, where the operands are the bf16 roundings of the same values and
 * each output is the bf16 rounding of the exact result plus the bias in
 * bf16, as a GEMM writing bf16 adds it (one rounding of the sum). */
static double conv_ref(const pt_conv_shape *s, const float *x, const float *w, int n, int o, int oy, int ox)
{
    double acc = 0;
    for (int c = 0; c < s->c; c++)
        for (int ky = 0; ky < s->k; ky++)
            for (int kx = 0; kx < s->k; kx++) {
                int iy = oy * s->stride - s->pad + ky, ix = ox * s->stride - s->pad + kx;
                if (iy < 0 || iy >= s->h || ix < 0 || ix >= s->w) continue;
                acc += (double)x[(((size_t)n * s->c + c) * s->h + iy) * s->w + ix] *
                       w[(((size_t)o * s->c + c) * s->k + ky) * s->k + kx];
            }
    return acc;
}

static float bf16_of(float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    memcpy(&v, &u, 4);
    return v;
}

START_TEST(test_conv_ops)
{
    pt_backend *be;
    ck_assert_int_eq(pt_backend_open("cpu", &be), PT_OK);
    const pt_conv_shape shapes[] = {{2, 3, 7, 7, 3, 1, 1, 7, 7}, {3, 2, 9, 8, 3, 2, 0, 4, 3}, {1, 1, 5, 5, 5, 1, 0, 1, 1}};
    const int outs[] = {4, 5, 3};
    for (int t = 0; t < 3; t++)
        for (int bf = 0; bf < 2; bf++) {
            pt_conv_shape s = shapes[t];
            int o = outs[t], p = s.oh * s.ow, m = s.n * p;
            size_t nx = (size_t)s.n * s.c * s.h * s.w, nw = (size_t)o * s.c * s.k * s.k, ny = (size_t)m * o;
            float *x = malloc(nx * 4), *w = malloc(nw * 4), *b = malloc(o * 4), *y = malloc(ny * 4);
            float *dy = malloc(ny * 4), *dx = malloc(nx * 4), *dw = malloc(nw * 4);
            uint16_t *x16 = malloc(nx * 2), *w16 = malloc(nw * 2), *dy16 = malloc(ny * 2);
            for (size_t i = 0; i < nx; i++) x[i] = (float)sin(0.37 * (double)i + t) * 2;
            for (size_t i = 0; i < nw; i++) w[i] = (float)cos(0.91 * (double)i) * 0.5f;
            for (size_t i = 0; i < ny; i++) dy[i] = (float)sin(1.3 * (double)i + 0.2);
            for (int i = 0; i < o; i++) b[i] = 0.1f * (float)(i + 1) + 0.01234f;
            pt_format f = bf ? PT_FMT_BF16 : PT_FMT_FP32;
            if (bf) { /* the oracle sees the bf16 values; the ops get their codes */
                ck_assert_int_eq(pt_backend_cast(be, PT_FMT_BF16, x, x16, nx, NULL, NULL, 0), PT_OK);
                ck_assert_int_eq(pt_backend_cast(be, PT_FMT_BF16, w, w16, nw, NULL, NULL, 0), PT_OK);
                ck_assert_int_eq(pt_backend_cast(be, PT_FMT_BF16, dy, dy16, ny, NULL, NULL, 0), PT_OK);
                for (size_t i = 0; i < nx; i++) x[i] = bf16_of(x[i]);
                for (size_t i = 0; i < nw; i++) w[i] = bf16_of(w[i]);
                for (size_t i = 0; i < ny; i++) dy[i] = bf16_of(dy[i]);
            }
            pt_operand X = {.data = bf ? (void *)x16 : x, .fmt = f},
                       W = {.data = bf ? (void *)w16 : w, .fmt = f, .trans = true};
            pt_operand DY = {.data = bf ? (void *)dy16 : dy, .fmt = f};
            double tol = 1e-5; /* fp32 accumulation against double */
            ck_assert_int_eq(pt_backend_conv_fwd(be, &s, o, &X, &W, b, f, y), PT_OK);
            for (int n = 0; n < s.n; n++)
                for (int q = 0; q < p; q++)
                    for (int oc = 0; oc < o; oc++) {
                        double want = conv_ref(&s, x, w, n, oc, q / s.ow, q % s.ow) + (bf ? bf16_of(b[oc]) : b[oc]);
                        float got = y[((size_t)n * o + oc) * p + q];
                        if (bf) {
                            ck_assert_msg(got == bf16_of(got), "bf16 output not rounded");
                            ck_assert_msg(fabs(got - want) <= fabs(want) * 0x1p-8 + 1e-5, "bf16 fwd %g vs %g", got,
                                          want);
                        } else {
                            ck_assert_msg(fabs(got - want) <= tol * (1 + fabs(want)), "fwd shape %d: %g vs %g", t, got,
                                          want);
                        }
                    }
            /* dx = sum over the windows each input joined of dy * w */
            ck_assert_int_eq(pt_backend_conv_bwd_data(be, &s, o, &DY, &W, f, dx), PT_OK);
            double *rdx = calloc(nx, sizeof *rdx), *rdw = calloc(nw, sizeof *rdw);
            for (int n = 0; n < s.n; n++)
                for (int oy = 0; oy < s.oh; oy++)
                    for (int ox = 0; ox < s.ow; ox++)
                        for (int oc = 0; oc < o; oc++) {
                            double g = dy[(((size_t)n * o + oc) * s.oh + oy) * s.ow + ox];
                            for (int c = 0; c < s.c; c++)
                                for (int ky = 0; ky < s.k; ky++)
                                    for (int kx = 0; kx < s.k; kx++) {
                                        int iy = oy * s.stride - s.pad + ky, ix = ox * s.stride - s.pad + kx;
                                        if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
                                        size_t xi = (((size_t)n * s.c + c) * s.h + iy) * s.w + ix;
                                        size_t wi = (((size_t)oc * s.c + c) * s.k + ky) * s.k + kx;
                                        rdx[xi] += g * w[wi];
                                        rdw[wi] += g * x[xi];
                                    }
                        }
            for (size_t i = 0; i < nx; i++) {
                if (bf) ck_assert_msg(dx[i] == bf16_of(dx[i]), "bf16 dx not rounded");
                double e = bf ? fabs(rdx[i]) * 0x1p-8 + 1e-5 : tol * (1 + fabs(rdx[i]));
                ck_assert_msg(fabs(dx[i] - rdx[i]) <= e, "bwd_data shape %d%s, %zu: %g vs %g", t, bf ? " bf16" : "", i,
                              dx[i], rdx[i]);
            }
            /* dw accumulates onto what is there with beta 1 */
            for (size_t i = 0; i < nw; i++) dw[i] = 1.0f;
            ck_assert_int_eq(pt_backend_conv_bwd_filter(be, &s, o, &DY, &X, 1.0f, dw), PT_OK);
            for (size_t i = 0; i < nw; i++)
                ck_assert_msg(fabs(dw[i] - (rdw[i] + 1)) <= tol * (2 + fabs(rdw[i])), "bwd_filter shape %d, %zu: %g vs %g",
                              t, i, dw[i], rdw[i] + 1);
            free(rdx), free(rdw), free(x), free(w), free(b), free(y), free(dy), free(dx), free(dw);
            free(x16), free(w16), free(dy16);
        }
    /* fp8 operands are refused, naming the op (the layer runs im2col GEMMs for them) */
    pt_conv_shape s = shapes[0];
    float d[8] = {0};
    pt_operand q = {.data = d, .fmt = PT_FMT_E4M3};
    ck_assert_int_eq(pt_backend_conv_fwd(be, &s, 4, &q, &q, NULL, PT_FMT_BF16, d), PT_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(pt_last_error(), "conv_fwd"));
    pt_backend_close(be);
}
END_TEST

/* A GEMM that defers its tail (pt_gemm.defer_tail) leaves the fp32 sum, and
 * the pass that finishes it (act_fwd_cast's tail on x, act_bwd_bias's on x
 * or dy) uses exactly what the GEMM would have written: bit for bit, for
 * each output format, with and without a bias; written back into c, or
 * with keep_raw c left as the sums. An output left unwritten (NULL) still
 * has its cast made. */
START_TEST(test_gemm_tail)
{
    pt_backend *be;
    ck_assert_int_eq(pt_backend_open("cpu", &be), PT_OK);
    enum { M = 9, N = 12, K = 33 };
    float a[M * K], b[N * K], bias[N], want[M * N], raw[M * N], c[M * N], y[M * N], ref[M * N], x[M * N];
    uint16_t codes[M * N], ref_codes[M * N];
    for (int i = 0; i < M * K; i++) a[i] = (float)sin(0.7 * i) * 3;
    for (int i = 0; i < N * K; i++) b[i] = (float)cos(1.3 * i);
    for (int i = 0; i < N; i++) bias[i] = 0.37f * (float)(i - 5);
    for (int i = 0; i < M * N; i++) x[i] = (float)sin(0.3 * i);
    const pt_format outs[] = {PT_FMT_BF16, PT_FMT_FP16, PT_FMT_E4M3, PT_FMT_FP32};
    for (int o = 0; o < 4; o++)
        for (int wb = 0; wb < 2; wb++)
            for (int pass = 0; pass < 3; pass++) /* forward; backward, tail on dy; backward, tail on x */
                for (int keep = 0; keep < 2; keep++)
                    for (int cast = 0; cast < 2; cast++) {
                        pt_gemm g = {.m = M,
                                     .n = N,
                                     .k = K,
                                     .a = {.data = a, .fmt = PT_FMT_FP32},
                                     .b = {.data = b, .fmt = PT_FMT_FP32, .trans = true},
                                     .bias = wb ? bias : NULL,
                                     .out_fmt = outs[o]};
                        ck_assert_int_eq(pt_backend_gemm(be, &g, want), PT_OK);
                        g.defer_tail = true;
                        ck_assert_int_eq(pt_backend_gemm(be, &g, raw), PT_OK);
                        memcpy(c, raw, sizeof c);
                        pt_gemm_tail t = {
                            .c = c, .bias = wb ? bias : NULL, .cols = N, .fmt = outs[o], .keep_raw = keep};
                        pt_format cf = cast ? PT_FMT_BF16 : PT_FMT_FP32;
                        float *out = cast ? NULL : y;
                        pt_status st;
                        if (pass == 0) {
                            pt_backend_act_fwd(be, PT_ACT_GELU, want, ref, M * N);
                            st = pt_backend_act_fwd_cast(be,
                                                         &(pt_act_fwd_desc){.act = PT_ACT_GELU,
                                                                            .x = c,
                                                                            .y = out,
                                                                            .n = M * N,
                                                                            .cast = {.to = cf, .codes = codes},
                                                                            .x_tail = &t});
                        } else if (pass == 1) {
                            pt_backend_act_bwd(be, PT_ACT_GELU, x, want, ref, M * N);
                            st = pt_backend_act_bwd_bias(be,
                                                         &(pt_act_bwd_desc){.act = PT_ACT_GELU,
                                                                            .x = x,
                                                                            .dy = c,
                                                                            .dx = out,
                                                                            .n = M * N,
                                                                            .cols = N,
                                                                            .cast = {.to = cf, .codes = codes},
                                                                            .dy_tail = &t});
                        } else {
                            pt_backend_act_bwd(be, PT_ACT_GELU, want, x, ref, M * N);
                            st = pt_backend_act_bwd_bias(be,
                                                         &(pt_act_bwd_desc){.act = PT_ACT_GELU,
                                                                            .x = c,
                                                                            .dy = x,
                                                                            .dx = out,
                                                                            .n = M * N,
                                                                            .cols = N,
                                                                            .cast = {.to = cf, .codes = codes},
                                                                            .x_tail = &t});
                        }
                        ck_assert_int_eq(st, PT_OK);
                        const char *what = pass == 0 ? "fwd" : pass == 1 ? "bwd, dy" : "bwd, x";
                        ck_assert_msg(!memcmp(c, keep ? raw : want, sizeof c),
                                      "%s%s, %s%s: the GEMM's output is not what the tail leaves in it",
                                      pt_format_info(outs[o])->name, wb ? " with bias" : "", what,
                                      keep ? ", kept raw" : "");
                        if (cast) {
                            pt_backend_cast(be, PT_FMT_BF16, ref, ref_codes, M * N, NULL, NULL, 0);
                            ck_assert_msg(!memcmp(codes, ref_codes, sizeof codes), "%s%s, %s: the cast differs",
                                          pt_format_info(outs[o])->name, wb ? " with bias" : "", what);
                        } else {
                            ck_assert_msg(!memcmp(y, ref, sizeof y), "%s%s, %s: the output differs",
                                          pt_format_info(outs[o])->name, wb ? " with bias" : "", what);
                        }
                    }
    /* a deferred tail needs beta 0, a tail must be on the op's input, an
     * output may be left unwritten only where there is a cast, and dy kept
     * raw cannot be dx */
    pt_gemm g = {.m = M,
                 .n = N,
                 .k = K,
                 .a = {.data = a, .fmt = PT_FMT_FP32},
                 .b = {.data = b, .fmt = PT_FMT_FP32, .trans = true},
                 .out_fmt = PT_FMT_BF16,
                 .beta = 1.0f,
                 .defer_tail = true};
    ck_assert_int_eq(pt_backend_gemm(be, &g, c), PT_ERR_INVALID);
    pt_gemm_tail t = {.c = y, .cols = N, .fmt = PT_FMT_BF16};
    ck_assert_int_eq(
        pt_backend_act_fwd_cast(be, &(pt_act_fwd_desc){.act = PT_ACT_GELU, .x = c, .y = y, .n = M * N, .x_tail = &t}),
        PT_ERR_INVALID);
    ck_assert_int_eq(
        pt_backend_act_bwd_bias(
            be, &(pt_act_bwd_desc){.act = PT_ACT_GELU, .x = x, .dy = c, .dx = y, .n = M * N, .cols = N, .x_tail = &t}),
        PT_ERR_INVALID);
    ck_assert_int_eq(pt_backend_act_fwd_cast(be, &(pt_act_fwd_desc){.act = PT_ACT_GELU, .x = c, .n = M * N}),
                     PT_ERR_INVALID);
    ck_assert_int_eq(
        pt_backend_act_bwd_bias(be, &(pt_act_bwd_desc){.act = PT_ACT_GELU, .x = x, .dy = c, .n = M * N, .cols = N}),
        PT_ERR_INVALID);
    pt_gemm_tail kept = {.c = c, .cols = N, .fmt = PT_FMT_BF16, .keep_raw = true};
    ck_assert_int_eq(
        pt_backend_act_bwd_bias(
            be,
            &(pt_act_bwd_desc){.act = PT_ACT_GELU, .x = x, .dy = c, .dx = c, .n = M * N, .cols = N, .dy_tail = &kept}),
        PT_ERR_INVALID);
    pt_backend_close(be);
}
END_TEST

/* The bias of a GEMM writing a 16-bit format is added in that format
 * (pt_gemm): each output is round(sum + round(bias)), the sum in double
 * here (k = 3: exact in fp32 too), against a bias whose own rounding
 * moves the result. A packed output (pt_gemm.pack) holds the codes of
 * exactly those values; a pass reading them as a packed tail gives what it
 * gives on the fp32 values, writes them decoded unless kept raw (c then
 * untouched), and a packed tail has no bias left to add. */
START_TEST(test_gemm_pack)
{
    pt_backend *be;
    ck_assert_int_eq(pt_backend_open("cpu", &be), PT_OK);
    enum { M = 5, N = 6, K = 3 };
    float a[M * K], b[N * K], bias[N], full[M * N], c[M * N], y1[M * N], y2[M * N], dx1[M * N], dx2[M * N];
    uint16_t packed[M * N], codes[M * N];
    for (int i = 0; i < M * K; i++) a[i] = 0.25f * (float)(i % 7) - 0.5f;
    for (int i = 0; i < N * K; i++) b[i] = 0.125f * (float)(i % 5) + 0.0625f;
    for (int j = 0; j < N; j++) bias[j] = 1.0f + (float)j * 0x1p-10f; /* off the bf16 grid past j = 0 */
    const pt_format outs[] = {PT_FMT_BF16, PT_FMT_FP16};
    for (int o = 0; o < 2; o++) {
        pt_format f = outs[o];
        pt_gemm g = {.m = M,
                     .n = N,
                     .k = K,
                     .a = {.data = a, .fmt = PT_FMT_FP32},
                     .b = {.data = b, .fmt = PT_FMT_FP32, .trans = true},
                     .bias = bias,
                     .out_fmt = f};
        ck_assert_int_eq(pt_backend_gemm(be, &g, full), PT_OK);
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double sum = 0;
                for (int p = 0; p < K; p++) sum += (double)a[i * K + p] * b[j * K + p];
                float want = pt_round(f, (float)sum + pt_round(f, bias[j], 0), 0);
                ck_assert_msg(full[i * N + j] == want, "%s [%d][%d]: %g, want %g", pt_format_info(f)->name, i, j,
                              (double)full[i * N + j], (double)want);
            }
        g.pack = true;
        ck_assert_int_eq(pt_backend_gemm(be, &g, packed), PT_OK);
        for (int i = 0; i < M * N; i++) ck_assert_uint_eq(packed[i], pt_encode(f, full[i], 0));
        /* the activation passes on the packed codes against the same on the values */
        for (int keep = 0; keep < 2; keep++) {
            for (int i = 0; i < M * N; i++) c[i] = -7.0f;
            pt_gemm_tail t = {.c = c, .cols = N, .fmt = f, .keep_raw = keep, .packed = packed};
            ck_assert_int_eq(pt_backend_act_fwd_cast(
                                 be, &(pt_act_fwd_desc){.act = PT_ACT_GELU, .x = c, .y = y1, .n = M * N, .x_tail = &t}),
                             PT_OK);
            ck_assert_int_eq(pt_backend_act_fwd(be, PT_ACT_GELU, full, y2, M * N), PT_OK);
            ck_assert(!memcmp(y1, y2, sizeof y1));
            for (int i = 0; i < M * N; i++) ck_assert(keep ? c[i] == -7.0f : c[i] == full[i]);
            for (int i = 0; i < M * N; i++) c[i] = -7.0f;
            ck_assert_int_eq(pt_backend_act_bwd_bias(be,
                                                     &(pt_act_bwd_desc){.act = PT_ACT_GELU,
                                                                        .x = full,
                                                                        .dy = c,
                                                                        .dx = dx1,
                                                                        .n = M * N,
                                                                        .cols = N,
                                                                        .cast = {.to = PT_FMT_BF16, .codes = codes},
                                                                        .dy_tail = &t}),
                             PT_OK);
            ck_assert_int_eq(pt_backend_act_bwd(be, PT_ACT_GELU, full, full, dx2, M * N), PT_OK);
            ck_assert(!memcmp(dx1, dx2, sizeof dx1));
            for (int i = 0; i < M * N; i++) ck_assert(keep ? c[i] == -7.0f : c[i] == full[i]);
        }
        pt_gemm_tail bad = {.c = c, .bias = bias, .cols = N, .fmt = f, .keep_raw = true, .packed = packed};
        ck_assert_int_eq(pt_backend_act_fwd_cast(
                             be, &(pt_act_fwd_desc){.act = PT_ACT_GELU, .x = c, .y = y1, .n = M * N, .x_tail = &bad}),
                         PT_ERR_INVALID);
    }
    /* a packed output is bf16 or fp16, overwritten, its tail made */
    pt_gemm g = {.m = M,
                 .n = N,
                 .k = K,
                 .a = {.data = a, .fmt = PT_FMT_FP32},
                 .b = {.data = b, .fmt = PT_FMT_FP32, .trans = true},
                 .out_fmt = PT_FMT_FP32,
                 .pack = true};
    ck_assert_int_eq(pt_backend_gemm(be, &g, packed), PT_ERR_INVALID);
    g.out_fmt = PT_FMT_BF16, g.beta = 1.0f;
    ck_assert_int_eq(pt_backend_gemm(be, &g, packed), PT_ERR_INVALID);
    g.beta = 0.0f, g.defer_tail = true;
    ck_assert_int_eq(pt_backend_gemm(be, &g, packed), PT_ERR_INVALID);
    pt_backend_close(be);
}
END_TEST

/* The batched fp8 steps (pt_backend_fp8_scale_many / _record_many) leave
 * every state and 1/scale as the steps one by one do, through histories
 * that see a zero, a NaN and an amax past the scale (the counters move). */
START_TEST(test_fp8_many)
{
    pt_backend *be;
    ck_assert_int_eq(pt_backend_open("cpu", &be), PT_OK);
    enum { N = 3 };
    pt_fp8_recipe r[N] = {{PT_FP8_DELAYED, 4, true, 0}, {PT_FP8_DELAYED, 2, false, 1}, {PT_FP8_DELAYED, 16, true, 0}};
    const pt_format f[N] = {PT_FMT_E4M3, PT_FMT_E5M2, PT_FMT_E4M3};
    pt_fp8_state one[N], many[N];
    float inv1[N], inv2[N], amax1[N], amax2[N];
    pt_fp8_entry e[N];
    for (int i = 0; i < N; i++) {
        pt_fp8_state_init(&one[i]), pt_fp8_state_init(&many[i]);
        e[i] = (pt_fp8_entry){r[i], &many[i], &inv2[i], &amax2[i], pt_format_info(f[i])->max_finite,
                              pt_format_overflow_threshold(f[i])};
    }
    const float seq[] = {3.0f, 0.5f, 0.0f, 40.0f, NAN, 1e-30f, 7.0f, 2000.0f, 0.25f};
    for (int t = 0; t < 9; t++) {
        for (int i = 0; i < N; i++)
            ck_assert_int_eq(pt_backend_fp8_scale(be, &r[i], f[i], &one[i], NULL, &inv1[i], &amax1[i]), PT_OK);
        ck_assert_int_eq(pt_backend_fp8_scale_many(be, e, N), PT_OK);
        for (int i = 0; i < N; i++) {
            ck_assert_msg(!memcmp(&inv1[i], &inv2[i], 4) && amax1[i] == 0.0f && amax2[i] == 0.0f,
                          "step %d, state %d: 1/scale %g one by one, %g batched", t, i, (double)inv1[i],
                          (double)inv2[i]);
            amax1[i] = amax2[i] = seq[(t + 2 * i) % 9] * (float)(i + 1);
            ck_assert_int_eq(pt_backend_fp8_record(be, &r[i], f[i], &one[i], &amax1[i]), PT_OK);
        }
        ck_assert_int_eq(pt_backend_fp8_record_many(be, e, N), PT_OK);
        for (int i = 0; i < N; i++)
            ck_assert_msg(!memcmp(&one[i], &many[i], sizeof one[i]), "step %d, state %d differs", t, i);
    }
    ck_assert(one[0].nan_amax > 0 && one[0].saturated > 0); /* the sequence reached both */
    pt_backend_close(be);
}
END_TEST

/* A layer norm computed in fp16 (a model cast to half): values derived by
 * hand. eps = 1e-8 is 0 in fp16 (below half its smallest subnormal,
 * 2^-25), so a constant row is 0 * inf = NaN; in fp32 and bf16 (which
 * holds 1e-8) it gives beta; eps = 1e-5 is the fp16 subnormal 168 * 2^-24. */
START_TEST(test_layernorm_format)
{
    pt_backend *be;
    ck_assert_int_eq(pt_backend_open("cpu", &be), PT_OK);
    float x[4] = {1, 3, 2, 2}, g[2] = {1, 1}, b[2] = {0.5f, 0.5f}, y[4], mean[2], rstd[2];
    ck_assert_int_eq(pt_backend_layernorm_fwd(be, x, g, b, 1e-8f, PT_FMT_FP32, y, mean, rstd, 2, 2), PT_OK);
    ck_assert(y[0] == -0.5f && y[1] == 1.5f && y[2] == 0.5f && y[3] == 0.5f);
    ck_assert(rstd[1] == 1e4f);
    ck_assert_int_eq(pt_backend_layernorm_fwd(be, x, g, b, 1e-8f, PT_FMT_FP16, y, mean, rstd, 2, 2), PT_OK);
    ck_assert(y[0] == -0.5f && y[1] == 1.5f);
    ck_assert(isinf(rstd[1]) && isnan(y[2]) && isnan(y[3]));
    ck_assert_int_eq(pt_backend_layernorm_fwd(be, x, g, b, 1e-8f, PT_FMT_BF16, y, mean, rstd, 2, 2), PT_OK);
    ck_assert(y[2] == 0.5f && isfinite(rstd[1]));
    ck_assert_int_eq(pt_backend_layernorm_fwd(be, x, g, b, 1e-5f, PT_FMT_FP16, y, mean, rstd, 2, 2), PT_OK);
    /* 1 / sqrt(168 * 2^-24) = 316.01..., 316 in fp16 */
    ck_assert(rstd[1] == 316.0f && y[2] == 0.5f);
    pt_backend_close(be);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("backend_cpu");
    TCase *tc = tcase_create("backend_cpu");
    tcase_add_test(tc, test_open);
    tcase_add_test(tc, test_stats_batch);
    tcase_add_test(tc, test_memory);
    tcase_add_test(tc, test_profile);
    tcase_add_test(tc, test_async_copy);
    tcase_add_test(tc, test_cast);
    tcase_add_test(tc, test_cast_twins);
    tcase_add_test(tc, test_layernorm_format);
    tcase_add_test(tc, test_conv_ops);
    tcase_add_test(tc, test_gemm_tail);
    tcase_add_test(tc, test_fp8_many);
    tcase_add_test(tc, test_gemm_pack);
    suite_add_tcase(s, tc);
    return pt_check_run(s, CK_FORK_GETENV);
}
