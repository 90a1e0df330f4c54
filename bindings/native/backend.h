/*
 * backend.h — internal contract between the dispatcher (lookahead.c, which exports
 * the public ABI of lookahead.h) and each backend (cpu/, ../../cuda/).
 *
 * Every handle a backend creates (device, buffer, host buffer, stream, event)
 * starts with an lk_handle header so the dispatcher can find the backend's
 * function table and check the handle's kind and device before forwarding.
 *
 * The dispatcher validates every argument that can be checked without touching
 * device memory (null pointers, sizes, dtypes, bit widths, struct_size, handles
 * of the same device) once, for all backends; a backend function is only called
 * with valid arguments and only has to report failures of its own (allocation,
 * device runtime). Backends report a message with lk_host_services.set_error.
 */
#ifndef LOOKAHEAD_BACKEND_H
#define LOOKAHEAD_BACKEND_H

#include "lookahead.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lk_handle_kind {
    LK_HANDLE_DEVICE = 0x4C4B4456,      /* 'LKDV' */
    LK_HANDLE_BUFFER = 0x4C4B4246,      /* 'LKBF' */
    LK_HANDLE_HOST_BUFFER = 0x4C4B4842, /* 'LKHB' */
    LK_HANDLE_STREAM = 0x4C4B5354,      /* 'LKST' */
    LK_HANDLE_EVENT = 0x4C4B4556,       /* 'LKEV' */
    LK_HANDLE_FREED = 0x4C4B4644        /* 'LKFD': set on destroy, to catch reuse  */
} lk_handle_kind;

typedef struct lk_backend_iface lk_backend_iface;

/* First member of every backend handle struct. */
typedef struct lk_handle {
    uint32_t kind;                     /* lk_handle_kind                           */
    uint32_t reserved;
    const lk_backend_iface* iface;
    lk_device* device;                 /* owning device (the device itself for devices) */
} lk_handle;

/* Services the dispatcher gives a backend (a dlopen'ed backend cannot link to
 * symbols of liblookahead.so, which is loaded RTLD_LOCAL by the JVM). */
typedef struct lk_host_services {
    size_t struct_size;
    /* Sets the calling thread's lk_last_error() message; returns `status`. */
    lk_status (*set_error)(lk_status status, const char* fmt, ...);
} lk_host_services;

/* The arguments of ops reach backends already validated. Pointers to arg structs
 * are only valid during the call: copy what is needed for deferred execution. */
struct lk_backend_iface {
    size_t struct_size;
    const char* name;                  /* "cpu", "cuda"                             */

    lk_status (*device_open)(const lk_device_options* options, lk_device** out);
    lk_status (*device_close)(lk_device* device);
    lk_status (*device_get_info)(lk_device* device, lk_device_info* out);

    lk_status (*buffer_alloc)(lk_device* device, size_t bytes, lk_buffer** out);
    lk_status (*buffer_free)(lk_buffer* buffer);
    lk_status (*buffer_ptr)(lk_buffer* buffer, void** out);
    lk_status (*host_buffer_alloc)(lk_device* device, size_t bytes, lk_host_buffer** out);
    lk_status (*host_buffer_free)(lk_host_buffer* buffer);
    lk_status (*host_buffer_ptr)(lk_host_buffer* buffer, void** out);

    lk_status (*stream_create)(lk_device* device, lk_stream** out);
    lk_status (*stream_destroy)(lk_stream* stream);
    lk_status (*stream_synchronize)(lk_stream* stream);
    lk_status (*stream_wait_event)(lk_stream* stream, lk_event* event);
    lk_status (*event_create)(lk_device* device, lk_event** out);
    lk_status (*event_destroy)(lk_event* event);
    lk_status (*event_record)(lk_event* event, lk_stream* stream);
    lk_status (*event_query)(lk_event* event);
    lk_status (*event_synchronize)(lk_event* event);
    lk_status (*event_elapsed_ms)(lk_event* start, lk_event* end, float* out_ms);

    lk_status (*copy_h2d)(lk_stream* s, void* dst, const void* src, size_t bytes);
    lk_status (*copy_d2h)(lk_stream* s, void* dst, const void* src, size_t bytes);
    lk_status (*copy_d2d)(lk_stream* s, void* dst, const void* src, size_t bytes);
    lk_status (*memset)(lk_stream* s, void* dst, int32_t value, size_t bytes);
    lk_status (*fill_u32)(lk_stream* s, uint32_t* dst, uint32_t value, size_t count);

    lk_status (*embedding)(lk_stream* s, lk_dtype table_dtype, const void* table, int64_t vocab,
                           int64_t dim, const int32_t* ids, int64_t n, float* out);
    lk_status (*rmsnorm)(lk_stream* s, const float* x, lk_dtype weight_dtype, const void* weight,
                         int64_t n, int64_t dim, float eps, float* out);
    lk_status (*rope)(lk_stream* s, float* x, int64_t n, int32_t n_heads, int32_t head_dim,
                      int64_t pos0, float theta);
    lk_status (*matmul)(lk_stream* s, lk_dtype w_dtype, const void* w, const float* x, int64_t n,
                        int64_t rows, int64_t cols, float* y);
    lk_status (*qmatvec)(lk_stream* s, const lk_qmatrix* w, const float* x, float* y);
    lk_status (*qmatmul)(lk_stream* s, const lk_qmatrix* w, const float* x, int64_t n, float* y);
    lk_status (*swiglu)(lk_stream* s, const float* gate, const float* up, int64_t n, float* out);
    lk_status (*add)(lk_stream* s, float* y, const float* x, int64_t n);
    lk_status (*gather_rows)(lk_stream* s, const float* src, const int32_t* idx, int64_t m,
                             int64_t dim, float* dst);
    lk_status (*scatter_add_rows)(lk_stream* s, float* dst, const float* src, const int32_t* idx,
                                  const float* weight, int64_t m, int64_t dim);
    lk_status (*convert)(lk_stream* s, lk_dtype src_dtype, const void* src, lk_dtype dst_dtype,
                         void* dst, int64_t n);
    lk_status (*router_topk)(lk_stream* s, const lk_router_args* args);
    lk_status (*attention)(lk_stream* s, const lk_attention_args* args);

    /* Profiler ranges of the calling thread (validated and balanced by the dispatcher). */
    lk_status (*range_push)(lk_device* device, const char* name);
    lk_status (*range_pop)(lk_device* device);

    /* Added with LK_ABI_MINOR 1 (at the end, so the table only grows). */
    lk_status (*router_heads)(lk_stream* s, const lk_router_heads_args* args);
    /* Added with LK_ABI_MINOR 2. */
    lk_status (*expert_swiglu)(lk_stream* s, const lk_qmatrix* gate, const lk_qmatrix* up,
                               const lk_qmatrix* down, const float* x, float* h_gate, float* h_up,
                               float* y);
};

/* Entry point a backend library exports (the CPU backend is linked in). */
typedef lk_status (*lk_backend_entry_fn)(const lk_host_services* services,
                                         const lk_backend_iface** out);
lk_status lk_cpu_backend(const lk_host_services* services, const lk_backend_iface** out);
/* Exported by liblookahead_cuda.so, looked up with dlsym. */
#define LK_CUDA_BACKEND_ENTRY "lk_cuda_backend"

#ifdef __cplusplus
}
#endif

#endif /* LOOKAHEAD_BACKEND_H */
