/*
 * routing.cu — router softmax + top-k (lk_router_topk), and an internal fused
 * router GEMV + softmax + top-k for the router and the lookahead heads of a layer.
 *
 * lk_router_topk: one warp per token row. n_experts <= 256, so a lane holds at most
 * 8 logits (experts lane, lane + 32, ...: coalesced loads), the softmax is two warp
 * reductions and each of the k selections is one warp arg-max (5 shuffles) over
 * (value, index) pairs. 4 warps per block; at decode (n = 1) it is one warp and the
 * launch latency (~3 us) is the whole cost.
 *
 * Selection order: the k largest logits, ties to the lower expert index. exp is
 * monotonic, so this is the order of the probabilities the header defines; ranking by
 * logits keeps two distinct logits distinct even where their probabilities round to
 * the same float. NaN logits rank below everything.
 *
 * lk_cuda_router_fused (internal, not in the public ABI yet): y = W x for a stack of
 * n_sets router-shaped matrices ([n_sets * n_experts, hidden]: the layer's router
 * first, then the lookahead heads W[l, d] that predict layer l + d), then softmax and
 * top-k per set, in one launch. One block per (token, set): 8 warps compute the
 * n_experts logits (warp per expert, 16-byte loads of W, x read through L1 where all
 * warps of the block share it) into shared memory, then warp 0 runs the same
 * softmax/top-k as lk_router_topk. At decode this turns 2 * (1 + D) launches into
 * one, which matters because each of them is latency-, not bandwidth-bound (a set
 * is 8 x 4096 fp16 = 64 KiB).
 *
 * lk_router_heads (public): the decode routing of one layer from the raw residual
 * stream — RMSNorm (written out as the experts' input), router GEMV, softmax + top-k,
 * and the lookahead heads' GEMV + bias + softmax — in one launch of 1 + n_heads blocks,
 * with all host-bound results in one packed buffer (one read-back). See the kernel.
 */
#include "cuda_common.cuh"

#include <math.h>

static constexpr int kMaxPerLane = 8; /* 256 experts / 32 lanes */

/* Softmax of one row held by a warp: v[i] is the logit of expert lane + 32 i (ignored for
 * experts >= E). Leaves the lane's probabilities in p and writes probs_row when given. */
__device__ __forceinline__ void softmax_row_warp(const float (&v)[kMaxPerLane], int E, float (&p)[kMaxPerLane],
                                                 float* probs_row) {
    const int lane = threadIdx.x & 31;
    float m = -INFINITY;
#pragma unroll
    for (int i = 0; i < kMaxPerLane; ++i)
        if (lane + 32 * i < E) m = fmaxf(m, v[i]);
    m = lk_warp_max(m);
    float sum = 0.0f;
#pragma unroll
    for (int i = 0; i < kMaxPerLane; ++i) {
        p[i] = (lane + 32 * i < E) ? expf(v[i] - m) : 0.0f;
        sum += p[i];
    }
    sum = lk_warp_sum(sum);
#pragma unroll
    for (int i = 0; i < kMaxPerLane; ++i) {
        p[i] = p[i] / sum;
        if (probs_row && lane + 32 * i < E) probs_row[lane + 32 * i] = p[i];
    }
}

/* Softmax + top-k of one row held by a warp (v as in softmax_row_warp).
 * Writes probs_row (optional), idx_row[k], w_row[k]. */
__device__ __forceinline__ void route_row_warp(const float (&v)[kMaxPerLane], int E, int k, int renormalize,
                                               float* probs_row, int32_t* idx_row, float* w_row) {
    const int lane = threadIdx.x & 31;
    float p[kMaxPerLane];
    softmax_row_warp(v, E, p, probs_row);

    unsigned taken = 0;        /* bit i: expert lane + 32 i already selected        */
    float my_w[kMaxPerLane];   /* lane holds the weights of selections j = lane + 32 s */
    int my_idx[kMaxPerLane];
    float wsum = 0.0f;         /* identical on every lane                           */
    for (int j = 0; j < k; ++j) {
        float best_v = -INFINITY;
        int best_e = 0x7FFFFFFF;
#pragma unroll
        for (int i = 0; i < kMaxPerLane; ++i) {
            const int e = lane + 32 * i;
            if (e < E && !((taken >> i) & 1u)) {
                /* by probability, lower index on ties (lk_router_topk, the CPU backend): two logits can
                 * round to the same probability, and then the logit order would pick the higher index */
                const float key = isnan(p[i]) ? -INFINITY : p[i];
                if (key > best_v || (key == best_v && e < best_e)) {
                    best_v = key;
                    best_e = e;
                }
            }
        }
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            const float ov = __shfl_xor_sync(0xFFFFFFFFu, best_v, o);
            const int oe = __shfl_xor_sync(0xFFFFFFFFu, best_e, o);
            if (ov > best_v || (ov == best_v && oe < best_e)) {
                best_v = ov;
                best_e = oe;
            }
        }
        /* Every lane now holds the same winner; its owner marks it and shares its prob. */
        const int owner = best_e & 31, slot = best_e >> 5;
        float mine = 0.0f;
#pragma unroll
        for (int i = 0; i < kMaxPerLane; ++i)
            if (i == slot) mine = p[i];
        if (lane == owner) taken |= 1u << slot;
        const float pw = __shfl_sync(0xFFFFFFFFu, mine, owner);
        wsum += pw;
#pragma unroll
        for (int s = 0; s < kMaxPerLane; ++s)
            if (lane == (j & 31) && s == (j >> 5)) {
                my_w[s] = pw;
                my_idx[s] = best_e;
            }
    }
#pragma unroll
    for (int s = 0; s < kMaxPerLane; ++s) {
        const int j = lane + 32 * s;
        if (j < k) {
            idx_row[j] = my_idx[s];
            w_row[j] = renormalize ? my_w[s] / wsum : my_w[s];
        }
    }
}

/* ------------------------------------------------------------------------ */
/* lk_router_topk                                                            */
/* ------------------------------------------------------------------------ */

__global__ void router_topk_kernel(const float* __restrict__ logits, int64_t n, int E, int k, int renormalize,
                                   float* probs_out, int32_t* topk_idx, float* topk_weight) {
    const int warps = blockDim.x >> 5;
    const int lane = threadIdx.x & 31;
    for (int64_t r = (int64_t)blockIdx.x * warps + (threadIdx.x >> 5); r < n; r += (int64_t)gridDim.x * warps) {
        const float* row = logits + r * E;
        float v[kMaxPerLane];
#pragma unroll
        for (int i = 0; i < kMaxPerLane; ++i) v[i] = (lane + 32 * i < E) ? row[lane + 32 * i] : -INFINITY;
        route_row_warp(v, E, k, renormalize, probs_out ? probs_out + r * E : nullptr, topk_idx + r * k,
                       topk_weight + r * k);
    }
}

lk_status lk_cuda_router_topk(lk_stream* s, const lk_router_args* a) {
    if (a->n <= 0) return LK_OK;
    LK_BIND_STREAM(s);
    lk_device* dev = lk_stream_device(s);
    const int threads = 128, rows_per_block = threads / 32;
    int64_t blocks = (a->n + rows_per_block - 1) / rows_per_block;
    if (blocks > (int64_t)dev->sms * 16) blocks = (int64_t)dev->sms * 16;
    router_topk_kernel<<<(unsigned)blocks, threads, 0, s->s>>>(a->logits, a->n, a->n_experts, a->k, a->renormalize,
                                                               a->probs_out, a->topk_idx, a->topk_weight);
    return lk_cuda_check_launch("router_topk");
}

/* ------------------------------------------------------------------------ */
/* Fused router GEMV + softmax + top-k (internal)                            */
/* ------------------------------------------------------------------------ */

/* Dot product of one W row with x by one warp. vec: W row start and x 16-byte
 * aligned and hidden a multiple of the 16-byte vector (8 halves / 4 floats). */
template <typename W>
__device__ __forceinline__ float warp_dot(const W* __restrict__ w, const float* __restrict__ x, int64_t hidden,
                                          int vec) {
    const int lane = threadIdx.x & 31;
    float acc = 0.0f;
    if (vec) {
        constexpr int per = 16 / sizeof(W);
        const uint4* w4 = reinterpret_cast<const uint4*>(w);
        const float4* x4 = reinterpret_cast<const float4*>(x);
        for (int64_t c = lane; c < hidden / per; c += 32) {
            const uint4 u = __ldg(w4 + c);
            if constexpr (sizeof(W) == 4) {
                const float4 wf = make_float4(__uint_as_float(u.x), __uint_as_float(u.y), __uint_as_float(u.z),
                                              __uint_as_float(u.w));
                const float4 xv = __ldg(x4 + c);
                acc = fmaf(wf.x, xv.x, acc);
                acc = fmaf(wf.y, xv.y, acc);
                acc = fmaf(wf.z, xv.z, acc);
                acc = fmaf(wf.w, xv.w, acc);
            } else {
                float f[8];
                lk_unpack8(u, W(), f);
                const float4 x0 = __ldg(x4 + 2 * c), x1 = __ldg(x4 + 2 * c + 1);
                acc = fmaf(f[0], x0.x, acc);
                acc = fmaf(f[1], x0.y, acc);
                acc = fmaf(f[2], x0.z, acc);
                acc = fmaf(f[3], x0.w, acc);
                acc = fmaf(f[4], x1.x, acc);
                acc = fmaf(f[5], x1.y, acc);
                acc = fmaf(f[6], x1.z, acc);
                acc = fmaf(f[7], x1.w, acc);
            }
        }
    } else {
        for (int64_t c = lane; c < hidden; c += 32) acc = fmaf(lk_to_f32(w[c]), __ldg(x + c), acc);
    }
    return lk_warp_sum(acc);
}

template <typename W>
__global__ void __launch_bounds__(256) router_fused_kernel(lk_cuda_fused_router_args a, int vec) {
    __shared__ float logits_s[256];
    const int64_t t = blockIdx.x;
    const int set = blockIdx.y;
    const int warp = threadIdx.x >> 5, warps = blockDim.x >> 5, lane = threadIdx.x & 31;
    const int E = a.n_experts;
    const W* wset = static_cast<const W*>(a.w) + (int64_t)set * E * a.hidden;
    const float* x = a.x + t * a.hidden;
    const int64_t out_row = t * a.n_sets + set;
    for (int e = warp; e < E; e += warps) {
        const float d = warp_dot(wset + (int64_t)e * a.hidden, x, a.hidden, vec);
        if (lane == 0) {
            logits_s[e] = d;
            if (a.logits_out) a.logits_out[out_row * E + e] = d;
        }
    }
    __syncthreads();
    if (warp == 0) {
        float v[kMaxPerLane];
#pragma unroll
        for (int i = 0; i < kMaxPerLane; ++i) v[i] = (lane + 32 * i < E) ? logits_s[lane + 32 * i] : -INFINITY;
        route_row_warp(v, E, a.k, a.renormalize, a.probs_out ? a.probs_out + out_row * E : nullptr,
                       a.topk_idx + out_row * a.k, a.topk_weight + out_row * a.k);
    }
}

extern "C" __attribute__((visibility("default")))
lk_status lk_cuda_router_fused(lk_stream* s, const lk_cuda_fused_router_args* a) {
    /* Not behind the dispatcher: validate here. */
    if (!s || s->h.kind != LK_HANDLE_STREAM || !a)
        return LK_SET_ERROR(LK_ERR_INVALID_ARGUMENT, "cuda: lk_cuda_router_fused: null or invalid stream/args");
    if (!lk_cuda_owns(&s->h))
        return LK_SET_ERROR(LK_ERR_INVALID_ARGUMENT, "cuda: lk_cuda_router_fused: the stream is not a CUDA stream");
    if (a->w_dtype != LK_F32 && a->w_dtype != LK_F16 && a->w_dtype != LK_BF16)
        return LK_SET_ERROR(LK_ERR_UNSUPPORTED, "cuda: lk_cuda_router_fused: w_dtype %d", (int)a->w_dtype);
    if (a->n < 0 || a->hidden <= 0 || a->n_sets < 1 || a->n_sets > 65535 || a->n_experts < 1 ||
        a->n_experts > 256 || a->k < 1 || a->k > a->n_experts)
        return LK_SET_ERROR(LK_ERR_INVALID_ARGUMENT,
                            "cuda: lk_cuda_router_fused: n=%lld hidden=%lld n_sets=%d n_experts=%d k=%d out of range",
                            (long long)a->n, (long long)a->hidden, a->n_sets, a->n_experts, a->k);
    if (!a->w || !a->x || !a->topk_idx || !a->topk_weight)
        return LK_SET_ERROR(LK_ERR_INVALID_ARGUMENT, "cuda: lk_cuda_router_fused: null w, x, topk_idx or topk_weight");
    if (a->n == 0) return LK_OK;
    if (a->n > 0x7FFFFFFF)
        return LK_SET_ERROR(LK_ERR_INVALID_ARGUMENT, "cuda: lk_cuda_router_fused: n=%lld too large", (long long)a->n);
    LK_BIND_STREAM(s);
    const size_t es = a->w_dtype == LK_F32 ? 4 : 2;
    const int64_t per = 16 / (int64_t)es;
    const int vec = (a->hidden % per == 0) && lk_is_aligned(a->w, 16) && lk_is_aligned(a->x, 16);
    const dim3 grid((unsigned)a->n, (unsigned)a->n_sets);
    switch (a->w_dtype) {
    case LK_F32: router_fused_kernel<float><<<grid, 256, 0, s->s>>>(*a, vec); break;
    case LK_F16: router_fused_kernel<__half><<<grid, 256, 0, s->s>>>(*a, vec); break;
    default: router_fused_kernel<__nv_bfloat16><<<grid, 256, 0, s->s>>>(*a, vec); break;
    }
    return lk_cuda_check_launch("router_fused");
}

/* ------------------------------------------------------------------------ */
/* lk_router_heads: a layer's decode routing in one launch                   */
/* ------------------------------------------------------------------------ */

/* Rows of a set per pass of router_heads_dots: one accumulator per row in each thread. */
static constexpr int kHeadRows = 8;

/* logits_s[e] = w[e] . xval + (bias ? bias[e] : 0) for e < E (and xval into xn_out, if given, on the
 * first pass), by the whole block: every thread walks
 * the columns (coalesced loads across the block) and accumulates kHeadRows rows at once, so each
 * thread has kHeadRows x 4 independent loads in flight per unrolled step. A warp per row instead
 * walked hidden / 32 dependent steps, each a memory round trip: ~40 us per layer on an H200 at
 * Mixtral's 4096. Row sums: warp shuffles, then one thread per row over the warps' partials. */
template <typename W, typename XVal>
__device__ __forceinline__ void router_heads_dots(const W* __restrict__ w, const float* __restrict__ bias, int E,
                                                  int64_t D, XVal xval, float* __restrict__ xn_out,
                                                  float* __restrict__ logits_s,
                                                  float* __restrict__ part /* [warps][kHeadRows] */) {
    const int warp = threadIdx.x >> 5, warps = blockDim.x >> 5, lane = threadIdx.x & 31;
    for (int e0 = 0; e0 < E; e0 += kHeadRows) {
        const int rows = E - e0 < kHeadRows ? E - e0 : kHeadRows;
        float acc[kHeadRows];
#pragma unroll
        for (int r = 0; r < kHeadRows; ++r) acc[r] = 0.0f;
#pragma unroll 4
        for (int64_t c = threadIdx.x; c < D; c += blockDim.x) {
            const float xv = xval(c);
            if (xn_out && e0 == 0) xn_out[c] = xv;
#pragma unroll
            for (int r = 0; r < kHeadRows; ++r)
                if (r < rows) acc[r] = fmaf(lk_to_f32(w[(int64_t)(e0 + r) * D + c]), xv, acc[r]);
        }
#pragma unroll
        for (int r = 0; r < kHeadRows; ++r) {
            const float sum = lk_warp_sum(acc[r]);
            if (lane == 0) part[warp * kHeadRows + r] = sum;
        }
        __syncthreads();
        if (threadIdx.x < rows) {
            float sum = 0.0f;
            for (int i = 0; i < warps; ++i) sum += part[i * kHeadRows + threadIdx.x];
            logits_s[e0 + threadIdx.x] = sum + (bias ? bias[e0 + threadIdx.x] : 0.0f);
        }
        __syncthreads(); /* part is reused by the next pass */
    }
}

/* One block per set: block 0 is the router (xn = rmsnorm(x) * gain, written to xn_out;
 * logits = router . xn; softmax + top-k into the packed output), block 1 + h is
 * lookahead head h (logits = heads[h] . (x * inv) + bias; softmax into the packed
 * output). Every block reduces sum(x^2) itself (hidden floats, L2-resident after the
 * first block) so no block waits for another; the normalised element is recomputed
 * from x in each dot product, and block 0 writes xn_out from that same value. The block's
 * threads share the dot products (router_heads_dots); warp 0 then runs the softmax /
 * top-k of route_row_warp. */
template <typename G, typename W>
__global__ void __launch_bounds__(256) router_heads_kernel(lk_router_heads_args a) {
    __shared__ float red[32];
    __shared__ float logits_s[256];
    __shared__ float part[(256 / 32) * kHeadRows];
    const int set = blockIdx.x;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int E = a.n_experts;
    const int64_t D = a.hidden;
    const float* __restrict__ x = a.x;

    float ss = 0.0f;
#pragma unroll 4
    for (int64_t c = threadIdx.x; c < D; c += blockDim.x) ss = fmaf(x[c], x[c], ss);
    ss = lk_block_sum(ss, red);
    const float inv = 1.0f / sqrtf(ss / (float)D + a.eps);

    if (set == 0) { /* xn is written as the router's dot products read it */
        const G* __restrict__ g = static_cast<const G*>(a.gain);
        router_heads_dots(static_cast<const W*>(a.router), nullptr, E, D,
                          [&](int64_t c) { return (x[c] * inv) * lk_to_f32(g[c]); }, a.xn_out, logits_s, part);
    } else {
        const int h = set - 1;
        router_heads_dots(a.heads + (int64_t)h * E * D, a.heads_bias ? a.heads_bias + (int64_t)h * E : nullptr, E, D,
                          [&](int64_t c) { return x[c] * inv; }, nullptr, logits_s, part);
    }
    if (warp != 0) return;

    float v[kMaxPerLane];
#pragma unroll
    for (int i = 0; i < kMaxPerLane; ++i) v[i] = (lane + 32 * i < E) ? logits_s[lane + 32 * i] : -INFINITY;
    int32_t* idx = static_cast<int32_t*>(a.out);
    float* weight = static_cast<float*>(a.out) + a.k;
    if (set == 0) {
        route_row_warp(v, E, a.k, a.renormalize, nullptr, idx, weight);
        return;
    }
    float* probs = static_cast<float*>(a.out) + 2 * (int64_t)a.k + (int64_t)(set - 1) * E;
    float p[kMaxPerLane];
    softmax_row_warp(v, E, p, probs);
}

template <typename G>
static void launch_router_heads(const lk_router_heads_args& a, unsigned blocks, cudaStream_t st) {
    switch (a.router_dtype) {
    case LK_F32: router_heads_kernel<G, float><<<blocks, 256, 0, st>>>(a); break;
    case LK_F16: router_heads_kernel<G, __half><<<blocks, 256, 0, st>>>(a); break;
    default: router_heads_kernel<G, __nv_bfloat16><<<blocks, 256, 0, st>>>(a); break;
    }
}

lk_status lk_cuda_router_heads(lk_stream* s, const lk_router_heads_args* args) {
    LK_BIND_STREAM(s);
    lk_router_heads_args a = *args; /* passed by value: the kernel gets its own copy */
    const unsigned blocks = 1u + (unsigned)a.n_heads;
    switch (a.gain_dtype) {
    case LK_F32: launch_router_heads<float>(a, blocks, s->s); break;
    case LK_F16: launch_router_heads<__half>(a, blocks, s->s); break;
    default: launch_router_heads<__nv_bfloat16>(a, blocks, s->s); break;
    }
    return lk_cuda_check_launch("router_heads");
}
