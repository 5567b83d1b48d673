/* Bulk fp32 -> format conversion on one CPU core, against memcpy of the
 * same bytes measured in the same run (the target: at least 1 GB/s
 * of fp32 input per core for bf16 and fp16).
 * usage: bench_cpu_convert [MiB of fp32 input, default 64] */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/clock.h"

#include "prectune/formats.h"

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 64;
    size_t n = mib * 1024 * 1024 / 4;
    float *in = malloc(n * 4), *back = malloc(n * 4);
    void *out = malloc(n * 4);
    if (!in || !out || !back) return 2;
    uint64_t s = 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        in[i] = ldexpf((float)(s >> 40) / 0x1p24f - 0.5f, (int)((s >> 20) % 40) - 20);
    }
    const int reps = 5;
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t = pt_now_s();
        memcpy(out, in, n * 4);
        t = pt_now_s() - t;
        best = t < best ? t : best;
    }
    double gbs_copy = (double)n * 4 / best / 1e9;
    printf("bench_cpu_convert: %zu MiB fp32 input, one core, best of %d\n", mib, reps);
    printf("%-10s %10s %12s %14s\n", "op", "ms", "GB/s in", "vs memcpy");
    printf("%-10s %10.2f %12.2f %14s\n", "memcpy", best * 1e3, gbs_copy, "1.00");
    for (int f = 0; f < PT_FMT_COUNT; f++) {
        best = 1e30;
        for (int r = 0; r < reps; r++) {
            double t = pt_now_s();
            volatile float a = pt_encode_array((pt_format)f, in, out, n, 1.0f, 0);
            (void)a;
            t = pt_now_s() - t;
            best = t < best ? t : best;
        }
        double gbs = (double)n * 4 / best / 1e9;
        printf("enc %-6s %10.2f %12.2f %14.2f\n", pt_format_info((pt_format)f)->name + (f >= PT_FMT_E4M3 ? 4 : 0),
               best * 1e3, gbs, gbs / gbs_copy);
    }
    for (int f = PT_FMT_BF16; f < PT_FMT_COUNT; f++) {
        pt_encode_array((pt_format)f, in, out, n, 1.0f, 0);
        best = 1e30;
        for (int r = 0; r < reps; r++) {
            double t = pt_now_s();
            pt_decode_array((pt_format)f, out, back, n, 1.0f);
            t = pt_now_s() - t;
            best = t < best ? t : best;
        }
        double gbs = (double)n * 4 / best / 1e9;
        printf("dec %-6s %10.2f %12.2f %14.2f\n", pt_format_info((pt_format)f)->name + (f >= PT_FMT_E4M3 ? 4 : 0),
               best * 1e3, gbs, gbs / gbs_copy);
    }
    free(in);
    free(out);
    free(back);
    return 0;
}
