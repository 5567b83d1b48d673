/* The activation cases: act_fwd/act_bwd against the CPU; the fused passes
 * (a cast, the bias gradient, a GEMM's tail, packed 16-bit inputs) against
 * the CPU's and against the unfused ops on the same backend; and, on the
 * CPU alone, the fused passes against the unfused sequence (act, then the
 * cast, then bias_grad), bit for bit. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../instrument/net.h"
#include "op_test.h"

static float *inputs(size_t n, float scale, bool specials)
{
    float *x = op_rnd(n, scale);
    if (specials && n > 10) x[3] = NAN, x[5] = INFINITY;
    return x;
}

/* act_fwd and act_bwd: erff/expf of CUDA and glibc, within 2 ulp */
void op_act(const op_case *c)
{
    size_t n = (size_t)c->shape[0];
    pt_act a = (pt_act)c->arg[0];
    float *x = inputs(n, 4, c->flags & OP_SPECIALS), *y = op_rnd(n, 1), *out = op_host(n * 4);
    float *dx = op_up(x, n * 4), *dy = op_up(y, n * 4), *dout = op_dev(n * 4);
    OP_OK(pt_backend_act_fwd(op_cpu, a, x, out, n));
    OP_OK(pt_backend_act_fwd(op_gpu, a, dx, dout, n));
    op_compare("act_fwd", op_down(dout, n), out, n, c->nmse);
    OP_OK(pt_backend_act_bwd(op_cpu, a, x, y, out, n));
    OP_OK(pt_backend_act_bwd(op_gpu, a, dx, dy, dout, n));
    op_compare("act_bwd", op_down(dout, n), out, n, c->nmse);
}

/* act_fwd_cast / act_bwd_bias (one row, no sums) against act_fwd / act_bwd
 * followed by the cast op, both on the backend under test, in format fa
 * (fp8 with a scale, as a recipe gives): the same fp32 output, the same
 * codes, the same amax, bit for bit. arg[1]: 0 forward, 1 backward. */
void op_act_cast(const op_case *c)
{
    size_t n = (size_t)c->shape[0];
    pt_act a = (pt_act)c->arg[0];
    bool bwd = c->arg[1];
    pt_format f = c->fa;
    float *x = inputs(n, 4, c->flags & OP_SPECIALS), *y = op_rnd(n, 1);
    float *dx = op_up(x, n * 4), *dy = op_up(y, n * 4), *dout = op_dev(n * 4);
    if (bwd) OP_OK(pt_backend_act_bwd(op_gpu, a, dx, dy, dout, n));
    else OP_OK(pt_backend_act_fwd(op_gpu, a, dx, dout, n));
    float *want = op_down(dout, n);
    const float sc = 16.0f;
    float *dscale = op_up(&sc, 4), *damax = op_dev(4), *damax2 = op_dev(4);
    bool f8 = pt_format_is_fp8(f);
    size_t es = (size_t)pt_format_info(f)->storage_bytes;
    void *dc = op_dev(n * es), *dc2 = op_dev(n * es);
    OP_OK(pt_backend_memset(op_gpu, damax, 0, 4));
    OP_OK(pt_backend_memset(op_gpu, damax2, 0, 4));
    unsigned flags = f8 ? PT_CAST_SATURATE : 0;
    pt_cast_out cast = {.to = f, .scale = f8 ? dscale : NULL, .amax = damax, .flags = flags, .codes = dc};
    if (bwd)
        OP_OK(pt_backend_act_bwd_bias(op_gpu, &(pt_act_bwd_desc){.act = a, .x = dx, .dy = dy, .dx = dout, .n = n,
                                                                 .cols = (int)n, .cast = cast}));
    else OP_OK(pt_backend_act_fwd_cast(op_gpu, &(pt_act_fwd_desc){.act = a, .x = dx, .y = dout, .n = n, .cast = cast}));
    OP_OK(pt_backend_cast(op_gpu, f, dout, dc2, n, cast.scale, damax2, flags));
    float *g2 = op_down(dout, n);
    OP_CHECK(!memcmp(g2, want, n * 4), "output differs from act_%s's", bwd ? "bwd" : "fwd");
    unsigned char *c1 = op_host(n * es), *c2 = op_host(n * es);
    float m1, m2;
    op_down_bytes(c1, dc, n * es), op_down_bytes(c2, dc2, n * es);
    op_down_bytes(&m1, damax, 4), op_down_bytes(&m2, damax2, 4);
    OP_CHECK(!memcmp(c1, c2, n * es), "codes differ from the cast op's");
    OP_CHECK(!memcmp(&m1, &m2, 4), "amax %g, the cast op's %g", (double)m1, (double)m2);
}

/* The fused ops of a GEMM layer's neighbourhood, CPU against the backend,
 * for relu and gelu (arg[0]), each cast format (fa; fp32: none), seven
 * tails (arg[1]: 0 none; 1 bf16 with a bias, 2 fp16 without, each written
 * back; 3 and 4 the same two kept raw, 4 with the output left unwritten
 * where there is a cast; 5 a packed bf16 output kept raw, 6 a packed fp16
 * one written), and three passes (arg[2]: 0 forward, tail on x; 1
 * backward, tail on dy; 2 backward, tail on x):
 * - the tail's input: finished bit for bit, or left as it was;
 * - the output (nmse), the codes (at most one step of the format apart, on
 *   at most 1% of values), amax (of its own output, exactly);
 * - fp8: the transposed codes the transpose of the codes;
 * - backward: the bias sums added onto what db held (fp32 sums in another
 *   order: NMSE 1e-12). */
void op_act_tail(const op_case *c)
{
    int rows = c->shape[0], cols = c->shape[1], tk = c->arg[1], pass = c->arg[2];
    pt_act a = (pt_act)c->arg[0];
    pt_format f = c->fa;
    size_t n = (size_t)rows * cols, es = f == PT_FMT_FP32 ? 4 : (size_t)pt_format_info(f)->storage_bytes;
    float *x = op_rnd(n, 3), *dy = op_rnd(n, 1), *bias = op_rnd(cols, 1), *db = op_rnd(cols, 1), *y = op_host(n * 4);
    float *cd = op_host(n * 4), *gd = op_host(n * 4);
    x[0] = dy[0] = -0.0f; /* a GEMM's sum of -0: a tail without a bias keeps its sign, as the CPU's */
    void *codes = op_host(n * es);
    const float sc = 8.0f;
    /* tails 5 and 6: the GEMM's output packed (its finished values as 16-bit codes), kept raw or written */
    bool packed = tk >= 5, f8 = pt_format_is_fp8(f), keep = tk >= 3 && tk != 6, bwd = pass > 0,
         no_out = tk == 4 && f != PT_FMT_FP32;
    /* fp8: the codes also transposed (pt_operand.data_t) */
    unsigned char *codes_t = f8 ? op_host(n) : NULL;
    void *Dcodes_t = f8 ? op_dev(n) : NULL;
    unsigned flags = f8 ? PT_CAST_SATURATE : 0;
    float hamax = 0, *Dx = op_up(x, n * 4), *Ddy = op_up(dy, n * 4), *Dbias = op_up(bias, cols * 4),
          *Ddb = op_up(db, cols * 4);
    float *Dscale = op_up(&sc, 4), *Damax = op_up(&hamax, 4), *Dy = op_dev(n * 4);
    void *Dcodes = op_dev(n * es);
    OP_OK(pt_backend_memset(op_gpu, Dy, 0, n * 4));
    memset(y, 0, n * 4);
    pt_format tf = tk % 2 ? PT_FMT_BF16 : PT_FMT_FP16;
    const float *tb = tk % 2 && !packed ? bias : NULL, *Dtb = tk % 2 && !packed ? Dbias : NULL;
    float *hin = pass == 1 ? dy : x, *din = pass == 1 ? Ddy : Dx, *raw = op_host(n * 4);
    memcpy(raw, hin, n * 4);
    uint16_t *pk = packed ? op_host(n * 2) : NULL;
    for (size_t i = 0; packed && i < n; i++) pk[i] = (uint16_t)pt_encode(tf, hin[i], 0);
    void *Dpk = packed ? op_up(pk, n * 2) : NULL;
    pt_gemm_tail ht = {.c = hin, .bias = tb, .cols = cols, .fmt = tf, .keep_raw = keep, .packed = pk},
                 gt = {.c = din, .bias = Dtb, .cols = cols, .fmt = tf, .keep_raw = keep, .packed = Dpk};
    const pt_gemm_tail *hT = tk ? &ht : NULL, *gT = tk ? &gt : NULL;
    /* packed, backward, tail on x: dy packed as well (the kernel that reads both packed) */
    bool both = packed && pass == 2;
    uint16_t *pk2 = both ? op_host(n * 2) : NULL;
    for (size_t i = 0; both && i < n; i++) pk2[i] = (uint16_t)pt_encode(tf, dy[i], 0);
    void *Dpk2 = both ? op_up(pk2, n * 2) : NULL;
    pt_gemm_tail ho = {.c = dy, .cols = cols, .fmt = tf, .keep_raw = keep, .packed = pk2},
                 go = {.c = Ddy, .cols = cols, .fmt = tf, .keep_raw = keep, .packed = Dpk2};
    float *raw2 = op_host(n * 4);
    memcpy(raw2, dy, n * 4);
    pt_cast_out hcast = {.to = f, .scale = f8 ? &sc : NULL, .amax = &hamax, .flags = flags, .codes = codes,
                         .codes_t = codes_t},
                gcast = {.to = f, .scale = f8 ? Dscale : NULL, .amax = Damax, .flags = flags, .codes = Dcodes,
                         .codes_t = Dcodes_t};
    if (!bwd) {
        OP_OK(pt_backend_act_fwd_cast(op_cpu, &(pt_act_fwd_desc){.act = a, .x = x, .y = no_out ? NULL : y, .n = n,
                                                                 .cols = cols, .cast = hcast, .x_tail = hT}));
        OP_OK(pt_backend_act_fwd_cast(op_gpu, &(pt_act_fwd_desc){.act = a, .x = Dx, .y = no_out ? NULL : Dy, .n = n,
                                                                 .cols = cols, .cast = gcast, .x_tail = gT}));
    } else {
        bool on_x = pass == 2;
        OP_OK(pt_backend_act_bwd_bias(op_cpu, &(pt_act_bwd_desc){.act = a, .x = x, .dy = dy, .dx = no_out ? NULL : y,
                                                                 .n = n, .cols = cols, .cast = hcast, .db = db,
                                                                 .db_beta = 1.0f, .x_tail = on_x ? hT : NULL,
                                                                 .dy_tail = on_x ? (both ? &ho : NULL) : hT}));
        OP_OK(pt_backend_act_bwd_bias(op_gpu, &(pt_act_bwd_desc){.act = a, .x = Dx, .dy = Ddy,
                                                                 .dx = no_out ? NULL : Dy, .n = n, .cols = cols,
                                                                 .cast = gcast, .db = Ddb, .db_beta = 1.0f,
                                                                 .x_tail = on_x ? gT : NULL,
                                                                 .dy_tail = on_x ? (both ? &go : NULL) : gT}));
    }
    float *g = op_down(din, n);
    OP_CHECK(!memcmp(g, hin, n * 4), "the input finished by the tail differs");
    if (keep) OP_CHECK(!memcmp(hin, raw, n * 4), "the input kept raw was written");
    if (both) {
        g = op_down(Ddy, n);
        OP_CHECK(!memcmp(g, dy, n * 4), "dy finished by its packed tail differs");
        if (keep) OP_CHECK(!memcmp(dy, raw2, n * 4), "dy kept raw was written");
    }
    /* the codes' own check below stands for an output left unwritten: then
     * neither backend wrote y (both still zero) */
    g = op_down(Dy, n);
    op_compare("the output", g, y, n, c->nmse);
    if (f != PT_FMT_FP32) {
        unsigned char *gc = op_host(n * es);
        float gamax;
        op_down_bytes(gc, Dcodes, n * es);
        op_down_bytes(&gamax, Damax, 4);
        op_decode(op_cpu, f, codes, n, cd), op_decode(op_cpu, f, gc, n, gd);
        /* the same codes, but for a value that those ulps put on the other side of
         * a rounding boundary: then one step of the format apart, and rare; or,
         * where gelu' cancels (cdf + x pdf near x = -0.75), a value far below
         * the tensor's scale, whose fp32 error is an ulp of that scale */
        size_t apart = 0;
        float tiny = 1e-6f * hamax * (f8 ? sc : 1.0f) + pt_format_info(f)->min_subnormal; /* codes hold v * scale */
        for (size_t i = 0; i < n; i++)
            if (gd[i] != cd[i]) {
                apart++;
                OP_CHECK(fabsf(gd[i] - cd[i]) <= 0.25f * fabsf(cd[i]) + tiny, "code %zu: %g vs %g", i, (double)gd[i],
                         (double)cd[i]);
            }
        OP_CHECK(apart <= 1 + n / 100, "%zu of %zu codes differ", apart, n);
        if (f8) {
            unsigned char *gct = op_host(n);
            op_down_bytes(gct, Dcodes_t, n);
            op_check_twin("cpu", codes, codes_t, rows, cols), op_check_twin("tested", gc, gct, rows, cols);
        }
        if (!no_out) {
            /* each backend's amax is that of its own output, exactly (the
             * outputs themselves are compared above) */
            float gmax = 0, hmax = 0;
            for (size_t i = 0; i < n; i++) gmax = fmaxf(gmax, fabsf(g[i])), hmax = fmaxf(hmax, fabsf(y[i]));
            OP_CHECK(gamax == gmax && hamax == hmax, "amax tested %g (of its output %g), cpu %g (%g)", (double)gamax,
                     (double)gmax, (double)hamax, (double)hmax);
        } else {
            OP_CHECK(fabsf(gamax - hamax) <= 1e-3f * hamax, "amax tested %g, cpu %g", (double)gamax, (double)hamax);
        }
    }
    if (bwd) op_compare("db", op_down(Ddb, cols), db, cols, 1e-12);
}

/* The activation passes on packed 16-bit inputs (act_packed.cu, which
 * takes 16-byte aligned codes) against the rows kernels on the same codes
 * 8 bytes past that alignment: bit for bit, the fp32 output, the codes,
 * amax and the bias gradient (the same sums in the same order), with beta
 * 0 then 1 (the second call finding the last-block counters reset by the
 * first); fp8: the transposed codes the codes' transpose, and the codes
 * written without them the same. arg[0] the activation, fa the packed
 * inputs' format, fb the cast's. */
void op_act_packed(const op_case *c)
{
    int rows = c->shape[0], cols = c->shape[1];
    pt_act a = (pt_act)c->arg[0];
    pt_format tf = c->fa, f = c->fb;
    size_t n = (size_t)rows * cols, es = f == PT_FMT_FP32 ? 0 : (size_t)pt_format_info(f)->storage_bytes;
    bool fp8 = es == 1; /* with the transposed codes */
    float *x = op_rnd(n, 3), *dy = op_rnd(n, 1), *db = op_rnd(cols, 1);
    uint16_t *px = op_host0((n + 8) * 2), *pd = op_host0((n + 8) * 2);
    for (size_t i = 0; i < n; i++)
        px[i + 4] = (uint16_t)pt_encode(tf, x[i], 0), pd[i + 4] = (uint16_t)pt_encode(tf, dy[i], 0);
    uint16_t *Dpx = op_up(px, (n + 8) * 2), *Dpd = op_up(pd, (n + 8) * 2);
    float *Dx = op_up(x, n * 4), *Ddy = op_up(dy, n * 4);
    unsigned char *res[2][6] = {{0}};
    for (int path = 0; path < 2; path++) { /* 0: aligned (act_packed.cu), 1: 8 bytes past */
        if (path == 0) {
            OP_OK(pt_backend_upload(op_gpu, Dpx, px + 4, n * 2));
            OP_OK(pt_backend_upload(op_gpu, Dpd, pd + 4, n * 2));
        } else {
            OP_OK(pt_backend_upload(op_gpu, Dpx, px, (n + 8) * 2));
            OP_OK(pt_backend_upload(op_gpu, Dpd, pd, (n + 8) * 2));
        }
        const uint16_t *cx = path ? Dpx + 4 : Dpx, *cdp = path ? Dpd + 4 : Dpd;
        pt_gemm_tail xt = {.c = Dx, .cols = cols, .fmt = tf, .keep_raw = true, .packed = cx},
                     dt = {.c = Ddy, .cols = cols, .fmt = tf, .keep_raw = true, .packed = cdp};
        float zero = 0, *Damax = op_up(&zero, 4), *Ddb = op_up(db, cols * 4), *Dout = op_dev(n * 4);
        void *Dcodes = es ? op_dev(n * es) : NULL, *Dcodes_t = fp8 ? op_dev(n) : NULL;
        size_t cw = (n * es + 3) / 4; /* the codes' size in floats */
        pt_cast_out cast = {.to = f, .amax = Damax, .codes = Dcodes, .codes_t = Dcodes_t};
        OP_OK(pt_backend_act_fwd_cast(op_gpu, &(pt_act_fwd_desc){.act = a, .x = Dx, .y = Dout, .n = n, .cols = cols,
                                                                 .cast = cast, .x_tail = &xt}));
        unsigned char *y = (unsigned char *)op_down(Dout, n), *cc = es ? (unsigned char *)op_down(Dcodes, cw) : NULL;
        res[path][4] = fp8 ? (unsigned char *)op_down(Dcodes_t, cw) : NULL;
        if (fp8) { /* without the transposed codes (a flat pass): the same codes */
            void *D2 = op_dev(n);
            OP_OK(pt_backend_act_fwd_cast(op_gpu, &(pt_act_fwd_desc){.act = a, .x = Dx, .n = n, .cols = cols,
                                                                     .cast = {.to = f, .codes = D2}, .x_tail = &xt}));
            unsigned char *c2 = (unsigned char *)op_down(D2, cw);
            OP_CHECK(!memcmp(c2, cc, n), "path %d: the codes without the transposed ones differ", path);
        }
        for (int k = 0; k < 2; k++)
            OP_OK(pt_backend_act_bwd_bias(op_gpu, &(pt_act_bwd_desc){.act = a, .x = Dx, .dy = Ddy, .dx = Dout, .n = n,
                                                                     .cols = cols, .cast = cast, .db = Ddb,
                                                                     .db_beta = (float)k, .x_tail = &xt,
                                                                     .dy_tail = &dt}));
        res[path][5] = fp8 ? (unsigned char *)op_down(Dcodes_t, cw) : NULL;
        if (fp8) { /* the transposed codes are the codes' transpose */
            unsigned char *bc = (unsigned char *)op_down(Dcodes, cw);
            for (int r = 0; r < rows; r++)
                for (int j = 0; j < cols; j++)
                    OP_CHECK(res[path][5][(size_t)j * rows + r] == bc[(size_t)r * cols + j],
                             "path %d: the backward's transposed codes at [%d][%d]", path, j, r);
        }
        res[path][0] = y, res[path][1] = cc;
        res[path][2] = (unsigned char *)op_down(Dout, n);
        res[path][3] = op_host(cols * 4 + 4); /* db, then amax */
        op_down_bytes(res[path][3], Ddb, cols * 4);
        op_down_bytes(res[path][3] + cols * 4, Damax, 4);
    }
    OP_CHECK(!memcmp(res[0][0], res[1][0], n * 4), "the forward's fp32 output differs");
    OP_CHECK(!es || !memcmp(res[0][1], res[1][1], n * es), "codes differ");
    OP_CHECK(!memcmp(res[0][2], res[1][2], n * 4), "the backward's fp32 dx differs");
    OP_CHECK(!memcmp(res[0][3], res[1][3], cols * 4), "the bias gradient differs");
    OP_CHECK(!es || !memcmp(res[0][3] + cols * 4, res[1][3] + cols * 4, 4), "amax differs");
    OP_CHECK(!fp8 || !memcmp(res[0][4], res[1][4], n), "the forward's transposed codes differ");
    OP_CHECK(!fp8 || !memcmp(res[0][5], res[1][5], n), "the backward's transposed codes differ");
}

/* On the CPU backend: the fused passes against the unfused sequence a plan
 * without fusion runs, bit for bit: act_fwd_cast against act_fwd, then
 * the cast (cast_t for fp8: the transposed codes too); act_bwd_bias
 * against act_bwd, the cast, then bias_grad onto the same db (beta 1).
 * The output, the codes, the transposed codes, amax and the sums; with
 * arg[2], the fused pass leaves its fp32 output unwritten (a cast alone).
 * arg[0] the activation, arg[1] 0 forward, 1 backward, fa the cast (fp32:
 * none; fp8 with a scale of 8, saturating). */
void op_act_seq(const op_case *c)
{
    int rows = c->shape[0], cols = c->shape[1];
    pt_act a = (pt_act)c->arg[0];
    bool bwd = c->arg[1], no_out = c->arg[2];
    pt_format f = c->fa;
    pt_backend *be = op_cpu;
    size_t n = (size_t)rows * cols, es = f == PT_FMT_FP32 ? 0 : (size_t)pt_format_info(f)->storage_bytes;
    bool f8 = pt_format_is_fp8(f);
    float *x = op_rnd(n, 3), *dy = op_rnd(n, 1), *db1 = op_rnd(cols, 1), *db2 = op_host(cols * 4);
    memcpy(db2, db1, cols * 4);
    float *y1 = op_host(n * 4), *y2 = op_host(n * 4), sc = 8.0f, amax1 = 0, amax2 = 0;
    memset(y1, 0, n * 4);
    void *c1 = es ? op_host0(n * es) : NULL, *c2 = es ? op_host0(n * es) : NULL;
    void *t1 = f8 ? op_host0(n) : NULL, *t2 = f8 ? op_host0(n) : NULL;
    unsigned flags = f8 ? PT_CAST_SATURATE : 0;
    const float *scale = f8 ? &sc : NULL;
    float *out = no_out ? NULL : y1;
    pt_cast_out cast = {.to = f, .scale = scale, .amax = &amax1, .flags = flags, .codes = c1, .codes_t = t1};
    if (!bwd) {
        OP_OK(pt_backend_act_fwd_cast(be, &(pt_act_fwd_desc){.act = a, .x = x, .y = out, .n = n, .cols = cols,
                                                             .cast = cast}));
        OP_OK(pt_backend_act_fwd(be, a, x, y2, n));
    } else {
        OP_OK(pt_backend_act_bwd_bias(be, &(pt_act_bwd_desc){.act = a, .x = x, .dy = dy, .dx = out, .n = n,
                                                             .cols = cols, .cast = cast, .db = db1, .db_beta = 1.0f}));
        OP_OK(pt_backend_act_bwd(be, a, x, dy, y2, n));
    }
    if (f8) OP_OK(pt_backend_cast_t(be, f, y2, rows, cols, c2, t2, scale, &amax2, flags));
    else if (es) OP_OK(pt_backend_cast(be, f, y2, c2, n, scale, &amax2, flags));
    if (bwd) OP_OK(pt_backend_bias_grad(be, y2, db2, rows, cols, 1.0f));
    if (!no_out) OP_CHECK(!memcmp(y1, y2, n * 4), "the fused pass's output differs from act_%s's", bwd ? "bwd" : "fwd");
    else
        for (size_t i = 0; i < n; i++) OP_CHECK(y1[i] == 0.0f, "the output left unwritten was written at %zu", i);
    OP_CHECK(!es || !memcmp(c1, c2, n * es), "the fused pass's codes differ from the cast's");
    OP_CHECK(!f8 || !memcmp(t1, t2, n), "the fused pass's transposed codes differ from cast_t's");
    OP_CHECK(!es || !memcmp(&amax1, &amax2, 4), "amax %g, the cast's %g", (double)amax1, (double)amax2);
    OP_CHECK(!bwd || !memcmp(db1, db2, cols * 4), "the fused sums differ from bias_grad's");
}
