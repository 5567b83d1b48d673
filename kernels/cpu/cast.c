/* The CPU's format conversions beside the cast itself (backend.c): decode
 * codes to fp32, round fp32 in place to a format, and the cast that also
 * writes the transposed codes an fp8 operand needs ([rows, cols] and
 * [cols, rows]). */
#include "../backend_impl.h"
#include "../formats_impl.h"
#include "cpu.h"

pt_status cpu_decode(pt_backend *be, pt_format from, const void *in, float *out, size_t n,
                     const float *scale_inv)
{
    (void)be;
    pt_decode_array(from, in, out, n, scale_inv ? *scale_inv : 1.0f);
    return PT_OK;
}

pt_status cpu_round(pt_backend *be, pt_format f, float *x, size_t n)
{
    (void)be;
    pt_round_array(f, x, n, 0);
    return PT_OK;
}
/* out[c][r] = in[r][c] for 1-byte codes: the transposed copy of an fp8 operand */
static void transpose_codes(const uint8_t *in, uint8_t *out, int rows, int cols)
{
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) out[(size_t)c * rows + r] = in[(size_t)r * cols + c];
}

/* a cast, and (out_t not NULL) its codes transposed, y being [n / cols, cols] */
pt_status cast_twins(pt_backend *be, pt_format f, const float *y, void *out, void *out_t, size_t n, int cols,
                     const float *scale, float *amax, unsigned flags)
{
    pt_status st = be->ops->cast(be, f, y, out, n, scale, amax, flags);
    if (!st && out_t) transpose_codes(out, out_t, (int)(n / (size_t)cols), cols);
    return st;
}

pt_status cpu_cast_t(pt_backend *be, pt_format to, const float *in, int rows, int cols, void *out,
                     void *out_t, const float *scale, float *amax, unsigned flags)
{
    return cast_twins(be, to, in, out, out_t, (size_t)rows * (size_t)cols, cols, scale, amax, flags);
}
