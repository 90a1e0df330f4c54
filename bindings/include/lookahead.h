/*
 * lookahead.h — the one C ABI between the Java engine and its native backends.
 *
 * Conventions (see ../../README.md and docs/abi.md):
 *  - Every function returns lk_status. Nothing here aborts, exits or prints.
 *    On a non-OK status, lk_last_error() returns a message for the calling thread.
 *  - Handles are opaque. Sizes are size_t (bytes) or int64_t (elements).
 *  - Argument and info structs start with `size_t struct_size`; callers set it to
 *    sizeof(the struct) they were compiled against, so the ABI can grow at the end.
 *  - Asynchrony is explicit: copies and ops are enqueued on a stream and return
 *    once the arguments are validated. Errors raised while a stream executes are
 *    sticky on that stream and are returned by lk_stream_synchronize / lk_event_*.
 *  - "Device pointers" (void*) are addresses in the device's memory space, obtained
 *    from lk_buffer_ptr() plus an offset. Host pointers are ordinary addresses
 *    (pinned ones from lk_host_buffer_ptr() make copies truly asynchronous).
 *  - Activations are fp32 unless an argument says otherwise; weights may be
 *    fp32/fp16/bf16 (dense) or 2/3/4-bit group-quantized (see "Quantized weights").
 *
 * One library (liblookahead.so) exports this ABI and contains the CPU backend.
 * Other backends (liblookahead_cuda.so) are loaded on demand from the same
 * directory when lk_device_open() asks for them by name.
 */
#ifndef LOOKAHEAD_H
#define LOOKAHEAD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define LK_API __declspec(dllexport)
#else
#define LK_API __attribute__((visibility("default")))
#endif

#define LK_ABI_VERSION 1
/* Additions that keep every existing struct and function: 1 = lk_router_heads, 2 = lk_expert_swiglu. */
#define LK_ABI_MINOR 2

/* ======================================================================== */
/* Section: core — status, errors, version                                  */
/* ======================================================================== */

typedef enum lk_status {
    LK_OK = 0,
    LK_ERR_INVALID_ARGUMENT = 1,  /* null, negative or inconsistent argument   */
    LK_ERR_OUT_OF_MEMORY = 2,     /* device memory (or CPU arena) exhausted    */
    LK_ERR_HOST_OUT_OF_MEMORY = 3,/* host / pinned allocation failed           */
    LK_ERR_UNSUPPORTED = 4,       /* dtype, bit width or op not supported      */
    LK_ERR_BACKEND_UNAVAILABLE = 5,/* backend library, driver or device missing */
    LK_ERR_NOT_READY = 6,         /* lk_event_query: work still pending        */
    LK_ERR_DEVICE = 7,            /* error reported by the device runtime      */
    LK_ERR_INTERNAL = 8           /* a bug in the backend                      */
} lk_status;

typedef enum lk_dtype {
    LK_F32 = 0,
    LK_F16 = 1,
    LK_BF16 = 2,
    LK_I32 = 3
} lk_dtype;

/* Message for the last non-OK status returned on the calling thread ("" if none). */
LK_API const char* lk_last_error(void);
/* Stable name of a status ("LK_ERR_OUT_OF_MEMORY"); never NULL. */
LK_API const char* lk_status_name(lk_status status);
/* LK_ABI_VERSION of the library actually loaded. */
LK_API int32_t lk_abi_version(void);

/* ======================================================================== */
/* Section: device                                                          */
/* ======================================================================== */

typedef struct lk_device lk_device;

typedef struct lk_device_options {
    size_t struct_size;
    int32_t ordinal;            /* cuda: GPU index; cpu: ignored                      */
    int32_t threads;            /* cpu: compute threads, 0 = number of online cores   */
    size_t memory_limit;        /* cpu: capacity of the device arena in bytes,
                                   0 = 1/2 of physical RAM; cuda: 0 = all memory     */
    double link_bytes_per_s;    /* emulated bandwidth of the host-to-device link
                                   (lk_copy_h2d), 0 = unthrottled: cpu a plain
                                   memcpy, cuda the real link; on cuda a copy's
                                   stream is held until its emulated time has passed
                                   (one link per device, on the device's clock);
                                   read-backs (lk_copy_d2h) are never throttled     */
} lk_device_options;

typedef struct lk_device_info {
    size_t struct_size;
    char backend[16];           /* "cpu" or "cuda"                                    */
    char name[128];             /* e.g. "NVIDIA H100 80GB HBM3", "cpu (16 threads)"   */
    size_t total_memory;        /* bytes of device memory (cpu: arena capacity)       */
    size_t free_memory;         /* bytes not yet allocated                            */
    int32_t cc_major;           /* compute capability (cpu: 0)                        */
    int32_t cc_minor;
    int32_t async_copy_engines; /* copy engines that overlap compute (cpu: 1)         */
    int32_t multiprocessors;    /* SMs (cuda) or compute threads (cpu)                */
    double link_bytes_per_s;    /* emulated link bandwidth, 0 = unthrottled (cuda:
                                   the real link)                                    */
} lk_device_info;

/* Opens backend `backend` ("cpu" or "cuda"); options may be NULL for defaults. */
LK_API lk_status lk_device_open(const char* backend, const lk_device_options* options,
                                lk_device** out);
/* Waits for all streams of the device, then frees everything it still owns. */
LK_API lk_status lk_device_close(lk_device* device);
LK_API lk_status lk_device_get_info(lk_device* device, lk_device_info* out);

/* ======================================================================== */
/* Section: memory — device buffers, pinned host buffers, streams, events,  */
/* copies                                                                   */
/* ======================================================================== */

typedef struct lk_buffer lk_buffer;          /* device memory                      */
typedef struct lk_host_buffer lk_host_buffer;/* page-locked host memory            */
typedef struct lk_stream lk_stream;
typedef struct lk_event lk_event;

/* Device buffers are at least 256-byte aligned. bytes > 0. */
LK_API lk_status lk_buffer_alloc(lk_device* device, size_t bytes, lk_buffer** out);
LK_API lk_status lk_buffer_free(lk_buffer* buffer);
/* Device address of the first byte (valid until lk_buffer_free). */
LK_API lk_status lk_buffer_ptr(lk_buffer* buffer, void** out);

/* Pinned (page-locked) host memory, at least 4096-byte aligned. bytes > 0. */
LK_API lk_status lk_host_buffer_alloc(lk_device* device, size_t bytes, lk_host_buffer** out);
LK_API lk_status lk_host_buffer_free(lk_host_buffer* buffer);
LK_API lk_status lk_host_buffer_ptr(lk_host_buffer* buffer, void** out);

/* Streams execute their work in order; different streams may overlap. */
LK_API lk_status lk_stream_create(lk_device* device, lk_stream** out);
LK_API lk_status lk_stream_destroy(lk_stream* stream);   /* waits for pending work  */
/* Blocks until all work on the stream is done; returns its sticky error, if any. */
LK_API lk_status lk_stream_synchronize(lk_stream* stream);
/* Later work on `stream` waits until `event`'s recorded work is done. */
LK_API lk_status lk_stream_wait_event(lk_stream* stream, lk_event* event);

LK_API lk_status lk_event_create(lk_device* device, lk_event** out);
LK_API lk_status lk_event_destroy(lk_event* event);
/* Captures the work enqueued on `stream` so far. */
LK_API lk_status lk_event_record(lk_event* event, lk_stream* stream);
/* LK_OK when the captured work is done (or never recorded), LK_ERR_NOT_READY if not. */
LK_API lk_status lk_event_query(lk_event* event);
LK_API lk_status lk_event_synchronize(lk_event* event);
/* Milliseconds between two completed events recorded on the same device. */
LK_API lk_status lk_event_elapsed_ms(lk_event* start, lk_event* end, float* out_ms);

/* Asynchronous copies on `stream`. Host memory must stay valid until done. */
LK_API lk_status lk_copy_h2d(lk_stream* stream, void* dst_device, const void* src_host, size_t bytes);
LK_API lk_status lk_copy_d2h(lk_stream* stream, void* dst_host, const void* src_device, size_t bytes);
LK_API lk_status lk_copy_d2d(lk_stream* stream, void* dst_device, const void* src_device, size_t bytes);
LK_API lk_status lk_memset(lk_stream* stream, void* dst_device, int32_t byte_value, size_t bytes);
/* Sets `count` 32-bit words at dst_device (4-byte aligned) to `value`, in order on `stream`. It is
 * work of the device, not a transfer: a small value the host decides (a token id, a gate weight)
 * reaches the device without a host-to-device copy, which would share the link (and on a GPU the
 * copy engine) with the expert copies in flight on other streams and could wait behind them. */
LK_API lk_status lk_fill_u32(lk_stream* stream, void* dst_device, uint32_t value, size_t count);

/* ======================================================================== */
/* Section: ops — each enqueued on a stream                                 */
/* ======================================================================== */

/* Every typed pointer an op takes must be aligned to its element: 4 bytes for f32 and
 * int32 data, 2 for f16/bf16 (qmatrix scales and zeros included); qmatrix codes are
 * bytes. An op returns LK_ERR_INVALID_ARGUMENT otherwise (a misaligned load would fault
 * on CUDA and leave the context unusable). */

/*
 * Quantized weights ("qmatrix"): a logical matrix W[rows, cols] (y = W x, x has
 * `cols` elements), quantized along each row in groups of `group_size` columns.
 *
 *   ngroups       = ceil(cols / group_size)       (the last group may be partial)
 *   row_bytes     = ngroups * group_size * bits / 8
 *   codes         : uint8 [rows, row_bytes]   packed unsigned codes q in [0, 2^bits)
 *   scales, zeros : fp16  [rows, ngroups]
 *   w[r][c]       = scale[r][g] * (q[r][c] - zero[r][g]),   g = c / group_size
 *
 * Codes of a partial last group beyond `cols` are zero and are ignored.
 * group_size is a multiple of 8 in [8, 1024] so every group is a whole number of
 * the packs below. Bit order is little-endian within each pack:
 *   4-bit: byte i holds codes 2i (bits 0-3) and 2i+1 (bits 4-7).
 *   2-bit: byte i holds codes 4i .. 4i+3, code 4i+j in bits 2j .. 2j+1.
 *   3-bit: 8 codes in 3 bytes read as a 24-bit little-endian word w;
 *          code j of the pack is (w >> 3j) & 7.
 * Bits per weight = bits + 32 / group_size (fp16 scale and zero per group).
 */
typedef struct lk_q4_pack { uint8_t b[1]; } lk_q4_pack; /* 2 codes, 4.0 bits each */
typedef struct lk_q3_pack { uint8_t b[3]; } lk_q3_pack; /* 8 codes, 3.0 bits each */
typedef struct lk_q2_pack { uint8_t b[1]; } lk_q2_pack; /* 4 codes, 2.0 bits each */
#if defined(__cplusplus)
static_assert(sizeof(lk_q4_pack) == 1, "q4 pack");
static_assert(sizeof(lk_q3_pack) == 3, "q3 pack");
static_assert(sizeof(lk_q2_pack) == 1, "q2 pack");
#else
_Static_assert(sizeof(lk_q4_pack) == 1, "q4 pack");
_Static_assert(sizeof(lk_q3_pack) == 3, "q3 pack");
_Static_assert(sizeof(lk_q2_pack) == 1, "q2 pack");
#endif

typedef struct lk_qmatrix {
    size_t struct_size;
    int32_t bits;               /* 2, 3 or 4                                          */
    int32_t group_size;         /* multiple of 8 in [8, 1024]                         */
    int64_t rows;
    int64_t cols;
    const void* codes;          /* device: uint8 [rows, row_bytes]                    */
    const void* scales;         /* device: fp16 [rows, ngroups]                       */
    const void* zeros;          /* device: fp16 [rows, ngroups]                       */
} lk_qmatrix;

/* Bytes of the codes of a qmatrix (0 on invalid bits/group_size). */
LK_API size_t lk_qmatrix_code_bytes(int32_t bits, int32_t group_size, int64_t rows, int64_t cols);

/* out[i, :] = table[ids[i], :]; table [vocab, dim] of dtype F32/F16/BF16; ids int32
 * device [n] (ids outside [0, vocab) produce zeros and a sticky LK_ERR_INVALID_ARGUMENT);
 * out f32 [n, dim]. */
LK_API lk_status lk_embedding(lk_stream* stream, lk_dtype table_dtype, const void* table,
                              int64_t vocab, int64_t dim, const int32_t* ids, int64_t n,
                              float* out);

/* out[i, :] = x[i, :] / sqrt(mean(x[i, :]^2) + eps) * weight; x, out f32 [n, dim]
 * (out may equal x); weight [dim] of dtype F32/F16/BF16. */
LK_API lk_status lk_rmsnorm(lk_stream* stream, const float* x, lk_dtype weight_dtype,
                            const void* weight, int64_t n, int64_t dim, float eps, float* out);

/* Rotary embedding in place, HF "rotate_half" convention: for each row i (position
 * pos0 + i), head h and j < head_dim/2, with f = pos * theta^(-2j/head_dim):
 *   (x[j], x[j + head_dim/2]) <- (x[j] cos f - x[j+hd/2] sin f, x[j+hd/2] cos f + x[j] sin f)
 * x f32 [n, n_heads, head_dim]; head_dim even. */
LK_API lk_status lk_rope(lk_stream* stream, float* x, int64_t n, int32_t n_heads,
                         int32_t head_dim, int64_t pos0, float theta);

/* y[n, rows] = x[n, cols] @ W^T, W [rows, cols] of dtype F32/F16/BF16; x, y f32.
 * Tensor cores on CUDA for F16/BF16. */
LK_API lk_status lk_matmul(lk_stream* stream, lk_dtype w_dtype, const void* w, const float* x,
                           int64_t n, int64_t rows, int64_t cols, float* y);

/* y[rows] = W x for a qmatrix W (decode path, batch 1); x f32 [cols], y f32 [rows]. */
LK_API lk_status lk_qmatvec(lk_stream* stream, const lk_qmatrix* w, const float* x, float* y);
/* y[n, rows] = x[n, cols] @ W^T for a qmatrix W (prefill path). */
LK_API lk_status lk_qmatmul(lk_stream* stream, const lk_qmatrix* w, const float* x, int64_t n,
                            float* y);

/* One SwiGLU expert on one token (the decode path): y = down (silu(gate x) * (up x)), the same as
 * lk_qmatvec(gate, x, h_gate); lk_qmatvec(up, x, h_up); lk_swiglu(h_gate, h_up, h_gate);
 * lk_qmatvec(down, h_gate, y). gate and up [inter, hidden] of one format (bits, group size),
 * down [hidden, inter]; x f32 [hidden]; h_gate, h_up f32 [inter] scratch (left unspecified);
 * y f32 [hidden], not overlapping x, h_gate or h_up. CUDA computes gate and up in one launch
 * and the SwiGLU as the down product stages its input: two launches instead of four. */
LK_API lk_status lk_expert_swiglu(lk_stream* stream, const lk_qmatrix* gate, const lk_qmatrix* up,
                                  const lk_qmatrix* down, const float* x, float* h_gate, float* h_up,
                                  float* y);

/* out[i] = silu(gate[i]) * up[i] for i < n; f32; out may alias gate or up. */
LK_API lk_status lk_swiglu(lk_stream* stream, const float* gate, const float* up, int64_t n,
                           float* out);

/* y[i] += x[i] for i < n; f32 (the residual add). */
LK_API lk_status lk_add(lk_stream* stream, float* y, const float* x, int64_t n);

/* dst[i, :] = src[idx[i], :] for i < m; f32 rows of `dim`; idx int32 device [m]. */
LK_API lk_status lk_gather_rows(lk_stream* stream, const float* src, const int32_t* idx,
                                int64_t m, int64_t dim, float* dst);

/* Weighted accumulation of expert outputs:
 *   dst[idx[i], :] += weight[i] * src[i, :] for i < m, in order of i.
 * idx int32 device [m] or NULL (identity); weight f32 device [m] or NULL (1.0).
 * Rows of idx must be distinct within one call. */
LK_API lk_status lk_scatter_add_rows(lk_stream* stream, float* dst, const float* src,
                                     const int32_t* idx, const float* weight, int64_t m,
                                     int64_t dim);

/* Element conversion dst[i] = (dst_dtype) src[i], i < n (e.g. f32 keys into an f16
 * KV cache). F32/F16/BF16 both ways; src == dst only if the dtypes are equal. */
LK_API lk_status lk_convert(lk_stream* stream, lk_dtype src_dtype, const void* src,
                            lk_dtype dst_dtype, void* dst, int64_t n);

/* Router: probs = softmax(logits[i, :]) over all n_experts (fp32); the k largest
 * (ties: lower expert index first), in descending order, into topk_idx int32 [n, k]
 * and topk_weight f32 [n, k]; with renormalize != 0 the k weights are divided by
 * their sum (Mixtral). probs_out f32 [n, n_experts] may be NULL. */
typedef struct lk_router_args {
    size_t struct_size;
    const float* logits;        /* [n, n_experts]                                     */
    int64_t n;
    int32_t n_experts;          /* 1 .. 256                                           */
    int32_t k;                  /* 1 .. n_experts                                     */
    int32_t renormalize;
    int32_t reserved;
    float* probs_out;           /* [n, n_experts] or NULL                             */
    int32_t* topk_idx;          /* [n, k]                                             */
    float* topk_weight;         /* [n, k]                                             */
} lk_router_args;
LK_API lk_status lk_router_topk(lk_stream* stream, const lk_router_args* args);

/* Decode routing of one MoE layer in one op (one launch on CUDA, one task on the CPU):
 * the layer's RMSNorm, router GEMV, softmax and top-k, plus the lookahead heads that
 * read the same residual stream x, with every result the host needs in ONE packed
 * output, so one lk_copy_d2h of lk_router_heads_out_bytes(k, n_heads, n_experts)
 * bytes reads it all back. Defined as the composition of the single ops:
 *   xn_out          = x / sqrt(mean(x^2) + eps) * gain        (lk_rmsnorm, n = 1)
 *   router logits   = router . xn_out                          (lk_matmul, n = 1)
 *   idx, weight     = top-k of softmax(router logits)          (lk_router_topk)
 *   hHat            = x / sqrt(mean(x^2) + eps)                (unit gain)
 *   head h logits   = heads[h] . hHat + heads_bias[h]          (heads[h]: rows h*E ..)
 *   head h probs    = softmax(head h logits) over n_experts
 * Packed output `out` (4-byte elements, no padding), E = n_experts:
 *   int32 idx[k] | f32 weight[k] | f32 head_probs[n_heads][E]
 * i.e. weight at element offset k and head h's probabilities at 2k + h * E.
 * x, xn_out and out are f32-aligned device memory; xn_out and out may not overlap
 * x, each other, or the weights. n_heads == 0 computes the router only (heads and
 * heads_bias are then ignored); heads_bias may be NULL (no bias). */
typedef struct lk_router_heads_args {
    size_t struct_size;
    const float* x;             /* [hidden]: the layer's MoE input (residual stream)  */
    int64_t hidden;
    float eps;                  /* RMSNorm epsilon of both norms                      */
    int32_t gain_dtype;         /* lk_dtype F32/F16/BF16                              */
    const void* gain;           /* [hidden]: the layer's ffn RMSNorm weight           */
    int32_t router_dtype;       /* lk_dtype F32/F16/BF16                              */
    int32_t n_experts;          /* 1 .. 256                                           */
    const void* router;         /* [n_experts, hidden]                                */
    int32_t k;                  /* 1 .. n_experts                                     */
    int32_t renormalize;        /* != 0: top-k weights divided by their sum           */
    int32_t n_heads;            /* 0 .. 1024                                          */
    int32_t reserved;           /* 0                                                  */
    const float* heads;         /* f32 [n_heads * n_experts, hidden]                  */
    const float* heads_bias;    /* f32 [n_heads * n_experts] or NULL                  */
    float* xn_out;              /* [hidden]: the experts' input                       */
    void* out;                  /* packed [2k + n_heads * n_experts] x 4 bytes        */
} lk_router_heads_args;
/* Bytes of the packed output of lk_router_heads. */
#define lk_router_heads_out_bytes(k, n_heads, n_experts) \
    ((size_t)4 * (2 * (size_t)(k) + (size_t)(n_heads) * (size_t)(n_experts)))
LK_API lk_status lk_router_heads(lk_stream* stream, const lk_router_heads_args* args);

/* Causal attention over a KV cache (prefill: n_tokens > 1, decode: n_tokens == 1).
 * Query row t has position p = pos + t and attends to cache positions j with
 * j <= p and (window == 0 or j > p - window) — HF Mixtral's sliding window.
 * Grouped-query: head h reads kv head h / (n_heads / n_kv_heads).
 * The cache rows 0 .. pos + n_tokens - 1 must already hold the keys/values.
 *   q, out : f32 [n_tokens, n_heads, head_dim]
 *   k, v   : kv_dtype (F32/F16/BF16) [ctx_capacity, n_kv_heads, head_dim]  */
typedef struct lk_attention_args {
    size_t struct_size;
    const float* q;
    const void* k_cache;
    const void* v_cache;
    float* out;
    int64_t n_tokens;
    int64_t pos;
    int64_t ctx_capacity;
    int32_t n_heads;
    int32_t n_kv_heads;         /* divides n_heads                                    */
    int32_t head_dim;           /* 1 .. 256                                           */
    int32_t window;             /* 0 = full causal                                    */
    int32_t kv_dtype;           /* lk_dtype                                           */
    float scale;                /* softmax scale, usually 1/sqrt(head_dim)            */
} lk_attention_args;
LK_API lk_status lk_attention(lk_stream* stream, const lk_attention_args* args);

/* ======================================================================== */
/* Section: profiling — named ranges for external profilers                 */
/* ======================================================================== */

/* Opens a named range on the calling thread, for Nsight Systems (NVTX) on the CUDA backend;
 * the CPU backend records nothing. Ranges nest; each thread closes its own ranges, innermost
 * first (a pop without an open range is LK_ERR_INVALID_ARGUMENT). name: 1 .. 255 bytes. */
LK_API lk_status lk_range_push(lk_device* device, const char* name);
LK_API lk_status lk_range_pop(lk_device* device);

#ifdef __cplusplus
}
#endif

#endif /* LOOKAHEAD_H */
