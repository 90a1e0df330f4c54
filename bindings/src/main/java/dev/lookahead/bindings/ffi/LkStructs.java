package dev.lookahead.bindings.ffi;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.util.List;

/**
 * Memory layouts of the structs of lookahead.h, with a VarHandle per scalar field.
 *
 * <p>Layouts and fields carry the C names, so {@code LayoutTest} can compare every size, alignment
 * and offset with what the C compiler reports. The header's structs need no padding on LP64
 * (x86-64 Linux): every field already sits at a multiple of its alignment, and Java would reject
 * a layout that needed implicit padding.
 *
 * <p>VarHandles take {@code (MemorySegment struct, long baseOffset)}; pass {@code 0L} as base.
 * Every pointer field of these structs points into device memory and is a long here.
 */
public final class LkStructs {
    private LkStructs() {}

    /** {@code size_t} on LP64. */
    public static final ValueLayout.OfLong SIZE_T = ValueLayout.JAVA_LONG;
    /**
     * A pointer into device memory ({@code const float* q}, {@code const void* codes}, ...): an
     * address in the device's space, never dereferenced on the host, so Java holds it as a long
     * (same size and alignment as a pointer on LP64; {@code LayoutTest} checks).
     */
    public static final ValueLayout.OfLong DEVICE_POINTER = ValueLayout.JAVA_LONG;

    // ---- lk_device_options ------------------------------------------------------------------
    public static final StructLayout DEVICE_OPTIONS = MemoryLayout.structLayout(
            SIZE_T.withName("struct_size"),
            ValueLayout.JAVA_INT.withName("ordinal"),
            ValueLayout.JAVA_INT.withName("threads"),
            SIZE_T.withName("memory_limit"),
            ValueLayout.JAVA_DOUBLE.withName("link_bytes_per_s"))
            .withName("lk_device_options");
    public static final VarHandle DEVICE_OPTIONS_STRUCT_SIZE = field(DEVICE_OPTIONS, "struct_size");
    public static final VarHandle DEVICE_OPTIONS_ORDINAL = field(DEVICE_OPTIONS, "ordinal");
    public static final VarHandle DEVICE_OPTIONS_THREADS = field(DEVICE_OPTIONS, "threads");
    public static final VarHandle DEVICE_OPTIONS_MEMORY_LIMIT = field(DEVICE_OPTIONS, "memory_limit");
    public static final VarHandle DEVICE_OPTIONS_LINK_BYTES_PER_S = field(DEVICE_OPTIONS, "link_bytes_per_s");

    // ---- lk_device_info ---------------------------------------------------------------------
    public static final int DEVICE_INFO_BACKEND_CHARS = 16;
    public static final int DEVICE_INFO_NAME_CHARS = 128;
    public static final StructLayout DEVICE_INFO = MemoryLayout.structLayout(
            SIZE_T.withName("struct_size"),
            MemoryLayout.sequenceLayout(DEVICE_INFO_BACKEND_CHARS, ValueLayout.JAVA_BYTE).withName("backend"),
            MemoryLayout.sequenceLayout(DEVICE_INFO_NAME_CHARS, ValueLayout.JAVA_BYTE).withName("name"),
            SIZE_T.withName("total_memory"),
            SIZE_T.withName("free_memory"),
            ValueLayout.JAVA_INT.withName("cc_major"),
            ValueLayout.JAVA_INT.withName("cc_minor"),
            ValueLayout.JAVA_INT.withName("async_copy_engines"),
            ValueLayout.JAVA_INT.withName("multiprocessors"),
            ValueLayout.JAVA_DOUBLE.withName("link_bytes_per_s"))
            .withName("lk_device_info");
    public static final VarHandle DEVICE_INFO_STRUCT_SIZE = field(DEVICE_INFO, "struct_size");
    public static final long DEVICE_INFO_BACKEND_OFFSET = DEVICE_INFO.byteOffset(groupElement("backend"));
    public static final long DEVICE_INFO_NAME_OFFSET = DEVICE_INFO.byteOffset(groupElement("name"));
    public static final VarHandle DEVICE_INFO_TOTAL_MEMORY = field(DEVICE_INFO, "total_memory");
    public static final VarHandle DEVICE_INFO_FREE_MEMORY = field(DEVICE_INFO, "free_memory");
    public static final VarHandle DEVICE_INFO_CC_MAJOR = field(DEVICE_INFO, "cc_major");
    public static final VarHandle DEVICE_INFO_CC_MINOR = field(DEVICE_INFO, "cc_minor");
    public static final VarHandle DEVICE_INFO_ASYNC_COPY_ENGINES = field(DEVICE_INFO, "async_copy_engines");
    public static final VarHandle DEVICE_INFO_MULTIPROCESSORS = field(DEVICE_INFO, "multiprocessors");
    public static final VarHandle DEVICE_INFO_LINK_BYTES_PER_S = field(DEVICE_INFO, "link_bytes_per_s");

    // ---- quantized packs (only their sizes matter: the codes buffer is plain bytes) ---------
    public static final StructLayout Q4_PACK = pack("lk_q4_pack", 1);
    public static final StructLayout Q3_PACK = pack("lk_q3_pack", 3);
    public static final StructLayout Q2_PACK = pack("lk_q2_pack", 1);

    // ---- lk_qmatrix -------------------------------------------------------------------------
    public static final StructLayout QMATRIX = MemoryLayout.structLayout(
            SIZE_T.withName("struct_size"),
            ValueLayout.JAVA_INT.withName("bits"),
            ValueLayout.JAVA_INT.withName("group_size"),
            ValueLayout.JAVA_LONG.withName("rows"),
            ValueLayout.JAVA_LONG.withName("cols"),
            DEVICE_POINTER.withName("codes"),
            DEVICE_POINTER.withName("scales"),
            DEVICE_POINTER.withName("zeros"))
            .withName("lk_qmatrix");
    public static final VarHandle QMATRIX_STRUCT_SIZE = field(QMATRIX, "struct_size");
    public static final VarHandle QMATRIX_BITS = field(QMATRIX, "bits");
    public static final VarHandle QMATRIX_GROUP_SIZE = field(QMATRIX, "group_size");
    public static final VarHandle QMATRIX_ROWS = field(QMATRIX, "rows");
    public static final VarHandle QMATRIX_COLS = field(QMATRIX, "cols");
    public static final VarHandle QMATRIX_CODES = field(QMATRIX, "codes");
    public static final VarHandle QMATRIX_SCALES = field(QMATRIX, "scales");
    public static final VarHandle QMATRIX_ZEROS = field(QMATRIX, "zeros");

    // ---- lk_router_args ---------------------------------------------------------------------
    public static final StructLayout ROUTER_ARGS = MemoryLayout.structLayout(
            SIZE_T.withName("struct_size"),
            DEVICE_POINTER.withName("logits"),
            ValueLayout.JAVA_LONG.withName("n"),
            ValueLayout.JAVA_INT.withName("n_experts"),
            ValueLayout.JAVA_INT.withName("k"),
            ValueLayout.JAVA_INT.withName("renormalize"),
            ValueLayout.JAVA_INT.withName("reserved"),
            DEVICE_POINTER.withName("probs_out"),
            DEVICE_POINTER.withName("topk_idx"),
            DEVICE_POINTER.withName("topk_weight"))
            .withName("lk_router_args");
    public static final VarHandle ROUTER_ARGS_STRUCT_SIZE = field(ROUTER_ARGS, "struct_size");
    public static final VarHandle ROUTER_ARGS_LOGITS = field(ROUTER_ARGS, "logits");
    public static final VarHandle ROUTER_ARGS_N = field(ROUTER_ARGS, "n");
    public static final VarHandle ROUTER_ARGS_N_EXPERTS = field(ROUTER_ARGS, "n_experts");
    public static final VarHandle ROUTER_ARGS_K = field(ROUTER_ARGS, "k");
    public static final VarHandle ROUTER_ARGS_RENORMALIZE = field(ROUTER_ARGS, "renormalize");
    public static final VarHandle ROUTER_ARGS_RESERVED = field(ROUTER_ARGS, "reserved");
    public static final VarHandle ROUTER_ARGS_PROBS_OUT = field(ROUTER_ARGS, "probs_out");
    public static final VarHandle ROUTER_ARGS_TOPK_IDX = field(ROUTER_ARGS, "topk_idx");
    public static final VarHandle ROUTER_ARGS_TOPK_WEIGHT = field(ROUTER_ARGS, "topk_weight");

    // ---- lk_router_heads_args ---------------------------------------------------------------
    public static final StructLayout ROUTER_HEADS_ARGS = MemoryLayout.structLayout(
            SIZE_T.withName("struct_size"),
            DEVICE_POINTER.withName("x"),
            ValueLayout.JAVA_LONG.withName("hidden"),
            ValueLayout.JAVA_FLOAT.withName("eps"),
            ValueLayout.JAVA_INT.withName("gain_dtype"),
            DEVICE_POINTER.withName("gain"),
            ValueLayout.JAVA_INT.withName("router_dtype"),
            ValueLayout.JAVA_INT.withName("n_experts"),
            DEVICE_POINTER.withName("router"),
            ValueLayout.JAVA_INT.withName("k"),
            ValueLayout.JAVA_INT.withName("renormalize"),
            ValueLayout.JAVA_INT.withName("n_heads"),
            ValueLayout.JAVA_INT.withName("reserved"),
            DEVICE_POINTER.withName("heads"),
            DEVICE_POINTER.withName("heads_bias"),
            DEVICE_POINTER.withName("xn_out"),
            DEVICE_POINTER.withName("out"))
            .withName("lk_router_heads_args");
    public static final VarHandle ROUTER_HEADS_ARGS_STRUCT_SIZE = field(ROUTER_HEADS_ARGS, "struct_size");
    public static final VarHandle ROUTER_HEADS_ARGS_X = field(ROUTER_HEADS_ARGS, "x");
    public static final VarHandle ROUTER_HEADS_ARGS_HIDDEN = field(ROUTER_HEADS_ARGS, "hidden");
    public static final VarHandle ROUTER_HEADS_ARGS_EPS = field(ROUTER_HEADS_ARGS, "eps");
    public static final VarHandle ROUTER_HEADS_ARGS_GAIN_DTYPE = field(ROUTER_HEADS_ARGS, "gain_dtype");
    public static final VarHandle ROUTER_HEADS_ARGS_GAIN = field(ROUTER_HEADS_ARGS, "gain");
    public static final VarHandle ROUTER_HEADS_ARGS_ROUTER_DTYPE = field(ROUTER_HEADS_ARGS, "router_dtype");
    public static final VarHandle ROUTER_HEADS_ARGS_N_EXPERTS = field(ROUTER_HEADS_ARGS, "n_experts");
    public static final VarHandle ROUTER_HEADS_ARGS_ROUTER = field(ROUTER_HEADS_ARGS, "router");
    public static final VarHandle ROUTER_HEADS_ARGS_K = field(ROUTER_HEADS_ARGS, "k");
    public static final VarHandle ROUTER_HEADS_ARGS_RENORMALIZE = field(ROUTER_HEADS_ARGS, "renormalize");
    public static final VarHandle ROUTER_HEADS_ARGS_N_HEADS = field(ROUTER_HEADS_ARGS, "n_heads");
    public static final VarHandle ROUTER_HEADS_ARGS_RESERVED = field(ROUTER_HEADS_ARGS, "reserved");
    public static final VarHandle ROUTER_HEADS_ARGS_HEADS = field(ROUTER_HEADS_ARGS, "heads");
    public static final VarHandle ROUTER_HEADS_ARGS_HEADS_BIAS = field(ROUTER_HEADS_ARGS, "heads_bias");
    public static final VarHandle ROUTER_HEADS_ARGS_XN_OUT = field(ROUTER_HEADS_ARGS, "xn_out");
    public static final VarHandle ROUTER_HEADS_ARGS_OUT = field(ROUTER_HEADS_ARGS, "out");

    // ---- lk_attention_args ------------------------------------------------------------------
    public static final StructLayout ATTENTION_ARGS = MemoryLayout.structLayout(
            SIZE_T.withName("struct_size"),
            DEVICE_POINTER.withName("q"),
            DEVICE_POINTER.withName("k_cache"),
            DEVICE_POINTER.withName("v_cache"),
            DEVICE_POINTER.withName("out"),
            ValueLayout.JAVA_LONG.withName("n_tokens"),
            ValueLayout.JAVA_LONG.withName("pos"),
            ValueLayout.JAVA_LONG.withName("ctx_capacity"),
            ValueLayout.JAVA_INT.withName("n_heads"),
            ValueLayout.JAVA_INT.withName("n_kv_heads"),
            ValueLayout.JAVA_INT.withName("head_dim"),
            ValueLayout.JAVA_INT.withName("window"),
            ValueLayout.JAVA_INT.withName("kv_dtype"),
            ValueLayout.JAVA_FLOAT.withName("scale"))
            .withName("lk_attention_args");
    public static final VarHandle ATTENTION_ARGS_STRUCT_SIZE = field(ATTENTION_ARGS, "struct_size");
    public static final VarHandle ATTENTION_ARGS_Q = field(ATTENTION_ARGS, "q");
    public static final VarHandle ATTENTION_ARGS_K_CACHE = field(ATTENTION_ARGS, "k_cache");
    public static final VarHandle ATTENTION_ARGS_V_CACHE = field(ATTENTION_ARGS, "v_cache");
    public static final VarHandle ATTENTION_ARGS_OUT = field(ATTENTION_ARGS, "out");
    public static final VarHandle ATTENTION_ARGS_N_TOKENS = field(ATTENTION_ARGS, "n_tokens");
    public static final VarHandle ATTENTION_ARGS_POS = field(ATTENTION_ARGS, "pos");
    public static final VarHandle ATTENTION_ARGS_CTX_CAPACITY = field(ATTENTION_ARGS, "ctx_capacity");
    public static final VarHandle ATTENTION_ARGS_N_HEADS = field(ATTENTION_ARGS, "n_heads");
    public static final VarHandle ATTENTION_ARGS_N_KV_HEADS = field(ATTENTION_ARGS, "n_kv_heads");
    public static final VarHandle ATTENTION_ARGS_HEAD_DIM = field(ATTENTION_ARGS, "head_dim");
    public static final VarHandle ATTENTION_ARGS_WINDOW = field(ATTENTION_ARGS, "window");
    public static final VarHandle ATTENTION_ARGS_KV_DTYPE = field(ATTENTION_ARGS, "kv_dtype");
    public static final VarHandle ATTENTION_ARGS_SCALE = field(ATTENTION_ARGS, "scale");

    /** Every struct layout of the header, by C name (what the layout dump prints). */
    public static final List<StructLayout> ALL = List.of(
            DEVICE_OPTIONS, DEVICE_INFO, Q4_PACK, Q3_PACK, Q2_PACK, QMATRIX, ROUTER_ARGS, ROUTER_HEADS_ARGS,
            ATTENTION_ARGS);

    private static VarHandle field(StructLayout struct, String name) {
        return struct.varHandle(groupElement(name));
    }

    private static StructLayout pack(String name, int bytes) {
        return MemoryLayout.structLayout(
                MemoryLayout.sequenceLayout(bytes, ValueLayout.JAVA_BYTE).withName("b")).withName(name);
    }
}
