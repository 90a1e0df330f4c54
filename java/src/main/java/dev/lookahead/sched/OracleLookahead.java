package dev.lookahead.sched;

import dev.lookahead.expert.RoutingTrace;

import java.util.Arrays;
import java.util.Objects;
import java.util.SplittableRandom;

/**
 * WHAT-IF, replay only: a lookahead predictor that reads the trace's future with recall r. For each (token, layer)
 * it draws one predicted set of top-k experts, once: each truly chosen expert is kept with probability r, otherwise
 * replaced by a uniformly drawn expert the layer did not choose (as {@code OracleRecallPredictor}). Every distance
 * sees the same draw, so asking again from a closer layer does not improve it. The probabilities it reports are
 * calibrated to that process: r for a predicted expert, (1 - r) K / (E - K) for the others. It answers "what would
 * a hidden-state predictor of recall r buy through the scheduler?", not what any real predictor achieves.
 *
 * <p>With {@link TokensAhead} recalls it also plays the engine's next-token and two-token heads: at layer l of token
 * t it draws, the same way, layer l of tokens t + 1 and t + 2 and hands them to eviction
 * ({@link #predictTokensAhead}); each such draw is made afresh, independent of the within-token ones.
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
    private final TokensAhead tokensAhead;
    private final boolean[] aheadMember; // [E], scratch of predictTokensAhead
    private final int[] aheadDrawn;      // [K]

    /**
     * Recalls of the predictions for layer l of the next token and of the token after it, made at layer l; null
     * where the oracle predicts nothing for that token.
     */
    public record TokensAhead(Double next, Double two) {
        public static final TokensAhead NONE = new TokensAhead(null, null);

        public TokensAhead {
            for (Double r : new Double[] {next, two}) {
                if (r != null && !(r >= 0 && r <= 1)) throw new IllegalArgumentException("recall must be in [0, 1], got " + r);
            }
        }
    }

    public OracleLookahead(RoutingTrace trace, double recall, int horizon, long seed) {
        this(trace, recall, horizon, TokensAhead.NONE, seed);
    }

    public OracleLookahead(RoutingTrace trace, double recall, int horizon, TokensAhead tokensAhead, long seed) {
        if (!(recall >= 0 && recall <= 1)) throw new IllegalArgumentException("recall must be in [0, 1], got " + recall);
        if (horizon < 1) throw new IllegalArgumentException("horizon must be >= 1, got " + horizon);
        this.trace = trace;
        this.recall = recall;
        this.horizon = horizon;
        this.tokensAhead = Objects.requireNonNull(tokensAhead, "tokensAhead");
        this.random = new SplittableRandom(seed);
        int k = trace.topK(), e = trace.experts();
        drawn = new int[trace.layers()][k];
        member = new boolean[trace.layers()][e];
        inside = (float) recall;
        outside = outsideProbability(recall, k, e);
        aheadMember = new boolean[e];
        aheadDrawn = new int[k];
    }

    /** The calibrated probability of an expert the draw did not predict: (1 - r) K / (E - K). */
    private static float outsideProbability(double recall, int k, int e) {
        return e > k ? (float) ((1 - recall) * k / (e - k)) : 0f;
    }

    @Override
    public String name() {
        String ahead = (tokensAhead.next() == null ? "" : ", next token " + tokensAhead.next())
                + (tokensAhead.two() == null ? "" : ", two tokens ahead " + tokensAhead.two());
        return NAME + "(recall " + recall + ahead + ")";
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
        for (int l = 0; l < trace.layers(); l++) drawSet(trace.experts(t, l), recall, drawn[l], member[l]);
        drawnToken = token;
    }

    /** One predicted set for {@code truth}: each true expert kept with probability r, else a random wrong one. */
    private void drawSet(int[] truth, double r, int[] out, boolean[] inSet) {
        int n = trace.experts();
        boolean[] chosen = new boolean[n];
        for (int e : truth) chosen[e] = true;
        Arrays.fill(inSet, false);
        int wrongLeft = n - truth.length;
        for (int i = 0; i < truth.length; i++) {
            int pick = truth[i];
            if (!(random.nextDouble() < r) && wrongLeft > 0) {
                do {
                    pick = random.nextInt(n);
                } while (chosen[pick] || inSet[pick]);
                wrongLeft--;
            }
            out[i] = pick;
            inSet[pick] = true;
        }
    }

    @Override
    public void predictTokensAhead(long token, int layer, PredictedNextUse out) {
        predictAhead(token, 1, layer, tokensAhead.next(), out);
        predictAhead(token, 2, layer, tokensAhead.two(), out);
    }

    private void predictAhead(long token, int ahead, int layer, Double r, PredictedNextUse out) {
        if (r == null || token + ahead >= trace.tokenCount()) return;
        drawSet(trace.experts(Math.toIntExact(token + ahead), layer), r, aheadDrawn, aheadMember);
        float in = (float) (double) r, off = outsideProbability(r, trace.topK(), trace.experts());
        for (int e = 0; e < aheadMember.length; e++) out.predictTokensAhead(token, ahead, layer, e, aheadMember[e] ? in : off);
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
