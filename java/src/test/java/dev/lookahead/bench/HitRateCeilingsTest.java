package dev.lookahead.bench;

import dev.lookahead.expert.RoutingTrace;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HitRateCeilingsTest {

    /** Random top-2 routing of 2 layers x 4 experts, 400 tokens. */
    private static RoutingTrace randomTrace(long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        List<int[][]> tokens = new ArrayList<>();
        for (int t = 0; t < 400; t++) {
            int[][] e = new int[2][];
            for (int l = 0; l < 2; l++) {
                int a = r.nextInt(4), b = (a + 1 + r.nextInt(3)) % 4;
                e[l] = new int[] {a, b};
            }
            tokens.add(e);
        }
        return RoutingTrace.of("random", 2, 4, tokens);
    }

    @Test
    void lruBeladyAndThePoolAreOrderedAndTheGapIsMeasuredBetweenThem() {
        HitRateCeilings c = HitRateCeilings.of(randomTrace(3), 3); // k = top-k would leave no choice
        assertEquals(400, c.tokens());
        assertTrue(c.lru() < c.beladyPerLayer() && c.beladyPerLayer() <= c.beladyPool(), c.describe());
        assertEquals(0.0, c.gapClosed(c.lru()), 1e-12);
        assertEquals(1.0, c.gapClosed(c.beladyPerLayer()), 1e-12);
        assertEquals(0.5, c.gapClosed((c.lru() + c.beladyPerLayer()) / 2), 1e-12);
        assertEquals(4, c.lookupsPerToken());
        // seeing two tokens is between LRU and full knowledge, per layer and in the pool
        assertTrue(c.lru() < c.twoTokensPerLayer() && c.twoTokensPerLayer() <= c.beladyPerLayer(), c.describe());
        assertTrue(c.twoTokensPool() <= c.beladyPool(), c.describe());
        assertTrue(c.describe().contains("seeing 2 tokens ahead"), c.describe());
        assertEquals(0.75, c.effectiveHitRate(100, 100), 1e-12); // one copy of 4 lookups per token
    }

    @Test
    void withEveryExpertResidentAfterItsFirstUseEveryPolicyHitsTheSame() {
        // k = 4 of 4 experts: only the compulsory first misses remain, 4 per layer
        HitRateCeilings c = HitRateCeilings.of(randomTrace(4), 4);
        double expected = 1 - 8.0 / (400 * 2 * 2);
        assertEquals(expected, c.lru(), 1e-12);
        assertEquals(expected, c.beladyPerLayer(), 1e-12);
        assertEquals(expected, c.beladyPool(), 1e-12);
        assertEquals(expected, c.twoTokensPerLayer(), 1e-12);
        assertEquals(expected, c.twoTokensPool(), 1e-12);
        assertTrue(Double.isNaN(c.gapClosed(0.9)));
    }
}
