/*
 * cuda_common.cuh — what every file of the CUDA backend shares: the handle structs
 * (each starts with lk_handle, see ../bindings/native/backend.h), error conversion
 * from cudaError_t to lk_status, the kernel-side sticky error word, fp16/bf16 loads,
 * warp reductions and the entry points of the op files.
 *
 * Threading: the dispatcher may call from any thread. Every entry point binds the
 * calling thread to the handle's GPU (cudaSetDevice, a thread-local switch) before
 * touching the runtime. The device's object lists are guarded by its mutex.
 */
#ifndef LK_CUDA_COMMON_CUH
#define LK_CUDA_COMMON_CUH

#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <stdint.h>
#include <mutex>

#include "backend.h"

/* ------------------------------------------------------------------------ */
/* Kernel-side errors                                                        */
/* ------------------------------------------------------------------------ */

/* Kernels cannot return a status. A kernel that meets an invalid value it can only
 * see on the device (an embedding id out of range) writes zeros for that row and
 * records the error here. The word lives in mapped (zero-copy) pinned memory, one
 * per stream: the kernel writes it with plain stores, and the host reads it after
 * cudaStreamSynchronize / cudaEventSynchronize has made those writes visible, so
 * checking it costs no copy and no launch on the normal path. Racing writers store
 * the same `code`; `info` is one aligned 64-bit store (row << 32 | value), so the
 * host always reads one writer's consistent pair. */
struct lk_cuda_kerr {
    unsigned int code;             /* LK_KERR_*; 0 = no error                       */
    unsigned int op_arg;           /* op-specific bound (vocab), for the message    */
    unsigned long long info;       /* (row << 32) | (uint32) offending value        */
};
enum {
    LK_KERR_NONE = 0,
    LK_KERR_EMBED_ID = 1,          /* lk_embedding: id outside [0, vocab)           */
    LK_KERR_GATHER_IDX = 2,        /* lk_gather_rows: negative index                */
    LK_KERR_SCATTER_IDX = 3        /* lk_scatter_add_rows: negative index           */
};

__device__ __forceinline__ void lk_kerr_raise(lk_cuda_kerr* e, unsigned int code, int64_t row,
                                              int64_t value, unsigned int op_arg) {
    volatile lk_cuda_kerr* v = e;
    v->info = ((unsigned long long)(uint32_t)row << 32) | (uint32_t)value;
    v->op_arg = op_arg;
    v->code = code;
}

/* ------------------------------------------------------------------------ */
/* Handles                                                                   */
/* ------------------------------------------------------------------------ */

struct lk_buffer {
    lk_handle h;
    void* ptr;
    size_t bytes;
    size_t charged;                /* bytes counted against the memory limit         */
    lk_buffer* prev;
    lk_buffer* next;
};

struct lk_host_buffer {
    lk_handle h;
    void* ptr;
    size_t bytes;
    lk_host_buffer* prev;
    lk_host_buffer* next;
};

struct lk_stream {
    lk_handle h;
    cudaStream_t s;
    lk_cuda_kerr* kerr_host;       /* mapped pinned word, host view                  */
    lk_cuda_kerr* kerr_dev;        /* same word, device view (passed to kernels)     */
    void* ws;                      /* per-stream scratch (split-K attention partials) */
    size_t ws_bytes;
    lk_stream* prev;
    lk_stream* next;
};

struct lk_event {
    lk_handle h;
    cudaEvent_t e;
    lk_stream* stream;             /* stream of the last record (for its error word) */
    int recorded;
    lk_event* prev;
    lk_event* next;
};

/* Occupancy of the persistent kernels, measured once per device at open. */
struct lk_cuda_kernel_occ {
    int qmatvec[5];                /* blocks per SM at 0 dynamic smem, by bits (2..4) */
    int qmatvec_uniform[3][5];     /* the same for qmatvec_uniform.cuh's kernel, by UniformMode */
};

struct lk_device {
    lk_handle h;
    int ordinal;
    size_t memory_limit;           /* 0 = whole GPU                                  */
    size_t charged;                /* bytes of buffers + scratch, under mu           */
    std::mutex mu;
    lk_buffer* buffers;
    lk_host_buffer* host_buffers;
    lk_stream* streams;
    lk_event* events;

    char name[128];
    size_t total_memory;
    int cc_major, cc_minor;
    int async_engines;
    int sms;
    int smem_optin;                /* max dynamic smem per block after opt-in         */
    int smem_per_sm;
    int smem_reserved;             /* smem the driver reserves per block              */
    lk_cuda_kernel_occ occ;
    double link_bytes_per_s;       /* emulated host-to-device link, 0 = the real one  */
    unsigned long long* link_free_ns; /* device word: when the emulated link is free,
                                         on the device's global timer (ns)            */
};

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

extern const lk_host_services* g_lk_cuda_services;

#define LK_SET_ERROR(status, ...) (g_lk_cuda_services->set_error((status), __VA_ARGS__))

/* Converts a failed runtime call into a status with a message naming the call site.
 * cudaErrorMemoryAllocation -> LK_ERR_OUT_OF_MEMORY, cudaErrorNotReady ->
 * LK_ERR_NOT_READY, anything else -> LK_ERR_DEVICE. Clears the runtime's
 * (non-sticky) last error so a later launch check does not report it again. */
lk_status lk_cuda_fail(cudaError_t err, const char* what);

#define LK_CUDA_TRY(expr, what)                                  \
    do {                                                         \
        cudaError_t lk_e_ = (expr);                              \
        if (lk_e_ != cudaSuccess) return lk_cuda_fail(lk_e_, (what)); \
    } while (0)

/* After a kernel launch: launch-configuration errors surface here at once;
 * faults during execution surface at the next synchronize. */
lk_status lk_cuda_check_launch(const char* what);

/* Binds the calling thread to the stream's GPU. */
lk_status lk_cuda_bind(lk_device* dev);

static inline lk_device* lk_stream_device(lk_stream* s) { return s->h.device; }

#define LK_BIND_STREAM(stream)                                              \
    do {                                                                    \
        lk_status lk_b_ = lk_cuda_bind(lk_stream_device(stream));           \
        if (lk_b_ != LK_OK) return lk_b_;                                   \
    } while (0)

/* Grows the stream's scratch to at least `bytes` (counted against the device's
 * memory limit). Only work of this stream uses it, so the old block is released
 * after the stream drained. */
lk_status lk_cuda_stream_scratch(lk_stream* s, size_t bytes, void** out);
/* Whether a handle belongs to this backend (internal entry points that skip the dispatcher). */
bool lk_cuda_owns(const lk_handle* h);

/* ------------------------------------------------------------------------ */
/* Element types                                                             */
/* ------------------------------------------------------------------------ */

/* Loads one element of a weight/table/cache of dtype T as fp32. */
__device__ __forceinline__ float lk_to_f32(float v) { return v; }
__device__ __forceinline__ float lk_to_f32(__half v) { return __half2float(v); }
__device__ __forceinline__ float lk_to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T> __device__ __forceinline__ T lk_from_f32(float v);
template <> __device__ __forceinline__ float lk_from_f32<float>(float v) { return v; }
template <> __device__ __forceinline__ __half lk_from_f32<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 lk_from_f32<__nv_bfloat16>(float v) {
    return __float2bfloat16_rn(v);
}

/* Eight consecutive elements of a 16-bit type from one 16-byte word. */
__device__ __forceinline__ void lk_unpack8(uint4 u, __half, float (&f)[8]) {
    const __half2* h = reinterpret_cast<const __half2*>(&u);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        float2 p = __half22float2(h[i]);
        f[2 * i] = p.x;
        f[2 * i + 1] = p.y;
    }
}
__device__ __forceinline__ void lk_unpack8(uint4 u, __nv_bfloat16, float (&f)[8]) {
    /* bf16 -> f32 is a shift: the bf16 bits are the high half of the f32. */
    const uint32_t w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        f[2 * i] = __uint_as_float(w[i] << 16);
        f[2 * i + 1] = __uint_as_float(w[i] & 0xFFFF0000u);
    }
}

/* ------------------------------------------------------------------------ */
/* Reductions                                                                */
/* ------------------------------------------------------------------------ */

__device__ __forceinline__ float lk_warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, o);
    return v;
}
__device__ __forceinline__ float lk_warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xFFFFFFFFu, v, o));
    return v;
}

/* Sum over the block (blockDim.x a multiple of 32, <= 1024); every thread gets the
 * result. `red` is 32 floats of shared memory; the function syncs before reusing it. */
__device__ __forceinline__ float lk_block_sum(float v, float* red) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = lk_warp_sum(v);
    __syncthreads(); /* red may still be read by a previous call */
    if (lane == 0) red[warp] = v;
    __syncthreads();
    float t = lane < nwarps ? red[lane] : 0.0f;
    return lk_warp_sum(t);
}

static inline unsigned lk_ceil_div_u(int64_t a, int64_t b) { return (unsigned)((a + b - 1) / b); }
__host__ __device__ static inline int lk_is_aligned(const void* p, size_t a) { return ((uintptr_t)p % a) == 0; }

/* Blocks for a grid-stride loop over `items` with `threads` per block: enough to fill
 * the GPU several times over, never more than there is work for. */
static inline unsigned lk_grid_for(const lk_device* dev, int64_t items, int threads) {
    int64_t want = (items + threads - 1) / threads;
    int64_t cap = (int64_t)dev->sms * 16;
    if (want > cap) want = cap;
    if (want < 1) want = 1;
    return (unsigned)want;
}

/* ------------------------------------------------------------------------ */
/* Op entry points (one file per family), signatures of lk_backend_iface      */
/* ------------------------------------------------------------------------ */

lk_status lk_cuda_embedding(lk_stream* s, lk_dtype table_dtype, const void* table, int64_t vocab,
                            int64_t dim, const int32_t* ids, int64_t n, float* out);
lk_status lk_cuda_rmsnorm(lk_stream* s, const float* x, lk_dtype weight_dtype, const void* weight,
                          int64_t n, int64_t dim, float eps, float* out);
lk_status lk_cuda_rope(lk_stream* s, float* x, int64_t n, int32_t n_heads, int32_t head_dim,
                       int64_t pos0, float theta);
lk_status lk_cuda_matmul(lk_stream* s, lk_dtype w_dtype, const void* w, const float* x, int64_t n,
                         int64_t rows, int64_t cols, float* y);
lk_status lk_cuda_qmatvec(lk_stream* s, const lk_qmatrix* w, const float* x, float* y);
lk_status lk_cuda_qmatmul(lk_stream* s, const lk_qmatrix* w, const float* x, int64_t n, float* y);
lk_status lk_cuda_swiglu(lk_stream* s, const float* gate, const float* up, int64_t n, float* out);
lk_status lk_cuda_expert_swiglu(lk_stream* s, const lk_qmatrix* gate, const lk_qmatrix* up, const lk_qmatrix* down,
                                const float* x, float* h_gate, float* h_up, float* y);
lk_status lk_cuda_add(lk_stream* s, float* y, const float* x, int64_t n);
lk_status lk_cuda_fill_u32(lk_stream* s, uint32_t* dst, uint32_t value, size_t count);
lk_status lk_cuda_gather_rows(lk_stream* s, const float* src, const int32_t* idx, int64_t m,
                              int64_t dim, float* dst);
lk_status lk_cuda_scatter_add_rows(lk_stream* s, float* dst, const float* src, const int32_t* idx,
                                   const float* weight, int64_t m, int64_t dim);
lk_status lk_cuda_convert(lk_stream* s, lk_dtype src_dtype, const void* src, lk_dtype dst_dtype,
                          void* dst, int64_t n);
lk_status lk_cuda_router_topk(lk_stream* s, const lk_router_args* args);
lk_status lk_cuda_attention(lk_stream* s, const lk_attention_args* args);
lk_status lk_cuda_router_heads(lk_stream* s, const lk_router_heads_args* args);

/* Per-device setup of the op files, called by device_open after cudaSetDevice:
 * opt-in shared memory limits and occupancy of persistent kernels. */
lk_status lk_cuda_quant_init(lk_device* dev);
lk_status lk_cuda_attention_init(lk_device* dev);

/* Internal (not in the public ABI yet): router GEMV + softmax + top-k in one launch,
 * for the router and the lookahead heads of a layer together. See routing.cu. */
typedef struct lk_cuda_fused_router_args {
    lk_dtype w_dtype;              /* F32 / F16 / BF16                                 */
    const void* w;                 /* [n_sets * n_experts, hidden]: set 0 = router,
                                      sets 1.. = lookahead heads (each a router-shaped
                                      matrix predicting a later layer)                */
    const float* x;                /* [n, hidden] normed hidden states                 */
    int64_t n;
    int64_t hidden;
    int32_t n_sets;
    int32_t n_experts;             /* 1 .. 256                                         */
    int32_t k;                     /* 1 .. n_experts                                   */
    int32_t renormalize;
    float* logits_out;             /* [n, n_sets, n_experts] or NULL                   */
    float* probs_out;              /* [n, n_sets, n_experts] or NULL                   */
    int32_t* topk_idx;             /* [n, n_sets, k]                                   */
    float* topk_weight;            /* [n, n_sets, k]                                   */
} lk_cuda_fused_router_args;

extern "C" __attribute__((visibility("default")))
lk_status lk_cuda_router_fused(lk_stream* s, const lk_cuda_fused_router_args* args);

#endif /* LK_CUDA_COMMON_CUH */
