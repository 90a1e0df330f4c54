package dev.lookahead.sched;

import dev.lookahead.expert.ExpertId;
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
