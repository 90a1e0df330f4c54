/*
 * quant_decode_test.cu — host-only check of cuda/quant_decode.cuh, the chunk loader
 * and code decoder used by every quantized-matmul kernel, against a plain packer of
 * the layout in lookahead.h ("Quantized weights"). Runs without a GPU (the functions
 * are host-callable; the intrinsics have portable stand-ins there).
 *
 * For bits 2, 3 and 4 and row lengths that are and are not multiples of the 32-code
 * chunk, random codes are packed byte by byte as the header describes, then every
 * chunk is loaded with the vector path (aligned rows) and the byte path, decoded, and
 * compared code by code; codes past the row must come back as zero.
 * Exit status 0 if all match.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../quant_decode.cuh"

/* The header's layout, written as literally as possible. */
static void pack(int bits, const int* codes, int n, uint8_t* out) {
    memset(out, 0, (size_t)n * bits / 8);
    for (int c = 0; c < n; ++c) {
        if (bits == 4) {
            /* byte i holds codes 2i (bits 0-3) and 2i+1 (bits 4-7) */
            out[c / 2] |= (uint8_t)(codes[c] << (4 * (c % 2)));
        } else if (bits == 2) {
            /* byte i holds codes 4i..4i+3, code 4i+j in bits 2j..2j+1 */
            out[c / 4] |= (uint8_t)(codes[c] << (2 * (c % 4)));
        } else {
            /* 8 codes in 3 bytes read as a 24-bit little-endian word w; code j is (w >> 3j) & 7 */
            const int pack_i = c / 8, j = c % 8;
            uint32_t w = out[3 * pack_i] | (out[3 * pack_i + 1] << 8) | (out[3 * pack_i + 2] << 16);
            w |= (uint32_t)codes[c] << (3 * j);
            out[3 * pack_i] = (uint8_t)w;
            out[3 * pack_i + 1] = (uint8_t)(w >> 8);
            out[3 * pack_i + 2] = (uint8_t)(w >> 16);
        }
    }
}

template <int BITS> static int check(int n, unsigned seed) {
    int* codes = (int*)malloc(sizeof(int) * n);
    const int bytes = n * BITS / 8;
    /* 16-byte aligned storage so the vector path is legal, plus a misaligned copy. */
    uint8_t* aligned = (uint8_t*)aligned_alloc(16, ((size_t)bytes + 64) / 16 * 16);
    uint8_t* raw = (uint8_t*)malloc((size_t)bytes + 1);
    srand(seed);
    for (int c = 0; c < n; ++c) codes[c] = rand() % (1 << BITS);
    pack(BITS, codes, n, aligned);
    memcpy(raw + 1, aligned, (size_t)bytes);
    int bad = 0;
    const int64_t nchunks = (n + 31) / 32;
    for (int vec = 0; vec < 2; ++vec) {
        const uint8_t* row = vec ? aligned : raw + 1;
        for (int64_t k = 0; k < nchunks; ++k) {
            const lk_quant::Chunk<BITS> ch = lk_quant::load_chunk<BITS>(row, k, bytes, vec);
            float q[32], qb[32];
            lk_quant::decode_chunk<BITS>(ch, q);
            lk_quant::decode_chunk_biased<BITS>(ch, qb);
            for (int j = 0; j < 32; ++j) {
                const int64_t c = 32 * k + j;
                const float want = c < n ? (float)codes[c] : 0.0f;
                if (q[j] != want || qb[j] != lk_quant::kBias<BITS> + want) {
                    if (bad < 10)
                        fprintf(stderr, "bits %d n %d vec %d: code %lld decoded %g (biased %g), expected %g\n", BITS,
                                n, vec, (long long)c, q[j], qb[j], want);
                    bad++;
                }
            }
        }
    }
    free(codes);
    free(aligned);
    free(raw);
    return bad;
}

int main(void) {
    static const int lengths[] = {8, 24, 32, 40, 96, 104, 128, 4096, 4104};
    int bad = 0, cases = 0;
    for (int li = 0; li < (int)(sizeof lengths / sizeof lengths[0]); ++li) {
        const int n = lengths[li];
        bad += check<4>(n, 1u + li);
        bad += check<3>(n, 100u + li);
        bad += check<2>(n, 200u + li);
        cases += 3;
    }
    /* The magic-number conversion over every byte value. */
    for (uint32_t v = 0; v < 256; ++v)
        for (int sel = 0; sel < 4; ++sel)
            if (lk_quant::magic_byte(v << (8 * sel), sel) != (float)v) {
                if (bad < 10) fprintf(stderr, "magic_byte(%u, %d) wrong\n", v, sel);
                bad++;
            }
    /* biased_byte over every code value in every byte position */
    for (uint32_t v = 0; v < 16; ++v)
        for (int sel = 0; sel < 4; ++sel) {
            if (lk_quant::biased_byte<4>(v << (8 * sel), sel) != 128.0f + (float)v) {
                if (bad < 10) fprintf(stderr, "biased_byte<4>(%u, %d) wrong\n", v, sel);
                bad++;
            }
            if (v < 8 && lk_quant::biased_byte<2>(v << (8 * sel + 4), sel) != 8.0f + (float)v) {
                if (bad < 10) fprintf(stderr, "biased_byte<2>(%u, %d) wrong\n", v, sel);
                bad++;
            }
        }
    printf("quant_decode_test: %d layouts x lengths checked, %d mismatches\n", cases, bad);
    return bad ? 1 : 0;
}
