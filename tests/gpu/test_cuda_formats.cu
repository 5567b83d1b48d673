/* The CPU encoders against the hardware on every input: all 2^32 fp32 bit
 * patterns, every format (and the saturating variants), compared through
 * an order-independent 64-bit hash per batch of 2^28 inputs; a batch whose
 * hashes differ is compared element by element to name the inputs. Also
 * every code's decode against the hardware's. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "cuda/encode.cuh"
#include "gpu_skip.h"
#include "prectune/formats.h"

#define BATCH_BITS 28
#define NBATCH (1 << (32 - BATCH_BITS))

struct config {
    pt_format f;
    int sat;
};
static const config configs[] = {
    {PT_FMT_TF32, 0}, {PT_FMT_TF32, 1}, {PT_FMT_BF16, 0}, {PT_FMT_BF16, 1}, {PT_FMT_FP16, 0},
    {PT_FMT_FP16, 1}, {PT_FMT_E4M3, 0}, {PT_FMT_E5M2, 0}, {PT_FMT_E5M2, 1}, {PT_FMT_FP32, 0},
    {PT_FMT_FP32, 1},
};
#define NCONF ((int)(sizeof configs / sizeof configs[0]))

__host__ __device__ static inline unsigned long long mix(unsigned long long idx, unsigned code)
{
    unsigned long long m = (code + 0x9e3779b97f4a7c15ull) * 0xbf58476d1ce4e5b9ull;
    m ^= idx * 0xc2b2ae3d27d4eb4full;
    m ^= m >> 29;
    m *= 0x94d049bb133111ebull;
    return m ^ (m >> 32);
}

template <int F>
__global__ void hash_kernel(unsigned long long base, int sat, unsigned long long *out,
                            unsigned *codes)
{
    unsigned long long h = 0;
    unsigned long long n = 1ull << BATCH_BITS;
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)gridDim.x * blockDim.x) {
        unsigned idx = (unsigned)(base + i);
        unsigned c = pt_dev_encode<F>(__uint_as_float(idx), sat);
        if (codes) codes[i] = c;
        h += mix(idx, c);
    }
    for (int o = 16; o; o >>= 1) h += __shfl_xor_sync(0xffffffffu, h, o);
    if ((threadIdx.x & 31) == 0) atomicAdd(out, h);
}

static void launch(pt_format f, unsigned long long base, int sat, unsigned long long *out,
                   unsigned *codes)
{
    switch (f) {
    case PT_FMT_FP32: hash_kernel<PT_FMT_FP32><<<2048, 256>>>(base, sat, out, codes); break;
    case PT_FMT_TF32: hash_kernel<PT_FMT_TF32><<<2048, 256>>>(base, sat, out, codes); break;
    case PT_FMT_BF16: hash_kernel<PT_FMT_BF16><<<2048, 256>>>(base, sat, out, codes); break;
    case PT_FMT_FP16: hash_kernel<PT_FMT_FP16><<<2048, 256>>>(base, sat, out, codes); break;
    case PT_FMT_E4M3: hash_kernel<PT_FMT_E4M3><<<2048, 256>>>(base, sat, out, codes); break;
    default: hash_kernel<PT_FMT_E5M2><<<2048, 256>>>(base, sat, out, codes); break;
    }
    ck_assert_int_eq(cudaGetLastError(), cudaSuccess);
}

START_TEST(test_encode_all_fp32)
{
    unsigned long long *dh;
    ck_assert_int_eq(cudaMalloc(&dh, sizeof(unsigned long long) * NCONF * NBATCH), cudaSuccess);
    ck_assert_int_eq(cudaMemset(dh, 0, sizeof(unsigned long long) * NCONF * NBATCH), cudaSuccess);
    for (int c = 0; c < NCONF; c++)
        for (int b = 0; b < NBATCH; b++)
            launch(configs[c].f, (unsigned long long)b << BATCH_BITS, configs[c].sat,
                   dh + c * NBATCH + b, NULL);
    static unsigned long long gpu[NCONF * NBATCH], cpu[NCONF * NBATCH];
    ck_assert_int_eq(cudaMemcpy(gpu, dh, sizeof gpu, cudaMemcpyDeviceToHost), cudaSuccess);
    for (int c = 0; c < NCONF; c++) {
        pt_format f = configs[c].f;
        unsigned flags = configs[c].sat ? PT_CAST_SATURATE : 0;
        for (int b = 0; b < NBATCH; b++) {
            unsigned long long h = 0, base = (unsigned long long)b << BATCH_BITS;
#pragma omp parallel for reduction(+ : h) schedule(static)
            for (long long i = 0; i < (1ll << BATCH_BITS); i++) {
                unsigned idx = (unsigned)(base + (unsigned long long)i);
                float x;
                memcpy(&x, &idx, 4);
                h += mix(idx, pt_encode(f, x, flags));
            }
            cpu[c * NBATCH + b] = h;
        }
    }
    int bad = 0;
    unsigned *dcodes, *hcodes = (unsigned *)malloc(sizeof(unsigned) << BATCH_BITS);
    ck_assert_int_eq(cudaMalloc(&dcodes, sizeof(unsigned) << BATCH_BITS), cudaSuccess);
    for (int c = 0; c < NCONF; c++)
        for (int b = 0; b < NBATCH; b++) {
            if (gpu[c * NBATCH + b] == cpu[c * NBATCH + b]) continue;
            bad++;
            unsigned long long base = (unsigned long long)b << BATCH_BITS;
            launch(configs[c].f, base, configs[c].sat, dh, dcodes);
            ck_assert_int_eq(cudaMemcpy(hcodes, dcodes, sizeof(unsigned) << BATCH_BITS,
                                        cudaMemcpyDeviceToHost), cudaSuccess);
            int shown = 0;
            for (unsigned long long i = 0; i < (1ull << BATCH_BITS) && shown < 8; i++) {
                unsigned idx = (unsigned)(base + i);
                float x;
                memcpy(&x, &idx, 4);
                unsigned want = hcodes[i];
                unsigned got = pt_encode(configs[c].f, x, configs[c].sat ? PT_CAST_SATURATE : 0);
                if (got != want) {
                    printf("MISMATCH %s%s: input 0x%08x (%a): cpu 0x%x, gpu 0x%x\n",
                           pt_format_info(configs[c].f)->name, configs[c].sat ? " sat" : "", idx,
                           (double)x, got, want);
                    shown++;
                }
            }
        }
    free(hcodes);
    cudaFree(dcodes);
    cudaFree(dh);
    printf("encode: %d configurations x 2^32 inputs, %d batches differ\n", NCONF, bad);
    ck_assert_int_eq(bad, 0);
}
END_TEST

__global__ void decode_kernel(int f, float *out)
{
    unsigned c = blockIdx.x * blockDim.x + threadIdx.x;
    if (f == PT_FMT_BF16 && c < 65536) out[c] = __bfloat162float(__ushort_as_bfloat16((unsigned short)c));
    if (f == PT_FMT_FP16 && c < 65536) out[c] = __half2float(__ushort_as_half((unsigned short)c));
    if (f == PT_FMT_E4M3 && c < 256)
        out[c] = __half2float(__half(__nv_cvt_fp8_to_halfraw((__nv_fp8_storage_t)c, __NV_E4M3)));
    if (f == PT_FMT_E5M2 && c < 256)
        out[c] = __half2float(__half(__nv_cvt_fp8_to_halfraw((__nv_fp8_storage_t)c, __NV_E5M2)));
}

START_TEST(test_decode_all_codes)
{
    pt_format fs[] = {PT_FMT_BF16, PT_FMT_FP16, PT_FMT_E4M3, PT_FMT_E5M2};
    float *d, *h = (float *)malloc(65536 * 4);
    ck_assert_int_eq(cudaMalloc(&d, 65536 * 4), cudaSuccess);
    for (int k = 0; k < 4; k++) {
        decode_kernel<<<256, 256>>>(fs[k], d);
        ck_assert_int_eq(cudaMemcpy(h, d, 65536 * 4, cudaMemcpyDeviceToHost), cudaSuccess);
        unsigned n = pt_format_info(fs[k])->bits == 16 ? 65536 : 256;
        for (unsigned c = 0; c < n; c++) {
            float cpu = pt_decode(fs[k], c);
            unsigned a, b;
            memcpy(&a, &cpu, 4);
            memcpy(&b, &h[c], 4);
            if (isnan(h[c])) ck_assert_msg(isnan(cpu), "%s 0x%x", pt_format_info(fs[k])->name, c);
            else ck_assert_msg(a == b, "%s decode 0x%x: cpu %a gpu %a",
                               pt_format_info(fs[k])->name, c, (double)cpu, (double)h[c]);
        }
        /* what the hardware gives for a NaN code, for the record */
        unsigned nanbits;
        memcpy(&nanbits, &h[pt_format_info(fs[k])->nan_code], 4);
        printf("decode %s: %u codes agree; NaN code decodes to 0x%08x\n",
               pt_format_info(fs[k])->name, n, nanbits);
    }
    cudaFree(d);
    free(h);
}
END_TEST

int main(void)
{
    pt_test_require_gpu("test_cuda_formats");
    printf("cpu threads for the reference: %d\n", omp_get_max_threads());
    Suite *s = suite_create("cuda_formats");
    TCase *tc = tcase_create("cuda_formats");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, test_decode_all_codes);
    tcase_add_test(tc, test_encode_all_fp32);
    suite_add_tcase(s, tc);
    return pt_check_run(s, CK_NOFORK); /* CUDA is initialized before fork */
}
