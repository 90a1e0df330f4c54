package dev.lookahead.sched;

/**
 * Predicts, at each layer of a token, which experts the next layers of the same token will choose. The engine's
 * implementation is the lookahead gate (heads over the hidden state); replay has only routing history
 * ({@link HistoryPredictor}) or, as a labelled what-if, the trace's truth ({@link OracleLookahead}).
 *
 * <p>Driven in decode order on one thread: for each token and layer, {@link #observe} with the router's choice,
 * then {@link #predict}.
 */
public interface LookaheadPredictor {
    /** Name for reports. */
    String name();

    /** Largest distance predicted. */
    int horizon();

    /** Layer {@code layer} of token {@code token} chose {@code experts} (do not keep the array). */
    void observe(long token, int layer, int[] experts);

    /** Fills {@code out} (after {@link LayerPredictions#reset}) for layers {@code layer + 1 .. layer + horizon}. */
    void predict(long token, int layer, LayerPredictions out);

    /**
     * Before layer {@code layer} of token {@code token} looks up its experts: predictions for layer {@code layer} of
     * the next tokens, handed to {@code out} ({@link PredictedNextUse#predictTokensAhead}), as the engine's next-token
     * and two-token heads do (they run with the layer's router). The default predicts nothing.
     */
    default void predictTokensAhead(long token, int layer, PredictedNextUse out) {
    }
}
