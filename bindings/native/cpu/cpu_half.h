/*
 * cpu_half.h — fp16 / bf16 <-> fp32 conversions for the CPU backend.
 *
 * Scalar versions are exact bit manipulations: fp16 -> fp32 and bf16 -> fp32 are
 * exact (every fp16/bf16 value is an fp32 value, subnormals included); fp32 -> fp16
 * and fp32 -> bf16 round to nearest, ties to even, overflow to +-inf, keep inf, and
 * turn NaN into a quiet NaN that keeps the sign and the top payload bits (what the
 * x86 F16C instruction VCVTPS2PH does, so the scalar and vector paths agree bit for bit).
 *
 * With F16C (part of -march=x86-64-v3) the 8-wide helpers use VCVTPH2PS / VCVTPS2PH.
 */
#ifndef LOOKAHEAD_CPU_HALF_H
#define LOOKAHEAD_CPU_HALF_H

#include <stdint.h>
#include <string.h>

#if defined(__F16C__) || defined(__AVX2__)
#include <immintrin.h>
#endif

static inline uint32_t lk_f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float lk_bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* fp16 (1 sign, 5 exponent, 10 mantissa bits, bias 15) -> fp32, exact; a NaN comes
 * out quiet. */
static inline float lk_f16_to_f32_soft(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu;
    uint32_t mant = h & 0x3FFu;
    uint32_t bits;
    if (exp == 0x1Fu) {                 /* inf / nan: keep the payload */
        bits = sign | 0x7F800000u | (mant << 13) | (mant ? 0x400000u : 0u);
    } else if (exp != 0) {              /* normal: rebias 15 -> 127 */
        bits = sign | ((exp + 112u) << 23) | (mant << 13);
    } else if (mant == 0) {             /* +-0 */
        bits = sign;
    } else {                            /* subnormal: mant * 2^-24, normal in fp32 */
        int e = -1;
        do { mant <<= 1; e++; } while ((mant & 0x400u) == 0);
        /* value = 1.mant' * 2^(-15 - e) ; fp32 exponent field = 127 - 15 - e */
        bits = sign | ((uint32_t)(112 - e) << 23) | ((mant & 0x3FFu) << 13);
    }
    return lk_bits_f32(bits);
}

/* fp32 -> fp16, round to nearest even. */
static inline uint16_t lk_f32_to_f16_soft(float f) {
    uint32_t x = lk_f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t exp = (x >> 23) & 0xFFu;
    uint32_t mant = x & 0x7FFFFFu;
    if (exp == 0xFFu) {                               /* inf / nan */
        if (mant == 0) return (uint16_t)(sign | 0x7C00u);
        return (uint16_t)(sign | 0x7E00u | (mant >> 13)); /* quiet nan */
    }
    int32_t e = (int32_t)exp - 127 + 15;              /* fp16 biased exponent */
    if (e >= 0x1F) return (uint16_t)(sign | 0x7C00u); /* overflow -> inf */
    if (e <= 0) {
        /* Result is subnormal (or zero): value = m * 2^-24 with m = full mantissa
         * (implicit 1 included) shifted right by 14 - e bits (13 for fp32->fp16, 1 - e
         * more to reach exponent -14). */
        if (e < -10) return sign;                     /* below half the smallest subnormal */
        uint32_t m = mant | 0x800000u;
        uint32_t shift = (uint32_t)(14 - e);
        uint32_t q = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1u);
        uint32_t half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (q & 1u))) q++; /* may carry into the smallest normal: correct */
        return (uint16_t)(sign | q);
    }
    uint32_t q = ((uint32_t)e << 10) | (mant >> 13);
    uint32_t rem = mant & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (q & 1u))) q++; /* carry may reach inf: correct */
    return (uint16_t)(sign | q);
}

#if defined(__F16C__)
static inline float lk_f16_to_f32(uint16_t h) { return _cvtsh_ss(h); }
static inline uint16_t lk_f32_to_f16(float f) {
    return (uint16_t)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
#else
static inline float lk_f16_to_f32(uint16_t h) { return lk_f16_to_f32_soft(h); }
static inline uint16_t lk_f32_to_f16(float f) { return lk_f32_to_f16_soft(f); }
#endif

/* bf16 (the top 16 bits of an fp32) -> fp32, exact. */
static inline float lk_bf16_to_f32(uint16_t b) { return lk_bits_f32((uint32_t)b << 16); }

/* fp32 -> bf16, round to nearest even; nan stays a (quiet) nan. */
static inline uint16_t lk_f32_to_bf16(float f) {
    uint32_t x = lk_f32_bits(f);
    if ((x & 0x7F800000u) == 0x7F800000u && (x & 0x7FFFFFu) != 0)
        return (uint16_t)((x >> 16) | 0x40u);
    x += 0x7FFFu + ((x >> 16) & 1u);                  /* overflow to inf is the right rounding */
    return (uint16_t)(x >> 16);
}

/* ---- 8-wide helpers --------------------------------------------------------- */
#if defined(__AVX2__) && defined(__F16C__)
static inline __m256 lk_load8_f16(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)p));
}
static inline __m256 lk_load8_bf16(const uint16_t* p) {
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}
static inline void lk_store8_f16(uint16_t* p, __m256 v) {
    _mm_storeu_si128((__m128i*)p, _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
}
#endif

/* Converts n elements to fp32 (src dtype: 0 = F32, 1 = F16, 2 = BF16, as lk_dtype). */
static inline void lk_row_to_f32(int dtype, const void* src, int64_t n, float* dst) {
    int64_t i = 0;
    if (dtype == 0) {
        memcpy(dst, src, (size_t)n * sizeof(float));
        return;
    }
    const uint16_t* s = (const uint16_t*)src;
    if (dtype == 1) {
#if defined(__AVX2__) && defined(__F16C__)
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, lk_load8_f16(s + i));
#endif
        for (; i < n; i++) dst[i] = lk_f16_to_f32(s[i]);
    } else {
#if defined(__AVX2__) && defined(__F16C__)
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, lk_load8_bf16(s + i));
#endif
        for (; i < n; i++) dst[i] = lk_bf16_to_f32(s[i]);
    }
}

#endif /* LOOKAHEAD_CPU_HALF_H */
