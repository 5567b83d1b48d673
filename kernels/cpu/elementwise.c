/* The CPU elementwise sums: y = a + b, y += a (residual adds and gradient
 * accumulation), and the bias gradient, the column sums of dy [rows, n]. */
#include "../backend_impl.h"
#include "cpu.h"

pt_status cpu_add(pt_backend *be, const float *a, const float *b, float *y, size_t n)
{
    (void)be;
    for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i];
    return PT_OK;
}

pt_status cpu_acc(pt_backend *be, const float *a, float *y, size_t n)
{
    (void)be;
    for (size_t i = 0; i < n; i++) y[i] += a[i];
    return PT_OK;
}

pt_status cpu_bias_grad(pt_backend *be, const float *dy, float *db, int rows, int n,
                        float beta)
{
    (void)be;
    for (int j = 0; j < n; j++) db[j] = beta == 0.0f ? 0.0f : db[j] * beta; /* 0: db is not read */
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < n; j++) db[j] += dy[(size_t)i * n + j];
    return PT_OK;
}
