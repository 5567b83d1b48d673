/* PT_HD: a function the host and the CUDA kernels both compile (the
 * shared arithmetic of rng.h, fp8_logic.h and optim_gate.h). */
#ifndef PT_HD_H
#define PT_HD_H

#ifdef __CUDACC__
#define PT_HD __host__ __device__
#else
#define PT_HD
#endif

#endif
