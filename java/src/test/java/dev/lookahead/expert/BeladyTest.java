package dev.lookahead.expert;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BeladyTest {
    private static final TimingModel TIMING = TimingModel.MIXTRAL_4BIT_PCIE4;

    private static long misses(RoutingTrace trace, String policy, int k) {
        return ReplaySimulator.run(trace, ResidencyPolicies.byName(policy), k, TIMING, null).stats().misses();
    }

    @Test
    void textbookReferenceString() {
        // Silberschatz, Operating System Concepts, page replacement: reference string
        // 7 0 1 2 0 3 0 4 2 3 0 3 2 1 2 0 1 7 0 1 with 3 frames -> optimal 9 page faults, LRU 12.
        int[] ref = {7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1};
        List<int[][]> tokens = new ArrayList<>();
        for (int r : ref) tokens.add(new int[][] {{r}});
        RoutingTrace trace = RoutingTrace.of("textbook", 1, 8, tokens);
        assertEquals(9, misses(trace, ResidencyPolicies.BELADY, 3));
        assertEquals(9, misses(trace, ResidencyPolicies.BELADY_GLOBAL, 3), "one layer: the pool is the layer");
        assertEquals(12, misses(trace, ResidencyPolicies.MIXTRAL_OFFLOADING, 3));
        assertEquals(9, OptimalPaging.minLoads(masks(trace, 0), 8, 3), "the exhaustive reference agrees");
    }

    @Test
    void beladyMatchesTheExhaustiveOptimumPerLayerAndGlobally() {
        for (long seed = 0; seed < 60; seed++) {
            RoutingTrace trace = SyntheticTraces.random(seed, 2, 4, 2, 14);
            for (int k = 2; k <= 3; k++) {
                int perLayer = 0;
                for (int l = 0; l < 2; l++) perLayer += OptimalPaging.minLoads(masks(trace, l), 4, k);
                assertEquals(perLayer, misses(trace, ResidencyPolicies.BELADY, k), "seed " + seed + ", k " + k);
                int global = OptimalPaging.minLoads(globalMasks(trace), 8, 2 * k);
                assertEquals(global, misses(trace, ResidencyPolicies.BELADY_GLOBAL, k), "seed " + seed + ", k " + k);
            }
        }
        for (long seed = 0; seed < 30; seed++) {
            RoutingTrace trace = SyntheticTraces.random(1000 + seed, 1, 7, 2, 18);
            for (int k = 2; k <= 5; k++) {
                assertEquals(OptimalPaging.minLoads(masks(trace, 0), 7, k), misses(trace, ResidencyPolicies.BELADY, k),
                        "seed " + seed + ", k " + k);
            }
        }
    }

    @Test
    void beladyIsNeverWorseThanLruAndThePoolNeverWorseThanPerLayer() {
        // Belady is optimal per layer, so never worse than per-layer LRU. The per-layer schedule is itself a valid
        // schedule for one pool of layers*k slots, so the pool's optimum is never worse than the per-layer optimum.
        int strictlyBetter = 0;
        for (long seed = 0; seed < 200; seed++) {
            RoutingTrace trace = SyntheticTraces.random(seed, 4, 8, 2, 150);
            for (int k = 2; k <= 6; k++) {
                long lru = misses(trace, ResidencyPolicies.MIXTRAL_OFFLOADING, k);
                long belady = misses(trace, ResidencyPolicies.BELADY, k);
                long pool = misses(trace, ResidencyPolicies.BELADY_GLOBAL, k);
                long poolLru = misses(trace, ResidencyPolicies.LRU_GLOBAL, k);
                assertTrue(belady <= lru, "seed " + seed + " k " + k + ": belady " + belady + " > lru " + lru);
                assertTrue(pool <= belady, "seed " + seed + " k " + k + ": pool " + pool + " > per-layer " + belady);
                assertTrue(pool <= poolLru, "seed " + seed + " k " + k + ": pool belady " + pool + " > pool lru " + poolLru);
                if (belady < lru) strictlyBetter++;
            }
        }
        assertTrue(strictlyBetter > 500, "the random traces should separate Belady from LRU, got " + strictlyBetter);
    }

    /** Layer {@code layer}'s request sets as bit masks over its experts. */
    private static List<Integer> masks(RoutingTrace trace, int layer) {
        List<Integer> out = new ArrayList<>();
        for (int t = 0; t < trace.tokenCount(); t++) {
            int m = 0;
            for (int e : trace.experts(t, layer)) m |= 1 << e;
            out.add(m);
        }
        return out;
    }

    /** Every step's request set over all (layer, expert) items, in step order. */
    private static List<Integer> globalMasks(RoutingTrace trace) {
        List<Integer> out = new ArrayList<>();
        for (int t = 0; t < trace.tokenCount(); t++) {
            for (int l = 0; l < trace.layers(); l++) {
                int m = 0;
                for (int e : trace.experts(t, l)) m |= 1 << (l * trace.experts() + e);
                out.add(m);
            }
        }
        return out;
    }
}
