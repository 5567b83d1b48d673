/* The format table and the scalar/bulk conversions. One row per format,
 * designated initializers, and a static assert that the table covers the
 * enum: adding a format without describing it fails to compile. The bulk
 * loops switch on the format once, outside the loop, so that each inner
 * loop is a straight-line inline encoder the compiler can vectorize. */
#include "prectune/formats.h"

#include <math.h>
#include <string.h>

#include "formats_impl.h"

static const pt_format_traits traits[PT_FMT_COUNT] = {
    [PT_FMT_FP32] = {.name = "fp32", .bits = 32, .storage_bytes = 4, .exp_bits = 8,
                     .man_bits = 23, .bias = 127, .max_finite = 0x1.fffffep127,
                     .min_normal = 0x1p-126, .min_subnormal = 0x1p-149, .epsilon = 0x1p-23,
                     .overflow = PT_OVERFLOW_INF, .has_inf = true,
                     .nan_code = 0x7fffffffu, .max_code = 0x7f7fffffu},
    [PT_FMT_TF32] = {.name = "tf32", .bits = 19, .storage_bytes = 4, .exp_bits = 8,
                     .man_bits = 10, .bias = 127, .max_finite = 0x1.ffcp127,
                     .min_normal = 0x1p-126, .min_subnormal = 0x1p-136, .epsilon = 0x1p-10,
                     .overflow = PT_OVERFLOW_INF, .has_inf = true,
                     .nan_code = 0x7fffe000u, .max_code = 0x7f7fe000u},
    [PT_FMT_BF16] = {.name = "bf16", .bits = 16, .storage_bytes = 2, .exp_bits = 8,
                     .man_bits = 7, .bias = 127, .max_finite = 0x1.fep127,
                     .min_normal = 0x1p-126, .min_subnormal = 0x1p-133, .epsilon = 0x1p-7,
                     .overflow = PT_OVERFLOW_INF, .has_inf = true,
                     .nan_code = 0x7fffu, .max_code = 0x7f7fu},
    [PT_FMT_FP16] = {.name = "fp16", .bits = 16, .storage_bytes = 2, .exp_bits = 5,
                     .man_bits = 10, .bias = 15, .max_finite = 65504.0,
                     .min_normal = 0x1p-14, .min_subnormal = 0x1p-24, .epsilon = 0x1p-10,
                     .overflow = PT_OVERFLOW_INF, .has_inf = true,
                     .nan_code = 0x7fffu, .max_code = 0x7bffu},
    [PT_FMT_E4M3] = {.name = "fp8_e4m3", .bits = 8, .storage_bytes = 1, .exp_bits = 4,
                     .man_bits = 3, .bias = 7, .max_finite = 448.0,
                     .min_normal = 0x1p-6, .min_subnormal = 0x1p-9, .epsilon = 0x1p-3,
                     .overflow = PT_OVERFLOW_SATURATE, .has_inf = false,
                     .nan_code = 0x7fu, .max_code = 0x7eu},
    [PT_FMT_E5M2] = {.name = "fp8_e5m2", .bits = 8, .storage_bytes = 1, .exp_bits = 5,
                     .man_bits = 2, .bias = 15, .max_finite = 57344.0,
                     .min_normal = 0x1p-14, .min_subnormal = 0x1p-16, .epsilon = 0x1p-2,
                     .overflow = PT_OVERFLOW_INF, .has_inf = true,
                     .nan_code = 0x7fu, .max_code = 0x7bu},
};
_Static_assert(sizeof traits / sizeof traits[0] == PT_FMT_COUNT, "one row per format");

const pt_format_traits *pt_format_info(pt_format f)
{
    return (unsigned)f < PT_FMT_COUNT ? &traits[f] : NULL;
}

pt_format pt_format_from_name(const char *name)
{
    if (!name) return PT_FMT_COUNT;
    for (int f = 0; f < PT_FMT_COUNT; f++)
        if (strcmp(name, traits[f].name) == 0) return (pt_format)f;
    if (strcmp(name, "e4m3") == 0) return PT_FMT_E4M3;
    if (strcmp(name, "e5m2") == 0) return PT_FMT_E5M2;
    return PT_FMT_COUNT;
}

const char *pt_format_names(void)
{
    return "fp32, tf32, bf16, fp16, fp8_e4m3, fp8_e5m2";
}

uint32_t pt_encode(pt_format f, float x, unsigned flags)
{
    int sat = (flags & PT_CAST_SATURATE) != 0;
    switch (f) {
    case PT_FMT_FP32: return pt_enc_fp32(x, sat);
    case PT_FMT_TF32: return pt_enc_tf32(x, sat);
    case PT_FMT_BF16: return pt_enc_bf16(x, sat);
    case PT_FMT_FP16: return pt_enc_fp16(x, sat);
    case PT_FMT_E4M3: return pt_enc_e4m3(x, sat);
    case PT_FMT_E5M2: return pt_enc_e5m2(x, sat);
    default: return 0;
    }
}

float pt_decode(pt_format f, uint32_t code)
{
    switch (f) {
    case PT_FMT_FP32:
    case PT_FMT_TF32: return pt_u2f(code);
    case PT_FMT_BF16: return pt_dec_bf16(code & 0xffffu);
    case PT_FMT_FP16: return pt_dec_fp16(code & 0xffffu);
    case PT_FMT_E4M3: return pt_dec_e4m3(code & 0xffu);
    case PT_FMT_E5M2: return pt_dec_e5m2(code & 0xffu);
    default: return NAN;
    }
}

float pt_round(pt_format f, float x, unsigned flags)
{
    return pt_decode(f, pt_encode(f, x, flags));
}

/* |x| as bits, NaN-propagating under unsigned max (NaN bits > inf bits). */
static inline uint32_t abs_bits(float x) { return pt_f2u(x) & 0x7fffffffu; }

#define ENCODE_LOOP(T, ENC)                                               \
    do {                                                                  \
        T *o = (T *)out;                                                  \
        for (size_t i = 0; i < n; i++) {                                  \
            uint32_t a = abs_bits(in[i]);                                 \
            amax = a > amax ? a : amax;                                   \
            o[i] = (T)ENC(in[i] * scale, sat);                            \
        }                                                                 \
    } while (0)

float pt_encode_array(pt_format f, const float *in, void *out, size_t n, float scale,
                      unsigned flags)
{
    int sat = (flags & PT_CAST_SATURATE) != 0;
    uint32_t amax = 0;
    switch (f) {
    case PT_FMT_FP32: ENCODE_LOOP(uint32_t, pt_enc_fp32); break;
    case PT_FMT_TF32: ENCODE_LOOP(uint32_t, pt_enc_tf32); break;
    case PT_FMT_BF16: ENCODE_LOOP(uint16_t, pt_enc_bf16); break;
    case PT_FMT_FP16: ENCODE_LOOP(uint16_t, pt_enc_fp16); break;
    case PT_FMT_E4M3: ENCODE_LOOP(uint8_t, pt_enc_e4m3); break;
    case PT_FMT_E5M2: ENCODE_LOOP(uint8_t, pt_enc_e5m2); break;
    default: break;
    }
    return pt_u2f(amax > 0x7f800000u ? 0x7fffffffu : amax);
}

#define DECODE_LOOP(T, DEC)                                               \
    do {                                                                  \
        const T *c = (const T *)in;                                       \
        for (size_t i = 0; i < n; i++) out[i] = DEC(c[i]) * scale;        \
    } while (0)

static inline float dec_u32(uint32_t c) { return pt_u2f(c); }

void pt_decode_array(pt_format f, const void *in, float *out, size_t n, float scale)
{
    switch (f) {
    case PT_FMT_FP32:
    case PT_FMT_TF32: DECODE_LOOP(uint32_t, dec_u32); break;
    case PT_FMT_BF16: DECODE_LOOP(uint16_t, pt_dec_bf16); break;
    case PT_FMT_FP16: DECODE_LOOP(uint16_t, pt_dec_fp16); break;
    case PT_FMT_E4M3: DECODE_LOOP(uint8_t, pt_dec_e4m3); break;
    case PT_FMT_E5M2: DECODE_LOOP(uint8_t, pt_dec_e5m2); break;
    default: break;
    }
}

#define ROUND_LOOP(ENC, DEC)                                              \
    for (size_t i = 0; i < n; i++) x[i] = DEC(ENC(x[i], sat))

static inline float dec_tf32(uint32_t c) { return pt_u2f(c); }

void pt_round_array(pt_format f, float *x, size_t n, unsigned flags)
{
    int sat = (flags & PT_CAST_SATURATE) != 0;
    switch (f) {
    case PT_FMT_FP32: ROUND_LOOP(pt_enc_fp32, dec_u32); break;
    case PT_FMT_TF32: ROUND_LOOP(pt_enc_tf32, dec_tf32); break;
    case PT_FMT_BF16: ROUND_LOOP(pt_enc_bf16, pt_dec_bf16); break;
    case PT_FMT_FP16: ROUND_LOOP(pt_enc_fp16, pt_dec_fp16); break;
    case PT_FMT_E4M3: ROUND_LOOP(pt_enc_e4m3, pt_dec_e4m3); break;
    case PT_FMT_E5M2: ROUND_LOOP(pt_enc_e5m2, pt_dec_e5m2); break;
    default: break;
    }
}

float pt_format_overflow_threshold(pt_format f)
{
    /* Halfway between max finite and the next power-of-two step: RNE sends
     * it up (max's last mantissa bit is odd) except in e4m3, where the
     * would-be next value 480 is the NaN code and 464 rounds down to 448. */
    switch (f) {
    case PT_FMT_FP32: return INFINITY;
    case PT_FMT_TF32: return pt_u2f(0x7f7ff000u);
    case PT_FMT_BF16: return pt_u2f(0x7f7f8000u);
    case PT_FMT_FP16: return 65520.0f;
    case PT_FMT_E4M3: return nextafterf(464.0f, INFINITY);
    case PT_FMT_E5M2: return 61440.0f;
    default: return INFINITY;
    }
}

bool pt_format_overflows(pt_format f, float absx)
{
    return absx >= pt_format_overflow_threshold(f);
}

float pt_format_underflow_threshold(pt_format f)
{
    const pt_format_traits *t = pt_format_info(f);
    return t ? (float)(t->min_subnormal / 2) : 0.0f;
}
