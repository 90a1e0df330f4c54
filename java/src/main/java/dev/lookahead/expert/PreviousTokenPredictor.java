package dev.lookahead.expert;

/**
 * The natural prediction from routing history alone: layer l of this token will choose what layer l chose for the
 * previous token. Nothing is predicted for the first token.
 *
 * <p>Under per-layer LRU with k >= top-k slots this predicts experts that are resident already (they were just
 * used), so it rarely issues a copy: it measures how little history alone offers, as DESIGN.md argues.
 */
public final class PreviousTokenPredictor implements PrefetchPredictor {
    public static final String NAME = "previous-token";

    private final int[][] last; // [layers][topK] of the latest observed token, null before it

    public PreviousTokenPredictor(int layers) {
        if (layers <= 0) throw new IllegalArgumentException("layers must be > 0, got " + layers);
        last = new int[layers][];
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public void observe(long token, int layer, int[] experts) {
        last[layer] = experts.clone();
    }

    @Override
    public int[] predict(long token, int layer) {
        int[] p = last[layer];
        return p == null ? new int[0] : p.clone();
    }
}
