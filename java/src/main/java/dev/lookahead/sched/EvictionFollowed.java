package dev.lookahead.sched;

/**
 * Demand lookups by the estimate eviction followed when they were made ({@link EvictionTrust}): the predictor with the
 * routing recurrence, the predictor alone, the recurrence alone, or none ({@code untrusted}: no estimate beat LRU, and
 * eviction went per layer by recent uses, {@code PredictedNextUse.recentUses}); and, in one pool, those of the first
 * three made while eviction kept each layer's share of the slots. The same counts serve replay, the bench and the
 * statistics JSON.
 */
public record EvictionFollowed(long lookups, long predictorAndRecurrence, long predictor, long recurrence, long untrusted,
                               long sharesKept) {
    /** No scheduler (the baselines): no lookups. */
    public static final EvictionFollowed NONE = new EvictionFollowed(0, 0, 0, 0, 0, 0);

    /** {@code part} as a share of the lookups (0 without lookups). */
    public double share(long part) {
        return lookups == 0 ? 0 : part / (double) lookups;
    }
}
