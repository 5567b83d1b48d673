/* Loading the golden files: little-endian records, sizes checked. */
#include "golden.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *read_all(const char *name, size_t *bytes)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", PT_GOLDEN_DIR, name);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open golden file %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc((size_t)len);
    ck_assert(buf != NULL);
    ck_assert_msg(fread(buf, 1, (size_t)len, f) == (size_t)len, "short read of %s", path);
    fclose(f);
    *bytes = (size_t)len;
    return buf;
}

float *golden_read_floats(const char *name, size_t n)
{
    size_t bytes;
    float *v = read_all(name, &bytes);
    ck_assert_msg(bytes == n * 4, "%s: %zu bytes, expected %zu", name, bytes, n * 4);
    return v;
}

golden_case *golden_read_cases(size_t *n)
{
    size_t bytes;
    unsigned char *raw = read_all("encode_cases.bin", &bytes);
    ck_assert_msg(bytes % 12 == 0, "encode_cases.bin: size %zu is not a multiple of 12", bytes);
    *n = bytes / 12;
    golden_case *c = calloc(*n, sizeof *c);
    ck_assert(c != NULL);
    for (size_t i = 0; i < *n; i++) {
        const unsigned char *r = raw + 12 * i;
        memcpy(&c[i].x, r, 4);
        c[i].bf16 = (uint16_t)(r[4] | r[5] << 8);
        c[i].fp16 = (uint16_t)(r[6] | r[7] << 8);
        c[i].e4m3 = r[8];
        c[i].e5m2 = r[9];
        c[i].e5m2_sat = r[10];
        c[i].flags = r[11];
    }
    free(raw);
    return c;
}
