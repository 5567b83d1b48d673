/* The CPU layer norm and RMS norm over the last dimension of x [rows, c],
 * forward (with the mean and 1/std they keep) and backward. */
#include <math.h>

#include "../backend_impl.h"
#include "../formats_impl.h"
#include "cpu.h"

/* In fmt other than fp32, every intermediate (mean, variance, eps,
 * variance + eps, 1/sqrt, output) is rounded to fmt: a norm computed in
 * that format, as a hand-written norm under model.half() is. */
pt_status cpu_layernorm_fwd(pt_backend *be, const float *x, const float *gamma,
                            const float *beta, float eps, pt_format fmt, float *y, float *mean,
                            float *rstd, int rows, int c)
{
    (void)be;
    bool r = fmt != PT_FMT_FP32 && fmt != PT_FMT_TF32;
#define RND(v) (r ? pt_round(fmt, (v), 0) : (v))
    float e = RND(eps);
    for (int i = 0; i < rows; i++) {
        const float *xi = x + (size_t)i * c;
        double s = 0, s2 = 0;
        for (int j = 0; j < c; j++) s += xi[j];
        float mu = RND((float)(s / c));
        for (int j = 0; j < c; j++) s2 += (double)(xi[j] - mu) * (xi[j] - mu);
        float var = RND((float)(s2 / c));
        float rs = RND(1.0f / sqrtf(RND(var + e)));
        mean[i] = mu;
        rstd[i] = rs;
        for (int j = 0; j < c; j++) y[(size_t)i * c + j] = RND((xi[j] - mu) * rs * gamma[j] + beta[j]);
    }
#undef RND
    return PT_OK;
}

pt_status cpu_layernorm_bwd(pt_backend *be, const float *x, const float *gamma,
                            const float *mean, const float *rstd, const float *dy,
                            float *dx, float *dgamma, float *dbeta, int rows, int c)
{
    (void)be;
    for (int i = 0; i < rows; i++) {
        const float *xi = x + (size_t)i * c, *dyi = dy + (size_t)i * c;
        double sum_g = 0, sum_gx = 0;
        for (int j = 0; j < c; j++) {
            float xhat = (xi[j] - mean[i]) * rstd[i];
            float g = dyi[j] * gamma[j];
            sum_g += g;
            sum_gx += (double)g * xhat;
            dgamma[j] += dyi[j] * xhat;
            dbeta[j] += dyi[j];
        }
        float mg = (float)(sum_g / c), mgx = (float)(sum_gx / c);
        for (int j = 0; j < c; j++) {
            float xhat = (xi[j] - mean[i]) * rstd[i];
            dx[(size_t)i * c + j] = rstd[i] * (dyi[j] * gamma[j] - mg - xhat * mgx);
        }
    }
    return PT_OK;
}

pt_status cpu_rmsnorm_fwd(pt_backend *be, const float *x, const float *gamma, float eps, pt_format fmt, float *y,
                          float *rstd, int rows, int c)
{
    (void)be;
    bool r = fmt != PT_FMT_FP32 && fmt != PT_FMT_TF32;
#define RND(v) (r ? pt_round(fmt, (v), 0) : (v))
    float e = RND(eps);
    for (int i = 0; i < rows; i++) {
        const float *xi = x + (size_t)i * c;
        double s2 = 0;
        for (int j = 0; j < c; j++) s2 += (double)xi[j] * xi[j];
        float rs = RND(1.0f / sqrtf(RND(RND((float)(s2 / c)) + e)));
        rstd[i] = rs;
        for (int j = 0; j < c; j++) y[(size_t)i * c + j] = RND(xi[j] * rs * gamma[j]);
    }
#undef RND
    return PT_OK;
}

/* dx = rstd (g dy - xhat mean(g dy xhat)), xhat = x rstd; dgamma += dy xhat */
pt_status cpu_rmsnorm_bwd(pt_backend *be, const float *x, const float *gamma, const float *rstd, const float *dy,
                          float *dx, float *dgamma, int rows, int c)
{
    (void)be;
    for (int i = 0; i < rows; i++) {
        const float *xi = x + (size_t)i * c, *dyi = dy + (size_t)i * c;
        double sum_gx = 0;
        for (int j = 0; j < c; j++) {
            float xhat = xi[j] * rstd[i];
            sum_gx += (double)(dyi[j] * gamma[j]) * xhat;
            dgamma[j] += dyi[j] * xhat;
        }
        float mgx = (float)(sum_gx / c);
        for (int j = 0; j < c; j++)
            dx[(size_t)i * c + j] = rstd[i] * (dyi[j] * gamma[j] - xi[j] * rstd[i] * mgx);
    }
    return PT_OK;
}
