/*
 * cpu_ops_dense.c — dense matmul y[n, rows] = x[n, cols] @ W^T with W in F32/F16/BF16,
 * and the row-panel GEMM core that lk_qmatmul shares.
 *
 * Work split: blocks of LK_GEMM_ROW_BLOCK output rows (and, when there are few
 * rows, ranges of tokens) are independent items of lk_cpu_parallel_for. Within an
 * item, W is converted to fp32 one panel of [16 rows, KC columns] at a time and
 * reused by every token; a 4-row x 3-token register tile accumulates 8-lane dot
 * products along k. Every output is one fixed sequence of FMAs over k, whatever the
 * split, so results do not depend on the thread count.
 */
#include <string.h>

#include "cpu_kernels.h"

enum { MK_ROWS = 4, MK_TOKENS = 3, DENSE_KC = 512 };

/* out[r * MK_TOKENS + t] = dot(w[r, 0:kc], x[t, 0:kc]) for r < R, t < T.
 * Every (r, t) is one chain of 8-lane FMAs over k followed by lk_hsum8, so the value
 * does not depend on R or T (nor on the thread that runs it). */
static inline __attribute__((always_inline)) void micro_tile(int R, int T, const float* w,
                                                             int64_t ldw, const float* x,
                                                             int64_t ldx, int64_t kc,
                                                             float* out) {
#ifdef LK_CPU_AVX2
    __m256 acc[MK_ROWS][MK_TOKENS];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) acc[r][t] = _mm256_setzero_ps();
    for (int64_t k = 0; k < kc; k += 8) {
        __m256 xv[MK_TOKENS];
        for (int t = 0; t < T; t++) xv[t] = _mm256_loadu_ps(x + t * ldx + k);
        for (int r = 0; r < R; r++) {
            __m256 wv = _mm256_loadu_ps(w + r * ldw + k);
            for (int t = 0; t < T; t++) acc[r][t] = _mm256_fmadd_ps(wv, xv[t], acc[r][t]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) out[r * MK_TOKENS + t] = lk_hsum8(acc[r][t]);
#else
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) {
            float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            const float* wr = w + r * ldw;
            const float* xt = x + t * ldx;
            for (int64_t k = 0; k < kc; k += 8)
                for (int j = 0; j < 8; j++) lane[j] += wr[k + j] * xt[k + j];
            out[r * MK_TOKENS + t] =
                ((lane[0] + lane[4]) + (lane[2] + lane[6])) + ((lane[1] + lane[5]) + (lane[3] + lane[7]));
        }
#endif
}

/* Dispatches to a micro_tile specialised for constant R and T. */
static void micro_tile_any(int R, int T, const float* w, int64_t ldw, const float* x, int64_t ldx,
                           int64_t kc, float* out) {
#define LK_MT(r, t) case (r) * 8 + (t): micro_tile(r, t, w, ldw, x, ldx, kc, out); break;
    switch (R * 8 + T) {
        LK_MT(4, 3) LK_MT(4, 2) LK_MT(4, 1)
        LK_MT(3, 3) LK_MT(3, 2) LK_MT(3, 1)
        LK_MT(2, 3) LK_MT(2, 2) LK_MT(2, 1)
        LK_MT(1, 3) LK_MT(1, 2) LK_MT(1, 1)
        default: break;
    }
#undef LK_MT
}

/* Rows [r0, r0 + R) x tokens [t0, t1) of a job; `panel` holds LK_GEMM_ROW_BLOCK x
 * kc_max floats. */
static void gemm_tile(const lk_gemm_job* j, int64_t r0, int R, int64_t t0, int64_t t1, float* panel) {
    float tile[MK_ROWS * MK_TOKENS];
    for (int64_t k0 = 0; k0 < j->kp; k0 += j->kc_max) {
        int64_t kc = j->kp - k0 < j->kc_max ? j->kp - k0 : j->kc_max;
        j->fill(j->fill_ctx, r0, R, k0, kc, panel);
        for (int64_t t = t0; t < t1; t += MK_TOKENS) {
            int T = t1 - t < MK_TOKENS ? (int)(t1 - t) : MK_TOKENS;
            for (int rr = 0; rr < R; rr += MK_ROWS) {
                int RR = R - rr < MK_ROWS ? R - rr : MK_ROWS;
                micro_tile_any(RR, T, panel + rr * kc, kc, j->xp + t * j->kp + k0, j->kp, kc, tile);
                for (int i = 0; i < T; i++) {
                    float* yt = j->y + (t + i) * j->rows + r0 + rr;
                    for (int r = 0; r < RR; r++) {
                        if (k0 == 0) yt[r] = tile[r * MK_TOKENS + i];
                        else yt[r] += tile[r * MK_TOKENS + i];
                    }
                }
            }
        }
    }
}

typedef struct gemm_run {
    const lk_gemm_job* job;
    int64_t token_chunk;   /* tokens per item */
    int64_t token_chunks;  /* items per row block */
    int failed;
} gemm_run;

static void gemm_body(void* vctx, int64_t begin, int64_t end) {
    gemm_run* g = vctx;
    const lk_gemm_job* j = g->job;
    float* panel = lk_cpu_scratch(sizeof(float) * LK_GEMM_ROW_BLOCK * (size_t)j->kc_max);
    if (!panel) { __atomic_store_n(&g->failed, 1, __ATOMIC_RELAXED); return; }
    for (int64_t item = begin; item < end; item++) {
        int64_t r0 = item / g->token_chunks * LK_GEMM_ROW_BLOCK;
        int64_t t0 = item % g->token_chunks * g->token_chunk;
        int64_t t1 = t0 + g->token_chunk < j->n ? t0 + g->token_chunk : j->n;
        int R = j->rows - r0 < LK_GEMM_ROW_BLOCK ? (int)(j->rows - r0) : LK_GEMM_ROW_BLOCK;
        gemm_tile(j, r0, R, t0, t1, panel);
    }
    free(panel);
}

lk_status lk_cpu_gemm(lk_cpu_pool* pool, const lk_gemm_job* job, const char* op) {
    int64_t row_blocks = (job->rows + LK_GEMM_ROW_BLOCK - 1) / LK_GEMM_ROW_BLOCK;
    int64_t want = 4 * (int64_t)lk_cpu_pool_threads(pool);
    gemm_run g = {job, job->n, 1, 0};
    if (row_blocks < want && job->n > MK_TOKENS) {
        /* split tokens too; a panel is then converted once per token range */
        int64_t chunks = (want + row_blocks - 1) / row_blocks;
        int64_t per = (job->n + chunks - 1) / chunks;
        per = (per + MK_TOKENS - 1) / MK_TOKENS * MK_TOKENS;
        g.token_chunk = per;
        g.token_chunks = (job->n + per - 1) / per;
    }
    lk_cpu_parallel_for(pool, row_blocks * g.token_chunks, 1, gemm_body, &g);
    if (g.failed) return lk_cpu_scratch_failed(op, sizeof(float) * LK_GEMM_ROW_BLOCK * (size_t)job->kc_max);
    return LK_OK;
}

/* ---- lk_matmul -------------------------------------------------------------- */

typedef struct matmul_args {
    lk_dtype w_dtype;
    const void* w;
    const float* x;
    int64_t n, rows, cols;
    float* y;
} matmul_args;

/* Converts rows [r0, r0+R), columns [k0, k0+kc) of W to fp32, zero beyond cols. */
static void dense_fill(const void* vctx, int64_t r0, int R, int64_t k0, int64_t kc, float* panel) {
    const matmul_args* a = vctx;
    size_t esize = a->w_dtype == LK_F32 ? 4 : 2;
    int64_t valid = a->cols - k0 < kc ? a->cols - k0 : kc;
    if (valid < 0) valid = 0;
    for (int r = 0; r < R; r++) {
        const char* src = (const char*)a->w + ((size_t)(r0 + r) * (size_t)a->cols + (size_t)k0) * esize;
        float* dst = panel + (int64_t)r * kc;
        lk_row_to_f32(a->w_dtype, src, valid, dst);
        for (int64_t k = valid; k < kc; k++) dst[k] = 0.0f;
    }
}

typedef struct pad_ctx {
    const float* x;
    int64_t cols, kp;
    float* xp;
} pad_ctx;

static void pad_body(void* vctx, int64_t begin, int64_t end) {
    const pad_ctx* c = vctx;
    for (int64_t t = begin; t < end; t++) {
        memcpy(c->xp + t * c->kp, c->x + t * c->cols, (size_t)c->cols * sizeof(float));
        memset(c->xp + t * c->kp + c->cols, 0, (size_t)(c->kp - c->cols) * sizeof(float));
    }
}

float* lk_cpu_pad_rows(lk_cpu_pool* pool, const float* x, int64_t n, int64_t cols, int64_t kp) {
    float* xp = lk_cpu_scratch(sizeof(float) * (size_t)n * (size_t)kp);
    if (!xp) return NULL;
    pad_ctx pc = {x, cols, kp, xp};
    lk_cpu_parallel_for(pool, n, 64, pad_body, &pc);
    return xp;
}

lk_status lk_cpu_dense_matmul(lk_cpu_pool* pool, lk_dtype w_dtype, const void* w, const float* x,
                              int64_t n, int64_t rows, int64_t cols, float* y, const char* op) {
    matmul_args a = {w_dtype, w, x, n, rows, cols, y};
    int64_t kp = (cols + 7) / 8 * 8;
    float* xp = lk_cpu_pad_rows(pool, x, n, cols, kp);
    if (!xp) return lk_cpu_scratch_failed(op, sizeof(float) * (size_t)(n * kp));
    lk_gemm_job job = {dense_fill, &a, rows, n, kp, DENSE_KC, xp, y};
    lk_status st = lk_cpu_gemm(pool, &job, op);
    free(xp);
    return st;
}

static lk_status matmul_task(lk_cpu_pool* pool, void* p) {
    const matmul_args* a = p;
    return lk_cpu_dense_matmul(pool, a->w_dtype, a->w, a->x, a->n, a->rows, a->cols, a->y, "lk_matmul");
}

lk_status lk_cpu_matmul(lk_stream* s, lk_dtype w_dtype, const void* w, const float* x, int64_t n,
                        int64_t rows, int64_t cols, float* y) {
    matmul_args a = {w_dtype, w, x, n, rows, cols, y};
    return lk_cpu_enqueue(s, matmul_task, &a, sizeof a);
}
