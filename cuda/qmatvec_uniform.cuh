/*
 * qmatvec_uniform.cuh — the decode matvec y = W x for the common quantized layout: groups of
 * 32 * 2^j columns (every 32-code chunk inside one group) and rows aligned for vector loads.
 * quant_matmul.cu's general kernel takes every other layout; cuda/dev/qmatvec_dev.cu validates
 * and benchmarks this one on a GPU against a float64 reference (docs/gpu-results.md).
 *
 * What it changes against the general kernel (which runs at 6.9 instructions per code on an
 * H200, instruction-bound at 21 % of HBM bandwidth):
 * - codes decode to bias + q with one PRMT each (lk_quant::decode_chunk_biased: 128 at 4 bits,
 *   8 at 2 and 3) and the bias folds into the zero point, s (q - z) = s ((bias + q) - (bias + z)):
 *   no FADD per code;
 * - a chunk lies in one group, so it needs one x sum, one scale and one zero, and a row's
 *   chunk dot finishes with 2 FFMAs;
 * - 32-bit indices, the group of a chunk by a shift, no byte-wise fallback and no per-chunk
 *   bounds checks (the launcher checks alignment once); rows past the end are clamped, not
 *   branched on;
 * - the next chunk's codes, scales and zeros are loaded before the current chunk's math.
 * Per code: 1 PRMT + 1 FFMA + 1/4 LOP/SHF at 4 bits, x from shared memory shared by ROWS rows.
 *
 * x is staged in shared memory as in the general kernel (qmatvec_layout.cuh: 36 floats per
 * chunk, the chunk's 32 values then, here, its sum in slot 32), which bounds a slice at about
 * 20k columns; wider matrices run as column slices, each launch adding into y.
 */
#ifndef LK_QMATVEC_UNIFORM_CUH
#define LK_QMATVEC_UNIFORM_CUH

#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include "qmatvec_layout.cuh"
#include "quant_decode.cuh"
#include "swiglu.cuh"

namespace lk_qmv {

constexpr int kUniformThreads = 256;
constexpr int kUniformWarps = kUniformThreads / 32;

/* A column slice (whole groups) of a quantized matrix the uniform kernel can take. */
struct UniformView {
    const uint8_t* codes;  /* row 0 of the slice: 16 / 8 / 4-byte aligned at 4 / 2 / 3 bits */
    const __half* scales;  /* row 0, the slice's first group                                 */
    const __half* zeros;
    int32_t rows;
    int32_t row_stride;    /* bytes between rows of the full matrix, a multiple of the alignment */
    int32_t group_stride;  /* groups per row of the full matrix                              */
    int32_t nchunks;       /* 32-code chunks per row inside the slice                        */
    int32_t group_shift;   /* log2(chunks per group)                                         */
};

/* What a launch computes: one matrix; two of one shape on the same x (an expert's gate and up,
 * their row tiles in one grid); or one whose x is silu(x) * x_up, formed as x is staged (an
 * expert's down product, the SwiGLU fused into it). */
enum class UniformMode { Plain, Pair, SwigluX };

/* The inputs beyond the first matrix: Pair's second matrix and output, SwigluX's up vector. */
struct UniformExtra {
    UniformView q2;      /* Pair: the same rows, columns and layout as the first */
    float* y2;
    const float* x_up;   /* SwigluX */
};

/* The layouts this kernel takes: group 32 * 2^j, codes and rows aligned for the vector loads. */
inline bool uniform_supported(int bits, int group_size, const void* codes, int64_t row_bytes, int64_t rows) {
    const int64_t align = bits == 4 ? 16 : bits == 2 ? 8 : 4;
    const bool pow2_chunks = group_size >= 32 && (group_size & (group_size - 1)) == 0;
    return (bits == 2 || bits == 3 || bits == 4) && pow2_chunks && ((uintptr_t)codes % align) == 0 &&
           row_bytes % align == 0 && row_bytes < (int64_t(1) << 31) && rows < (int64_t(1) << 31);
}

/* Chunk k of a row (whole, aligned: the launcher checked). */
template <int BITS> __device__ __forceinline__ lk_quant::Chunk<BITS> load_whole_chunk(const uint8_t* row, int k) {
    lk_quant::Chunk<BITS> c;
    if constexpr (BITS == 4) {
        const uint4 u = __ldg(reinterpret_cast<const uint4*>(row) + k);
        c.w[0] = u.x; c.w[1] = u.y; c.w[2] = u.z; c.w[3] = u.w;
    } else if constexpr (BITS == 2) {
        const uint2 u = __ldg(reinterpret_cast<const uint2*>(row) + k);
        c.w[0] = u.x; c.w[1] = u.y;
    } else {
        const uint32_t* p = reinterpret_cast<const uint32_t*>(row) + 3 * k;
        c.w[0] = __ldg(p); c.w[1] = __ldg(p + 1); c.w[2] = __ldg(p + 2);
    }
    return c;
}

/* One chunk of ROWS rows in registers: codes, scale and zero. */
template <int BITS, int ROWS> struct ChunkRows {
    lk_quant::Chunk<BITS> c[ROWS];
    __half s[ROWS], z[ROWS];
};

template <int BITS, int ROWS>
__device__ __forceinline__ void load_rows(ChunkRows<BITS, ROWS>& t, const uint8_t* const (&rowp)[ROWS],
                                          const __half* const (&sp)[ROWS], const __half* const (&zp)[ROWS], int k,
                                          int group_shift) {
    const int g = k >> group_shift;
#pragma unroll
    for (int r = 0; r < ROWS; ++r) {
        t.c[r] = load_whole_chunk<BITS>(rowp[r], k);
        t.s[r] = sp[r][g];
        t.z[r] = zp[r][g];
    }
}

/* silu(gate) * up staged like stage_x (the launcher checked 16-byte alignment of both). */
__device__ __forceinline__ void stage_swiglu_x(float* smem, const float* __restrict__ gate, const float* __restrict__ up,
                                               int x_valid, int n) {
    for (int i = 4 * threadIdx.x; i < n; i += 4 * kUniformThreads) {
        float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
        if (i + 3 < x_valid) {
            const float4 g = __ldg(reinterpret_cast<const float4*>(gate + i));
            const float4 u = __ldg(reinterpret_cast<const float4*>(up + i));
            v = make_float4(lk_silu_mul(g.x, u.x), lk_silu_mul(g.y, u.y), lk_silu_mul(g.z, u.z), lk_silu_mul(g.w, u.w));
        } else {
            if (i < x_valid) v.x = lk_silu_mul(__ldg(gate + i), __ldg(up + i));
            if (i + 1 < x_valid) v.y = lk_silu_mul(__ldg(gate + i + 1), __ldg(up + i + 1));
            if (i + 2 < x_valid) v.z = lk_silu_mul(__ldg(gate + i + 2), __ldg(up + i + 2));
        }
        *reinterpret_cast<float4*>(smem + x_slot(i)) = v;
    }
}

/* Stages the slice's x (zero beyond x_valid; silu(x) * x_up with an up vector) and each chunk's
 * sum (slot 32) in shared memory. */
__device__ __forceinline__ void stage_x_with_sums(float* smem, const float* __restrict__ x, const float* __restrict__ x_up,
                                                  int x_valid, int nchunks) {
    const int tid = threadIdx.x;
    if (x_up)
        stage_swiglu_x(smem, x, x_up, x_valid, nchunks * 32);
    else
        stage_x<kUniformThreads>(smem, x, x_valid, (int64_t)nchunks * 32);
    __syncthreads();
    for (int k = tid; k < nchunks; k += kUniformThreads) {
        const float4* c = reinterpret_cast<const float4*>(smem + (int64_t)k * kChunkFloats);
        float s = 0.0f;
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            const float4 v = c[i];
            s += (v.x + v.y) + (v.z + v.w);
        }
        smem[sums_slot(k)] = s;
    }
    __syncthreads();
}

/* ROWS rows per warp; SPLIT warps share a row group, each taking every SPLIT-th 32-chunk step of
 * its columns (more warps per row when a matrix has few rows and long ones), their sums added
 * in shared memory; each lane works on CHUNKS chunks per step, whose loads are issued one step
 * ahead (more bytes in flight per warp). */
template <int BITS, int ROWS, int MIN_BLOCKS, int SPLIT, int CHUNKS, UniformMode MODE = UniformMode::Plain>
__global__ void __launch_bounds__(kUniformThreads, MIN_BLOCKS)
qmatvec_uniform_kernel(UniformView q, const float* __restrict__ x, int x_valid, float* __restrict__ y, int accumulate,
                       UniformExtra extra) {
    static_assert(kUniformWarps % SPLIT == 0, "SPLIT must divide the warps of a block");
    extern __shared__ __align__(16) float smem[];
    constexpr int kGroups = kUniformWarps / SPLIT;
    constexpr int kRowsPerBlock = kGroups * ROWS;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int group = warp % kGroups, part = warp / kGroups;
    const int tiles_one = (q.rows + kRowsPerBlock - 1) / kRowsPerBlock;
    const int tiles = MODE == UniformMode::Pair ? 2 * tiles_one : tiles_one; /* Pair: the second matrix's tiles follow */
    float* partial = smem + (int64_t)q.nchunks * kChunkFloats; /* [warps][ROWS], SPLIT > 1 */

    /* Ask L2 for this block's first codes while x is staged (the loads below would otherwise
     * start only after the staging). */
    if (blockIdx.x < tiles) {
        const bool second = MODE == UniformMode::Pair && (int)blockIdx.x >= tiles_one;
        const uint8_t* codes = second ? extra.q2.codes : q.codes;
        const int r0 = (blockIdx.x - (second ? tiles_one : 0)) * kRowsPerBlock + group * ROWS;
        const int k = part * 32 + lane;
#pragma unroll
        for (int r = 0; r < ROWS; ++r)
            if (r0 + r < q.rows && k < q.nchunks)
                asm volatile("prefetch.global.L2 [%0];" ::"l"(codes + (size_t)(r0 + r) * q.row_stride + k * 4 * BITS));
    }
    stage_x_with_sums(smem, x, MODE == UniformMode::SwigluX ? extra.x_up : nullptr, x_valid, q.nchunks);

    for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x) { /* the same trips for every warp of the block */
        /* Pair: tiles past the first matrix's are the second's (same shape and strides) */
        const bool second = MODE == UniformMode::Pair && tile >= tiles_one;
        const uint8_t* const codes = second ? extra.q2.codes : q.codes;
        const __half* const scales = second ? extra.q2.scales : q.scales;
        const __half* const zeros = second ? extra.q2.zeros : q.zeros;
        float* const yt = second ? extra.y2 : y;
        const int r0 = (tile - (second ? tiles_one : 0)) * kRowsPerBlock + group * ROWS;
        const bool active = r0 < q.rows;
        float acc[ROWS];
#pragma unroll
        for (int r = 0; r < ROWS; ++r) acc[r] = 0.0f;
        if (active) {
            const uint8_t* rowp[ROWS];
            const __half* sp[ROWS];
            const __half* zp[ROWS];
#pragma unroll
            for (int r = 0; r < ROWS; ++r) {
                const int row = r0 + r < q.rows ? r0 + r : q.rows - 1; /* past the end: recompute the last row */
                rowp[r] = codes + (size_t)row * q.row_stride;
                sp[r] = scales + (size_t)row * q.group_stride;
                zp[r] = zeros + (size_t)row * q.group_stride;
            }
            constexpr int kLaneStep = 32 * SPLIT, kStep = kLaneStep * CHUNKS;
            const int k0 = part * 32 + lane;
            ChunkRows<BITS, ROWS> cur[CHUNKS], next[CHUNKS];
#pragma unroll
            for (int c = 0; c < CHUNKS; ++c)
                if (k0 + c * kLaneStep < q.nchunks)
                    load_rows<BITS, ROWS>(cur[c], rowp, sp, zp, k0 + c * kLaneStep, q.group_shift);
            for (int k = k0; k < q.nchunks; k += kStep) {
#pragma unroll
                for (int c = 0; c < CHUNKS; ++c)
                    if (k + kStep + c * kLaneStep < q.nchunks)
                        load_rows<BITS, ROWS>(next[c], rowp, sp, zp, k + kStep + c * kLaneStep, q.group_shift);
#pragma unroll
                for (int c = 0; c < CHUNKS; ++c) {
                    const int kc = k + c * kLaneStep;
                    if (kc >= q.nchunks) break;
                    const float4* x4 = reinterpret_cast<const float4*>(smem + (int64_t)kc * kChunkFloats);
                    float xv[32];
#pragma unroll
                    for (int i = 0; i < 8; ++i) {
                        const float4 v = x4[i];
                        xv[4 * i] = v.x; xv[4 * i + 1] = v.y; xv[4 * i + 2] = v.z; xv[4 * i + 3] = v.w;
                    }
                    const float xsum = smem[sums_slot(kc)];
#pragma unroll
                    for (int r = 0; r < ROWS; ++r) {
                        float qf[32];
                        lk_quant::decode_chunk_biased<BITS>(cur[c].c[r], qf);
                        float d[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
                        for (int j = 0; j < 32; ++j) d[j & 3] = fmaf(qf[j], xv[j], d[j & 3]);
                        const float dot = (d[0] + d[1]) + (d[2] + d[3]);
                        const float zb = __half2float(cur[c].z[r]) + lk_quant::kBias<BITS>;
                        acc[r] = fmaf(__half2float(cur[c].s[r]), fmaf(-zb, xsum, dot), acc[r]);
                    }
                }
#pragma unroll
                for (int c = 0; c < CHUNKS; ++c) cur[c] = next[c];
            }
#pragma unroll
            for (int r = 0; r < ROWS; ++r)
#pragma unroll
                for (int o = 16; o > 0; o >>= 1) acc[r] += __shfl_xor_sync(0xffffffffu, acc[r], o);
        }
        if constexpr (SPLIT > 1) {
            if (lane == 0)
#pragma unroll
                for (int r = 0; r < ROWS; ++r) partial[warp * ROWS + r] = acc[r];
            __syncthreads();
            if (part == 0 && lane == 0 && active)
#pragma unroll
                for (int r = 0; r < ROWS; ++r) {
                    float v = acc[r];
                    for (int p = 1; p < SPLIT; ++p) v += partial[(p * kGroups + group) * ROWS + r];
                    if (r0 + r < q.rows) yt[r0 + r] = accumulate ? yt[r0 + r] + v : v;
                }
            __syncthreads(); /* before the next tile overwrites the partial sums */
        } else if (lane == 0 && active) {
#pragma unroll
            for (int r = 0; r < ROWS; ++r)
                if (r0 + r < q.rows) yt[r0 + r] = accumulate ? yt[r0 + r] + acc[r] : acc[r];
        }
    }
}

/* What the launcher needs to know of the device. */
struct UniformLimits {
    int sms;
    int smem_per_sm;
    int smem_optin;    /* max dynamic shared memory per block after opt-in */
    int smem_reserved; /* shared memory the driver reserves per block     */
};

template <int BITS, int ROWS, int MIN_BLOCKS, int SPLIT, int CHUNKS, UniformMode MODE = UniformMode::Plain>
inline const void* uniform_kernel() {
    return reinterpret_cast<const void*>(qmatvec_uniform_kernel<BITS, ROWS, MIN_BLOCKS, SPLIT, CHUNKS, MODE>);
}

/* Once per device: lets the kernel use opt-in shared memory; returns its resident blocks per SM
 * at no dynamic shared memory (the launcher lowers it for the shared memory a slice takes). */
template <int BITS, int ROWS, int MIN_BLOCKS, int SPLIT, int CHUNKS, UniformMode MODE = UniformMode::Plain>
inline cudaError_t uniform_init(const UniformLimits& lim, int* blocks_per_sm) {
    const void* kernel = uniform_kernel<BITS, ROWS, MIN_BLOCKS, SPLIT, CHUNKS, MODE>();
    cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, lim.smem_optin);
    if (e != cudaSuccess) return e;
    e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(blocks_per_sm, kernel, kUniformThreads, 0);
    if (*blocks_per_sm < 1) *blocks_per_sm = 1;
    return e;
}

/* The second matrix of a Pair launch (its codes, scales and zeros in the first's layout) and its output. */
struct UniformSecond {
    const uint8_t* codes;
    const __half* scales;
    const __half* zeros;
    float* y;
};

/* y[rows] = W x for W [rows, cols] in the lookahead.h layout; the caller checked
 * uniform_supported() (for both matrices of a Pair, and 16-byte aligned x and x_up for SwigluX).
 * Pair: also second.y = W2 x; SwigluX: x is silu(x) * x_up. Columns beyond one block's shared
 * memory run as slices, each launch after the first adding into y. */
template <int BITS, int ROWS, int MIN_BLOCKS, int SPLIT, int CHUNKS, UniformMode MODE = UniformMode::Plain>
inline cudaError_t launch_uniform(const UniformLimits& lim, int blocks_per_sm, const uint8_t* codes,
                                  const __half* scales, const __half* zeros, int group_size, int64_t rows,
                                  int64_t cols, const float* x, float* y, cudaStream_t stream,
                                  UniformSecond second = {}, const float* x_up = nullptr) {
    const int64_t ngroups = (cols + group_size - 1) / group_size;
    const int64_t padded = ngroups * group_size, row_bytes = padded * BITS / 8;
    /* leave room for max(2, MIN_BLOCKS) blocks per SM so that one block's loads overlap another's staging */
    const int64_t fit = MIN_BLOCKS > 2 ? MIN_BLOCKS : 2;
    int64_t budget = lim.smem_per_sm / fit - lim.smem_reserved - 1024 - 4 * kUniformWarps * ROWS;
    if (budget > lim.smem_optin) budget = lim.smem_optin;
    if (budget < 16 * 1024) budget = 16 * 1024;
    int64_t slice_cols = budget / (kChunkFloats * 4) * 32 / group_size * group_size;
    if (slice_cols < group_size) slice_cols = group_size;
    int shift = 0;
    while ((32 << shift) < group_size) ++shift;
    constexpr int64_t kRowsPerBlock = kUniformWarps / SPLIT * ROWS;
    const int64_t tiles = (rows + kRowsPerBlock - 1) / kRowsPerBlock * (MODE == UniformMode::Pair ? 2 : 1);
    for (int64_t c0 = 0; c0 < padded; c0 += slice_cols) {
        const int64_t sc = padded - c0 < slice_cols ? padded - c0 : slice_cols;
        UniformView v;
        v.codes = codes + c0 * BITS / 8;
        v.scales = scales + c0 / group_size;
        v.zeros = zeros + c0 / group_size;
        v.rows = (int32_t)rows;
        v.row_stride = (int32_t)row_bytes;
        v.group_stride = (int32_t)ngroups;
        v.nchunks = (int32_t)(sc / 32);
        v.group_shift = shift;
        UniformExtra extra{};
        if constexpr (MODE == UniformMode::Pair) {
            extra.q2 = v;
            extra.q2.codes = second.codes + c0 * BITS / 8;
            extra.q2.scales = second.scales + c0 / group_size;
            extra.q2.zeros = second.zeros + c0 / group_size;
            extra.y2 = second.y;
        }
        if constexpr (MODE == UniformMode::SwigluX) extra.x_up = x_up + c0;
        const int64_t x_valid = cols - c0 < sc ? cols - c0 : sc;
        const size_t smem = ((size_t)v.nchunks * kChunkFloats + (SPLIT > 1 ? kUniformWarps * ROWS : 0)) * 4;
        int per_sm = blocks_per_sm;
        const int by_smem = (int)(lim.smem_per_sm / (smem + (size_t)lim.smem_reserved));
        if (by_smem < per_sm) per_sm = by_smem;
        if (per_sm < 1) per_sm = 1;
        int64_t grid = (int64_t)per_sm * lim.sms;
        if (grid > tiles) grid = tiles;
        qmatvec_uniform_kernel<BITS, ROWS, MIN_BLOCKS, SPLIT, CHUNKS, MODE>
            <<<(unsigned)grid, kUniformThreads, smem, stream>>>(v, x + c0, (int)x_valid, y, c0 > 0, extra);
        const cudaError_t e = cudaGetLastError();
        if (e != cudaSuccess) return e;
    }
    return cudaSuccess;
}

} /* namespace lk_qmv */

#endif
