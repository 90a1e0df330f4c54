package dev.lookahead.sched;

/**
 * Recall@k of predictions per distance, measured against the truth: for predictions made at layer l for layer
 * l + d, the share of the experts layer l + d chose that are among the k most probable predicted ones (k = the
 * number it chose; ties go to the lower expert index). Averaged over every prediction made.
 */
public final class PredictionRecall {
    private final long[] hits;   // [d]
    private final long[] total;  // [d]
    private final int[] top;

    public PredictionRecall(int maxHorizon, int experts) {
        hits = new long[maxHorizon + 1];
        total = new long[maxHorizon + 1];
        top = new int[experts];
    }

    /** Scores the predictions for distance {@code d} against {@code truth}, the experts layer l + d chose. */
    public void add(LayerPredictions p, int d, int[] truth) {
        int k = truth.length;
        int n = p.experts();
        for (int e = 0; e < n; e++) top[e] = e;
        for (int i = 0; i < k && i < n; i++) {
            int best = i;
            for (int j = i + 1; j < n; j++) {
                float a = p.probability(d, top[j]), b = p.probability(d, top[best]);
                if (a > b || (a == b && top[j] < top[best])) best = j;
            }
            int t = top[i];
            top[i] = top[best];
            top[best] = t;
        }
        for (int e : truth) {
            for (int i = 0; i < k && i < n; i++) {
                if (top[i] == e) {
                    hits[d]++;
                    break;
                }
            }
        }
        total[d] += k;
    }

    public int maxHorizon() {
        return hits.length - 1;
    }

    /** Recall@k at distance d; NaN when nothing was predicted that far. */
    public double recall(int d) {
        return total[d] == 0 ? Double.NaN : (double) hits[d] / total[d];
    }

    /** Over all distances. */
    public double overall() {
        long h = 0, t = 0;
        for (int d = 1; d < hits.length; d++) {
            h += hits[d];
            t += total[d];
        }
        return t == 0 ? Double.NaN : (double) h / t;
    }
}
