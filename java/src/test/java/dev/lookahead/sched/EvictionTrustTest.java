package dev.lookahead.sched;

import dev.lookahead.expert.ExpertCache;
import dev.lookahead.expert.ExpertId;
import dev.lookahead.expert.FarthestNextUsePolicy;
import dev.lookahead.expert.LruPolicy;
import dev.lookahead.expert.FutureAccesses;
import dev.lookahead.expert.NextUseEstimator;
import dev.lookahead.expert.RoutingTrace;
import dev.lookahead.expert.SlotLayout;
import dev.lookahead.expert.Steps;
import org.junit.jupiter.api.Test;


import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The shadow duel between eviction by predictions and LRU, on routing with the recency real routing has. */
class EvictionTrustTest {
    static final int LAYERS = 3, EXPERTS = 8, TOKENS = 3000;

    /** Top-2 routing with the recency real routing has: a layer repeats the previous token's pair 60 % of the time. */
    static RoutingTrace recencyRouting(long seed) {
        return Traces.sticky(seed, LAYERS, EXPERTS, TOKENS, 0.6);
    }

    /** Feeds every lookup of {@code trace} to {@code trust}; {@code afterStep} sees each step after its lookups. */
    static void replay(RoutingTrace trace, EvictionTrust trust, boolean bypass, java.util.function.LongConsumer afterStep,
                       ExpertId[] ids) {
        ExpertId[] chosen = new ExpertId[2];
        for (int t = 0; t < trace.tokenCount(); t++) {
            for (int l = 0; l < LAYERS; l++) {
                int[] e = trace.experts(t, l);
                for (int i = 0; i < e.length; i++) chosen[i] = ids[l * EXPERTS + e[i]];
                long step = Steps.of(t, l, LAYERS);
                trust.observe(step, chosen, e.length, bypass);
                afterStep.accept(step);
            }
        }
    }

    @Test
    void exactKnowledgeOfTheFutureIsTrustedThroughout() {
        RoutingTrace trace = recencyRouting(7);
        ExpertId[] ids = ExpertId.table(LAYERS, EXPERTS);
        for (boolean bypass : new boolean[] {false, true}) {
            EvictionTrust trust = new EvictionTrust(new SlotLayout.PerLayer(LAYERS, 4), EXPERTS, ids, new FutureAccesses(trace));
            replay(trace, trust, bypass, step -> { }, ids);
            assertEquals((long) TOKENS * LAYERS * 2, trust.lookups());
            assertTrue(trust.trusted());
            assertTrue(trust.untrustedLookups() <= trust.lookups() / 100,
                    "Belady (bypass " + bypass + ") distrusted for " + trust.untrustedLookups() + " lookups");
        }
    }

    @Test
    void predictionsThatEvictTheMostRecentlyUsedExpertLoseTheirTrust() {
        RoutingTrace trace = recencyRouting(11);
        ExpertId[] ids = ExpertId.table(LAYERS, EXPERTS);
        long[] lastUse = new long[LAYERS * EXPERTS];
        // wrong in the way a confidently wrong head is: the expert just used is "needed farthest ahead"
        NextUseEstimator mostRecentFirst = (id, step) -> 1 + Math.max(0, 1_000_000 - (step - lastUse[id.layer() * EXPERTS + id.expert()]));
        EvictionTrust trust = new EvictionTrust(new SlotLayout.GlobalPool(LAYERS, 4 * LAYERS), EXPERTS, ids, mostRecentFirst);
        replay(trace, trust, true, step -> {
            int layer = (int) (step % LAYERS);
            for (int e : trace.experts((int) (step / LAYERS), layer)) lastUse[layer * EXPERTS + e] = step;
        }, ids);
        assertFalse(trust.trusted());
        assertTrue(trust.untrustedLookups() >= trust.lookups() * 9 / 10,
                "distrusted for only " + trust.untrustedLookups() + " of " + trust.lookups() + " lookups");
    }

    /**
     * The trust scores a layer's lookups before its shadows admit their misses (that work runs after the demand
     * copies). It must follow exactly what shadows that look up and admit at once, one expert after another, measure:
     * this test's own such duel, over a pool with bypass, a candidate that knows the future and one that knows it
     * 8 tokens ahead.
     */
    @Test
    void scoringBeforeTheShadowsAdmitChoosesAsLookingUpInOrder() {
        RoutingTrace trace = recencyRouting(5);
        ExpertId[] ids = ExpertId.table(LAYERS, EXPERTS);
        SlotLayout pool = new SlotLayout.GlobalPool(LAYERS, 3 * LAYERS);
        NextUseEstimator[] candidates = {new FutureAccesses(trace), FutureAccesses.withHorizon(trace, 8)};
        EvictionTrust trust = new EvictionTrust(pool, EXPERTS, ids, candidates);

        ExpertCache[] shadows = new ExpertCache[candidates.length];
        for (int c = 0; c < candidates.length; c++) {
            shadows[c] = new ExpertCache(pool, 1, new FarthestNextUsePolicy("reference-" + c, candidates[c], pool.totalSlots()));
        }
        SlotLayout perLayer = new SlotLayout.PerLayer(LAYERS, 3);
        ExpertCache lru = new ExpertCache(perLayer, 1, new LruPolicy(perLayer.totalSlots()));
        ProtectedExperts chosen = new ProtectedExperts(LAYERS, EXPERTS, ids);
        double[] advantage = new double[candidates.length];
        int best = 0, followed = 0, switches = 0;
        ExpertId[] choice = new ExpertId[2];
        for (int t = 0; t < trace.tokenCount(); t++) {
            for (int l = 0; l < LAYERS; l++) {
                int[] e = trace.experts(t, l);
                long step = Steps.of(t, l, LAYERS);
                chosen.clear();
                for (int i = 0; i < e.length; i++) {
                    choice[i] = ids[l * EXPERTS + e[i]];
                    chosen.add(l, e[i]);
                }
                for (int i = 0; i < e.length; i++) {
                    int lruHit = lookUpAndAdmit(lru, null, choice[i], step, false, chosen) ? 1 : 0;
                    for (int c = 0; c < candidates.length; c++) {
                        int hit = lookUpAndAdmit(shadows[c], candidates[c], choice[i], step, true, chosen) ? 1 : 0;
                        advantage[c] = advantage[c] * (1 - 1.0 / EvictionTrust.WINDOW) + hit - lruHit;
                    }
                }
                followed = best;
                best = -1;
                for (int c = 0; c < candidates.length; c++) {
                    boolean eligible = advantage[c] >= (c == followed ? 0 : EvictionTrust.SWITCH_MARGIN);
                    if (eligible && (best < 0 || advantage[c] > advantage[best])) best = c;
                }
                if (best != followed) switches++;
                trust.observe(step, choice, e.length, true);
                assertEquals(best, trust.best(), "followed candidate at token " + t + ", layer " + l);
                if (l % 2 == 0) trust.admitObserved(); // as the engine does; otherwise the next observe does it
            }
        }
        assertTrue(switches > 0 || best >= 0, "the duel decided nothing");
    }

    /** The reference for the test above: look up, and on a miss bypass or admit at once. Returns whether it hit. */
    private static boolean lookUpAndAdmit(ExpertCache shadow, NextUseEstimator estimate, ExpertId id, long step,
                                          boolean bypass, ProtectedExperts chosen) {
        if (shadow.lookup(id, step) != ExpertCache.MISS) return true;
        if (bypass) {
            int victim = shadow.victimFor(id, step, chosen);
            if (victim >= 0 && estimate.nextUseDistance(id, step) > estimate.nextUseDistance(shadow.occupant(victim), step)) {
                return false;
            }
        }
        if (shadow.canAdmit(id, chosen)) shadow.markReady(shadow.admit(id, step, chosen));
        return false;
    }

    @Test
    void anUntrustedEstimatorReportsNoKnowledge() {
        PredictedNextUse estimator = new PredictedNextUse(LAYERS, EXPERTS, 0.05);
        estimator.predictTokensAhead(0, 1, 1, 3, 0.8f);
        ExpertId id = new ExpertId(1, 3);
        long step = Steps.of(0, 2, LAYERS);
        long predicted = estimator.nextUseDistance(id, step);
        assertTrue(predicted < NextUseEstimator.NEVER);
        estimator.follow(null, false);
        assertFalse(estimator.informative());
        assertEquals(NextUseEstimator.NEVER, estimator.nextUseDistance(id, step));
        assertEquals(predicted, estimator.predictedDistance(id, step), "the predictions themselves are kept");
        estimator.follow(PredictedNextUse.Source.PREDICTOR, false);
        assertEquals(predicted, estimator.nextUseDistance(id, step));
    }
}
