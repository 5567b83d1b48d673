/* PT_HD: a function the host and the CUDA kernels both compile (the
 * shared arithmetic of common/rng.h and of kernels/fp8_logic.h and
 * kernels/optim_gate.h). */
#ifndef PT_HD_H
#define PT_HD_H

#ifdef __CUDACC__
#define PT_HD __host__ __device__
#else
#define PT_HD
#endif

#endif
