package dev.lookahead.gate;

/**
 * The alignment objective of one head over calibration tokens: mean KL(p || softmax(W x + b)),
 * where x is the normalised MoE input of the head's source layer and p the true routing
 * distribution of its target layer. Its gradient with respect to the logits is q - p (q the
 * head's softmax), so dKL/dW = (q - p) xᵀ and dKL/db = q - p. The parameters are one double
 * vector while training: W [experts, hidden] row-major, then b [experts].
 *
 * <p>A next-token head pairs token t's source with token t + 1's target, so the last calibration
 * token has no target for it and is left out of every range.
 */
final class HeadObjective {
    private final float[] sources; // [tokens * hidden]
    private final float[] targets; // [tokens * experts]
    private final int hidden, experts;
    private final int ahead; // tokens between a source and its target
    private final int end;   // sources [0, end) have a target
    private final double[] logits, q;
    private double pSum;

    HeadObjective(CalibrationData data, HeadId id) {
        this.sources = data.sources(id.layer());
        this.targets = data.targets(id.targetLayer(data.layers()));
        this.ahead = id.tokensAhead(data.layers());
        this.end = data.tokens() - ahead;
        this.hidden = data.hidden();
        this.experts = data.experts();
        this.logits = new double[experts];
        this.q = new double[experts];
    }

    /** Parameters in one vector: W [experts * hidden], then b [experts]. */
    static double[] pack(float[] weight, float[] bias) {
        double[] out = new double[weight.length + bias.length];
        for (int i = 0; i < weight.length; i++) out[i] = weight[i];
        for (int i = 0; i < bias.length; i++) out[weight.length + i] = bias[i];
        return out;
    }

    /** The inverse of {@link #pack}, rounded to float. */
    static LookaheadHeads.Parameters unpack(double[] params, int experts, int hidden) {
        float[] w = new float[experts * hidden], b = new float[experts];
        for (int i = 0; i < w.length; i++) w[i] = (float) params[i];
        for (int i = 0; i < b.length; i++) b[i] = (float) params[w.length + i];
        return new LookaheadHeads.Parameters(w, b);
    }

    /** Mean KL over tokens[from, to). */
    double loss(double[] w, int from, int to) {
        to = Math.min(to, end);
        double sum = 0;
        for (int t = from; t < to; t++) sum += tokenKl(w, t);
        return sum / (to - from);
    }

    /** Mean KL over the given tokens; adds its gradient to {@code grad} (which the caller zeroes). */
    double lossAndGradient(double[] w, int[] tokens, int from, int to, double[] grad) {
        double sum = 0;
        double scale = 1.0 / (to - from);
        int bias = experts * hidden;
        for (int i = from; i < to; i++) {
            int t = tokens[i];
            sum += tokenKl(w, t); // leaves softmax(W x_t) in q and the target's float-rounding sum in pSum
            int x = t * hidden, p = (t + ahead) * experts;
            for (int e = 0; e < experts; e++) {
                double g = (q[e] - targets[p + e] / pSum) * scale;
                grad[bias + e] += g;
                if (g == 0) continue;
                int row = e * hidden;
                for (int j = 0; j < hidden; j++) grad[row + j] += g * sources[x + j];
            }
        }
        return sum * scale;
    }

    /** KL(p_t || softmax(W x_t)); leaves the softmax in {@link #q}. */
    private double tokenKl(double[] w, int t) {
        int x = t * hidden, p = (t + ahead) * experts;
        for (int e = 0; e < experts; e++) {
            double s = w[experts * hidden + e];
            int row = e * hidden;
            for (int j = 0; j < hidden; j++) s += w[row + j] * sources[x + j];
            logits[e] = s;
        }
        double logZ = GateMath.softmax(logits, q, experts);
        // The stored targets are float: renormalise so that KL >= 0 holds exactly, not to within 1e-7.
        pSum = 0;
        for (int e = 0; e < experts; e++) pSum += targets[p + e];
        double kl = 0;
        for (int e = 0; e < experts; e++) {
            double pe = targets[p + e] / pSum;
            if (pe > 0) kl += pe * (Math.log(pe) - (logits[e] - logZ));
        }
        return kl;
    }

    /** KL and recall of W over tokens[from, to) against the router's top-k. */
    HeadMetrics metrics(double[] w, int from, int to, int k) {
        to = Math.min(to, end);
        int k2 = Math.min(2 * k, experts);
        double kl = 0, hitsK = 0, hits2K = 0;
        for (int t = from; t < to; t++) {
            kl += tokenKl(w, t);
            int[] truth = GateMath.topK(targets, (t + ahead) * experts, experts, k);
            int[] predicted = GateMath.topK(logits, experts, k2);
            hitsK += overlap(truth, predicted, k);
            hits2K += overlap(truth, predicted, k2);
        }
        int n = to - from;
        return new HeadMetrics(kl / n, hitsK / ((double) n * k), hits2K / ((double) n * k));
    }

    /** How many of {@code truth} are among the first {@code m} of {@code predicted}. */
    static int overlap(int[] truth, int[] predicted, int m) {
        int hits = 0;
        for (int e : truth) {
            for (int j = 0; j < m; j++) {
                if (predicted[j] == e) {
                    hits++;
                    break;
                }
            }
        }
        return hits;
    }

    /**
     * Recall of a fixed guess, the experts most often in the router's top-k over tokens[fitFrom,
     * fitTo), measured on tokens[from, to): the baseline a head must beat to know anything.
     */
    HeadMetrics priorRecall(int fitFrom, int fitTo, int from, int to, int k) {
        to = Math.min(to, end);
        int k2 = Math.min(2 * k, experts);
        double[] counts = new double[experts];
        for (int t = fitFrom; t < fitTo; t++) {
            for (int e : GateMath.topK(targets, t * experts, experts, k)) counts[e]++;
        }
        int[] guess = GateMath.topK(counts, experts, k2);
        double hitsK = 0, hits2K = 0;
        for (int t = from; t < to; t++) {
            int[] truth = GateMath.topK(targets, (t + ahead) * experts, experts, k);
            hitsK += overlap(truth, guess, k);
            hits2K += overlap(truth, guess, k2);
        }
        int n = to - from;
        return new HeadMetrics(Double.NaN, hitsK / ((double) n * k), hits2K / ((double) n * k));
    }
}
