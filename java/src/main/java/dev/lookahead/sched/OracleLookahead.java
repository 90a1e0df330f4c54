package dev.lookahead.sched;

import dev.lookahead.expert.RoutingTrace;

import java.util.SplittableRandom;

/**
 * WHAT-IF, replay only: a lookahead predictor that reads the trace's future with recall r. For each (token, layer)
 * it draws one predicted set of top-k experts, once: each truly chosen expert is kept with probability r, otherwise
 * replaced by a uniformly drawn expert the layer did not choose (as {@code OracleRecallPredictor}). Every distance
 * sees the same draw, so asking again from a closer layer does not improve it. The probabilities it reports are
 * calibrated to that process: r for a predicted expert, (1 - r) K / (E - K) for the others. It answers "what would
 * a hidden-state predictor of recall r buy through the scheduler?", not what any real predictor achieves.
 */
public final class OracleLookahead implements LookaheadPredictor {
    public static final String NAME = "oracle";

    private final RoutingTrace trace;
    private final double recall;
    private final int horizon;
    private final SplittableRandom random;
    private final int[][] drawn;         // [layer][K] for the current token
    private final boolean[][] member;    // [layer][E]
    private long drawnToken = -1;
    private final float inside;
    private final float outside;

    public OracleLookahead(RoutingTrace trace, double recall, int horizon, long seed) {
        if (!(recall >= 0 && recall <= 1)) throw new IllegalArgumentException("recall must be in [0, 1], got " + recall);
        if (horizon < 1) throw new IllegalArgumentException("horizon must be >= 1, got " + horizon);
        this.trace = trace;
        this.recall = recall;
        this.horizon = horizon;
        this.random = new SplittableRandom(seed);
        int k = trace.topK(), e = trace.experts();
        drawn = new int[trace.layers()][k];
        member = new boolean[trace.layers()][e];
        inside = (float) recall;
        outside = e > k ? (float) ((1 - recall) * k / (e - k)) : 0f;
    }

    @Override
    public String name() {
        return NAME + "(recall " + recall + ")";
    }

    @Override
    public int horizon() {
        return horizon;
    }

    @Override
    public void observe(long token, int layer, int[] experts) {
        if (token != drawnToken) draw(token);
    }

    private void draw(long token) {
        int t = Math.toIntExact(token);
        int n = trace.experts();
        for (int l = 0; l < trace.layers(); l++) {
            int[] truth = trace.experts(t, l);
            boolean[] chosen = new boolean[n];
            for (int e : truth) chosen[e] = true;
            java.util.Arrays.fill(member[l], false);
            int wrongLeft = n - truth.length;
            for (int i = 0; i < truth.length; i++) {
                int pick = truth[i];
                if (!(random.nextDouble() < recall) && wrongLeft > 0) {
                    do {
                        pick = random.nextInt(n);
                    } while (chosen[pick] || member[l][pick]);
                    wrongLeft--;
                }
                drawn[l][i] = pick;
                member[l][pick] = true;
            }
        }
        drawnToken = token;
    }

    @Override
    public void predict(long token, int layer, LayerPredictions out) {
        if (token != drawnToken) draw(token);
        int h = out.reset(token, layer, horizon);
        for (int d = 1; d <= h; d++) {
            boolean[] m = member[layer + d];
            for (int e = 0; e < m.length; e++) out.set(d, e, m[e] ? inside : outside);
        }
    }
}
