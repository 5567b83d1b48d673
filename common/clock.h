/* Monotonic wall time in seconds, for the step times, the op profile,
 * the tuner's budget and the calibration (one clock for all of them). */
#ifndef PT_CLOCK_H
#define PT_CLOCK_H

#include <time.h>

static inline double pt_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#endif
