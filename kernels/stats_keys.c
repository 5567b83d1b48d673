/* Building the key tables of the table-driven statistics kernel, and
 * turning its key counts back into pt_stats. Exactness rests on two
 * facts: |x|'s bit pattern orders like |x|, and x -> fl(|x| * scale) is
 * monotonic, so "x*scale underflows (overflows) format k" is exactly
 * "|x| bits <= under_max[k]" (">= over_min[k]"), with the bounds found by
 * bisection using the very multiply the CPU reference does. */
#include "stats_keys.h"

#include <stdlib.h>
#include <string.h>

#include "formats_impl.h"

static float scaled(uint32_t m, float s) { return pt_u2f(m) * s; }

/* Largest m in [0, inf bits] with fl(m * s) <= th (m = 0 always is). */
static uint32_t last_le(float s, float th)
{
    uint32_t lo = 0, hi = 0x7f800000u;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo + 1) / 2;
        if (scaled(mid, s) <= th) lo = mid; else hi = mid - 1;
    }
    return lo;
}

/* Smallest m in [0, inf bits] with fl(m * s) >= th (inf * s always is). */
static uint32_t first_ge(float s, float th)
{
    uint32_t lo = 0, hi = 0x7f800000u;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (scaled(mid, s) >= th) hi = mid; else lo = mid + 1;
    }
    return lo;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Keys of one exponent (all c with that top byte), split at the points
 * inside it; fills the table row and the key ranges. */
static int add_bin(pt_stats_keyinfo *ki, uint32_t *row, uint32_t bin, const uint32_t *splits,
                   int nsplits)
{
    uint32_t lo = bin << 24, end = lo | 0xffffffu;
    int inner = 0;
    uint32_t in[PT_STATS_SPLITS];
    for (int i = 0; i < nsplits; i++)
        if (splits[i] > lo && splits[i] <= end) {
            if (inner == PT_STATS_SPLITS) return 0;
            in[inner++] = splits[i];
        }
    row[0] = (uint32_t)ki->nkeys * PT_STATS_KEY_BYTES;
    for (int i = 0; i < PT_STATS_SPLITS; i++) row[1 + i] = i < inner ? in[i] - 1 : 0xffffffffu;
    for (int i = 0; i <= inner; i++) {
        int k = ki->nkeys++;
        if (k >= PT_STATS_KEYS) return 0;
        ki->lo[k] = i == 0 ? lo : in[i - 1];
        ki->hi[k] = i == inner ? end : in[i] - 1;
    }
    return 1;
}

int pt_stats_table_build(float scale, pt_stats_table *t, pt_stats_keyinfo *ki)
{
    memset(ki, 0, sizeof *ki);
    /* split points in c = 2|x|bits + sign: a key starts at each */
    uint32_t splits[3 + 2 * PT_SFMT_COUNT];
    int n = 0;
    splits[n++] = 2u;          /* +-0 | non-zero */
    splits[n++] = 0xff000001u; /* +inf | -inf */
    splits[n++] = 0xff000002u; /* -inf | NaN */
    for (int k = 0; k < PT_SFMT_COUNT; k++) {
        pt_format f = pt_stats_formats[k];
        ki->under_max[k] = last_le(scale, pt_format_underflow_threshold(f));
        ki->over_min[k] = first_ge(scale, pt_format_overflow_threshold(f));
        splits[n++] = 2 * (ki->under_max[k] + 1);
        splits[n++] = 2 * ki->over_min[k];
    }
    qsort(splits, (size_t)n, sizeof splits[0], cmp_u32);
    int u = 0; /* unique, and only points inside an exponent (its edges split already) */
    for (int i = 0; i < n; i++)
        if ((splits[i] & 0xffffffu) && (u == 0 || splits[u - 1] != splits[i]))
            splits[u++] = splits[i];
    for (uint32_t bin = 0; bin < 256; bin++)
        if (!add_bin(ki, t->e[bin], bin, splits, u)) return 0;
    return 1;
}

void pt_stats_keys_finish(const pt_stats_keys_dev *d, const pt_stats_keyinfo *ki,
                          uint64_t count, float scale, pt_stats *s)
{
    memset(s, 0, sizeof *s);
    s->count = count;
    s->scale = scale;
    for (int key = 0; key < ki->nkeys; key++) {
        uint64_t c = d->count[key];
        if (!c) continue;
        uint32_t lo = ki->lo[key], hi = ki->hi[key];
        if (lo >= 0xff000002u) {
            s->nan += c;
        } else if (lo >= 0xff000000u) {
            if (lo & 1) s->neg_inf += c; else s->pos_inf += c;
        } else if (hi <= 1) {
            s->zero += c;
            s->hist[PT_HIST_ZERO] += c;
        } else {
            int e = (int)(lo >> 24) - 127; /* fp32 subnormals: -127, below range */
            int bin = e < PT_HIST_MIN_EXP ? PT_HIST_BELOW
                    : e > PT_HIST_MAX_EXP ? PT_HIST_ABOVE
                                          : PT_HIST_FIRST + e - PT_HIST_MIN_EXP;
            s->hist[bin] += c;
            for (int k = 0; k < PT_SFMT_COUNT; k++) {
                if (hi <= 2 * ki->under_max[k] + 1) s->underflow[k] += c;
                if (lo >= 2 * ki->over_min[k]) s->overflow[k] += c;
            }
        }
    }
    uint32_t mn = ~d->min_inv;
    s->absmax = pt_u2f(d->absmax_bits);
    s->min_nonzero = mn >= 0x7f800000u ? 0.0f : pt_u2f(mn + 1);
}
