package dev.lookahead.sched;

import dev.lookahead.expert.ExpertCache;
import dev.lookahead.expert.ExpertId;
import dev.lookahead.expert.FarthestNextUsePolicy;
import dev.lookahead.expert.LruPolicy;
import dev.lookahead.expert.NextUseEstimator;
import dev.lookahead.expert.SlotLayout;

/**
 * Whether eviction by the predictions beats Mixtral-offloading's on the routing actually seen, measured online: two
 * shadow caches take every demand lookup, one of the real cache's slot layout evicting by farthest predicted next use
 * (with bypass when the engine can bypass, as {@link SpeculativeScheduler} does), the other per-layer LRU over as many
 * slots (a pool shared by all layers is compared with its share per layer). The predictions are trusted while the
 * first shadow's hits over the last ~{@link #WINDOW} lookups are at least the second's.
 *
 * <p>Why: a head can be confidently wrong. Plug-and-play heads on a model whose routing is replayed (docs/gpu.md) know
 * nothing of that routing and evict worse than LRU; so may heads aligned on other text. While they are not trusted,
 * {@link PredictedNextUse} reports no knowledge, the real cache evicts as per-layer LRU would
 * ({@code FarthestNextUsePolicy}) and nothing is bypassed. Both shadows keep running, so trust returns when the
 * predictions improve.
 *
 * <p>The shadows model eviction only: no copies in flight, no prefetches, no staging. Lookups are decided by the
 * router (or the replayed trace), not by residency, so both shadows see the same sequence as the real cache. Not
 * thread-safe; one per scheduler.
 */
final class EvictionTrust {
    /** Lookups over which the two shadows' hits are compared (a moving sum). */
    static final int WINDOW = 512;
    private static final double DECAY = 1 - 1.0 / WINDOW;

    private final NextUseEstimator predicted;
    private final ExpertCache byPrediction;
    private final ExpertCache byRecency;
    private final ProtectedExperts chosen;
    private double advantage; // moving sum of (prediction shadow hit) - (LRU shadow hit) per lookup
    private long lookups;
    private long untrustedLookups;

    /** @param predicted the predictions' own next-use estimate, whatever the trust */
    EvictionTrust(SlotLayout layout, int experts, ExpertId[] ids, NextUseEstimator predicted) {
        this.predicted = predicted;
        byPrediction = new ExpertCache(layout, 1, new FarthestNextUsePolicy("shadow-predicted", predicted, layout.totalSlots()));
        SlotLayout perLayer = new SlotLayout.PerLayer(layout.layers(), Math.max(1, layout.totalSlots() / layout.layers()));
        byRecency = new ExpertCache(perLayer, 1, new LruPolicy(perLayer.totalSlots()));
        chosen = new ProtectedExperts(layout.layers(), experts, ids);
    }

    /** The predictions are trusted now. */
    boolean trusted() {
        return advantage >= 0;
    }

    /** Lookups seen, and those made while the predictions were not trusted. */
    long lookups() {
        return lookups;
    }

    long untrustedLookups() {
        return untrustedLookups;
    }

    /**
     * A layer chose {@code ids[0 .. count)} at {@code step}: both shadows look them up and admit the misses.
     *
     * @param bypass whether the engine serves a miss outside the cache when its expert is predicted to be needed
     *               later than the victim's
     */
    void observe(long step, ExpertId[] ids, int count, boolean bypass) {
        chosen.clear();
        for (int i = 0; i < count; i++) chosen.add(ids[i].layer(), ids[i].expert());
        for (int i = 0; i < count; i++) {
            ExpertId id = ids[i];
            if (!trusted()) untrustedLookups++;
            lookups++;
            int hit = lookUp(byPrediction, id, step, bypass) ? 1 : 0;
            hit -= lookUp(byRecency, id, step, false) ? 1 : 0;
            advantage = advantage * DECAY + hit;
        }
    }

    /** A lookup in {@code shadow}; a miss is admitted at once (or bypassed). Returns whether it hit. */
    private boolean lookUp(ExpertCache shadow, ExpertId id, long step, boolean bypass) {
        if (shadow.lookup(id, step) != ExpertCache.MISS) return true;
        if (bypass) {
            int victim = shadow.victimFor(id, step, chosen);
            if (victim >= 0 && predicted.nextUseDistance(id, step)
                    > predicted.nextUseDistance(shadow.occupant(victim), step)) {
                return false;
            }
        }
        // a per-layer share smaller than the layer's choices (a tiny pool) cannot hold them all: the rest run uncached
        if (shadow.canAdmit(id, chosen)) shadow.markReady(shadow.admit(id, step, chosen));
        return false;
    }
}
