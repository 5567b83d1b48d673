/* The optimizer's gate (see pt_optim_gate in ops.h), shared by
 * the CPU backend and the CUDA kernels so that both decide a step and clip
 * its gradients with the same arithmetic. */
#ifndef PT_OPTIM_GATE_H
#define PT_OPTIM_GATE_H

#include <math.h>
#include <stdbool.h>

#include "ops.h"

#include "../common/hd.h"

/* False when the step is skipped (a non-finite gradient was found); else
 * true, with *factor the gradients' multiplier: clip / (norm + 1e-6) when
 * clipping is asked for and the global norm exceeds it, else 1 (*clip
 * says whether to multiply at all, so that an unclipped step reads the
 * gradients exactly as they are); *unscale the multiplier applied before
 * it (1: none). */
static inline PT_HD bool pt_gate_open(const pt_optim_gate *gt, float *factor, bool *clip, float *unscale)
{
    *factor = 1.0f, *clip = false, *unscale = 1.0f;
    if (!gt) return true;
    if (gt->unscale != 0.0f) *unscale = gt->unscale;
    if (gt->found && *gt->found) return false;
    if (gt->sumsq && gt->clip_norm > 0) { /* the sum of squares is of the unscaled gradients */
        double norm = sqrt(*gt->sumsq);
        if (norm > gt->clip_norm) *factor = (float)(gt->clip_norm / (norm + 1e-6)), *clip = true;
    }
    return true;
}

/* A gradient as the optimizer takes it: unscaled, then clipped, each a
 * float product of its own, as an unscale pass and a clip pass would make. */
static inline PT_HD float pt_gate_grad(float g, float unscale, bool clip, float factor)
{
    if (unscale != 1.0f) g = g * unscale;
    if (clip) g = g * factor;
    return g;
}

#endif
