/*
 * quant_decode.cuh — the bit-level half of the quantized matmuls: loading a 32-code
 * chunk of a row and turning its codes into floats. Host-callable too (with portable
 * stand-ins for the PRMT / funnel-shift intrinsics and plain loads instead of __ldg),
 * so cuda/tests/quant_decode_test.cu checks these exact functions against a
 * straightforward decoder of the lookahead.h layout on a machine without a GPU.
 */
#ifndef LK_QUANT_DECODE_CUH
#define LK_QUANT_DECODE_CUH

#include <cuda_runtime.h>
#include <stdint.h>
#include <string.h>

#if defined(__CUDA_ARCH__)
#define LK_HD __device__ __forceinline__
#define LK_UNROLL _Pragma("unroll")
#else
#define LK_HD __host__ __device__ inline
#define LK_UNROLL
#endif

namespace lk_quant {

constexpr float kMagic = 8388608.0f; /* 2^23 */

LK_HD uint32_t byte_perm(uint32_t x, uint32_t y, uint32_t s) {
#if defined(__CUDA_ARCH__)
    return __byte_perm(x, y, s);
#else
    const uint64_t v = ((uint64_t)y << 32) | x;
    uint32_t r = 0;
    for (int n = 0; n < 4; ++n) r |= (uint32_t)((v >> (8 * ((s >> (4 * n)) & 7))) & 0xFF) << (8 * n);
    return r;
#endif
}

LK_HD uint32_t funnel_r(uint32_t lo, uint32_t hi, int s) {
#if defined(__CUDA_ARCH__)
    return __funnelshift_r(lo, hi, s);
#else
    return (uint32_t)((((uint64_t)hi << 32) | lo) >> (s & 31));
#endif
}

LK_HD float as_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
    return __uint_as_float(u);
#else
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
#endif
}

template <typename V> LK_HD V ld(const V* p) {
#if defined(__CUDA_ARCH__)
    return __ldg(p);
#else
    return *p;
#endif
}

/* The float 2^23 + q for the byte `sel` (0..3) of a word whose bytes hold codes < 256,
 * minus 2^23: the code as a float without a conversion instruction. */
LK_HD float magic_byte(uint32_t m, int sel) {
    return as_float(byte_perm(m, 0x4B000000u, 0x7440u | (uint32_t)sel)) - kMagic;
}

/* A chunk = 32 codes = 4 units in BITS words (4-bit: word i is unit i; 2-bit: word i
 * holds units 2i, 2i+1; 3-bit: the three words are a 96-bit little-endian stream in
 * which code j sits at bit 3j, the concatenation of the 4 units' 24-bit packs). */
template <int BITS> struct Chunk { uint32_t w[BITS]; };

/* Loads chunk k of a row slice of `slice_bytes` bytes. vec: the row start is aligned
 * to the vector size (16 / 8 / 4 bytes at 4 / 2 / 3 bits); the last, partial chunk
 * of a row is read byte by byte and padded with zero codes (their x is zero too). */
template <int BITS>
LK_HD Chunk<BITS> load_chunk(const uint8_t* __restrict__ row, int64_t k, int64_t slice_bytes, int vec) {
    constexpr int CB = 4 * BITS;
    Chunk<BITS> c;
    const int64_t off = k * CB;
    if (vec && off + CB <= slice_bytes) {
        if constexpr (BITS == 4) {
            const uint4 u = ld(reinterpret_cast<const uint4*>(row + off));
            c.w[0] = u.x; c.w[1] = u.y; c.w[2] = u.z; c.w[3] = u.w;
        } else if constexpr (BITS == 2) {
            const uint2 u = ld(reinterpret_cast<const uint2*>(row + off));
            c.w[0] = u.x; c.w[1] = u.y;
        } else {
            const uint32_t* p = reinterpret_cast<const uint32_t*>(row + off);
            c.w[0] = ld(p); c.w[1] = ld(p + 1); c.w[2] = ld(p + 2);
        }
    } else {
LK_UNROLL
        for (int i = 0; i < BITS; ++i) c.w[i] = 0;
LK_UNROLL
        for (int b = 0; b < CB; ++b)
            if (off + b < slice_bytes) c.w[b >> 2] |= (uint32_t)ld(row + off + b) << (8 * (b & 3));
    }
    return c;
}

/* The decode matvec's variant of a code as a float: bias + code, exactly, with no subtraction; the
 * kernel folds the bias into the zero point (s (q - z) = s ((bias + q) - (bias + z))). The code goes
 * into the mantissa of a float whose exponent makes its lowest bit weigh 1, with one PRMT (4 and 2
 * bits):
 * - 4 bits: in byte 2 of 0x43000000 (= 128; mantissa bit 16 weighs 1): 128 + q. A byte's upper
 *   nibble would reach bit 23, the exponent's, so the bias cannot be smaller;
 * - 2 and 3 bits: at bits 20-22 of 0x41000000 (= 8; bit 20 weighs 1): 8 + q.
 * The smaller the bias against the codes, the less the float sum of (bias + q) x loses. */
template <int BITS> constexpr float kBias = BITS == 4 ? 128.0f : 8.0f;

/* The float holding byte `sel` of m in its byte 2, over the bias's exponent byte. */
template <int BITS> LK_HD float biased_byte(uint32_t m, int sel) {
    return as_float(byte_perm(m, BITS == 4 ? 0x43000000u : 0x41000000u, 0x7054u | ((uint32_t)sel << 8)));
}

/* The 32 codes of a chunk as floats: q[j] = code j, or with BIASED kBias<BITS> + code j. */
template <int BITS, bool BIASED> LK_HD void decode_codes(const Chunk<BITS>& c, float (&q)[32]) {
    if constexpr (BITS == 4) {
        /* byte b of lo / hi = code 2b / 2b+1 of the word, in the byte's low nibble: one PRMT per code */
LK_UNROLL
        for (int i = 0; i < 4; ++i) {
            const uint32_t lo = c.w[i] & 0x0F0F0F0Fu, hi = (c.w[i] >> 4) & 0x0F0F0F0Fu;
LK_UNROLL
            for (int b = 0; b < 4; ++b) {
                q[8 * i + 2 * b] = BIASED ? biased_byte<4>(lo, b) : magic_byte(lo, b);
                q[8 * i + 2 * b + 1] = BIASED ? biased_byte<4>(hi, b) : magic_byte(hi, b);
            }
        }
    } else if constexpr (BITS == 2) {
        /* byte b of m(sft) = code 4b + sft of the word, at bits 0-1 of the byte (BIASED: moved from bits
         * 2 sft to bits 4-5) */
LK_UNROLL
        for (int i = 0; i < 2; ++i) {
LK_UNROLL
            for (int sft = 0; sft < 4; ++sft) {
                const uint32_t w = c.w[i];
                const uint32_t m = BIASED ? (sft < 2 ? w << (4 - 2 * sft) : w >> (2 * sft - 4)) & 0x30303030u
                                          : (w >> (2 * sft)) & 0x03030303u;
LK_UNROLL
                for (int b = 0; b < 4; ++b) q[16 * i + 4 * b + sft] = BIASED ? biased_byte<2>(m, b) : magic_byte(m, b);
            }
        }
    } else {
LK_UNROLL
        for (int j = 0; j < 32; ++j) {
            /* Codes 10 and 21 straddle words; in word 2 (bits 64..95) no code does,
             * so its "hi" operand is never shifted in. */
            const int bit = 3 * j, word = bit >> 5, off = bit & 31;
            const uint32_t v = funnel_r(c.w[word], c.w[word < 2 ? word + 1 : 2], off);
            q[j] = BIASED ? as_float(((v << 20) & 0x700000u) | 0x41000000u) : as_float((v & 7u) | 0x4B000000u) - kMagic;
        }
    }
}

template <int BITS> LK_HD void decode_chunk(const Chunk<BITS>& c, float (&q)[32]) { decode_codes<BITS, false>(c, q); }

template <int BITS> LK_HD void decode_chunk_biased(const Chunk<BITS>& c, float (&q)[32]) {
    decode_codes<BITS, true>(c, q);
}

} /* namespace lk_quant */

#endif /* LK_QUANT_DECODE_CUH */
