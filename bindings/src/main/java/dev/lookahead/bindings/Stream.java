package dev.lookahead.bindings;

import static dev.lookahead.bindings.ffi.LkStructs.ATTENTION_ARGS;
import static dev.lookahead.bindings.ffi.LkStructs.QMATRIX;
import static dev.lookahead.bindings.ffi.LkStructs.ROUTER_ARGS;
import static dev.lookahead.bindings.ffi.LkStructs.ROUTER_HEADS_ARGS;

import dev.lookahead.bindings.ffi.LkMemory;
import dev.lookahead.bindings.ffi.LkOps;
import dev.lookahead.bindings.ffi.LkStructs;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * An in-order queue of copies and ops on a device ({@code lk_stream}).
 *
 * <p>Every method checks its arguments before it calls native code: handles open and of this
 * device, slices large enough for the shape and dtype, aligned to their element size, and every
 * rule of lookahead.h; a violation throws IllegalArgumentException (IllegalStateException for
 * closed handles, NullPointerException for a missing argument) and nothing is enqueued. A non-OK
 * status becomes a {@link LookaheadNativeException}. Errors raised while the work executes are
 * sticky on the stream and reported by {@link #synchronize()}.
 *
 * <p>What Java cannot check: index values that live in device memory ({@code ids}, {@code idx}).
 * Embedding ids are range-checked natively (vocab is known); gather/scatter indices are not, since
 * the ABI has no row count for their tables: callers must produce indices within bounds, and
 * distinct ones for {@link #scatterAddRows}.
 *
 * <p>Asynchrony: methods return once the work is enqueued. Host memory passed to copies must be a
 * native segment (a {@link PinnedBuffer}'s or an arena's) that the caller keeps alive, and does not
 * touch, until the stream is synchronized. Device buffers likewise must stay open until then.
 *
 * <p>Thread-safety: methods are synchronized on the stream, because ops reuse one native argument
 * struct per stream (no allocation per call on the decode path). Uncontended, that costs little;
 * a stream is meant to be fed by one thread anyway.
 */
public final class Stream implements AutoCloseable {
    private static final int F32 = 4;
    private static final int I32 = 4;

    private final Device device;
    private final LkMemory mem;
    private final LkOps ops;
    private final MemorySegment handle;
    private final Arena arena;
    private final MemorySegment qmatrixArgs;   // lk_qmatrix, reused by qmatvec / qmatmul; expertSwiglu's gate
    private final MemorySegment upArgs;        // lk_qmatrix, expertSwiglu's up
    private final MemorySegment downArgs;      // lk_qmatrix, expertSwiglu's down
    private final MemorySegment routerArgs;    // lk_router_args
    private final MemorySegment attentionArgs; // lk_attention_args
    private final MemorySegment routerHeadsArgs; // lk_router_heads_args
    private volatile boolean closed;

    Stream(Device device, MemorySegment handle) {
        this.device = device;
        this.mem = device.lib().memory();
        this.ops = device.lib().ops();
        this.handle = handle;
        this.arena = Arena.ofShared();
        this.qmatrixArgs = arena.allocate(QMATRIX);
        this.upArgs = arena.allocate(QMATRIX);
        this.downArgs = arena.allocate(QMATRIX);
        this.routerArgs = arena.allocate(ROUTER_ARGS);
        this.attentionArgs = arena.allocate(ATTENTION_ARGS);
        this.routerHeadsArgs = arena.allocate(ROUTER_HEADS_ARGS);
        LkStructs.QMATRIX_STRUCT_SIZE.set(qmatrixArgs, 0L, QMATRIX.byteSize());
        LkStructs.QMATRIX_STRUCT_SIZE.set(upArgs, 0L, QMATRIX.byteSize());
        LkStructs.QMATRIX_STRUCT_SIZE.set(downArgs, 0L, QMATRIX.byteSize());
        LkStructs.ROUTER_ARGS_STRUCT_SIZE.set(routerArgs, 0L, ROUTER_ARGS.byteSize());
        LkStructs.ATTENTION_ARGS_STRUCT_SIZE.set(attentionArgs, 0L, ATTENTION_ARGS.byteSize());
        LkStructs.ROUTER_HEADS_ARGS_STRUCT_SIZE.set(routerHeadsArgs, 0L, ROUTER_HEADS_ARGS.byteSize());
    }

    public Device device() {
        return device;
    }

    public boolean isOpen() {
        return !closed;
    }

    // ==== synchronization ======================================================================

    /** Blocks until all enqueued work is done; throws the stream's sticky error, if any. */
    public synchronized void synchronize() {
        requireOpen("synchronize");
        device.check(mem.lk_stream_synchronize(handle), "lk_stream_synchronize");
    }

    /** Later work on this stream waits until {@code event}'s recorded work is done. */
    public synchronized void waitEvent(Event event) {
        requireOpen("waitEvent");
        Objects.requireNonNull(event, "waitEvent: event");
        device.check(mem.lk_stream_wait_event(handle, event.handleFor(device, "waitEvent: event")),
                "lk_stream_wait_event");
    }

    // ==== copies ===============================================================================

    /**
     * Enqueues a copy of all of {@code src} (host, native segment) into {@code dst}, which must have
     * the same size. Keep {@code src} alive and unchanged until the stream is synchronized.
     */
    public synchronized void copyToDevice(MemorySegment src, DeviceSlice dst) {
        String op = "copyToDevice";
        requireOpen(op);
        hostSegment(op, "src", src, false);
        long bytes = src.byteSize();
        long d = ptr(op, "dst", dst, bytes, 1);
        requireSameSize(op, bytes, dst.bytes());
        if (bytes > 0) {
            device.check(mem.lk_copy_h2d(handle, d, src, bytes), "lk_copy_h2d");
        }
    }

    /**
     * Enqueues a copy of {@code src} into all of {@code dst} (host, native, writable segment of the
     * same size). Read {@code dst} only after the stream is synchronized.
     */
    public synchronized void copyToHost(DeviceSlice src, MemorySegment dst) {
        String op = "copyToHost";
        requireOpen(op);
        hostSegment(op, "dst", dst, true);
        long bytes = dst.byteSize();
        long s = ptr(op, "src", src, bytes, 1);
        requireSameSize(op, src.bytes(), bytes);
        if (bytes > 0) {
            device.check(mem.lk_copy_d2h(handle, dst, s, bytes), "lk_copy_d2h");
        }
    }

    /** Enqueues a device-to-device copy between two disjoint slices of the same size. */
    public synchronized void copy(DeviceSlice src, DeviceSlice dst) {
        String op = "copy";
        requireOpen(op);
        Objects.requireNonNull(src, "copy: src");
        long bytes = src.bytes();
        long s = ptr(op, "src", src, bytes, 1);
        long d = ptr(op, "dst", dst, bytes, 1);
        requireSameSize(op, bytes, dst.bytes());
        requireDisjoint(op, "dst", dst, bytes, "src", src, bytes);
        if (bytes > 0) {
            device.check(mem.lk_copy_d2d(handle, d, s, bytes), "lk_copy_d2d");
        }
    }

    /** Enqueues setting every byte of {@code dst} to {@code byteValue} (0 .. 255). */
    public synchronized void memset(DeviceSlice dst, int byteValue) {
        String op = "memset";
        requireOpen(op);
        if (byteValue < 0 || byteValue > 255) {
            throw new IllegalArgumentException("memset: byteValue must be in 0 .. 255, got " + byteValue);
        }
        Objects.requireNonNull(dst, "memset: dst");
        long d = ptr(op, "dst", dst, dst.bytes(), 1);
        if (dst.bytes() > 0) {
            device.check(mem.lk_memset(handle, d, byteValue, dst.bytes()), "lk_memset");
        }
    }

    /**
     * Enqueues setting every 32-bit word of {@code dst} to {@code word} (a float's bits for f32 data). Device work,
     * not a transfer: a value the host decided (a token id, a gate weight) reaches the device without a
     * host-to-device copy, which would share the link with the expert copies other streams have in flight and could
     * wait behind them.
     */
    public synchronized void fill32(DeviceSlice dst, int word) {
        String op = "fill32";
        requireOpen(op);
        Objects.requireNonNull(dst, "fill32: dst");
        if (dst.bytes() % 4 != 0) {
            throw new IllegalArgumentException("fill32: dst holds " + dst.bytes() + " bytes, not a whole number of 32-bit words");
        }
        long d = ptr(op, "dst", dst, dst.bytes(), 4);
        if (dst.bytes() > 0) {
            device.check(mem.lk_fill_u32(handle, d, word, dst.bytes() / 4), "lk_fill_u32");
        }
    }

    // ==== ops ==================================================================================

    /**
     * {@code out[i, :] = table[ids[i], :]}. table {@code tableDtype} [vocab, dim] (F32/F16/BF16),
     * ids int32 [n], out f32 [n, dim]. Ids outside [0, vocab) give zero rows and a sticky
     * LK_ERR_INVALID_ARGUMENT.
     */
    public synchronized void embedding(DType tableDtype, DeviceSlice table, long vocab, long dim, DeviceSlice ids,
                                       long n, DeviceSlice out) {
        String op = "embedding";
        requireOpen(op);
        requireFloatDtype(op, "tableDtype", tableDtype);
        positive(op, "vocab", vocab);
        positive(op, "dim", dim);
        positive(op, "n", n);
        long tableBytes = bytes(op, vocab, dim, tableDtype.byteSize());
        long idsBytes = bytes(op, n, I32);
        long outBytes = bytes(op, n, dim, F32);
        long t = ptr(op, "table", table, tableBytes, tableDtype.byteSize());
        long i = ptr(op, "ids", ids, idsBytes, I32);
        long o = ptr(op, "out", out, outBytes, F32);
        requireDisjoint(op, "out", out, outBytes, "table", table, tableBytes);
        requireDisjoint(op, "out", out, outBytes, "ids", ids, idsBytes);
        device.check(ops.lk_embedding(handle, tableDtype.code(), t, vocab, dim, i, n, o), "lk_embedding");
    }

    /**
     * {@code out[i, :] = x[i, :] / sqrt(mean(x[i, :]^2) + eps) * weight}; x, out f32 [n, dim]
     * ({@code out} may be {@code x} itself), weight {@code weightDtype} [dim].
     */
    public synchronized void rmsnorm(DeviceSlice x, DType weightDtype, DeviceSlice weight, long n, long dim,
                                     float eps, DeviceSlice out) {
        String op = "rmsnorm";
        requireOpen(op);
        requireFloatDtype(op, "weightDtype", weightDtype);
        positive(op, "n", n);
        positive(op, "dim", dim);
        if (!(eps >= 0) || !Float.isFinite(eps)) {
            throw new IllegalArgumentException("rmsnorm: eps must be finite and >= 0, got " + eps);
        }
        long xBytes = bytes(op, n, dim, F32);
        long wBytes = bytes(op, dim, weightDtype.byteSize());
        long xp = ptr(op, "x", x, xBytes, F32);
        long wp = ptr(op, "weight", weight, wBytes, weightDtype.byteSize());
        long o = ptr(op, "out", out, xBytes, F32);
        requireSameOrDisjoint(op, "out", out, "x", x, xBytes);
        requireDisjoint(op, "out", out, xBytes, "weight", weight, wBytes);
        device.check(ops.lk_rmsnorm(handle, xp, weightDtype.code(), wp, n, dim, eps, o), "lk_rmsnorm");
    }

    /**
     * Rotary embedding in place (HF rotate_half) on x f32 [n, nHeads, headDim], row i at position
     * pos0 + i; headDim even.
     */
    public synchronized void rope(DeviceSlice x, long n, int nHeads, int headDim, long pos0, float theta) {
        String op = "rope";
        requireOpen(op);
        positive(op, "n", n);
        positive(op, "nHeads", nHeads);
        positive(op, "headDim", headDim);
        if (headDim % 2 != 0) {
            throw new IllegalArgumentException("rope: headDim must be even, got " + headDim);
        }
        if (pos0 < 0) {
            throw new IllegalArgumentException("rope: pos0 must be >= 0, got " + pos0);
        }
        if (!(theta > 0) || !Float.isFinite(theta)) {
            throw new IllegalArgumentException("rope: theta must be finite and > 0, got " + theta);
        }
        long xp = ptr(op, "x", x, bytes(op, n, (long) nHeads * headDim, F32), F32);
        device.check(ops.lk_rope(handle, xp, n, nHeads, headDim, pos0, theta), "lk_rope");
    }

    /** {@code y[n, rows] = x[n, cols] @ W^T}; W {@code wDtype} [rows, cols] (F32/F16/BF16), x, y f32. */
    public synchronized void matmul(DType wDtype, DeviceSlice w, DeviceSlice x, long n, long rows, long cols,
                                    DeviceSlice y) {
        String op = "matmul";
        requireOpen(op);
        requireFloatDtype(op, "wDtype", wDtype);
        positive(op, "n", n);
        positive(op, "rows", rows);
        positive(op, "cols", cols);
        long wBytes = bytes(op, rows, cols, wDtype.byteSize());
        long xBytes = bytes(op, n, cols, F32);
        long yBytes = bytes(op, n, rows, F32);
        long wp = ptr(op, "w", w, wBytes, wDtype.byteSize());
        long xp = ptr(op, "x", x, xBytes, F32);
        long yp = ptr(op, "y", y, yBytes, F32);
        requireDisjoint(op, "y", y, yBytes, "w", w, wBytes);
        requireDisjoint(op, "y", y, yBytes, "x", x, xBytes);
        device.check(ops.lk_matmul(handle, wDtype.code(), wp, xp, n, rows, cols, yp), "lk_matmul");
    }

    /** {@code y[rows] = W x} for a quantized W (decode path); x f32 [cols], y f32 [rows]. */
    public synchronized void qmatvec(QMatrix w, DeviceSlice x, DeviceSlice y) {
        String op = "qmatvec";
        requireOpen(op);
        fillQMatrix(op, QArg.W, w, qmatrixArgs);
        long xBytes = bytes(op, w.cols(), F32);
        long yBytes = bytes(op, w.rows(), F32);
        long xp = ptr(op, "x", x, xBytes, F32);
        long yp = ptr(op, "y", y, yBytes, F32);
        requireClearOfQMatrix(op, "y", y, yBytes, QArg.W, w);
        requireDisjoint(op, "y", y, yBytes, "x", x, xBytes);
        device.check(ops.lk_qmatvec(handle, qmatrixArgs, xp, yp), "lk_qmatvec");
    }

    /** {@code y[n, rows] = x[n, cols] @ W^T} for a quantized W (prefill path). */
    public synchronized void qmatmul(QMatrix w, DeviceSlice x, long n, DeviceSlice y) {
        String op = "qmatmul";
        requireOpen(op);
        positive(op, "n", n);
        fillQMatrix(op, QArg.W, w, qmatrixArgs);
        long xBytes = bytes(op, n, w.cols(), F32);
        long yBytes = bytes(op, n, w.rows(), F32);
        long xp = ptr(op, "x", x, xBytes, F32);
        long yp = ptr(op, "y", y, yBytes, F32);
        requireClearOfQMatrix(op, "y", y, yBytes, QArg.W, w);
        requireDisjoint(op, "y", y, yBytes, "x", x, xBytes);
        device.check(ops.lk_qmatmul(handle, qmatrixArgs, xp, n, yp), "lk_qmatmul");
    }

    /**
     * One SwiGLU expert on one token (decode): {@code y = down (silu(gate x) * (up x))}. The result is
     * that of {@code qmatvec(gate, x, hGate); qmatvec(up, x, hUp); swiglu(hGate, hUp, hGate);
     * qmatvec(down, hGate, y)}, in one call: CUDA computes gate and up in one launch and the SwiGLU
     * while the down product stages its input, two launches instead of four.
     *
     * @param gate  [inter, hidden]
     * @param up    [inter, hidden], of gate's format (bits, group size)
     * @param down  [hidden, inter], of any format
     * @param x     f32 [hidden]
     * @param hGate f32 [inter] scratch, left unspecified
     * @param hUp   f32 [inter] scratch, left unspecified
     * @param y     f32 [hidden]
     */
    public synchronized void expertSwiglu(QMatrix gate, QMatrix up, QMatrix down, DeviceSlice x, DeviceSlice hGate,
                                          DeviceSlice hUp, DeviceSlice y) {
        String op = "expertSwiglu";
        requireOpen(op);
        fillQMatrix(op, QArg.GATE, gate, qmatrixArgs);
        fillQMatrix(op, QArg.UP, up, upArgs);
        fillQMatrix(op, QArg.DOWN, down, downArgs);
        long inter = gate.rows();
        long hidden = gate.cols();
        if (!up.format().equals(gate.format())) {
            throw new IllegalArgumentException("expertSwiglu: gate and up must have one format, got " + gate.format()
                    + " and " + up.format());
        }
        if (up.rows() != inter || up.cols() != hidden) {
            throw new IllegalArgumentException("expertSwiglu: up is [" + up.rows() + ", " + up.cols()
                    + "] but gate is [" + inter + ", " + hidden + "]; both must be [inter, hidden]");
        }
        if (down.rows() != hidden || down.cols() != inter) {
            throw new IllegalArgumentException("expertSwiglu: down is [" + down.rows() + ", " + down.cols()
                    + "] but must be [hidden, inter] = [" + hidden + ", " + inter + "]");
        }
        long xBytes = bytes(op, hidden, F32);
        long hBytes = bytes(op, inter, F32);
        long xp = ptr(op, "x", x, xBytes, F32);
        long hg = ptr(op, "hGate", hGate, hBytes, F32);
        long hu = ptr(op, "hUp", hUp, hBytes, F32);
        long yp = ptr(op, "y", y, xBytes, F32);
        requireClearOfExpert(op, "hGate", hGate, hBytes, gate, up, down);
        requireClearOfExpert(op, "hUp", hUp, hBytes, gate, up, down);
        requireClearOfExpert(op, "y", y, xBytes, gate, up, down);
        requireDisjoint(op, "hGate", hGate, hBytes, "x", x, xBytes);
        requireDisjoint(op, "hUp", hUp, hBytes, "x", x, xBytes);
        requireDisjoint(op, "hUp", hUp, hBytes, "hGate", hGate, hBytes);
        requireDisjoint(op, "y", y, xBytes, "x", x, xBytes);
        requireDisjoint(op, "y", y, xBytes, "hGate", hGate, hBytes);
        requireDisjoint(op, "y", y, xBytes, "hUp", hUp, hBytes);
        device.check(ops.lk_expert_swiglu(handle, qmatrixArgs, upArgs, downArgs, xp, hg, hu, yp), "lk_expert_swiglu");
    }

    /** {@code out[i] = silu(gate[i]) * up[i]}, f32 [n]; out may be gate or up itself. */
    public synchronized void swiglu(DeviceSlice gate, DeviceSlice up, long n, DeviceSlice out) {
        String op = "swiglu";
        requireOpen(op);
        positive(op, "n", n);
        long b = bytes(op, n, F32);
        long g = ptr(op, "gate", gate, b, F32);
        long u = ptr(op, "up", up, b, F32);
        long o = ptr(op, "out", out, b, F32);
        requireSameOrDisjoint(op, "out", out, "gate", gate, b);
        requireSameOrDisjoint(op, "out", out, "up", up, b);
        device.check(ops.lk_swiglu(handle, g, u, n, o), "lk_swiglu");
    }

    /** {@code y[i] += x[i]}, f32 [n] (the residual add); x is y itself or disjoint from it. */
    public synchronized void add(DeviceSlice y, DeviceSlice x, long n) {
        String op = "add";
        requireOpen(op);
        positive(op, "n", n);
        long b = bytes(op, n, F32);
        long yp = ptr(op, "y", y, b, F32);
        long xp = ptr(op, "x", x, b, F32);
        requireSameOrDisjoint(op, "y", y, "x", x, b);
        device.check(ops.lk_add(handle, yp, xp, n), "lk_add");
    }

    /**
     * {@code dst[i, :] = src[idx[i], :]} for i &lt; m; f32 rows of {@code dim}, idx int32 [m]. The
     * index values are not checked (see the class comment): each must address a row inside src.
     */
    public synchronized void gatherRows(DeviceSlice src, DeviceSlice idx, long m, long dim, DeviceSlice dst) {
        String op = "gatherRows";
        requireOpen(op);
        positive(op, "m", m);
        positive(op, "dim", dim);
        long rowBytes = bytes(op, dim, F32);
        long idxBytes = bytes(op, m, I32);
        long dstBytes = bytes(op, m, dim, F32);
        long s = ptr(op, "src", src, rowBytes, F32);
        if (src.bytes() % rowBytes != 0) {
            throw new IllegalArgumentException("gatherRows: src holds " + src.bytes()
                    + " bytes, not a whole number of rows of dim=" + dim + " f32");
        }
        long i = ptr(op, "idx", idx, idxBytes, I32);
        long d = ptr(op, "dst", dst, dstBytes, F32);
        requireDisjoint(op, "dst", dst, dstBytes, "src", src, src.bytes());
        requireDisjoint(op, "dst", dst, dstBytes, "idx", idx, idxBytes);
        device.check(ops.lk_gather_rows(handle, s, i, m, dim, d), "lk_gather_rows");
    }

    /**
     * {@code dst[idx[i], :] += weight[i] * src[i, :]} for i &lt; m, in order of i; src f32 [m, dim].
     * {@code idx} int32 [m] may be null (identity: dst needs m rows); its values must be distinct
     * rows of dst (not checked, see the class comment). {@code weight} f32 [m] may be null (1.0).
     */
    public synchronized void scatterAddRows(DeviceSlice dst, DeviceSlice src, DeviceSlice idx, DeviceSlice weight,
                                            long m, long dim) {
        String op = "scatterAddRows";
        requireOpen(op);
        positive(op, "m", m);
        positive(op, "dim", dim);
        long srcBytes = bytes(op, m, dim, F32);
        long rowBytes = bytes(op, dim, F32);
        long vecBytes = bytes(op, m, I32);
        long s = ptr(op, "src", src, srcBytes, F32);
        long d = ptr(op, "dst", dst, idx == null ? srcBytes : rowBytes, F32);
        if (idx != null && dst.bytes() % rowBytes != 0) {
            throw new IllegalArgumentException("scatterAddRows: dst holds " + dst.bytes()
                    + " bytes, not a whole number of rows of dim=" + dim + " f32");
        }
        long i = idx == null ? 0L : ptr(op, "idx", idx, vecBytes, I32);
        long w = weight == null ? 0L : ptr(op, "weight", weight, vecBytes, F32);
        long dstBytes = idx == null ? srcBytes : dst.bytes();
        requireDisjoint(op, "dst", dst, dstBytes, "src", src, srcBytes);
        if (idx != null) {
            requireDisjoint(op, "dst", dst, dstBytes, "idx", idx, vecBytes);
        }
        if (weight != null) {
            requireDisjoint(op, "dst", dst, dstBytes, "weight", weight, vecBytes);
        }
        device.check(ops.lk_scatter_add_rows(handle, d, s, i, w, m, dim), "lk_scatter_add_rows");
    }

    /**
     * {@code dst[i] = (dstDtype) src[i]} for i &lt; n; F32/F16/BF16 both ways. src and dst may be the
     * same slice only when the dtypes are equal; otherwise they must be disjoint.
     */
    public synchronized void convert(DType srcDtype, DeviceSlice src, DType dstDtype, DeviceSlice dst, long n) {
        String op = "convert";
        requireOpen(op);
        requireFloatDtype(op, "srcDtype", srcDtype);
        requireFloatDtype(op, "dstDtype", dstDtype);
        positive(op, "n", n);
        long srcBytes = bytes(op, n, srcDtype.byteSize());
        long dstBytes = bytes(op, n, dstDtype.byteSize());
        long s = ptr(op, "src", src, srcBytes, srcDtype.byteSize());
        long d = ptr(op, "dst", dst, dstBytes, dstDtype.byteSize());
        if (srcDtype == dstDtype) {
            requireSameOrDisjoint(op, "dst", dst, "src", src, srcBytes);
        } else {
            requireDisjoint(op, "dst", dst, dstBytes, "src", src, srcBytes);
        }
        device.check(ops.lk_convert(handle, srcDtype.code(), s, dstDtype.code(), d, n), "lk_convert");
    }

    /**
     * Router: softmax over the nExperts logits of each of n rows, then the k largest (ties: lower
     * expert index first) in descending order into topkIdx int32 [n, k] and topkWeight f32 [n, k];
     * with {@code renormalize} the k weights are divided by their sum (Mixtral). probsOut f32
     * [n, nExperts] may be null.
     */
    public synchronized void routerTopk(DeviceSlice logits, long n, int nExperts, int k, boolean renormalize,
                                        DeviceSlice probsOut, DeviceSlice topkIdx, DeviceSlice topkWeight) {
        String op = "routerTopk";
        requireOpen(op);
        positive(op, "n", n);
        if (nExperts < 1 || nExperts > 256) {
            throw new IllegalArgumentException("routerTopk: nExperts must be in 1 .. 256, got " + nExperts);
        }
        if (k < 1 || k > nExperts) {
            throw new IllegalArgumentException("routerTopk: k must be in 1 .. nExperts=" + nExperts + ", got " + k);
        }
        long logitBytes = bytes(op, n, nExperts, F32);
        long topBytes = bytes(op, n, k, I32);
        long l = ptr(op, "logits", logits, logitBytes, F32);
        long p = probsOut == null ? 0L : ptr(op, "probsOut", probsOut, logitBytes, F32);
        long ti = ptr(op, "topkIdx", topkIdx, topBytes, I32);
        long tw = ptr(op, "topkWeight", topkWeight, topBytes, F32);
        requireDisjoint(op, "topkIdx", topkIdx, topBytes, "logits", logits, logitBytes);
        requireDisjoint(op, "topkWeight", topkWeight, topBytes, "logits", logits, logitBytes);
        requireDisjoint(op, "topkIdx", topkIdx, topBytes, "topkWeight", topkWeight, topBytes);
        if (probsOut != null) {
            requireDisjoint(op, "probsOut", probsOut, logitBytes, "logits", logits, logitBytes);
            requireDisjoint(op, "probsOut", probsOut, logitBytes, "topkIdx", topkIdx, topBytes);
            requireDisjoint(op, "probsOut", probsOut, logitBytes, "topkWeight", topkWeight, topBytes);
        }
        MemorySegment a = routerArgs;
        LkStructs.ROUTER_ARGS_LOGITS.set(a, 0L, l);
        LkStructs.ROUTER_ARGS_N.set(a, 0L, n);
        LkStructs.ROUTER_ARGS_N_EXPERTS.set(a, 0L, nExperts);
        LkStructs.ROUTER_ARGS_K.set(a, 0L, k);
        LkStructs.ROUTER_ARGS_RENORMALIZE.set(a, 0L, renormalize ? 1 : 0);
        LkStructs.ROUTER_ARGS_RESERVED.set(a, 0L, 0);
        LkStructs.ROUTER_ARGS_PROBS_OUT.set(a, 0L, p);
        LkStructs.ROUTER_ARGS_TOPK_IDX.set(a, 0L, ti);
        LkStructs.ROUTER_ARGS_TOPK_WEIGHT.set(a, 0L, tw);
        device.check(ops.lk_router_topk(handle, a), "lk_router_topk");
    }

    /** Bytes of {@link #routerHeads}'s packed output: int32 idx[k], f32 weight[k], f32 probs[nHeads, nExperts]. */
    public static long routerHeadsOutBytes(int k, int nHeads, int nExperts) {
        return 4L * (2L * k + (long) nHeads * nExperts);
    }

    /**
     * The decode routing of one MoE layer in one op ({@code lk_router_heads}):
     * xnOut = rmsnorm(x) * gain (the experts' input), the router's softmax top-k of router . xnOut, and for
     * nHeads &gt; 0 the lookahead heads' softmax of heads . (x / rms(x)) + headsBias, all written into
     * {@code out} packed as int32 idx[k] | f32 weight[k] | f32 probs[nHeads][nExperts] (element offsets 0, k,
     * 2k), so one copy of {@link #routerHeadsOutBytes} bytes reads everything back.
     *
     * @param x         f32 [hidden], the residual stream
     * @param gain      gainDtype [hidden], the layer's ffn RMSNorm weight
     * @param router    routerDtype [nExperts, hidden]
     * @param heads     f32 [nHeads * nExperts, hidden]; ignored (may be null) when nHeads == 0
     * @param headsBias f32 [nHeads * nExperts] or null (no bias)
     * @param xnOut     f32 [hidden]
     * @param out       packed output, at least {@link #routerHeadsOutBytes} bytes
     */
    public synchronized void routerHeads(DeviceSlice x, long hidden, float eps, DType gainDtype, DeviceSlice gain,
                                         DType routerDtype, DeviceSlice router, int nExperts, int k,
                                         boolean renormalize, int nHeads, DeviceSlice heads, DeviceSlice headsBias,
                                         DeviceSlice xnOut, DeviceSlice out) {
        String op = "routerHeads";
        requireOpen(op);
        positive(op, "hidden", hidden);
        if (!(eps >= 0) || !Float.isFinite(eps)) {
            throw new IllegalArgumentException("routerHeads: eps must be finite and >= 0, got " + eps);
        }
        requireFloatDtype(op, "gainDtype", gainDtype);
        requireFloatDtype(op, "routerDtype", routerDtype);
        if (nExperts < 1 || nExperts > 256) {
            throw new IllegalArgumentException("routerHeads: nExperts must be in 1 .. 256, got " + nExperts);
        }
        if (k < 1 || k > nExperts) {
            throw new IllegalArgumentException("routerHeads: k must be in 1 .. nExperts=" + nExperts + ", got " + k);
        }
        if (nHeads < 0 || nHeads > 1024) {
            throw new IllegalArgumentException("routerHeads: nHeads must be in 0 .. 1024, got " + nHeads);
        }
        long vecBytes = bytes(op, hidden, F32);
        long gainBytes = bytes(op, hidden, gainDtype.byteSize());
        long routerBytes = bytes(op, nExperts, hidden, routerDtype.byteSize());
        long headRows = (long) nHeads * nExperts;
        long headBytes = bytes(op, headRows, hidden, F32);
        long outBytes = routerHeadsOutBytes(k, nHeads, nExperts);
        long xp = ptr(op, "x", x, vecBytes, F32);
        long gp = ptr(op, "gain", gain, gainBytes, gainDtype.byteSize());
        long rp = ptr(op, "router", router, routerBytes, routerDtype.byteSize());
        long hp = nHeads == 0 ? 0L : ptr(op, "heads", heads, headBytes, F32);
        long bp = nHeads == 0 || headsBias == null ? 0L : ptr(op, "headsBias", headsBias, headRows * F32, F32);
        long xo = ptr(op, "xnOut", xnOut, vecBytes, F32);
        long o = ptr(op, "out", out, outBytes, F32);
        DeviceSlice[] inputs = {x, gain, router, nHeads == 0 ? null : heads, nHeads == 0 ? null : headsBias};
        String[] names = {"x", "gain", "router", "heads", "headsBias"};
        long[] sizes = {vecBytes, gainBytes, routerBytes, headBytes, headRows * F32};
        for (int i = 0; i < inputs.length; i++) {
            if (inputs[i] == null) continue;
            requireDisjoint(op, "xnOut", xnOut, vecBytes, names[i], inputs[i], sizes[i]);
            requireDisjoint(op, "out", out, outBytes, names[i], inputs[i], sizes[i]);
        }
        requireDisjoint(op, "out", out, outBytes, "xnOut", xnOut, vecBytes);
        MemorySegment a = routerHeadsArgs;
        LkStructs.ROUTER_HEADS_ARGS_X.set(a, 0L, xp);
        LkStructs.ROUTER_HEADS_ARGS_HIDDEN.set(a, 0L, hidden);
        LkStructs.ROUTER_HEADS_ARGS_EPS.set(a, 0L, eps);
        LkStructs.ROUTER_HEADS_ARGS_GAIN_DTYPE.set(a, 0L, gainDtype.code());
        LkStructs.ROUTER_HEADS_ARGS_GAIN.set(a, 0L, gp);
        LkStructs.ROUTER_HEADS_ARGS_ROUTER_DTYPE.set(a, 0L, routerDtype.code());
        LkStructs.ROUTER_HEADS_ARGS_N_EXPERTS.set(a, 0L, nExperts);
        LkStructs.ROUTER_HEADS_ARGS_ROUTER.set(a, 0L, rp);
        LkStructs.ROUTER_HEADS_ARGS_K.set(a, 0L, k);
        LkStructs.ROUTER_HEADS_ARGS_RENORMALIZE.set(a, 0L, renormalize ? 1 : 0);
        LkStructs.ROUTER_HEADS_ARGS_N_HEADS.set(a, 0L, nHeads);
        LkStructs.ROUTER_HEADS_ARGS_RESERVED.set(a, 0L, 0);
        LkStructs.ROUTER_HEADS_ARGS_HEADS.set(a, 0L, hp);
        LkStructs.ROUTER_HEADS_ARGS_HEADS_BIAS.set(a, 0L, bp);
        LkStructs.ROUTER_HEADS_ARGS_XN_OUT.set(a, 0L, xo);
        LkStructs.ROUTER_HEADS_ARGS_OUT.set(a, 0L, o);
        device.check(ops.lk_router_heads(handle, a), "lk_router_heads");
    }

    /**
     * Causal attention over a KV cache (prefill: nTokens &gt; 1, decode: nTokens == 1). Query row t
     * has position pos + t and attends to cache rows j &lt;= pos + t inside the shape's window; cache
     * rows 0 .. pos + nTokens - 1 must already hold keys and values.
     * q, out f32 [nTokens, nHeads, headDim]; kCache, vCache kvDtype [ctxCapacity, nKvHeads, headDim].
     */
    public synchronized void attention(AttentionShape shape, DeviceSlice q, DeviceSlice kCache, DeviceSlice vCache,
                                       DeviceSlice out, long nTokens, long pos) {
        String op = "attention";
        requireOpen(op);
        Objects.requireNonNull(shape, "attention: shape");
        positive(op, "nTokens", nTokens);
        if (pos < 0 || pos > shape.ctxCapacity() - nTokens) {
            throw new IllegalArgumentException("attention: positions pos .. pos + nTokens - 1 = " + pos + " .. "
                    + (pos + nTokens - 1) + " do not fit the cache of ctxCapacity=" + shape.ctxCapacity());
        }
        int es = shape.kvDtype().byteSize();
        long qBytes = bytes(op, nTokens, (long) shape.nHeads() * shape.headDim(), F32);
        long cacheBytes = bytes(op, shape.ctxCapacity(), (long) shape.nKvHeads() * shape.headDim(), es);
        long qp = ptr(op, "q", q, qBytes, F32);
        long kp = ptr(op, "kCache", kCache, cacheBytes, es);
        long vp = ptr(op, "vCache", vCache, cacheBytes, es);
        long outp = ptr(op, "out", out, qBytes, F32);
        requireDisjoint(op, "out", out, qBytes, "q", q, qBytes);
        requireDisjoint(op, "out", out, qBytes, "kCache", kCache, cacheBytes);
        requireDisjoint(op, "out", out, qBytes, "vCache", vCache, cacheBytes);
        MemorySegment a = attentionArgs;
        LkStructs.ATTENTION_ARGS_Q.set(a, 0L, qp);
        LkStructs.ATTENTION_ARGS_K_CACHE.set(a, 0L, kp);
        LkStructs.ATTENTION_ARGS_V_CACHE.set(a, 0L, vp);
        LkStructs.ATTENTION_ARGS_OUT.set(a, 0L, outp);
        LkStructs.ATTENTION_ARGS_N_TOKENS.set(a, 0L, nTokens);
        LkStructs.ATTENTION_ARGS_POS.set(a, 0L, pos);
        LkStructs.ATTENTION_ARGS_CTX_CAPACITY.set(a, 0L, shape.ctxCapacity());
        LkStructs.ATTENTION_ARGS_N_HEADS.set(a, 0L, shape.nHeads());
        LkStructs.ATTENTION_ARGS_N_KV_HEADS.set(a, 0L, shape.nKvHeads());
        LkStructs.ATTENTION_ARGS_HEAD_DIM.set(a, 0L, shape.headDim());
        LkStructs.ATTENTION_ARGS_WINDOW.set(a, 0L, shape.window());
        LkStructs.ATTENTION_ARGS_KV_DTYPE.set(a, 0L, shape.kvDtype().code());
        LkStructs.ATTENTION_ARGS_SCALE.set(a, 0L, shape.scale());
        device.check(ops.lk_attention(handle, a), "lk_attention");
    }

    // ==== lifecycle ============================================================================

    /** Waits for the pending work and destroys the stream (lk_stream_destroy). Idempotent. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        device.forget(this);
        try {
            device.check(mem.lk_stream_destroy(handle), "lk_stream_destroy");
        } finally {
            arena.close();
        }
    }

    @Override
    public String toString() {
        return "Stream[" + device + (closed ? ", closed]" : "]");
    }

    /** The native handle for use with {@code expected}'s events; checks device and liveness. */
    MemorySegment handleFor(Device expected, String role) {
        if (device != expected) {
            throw new IllegalArgumentException(role + " belongs to another device (" + device + ", expected "
                    + expected + ")");
        }
        requireOpen(role);
        return handle;
    }

    // ==== argument checks ======================================================================

    private void requireOpen(String op) {
        if (closed) {
            throw new IllegalStateException(op + ": the stream is closed");
        }
        device.requireOpen();
    }

    /**
     * The device pointer of {@code s} after checking: not null, a buffer of this device that is
     * open, at least {@code need} bytes, start aligned to {@code align}.
     */
    private long ptr(String op, String arg, DeviceSlice s, long need, int align) {
        if (s == null) {
            throw new NullPointerException(op + ": " + arg + " must not be null");
        }
        DeviceBuffer b = s.buffer();
        if (b.device() != device) {
            throw new IllegalArgumentException(op + ": " + arg + " is a slice of a buffer of another device ("
                    + b.device() + "; this stream runs on " + device + ")");
        }
        long address = b.address(op, arg) + s.offset();
        if (s.bytes() < need) {
            throw new IllegalArgumentException(op + ": " + arg + " holds " + s.bytes() + " bytes, but the shape needs "
                    + need);
        }
        if (address % align != 0) {
            throw new IllegalArgumentException(op + ": " + arg + " (at buffer offset " + s.offset()
                    + ") is not aligned to its " + align + "-byte elements");
        }
        return address;
    }

    private static void hostSegment(String op, String arg, MemorySegment seg, boolean writable) {
        if (seg == null) {
            throw new NullPointerException(op + ": " + arg + " must not be null");
        }
        if (!seg.isNative()) {
            throw new IllegalArgumentException(op + ": " + arg + " is a heap segment; asynchronous copies need "
                    + "native memory (a PinnedBuffer's segment or an Arena allocation) that stays alive until the "
                    + "stream is synchronized, because native code reads or writes it later");
        }
        if (writable && seg.isReadOnly()) {
            throw new IllegalArgumentException(op + ": " + arg + " is read-only");
        }
        if (!seg.scope().isAlive()) {
            throw new IllegalStateException(op + ": the arena of " + arg + " is closed");
        }
    }

    /**
     * The names of a QMatrix argument and its parts in error messages, built once: an op call must
     * not allocate (see HotPathAllocationTest).
     */
    private enum QArg {
        W("w"), GATE("gate"), UP("up"), DOWN("down");

        final String name;
        final String codes;
        final String scales;
        final String zeros;

        QArg(String name) {
            this.name = name;
            this.codes = name + ".codes";
            this.scales = name + ".scales";
            this.zeros = name + ".zeros";
        }
    }

    /** Checks {@code w} and writes it into the lk_qmatrix {@code a}. */
    private void fillQMatrix(String op, QArg arg, QMatrix w, MemorySegment a) {
        if (w == null) {
            throw new NullPointerException(op + ": " + arg.name + " must not be null");
        }
        QuantFormat f = w.format();
        long codes = ptr(op, arg.codes, w.codes(), f.codeBytes(w.rows(), w.cols()), 1);
        long scales = ptr(op, arg.scales, w.scales(), f.scaleBytes(w.rows(), w.cols()), 2);
        long zeros = ptr(op, arg.zeros, w.zeros(), f.zeroBytes(w.rows(), w.cols()), 2);
        LkStructs.QMATRIX_BITS.set(a, 0L, f.bits());
        LkStructs.QMATRIX_GROUP_SIZE.set(a, 0L, f.groupSize());
        LkStructs.QMATRIX_ROWS.set(a, 0L, w.rows());
        LkStructs.QMATRIX_COLS.set(a, 0L, w.cols());
        LkStructs.QMATRIX_CODES.set(a, 0L, codes);
        LkStructs.QMATRIX_SCALES.set(a, 0L, scales);
        LkStructs.QMATRIX_ZEROS.set(a, 0L, zeros);
    }

    /** Output {@code out} must not overlap the codes, scales or zeros of {@code w}. */
    private static void requireClearOfQMatrix(String op, String outName, DeviceSlice out, long outBytes, QArg arg,
                                              QMatrix w) {
        QuantFormat f = w.format();
        requireDisjoint(op, outName, out, outBytes, arg.codes, w.codes(), f.codeBytes(w.rows(), w.cols()));
        requireDisjoint(op, outName, out, outBytes, arg.scales, w.scales(), f.scaleBytes(w.rows(), w.cols()));
        requireDisjoint(op, outName, out, outBytes, arg.zeros, w.zeros(), f.zeroBytes(w.rows(), w.cols()));
    }

    /** Output {@code out} of expertSwiglu must not overlap any of its three weights. */
    private static void requireClearOfExpert(String op, String outName, DeviceSlice out, long outBytes, QMatrix gate,
                                             QMatrix up, QMatrix down) {
        requireClearOfQMatrix(op, outName, out, outBytes, QArg.GATE, gate);
        requireClearOfQMatrix(op, outName, out, outBytes, QArg.UP, up);
        requireClearOfQMatrix(op, outName, out, outBytes, QArg.DOWN, down);
    }

    private static void requireFloatDtype(String op, String arg, DType dtype) {
        if (dtype == null) {
            throw new NullPointerException(op + ": " + arg + " must not be null");
        }
        if (!dtype.isFloat()) {
            throw new IllegalArgumentException(op + ": " + arg + " must be F32, F16 or BF16, got " + dtype);
        }
    }

    private static void positive(String op, String arg, long value) {
        if (value <= 0) {
            throw new IllegalArgumentException(op + ": " + arg + " must be > 0, got " + value);
        }
    }

    private static void requireSameSize(String op, long srcBytes, long dstBytes) {
        if (srcBytes != dstBytes) {
            throw new IllegalArgumentException(op + ": src has " + srcBytes + " bytes but dst has " + dstBytes
                    + "; slice them to the same size");
        }
    }

    /** Output {@code a} and input {@code b} must not share a byte of the ranges the op uses. */
    private static void requireDisjoint(String op, String aName, DeviceSlice a, long aBytes, String bName,
                                        DeviceSlice b, long bBytes) {
        if (a.buffer() == b.buffer() && a.offset() < b.offset() + bBytes && b.offset() < a.offset() + aBytes) {
            throw new IllegalArgumentException(op + ": " + aName + " overlaps " + bName
                    + " (same buffer, offsets " + a.offset() + " and " + b.offset() + ")");
        }
    }

    /** {@code a} must be {@code b} itself (same start) or not overlap it. */
    private static void requireSameOrDisjoint(String op, String aName, DeviceSlice a, String bName, DeviceSlice b,
                                              long bytes) {
        if (a.buffer() == b.buffer() && a.offset() != b.offset()
                && a.offset() < b.offset() + bytes && b.offset() < a.offset() + bytes) {
            throw new IllegalArgumentException(op + ": " + aName + " partially overlaps " + bName
                    + "; it must be the same slice or disjoint (offsets " + a.offset() + " and " + b.offset() + ")");
        }
    }

    private static long bytes(String op, long a, long b) {
        try {
            return Math.multiplyExact(a, b);
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException(op + ": shape too large (" + a + " * " + b + " overflows)");
        }
    }

    private static long bytes(String op, long a, long b, long c) {
        return bytes(op, bytes(op, a, b), c);
    }
}
