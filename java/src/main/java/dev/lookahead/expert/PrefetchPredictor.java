package dev.lookahead.expert;

/**
 * Predicts which experts a layer will choose before its router runs, so their copies can start early. The engine
 * and the replay simulator drive it in decode order on one thread: for each token and layer, first
 * {@link #observe} (the router's actual choice for that layer), then {@link #predict} for the next layer.
 *
 * <p>In the engine, Mixtral-offloading's prediction is the next layer's router applied to the current hidden state
 * (an implementation the engine supplies, since it holds the hidden state); the lookahead gate later predicts
 * further ahead. Replay has no hidden states and uses {@link PreviousTokenPredictor} or, as a labelled what-if,
 * {@link OracleRecallPredictor}.
 */
public interface PrefetchPredictor {
    /** Name for reports. */
    String name();

    /** Layer {@code layer} of token {@code token} chose {@code experts} (do not keep the array). */
    void observe(long token, int layer, int[] experts);

    /**
     * The experts predicted for layer {@code layer} of token {@code token}, most likely first; may be empty.
     * Called after {@code observe(token, layer - 1, ...)}.
     */
    int[] predict(long token, int layer);
}
