/* The elementwise cases, CPU against the backend under test: rounding to
 * each format, sums, additions, dropout; multiples of 4 values take the
 * four-a-thread kernels, the others one value a thread. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "op_test.h"

static float *inputs(size_t n, float scale, bool specials)
{
    float *x = op_rnd(n, scale);
    if (specials && n > 10) x[3] = NAN, x[5] = INFINITY;
    return x;
}

/* round to fa in place: the encoders agree bit for bit (test_cuda_formats) */
void op_round(const op_case *c)
{
    size_t n = (size_t)c->shape[0];
    float *x = inputs(n, 4, c->flags & OP_SPECIALS), *out = op_host(n * 4), *dout = op_dev(n * 4);
    memcpy(out, x, n * 4);
    OP_OK(pt_backend_round(op_cpu, c->fa, out, n));
    OP_OK(pt_backend_upload(op_gpu, dout, x, n * 4));
    OP_OK(pt_backend_round(op_gpu, c->fa, dout, n));
    op_compare("round", op_down(dout, n), out, n, c->nmse);
}

/* fp64 sums added to what is there (0.25): another order, so within 1e-12 relative */
void op_sum(const op_case *c)
{
    size_t n = (size_t)c->shape[0];
    float *y = op_rnd(n, 1), *dy = op_up(y, n * 4);
    double hs = 0.25, gs = 0.25, *dsum = op_up(&gs, 8);
    OP_OK(pt_backend_sum(op_cpu, y, n, &hs));
    OP_OK(pt_backend_sum(op_gpu, dy, n, dsum));
    op_down_bytes(&gs, dsum, 8);
    OP_CHECK(fabs(gs - hs) <= c->nmse * fmax(1, fabs(hs)), "tested %.17g, cpu %.17g", gs, hs);
}

void op_add(const op_case *c)
{
    size_t n = (size_t)c->shape[0];
    float *x = inputs(n, 4, c->flags & OP_SPECIALS), *y = op_rnd(n, 1), *out = op_host(n * 4);
    float *dx = op_up(x, n * 4), *dy = op_up(y, n * 4), *dout = op_dev(n * 4);
    OP_OK(pt_backend_add(op_cpu, x, y, out, n));
    OP_OK(pt_backend_add(op_gpu, dx, dy, dout, n));
    op_compare("add", op_down(dout, n), out, n, c->nmse);
}

/* the same mask from the same seed (99), p 0.3; arg[0]: the backward */
void op_dropout(const op_case *c)
{
    size_t n = (size_t)c->shape[0];
    float *y = op_rnd(n, 1), *out = op_host(n * 4), *dy = op_up(y, n * 4), *dout = op_dev(n * 4);
    OP_OK(pt_backend_dropout(op_cpu, y, out, n, 0.3f, 99, c->arg[0] ? PT_PASS_BWD : PT_PASS_FWD));
    OP_OK(pt_backend_dropout(op_gpu, dy, dout, n, 0.3f, 99, c->arg[0] ? PT_PASS_BWD : PT_PASS_FWD));
    op_compare("dropout (same mask)", op_down(dout, n), out, n, c->nmse);
}
