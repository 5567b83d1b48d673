/* The encode/decode arithmetic behind formats.c, as inline functions so
 * that the bulk loops and the CPU statistics inline them. Everything is
 * integer and exact fp32 arithmetic: no libm, no excess precision. The
 * results are bit-identical to the CUDA intrinsics (__float2bfloat16_rn,
 * __float2half_rn, __nv_cvt_float_to_fp8 and cvt.rn.tf32.f32), which the
 * gpu test checks on all 2^32 inputs. */
#ifndef PT_FORMATS_IMPL_H
#define PT_FORMATS_IMPL_H

#include <stdint.h>
#include <string.h>

static inline uint32_t pt_f2u(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }
static inline float pt_u2f(uint32_t u) { float x; memcpy(&x, &u, 4); return x; }

/* bf16 is the top half of fp32: round the low 16 bits away (RNE).
 * NaN -> canonical 0x7fff (sign dropped), as the hardware does. */
static inline uint32_t pt_enc_bf16(float x, int sat)
{
    uint32_t u = pt_f2u(x);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return 0x7fffu;
    uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    if (sat && (r & 0x7fffu) >= 0x7f80u) r = (r & 0x8000u) | 0x7f7fu;
    return r;
}

/* tf32 keeps fp32's layout with 10 mantissa bits: round the low 13 away.
 * NaN -> canonical 0x7fffe000 (what cvt.rn.tf32.f32 gives on sm_90). */
static inline uint32_t pt_enc_tf32(float x, int sat)
{
    uint32_t u = pt_f2u(x);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return 0x7fffe000u;
    uint32_t r = (u + 0xfffu + ((u >> 13) & 1u)) & ~0x1fffu;
    if (sat && (r & 0x7fffffffu) >= 0x7f800000u) r = (r & 0x80000000u) | 0x7f7fe000u;
    return r;
}

/* fp32 "encoding" keeps the value; NaN becomes the canonical 0x7fffffff,
 * as any GPU arithmetic on it (the cast's scale multiply) gives. */
static inline uint32_t pt_enc_fp32(float x, int sat)
{
    uint32_t u = pt_f2u(x);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fffffffu;
    if (sat && (u & 0x7fffffffu) == 0x7f800000u) u = (u & 0x80000000u) | 0x7f7fffffu;
    return u;
}

/* A small binary format with M mantissa bits and exponent bias B whose
 * largest finite code (sign off) is max_code. Written without branches so
 * that the bulk loops vectorize: both roundings are computed and the
 * right one selected.
 * - Below the smallest normal, |x| is rounded to a multiple of the
 *   smallest subnormal q by adding and subtracting c = q*2^23 in fp32 (the
 *   addition rounds RNE at exactly q; IEEE arithmetic is never
 *   reassociated without -ffast-math). The code is then |x|/q.
 * - In the normal range the fp32 bits are rounded (RNE) at the format's
 *   last mantissa bit, so a carry moves into the exponent; moving the
 *   exponent bias from 127 to B and shifting gives the code.
 * Overflow (a rounded magnitude above max_code) gives inf_code, or
 * max_code when saturating; NaN gives nan_code. */
static inline uint32_t pt_enc_small(float x, int M, int B, uint32_t max_code,
                                    uint32_t inf_code, uint32_t nan_code,
                                    int sat, int width)
{
    uint32_t u = pt_f2u(x);
    uint32_t sign = (u >> 31) << (width - 1);
    uint32_t a = u & 0x7fffffffu;
    uint32_t min_normal_bits = (uint32_t)(127 + 1 - B) << 23;
    float c = pt_u2f((uint32_t)(127 + 1 - B - M + 23) << 23);
    float inv_q = pt_u2f((uint32_t)(127 - (1 - B - M)) << 23);
    float small = pt_u2f(a < min_normal_bits ? a : min_normal_bits);
    uint32_t code_sub = (uint32_t)(int32_t)(((small + c) - c) * inv_q);
    int shift = 23 - M;
    uint32_t r = a + ((1u << (shift - 1)) - 1u) + ((a >> shift) & 1u);
    uint32_t code_norm = (r - ((uint32_t)(127 - B) << 23)) >> shift;
    uint32_t code = a < min_normal_bits ? code_sub : code_norm;
    uint32_t over = sat ? max_code : inf_code;
    code = code > max_code ? over : code;
    return a > 0x7f800000u ? nan_code : (sign | code);
}

static inline uint32_t pt_enc_fp16(float x, int sat)
{
    return pt_enc_small(x, 10, 15, 0x7bffu, 0x7c00u, 0x7fffu, sat, 16);
}

/* e4m3 has no inf: it always saturates (SATFINITE); +-inf -> +-448. */
static inline uint32_t pt_enc_e4m3(float x, int sat)
{
    (void)sat;
    return pt_enc_small(x, 3, 7, 0x7eu, 0x7eu, 0x7fu, 1, 8);
}

static inline uint32_t pt_enc_e5m2(float x, int sat)
{
    return pt_enc_small(x, 2, 15, 0x7bu, 0x7cu, 0x7fu, sat, 8);
}

/* Decode of a small format (exp field E bits), without branches so that
 * the bulk loops vectorize. e4m3 (no_inf) treats exponent all-ones as
 * normal numbers except mantissa all-ones (NaN). NaN decodes to the
 * canonical fp32 NaN, as the GPU's conversions give. */
static inline float pt_dec_small(uint32_t code, int E, int M, int B, int no_inf, int width)
{
    uint32_t sign = ((code >> (width - 1)) & 1u) << 31;
    uint32_t e = (code >> M) & ((1u << E) - 1u);
    uint32_t m = code & ((1u << M) - 1u);
    uint32_t emax = (1u << E) - 1u, mmax = (1u << M) - 1u;
    float q = pt_u2f((uint32_t)(127 + 1 - B - M) << 23);
    uint32_t sub = pt_f2u((float)(int32_t)m * q);
    uint32_t norm = ((e + (uint32_t)(127 - B)) << 23) | (m << (23 - M));
    uint32_t special = no_inf ? (m == mmax ? 0x7fffffffu : norm)
                              : (m ? 0x7fffffffu : 0x7f800000u);
    uint32_t out = e == 0 ? sub : e == emax ? special : norm;
    return pt_u2f(out == 0x7fffffffu ? out : (out | sign));
}

static inline float pt_dec_fp16(uint32_t c) { return pt_dec_small(c, 5, 10, 15, 0, 16); }
static inline float pt_dec_e4m3(uint32_t c) { return pt_dec_small(c, 4, 3, 7, 1, 8); }
static inline float pt_dec_e5m2(uint32_t c) { return pt_dec_small(c, 5, 2, 15, 0, 8); }
static inline float pt_dec_bf16(uint32_t c) { return pt_u2f(c << 16); }

#endif
