/*
 * cpu_kernels.h — helpers shared by the CPU op files (cpu_ops_*.c); private to the
 * CPU backend. The runtime contract is cpu_internal.h.
 */
#ifndef LOOKAHEAD_CPU_KERNELS_H
#define LOOKAHEAD_CPU_KERNELS_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "cpu_internal.h"
#include "cpu_half.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define LK_CPU_AVX2 1
#endif

/* Scratch memory of a task (64-byte aligned, size rounded up); NULL on failure. */
static inline void* lk_cpu_scratch(size_t bytes) {
    size_t rounded = (bytes + 63u) & ~(size_t)63u;
    return aligned_alloc(64, rounded ? rounded : 64);
}

/* Reports a failed scratch allocation from a task. */
static inline lk_status lk_cpu_scratch_failed(const char* op, size_t bytes) {
    return lk_cpu_services()->set_error(LK_ERR_HOST_OUT_OF_MEMORY,
                                        "%s: cannot allocate %zu bytes of scratch memory", op, bytes);
}

/* Items per lk_cpu_parallel_for chunk so that a chunk does about `work` units when
 * one item costs `per_item` units (>= 1). */
static inline int64_t lk_cpu_grain(int64_t work, int64_t per_item) {
    if (per_item <= 0) return work > 0 ? work : 1;
    int64_t g = work / per_item;
    return g > 0 ? g : 1;
}

#ifdef LK_CPU_AVX2
/* Horizontal sum of 8 lanes in a fixed order (so results never depend on threads). */
static inline float lk_hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#endif

/*
 * Row-panel GEMM, the shared core of lk_matmul and lk_qmatmul:
 *   y[t * ldy + r0 + r] = sum_k W[r0 + r, k] * x[t * ldx + k]   for r < R, t < n
 * W is produced panel by panel (`R` rows x `kc` columns, kc a multiple of 8) into fp32
 * by `fill`, so a converted / dequantized panel is reused by all n tokens. x must be
 * zero-padded to `kp` columns (a multiple of 8); `fill` zero-pads W the same way.
 * The summation order of every output depends only on kp and kc_max, never on how
 * rows are split across threads.
 */
typedef void (*lk_panel_fill_fn)(const void* ctx, int64_t r0, int R, int64_t k0, int64_t kc,
                                 float* panel /* [R][kc] */);

enum { LK_GEMM_ROW_BLOCK = 16 };

/* One GEMM: y[t * rows + r] = sum_k W[r, k] x[t * kp + k] for r < rows, t < n. */
typedef struct lk_gemm_job {
    lk_panel_fill_fn fill;
    const void* fill_ctx;
    int64_t rows, n;
    int64_t kp;          /* padded k (multiple of 8), the row stride of xp          */
    int64_t kc_max;      /* panel width (multiple of 8)                             */
    const float* xp;     /* [n, kp] zero-padded x                                   */
    float* y;            /* [n, rows]                                               */
} lk_gemm_job;

/* Runs the job on the pool: work items are blocks of LK_GEMM_ROW_BLOCK rows, split
 * further into token ranges when there are too few row blocks to keep the threads
 * busy (small `rows`, many tokens). Returns LK_OK or a scratch allocation error
 * (message set, naming `op`). */
lk_status lk_cpu_gemm(lk_cpu_pool* pool, const lk_gemm_job* job, const char* op);

/* A copy of x [n, cols] with each row zero-padded to kp >= cols columns (scratch memory,
 * free() it); NULL when out of memory. Runs on the pool. */
float* lk_cpu_pad_rows(lk_cpu_pool* pool, const float* x, int64_t n, int64_t cols, int64_t kp);

/* y[n, rows] = x[n, cols] @ W^T for a dense W (F32/F16/BF16) on the pool: the arithmetic of
 * lk_matmul, so ops built on it (lk_router_heads) give bit-identical results. */
lk_status lk_cpu_dense_matmul(lk_cpu_pool* pool, lk_dtype w_dtype, const void* w, const float* x,
                              int64_t n, int64_t rows, int64_t cols, float* y, const char* op);

/* silu(g) * u as lk_swiglu computes it; expert_swiglu stages its down product's input with it. */
static inline float lk_cpu_silu_mul(float g, float u) {
    float silu = g / (1.0f + expf(-g));   /* expf(-g) = inf for g << 0: silu = -0 */
    return silu * u;
}

/* One row of lk_rmsnorm: o = (x * inv) * w with inv = 1 / sqrt(mean(x^2) + eps), the sum
 * of squares in double over 8 fixed lanes; w == NULL is a unit gain (x * inv, which equals
 * (x * inv) * 1.0f). o may equal x. */
static inline void lk_cpu_rmsnorm_row(const float* x, const float* w, int64_t dim, float eps, float* o) {
    double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t k = 0;
    for (; k + 8 <= dim; k += 8)
        for (int j = 0; j < 8; j++) lane[j] += (double)x[k + j] * (double)x[k + j];
    for (; k < dim; k++) lane[k & 7] += (double)x[k] * (double)x[k];
    double ss = ((lane[0] + lane[4]) + (lane[2] + lane[6])) + ((lane[1] + lane[5]) + (lane[3] + lane[7]));
    float inv = (float)(1.0 / sqrt(ss / (double)dim + (double)eps));
    if (w)
        for (k = 0; k < dim; k++) o[k] = (x[k] * inv) * w[k];
    else
        for (k = 0; k < dim; k++) o[k] = x[k] * inv;
}

#endif /* LOOKAHEAD_CPU_KERNELS_H */
