/*
 * gemm_fma.cuh — the fp32 CUDA-core GEMM shared by lk_qmatmul (2/3/4-bit W,
 * dequantized while staging) and lk_matmul with F32 weights:
 *
 *   y[n, rows] = x[n, K] @ W[rows, K]^T        (fp32 everywhere)
 *
 * Block tile: 64 tokens x 128 W rows, K step 32, 256 threads.
 *  - Warps 0-3 stage W: thread t owns W row (tile row + t); Loader::fetch issues the
 *    raw loads of the next K step (16-byte code words / float4) into registers before
 *    the current step is computed, Loader::decode turns them into 32 fp32 weights
 *    after it, and they are stored k-major (Ws[k][row]). A quantized group is thus
 *    dequantized once per 64-token tile, in registers, never written to global memory.
 *  - Warps 4-7 stage x the same way (16 floats per thread, token-major Xs[tok][k]).
 *  - Every thread then computes a 4-token x 8-row micro-tile: per k, 4 broadcast
 *    LDS.32 of x and 2 LDS.128 of W feed 32 FMAs.
 * Shared memory: 9 KiB (Xs, rows padded to 36 floats so both the float4 stores and
 * the per-k reads are conflict-free) + 16 KiB (Ws) = 25 KiB, so registers (about
 * 128 per thread: 32 accumulators + 32 prefetched weights) limit occupancy to
 * 2 blocks / 16 warps per SM.
 *
 * Ceiling: the H100 SXM's fp32 FMA peak is ~67 TFLOP/s (it has ~990 TFLOP/s of
 * dense fp16 tensor throughput); a CUDA-core tile like this reaches a fraction of
 * the fp32 peak. It serves prefill, which is compute-bound and off the decode
 * critical path; a tensor-core dequantizing path is the upgrade if prefill matters.
 */
#ifndef LK_GEMM_FMA_CUH
#define LK_GEMM_FMA_CUH

#include "cuda_common.cuh"

namespace lk_gemm {

constexpr int kTM = 64;    /* tokens per block tile   */
constexpr int kTN = 128;   /* W rows per block tile   */
constexpr int kBK = 32;    /* K per step              */
constexpr int kXPad = 36;  /* Xs row length (floats)  */
constexpr int kThreads = 256;

/* Loader concept:
 *   struct Raw;                                             registers of one K step
 *   __device__ Raw fetch(int64_t row, int64_t k0) const;    issue the loads (row < rows)
 *   __device__ void decode(const Raw&, int64_t row, int64_t k0, float (&w)[32]) const;
 *   int64_t rows, k_total (K, padded to whole quant groups for quantized W)
 */
template <class Loader>
__global__ void __launch_bounds__(kThreads) gemm_fma_kernel(Loader L, const float* __restrict__ x, int64_t n,
                                                             int64_t x_cols, int x_vec, float* __restrict__ y) {
    __shared__ __align__(16) float Xs[kTM * kXPad];
    __shared__ __align__(16) float Ws[kBK * kTN];

    const int tid = threadIdx.x;
    const int64_t row0 = (int64_t)blockIdx.x * kTN;
    const int64_t tok0 = (int64_t)blockIdx.y * kTM;
    const bool w_thread = tid < 128;

    /* W staging role */
    const int64_t my_row = row0 + tid;
    const bool row_ok = w_thread && my_row < L.rows;
    typename Loader::Raw raw;
    /* x staging role: token (t'/2), columns 16 * (t' % 2) .. + 16 */
    const int xt = (tid - 128) >> 1, xh = (tid - 128) & 1;
    const int64_t x_tok = tok0 + xt;
    const bool tok_ok = !w_thread && x_tok < n;
    float4 xr[4];

    auto fetch = [&](int64_t k0) {
        if (w_thread) {
            if (row_ok) raw = L.fetch(my_row, k0);
        } else {
#pragma unroll
            for (int v = 0; v < 4; ++v) {
                const int64_t c = k0 + 16 * xh + 4 * v;
                float4 f = make_float4(0.f, 0.f, 0.f, 0.f);
                if (tok_ok) {
                    const float* xp = x + x_tok * x_cols + c;
                    if (x_vec) {
                        if (c < x_cols) f = __ldg(reinterpret_cast<const float4*>(xp));
                    } else {
                        if (c < x_cols) f.x = __ldg(xp);
                        if (c + 1 < x_cols) f.y = __ldg(xp + 1);
                        if (c + 2 < x_cols) f.z = __ldg(xp + 2);
                        if (c + 3 < x_cols) f.w = __ldg(xp + 3);
                    }
                }
                xr[v] = f;
            }
        }
    };
    auto store = [&](int64_t k0) {
        if (w_thread) {
            float w[32];
            if (row_ok) {
                L.decode(raw, my_row, k0, w);
            } else {
#pragma unroll
                for (int i = 0; i < 32; ++i) w[i] = 0.0f;
            }
#pragma unroll
            for (int i = 0; i < 32; ++i) Ws[i * kTN + tid] = w[i];
        } else {
            float4* dst = reinterpret_cast<float4*>(&Xs[xt * kXPad + 16 * xh]);
#pragma unroll
            for (int v = 0; v < 4; ++v) dst[v] = xr[v];
        }
    };

    const int tx = tid & 15, ty = tid >> 4; /* rows 8tx..8tx+7, tokens 4ty..4ty+3 */
    float acc[4][8];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = 0.0f;

    fetch(0);
    for (int64_t k0 = 0; k0 < L.k_total; k0 += kBK) {
        __syncthreads(); /* the previous step's reads of Xs/Ws are done */
        store(k0);
        __syncthreads();
        if (k0 + kBK < L.k_total) fetch(k0 + kBK); /* in flight while this step computes */
#pragma unroll 8
        for (int k = 0; k < kBK; ++k) {
            const float4 w0 = *reinterpret_cast<const float4*>(&Ws[k * kTN + 8 * tx]);
            const float4 w1 = *reinterpret_cast<const float4*>(&Ws[k * kTN + 8 * tx + 4]);
            const float wv[8] = {w0.x, w0.y, w0.z, w0.w, w1.x, w1.y, w1.z, w1.w};
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const float xv = Xs[(4 * ty + i) * kXPad + k];
#pragma unroll
                for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(xv, wv[j], acc[i][j]);
            }
        }
    }

#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const int64_t t = tok0 + 4 * ty + i;
        if (t >= n) break;
#pragma unroll
        for (int j = 0; j < 8; ++j) {
            const int64_t r = row0 + 8 * tx + j;
            if (r < L.rows) y[t * L.rows + r] = acc[i][j];
        }
    }
}

template <class Loader>
static inline void launch_gemm_fma(const Loader& L, const float* x, int64_t n, int64_t x_cols, float* y,
                                   cudaStream_t st) {
    const int x_vec = (x_cols % 4 == 0) && lk_is_aligned(x, 16);
    const dim3 grid(lk_ceil_div_u(L.rows, kTN), lk_ceil_div_u(n, kTM));
    gemm_fma_kernel<Loader><<<grid, kThreads, 0, st>>>(L, x, n, x_cols, x_vec, y);
}

} /* namespace lk_gemm */

#endif /* LK_GEMM_FMA_CUH */
