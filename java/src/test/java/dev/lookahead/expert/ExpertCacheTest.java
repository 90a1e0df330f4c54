package dev.lookahead.expert;

import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ExpertCacheTest {
    private static final long BYTES = 1000;

    private static ExpertCache lruCache(SlotLayout layout) {
        return new ExpertCache(layout, BYTES, new LruPolicy(layout.totalSlots()));
    }

    /** What the engine does per layer: look up each chosen expert, admit misses with the layer's experts protected. */
    private static void access(ExpertCache cache, int token, int layer, int layers, int... experts) {
        long step = Steps.of(token, layer, layers);
        Set<ExpertId> prot = new HashSet<>();
        for (int e : experts) prot.add(new ExpertId(layer, e));
        for (int e : experts) {
            ExpertId id = new ExpertId(layer, e);
            if (cache.lookup(id, step) == ExpertCache.MISS) cache.markReady(cache.admit(id, step, prot));
        }
    }

    @Test
    void perLayerLruOnAHandMadeTrace() {
        // Two layers, 3 slots per layer, top-2. Layer 0 (LRU order oldest -> newest after each token):
        //   t0 [0,1]: miss 0 (empty slot 0), miss 1 (slot 1)                       order 0,1        hits 0
        //   t1 [1,2]: hit 1, miss 2 (empty slot 2)                                  order 0,1,2      hits 1
        //   t2 [0,3]: hit 0; miss 3 evicts the LRU unprotected expert, 1 (slot 1)  order 2,0,3      hits 2
        //   t3 [1,2]: miss 1: candidates 0,3 (2 is protected), 0 is older: evict 0 (slot 0); hit 2
        //                                                                           order 3,1,2      hits 3
        //   t4 [3,0]: hit 3; miss 0 evicts 1 (slot 0)                               order 2,3,0      hits 4
        // => layer 0: 4 hits, 6 misses, 3 evictions; slots end as [0, 3, 2].
        // Layer 1 always chooses [5,6]: 2 misses at t0, then 8 hits.
        ExpertCache cache = lruCache(new SlotLayout.PerLayer(2, 3));
        int[][] layer0 = {{0, 1}, {1, 2}, {0, 3}, {1, 2}, {3, 0}};
        for (int t = 0; t < layer0.length; t++) {
            access(cache, t, 0, 2, layer0[t]);
            access(cache, t, 1, 2, 5, 6);
        }
        CacheStats s = cache.stats();
        assertEquals(4, s.hits(0));
        assertEquals(6, s.misses(0));
        assertEquals(3, s.evictions(0));
        assertEquals(8, s.hits(1));
        assertEquals(2, s.misses(1));
        assertEquals(0, s.evictions(1));
        assertEquals(12, s.hits());
        assertEquals(8, s.misses());
        assertEquals(0.6, s.hitRate(), 1e-12);
        assertEquals(8 * BYTES, s.bytesCopied());
        assertEquals(new ExpertId(0, 0), cache.occupant(0));
        assertEquals(new ExpertId(0, 3), cache.occupant(1));
        assertEquals(new ExpertId(0, 2), cache.occupant(2));
        assertEquals(5, cache.residentCount());
        assertNull(cache.occupant(5)); // layer 1's third slot was never needed
        assertEquals(SlotState.EMPTY, cache.state(5));
    }

    @Test
    void globalPoolEvictsAcrossLayers() {
        // Two layers, top-1, one pool of 2 slots. Steps (token, layer) -> expert:
        //   s0 (0,0) E0 miss, slot 0;  s1 (0,1) E0 miss, slot 1
        //   s2 (1,0) E1 miss: pool full, LRU is L0/E0 (s0) -> evicted
        //   s3 (1,1) E0 hit
        //   s4 (2,0) E0 miss: LRU among L0/E1 (s2), L1/E0 (s3) is L0/E1 -> evicted
        //   s5 (2,1) E1 miss: LRU among L1/E0 (s3), L0/E0 (s4) is L1/E0 -> evicted
        // => 1 hit, 5 misses; evictions: 2 of layer-0 experts, 1 of a layer-1 expert.
        ExpertCache cache = lruCache(new SlotLayout.GlobalPool(2, 2));
        int[][] trace = {{0, 0}, {1, 0}, {0, 1}};
        for (int t = 0; t < trace.length; t++) {
            for (int l = 0; l < 2; l++) access(cache, t, l, 2, trace[t][l]);
        }
        CacheStats s = cache.stats();
        assertEquals(1, s.hits());
        assertEquals(5, s.misses());
        assertEquals(2, s.evictions(0));
        assertEquals(1, s.evictions(1));
        assertTrue(cache.contains(new ExpertId(0, 0)));
        assertTrue(cache.contains(new ExpertId(1, 1)));
    }

    @Test
    void protectedExpertsAreNeverEvicted() {
        ExpertCache cache = lruCache(new SlotLayout.PerLayer(1, 2));
        ExpertId a = new ExpertId(0, 0), b = new ExpertId(0, 1), c = new ExpertId(0, 2);
        assertTrue(cache.canAdmit(a, Set.of(a, b, c)), "an empty slot takes anything");
        cache.markReady(cache.admit(a, 0, Set.of()));
        cache.markReady(cache.admit(b, 1, Set.of()));
        // a is least recently used, but protected: b must go.
        int slot = cache.admit(c, 2, Set.of(a, c));
        assertEquals(c, cache.occupant(slot));
        assertTrue(cache.contains(a));
        assertFalse(cache.contains(b));
        cache.markReady(slot);
        // Every candidate protected: canAdmit says so, admit gives a clear error, nothing changed.
        assertFalse(cache.canAdmit(b, Set.of(a, c)));
        assertTrue(cache.canAdmit(b, Set.of(a)));
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> cache.admit(b, 3, Set.of(a, c)));
        assertTrue(e.getMessage().contains("protected"), e.getMessage());
        assertTrue(cache.contains(a) && cache.contains(c));
        assertEquals(ExpertCache.NOT_ISSUED, cache.prefetch(b, 3, Set.of(a, c)), "prefetch is optional: no error");
    }

    @Test
    void protectionHoldsUnderRandomUseForEveryPolicy() {
        SplittableRandom rnd = new SplittableRandom(7);
        for (SlotLayout layout : List.of(new SlotLayout.PerLayer(3, 3), new SlotLayout.GlobalPool(3, 7))) {
            // A next-use estimator with arbitrary answers: protection must win over any preference.
            NextUseEstimator arbitrary = (id, step) -> 1 + Math.floorMod(id.hashCode() * 31L + step, 97);
            for (EvictionPolicy policy : List.of(new LruPolicy(layout.totalSlots()),
                    new FarthestNextUsePolicy("arbitrary", arbitrary, layout.totalSlots()))) {
                ExpertCache cache = new ExpertCache(layout, BYTES, policy);
                for (int step = 0; step < 3000; step++) {
                    int layer = rnd.nextInt(3);
                    ExpertId id = new ExpertId(layer, rnd.nextInt(8));
                    Set<ExpertId> prot = new HashSet<>();
                    for (ExpertId r : residents(cache)) {
                        if (rnd.nextInt(3) == 0) prot.add(r);
                    }
                    Set<ExpertId> before = residents(cache);
                    if (cache.lookup(id, step) != ExpertCache.MISS) continue;
                    int slot;
                    try {
                        slot = cache.admit(id, step, prot);
                    } catch (IllegalStateException allProtected) {
                        assertEquals(before, residents(cache), "a refused admit changes nothing");
                        continue;
                    }
                    cache.markReady(slot);
                    Set<ExpertId> after = residents(cache);
                    assertTrue(after.containsAll(prot), policy.name() + " evicted a protected expert");
                    assertTrue(after.contains(id));
                }
            }
        }
    }

    private static Set<ExpertId> residents(ExpertCache cache) {
        Set<ExpertId> s = new HashSet<>();
        for (int i = 0; i < cache.layout().totalSlots(); i++) {
            if (cache.occupant(i) != null) s.add(cache.occupant(i));
        }
        return s;
    }

    @Test
    void slotsBeingFilledAreNotEvictableUntilReady() {
        ExpertCache cache = lruCache(new SlotLayout.PerLayer(1, 2));
        ExpertId a = new ExpertId(0, 0), b = new ExpertId(0, 1), c = new ExpertId(0, 2);
        int sa = cache.admit(a, 0, Set.of());
        int sb = cache.admit(b, 0, Set.of());
        assertEquals(SlotState.FILLING, cache.state(sa));
        assertEquals(sa, cache.lookup(a, 1), "a copy in flight is a hit; the caller waits for it");
        assertThrows(IllegalStateException.class, () -> cache.admit(c, 1, Set.of()));
        cache.markReady(sb);
        assertEquals(SlotState.READY, cache.state(sb));
        assertEquals(sb, cache.admit(c, 2, Set.of()), "only the ready slot can be evicted");
        assertEquals(c, cache.occupant(sb));
        assertEquals(SlotState.FILLING, cache.state(sb));
        assertFalse(cache.contains(b));
        cache.markReady(sa);
        cache.markReady(sb);
    }

    @Test
    void markReadyRejectsSlotsThatAreNotFilling() {
        ExpertCache cache = lruCache(new SlotLayout.PerLayer(1, 2));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> cache.markReady(0));
        assertTrue(e.getMessage().contains("EMPTY"), e.getMessage());
        int s = cache.admit(new ExpertId(0, 3), 0, Set.of());
        cache.markReady(s);
        assertThrows(IllegalStateException.class, () -> cache.markReady(s));
        assertThrows(IllegalStateException.class, () -> cache.admit(new ExpertId(0, 3), 1, Set.of()),
                "admitting a resident expert is a caller bug");
        assertThrows(IllegalArgumentException.class, () -> cache.lookup(new ExpertId(1, 0), 1),
                "layer outside the layout");
    }

    @Test
    void prefetchStatisticsCountIssuedUsedAndWasted() {
        ExpertCache cache = lruCache(new SlotLayout.PerLayer(2, 2));
        ExpertId x = new ExpertId(1, 4), y = new ExpertId(1, 5), z = new ExpertId(1, 6);
        cache.markReady(cache.prefetch(x, 0, Set.of(x)));
        cache.markReady(cache.prefetch(y, 0, Set.of(x, y)));
        assertEquals(ExpertCache.NOT_ISSUED, cache.prefetch(x, 0, Set.of()), "already resident: nothing to copy");
        assertTrue(cache.lookup(x, 1) >= 0);                  // x used
        cache.markReady(cache.admit(z, 1, Set.of(x, z)));    // evicts y, never looked up: wasted
        CacheStats s = cache.stats();
        assertEquals(2, s.prefetchesIssued(1));
        assertEquals(1, s.prefetchesUsed(1));
        assertEquals(1, s.prefetchesWasted(1));
        assertEquals(1, s.hits(1));
        assertEquals(0, s.misses(1), "admit without a lookup counts no miss");
        assertEquals(3 * BYTES, s.bytesCopied(1));
        assertEquals(0, s.prefetchesIssued(0));
        assertTrue(Double.isNaN(s.hitRate(0)), "no lookups in layer 0");
    }

    @Test
    void preloadFillsWithoutCountingCopies() {
        ResidencyPolicy all = ResidencyPolicies.byName(ResidencyPolicies.ALL_RESIDENT);
        ExpertCache cache = all.newCache(2, 8, 0, BYTES, null);
        assertEquals(16, cache.residentCount());
        assertEquals(0, cache.stats().bytesCopied());
        assertThrows(IllegalStateException.class, () -> cache.preload(new ExpertId(0, 0)));
        ExpertCache small = lruCache(new SlotLayout.PerLayer(1, 1));
        small.preload(new ExpertId(0, 0));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> small.preload(new ExpertId(0, 1)));
        assertTrue(e.getMessage().contains("no empty slot"), e.getMessage());
    }

    @Test
    void layoutsMapLayersToSlotRanges() {
        SlotLayout per = new SlotLayout.PerLayer(32, 4);
        assertEquals(128, per.totalSlots());
        assertEquals(20, per.firstSlot(5));
        assertEquals(4, per.slotCount(5));
        SlotLayout pool = new SlotLayout.GlobalPool(32, 128);
        assertEquals(0, pool.firstSlot(31));
        assertEquals(128, pool.slotCount(31));
        assertThrows(IllegalArgumentException.class, () -> per.firstSlot(32));
        assertThrows(IllegalArgumentException.class, () -> new SlotLayout.PerLayer(32, 0));
        assertThrows(IllegalArgumentException.class, () -> new ExpertId(-1, 0));
        assertArrayEquals(new long[] {0, 33, 63}, new long[] {Steps.of(0, 0, 32), Steps.of(1, 1, 32), Steps.of(1, 31, 32)});
    }
}
