package dev.lookahead.sched;

import java.util.Arrays;

/**
 * Predictions made at one layer for the next layers of the same token: for each distance d = 1..horizon and each
 * expert e, the probability that layer {@code layer + d} will choose e (so the probabilities of one distance sum to
 * about top-k, not to 1). A reusable buffer: the predictor {@link #reset}s and fills it for every layer, so the
 * per-layer hot path allocates nothing.
 */
public final class LayerPredictions {
    private final int layers;
    private final int experts;
    private final int maxHorizon;
    private final float[] prob; // [maxHorizon, experts]; row d - 1 holds distance d
    private long token = -1;
    private int layer = -1;
    private int horizon;

    /**
     * @param layers     MoE layers of the model
     * @param experts    experts per layer
     * @param maxHorizon largest distance this buffer holds
     */
    public LayerPredictions(int layers, int experts, int maxHorizon) {
        if (layers <= 0 || experts <= 0 || maxHorizon <= 0) {
            throw new IllegalArgumentException("predictions need layers, experts and horizon > 0, got " + layers + ", "
                    + experts + ", " + maxHorizon);
        }
        this.layers = layers;
        this.experts = experts;
        this.maxHorizon = maxHorizon;
        this.prob = new float[maxHorizon * experts];
    }

    /**
     * Starts the predictions made at {@code layer} of {@code token}; all probabilities become 0. The horizon is
     * clipped to the layers left in the token (predictions never cross into the next token, whose routing depends
     * on a token not sampled yet).
     *
     * @return the horizon actually used
     */
    public int reset(long token, int layer, int horizon) {
        if (token < 0 || layer < 0 || layer >= layers || horizon < 0) {
            throw new IllegalArgumentException("predictions need token >= 0, 0 <= layer < " + layers + ", horizon >= 0;"
                    + " got token " + token + ", layer " + layer + ", horizon " + horizon);
        }
        this.token = token;
        this.layer = layer;
        this.horizon = Math.min(Math.min(horizon, maxHorizon), layers - 1 - layer);
        Arrays.fill(prob, 0, this.horizon * experts, 0f);
        return this.horizon;
    }

    /** Sets P(layer + distance chooses expert). */
    public void set(int distance, int expert, float p) {
        checkDistance(distance);
        if (expert < 0 || expert >= experts) throw new IllegalArgumentException("expert " + expert + " outside 0.." + (experts - 1));
        if (!(p >= 0 && p <= 1)) throw new IllegalArgumentException("probability must be in [0, 1], got " + p);
        prob[(distance - 1) * experts + expert] = p;
    }

    public float probability(int distance, int expert) {
        checkDistance(distance);
        return prob[(distance - 1) * experts + expert];
    }

    private void checkDistance(int distance) {
        if (distance < 1 || distance > horizon) {
            throw new IllegalArgumentException("distance " + distance + " outside 1.." + horizon);
        }
    }

    public long token() {
        return token;
    }

    /** The layer the predictions were made at; they concern layers {@code layer + 1 .. layer + horizon}. */
    public int layer() {
        return layer;
    }

    public int horizon() {
        return horizon;
    }

    public int layers() {
        return layers;
    }

    public int experts() {
        return experts;
    }

    public int maxHorizon() {
        return maxHorizon;
    }
}
