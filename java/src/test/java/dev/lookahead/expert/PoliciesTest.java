package dev.lookahead.expert;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PoliciesTest {
    @Test
    void unknownNamesGiveAClearError() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ResidencyPolicies.byName("fifo"));
        assertTrue(e.getMessage().contains("unknown residency policy 'fifo'"), e.getMessage());
        assertTrue(e.getMessage().contains("mixtral-offloading"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> EvictionPolicies.create("mru", new SlotLayout.PerLayer(1, 2), null));
        assertTrue(e.getMessage().contains("unknown eviction policy 'mru'") && e.getMessage().contains("lru, belady"),
                e.getMessage());
    }

    @Test
    void beladyNeedsTheFuture() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> EvictionPolicies.create("belady", new SlotLayout.PerLayer(1, 2), null));
        assertTrue(e.getMessage().contains("replay only"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> ResidencyPolicies.byName("belady-global").newCache(2, 8, 2, 1, null));
        assertTrue(e.getMessage().contains("replay only"), e.getMessage());
    }

    @Test
    void namedBaselinesHaveTheirDocumentedShape() {
        ResidencyPolicy mo = ResidencyPolicies.byName("mixtral-offloading");
        assertEquals(new SlotLayout.PerLayer(32, 4), mo.layout(32, 8, 4));
        assertEquals("lru", mo.eviction());
        assertFalse(mo.prefetchNextLayer());
        ResidencyPolicy nl = ResidencyPolicies.byName("next-layer");
        assertTrue(nl.prefetchNextLayer());
        assertEquals(new SlotLayout.PerLayer(32, 4), nl.layout(32, 8, 4));
        assertEquals(new SlotLayout.GlobalPool(32, 128), ResidencyPolicies.byName("belady-global").layout(32, 8, 4));
        assertEquals(new SlotLayout.PerLayer(32, 8), ResidencyPolicies.byName("all-resident").layout(32, 8, 4));
        assertTrue(ResidencyPolicies.names().containsAll(List.of("mixtral-offloading", "next-layer", "all-resident",
                "belady", "belady-global", "lru-global")));
    }

    @Test
    void lookaheadPoliciesNeedTheSchedulersEstimator() {
        ResidencyPolicy la = ResidencyPolicies.byName("lookahead");
        ResidencyPolicy pool = ResidencyPolicies.byName("lookahead-global");
        assertTrue(la.scheduled() && pool.scheduled());
        assertFalse(ResidencyPolicies.byName("next-layer").scheduled());
        assertFalse(la.replayOnly());
        assertEquals(new SlotLayout.PerLayer(32, 4), la.layout(32, 8, 4));
        assertEquals(new SlotLayout.GlobalPool(32, 128), pool.layout(32, 8, 4));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> la.newCache(2, 8, 2, 1, null));
        assertTrue(e.getMessage().contains("'predicted' needs a next-use estimator"), e.getMessage());
        ExpertCache cache = la.newCache(2, 8, 2, 1, (id, step) -> NextUseEstimator.NEVER);
        assertEquals("predicted", cache.policy().name());
    }

    @Test
    void futureAccessesGiveTheNextUse() {
        // Layer 0 of tokens 0..3 chooses E0, E1, E0, E2 (one layer, top-1).
        RoutingTrace trace = RoutingTrace.of("f", 1, 4, List.of(new int[][] {{0}}, new int[][] {{1}},
                new int[][] {{0}}, new int[][] {{2}}));
        FutureAccesses f = new FutureAccesses(trace);
        assertEquals(2, f.nextUse(new ExpertId(0, 0), 0));
        assertEquals(2, f.nextUseDistance(new ExpertId(0, 0), 0));
        assertEquals(1, f.nextUseDistance(new ExpertId(0, 0), 1));
        assertEquals(NextUseEstimator.NEVER, f.nextUseDistance(new ExpertId(0, 0), 2));
        assertEquals(NextUseEstimator.NEVER, f.nextUseDistance(new ExpertId(0, 3), 0));
        assertEquals(NextUseEstimator.NEVER, f.nextUseDistance(new ExpertId(5, 0), 0));
    }

    @Test
    void predictedNextUseHookEvictsTheFarthest() {
        // A predictor says E1 is needed in 10 steps, E0 in 2: E1 goes although E0 is older.
        NextUseEstimator guess = (id, step) -> id.expert() == 1 ? 10 : 2;
        SlotLayout layout = new SlotLayout.PerLayer(1, 2);
        ExpertCache cache = new ExpertCache(layout, 1, new FarthestNextUsePolicy("guess", guess, 2));
        cache.markReady(cache.admit(new ExpertId(0, 0), 0, java.util.Set.of()));
        cache.markReady(cache.admit(new ExpertId(0, 1), 1, java.util.Set.of()));
        int slot = cache.admit(new ExpertId(0, 2), 2, java.util.Set.of());
        assertEquals(1, slot);
        assertTrue(cache.contains(new ExpertId(0, 0)));
        NextUseEstimator broken = (id, step) -> 0;
        ExpertCache bad = new ExpertCache(layout, 1, new FarthestNextUsePolicy("broken", broken, 2));
        bad.markReady(bad.admit(new ExpertId(0, 0), 0, java.util.Set.of()));
        bad.markReady(bad.admit(new ExpertId(0, 1), 1, java.util.Set.of()));
        assertThrows(IllegalStateException.class, () -> bad.admit(new ExpertId(0, 2), 2, java.util.Set.of()));
    }

    @Test
    void previousTokenPredictorRepeatsTheLastChoice() {
        PreviousTokenPredictor p = new PreviousTokenPredictor(2);
        assertEquals(0, p.predict(0, 1).length, "nothing known before the first token");
        p.observe(0, 0, new int[] {3, 4});
        p.observe(0, 1, new int[] {5, 6});
        p.observe(1, 0, new int[] {1, 2});
        assertArrayEquals(new int[] {5, 6}, p.predict(1, 1));
        assertArrayEquals(new int[] {1, 2}, p.predict(2, 0));
    }

    @Test
    void oracleRecallKeepsTheAdvertisedFraction() {
        RoutingTrace trace = SyntheticTraces.random(9, 4, 8, 2, 2500);
        for (double recall : new double[] {0.0, 0.5, 0.8, 1.0}) {
            OracleRecallPredictor p = new OracleRecallPredictor(trace, recall, 11);
            long right = 0, total = 0;
            for (int t = 0; t < trace.tokenCount(); t++) {
                for (int l = 0; l < 4; l++) {
                    int[] truth = trace.experts(t, l);
                    int[] guess = p.predict(t, l);
                    assertEquals(2, guess.length);
                    assertEquals(2, Arrays.stream(guess).distinct().count(), "distinct predictions");
                    for (int g : guess) {
                        if (Arrays.stream(truth).anyMatch(x -> x == g)) right++;
                    }
                    total += truth.length;
                }
            }
            // 20000 Bernoulli draws: standard deviation <= 0.0036; 0.02 is > 5 sigma.
            assertEquals(recall, (double) right / total, 0.02, "recall " + recall);
        }
        assertThrows(IllegalArgumentException.class, () -> new OracleRecallPredictor(trace, 1.5, 0));
    }

    @Test
    void anUninformativeEstimatorEvictsAsPerLayerLruEvenInOnePool() {
        int layers = 4, experts = 8, k = 3;
        NextUseEstimator uninformative = new NextUseEstimator() {
            @Override
            public long nextUseDistance(ExpertId id, long step) {
                return 1; // would make the farthest-next-use choice arbitrary, if it were consulted
            }

            @Override
            public boolean informative() {
                return false;
            }
        };
        ExpertCache pool = new ExpertCache(new SlotLayout.GlobalPool(layers, layers * k), 1,
                new FarthestNextUsePolicy("uninformed", uninformative, layers * k));
        ExpertCache perLayer = new ExpertCache(new SlotLayout.PerLayer(layers, k), 1, new LruPolicy(layers * k));
        java.util.SplittableRandom r = new java.util.SplittableRandom(3);
        int[][] previous = new int[layers][2];
        int compared = 0;
        for (int t = 0; t < 2000; t++) {
            for (int l = 0; l < layers; l++) {
                // top-2 with the recency real routing has: half the picks repeat the previous token's
                int a = r.nextBoolean() ? previous[l][r.nextInt(2)] : r.nextInt(experts);
                int b;
                do {
                    b = r.nextBoolean() ? previous[l][r.nextInt(2)] : r.nextInt(experts);
                } while (b == a);
                previous[l] = new int[] {a, b};
                java.util.Set<ExpertId> chosen = java.util.Set.of(new ExpertId(l, a), new ExpertId(l, b));
                long step = Steps.of(t, l, layers);
                for (ExpertId id : List.of(new ExpertId(l, a), new ExpertId(l, b))) {
                    boolean poolHit = lookUp(pool, id, step, chosen), layerHit = lookUp(perLayer, id, step, chosen);
                    if (t >= 50) { // once every layer's share holds its most recent experts
                        assertEquals(layerHit, poolHit, "token " + t + " " + id);
                        compared++;
                    }
                }
            }
        }
        assertEquals(1950 * layers * 2, compared);
        for (int l = 0; l < layers; l++) {
            int held = 0;
            for (int e = 0; e < experts; e++) if (pool.contains(new ExpertId(l, e))) held++;
            assertEquals(k, held, "layer " + l + " holds its share of the pool");
        }
    }

    @Test
    void keepingLayerSharesAPoolEvictsAsPerLayerSlotsByTheSameEstimates() {
        int layers = 4, experts = 8, k = 3;
        // distinct pseudo-random estimates that stay the same within a token, so both caches rank alike
        java.util.function.ToLongBiFunction<ExpertId, Long> guess = (id, step) ->
                1 + Math.floorMod(java.util.Objects.hash(id.layer(), id.expert(), step / layers), 1_000_000);
        NextUseEstimator keepShares = new NextUseEstimator() {
            @Override
            public long nextUseDistance(ExpertId id, long step) {
                return guess.applyAsLong(id, step);
            }

            @Override
            public boolean withinShare() {
                return true;
            }
        };
        NextUseEstimator free = guess::applyAsLong;
        ExpertCache pool = new ExpertCache(new SlotLayout.GlobalPool(layers, layers * k), 1,
                new FarthestNextUsePolicy("shares", keepShares, layers * k));
        ExpertCache freePool = new ExpertCache(new SlotLayout.GlobalPool(layers, layers * k), 1,
                new FarthestNextUsePolicy("free", free, layers * k));
        ExpertCache perLayer = new ExpertCache(new SlotLayout.PerLayer(layers, k), 1,
                new FarthestNextUsePolicy("per-layer", free, layers * k));
        java.util.SplittableRandom r = new java.util.SplittableRandom(5);
        int differ = 0;
        for (int t = 0; t < 2000; t++) {
            for (int l = 0; l < layers; l++) {
                int a = r.nextInt(experts), b = (a + 1 + r.nextInt(experts - 1)) % experts;
                java.util.Set<ExpertId> chosen = java.util.Set.of(new ExpertId(l, a), new ExpertId(l, b));
                long step = Steps.of(t, l, layers);
                for (ExpertId id : List.of(new ExpertId(l, a), new ExpertId(l, b))) {
                    boolean kept = lookUp(pool, id, step, chosen), layerHit = lookUp(perLayer, id, step, chosen);
                    if (lookUp(freePool, id, step, chosen) != layerHit) differ++;
                    if (t >= 50) assertEquals(layerHit, kept, "token " + t + " " + id); // once every layer holds its share
                }
            }
        }
        assertTrue(differ > 100, "without keeping shares the pool evicts otherwise: " + differ + " lookups differ");
        int[] held = new int[layers];
        for (int slot = 0; slot < layers * k; slot++) held[pool.occupant(slot).layer()]++;
        assertArrayEquals(new int[] {k, k, k, k}, held);
    }

    private static boolean lookUp(ExpertCache cache, ExpertId id, long step, java.util.Set<ExpertId> chosen) {
        if (cache.lookup(id, step) != ExpertCache.MISS) return true;
        cache.markReady(cache.admit(id, step, chosen));
        return false;
    }
}
