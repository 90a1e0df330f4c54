package dev.lookahead.expert;

/**
 * Least recently used: evicts the candidate whose last lookup or fill is oldest. A prefetched expert counts as used
 * when its copy is issued. Per-layer or global as the cache's {@link SlotLayout} decides (the candidates it offers).
 */
public final class LruPolicy extends RecencyTrackingPolicy {
    public static final String NAME = "lru";

    public LruPolicy(int totalSlots) {
        super(totalSlots);
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public int chooseVictim(ExpertId incoming, long step, int[] candidates, int count, ExpertCache cache) {
        int victim = candidates[0];
        for (int i = 1; i < count; i++) {
            if (recency.olderThan(candidates[i], victim)) victim = candidates[i];
        }
        return victim;
    }
}
