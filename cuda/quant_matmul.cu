/*
 * quant_matmul.cu — y = W x for group-quantized W (2/3/4 bits, fp16 scale and zero
 * per group of group_size columns; layout in lookahead.h): lk_qmatvec (decode,
 * batch 1) and lk_qmatmul (prefill). Weights are dequantized in registers; no
 * dequantized copy of W is ever written to memory.
 *
 * Units. Every group is a whole number of 8-code packs ("units": 4 bytes at 4 bits,
 * 3 at 3 bits, 2 at 2 bits), so a unit never straddles groups. A lane works on
 * "chunks" of 4 units = 32 codes = 4 * bits bytes: one 16-byte load at 4 bits, one
 * 8-byte load at 2 bits, three 4-byte loads at 3 bits (12 bytes: the pack size 3
 * does not divide 16). A row's chunks are contiguous, so the 32 lanes of a warp read
 * 32 consecutive chunks: 512 contiguous bytes per load instruction at 4 bits.
 *
 * Code -> float without a conversion instruction (I2F runs at 1/4 rate on sm_80/90):
 * put the code in the low mantissa bits of 2^23 (0x4B000000 | q is the float
 * 8388608 + q, exactly) and subtract 8388608. At 4 and 2 bits one PRMT per code
 * moves a masked byte next to the exponent byte; at 3 bits a funnel shift and a LOP3.
 *
 * Scale and zero are applied per unit, not per code:
 *   sum_c s (q_c - z) x_c = s * (sum_c q_c x_c  -  z * sum_c x_c)
 * and sum_c x_c over each unit is computed once per block into shared memory, so a
 * code costs one FADD (the magic subtraction) and one FFMA.
 *
 * ---- lk_qmatvec (decode) ----
 * Groups of 32 * 2^j columns with rows aligned for vector loads (every checkpoint the
 * quantizer writes) go to the kernel of qmatvec_uniform.cuh: 1.5-1.8x faster on an H100
 * (docs/gpu-results.md, session 7). Every other layout runs the general kernel below.
 *
 * The general kernel. Launch: 256 threads = 8 warps, each warp owns 2 rows of a 16-row tile; the grid is
 * persistent (blocks = min(tiles, resident blocks per SM x SMs)) and walks the row
 * tiles. Each block first stages the whole x (zero-padded to whole chunks) and its
 * per-unit sums in shared memory: x is read from L2 once per block rather than once
 * per row tile (chunk by chunk, laid out against bank conflicts: qmatvec_layout.cuh).
 * A lane loads each x chunk (8 LDS.128) once and uses it for both of
 * its rows; without that reuse x traffic from shared memory would be 8x the code
 * traffic at 4 bits (4-byte floats vs half-byte codes) and shared-memory bandwidth
 * (128 B/clk/SM), not HBM, would bound the kernel. Each lane keeps 2 chunks x 2 rows
 * of loads in flight (64 bytes at 4 bits): 16 KiB per block, with 2-3 blocks per SM
 * about what Little's law asks of HBM3 (~3.35 TB/s x ~600 ns / 132 SMs ~ 15 KiB/SM).
 * Columns beyond what fits in shared memory (about 20k columns) are processed as
 * slices on group boundaries, each launch adding into y.
 *
 * Planned: at 4 bits, a 14336 x 4096 matrix is 29.4 MB of codes + 1.8 MB of
 * scales/zeros (group 128): 9.3 us at the H100 SXM's 3.35 TB/s, the target is >= 70 %
 * of that (<= 13.3 us). Per code ~1.4 integer ops and 2 fp32 ops were counted, which
 * would keep it memory-bound at 4 bits.
 * Measured on an H200 (docs/gpu-results.md, 2026-11-26): 33 us at 4 bits (g64), 21 %
 * of its 4.8 TB/s, nearly the same at 2 and 3 bits. Nsight Compute: 6.9 instructions
 * per code, 0.4 issued per scheduler per cycle, 16 warps per SM (2 blocks: registers
 * and shared memory) too few to hide the loads' latency. The x layout in shared
 * memory (qmatvec_layout.cuh) took it from 48 us; what is left is in that document.
 *
 * ---- lk_qmatmul (prefill) ----
 * n <= 8: one qmatvec per token (W is streamed n times but each pass is at HBM
 * speed; the 64-token GEMM tile below would waste 56+ of its 64 token slots).
 * n > 8: the fp32 CUDA-core GEMM of gemm_fma.cuh with a loader that dequantizes a
 * 32-column step of a row in registers, so each group is dequantized once per
 * 64-token tile.
 */
#include "cuda_common.cuh"
#include "gemm_fma.cuh"
#include "qmatvec_layout.cuh"
#include "qmatvec_uniform.cuh"
#include "quant_decode.cuh"

namespace {

using lk_quant::Chunk;
using lk_quant::decode_chunk;
using lk_quant::load_chunk;
using lk_qmv::kChunkFloats;
using lk_qmv::sums_slot;
using lk_qmv::x_slot;

constexpr int kThreads = 256;
constexpr int kRowsPerWarp = 2;
constexpr int kRowsPerBlock = (kThreads / 32) * kRowsPerWarp;
constexpr int kUnroll = 2; /* chunks per lane in flight per row */
/* The uniform kernel's variant: 2 rows per warp, registers for 3 resident blocks per SM (the best
 * of cuda/dev/qmatvec_dev.cu's variants on an H100 at 2, 3 and 4 bits, docs/gpu-results.md). */
constexpr int kUniformRows = 2;
constexpr int kUniformMinBlocks = 3;
/* One quantized matrix, or a column slice of it (starting on a group boundary). */
struct QView {
    const uint8_t* codes;  /* row 0 of the slice                                */
    const __half* scales;  /* row 0, first group of the slice                   */
    const __half* zeros;
    int64_t rows;
    int64_t row_stride;    /* bytes between rows (row_bytes of the full matrix) */
    int64_t slice_bytes;   /* bytes of one row inside the slice                 */
    int64_t group_stride;  /* ngroups of the full matrix                         */
    int64_t nchunks;       /* chunks per row inside the slice                   */
    int32_t slice_groups;  /* groups inside the slice                            */
    int32_t gu;            /* group size in units (group_size / 8)              */
    int32_t uniform;       /* gu % 4 == 0: a chunk never straddles groups        */
    int32_t vec;           /* vector loads allowed                               */
};

/* 32-bit division: a slice has far fewer than 2^31 units, and a 64-bit divide
 * would cost several times as many instructions. */
__device__ __forceinline__ int64_t group_of_unit(const QView& q, int64_t u) {
    const uint32_t g = (uint32_t)u / (uint32_t)q.gu;
    return g < (uint32_t)q.slice_groups ? (int64_t)g : (int64_t)q.slice_groups - 1; /* zero-padded tail units */
}

template <int BITS>
__global__ void __launch_bounds__(kThreads) qmatvec_kernel(QView q, const float* __restrict__ x, int64_t x_valid,
                                                           float* __restrict__ y, int accumulate) {
    /* [nchunks][kChunkFloats]: chunk k's 32 x values (zero beyond x_valid), then its 4 unit sums */
    extern __shared__ __align__(16) float smem[];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;

    /* Staging x reads it from L2 into every block at once, before any code load is
     * issued: HBM would idle for that time (~2 us for 256 blocks x 56 KiB at 14336
     * columns, a fifth of the kernel). So first ask L2 for the first chunks of this
     * block's first rows (8 KiB per warp); they arrive while x is staged. */
    {
        const int64_t r0 = (int64_t)blockIdx.x * kRowsPerBlock + warp * kRowsPerWarp;
#pragma unroll
        for (int r = 0; r < kRowsPerWarp; ++r)
            if (r0 + r < q.rows)
#pragma unroll
                for (int u = 0; u < 2 * kUnroll; ++u) {
                    const int64_t k = lane + 32 * u;
                    if (k * 4 * BITS < q.slice_bytes)
                        asm volatile("prefetch.global.L2 [%0];" ::"l"(q.codes + (r0 + r) * q.row_stride + k * 4 * BITS));
                }
    }
    lk_qmv::stage_x<kThreads>(smem, x, x_valid, q.nchunks * 32);
    __syncthreads();
    for (int64_t u = tid; u < q.nchunks * 4; u += kThreads) {
        const float* chunk = smem + (u >> 2) * kChunkFloats;
        const float4 a = *reinterpret_cast<const float4*>(chunk + 8 * (u & 3));
        const float4 b = *reinterpret_cast<const float4*>(chunk + 8 * (u & 3) + 4);
        smem[sums_slot(u >> 2) + (u & 3)] = ((a.x + a.y) + (a.z + a.w)) + ((b.x + b.y) + (b.z + b.w));
    }
    __syncthreads();

    for (int64_t tile = blockIdx.x; tile * kRowsPerBlock < q.rows; tile += gridDim.x) {
        const int64_t r0 = tile * kRowsPerBlock + warp * kRowsPerWarp;
        if (r0 >= q.rows) continue; /* no barrier below: warps may leave early */
        bool rv[kRowsPerWarp];
        const uint8_t* rowp[kRowsPerWarp];
        float acc[kRowsPerWarp];
#pragma unroll
        for (int r = 0; r < kRowsPerWarp; ++r) {
            rv[r] = r0 + r < q.rows;
            rowp[r] = q.codes + (r0 + r) * q.row_stride;
            acc[r] = 0.0f;
        }

        for (int64_t kb = lane; kb < q.nchunks; kb += 32 * kUnroll) {
            /* Issue every load of this step first: kUnroll chunks x rows. */
            Chunk<BITS> ch[kUnroll][kRowsPerWarp];
            float sc[kUnroll][kRowsPerWarp], zr[kUnroll][kRowsPerWarp];
#pragma unroll
            for (int u = 0; u < kUnroll; ++u) {
                const int64_t k = kb + 32 * u;
                const int64_t g = q.uniform ? group_of_unit(q, 4 * k) : 0;
#pragma unroll
                for (int r = 0; r < kRowsPerWarp; ++r) {
                    if (k < q.nchunks && rv[r]) {
                        ch[u][r] = load_chunk<BITS>(rowp[r], k, q.slice_bytes, q.vec);
                        if (q.uniform) {
                            const int64_t gi = (r0 + r) * q.group_stride + g;
                            sc[u][r] = __half2float(q.scales[gi]);
                            zr[u][r] = __half2float(q.zeros[gi]);
                        }
                    } else {
#pragma unroll
                        for (int i = 0; i < BITS; ++i) ch[u][r].w[i] = 0;
                        sc[u][r] = 0.0f;
                        zr[u][r] = 0.0f;
                    }
                }
            }
#pragma unroll
            for (int u = 0; u < kUnroll; ++u) {
                const int64_t k = kb + 32 * u;
                if (k >= q.nchunks) break;
                float xv[32];
                const float4* x4 = reinterpret_cast<const float4*>(smem + x_slot(32 * k));
#pragma unroll
                for (int i = 0; i < 8; ++i) {
                    const float4 v = x4[i];
                    xv[4 * i] = v.x; xv[4 * i + 1] = v.y; xv[4 * i + 2] = v.z; xv[4 * i + 3] = v.w;
                }
                const float4 usum = *reinterpret_cast<const float4*>(smem + sums_slot(k));
#pragma unroll
                for (int r = 0; r < kRowsPerWarp; ++r) {
                    if (!rv[r]) continue;
                    float qf[32];
                    decode_chunk<BITS>(ch[u][r], qf);
                    float d[4];
#pragma unroll
                    for (int i = 0; i < 4; ++i) {
                        float a = 0.0f;
#pragma unroll
                        for (int j = 0; j < 8; ++j) a = fmaf(qf[8 * i + j], xv[8 * i + j], a);
                        d[i] = a;
                    }
                    if (q.uniform) {
                        const float dot = (d[0] + d[1]) + (d[2] + d[3]);
                        const float xsum = (usum.x + usum.y) + (usum.z + usum.w);
                        acc[r] = fmaf(sc[u][r], dot - zr[u][r] * xsum, acc[r]);
                    } else {
                        /* group_size < 32 or not a multiple of 32: per-unit groups */
                        const float uvals[4] = {usum.x, usum.y, usum.z, usum.w};
#pragma unroll
                        for (int i = 0; i < 4; ++i) {
                            const int64_t gi = (r0 + r) * q.group_stride + group_of_unit(q, 4 * k + i);
                            const float s = __half2float(q.scales[gi]), z = __half2float(q.zeros[gi]);
                            acc[r] = fmaf(s, d[i] - z * uvals[i], acc[r]);
                        }
                    }
                }
            }
        }
#pragma unroll
        for (int r = 0; r < kRowsPerWarp; ++r) {
            const float v = lk_warp_sum(acc[r]);
            if (lane == 0 && rv[r]) {
                float* yp = y + r0 + r;
                *yp = accumulate ? *yp + v : v;
            }
        }
    }
}

/* Shape facts of a qmatrix shared by both entry points. */
struct QShape {
    int bits, gs;
    int64_t rows, cols, ngroups, padded_cols, row_bytes;
};
static QShape qshape(const lk_qmatrix* w) {
    QShape s;
    s.bits = w->bits;
    s.gs = w->group_size;
    s.rows = w->rows;
    s.cols = w->cols;
    s.ngroups = (w->cols + w->group_size - 1) / w->group_size;
    s.padded_cols = s.ngroups * w->group_size;
    s.row_bytes = s.padded_cols * w->bits / 8;
    return s;
}

static int64_t gcd64(int64_t a, int64_t b) {
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static size_t qmv_vec_align(int bits) { return bits == 4 ? 16 : bits == 2 ? 8 : 4; }

template <int BITS> static void* qmv_kernel_ptr() { return (void*)qmatvec_kernel<BITS>; }

static lk_qmv::UniformLimits uniform_limits(const lk_device* dev) {
    return lk_qmv::UniformLimits{dev->sms, dev->smem_per_sm, dev->smem_optin, dev->smem_reserved};
}

using lk_qmv::UniformMode;

/* The production variant of the uniform kernel at BITS, in each mode: its occupancy once per device, its launch. */
template <int BITS, UniformMode MODE = UniformMode::Plain> static cudaError_t uniform_init_bits(lk_device* dev) {
    return lk_qmv::uniform_init<BITS, kUniformRows, kUniformMinBlocks, 1, 1, MODE>(
        uniform_limits(dev), &dev->occ.qmatvec_uniform[static_cast<int>(MODE)][BITS]);
}

/* y = W x; Pair: also second.y = W2 x (W2 of W's shape and layout); SwigluX: x is silu(x) * x_up. */
template <int BITS, UniformMode MODE = UniformMode::Plain>
static cudaError_t launch_uniform_bits(lk_stream* s, const lk_qmatrix* w, const QShape& sh, const float* x, float* y,
                                       lk_qmv::UniformSecond second = {}, const float* x_up = nullptr) {
    lk_device* dev = lk_stream_device(s);
    return lk_qmv::launch_uniform<BITS, kUniformRows, kUniformMinBlocks, 1, 1, MODE>(
        uniform_limits(dev), dev->occ.qmatvec_uniform[static_cast<int>(MODE)][BITS],
        static_cast<const uint8_t*>(w->codes), static_cast<const __half*>(w->scales),
        static_cast<const __half*>(w->zeros), sh.gs, sh.rows, sh.cols, x, y, s->s, second, x_up);
}

static lk_status launch_qmatvec(lk_stream* s, const lk_qmatrix* w, const float* x, float* y) {
    lk_device* dev = lk_stream_device(s);
    const QShape sh = qshape(w);
    if (lk_qmv::uniform_supported(sh.bits, sh.gs, w->codes, sh.row_bytes, sh.rows)) {
        const cudaError_t e = sh.bits == 2   ? launch_uniform_bits<2>(s, w, sh, x, y)
                              : sh.bits == 3 ? launch_uniform_bits<3>(s, w, sh, x, y)
                                             : launch_uniform_bits<4>(s, w, sh, x, y);
        return e == cudaSuccess ? LK_OK : lk_cuda_fail(e, "qmatvec"); /* launch_uniform checked each launch */
    }
    /* Shared memory per block: 36 floats per chunk (32 x + 4 unit sums). Leave room
     * for two resident blocks per SM so loads of one overlap the staging of another. */
    int64_t budget = dev->smem_per_sm / 2 - dev->smem_reserved - 1024;
    if (budget > dev->smem_optin) budget = dev->smem_optin;
    if (budget < 16 * 1024) budget = 16 * 1024;
    const int64_t chunk_bytes_smem = kChunkFloats * 4;
    /* Slices start on group and chunk boundaries: a multiple of lcm(group, 32). */
    const int64_t L = sh.gs / gcd64(sh.gs, 32) * 32;
    int64_t slice_cols = (budget / chunk_bytes_smem) * 32 / L * L;
    if (slice_cols < L) slice_cols = L; /* L <= 4096 columns: at most 18 KiB */

    const size_t va = qmv_vec_align(sh.bits);
    for (int64_t c0 = 0; c0 < sh.padded_cols; c0 += slice_cols) {
        const int64_t sc = sh.padded_cols - c0 < slice_cols ? sh.padded_cols - c0 : slice_cols;
        QView q;
        q.codes = static_cast<const uint8_t*>(w->codes) + c0 * sh.bits / 8;
        q.scales = static_cast<const __half*>(w->scales) + c0 / sh.gs;
        q.zeros = static_cast<const __half*>(w->zeros) + c0 / sh.gs;
        q.rows = sh.rows;
        q.row_stride = sh.row_bytes;
        q.slice_bytes = sc * sh.bits / 8;
        q.group_stride = sh.ngroups;
        q.nchunks = (sc + 31) / 32;
        q.slice_groups = (int32_t)(sc / sh.gs);
        q.gu = sh.gs / 8;
        q.uniform = (q.gu % 4) == 0;
        q.vec = lk_is_aligned(q.codes, va) && (sh.row_bytes % (int64_t)va) == 0;
        int64_t x_valid = sh.cols - c0;
        if (x_valid > sc) x_valid = sc;

        const size_t smem = (size_t)q.nchunks * chunk_bytes_smem;
        int per_sm = dev->occ.qmatvec[sh.bits];
        const int by_smem = (int)(dev->smem_per_sm / (smem + (size_t)dev->smem_reserved));
        if (by_smem < per_sm) per_sm = by_smem;
        if (per_sm < 1) per_sm = 1;
        int64_t tiles = (sh.rows + kRowsPerBlock - 1) / kRowsPerBlock;
        int64_t grid = (int64_t)per_sm * dev->sms;
        if (grid > tiles) grid = tiles;
        const int acc = c0 > 0;
        switch (sh.bits) {
        case 2: qmatvec_kernel<2><<<(unsigned)grid, kThreads, smem, s->s>>>(q, x + c0, x_valid, y, acc); break;
        case 3: qmatvec_kernel<3><<<(unsigned)grid, kThreads, smem, s->s>>>(q, x + c0, x_valid, y, acc); break;
        default: qmatvec_kernel<4><<<(unsigned)grid, kThreads, smem, s->s>>>(q, x + c0, x_valid, y, acc); break;
        }
        lk_status st = lk_cuda_check_launch("qmatvec");
        if (st != LK_OK) return st;
    }
    return LK_OK;
}

/* ---- GEMM loader: a 32-column step of one quantized row, dequantized ---- */
template <int BITS> struct QuantLoader {
    const uint8_t* codes;
    const __half* scales;
    const __half* zeros;
    int64_t rows;
    int64_t k_total;     /* padded columns (whole groups) */
    int64_t row_bytes;
    int64_t ngroups;
    int32_t gs;
    int32_t vec;

    struct Raw {
        Chunk<BITS> c;
        float s[4], z[4];
    };
    __device__ __forceinline__ Raw fetch(int64_t row, int64_t k0) const {
        Raw r;
        const int64_t k = k0 / 32;
        r.c = load_chunk<BITS>(codes + row * row_bytes, k, row_bytes, vec);
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            int64_t g = (int64_t)((uint32_t)(k0 + 8 * i) / (uint32_t)gs); /* cols < 2^31 */
            if (g >= ngroups) g = ngroups - 1; /* zero-padded tail: x is zero there */
            r.s[i] = __half2float(scales[row * ngroups + g]);
            r.z[i] = __half2float(zeros[row * ngroups + g]);
        }
        return r;
    }
    __device__ __forceinline__ void decode(const Raw& r, int64_t, int64_t, float (&w)[32]) const {
        float q[32];
        decode_chunk<BITS>(r.c, q);
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
            for (int j = 0; j < 8; ++j) w[8 * i + j] = r.s[i] * (q[8 * i + j] - r.z[i]);
    }
};

template <int BITS>
static void launch_qgemm(const lk_qmatrix* w, const QShape& sh, const float* x, int64_t n, float* y, cudaStream_t st) {
    QuantLoader<BITS> L;
    L.codes = static_cast<const uint8_t*>(w->codes);
    L.scales = static_cast<const __half*>(w->scales);
    L.zeros = static_cast<const __half*>(w->zeros);
    L.rows = sh.rows;
    L.k_total = sh.padded_cols;
    L.row_bytes = sh.row_bytes;
    L.ngroups = sh.ngroups;
    L.gs = sh.gs;
    const size_t va = qmv_vec_align(BITS);
    L.vec = lk_is_aligned(L.codes, va) && (sh.row_bytes % (int64_t)va) == 0;
    lk_gemm::launch_gemm_fma(L, x, n, sh.cols, y, st);
}

} /* namespace */

lk_status lk_cuda_quant_init(lk_device* dev) {
    /* Allow the x staging of qmatvec to use opt-in shared memory (> 48 KiB). */
    void* kernels[3] = {qmv_kernel_ptr<2>(), qmv_kernel_ptr<3>(), qmv_kernel_ptr<4>()};
    for (int b = 2; b <= 4; ++b) {
        void* k = kernels[b - 2];
        LK_CUDA_TRY(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, dev->smem_optin),
                    "qmatvec smem attribute");
        int per_sm = 0;
        LK_CUDA_TRY(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, k, kThreads, 0), "qmatvec occupancy");
        dev->occ.qmatvec[b] = per_sm > 0 ? per_sm : 1;
    }
    LK_CUDA_TRY(uniform_init_bits<2>(dev), "qmatvec occupancy");
    LK_CUDA_TRY(uniform_init_bits<3>(dev), "qmatvec occupancy");
    LK_CUDA_TRY(uniform_init_bits<4>(dev), "qmatvec occupancy");
    LK_CUDA_TRY((uniform_init_bits<2, UniformMode::Pair>(dev)), "qmatvec occupancy");
    LK_CUDA_TRY((uniform_init_bits<3, UniformMode::Pair>(dev)), "qmatvec occupancy");
    LK_CUDA_TRY((uniform_init_bits<4, UniformMode::Pair>(dev)), "qmatvec occupancy");
    LK_CUDA_TRY((uniform_init_bits<2, UniformMode::SwigluX>(dev)), "qmatvec occupancy");
    LK_CUDA_TRY((uniform_init_bits<3, UniformMode::SwigluX>(dev)), "qmatvec occupancy");
    LK_CUDA_TRY((uniform_init_bits<4, UniformMode::SwigluX>(dev)), "qmatvec occupancy");
    return LK_OK;
}

lk_status lk_cuda_qmatvec(lk_stream* s, const lk_qmatrix* w, const float* x, float* y) {
    if (w->rows <= 0 || w->cols <= 0) return LK_OK;
    LK_BIND_STREAM(s);
    return launch_qmatvec(s, w, x, y);
}

lk_status lk_cuda_qmatmul(lk_stream* s, const lk_qmatrix* w, const float* x, int64_t n, float* y) {
    if (n <= 0 || w->rows <= 0 || w->cols <= 0) return LK_OK;
    LK_BIND_STREAM(s);
    if (n <= 8) {
        for (int64_t t = 0; t < n; ++t) {
            lk_status st = launch_qmatvec(s, w, x + t * w->cols, y + t * w->rows);
            if (st != LK_OK) return st;
        }
        return LK_OK;
    }
    const QShape sh = qshape(w);
    switch (sh.bits) {
    case 2: launch_qgemm<2>(w, sh, x, n, y, s->s); break;
    case 3: launch_qgemm<3>(w, sh, x, n, y, s->s); break;
    default: launch_qgemm<4>(w, sh, x, n, y, s->s); break;
    }
    return lk_cuda_check_launch("qmatmul");
}

/* ---------------------------------------------------------------------------------------------- */
/* lk_expert_swiglu: an expert on one token in two launches where the layouts allow               */
/* ---------------------------------------------------------------------------------------------- */

template <int BITS>
static cudaError_t launch_expert_uniform(lk_stream* s, const lk_qmatrix* gate, const lk_qmatrix* up,
                                         const lk_qmatrix* down, const float* x, float* h_gate, float* h_up, float* y) {
    const lk_qmv::UniformSecond second{static_cast<const uint8_t*>(up->codes), static_cast<const __half*>(up->scales),
                                       static_cast<const __half*>(up->zeros), h_up};
    cudaError_t e = launch_uniform_bits<BITS, UniformMode::Pair>(s, gate, qshape(gate), x, h_gate, second);
    if (e != cudaSuccess) return e;
    const QShape dsh = qshape(down);
    switch (dsh.bits) { /* down may be stored at another width than gate and up */
    case 2: return launch_uniform_bits<2, UniformMode::SwigluX>(s, down, dsh, h_gate, y, {}, h_up);
    case 3: return launch_uniform_bits<3, UniformMode::SwigluX>(s, down, dsh, h_gate, y, {}, h_up);
    default: return launch_uniform_bits<4, UniformMode::SwigluX>(s, down, dsh, h_gate, y, {}, h_up);
    }
}

lk_status lk_cuda_expert_swiglu(lk_stream* s, const lk_qmatrix* gate, const lk_qmatrix* up, const lk_qmatrix* down,
                                const float* x, float* h_gate, float* h_up, float* y) {
    LK_BIND_STREAM(s);
    const QShape gsh = qshape(gate), dsh = qshape(down);
    const bool fused = lk_qmv::uniform_supported(gsh.bits, gsh.gs, gate->codes, gsh.row_bytes, gsh.rows) &&
                       lk_qmv::uniform_supported(gsh.bits, gsh.gs, up->codes, gsh.row_bytes, gsh.rows) &&
                       lk_qmv::uniform_supported(dsh.bits, dsh.gs, down->codes, dsh.row_bytes, dsh.rows) &&
                       lk_is_aligned(h_gate, 16) && lk_is_aligned(h_up, 16);
    if (fused) {
        const cudaError_t e = gsh.bits == 2   ? launch_expert_uniform<2>(s, gate, up, down, x, h_gate, h_up, y)
                              : gsh.bits == 3 ? launch_expert_uniform<3>(s, gate, up, down, x, h_gate, h_up, y)
                                              : launch_expert_uniform<4>(s, gate, up, down, x, h_gate, h_up, y);
        return e == cudaSuccess ? LK_OK : lk_cuda_fail(e, "expert_swiglu");
    }
    /* other layouts: the four ops (the general kernel serves what the uniform one cannot) */
    lk_status st = launch_qmatvec(s, gate, x, h_gate);
    if (st == LK_OK) st = launch_qmatvec(s, up, x, h_up);
    if (st == LK_OK) st = lk_cuda_swiglu(s, h_gate, h_up, gate->rows, h_gate);
    if (st == LK_OK) st = launch_qmatvec(s, down, h_gate, y);
    return st;
}
