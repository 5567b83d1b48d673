/* The CPU losses: softmax cross-entropy over logits [rows, classes] with
 * int labels, and mean squared error; each gives the loss and its
 * gradient. Reductions accumulate in fp64 so the result does not depend on
 * the length. */
#include <math.h>

#include "../backend_impl.h"
#include "../formats_impl.h"
#include "cpu.h"

pt_status cpu_softmax_ce(pt_backend *be, const float *logits, const int32_t *labels,
                         float *loss, float *dlogits, int rows, int c, float grad_scale)
{
    (void)be;
    for (int i = 0; i < rows; i++) {
        const float *z = logits + (size_t)i * c;
        int y = labels[i];
        if (y < 0 || y >= c)
            return pt_fail(PT_ERR_INVALID, "softmax_ce: label %d of row %d outside [0, %d)", y, i, c);
        float mx = z[0];
        for (int j = 1; j < c; j++) mx = z[j] > mx ? z[j] : mx;
        double se = 0;
        for (int j = 0; j < c; j++) se += exp((double)(z[j] - mx));
        float lse = mx + (float)log(se);
        loss[i] = lse - z[y];
        if (dlogits)
            for (int j = 0; j < c; j++) {
                float p = expf(z[j] - lse);
                dlogits[(size_t)i * c + j] = (p - (j == y ? 1.0f : 0.0f)) * grad_scale;
            }
    }
    return PT_OK;
}

pt_status cpu_mse(pt_backend *be, const float *y, const float *t, float *loss, float *dy,
                  int rows, int c, float grad_scale)
{
    (void)be;
    for (int i = 0; i < rows; i++) {
        double s = 0;
        for (int j = 0; j < c; j++) {
            float d = y[(size_t)i * c + j] - t[(size_t)i * c + j];
            s += (double)d * d;
            if (dy) dy[(size_t)i * c + j] = 2.0f * d / (float)c * grad_scale;
        }
        loss[i] = (float)(s / c);
    }
    return PT_OK;
}
