/*
 * cpu_ops_routing.c — the MoE routing ops: router softmax + top-k, gather of the
 * tokens an expert takes, and the weighted scatter-add of expert outputs.
 */
#include <math.h>
#include <string.h>

#include "cpu_kernels.h"

/* ---- router_topk ------------------------------------------------------------ */

typedef struct router_args {
    const float* logits;
    int64_t n;
    int32_t n_experts, k, renormalize;
    float* probs_out;
    int32_t* topk_idx;
    float* topk_weight;
} router_args;

/* p = softmax(l) over E experts, max-subtracted, in a fixed order. */
static void softmax_row(const float* l, int E, float* p) {
    float m = l[0];
    for (int e = 1; e < E; e++) m = l[e] > m ? l[e] : m;
    float sum = 0.0f;
    for (int e = 0; e < E; e++) { p[e] = expf(l[e] - m); sum += p[e]; }
    float inv = 1.0f / sum;
    for (int e = 0; e < E; e++) p[e] *= inv;
}

/* Softmax and top-k of one row of logits (see lk_router_topk); probs_out may be NULL. */
static void route_row(const float* l, int E, int K, int renormalize, float* probs_out, int32_t* idx,
                      float* w) {
    float p[256];
    unsigned char taken[256];
    softmax_row(l, E, p);
    if (probs_out) memcpy(probs_out, p, (size_t)E * sizeof(float));

    /* k rounds of arg-max; strict '>' keeps the lower index on ties */
    memset(taken, 0, (size_t)E);
    float wsum = 0.0f;
    for (int j = 0; j < K; j++) {
        int best = -1;
        for (int e = 0; e < E; e++)
            if (!taken[e] && (best < 0 || p[e] > p[best])) best = e;
        taken[best] = 1;
        idx[j] = best;
        w[j] = p[best];
        wsum += p[best];
    }
    if (renormalize)
        for (int j = 0; j < K; j++) w[j] /= wsum;
}

static void router_body(void* vctx, int64_t begin, int64_t end) {
    const router_args* a = vctx;
    const int E = a->n_experts, K = a->k;
    for (int64_t i = begin; i < end; i++)
        route_row(a->logits + i * E, E, K, a->renormalize, a->probs_out ? a->probs_out + i * E : NULL,
                  a->topk_idx + i * K, a->topk_weight + i * K);
}

static lk_status router_task(lk_cpu_pool* pool, void* p) {
    const router_args* a = p;
    int64_t grain = lk_cpu_grain(4096, a->n_experts);
    lk_cpu_parallel_for(pool, a->n, grain, router_body, (void*)a);
    return LK_OK;
}

lk_status lk_cpu_router_topk(lk_stream* s, const lk_router_args* args) {
    router_args a = {args->logits,   args->n,         args->n_experts, args->k,
                     args->renormalize, args->probs_out, args->topk_idx, args->topk_weight};
    return lk_cpu_enqueue(s, router_task, &a, sizeof a);
}

/* ---- router_heads ----------------------------------------------------------- */

/* One task for the decode routing of a layer. Each stage reuses the code of the single
 * op it replaces (lk_cpu_rmsnorm_row, lk_cpu_dense_matmul, route_row / softmax_row, the
 * bias add as y += b), so the results are bit-identical to rmsnorm + matmul + router_topk
 * (+ rmsnorm + matmul + add + softmax for the heads) and independent of the thread count;
 * what goes away is the enqueue and pool dispatch of each of those ops. */
static lk_status router_heads_task(lk_cpu_pool* pool, void* p) {
    static const char op[] = "lk_router_heads";
    const lk_router_heads_args* a = p;
    const int64_t D = a->hidden;
    const int E = a->n_experts, K = a->k, H = a->n_heads;
    /* scratch: gain as f32 [D] (unless F32), hHat [D], logits [max(E, H * E)] */
    size_t logits_n = (size_t)(H > 1 ? H : 1) * (size_t)E;
    size_t bytes = sizeof(float) * ((size_t)(2 * D) + logits_n);
    float* scratch = lk_cpu_scratch(bytes);
    if (!scratch) return lk_cpu_scratch_failed(op, bytes);
    float* gain = scratch;
    float* hhat = scratch + D;
    float* logits = scratch + 2 * D;
    int32_t* idx = (int32_t*)a->out;
    float* weight = (float*)a->out + K;
    float* probs = (float*)a->out + 2 * K;

    const float* g = (const float*)a->gain;
    if (a->gain_dtype != LK_F32) {
        lk_row_to_f32((lk_dtype)a->gain_dtype, a->gain, D, gain);
        g = gain;
    }
    lk_cpu_rmsnorm_row(a->x, g, D, a->eps, a->xn_out);
    lk_status st = lk_cpu_dense_matmul(pool, (lk_dtype)a->router_dtype, a->router, a->xn_out, 1, E, D,
                                       logits, op);
    if (st == LK_OK) route_row(logits, E, K, a->renormalize, NULL, idx, weight);

    if (st == LK_OK && H > 0) {
        const int64_t width = (int64_t)H * E;
        lk_cpu_rmsnorm_row(a->x, NULL, D, a->eps, hhat);
        st = lk_cpu_dense_matmul(pool, LK_F32, a->heads, hhat, 1, width, D, logits, op);
        if (st == LK_OK) {
            if (a->heads_bias)
                for (int64_t i = 0; i < width; i++) logits[i] += a->heads_bias[i];
            for (int h = 0; h < H; h++) softmax_row(logits + (int64_t)h * E, E, probs + (int64_t)h * E);
        }
    }
    free(scratch);
    return st;
}

lk_status lk_cpu_router_heads(lk_stream* s, const lk_router_heads_args* args) {
    lk_router_heads_args a = *args;   /* copied: the caller's struct lives only during the call */
    return lk_cpu_enqueue(s, router_heads_task, &a, sizeof a);
}

/* ---- gather_rows ------------------------------------------------------------ */

typedef struct rows_args {
    float* dst;
    const float* src;
    const int32_t* idx;
    const float* weight;
    int64_t m, dim;
} rows_args;

/* First negative index, or -1 (the row counts of src / dst are not known here, so a
 * negative index is the only out-of-range value that can be detected). */
static int64_t first_negative(const int32_t* idx, int64_t m) {
    if (!idx) return -1;
    for (int64_t i = 0; i < m; i++)
        if (idx[i] < 0) return i;
    return -1;
}

static void gather_body(void* vctx, int64_t begin, int64_t end) {
    const rows_args* a = vctx;
    size_t bytes = (size_t)a->dim * sizeof(float);
    for (int64_t i = begin; i < end; i++) {
        int32_t r = a->idx[i];
        if (r < 0) memset(a->dst + i * a->dim, 0, bytes);
        else memcpy(a->dst + i * a->dim, a->src + (int64_t)r * a->dim, bytes);
    }
}

static lk_status gather_task(lk_cpu_pool* pool, void* p) {
    const rows_args* a = p;
    int64_t grain = lk_cpu_grain(4096, a->dim);
    lk_cpu_parallel_for(pool, a->m, grain, gather_body, (void*)a);
    int64_t bad = first_negative(a->idx, a->m);
    if (bad >= 0)
        return lk_cpu_services()->set_error(LK_ERR_INVALID_ARGUMENT,
                                            "lk_gather_rows: idx[%lld] = %d is negative; its row was zeroed",
                                            (long long)bad, (int)a->idx[bad]);
    return LK_OK;
}

lk_status lk_cpu_gather_rows(lk_stream* s, const float* src, const int32_t* idx, int64_t m,
                             int64_t dim, float* dst) {
    rows_args a = {dst, src, idx, NULL, m, dim};
    return lk_cpu_enqueue(s, gather_task, &a, sizeof a);
}

/* ---- scatter_add_rows ------------------------------------------------------- */

/* Column range [begin, end) of every row, rows in order of i: the result is the same
 * as the sequential loop even if a caller repeated a row. */
static void scatter_body(void* vctx, int64_t begin, int64_t end) {
    const rows_args* a = vctx;
    for (int64_t i = 0; i < a->m; i++) {
        int64_t r = a->idx ? a->idx[i] : i;
        if (r < 0) continue;
        float w = a->weight ? a->weight[i] : 1.0f;
        float* d = a->dst + r * a->dim;
        const float* s = a->src + i * a->dim;
        for (int64_t c = begin; c < end; c++) d[c] += w * s[c];
    }
}

static lk_status scatter_task(lk_cpu_pool* pool, void* p) {
    const rows_args* a = p;
    int64_t grain = a->m >= 64 ? 256 : lk_cpu_grain(16384, a->m);
    lk_cpu_parallel_for(pool, a->dim, grain, scatter_body, (void*)a);
    int64_t bad = first_negative(a->idx, a->m);
    if (bad >= 0)
        return lk_cpu_services()->set_error(LK_ERR_INVALID_ARGUMENT,
                                            "lk_scatter_add_rows: idx[%lld] = %d is negative; row skipped",
                                            (long long)bad, (int)a->idx[bad]);
    return LK_OK;
}

lk_status lk_cpu_scatter_add_rows(lk_stream* s, float* dst, const float* src, const int32_t* idx,
                                  const float* weight, int64_t m, int64_t dim) {
    rows_args a = {dst, src, idx, weight, m, dim};
    return lk_cpu_enqueue(s, scatter_task, &a, sizeof a);
}
