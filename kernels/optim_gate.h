/* The optimizer's gate (see pt_optim_gate in prectune/backend.h), shared by
 * the CPU backend and the CUDA kernels so that both decide a step and clip
 * its gradients with the same arithmetic. */
#ifndef PT_OPTIM_GATE_H
#define PT_OPTIM_GATE_H

#include <math.h>
#include <stdbool.h>

#include "prectune/backend.h"

#include "hd.h"

/* False when the step is skipped (a non-finite gradient was found); else
 * true, with *factor the gradients' multiplier: clip / (norm + 1e-6) when
 * clipping is asked for and the global norm exceeds it, else 1 (*clip
 * says whether to multiply at all, so that an unclipped step reads the
 * gradients exactly as they are). */
static inline PT_HD bool pt_gate_open(const pt_optim_gate *gt, float *factor, bool *clip)
{
    *factor = 1.0f, *clip = false;
    if (!gt) return true;
    if (gt->found && *gt->found) return false;
    if (gt->sumsq && gt->clip_norm > 0) {
        double norm = sqrt(*gt->sumsq);
        if (norm > gt->clip_norm) *factor = (float)(gt->clip_norm / (norm + 1e-6)), *clip = true;
    }
    return true;
}

#endif
