/*
 * cpu_internal.h — what the CPU backend's runtime (cpu_runtime.c: device, arena,
 * buffers, streams, events, copies, thread pool) offers its ops (cpu_ops_*.c).
 *
 * Execution model: every stream is a worker thread with a FIFO queue. An op
 * validates nothing (the dispatcher did), copies its arguments into a task and
 * enqueues it; the stream's worker runs tasks in order. Compute tasks split their
 * work over the device's thread pool with lk_cpu_parallel_for.
 */
#ifndef LOOKAHEAD_CPU_INTERNAL_H
#define LOOKAHEAD_CPU_INTERNAL_H

#include "../backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lk_cpu_pool lk_cpu_pool;

/* A task body: runs on the stream's worker thread. `args` points at the copy of
 * the argument block made at enqueue time. Returns LK_OK or an error status after
 * calling lk_cpu_services()->set_error; an error becomes the stream's sticky error
 * and later tasks of that stream are skipped until it is reported. */
typedef lk_status (*lk_cpu_task_fn)(lk_cpu_pool* pool, void* args);

/* Copies `args_size` bytes of `args` and enqueues fn(pool, copy) on the stream. */
lk_status lk_cpu_enqueue(lk_stream* stream, lk_cpu_task_fn fn, const void* args, size_t args_size);

/* Runs body(ctx, begin, end) over [0, n) split in contiguous chunks of at least
 * `grain` items across the pool's threads (the caller takes part); returns when
 * all chunks are done. Only called from tasks. */
typedef void (*lk_cpu_range_fn)(void* ctx, int64_t begin, int64_t end);
void lk_cpu_parallel_for(lk_cpu_pool* pool, int64_t n, int64_t grain, lk_cpu_range_fn body, void* ctx);
int lk_cpu_pool_threads(const lk_cpu_pool* pool);

/* The dispatcher's services (set_error), stored at backend registration. */
const lk_host_services* lk_cpu_services(void);

/* Op entry points of the CPU backend (cpu_ops_*.c), with the signatures of the
 * matching lk_backend_iface members. */
lk_status lk_cpu_embedding(lk_stream* s, lk_dtype table_dtype, const void* table, int64_t vocab,
                           int64_t dim, const int32_t* ids, int64_t n, float* out);
lk_status lk_cpu_rmsnorm(lk_stream* s, const float* x, lk_dtype weight_dtype, const void* weight,
                         int64_t n, int64_t dim, float eps, float* out);
lk_status lk_cpu_rope(lk_stream* s, float* x, int64_t n, int32_t n_heads, int32_t head_dim,
                      int64_t pos0, float theta);
lk_status lk_cpu_matmul(lk_stream* s, lk_dtype w_dtype, const void* w, const float* x, int64_t n,
                        int64_t rows, int64_t cols, float* y);
lk_status lk_cpu_qmatvec(lk_stream* s, const lk_qmatrix* w, const float* x, float* y);
lk_status lk_cpu_qmatmul(lk_stream* s, const lk_qmatrix* w, const float* x, int64_t n, float* y);
lk_status lk_cpu_swiglu(lk_stream* s, const float* gate, const float* up, int64_t n, float* out);
lk_status lk_cpu_expert_swiglu(lk_stream* s, const lk_qmatrix* gate, const lk_qmatrix* up,
                               const lk_qmatrix* down, const float* x, float* h_gate, float* h_up,
                               float* y);
lk_status lk_cpu_add(lk_stream* s, float* y, const float* x, int64_t n);
lk_status lk_cpu_gather_rows(lk_stream* s, const float* src, const int32_t* idx, int64_t m,
                             int64_t dim, float* dst);
lk_status lk_cpu_scatter_add_rows(lk_stream* s, float* dst, const float* src, const int32_t* idx,
                                  const float* weight, int64_t m, int64_t dim);
lk_status lk_cpu_convert(lk_stream* s, lk_dtype src_dtype, const void* src, lk_dtype dst_dtype,
                         void* dst, int64_t n);
lk_status lk_cpu_router_topk(lk_stream* s, const lk_router_args* args);
lk_status lk_cpu_attention(lk_stream* s, const lk_attention_args* args);
lk_status lk_cpu_router_heads(lk_stream* s, const lk_router_heads_args* args);

#ifdef __cplusplus
}
#endif

#endif /* LOOKAHEAD_CPU_INTERNAL_H */
