package dev.lookahead.gate;

/**
 * What gate alignment learns from, per calibration token and layer: the RMS-normalised MoE input
 * (a head's source) and the true routing distribution (softmax over all experts of the router
 * logits, a head's target). Every layer is both: within-token heads read layers 0..L-2 and
 * predict 1..L-1, next-token heads read every layer and predict the same layer one token later.
 *
 * <p>Memory: tokens x L x (hidden + experts) floats. For Mixtral-8x7B (L = 32, hidden 4096) that
 * is ~0.5 MB per token, so 20 000 tokens need ~10 GB; for the demo model (L = 6, hidden 256)
 * ~6 KB per token, ~130 MB for 20 000 tokens. Hence the token cap of
 * {@link CalibrationCollector} and {@link #bytesPerToken}.
 */
public final class CalibrationData {
    private final int layers, hidden, experts, tokens;
    private final float[][] hHat;  // [layer][token * hidden]
    private final float[][] probs; // [layer][token * experts]
    private final boolean[][] filled; // [layer][token]: whether put() has been called

    public CalibrationData(int layers, int hidden, int experts, int tokens) {
        if (layers < 2 || hidden < 1 || experts < 1 || tokens < 1) {
            throw new IllegalArgumentException("need >= 2 layers and positive sizes, got layers " + layers + ", hidden "
                    + hidden + ", experts " + experts + ", tokens " + tokens);
        }
        long bytes = bytesPerToken(layers, hidden, experts) * tokens;
        long free = Runtime.getRuntime().maxMemory() - (Runtime.getRuntime().totalMemory() - Runtime.getRuntime().freeMemory());
        if ((long) tokens * hidden > Integer.MAX_VALUE - 8 || bytes > free) {
            throw new IllegalArgumentException(String.format(java.util.Locale.ROOT,
                    "calibration data for %d tokens needs %.1f MiB, more than the %.1f MiB of heap left: use fewer tokens"
                            + " (--max-tokens) or a larger heap (-Xmx)", tokens, bytes / 1048576.0, free / 1048576.0));
        }
        this.layers = layers;
        this.hidden = hidden;
        this.experts = experts;
        this.tokens = tokens;
        this.hHat = new float[layers][];
        this.probs = new float[layers][];
        this.filled = new boolean[layers][tokens];
        for (int l = 0; l < layers; l++) {
            hHat[l] = new float[tokens * hidden];
            probs[l] = new float[tokens * experts];
        }
    }

    /** Heap bytes one token of calibration data takes. */
    public static long bytesPerToken(int layers, int hidden, int experts) {
        return 4L * layers * (hidden + experts) + layers;
    }

    /**
     * Records token {@code token}'s MoE input h[off..+hidden) at {@code layer}: stores h / rms(h)
     * and the layer's true routing distribution.
     */
    public void put(int token, int layer, float[] h, int off, RoutingWeights routing) {
        if (token < 0 || token >= tokens) throw new IndexOutOfBoundsException("token " + token + " of " + tokens);
        int at = token * hidden;
        GateMath.rmsNormalize(h, off, hidden, routing.eps(), hHat[layer], at);
        double[] logits = new double[experts], p = new double[experts];
        routing.probabilities(layer, hHat[layer], at, logits, p);
        for (int e = 0; e < experts; e++) probs[layer][token * experts + e] = (float) p[e];
        filled[layer][token] = true;
    }

    /** Sets a target distribution directly (for tests and synthetic problems). */
    public void putTarget(int token, int layer, double[] p) {
        for (int e = 0; e < experts; e++) probs[layer][token * experts + e] = (float) p[e];
    }

    /** Sets a normalised source state directly (for tests and synthetic problems). */
    public void putSource(int token, int layer, float[] hHatRow) {
        System.arraycopy(hHatRow, 0, hHat[layer], token * hidden, hidden);
    }

    /** Throws unless every (layer, token) has been recorded by {@link #put}. */
    public void checkComplete() {
        for (int l = 0; l < layers; l++) {
            for (int t = 0; t < tokens; t++) {
                if (!filled[l][t]) throw new IllegalStateException("no hidden state for token " + t + " at layer " + l);
            }
        }
    }

    public int layers() {
        return layers;
    }

    public int hidden() {
        return hidden;
    }

    public int experts() {
        return experts;
    }

    public int tokens() {
        return tokens;
    }

    /** The normalised sources of {@code layer}: [tokens * hidden] (the array itself, do not modify). */
    float[] sources(int layer) {
        return hHat[layer];
    }

    /** The true routing distributions of {@code layer}: [tokens * experts] (the array itself, do not modify). */
    float[] targets(int layer) {
        return probs[layer];
    }
}
