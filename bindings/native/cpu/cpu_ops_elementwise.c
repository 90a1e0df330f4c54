/*
 * cpu_ops_elementwise.c — row-wise and element-wise ops: embedding, rmsnorm, rope,
 * swiglu, add, convert. Every output element is computed by exactly one thread, and
 * reductions (rmsnorm's sum of squares) stay inside one row, so results do not depend
 * on the thread count.
 */
#include <math.h>
#include <string.h>

#include "cpu_kernels.h"

enum { ELEM_GRAIN = 16384 };   /* elements per chunk of a flat loop */

static size_t dtype_size(lk_dtype t) { return t == LK_F16 || t == LK_BF16 ? 2 : 4; }

/* ---- embedding -------------------------------------------------------------- */

typedef struct embedding_args {
    lk_dtype dtype;
    const void* table;
    int64_t vocab, dim;
    const int32_t* ids;
    int64_t n;
    float* out;
} embedding_args;

static void embedding_body(void* vctx, int64_t begin, int64_t end) {
    const embedding_args* a = vctx;
    size_t row_bytes = (size_t)a->dim * dtype_size(a->dtype);
    for (int64_t i = begin; i < end; i++) {
        int32_t id = a->ids[i];
        float* dst = a->out + i * a->dim;
        if (id < 0 || id >= a->vocab) {
            memset(dst, 0, (size_t)a->dim * sizeof(float));
            continue;
        }
        lk_row_to_f32(a->dtype, (const char*)a->table + (size_t)id * row_bytes, a->dim, dst);
    }
}

static lk_status embedding_task(lk_cpu_pool* pool, void* p) {
    const embedding_args* a = p;
    int64_t grain = lk_cpu_grain(1024, a->dim);
    lk_cpu_parallel_for(pool, a->n, grain, embedding_body, (void*)a);
    for (int64_t i = 0; i < a->n; i++) {
        int32_t id = a->ids[i];
        if (id < 0 || id >= a->vocab)
            return lk_cpu_services()->set_error(
                LK_ERR_INVALID_ARGUMENT,
                "lk_embedding: ids[%lld] = %d is outside [0, %lld); its output row was zeroed",
                (long long)i, (int)id, (long long)a->vocab);
    }
    return LK_OK;
}

lk_status lk_cpu_embedding(lk_stream* s, lk_dtype table_dtype, const void* table, int64_t vocab,
                           int64_t dim, const int32_t* ids, int64_t n, float* out) {
    embedding_args a = {table_dtype, table, vocab, dim, ids, n, out};
    return lk_cpu_enqueue(s, embedding_task, &a, sizeof a);
}

/* ---- rmsnorm ---------------------------------------------------------------- */

typedef struct rmsnorm_args {
    const float* x;
    lk_dtype wdtype;
    const void* weight;
    int64_t n, dim;
    float eps;
    float* out;
} rmsnorm_args;

typedef struct rmsnorm_ctx {
    const rmsnorm_args* a;
    const float* w;      /* weight as fp32 */
} rmsnorm_ctx;

static void rmsnorm_body(void* vctx, int64_t begin, int64_t end) {
    const rmsnorm_ctx* c = vctx;
    const rmsnorm_args* a = c->a;
    const int64_t dim = a->dim;
    for (int64_t i = begin; i < end; i++) {
        const float* x = a->x + i * dim;
        float* o = a->out + i * dim;
        lk_cpu_rmsnorm_row(x, c->w, dim, a->eps, o);
    }
}

static lk_status rmsnorm_task(lk_cpu_pool* pool, void* p) {
    const rmsnorm_args* a = p;
    float* w = NULL;
    if (a->wdtype != LK_F32) {
        w = lk_cpu_scratch(sizeof(float) * (size_t)a->dim);
        if (!w) return lk_cpu_scratch_failed("lk_rmsnorm", sizeof(float) * (size_t)a->dim);
        lk_row_to_f32(a->wdtype, a->weight, a->dim, w);
    }
    rmsnorm_ctx c = {a, w ? w : (const float*)a->weight};
    int64_t grain = lk_cpu_grain(4096, a->dim);
    lk_cpu_parallel_for(pool, a->n, grain, rmsnorm_body, &c);
    free(w);
    return LK_OK;
}

lk_status lk_cpu_rmsnorm(lk_stream* s, const float* x, lk_dtype weight_dtype, const void* weight,
                         int64_t n, int64_t dim, float eps, float* out) {
    rmsnorm_args a = {x, weight_dtype, weight, n, dim, eps, out};
    return lk_cpu_enqueue(s, rmsnorm_task, &a, sizeof a);
}

/* ---- rope ------------------------------------------------------------------- */

typedef struct rope_args {
    float* x;
    int64_t n;
    int32_t n_heads, head_dim;
    int64_t pos0;
    float theta;
} rope_args;

typedef struct rope_ctx {
    const rope_args* a;
    const double* inv_freq;   /* [head_dim / 2] theta^(-2j/head_dim) */
} rope_ctx;

static void rope_body(void* vctx, int64_t begin, int64_t end) {
    const rope_ctx* c = vctx;
    const rope_args* a = c->a;
    const int half = a->head_dim / 2;
    float cs[128], sn[128];   /* cos / sin of 128 frequencies at a time */
    for (int64_t i = begin; i < end; i++) {
        double pos = (double)(a->pos0 + i);
        float* row = a->x + i * (int64_t)a->n_heads * a->head_dim;
        for (int j0 = 0; j0 < half; j0 += 128) {
            int jn = half - j0 < 128 ? half - j0 : 128;
            /* angles in double: exact to fp32 rounding even at large positions */
            for (int j = 0; j < jn; j++) {
                double f = pos * c->inv_freq[j0 + j];
                cs[j] = (float)cos(f);
                sn[j] = (float)sin(f);
            }
            for (int h = 0; h < a->n_heads; h++) {
                float* x0 = row + (int64_t)h * a->head_dim + j0;
                float* x1 = x0 + half;
                for (int j = 0; j < jn; j++) {
                    float u = x0[j], v = x1[j];
                    x0[j] = u * cs[j] - v * sn[j];
                    x1[j] = v * cs[j] + u * sn[j];
                }
            }
        }
    }
}

static lk_status rope_task(lk_cpu_pool* pool, void* p) {
    const rope_args* a = p;
    int half = a->head_dim / 2;
    double* inv = lk_cpu_scratch(sizeof(double) * (size_t)(half > 0 ? half : 1));
    if (!inv) return lk_cpu_scratch_failed("lk_rope", sizeof(double) * (size_t)half);
    for (int j = 0; j < half; j++)
        inv[j] = pow((double)a->theta, -2.0 * (double)j / (double)a->head_dim);
    rope_ctx c = {a, inv};
    int64_t per_row = (int64_t)a->n_heads * a->head_dim;
    int64_t grain = lk_cpu_grain(4096, per_row);
    lk_cpu_parallel_for(pool, a->n, grain, rope_body, &c);
    free(inv);
    return LK_OK;
}

lk_status lk_cpu_rope(lk_stream* s, float* x, int64_t n, int32_t n_heads, int32_t head_dim,
                      int64_t pos0, float theta) {
    rope_args a = {x, n, n_heads, head_dim, pos0, theta};
    return lk_cpu_enqueue(s, rope_task, &a, sizeof a);
}

/* ---- swiglu, add ------------------------------------------------------------ */

typedef struct binary_args {
    const float* a;
    const float* b;
    float* out;
    int64_t n;
} binary_args;

static void swiglu_body(void* vctx, int64_t begin, int64_t end) {
    const binary_args* p = vctx;
    for (int64_t i = begin; i < end; i++) p->out[i] = lk_cpu_silu_mul(p->a[i], p->b[i]);
}

static lk_status swiglu_task(lk_cpu_pool* pool, void* p) {
    const binary_args* a = p;
    lk_cpu_parallel_for(pool, a->n, ELEM_GRAIN / 4, swiglu_body, (void*)a);
    return LK_OK;
}

lk_status lk_cpu_swiglu(lk_stream* s, const float* gate, const float* up, int64_t n, float* out) {
    binary_args a = {gate, up, out, n};
    return lk_cpu_enqueue(s, swiglu_task, &a, sizeof a);
}

static void add_body(void* vctx, int64_t begin, int64_t end) {
    const binary_args* p = vctx;
    float* y = p->out;
    const float* x = p->b;
    for (int64_t i = begin; i < end; i++) y[i] += x[i];
}

static lk_status add_task(lk_cpu_pool* pool, void* p) {
    const binary_args* a = p;
    lk_cpu_parallel_for(pool, a->n, ELEM_GRAIN, add_body, (void*)a);
    return LK_OK;
}

lk_status lk_cpu_add(lk_stream* s, float* y, const float* x, int64_t n) {
    binary_args a = {y, x, y, n};
    return lk_cpu_enqueue(s, add_task, &a, sizeof a);
}

/* ---- convert ---------------------------------------------------------------- */

typedef struct convert_args {
    lk_dtype src_dtype;
    const void* src;
    lk_dtype dst_dtype;
    void* dst;
    int64_t n;
} convert_args;

static void convert_body(void* vctx, int64_t begin, int64_t end) {
    const convert_args* a = vctx;
    size_t ss = dtype_size(a->src_dtype), ds = dtype_size(a->dst_dtype);
    const char* src = (const char*)a->src + (size_t)begin * ss;
    char* dst = (char*)a->dst + (size_t)begin * ds;
    int64_t n = end - begin;
    if (a->src_dtype == a->dst_dtype) {
        if (src != dst) memmove(dst, src, (size_t)n * ss);
        return;
    }
    /* through fp32 in blocks: fp16/bf16 -> fp32 is exact, so every path rounds once */
    float buf[256];
    for (int64_t i0 = 0; i0 < n; i0 += 256) {
        int64_t m = n - i0 < 256 ? n - i0 : 256;
        const float* f;
        if (a->src_dtype == LK_F32) {
            f = (const float*)src + i0;
        } else {
            lk_row_to_f32(a->src_dtype, (const uint16_t*)src + i0, m, buf);
            f = buf;
        }
        if (a->dst_dtype == LK_F32) {
            memcpy((float*)dst + i0, f, (size_t)m * sizeof(float));
        } else if (a->dst_dtype == LK_F16) {
            uint16_t* d = (uint16_t*)dst + i0;
            int64_t i = 0;
#if defined(__AVX2__) && defined(__F16C__)
            for (; i + 8 <= m; i += 8) lk_store8_f16(d + i, _mm256_loadu_ps(f + i));
#endif
            for (; i < m; i++) d[i] = lk_f32_to_f16(f[i]);
        } else {
            uint16_t* d = (uint16_t*)dst + i0;
            for (int64_t i = 0; i < m; i++) d[i] = lk_f32_to_bf16(f[i]);
        }
    }
}

static lk_status convert_task(lk_cpu_pool* pool, void* p) {
    const convert_args* a = p;
    lk_cpu_parallel_for(pool, a->n, ELEM_GRAIN, convert_body, (void*)a);
    return LK_OK;
}

lk_status lk_cpu_convert(lk_stream* s, lk_dtype src_dtype, const void* src, lk_dtype dst_dtype,
                         void* dst, int64_t n) {
    convert_args a = {src_dtype, src, dst_dtype, dst, n};
    return lk_cpu_enqueue(s, convert_task, &a, sizeof a);
}
