/* One-pass tensor statistics: what the tuner and the diagnosis know about
 * a tensor. From the exponent histogram alone the tuner can predict what
 * any format and scale would do to the tensor without running it; the
 * underflow/overflow counts are exact for the scale given. */
#ifndef PRECTUNE_STATS_H
#define PRECTUNE_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "prectune/formats.h"
#include "prectune/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Histogram of binary exponents floor(log2|x|) of finite non-zero values:
 * one bin per power of two from 2^-40 to 2^+40, plus zero, below-range
 * (|x| < 2^-40) and above-range (|x| >= 2^41) bins. NaN and Inf are
 * counted in their own fields, not in the histogram. */
#define PT_HIST_MIN_EXP (-40)
#define PT_HIST_MAX_EXP 40
enum {
    PT_HIST_ZERO = 0,
    PT_HIST_BELOW = 1,
    PT_HIST_FIRST = 2, /* bin of 2^PT_HIST_MIN_EXP */
    PT_HIST_ABOVE = PT_HIST_FIRST + (PT_HIST_MAX_EXP - PT_HIST_MIN_EXP + 1),
    PT_HIST_BINS
};

/* The formats whose underflow/overflow each statistics pass counts. */
enum { PT_SFMT_FP16 = 0, PT_SFMT_BF16, PT_SFMT_E4M3, PT_SFMT_E5M2, PT_SFMT_COUNT };
extern const pt_format pt_stats_formats[PT_SFMT_COUNT];

typedef struct pt_stats {
    uint64_t count;                     /* elements */
    uint64_t nan, pos_inf, neg_inf, zero;
    /* finite non-zero x whose x*scale (rounded to fp32) rounds to zero in
     * the format (|x*scale| <= min_subnormal/2) */
    uint64_t underflow[PT_SFMT_COUNT];
    /* finite x whose x*scale becomes inf or saturates in the format */
    uint64_t overflow[PT_SFMT_COUNT];
    uint64_t hist[PT_HIST_BINS];
    float absmax;      /* max |x| over non-NaN values (inf if any inf); 0 if none */
    float min_nonzero; /* min |x| over non-zero, non-NaN values; 0 if none */
    float scale;       /* the scale the underflow/overflow counts used */
} pt_stats;

/* One tensor to measure: n values of dtype (fp32, bf16 or fp16) at data,
 * with the scale that would be applied before a cast (1 for none). */
typedef struct pt_stats_req {
    const void *data;
    size_t n;
    pt_format dtype;
    float scale;
} pt_stats_req;

/* Histogram bin of one fp32 value's bit pattern (finite non-zero). */
int pt_hist_bin(float x);
/* Lower edge 2^e of a power-of-two bin (bins PT_HIST_FIRST..PT_HIST_ABOVE-1). */
double pt_hist_bin_low(int bin);

/* Checks a request: dtype supported, scale finite and > 0, data non-null. */
pt_status pt_stats_req_check(const pt_stats_req *r, int index);

/* CPU reference: statistics of n tensors, out[i] for reqs[i]. */
pt_status pt_stats_cpu(const pt_stats_req *reqs, int n, pt_stats *out);

/* Merges b into a (as if both tensors were one; scales must be equal). */
void pt_stats_merge(pt_stats *a, const pt_stats *b);

#ifdef __cplusplus
}
#endif
#endif
