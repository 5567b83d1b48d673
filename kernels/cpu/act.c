/* The CPU activations (ReLU, exact GELU), forward and backward, with their
 * fused variants beside them: the forward followed by the cast of its
 * result, and the backward followed by that cast and the bias gradient;
 * each gives the same values as the plain ops one after the other. */
#include <math.h>

#include "../backend_impl.h"
#include "../formats_impl.h"
#include "cpu.h"

#define INV_SQRT2 0.70710678118654752440f
#define INV_SQRT2PI 0.39894228040143267794f

pt_status cpu_act_fwd(pt_backend *be, pt_act a, const float *x, float *y, size_t n)
{
    (void)be;
    if (a == PT_ACT_RELU)
        for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
    else /* exact GELU, as torch.nn.GELU() */
        for (size_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * INV_SQRT2));
    return PT_OK;
}
/* the activation, then the backend's own cast of its result: the same
 * codes and amax as the two ops one after the other, by construction */
pt_status cpu_act_fwd_cast(pt_backend *be, const pt_act_fwd_desc *d)
{
    const float *x = d->x;
    float *y = d->y;
    size_t n = d->n;
    const pt_cast_out *c = &d->cast;
    pt_status st = tail_input(be, d->x_tail, x, n, CPU_SLOT_X, &x);
    if (!st && !y) st = pt_cpu_scratch(be, CPU_SLOT_OUT, n, &y);
    if (st) return st;
    cpu_act_fwd(be, d->act, x, y, n);
    return c->to == PT_FMT_FP32 ? PT_OK
                                : cast_twins(be, c->to, y, c->codes, c->codes_t, n, d->cols, c->scale, c->amax,
                                             c->flags);
}

pt_status cpu_act_bwd(pt_backend *be, pt_act a, const float *x, const float *dy, float *dx,
                      size_t n)
{
    (void)be;
    if (a == PT_ACT_RELU)
        for (size_t i = 0; i < n; i++) dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
    else
        for (size_t i = 0; i < n; i++) {
            float cdf = 0.5f * (1.0f + erff(x[i] * INV_SQRT2));
            float pdf = INV_SQRT2PI * expf(-0.5f * x[i] * x[i]);
            dx[i] = dy[i] * (cdf + x[i] * pdf);
        }
    return PT_OK;
}
/* the two passes in sequence: the same values as the activation's backward
 * followed by the bias gradient of its result */
pt_status cpu_act_bwd_bias(pt_backend *be, const pt_act_bwd_desc *d)
{
    const float *x = d->x, *dy = d->dy;
    float *dx = d->dx;
    size_t n = d->n;
    int cols = d->cols;
    const pt_cast_out *c = &d->cast;
    pt_status st = tail_input(be, d->x_tail, x, n, CPU_SLOT_X, &x);
    if (!st) st = tail_input(be, d->dy_tail, dy, n, CPU_SLOT_DY, &dy);
    if (!st && !dx) st = pt_cpu_scratch(be, CPU_SLOT_OUT, n, &dx);
    if (st) return st;
    cpu_act_bwd(be, d->act, x, dy, dx, n);
    if (c->to != PT_FMT_FP32 &&
        (st = cast_twins(be, c->to, dx, c->codes, c->codes_t, n, cols, c->scale, c->amax, c->flags)))
        return st;
    return d->db ? cpu_bias_grad(be, dx, d->db, (int)(n / (size_t)cols), cols, d->db_beta) : PT_OK;
}
