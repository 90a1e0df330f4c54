package dev.lookahead.expert;

/**
 * Tells, for a resident expert, in how many steps it will be needed next: the hook through which knowledge of the
 * future reaches eviction. In replay the exact answer comes from the trace ({@link FutureAccesses}, which makes
 * {@link FarthestNextUsePolicy} Belady's optimal policy); in the engine a predictor (the lookahead gate) supplies
 * its estimate, and the policy evicts the expert predicted to be needed farthest ahead.
 */
@FunctionalInterface
public interface NextUseEstimator {
    /** Returned when the expert is not expected to be needed again (or not within the estimator's horizon). */
    long NEVER = Long.MAX_VALUE;

    /**
     * @param id   a resident expert
     * @param step the current step
     * @return steps from {@code step} to the expert's next use (>= 1), or {@link #NEVER}
     */
    long nextUseDistance(ExpertId id, long step);

    /**
     * Whether the estimates are worth following now. An estimator that measured itself evicting worse than LRU says
     * no, and {@link FarthestNextUsePolicy} then evicts per layer by {@link #recentUses} (or as per-layer LRU would).
     */
    default boolean informative() {
        return true;
    }

    /**
     * Whether eviction keeps each layer's share of the slots (slots / layers) while following the estimates: the
     * victim then comes from the incoming expert's layer once it holds its share, else from a layer holding more.
     * Only a pool shared by all layers is affected; per layer, every victim is of the incoming layer anyway.
     */
    default boolean withinShare() {
        return false;
    }

    /**
     * How much {@code id}'s layer chose it lately: a count of its choices, each weighted down by the tokens since.
     * {@link FarthestNextUsePolicy} evicts by it (least used first, then least recent) while the estimator is not
     * {@link #informative()}. NaN, the default, leaves that eviction to least recent use alone.
     */
    default double recentUses(ExpertId id, long step) {
        return Double.NaN;
    }
}
