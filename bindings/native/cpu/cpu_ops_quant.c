/*
 * cpu_ops_quant.c — products with group-quantized 2/3/4-bit matrices (lookahead.h,
 * "Quantized weights"): lk_qmatvec (decode, one token) and lk_qmatmul (prefill).
 *
 * A "unit" is 8 consecutive codes of a row; it occupies exactly `bits` bytes
 * (4-bit: 4 bytes, 3-bit: one 24-bit pack, 2-bit: 2 bytes), and a group is
 * group_size / 8 units. With AVX2, a unit is decoded by broadcasting its bytes to
 * 8 lanes and shifting lane j right by j * bits (VPSRLVD), then masking; qmatvec
 * has a faster decoder for whole blocks of codes (see below).
 *
 * qmatvec: w = s (q - z), so for group g of a row
 *   sum_c w[c] x[c] = s * sum(q x) - s * z * sum(x)
 * sum(x) per group is computed once per call; sum(q x) accumulates in 8 lanes and
 * is scaled into the row total once per group. Rows are processed 4 at a time (they
 * share the loads of x); each row's arithmetic is the same whatever block it is in.
 *
 * qmatmul: a panel of [16 rows, KC columns] is dequantized to fp32 once and reused by
 * all tokens (the GEMM core of cpu_ops_dense.c).
 */
#include <math.h>
#include <string.h>

#include "cpu_kernels.h"

typedef struct qmat {
    int bits, gs;
    int64_t rows, cols, ngroups, row_bytes;
    const uint8_t* codes;
    const uint16_t* scales;
    const uint16_t* zeros;
} qmat;

/* The caller's struct may be an older, shorter version (struct_size). */
static void copy_qmatrix(lk_qmatrix* dst, const lk_qmatrix* src) {
    memset(dst, 0, sizeof *dst);
    memcpy(dst, src, src->struct_size < sizeof *dst ? src->struct_size : sizeof *dst);
    dst->struct_size = sizeof *dst;
}

static qmat qmat_from(const lk_qmatrix* w) {
    qmat m;
    m.bits = w->bits;
    m.gs = w->group_size;
    m.rows = w->rows;
    m.cols = w->cols;
    m.ngroups = (w->cols + w->group_size - 1) / w->group_size;
    m.row_bytes = m.ngroups * (int64_t)w->group_size * w->bits / 8;
    m.codes = w->codes;
    m.scales = w->scales;
    m.zeros = w->zeros;
    return m;
}

/* Codes of row r. A 3-bit unit is read as 4 bytes (one past its pack), so the last row
 * of a 3-bit matrix is read from a copy with 4 bytes of padding (`last_row`). */
static inline const uint8_t* row_codes(const qmat* m, const uint8_t* last_row, int64_t r) {
    if (last_row && r == m->rows - 1) return last_row;
    return m->codes + r * m->row_bytes;
}

static uint8_t* padded_last_row(const qmat* m) {
    if (m->bits != 3 || m->rows == 0) return NULL;
    uint8_t* copy = lk_cpu_scratch((size_t)m->row_bytes + 8);
    if (!copy) return NULL;
    memcpy(copy, m->codes + (m->rows - 1) * m->row_bytes, (size_t)m->row_bytes);
    memset(copy + m->row_bytes, 0, 8);
    return copy;
}

static inline uint32_t load_u32(const uint8_t* p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint32_t load_u16(const uint8_t* p) { uint16_t v; memcpy(&v, p, 2); return v; }

/* Scalar decoding of one unit (8 codes). */
static inline void decode_unit_scalar(int bits, const uint8_t* p, int32_t q[8]) {
    if (bits == 4) {
        for (int j = 0; j < 4; j++) { q[2 * j] = p[j] & 15; q[2 * j + 1] = p[j] >> 4; }
    } else if (bits == 2) {
        for (int j = 0; j < 8; j++) q[j] = (p[j >> 2] >> (2 * (j & 3))) & 3;
    } else {
        uint32_t w = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16);
        for (int j = 0; j < 8; j++) q[j] = (int32_t)((w >> (3 * j)) & 7);
    }
}

#ifdef LK_CPU_AVX2
/* Shift counts for one unit: lane j holds code j. */
static inline __m256i unit_shifts(int bits) {
    if (bits == 4) return _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
    if (bits == 3) return _mm256_setr_epi32(0, 3, 6, 9, 12, 15, 18, 21);
    return _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
}

/* The 8 codes of a unit whose bytes are the low bytes of `word`, as floats. */
static inline __m256 decode_word(uint32_t word, __m256i shifts, __m256i mask) {
    __m256i v = _mm256_srlv_epi32(_mm256_set1_epi32((int)word), shifts);
    return _mm256_cvtepi32_ps(_mm256_and_si256(v, mask));
}

static inline uint32_t unit_word(int bits, const uint8_t* p) {
    return bits == 2 ? load_u16(p) : load_u32(p);
}
#endif

/* ---- qmatvec ---------------------------------------------------------------- */

enum { QMV_ROWS = 4 };
#ifndef QMV_PREFETCH
#define QMV_PREFETCH 512   /* bytes ahead; measured best of 256..2048 on the dev box */
#endif

/*
 * The fast AVX2 decoder isolates code j of every lane with one AND and no shift, so
 * the lane holds q * 2^(bits j) (exact, < 2^24); x is pre-scaled by 2^-(bits j)
 * (exact powers of two, so each product equals q x and the FMA rounds the same way):
 *   4-bit: 16 bytes -> VPMOVZXWD -> 8 lanes of 16 bits, lane i = codes 4i .. 4i+3,
 *          code 4i+j in bits 4j               (a "block" of 32 codes)
 *   2-bit: 16 bytes -> VPMOVZXWD, lane i = codes 8i .. 8i+7, code 8i+j in bits 2j
 *                                             (a block of 64 codes)
 *   3-bit: one 24-bit pack broadcast to 8 lanes, lane j keeps code j (bits 3j)
 *                                             (a block of 8 codes)
 * x is gathered into this order once per call (prepare_x). The codes of a group that
 * do not fill a block are decoded as 8-code units by broadcast + VPSRLVD with x in
 * its natural order. Scaling x by up to 2^-21 would make values below 2^-105
 * subnormal, so if x has any such (nonzero) value the call uses units throughout.
 */
static inline int block_codes(int bits) { return bits == 4 ? 32 : bits == 2 ? 64 : 8; }

#ifdef LK_CPU_AVX2
/* 2^-e for 0 <= e < 31, exact */
static inline float pow2_neg(int e) { return 1.0f / (float)(1u << e); }

static void prepare_x(const qmat* m, const float* xp, int fast, float* xq) {
    const int bits = m->bits, B = block_codes(bits);
    for (int64_t g = 0; g < m->ngroups; g++) {
        const float* xs = xp + g * m->gs;
        float* xd = xq + g * m->gs;
        int c = 0;
        if (fast && bits == 3) {
            for (; c + 8 <= m->gs; c += 8)
                for (int j = 0; j < 8; j++) xd[c + j] = xs[c + j] * pow2_neg(3 * j);
        } else if (fast) {
            const int runs = B / 8;   /* codes per lane */
            for (; c + B <= m->gs; c += B)
                for (int j = 0; j < runs; j++)
                    for (int i = 0; i < 8; i++) xd[c + 8 * j + i] = xs[c + runs * i + j] * pow2_neg(bits * j);
        }
        for (; c < m->gs; c++) xd[c] = xs[c];
    }
}
#endif

typedef struct qmatvec_ctx {
    qmat m;
    int fast;            /* the AND-only decoder applies (see above)                 */
    const float* xq;     /* x zero-padded to ngroups * gs, in decoder order          */
    const float* xsum;   /* [ngroups] sum of x over each group                       */
    const uint8_t* last_row;
    float* y;
} qmatvec_ctx;

/* y[r0 .. r0+R) for R <= QMV_ROWS rows; bits, R and fast are compile-time constants
 * at every call site (see qmatvec_block). */
static inline __attribute__((always_inline)) void qmv_rows(const qmatvec_ctx* c, int bits, int R,
                                                           int fast, int64_t r0) {
    const qmat* m = &c->m;
    const int gs = m->gs;
    const int64_t gbytes = (int64_t)gs * bits / 8;
    const uint8_t* code[QMV_ROWS];
    const uint16_t* sc[QMV_ROWS];
    const uint16_t* zr[QMV_ROWS];
    float corr[QMV_ROWS];
    for (int r = 0; r < R; r++) {
        code[r] = row_codes(m, c->last_row, r0 + r);
        sc[r] = m->scales + (r0 + r) * m->ngroups;
        zr[r] = m->zeros + (r0 + r) * m->ngroups;
        corr[r] = 0.0f;
    }
#ifdef LK_CPU_AVX2
    const __m256i mask = _mm256_set1_epi32((1 << bits) - 1);
    const __m256i sh = unit_shifts(bits);
    const __m256i mask3 = _mm256_setr_epi32(7, 7 << 3, 7 << 6, 7 << 9, 7 << 12, 7 << 15, 7 << 18, 7 << 21);
    __m256 tot[QMV_ROWS];
    for (int r = 0; r < R; r++) tot[r] = _mm256_setzero_ps();
    for (int64_t g = 0; g < m->ngroups; g++) {
        const float* xg = c->xq + g * gs;
        __m256 acc[QMV_ROWS];
        for (int r = 0; r < R; r++) {
            acc[r] = _mm256_setzero_ps();
            /* the rows are separate streams: ask for their codes well ahead */
            _mm_prefetch((const char*)code[r] + QMV_PREFETCH, _MM_HINT_T0);
        }
        int k = 0;   /* code index within the group */
        if (fast && bits == 3) {
            for (; k + 8 <= gs; k += 8) {
                __m256 xv = _mm256_loadu_ps(xg + k);
                for (int r = 0; r < R; r++) {
                    __m256i w = _mm256_set1_epi32((int)load_u32(code[r] + k / 8 * 3));
                    acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_and_si256(w, mask3)), xv, acc[r]);
                }
            }
        } else if (fast) {
            const int runs = bits == 4 ? 4 : 8;
            for (; k + 8 * runs <= gs; k += 8 * runs) {
                __m256i v[QMV_ROWS];
                for (int r = 0; r < R; r++)
                    v[r] = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)(code[r] + k * bits / 8)));
                for (int j = 0; j < runs; j++) {
                    const __m256i mj = _mm256_set1_epi32(((1 << bits) - 1) << (bits * j));
                    const __m256 xj = _mm256_loadu_ps(xg + k + 8 * j);
                    for (int r = 0; r < R; r++)
                        acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_and_si256(v[r], mj)), xj, acc[r]);
                }
            }
        }
        for (; k < gs; k += 8) {   /* 8-code units, x in natural order */
            __m256 xv = _mm256_loadu_ps(xg + k);
            for (int r = 0; r < R; r++) {
                uint32_t w = unit_word(bits, code[r] + k * bits / 8);
                acc[r] = _mm256_fmadd_ps(decode_word(w, sh, mask), xv, acc[r]);
            }
        }
        for (int r = 0; r < R; r++) {
            float s = lk_f16_to_f32(sc[r][g]);
            float z = lk_f16_to_f32(zr[r][g]);
            tot[r] = _mm256_fmadd_ps(_mm256_set1_ps(s), acc[r], tot[r]);
            corr[r] += s * z * c->xsum[g];
            code[r] += gbytes;
        }
    }
    for (int r = 0; r < R; r++) c->y[r0 + r] = lk_hsum8(tot[r]) - corr[r];
#else
    (void)fast;
    float tot[QMV_ROWS];
    for (int r = 0; r < R; r++) tot[r] = 0.0f;
    for (int64_t g = 0; g < m->ngroups; g++) {
        const float* xg = c->xq + g * gs;   /* natural order */
        for (int r = 0; r < R; r++) {
            float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            for (int u = 0; u < gs / 8; u++) {
                int32_t q[8];
                decode_unit_scalar(bits, code[r] + g * gbytes + u * bits, q);
                for (int j = 0; j < 8; j++) lane[j] += (float)q[j] * xg[8 * u + j];
            }
            float qx = ((lane[0] + lane[4]) + (lane[2] + lane[6])) + ((lane[1] + lane[5]) + (lane[3] + lane[7]));
            float s = lk_f16_to_f32(sc[r][g]);
            float z = lk_f16_to_f32(zr[r][g]);
            tot[r] += s * qx;
            corr[r] += s * z * c->xsum[g];
        }
    }
    for (int r = 0; r < R; r++) c->y[r0 + r] = tot[r] - corr[r];
#endif
}

static void qmatvec_block(const qmatvec_ctx* c, int64_t r0, int R) {
#define LK_QMV(b, r)                                                                  \
    case (b) * 8 + (r):                                                               \
        if (c->fast) qmv_rows(c, b, r, 1, r0);                                        \
        else qmv_rows(c, b, r, 0, r0);                                                \
        break;
    switch (c->m.bits * 8 + R) {
        LK_QMV(4, 4) LK_QMV(4, 3) LK_QMV(4, 2) LK_QMV(4, 1)
        LK_QMV(3, 4) LK_QMV(3, 3) LK_QMV(3, 2) LK_QMV(3, 1)
        LK_QMV(2, 4) LK_QMV(2, 3) LK_QMV(2, 2) LK_QMV(2, 1)
        default: break;
    }
#undef LK_QMV
}

static void qmatvec_body(void* vctx, int64_t begin, int64_t end) {
    const qmatvec_ctx* c = vctx;
    for (int64_t b = begin; b < end; b++) {
        int64_t r0 = b * QMV_ROWS;
        int R = c->m.rows - r0 < QMV_ROWS ? (int)(c->m.rows - r0) : QMV_ROWS;
        qmatvec_block(c, r0, R);
    }
}

typedef struct qmatvec_args {
    lk_qmatrix w;
    const float* x;
    float* y;
} qmatvec_args;

/* Binds c to the matrix w (with the padded copy of a 3-bit last row) and the output y; x as staged. */
static lk_status qmv_bind(qmatvec_ctx* c, const lk_qmatrix* w, float* y, const char* op) {
    c->m = qmat_from(w);
    c->y = y;
    uint8_t* last = padded_last_row(&c->m);
    if (c->m.bits == 3 && !last) return lk_cpu_scratch_failed(op, (size_t)c->m.row_bytes + 8);
    c->last_row = last;
    return LK_OK;
}

/*
 * Fills c for y = W x, or for y = W (silu(x) * up) when up is given (an expert's down product staging its
 * SwiGLU, computed as lk_swiglu computes it, so the result is the same as the two ops'). *scratch receives
 * what qmv_release frees after the product. Another matrix of W's format and columns can reuse the staged x
 * (a copy of c bound to it with qmv_bind).
 */
static lk_status qmv_setup(qmatvec_ctx* c, const lk_qmatrix* w, const float* x, const float* up, float* y,
                           const char* op, float** scratch) {
    lk_status st = qmv_bind(c, w, y, op);
    if (st != LK_OK) return st;
    int64_t kp = c->m.ngroups * c->m.gs;
    size_t bytes = sizeof(float) * (size_t)(2 * kp + c->m.ngroups);
    float* xp = lk_cpu_scratch(bytes);
    if (!xp) {
        free((void*)c->last_row);
        return lk_cpu_scratch_failed(op, bytes);
    }
    if (up) {
        for (int64_t k = 0; k < c->m.cols; k++) xp[k] = lk_cpu_silu_mul(x[k], up[k]);
    } else {
        memcpy(xp, x, (size_t)c->m.cols * sizeof(float));
    }
    memset(xp + c->m.cols, 0, (size_t)(kp - c->m.cols) * sizeof(float));
    float* xsum = xp + kp;
    for (int64_t g = 0; g < c->m.ngroups; g++) {
        float s = 0.0f;
        for (int k = 0; k < c->m.gs; k++) s += xp[g * c->m.gs + k];
        xsum[g] = s;
    }
    float* xq = xsum + c->m.ngroups;
    c->fast = 1;
    for (int64_t k = 0; k < c->m.cols; k++) {
        float v = fabsf(xp[k]);
        if (v != 0.0f && v < 0x1p-104f) c->fast = 0;
    }
#ifdef LK_CPU_AVX2
    prepare_x(&c->m, xp, c->fast, xq);
#else
    memcpy(xq, xp, sizeof(float) * (size_t)kp);
#endif
    c->xq = xq;
    c->xsum = xsum;
    *scratch = xp;
    return LK_OK;
}

/* Frees c's padded last row and, for the context that staged x, the scratch (NULL for one bound to it). */
static void qmv_release(qmatvec_ctx* c, float* scratch) {
    free((void*)c->last_row);
    free(scratch);
}

static int64_t qmv_blocks(const qmatvec_ctx* c) { return (c->m.rows + QMV_ROWS - 1) / QMV_ROWS; }

static lk_status qmatvec_task(lk_cpu_pool* pool, void* p) {
    const qmatvec_args* a = p;
    qmatvec_ctx c;
    float* scratch;
    lk_status st = qmv_setup(&c, &a->w, a->x, NULL, a->y, "lk_qmatvec", &scratch);
    if (st != LK_OK) return st;
    lk_cpu_parallel_for(pool, qmv_blocks(&c), 16, qmatvec_body, &c);
    qmv_release(&c, scratch);
    return LK_OK;
}

lk_status lk_cpu_qmatvec(lk_stream* s, const lk_qmatrix* w, const float* x, float* y) {
    qmatvec_args a;
    copy_qmatrix(&a.w, w);
    a.x = x;
    a.y = y;
    return lk_cpu_enqueue(s, qmatvec_task, &a, sizeof a);
}

/* ---- expert_swiglu ---------------------------------------------------------- */

/* One task instead of four (each task is a hand-off to the stream's worker and a dispatch to the
 * pool): gate and up rows in one parallel loop, then down with silu(h_gate) * h_up staged as its x.
 * Every output row is computed by the same code as lk_qmatvec's, so the results are the four ops'
 * bit for bit; h_gate keeps gate x (lk_swiglu would overwrite it: the header leaves it unspecified). */
typedef struct expert_args {
    lk_qmatrix gate, up, down;
    const float* x;
    float *h_gate, *h_up, *y;
} expert_args;

/* Blocks [0, a_blocks) are a's, the rest b's. */
typedef struct qmv_pair {
    const qmatvec_ctx* a;
    const qmatvec_ctx* b;
    int64_t a_blocks;
} qmv_pair;

static void qmv_pair_body(void* vctx, int64_t begin, int64_t end) {
    const qmv_pair* p = vctx;
    for (int64_t blk = begin; blk < end; blk++) {
        const int second = blk >= p->a_blocks;
        const qmatvec_ctx* c = second ? p->b : p->a;
        int64_t r0 = (second ? blk - p->a_blocks : blk) * QMV_ROWS;
        int R = c->m.rows - r0 < QMV_ROWS ? (int)(c->m.rows - r0) : QMV_ROWS;
        qmatvec_block(c, r0, R);
    }
}

static lk_status expert_task(lk_cpu_pool* pool, void* p) {
    static const char op[] = "lk_expert_swiglu";
    const expert_args* a = p;
    qmatvec_ctx g, u, d;
    float *sg = NULL, *sd = NULL;
    lk_status st = qmv_setup(&g, &a->gate, a->x, NULL, a->h_gate, op, &sg);
    if (st != LK_OK) return st;
    u = g; /* up has gate's format and columns (the dispatcher checked): it reads the x gate staged */
    st = qmv_bind(&u, &a->up, a->h_up, op);
    if (st != LK_OK) {
        qmv_release(&g, sg);
        return st;
    }
    qmv_pair pair = {&g, &u, qmv_blocks(&g)};
    lk_cpu_parallel_for(pool, pair.a_blocks + qmv_blocks(&u), 16, qmv_pair_body, &pair);
    qmv_release(&g, sg);
    qmv_release(&u, NULL);
    st = qmv_setup(&d, &a->down, a->h_gate, a->h_up, a->y, op, &sd);
    if (st != LK_OK) return st;
    lk_cpu_parallel_for(pool, qmv_blocks(&d), 16, qmatvec_body, &d);
    qmv_release(&d, sd);
    return LK_OK;
}

lk_status lk_cpu_expert_swiglu(lk_stream* s, const lk_qmatrix* gate, const lk_qmatrix* up,
                               const lk_qmatrix* down, const float* x, float* h_gate, float* h_up,
                               float* y) {
    expert_args a;
    copy_qmatrix(&a.gate, gate);
    copy_qmatrix(&a.up, up);
    copy_qmatrix(&a.down, down);
    a.x = x;
    a.h_gate = h_gate;
    a.h_up = h_up;
    a.y = y;
    return lk_cpu_enqueue(s, expert_task, &a, sizeof a);
}

/* ---- qmatmul ---------------------------------------------------------------- */

typedef struct qmatmul_ctx {
    qmat m;
    const uint8_t* last_row;
    int64_t n, kp, kc;
    float* y;
} qmatmul_ctx;

/* Dequantizes rows [r0, r0+R), columns [k0, k0+kc) (whole groups) into panel. */
static void quant_fill(const void* vctx, int64_t r0, int R, int64_t k0, int64_t kc, float* panel) {
    const qmatmul_ctx* c = vctx;
    const qmat* m = &c->m;
    const int bits = m->bits;
    const int units = m->gs / 8;
    const int64_t gbytes = (int64_t)units * bits;
#ifdef LK_CPU_AVX2
    const __m256i mask = _mm256_set1_epi32((1 << bits) - 1);
    const __m256i sh = unit_shifts(bits);
#endif
    for (int r = 0; r < R; r++) {
        const uint8_t* code = row_codes(m, c->last_row, r0 + r);
        const uint16_t* sc = m->scales + (r0 + r) * m->ngroups;
        const uint16_t* zr = m->zeros + (r0 + r) * m->ngroups;
        float* dst = panel + (int64_t)r * kc;
        for (int64_t g = k0 / m->gs; g < (k0 + kc) / m->gs; g++) {
            float s = lk_f16_to_f32(sc[g]);
            float z = lk_f16_to_f32(zr[g]);
            float* dg = dst + (g * m->gs - k0);
            const uint8_t* cg = code + g * gbytes;
#ifdef LK_CPU_AVX2
            __m256 vs = _mm256_set1_ps(s), vz = _mm256_set1_ps(z);
            for (int u = 0; u < units; u++) {
                __m256 q = decode_word(unit_word(bits, cg + u * bits), sh, mask);
                _mm256_storeu_ps(dg + 8 * u, _mm256_mul_ps(vs, _mm256_sub_ps(q, vz)));
            }
#else
            for (int u = 0; u < units; u++) {
                int32_t q[8];
                decode_unit_scalar(bits, cg + u * bits, q);
                for (int j = 0; j < 8; j++) dg[8 * u + j] = s * ((float)q[j] - z);
            }
#endif
        }
    }
}

typedef struct qmatmul_args {
    lk_qmatrix w;
    const float* x;
    int64_t n;
    float* y;
} qmatmul_args;

static lk_status qmatmul_task(lk_cpu_pool* pool, void* p) {
    const qmatmul_args* a = p;
    qmatmul_ctx c;
    c.m = qmat_from(&a->w);
    c.n = a->n;
    c.y = a->y;
    c.kp = c.m.ngroups * c.m.gs;
    /* panel width: whole groups, about 512 columns */
    c.kc = (int64_t)c.m.gs * ((512 + c.m.gs - 1) / c.m.gs);
    float* xp = lk_cpu_pad_rows(pool, a->x, a->n, c.m.cols, c.kp);
    if (!xp) return lk_cpu_scratch_failed("lk_qmatmul", sizeof(float) * (size_t)(a->n * c.kp));
    uint8_t* last = padded_last_row(&c.m);
    if (c.m.bits == 3 && !last) {
        free(xp);
        return lk_cpu_scratch_failed("lk_qmatmul", (size_t)c.m.row_bytes + 8);
    }
    c.last_row = last;
    lk_gemm_job job = {quant_fill, &c, c.m.rows, c.n, c.kp, c.kc, xp, c.y};
    lk_status st = lk_cpu_gemm(pool, &job, "lk_qmatmul");
    free(last);
    free(xp);
    return st;
}

lk_status lk_cpu_qmatmul(lk_stream* s, const lk_qmatrix* w, const float* x, int64_t n, float* y) {
    qmatmul_args a;
    copy_qmatrix(&a.w, w);
    a.x = x;
    a.n = n;
    a.y = y;
    return lk_cpu_enqueue(s, qmatmul_task, &a, sizeof a);
}
