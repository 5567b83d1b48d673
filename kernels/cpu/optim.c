/* The CPU optimizer step and what precedes it: the loss scale's unscale
 * and overflow check of the gradients, their sum and scaling, and the
 * AdamW and SGD updates behind the optimizer gate. */
#include <math.h>

#include "../backend_impl.h"
#include "../formats_impl.h"
#include "cpu.h"
#include "../optim_gate.h"

pt_status cpu_unscale_check(pt_backend *be, float *g, size_t n, float inv_scale, bool write,
                            int32_t *flags, double *sumsq)
{
    (void)be;
    double s = 0;
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        float v = g[i] * inv_scale;
        if (write) g[i] = v;
        bad |= !isfinite(v);
        s += (double)v * v;
    }
    if (bad) flags[0] = 1;
    *sumsq = s;
    return PT_OK;
}

pt_status cpu_sum(pt_backend *be, const float *x, size_t n, double *acc)
{
    (void)be;
    for (size_t i = 0; i < n; i++) *acc += x[i];
    return PT_OK;
}

pt_status cpu_scale(pt_backend *be, float *x, size_t n, float s)
{
    (void)be;
    for (size_t i = 0; i < n; i++) x[i] *= s;
    return PT_OK;
}

pt_status cpu_adamw(pt_backend *be, const pt_adamw *h, const pt_optim_gate *gate, float *w,
                    const float *g, float *m, float *v, size_t n)
{
    (void)be;
    float f, u;
    bool clip;
    if (!pt_gate_open(gate, &f, &clip, &u)) return PT_OK;
    /* torch.optim.AdamW (non-fused): decoupled decay, then the Adam step
     * with bias corrections folded into step size and denominator */
    float bc1 = 1.0f - powf(h->beta1, (float)h->step);
    float bc2 = 1.0f - powf(h->beta2, (float)h->step);
    float step_size = h->lr / bc1, bc2_sqrt = sqrtf(bc2);
    float decay = 1.0f - h->lr * h->weight_decay;
    for (size_t i = 0; i < n; i++) {
        float gi = pt_gate_grad(g[i], u, clip, f);
        w[i] *= decay;
        m[i] = h->beta1 * m[i] + (1.0f - h->beta1) * gi;
        v[i] = h->beta2 * v[i] + (1.0f - h->beta2) * gi * gi;
        float denom = sqrtf(v[i]) / bc2_sqrt + h->eps;
        w[i] -= step_size * m[i] / denom;
    }
    if (h->copy) pt_encode_array(h->copy_fmt, w, h->copy, n, 1.0f, 0);
    return PT_OK;
}

pt_status cpu_sgd(pt_backend *be, float lr, float momentum, float weight_decay, const pt_optim_gate *gate,
                  float *w, const float *g, float *buf, size_t n)
{
    (void)be;
    float f, u;
    bool clip;
    if (!pt_gate_open(gate, &f, &clip, &u)) return PT_OK;
    for (size_t i = 0; i < n; i++) {
        float d = pt_gate_grad(g[i], u, clip, f) + weight_decay * w[i];
        buf[i] = momentum * buf[i] + d;
        w[i] -= lr * (momentum != 0.0f ? buf[i] : d);
    }
    return PT_OK;
}
