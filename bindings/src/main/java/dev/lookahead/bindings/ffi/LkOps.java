package dev.lookahead.bindings.ffi;

import static dev.lookahead.bindings.ffi.NativeLibrary.rethrow;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Section "ops" of lookahead.h. Every op is enqueued on a stream; {@code lk_dtype} is an int
 * ({@link LkCore#LK_F32} ...), {@code int64_t}/{@code size_t} are longs.
 *
 * <p>Tensor pointers ({@code const float* x}, {@code const void* w}, ...) point into device memory
 * and are passed as {@code long} device addresses, 0 for NULL (see {@link LkMemory}): no object per
 * argument on the decode path. Handles and argument structs are host memory (MemorySegment).
 */
public final class LkOps {
    /** A device address in an argument list: a 64-bit integer, passed like a pointer on LP64. */
    private static final ValueLayout.OfLong DEVICE_PTR = JAVA_LONG;

    private final MethodHandle qmatrixCodeBytes;
    private final MethodHandle embedding;
    private final MethodHandle rmsnorm;
    private final MethodHandle rope;
    private final MethodHandle matmul;
    private final MethodHandle qmatvec;
    private final MethodHandle qmatmul;
    private final MethodHandle expertSwiglu;
    private final MethodHandle swiglu;
    private final MethodHandle add;
    private final MethodHandle gatherRows;
    private final MethodHandle scatterAddRows;
    private final MethodHandle convert;
    private final MethodHandle routerTopk;
    private final MethodHandle attention;
    private final MethodHandle routerHeads;

    LkOps(NativeLibrary lib) {
        qmatrixCodeBytes = lib.downcall("lk_qmatrix_code_bytes", JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG);
        embedding = lib.downcall("lk_embedding", JAVA_INT,
                ADDRESS, JAVA_INT, DEVICE_PTR, JAVA_LONG, JAVA_LONG, DEVICE_PTR, JAVA_LONG, DEVICE_PTR);
        rmsnorm = lib.downcall("lk_rmsnorm", JAVA_INT,
                ADDRESS, DEVICE_PTR, JAVA_INT, DEVICE_PTR, JAVA_LONG, JAVA_LONG, JAVA_FLOAT, DEVICE_PTR);
        rope = lib.downcall("lk_rope", JAVA_INT,
                ADDRESS, DEVICE_PTR, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_FLOAT);
        matmul = lib.downcall("lk_matmul", JAVA_INT,
                ADDRESS, JAVA_INT, DEVICE_PTR, DEVICE_PTR, JAVA_LONG, JAVA_LONG, JAVA_LONG, DEVICE_PTR);
        qmatvec = lib.downcall("lk_qmatvec", JAVA_INT, ADDRESS, ADDRESS, DEVICE_PTR, DEVICE_PTR);
        qmatmul = lib.downcall("lk_qmatmul", JAVA_INT, ADDRESS, ADDRESS, DEVICE_PTR, JAVA_LONG, DEVICE_PTR);
        expertSwiglu = lib.downcall("lk_expert_swiglu", JAVA_INT,
                ADDRESS, ADDRESS, ADDRESS, ADDRESS, DEVICE_PTR, DEVICE_PTR, DEVICE_PTR, DEVICE_PTR);
        swiglu = lib.downcall("lk_swiglu", JAVA_INT, ADDRESS, DEVICE_PTR, DEVICE_PTR, JAVA_LONG, DEVICE_PTR);
        add = lib.downcall("lk_add", JAVA_INT, ADDRESS, DEVICE_PTR, DEVICE_PTR, JAVA_LONG);
        gatherRows = lib.downcall("lk_gather_rows", JAVA_INT,
                ADDRESS, DEVICE_PTR, DEVICE_PTR, JAVA_LONG, JAVA_LONG, DEVICE_PTR);
        scatterAddRows = lib.downcall("lk_scatter_add_rows", JAVA_INT,
                ADDRESS, DEVICE_PTR, DEVICE_PTR, DEVICE_PTR, DEVICE_PTR, JAVA_LONG, JAVA_LONG);
        convert = lib.downcall("lk_convert", JAVA_INT,
                ADDRESS, JAVA_INT, DEVICE_PTR, JAVA_INT, DEVICE_PTR, JAVA_LONG);
        routerTopk = lib.downcall("lk_router_topk", JAVA_INT, ADDRESS, ADDRESS);
        attention = lib.downcall("lk_attention", JAVA_INT, ADDRESS, ADDRESS);
        routerHeads = lib.downcall("lk_router_heads", JAVA_INT, ADDRESS, ADDRESS);
    }

    /** {@code size_t lk_qmatrix_code_bytes(int32_t bits, int32_t group_size, int64_t rows, int64_t cols)}. */
    public long lk_qmatrix_code_bytes(int bits, int groupSize, long rows, long cols) {
        try {
            return (long) qmatrixCodeBytes.invokeExact(bits, groupSize, rows, cols);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_embedding(stream, table_dtype, table, vocab, dim, ids, n, out)}. */
    public int lk_embedding(MemorySegment stream, int tableDtype, long table, long vocab, long dim, long ids, long n,
                            long out) {
        try {
            return (int) embedding.invokeExact(stream, tableDtype, table, vocab, dim, ids, n, out);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_rmsnorm(stream, x, weight_dtype, weight, n, dim, eps, out)}. */
    public int lk_rmsnorm(MemorySegment stream, long x, int weightDtype, long weight, long n, long dim, float eps,
                          long out) {
        try {
            return (int) rmsnorm.invokeExact(stream, x, weightDtype, weight, n, dim, eps, out);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_rope(stream, x, n, n_heads, head_dim, pos0, theta)}. */
    public int lk_rope(MemorySegment stream, long x, long n, int nHeads, int headDim, long pos0, float theta) {
        try {
            return (int) rope.invokeExact(stream, x, n, nHeads, headDim, pos0, theta);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_matmul(stream, w_dtype, w, x, n, rows, cols, y)}. */
    public int lk_matmul(MemorySegment stream, int wDtype, long w, long x, long n, long rows, long cols, long y) {
        try {
            return (int) matmul.invokeExact(stream, wDtype, w, x, n, rows, cols, y);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_qmatvec(stream, const lk_qmatrix* w, x, y)}. */
    public int lk_qmatvec(MemorySegment stream, MemorySegment w, long x, long y) {
        try {
            return (int) qmatvec.invokeExact(stream, w, x, y);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_qmatmul(stream, const lk_qmatrix* w, x, n, y)}. */
    public int lk_qmatmul(MemorySegment stream, MemorySegment w, long x, long n, long y) {
        try {
            return (int) qmatmul.invokeExact(stream, w, x, n, y);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_expert_swiglu(stream, const lk_qmatrix* gate, *up, *down, x, h_gate, h_up, y)}. */
    public int lk_expert_swiglu(MemorySegment stream, MemorySegment gate, MemorySegment up, MemorySegment down,
                                long x, long hGate, long hUp, long y) {
        try {
            return (int) expertSwiglu.invokeExact(stream, gate, up, down, x, hGate, hUp, y);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_swiglu(stream, gate, up, n, out)}. */
    public int lk_swiglu(MemorySegment stream, long gate, long up, long n, long out) {
        try {
            return (int) swiglu.invokeExact(stream, gate, up, n, out);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_add(stream, y, x, n)}: y += x. */
    public int lk_add(MemorySegment stream, long y, long x, long n) {
        try {
            return (int) add.invokeExact(stream, y, x, n);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_gather_rows(stream, src, idx, m, dim, dst)}. */
    public int lk_gather_rows(MemorySegment stream, long src, long idx, long m, long dim, long dst) {
        try {
            return (int) gatherRows.invokeExact(stream, src, idx, m, dim, dst);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_scatter_add_rows(stream, dst, src, idx or 0 (NULL), weight or 0 (NULL), m, dim)}. */
    public int lk_scatter_add_rows(MemorySegment stream, long dst, long src, long idx, long weight, long m,
                                   long dim) {
        try {
            return (int) scatterAddRows.invokeExact(stream, dst, src, idx, weight, m, dim);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_convert(stream, src_dtype, src, dst_dtype, dst, n)}. */
    public int lk_convert(MemorySegment stream, int srcDtype, long src, int dstDtype, long dst, long n) {
        try {
            return (int) convert.invokeExact(stream, srcDtype, src, dstDtype, dst, n);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_router_topk(stream, const lk_router_args*)}. */
    public int lk_router_topk(MemorySegment stream, MemorySegment args) {
        try {
            return (int) routerTopk.invokeExact(stream, args);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_router_heads(stream, const lk_router_heads_args*)}. */
    public int lk_router_heads(MemorySegment stream, MemorySegment args) {
        try {
            return (int) routerHeads.invokeExact(stream, args);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_attention(stream, const lk_attention_args*)}. */
    public int lk_attention(MemorySegment stream, MemorySegment args) {
        try {
            return (int) attention.invokeExact(stream, args);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
}
