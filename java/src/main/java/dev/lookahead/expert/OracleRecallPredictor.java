package dev.lookahead.expert;

import java.util.SplittableRandom;

/**
 * WHAT-IF, replay only: a predictor that reads the trace's future and is right with probability {@code recall}.
 * For each layer it returns as many experts as the router chooses (top-k); each truly chosen expert is kept with
 * probability {@code recall}, otherwise replaced by a uniformly drawn expert the router did not choose. So recall and
 * precision are both {@code recall} in expectation. It answers "what would a predictor of this quality buy?", not
 * what any real predictor achieves. Deterministic for a given seed and call sequence.
 */
public final class OracleRecallPredictor implements PrefetchPredictor {
    public static final String NAME = "oracle";

    private final RoutingTrace trace;
    private final double recall;
    private final SplittableRandom random;

    public OracleRecallPredictor(RoutingTrace trace, double recall, long seed) {
        if (!(recall >= 0 && recall <= 1)) throw new IllegalArgumentException("recall must be in [0, 1], got " + recall);
        this.trace = trace;
        this.recall = recall;
        this.random = new SplittableRandom(seed);
    }

    @Override
    public String name() {
        return NAME + "(recall " + recall + ")";
    }

    @Override
    public void observe(long token, int layer, int[] experts) {
        // The oracle reads the trace instead.
    }

    @Override
    public int[] predict(long token, int layer) {
        int[] truth = trace.experts(Math.toIntExact(token), layer);
        int n = trace.experts();
        int[] out = new int[truth.length];
        boolean[] taken = new boolean[n];
        boolean[] hidden = new boolean[n];
        for (int e : truth) hidden[e] = true;
        int wrongAvailable = n - truth.length;
        for (int i = 0; i < truth.length; i++) {
            if (random.nextDouble() < recall || wrongAvailable == 0) {
                out[i] = truth[i];
            } else {
                int pick;
                do {
                    pick = random.nextInt(n);
                } while (hidden[pick] || taken[pick]);
                out[i] = pick;
                wrongAvailable--;
            }
            taken[out[i]] = true;
        }
        return out;
    }
}
