/*
 * dense_matmul.cu — lk_matmul: y[n, rows] = x[n, cols] @ W[rows, cols]^T with W in
 * F32, F16 or BF16 and x, y in fp32. No cuBLAS: three hand-written paths.
 *
 * n <= 4 (decode, routers, LM head at batch 1): gemv_kernel. A warp per W row, each
 * lane loading consecutive 16-byte pieces of the row (512 contiguous bytes per warp
 * instruction), all n tokens accumulated from the same W registers, fp32 FMA, warp
 * shuffle reduction. Tensor cores cannot help here: at n <= 4 a matmul does <= 4
 * FMAs per weight loaded, so it is bound by HBM (H100 SXM ~3.35 TB/s), e.g. the
 * 32000 x 4096 fp16 LM head is 262 MB -> >= 78 us at the ceiling.
 *
 * n > 4, F16/BF16 W: mma_kernel, tensor cores through mma.sync.m16n8k16 (sm_80+),
 * fp32 accumulate. Block tile 64 tokens x 128 rows x 32 K, 8 warps as 2 x 4, each
 * warp a 32 x 32 tile = 2 x 4 mma tiles (8 mma per 16-wide K slice). x is converted
 * from fp32 to W's type while it is staged into shared memory (so fp16 W needs
 * |x| < 65504; bf16 has fp32's range). The next K step's global loads are issued into
 * registers before the current step's mma, which hides most of the load latency with
 * 15 KiB of shared memory per block. Shared rows are padded to 40 halves (80 bytes)
 * so the fragment loads (8 rows x 4 words per instruction) hit 32 distinct banks.
 * Ceiling: ~990 TFLOP/s dense fp16/bf16 on an H100 SXM; a mma.sync kernel without
 * TMA/wgmma and with this simple pipeline reaches a fraction of that. Its use here
 * (prefill of routers and the LM head) is a small part of the work.
 *
 * n > 4, F32 W: the CUDA-core GEMM of gemm_fma.cuh (fp32 FMA, H100 peak ~67 TFLOP/s).
 */
#include "cuda_common.cuh"
#include "gemm_fma.cuh"

namespace {

/* ------------------------------------------------------------------------ */
/* GEMV: n <= 4                                                              */
/* ------------------------------------------------------------------------ */

constexpr int kGemvMaxTokens = 4;
constexpr int kGemvThreads = 256;

template <typename W>
__global__ void __launch_bounds__(kGemvThreads) gemv_kernel(const W* __restrict__ w, const float* __restrict__ x,
                                                           int n, int64_t rows, int64_t cols, float* __restrict__ y,
                                                           int vec) {
    const int lane = threadIdx.x & 31;
    const int warps = kGemvThreads / 32;
    for (int64_t r = (int64_t)blockIdx.x * warps + (threadIdx.x >> 5); r < rows; r += (int64_t)gridDim.x * warps) {
        const W* wr = w + r * cols;
        float acc[kGemvMaxTokens] = {0.0f, 0.0f, 0.0f, 0.0f};
        if (vec) {
            constexpr int per = 16 / sizeof(W); /* elements per 16-byte load */
            const int64_t nv = cols / per;
            const uint4* w4 = reinterpret_cast<const uint4*>(wr);
#pragma unroll 2
            for (int64_t c = lane; c < nv; c += 32) {
                const uint4 u = __ldg(w4 + c);
                float f[per];
                if constexpr (sizeof(W) == 4) {
                    f[0] = __uint_as_float(u.x); f[1] = __uint_as_float(u.y);
                    f[2] = __uint_as_float(u.z); f[3] = __uint_as_float(u.w);
                } else {
                    lk_unpack8(u, W(), f);
                }
#pragma unroll
                for (int t = 0; t < kGemvMaxTokens; ++t) {
                    if (t >= n) break;
                    const float4* x4 = reinterpret_cast<const float4*>(x + t * cols + c * per);
#pragma unroll
                    for (int v = 0; v < per / 4; ++v) {
                        const float4 xv = __ldg(x4 + v);
                        acc[t] = fmaf(f[4 * v], xv.x, acc[t]);
                        acc[t] = fmaf(f[4 * v + 1], xv.y, acc[t]);
                        acc[t] = fmaf(f[4 * v + 2], xv.z, acc[t]);
                        acc[t] = fmaf(f[4 * v + 3], xv.w, acc[t]);
                    }
                }
            }
        } else {
            for (int64_t c = lane; c < cols; c += 32) {
                const float wv = lk_to_f32(wr[c]);
#pragma unroll
                for (int t = 0; t < kGemvMaxTokens; ++t) {
                    if (t >= n) break;
                    acc[t] = fmaf(wv, __ldg(x + t * cols + c), acc[t]);
                }
            }
        }
#pragma unroll
        for (int t = 0; t < kGemvMaxTokens; ++t) {
            if (t >= n) break;
            const float v = lk_warp_sum(acc[t]);
            if (lane == 0) y[t * rows + r] = v;
        }
    }
}

template <typename W>
static void launch_gemv(const lk_device* dev, const W* w, const float* x, int n, int64_t rows, int64_t cols,
                        float* y, cudaStream_t st) {
    const int64_t per = 16 / (int64_t)sizeof(W);
    /* Rows start 16-byte aligned when cols is a multiple of the vector; x rows too. */
    const int vec = (cols % per == 0) && lk_is_aligned(w, 16) && lk_is_aligned(x, 16);
    int64_t blocks = (rows + 7) / 8;
    if (blocks > (int64_t)dev->sms * 16) blocks = (int64_t)dev->sms * 16;
    gemv_kernel<W><<<(unsigned)blocks, kGemvThreads, 0, st>>>(w, x, n, rows, cols, y, vec);
}

/* ------------------------------------------------------------------------ */
/* Tensor cores: n > 4, F16/BF16                                             */
/* ------------------------------------------------------------------------ */

constexpr int kBM = 64, kBN = 128, kBK = 32, kPad = 40, kMmaThreads = 256;

template <typename T> struct MmaOp;
template <> struct MmaOp<__half> {
    static __device__ __forceinline__ void run(float (&c)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
            "{%0,%1,%2,%3};\n"
            : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    }
    static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
        const __half2 h = __floats2half2_rn(lo, hi); /* .x = lo = lower address / lower bits */
        return *reinterpret_cast<const uint32_t*>(&h);
    }
};
template <> struct MmaOp<__nv_bfloat16> {
    static __device__ __forceinline__ void run(float (&c)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
            "{%0,%1,%2,%3};\n"
            : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    }
    static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
        const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
        return *reinterpret_cast<const uint32_t*>(&h);
    }
};

/* Fragment layouts (PTX ISA, "Matrix Fragments for mma.m16n8k16 with floating point
 * type"), g = lane / 4, t = lane % 4:
 *   A 16x16 (row-major, tokens x K): reg0 = (g, 2t..2t+1), reg1 = (g+8, 2t..),
 *                                    reg2 = (g, 2t+8..), reg3 = (g+8, 2t+8..)
 *   B 16x8 (K x rows, "col": W's row-major [rows, K] is exactly that):
 *                                    reg0 = (k 2t..2t+1, n g), reg1 = (k 2t+8.., n g)
 *   C 16x8: c0,c1 = (g, 2t..2t+1), c2,c3 = (g+8, 2t..2t+1)
 * Two consecutive K elements are consecutive in shared memory, so each register is
 * one 32-bit shared load. */
template <typename T>
__global__ void __launch_bounds__(kMmaThreads) mma_kernel(const T* __restrict__ w, const float* __restrict__ x,
                                                          int64_t n, int64_t rows, int64_t cols,
                                                          float* __restrict__ y, int x_vec, int w_vec) {
    __shared__ __align__(16) T As[kBM * kPad];
    __shared__ __align__(16) T Bs[kBN * kPad];

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp >> 2, wn = warp & 3;
    const int g = lane >> 2, t4 = lane & 3;
    const int64_t row0 = (int64_t)blockIdx.x * kBN;
    const int64_t tok0 = (int64_t)blockIdx.y * kBM;

    /* Staging roles: A (x): token tid/4, 8 columns at (tid%4)*8; B (W): row tid/2,
     * 16 columns at (tid%2)*16. */
    const int a_tok = tid >> 2, a_col = (tid & 3) * 8;
    const int b_row = tid >> 1, b_col = (tid & 1) * 16;
    const bool a_ok = tok0 + a_tok < n;
    const bool b_ok = row0 + b_row < rows;
    const float* xrow = x + (tok0 + a_tok) * cols;
    const T* wrow = w + (row0 + b_row) * cols;

    float xa[8];
    uint4 wb[2];
    auto fetch = [&](int64_t k0) {
#pragma unroll
        for (int v = 0; v < 2; ++v) {
            const int64_t c = k0 + a_col + 4 * v;
            float4 f = make_float4(0.f, 0.f, 0.f, 0.f);
            if (a_ok) {
                if (x_vec) {
                    if (c < cols) f = __ldg(reinterpret_cast<const float4*>(xrow + c));
                } else {
                    if (c < cols) f.x = __ldg(xrow + c);
                    if (c + 1 < cols) f.y = __ldg(xrow + c + 1);
                    if (c + 2 < cols) f.z = __ldg(xrow + c + 2);
                    if (c + 3 < cols) f.w = __ldg(xrow + c + 3);
                }
            }
            xa[4 * v] = f.x; xa[4 * v + 1] = f.y; xa[4 * v + 2] = f.z; xa[4 * v + 3] = f.w;
        }
#pragma unroll
        for (int v = 0; v < 2; ++v) {
            const int64_t c = k0 + b_col + 8 * v;
            uint4 u = make_uint4(0u, 0u, 0u, 0u);
            if (b_ok) {
                if (w_vec) {
                    if (c < cols) u = __ldg(reinterpret_cast<const uint4*>(wrow + c));
                } else {
                    uint16_t e[8];
#pragma unroll
                    for (int i = 0; i < 8; ++i)
                        e[i] = c + i < cols ? __ldg(reinterpret_cast<const unsigned short*>(wrow + c + i)) : 0;
                    u.x = e[0] | ((uint32_t)e[1] << 16);
                    u.y = e[2] | ((uint32_t)e[3] << 16);
                    u.z = e[4] | ((uint32_t)e[5] << 16);
                    u.w = e[6] | ((uint32_t)e[7] << 16);
                }
            }
            wb[v] = u;
        }
    };
    auto store = [&]() {
        uint4 pa;
        pa.x = MmaOp<T>::pack(xa[0], xa[1]);
        pa.y = MmaOp<T>::pack(xa[2], xa[3]);
        pa.z = MmaOp<T>::pack(xa[4], xa[5]);
        pa.w = MmaOp<T>::pack(xa[6], xa[7]);
        *reinterpret_cast<uint4*>(&As[a_tok * kPad + a_col]) = pa;
        *reinterpret_cast<uint4*>(&Bs[b_row * kPad + b_col]) = wb[0];
        *reinterpret_cast<uint4*>(&Bs[b_row * kPad + b_col + 8]) = wb[1];
    };

    float acc[2][4][4];
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;

    fetch(0);
    for (int64_t k0 = 0; k0 < cols; k0 += kBK) {
        __syncthreads();
        store();
        __syncthreads();
        if (k0 + kBK < cols) fetch(k0 + kBK);
#pragma unroll
        for (int kk = 0; kk < kBK; kk += 16) {
            uint32_t a[2][4], b[4][2];
#pragma unroll
            for (int mi = 0; mi < 2; ++mi) {
                const T* base = &As[(wm * 32 + mi * 16 + g) * kPad + kk + 2 * t4];
                a[mi][0] = *reinterpret_cast<const uint32_t*>(base);
                a[mi][1] = *reinterpret_cast<const uint32_t*>(base + 8 * kPad);
                a[mi][2] = *reinterpret_cast<const uint32_t*>(base + 8);
                a[mi][3] = *reinterpret_cast<const uint32_t*>(base + 8 * kPad + 8);
            }
#pragma unroll
            for (int ni = 0; ni < 4; ++ni) {
                const T* base = &Bs[(wn * 32 + ni * 8 + g) * kPad + kk + 2 * t4];
                b[ni][0] = *reinterpret_cast<const uint32_t*>(base);
                b[ni][1] = *reinterpret_cast<const uint32_t*>(base + 8);
            }
#pragma unroll
            for (int mi = 0; mi < 2; ++mi)
#pragma unroll
                for (int ni = 0; ni < 4; ++ni) MmaOp<T>::run(acc[mi][ni], a[mi], b[ni]);
        }
    }

#pragma unroll
    for (int mi = 0; mi < 2; ++mi)
#pragma unroll
        for (int ni = 0; ni < 4; ++ni)
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const int64_t tok = tok0 + wm * 32 + mi * 16 + g + (e >= 2 ? 8 : 0);
                const int64_t row = row0 + wn * 32 + ni * 8 + 2 * t4 + (e & 1);
                if (tok < n && row < rows) y[tok * rows + row] = acc[mi][ni][e];
            }
}

template <typename T>
static void launch_mma(const T* w, const float* x, int64_t n, int64_t rows, int64_t cols, float* y,
                       cudaStream_t st) {
    const int x_vec = (cols % 4 == 0) && lk_is_aligned(x, 16);
    const int w_vec = (cols % 8 == 0) && lk_is_aligned(w, 16);
    const dim3 grid(lk_ceil_div_u(rows, kBN), lk_ceil_div_u(n, kBM));
    mma_kernel<T><<<grid, kMmaThreads, 0, st>>>(w, x, n, rows, cols, y, x_vec, w_vec);
}

/* ------------------------------------------------------------------------ */
/* F32 W, n > 4: the CUDA-core GEMM with a plain fp32 loader                 */
/* ------------------------------------------------------------------------ */

struct F32Loader {
    const float* w;
    int64_t rows;
    int64_t k_total; /* = cols */
    int32_t vec;     /* rows 16-byte aligned and cols % 4 == 0 */

    struct Raw { float4 v[8]; };
    __device__ __forceinline__ Raw fetch(int64_t row, int64_t k0) const {
        Raw r;
        const float* p = w + row * k_total;
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            const int64_t c = k0 + 4 * i;
            float4 f = make_float4(0.f, 0.f, 0.f, 0.f);
            if (vec) {
                if (c < k_total) f = __ldg(reinterpret_cast<const float4*>(p + c));
            } else {
                if (c < k_total) f.x = __ldg(p + c);
                if (c + 1 < k_total) f.y = __ldg(p + c + 1);
                if (c + 2 < k_total) f.z = __ldg(p + c + 2);
                if (c + 3 < k_total) f.w = __ldg(p + c + 3);
            }
            r.v[i] = f;
        }
        return r;
    }
    __device__ __forceinline__ void decode(const Raw& r, int64_t, int64_t, float (&out)[32]) const {
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            out[4 * i] = r.v[i].x; out[4 * i + 1] = r.v[i].y; out[4 * i + 2] = r.v[i].z; out[4 * i + 3] = r.v[i].w;
        }
    }
};

} /* namespace */

lk_status lk_cuda_matmul(lk_stream* s, lk_dtype w_dtype, const void* w, const float* x, int64_t n, int64_t rows,
                         int64_t cols, float* y) {
    if (n <= 0 || rows <= 0) return LK_OK;
    LK_BIND_STREAM(s);
    lk_device* dev = lk_stream_device(s);
    if (cols <= 0) {
        LK_CUDA_TRY(cudaMemsetAsync(y, 0, (size_t)n * rows * sizeof(float), s->s), "matmul (empty K)");
        return LK_OK;
    }
    if (n <= kGemvMaxTokens) {
        switch (w_dtype) {
        case LK_F32: launch_gemv(dev, (const float*)w, x, (int)n, rows, cols, y, s->s); break;
        case LK_F16: launch_gemv(dev, (const __half*)w, x, (int)n, rows, cols, y, s->s); break;
        default: launch_gemv(dev, (const __nv_bfloat16*)w, x, (int)n, rows, cols, y, s->s); break;
        }
        return lk_cuda_check_launch("matmul (gemv)");
    }
    switch (w_dtype) {
    case LK_F16: launch_mma((const __half*)w, x, n, rows, cols, y, s->s); break;
    case LK_BF16: launch_mma((const __nv_bfloat16*)w, x, n, rows, cols, y, s->s); break;
    default: {
        F32Loader L;
        L.w = static_cast<const float*>(w);
        L.rows = rows;
        L.k_total = cols;
        L.vec = (cols % 4 == 0) && lk_is_aligned(w, 16);
        lk_gemm::launch_gemm_fma(L, x, n, cols, y, s->s);
        break;
    }
    }
    return lk_cuda_check_launch("matmul");
}
