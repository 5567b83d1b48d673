/* Key tables for the table-driven statistics kernel: plain C, so that the
 * mapping from key counts back to statistics is unit-tested on the CPU
 * (tests/test_stats_keys.c) as well as on the GPU. The kernel itself is in
 * cuda/stats.cu. */
#ifndef PT_STATS_KEYS_H
#define PT_STATS_KEYS_H

#include <stdint.h>

#include "prectune/stats.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the table kernel (the fast path) ------------------------------------
 * Every statistic is a function of which interval of |x|'s bits the value
 * falls in: the exponent (histogram), and on which side of each exactly
 * computed threshold (zero, NaN, and "x*scale underflows/overflows format
 * k" as a bound on |x|'s bits, found by bisection on the host with the
 * same fp32 multiply the CPU reference does). So the kernel only
 * increments one counter per value: the key of its interval. A table
 * indexed by sign+exponent gives the first key of that exponent and up to
 * three split points inside it. The host turns key counts back into
 * pt_stats. */
#define PT_STATS_KEYS 272
#define PT_STATS_SPLITS 3

typedef struct pt_stats_table {
    uint32_t e[512][4]; /* [sign<<8 | exponent] = {first key, split, split, split} */
} pt_stats_table;

typedef struct pt_stats_keyinfo {
    int nkeys;
    uint32_t lo[PT_STATS_KEYS], hi[PT_STATS_KEYS]; /* |x| bits in the key */
    uint8_t neg[PT_STATS_KEYS];                     /* key of negative values only */
    uint32_t under_max[PT_SFMT_COUNT];              /* |x| bits <= this underflow */
    uint32_t over_min[PT_SFMT_COUNT];               /* |x| bits >= this overflow */
} pt_stats_keyinfo;

typedef struct pt_stats_keys_dev {
    unsigned long long count[PT_STATS_KEYS];
    unsigned int absmax_bits, min_inv; /* min_inv = ~(min |x| bits - 1) */
} pt_stats_keys_dev;

/* Builds the key table for a scale. Returns false when an exponent holds
 * more split points than the kernel handles (only for scales beyond about
 * 2^100, which push several thresholds into the subnormal range): such
 * tensors go to the exact kernel. */
int pt_stats_table_build(float scale, pt_stats_table *t, pt_stats_keyinfo *ki);

/* The key of one value (what the kernel computes per element). */
static inline uint32_t pt_stats_key(const pt_stats_table *t, uint32_t u)
{
    const uint32_t *e = t->e[u >> 23];
    uint32_t m = u & 0x7fffffffu;
    return e[0] + (m >= e[1]) + (m >= e[2]) + (m >= e[3]);
}

/* Statistics from key counts, absmax bits and min_inv. */
void pt_stats_keys_finish(const pt_stats_keys_dev *d, const pt_stats_keyinfo *ki,
                          uint64_t count, float scale, pt_stats *out);

#ifdef __cplusplus
}
#endif
#endif
