/*
 * layout_dump.c — prints the layout of every struct of lookahead.h as the C
 * compiler sees it, for the Java layout test to compare with its MemoryLayouts:
 *   size <struct> <bytes>
 *   align <struct> <bytes>
 *   offset <struct>.<field> <bytes>
 */
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>

#include "lookahead.h"

#define STRUCT(type)                                               \
    printf("size %s %zu\n", #type, sizeof(type));                  \
    printf("align %s %zu\n", #type, (size_t)alignof(type))
#define FIELD(type, field) printf("offset %s.%s %zu\n", #type, #field, offsetof(type, field))

int main(void) {
    STRUCT(lk_device_options);
    FIELD(lk_device_options, struct_size);
    FIELD(lk_device_options, ordinal);
    FIELD(lk_device_options, threads);
    FIELD(lk_device_options, memory_limit);
    FIELD(lk_device_options, link_bytes_per_s);

    STRUCT(lk_device_info);
    FIELD(lk_device_info, struct_size);
    FIELD(lk_device_info, backend);
    FIELD(lk_device_info, name);
    FIELD(lk_device_info, total_memory);
    FIELD(lk_device_info, free_memory);
    FIELD(lk_device_info, cc_major);
    FIELD(lk_device_info, cc_minor);
    FIELD(lk_device_info, async_copy_engines);
    FIELD(lk_device_info, multiprocessors);
    FIELD(lk_device_info, link_bytes_per_s);

    STRUCT(lk_qmatrix);
    FIELD(lk_qmatrix, struct_size);
    FIELD(lk_qmatrix, bits);
    FIELD(lk_qmatrix, group_size);
    FIELD(lk_qmatrix, rows);
    FIELD(lk_qmatrix, cols);
    FIELD(lk_qmatrix, codes);
    FIELD(lk_qmatrix, scales);
    FIELD(lk_qmatrix, zeros);

    STRUCT(lk_router_args);
    FIELD(lk_router_args, struct_size);
    FIELD(lk_router_args, logits);
    FIELD(lk_router_args, n);
    FIELD(lk_router_args, n_experts);
    FIELD(lk_router_args, k);
    FIELD(lk_router_args, renormalize);
    FIELD(lk_router_args, reserved);
    FIELD(lk_router_args, probs_out);
    FIELD(lk_router_args, topk_idx);
    FIELD(lk_router_args, topk_weight);

    STRUCT(lk_router_heads_args);
    FIELD(lk_router_heads_args, struct_size);
    FIELD(lk_router_heads_args, x);
    FIELD(lk_router_heads_args, hidden);
    FIELD(lk_router_heads_args, eps);
    FIELD(lk_router_heads_args, gain_dtype);
    FIELD(lk_router_heads_args, gain);
    FIELD(lk_router_heads_args, router_dtype);
    FIELD(lk_router_heads_args, n_experts);
    FIELD(lk_router_heads_args, router);
    FIELD(lk_router_heads_args, k);
    FIELD(lk_router_heads_args, renormalize);
    FIELD(lk_router_heads_args, n_heads);
    FIELD(lk_router_heads_args, reserved);
    FIELD(lk_router_heads_args, heads);
    FIELD(lk_router_heads_args, heads_bias);
    FIELD(lk_router_heads_args, xn_out);
    FIELD(lk_router_heads_args, out);

    STRUCT(lk_attention_args);
    FIELD(lk_attention_args, struct_size);
    FIELD(lk_attention_args, q);
    FIELD(lk_attention_args, k_cache);
    FIELD(lk_attention_args, v_cache);
    FIELD(lk_attention_args, out);
    FIELD(lk_attention_args, n_tokens);
    FIELD(lk_attention_args, pos);
    FIELD(lk_attention_args, ctx_capacity);
    FIELD(lk_attention_args, n_heads);
    FIELD(lk_attention_args, n_kv_heads);
    FIELD(lk_attention_args, head_dim);
    FIELD(lk_attention_args, window);
    FIELD(lk_attention_args, kv_dtype);
    FIELD(lk_attention_args, scale);

    STRUCT(lk_q4_pack);
    FIELD(lk_q4_pack, b);
    STRUCT(lk_q3_pack);
    FIELD(lk_q3_pack, b);
    STRUCT(lk_q2_pack);
    FIELD(lk_q2_pack, b);
    return 0;
}
