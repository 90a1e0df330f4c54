package dev.lookahead.bindings;

import java.util.Objects;

/**
 * The fixed part of {@code lk_attention_args}: one per attention layer, reused for every call.
 *
 * @param nHeads      query heads
 * @param nKvHeads    key/value heads, divides nHeads (grouped-query attention)
 * @param headDim     1 .. 256
 * @param ctxCapacity rows of the KV cache: k, v are kvDtype [ctxCapacity, nKvHeads, headDim]
 * @param kvDtype     F32, F16 or BF16
 * @param window      sliding window (HF Mixtral), 0 = full causal
 * @param scale       softmax scale, usually 1/sqrt(headDim)
 */
public record AttentionShape(int nHeads, int nKvHeads, int headDim, long ctxCapacity, DType kvDtype, int window,
                             float scale) {
    public AttentionShape {
        Objects.requireNonNull(kvDtype, "kvDtype");
        if (nHeads <= 0 || nKvHeads <= 0 || nHeads % nKvHeads != 0) {
            throw new IllegalArgumentException("nKvHeads must be positive and divide nHeads, got nHeads=" + nHeads
                    + ", nKvHeads=" + nKvHeads);
        }
        if (headDim < 1 || headDim > 256) {
            throw new IllegalArgumentException("headDim must be in 1 .. 256, got " + headDim);
        }
        if (ctxCapacity <= 0) {
            throw new IllegalArgumentException("ctxCapacity must be > 0, got " + ctxCapacity);
        }
        if (!kvDtype.isFloat()) {
            throw new IllegalArgumentException("kvDtype must be F32, F16 or BF16, got " + kvDtype);
        }
        if (window < 0) {
            throw new IllegalArgumentException("window must be >= 0 (0 = full causal), got " + window);
        }
        if (!Float.isFinite(scale)) {
            throw new IllegalArgumentException("scale must be finite, got " + scale);
        }
    }

    /** The usual shape: scale 1/sqrt(headDim). */
    public static AttentionShape of(int nHeads, int nKvHeads, int headDim, long ctxCapacity, DType kvDtype,
                                    int window) {
        return new AttentionShape(nHeads, nKvHeads, headDim, ctxCapacity, kvDtype, window,
                (float) (1.0 / Math.sqrt(headDim)));
    }

    /** Bytes of one cache (k or v): ctxCapacity * nKvHeads * headDim * dtype size. */
    public long cacheBytes() {
        return Math.multiplyExact(Math.multiplyExact(ctxCapacity, (long) nKvHeads * headDim), kvDtype.byteSize());
    }
}
