/* What the CPU backend's files share. */
#ifndef PT_CPU_H
#define PT_CPU_H

#include "../backend_impl.h"

/* A scratch buffer of at least n floats, one per slot (0..2), owned by the
 * backend and reused across calls (the GEMM decodes operands into them). */
pt_status pt_cpu_scratch(pt_backend *be, int slot, size_t n, float **out);

#endif
