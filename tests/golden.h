/* The golden tables of tests/golden (made by gen_golden.py with ml_dtypes,
 * outside the project's code). */
#ifndef PT_TEST_GOLDEN_H
#define PT_TEST_GOLDEN_H

#include <stddef.h>
#include <stdint.h>

typedef struct golden_case {
    float x;
    uint16_t bf16, fp16;
    uint8_t e4m3, e5m2, e5m2_sat, flags; /* flags bit0: x is NaN */
} golden_case;

/* Reads n float32 values from tests/golden/<name>; aborts the test on error. */
float *golden_read_floats(const char *name, size_t n);
/* Reads encode_cases.bin; *n receives the count. */
golden_case *golden_read_cases(size_t *n);

#endif
