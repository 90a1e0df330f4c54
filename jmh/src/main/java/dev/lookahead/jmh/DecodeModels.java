package dev.lookahead.jmh;

import dev.lookahead.model.RandomCheckpoint;
import dev.lookahead.model.RandomCheckpoint.Spec;
import dev.lookahead.model.RandomCheckpoint.WeightType;

/**
 * The random-weight models of {@link DecodeBenchmark}, by name. Weights are F32: Jlama 0.8.4 is
 * cross-checked against our reference with F32 weights and F32 working precision
 * (JlamaCrossCheckTest), and F32 gives both engines the same bytes to read.
 */
final class DecodeModels {
    private DecodeModels() {}

    /**
     * {@code mid}: 4 layers, hidden 512, Mixtral's 3.5x intermediate (1792), 8 heads of 64 with 2
     * KV heads (Mixtral's 4:1 grouping), 8 experts top-2, vocabulary 2048: 93 M weights (371 MB),
     * of which 26 M (103 MB) are read per token. {@code small}: the 2-layer test model, for the
     * smoke run.
     */
    static Spec spec(String name) {
        return switch (name) {
            case "mid" -> new Spec(4, 512, 1792, 8, 2, 64, 8, 2, 2048, 0, 1_000_000.0, 1e-5, 1024,
                    WeightType.F32, 42);
            case "small" -> RandomCheckpoint.Spec.small(42);
            default -> throw new IllegalArgumentException("unknown model '" + name + "'; known: mid, small");
        };
    }

    /** Bytes of every weight (F32). */
    static long totalBytes(Spec s) {
        return s.parameterCount() * Float.BYTES;
    }

    /**
     * Bytes of the weights one decode step reads: per layer the attention projections, the router
     * and top-k experts (w1, w2, w3), the norms; then the final norm, the lm_head, and one
     * embedding row.
     */
    static long activeBytes(Spec s) {
        long h = s.hidden(), q = (long) s.heads() * s.headDim(), kv = (long) s.kvHeads() * s.headDim();
        long attention = 2 * q * h + 2 * kv * h;
        long experts = (long) s.topK() * 3 * h * s.intermediate();
        long perLayer = attention + (long) s.experts() * h + experts + 2 * h;
        long weights = s.layers() * perLayer + h + (long) s.vocab() * h + h;
        return weights * Float.BYTES;
    }
}
