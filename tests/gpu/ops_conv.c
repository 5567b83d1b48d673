/* The convolution and data-movement cases, CPU (im2col GEMMs) against the
 * backend under test (cuDNN): the convolutions in every format they take,
 * im2col/col2im, pooling (max pooling over a ReLU's output, where windows
 * tie at zero), rows <-> NCHW, and rows gathered by index. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "op_test.h"

static pt_conv_shape conv_shape(const op_case *c)
{
    const int *s = c->shape;
    return (pt_conv_shape){s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8]};
}

/* shape: n, c, h, w, k, stride, pad, oh, ow; arg[0] the filters. Without
 * cuDNN the backend takes no convolution: the case says so and passes. */
void op_conv(const op_case *cs)
{
    pt_format f = cs->fa;
    if (!pt_backend_supports(op_gpu, PT_OP_CONV, PT_FMT_FP32)) {
        printf("SKIP %s: this build has no cuDNN\n", cs->name);
        return;
    }
    pt_conv_shape s = conv_shape(cs);
    int o = cs->arg[0];
    const pt_format_traits *t = pt_format_info(f);
    size_t nx = (size_t)s.n * s.c * s.h * s.w, nw = (size_t)o * s.c * s.k * s.k, ny = (size_t)s.n * s.oh * s.ow * o;
    float *x = op_rnd(nx, 2), *w = op_rnd(nw, 0.5f), *b = op_rnd(o, 1), *dy = op_rnd(ny, 1);
    size_t sb = t->storage_bytes;
    void *qx = op_host(nx * sb), *qw = op_host(nw * sb), *qdy = op_host(ny * sb);
    const void *px = x, *pw = w, *pdy = dy;
    if (sb == 2) {
        OP_OK(pt_backend_cast(op_cpu, f, x, qx, nx, NULL, NULL, 0));
        px = qx;
        OP_OK(pt_backend_cast(op_cpu, f, w, qw, nw, NULL, NULL, 0));
        pw = qw;
        OP_OK(pt_backend_cast(op_cpu, f, dy, qdy, ny, NULL, NULL, 0));
        pdy = qdy;
    }
    pt_format out = f == PT_FMT_TF32 ? PT_FMT_FP32 : f;
    float *y = op_host(ny * 4), *dx = op_host(nx * 4), *dw = op_rnd(nw, 1);
    pt_operand X = {.data = px, .fmt = f}, W = {.data = pw, .fmt = f, .trans = true}, DY = {.data = pdy, .fmt = f};
    void *Dx = op_up(px, nx * sb), *Dw = op_up(pw, nw * sb), *Ddy = op_up(pdy, ny * sb);
    float *Db = op_up(b, o * 4), *Ddw = op_up(dw, nw * 4), *Dy = op_dev(ny * 4), *Ddx = op_dev(nx * 4);
    pt_operand GX = {.data = Dx, .fmt = f}, GW = {.data = Dw, .fmt = f, .trans = true}, GDY = {.data = Ddy, .fmt = f};
    OP_OK(pt_backend_conv_fwd(op_cpu, &s, o, &X, &W, b, out, y));
    OP_OK(pt_backend_conv_fwd(op_gpu, &s, o, &GX, &GW, Db, out, Dy));
    OP_OK(pt_backend_conv_bwd_data(op_cpu, &s, o, &DY, &W, out, dx));
    OP_OK(pt_backend_conv_bwd_data(op_gpu, &s, o, &GDY, &GW, out, Ddx));
    OP_OK(pt_backend_conv_bwd_filter(op_cpu, &s, o, &DY, &X, 1.0f, dw));
    OP_OK(pt_backend_conv_bwd_filter(op_gpu, &s, o, &GDY, &GX, 1.0f, Ddw));
    op_compare("conv fwd", op_down(Dy, ny), y, ny, cs->nmse);
    op_compare("conv bwd_data", op_down(Ddx, nx), dx, nx, cs->nmse);
    /* the filter gradient accumulates onto dw: fp32 1e-10, the others 1e-9 */
    op_compare("conv bwd_filter", op_down(Ddw, nw), dw, nw, f == PT_FMT_FP32 ? 1e-10 : 1e-9);
}

/* the device's convolutions take no fp8 */
void op_conv_unsupported(const op_case *cs)
{
    if (!op_on_device) return;
    OP_CHECK(!pt_backend_supports(op_gpu, PT_OP_CONV, cs->fa), "the device takes %s convolutions",
             pt_format_info(cs->fa)->name);
}

/* max pooling of ReLU outputs: most windows hold several zeros; the
 * gradient goes to the first largest value of each window, as the CPU's */
void op_maxpool_tied(const op_case *cs)
{
    pt_conv_shape s = conv_shape(cs);
    size_t nx = (size_t)s.n * s.c * s.h * s.w, ny = (size_t)s.n * s.c * s.oh * s.ow;
    float *x = op_rnd(nx, 1), *dyv = op_rnd(ny, 1), *y = op_host(ny * 4), *dx = op_host0(nx * 4);
    for (size_t i = 0; i < nx; i++) x[i] = x[i] > 0.3f ? x[i] : 0.0f;
    int32_t *arg = op_host(ny * 4), *Darg = op_dev(ny * 4);
    float *Dx = op_up(x, nx * 4), *Ddy = op_up(dyv, ny * 4), *Ddx = op_up(dx, nx * 4), *Dy = op_dev(ny * 4);
    OP_OK(pt_backend_pool_fwd(op_cpu, PT_POOL_MAX, &s, x, y, arg));
    OP_OK(pt_backend_pool_fwd(op_gpu, PT_POOL_MAX, &s, Dx, Dy, Darg));
    OP_OK(pt_backend_pool_bwd(op_cpu, PT_POOL_MAX, &s, x, y, dyv, arg, dx));
    OP_OK(pt_backend_pool_bwd(op_gpu, PT_POOL_MAX, &s, Dx, Dy, Ddy, Darg, Ddx));
    op_compare("maxpool bwd, tied windows", op_down(Ddx, nx), dx, nx, cs->nmse);
}

/* im2col exactly; col2im's sums in another order (1e-13) */
void op_im2col(const op_case *cs)
{
    pt_conv_shape s = conv_shape(cs);
    size_t nx = (size_t)s.n * s.c * s.h * s.w, ncol = (size_t)s.n * s.oh * s.ow * s.c * s.k * s.k;
    float *x = op_rnd(nx, 2), *cols = op_host(ncol * 4), *dx = op_host0(nx * 4);
    float *Dx = op_up(x, nx * 4), *Dcols = op_dev(ncol * 4), *Ddx = op_up(dx, nx * 4);
    OP_OK(pt_backend_im2col(op_cpu, &s, x, cols));
    OP_OK(pt_backend_im2col(op_gpu, &s, Dx, Dcols));
    op_compare("im2col", op_down(Dcols, ncol), cols, ncol, 0);
    OP_OK(pt_backend_col2im(op_cpu, &s, cols, dx));
    OP_OK(pt_backend_col2im(op_gpu, &s, Dcols, Ddx));
    op_compare("col2im", op_down(Ddx, nx), dx, nx, cs->nmse);
}

/* arg[0]: max (else average) pooling, forward then backward */
void op_pool(const op_case *cs)
{
    pt_conv_shape s = conv_shape(cs);
    bool mx = cs->arg[0];
    pt_pool pool = mx ? PT_POOL_MAX : PT_POOL_AVG;
    size_t nx = (size_t)s.n * s.c * s.h * s.w, ny = (size_t)s.n * s.c * s.oh * s.ow;
    float *x = op_rnd(nx, 2), *dx = op_host0(nx * 4), *y = op_host(ny * 4), *dyv = op_rnd(ny, 1);
    int32_t *arg = op_host(ny * 4), *Darg = op_dev(ny * 4);
    float *Dx = op_up(x, nx * 4), *Ddx = op_up(dx, nx * 4), *Dy = op_dev(ny * 4), *Ddy = op_up(dyv, ny * 4);
    OP_OK(pt_backend_pool_fwd(op_cpu, pool, &s, x, y, arg));
    OP_OK(pt_backend_pool_fwd(op_gpu, pool, &s, Dx, Dy, Darg));
    op_compare(mx ? "maxpool fwd" : "avgpool fwd", op_down(Dy, ny), y, ny, cs->nmse);
    OP_OK(pt_backend_pool_bwd(op_cpu, pool, &s, x, y, dyv, arg, dx));
    OP_OK(pt_backend_pool_bwd(op_gpu, pool, &s, Dx, Dy, Ddy, Darg, Ddx));
    op_compare(mx ? "maxpool bwd" : "avgpool bwd", op_down(Ddx, nx), dx, nx, cs->nmse);
}

/* shape: n, c, p: rows [n*p, c] to NCHW, exactly */
void op_rows_to_nchw(const op_case *cs)
{
    int n = cs->shape[0], c = cs->shape[1], p = cs->shape[2];
    size_t nr = (size_t)n * c * p;
    float *x = op_rnd(nr, 2), *y = op_host(nr * 4), *Dx = op_up(x, nr * 4), *Dy = op_dev(nr * 4);
    OP_OK(pt_backend_rows_to_nchw(op_cpu, x, y, n, c, p, PT_PASS_FWD));
    OP_OK(pt_backend_rows_to_nchw(op_gpu, Dx, Dy, n, c, p, PT_PASS_FWD));
    op_compare("rows_to_nchw", op_down(Dy, nr), y, nr, 0);
}

/* Rows picked by index (a data set kept on the device): exact copies, of
 * shape[0] columns from a table of 1000 rows, 333 picked; and bad
 * arguments refused. */
void op_gather_rows(const op_case *cs)
{
    int dim = cs->shape[0], n = 1000, rows = 333;
    float *tab = op_rnd((size_t)n * dim, 10.0f), *want = op_host((size_t)rows * dim * sizeof(float));
    int32_t *idx = op_host(rows * sizeof(int32_t));
    for (int r = 0; r < rows; r++) idx[r] = (int32_t)((r * 7919u + 13u) % (unsigned)n);
    OP_OK(pt_backend_gather_rows(op_cpu, tab, dim * sizeof(float), idx, rows, want));
    for (int r = 0; r < rows; r++)
        OP_CHECK(!memcmp(want + (size_t)r * dim, tab + (size_t)idx[r] * dim, dim * sizeof(float)),
                 "the cpu's row %d is not row %d", r, idx[r]);
    float *Dtab = op_up(tab, (size_t)n * dim * sizeof(float)), *Dout = op_dev((size_t)rows * dim * sizeof(float));
    int32_t *Didx = op_up(idx, rows * sizeof(int32_t));
    OP_OK(pt_backend_gather_rows(op_gpu, Dtab, dim * sizeof(float), Didx, rows, Dout));
    float *got = op_down(Dout, (size_t)rows * dim);
    OP_CHECK(!memcmp(got, want, (size_t)rows * dim * sizeof(float)), "the rows differ");
    OP_EXPECT(pt_backend_gather_rows(op_gpu, NULL, 6, NULL, 1, NULL), PT_ERR_INVALID);
}
