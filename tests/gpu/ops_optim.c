/* The optimizer cases, CPU against the backend under test: the loss
 * scaler's unscale-and-check, and AdamW and SGD through a sequence of
 * steps (the weights' 16-bit copy, a gate that skips, one that clips, one
 * that unscales as it reads). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "op_test.h"

/* unscale + check: the flag and the sum of squares; read only first (the
 * gradients untouched), then written. OP_SPECIALS: an inf among them. */
void op_unscale(const op_case *c)
{
    size_t n = (size_t)c->shape[0];
    float *gr = op_rnd(n, 100);
    if (c->flags & OP_SPECIALS) gr[10] = INFINITY;
    float *dg = op_up(gr, n * 4);
    int32_t *flags = op_dev(16);
    double *dsum = (double *)((char *)flags + 8);
    OP_OK(pt_backend_memset(op_gpu, flags, 0, 16));
    int32_t cflags[4] = {0};
    double csum = 0;
    OP_OK(pt_backend_unscale_check(op_gpu, dg, n, 1.0f / 64, PT_UNSCALE_READ, flags, dsum));
    op_compare("unscale check without write", op_down(dg, n), gr, n, 0);
    OP_OK(pt_backend_unscale_check(op_cpu, gr, n, 1.0f / 64, PT_UNSCALE_WRITE, cflags, &csum));
    OP_OK(pt_backend_memset(op_gpu, flags, 0, 16));
    OP_OK(pt_backend_unscale_check(op_gpu, dg, n, 1.0f / 64, PT_UNSCALE_WRITE, flags, dsum));
    int32_t gflag;
    double gsum;
    op_down_bytes(&gflag, flags, 4);
    op_down_bytes(&gsum, dsum, 8);
    OP_CHECK(gflag == cflags[0], "flag %d, cpu %d", gflag, cflags[0]);
    OP_CHECK(isinf(csum) ? isinf(gsum) : fabs(gsum - csum) <= 1e-12 * csum, "sumsq %g vs %g", gsum, csum);
    op_compare("unscale", op_down(dg, n), gr, n, c->nmse);
}

/* AdamW and SGD: the same float formulas (nmse); nvcc contracts the
 * gated steps' multiply-adds into FMAs, so those allow 1e-13 */
void op_optim(const op_case *c)
{
    size_t n = (size_t)c->shape[0];
    float *w = op_rnd(n, 1), *gg2 = op_rnd(n, 1), *m = op_host0(n * 4), *v = op_host0(n * 4);
    float *dw = op_up(w, n * 4), *dgg = op_up(gg2, n * 4), *dm = op_up(m, n * 4), *dv = op_up(v, n * 4);
    pt_adamw h = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f, .step = 3,
                  .copy = NULL, .copy_fmt = PT_FMT_FP32};
    OP_OK(pt_backend_adamw(op_cpu, &h, NULL, w, gg2, m, v, n));
    OP_OK(pt_backend_adamw(op_gpu, &h, NULL, dw, dgg, dm, dv, n));
    op_compare("adamw", op_down(dw, n), w, n, c->nmse);
    /* the weights' bf16 copy written by the update is the cast op's, bit for bit */
    void *dcopy = op_dev(n * 2), *dcast = op_dev(n * 2);
    pt_adamw hc = h;
    hc.copy = dcopy, hc.copy_fmt = PT_FMT_BF16, hc.step = 4;
    pt_adamw hcpu = h; /* the same step on the CPU, so that the comparisons below stay in step */
    hcpu.step = 4;
    OP_OK(pt_backend_adamw(op_cpu, &hcpu, NULL, w, gg2, m, v, n));
    OP_OK(pt_backend_adamw(op_gpu, &hc, NULL, dw, dgg, dm, dv, n));
    OP_OK(pt_backend_cast(op_gpu, PT_FMT_BF16, dw, dcast, n, NULL, NULL, 0));
    uint16_t *a16 = op_host(n * 2), *b16 = op_host(n * 2);
    op_down_bytes(a16, dcopy, n * 2), op_down_bytes(b16, dcast, n * 2);
    OP_CHECK(!memcmp(a16, b16, n * 2), "adamw's bf16 copy differs from the cast of its weights");
    OP_OK(pt_backend_sgd(op_cpu, 0.1f, 0.9f, 0.01f, NULL, w, gg2, m, n));
    OP_OK(pt_backend_sgd(op_gpu, 0.1f, 0.9f, 0.01f, NULL, dw, dgg, dm, n));
    op_compare("sgd", op_down(dw, n), w, n, c->nmse);
    /* the gate, read where the gradients are: a found flag skips the step;
     * a norm of 1000 against a clip of 1 scales the gradients */
    int32_t no = 0, yes = 1;
    double big = 1e6;
    int32_t *dno = op_up(&no, 4), *dyes = op_up(&yes, 4);
    double *dbig = op_up(&big, 8);
    pt_optim_gate cskip = {.found = &yes, .sumsq = &big, .clip_norm = 1.0, .unscale = 0.0f},
                  gskip = {.found = dyes, .sumsq = dbig, .clip_norm = 1.0, .unscale = 0.0f};
    pt_optim_gate cclip = {.found = &no, .sumsq = &big, .clip_norm = 1.0, .unscale = 0.0f},
                  gclip = {.found = dno, .sumsq = dbig, .clip_norm = 1.0, .unscale = 0.0f};
    float *before = op_down(dw, n);
    OP_OK(pt_backend_adamw(op_gpu, &h, &gskip, dw, dgg, dm, dv, n));
    OP_OK(pt_backend_sgd(op_gpu, 0.1f, 0.9f, 0.01f, &gskip, dw, dgg, dm, n));
    op_compare("gated step skipped", op_down(dw, n), before, n, 0);
    OP_OK(pt_backend_adamw(op_cpu, &h, &cskip, w, gg2, m, v, n)); /* skipped too */
    OP_OK(pt_backend_adamw(op_cpu, &h, &cclip, w, gg2, m, v, n));
    OP_OK(pt_backend_adamw(op_gpu, &h, &gclip, dw, dgg, dm, dv, n));
    op_compare("adamw clipped", op_down(dw, n), w, n, 1e-13);
    OP_OK(pt_backend_sgd(op_cpu, 0.1f, 0.9f, 0.01f, &cclip, w, gg2, m, n));
    OP_OK(pt_backend_sgd(op_gpu, 0.1f, 0.9f, 0.01f, &gclip, dw, dgg, dm, n));
    op_compare("sgd clipped", op_down(dw, n), w, n, 1e-13);
    /* and unscaling the gradients as it reads them (a loss scale of 64) */
    pt_optim_gate cun = {.found = &no, .sumsq = &big, .clip_norm = 1.0, .unscale = 1.0f / 64},
                  gun = {.found = dno, .sumsq = dbig, .clip_norm = 1.0, .unscale = 1.0f / 64};
    OP_OK(pt_backend_adamw(op_cpu, &h, &cun, w, gg2, m, v, n));
    OP_OK(pt_backend_adamw(op_gpu, &h, &gun, dw, dgg, dm, dv, n));
    op_compare("adamw unscaling", op_down(dw, n), w, n, 1e-13);
}
