package dev.lookahead.bindings.ffi;

import static dev.lookahead.bindings.ffi.NativeLibrary.rethrow;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * Section "ops" of lookahead.h. Every op is enqueued on a stream; {@code lk_dtype} is an int
 * ({@link LkCore#LK_F32} ...), {@code int64_t}/{@code size_t} are longs, pointers MemorySegments.
 */
public final class LkOps {
    private final MethodHandle qmatrixCodeBytes;
    private final MethodHandle embedding;
    private final MethodHandle rmsnorm;
    private final MethodHandle rope;
    private final MethodHandle matmul;
    private final MethodHandle qmatvec;
    private final MethodHandle qmatmul;
    private final MethodHandle swiglu;
    private final MethodHandle add;
    private final MethodHandle gatherRows;
    private final MethodHandle scatterAddRows;
    private final MethodHandle convert;
    private final MethodHandle routerTopk;
    private final MethodHandle attention;

    LkOps(NativeLibrary lib) {
        qmatrixCodeBytes = lib.downcall("lk_qmatrix_code_bytes", JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG);
        embedding = lib.downcall("lk_embedding", JAVA_INT,
                ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS);
        rmsnorm = lib.downcall("lk_rmsnorm", JAVA_INT,
                ADDRESS, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG, JAVA_FLOAT, ADDRESS);
        rope = lib.downcall("lk_rope", JAVA_INT,
                ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_FLOAT);
        matmul = lib.downcall("lk_matmul", JAVA_INT,
                ADDRESS, JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS);
        qmatvec = lib.downcall("lk_qmatvec", JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS);
        qmatmul = lib.downcall("lk_qmatmul", JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS);
        swiglu = lib.downcall("lk_swiglu", JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS);
        add = lib.downcall("lk_add", JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG);
        gatherRows = lib.downcall("lk_gather_rows", JAVA_INT,
                ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS);
        scatterAddRows = lib.downcall("lk_scatter_add_rows", JAVA_INT,
                ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, JAVA_LONG);
        convert = lib.downcall("lk_convert", JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG);
        routerTopk = lib.downcall("lk_router_topk", JAVA_INT, ADDRESS, ADDRESS);
        attention = lib.downcall("lk_attention", JAVA_INT, ADDRESS, ADDRESS);
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
    public int lk_embedding(MemorySegment stream, int tableDtype, MemorySegment table, long vocab, long dim,
                            MemorySegment ids, long n, MemorySegment out) {
        try {
            return (int) embedding.invokeExact(stream, tableDtype, table, vocab, dim, ids, n, out);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_rmsnorm(stream, x, weight_dtype, weight, n, dim, eps, out)}. */
    public int lk_rmsnorm(MemorySegment stream, MemorySegment x, int weightDtype, MemorySegment weight,
                          long n, long dim, float eps, MemorySegment out) {
        try {
            return (int) rmsnorm.invokeExact(stream, x, weightDtype, weight, n, dim, eps, out);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_rope(stream, x, n, n_heads, head_dim, pos0, theta)}. */
    public int lk_rope(MemorySegment stream, MemorySegment x, long n, int nHeads, int headDim, long pos0,
                       float theta) {
        try {
            return (int) rope.invokeExact(stream, x, n, nHeads, headDim, pos0, theta);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_matmul(stream, w_dtype, w, x, n, rows, cols, y)}. */
    public int lk_matmul(MemorySegment stream, int wDtype, MemorySegment w, MemorySegment x, long n, long rows,
                         long cols, MemorySegment y) {
        try {
            return (int) matmul.invokeExact(stream, wDtype, w, x, n, rows, cols, y);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_qmatvec(stream, const lk_qmatrix* w, x, y)}. */
    public int lk_qmatvec(MemorySegment stream, MemorySegment w, MemorySegment x, MemorySegment y) {
        try {
            return (int) qmatvec.invokeExact(stream, w, x, y);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_qmatmul(stream, const lk_qmatrix* w, x, n, y)}. */
    public int lk_qmatmul(MemorySegment stream, MemorySegment w, MemorySegment x, long n, MemorySegment y) {
        try {
            return (int) qmatmul.invokeExact(stream, w, x, n, y);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_swiglu(stream, gate, up, n, out)}. */
    public int lk_swiglu(MemorySegment stream, MemorySegment gate, MemorySegment up, long n, MemorySegment out) {
        try {
            return (int) swiglu.invokeExact(stream, gate, up, n, out);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_add(stream, y, x, n)}: y += x. */
    public int lk_add(MemorySegment stream, MemorySegment y, MemorySegment x, long n) {
        try {
            return (int) add.invokeExact(stream, y, x, n);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_gather_rows(stream, src, idx, m, dim, dst)}. */
    public int lk_gather_rows(MemorySegment stream, MemorySegment src, MemorySegment idx, long m, long dim,
                              MemorySegment dst) {
        try {
            return (int) gatherRows.invokeExact(stream, src, idx, m, dim, dst);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_scatter_add_rows(stream, dst, src, idx or NULL, weight or NULL, m, dim)}. */
    public int lk_scatter_add_rows(MemorySegment stream, MemorySegment dst, MemorySegment src, MemorySegment idx,
                                   MemorySegment weight, long m, long dim) {
        try {
            return (int) scatterAddRows.invokeExact(stream, dst, src, idx, weight, m, dim);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_convert(stream, src_dtype, src, dst_dtype, dst, n)}. */
    public int lk_convert(MemorySegment stream, int srcDtype, MemorySegment src, int dstDtype, MemorySegment dst,
                          long n) {
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

    /** {@code lk_attention(stream, const lk_attention_args*)}. */
    public int lk_attention(MemorySegment stream, MemorySegment args) {
        try {
            return (int) attention.invokeExact(stream, args);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
}
