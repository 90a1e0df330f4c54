package dev.lookahead.expert;

/**
 * Access time of the residency cache, counted in steps rather than wall time: step = token * layers + layer.
 * One step is one MoE layer of one decoded token, so steps order every expert use of a decode run, and the
 * distance between two steps says how many layers lie between two uses, whatever the hardware.
 */
public final class Steps {
    private Steps() {
    }

    /** The step of {@code layer} of the {@code token}-th decoded token. */
    public static long of(long token, int layer, int layers) {
        if (token < 0 || layer < 0 || layer >= layers) {
            throw new IllegalArgumentException("step needs token >= 0 and 0 <= layer < " + layers + ", got token "
                    + token + ", layer " + layer);
        }
        return token * layers + layer;
    }
}
