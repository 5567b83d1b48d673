/* The one hash every random choice in prectune derives from (splitmix64's
 * finalizer): data order, dropout masks, initial weights, tie-free test
 * data. Counter-based, so a resumed run or another backend draws the same
 * numbers from the same counters. */
#ifndef PT_RNG_H
#define PT_RNG_H

#include <stdint.h>

#include "hd.h"

PT_HD static inline uint64_t pt_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The next number of a splitmix64 stream whose state is *s. */
PT_HD static inline uint64_t pt_splitmix(uint64_t *s)
{
    return pt_mix64(*s += 0x9e3779b97f4a7c15ull);
}

#endif
