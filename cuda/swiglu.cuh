/*
 * swiglu.cuh — the SwiGLU activation, shared by lk_swiglu (elementwise.cu) and the down product
 * that stages silu(gate) * up as its input (qmatvec_uniform.cuh), so both round alike.
 */
#ifndef LK_SWIGLU_CUH
#define LK_SWIGLU_CUH

#include <cuda_runtime.h>

__device__ __forceinline__ float lk_silu_mul(float g, float u) {
    /* silu(g) = g * sigmoid(g) = g / (1 + exp(-g)); expf is the accurate one here
     * (the library is built without --use_fast_math). */
    return g / (1.0f + expf(-g)) * u;
}

#endif
