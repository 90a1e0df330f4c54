package dev.lookahead.expert;

import java.util.Objects;

/**
 * Evicts the candidate whose next use lies farthest ahead, as told by a {@link NextUseEstimator}. With the exact
 * future of a trace ({@link FutureAccesses}) this is Belady's MIN, the optimal demand-paging policy (fewest misses
 * for a given number of slots); with a predictor it is the lookahead gate's eviction. Ties (for example several
 * experts never needed again) go to the least recently used candidate, then to the lowest slot.
 */
public final class FarthestNextUsePolicy extends RecencyTrackingPolicy {
    private final String name;
    private final NextUseEstimator estimator;

    public FarthestNextUsePolicy(String name, NextUseEstimator estimator, int totalSlots) {
        super(totalSlots);
        this.name = Objects.requireNonNull(name, "name");
        this.estimator = Objects.requireNonNull(estimator, "estimator");
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public int chooseVictim(ExpertId incoming, long step, int[] candidates, int count, ExpertCache cache) {
        int victim = -1;
        long victimDistance = -1;
        for (int i = 0; i < count; i++) {
            int slot = candidates[i];
            long d = estimator.nextUseDistance(cache.occupant(slot), step);
            if (d < 1) {
                throw new IllegalStateException("next-use estimator '" + name + "' returned distance " + d
                        + " for " + cache.occupant(slot) + " at step " + step + " (must be >= 1 or NEVER)");
            }
            if (victim < 0 || d > victimDistance || (d == victimDistance && recency.olderThan(slot, victim))) {
                victim = slot;
                victimDistance = d;
            }
        }
        return victim;
    }
}
