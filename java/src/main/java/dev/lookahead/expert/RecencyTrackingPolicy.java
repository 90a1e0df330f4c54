package dev.lookahead.expert;

/**
 * Base of the policies that break ties (or decide outright) by recency: every lookup hit and every fill touches the
 * slot, an eviction forgets it. A prefetched expert counts as used when its copy is issued.
 */
abstract class RecencyTrackingPolicy implements EvictionPolicy {
    protected final RecencyTracker recency;

    protected RecencyTrackingPolicy(int totalSlots) {
        recency = new RecencyTracker(totalSlots);
    }

    @Override
    public final void onHit(int slot, ExpertId id, long step) {
        recency.touch(slot, step);
    }

    @Override
    public final void onFill(int slot, ExpertId id, long step, boolean prefetch) {
        recency.touch(slot, step);
    }

    @Override
    public final void onEvict(int slot, ExpertId id) {
        recency.forget(slot);
    }
}
