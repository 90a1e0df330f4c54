package dev.lookahead.expert;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ReplaySimulatorTest {
    /** 1 MiB over 1.048576 GB/s: exactly 1 ms per copy; 0.25 ms per layer. */
    private static final TimingModel UNIT = new TimingModel(1, 1.048576, 0.25);

    /** Two layers, top-2: t0 = L0 [0,1], L1 [0,1]; t1 = L0 [0,1], L1 [0,2]. */
    private static RoutingTrace twoTokens() {
        return RoutingTrace.of("hand", 2, 4, List.of(
                new int[][] {{0, 1}, {0, 1}},
                new int[][] {{0, 1}, {0, 2}}));
    }

    @Test
    void copyTimeFollowsSizeAndBandwidth() {
        assertEquals(1.0, UNIT.copyMs(), 1e-12);
        // 94 MiB at 25 GB/s.
        assertEquals(94 * 1048576 / 25e9 * 1e3, TimingModel.MIXTRAL_4BIT_PCIE4.copyMs(), 1e-12);
        assertThrows(IllegalArgumentException.class, () -> new TimingModel(94, 0, 0.5));
        assertThrows(IllegalArgumentException.class, () -> new TimingModel(Double.NaN, 25, 0.5));
    }

    @Test
    void onDemandTimingByHand() {
        // mixtral-offloading, 2 slots per layer, copy 1 ms, layer 0.25 ms:
        //   t0 L0: 2 misses, serialized on the link -> max(0.25, 2) = 2
        //   t0 L1: 2 misses -> 2                                    (token 0: 4 ms)
        //   t1 L0: 2 hits -> 0.25
        //   t1 L1: hit 0, miss 2 (evicts 1) -> max(0.25, 1) = 1     (token 1: 1.25 ms)
        ReplayResult r = ReplaySimulator.run(twoTokens(), ResidencyPolicies.byName("mixtral-offloading"), 2, UNIT, null);
        assertEquals(5.25, r.totalMs(), 1e-9);
        assertEquals(2.625, r.msPerToken(), 1e-9);
        assertEquals(1000 / 2.625, r.tokensPerSecond(), 1e-9);
        assertEquals(3, r.stats().hits());
        assertEquals(5, r.stats().misses());
        assertEquals(2.5, r.missesPerToken(), 1e-12);
        assertEquals(5, r.copies());
        assertEquals(2.5, r.mibPerToken(), 1e-12);
        // Bound: max(compute 2 * 0.25, copies 5 * 1 ms / 2 tokens) = 2.5 ms/token.
        assertEquals(2.5, r.boundMsPerToken(), 1e-9);
        assertNull(r.predictor());
    }

    @Test
    void prefetchOverlapsTheCurrentLayerByHand() {
        // next-layer with a perfect predictor (oracle, recall 1), 2 slots per layer:
        //   t0 L0 (S=0): misses 0,1 -> copies end at 1, 2; prefetch L1 {0,1} -> copies end at 3, 4; layer ends 2
        //   t0 L1 (S=2): hits (prefetched) ready at 3, 4 -> ends 4
        //   t1 L0 (S=4): hits -> ends 4.25; prefetch L1 {0,2}: 0 resident, 2 evicts L1/E1 -> copy 4..5
        //   t1 L1 (S=4.25): hit 0, hit 2 ready at 5 -> ends 5
        ReplayResult r = ReplaySimulator.run(twoTokens(), ResidencyPolicies.byName("next-layer"), 2, UNIT,
                new OracleRecallPredictor(twoTokens(), 1.0, 1));
        assertEquals(5.0, r.totalMs(), 1e-9);
        CacheStats s = r.stats();
        assertEquals(6, s.hits());
        assertEquals(2, s.misses());
        assertEquals(3, s.prefetchesIssued());
        assertEquals(3, s.prefetchesUsed());
        assertEquals(0, s.prefetchesWasted());
        assertEquals(5, r.copies());
        assertTrue(r.predictor().startsWith("oracle"));
    }

    @Test
    void wrongPrefetchesCostLinkTime() {
        // recall 0: every prediction is wrong, so the copies are wasted and delay demand copies on the FIFO link.
        RoutingTrace trace = SyntheticTraces.random(3, 4, 8, 2, 60);
        ReplayResult lru = ReplaySimulator.run(trace, ResidencyPolicies.byName("mixtral-offloading"), 4, UNIT, null);
        ReplayResult wrong = ReplaySimulator.run(trace, ResidencyPolicies.byName("next-layer"), 4, UNIT,
                new OracleRecallPredictor(trace, 0.0, 5));
        ReplayResult right = ReplaySimulator.run(trace, ResidencyPolicies.byName("next-layer"), 4, UNIT,
                new OracleRecallPredictor(trace, 1.0, 5));
        // A wrong guess can still be used by a later token while it stays resident, but most are evicted unused.
        CacheStats w = wrong.stats();
        assertTrue(w.prefetchesIssued() > 0);
        assertTrue(w.prefetchesWasted() > w.prefetchesUsed(), w.prefetchesWasted() + " wasted, " + w.prefetchesUsed() + " used");
        assertTrue(w.prefetchesUsed() + w.prefetchesWasted() <= w.prefetchesIssued());
        assertTrue(wrong.totalMs() > lru.totalMs(), wrong.totalMs() + " vs " + lru.totalMs());
        assertTrue(right.totalMs() < lru.totalMs(), right.totalMs() + " vs " + lru.totalMs());
        for (ReplayResult r : List.of(lru, wrong, right)) {
            assertTrue(r.msPerToken() >= r.boundMsPerToken() - 1e-9, "no schedule beats max(compute, copies)");
        }
    }

    @Test
    void allResidentCopiesNothing() {
        RoutingTrace trace = SyntheticTraces.random(4, 3, 8, 2, 20);
        ReplayResult r = ReplaySimulator.run(trace, ResidencyPolicies.byName("all-resident"), 2, UNIT, null);
        assertEquals(1.0, r.hitRate());
        assertEquals(0, r.copies());
        assertEquals(3 * 0.25, r.msPerToken(), 1e-9);
    }

    @Test
    void badConfigurationsAreRefusedClearly() {
        RoutingTrace trace = twoTokens();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ReplaySimulator.run(trace, ResidencyPolicies.byName("mixtral-offloading"), 1, UNIT, null));
        assertTrue(e.getMessage().contains("top-2"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> ReplaySimulator.run(trace, ResidencyPolicies.byName("next-layer"), 2, UNIT, null));
        assertTrue(e.getMessage().contains("predictor"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> ReplaySimulator.run(trace, ResidencyPolicies.byName("mixtral-offloading"), 5, UNIT, null));
        assertTrue(e.getMessage().contains("1..4"), e.getMessage());
    }

    @Test
    void beladyWithAHorizonSeesOnlyThatFar() {
        RoutingTrace trace = SyntheticTraces.random(11, 6, 8, 2, 300);
        ResidencyPolicy perLayer = ResidencyPolicies.byName(ResidencyPolicies.BELADY);
        ResidencyPolicy pool = ResidencyPolicies.byName(ResidencyPolicies.BELADY_GLOBAL);
        ResidencyPolicy lru = ResidencyPolicies.byName(ResidencyPolicies.MIXTRAL_OFFLOADING);
        for (ResidencyPolicy p : List.of(perLayer, pool)) {
            ReplayResult full = ReplaySimulator.run(trace, p, 3, UNIT, null);
            ReplayResult whole = ReplaySimulator.runWithFuture(trace, p, 3, UNIT, FutureAccesses.withHorizon(trace, 300));
            assertEquals(full.stats().hits(), whole.stats().hits(), p.name() + ": a horizon of the whole trace is Belady");
            ReplayResult one = ReplaySimulator.runWithFuture(trace, p, 3, UNIT, FutureAccesses.withHorizon(trace, 1));
            assertTrue(one.stats().hits() < full.stats().hits(), p.name() + ": " + one.stats().hits() + " vs " + full.stats().hits());
        }
        long lruHits = ReplaySimulator.run(trace, lru, 3, UNIT, null).stats().hits();
        long oneToken = ReplaySimulator.runWithFuture(trace, perLayer, 3, UNIT, FutureAccesses.withHorizon(trace, 1)).stats().hits();
        assertTrue(oneToken > lruHits, "knowing the next token evicts better than LRU: " + oneToken + " vs " + lruHits);
        assertThrows(IllegalArgumentException.class, () -> FutureAccesses.withHorizon(trace, 0));
        assertThrows(IllegalArgumentException.class,
                () -> ReplaySimulator.runWithFuture(trace, lru, 3, UNIT, FutureAccesses.withHorizon(trace, 1)));
    }
}
