/*
 * cpu_ops_attention.c — causal (optionally sliding-window) grouped-query attention
 * over a KV cache, prefill and decode.
 *
 * One work item is (token pair, kv head): the heads that share a kv head are done
 * together so each key/value block is converted to fp32 once. Token t is paired with
 * token n-1-t so that items cost about the same under the causal mask.
 *
 * Per (token, head): online softmax over blocks of KEY_BLOCK keys — scores of the
 * block, then running max m, running sum l and running output acc (fp32) are
 * rescaled once per block: acc = acc * exp(m_old - m_new) + sum_j exp(s_j - m_new) v_j.
 * Everything for one output is computed by one thread in a fixed order.
 */
#include <math.h>
#include <string.h>

#include "cpu_kernels.h"

enum { KEY_BLOCK = 64 };

typedef struct attention_args {
    lk_attention_args a;
} attention_args;

/* 8 lanes then a fixed combination: vectorizable, independent of the caller. */
static inline float dot(const float* a, const float* b, int n) {
#ifdef LK_CPU_AVX2
    __m256 acc = _mm256_setzero_ps();
    int k = 0;
    for (; k + 8 <= n; k += 8)
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), acc);
    float s = lk_hsum8(acc);
    for (; k < n; k++) s += a[k] * b[k];
    return s;
#else
    float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int k = 0;
    for (; k + 8 <= n; k += 8)
        for (int j = 0; j < 8; j++) lane[j] += a[k + j] * b[k + j];
    float s = ((lane[0] + lane[4]) + (lane[2] + lane[6])) + ((lane[1] + lane[5]) + (lane[3] + lane[7]));
    for (; k < n; k++) s += a[k] * b[k];
    return s;
#endif
}

typedef struct attn_scratch {
    float* kf;     /* [KEY_BLOCK, head_dim] keys of the block as fp32   */
    float* vf;     /* [KEY_BLOCK, head_dim]                              */
    float* acc;    /* [group, head_dim] running outputs                  */
    float* m;      /* [group] running max                                */
    float* l;      /* [group] running sum                                */
} attn_scratch;

/* Rows [j0, j0 + nk) of kv head kh of a cache as fp32 [nk, head_dim]; returns the
 * row pointer and stride to use (F32 caches are read in place). */
static const float* kv_block(const lk_attention_args* a, const void* cache, int kh, int64_t j0,
                             int nk, float* buf, int64_t* stride) {
    const int64_t hd = a->head_dim;
    const int64_t row = (int64_t)a->n_kv_heads * hd;
    if (a->kv_dtype == LK_F32) {
        *stride = row;
        return (const float*)cache + j0 * row + kh * hd;
    }
    const uint16_t* c = (const uint16_t*)cache;
    for (int j = 0; j < nk; j++)
        lk_row_to_f32(a->kv_dtype, c + (j0 + j) * row + kh * hd, hd, buf + j * hd);
    *stride = hd;
    return buf;
}

/* All heads of kv head kh for query token t. */
static void attend(const lk_attention_args* a, int64_t t, int kh, attn_scratch* s) {
    const int hd = a->head_dim;
    const int group = a->n_heads / a->n_kv_heads;
    const int64_t p = a->pos + t;
    const int64_t j_begin = a->window > 0 && p - a->window + 1 > 0 ? p - a->window + 1 : 0;
    const int64_t j_end = p + 1;
    const float* q = a->q + (t * a->n_heads + (int64_t)kh * group) * hd;
    float score[KEY_BLOCK];

    for (int g = 0; g < group; g++) {
        s->m[g] = -INFINITY;
        s->l[g] = 0.0f;
        memset(s->acc + g * hd, 0, sizeof(float) * (size_t)hd);
    }
    for (int64_t j0 = j_begin; j0 < j_end; j0 += KEY_BLOCK) {
        int nk = j_end - j0 < KEY_BLOCK ? (int)(j_end - j0) : KEY_BLOCK;
        int64_t ks, vs;
        const float* kb = kv_block(a, a->k_cache, kh, j0, nk, s->kf, &ks);
        const float* vb = kv_block(a, a->v_cache, kh, j0, nk, s->vf, &vs);
        for (int g = 0; g < group; g++) {
            const float* qg = q + g * hd;
            float* acc = s->acc + g * hd;
            float bmax = -INFINITY;
            for (int j = 0; j < nk; j++) {
                score[j] = dot(qg, kb + j * ks, hd) * a->scale;
                bmax = score[j] > bmax ? score[j] : bmax;
            }
            float m_new = bmax > s->m[g] ? bmax : s->m[g];
            if (m_new == -INFINITY) continue;   /* all scores -inf so far: nothing to add */
            float alpha = expf(s->m[g] - m_new);  /* 0 on the first block */
            float bsum = 0.0f;
            for (int j = 0; j < nk; j++) {
                score[j] = expf(score[j] - m_new);
                bsum += score[j];
            }
            s->l[g] = s->l[g] * alpha + bsum;
            s->m[g] = m_new;
            for (int d = 0; d < hd; d++) acc[d] *= alpha;
            for (int j = 0; j < nk; j++) {
                const float* v = vb + j * vs;
                float w = score[j];
                for (int d = 0; d < hd; d++) acc[d] += w * v[d];
            }
        }
    }
    float* out = a->out + (t * a->n_heads + (int64_t)kh * group) * hd;
    for (int g = 0; g < group; g++) {
        float inv = 1.0f / s->l[g];
        for (int d = 0; d < hd; d++) out[g * hd + d] = s->acc[g * hd + d] * inv;
    }
}

typedef struct attention_ctx {
    const lk_attention_args* a;
    int64_t pairs;
    int failed;
} attention_ctx;

static void attention_body(void* vctx, int64_t begin, int64_t end) {
    attention_ctx* c = vctx;
    const lk_attention_args* a = c->a;
    const int hd = a->head_dim;
    const int group = a->n_heads / a->n_kv_heads;
    size_t floats = (size_t)hd * (2 * KEY_BLOCK + group) + 2 * (size_t)group;
    float* mem = lk_cpu_scratch(sizeof(float) * floats);
    if (!mem) { __atomic_store_n(&c->failed, 1, __ATOMIC_RELAXED); return; }
    attn_scratch s = {mem, mem + KEY_BLOCK * hd, mem + 2 * KEY_BLOCK * hd,
                      mem + (2 * KEY_BLOCK + group) * hd, mem + (2 * KEY_BLOCK + group) * hd + group};
    for (int64_t item = begin; item < end; item++) {
        int64_t pair = item / a->n_kv_heads;
        int kh = (int)(item % a->n_kv_heads);
        attend(a, pair, kh, &s);
        int64_t mirror = a->n_tokens - 1 - pair;
        if (mirror != pair) attend(a, mirror, kh, &s);
    }
    free(mem);
}

static lk_status attention_task(lk_cpu_pool* pool, void* p) {
    const attention_args* aa = p;
    const lk_attention_args* a = &aa->a;
    attention_ctx c = {a, (a->n_tokens + 1) / 2, 0};
    lk_cpu_parallel_for(pool, c.pairs * a->n_kv_heads, 1, attention_body, &c);
    if (c.failed) return lk_cpu_scratch_failed("lk_attention", 0);
    return LK_OK;
}

lk_status lk_cpu_attention(lk_stream* s, const lk_attention_args* args) {
    attention_args a;
    memset(&a, 0, sizeof a);
    size_t n = args->struct_size < sizeof(lk_attention_args) ? args->struct_size
                                                             : sizeof(lk_attention_args);
    memcpy(&a.a, args, n);
    a.a.struct_size = sizeof(lk_attention_args);
    return lk_cpu_enqueue(s, attention_task, &a, sizeof a);
}
