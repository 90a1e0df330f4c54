/*
 * elementwise.cu — swiglu, add, fill_u32, gather_rows, scatter_add_rows, convert, embedding.
 *
 * All of these are bandwidth-bound streams with no reuse: the only goals are
 * coalesced accesses, 16-byte vectors where the pointers allow it, and enough
 * blocks to keep every SM's memory pipeline full. Grid-stride loops with
 * 256-thread blocks and at most 16 blocks per SM (lk_grid_for): one launch shape
 * that fills an H100 (132 SMs x 2048 threads) without a tail of idle blocks.
 * At decode sizes (a few thousand elements) these kernels are launch-latency
 * bound (~3-5 us per launch on an H100), not bandwidth bound.
 */
#include "cuda_common.cuh"
#include "swiglu.cuh"

static constexpr int kThreads = 256;

/* ------------------------------------------------------------------------ */
/* swiglu and add                                                            */
/* ------------------------------------------------------------------------ */

/* Vector path: all three pointers 16-byte aligned. out may alias gate or up: each
 * element is read before it is written by the same thread. */
__global__ void swiglu_vec_kernel(const float4* gate, const float4* up, float4* out, int64_t n4) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n4; i += (int64_t)gridDim.x * blockDim.x) {
        float4 g = gate[i], u = up[i];
        out[i] = make_float4(lk_silu_mul(g.x, u.x), lk_silu_mul(g.y, u.y), lk_silu_mul(g.z, u.z),
                             lk_silu_mul(g.w, u.w));
    }
}
__global__ void swiglu_kernel(const float* gate, const float* up, float* out, int64_t begin, int64_t n) {
    for (int64_t i = begin + blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        out[i] = lk_silu_mul(gate[i], up[i]);
}

lk_status lk_cuda_swiglu(lk_stream* s, const float* gate, const float* up, int64_t n, float* out) {
    if (n <= 0) return LK_OK;
    LK_BIND_STREAM(s);
    lk_device* dev = lk_stream_device(s);
    int64_t done = 0;
    if (lk_is_aligned(gate, 16) && lk_is_aligned(up, 16) && lk_is_aligned(out, 16) && n >= 4) {
        int64_t n4 = n / 4;
        swiglu_vec_kernel<<<lk_grid_for(dev, n4, kThreads), kThreads, 0, s->s>>>(
            (const float4*)gate, (const float4*)up, (float4*)out, n4);
        done = n4 * 4;
    }
    if (done < n)
        swiglu_kernel<<<lk_grid_for(dev, n - done, kThreads), kThreads, 0, s->s>>>(gate, up, out, done, n);
    return lk_cuda_check_launch("swiglu");
}

__global__ void add_vec_kernel(float4* y, const float4* x, int64_t n4) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n4; i += (int64_t)gridDim.x * blockDim.x) {
        float4 a = y[i], b = x[i];
        y[i] = make_float4(a.x + b.x, a.y + b.y, a.z + b.z, a.w + b.w);
    }
}
__global__ void add_kernel(float* y, const float* x, int64_t begin, int64_t n) {
    for (int64_t i = begin + blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        y[i] += x[i];
}

lk_status lk_cuda_add(lk_stream* s, float* y, const float* x, int64_t n) {
    if (n <= 0) return LK_OK;
    LK_BIND_STREAM(s);
    lk_device* dev = lk_stream_device(s);
    int64_t done = 0;
    if (lk_is_aligned(y, 16) && lk_is_aligned(x, 16) && n >= 4) {
        int64_t n4 = n / 4;
        add_vec_kernel<<<lk_grid_for(dev, n4, kThreads), kThreads, 0, s->s>>>((float4*)y, (const float4*)x, n4);
        done = n4 * 4;
    }
    if (done < n) add_kernel<<<lk_grid_for(dev, n - done, kThreads), kThreads, 0, s->s>>>(y, x, done, n);
    return lk_cuda_check_launch("add");
}

/* fill_u32: a kernel, not a copy, so that a value the host decides (a token id, a gate
 * weight) never queues behind the copy engine's expert copies (the runtime API has no
 * 32-bit memset, and the driver API's is not linked). */
__global__ void fill_u32_kernel(uint32_t* dst, uint32_t value, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        dst[i] = value;
}

lk_status lk_cuda_fill_u32(lk_stream* s, uint32_t* dst, uint32_t value, size_t count) {
    LK_BIND_STREAM(s);
    int64_t n = (int64_t)count;
    fill_u32_kernel<<<lk_grid_for(lk_stream_device(s), n, kThreads), kThreads, 0, s->s>>>(dst, value, n);
    return lk_cuda_check_launch("fill_u32");
}

/* ------------------------------------------------------------------------ */
/* gather_rows, scatter_add_rows                                             */
/* ------------------------------------------------------------------------ */

/* grid.y walks rows (strided when m > 65535), threads walk the row's columns. */
__global__ void gather_rows_kernel(const float* __restrict__ src, const int32_t* __restrict__ idx, int64_t m,
                                   int64_t dim, float* __restrict__ dst, lk_cuda_kerr* kerr) {
    for (int64_t i = blockIdx.y; i < m; i += gridDim.y) {
        const int32_t r = idx[i];
        float* d = dst + i * dim;
        if (r < 0) {
            /* The number of rows of src is not known here: only negative indices
             * can be caught (the header leaves the upper bound to the caller). */
            if (blockIdx.x == 0 && threadIdx.x == 0) lk_kerr_raise(kerr, LK_KERR_GATHER_IDX, i, r, 0);
            for (int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; c < dim; c += (int64_t)gridDim.x * blockDim.x)
                d[c] = 0.0f;
            continue;
        }
        const float* srow = src + (int64_t)r * dim;
        for (int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; c < dim; c += (int64_t)gridDim.x * blockDim.x)
            d[c] = srow[c];
    }
}

/* dst[idx[i], :] += weight[i] * src[i, :]. The header makes the rows of idx distinct
 * within a call, so every element of dst is updated by exactly one (i, c): the
 * in-order-of-i definition has nothing to order, and rows are spread over grid.y
 * without atomics (one multiply-add per element, deterministic). Duplicate rows,
 * which the header forbids, would race. */
__global__ void scatter_add_rows_kernel(float* __restrict__ dst, const float* __restrict__ src,
                                        const int32_t* __restrict__ idx, const float* __restrict__ weight,
                                        int64_t m, int64_t dim, lk_cuda_kerr* kerr) {
    for (int64_t i = blockIdx.y; i < m; i += gridDim.y) {
        const int64_t r = idx ? (int64_t)idx[i] : i;
        if (r < 0) {
            if (blockIdx.x == 0 && threadIdx.x == 0) lk_kerr_raise(kerr, LK_KERR_SCATTER_IDX, i, r, 0);
            continue;
        }
        const float w = weight ? weight[i] : 1.0f;
        float* d = dst + r * dim;
        const float* sr = src + i * dim;
        for (int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; c < dim; c += (int64_t)gridDim.x * blockDim.x)
            d[c] = fmaf(w, sr[c], d[c]);
    }
}

static dim3 rows_grid(const lk_device* dev, int64_t m, int64_t dim) {
    unsigned gx = lk_ceil_div_u(dim, kThreads);
    if (gx > 64) gx = 64;
    int64_t gy = m < 65535 ? m : 65535;
    (void)dev;
    return dim3(gx, (unsigned)(gy < 1 ? 1 : gy));
}

lk_status lk_cuda_gather_rows(lk_stream* s, const float* src, const int32_t* idx, int64_t m, int64_t dim,
                              float* dst) {
    if (m <= 0 || dim <= 0) return LK_OK;
    LK_BIND_STREAM(s);
    gather_rows_kernel<<<rows_grid(lk_stream_device(s), m, dim), kThreads, 0, s->s>>>(src, idx, m, dim, dst,
                                                                                      s->kerr_dev);
    return lk_cuda_check_launch("gather_rows");
}

lk_status lk_cuda_scatter_add_rows(lk_stream* s, float* dst, const float* src, const int32_t* idx,
                                   const float* weight, int64_t m, int64_t dim) {
    if (m <= 0 || dim <= 0) return LK_OK;
    LK_BIND_STREAM(s);
    scatter_add_rows_kernel<<<rows_grid(lk_stream_device(s), m, dim), kThreads, 0, s->s>>>(dst, src, idx, weight, m,
                                                                                           dim, s->kerr_dev);
    return lk_cuda_check_launch("scatter_add_rows");
}

/* ------------------------------------------------------------------------ */
/* convert                                                                   */
/* ------------------------------------------------------------------------ */

/* Every conversion goes through fp32, which holds f16 and bf16 exactly; the final
 * rounding is round-to-nearest-even (__float2half_rn / __float2bfloat16_rn). */
template <typename S, typename D>
__global__ void convert_kernel(const S* __restrict__ src, D* __restrict__ dst, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        dst[i] = lk_from_f32<D>(lk_to_f32(src[i]));
}

template <typename S>
static void launch_convert_from(const lk_device* dev, cudaStream_t st, const S* src, lk_dtype dst_dtype, void* dst,
                                int64_t n) {
    const unsigned grid = lk_grid_for(dev, n, kThreads);
    switch (dst_dtype) {
    case LK_F32: convert_kernel<S, float><<<grid, kThreads, 0, st>>>(src, (float*)dst, n); break;
    case LK_F16: convert_kernel<S, __half><<<grid, kThreads, 0, st>>>(src, (__half*)dst, n); break;
    default: convert_kernel<S, __nv_bfloat16><<<grid, kThreads, 0, st>>>(src, (__nv_bfloat16*)dst, n); break;
    }
}

static size_t dtype_size(lk_dtype t) { return t == LK_F32 || t == LK_I32 ? 4 : 2; }

lk_status lk_cuda_convert(lk_stream* s, lk_dtype src_dtype, const void* src, lk_dtype dst_dtype, void* dst,
                          int64_t n) {
    if (n <= 0) return LK_OK;
    LK_BIND_STREAM(s);
    lk_device* dev = lk_stream_device(s);
    if (src_dtype == dst_dtype) {
        if (src != dst)
            LK_CUDA_TRY(cudaMemcpyAsync(dst, src, (size_t)n * dtype_size(src_dtype), cudaMemcpyDeviceToDevice, s->s),
                        "convert (same dtype copy)");
        return LK_OK;
    }
    switch (src_dtype) {
    case LK_F32: launch_convert_from(dev, s->s, (const float*)src, dst_dtype, dst, n); break;
    case LK_F16: launch_convert_from(dev, s->s, (const __half*)src, dst_dtype, dst, n); break;
    default: launch_convert_from(dev, s->s, (const __nv_bfloat16*)src, dst_dtype, dst, n); break;
    }
    return lk_cuda_check_launch("convert");
}

/* ------------------------------------------------------------------------ */
/* embedding                                                                 */
/* ------------------------------------------------------------------------ */

/* One row per grid.y step; an id outside [0, vocab) zeroes its row and raises the
 * stream's sticky error (reported by lk_stream_synchronize / lk_event_*). */
template <typename T>
__global__ void embedding_kernel(const T* __restrict__ table, int64_t vocab, int64_t dim,
                                 const int32_t* __restrict__ ids, int64_t n, float* __restrict__ out,
                                 lk_cuda_kerr* kerr) {
    for (int64_t i = blockIdx.y; i < n; i += gridDim.y) {
        const int32_t id = ids[i];
        float* o = out + i * dim;
        if (id < 0 || (int64_t)id >= vocab) {
            if (blockIdx.x == 0 && threadIdx.x == 0)
                lk_kerr_raise(kerr, LK_KERR_EMBED_ID, i, id, (unsigned)(vocab > 0xFFFFFFFFll ? 0xFFFFFFFFu : vocab));
            for (int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; c < dim; c += (int64_t)gridDim.x * blockDim.x)
                o[c] = 0.0f;
            continue;
        }
        const T* row = table + (int64_t)id * dim;
        for (int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; c < dim; c += (int64_t)gridDim.x * blockDim.x)
            o[c] = lk_to_f32(row[c]);
    }
}

lk_status lk_cuda_embedding(lk_stream* s, lk_dtype table_dtype, const void* table, int64_t vocab, int64_t dim,
                            const int32_t* ids, int64_t n, float* out) {
    if (n <= 0 || dim <= 0) return LK_OK;
    LK_BIND_STREAM(s);
    const dim3 grid = rows_grid(lk_stream_device(s), n, dim);
    switch (table_dtype) {
    case LK_F32:
        embedding_kernel<float><<<grid, kThreads, 0, s->s>>>((const float*)table, vocab, dim, ids, n, out, s->kerr_dev);
        break;
    case LK_F16:
        embedding_kernel<__half><<<grid, kThreads, 0, s->s>>>((const __half*)table, vocab, dim, ids, n, out,
                                                              s->kerr_dev);
        break;
    default:
        embedding_kernel<__nv_bfloat16><<<grid, kThreads, 0, s->s>>>((const __nv_bfloat16*)table, vocab, dim, ids, n,
                                                                     out, s->kerr_dev);
        break;
    }
    return lk_cuda_check_launch("embedding");
}
