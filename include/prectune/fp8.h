/* fp8 scaling recipes: per-tensor delayed scaling (amax history of length
 * H; amax = max of the history or the most recent; scale = fp8_max / amax
 * / 2^margin) and current scaling (amax of the tensor now). A zero, tiny
 * or NaN amax never yields an infinite or NaN scale: the previous scale is
 * kept and the event counted, so that it can be reported. */
#ifndef PRECTUNE_FP8_H
#define PRECTUNE_FP8_H

#include <stdbool.h>
#include <stdint.h>

#include "prectune/formats.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PT_FP8_HISTORY_MAX 1024

typedef enum pt_fp8_recipe_kind { PT_FP8_DELAYED = 0, PT_FP8_CURRENT } pt_fp8_recipe_kind;

typedef struct pt_fp8_recipe {
    pt_fp8_recipe_kind kind;
    int amax_history;   /* H, delayed scaling (default 16) */
    bool amax_max;      /* true: max over the history; false: most recent */
    int margin;         /* scale = fp8_max / amax / 2^margin */
} pt_fp8_recipe;

pt_fp8_recipe pt_fp8_recipe_default(void);

/* The scaling state of one fp8 tensor (an operand of one GEMM). */
typedef struct pt_fp8_state {
    float scale;        /* multiply before the cast */
    float history[PT_FP8_HISTORY_MAX];
    int filled, pos;
    int64_t clamped;    /* amax was zero or too small: scale kept */
    int64_t nan_amax;   /* amax was NaN or inf: scale kept, reported */
    int64_t saturated;  /* delayed: casts whose amax went past what the scale holds (values clamped) */
    float last_amax;
    float sat_amax;     /* the amax of the last such cast */
} pt_fp8_state;

void pt_fp8_state_init(pt_fp8_state *s);

/* The scale to use for this tensor now. Delayed: from the history (the
 * tensor's own amax is recorded after the cast with pt_fp8_record).
 * Current: from `amax_now`, the amax of the tensor being cast. */
float pt_fp8_scale(pt_fp8_state *s, const pt_fp8_recipe *r, pt_format f, float amax_now);

/* Records the amax this step's cast produced (delayed scaling's history),
 * and counts the cast in `saturated` when that amax went past the scale. */
void pt_fp8_record(pt_fp8_state *s, const pt_fp8_recipe *r, pt_format f, float amax);

#ifdef __cplusplus
}
#endif
#endif
