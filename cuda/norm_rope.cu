/*
 * norm_rope.cu — RMSNorm and rotary embedding (HF rotate_half convention).
 *
 * rmsnorm: one block per row (grid-stride over rows). A row (4096 floats for
 * Mixtral) is one block's worth of coalesced 16-byte loads; the sum of squares is a
 * block reduction, then the same thread rescales the elements it read (from L1/L2:
 * the row was just loaded), so out may equal x. 256 threads: 4 float4 per thread at
 * dim 4096, and at prefill (n in the thousands) enough blocks to fill every SM.
 * Traffic = 2 x n x dim x 4 bytes (read + write); at decode (one row) the kernel is
 * launch-latency bound (~3 us), far from the H100's 3.35 TB/s.
 *
 * rope: one block per token row; thread j computes the angle of pair j once (in
 * double: pos * theta^(-2j/d) reaches 1e5 rad at long contexts, where an fp32 angle
 * would be off by ~1e-2 rad) and applies it to that pair in every head, so the
 * trigonometry is amortized over n_heads.
 */
#include "cuda_common.cuh"

template <typename W>
__global__ void rmsnorm_kernel(const float* __restrict__ x, const W* __restrict__ weight, int64_t n, int64_t dim,
                               float eps, float* out, int vec) {
    __shared__ float red[32];
    for (int64_t r = blockIdx.x; r < n; r += gridDim.x) {
        const float* xr = x + r * dim;
        float* orow = out + r * dim;
        float ss = 0.0f;
        if (vec) {
            const float4* x4 = reinterpret_cast<const float4*>(xr);
            for (int64_t i = threadIdx.x; i < dim / 4; i += blockDim.x) {
                float4 v = x4[i];
                ss = fmaf(v.x, v.x, ss);
                ss = fmaf(v.y, v.y, ss);
                ss = fmaf(v.z, v.z, ss);
                ss = fmaf(v.w, v.w, ss);
            }
        } else {
            for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) ss = fmaf(xr[i], xr[i], ss);
        }
        ss = lk_block_sum(ss, red);
        /* IEEE sqrt and division (no fast math): parity with the CPU reference. */
        const float inv = 1.0f / sqrtf(ss / (float)dim + eps);
        if (vec) {
            const float4* x4 = reinterpret_cast<const float4*>(xr);
            float4* o4 = reinterpret_cast<float4*>(orow);
            for (int64_t i = threadIdx.x; i < dim / 4; i += blockDim.x) {
                float4 v = x4[i];
                const int64_t c = 4 * i;
                o4[i] = make_float4(v.x * inv * lk_to_f32(weight[c]), v.y * inv * lk_to_f32(weight[c + 1]),
                                    v.z * inv * lk_to_f32(weight[c + 2]), v.w * inv * lk_to_f32(weight[c + 3]));
            }
        } else {
            for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) orow[i] = xr[i] * inv * lk_to_f32(weight[i]);
        }
        __syncthreads(); /* out may equal x: the next row's reads come after this row's writes */
    }
}

lk_status lk_cuda_rmsnorm(lk_stream* s, const float* x, lk_dtype weight_dtype, const void* weight, int64_t n,
                          int64_t dim, float eps, float* out) {
    if (n <= 0 || dim <= 0) return LK_OK;
    LK_BIND_STREAM(s);
    lk_device* dev = lk_stream_device(s);
    const int threads = dim >= 1024 ? 256 : 128;
    int64_t blocks = n < (int64_t)dev->sms * 16 ? n : (int64_t)dev->sms * 16;
    const int vec = (dim % 4 == 0) && lk_is_aligned(x, 16) && lk_is_aligned(out, 16);
    switch (weight_dtype) {
    case LK_F32:
        rmsnorm_kernel<float><<<(unsigned)blocks, threads, 0, s->s>>>(x, (const float*)weight, n, dim, eps, out, vec);
        break;
    case LK_F16:
        rmsnorm_kernel<__half><<<(unsigned)blocks, threads, 0, s->s>>>(x, (const __half*)weight, n, dim, eps, out, vec);
        break;
    default:
        rmsnorm_kernel<__nv_bfloat16><<<(unsigned)blocks, threads, 0, s->s>>>(x, (const __nv_bfloat16*)weight, n, dim,
                                                                             eps, out, vec);
        break;
    }
    return lk_cuda_check_launch("rmsnorm");
}

/* x [n, n_heads, head_dim]; pair (j, j + half) of every head of row t rotates by
 * (pos0 + t) * theta^(-2j/head_dim). */
__global__ void rope_kernel(float* x, int64_t n, int32_t n_heads, int32_t head_dim, int64_t pos0, float theta) {
    const int half = head_dim / 2;
    const double log_theta = log((double)theta);
    for (int64_t t = blockIdx.x; t < n; t += gridDim.x) {
        float* row = x + t * (int64_t)n_heads * head_dim;
        const double pos = (double)(pos0 + t);
        for (int j = threadIdx.x; j < half; j += blockDim.x) {
            const double inv_freq = exp(-2.0 * (double)j / (double)head_dim * log_theta);
            double sn, cs;
            sincos(pos * inv_freq, &sn, &cs);
            const float c = (float)cs, sf = (float)sn;
            for (int h = 0; h < n_heads; ++h) {
                float* p = row + (int64_t)h * head_dim;
                const float a = p[j], b = p[j + half];
                p[j] = a * c - b * sf;
                p[j + half] = b * c + a * sf;
            }
        }
    }
}

lk_status lk_cuda_rope(lk_stream* s, float* x, int64_t n, int32_t n_heads, int32_t head_dim, int64_t pos0,
                       float theta) {
    if (n <= 0 || n_heads <= 0 || head_dim < 2) return LK_OK;
    LK_BIND_STREAM(s);
    lk_device* dev = lk_stream_device(s);
    const int half = head_dim / 2;
    int threads = half >= 128 ? 128 : ((half + 31) / 32) * 32;
    if (threads < 32) threads = 32;
    int64_t blocks = n < (int64_t)dev->sms * 32 ? n : (int64_t)dev->sms * 32;
    rope_kernel<<<(unsigned)blocks, threads, 0, s->s>>>(x, n, n_heads, head_dim, pos0, theta);
    return lk_cuda_check_launch("rope");
}
