package dev.lookahead.sched;

import dev.lookahead.expert.ReplayResult;
import dev.lookahead.expert.ReplaySimulator;
import dev.lookahead.expert.ResidencyPolicies;
import dev.lookahead.expert.RoutingTrace;
import dev.lookahead.expert.TimingModel;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ScheduledReplayTest {
    private static final TimingModel TIMING = TimingModel.MIXTRAL_4BIT_PCIE4;

    /** Predicts nothing: every expert stays "far" for eviction. */
    private static LookaheadPredictor silent(int horizon) {
        return new LookaheadPredictor() {
            @Override
            public String name() {
                return "silent";
            }

            @Override
            public int horizon() {
                return horizon;
            }

            @Override
            public void observe(long token, int layer, int[] experts) {
            }

            @Override
            public void predict(long token, int layer, LayerPredictions out) {
                out.reset(token, layer, horizon);
            }
        };
    }

    private static SchedulerConfig config(int budgetCopies) {
        return SchedulerConfig.defaults(TIMING.expertBytes(), 2).withBudget(budgetCopies * TIMING.expertBytes());
    }

    private static void assertSameRun(ReplayResult expected, ReplayResult actual) {
        assertEquals(expected.stats().hits(), actual.stats().hits());
        assertEquals(expected.stats().misses(), actual.stats().misses());
        assertEquals(expected.stats().bytesCopied(), actual.stats().bytesCopied());
        assertEquals(expected.totalMs(), actual.totalMs(), 1e-9);
    }

    @Test
    void withoutSpeculationPerLayerIsExactlyTheLruBaseline() {
        // predictions reach eviction only through layers not yet run; a demand miss evicts within its own layer,
        // whose predictions are stale, so it is LRU; and the time model is ReplaySimulator's
        RoutingTrace train = Traces.skewed(1, 8, 8, 150);
        for (long seed = 2; seed <= 4; seed++) {
            RoutingTrace trace = Traces.skewed(seed, 8, 8, 200);
            for (int k = 2; k <= 5; k++) {
                ReplayResult lru = ReplaySimulator.run(trace, ResidencyPolicies.byName("mixtral-offloading"), k, TIMING, null);
                ScheduledReplay.Result s = ScheduledReplay.run(trace, ResidencyPolicies.byName("lookahead"), k, TIMING,
                        HistoryPredictor.learn(train, 4, HistoryPredictor.Params.DEFAULT), config(0).withRecurrenceTokens(0));
                assertSameRun(lru, s.result());
                assertEquals(0, s.scheduler().speculativeIssued());
            }
        }
    }

    @Test
    void theRoutingRecurrenceEvictsBetterThanLruOnRoutingThatRepeats() {
        // a phrase of 6 tokens' routing comes back every 20 tokens among sticky routing; no predictor knows anything
        RoutingTrace noise = Traces.sticky(21, 8, 8, 400, 0.4);
        RoutingTrace phrase = Traces.uniform(22, 8, 8, 6);
        List<int[][]> tokens = new java.util.ArrayList<>();
        for (int t = 0; t < noise.tokenCount(); t++) {
            int[][] tok = new int[8][];
            for (int l = 0; l < 8; l++) tok[l] = (t % 20 < 6 ? phrase.experts(t % 20, l) : noise.experts(t, l)).clone();
            tokens.add(tok);
        }
        RoutingTrace trace = RoutingTrace.of("phrase", 8, 8, tokens);
        ReplayResult lru = ReplaySimulator.run(trace, ResidencyPolicies.byName("mixtral-offloading"), 4, TIMING, null);
        ScheduledReplay.Result off = ScheduledReplay.run(trace, ResidencyPolicies.byName("lookahead"), 4, TIMING,
                silent(7), config(0).withRecurrenceTokens(0));
        ScheduledReplay.Result on = ScheduledReplay.run(trace, ResidencyPolicies.byName("lookahead"), 4, TIMING,
                silent(7), config(0));
        long lookups = lru.stats().hits() + lru.stats().misses();
        assertSameRun(lru, off.result());
        assertTrue(on.result().stats().hits() > lru.stats().hits() + lookups / 50,
                on.result().stats().hits() + " hits with the recurrence, LRU " + lru.stats().hits() + " of " + lookups);
    }

    @Test
    void withoutPredictionsThePoolEvictsByTheBetterLru() {
        RoutingTrace trace = Traces.skewed(5, 8, 8, 200);
        for (int k = 2; k <= 4; k++) {
            ReplayResult global = ReplaySimulator.run(trace, ResidencyPolicies.byName("lru-global"), k, TIMING, null);
            ReplayResult perLayer = ReplaySimulator.run(trace, ResidencyPolicies.byName("mixtral-offloading"), k, TIMING, null);
            ScheduledReplay.Result s = ScheduledReplay.run(trace, ResidencyPolicies.byName("lookahead-global"), k, TIMING,
                    silent(7), config(2));
            long hits = s.result().stats().hits();
            long best = Math.max(global.stats().hits(), perLayer.stats().hits());
            long lookups = global.stats().hits() + global.stats().misses();
            // the shadows pick no estimate: per-layer eviction by recent uses, which hits at least as much as per-layer LRU,
            // the better LRU on this trace at k >= 3 (1985 against 1852 at k = 3);
            // the lookups before they agree cost a few hits
            assertTrue(hits >= best - lookups / 200, "k " + k + ": " + hits + " hits, the better LRU " + best);
        }
    }

    @Test
    void aPerfectPredictorWastesNothingAndHidesCompute() {
        RoutingTrace trace = Traces.skewed(6, 16, 8, 200);
        ReplayResult lru = ReplaySimulator.run(trace, ResidencyPolicies.byName("mixtral-offloading"), 4, TIMING, null);
        ScheduledReplay.Result s = ScheduledReplay.run(trace, ResidencyPolicies.byName("lookahead"), 4, TIMING,
                new OracleLookahead(trace, 1.0, 8, 1), config(1));
        SchedulerStats st = s.scheduler();
        assertTrue(st.speculativeIssued() > 100);
        assertEquals(0, st.speculativeWasted());
        assertEquals(st.speculativeIssued(), st.speculativeUseful());
        assertTrue(s.result().msPerToken() < lru.msPerToken(), s.result().msPerToken() + " vs " + lru.msPerToken());
        // never faster than max(compute, copies): the link carries every copy, the GPU computes every layer
        assertTrue(s.result().msPerToken() >= s.result().boundMsPerToken() - 1e-9);
        assertEquals(1.0, s.recall().overall());
    }

    @Test
    void knowingTheNextTokensRoutingEvictsBetterThanLru() {
        // no speculative copies (budget 0): only eviction differs from LRU. The next-token predictions of a layer
        // arrive before its lookup, as the engine's heads run with the router; without that ordering a next-token
        // prediction would only ever concern the layer being looked up and change nothing.
        RoutingTrace trace = Traces.skewed(9, 8, 8, 300);
        ReplayResult lru = ReplaySimulator.run(trace, ResidencyPolicies.byName("mixtral-offloading"), 4, TIMING, null);
        long lastHits = lru.stats().hits();
        for (OracleLookahead.TokensAhead ahead : List.of(new OracleLookahead.TokensAhead(1.0, null),
                new OracleLookahead.TokensAhead(1.0, 1.0))) {
            ScheduledReplay.Result s = ScheduledReplay.run(trace, ResidencyPolicies.byName("lookahead"), 4, TIMING,
                    new OracleLookahead(trace, 1.0, 8, ahead, 1), config(0));
            assertEquals(0, s.scheduler().speculativeIssued());
            long hits = s.result().stats().hits();
            assertTrue(hits > lastHits, ahead + ": " + hits + " hits, before " + lastHits + " (LRU " + lru.stats().hits() + ")");
            lastHits = hits;
        }
        // a recall-0 oracle points at wrong experts: the shadow caches catch it and eviction stays near LRU
        ScheduledReplay.Result wrong = ScheduledReplay.run(trace, ResidencyPolicies.byName("lookahead"), 4, TIMING,
                new OracleLookahead(trace, 1.0, 8, new OracleLookahead.TokensAhead(0.0, 0.0), 1), config(0));
        long lookups = lru.stats().hits() + lru.stats().misses();
        assertTrue(wrong.result().stats().hits() >= lru.stats().hits() - lookups / 50,
                wrong.result().stats().hits() + " vs LRU " + lru.stats().hits());
    }

    @Test
    void uncappedSpeculationAtLowRecallIsSlowerThanNoneAndTheThrottleLimitsIt() {
        RoutingTrace trace = Traces.skewed(7, 16, 8, 200);
        ReplayResult lru = ReplaySimulator.run(trace, ResidencyPolicies.byName("mixtral-offloading"), 4, TIMING, null);
        SchedulerConfig uncapped = config(3).withMinProbability(0.3).withThrottle(0, 0.95);
        SchedulerConfig throttled = config(3).withMinProbability(0.3).withThrottle(0.9, 0.95);
        ScheduledReplay.Result u = ScheduledReplay.run(trace, ResidencyPolicies.byName("lookahead"), 4, TIMING,
                new OracleLookahead(trace, 0.5, 8, 1), uncapped);
        ScheduledReplay.Result t = ScheduledReplay.run(trace, ResidencyPolicies.byName("lookahead"), 4, TIMING,
                new OracleLookahead(trace, 0.5, 8, 1), throttled);
        assertTrue(u.result().msPerToken() > lru.msPerToken() * 1.05, u.result().msPerToken() + " vs " + lru.msPerToken());
        assertTrue(t.scheduler().throttledCalls() > 0);
        assertTrue(t.scheduler().speculativeWasted() < u.scheduler().speculativeWasted() / 3);
        assertTrue(t.result().msPerToken() < u.result().msPerToken());
    }

    @Test
    void rejectsTooFewSlots() {
        RoutingTrace trace = Traces.skewed(8, 4, 8, 10);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ScheduledReplay.run(trace,
                ResidencyPolicies.byName("lookahead"), 1, TIMING, silent(2), config(1)));
        assertTrue(e.getMessage().contains("top-2"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> ReplaySimulator.run(trace, ResidencyPolicies.byName("lookahead"), 4, TIMING, null));
        assertTrue(e.getMessage().contains("speculative scheduler"), e.getMessage());
    }
}
