/* The number formats prectune reasons about, described once in a traits
 * table (as ggml does), with exact encode/decode that is bit-identical to
 * the CUDA conversion intrinsics (see DESIGN.md, "Numerics contract"). */
#ifndef PRECTUNE_FORMATS_H
#define PRECTUNE_FORMATS_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pt_format {
    PT_FMT_FP32 = 0,
    PT_FMT_TF32,
    PT_FMT_BF16,
    PT_FMT_FP16,
    PT_FMT_E4M3,
    PT_FMT_E5M2,
    PT_FMT_COUNT
} pt_format;

/* What a value too large for the format becomes. */
typedef enum pt_overflow {
    PT_OVERFLOW_INF = 0,   /* +-inf (IEEE formats, e5m2 by default) */
    PT_OVERFLOW_SATURATE,  /* +-max finite (e4m3 always: it has no inf) */
} pt_overflow;

typedef struct pt_format_traits {
    const char *name;        /* "fp32", "tf32", "bf16", "fp16", "fp8_e4m3", "fp8_e5m2" */
    int bits;                /* significant bits of the encoding (tf32: 19) */
    int storage_bytes;       /* bytes per value in memory (tf32: 4) */
    int exp_bits;
    int man_bits;
    int bias;
    double max_finite;
    double min_normal;
    double min_subnormal;
    double epsilon;          /* 2^-man_bits: gap between 1 and the next value */
    pt_overflow overflow;    /* default overflow behaviour */
    bool has_inf;
    uint32_t nan_code;       /* the canonical NaN the encoder produces */
    uint32_t max_code;       /* encoding of +max finite */
} pt_format_traits;

/* Flags for encoding. */
enum {
    PT_CAST_DEFAULT = 0,
    PT_CAST_SATURATE = 1u << 0, /* clamp overflow to +-max finite (also +-inf inputs) */
};

const pt_format_traits *pt_format_info(pt_format f);

/* "bf16" -> PT_FMT_BF16; also accepts "e4m3"/"e5m2" without the fp8_ prefix.
 * Returns PT_FMT_COUNT when the name is unknown. */
pt_format pt_format_from_name(const char *name);

/* A comma-separated list of every format name, for error messages. */
const char *pt_format_names(void);

/* Encode one fp32 value: round-to-nearest-even, subnormals kept, NaN ->
 * the format's canonical NaN, overflow per the format (or saturate when
 * flags has PT_CAST_SATURATE). The code is in the low `bits` bits (tf32:
 * the fp32 bit pattern with the low 13 mantissa bits zero). */
uint32_t pt_encode(pt_format f, float x, unsigned flags);

/* Decode one code to fp32 (exact: every format here fits in fp32). */
float pt_decode(pt_format f, uint32_t code);

/* Encode then decode: the value that x becomes in format f. */
float pt_round(pt_format f, float x, unsigned flags);

/* Bulk: encode n floats, each multiplied by scale first (pass 1.0f for no
 * scale), into out (storage_bytes per value). Returns the absolute max of
 * the input before scaling (NaN if any input is NaN). */
float pt_encode_array(pt_format f, const float *in, void *out, size_t n,
                      float scale, unsigned flags);

/* Bulk decode of n codes (storage_bytes each), multiplied by scale
 * (the inverse of the encode scale; pass 1.0f for none). */
void pt_decode_array(pt_format f, const void *in, float *out, size_t n, float scale);

/* Bulk round in place: x[i] = decode(encode(x[i])) (the emulation of
 * "this tensor is stored in f"). */
void pt_round_array(pt_format f, float *x, size_t n, unsigned flags);

/* The smallest |x| (fp32) that overflows in f under RNE: values at or
 * above it become inf or are saturated (strictly above for e4m3, whose
 * halfway point rounds to even max). */
float pt_format_overflow_threshold(pt_format f);
bool pt_format_overflows(pt_format f, float absx);

/* The largest |x| (fp32) that underflows to zero in f: min_subnormal/2
 * (ties round to the even code, which is zero). */
float pt_format_underflow_threshold(pt_format f);

#ifdef __cplusplus
}
#endif
#endif
