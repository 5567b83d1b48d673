/* What the CPU backend's files share. */
#ifndef PT_CPU_H
#define PT_CPU_H

#include "../backend_impl.h"

/* A scratch buffer of at least n floats, one per slot (0..8), owned by the
 * backend and reused across calls: the GEMM decodes its operands into 0
 * and 1 and rounds its output in 2; the convolutions keep their columns in
 * 3, a decoded x in 4 and their output rows in 5; the activation passes
 * finish a raw x and dy (pt_gemm_tail.keep_raw) in CPU_SLOT_X and
 * CPU_SLOT_DY, and write an output nobody keeps in CPU_SLOT_OUT. */
enum { CPU_SLOT_X = 6, CPU_SLOT_DY, CPU_SLOT_OUT, CPU_SCRATCH_SLOTS };
pt_status pt_cpu_scratch(pt_backend *be, int slot, size_t n, float **out);

/* fp32 view of a GEMM operand (in slot when it must be decoded). */
pt_status pt_cpu_operand_f32(pt_backend *be, int slot, const pt_operand *o, size_t n, const float **out);
pt_status pt_cpu_gemm(pt_backend *be, const pt_gemm *g, void *c);
pt_status pt_cpu_im2col(pt_backend *be, const pt_conv_shape *s, const float *x, float *cols);
pt_status pt_cpu_col2im(pt_backend *be, const pt_conv_shape *s, const float *cols, float *dx);
pt_status pt_cpu_rows_to_nchw(pt_backend *be, const float *rows, float *nchw, int n, int c, int p, bool backward);

/* conv.c: the convolutions as im2col GEMMs (ops.h) */
pt_status pt_cpu_conv_fwd(pt_backend *be, const pt_conv_shape *s, int o, const pt_operand *x, const pt_operand *w,
                          const float *bias, pt_format out_fmt, float *y);
pt_status pt_cpu_conv_bwd_data(pt_backend *be, const pt_conv_shape *s, int o, const pt_operand *dy,
                               const pt_operand *w, pt_format out_fmt, float *dx);
pt_status pt_cpu_conv_bwd_filter(pt_backend *be, const pt_conv_shape *s, int o, const pt_operand *dy,
                                 const pt_operand *x, float beta, float *dw);

#endif
