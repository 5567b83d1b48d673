/* The per-row cases, CPU against the backend under test: layer norm
 * (fp32, and fp16 with a constant row), the bias gradient, softmax
 * cross-entropy and the squared error. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "op_test.h"

/* fp32 against fp64-accumulated moments (nmse); computed in fp16 with an
 * eps (1e-8) that is 0 there: a constant first row is 0 * inf = NaN on
 * both, the rest agrees to fp16's rounding (the moments are summed in
 * another order: 1e-5); the backward (1e-10; dbeta, the sums of dy, as
 * bias_grad's: 1e-12) */
void op_layernorm(const op_case *cs)
{
    int rows = cs->shape[0], c = cs->shape[1];
    size_t n = (size_t)rows * c;
    float *x = op_rnd(n, 3), *dyv = op_rnd(n, 1), *g = op_rnd(c, 1), *b = op_rnd(c, 1), *y = op_host(n * 4);
    float *mean = op_host(rows * 4), *rstd = op_host(rows * 4), *dx = op_host(n * 4), *dg = op_host0(c * 4),
          *db = op_host0(c * 4);
    float *Dx = op_up(x, n * 4), *Ddy = op_up(dyv, n * 4), *Dg = op_up(g, c * 4), *Db = op_up(b, c * 4);
    float *Dy = op_dev(n * 4), *Ddx = op_dev(n * 4), *Dmean = op_dev(rows * 4), *Drstd = op_dev(rows * 4);
    float *Ddg = op_up(dg, c * 4), *Ddb = op_up(db, c * 4);
    OP_OK(pt_backend_layernorm_fwd(op_cpu, x, g, b, 1e-5f, PT_FMT_FP32, y, mean, rstd, rows, c));
    OP_OK(pt_backend_layernorm_fwd(op_gpu, Dx, Dg, Db, 1e-5f, PT_FMT_FP32, Dy, Dmean, Drstd, rows, c));
    op_compare("layernorm_fwd", op_down(Dy, n), y, n, cs->nmse);
    float *xc = op_host(n * 4), *yc = op_host(n * 4);
    memcpy(xc, x, n * 4);
    for (int j = 0; j < c; j++) xc[j] = 2.0f;
    float *Dxc = op_up(xc, n * 4);
    OP_OK(pt_backend_layernorm_fwd(op_cpu, xc, g, b, 1e-8f, PT_FMT_FP16, yc, mean, rstd, rows, c));
    OP_OK(pt_backend_layernorm_fwd(op_gpu, Dxc, Dg, Db, 1e-8f, PT_FMT_FP16, Dy, Dmean, Drstd, rows, c));
    OP_CHECK(isnan(yc[0]), "the constant row in fp16: %g, not NaN", (double)yc[0]);
    op_compare("layernorm_fwd fp16", op_down(Dy, n), yc, n, 1e-5);
    OP_OK(pt_backend_layernorm_fwd(op_cpu, x, g, b, 1e-5f, PT_FMT_FP32, y, mean, rstd, rows, c));
    OP_OK(pt_backend_layernorm_fwd(op_gpu, Dx, Dg, Db, 1e-5f, PT_FMT_FP32, Dy, Dmean, Drstd, rows, c));
    OP_OK(pt_backend_layernorm_bwd(op_cpu, x, g, mean, rstd, dyv, dx, dg, db, rows, c));
    OP_OK(pt_backend_layernorm_bwd(op_gpu, Dx, Dg, Dmean, Drstd, Ddy, Ddx, Ddg, Ddb, rows, c));
    op_compare("layernorm_bwd dx", op_down(Ddx, n), dx, n, 1e-10);
    op_compare("layernorm_bwd dgamma", op_down(Ddg, c), dg, c, 1e-10);
    op_compare("layernorm_bwd dbeta", op_down(Ddb, c), db, c, 1e-12); /* bias_grad's sums */
}

/* beta 1 onto what db holds: fp32 sums in another order */
void op_bias_grad(const op_case *cs)
{
    int rows = cs->shape[0], c = cs->shape[1];
    size_t n = (size_t)rows * c;
    float *dyv = op_rnd(n, 1), *db = op_rnd(c, 1), *Ddy = op_up(dyv, n * 4), *Ddb = op_up(db, c * 4);
    OP_OK(pt_backend_bias_grad(op_cpu, dyv, db, rows, c, 1.0f));
    OP_OK(pt_backend_bias_grad(op_gpu, Ddy, Ddb, rows, c, 1.0f));
    op_compare("bias_grad", op_down(Ddb, c), db, c, cs->nmse);
}

void op_softmax_ce(const op_case *cs)
{
    int rows = cs->shape[0], c = cs->shape[1];
    size_t n = (size_t)rows * c;
    float *x = op_rnd(n, 3), *loss = op_host(rows * 4), *y = op_host(n * 4);
    int32_t *lab = op_host(rows * 4);
    for (int i = 0; i < rows; i++) lab[i] = i % c;
    float *Dx = op_up(x, n * 4), *Dloss = op_dev(rows * 4), *Dy = op_dev(n * 4);
    int32_t *Dlab = op_up(lab, rows * 4);
    OP_OK(pt_backend_softmax_ce(op_cpu, x, lab, loss, y, rows, c, 0.5f));
    OP_OK(pt_backend_softmax_ce(op_gpu, Dx, Dlab, Dloss, Dy, rows, c, 0.5f));
    op_compare("softmax_ce loss", op_down(Dloss, rows), loss, rows, cs->nmse);
    op_compare("softmax_ce dlogits", op_down(Dy, n), y, n, cs->nmse);
}

void op_mse(const op_case *cs)
{
    int rows = cs->shape[0], c = cs->shape[1];
    size_t n = (size_t)rows * c;
    float *x = op_rnd(n, 3), *t = op_rnd(n, 1), *loss = op_host(rows * 4), *y = op_host(n * 4);
    float *Dx = op_up(x, n * 4), *Dt = op_up(t, n * 4), *Dloss = op_dev(rows * 4), *Dy = op_dev(n * 4);
    OP_OK(pt_backend_mse(op_cpu, x, t, loss, y, rows, c, 0.5f));
    OP_OK(pt_backend_mse(op_gpu, Dx, Dt, Dloss, Dy, rows, c, 0.5f));
    op_compare("mse dy", op_down(Dy, n), y, n, cs->nmse);
}
