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

/* Every statistic is a function of which interval a value's bits fall
 * in: the exponent (histogram), and which side of each exactly computed
 * threshold (zero, NaN, and "x*scale underflows/overflows format k" as a
 * bound on |x|'s bits, found by bisection on the host with the same fp32
 * multiply the CPU reference does). So the kernel increments one counter
 * per value: the key of its interval.
 *
 * The kernel works on c = rotl(bits, 1): |x|'s bits times two plus the
 * sign. c orders like |x|, its top 8 bits are the exponent, and +inf /
 * -inf are adjacent values (0xff000000 / 0xff000001) that a split can
 * tell apart, so one 256-row table serves both signs. A row gives the
 * byte offset of the exponent's first key and up to three split points
 * inside the exponent (key += 1 for each split c exceeds). The host turns
 * key counts back into pt_stats. */
#define PT_STATS_KEYS 272
#define PT_STATS_SPLITS 3
#define PT_STATS_KEY_BYTES 4 /* a key's counter */

typedef struct pt_stats_table {
    /* [exponent] = {first key * PT_STATS_KEY_BYTES, t1, t2, t3}: the key
     * grows by one for each t with c > t (unused: 0xffffffff) */
    uint32_t e[256][4];
} pt_stats_table;

typedef struct pt_stats_keyinfo {
    int nkeys;
    uint32_t lo[PT_STATS_KEYS], hi[PT_STATS_KEYS]; /* range of c in the key */
    uint32_t under_max[PT_SFMT_COUNT];              /* |x| bits <= this underflow */
    uint32_t over_min[PT_SFMT_COUNT];               /* |x| bits >= this overflow */
} pt_stats_keyinfo;

typedef struct pt_stats_keys_dev {
    unsigned long long count[PT_STATS_KEYS];
    unsigned int absmax_bits; /* max |x| bits over non-NaN values */
    unsigned int min_inv;     /* ~min(|x| bits - 1): zero wraps away, NaN loses to any number */
} pt_stats_keys_dev;

static inline uint32_t pt_stats_c(uint32_t u) { return (u << 1) | (u >> 31); }

/* Builds the key table for a scale. Returns 0 when an exponent holds more
 * split points than a row does (scales beyond about 2^100 push several
 * underflow thresholds into the subnormal range): such tensors go to the
 * exact kernel. */
int pt_stats_table_build(float scale, pt_stats_table *t, pt_stats_keyinfo *ki);

/* The key of one value (what the kernel computes per element). */
static inline uint32_t pt_stats_key(const pt_stats_table *t, uint32_t u)
{
    uint32_t c = pt_stats_c(u);
    const uint32_t *r = t->e[c >> 24];
    return r[0] / PT_STATS_KEY_BYTES + (c > r[1]) + (c > r[2]) + (c > r[3]);
}

/* The kernel's per-value max/min arithmetic, shared with the CPU tests:
 * m + 0x7fffff is negative as int32 exactly when m is NaN. */
static inline int32_t pt_stats_amax_step(int32_t acc, uint32_t m)
{
    int32_t v = (int32_t)(m + 0x7fffffu);
    return v > acc ? v : acc;
}
#define PT_STATS_AMAX_INIT ((int32_t)0x7fffff)

/* Statistics from key counts, absmax bits and min_inv. */
void pt_stats_keys_finish(const pt_stats_keys_dev *d, const pt_stats_keyinfo *ki,
                          uint64_t count, float scale, pt_stats *out);

#ifdef __cplusplus
}
#endif
#endif
