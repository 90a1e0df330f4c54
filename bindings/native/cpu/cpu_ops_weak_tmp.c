/*
 * cpu_ops_weak_tmp.c — TEMPORARY placeholders so liblookahead.so links before the
 * CPU ops (cpu_ops_*.c, branch h-cpu-ops) exist. Weak: the real definitions win.
 * Every placeholder fails with LK_ERR_UNSUPPORTED. Delete this file at merge.
 */
#include "cpu_internal.h"

#define NOT_YET(op) lk_cpu_services()->set_error(LK_ERR_UNSUPPORTED, op ": not implemented yet")

__attribute__((weak)) lk_status lk_cpu_embedding(lk_stream* s, lk_dtype table_dtype,
                                                 const void* table, int64_t vocab, int64_t dim,
                                                 const int32_t* ids, int64_t n, float* out) {
    return NOT_YET("lk_embedding");
}
__attribute__((weak)) lk_status lk_cpu_rmsnorm(lk_stream* s, const float* x, lk_dtype weight_dtype,
                                               const void* weight, int64_t n, int64_t dim,
                                               float eps, float* out) {
    return NOT_YET("lk_rmsnorm");
}
__attribute__((weak)) lk_status lk_cpu_rope(lk_stream* s, float* x, int64_t n, int32_t n_heads,
                                            int32_t head_dim, int64_t pos0, float theta) {
    return NOT_YET("lk_rope");
}
__attribute__((weak)) lk_status lk_cpu_matmul(lk_stream* s, lk_dtype w_dtype, const void* w,
                                              const float* x, int64_t n, int64_t rows,
                                              int64_t cols, float* y) {
    return NOT_YET("lk_matmul");
}
__attribute__((weak)) lk_status lk_cpu_qmatvec(lk_stream* s, const lk_qmatrix* w, const float* x,
                                               float* y) {
    return NOT_YET("lk_qmatvec");
}
__attribute__((weak)) lk_status lk_cpu_qmatmul(lk_stream* s, const lk_qmatrix* w, const float* x,
                                               int64_t n, float* y) {
    return NOT_YET("lk_qmatmul");
}
__attribute__((weak)) lk_status lk_cpu_swiglu(lk_stream* s, const float* gate, const float* up,
                                              int64_t n, float* out) {
    return NOT_YET("lk_swiglu");
}
__attribute__((weak)) lk_status lk_cpu_add(lk_stream* s, float* y, const float* x, int64_t n) {
    return NOT_YET("lk_add");
}
__attribute__((weak)) lk_status lk_cpu_gather_rows(lk_stream* s, const float* src,
                                                   const int32_t* idx, int64_t m, int64_t dim,
                                                   float* dst) {
    return NOT_YET("lk_gather_rows");
}
__attribute__((weak)) lk_status lk_cpu_scatter_add_rows(lk_stream* s, float* dst, const float* src,
                                                        const int32_t* idx, const float* weight,
                                                        int64_t m, int64_t dim) {
    return NOT_YET("lk_scatter_add_rows");
}
__attribute__((weak)) lk_status lk_cpu_convert(lk_stream* s, lk_dtype src_dtype, const void* src,
                                               lk_dtype dst_dtype, void* dst, int64_t n) {
    return NOT_YET("lk_convert");
}
__attribute__((weak)) lk_status lk_cpu_router_topk(lk_stream* s, const lk_router_args* args) {
    return NOT_YET("lk_router_topk");
}
__attribute__((weak)) lk_status lk_cpu_attention(lk_stream* s, const lk_attention_args* args) {
    return NOT_YET("lk_attention");
}
