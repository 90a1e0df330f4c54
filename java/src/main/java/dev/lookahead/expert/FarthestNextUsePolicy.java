package dev.lookahead.expert;

import java.util.Arrays;
import java.util.Objects;
import java.util.function.IntPredicate;

/**
 * Evicts the candidate whose next use lies farthest ahead, as told by a {@link NextUseEstimator}. With the exact
 * future of a trace ({@link FutureAccesses}) this is Belady's MIN, the optimal demand-paging policy (fewest misses
 * for a given number of slots); with a predictor it is the lookahead gate's eviction. Ties (for example several
 * experts never needed again) go to the least recently used candidate, then to the lowest slot.
 *
 * <p>While the estimator is not {@link NextUseEstimator#informative() informative}, the victim comes from the
 * candidates per-layer eviction may take, in any slot layout: those of the incoming expert's layer once that layer
 * holds its share of the slots (slots / layers), else of a layer holding more than its share. Among them it is the
 * one its layer chose least lately ({@link NextUseEstimator#recentUses}), then the least recently used; without use
 * counts it is the least recently used, which in one pool shared by all layers is Mixtral-offloading's eviction, not
 * global LRU. While it asks to keep layer shares ({@link NextUseEstimator#withinShare()}), the victim is the farthest
 * predicted among those same candidates: in a pool, per-layer eviction by the estimates.
 */
public final class FarthestNextUsePolicy extends RecencyTrackingPolicy {
    private final String name;
    private final NextUseEstimator estimator;
    private int[] residents = new int[0]; // per layer, while choosing as per-layer LRU

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
        if (!estimator.informative()) return leastUsedWithinShare(incoming, step, candidates, count, cache);
        IntPredicate eligible = estimator.withinShare() ? withinShare(incoming, candidates, count, cache) : slot -> true;
        int victim = -1;
        long victimDistance = -1;
        for (int i = 0; i < count; i++) {
            int slot = candidates[i];
            if (!eligible.test(slot)) continue;
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

    /**
     * The candidates per-layer eviction may take in a pool: those of the incoming expert's layer once it holds its share
     * of the slots, else those of layers holding more than theirs; every candidate when no layer qualifies.
     */
    private IntPredicate withinShare(ExpertId incoming, int[] candidates, int count, ExpertCache cache) {
        SlotLayout layout = cache.layout();
        countResidents(cache);
        int share = Math.max(1, layout.totalSlots() / layout.layers());
        IntPredicate own = slot -> cache.occupant(slot).layer() == incoming.layer();
        IntPredicate crowded = slot -> residents[cache.occupant(slot).layer()] > share;
        IntPredicate first = residents[incoming.layer()] >= share ? own : crowded;
        for (int i = 0; i < count; i++) if (first.test(candidates[i])) return first;
        for (int i = 0; i < count; i++) if (crowded.test(candidates[i])) return crowded;
        return slot -> true;
    }

    private void countResidents(ExpertCache cache) {
        SlotLayout layout = cache.layout();
        if (residents.length != layout.layers()) residents = new int[layout.layers()];
        Arrays.fill(residents, 0);
        for (int s = 0; s < layout.totalSlots(); s++) {
            ExpertId o = cache.occupant(s);
            if (o != null) residents[o.layer()]++;
        }
    }

    /** The victim while the estimator is not informative: per layer, least used lately, then least recent. */
    private int leastUsedWithinShare(ExpertId incoming, long step, int[] candidates, int count, ExpertCache cache) {
        IntPredicate eligible = withinShare(incoming, candidates, count, cache);
        int victim = -1;
        double victimUses = 0;
        for (int i = 0; i < count; i++) {
            int slot = candidates[i];
            if (!eligible.test(slot)) continue;
            double uses = estimator.recentUses(cache.occupant(slot), step);
            int c = Double.compare(uses, victimUses); // NaN (no counts) equals NaN: least recent decides
            if (victim < 0 || c < 0 || (c == 0 && recency.olderThan(slot, victim))) {
                victim = slot;
                victimUses = uses;
            }
        }
        return victim;
    }
}
