/*
 * qmatvec_layout.cuh — where the decode matvec (quant_matmul.cu) keeps the staged x in shared
 * memory. Host-callable, so that cuda/tests/qmatvec_layout_test.cu checks the layout's
 * properties (every element has its own slot, every vector access is aligned, and the main
 * loop's LDS.128 reads are free of bank conflicts) without a GPU.
 *
 * Chunk k (32 consecutive x values, the unit of a lane's code loads) sits at k * kChunkFloats
 * floats: its 32 x values, then the 4 sums of its 8-value units. Lane k of a warp reads its
 * own chunk with 8 LDS.128 and then its sums with one more. An LDS.128 is served in four
 * phases of 8 lanes; the 8 lanes of a phase must touch 8 different groups of 4 banks. With a
 * stride of 36 floats between chunks, lane k's group starts at bank (36 k + 4 i) mod 32 =
 * 4 (k + i) mod 32: 8 consecutive lanes, 8 different groups. A stride of 32 floats (x and
 * the sums apart) put all 8 lanes on the same 4 banks: an 8-way conflict on every x read.
 */
#ifndef LK_QMATVEC_LAYOUT_CUH
#define LK_QMATVEC_LAYOUT_CUH

#include <stdint.h>

#if defined(__CUDA_ARCH__)
#define LK_LAYOUT_HD __device__ __forceinline__
#else
#define LK_LAYOUT_HD __host__ __device__ inline
#endif

namespace lk_qmv {

/* floats per chunk in shared memory: 32 x values + 4 unit sums */
constexpr int kChunkFloats = 36;

/* The shared-memory slot of x element i (of the zero-padded slice). */
LK_LAYOUT_HD int64_t x_slot(int64_t i) { return (i >> 5) * kChunkFloats + (i & 31); }

/* The first of chunk k's 4 unit sums. */
LK_LAYOUT_HD int64_t sums_slot(int64_t k) { return k * kChunkFloats + 32; }

#if defined(__CUDACC__)
/* Stages x[0, nx) of a slice in shared memory in this layout, zero beyond x_valid, by all THREADS
 * threads of the block (16-byte loads when x is aligned; x_valid may end inside a vector, so the
 * bounds are per element). The caller synchronizes the block afterwards. */
template <int THREADS>
__device__ __forceinline__ void stage_x(float* smem, const float* __restrict__ x, int64_t x_valid, int64_t nx) {
    const int tid = threadIdx.x;
    if ((uintptr_t)x % 16 == 0) {
        for (int64_t i = 4 * (int64_t)tid; i < nx; i += 4 * THREADS) {
            float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
            if (i + 3 < x_valid) {
                v = __ldg(reinterpret_cast<const float4*>(x + i));
            } else {
                if (i < x_valid) v.x = __ldg(x + i);
                if (i + 1 < x_valid) v.y = __ldg(x + i + 1);
                if (i + 2 < x_valid) v.z = __ldg(x + i + 2);
            }
            *reinterpret_cast<float4*>(smem + x_slot(i)) = v;
        }
    } else {
        for (int64_t i = tid; i < nx; i += THREADS) smem[x_slot(i)] = i < x_valid ? __ldg(x + i) : 0.0f;
    }
}
#endif

} /* namespace lk_qmv */

#endif
