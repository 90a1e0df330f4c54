package dev.lookahead.sched;

import dev.lookahead.expert.ExpertCache;
import dev.lookahead.expert.ExpertId;
import dev.lookahead.expert.FarthestNextUsePolicy;
import dev.lookahead.expert.LruPolicy;
import dev.lookahead.expert.NextUseEstimator;
import dev.lookahead.expert.SlotLayout;

/**
 * Which of the predictions' next-use estimates, if any, evicts better than Mixtral-offloading on the routing actually
 * seen, measured online: a shadow cache per candidate estimate, of the real cache's slot layout, evicting by farthest
 * estimated next use (with bypass when the engine can bypass, as {@link SpeculativeScheduler} does), and one per-layer
 * LRU over as many slots (a pool shared by all layers is compared with its share per layer) take every demand lookup.
 * The candidate followed is the one whose shadow hit most over the last ~{@link #WINDOW} lookups, as long as that is
 * at least the LRU shadow's (and, for one not followed until now, {@link #SWITCH_MARGIN} more); otherwise none is
 * ({@link #best} is -1).
 *
 * <p>Why: a head can be confidently wrong. Plug-and-play heads on a model whose routing is replayed (docs/gpu.md) know
 * nothing of that routing and evict worse than LRU; so may heads aligned on other text. The routing recurrence
 * ({@link RoutingRecurrence}) knows that routing whatever the heads know, so it is a candidate alone as well as with
 * the heads ({@link PredictedNextUse.Source}). While no candidate is followed, {@link PredictedNextUse} reports no
 * knowledge, the real cache evicts per layer by recent uses (the least chosen lately; {@code FarthestNextUsePolicy})
 * and nothing is bypassed.
 * Every shadow keeps running, so a candidate is followed again when it improves.
 *
 * <p>The shadows model eviction only: no copies in flight, no prefetches, no staging. Lookups are decided by the
 * router (or the replayed trace), not by residency, so every shadow sees the same sequence as the real cache. Not
 * thread-safe; one per scheduler.
 */
final class EvictionTrust {
    /** Lookups over which the shadows' hits are compared (moving sums). */
    static final int WINDOW = 512;
    private static final double DECAY = 1 - 1.0 / WINDOW;
    /**
     * Hits a candidate not followed now must be ahead of the LRU shadow by to be followed: a shadow can lead by chance
     * for a while, and every switch of criterion costs the real cache the contents the other one chose.
     */
    static final double SWITCH_MARGIN = WINDOW / 64.0;

    private final NextUseEstimator[] candidates;
    private final ExpertCache[] byPrediction; // one per candidate
    private final ExpertCache byRecency;
    private final ProtectedExperts chosen;
    private final double[] advantage;         // per candidate: moving sum of (its shadow hit) - (LRU shadow hit)
    private int best;
    private long lookups;
    private final long[] lookupsFollowing;    // per candidate: lookups made while it was followed
    private long untrustedLookups;
    // the layer observed last, whose lookups the shadows have not made yet (admitObserved)
    private ExpertId[] pendingIds = new ExpertId[0];
    private int pendingCount;
    private long pendingStep;
    private boolean pendingBypass;

    /** @param candidates the next-use estimates to choose from, each whatever is followed */
    EvictionTrust(SlotLayout layout, int experts, ExpertId[] ids, NextUseEstimator... candidates) {
        if (candidates.length == 0) throw new IllegalArgumentException("no candidate estimate");
        this.candidates = candidates.clone();
        byPrediction = new ExpertCache[candidates.length];
        for (int i = 0; i < candidates.length; i++) {
            byPrediction[i] = new ExpertCache(layout, 1,
                    new FarthestNextUsePolicy("shadow-predicted-" + i, candidates[i], layout.totalSlots()));
        }
        SlotLayout perLayer = new SlotLayout.PerLayer(layout.layers(), Math.max(1, layout.totalSlots() / layout.layers()));
        byRecency = new ExpertCache(perLayer, 1, new LruPolicy(perLayer.totalSlots()));
        chosen = new ProtectedExperts(layout.layers(), experts, ids);
        advantage = new double[candidates.length];
        lookupsFollowing = new long[candidates.length];
    }

    /** The candidate to follow now, or -1 for none (per-layer eviction by recent uses). */
    int best() {
        return best;
    }

    /** Some candidate is followed now. */
    boolean trusted() {
        return best >= 0;
    }

    /** Lookups seen, those made while no candidate was followed, and those made while candidate i was. */
    long lookups() {
        return lookups;
    }

    long untrustedLookups() {
        return untrustedLookups;
    }

    long lookupsFollowing(int candidate) {
        return lookupsFollowing[candidate];
    }

    /**
     * A layer chose {@code ids[0 .. count)} at {@code step}: scores every shadow by whether it holds them and chooses
     * the candidate to follow. The shadows' own lookups and admissions wait for {@link #admitObserved} (or the next
     * observe): they scan every slot per miss, tens of microseconds in a pool of a hundred slots, and nothing the real
     * demand decides depends on them. A shadow holds a chosen expert now exactly when its lookup in order would hit,
     * because admitting one chosen expert never evicts another.
     *
     * @param bypass whether the engine serves a miss outside the cache when its expert is estimated to be needed
     *               later than the victim's
     */
    void observe(long step, ExpertId[] ids, int count, boolean bypass) {
        admitObserved();
        for (int i = 0; i < count; i++) {
            ExpertId id = ids[i];
            if (best < 0) untrustedLookups++;
            else lookupsFollowing[best]++;
            lookups++;
            int lruHit = byRecency.contains(id) ? 1 : 0;
            for (int c = 0; c < candidates.length; c++) {
                int hit = byPrediction[c].contains(id) ? 1 : 0;
                advantage[c] = advantage[c] * DECAY + hit - lruHit;
            }
        }
        int followed = best;
        best = -1;
        for (int c = 0; c < candidates.length; c++) {
            boolean eligible = advantage[c] >= (c == followed ? 0 : SWITCH_MARGIN);
            if (eligible && (best < 0 || advantage[c] > advantage[best])) best = c;
        }
        if (pendingIds.length < count) pendingIds = new ExpertId[count];
        System.arraycopy(ids, 0, pendingIds, 0, count);
        pendingCount = count;
        pendingStep = step;
        pendingBypass = bypass;
    }

    /**
     * The shadows look up the last observed layer's choice and admit their misses, as if at its step. Call it before
     * the estimates change (new predictions, the next layer's next-token ones), so that each shadow evicts by the
     * estimates of that step; without a pending layer it does nothing.
     */
    void admitObserved() {
        if (pendingCount == 0) return;
        int count = pendingCount;
        pendingCount = 0;
        chosen.clear();
        for (int i = 0; i < count; i++) chosen.add(pendingIds[i].layer(), pendingIds[i].expert());
        for (int i = 0; i < count; i++) {
            lookUp(byRecency, null, pendingIds[i], pendingStep, false);
            for (int c = 0; c < candidates.length; c++) lookUp(byPrediction[c], candidates[c], pendingIds[i], pendingStep, pendingBypass);
        }
    }

    /** A lookup in {@code shadow}; a miss is admitted at once (or bypassed by {@code estimate}). */
    private void lookUp(ExpertCache shadow, NextUseEstimator estimate, ExpertId id, long step, boolean bypass) {
        if (shadow.lookup(id, step) != ExpertCache.MISS) return;
        if (bypass) {
            int victim = shadow.victimFor(id, step, chosen);
            if (victim >= 0 && estimate.nextUseDistance(id, step)
                    > estimate.nextUseDistance(shadow.occupant(victim), step)) {
                return;
            }
        }
        // a per-layer share smaller than the layer's choices (a tiny pool) cannot hold them all: the rest run uncached
        if (shadow.canAdmit(id, chosen)) shadow.markReady(shadow.admit(id, step, chosen));
    }
}
