/*
 * attention.cu — causal attention over the KV cache (lookahead.h, lk_attention):
 * query row t (position p = pos + t) attends to cache rows j with j <= p and
 * (window == 0 or j > p - window); head h reads kv head h / (n_heads / n_kv_heads).
 * K/V may be F32, F16 or BF16; all arithmetic is fp32.
 *
 * ---- Decode (n_tokens == 1): flash-decoding ----
 * The keys [j_lo, pos] are split into chunks; one block per (chunk, kv head, group
 * of up to 8 query heads of that kv head). A block reads its K/V rows once for all
 * its query heads (grouped-query reuse: Mixtral has 4 query heads per kv head):
 *   1. q of its heads (pre-scaled) into shared memory;
 *   2. scores: thread per key position, the key row read with 16-byte loads, dot
 *      products against all heads' q (broadcast shared reads), into shared memory;
 *   3. softmax statistics per head (a warp per head): chunk max m, p = exp(s - m),
 *      sum l;
 *   4. P V: threads over head_dim (consecutive threads read consecutive elements of
 *      a V row), keys split across thread groups when head_dim < 128;
 *   5. with one chunk the output is written normalized; otherwise (o, m, l) go to
 *      the stream's scratch and attn_combine merges the chunks per head
 *      (out = sum_s o_s e^(m_s - M) / sum_s l_s e^(m_s - M)).
 * Chunk size: enough chunks for ~2 blocks per SM (132 SMs on an H100) but at least
 * 64 keys, so short contexts use one chunk and no combine launch; at most what
 * keeps the block under 48 KiB of shared memory.
 * Traffic per decode step: 2 x ctx x n_kv_heads x head_dim x sizeof(kv) bytes,
 * e.g. Mixtral (8 kv heads x 128) at 4096 positions in fp16 = 16.8 MB per layer,
 * 5.0 us at the H100's 3.35 TB/s.
 *
 * ---- Prefill (n_tokens > 1): tiled flash attention on CUDA cores ----
 * One block (128 threads) per 16 query rows, a row being one (token, head) pair of
 * the same kv head: 4 tokens x 4 heads for Mixtral, so every K/V tile in shared
 * memory serves 16 rows. Eight threads own a row, each a strided eighth of
 * head_dim of q and of the output accumulator in registers. For each tile of 32
 * keys (converted to fp32 into shared memory, 16-byte loads): the scores are
 * 8-thread partial dots reduced with 3 shuffles, masked by the causal/window rule,
 * then the online softmax (running max m, sum l, rescale of the accumulator by
 * e^(m_old - m_new)) and the P V update. Only the key tiles that some row of the
 * block can see are visited. fp32 CUDA cores, not tensor cores: head_dim is any
 * 1..256 and the KV dtype any of three; prefill is off the decode critical path.
 */
#include "cuda_common.cuh"

#include <math.h>

namespace {

/* Eight consecutive elements as fp32 from a 16-byte aligned address. */
__device__ __forceinline__ void load8(const float* p, float (&f)[8]) {
    const float4 a = __ldg(reinterpret_cast<const float4*>(p));
    const float4 b = __ldg(reinterpret_cast<const float4*>(p) + 1);
    f[0] = a.x; f[1] = a.y; f[2] = a.z; f[3] = a.w;
    f[4] = b.x; f[5] = b.y; f[6] = b.z; f[7] = b.w;
}
template <typename T> __device__ __forceinline__ void load8(const T* p, float (&f)[8]) {
    lk_unpack8(__ldg(reinterpret_cast<const uint4*>(p)), T(), f);
}

/* ======================================================================== */
/* Decode                                                                    */
/* ======================================================================== */

constexpr int kDecThreads = 128;
constexpr int kDecMaxHeads = 8; /* query heads per block */

struct DecodeParams {
    const float* q;
    const void* k;
    const void* v;
    float* out;
    float* part_o;   /* [n_heads, nsplit, head_dim] when nsplit > 1 */
    float* part_ml;  /* [n_heads, nsplit, 2]                        */
    int64_t j_lo;    /* first visible key                           */
    int64_t j_end;   /* one past the last visible key (pos + 1)     */
    int64_t chunk;   /* keys per split                              */
    int32_t nsplit;
    int32_t n_kv, hd, G, GB, n_hg;
    float scale;
    int32_t vec;     /* K/V rows 16-byte aligned, head_dim % 8 == 0 */
};

template <typename T>
__global__ void __launch_bounds__(kDecThreads) attn_decode_kernel(DecodeParams P) {
    extern __shared__ __align__(16) float sm[];
    const int GB = P.GB, hd = P.hd;
    float* qs = sm;                                      /* [GB][hd]                 */
    float* sc = qs + GB * hd;                            /* [GB][chunk]              */
    float* red = sc + GB * P.chunk;                      /* [dgroups][GB][hd]        */
    float* ml = red + GB * (hd > kDecThreads ? hd : kDecThreads); /* [GB][2]       */

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int split = blockIdx.x;
    const int kvh = blockIdx.y / P.n_hg, hg = blockIdx.y % P.n_hg;
    const int h0 = kvh * P.G + hg * GB;                  /* first query head          */
    const int nh = min(GB, P.G - hg * GB);               /* valid heads in this block */
    const int64_t c0 = P.j_lo + (int64_t)split * P.chunk;
    const int64_t c1 = min(c0 + P.chunk, P.j_end);
    const int nk = (int)(c1 - c0);
    const T* K = static_cast<const T*>(P.k);
    const T* V = static_cast<const T*>(P.v);
    const int64_t row_stride = (int64_t)P.n_kv * hd;

    for (int i = tid; i < GB * hd; i += kDecThreads) {
        const int hh = i / hd, d = i % hd;
        qs[i] = hh < nh ? P.q[(int64_t)(h0 + hh) * hd + d] * P.scale : 0.0f;
    }
    __syncthreads();

    /* 2. scores */
    for (int jj = tid; jj < nk; jj += kDecThreads) {
        const T* kr = K + (c0 + jj) * row_stride + (int64_t)kvh * hd;
        float acc[kDecMaxHeads];
#pragma unroll
        for (int i = 0; i < kDecMaxHeads; ++i) acc[i] = 0.0f;
        if (P.vec) {
            for (int d0 = 0; d0 < hd; d0 += 8) {
                float kf[8];
                load8(kr + d0, kf);
#pragma unroll
                for (int i = 0; i < kDecMaxHeads; ++i) {
                    if (i >= nh) break;
                    const float4 qa = *reinterpret_cast<const float4*>(qs + i * hd + d0);
                    const float4 qb = *reinterpret_cast<const float4*>(qs + i * hd + d0 + 4);
                    float a = acc[i];
                    a = fmaf(qa.x, kf[0], a); a = fmaf(qa.y, kf[1], a);
                    a = fmaf(qa.z, kf[2], a); a = fmaf(qa.w, kf[3], a);
                    a = fmaf(qb.x, kf[4], a); a = fmaf(qb.y, kf[5], a);
                    a = fmaf(qb.z, kf[6], a); a = fmaf(qb.w, kf[7], a);
                    acc[i] = a;
                }
            }
        } else {
            for (int d = 0; d < hd; ++d) {
                const float kv = lk_to_f32(kr[d]);
#pragma unroll
                for (int i = 0; i < kDecMaxHeads; ++i) {
                    if (i >= nh) break;
                    acc[i] = fmaf(qs[i * hd + d], kv, acc[i]);
                }
            }
        }
#pragma unroll
        for (int i = 0; i < kDecMaxHeads; ++i)
            if (i < nh) sc[i * P.chunk + jj] = acc[i];
    }
    __syncthreads();

    /* 3. per-head max, probabilities, sum */
    for (int i = warp; i < nh; i += kDecThreads / 32) {
        float* s = sc + i * P.chunk;
        float m = -INFINITY;
        for (int jj = lane; jj < nk; jj += 32) m = fmaxf(m, s[jj]);
        m = lk_warp_max(m);
        float l = 0.0f;
        for (int jj = lane; jj < nk; jj += 32) {
            const float p = expf(s[jj] - m);
            s[jj] = p;
            l += p;
        }
        l = lk_warp_sum(l);
        if (lane == 0) {
            ml[2 * i] = m;
            ml[2 * i + 1] = l;
        }
    }
    __syncthreads();

    /* 4. P V: thread (part, d); parts split the keys when head_dim < block size */
    const int dgroups = hd >= kDecThreads ? 1 : kDecThreads / hd;
    const int part = tid / (hd >= kDecThreads ? kDecThreads : hd);
    if (part < dgroups) {
        for (int d = (hd >= kDecThreads ? tid : tid % hd); d < hd; d += (hd >= kDecThreads ? kDecThreads : hd)) {
            float acc[kDecMaxHeads];
#pragma unroll
            for (int i = 0; i < kDecMaxHeads; ++i) acc[i] = 0.0f;
            const T* vcol = V + (int64_t)kvh * hd + d;
            for (int jj = part; jj < nk; jj += dgroups) {
                const float vv = lk_to_f32(vcol[(c0 + jj) * row_stride]);
#pragma unroll
                for (int i = 0; i < kDecMaxHeads; ++i) {
                    if (i >= nh) break;
                    acc[i] = fmaf(sc[i * P.chunk + jj], vv, acc[i]);
                }
            }
#pragma unroll
            for (int i = 0; i < kDecMaxHeads; ++i)
                if (i < nh) red[(part * GB + i) * hd + d] = acc[i];
        }
    }
    __syncthreads();

    /* 5. reduce the parts; write the output or this split's partial */
    for (int idx = tid; idx < nh * hd; idx += kDecThreads) {
        const int i = idx / hd, d = idx % hd;
        float o = 0.0f;
        for (int p = 0; p < dgroups; ++p) o += red[(p * GB + i) * hd + d];
        const int h = h0 + i;
        if (P.nsplit == 1) {
            P.out[(int64_t)h * hd + d] = o / ml[2 * i + 1];
        } else {
            P.part_o[((int64_t)h * P.nsplit + split) * hd + d] = o;
            if (d == 0) {
                P.part_ml[((int64_t)h * P.nsplit + split) * 2] = ml[2 * i];
                P.part_ml[((int64_t)h * P.nsplit + split) * 2 + 1] = ml[2 * i + 1];
            }
        }
    }
}

/* One block per query head: merges the nsplit partial results. */
__global__ void __launch_bounds__(kDecThreads) attn_combine_kernel(const float* __restrict__ part_o,
                                                                  const float* __restrict__ part_ml, int nsplit,
                                                                  int hd, float* __restrict__ out) {
    __shared__ float red[32];
    const int h = blockIdx.x;
    const float* ml = part_ml + (int64_t)h * nsplit * 2;
    float m = -INFINITY;
    for (int s = threadIdx.x; s < nsplit; s += blockDim.x) m = fmaxf(m, ml[2 * s]);
    m = lk_warp_max(m);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = m;
    __syncthreads();
    float M = -INFINITY;
    for (int w = 0; w < (int)(blockDim.x >> 5); ++w) M = fmaxf(M, red[w]);
    __syncthreads();
    float l = 0.0f;
    for (int s = threadIdx.x; s < nsplit; s += blockDim.x) l += ml[2 * s + 1] * expf(ml[2 * s] - M);
    const float Lsum = lk_block_sum(l, red);
    const float inv = 1.0f / Lsum;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float o = 0.0f;
        for (int s = 0; s < nsplit; ++s) o = fmaf(part_o[((int64_t)h * nsplit + s) * hd + d], expf(ml[2 * s] - M), o);
        out[(int64_t)h * hd + d] = o * inv;
    }
}

/* ======================================================================== */
/* Prefill                                                                   */
/* ======================================================================== */

constexpr int kPreThreads = 128;
constexpr int kPreRows = 16;    /* (token, head) rows per block */
constexpr int kTPR = 8;         /* threads per row              */
constexpr int kKeyTile = 32;

struct PrefillParams {
    const float* q;
    const void* k;
    const void* v;
    float* out;
    int64_t n_tokens;
    int64_t pos;
    int32_t n_heads, n_kv, hd, G, GB, TB, n_hg, window;
    float scale;
    int32_t vec;
};

/* DPT: head_dim elements per thread (head_dim <= 8 * DPT). */
template <typename T, int DPT>
__global__ void __launch_bounds__(kPreThreads) attn_prefill_kernel(PrefillParams P) {
    extern __shared__ __align__(16) float sm[];
    const int hd = P.hd;
    float* Ks = sm;                   /* [kKeyTile][hd] */
    float* Vs = sm + kKeyTile * hd;   /* [kKeyTile][hd] */
    __shared__ float Ss[kPreRows * (kKeyTile + 1)]; /* scores, padded: 4 rows of a warp hit 4 banks */

    const int tid = threadIdx.x;
    const int row = tid / kTPR, sub = tid % kTPR;
    const int kvh = blockIdx.y / P.n_hg, hg = blockIdx.y % P.n_hg;
    const int64_t t0 = (int64_t)blockIdx.x * P.TB;
    const int ti = row / P.GB, gi = row % P.GB;
    const int64_t t = t0 + ti;
    const int hq = hg * P.GB + gi; /* query head index within the kv group */
    const bool row_ok = t < P.n_tokens && hq < P.G;
    const int h = kvh * P.G + hq;
    const int64_t p = P.pos + t; /* this row's position */

    float qr[DPT], o[DPT];
#pragma unroll
    for (int i = 0; i < DPT; ++i) {
        const int d = sub + kTPR * i;
        qr[i] = (row_ok && d < hd) ? P.q[(t * P.n_heads + h) * (int64_t)hd + d] * P.scale : 0.0f;
        o[i] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;

    const int64_t t_last = min(t0 + P.TB, P.n_tokens) - 1;
    const int64_t k_hi = P.pos + t_last;
    int64_t k_lo = 0;
    if (P.window > 0) {
        k_lo = P.pos + t0 - P.window + 1;
        if (k_lo < 0) k_lo = 0;
    }
    const T* K = static_cast<const T*>(P.k);
    const T* V = static_cast<const T*>(P.v);
    const int64_t row_stride = (int64_t)P.n_kv * hd;

    for (int64_t kt = k_lo; kt <= k_hi; kt += kKeyTile) {
        __syncthreads(); /* the previous tile's reads are done */
        if (P.vec) {
            const int per_row = hd / 8;
            for (int idx = tid; idx < kKeyTile * per_row; idx += kPreThreads) {
                const int kk = idx / per_row, d0 = (idx % per_row) * 8;
                const int64_t j = kt + kk;
                float kf[8], vf[8];
                if (j <= k_hi) {
                    const int64_t off = j * row_stride + (int64_t)kvh * hd + d0;
                    load8(K + off, kf);
                    load8(V + off, vf);
                } else {
#pragma unroll
                    for (int e = 0; e < 8; ++e) kf[e] = vf[e] = 0.0f;
                }
                float4* kd = reinterpret_cast<float4*>(Ks + kk * hd + d0);
                float4* vd = reinterpret_cast<float4*>(Vs + kk * hd + d0);
                kd[0] = make_float4(kf[0], kf[1], kf[2], kf[3]);
                kd[1] = make_float4(kf[4], kf[5], kf[6], kf[7]);
                vd[0] = make_float4(vf[0], vf[1], vf[2], vf[3]);
                vd[1] = make_float4(vf[4], vf[5], vf[6], vf[7]);
            }
        } else {
            for (int idx = tid; idx < kKeyTile * hd; idx += kPreThreads) {
                const int kk = idx / hd, d = idx % hd;
                const int64_t j = kt + kk;
                float kv = 0.0f, vv = 0.0f;
                if (j <= k_hi) {
                    const int64_t off = j * row_stride + (int64_t)kvh * hd + d;
                    kv = lk_to_f32(K[off]);
                    vv = lk_to_f32(V[off]);
                }
                Ks[kk * hd + d] = kv;
                Vs[kk * hd + d] = vv;
            }
        }
        __syncthreads();

        /* Scores of this row for the tile's keys: identical in the row's 8 threads
         * after the shuffles; one of them parks each in shared memory (keeping 32
         * scores in registers would cost occupancy). */
        float* srow = Ss + row * (kKeyTile + 1);
        float tmax = -INFINITY;
#pragma unroll 4
        for (int kk = 0; kk < kKeyTile; ++kk) {
            float a = 0.0f;
#pragma unroll
            for (int i = 0; i < DPT; ++i) {
                const int d = sub + kTPR * i;
                if (d < hd) a = fmaf(qr[i], Ks[kk * hd + d], a);
            }
            a += __shfl_xor_sync(0xFFFFFFFFu, a, 4);
            a += __shfl_xor_sync(0xFFFFFFFFu, a, 2);
            a += __shfl_xor_sync(0xFFFFFFFFu, a, 1);
            const int64_t j = kt + kk;
            const bool visible = row_ok && j <= p && (P.window == 0 || j > p - P.window);
            const float sv = visible ? a : -INFINITY;
            if (sub == (kk & (kTPR - 1))) srow[kk] = sv;
            tmax = fmaxf(tmax, sv);
        }
        __syncwarp();
        const float m_new = fmaxf(m, tmax);
        if (m_new == -INFINITY) continue; /* nothing visible yet for this row */
        const float corr = expf(m - m_new); /* 0 when m was -inf */
        l *= corr;
#pragma unroll
        for (int i = 0; i < DPT; ++i) o[i] *= corr;
#pragma unroll 4
        for (int kk = 0; kk < kKeyTile; ++kk) {
            const float pk = expf(srow[kk] - m_new); /* 0 for masked keys */
            l += pk;
#pragma unroll
            for (int i = 0; i < DPT; ++i) {
                const int d = sub + kTPR * i;
                if (d < hd) o[i] = fmaf(pk, Vs[kk * hd + d], o[i]);
            }
        }
        m = m_new;
    }

    if (row_ok) {
        const float inv = 1.0f / l;
#pragma unroll
        for (int i = 0; i < DPT; ++i) {
            const int d = sub + kTPR * i;
            if (d < hd) P.out[(t * P.n_heads + h) * (int64_t)hd + d] = o[i] * inv;
        }
    }
}

template <typename T> void* prefill_ptr(int dpt) {
    return dpt == 16 ? (void*)attn_prefill_kernel<T, 16> : (void*)attn_prefill_kernel<T, 32>;
}

static int kv_align_ok(const lk_attention_args* a) {
    return a->head_dim % 8 == 0 && lk_is_aligned(a->k_cache, 16) && lk_is_aligned(a->v_cache, 16);
}

template <typename T> static lk_status run_decode(lk_stream* s, const lk_attention_args* a) {
    lk_device* dev = lk_stream_device(s);
    DecodeParams P;
    P.q = a->q;
    P.k = a->k_cache;
    P.v = a->v_cache;
    P.out = a->out;
    P.n_kv = a->n_kv_heads;
    P.hd = a->head_dim;
    P.G = a->n_heads / a->n_kv_heads;
    P.GB = P.G < kDecMaxHeads ? P.G : kDecMaxHeads;
    P.n_hg = (P.G + P.GB - 1) / P.GB;
    P.scale = a->scale;
    P.vec = kv_align_ok(a);
    const int64_t p = a->pos; /* the one query row */
    P.j_lo = a->window > 0 ? (p - a->window + 1 > 0 ? p - a->window + 1 : 0) : 0;
    P.j_end = p + 1;
    const int64_t nkeys = P.j_end - P.j_lo;

    const int hd = P.hd, GB = P.GB;
    const int red_cols = hd > kDecThreads ? hd : kDecThreads;
    /* Stay within 48 KiB (12288 floats) of shared memory. */
    int64_t chunk_max = (12288 - (int64_t)GB * hd - (int64_t)GB * red_cols - 2 * GB) / GB / 32 * 32;
    if (chunk_max < 32) chunk_max = 32;
    const int64_t blocks_per_split = (int64_t)P.n_kv * P.n_hg;
    const int64_t want_splits = ((int64_t)2 * dev->sms + blocks_per_split - 1) / blocks_per_split;
    int64_t chunk = (nkeys + want_splits - 1) / want_splits;
    chunk = (chunk + 31) / 32 * 32;
    if (chunk < 64) chunk = 64;
    if (chunk > chunk_max) chunk = chunk_max;
    const int64_t nsplit = (nkeys + chunk - 1) / chunk;
    if (nsplit > 65535 || blocks_per_split > 65535)
        return LK_SET_ERROR(LK_ERR_UNSUPPORTED, "cuda: attention: %lld keys x %lld kv blocks exceed the grid",
                            (long long)nkeys, (long long)blocks_per_split);
    P.chunk = chunk;
    P.nsplit = (int32_t)nsplit;
    P.part_o = nullptr;
    P.part_ml = nullptr;
    if (nsplit > 1) {
        const size_t floats = (size_t)a->n_heads * nsplit * (hd + 2);
        void* ws = nullptr;
        lk_status st = lk_cuda_stream_scratch(s, floats * sizeof(float), &ws);
        if (st != LK_OK) return st;
        P.part_o = static_cast<float*>(ws);
        P.part_ml = P.part_o + (size_t)a->n_heads * nsplit * hd;
    }
    const size_t smem = ((size_t)GB * hd + (size_t)GB * chunk + (size_t)GB * red_cols + 2 * GB) * sizeof(float);
    const dim3 grid((unsigned)nsplit, (unsigned)blocks_per_split);
    attn_decode_kernel<T><<<grid, kDecThreads, smem, s->s>>>(P);
    lk_status st = lk_cuda_check_launch("attention (decode)");
    if (st != LK_OK || nsplit == 1) return st;
    attn_combine_kernel<<<(unsigned)a->n_heads, kDecThreads, 0, s->s>>>(P.part_o, P.part_ml, (int)nsplit, hd, a->out);
    return lk_cuda_check_launch("attention (combine)");
}

template <typename T> static lk_status run_prefill(lk_stream* s, const lk_attention_args* a) {
    PrefillParams P;
    P.q = a->q;
    P.k = a->k_cache;
    P.v = a->v_cache;
    P.out = a->out;
    P.n_tokens = a->n_tokens;
    P.pos = a->pos;
    P.n_heads = a->n_heads;
    P.n_kv = a->n_kv_heads;
    P.hd = a->head_dim;
    P.G = a->n_heads / a->n_kv_heads;
    int gb = 1;
    while (gb * 2 <= P.G && gb * 2 <= kPreRows) gb *= 2;
    P.GB = gb;
    P.TB = kPreRows / gb;
    P.n_hg = (P.G + gb - 1) / gb;
    P.window = a->window;
    P.scale = a->scale;
    P.vec = kv_align_ok(a);
    const int64_t blocks_y = (int64_t)P.n_kv * P.n_hg;
    const int64_t blocks_x = (a->n_tokens + P.TB - 1) / P.TB;
    if (blocks_y > 65535 || blocks_x > 0x7FFFFFFF)
        return LK_SET_ERROR(LK_ERR_UNSUPPORTED, "cuda: attention: grid too large");
    const size_t smem = 2 * (size_t)kKeyTile * P.hd * sizeof(float);
    const dim3 grid((unsigned)blocks_x, (unsigned)blocks_y);
    if (P.hd <= 8 * 16)
        attn_prefill_kernel<T, 16><<<grid, kPreThreads, smem, s->s>>>(P);
    else
        attn_prefill_kernel<T, 32><<<grid, kPreThreads, smem, s->s>>>(P);
    return lk_cuda_check_launch("attention (prefill)");
}

} /* namespace */

lk_status lk_cuda_attention_init(lk_device* dev) {
    /* Prefill stages 2 x 32 keys x head_dim fp32: 64 KiB at head_dim 256. */
    const int need = 2 * kKeyTile * 256 * (int)sizeof(float);
    if (dev->smem_optin < need)
        return LK_SET_ERROR(LK_ERR_BACKEND_UNAVAILABLE, "cuda: device allows %d bytes of shared memory per block, "
                            "attention needs %d", dev->smem_optin, need);
    void* ks[6] = {prefill_ptr<float>(16), prefill_ptr<float>(32), prefill_ptr<__half>(16),
                   prefill_ptr<__half>(32), prefill_ptr<__nv_bfloat16>(16), prefill_ptr<__nv_bfloat16>(32)};
    for (void* k : ks)
        LK_CUDA_TRY(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, need),
                    "attention smem attribute");
    return LK_OK;
}

lk_status lk_cuda_attention(lk_stream* s, const lk_attention_args* a) {
    if (a->n_tokens <= 0) return LK_OK;
    LK_BIND_STREAM(s);
    const bool decode = a->n_tokens == 1;
    switch ((lk_dtype)a->kv_dtype) {
    case LK_F32: return decode ? run_decode<float>(s, a) : run_prefill<float>(s, a);
    case LK_F16: return decode ? run_decode<__half>(s, a) : run_prefill<__half>(s, a);
    default: return decode ? run_decode<__nv_bfloat16>(s, a) : run_prefill<__nv_bfloat16>(s, a);
    }
}
